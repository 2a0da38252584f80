/* SPDX-License-Identifier: MIT */
/* keeper-internal.h - what other modules may use of the keeper (not installed). */
#ifndef VMT_KEEPER_INTERNAL_H
#define VMT_KEEPER_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include <vmtime/keeper.h>

#include "efd.h"
#include "page.h"
#include "source-internal.h"
#include "tsc.h"

struct vmt_keeper {
	struct vmt_source src;	/* the keeper's own reader; first so a cast works */
	struct vmti_page *page;	/* writable mapping of the memfd */
	int memfd;		/* MFD_ALLOW_SEALING, sized VMTI_PAGE_MAP_SIZE */
	uint32_t mode;
	uint32_t tsc;
	uint32_t restore_policy;
	vmt_ns initial_vm_time;
	/* Serializes every writer of the page and the subscriber list. */
	pthread_mutex_t lock;
	struct vmti_efd_set subs; /* loops to wake on a change; under lock */
	void *tsc_state; /* the calibration thread's (keeper-tsc.c), NULL if none */
};

/* Wakes every subscriber (eventfd write); call with k->lock held. */
void vmti_keeper_notify_locked(vmt_keeper *k);

int vmti_keeper_subscribe(vmt_keeper *k, int efd);
void vmti_keeper_unsubscribe(vmt_keeper *k, int efd);

enum vmt_restore_policy vmti_keeper_restore_policy(const vmt_keeper *k);

/*
 * The calibration thread (keeper-tsc.c): start the calibration thread of a REAL keeper
 * configured with VMT_TSC_AUTO and no host-clock hook, when the TSC is
 * invariant (otherwise a no-op returning 0); stop it before the keeper goes.
 */
int vmti_tsc_keeper_start(vmt_keeper *k);
void vmti_tsc_keeper_stop(vmt_keeper *k);

/*
 * Runs one calibration step on the keeper's page now (tests), with
 * @mono_offset added to the CLOCK_MONOTONIC sample to simulate a drift.
 */
enum vmti_tsc_action vmti_tsc_keeper_step(vmt_keeper *k, int64_t mono_offset);

/* A copy of the keeper's calibrator state; false if TSC mode is not active. */
bool vmti_tsc_keeper_cal(vmt_keeper *k, struct vmti_tsc_cal *out);

#endif /* VMT_KEEPER_INTERNAL_H */
