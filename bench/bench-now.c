/* SPDX-License-Identifier: MIT */
/*
 * bench-now - the cost of reading a clock.
 *
 * vmt_now(src, VMT_CLOCK_VM) on a running REAL keeper is what a device model
 * calls on every register read, so it must cost about what the host clock it
 * is built on costs: target <= 1.2x clock_gettime(CLOCK_MONOTONIC), measured
 * in the same run, interleaved so both see the same machine load, in CPU
 * time of the thread so time spent descheduled is not counted.  Also
 * measured: vmt_now on HOST (a thin wrapper), and VM on a stopped clock (a
 * seqlock read without a host clock read).
 *
 *   bench-now [--long] [--runs N]
 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <vmtime/vmtime.h>

#include "bench.h"

enum case_id {
	CASE_CLOCK_GETTIME,
	CASE_VM_RUNNING,
	CASE_HOST,
	CASE_VM_STOPPED,
	CASE_COUNT
};

static const char *const case_names[CASE_COUNT] = {
	[CASE_CLOCK_GETTIME] = "clock_gettime(CLOCK_MONOTONIC)",
	[CASE_VM_RUNNING] = "vmt_now(VM), clock running",
	[CASE_HOST] = "vmt_now(HOST)",
	[CASE_VM_STOPPED] = "vmt_now(VM), clock stopped",
};

/* Consumed after each loop so the reads cannot be optimized away. */
static volatile uint64_t sink;

static double time_clock_gettime(long iters)
{
	struct timespec ts;
	uint64_t acc = 0, t0, t1;
	long i;

	t0 = bench_cpu_clock();
	for (i = 0; i < iters; i++) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		acc += (uint64_t)ts.tv_nsec;
	}
	t1 = bench_cpu_clock();
	sink = acc;
	return (double)(t1 - t0) / (double)iters;
}

static double time_vmt_now(const vmt_source *src, enum vmt_clock clock, long iters,
			   int check_monotonic)
{
	uint64_t acc = 0, t0, t1;
	vmt_ns prev = 0, v;
	long backwards = 0;
	long i;

	t0 = bench_cpu_clock();
	for (i = 0; i < iters; i++) {
		v = vmt_now(src, clock);
		backwards += v < prev;
		prev = v;
		acc += v;
	}
	t1 = bench_cpu_clock();
	sink = acc;
	BENCH_CHECK(prev != VMT_NS_NEVER, "vmt_now(%s) returned VMT_NS_NEVER",
		    vmt_clock_name(clock));
	if (check_monotonic)
		BENCH_CHECK(backwards == 0, "vmt_now(%s) went backwards %ld times",
			    vmt_clock_name(clock), backwards);
	return (double)(t1 - t0) / (double)iters;
}

int main(int argc, char **argv)
{
	struct vmt_keeper_config cfg = VMT_KEEPER_CONFIG_INIT;
	double samples[CASE_COUNT][64];
	double med[CASE_COUNT];
	vmt_keeper *running, *stopped;
	vmt_ns before, after;
	long iters;
	int runs, r, c;

	bench_init(argc, argv);
	runs = bench_runs(7);
	if (runs > 64)
		runs = 64;
	iters = bench_long() ? 20000000L : 2000000L;

	cfg.mode = VMT_KEEPER_REAL;
	cfg.initial_vm_time = 1000 * VMT_NS_PER_SEC;
	BENCH_OK(vmt_keeper_new(&cfg, &running));
	BENCH_OK(vmt_keeper_new(&cfg, &stopped));
	BENCH_OK(vmt_keeper_start(running));

	/* The running clock must actually move, or we would time a frozen read. */
	before = vmt_now(vmt_keeper_source(running), VMT_CLOCK_VM);
	time_clock_gettime(iters / 10);
	after = vmt_now(vmt_keeper_source(running), VMT_CLOCK_VM);
	BENCH_CHECK(after > before, "running VM clock did not advance (%" PRIu64 " -> %" PRIu64
		    ")", before, after);
	BENCH_CHECK(vmt_now(vmt_keeper_source(stopped), VMT_CLOCK_VM) == cfg.initial_vm_time,
		    "stopped VM clock does not read its initial value");

	printf("# bench-now: %ld calls per run, median of %d runs, CPU time of this thread\n",
	       iters, runs);
	bench_machine_note();

	/* Cases interleave within each run so a burst of load hits all of them. */
	for (r = 0; r < runs; r++) {
		samples[CASE_CLOCK_GETTIME][r] = time_clock_gettime(iters);
		samples[CASE_VM_RUNNING][r] =
			time_vmt_now(vmt_keeper_source(running), VMT_CLOCK_VM, iters, 1);
		samples[CASE_HOST][r] =
			time_vmt_now(vmt_keeper_source(running), VMT_CLOCK_HOST, iters, 1);
		samples[CASE_VM_STOPPED][r] =
			time_vmt_now(vmt_keeper_source(stopped), VMT_CLOCK_VM, iters, 1);
	}

	printf("%-34s %10s %9s %12s\n", "read", "ns/call", "iqr", "vs gettime");
	for (c = 0; c < CASE_COUNT; c++) {
		double spread = bench_iqr_pct(samples[c], runs);

		med[c] = bench_median(samples[c], runs);
		printf("%-34s %10.2f %8.0f%% %11.2fx\n", case_names[c], med[c], spread,
		       med[c] / med[CASE_CLOCK_GETTIME]);
	}
	printf("target: vmt_now(VM) running <= 1.20x clock_gettime: %.2fx %s\n",
	       med[CASE_VM_RUNNING] / med[CASE_CLOCK_GETTIME],
	       med[CASE_VM_RUNNING] <= 1.2 * med[CASE_CLOCK_GETTIME] ? "(met)" : "(MISSED)");

	vmt_keeper_free(stopped);
	vmt_keeper_free(running);
	return 0;
}
