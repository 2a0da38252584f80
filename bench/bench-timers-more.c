/* SPDX-License-Identifier: MIT */
/*
 * bench-timers-more - the phases of bench-timers (arm, re-arm, arm+cancel,
 * cancel, expire with 10^3 .. 10^6 timers pending), vmtime against libev,
 * sd-event (libsystemd) and GLib in the same process.
 *
 * A binary of its own because libev's libevent emulation exports event_add()
 * and friends under libevent's names: libev and libevent cannot share one.
 * The delays are bench-timers' (the same seeds), uniform over 1 ms .. 10 s.
 *
 *   arm         every timer armed once (from disarmed)
 *   re-arm      every armed timer moved to a new random deadline
 *   arm+cancel  with the whole population pending, one more timer armed and
 *               cancelled at once
 *   cancel      every armed timer disarmed
 *   expire      every timer armed again (untimed), time moved past all of them,
 *               then dispatching until every callback ran
 *
 * Each phase is timed on its own in CPU time of the benchmark thread; the
 * libraries take turns run by run.  Every repetition checks that no callback
 * ran before the expire phase (none early), that every cancel found its timer
 * armed, that the expire phase ran exactly N callbacks and that no timer is
 * still armed afterwards (each fired exactly once).
 *
 * Moving time: vmtime uses a manual keeper.  libev, sd-event and GLib read
 * CLOCK_MONOTONIC themselves (ev_now_update, sd_event_wait's timestamp,
 * g_get_monotonic_time), so this program interposes clock_gettime() and adds
 * a skew that only ever grows.
 *
 * GLib keeps no ordered timer queue: every main-loop iteration visits every
 * source, and g_source_set_ready_time() outside a dispatch writes the
 * context's eventfd.  sd-event dispatches one source per sd_event_run().
 * Both are measured up to 10^5 timers by default, to 10^6 with --long (3 runs
 * there), so the default run stays around half a minute.
 *
 *   bench-timers-more [--long] [--runs N] [POPULATION...]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vmtime/vmtime.h>

#ifdef VMT_HAVE_LIBEV
#include <ev.h>
#endif
#ifdef VMT_HAVE_LIBSYSTEMD
#include <systemd/sd-event.h>
#endif
#ifdef VMT_HAVE_GLIB_2_0
#include <glib.h>
#endif

#include "bench.h"

/*
 * Population caps of the slow competitors, so a default run stays within a
 * minute: GLib visits every source per iteration and makes a system call per
 * arm, sd-event dispatches one timer per iteration (~7 us each at 10^6).
 * --long lifts them, with at most LONG_CAPPED_RUNS runs past the default cap.
 */
#define GLIB_MAX_N 100000
#define SDE_MAX_N 100000
#define ANY_N_LONG 1000000

/* The delays in the competitors' units (the ns ones are in struct seq). */
struct seq_units {
	uint64_t *us[3];	/* sd-event, GLib: rounded up, never early */
	double *sec[3];		/* libev */
};

static void seq_units_fill(struct seq_units *u, int j, size_t n, const uint64_t *d)
{
	size_t i;

	u->us[j] = malloc(n * sizeof(uint64_t));
	u->sec[j] = malloc(n * sizeof(double));
	BENCH_CHECK(u->us[j] && u->sec[j], "out of memory");
	for (i = 0; i < n; i++) {
		u->us[j][i] = (d[i] + VMT_NS_PER_US - 1) / VMT_NS_PER_US;
		u->sec[j][i] = (double)d[i] / 1e9;
	}
}

static void seq_units_free(struct seq_units *u)
{
	int j;

	for (j = 0; j < 3; j++) {
		free(u->us[j]);
		free(u->sec[j]);
	}
}

/* Enough dispatch calls for a library that runs one callback per call. */
static size_t max_passes(size_t n)
{
	return n + 1000;
}

#include "bench-timers.h"

/* CLOCK_MONOTONIC as the competitors see it (skewed), in microseconds. */
static inline uint64_t skewed_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ------------------------------------------------------------------------ */
/* libev                                                                    */

#ifdef VMT_HAVE_LIBEV
static uint64_t lev_fired;

