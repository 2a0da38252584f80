/* SPDX-License-Identifier: MIT */
/* keeper-internal.h - what other modules may use of the keeper (not installed). */
#ifndef VMT_KEEPER_INTERNAL_H
#define VMT_KEEPER_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include <vmtime/keeper.h>

#include "page.h"
#include "source-internal.h"

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
	int *subs;
	size_t nsubs, subs_cap;
	/* Extension point for modules that attach per-keeper state (share.c, tsc.c). */
	void *share;
	void *tsc_state;
};

/*
 * Page writes; call with k->lock held.  begin() is a locked RMW, a full
 * barrier: the odd sequence is visible to every reader before the writer
 * samples the host clock (see page.h).
 */
static inline void vmti_page_write_begin(struct vmti_page *p)
{
	atomic_fetch_add_explicit(&p->seq, 1, memory_order_seq_cst);
}

static inline void vmti_page_write_end(struct vmti_page *p)
{
	atomic_fetch_add_explicit(&p->seq, 1, memory_order_release);
}

#define VMTI_PAGE_SET(p, field, v) atomic_store_explicit(&(p)->field, (v), memory_order_relaxed)
#define VMTI_PAGE_GET(p, field) atomic_load_explicit(&(p)->field, memory_order_relaxed)

/* Wakes every subscriber (eventfd write); call with k->lock held. */
void vmti_keeper_notify_locked(vmt_keeper *k);

int vmti_keeper_subscribe(vmt_keeper *k, int efd);
void vmti_keeper_unsubscribe(vmt_keeper *k, int efd);

enum vmt_restore_policy vmti_keeper_restore_policy(const vmt_keeper *k);

/*
 * Host time for a write that freezes VM time (stop); call inside the write.
 * Waits out the readers' reordering window (see keeper.c).
 */
vmt_ns vmti_keeper_sample_host(vmt_keeper *k, uint64_t flags);

/*
 * Spins out the readers' reordering window; call inside a write, before
 * sampling a clock the write publishes a function of (stop, TSC updates).
 */
void vmti_keeper_wait_readers(void);

#endif /* VMT_KEEPER_INTERNAL_H */
