/* SPDX-License-Identifier: MIT */
/*
 * units-run.c - the runner of a units set: the worker pool that runs one
 * operation over the set's graph (units.c) in dependency order, the
 * reports, save and restore through a snapshot, and inspect.
 *
 * Scheduling: each participating unit has a counter of the participating
 * units it waits on (dependencies, or dependents for stop).  Units whose
 * counter is zero sit in a FIFO ready queue; whoever completes a unit
 * decrements the counters of its waiters and queues those reaching zero.  A
 * thread that takes work while more is queued wakes one idle thread, which
 * does the same, so wake-ups cascade only as far as there is parallel work
 * and a chain of units runs on one thread without hand-offs.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vmtime/snapshot.h>
#include <vmtime/units.h>

#include "internal.h"
#include "json.h"
#include "units-internal.h"

struct vmt_units_report {
	size_t n, failures;
	struct vmt_unit_result *e;
	char **owned;		/* per entry: malloc()ed message, or NULL */
	char *names;
};

/* The order an operation walks the graph in. */
enum order {
	ORDER_NONE,
	ORDER_DEPS_FIRST,
	ORDER_DENTS_FIRST,
};

struct job {
	enum vmt_unit_op op;
	enum order order;
	bool skip_dependents;	/* a failure skips the units waiting on it */
	vmt_unit **units;	/* participants, registration order */
	size_t n;
	vmt_unit **queue;	/* FIFO of ready units; each enters once */
	size_t qhead, qtail;
	size_t remaining;
	struct vmt_unit_result *res;	/* res[u->idx] */
	char **owned;

	/* Save: sections are committed in registration order (see commit()). */
	vmt_snap_writer *sw;
	size_t commit;		/* index of the next unit to commit */
	bool committing;	/* a thread is in commit() */
	vmt_fields_writer **pool; /* reset writers for reuse */
	size_t npool;
};

static const char *const op_names[] = {
	[VMT_UNIT_OP_START] = "start",		[VMT_UNIT_OP_STOP] = "stop",
	[VMT_UNIT_OP_RESET] = "reset",		[VMT_UNIT_OP_SAVE] = "save",
	[VMT_UNIT_OP_RESTORE] = "restore",	[VMT_UNIT_OP_POST_RESTORE] = "post_restore",
};

static const char *const status_names[] = {
	[VMT_UNIT_DONE] = "done",
	[VMT_UNIT_FAILED] = "failed",
	[VMT_UNIT_SKIPPED] = "skipped",
	[VMT_UNIT_NO_STATE] = "no_state",
};

static const char *const progress_names[] = {
	[PROG_IDLE] = "idle",	  [PROG_WAITING] = "waiting", [PROG_RUNNING] = "running",
	[PROG_DONE] = "done",	  [PROG_FAILED] = "failed",   [PROG_SKIPPED] = "skipped",
};

const char *vmt_unit_op_name(enum vmt_unit_op op)
{
	if ((unsigned)op >= sizeof(op_names) / sizeof(op_names[0]))
		return NULL;
	return op_names[op];
}

const char *vmt_unit_status_name(enum vmt_unit_status status)
{
	if ((unsigned)status >= sizeof(status_names) / sizeof(status_names[0]))
		return NULL;
	return status_names[status];
}

/* ---- the pool ---- */

static void work_one(vmt_units *s, struct job *j);

