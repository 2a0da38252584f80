/* SPDX-License-Identifier: MIT */
/*
 * bench-timerfd - a vmt_timerfd against the kernel's timerfd, same process.
 *
 * Two measurements, each repeated several times, medians reported:
 *
 *   expiry     cost of one expiry delivered to a reader blocked in read(2):
 *              arm a one-shot already due (1 ns), then read(2) on the blocking
 *              fd until it returns.  For the kernel the hrtimer interrupt
 *              wakes the reader; for vmtime the loop thread (asleep in
 *              vmt_loop_run()) wakes, dispatches, and the timer callback
 *              writes the eventfd that wakes the reader: two thread wake-ups.
 *   lateness   wake-up lateness at 1 ms deadlines: arm an absolute deadline
 *              1 ms ahead, block in read(2), and take the clock as soon as it
 *              returns; p50 and p99 of (wake time - deadline).  Also for a
 *              VM-clock timer fd (deadline and wake time in VM time).
 *
 * Every read must return exactly one expiry (checked).  The ratio column is
 * kernel / vmtime: below 1.00x means vmtime is slower.
 *
 *   bench-timerfd [--long] [--runs N]
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <vmtime/vmtime.h>

#include "bench.h"

static vmt_keeper *keeper;
static vmt_loop *loop;
static pthread_t loop_thread;

static void *loop_main(void *arg)
{
	(void)arg;
	BENCH_OK(vmt_loop_run(loop));
	return NULL;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct itimerspec its_abs(uint64_t t)
{
	return (struct itimerspec){ .it_value = { (time_t)(t / 1000000000u),
						  (long)(t % 1000000000u) } };
}

/* One contender: a blocking fd, and how to arm it and read its clock. */
struct contender {
	const char *name;
	int fd;
	vmt_timerfd *v;		/* NULL: the kernel's timerfd */
	enum vmt_clock clock;	/* for vmtime */
};

static uint64_t now_of(const struct contender *c)
{
	if (!c->v)
		return mono_ns();
	return vmt_now(vmt_keeper_source(keeper), c->clock);
}

static void arm(struct contender *c, int flags, const struct itimerspec *v)
{
	if (c->v)
		BENCH_OK(vmt_timerfd_settime(c->v, flags, v, NULL));
	else
		BENCH_CHECK(timerfd_settime(c->fd, flags, v, NULL) == 0, "timerfd_settime: %s",
			    strerror(errno));
}

static void read_one(struct contender *c)
{
	uint64_t n = 0;
	ssize_t r;

	do
		r = read(c->fd, &n, sizeof(n));
	while (r < 0 && errno == EINTR);
	BENCH_CHECK(r == 8 && n == 1, "%s: read returned %zd, count %llu", c->name, r,
		    (unsigned long long)n);
}

/* ns per expiry delivered to a blocked reader. */
static double run_expiry(struct contender *c, int iters)
{
	const struct itimerspec soon = { .it_value = { 0, 1 } };
	uint64_t t0 = bench_clock();

	for (int i = 0; i < iters; i++) {
		arm(c, 0, &soon);
		read_one(c);
	}
	return (double)(bench_clock() - t0) / iters;
}

/* p50 and p99 of the wake-up lateness at deadlines 1 ms ahead, in ns. */
static void run_lateness(struct contender *c, int iters, double *p50, double *p99)
{
	double *late = calloc((size_t)iters, sizeof(*late));

	BENCH_CHECK(late, "out of memory");
	for (int i = 0; i < iters; i++) {
		uint64_t deadline = now_of(c) + 1000000u;
		struct itimerspec v = its_abs(deadline);
		uint64_t woke;

		arm(c, TFD_TIMER_ABSTIME, &v);
		read_one(c);
		woke = now_of(c);
		BENCH_CHECK(woke >= deadline, "%s woke %llu ns early", c->name,
			    (unsigned long long)(deadline - woke));
		late[i] = (double)(woke - deadline);
	}
	bench_median(late, iters); /* sorts */
	*p50 = late[iters / 2];
	*p99 = late[(iters * 99) / 100 < iters ? (iters * 99) / 100 : iters - 1];
	free(late);
}

