/* SPDX-License-Identifier: MIT */
/*
 * bench/bench-timers.h - what bench-timers and bench-timers-more share: the
 * phases and their delays, the clock_gettime() interposer that moves the
 * competitors' time, vmtime's side of every phase, and the loop that runs the
 * libraries in turns and reduces their samples to medians.
 *
 * Two binaries because libev's libevent emulation exports event_add() and
 * friends under libevent's names; the phases, delays (same seeds) and checks
 * must stay the same in both so their tables compare.  Not in bench.h:
 * bench-now measures clock_gettime() itself and must not be interposed.
 *
 * Include it from exactly one source file per binary: it defines
 * clock_gettime().  Before including it, that file defines
 *
 *   struct seq_units                 the delays in its competitors' units
 *   seq_units_fill(u, j, n, d)       fills phase j's arrays from the n delays
 *                                    d[] in ns (allocating them)
 *   seq_units_free(u)                frees them
 *   max_passes(n)                    how many dispatch calls the expire phase
 *                                    may take before it counts as failed
 *
 * and after it its competitors and a struct lib table, vmtime first.
 */
#ifndef VMT_BENCH_TIMERS_H
#define VMT_BENCH_TIMERS_H

#include <dlfcn.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <vmtime/vmtime.h>

#include "bench.h"

#define DELAY_MIN_NS (1 * VMT_NS_PER_MS)
#define DELAY_MAX_NS (10 * VMT_NS_PER_SEC)
/* Past every deadline, with room for rounding up to whole ms (libuv) or us. */
#define EXPIRE_SKIP_NS (DELAY_MAX_NS + VMT_NS_PER_SEC)
/* Extra timers cycled through by the arm+cancel phase (a power of two). */
#define PAIR_EXTRA 1024
/* Each run repeats the phases until it did this many operations per phase. */
#define MIN_OPS_PER_RUN 100000
#define MAX_RUNS 64
/* Runs of a library above its default population cap, with --long. */
#define LONG_CAPPED_RUNS 3
/* Populations on one command line, and libraries in one table. */
#define MAX_POPS 16
#define MAX_LIBS 4

enum op { OP_ARM, OP_REARM, OP_PAIR, OP_CANCEL, OP_EXPIRE, OP_COUNT };

static const char *const op_names[OP_COUNT] = {
	[OP_ARM] = "arm", [OP_REARM] = "re-arm", [OP_PAIR] = "arm+cancel",
	[OP_CANCEL] = "cancel", [OP_EXPIRE] = "expire",
};

/* The delays of one population: in ns, and in the unit each competitor takes. */
struct seq {
	size_t n;
	uint64_t *d[3];		/* arm, re-arm, arm+cancel */
	struct seq_units u;
};

/* The cost of one CPU-clock reading, subtracted from every phase. */
static uint64_t cpu_overhead;

static double per_op(uint64_t t0, uint64_t t1, size_t n)
{
	uint64_t d = t1 - t0;

	d = d > cpu_overhead ? d - cpu_overhead : 0;
	return (double)d / (double)n;
}

/*
 * One repetition's results from its CPU-clock readings: t[0] .. t[4] bracket
 * arm, re-arm, arm+cancel and cancel back to back; t[5] .. t[6] the expire
 * phase (re-arming before it is not timed).
 */
static void phase_results(double out[OP_COUNT], const uint64_t t[7], size_t n)
{
	out[OP_ARM] = per_op(t[0], t[1], n);
	out[OP_REARM] = per_op(t[1], t[2], n);
	out[OP_PAIR] = per_op(t[2], t[3], n);
	out[OP_CANCEL] = per_op(t[3], t[4], n);
	out[OP_EXPIRE] = per_op(t[5], t[6], n);
}

/* ------------------------------------------------------------------------ */
/* The clock interposer: lets the competitors see time jump forward.       */

static int (*real_clock_gettime)(clockid_t, struct timespec *);
static uint64_t clock_skew_ns;