static void lev_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	lev_fired++;
}

struct lev_ctx {
	struct ev_loop *loop;
	ev_timer *tm, *ex;
};

static void *lev_setup(const struct seq *s)
{
	struct lev_ctx *c = calloc(1, sizeof(*c));
	size_t i;

	BENCH_CHECK(c, "out of memory");
	c->loop = ev_loop_new(EVFLAG_AUTO);
	BENCH_CHECK(c->loop, "ev_loop_new failed");
	c->tm = calloc(s->n, sizeof(*c->tm));
	c->ex = calloc(PAIR_EXTRA, sizeof(*c->ex));
	BENCH_CHECK(c->tm && c->ex, "out of memory");
	for (i = 0; i < s->n; i++)
		ev_timer_init(&c->tm[i], lev_cb, 0., 0.);
	for (i = 0; i < PAIR_EXTRA; i++)
		ev_timer_init(&c->ex[i], lev_cb, 0., 0.);
	return c;
}

static void lev_rep(void *ctx, const struct seq *s, double out[OP_COUNT])
{
	struct lev_ctx *c = ctx;
	struct ev_loop *loop = c->loop;
	ev_timer *tm = c->tm, *ex = c->ex;
	const double *s0 = s->u.sec[0], *s1 = s->u.sec[1], *s2 = s->u.sec[2];
	uint64_t t[7];
	size_t n = s->n, i, passes = 0;
	long pending = 0, cancelled = 0;

	/* As a callback would find it: the loop's cached time is fresh. */
	ev_now_update(loop);
	lev_fired = 0;
	t[0] = bench_cpu_clock();
	for (i = 0; i < n; i++) {
		ev_timer_set(&tm[i], s0[i], 0.);
		ev_timer_start(loop, &tm[i]);
	}
	t[1] = bench_cpu_clock();
	/* The documented way to move a pending timer: repeat + ev_timer_again. */
	for (i = 0; i < n; i++) {
		tm[i].repeat = s1[i];
		ev_timer_again(loop, &tm[i]);
	}
	t[2] = bench_cpu_clock();
	for (i = 0; i < n; i++) {
		ev_timer *e = &ex[i & (PAIR_EXTRA - 1)];

		ev_timer_set(e, s2[i], 0.);
		ev_timer_start(loop, e);
		pending += ev_is_active(e) != 0;
		ev_timer_stop(loop, e);
	}
	t[3] = bench_cpu_clock();
	for (i = 0; i < n; i++) {
		cancelled += ev_is_active(&tm[i]) != 0;
		ev_timer_stop(loop, &tm[i]);
	}
	t[4] = bench_cpu_clock();

	BENCH_CHECK(pending == (long)n && cancelled == (long)n,
		    "libev: %ld/%ld timers active before their stop, want %zu", pending,
		    cancelled, n);
	BENCH_CHECK(lev_fired == 0, "libev: %" PRIu64 " timers fired early", lev_fired);
	for (i = 0; i < n; i++)
		BENCH_CHECK(!ev_is_active(&tm[i]), "libev: timer %zu active after stop", i);

	ev_now_update(loop);
	for (i = 0; i < n; i++) {
		ev_timer_set(&tm[i], s0[i], 0.);
		ev_timer_start(loop, &tm[i]);
	}
	skew_clock(EXPIRE_SKIP_NS);
	t[5] = bench_cpu_clock();
	while (lev_fired < n && passes++ < max_passes(n))
		ev_run(loop, EVRUN_NOWAIT);
	t[6] = bench_cpu_clock();

	BENCH_CHECK(lev_fired == n, "libev: %" PRIu64 " callbacks, want %zu", lev_fired, n);
	for (i = 0; i < n; i++)
		BENCH_CHECK(!ev_is_active(&tm[i]), "libev: timer %zu still active", i);
	phase_results(out, t, n);
}

static void lev_teardown(void *ctx, const struct seq *s)
{
	struct lev_ctx *c = ctx;

	(void)s;
	ev_loop_destroy(c->loop);
	free(c->tm);
	free(c->ex);
	free(c);
}
#endif

/* ------------------------------------------------------------------------ */
/* sd-event                                                                 */

