/* SPDX-License-Identifier: MIT */
/*
 * bench-tsc - VM time from the calibrated TSC.
 *
 * 1. Cost: vmt_now(VM) on a running keeper in TSC mode against
 *    clock_gettime(CLOCK_MONOTONIC), interleaved runs, thread CPU time,
 *    medians (target <= 0.6x).
 * 2. Accuracy: the worst deviation of the TSC-derived clock from
 *    CLOCK_MONOTONIC over a run of 10 s (60 s with --long or
 *    --seconds 60), sampled every millisecond between two clock_gettime()
 *    calls; samples whose bracket exceeds 400 ns (preempted or
 *    interrupted: the midpoint would be uncertain by more) are discarded.
 *    VM time is compared as elapsed VM time vs elapsed CLOCK_MONOTONIC since
 *    the start (target <= 1 us).  Every read is checked to be monotonic.
 *
 *   bench-tsc [--long] [--runs N] [--seconds S]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vmtime/vmtime.h>

#include "bench.h"
#include "keeper-internal.h"
#include "tsc.h"

static volatile uint64_t sink;

static uint64_t mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double time_gettime(long iters)
{
	struct timespec ts;
	uint64_t acc = 0, t0 = bench_cpu_clock();

	for (long i = 0; i < iters; i++) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		acc += (uint64_t)ts.tv_nsec;
	}
	uint64_t t1 = bench_cpu_clock();
	sink = acc;
	return (double)(t1 - t0) / (double)iters;
}

static double time_vm(const vmt_source *src, long iters)
{
	uint64_t last = 0, t0 = bench_cpu_clock();

	for (long i = 0; i < iters; i++) {
		uint64_t v = vmt_now(src, VMT_CLOCK_VM);

		BENCH_CHECK(v >= last, "VM time went back: %" PRIu64 " < %" PRIu64, v, last);
		last = v;
	}
	uint64_t t1 = bench_cpu_clock();
	sink = last;
	return (double)(t1 - t0) / (double)iters;
}

int main(int argc, char **argv)
{
	struct vmt_keeper_config cfg = VMT_KEEPER_CONFIG_INIT;
	int i = bench_init(argc, argv), runs, seconds;
	struct vmti_tsc_cal cal;
	vmt_keeper *k;
	vmt_source *src;

	seconds = bench_long() ? 60 : 10;
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--long] [--runs N] [--seconds S]\n", argv[0]);
			return 2;
		}
	}
	if (!vmti_tsc_invariant()) {
		printf("bench-tsc: no invariant TSC on this host (constant_tsc, nonstop_tsc, "
		       "clocksource tsc): skipped\n");
		return 0;
	}
	cfg.tsc = VMT_TSC_AUTO;
	BENCH_OK(vmt_keeper_new(&cfg, &k));
	src = vmt_keeper_source(k);
	for (int w = 0; w < 200 && !(VMTI_PAGE_GET(k->page, flags) & VMTI_PAGE_TSC_VALID); w++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	BENCH_CHECK(VMTI_PAGE_GET(k->page, flags) & VMTI_PAGE_TSC_VALID,
		    "the keeper published no TSC parameters");
	BENCH_OK(vmt_keeper_start(k));

	/* 1. cost */
	runs = bench_runs(9);
	double *g = calloc((size_t)runs, sizeof(double)), *v = calloc((size_t)runs, sizeof(double));
	const long iters = 2000000;
	for (int r = 0; r < runs; r++) {
		g[r] = time_gettime(iters);
		v[r] = time_vm(src, iters);
	}
	double gi = bench_iqr_pct(g, runs), vi = bench_iqr_pct(v, runs);
	double gm = bench_median(g, runs), vm = bench_median(v, runs);
	printf("cost, median of %d runs of %ld reads (thread CPU time):\n", runs, iters);
	printf("  clock_gettime(CLOCK_MONOTONIC)   %6.2f ns  (IQR %.1f%%)\n", gm, gi);
	printf("  vmt_now(VM), TSC mode            %6.2f ns  (IQR %.1f%%)\n", vm, vi);
	printf("  ratio                            %6.2fx    (target <= 0.60x: %s)\n", vm / gm,
	       vm / gm <= 0.6 ? "met" : "MISSED");
	free(g);
	free(v);

	/* 2. accuracy */
	printf("accuracy over %d s (1 sample/ms):\n", seconds);
	uint64_t start = mono(), vm0 = 0, mid0 = 0, lastv = 0, lasth = 0;
	int64_t worst_vm = 0, worst_host = 0;
	long samples = 0, dropped = 0;
	while (mono() - start < (uint64_t)seconds * 1000000000u) {
		uint64_t m1 = mono();
		uint64_t h = vmt_now(src, VMT_CLOCK_HOST);
		uint64_t vv = vmt_now(src, VMT_CLOCK_VM);
		uint64_t m2 = mono();

		BENCH_CHECK(vv >= lastv && h >= lasth, "a clock went back");
		lastv = vv;
		lasth = h;
		if (m2 - m1 > 400) {
			dropped++;
		} else {
			uint64_t mid = m1 + (m2 - m1) / 2;

			if (!samples) {
				vm0 = vv;
				mid0 = mid;
			}
			int64_t dv = (int64_t)((vv - vm0) - (mid - mid0));
			int64_t dh = (int64_t)(h - mid);

			if (llabs(dv) > worst_vm)
				worst_vm = llabs(dv);
			if (llabs(dh) > worst_host)
				worst_host = llabs(dh);
			samples++;
		}
		struct timespec ts = { 0, 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	BENCH_CHECK(samples > seconds * 100, "too few samples: %ld", samples);
	BENCH_CHECK(vmti_tsc_keeper_cal(k, &cal), "no calibrator");
	printf("  samples %ld (dropped %ld preempted), refreshes %" PRIu64 ", fallbacks %" PRIu64
	       ", TSC %" PRIu64 " kHz\n",
	       samples, dropped, cal.refreshes, cal.fallbacks, cal.khz);
	printf("  worst |elapsed VM - elapsed CLOCK_MONOTONIC|  %6" PRId64
	       " ns  (target <= 1000 ns: %s)\n",
	       worst_vm, worst_vm <= 1000 ? "met" : "MISSED");
	printf("  worst |HOST(TSC) - CLOCK_MONOTONIC|           %6" PRId64 " ns\n", worst_host);
	printf("  last calibration error                       %6" PRId64 " ns\n",
	       cal.last_error_ns);
	vmt_keeper_free(k);
	return 0;
}
