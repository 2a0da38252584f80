/* SPDX-License-Identifier: MIT */
/*
 * timer.c - the timer API on top of the loop's wheels.
 *
 * Every operation is O(1) under the loop's spinlock.  An arm wakes the loop
 * (one eventfd write) only when the new deadline is earlier than what the
 * loop will wake for anyway and the caller is not the dispatching thread,
 * which reprograms at the end of its pass: re-arming a device timer to a
 * later time, the common case, costs no system call.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "loop-internal.h"

int vmt_timer_new(vmt_loop *loop, enum vmt_clock clock, vmt_timer_fn fn, void *userdata,
		  vmt_timer **ret)
{
	struct vmt_timer *t;

	if (!loop || !fn || !ret || (unsigned)clock >= VMT_CLOCK_COUNT)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->loop = loop;
	t->fn = fn;
	t->userdata = userdata;
	t->clock = (uint8_t)clock;
	vmti_loop_lock(loop);
	t->all_next = loop->all;
	if (t->all_next)
		t->all_next->all_pprev = &t->all_next;
	loop->all = t;
	t->all_pprev = &loop->all;
	vmti_loop_unlock(loop);
	*ret = t;
	return 0;
}

void vmti_timer_destroy(struct vmt_timer *t)
{
	free(t->name);
	free(t);
}

/* Takes @t out of the loop's wall-step watchers, keeping their order. */
static void unwatch_locked(struct vmt_timer *t)
{
	vmt_loop *loop = t->loop;

	for (size_t i = 0; i < loop->nstepw; i++) {
		if (loop->stepw[i] == t) {
			memmove(&loop->stepw[i], &loop->stepw[i + 1],
				(loop->nstepw - i - 1) * sizeof(loop->stepw[0]));
			loop->nstepw--;
			break;
		}
	}
	t->watch_wall = false;
}

void vmti_timer_unlink_locked(struct vmt_timer *t)
{
	if (t->watch_wall)
		unwatch_locked(t);
	if (vmti_wnode_queued(&t->node))
		vmti_wheel_remove(&t->loop->wheel[t->clock], &t->node); /* a lazily cancelled node */
	*t->all_pprev = t->all_next;
	if (t->all_next)
		t->all_next->all_pprev = t->all_pprev;
}

/* Removes @t from its wheel (if queued); returns whether it was pending. */
static bool disarm_locked(struct vmt_timer *t)
{
	bool was = t->state != VMTI_TIMER_IDLE;

	if (t->state == VMTI_TIMER_QUEUED)
		vmti_wheel_cancel(&t->loop->wheel[t->clock], &t->node);
	/* A collected timer is skipped by the dispatch once it is not COLLECTED. */
	t->state = VMTI_TIMER_IDLE;
	t->period = 0;
	t->arm_gen++;
	return was;
}

static int arm(struct vmt_timer *t, vmt_ns deadline, vmt_ns period, uint8_t policy)
{
	vmt_loop *loop = t->loop;
	bool wake;

	vmti_loop_lock(loop);
	t->node.seq = loop->seq++;
	t->period = period;
	t->policy = policy;
	t->arm_gen++;
	/* Also revives a cancelled node that is still linked. */
	vmti_wheel_rearm(&loop->wheel[t->clock], &t->node, deadline);
	t->state = VMTI_TIMER_QUEUED;
	wake = deadline < loop->wake_below[t->clock] && vmti_dispatching != loop;
	if (wake)
		loop->wake_below[t->clock] = deadline;
	vmti_loop_unlock(loop);
	if (wake)
		vmti_loop_wake(loop);
	return 0;
}

int vmt_timer_arm(vmt_timer *t, vmt_ns deadline)
{
	if (!t)
		return -EINVAL;
	if (deadline == VMT_NS_NEVER) {
		vmt_timer_cancel(t);
		return 0;
	}
	return arm(t, deadline, 0, VMT_MISSED_COALESCE);
}

int vmt_timer_arm_in(vmt_timer *t, vmt_ns delay)
{
	vmt_ns now;

	if (!t)
		return -EINVAL;
	now = vmt_now(t->loop->src, (enum vmt_clock)t->clock);
	if (delay >= VMT_NS_NEVER - now)
		return -EOVERFLOW;
	return arm(t, now + delay, 0, VMT_MISSED_COALESCE);
}

int vmt_timer_arm_periodic(vmt_timer *t, vmt_ns first, vmt_ns period, enum vmt_missed policy)
{
	if (!t || !period || first == VMT_NS_NEVER || (unsigned)policy > VMT_MISSED_DELAY)
		return -EINVAL;
	return arm(t, first, period, (uint8_t)policy);
}

int vmt_timer_arm_periodic_in(vmt_timer *t, vmt_ns first_delay, vmt_ns period,
			      enum vmt_missed policy)
{
	vmt_ns now;

	if (!t || !period || (unsigned)policy > VMT_MISSED_DELAY)
		return -EINVAL;
	now = vmt_now(t->loop->src, (enum vmt_clock)t->clock);
	/* VMT_NS_NEVER itself is no deadline, so it counts as an overflow too. */
	if (first_delay >= VMT_NS_NEVER - now)
		return -EOVERFLOW;
	return arm(t, now + first_delay, period, (uint8_t)policy);
}

