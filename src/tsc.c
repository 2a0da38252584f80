/* SPDX-License-Identifier: MIT */
/*
 * tsc.c - calibrated host time from the TSC (see tsc.h for the guarantees).
 *
 * Why the refresh cannot step backwards (old function f, new function g,
 * refresh sample taken at TSC value s after the keeper's odd sequence):
 *
 *   reader that finished before the write:  its rdtsc r <= s,  value f(r) <= f(s)
 *   reader that starts after the write:     g(r') >= g(s) = f(s)   (g clamps r' < s)
 *
 * The same argument covers the switch from clock_gettime() to the TSC (the
 * first function starts at the keeper's own CLOCK_MONOTONIC sample, which is
 * later than every clock_gettime() a finished reader made) and the switch
 * back, where the keeper rebases VM time at f(s).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tsc.h"

static bool has_word(const char *line, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = strstr(line, word); p; p = strstr(p + 1, word)) {
		char before = p == line ? ' ' : p[-1];
		char after = p[n];

		if ((before == ' ' || before == '\t' || before == ':') &&
		    (after == ' ' || after == '\n' || after == '\0'))
			return true;
	}
	return false;
}

bool vmti_tsc_invariant_from(const char *cpuinfo_path, const char *clocksource_path)
{
	bool constant = false, nonstop = false, tsc_cs = false;
	char line[4096];
	FILE *f;

#ifndef VMTI_HAVE_TSC
	(void)cpuinfo_path;
	(void)clocksource_path;
	(void)has_word;
	return false;
#endif
	f = fopen(cpuinfo_path, "re");
	if (!f)
		return false;
	/* The first "flags" line speaks for every CPU: the kernel requires them equal. */
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		constant = has_word(line, "constant_tsc");
		nonstop = has_word(line, "nonstop_tsc");
		break;
	}
	fclose(f);
	f = fopen(clocksource_path, "re");
	if (f) {
		if (fgets(line, sizeof(line), f))
			tsc_cs = !strcmp(line, "tsc\n") || !strcmp(line, "tsc");
		fclose(f);
	}
	/* The kernel dropping the tsc clocksource means it saw the TSCs disagree. */
	return constant && nonstop && tsc_cs;
}

static pthread_once_t invariant_once = PTHREAD_ONCE_INIT;
static bool invariant_cached;

static void invariant_init(void)
{
	invariant_cached = vmti_tsc_invariant_from(
		"/proc/cpuinfo", "/sys/devices/system/clocksource/clocksource0/current_clocksource");
}

bool vmti_tsc_invariant(void)
{
	pthread_once(&invariant_once, invariant_init);
	return invariant_cached;
}

void vmti_tsc_sample(uint64_t *tsc, vmt_ns *mono)
{
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < 5; i++) {
		uint64_t t1 = vmti_rdtsc();
		vmt_ns m = vmti_clock_ns(CLOCK_MONOTONIC);
		uint64_t t2 = vmti_rdtsc();

		/* A preempted or migrated sample has a wide bracket: keep the tightest. */
		if (t2 >= t1 && t2 - t1 < best) {
			best = t2 - t1;
			*tsc = t1 + (t2 - t1) / 2;
			*mono = m;
		}
	}
	if (best == UINT64_MAX) {
		*tsc = vmti_rdtsc();
		*mono = vmti_clock_ns(CLOCK_MONOTONIC);
	}
}

/* The frequency baseline spans between RING/2 and RING refresh intervals. */
#define RING 8


static void cal_restart(struct vmti_tsc_cal *cal, uint64_t tsc, vmt_ns mono)
{
	cal->have_ref = true;
	cal->ref_tsc = tsc;
	cal->ref_ns = mono;
}

static bool measure(uint64_t tsc0, vmt_ns ns0, uint64_t tsc, vmt_ns mono, uint64_t *mult,
		    uint64_t *khz)
{
	uint64_t dt, dn;
	vmti_u128 m, k;

	if (tsc <= tsc0 || mono <= ns0)
		return false;
	dt = tsc - tsc0;
	dn = mono - ns0;
	k = (vmti_u128)dt * 1000000 / dn;
	if (k < VMTI_TSC_MIN_KHZ || k > VMTI_TSC_MAX_KHZ)
		return false;
	m = ((vmti_u128)dn << VMTI_TSC_SHIFT) / dt;
	if (m == 0 || m > UINT64_MAX)
		return false;
	*mult = (uint64_t)m;
	*khz = (uint64_t)k;
	return true;
}