#ifdef VMT_HAVE_LIBSYSTEMD
static uint64_t sde_fired;

static int sde_cb(sd_event_source *src, uint64_t usec, void *userdata)
{
	(void)src;
	(void)usec;
	(void)userdata;
	sde_fired++;
	return 0;
}

struct sde_ctx {
	sd_event *e;
	sd_event_source **tm, **ex;
	uint64_t *abs[3];
};

static sd_event_source *sde_new_timer(sd_event *e)
{
	sd_event_source *src = NULL;

	/*
	 * Accuracy 1 us: the default (250 ms) only lets sd-event wake later
	 * to coalesce; dispatching compares the exact deadline either way.
	 */
	BENCH_OK(sd_event_add_time(e, &src, CLOCK_MONOTONIC, UINT64_MAX - 1, 1, sde_cb, NULL));
	BENCH_OK(sd_event_source_set_enabled(src, SD_EVENT_OFF));
	return src;
}

static void *sde_setup(const struct seq *s)
{
	struct sde_ctx *c = calloc(1, sizeof(*c));
	size_t i;
	int j;

	BENCH_CHECK(c, "out of memory");
	BENCH_OK(sd_event_new(&c->e));
	c->tm = calloc(s->n, sizeof(*c->tm));
	c->ex = calloc(PAIR_EXTRA, sizeof(*c->ex));
	BENCH_CHECK(c->tm && c->ex, "out of memory");
	for (j = 0; j < 3; j++) {
		c->abs[j] = malloc(s->n * sizeof(uint64_t));
		BENCH_CHECK(c->abs[j], "out of memory");
	}
	for (i = 0; i < s->n; i++)
		c->tm[i] = sde_new_timer(c->e);
	for (i = 0; i < PAIR_EXTRA; i++)
		c->ex[i] = sde_new_timer(c->e);
	return c;
}

static int sde_armed(sd_event_source *src)
{
	int enabled = SD_EVENT_OFF;

	BENCH_OK(sd_event_source_get_enabled(src, &enabled));
	return enabled != SD_EVENT_OFF;
}

/*
 * Arming from disarmed is sd_event_source_set_time() and
 * sd_event_source_set_enabled(ONESHOT), as systemd's own event_reset_time()
 * does; moving an armed timer is sd_event_source_set_time() alone.
 */
static void sde_rep(void *ctx, const struct seq *s, double out[OP_COUNT])
{
	struct sde_ctx *c = ctx;
	sd_event_source **tm = c->tm, **ex = c->ex;
	const uint64_t *a0 = c->abs[0], *a1 = c->abs[1], *a2 = c->abs[2];
	uint64_t now = skewed_now_us();
	uint64_t t[7];
	size_t n = s->n, i, passes = 0;
	long pending = 0, cancelled = 0;
	int bad = 0, j;

	for (j = 0; j < 3; j++)
		for (i = 0; i < n; i++)
			c->abs[j][i] = now + s->u.us[j][i];
	sde_fired = 0;

	t[0] = bench_cpu_clock();
	for (i = 0; i < n; i++) {
		bad |= sd_event_source_set_time(tm[i], a0[i]);
		bad |= sd_event_source_set_enabled(tm[i], SD_EVENT_ONESHOT);
	}
	t[1] = bench_cpu_clock();
	for (i = 0; i < n; i++)
		bad |= sd_event_source_set_time(tm[i], a1[i]);
	t[2] = bench_cpu_clock();
	for (i = 0; i < n; i++) {
		sd_event_source *e = ex[i & (PAIR_EXTRA - 1)];

		bad |= sd_event_source_set_time(e, a2[i]);
		bad |= sd_event_source_set_enabled(e, SD_EVENT_ONESHOT);
		pending += sd_event_source_get_enabled(e, NULL) > 0;
		bad |= sd_event_source_set_enabled(e, SD_EVENT_OFF);
	}
	t[3] = bench_cpu_clock();
	for (i = 0; i < n; i++) {
		cancelled += sd_event_source_get_enabled(tm[i], NULL) > 0;
		bad |= sd_event_source_set_enabled(tm[i], SD_EVENT_OFF);
	}
	t[4] = bench_cpu_clock();

	BENCH_CHECK(bad == 0, "sd-event: a timer call failed");
	BENCH_CHECK(pending == (long)n && cancelled == (long)n,
		    "sd-event: %ld/%ld timers enabled before their cancel, want %zu", pending,
		    cancelled, n);
	BENCH_CHECK(sde_fired == 0, "sd-event: %" PRIu64 " timers fired early", sde_fired);
	for (i = 0; i < n; i++)
		BENCH_CHECK(!sde_armed(tm[i]), "sd-event: timer %zu enabled after cancel", i);

	for (i = 0; i < n; i++) {
		bad |= sd_event_source_set_time(tm[i], a0[i]);
		bad |= sd_event_source_set_enabled(tm[i], SD_EVENT_ONESHOT);
	}
	BENCH_CHECK(bad == 0, "sd-event: arming failed");
	skew_clock(EXPIRE_SKIP_NS);
	t[5] = bench_cpu_clock();
	/* sd-event dispatches one source per iteration. */
	while (sde_fired < n && passes++ < max_passes(n))
		BENCH_CHECK(sd_event_run(c->e, 0) >= 0, "sd_event_run failed");
	t[6] = bench_cpu_clock();

	BENCH_CHECK(sde_fired == n, "sd-event: %" PRIu64 " callbacks, want %zu", sde_fired, n);
	for (i = 0; i < n; i++)
		BENCH_CHECK(!sde_armed(tm[i]), "sd-event: timer %zu still enabled", i);
	phase_results(out, t, n);
}