int vmt_timer_cancel(vmt_timer *t)
{
	bool was;

	if (!t)
		return -EINVAL;
	vmti_loop_lock(t->loop);
	was = disarm_locked(t);
	vmti_loop_unlock(t->loop);
	return was;
}

/* Waits until @t's callback is not running; called without the loop lock. */
static void wait_idle(struct vmt_timer *t)
{
	vmt_loop *loop = t->loop;
	bool running;

	/* Its own callback (or one of its loop's) on this thread: cannot wait. */
	if (vmti_dispatching == loop)
		return;
	atomic_fetch_add(&loop->sync_waiters, 1);
	pthread_mutex_lock(&loop->sync_mu);
	for (;;) {
		vmti_loop_lock(loop);
		running = t->running;
		vmti_loop_unlock(loop);
		if (!running)
			break;
		pthread_cond_wait(&loop->sync_cv, &loop->sync_mu);
	}
	pthread_mutex_unlock(&loop->sync_mu);
	atomic_fetch_sub(&loop->sync_waiters, 1);
}

int vmt_timer_cancel_sync(vmt_timer *t)
{
	int was = vmt_timer_cancel(t);

	if (was >= 0)
		wait_idle(t);
	return was;
}

vmt_timer *vmt_timer_free(vmt_timer *t)
{
	vmt_loop *loop;

	if (!t)
		return NULL;
	loop = t->loop;
	vmti_loop_lock(loop);
	for (;;) {
		disarm_locked(t);
		/*
		 * A dispatch still holds it (in its run list, even cancelled or
		 * re-armed since, or running its callback on this very thread):
		 * that dispatch frees it.
		 */
		if (t->listed || (t->running && vmti_dispatching == loop)) {
			t->free_pending = true;
			vmti_loop_unlock(loop);
			return NULL;
		}
		if (!t->running)
			break;
		/* Running on another thread: wait, then look again (it may re-arm). */
		vmti_loop_unlock(loop);
		wait_idle(t);
		vmti_loop_lock(loop);
	}
	vmti_timer_unlink_locked(t);
	vmti_loop_unlock(loop);
	vmti_timer_destroy(t);
	return NULL;
}

int vmt_timer_watch_wall_steps(vmt_timer *t, int on)
{
	vmt_loop *loop;
	int r = 0;

	if (!t || t->clock != VMT_CLOCK_WALL)
		return -EINVAL;
	loop = t->loop;
	vmti_loop_lock(loop);
	if (on && !t->watch_wall) {
		/* The dispatch's copy grows here too: a step never allocates. */
		r = VMTI_ARRAY_GROW(loop->stepw, loop->stepw_cap, loop->nstepw + 1);
		if (r == 0)
			r = VMTI_ARRAY_GROW(loop->steprun, loop->steprun_cap, loop->nstepw + 1);
		if (r == 0) {
			loop->stepw[loop->nstepw++] = t;
			t->watch_wall = true;
		}
	} else if (!on && t->watch_wall) {
		unwatch_locked(t);
	}
	vmti_loop_unlock(loop);
	return r;
}

int vmt_timer_pending(const vmt_timer *t)
{
	int r;

	if (!t)
		return -EINVAL;
	vmti_loop_lock(t->loop);
	r = t->state != VMTI_TIMER_IDLE;
	vmti_loop_unlock(t->loop);
	return r;
}

vmt_ns vmt_timer_deadline(const vmt_timer *t)
{
	vmt_ns d;

	if (!t)
		return VMT_NS_NEVER;
	vmti_loop_lock(t->loop);
	d = t->state != VMTI_TIMER_IDLE ? t->node.deadline : VMT_NS_NEVER;
	vmti_loop_unlock(t->loop);
	return d;
}

vmt_ns vmt_timer_period(const vmt_timer *t)
{
	vmt_ns p;

	if (!t)
		return 0;
	vmti_loop_lock(t->loop);
	p = t->state != VMTI_TIMER_IDLE ? t->period : 0;
	vmti_loop_unlock(t->loop);
	return p;
}

int vmt_timer_policy(const vmt_timer *t)
{
	int p;

	if (!t)
		return -EINVAL;
	vmti_loop_lock(t->loop);
	/* disarm_locked() leaves the last policy behind; only a live period counts. */
	p = t->state != VMTI_TIMER_IDLE && t->period ? t->policy : VMT_MISSED_COALESCE;
	vmti_loop_unlock(t->loop);
	return p;
}

enum vmt_clock vmt_timer_clock(const vmt_timer *t)
{
	return t ? (enum vmt_clock)t->clock : VMT_CLOCK_COUNT;
}

int vmt_timer_set_name(vmt_timer *t, const char *name)
{
	char *copy = NULL;

	if (!t)
		return -EINVAL;
	if (name) {
		if (strlen(name) > VMT_TIMER_NAME_MAX)
			return -ENAMETOOLONG;
		copy = strdup(name);
		if (!copy)
			return -ENOMEM;
	}
	vmti_loop_lock(t->loop);
	char *old = t->name;

	t->name = copy;
	vmti_loop_unlock(t->loop);
	free(old);
	return 0;
}

const char *vmt_timer_get_name(const vmt_timer *t)
{
	if (!t)
		return NULL;
	return t->name ? t->name : "";
}

vmt_loop *vmt_timer_loop(const vmt_timer *t)
{
	return t ? t->loop : NULL;
}