vmt_ns vmti_tsc_cal_next_delay(const struct vmti_tsc_cal *cal)
{
	if (!cal->have_ref)
		return 0;
	if (!cal->valid)
		return VMTI_TSC_FIRST_BASELINE_NS;
	/* A short first baseline is imprecise: refresh early once, then settle. */
	if (cal->refreshes == 0)
		return VMTI_TSC_INTERVAL_NS / 4;
	return VMTI_TSC_INTERVAL_NS;
}

enum vmti_tsc_action vmti_tsc_cal_step(struct vmti_tsc_cal *cal, uint64_t tsc, vmt_ns mono)
{
	uint64_t mult, khz;
	vmt_ns cur, delay;
	int64_t err, slew, cap;
	vmti_u128 m;

	if (!cal->have_ref) {
		cal_restart(cal, tsc, mono);
		return VMTI_TSC_NONE;
	}
	if (!cal->valid) {
		if (mono - cal->ref_ns < VMTI_TSC_FIRST_BASELINE_NS && mono >= cal->ref_ns)
			return VMTI_TSC_NONE;
		if (!measure(cal->ref_tsc, cal->ref_ns, tsc, mono, &mult, &khz)) {
			cal_restart(cal, tsc, mono);
			return VMTI_TSC_NONE;
		}
		cal->p = (struct vmti_tsc_params){ .base = tsc, .ns_base = mono, .mult = mult,
						   .shift = VMTI_TSC_SHIFT };
		cal->khz = khz;
		cal->valid = true;
		cal->last_error_ns = 0;
		cal->refreshes = 0;
		cal_restart(cal, tsc, mono);
		return VMTI_TSC_ENABLE;
	}

	cur = vmti_tsc_to_ns(&cal->p, tsc);
	err = (int64_t)(cur - mono);
	if (!measure(cal->ref_tsc, cal->ref_ns, tsc, mono, &mult, &khz) ||
	    err > (int64_t)VMTI_TSC_MAX_ERROR_NS || err < -(int64_t)VMTI_TSC_MAX_ERROR_NS) {
		/*
		 * Chasing a large error would take minutes at a capped slew and
		 * stepping would break monotonicity: hand back to clock_gettime().
		 */
		cal->host_at_switch = cur;
		cal->last_error_ns = err;
		cal->valid = false;
		cal->fallbacks++;
		cal_restart(cal, tsc, mono);
		return VMTI_TSC_FALLBACK;
	}
	cal->last_error_ns = err;
	if ((uint64_t)(err < 0 ? -err : err) > cal->max_abs_error_ns)
		cal->max_abs_error_ns = (uint64_t)(err < 0 ? -err : err);
	cal->refreshes++;

	/* Remove the error over the next interval, at most MAX_SLEW_PPM of it. */
	delay = vmti_tsc_cal_next_delay(cal);
	cap = (int64_t)(delay / 1000000 * VMTI_TSC_MAX_SLEW_PPM);
	slew = -err;
	if (slew > cap)
		slew = cap;
	if (slew < -cap)
		slew = -cap;
	m = (vmti_u128)mult * (vmti_u128)((int64_t)delay + slew) / delay;
	if (m == 0)
		m = 1;
	if (m > UINT64_MAX)
		m = UINT64_MAX;
	cal->p = (struct vmti_tsc_params){ .base = tsc, .ns_base = cur, .mult = (uint64_t)m,
					   .shift = VMTI_TSC_SHIFT };
	cal->khz = khz;
	/* Keep the baseline a few seconds long: long enough to be precise, short
	 * enough to follow NTP's frequency corrections of CLOCK_MONOTONIC. */
	if (mono - cal->ref_ns > RING * VMTI_TSC_INTERVAL_NS) {
		vmt_ns back = (RING / 2) * VMTI_TSC_INTERVAL_NS;
		/* Move the reference forward along the current rate estimate. */
		cal->ref_tsc = tsc - (uint64_t)(((vmti_u128)back << VMTI_TSC_SHIFT) / mult);
		cal->ref_ns = mono - back;
	}
	return VMTI_TSC_REFRESH;
}
