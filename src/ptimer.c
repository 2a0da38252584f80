/* SPDX-License-Identifier: MIT */
/*
 * ptimer.c - QEMU-compatible countdown timers on a vmtime timer.
 *
 * The counter is not stored while it runs: it is computed from the time of
 * the next event (when it reaches zero or wraps) and the clock.  Events are
 * kept in 64.32 fixed point nanoseconds, like the period, so a periodic
 * timer with a sub-nanosecond period stays on its grid instead of losing the
 * fraction at every wrap; the underlying vmt_timer is armed at the event
 * rounded up, so when it fires the event has really happened.
 *
 * A transaction is a mutex plus the identity of the thread holding it: the
 * setters check the identity (they are refused outside a transaction), and
 * the expiry handler takes the same mutex, so the callback and a vCPU thread
 * programming the timer never interleave.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include <vmtime/ptimer.h>
#include <vmtime/snapshot.h>
#include <vmtime/source.h>
#include <vmtime/timer.h>

#include "saved-fields.h"

__extension__ typedef unsigned __int128 vmti_u128;

#define POL_WRAP VMT_PTIMER_POLICY_WRAP_AFTER_ONE_PERIOD
#define POL_CONT VMT_PTIMER_POLICY_CONTINUOUS_TRIGGER
#define POL_NO_IMM_TRIGGER VMT_PTIMER_POLICY_NO_IMMEDIATE_TRIGGER
#define POL_NO_IMM_RELOAD VMT_PTIMER_POLICY_NO_IMMEDIATE_RELOAD
#define POL_NO_ROUND_DOWN VMT_PTIMER_POLICY_NO_COUNTER_ROUND_DOWN
#define POL_ONLY_ON_DEC VMT_PTIMER_POLICY_TRIGGER_ONLY_ON_DECREMENT

/*
 * Why a reload happens.  The policies treat a counter the guest wrote
 * differently from one that wrapped by itself: only a wrap gets the extra
 * period of WRAP_AFTER_ONE_PERIOD, and only a write can be exempt from the
 * immediate trigger (TRIGGER_ONLY_ON_DECREMENT).
 */
enum reload_why {
	RELOAD_WRITE,	 /* a committed change: counting restarts now */
	RELOAD_WRAP,	 /* the counter wrapped from a nonzero count to the limit */
	RELOAD_WRAP_RAW, /* it wrapped while the count or the limit was 0 */
};

struct vmt_ptimer {
	pthread_mutex_t lock;
	/* The thread inside the transaction (its marker address), or 0. */
	_Atomic uintptr_t owner;
	vmt_source *src;
	vmt_timer *timer;
	enum vmt_clock clock;
	vmt_ptimer_fn fn;
	void *opaque;
	unsigned int policy;

	int mode;
	uint64_t limit;
	/* The count when stopped, or the count the current run started from. */
	uint64_t delta;
	vmt_ns period;
	uint32_t period_frac;
	/* The run started at last (a commit or the previous event) ... */
	vmt_ns last_ns;
	uint32_t last_frac;
	/* ... for this many periods, ending at next (saturated). */
	uint64_t run_counts;
	vmt_ns next_ns;
	uint32_t next_frac;
	bool need_reload;
	int commit_err;
};

static _Thread_local char thread_marker;

static uintptr_t self_id(void)
{
	return (uintptr_t)&thread_marker;
}

static bool in_tx(vmt_ptimer *pt)
{
	return atomic_load_explicit(&pt->owner, memory_order_relaxed) == self_id();
}

static void tx_enter(vmt_ptimer *pt)
{
	pthread_mutex_lock(&pt->lock);
	atomic_store_explicit(&pt->owner, self_id(), memory_order_relaxed);
	pt->need_reload = false;
	pt->commit_err = 0;
}

static void tx_leave(vmt_ptimer *pt)
{
	atomic_store_explicit(&pt->owner, 0, memory_order_relaxed);
	pthread_mutex_unlock(&pt->lock);
}

/* Readers lock unless the caller already holds the transaction. */
static bool read_enter(vmt_ptimer *pt)
{
	if (in_tx(pt))
		return false;
	pthread_mutex_lock(&pt->lock);
	return true;
}

static void read_leave(vmt_ptimer *pt, bool locked)
{
	if (locked)
		pthread_mutex_unlock(&pt->lock);
}

static vmt_ns pt_now(const vmt_ptimer *pt)
{
	return vmt_now(pt->src, pt->clock);
}

static vmti_u128 fixed(vmt_ns ns, uint32_t frac)
{
	return ((vmti_u128)ns << 32) | frac;
}