static void sde_teardown(void *ctx, const struct seq *s)
{
	struct sde_ctx *c = ctx;
	size_t i;
	int j;

	for (i = 0; i < s->n; i++)
		sd_event_source_unref(c->tm[i]);
	for (i = 0; i < PAIR_EXTRA; i++)
		sd_event_source_unref(c->ex[i]);
	sd_event_unref(c->e);
	for (j = 0; j < 3; j++)
		free(c->abs[j]);
	free(c->tm);
	free(c->ex);
	free(c);
}
#endif

/* ------------------------------------------------------------------------ */
/* GLib                                                                     */

#ifdef VMT_HAVE_GLIB_2_0
static uint64_t gl_fired;

/*
 * A source driven by its ready time alone, the shape of GLib's own timeout
 * source (no prepare or check function).  g_timeout_source_new()'s dispatch
 * re-arms by its interval when the callback returns TRUE and destroys the
 * source otherwise; a reusable one-shot timer disarms itself instead.  The
 * source is blocked while it dispatches, so this set_ready_time() does not
 * write the context's eventfd.
 */
static gboolean gl_dispatch(GSource *src, GSourceFunc callback, gpointer userdata)
{
	(void)callback;
	(void)userdata;
	g_source_set_ready_time(src, -1);
	gl_fired++;
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs gl_funcs = { .dispatch = gl_dispatch };

struct gl_ctx {
	GMainContext *ctx;
	GSource **tm, **ex;
	int64_t *abs[3];
};

static GSource *gl_new_timer(GMainContext *ctx)
{
	GSource *src = g_source_new(&gl_funcs, sizeof(GSource));

	BENCH_CHECK(src, "g_source_new failed");
	BENCH_CHECK(g_source_attach(src, ctx) > 0, "g_source_attach failed");
	return src;
}

static void *gl_setup(const struct seq *s)
{
	struct gl_ctx *c = calloc(1, sizeof(*c));
	size_t i;
	int j;

	BENCH_CHECK(c, "out of memory");
	c->ctx = g_main_context_new();
	BENCH_CHECK(c->ctx, "g_main_context_new failed");
	c->tm = calloc(s->n, sizeof(*c->tm));
	c->ex = calloc(PAIR_EXTRA, sizeof(*c->ex));
	BENCH_CHECK(c->tm && c->ex, "out of memory");
	for (j = 0; j < 3; j++) {
		c->abs[j] = malloc(s->n * sizeof(int64_t));
		BENCH_CHECK(c->abs[j], "out of memory");
	}
	for (i = 0; i < s->n; i++)
		c->tm[i] = gl_new_timer(c->ctx);
	for (i = 0; i < PAIR_EXTRA; i++)
		c->ex[i] = gl_new_timer(c->ctx);
	return c;
}

static void gl_rep(void *ctx, const struct seq *s, double out[OP_COUNT])
{
	struct gl_ctx *c = ctx;
	GSource **tm = c->tm, **ex = c->ex;
	const int64_t *a0 = c->abs[0], *a1 = c->abs[1], *a2 = c->abs[2];
	int64_t now = g_get_monotonic_time();
	uint64_t t[7];
	size_t n = s->n, i, passes = 0;
	long pending = 0, cancelled = 0;
	int j;

	for (j = 0; j < 3; j++)
		for (i = 0; i < n; i++)
			c->abs[j][i] = now + (int64_t)s->u.us[j][i];
	gl_fired = 0;

	t[0] = bench_cpu_clock();
	for (i = 0; i < n; i++)
		g_source_set_ready_time(tm[i], a0[i]);
	t[1] = bench_cpu_clock();
	for (i = 0; i < n; i++)
		g_source_set_ready_time(tm[i], a1[i]);
	t[2] = bench_cpu_clock();
	for (i = 0; i < n; i++) {
		GSource *e = ex[i & (PAIR_EXTRA - 1)];

		g_source_set_ready_time(e, a2[i]);
		pending += g_source_get_ready_time(e) != -1;
		g_source_set_ready_time(e, -1);
	}
	t[3] = bench_cpu_clock();
	for (i = 0; i < n; i++) {
		cancelled += g_source_get_ready_time(tm[i]) != -1;
		g_source_set_ready_time(tm[i], -1);
	}
	t[4] = bench_cpu_clock();

	BENCH_CHECK(pending == (long)n && cancelled == (long)n,
		    "GLib: %ld/%ld timers armed before their cancel, want %zu", pending,
		    cancelled, n);
	BENCH_CHECK(gl_fired == 0, "GLib: %" PRIu64 " timers fired early", gl_fired);

	for (i = 0; i < n; i++)
		g_source_set_ready_time(tm[i], a0[i]);
	skew_clock(EXPIRE_SKIP_NS);
	t[5] = bench_cpu_clock();
	while (gl_fired < n && passes++ < max_passes(n))
		g_main_context_iteration(c->ctx, FALSE);
	t[6] = bench_cpu_clock();

	BENCH_CHECK(gl_fired == n, "GLib: %" PRIu64 " callbacks, want %zu", gl_fired, n);
	for (i = 0; i < n; i++)
		BENCH_CHECK(g_source_get_ready_time(tm[i]) == -1, "GLib: timer %zu still armed",
			    i);
	phase_results(out, t, n);
}

static void gl_teardown(void *ctx, const struct seq *s)
{
	struct gl_ctx *c = ctx;
	size_t i;
	int j;

	for (i = 0; i < s->n; i++) {
		g_source_destroy(c->tm[i]);
		g_source_unref(c->tm[i]);
	}
	for (i = 0; i < PAIR_EXTRA; i++) {
		g_source_destroy(c->ex[i]);
		g_source_unref(c->ex[i]);
	}
	g_main_context_unref(c->ctx);
	for (j = 0; j < 3; j++)
		free(c->abs[j]);
	free(c->tm);
	free(c->ex);
	free(c);
}
#endif

/* ------------------------------------------------------------------------ */
/* The table                                                                */

/* vmtime first: the speedup compares it with the best of the others. */
static const struct lib libs[] = {
	{ "vmtime", vmt_setup, vmt_rep, vmt_teardown, 0, 0 },
#ifdef VMT_HAVE_LIBEV
	{ "libev", lev_setup, lev_rep, lev_teardown, 0, 0 },
#endif
#ifdef VMT_HAVE_LIBSYSTEMD
	{ "sd-event", sde_setup, sde_rep, sde_teardown, SDE_MAX_N, ANY_N_LONG },
#endif
#ifdef VMT_HAVE_GLIB_2_0
	{ "glib", gl_setup, gl_rep, gl_teardown, GLIB_MAX_N, ANY_N_LONG },
#endif
};

#define NLIBS ((int)(sizeof(libs) / sizeof(libs[0])))
_Static_assert(NLIBS <= MAX_LIBS, "struct summary holds MAX_LIBS libraries");

static void print_population(const struct summary *sm)
{
	const struct stats *st = sm->st;
	int op, l, which;

	printf("\n%zu timers pending (ns of CPU time per op, median of %d runs x %d reps;"
	       " iqr in %%)\n", sm->n, sm->runs, sm->reps);
	printf("%-11s", "op");
	for (l = 0; l < NLIBS; l++)
		printf(" %10s %5s", libs[l].name, "iqr%");
	printf(" %10s %-9s\n", "speedup", "vs");
	for (op = 0; op < OP_COUNT; op++) {
		double best;

		printf("%-11s", op_names[op]);
		for (l = 0; l < NLIBS; l++) {
			if (st[l].measured)
				printf(" %10.1f %5.0f", st[l].med[op], st[l].iqr[op]);
			else
				printf(" %10s %5s", "-", "-");
		}
		printf(" ");
		best = best_other(st, NLIBS, op, &which);
		bench_print_ratio(best, st[0].med[op]);
		printf("  %-9s\n", which > 0 ? libs[which].name : "-");
	}
	for (l = 1; l < NLIBS; l++) {
		if (!st[l].measured)
			printf("(%s not measured at this population: above its cap of %zu%s)\n",
			       libs[l].name, bench_long() ? libs[l].max_n_long : libs[l].max_n,
			       bench_long() ? "" : ", --long raises it");
		else if (st[l].runs != sm->runs)
			printf("(%s: %d runs only, past its default cap of %zu)\n", libs[l].name,
			       st[l].runs, libs[l].max_n);
	}
}

static void print_versions(void)
{
	printf("# competitors:");
#ifdef VMT_HAVE_LIBEV
	printf(" libev %d.%d,", ev_version_major(), ev_version_minor());
#else
	printf(" libev not found at build time (not measured),");
#endif
#ifdef VMT_HAVE_LIBSYSTEMD
#ifdef VMT_LIBSYSTEMD_VERSION
	printf(" sd-event (libsystemd %s, up to %d timers),", VMT_LIBSYSTEMD_VERSION,
	       bench_long() ? ANY_N_LONG : SDE_MAX_N);
#else
	printf(" sd-event (libsystemd, up to %d timers),",
	       bench_long() ? ANY_N_LONG : SDE_MAX_N);
#endif
#else
	printf(" libsystemd not found at build time (not measured),");
#endif
#ifdef VMT_HAVE_GLIB_2_0
	printf(" GLib %u.%u.%u (up to %d timers)\n", glib_major_version, glib_minor_version,
	       glib_micro_version, bench_long() ? ANY_N_LONG : GLIB_MAX_N);
#else
	printf(" GLib not found at build time (not measured)\n");
#endif
}

int main(int argc, char **argv)
{
	struct summary *sm;
	struct plan p;

	plan_parse(argc, argv, &p);
	sm = calloc((size_t)p.npops, sizeof(*sm));
	BENCH_CHECK(sm, "out of memory");

	printf("# bench-timers-more: delays uniform over %" PRIu64 " ms .. %" PRIu64 " s, same"
	       " sequence for every library (and as bench-timers)\n",
	       DELAY_MIN_NS / VMT_NS_PER_MS, DELAY_MAX_NS / VMT_NS_PER_SEC);
	printf("# speedup = (best of the other libraries, named in 'vs') / vmtime; > 1 means"
	       " vmtime is faster\n");
	print_versions();
	cpu_overhead = bench_cpu_overhead();
	printf("# times are CPU time of the benchmark thread; a CPU-clock reading costs %" PRIu64
	       " ns (subtracted)\n", cpu_overhead);
	printf("# clock_gettime interposer overhead: %.1f ns per read\n",
	       interposer_overhead(CLOCK_MONOTONIC));
	bench_machine_note();

	plan_run(&p, libs, NLIBS, 1, print_population, sm);
	free(sm);
	return 0;
}