static void *worker_main(void *arg)
{
	vmt_units *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->quit) {
		if (s->job && s->job->qhead < s->job->qtail) {
			work_one(s, s->job);
			continue;
		}
		s->idle++;
		pthread_cond_wait(&s->cond, &s->lock);
		s->idle--;
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static void pool_stop(vmt_units *s)
{
	pthread_mutex_lock(&s->lock);
	s->quit = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	for (int i = 0; i < s->nthreads; i++)
		pthread_join(s->threads[i], NULL);
	s->nthreads = 0;
}

int vmt_units_new(vmt_units **ret)
{
	vmt_units *s;
	sigset_t all, old;
	long ncpu;
	int want, r = 0;

	if (!ret)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (pthread_mutex_init(&s->lock, NULL)) {
		free(s);
		return -ENOMEM;
	}
	if (pthread_cond_init(&s->cond, NULL)) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return -ENOMEM;
	}
	if (pthread_cond_init(&s->idle_cond, NULL)) {
		pthread_cond_destroy(&s->cond);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return -ENOMEM;
	}
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	want = (ncpu < POOL_MAX ? (int)ncpu : POOL_MAX) - 1;
	if (want < 1)
		want = 1;
	/* Signals meant for the VMM must not land on a library thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (int i = 0; i < want; i++) {
		r = -pthread_create(&s->threads[i], NULL, worker_main, s);
		if (r)
			break;
		s->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		pool_stop(s);
		pthread_cond_destroy(&s->idle_cond);
		pthread_cond_destroy(&s->cond);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return r;
	}
	*ret = s;
	return 0;
}

vmt_units *vmt_units_free(vmt_units *s)
{
	if (!s)
		return NULL;
	pool_stop(s);
	vmti_units_graph_free(s);
	pthread_cond_destroy(&s->idle_cond);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return NULL;
}

/* ---- reports ---- */

static bool failed(enum vmt_unit_status st)
{
	return st == VMT_UNIT_FAILED || st == VMT_UNIT_SKIPPED;
}

vmt_units_report *vmt_units_report_free(vmt_units_report *rep)
{
	if (!rep)
		return NULL;
	for (size_t i = 0; i < rep->n; i++)
		free(rep->owned[i]);
	free(rep->owned);
	free(rep->e);
	free(rep->names);
	free(rep);
	return NULL;
}

/* A report with room for @cap entries and a copy of the names of @units. */
static vmt_units_report *report_new(vmt_unit *const *units, size_t n, size_t cap)
{
	vmt_units_report *rep = calloc(1, sizeof(*rep));
	size_t bytes = 1;

	if (!rep)
		return NULL;
	for (size_t i = 0; i < n; i++)
		bytes += units[i]->name_len + 1;
	rep->e = calloc(cap ? cap : 1, sizeof(*rep->e));
	rep->owned = calloc(cap ? cap : 1, sizeof(*rep->owned));
	rep->names = malloc(bytes);
	if (!rep->e || !rep->owned || !rep->names)
		return vmt_units_report_free(rep);
	bytes = 0;
	for (size_t i = 0; i < n; i++) {
		memcpy(rep->names + bytes, units[i]->name, units[i]->name_len + 1);
		bytes += units[i]->name_len + 1;
	}
	return rep;
}

/* Point entries [base, base + n) at the names and mark them done. */
static void report_fill(vmt_units_report *rep, size_t base, size_t n, enum vmt_unit_op op)
{
	const char *p = rep->names;

	for (size_t i = 0; i < n; i++) {
		struct vmt_unit_result *e = &rep->e[base + i];

		e->unit = p;
		e->op = op;
		e->status = VMT_UNIT_DONE;
		e->msg = "";
		p += strlen(p) + 1;
	}
	if (base + n > rep->n)
		rep->n = base + n;
}

static char *msg_dup(struct vmt_unit_result *e, char **owned, const char *msg)
{
	*owned = strdup(msg);
	/* A failure must still be reported when memory is short. */
	e->msg = *owned ? *owned : "(out of memory for the message)";
	return *owned;
}

static int report_finish(vmt_units_report *rep, vmt_units_report **out)
{
	int first = 0;

	rep->failures = 0;
	for (size_t i = 0; i < rep->n; i++) {
		if (failed(rep->e[i].status))
			rep->failures++;
		if (!first && rep->e[i].status == VMT_UNIT_FAILED)
			first = rep->e[i].error;
	}
	if (out)
		*out = rep;
	else
		vmt_units_report_free(rep);
	return first;
}

size_t vmt_units_report_count(const vmt_units_report *rep)
{
	return rep ? rep->n : 0;
}

size_t vmt_units_report_failures(const vmt_units_report *rep)
{
	return rep ? rep->failures : 0;
}

const struct vmt_unit_result *vmt_units_report_entry(const vmt_units_report *rep, size_t i)
{
	if (!rep || i >= rep->n)
		return NULL;
	return &rep->e[i];
}

const struct vmt_unit_result *vmt_units_report_find(const vmt_units_report *rep,
						    const char *unit, enum vmt_unit_op op)
{
	if (!rep || !unit)
		return NULL;
	for (size_t i = 0; i < rep->n; i++)
		if (rep->e[i].op == op && strcmp(rep->e[i].unit, unit) == 0)
			return &rep->e[i];
	return NULL;
}

/* ---- running an operation ---- */

/*
 * Each unit saves into its own fields writer, so units save concurrently.
 * Writers are recycled through the job's pool: a unit's payload is copied
 * into the snapshot as soon as every unit before it has been committed, and
 * its writer (with its grown buffer) goes to the next unit.  Allocating a
 * fresh writer per unit costs page faults on every save of a large set.
 */
static int run_save(vmt_units *s, struct job *j, vmt_unit *u, struct vmt_error *err)
{
	vmt_fields_writer *fw = NULL;
	int r;

	if (!u->ops.save)
		return RUN_NO_STATE;
	pthread_mutex_lock(&s->lock);
	if (j->npool)
		fw = j->pool[--j->npool];
	pthread_mutex_unlock(&s->lock);
	if (!fw && (r = vmt_fields_writer_new(&fw)) < 0)
		return vmti_error(err, r, "no memory for the saved state");
	r = u->ops.save(u->userdata, fw, err);
	if (r >= 0 && (r = vmt_fields_writer_error(fw)) < 0)
		vmti_error(err, r, "writing a field failed: %s", strerror(-r));
	if (r < 0) {
		vmt_fields_writer_reset(fw);
		pthread_mutex_lock(&s->lock);
		j->pool[j->npool++] = fw;
		pthread_mutex_unlock(&s->lock);
		return r;
	}
	u->fw = fw;
	return 0;
}

/*
 * Append the saved units at the commit cursor to the snapshot, in
 * registration order, so equal states give equal files whatever the
 * threads did.  One thread commits at a time, with the lock released while
 * it copies; units finishing meanwhile are picked up by its loop.
 */
static void commit(vmt_units *s, struct job *j)
{
	if (j->committing)
		return;
	j->committing = true;
	while (j->commit < j->n) {
		vmt_unit *u = j->units[j->commit];
		struct vmt_unit_result *e = &j->res[j->commit];
		char **owned = &j->owned[j->commit];
		vmt_fields_writer *fw;
		int r;

		/* u->fw belongs to the unit's thread until it completed. */
		if (u->progress != PROG_DONE && u->progress != PROG_FAILED)
			break;
		fw = u->fw;
		j->commit++;
		if (!fw)
			continue;
		u->fw = NULL;
		pthread_mutex_unlock(&s->lock);
		r = vmt_snap_writer_add(j->sw, u->name, u->ops.save_version, fw);
		vmt_fields_writer_reset(fw);
		pthread_mutex_lock(&s->lock);
		j->pool[j->npool++] = fw;
		if (r < 0) {
			char buf[VMT_ERROR_MSG_MAX];

			snprintf(buf, sizeof(buf), "adding the section failed: %s", strerror(-r));
			e->status = VMT_UNIT_FAILED;
			e->error = r;
			msg_dup(e, owned, buf);
			u->progress = PROG_FAILED;
		}
	}
	j->committing = false;
}

static int run_unit(vmt_units *s, struct job *j, vmt_unit *u, struct vmt_error *err)
{
	void *ud = u->userdata;

	switch (j->op) {
	case VMT_UNIT_OP_START:
		if (u->ops.start)
			u->ops.start(ud);
		return 0;
	case VMT_UNIT_OP_STOP:
		if (u->ops.stop)
			u->ops.stop(ud);
		return 0;
	case VMT_UNIT_OP_RESET:
		return u->ops.reset ? u->ops.reset(ud, err) : 0;
	case VMT_UNIT_OP_SAVE:
		return run_save(s, j, u, err);
	case VMT_UNIT_OP_RESTORE:
		if (!u->has_section)
			return RUN_NO_STATE;
		if (!u->ops.restore)
			return vmti_error(err, -EOPNOTSUPP,
					  "the snapshot holds state but the unit has no restore");
		return u->ops.restore(ud, &u->section.fields, u->section.payload_version, err);
	case VMT_UNIT_OP_POST_RESTORE:
		return u->ops.post_restore ? u->ops.post_restore(ud, err) : 0;
	}
	return -EINVAL;
}

static void queue_push(struct job *j, vmt_unit *u)
{
	j->queue[j->qtail++] = u;
}

/* Record @u's outcome and release the units waiting on it; under the lock. */
static void complete(vmt_units *s, struct job *j, vmt_unit *u, int r, const struct vmt_error *err)
{
	struct vmt_unit_result *e = &j->res[u->idx];
	vmt_unit **waiters = NULL;
	uint32_t nw = 0;
	bool bad = false;

	if (u->cause) {
		char buf[VMT_UNIT_NAME_MAX + 64];

		snprintf(buf, sizeof(buf), "not run: \"%s\" %s", u->cause->name,
			 u->cause->progress == PROG_FAILED ? "failed" : "was not run");
		e->status = VMT_UNIT_SKIPPED;
		e->error = -ECANCELED;
		e->cause = j->res[u->cause->idx].unit;
		msg_dup(e, &j->owned[u->idx], buf);
		u->progress = PROG_SKIPPED;
		bad = true;
	} else if (r < 0) {
		char buf[VMT_ERROR_MSG_MAX];

		if (err->msg[0])
			snprintf(buf, sizeof(buf), "%s", err->msg);
		else
			snprintf(buf, sizeof(buf), "%s failed: %s", op_names[j->op], strerror(-r));
		e->status = VMT_UNIT_FAILED;
		e->error = r;
		msg_dup(e, &j->owned[u->idx], buf);
		u->progress = PROG_FAILED;
		bad = true;
	} else {
		e->status = r == RUN_NO_STATE ? VMT_UNIT_NO_STATE : VMT_UNIT_DONE;
		u->progress = PROG_DONE;
		if (j->op == VMT_UNIT_OP_START)
			u->state = VMT_UNIT_RUNNING;
		else if (j->op == VMT_UNIT_OP_STOP)
			u->state = VMT_UNIT_STOPPED;
	}

	if (j->order == ORDER_DEPS_FIRST) {
		waiters = u->dents;
		nw = u->ndents;
	} else if (j->order == ORDER_DENTS_FIRST) {
		waiters = u->deps;
		nw = u->ndeps;
	}
	for (uint32_t i = 0; i < nw; i++) {
		vmt_unit *w = waiters[i];

		if (w->progress == PROG_IDLE)
			continue;
		if (bad && j->skip_dependents && !w->cause)
			w->cause = u;
		if (--w->pending == 0)
			queue_push(j, w);
	}
	if (j->op == VMT_UNIT_OP_SAVE)
		commit(s, j);
	if (--j->remaining == 0)
		pthread_cond_broadcast(&s->cond);
}

/* Take one ready unit and run it; called and returns with the lock held. */
static void work_one(vmt_units *s, struct job *j)
{
	struct vmt_error err = { 0 };
	vmt_unit *u = j->queue[j->qhead++];
	int r;

	if (u->cause) {
		complete(s, j, u, 0, &err);
		return;
	}
	if (j->qhead < j->qtail && s->idle)
		pthread_cond_signal(&s->cond);
	u->progress = PROG_RUNNING;
	pthread_mutex_unlock(&s->lock);
	r = run_unit(s, j, u, &err);
	pthread_mutex_lock(&s->lock);
	complete(s, j, u, r, &err);
}

static bool participates(const vmt_unit *u, enum vmt_unit_op op)
{
	switch (op) {
	case VMT_UNIT_OP_START:
		return u->state == VMT_UNIT_STOPPED;
	case VMT_UNIT_OP_STOP:
		return u->state == VMT_UNIT_RUNNING;
	default:
		return true;
	}
}

/* Claim the set for one operation; returns with the lock released. */
static int begin(vmt_units *s, bool need_stopped)
{
	int r = 0;

	if (vmti_units_lock_for_change(s) < 0)
		return -EBUSY;
	if (s->busy)
		r = -EBUSY;
	else if (need_stopped && s->running)
		r = -EBUSY;
	else
		s->busy = true;
	pthread_mutex_unlock(&s->lock);
	return r;
}

static void end(vmt_units *s)
{
	pthread_mutex_lock(&s->lock);
	for (vmt_unit *u = s->head; u; u = u->next) {
		u->progress = PROG_IDLE;
		u->has_section = false;
	}
	s->busy = false;
	pthread_mutex_unlock(&s->lock);
}

/* The units taking part in @op, in registration order; the set is claimed. */
static int collect(vmt_units *s, enum vmt_unit_op op, vmt_unit ***out, size_t *n)
{
	vmt_unit **v;
	size_t k = 0;

	v = malloc((s->count ? s->count : 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (vmt_unit *u = s->head; u; u = u->next)
		if (participates(u, op))
			v[k++] = u;
	*out = v;
	*n = k;
	return 0;
}

/* The order @op walks the graph in, and whether a failure skips the waiters. */
static void job_order(struct job *j)
{
	switch (j->op) {
	case VMT_UNIT_OP_START:
		j->order = ORDER_DEPS_FIRST;
		break;
	case VMT_UNIT_OP_STOP:
		j->order = ORDER_DENTS_FIRST;
		break;
	case VMT_UNIT_OP_RESET:
	case VMT_UNIT_OP_RESTORE:
		j->order = ORDER_DEPS_FIRST;
		j->skip_dependents = true;
		break;
	default:
		j->order = ORDER_NONE;
		break;
	}
}

/*
 * Mark the participants, count what each waits on and queue those waiting
 * on nothing; under the lock.  Marking all first makes "progress !=
 * PROG_IDLE" mean "takes part" while counting.
 */
static void job_prepare(struct job *j)
{
	for (size_t i = 0; i < j->n; i++) {
		vmt_unit *u = j->units[i];

		u->idx = (uint32_t)i;
		u->cause = NULL;
		u->fw = NULL;
		u->progress = PROG_WAITING;
	}
	for (size_t i = 0; i < j->n; i++) {
		vmt_unit *u = j->units[i];
		vmt_unit **w = j->order == ORDER_DEPS_FIRST ? u->deps : u->dents;
		uint32_t nw = j->order == ORDER_DEPS_FIRST ? u->ndeps : u->ndents;

		u->pending = 0;
		if (j->order != ORDER_NONE)
			for (uint32_t k = 0; k < nw; k++)
				u->pending += w[k]->progress != PROG_IDLE;
		if (!u->pending)
			queue_push(j, u);
	}
}

/*
 * Run @op over @units (already collected) and fill entries [base, base + n)
 * of @rep.  The set is claimed (busy), so the graph cannot change.
 */
static int run_job(vmt_units *s, enum vmt_unit_op op, vmt_unit **units, size_t n,
		   vmt_units_report *rep, size_t base, vmt_snap_writer *sw)
{
	struct job j = {
		.op = op,
		.units = units,
		.n = n,
		.res = rep->e + base,
		.owned = rep->owned + base,
		.sw = sw,
		.remaining = n,
	};

	job_order(&j);
	report_fill(rep, base, n, op);
	if (n == 0)
		return 0;
	j.queue = malloc(n * sizeof(*j.queue));
	/* At most one writer per unit is ever out of the pool. */
	if (j.queue && sw)
		j.pool = malloc(n * sizeof(*j.pool));
	if (!j.queue || (sw && !j.pool)) {
		free(j.queue);
		return -ENOMEM;
	}

	pthread_mutex_lock(&s->lock);
	job_prepare(&j);
	s->job = &j;
	/* The caller works too; the pool joins through the cascade in work_one(). */
	while (j.remaining) {
		if (j.qhead < j.qtail) {
			work_one(s, &j);
			continue;
		}
		s->idle++;
		pthread_cond_wait(&s->cond, &s->lock);
		s->idle--;
	}
	s->job = NULL;
	for (size_t i = 0; i < n; i++)
		units[i]->progress = PROG_IDLE;
	pthread_mutex_unlock(&s->lock);
	for (size_t i = 0; i < j.npool; i++)
		vmt_fields_writer_free(j.pool[i]);
	free(j.pool);
	free(j.queue);
	return 0;
}

/* Start, stop, start_stopped, reset: one job over the participants. */
static int simple_op(vmt_units *s, enum vmt_unit_op op, bool only_if_running,
		     vmt_units_report **out)
{
	vmt_units_report *rep = NULL;
	vmt_unit **units = NULL;
	size_t n = 0;
	int r;

	if (!s)
		return -EINVAL;
	if (vmti_units_lock_for_change(s) < 0)
		return -EBUSY;
	if (s->busy) {
		r = -EBUSY;
	} else if (op == VMT_UNIT_OP_START && !only_if_running && s->running) {
		r = -EALREADY;
	} else if (op == VMT_UNIT_OP_STOP && !s->running) {
		r = -EALREADY;
	} else if (op == VMT_UNIT_OP_RESET && s->running) {
		r = -EBUSY;
	} else {
		s->busy = true;
		r = 0;
	}
	pthread_mutex_unlock(&s->lock);
	if (r)
		return r;

	r = collect(s, op, &units, &n);
	/* start_stopped on a stopped set has nothing to start. */
	if (only_if_running && !s->running)
		n = 0;
	if (!r) {
		rep = report_new(units, n, n);
		if (!rep)
			r = -ENOMEM;
	}
	if (!r)
		r = run_job(s, op, units, n, rep, 0, NULL);
	free(units);
	if (r) {
		vmt_units_report_free(rep);
		end(s);
		return r;
	}
	pthread_mutex_lock(&s->lock);
	if (op == VMT_UNIT_OP_START && !only_if_running)
		s->running = true;
	else if (op == VMT_UNIT_OP_STOP)
		s->running = false;
	pthread_mutex_unlock(&s->lock);
	end(s);
	return report_finish(rep, out);
}

int vmt_units_start(vmt_units *s, vmt_units_report **report)
{
	return simple_op(s, VMT_UNIT_OP_START, false, report);
}

int vmt_units_start_stopped(vmt_units *s, vmt_units_report **report)
{
	return simple_op(s, VMT_UNIT_OP_START, true, report);
}

int vmt_units_stop(vmt_units *s, vmt_units_report **report)
{
	return simple_op(s, VMT_UNIT_OP_STOP, false, report);
}

int vmt_units_reset(vmt_units *s, vmt_units_report **report)
{
	return simple_op(s, VMT_UNIT_OP_RESET, false, report);
}

int vmt_units_save(vmt_units *s, vmt_snap_writer *w, vmt_units_report **out)
{
	vmt_units_report *rep = NULL;
	vmt_unit **units = NULL;
	size_t n = 0;
	int r;

	if (!s || !w)
		return -EINVAL;
	r = begin(s, true);
	if (r)
		return r;
	r = collect(s, VMT_UNIT_OP_SAVE, &units, &n);
	if (!r) {
		rep = report_new(units, n, n);
		if (!rep)
			r = -ENOMEM;
	}
	if (!r)
		r = run_job(s, VMT_UNIT_OP_SAVE, units, n, rep, 0, w);
	free(units);
	end(s);
	if (r) {
		vmt_units_report_free(rep);
		return r;
	}
	return report_finish(rep, out);
}

/*
 * Append to *@rep (made on first use, with room for @ns entries) a failed
 * restore entry for section @i naming @name: the entry owns
 * "name\0message\0" in one allocation.
 */
static int bad_section(vmt_units_report **rep, size_t ns, size_t i, const char *name,
		       const char *why, int code)
{
	struct vmt_unit_result *e;
	size_t nl = strlen(name);
	char msg[160];
	char *p;
	int ml;

	if (!*rep) {
		vmt_units_report *r = calloc(1, sizeof(*r));

		if (r) {
			r->e = calloc(ns, sizeof(*r->e));
			r->owned = calloc(ns, sizeof(*r->owned));
		}
		if (!r || !r->e || !r->owned) {
			vmt_units_report_free(r);
			return -ENOMEM;
		}
		*rep = r;
	}
	ml = snprintf(msg, sizeof(msg), "section %zu: %s", i, why);
	p = malloc(nl + 1 + (size_t)ml + 1);
	if (!p)
		return -ENOMEM;
	memcpy(p, name, nl + 1);
	memcpy(p + nl + 1, msg, (size_t)ml + 1);
	e = &(*rep)->e[(*rep)->n];
	(*rep)->owned[(*rep)->n++] = p;
	e->unit = p;
	e->msg = p + nl + 1;
	e->op = VMT_UNIT_OP_RESTORE;
	e->status = VMT_UNIT_FAILED;
	e->error = code;
	return 0;
}

/* Sections that name no unit or name one twice; nothing has run yet. */
static int match_sections(vmt_units *s, vmt_snap_reader *rd, vmt_units_report **bad)
{
	size_t ns = vmt_snap_reader_count(rd);
	vmt_units_report *rep = NULL;
	int r;

	for (size_t i = 0; i < ns; i++) {
		struct vmt_snap_section sec;
		vmt_unit *u;

		r = vmt_snap_reader_section(rd, i, &sec);
		if (!r) {
			u = vmti_units_lookup(s, sec.name, strlen(sec.name));
			if (!u) {
				r = bad_section(&rep, ns, i, sec.name,
						"no unit of that name is registered", -ENOENT);
			} else if (u->has_section) {
				r = bad_section(&rep, ns, i, sec.name,
						"the snapshot holds two sections of that unit",
						-EBADMSG);
			} else {
				u->section = sec;
				u->has_section = true;
			}
		}
		if (r) {
			vmt_units_report_free(rep);
			return r;
		}
	}
	*bad = rep;
	return 0;
}

int vmt_units_restore(vmt_units *s, vmt_snap_reader *rd, vmt_units_report **out)
{
	vmt_units_report *rep = NULL;
	vmt_unit **units = NULL;
	size_t n = 0;
	int r;

	if (!s || !rd)
		return -EINVAL;
	r = begin(s, true);
	if (r)
		return r;
	pthread_mutex_lock(&s->lock);
	r = match_sections(s, rd, &rep);
	pthread_mutex_unlock(&s->lock);
	if (r || rep) {
		end(s);
		return r ? r : report_finish(rep, out);
	}
	r = collect(s, VMT_UNIT_OP_RESTORE, &units, &n);
	if (!r) {
		rep = report_new(units, n, 2 * n);
		if (!rep)
			r = -ENOMEM;
	}
	if (!r)
		r = run_job(s, VMT_UNIT_OP_RESTORE, units, n, rep, 0, NULL);
	if (!r) {
		bool all_ok = true;

		for (size_t i = 0; i < n; i++)
			all_ok &= !failed(rep->e[i].status);
		if (all_ok)
			r = run_job(s, VMT_UNIT_OP_POST_RESTORE, units, n, rep, n, NULL);
	}
	free(units);
	end(s);
	if (r) {
		vmt_units_report_free(rep);
		return r;
	}
	return report_finish(rep, out);
}

/* ---- inspect ---- */

/* One unit as vmt_units_inspect() saw it under the lock. */
struct insp_unit {
	const char *name;	/* in insp.names, like every name below */
	enum vmt_unit_state state;
	enum progress progress;
	size_t edges, ndeps, ndents; /* deps then dents at insp.edges[edges] */
	void (*inspect)(void *userdata, FILE *out);
	void *userdata;
};

/* A copy of what vmt_units_inspect() prints, taken under the lock. */
struct insp {
	bool running;
	const char *op;		/* the running operation, or NULL */
	bool call_ops;		/* the set was idle: inspect operations are called */
	struct insp_unit *u;
	size_t n;
	const char **edges;
	char *names;
};

static char *insp_name(char **p, const vmt_unit *u)
{
	char *name = *p;

	memcpy(name, u->name, u->name_len + 1);
	*p += u->name_len + 1;
	return name;
}

/* Fill @in from the set; under the lock.  Copies, so printing needs no lock. */
static int insp_take(const vmt_units *s, struct insp *in)
{
	size_t nedges = 0, bytes = 0, e = 0, i = 0;
	char *p;

	for (const vmt_unit *u = s->head; u; u = u->next) {
		nedges += u->ndeps + u->ndents;
		bytes += u->name_len + 1;
		for (uint32_t k = 0; k < u->ndeps; k++)
			bytes += u->deps[k]->name_len + 1;
		for (uint32_t k = 0; k < u->ndents; k++)
			bytes += u->dents[k]->name_len + 1;
	}
	in->u = calloc(s->count ? s->count : 1, sizeof(*in->u));
	in->edges = malloc((nedges ? nedges : 1) * sizeof(*in->edges));
	in->names = malloc(bytes ? bytes : 1);
	if (!in->u || !in->edges || !in->names)
		return -ENOMEM;
	in->running = s->running;
	in->op = s->job ? op_names[s->job->op] : NULL;
	in->call_ops = !s->busy;
	p = in->names;
	for (const vmt_unit *u = s->head; u; u = u->next, i++) {
		struct insp_unit *c = &in->u[i];

		c->name = insp_name(&p, u);
		c->state = u->state;
		c->progress = u->progress;
		c->edges = e;
		c->ndeps = u->ndeps;
		c->ndents = u->ndents;
		for (uint32_t k = 0; k < u->ndeps; k++)
			in->edges[e++] = insp_name(&p, u->deps[k]);
		for (uint32_t k = 0; k < u->ndents; k++)
			in->edges[e++] = insp_name(&p, u->dents[k]);
		if (in->call_ops) {
			c->inspect = u->ops.inspect;
			c->userdata = u->userdata;
		}
	}
	in->n = i;
	return 0;
}

static void insp_free(struct insp *in)
{
	free(in->u);
	free(in->edges);
	free(in->names);
}

static void json_names(FILE *out, const char *const *v, size_t n)
{
	fputc('[', out);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc(',', out);
		vmti_json_cstr(out, v[i]);
	}
	fputc(']', out);
}

/* Print @in; no lock held, so unit inspect operations may call the set. */
static void insp_print(vmt_units *s, const struct insp *in, FILE *out)
{
	struct vmti_inspect_frame frame;

	fprintf(out, "{\"running\":%s,\"operation\":", in->running ? "true" : "false");
	vmti_json_cstr(out, in->op);
	fputs(",\"units\":[", out);
	vmti_units_inspect_push(&frame, s);
	for (size_t i = 0; i < in->n; i++) {
		const struct insp_unit *c = &in->u[i];

		fprintf(out, "%s{\"name\":", i ? "," : "");
		vmti_json_cstr(out, c->name);
		fprintf(out, ",\"state\":\"%s\",\"depends_on\":",
			c->state == VMT_UNIT_RUNNING ? "running" : "stopped");
		json_names(out, in->edges + c->edges, c->ndeps);
		fputs(",\"dependents\":", out);
		json_names(out, in->edges + c->edges + c->ndeps, c->ndents);
		if (in->op) {
			fprintf(out, ",\"progress\":\"%s\"", progress_names[c->progress]);
		} else if (c->inspect) {
			fputs(",\"inspect\":", out);
			c->inspect(c->userdata, out);
		}
		fputc('}', out);
	}
	vmti_units_inspect_pop(&frame);
	fputs("]}\n", out);
}

int vmt_units_inspect(vmt_units *s, FILE *out)
{
	struct insp in = { 0 };
	int r;

	if (!s || !out)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	r = insp_take(s, &in);
	/* Holds off changes and operations until the inspect operations ran. */
	if (!r && in.call_ops)
		s->inspecting++;
	pthread_mutex_unlock(&s->lock);
	if (r) {
		insp_free(&in);
		return r;
	}
	insp_print(s, &in, out);
	insp_free(&in);
	if (in.call_ops) {
		pthread_mutex_lock(&s->lock);
		if (--s->inspecting == 0)
			pthread_cond_broadcast(&s->idle_cond);
		pthread_mutex_unlock(&s->lock);
	}
	if (fflush(out) != 0 || ferror(out))
		return -EIO;
	return 0;
}