static bool period_zero(const vmt_ptimer *pt)
{
	return pt->period == 0 && pt->period_frac == 0;
}

/* The event rounded up to the clock's resolution: the timer's deadline. */
static vmt_ns next_deadline(const vmt_ptimer *pt)
{
	return vmt_ns_add(pt->next_ns, pt->next_frac != 0);
}

/* next = last + d periods, saturating at VMT_NS_NEVER. */
static void set_next(vmt_ptimer *pt, uint64_t d)
{
	vmti_u128 part = (vmti_u128)d * pt->period_frac + pt->last_frac;

	pt->run_counts = d;
	vmti_u128 whole = (vmti_u128)d * pt->period + (part >> 32) + pt->last_ns;

	if (whole >= VMT_NS_NEVER) {
		pt->next_ns = VMT_NS_NEVER;
		pt->next_frac = 0;
		return;
	}
	pt->next_ns = (vmt_ns)whole;
	pt->next_frac = (uint32_t)part;
}

static void pt_disable(vmt_ptimer *pt)
{
	pt->mode = VMT_PTIMER_STOPPED;
	vmt_timer_cancel(pt->timer);
}

/*
 * The counter at @now.  While a reload is pending inside a transaction the
 * count is @delta (the pending reload restarts from it); QEMU would compute
 * it from the stale event instead.
 */
static uint64_t count_at(vmt_ptimer *pt, vmt_ns now)
{
	vmti_u128 elapsed = 0, period, done;
	uint64_t counter;
	bool at_last;

	if (pt->mode == VMT_PTIMER_STOPPED || pt->delta == 0 || pt->need_reload)
		return pt->delta;
	/* Expired but not yet handled: never underflow. */
	if (now >= next_deadline(pt))
		return 0;
	/*
	 * floor((next - now) / period), computed from the start of the run
	 * as counts - ceil(elapsed / period) so that an event too far away
	 * to be represented (saturated) still gives the right count.
	 */
	if (fixed(now, 0) > fixed(pt->last_ns, pt->last_frac))
		elapsed = fixed(now, 0) - fixed(pt->last_ns, pt->last_frac);
	period = fixed(pt->period, pt->period_frac);
	done = (elapsed + period - 1) / period;
	counter = done >= pt->run_counts ? 0 : pt->run_counts - (uint64_t)done;
	at_last = now == pt->last_ns && pt->last_frac == 0;

	/*
	 * After a wrap this policy counts limit + 1 periods, the first of
	 * which reads 0: computed, it shows as limit + 1 right at the wrap
	 * and as limit during the rest of that period.
	 */
	if ((pt->policy & POL_WRAP) && pt->mode == VMT_PTIMER_PERIODIC &&
	    pt->delta == pt->limit) {
		if (at_last ? (pt->limit != UINT64_MAX && counter == pt->limit + 1)
			    : counter == pt->limit)
			return 0;
	}
	/* At the start of a run the computed value is exact already. */
	if ((pt->policy & POL_NO_ROUND_DOWN) && !at_last && counter != UINT64_MAX)
		counter++;
	return counter;
}

static void pt_fire(vmt_ptimer *pt)
{
	pt->fn(pt->opaque);
}

static void pt_reload(vmt_ptimer *pt, enum reload_why why)
{
	unsigned int pol = pt->policy;
	bool quiet = why == RELOAD_WRITE && (pol & POL_ONLY_ON_DEC);
	uint64_t d;

	if (pt->delta == 0 && !(pol & POL_NO_IMM_TRIGGER) && !quiet)
		pt_fire(pt);

	/* The callback may have changed anything: read the state only now. */
	d = pt->delta;
	if (d == 0 && !(pol & POL_NO_IMM_RELOAD))
		d = pt->delta = pt->limit;
	if (pt->mode == VMT_PTIMER_STOPPED)
		return;
	if (period_zero(pt)) {
		pt_disable(pt);
		pt->commit_err = -EDOM;
		return;
	}

	if ((pol & POL_WRAP) && why == RELOAD_WRAP && d != UINT64_MAX)
		d++;
	/* Each policy that keeps a zero count alive turns it into one period. */
	if (d == 0 && (pol & POL_CONT) && pt->mode == VMT_PTIMER_PERIODIC && pt->limit == 0)
		d = 1;
	if (d == 0 && (pol & POL_NO_IMM_TRIGGER) && why != RELOAD_WRAP_RAW)
		d = 1;
	if (d == 0 && (pol & POL_NO_IMM_RELOAD) && pt->mode == VMT_PTIMER_PERIODIC &&
	    pt->limit != 0)
		d = 1;
	if (d == 0) {
		pt_disable(pt);
		return;
	}

	if (why == RELOAD_WRITE) {
		pt->last_ns = pt_now(pt);
		pt->last_frac = 0;
	} else {
		/* From the previous event, not from now: no drift. */
		pt->last_ns = pt->next_ns;
		pt->last_frac = pt->next_frac;
	}
	set_next(pt, d);
	vmt_timer_arm(pt->timer, next_deadline(pt));
}