static void resolve_clock_gettime(void)
{
	void *sym = dlsym(RTLD_NEXT, "clock_gettime");

	BENCH_CHECK(sym != NULL, "cannot find the real clock_gettime: %s", dlerror());
	*(void **)&real_clock_gettime = sym;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
	uint64_t skew, ns;
	int r;

	if (!real_clock_gettime)
		resolve_clock_gettime();
	r = real_clock_gettime(id, ts);
	skew = __atomic_load_n(&clock_skew_ns, __ATOMIC_RELAXED);
	if (r == 0 && skew && (id == CLOCK_MONOTONIC || id == CLOCK_MONOTONIC_COARSE)) {
		ns = (uint64_t)ts->tv_nsec + skew % VMT_NS_PER_SEC;
		ts->tv_sec += (time_t)(skew / VMT_NS_PER_SEC + ns / VMT_NS_PER_SEC);
		ts->tv_nsec = (long)(ns % VMT_NS_PER_SEC);
	}
	return r;
}

static inline void skew_clock(uint64_t ns)
{
	__atomic_add_fetch(&clock_skew_ns, ns, __ATOMIC_RELAXED);
}

/* Only once every library that saw the skew is gone: they expect monotonic time. */
static inline void reset_skew(void)
{
	__atomic_store_n(&clock_skew_ns, 0, __ATOMIC_RELAXED);
}

static volatile uint64_t sink;

/* What the interposer adds to a read of @id, the clock the competitors read most. */
static double interposer_overhead(clockid_t id)
{
	const long iters = 200000;
	double diff[7], med;
	struct timespec ts;
	uint64_t t0, t1, t2, acc = 0;
	long i;
	int r;

	if (!real_clock_gettime)
		resolve_clock_gettime();
	for (r = 0; r < 7; r++) {
		t0 = bench_cpu_clock();
		for (i = 0; i < iters; i++) {
			clock_gettime(id, &ts);
			acc += (uint64_t)ts.tv_nsec;
		}
		t1 = bench_cpu_clock();
		for (i = 0; i < iters; i++) {
			real_clock_gettime(id, &ts);
			acc += (uint64_t)ts.tv_nsec;
		}
		t2 = bench_cpu_clock();
		diff[r] = ((double)(t1 - t0) - (double)(t2 - t1)) / (double)iters;
	}
	sink = acc;
	med = bench_median(diff, 7);
	return med > 0.0 ? med : 0.0;
}

/* ------------------------------------------------------------------------ */
/* The delays                                                               */

static void seq_fill(struct seq *s, size_t n, uint64_t seed)
{
	struct bench_rng rng;
	size_t i;
	int j;

	s->n = n;
	bench_rng_seed(&rng, seed);
	for (j = 0; j < 3; j++) {
		s->d[j] = malloc(n * sizeof(uint64_t));
		BENCH_CHECK(s->d[j], "out of memory");
		for (i = 0; i < n; i++)
			s->d[j][i] = bench_rand_range(&rng, DELAY_MIN_NS, DELAY_MAX_NS);
		seq_units_fill(&s->u, j, n, s->d[j]);
	}
}

static void seq_free(struct seq *s)
{
	int j;

	for (j = 0; j < 3; j++)
		free(s->d[j]);
	seq_units_free(&s->u);
}

/* ------------------------------------------------------------------------ */
/* vmtime                                                                   */

static uint64_t vmt_fired;
static uint64_t vmt_bad_expirations;

static void vmt_cb(vmt_timer *t, uint64_t expirations, void *userdata)
{
	(void)t;
	(void)userdata;
	vmt_fired++;
	vmt_bad_expirations += expirations != 1;
}

/* Host readings are not part of what this benchmark measures: keep them still. */
static vmt_ns fake_host_clock(void *opaque, enum vmt_clock clock)
{
	(void)opaque;
	(void)clock;
	return 1000 * VMT_NS_PER_SEC;
}

