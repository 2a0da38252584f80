/* SPDX-License-Identifier: MIT */
/*
 * tsc.h - host time from the TSC: detection and the calibrator (not installed).
 *
 * Pure: no thread, no keeper.  The keeper's calibration thread, which feeds
 * the calibrator and publishes its parameters, is keeper-tsc.c.
 *
 * When the TSC is invariant, readers compute host monotonic time as
 *
 *   host_ns = ns_base + (((tsc - base) * mult) >> shift)     (128-bit product)
 *
 * instead of calling clock_gettime().  The keeper's calibration thread
 * recomputes (base, ns_base, mult) about once a second so the function tracks
 * CLOCK_MONOTONIC:
 *
 *   - continuity: the new function starts where the old one is at the refresh
 *     point (ns_base = old(tsc)), so it never steps;
 *   - slew: the measured error against CLOCK_MONOTONIC is removed over the
 *     next interval by adjusting the rate, never by a step, and the rate
 *     change is capped (VMTI_TSC_MAX_SLEW_PPM);
 *   - fallback: an error larger than VMTI_TSC_MAX_ERROR_NS (host suspend, TSC
 *     reset, migration to another frequency) is not chased; the keeper
 *     switches readers back to clock_gettime() and rebases the VM clock at the
 *     switch so VM time stays continuous, then calibrates afresh.
 */
#ifndef VMT_TSC_H
#define VMT_TSC_H

#include <stdbool.h>
#include <stdint.h>

#include <vmtime/time.h>

#include "page.h" /* the parameters and the conversion readers use */

/* Fixed-point shift of the published multiplier: 2^-40 ns per tick resolution. */
#define VMTI_TSC_SHIFT 40
/* Nominal refresh interval of the calibration thread. */
#define VMTI_TSC_INTERVAL_NS (1 * VMT_NS_PER_SEC)
/* The first parameters are published after this baseline. */
#define VMTI_TSC_FIRST_BASELINE_NS (50 * VMT_NS_PER_MS)
/* Beyond this error against CLOCK_MONOTONIC, fall back to clock_gettime(). */
#define VMTI_TSC_MAX_ERROR_NS (100 * VMT_NS_PER_US)
/* Largest rate adjustment used to slew an error away, in parts per million. */
#define VMTI_TSC_MAX_SLEW_PPM 50
/* Frequencies outside [1 MHz, 100 GHz] are treated as a broken measurement. */
#define VMTI_TSC_MIN_KHZ UINT64_C(1000)
#define VMTI_TSC_MAX_KHZ UINT64_C(100000000)

/* 1 if the TSC is invariant and the kernel itself uses it (cached). */
bool vmti_tsc_invariant(void);

/* Same, from the given files (tests); missing files mean "not invariant". */
bool vmti_tsc_invariant_from(const char *cpuinfo_path, const char *clocksource_path);

/*
 * A (TSC, CLOCK_MONOTONIC) pair: clock_gettime() bracketed by two rdtsc, the
 * tightest of a few tries, the TSC taken at the bracket's middle.
 */
void vmti_tsc_sample(uint64_t *tsc, vmt_ns *mono);

enum vmti_tsc_action {
	VMTI_TSC_NONE,	   /* keep clock_gettime(); still measuring a baseline */
	VMTI_TSC_ENABLE,   /* publish the first parameters */
	VMTI_TSC_REFRESH,  /* publish refreshed parameters */
	VMTI_TSC_FALLBACK, /* clear TSC_VALID; rebase VM time at host_at_switch */
};

/* The calibrator: pure state, fed with samples (deterministic in tests). */
struct vmti_tsc_cal {
	bool have_ref;
	bool valid;
	uint64_t ref_tsc; /* start of the frequency baseline */
	vmt_ns ref_ns;
	struct vmti_tsc_params p; /* what is published while valid */
	uint64_t khz;
	int64_t last_error_ns;	 /* function - CLOCK_MONOTONIC at the last step */
	uint64_t max_abs_error_ns;
	vmt_ns host_at_switch;	 /* on FALLBACK: the old function at the sample */
	uint64_t refreshes;
	uint64_t fallbacks;
};

/*
 * One calibration step at the sample (@tsc, @mono).  Updates @cal->p for
 * ENABLE and REFRESH; for FALLBACK sets @cal->host_at_switch and restarts the
 * baseline at the sample.
 */
enum vmti_tsc_action vmti_tsc_cal_step(struct vmti_tsc_cal *cal, uint64_t tsc, vmt_ns mono);

/* How long to wait before the next step. */
vmt_ns vmti_tsc_cal_next_delay(const struct vmti_tsc_cal *cal);

#endif /* VMT_TSC_H */
