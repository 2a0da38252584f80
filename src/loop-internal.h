/* SPDX-License-Identifier: MIT */
/* loop-internal.h - the loop and timer structures (not installed). */
#ifndef VMT_LOOP_INTERNAL_H
#define VMT_LOOP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <vmtime/loop.h>
#include <vmtime/timer.h>

#include "source-internal.h"
#include "wheel.h"

enum vmti_timer_state {
	VMTI_TIMER_IDLE,
	VMTI_TIMER_QUEUED,    /* in a wheel */
	VMTI_TIMER_COLLECTED, /* due, waiting in this dispatch's run list */
};

struct vmt_timer {
	struct vmti_wnode node; /* first: the wheel hands nodes back */
	vmt_loop *loop;
	vmt_timer_fn fn;
	void *userdata;
	vmt_ns period;	  /* 0 for one-shot */
	uint32_t arm_gen; /* bumped by every arm/cancel from the API */
	uint8_t clock;
	uint8_t policy;
	uint8_t state;
	bool running;	   /* its callback is executing */
	/*
	 * A dispatch's run list points at it, whatever its state: cancelled or
	 * re-armed timers stay there until the dispatch reaches them.
	 */
	bool listed;
	bool free_pending; /* freed while listed or running: freed by dispatch */
	bool watch_wall;   /* in the loop's step watchers (vmt_timer_watch_wall_steps) */
	char *name;
	struct vmt_timer *all_next, **all_pprev;
};

/* A collected timer with its sort key copied, so sorting touches no timer. */
struct vmti_due {
	vmt_ns deadline;
	uint64_t seq;
	struct vmt_timer *t;
};

struct vmt_loop {
	/*
	 * Protects the wheels, the timers' state and wake_below.  A spinlock:
	 * every critical section is a few list operations (except the rare
	 * rebase), and arm/cancel are the hot path, where a mutex's unlock RMW
	 * would cost as much as the operation itself.
	 */
	atomic_int lock;
	vmt_source *src;
	bool manual;
	bool hooked; /* host clocks come from a test hook: kernel timers are meaningless */
	int epfd, efd, tfd_mono, tfd_boot, tfd_wall;
	struct vmti_wheel wheel[VMT_CLOCK_COUNT];
	/* Arming earlier than this (per clock) must wake the loop. */
	vmt_ns wake_below[VMT_CLOCK_COUNT];
	vmt_ns prog_mono, prog_boot, prog_wall; /* what the kernel timers are set to */
	bool wall_armed;
	uint64_t seq;
	uint64_t seen_reset_count, seen_wall_steps;
	atomic_bool dispatching;
	/* The eventfd was written and the loop has not drained it yet. */
	atomic_bool wake_pending;
	atomic_bool quit;
	struct vmti_due *due; /* this dispatch's run list */
	struct vmti_due *due_tmp; /* merge buffer for sorting it */
	size_t ndue, due_cap, due_tmp_cap;
	struct vmt_timer *all;
	pthread_mutex_t sync_mu;
	pthread_cond_t sync_cv;
	atomic_int sync_waiters;
	/*
	 * Timers told of wall-clock steps, and the dispatch's copy of them
	 * (grown with the list, so a dispatch never allocates for it).
	 */
	struct vmt_timer **stepw, **steprun;
	size_t nstepw, stepw_cap, steprun_cap;
};

/* The loop being dispatched on this thread (NULL outside dispatch). */
extern __attribute__((tls_model("initial-exec"))) _Thread_local vmt_loop *vmti_dispatching;

/* Contended path of vmti_loop_lock(): spin, then yield to a preempted holder. */
void vmti_loop_lock_slow(vmt_loop *loop);

/* Inline: arm and cancel are a VMM's hot path, and the lock is most of them. */
static inline void vmti_loop_lock(vmt_loop *loop)
{
	if (__builtin_expect(!atomic_exchange_explicit(&loop->lock, 1, memory_order_acquire), 1))
		return;
	vmti_loop_lock_slow(loop);
}

static inline void vmti_loop_unlock(vmt_loop *loop)
{
	atomic_store_explicit(&loop->lock, 0, memory_order_release);
}

/* Wakes the loop's thread (eventfd write). */
void vmti_loop_wake(vmt_loop *loop);

/* timer.c: frees a timer's memory; the caller unlinked it from the loop. */
void vmti_timer_destroy(struct vmt_timer *t);

/* timer.c: takes @t out of its wheel and the loop's list, under the lock. */
void vmti_timer_unlink_locked(struct vmt_timer *t);

#endif /* VMT_LOOP_INTERNAL_H */