/* Apply the changes of the transaction; a trigger may cause more changes. */
static void pt_settle(vmt_ptimer *pt)
{
	while (pt->need_reload && pt->mode != VMT_PTIMER_STOPPED) {
		pt->need_reload = false;
		pt_reload(pt, RELOAD_WRITE);
	}
	pt->need_reload = false;
}

static void pt_expired(vmt_timer *t, uint64_t expirations, void *userdata)
{
	vmt_ptimer *pt = userdata;
	bool trigger = true;

	(void)t;
	(void)expirations;
	tx_enter(pt);
	/*
	 * The loop may have collected the timer just before another thread
	 * stopped or re-programmed it; that thread re-armed it as needed.
	 */
	if (pt->mode == VMT_PTIMER_STOPPED || pt_now(pt) < next_deadline(pt)) {
		tx_leave(pt);
		return;
	}
	if (pt->mode == VMT_PTIMER_ONESHOT) {
		pt->delta = 0;
		pt->mode = VMT_PTIMER_STOPPED;
	} else {
		enum reload_why why = RELOAD_WRAP;

		/*
		 * A zero count here is the extra period of NO_IMMEDIATE_RELOAD;
		 * a zero limit has nothing to wrap to.  Neither gets the extra
		 * period of WRAP_AFTER_ONE_PERIOD, and the reload already
		 * triggered unless triggers are deferred to the wrap.
		 */
		if (pt->delta == 0 || pt->limit == 0)
			why = RELOAD_WRAP_RAW;
		if (!(pt->policy & POL_NO_IMM_TRIGGER))
			trigger = why == RELOAD_WRAP;
		pt->delta = pt->limit;
		pt_reload(pt, why);
	}
	if (trigger)
		pt_fire(pt);
	pt_settle(pt);
	tx_leave(pt);
}

int vmt_ptimer_new(vmt_loop *loop, enum vmt_clock clock, vmt_ptimer_fn fn, void *opaque,
		   unsigned int policy, vmt_ptimer **ret)
{
	vmt_ptimer *pt;
	int r;

	if (!loop || !fn || !ret || (unsigned int)clock >= VMT_CLOCK_COUNT)
		return -EINVAL;
	if (policy & ~VMT_PTIMER_POLICY_ALL)
		return -EINVAL;
	/* One asks for a trigger when the count becomes 0, the other when it leaves 0. */
	if ((policy & POL_ONLY_ON_DEC) && (policy & POL_NO_IMM_TRIGGER))
		return -EINVAL;
	pt = calloc(1, sizeof(*pt));
	if (!pt)
		return -ENOMEM;
	r = pthread_mutex_init(&pt->lock, NULL);
	if (r) {
		free(pt);
		return -r;
	}
	atomic_init(&pt->owner, 0);
	pt->src = vmt_loop_source(loop);
	pt->clock = clock;
	pt->fn = fn;
	pt->opaque = opaque;
	pt->policy = policy;
	pt->mode = VMT_PTIMER_STOPPED;
	r = vmt_timer_new(loop, clock, pt_expired, pt, &pt->timer);
	if (r < 0) {
		pthread_mutex_destroy(&pt->lock);
		free(pt);
		return r;
	}
	vmt_timer_set_name(pt->timer, "ptimer");
	*ret = pt;
	return 0;
}

vmt_ptimer *vmt_ptimer_free(vmt_ptimer *pt)
{
	/* Inside its own transaction the timer is in use: leave it alone. */
	if (!pt || in_tx(pt))
		return NULL;
	/* Waits for a callback running elsewhere; it needs the mutex free. */
	vmt_timer_free(pt->timer);
	pthread_mutex_destroy(&pt->lock);
	free(pt);
	return NULL;
}

int vmt_ptimer_transaction_begin(vmt_ptimer *pt)
{
	if (!pt)
		return -EINVAL;
	if (in_tx(pt))
		return -EBUSY;
	tx_enter(pt);
	return 0;
}

int vmt_ptimer_transaction_commit(vmt_ptimer *pt)
{
	int err;

	if (!pt)
		return -EINVAL;
	if (!in_tx(pt))
		return -EPERM;
	pt_settle(pt);
	err = pt->commit_err;
	tx_leave(pt);
	return err;
}

