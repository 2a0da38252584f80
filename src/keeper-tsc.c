/* SPDX-License-Identifier: MIT */
/*
 * keeper-tsc.c - the keeper's TSC calibration thread.
 *
 * Feeds the pure calibrator (tsc.c) a sample about once a second and
 * publishes what it decides in one page write.  Why a refresh cannot step
 * backwards is argued on top of tsc.c; the write waits out the readers'
 * reordering window before it samples (page.c).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "keeper-internal.h"

/* Per-keeper state: the calibrator and its thread. */
struct tsc_state {
	vmt_keeper *k;
	struct vmti_tsc_cal cal;
	pthread_t thread;
	pthread_mutex_t mu; /* protects stop; the cal is under the keeper's lock */
	pthread_cond_t cond;
	bool stop;
};

static enum vmti_tsc_action step_locked(vmt_keeper *k, struct tsc_state *st, int64_t inject)
{
	struct vmti_page *p = k->page;
	uint64_t flags = VMTI_PAGE_GET(p, flags);
	enum vmti_tsc_action a;
	uint64_t tsc;
	vmt_ns mono;

	vmti_page_write_begin(p);
	/*
	 * Sampled after the odd sequence is visible to every reader (see top),
	 * and after any reader's late, unfenced rdtsc has executed: a fallback
	 * rebases VM time at this sample (see vmti_page_sample_host()).
	 */
	vmti_page_wait_readers();
	vmti_tsc_sample(&tsc, &mono);
	a = vmti_tsc_cal_step(&st->cal, tsc, mono + (uint64_t)inject);
	switch (a) {
	case VMTI_TSC_ENABLE:
	case VMTI_TSC_REFRESH:
		VMTI_PAGE_SET(p, tsc_base, st->cal.p.base);
		VMTI_PAGE_SET(p, tsc_ns_base, st->cal.p.ns_base);
		VMTI_PAGE_SET(p, tsc_mult, st->cal.p.mult);
		VMTI_PAGE_SET(p, tsc_shift, st->cal.p.shift);
		VMTI_PAGE_SET(p, tsc_khz, st->cal.khz);
		VMTI_PAGE_SET(p, tsc_refreshes, VMTI_PAGE_GET(p, tsc_refreshes) + 1);
		VMTI_PAGE_SET(p, flags, flags | VMTI_PAGE_TSC_VALID);
		break;
	case VMTI_TSC_FALLBACK:
		if (flags & VMTI_PAGE_RUNNING) {
			/* VM time continues from the TSC function's value at the switch. */
			VMTI_PAGE_SET(p, vm_base,
				      vmti_page_vm_at(flags, VMTI_PAGE_GET(p, vm_base),
						      VMTI_PAGE_GET(p, host_base),
						      st->cal.host_at_switch));
			VMTI_PAGE_SET(p, host_base, vmti_clock_ns(CLOCK_MONOTONIC));
		}
		VMTI_PAGE_SET(p, flags, flags & ~(uint64_t)VMTI_PAGE_TSC_VALID);
		break;
	case VMTI_TSC_NONE:
		break;
	}
	vmti_page_write_end(p);
	return a;
}

enum vmti_tsc_action vmti_tsc_keeper_step(vmt_keeper *k, int64_t mono_offset)
{
	struct tsc_state *st = k->tsc_state;
	enum vmti_tsc_action a;

	if (!st)
		return VMTI_TSC_NONE;
	pthread_mutex_lock(&k->lock);
	a = step_locked(k, st, mono_offset);
	pthread_mutex_unlock(&k->lock);
	return a;
}

bool vmti_tsc_keeper_cal(vmt_keeper *k, struct vmti_tsc_cal *out)
{
	struct tsc_state *st = k->tsc_state;

	if (!st)
		return false;
	pthread_mutex_lock(&k->lock);
	*out = st->cal;
	pthread_mutex_unlock(&k->lock);
	return true;
}

static void *tsc_thread(void *arg)
{
	struct tsc_state *st = arg;
	vmt_keeper *k = st->k;
	vmt_ns delay;

	pthread_mutex_lock(&st->mu);
	while (!st->stop) {
		struct timespec ts;

		pthread_mutex_unlock(&st->mu);
		pthread_mutex_lock(&k->lock);
		step_locked(k, st, 0);
		delay = vmti_tsc_cal_next_delay(&st->cal);
		pthread_mutex_unlock(&k->lock);

		ts = vmt_ns_to_timespec(vmti_clock_ns(CLOCK_MONOTONIC) + delay);
		pthread_mutex_lock(&st->mu);
		while (!st->stop && pthread_cond_timedwait(&st->cond, &st->mu, &ts) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

int vmti_tsc_keeper_start(vmt_keeper *k)
{
	struct tsc_state *st;
	pthread_condattr_t ca;
	int r;

	if (k->tsc != VMT_TSC_AUTO || k->mode != VMT_KEEPER_REAL || k->src.hook.fn ||
	    !vmti_tsc_invariant())
		return 0;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->k = k;
	pthread_mutex_init(&st->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&st->cond, &ca);
	pthread_condattr_destroy(&ca);
	k->tsc_state = st;
	r = pthread_create(&st->thread, NULL, tsc_thread, st);
	if (r) {
		k->tsc_state = NULL;
		pthread_cond_destroy(&st->cond);
		pthread_mutex_destroy(&st->mu);
		free(st);
		return -r;
	}
	return 0;
}

void vmti_tsc_keeper_stop(vmt_keeper *k)
{
	struct tsc_state *st = k->tsc_state;

	if (!st)
		return;
	pthread_mutex_lock(&st->mu);
	st->stop = true;
	pthread_cond_signal(&st->cond);
	pthread_mutex_unlock(&st->mu);
	pthread_join(st->thread, NULL);
	k->tsc_state = NULL;
	pthread_cond_destroy(&st->cond);
	pthread_mutex_destroy(&st->mu);
	free(st);
}