int main(int argc, char **argv)
{
	struct contender c[3] = {
		{ .name = "kernel timerfd (MONOTONIC)" },
		{ .name = "vmt_timerfd (HOST)", .clock = VMT_CLOCK_HOST },
		{ .name = "vmt_timerfd (VM, running)", .clock = VMT_CLOCK_VM },
	};
	enum { NC = 3 };
	int runs, exp_iters, late_iters;
	double *cost[NC], *p50[NC], *p99[NC], med_cost[NC], med_p50[NC], med_p99[NC];

	bench_init(argc, argv);
	runs = bench_runs(5);
	exp_iters = bench_long() ? 20000 : 4000;
	late_iters = bench_long() ? 1000 : 200;

	BENCH_OK(vmt_keeper_new(NULL, &keeper));
	BENCH_OK(vmt_loop_new(vmt_keeper_source(keeper), &loop));
	BENCH_OK(vmt_keeper_start(keeper));
	BENCH_CHECK(pthread_create(&loop_thread, NULL, loop_main, NULL) == 0, "pthread_create");
	c[0].fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	BENCH_CHECK(c[0].fd >= 0, "timerfd_create: %s", strerror(errno));
	for (int i = 1; i < NC; i++) {
		BENCH_OK(vmt_timerfd_new(loop, c[i].clock, VMT_TFD_CLOEXEC, &c[i].v));
		c[i].fd = vmt_timerfd_fd(c[i].v);
	}
	for (int i = 0; i < NC; i++) {
		cost[i] = calloc((size_t)runs, sizeof(double));
		p50[i] = calloc((size_t)runs, sizeof(double));
		p99[i] = calloc((size_t)runs, sizeof(double));
		BENCH_CHECK(cost[i] && p50[i] && p99[i], "out of memory");
	}

	printf("# bench-timerfd: %d runs, %d expiries and %d 1-ms deadlines per run and contender\n",
	       runs, exp_iters, late_iters);
	bench_machine_note();
	/* Contenders interleaved within each run, so machine noise hits all of them. */
	for (int r = 0; r < runs; r++) {
		for (int i = 0; i < NC; i++) {
			cost[i][r] = run_expiry(&c[i], exp_iters);
			run_lateness(&c[i], late_iters, &p50[i][r], &p99[i][r]);
		}
	}
	for (int i = 0; i < NC; i++) {
		med_cost[i] = bench_median(cost[i], runs);
		med_p50[i] = bench_median(p50[i], runs);
		med_p99[i] = bench_median(p99[i], runs);
	}

	printf("\n%-28s %14s %9s %14s %9s %14s %9s\n", "contender", "expiry ns", "ratio",
	       "late p50 us", "ratio", "late p99 us", "ratio");
	for (int i = 0; i < NC; i++) {
		printf("%-28s %14.0f ", c[i].name, med_cost[i]);
		bench_print_ratio(med_cost[0], med_cost[i]);
		printf(" %14.1f ", med_p50[i] / 1000.0);
		bench_print_ratio(med_p50[0], med_p50[i]);
		printf(" %14.1f ", med_p99[i] / 1000.0);
		bench_print_ratio(med_p99[0], med_p99[i]);
		printf("\n");
	}
	printf("# ratio = kernel / contender (below 1.00x: slower than the kernel)\n");

	BENCH_OK(vmt_loop_quit(loop));
	pthread_join(loop_thread, NULL);
	for (int i = 0; i < NC; i++) {
		free(cost[i]);
		free(p50[i]);
		free(p99[i]);
		vmt_timerfd_free(c[i].v);
	}
	close(c[0].fd);
	vmt_loop_free(loop);
	vmt_keeper_free(keeper);
	return 0;
}