static int check_setter(vmt_ptimer *pt)
{
	if (!pt)
		return -EINVAL;
	if (!in_tx(pt))
		return -EPERM;
	return 0;
}

int vmt_ptimer_set_period_frac(vmt_ptimer *pt, vmt_ns period_ns, uint32_t frac)
{
	int r = check_setter(pt);

	if (r)
		return r;
	if (period_ns > INT64_MAX)
		return -ERANGE;
	pt->delta = count_at(pt, pt_now(pt));
	pt->period = period_ns;
	pt->period_frac = frac;
	if (pt->mode != VMT_PTIMER_STOPPED)
		pt->need_reload = true;
	return 0;
}

int vmt_ptimer_set_period(vmt_ptimer *pt, vmt_ns period_ns)
{
	return vmt_ptimer_set_period_frac(pt, period_ns, 0);
}

int vmt_ptimer_set_freq(vmt_ptimer *pt, uint64_t hz)
{
	int r = check_setter(pt);

	if (r)
		return r;
	if (hz == 0)
		return -EINVAL;
	/* 10^9 / hz as 64.32 fixed point; the remainder times 2^32 fits in 64 bits. */
	return vmt_ptimer_set_period_frac(pt, VMT_NS_PER_SEC / hz,
					  (uint32_t)(((VMT_NS_PER_SEC % hz) << 32) / hz));
}

int vmt_ptimer_set_limit(vmt_ptimer *pt, uint64_t limit, int reload)
{
	int r = check_setter(pt);

	if (r)
		return r;
	pt->limit = limit;
	if (reload) {
		pt->delta = limit;
		if (pt->mode != VMT_PTIMER_STOPPED)
			pt->need_reload = true;
	}
	return 0;
}

int vmt_ptimer_set_count(vmt_ptimer *pt, uint64_t count)
{
	int r = check_setter(pt);

	if (r)
		return r;
	pt->delta = count;
	if (pt->mode != VMT_PTIMER_STOPPED)
		pt->need_reload = true;
	return 0;
}

int vmt_ptimer_run(vmt_ptimer *pt, int oneshot)
{
	int r = check_setter(pt);
	bool was_stopped;

	if (r)
		return r;
	was_stopped = pt->mode == VMT_PTIMER_STOPPED;
	if (was_stopped && period_zero(pt))
		return -EDOM;
	pt->mode = oneshot ? VMT_PTIMER_ONESHOT : VMT_PTIMER_PERIODIC;
	if (was_stopped)
		pt->need_reload = true;
	return 0;
}

int vmt_ptimer_stop(vmt_ptimer *pt)
{
	int r = check_setter(pt);

	if (r)
		return r;
	if (pt->mode == VMT_PTIMER_STOPPED)
		return 0;
	pt->delta = count_at(pt, pt_now(pt));
	pt_disable(pt);
	pt->need_reload = false;
	return 0;
}

uint64_t vmt_ptimer_get_count(vmt_ptimer *pt)
{
	uint64_t count;
	bool locked;

	if (!pt)
		return 0;
	locked = read_enter(pt);
	count = count_at(pt, pt_now(pt));
	read_leave(pt, locked);
	return count;
}

uint64_t vmt_ptimer_get_limit(vmt_ptimer *pt)
{
	uint64_t limit;
	bool locked;

	if (!pt)
		return 0;
	locked = read_enter(pt);
	limit = pt->limit;
	read_leave(pt, locked);
	return limit;
}

int vmt_ptimer_mode(vmt_ptimer *pt)
{
	bool locked;
	int mode;

	if (!pt)
		return -EINVAL;
	locked = read_enter(pt);
	mode = pt->mode;
	read_leave(pt, locked);
	return mode;
}

vmt_ns vmt_ptimer_next_event(vmt_ptimer *pt)
{
	vmt_ns next = VMT_NS_NEVER;
	bool locked;

	if (!pt)
		return VMT_NS_NEVER;
	locked = read_enter(pt);
	if (pt->mode != VMT_PTIMER_STOPPED)
		next = next_deadline(pt);
	read_leave(pt, locked);
	return next;
}

/* t - now as a signed value, saturating. */
static int64_t rel_time(vmt_ns t, vmt_ns now)
{
	if (t >= now)
		return t - now > INT64_MAX ? INT64_MAX : (int64_t)(t - now);
	return now - t > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)(now - t);
}

static vmt_ns abs_time(int64_t rel, vmt_ns now)
{
	if (rel >= 0)
		return vmt_ns_add(now, (vmt_ns)rel);
	/* A time before the clock's origin clamps to it: the event is due. */
	return vmt_ns_sub(now, (vmt_ns)0 - (vmt_ns)rel);
}