struct vmt_ctx {
	vmt_keeper *k;
	vmt_loop *loop;
	vmt_source *src;
	vmt_timer **tm, **ex;
	vmt_ns *abs[3];
};

static void *vmt_setup(const struct seq *s)
{
	struct vmt_keeper_config cfg = VMT_KEEPER_CONFIG_INIT;
	struct vmt_ctx *c = calloc(1, sizeof(*c));
	size_t i;
	int j;

	BENCH_CHECK(c, "out of memory");
	cfg.mode = VMT_KEEPER_MANUAL;
	cfg.initial_vm_time = VMT_NS_PER_SEC;
	cfg.host_clock = fake_host_clock;
	BENCH_OK(vmt_keeper_new(&cfg, &c->k));
	BENCH_OK(vmt_keeper_start(c->k));
	c->src = vmt_keeper_source(c->k);
	BENCH_OK(vmt_loop_new(c->src, &c->loop));
	c->tm = calloc(s->n, sizeof(*c->tm));
	c->ex = calloc(PAIR_EXTRA, sizeof(*c->ex));
	BENCH_CHECK(c->tm && c->ex, "out of memory");
	for (j = 0; j < 3; j++) {
		c->abs[j] = malloc(s->n * sizeof(vmt_ns));
		BENCH_CHECK(c->abs[j], "out of memory");
	}
	for (i = 0; i < s->n; i++)
		BENCH_OK(vmt_timer_new(c->loop, VMT_CLOCK_VM, vmt_cb, NULL, &c->tm[i]));
	for (i = 0; i < PAIR_EXTRA; i++)
		BENCH_OK(vmt_timer_new(c->loop, VMT_CLOCK_VM, vmt_cb, NULL, &c->ex[i]));
	return c;
}

static void vmt_rep(void *ctx, const struct seq *s, double out[OP_COUNT])
{
	struct vmt_ctx *c = ctx;
	vmt_timer **tm = c->tm, **ex = c->ex;
	const vmt_ns *a0 = c->abs[0], *a1 = c->abs[1], *a2 = c->abs[2];
	vmt_ns now = vmt_now(c->src, VMT_CLOCK_VM);
	uint64_t t[7];
	long pending = 0, cancelled = 0, callbacks = 0;
	size_t n = s->n, i, passes = 0;
	int bad = 0, j;

	for (j = 0; j < 3; j++)
		for (i = 0; i < n; i++)
			c->abs[j][i] = now + s->d[j][i];
	vmt_fired = 0;

	t[0] = bench_cpu_clock();
	for (i = 0; i < n; i++)
		bad |= vmt_timer_arm(tm[i], a0[i]);
	t[1] = bench_cpu_clock();
	for (i = 0; i < n; i++)
		bad |= vmt_timer_arm(tm[i], a1[i]);
	t[2] = bench_cpu_clock();
	for (i = 0; i < n; i++) {
		vmt_timer *e = ex[i & (PAIR_EXTRA - 1)];

		bad |= vmt_timer_arm(e, a2[i]);
		pending += vmt_timer_cancel(e);
	}
	t[3] = bench_cpu_clock();
	for (i = 0; i < n; i++)
		cancelled += vmt_timer_cancel(tm[i]);
	t[4] = bench_cpu_clock();

	BENCH_CHECK(bad == 0, "vmt_timer_arm failed");
	BENCH_CHECK(pending == (long)n && cancelled == (long)n,
		    "vmtime: %ld/%ld cancels found the timer pending, want %zu", pending,
		    cancelled, n);
	BENCH_CHECK(vmt_fired == 0, "vmtime: %" PRIu64 " timers fired early", vmt_fired);

	for (i = 0; i < n; i++)
		bad |= vmt_timer_arm(tm[i], a0[i]);
	BENCH_CHECK(bad == 0, "vmt_timer_arm failed");
	t[5] = bench_cpu_clock();
	BENCH_OK(vmt_keeper_advance(c->k, EXPIRE_SKIP_NS));
	while (vmt_fired < n && passes++ < max_passes(n)) {
		int r = vmt_loop_dispatch(c->loop);

		BENCH_OK(r);
		callbacks += r;
	}
	t[6] = bench_cpu_clock();

	BENCH_CHECK(vmt_fired == n && callbacks == (long)n,
		    "vmtime: %" PRIu64 " callbacks ran (dispatch said %ld), want %zu", vmt_fired,
		    callbacks, n);
	BENCH_CHECK(vmt_bad_expirations == 0, "vmtime: one-shot timer with expirations != 1");
	for (i = 0; i < n; i++)
		BENCH_CHECK(!vmt_timer_pending(tm[i]), "vmtime: timer %zu still pending", i);
	phase_results(out, t, n);
}

