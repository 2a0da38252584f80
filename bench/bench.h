/* SPDX-License-Identifier: MIT */
/*
 * bench/bench.h - helpers shared by the vmtime benchmarks.
 *
 * A benchmark repeats each measurement several times and reports the median,
 * because these machines are shared and one run can land on a busy core.  It
 * prints the competitor measured in the same process as a ratio, and checks
 * its callback counts (BENCH_CHECK) so a broken fast path cannot pass for a
 * fast one.
 *
 *   bench_init(argc, argv)   parses --long / --runs N (also VMT_BENCH_LONG=1,
 *                            VMT_BENCH_RUNS=N in the environment)
 *   bench_runs(def)          how many repetitions (def, more with --long)
 *   bench_long()             whether a longer run was asked for
 *   bench_clock()            ns from CLOCK_MONOTONIC_RAW, for timing only
 *   bench_cpu_clock()        the thread's CPU time in ns (descheduled time
 *                            excluded), bench_cpu_overhead() its own cost
 *   bench_median(v, n)       median of n doubles (sorts v); bench_quantile,
 *                            bench_iqr_pct, bench_spread_pct (max - min)
 *   bench_rng / bench_rand   a seeded xorshift generator: every library under
 *                            test gets the same sequence
 *   BENCH_CHECK(cond, ...)   print and exit(1) when a result is wrong
 */
#ifndef VMT_BENCH_H
#define VMT_BENCH_H

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_CHECK(cond, ...)                                                       \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "bench: check failed at %s:%d: ", __FILE__,  \
				__LINE__);                                           \
			fprintf(stderr, __VA_ARGS__);                                \
			fprintf(stderr, "\n");                                       \
			exit(1);                                                     \
		}                                                                    \
	} while (0)

/* A negative errno from vmtime is a broken benchmark, not a result. */
#define BENCH_OK(expr)                                                               \
	do {                                                                         \
		long long bench_r_ = (long long)(expr);                              \
		BENCH_CHECK(bench_r_ >= 0, "%s returned %lld (%s)", #expr, bench_r_,   \
			    strerror((int)-bench_r_));                               \
	} while (0)

static int bench_long_flag;
static int bench_runs_override;

static inline void bench_usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [--long] [--runs N]\n"
		"  --long     longer run (also VMT_BENCH_LONG=1)\n"
		"  --runs N   repetitions per measurement, median reported"
		" (also VMT_BENCH_RUNS=N)\n",
		prog);
}

/* Returns the index of the first argument it did not consume. */
static inline int bench_init(int argc, char **argv)
{
	const char *env;
	int i;

	env = getenv("VMT_BENCH_LONG");
	if (env && *env && strcmp(env, "0") != 0)
		bench_long_flag = 1;
	env = getenv("VMT_BENCH_RUNS");
	if (env && *env)
		bench_runs_override = atoi(env);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--long") == 0) {
			bench_long_flag = 1;
		} else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
			bench_runs_override = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			bench_usage(argv[0]);
			exit(0);
		} else {
			break;
		}
	}
	if (bench_runs_override < 0 || bench_runs_override > 1000) {
		bench_usage(argv[0]);
		exit(2);
	}
	/* Results stream to the terminal as they come, even through a pipe. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	return i;
}

static inline int bench_long(void)
{
	return bench_long_flag;
}

static inline int bench_runs(int def)
{
	if (bench_runs_override > 0)
		return bench_runs_override;
	return bench_long_flag ? def * 3 : def;
}

/* RAW: the benchmark's own stopwatch must not be slewed by NTP mid-run. */
static inline uint64_t bench_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * The calling thread's CPU time: on a shared machine a phase measured in wall
 * time also counts the slices other processes ran in, a CPU-time reading does
 * not.  It is a system call (~0.3-1 us): subtract bench_cpu_overhead() and
 * time phases of tens of microseconds or more.
 */
static inline uint64_t bench_cpu_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The smallest of many back-to-back readings' differences: the reading's own cost. */
static inline uint64_t bench_cpu_overhead(void)
{
	uint64_t best = UINT64_MAX, a, b;
	int i;

	for (i = 0; i < 1000; i++) {
		a = bench_cpu_clock();
		b = bench_cpu_clock();
		if (b - a < best)
			best = b - a;
	}
	return best;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static inline double bench_median(double *v, int n)
{
	if (n <= 0)
		return 0.0;
	qsort(v, (size_t)n, sizeof(*v), bench_cmp_double);
	if (n % 2)
		return v[n / 2];
	return (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

/* The q-quantile (0..1) of n doubles, nearest rank (sorts v). */
static inline double bench_quantile(double *v, int n, double q)
{
	int i;

	if (n <= 0)
		return 0.0;
	qsort(v, (size_t)n, sizeof(*v), bench_cmp_double);
	i = (int)(q * (n - 1) + 0.5);
	return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

static inline double bench_spread_pct(double *v, int n);

/*
 * Interquartile range in % of the median: noise that outvoting did not
 * remove.  With fewer than 4 samples there are no quartiles: max - min.
 */
static inline double bench_iqr_pct(double *v, int n)
{
	double med = bench_median(v, n);

	if (n < 4)
		return bench_spread_pct(v, n);
	if (med <= 0.0)
		return 0.0;
	return (bench_quantile(v, n, 0.75) - bench_quantile(v, n, 0.25)) * 100.0 / med;
}

/* Spread of the runs around the median, printed so noise is visible. */
static inline double bench_spread_pct(double *v, int n)
{
	double med;

	if (n < 2)
		return 0.0;
	med = bench_median(v, n);
	if (med <= 0.0)
		return 0.0;
	return (v[n - 1] - v[0]) * 100.0 / med;
}

struct bench_rng {
	uint64_t s;
};

static inline void bench_rng_seed(struct bench_rng *r, uint64_t seed)
{
	r->s = seed ? seed : 0x9e3779b97f4a7c15u;
}

/* xorshift64*: fast, and the same sequence on every run and machine. */
static inline uint64_t bench_rand(struct bench_rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1du;
}

/* Uniform in [lo, hi]; the modulo bias is irrelevant at these ranges. */
static inline uint64_t bench_rand_range(struct bench_rng *r, uint64_t lo, uint64_t hi)
{
	return lo + bench_rand(r) % (hi - lo + 1);
}

/* Prints the speedup of @ours against @theirs ("3.2x" faster, "0.8x" slower). */
static inline void bench_print_ratio(double theirs, double ours)
{
	if (ours <= 0.0 || theirs <= 0.0)
		printf("%9s", "-");
	else
		printf("%8.2fx", theirs / ours);
}

static inline void bench_machine_note(void)
{
	double load[3];

	if (getloadavg(load, 3) == 3)
		printf("# load average %.2f %.2f %.2f (shared machine: expect noise)\n",
		       load[0], load[1], load[2]);
}

#endif /* VMT_BENCH_H */