int vmt_ptimer_save(vmt_ptimer *pt, vmt_fields_writer *w, uint32_t id)
{
	vmt_ns now;
	int r;

	if (!pt || !w)
		return -EINVAL;
	if (in_tx(pt))
		return -EBUSY;
	pthread_mutex_lock(&pt->lock);
	now = pt_now(pt);
	/* The writer's errors are sticky: checking the last call is enough. */
	vmt_fields_begin_group(w, id);
	vmt_fields_put_u64(w, VMTI_PTIMER_F_MODE, (uint64_t)pt->mode);
	vmt_fields_put_u64(w, VMTI_PTIMER_F_POLICY, pt->policy);
	vmt_fields_put_u64(w, VMTI_PTIMER_F_LIMIT, pt->limit);
	vmt_fields_put_u64(w, VMTI_PTIMER_F_DELTA, pt->delta);
	vmt_fields_put_u64(w, VMTI_PTIMER_F_PERIOD, pt->period);
	vmt_fields_put_u64(w, VMTI_PTIMER_F_PERIOD_FRAC, pt->period_frac);
	vmt_fields_put_i64(w, VMTI_PTIMER_F_LAST_REL, rel_time(pt->last_ns, now));
	vmt_fields_put_u64(w, VMTI_PTIMER_F_LAST_FRAC, pt->last_frac);
	vmt_fields_put_u64(w, VMTI_PTIMER_F_RUN_COUNTS, pt->run_counts);
	r = vmt_fields_end_group(w);
	pthread_mutex_unlock(&pt->lock);
	return r < 0 ? r : 0;
}

struct saved_state {
	uint64_t mode, policy, limit, delta, period, period_frac, last_frac, run_counts;
	int64_t last_rel;
};

static int read_saved(const vmt_fields_reader *r, uint32_t id, struct saved_state *s)
{
	const struct {
		uint32_t id;
		uint64_t *v;
	} u[] = {
		{ VMTI_PTIMER_F_MODE, &s->mode },
		{ VMTI_PTIMER_F_POLICY, &s->policy },
		{ VMTI_PTIMER_F_LIMIT, &s->limit },
		{ VMTI_PTIMER_F_DELTA, &s->delta },
		{ VMTI_PTIMER_F_PERIOD, &s->period },
		{ VMTI_PTIMER_F_PERIOD_FRAC, &s->period_frac },
		{ VMTI_PTIMER_F_LAST_FRAC, &s->last_frac },
		{ VMTI_PTIMER_F_RUN_COUNTS, &s->run_counts },
	};
	vmt_fields_reader g;
	int ret;

	ret = vmt_fields_get_group(r, id, &g);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		ret = vmt_fields_get_u64(&g, u[i].id, u[i].v);
		if (ret < 0)
			return ret;
	}
	ret = vmt_fields_get_i64(&g, VMTI_PTIMER_F_LAST_REL, &s->last_rel);
	if (ret < 0)
		return ret;
	if (s->mode > VMT_PTIMER_ONESHOT || s->period > INT64_MAX ||
	    s->period_frac > UINT32_MAX || s->last_frac > UINT32_MAX)
		return -EBADMSG;
	if (s->mode != VMT_PTIMER_STOPPED && s->period == 0 && s->period_frac == 0)
		return -EBADMSG;
	return 0;
}

int vmt_ptimer_restore(vmt_ptimer *pt, const vmt_fields_reader *r, uint32_t id)
{
	struct saved_state s;
	vmt_ns now;
	int ret;

	if (!pt || !r)
		return -EINVAL;
	if (in_tx(pt))
		return -EBUSY;
	ret = read_saved(r, id, &s);
	if (ret < 0)
		return ret;
	if (s.policy != pt->policy)
		return -EINVAL;

	pthread_mutex_lock(&pt->lock);
	now = pt_now(pt);
	pt->mode = (int)s.mode;
	pt->limit = s.limit;
	pt->delta = s.delta;
	pt->period = s.period;
	pt->period_frac = (uint32_t)s.period_frac;
	pt->last_ns = abs_time(s.last_rel, now);
	pt->last_frac = (uint32_t)s.last_frac;
	/* The event follows from the start of the run, as when it was armed. */
	set_next(pt, s.run_counts);
	pt->need_reload = false;
	if (pt->mode != VMT_PTIMER_STOPPED)
		vmt_timer_arm(pt->timer, next_deadline(pt));
	else
		vmt_timer_cancel(pt->timer);
	pthread_mutex_unlock(&pt->lock);
	return 0;
}