static void vmt_teardown(void *ctx, const struct seq *s)
{
	struct vmt_ctx *c = ctx;
	size_t i;
	int j;

	for (i = 0; i < s->n; i++)
		vmt_timer_free(c->tm[i]);
	for (i = 0; i < PAIR_EXTRA; i++)
		vmt_timer_free(c->ex[i]);
	for (j = 0; j < 3; j++)
		free(c->abs[j]);
	free(c->tm);
	free(c->ex);
	vmt_loop_free(c->loop);
	vmt_keeper_free(c->k);
	free(c);
}

/* ------------------------------------------------------------------------ */
/* One population                                                           */

struct lib {
	const char *name;
	void *(*setup)(const struct seq *s);
	void (*rep)(void *ctx, const struct seq *s, double out[OP_COUNT]);
	void (*teardown)(void *ctx, const struct seq *s);
	/* Largest population measured by default (0: any), with --long. */
	size_t max_n, max_n_long;
};

struct stats {
	int measured;
	int runs;
	double med[OP_COUNT];
	double iqr[OP_COUNT];
};

struct summary {
	size_t n;
	int runs, reps;
	struct stats st[MAX_LIBS];
};

/* How many of @runs runs @lib takes part in at population @n. */
static int lib_runs(const struct lib *lib, size_t n, int runs)
{
	if (lib->max_n == 0 || n <= lib->max_n)
		return runs;
	if (!bench_long() || n > lib->max_n_long)
		return 0;
	return runs < LONG_CAPPED_RUNS ? runs : LONG_CAPPED_RUNS;
}

/*
 * Every library lives for the whole population; run by run each does its
 * repetitions in turn, so slow and quiet stretches of a shared machine are
 * spread over all of them.  With @warmup, one repetition per library first,
 * not counted: the first one at a large population also grows arrays and
 * faults pages in.
 */
static void bench_population(const struct lib *libs, int nlibs, const struct seq *s, int runs,
			     int reps, int warmup, struct summary *sm)
{
	size_t nsamples = (size_t)runs * (size_t)reps;
	double *samples[MAX_LIBS][OP_COUNT];
	void *ctx[MAX_LIBS];
	int lruns[MAX_LIBS];
	int l, op, run, rep;

	BENCH_CHECK(nlibs <= MAX_LIBS, "%d libraries, at most %d", nlibs, MAX_LIBS);
	for (l = 0; l < nlibs; l++) {
		double out[OP_COUNT];

		lruns[l] = lib_runs(&libs[l], s->n, runs);
		ctx[l] = lruns[l] ? libs[l].setup(s) : NULL;
		if (ctx[l] && warmup)
			libs[l].rep(ctx[l], s, out);
		for (op = 0; op < OP_COUNT; op++) {
			samples[l][op] = malloc(nsamples * sizeof(double));
			BENCH_CHECK(samples[l][op], "out of memory");
		}
	}
	for (run = 0; run < runs; run++) {
		for (l = 0; l < nlibs; l++) {
			if (run >= lruns[l])
				continue;
			for (rep = 0; rep < reps; rep++) {
				double out[OP_COUNT];
				size_t k = (size_t)run * (size_t)reps + (size_t)rep;

				libs[l].rep(ctx[l], s, out);
				for (op = 0; op < OP_COUNT; op++)
					samples[l][op][k] = out[op];
			}
		}
	}
	sm->n = s->n;
	sm->runs = runs;
	sm->reps = reps;
	for (l = 0; l < nlibs; l++) {
		int ns = lruns[l] * reps;

		sm->st[l].measured = ctx[l] != NULL;
		sm->st[l].runs = lruns[l];
		if (ctx[l])
			libs[l].teardown(ctx[l], s);
		for (op = 0; op < OP_COUNT; op++) {
			if (ctx[l]) {
				sm->st[l].med[op] = bench_median(samples[l][op], ns);
				sm->st[l].iqr[op] = bench_iqr_pct(samples[l][op], ns);
			}
			free(samples[l][op]);
		}
	}
	reset_skew();
}

/*
 * The best (smallest) of the measured competitors' costs, 0 if none; its
 * index in *@which (-1 if none) unless @which is NULL.
 */
static double best_other(const struct stats *st, int nlibs, int op, int *which)
{
	double best = 0.0;
	int l, w = -1;

	for (l = 1; l < nlibs; l++) {
		if (!st[l].measured)
			continue;
		if (best == 0.0 || st[l].med[op] < best) {
			best = st[l].med[op];
			w = l;
		}
	}
	if (which)
		*which = w;
	return best;
}

/* ------------------------------------------------------------------------ */
/* The command line                                                         */

struct plan {
	size_t pops[MAX_POPS];
	int npops;
	int runs_small, runs, runs_big;
};

/* --long, --runs N and the populations; exits 2 on a bad argument. */
static void plan_parse(int argc, char **argv, struct plan *p)
{
	static const size_t def_pops[] = { 1000, 10000, 100000, 1000000 };
	int first, i;

	p->npops = 0;
	first = bench_init(argc, argv);
	for (i = first; i < argc && p->npops < MAX_POPS; i++) {
		char *end;
		unsigned long long v = strtoull(argv[i], &end, 10);

		if (*end || v == 0 || v > 100000000ull) {
			bench_usage(argv[0]);
			fprintf(stderr, "  POPULATION: number of pending timers, 1..10^8\n");
			exit(2);
		}
		p->pops[p->npops++] = (size_t)v;
	}
	if (p->npops == 0) {
		for (i = 0; i < 4; i++)
			p->pops[i] = def_pops[i];
		p->npops = 4;
	}
	/*
	 * A run of a small population takes milliseconds, so many runs cost
	 * nothing and outvote the bursts of a shared machine; 10^6 timers take
	 * seconds per run for the competitors, which bounds the others.
	 */
	p->runs_small = bench_runs(11);
	p->runs = bench_runs(5);
	p->runs_big = bench_runs(5);
	if (p->runs_small > MAX_RUNS)
		p->runs_small = MAX_RUNS;
	if (p->runs > MAX_RUNS)
		p->runs = MAX_RUNS;
	if (p->runs_big > MAX_RUNS)
		p->runs_big = MAX_RUNS;
}

/*
 * Measures every population of @p with the same seeded delays in both
 * benchmarks, and prints each table as soon as it is complete.
 */
static void plan_run(const struct plan *p, const struct lib *libs, int nlibs, int warmup,
		     void (*print)(const struct summary *sm), struct summary *sm)
{
	int i;

	for (i = 0; i < p->npops; i++) {
		size_t n = p->pops[i];
		int reps = n >= MIN_OPS_PER_RUN ? 1 : (int)((MIN_OPS_PER_RUN + n - 1) / n);
		int r = n >= 1000000 ? p->runs_big : n >= 100000 ? p->runs : p->runs_small;
		struct seq s;

		seq_fill(&s, n, 0x5eed0000u + n);
		bench_population(libs, nlibs, &s, r, reps, warmup, &sm[i]);
		print(&sm[i]);
		seq_free(&s);
	}
}

#endif /* VMT_BENCH_TIMERS_H */
