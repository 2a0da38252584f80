/* SPDX-License-Identifier: MIT */
/*
 * loop.c - the dispatcher: one epoll fd, four wheels, one pass per dispatch.
 *
 * The epoll fd holds an eventfd (woken by the keeper on every clock state
 * change, by vmt_loop_quit() and by threads arming a timer earlier than the
 * loop planned to wake) and three kernel timerfds: CLOCK_MONOTONIC for HOST
 * and running VM timers, CLOCK_BOOTTIME for BOOT timers, and CLOCK_REALTIME
 * with TFD_TIMER_CANCEL_ON_SET for WALL timers, which also tells us when the
 * wall clock is stepped.
 *
 * A dispatch has four phases (docs/design.md has the long version):
 *  1. drain the fds that are readable and note a wall-clock step;
 *  2. sample every clock once; read the VM clock's state; if it was reset,
 *     re-place the VM timers relative to the new time (it may have moved
 *     back); after a wall step, the same for WALL timers;
 *  3. under the lock, move each wheel to "now" and collect every due timer;
 *     then run callbacks in deadline order (arming order among equals),
 *     re-checking each timer under the lock first, since a callback or
 *     another thread may have cancelled, re-armed or freed it;
 *  4. under the lock, compute each clock's earliest deadline and store it as
 *     the threshold below which an arm must wake us; then program the kernel
 *     timers.  An arm racing with this either lands before the lock (seen)
 *     or after it (compares against the new threshold): no lost wake-up.
 * A timer re-armed to an already passed time inside a callback was not in
 * the collected set, so it runs in the next dispatch: no livelock.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "array.h"
#include "efd.h"
#include "json.h"
#include "loop-internal.h"
#include "testing.h"

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() ((void)0)
#endif

__attribute__((tls_model("initial-exec"))) _Thread_local vmt_loop *vmti_dispatching;

void (*vmti_loop_drain_hook)(vmt_loop *loop);

enum { EV_EFD, EV_MONO, EV_BOOT, EV_WALL };

void vmti_loop_lock_slow(vmt_loop *loop)
{
	for (;;) {
		for (unsigned spins = 0; atomic_load_explicit(&loop->lock, memory_order_relaxed);) {
			if (++spins < 200) {
				cpu_relax();
			} else {
				/* The holder was preempted: let it run. */
				sched_yield();
				spins = 0;
			}
		}
		if (!atomic_exchange_explicit(&loop->lock, 1, memory_order_acquire))
			return;
	}
}

void vmti_loop_wake(vmt_loop *loop)
{
	/*
	 * One write until the loop drains it: a burst of earlier re-arms from a
	 * vCPU thread costs one system call, not one each.  The loop clears the
	 * flag after draining the eventfd and before it computes its next
	 * deadlines, so an arm after that writes again.
	 */
	if (atomic_exchange(&loop->wake_pending, true))
		return;
	vmti_efd_wake(loop->efd);
}

static int tfd_set(int fd, vmt_ns abs, int flags)
{
	struct itimerspec its = { 0 };

	if (abs != VMT_NS_NEVER) {
		/* 0 would disarm; 1 ns in the past fires at once. */
		its.it_value = vmt_ns_to_timespec(abs ? abs : 1);
	}
	return timerfd_settime(fd, TFD_TIMER_ABSTIME | flags, &its, NULL) < 0 ? -errno : 0;
}

/* Arms the REALTIME timerfd so a wall-clock step cancels it and wakes us. */
static void arm_wall(vmt_loop *loop, vmt_ns deadline)
{
	if (loop->hooked)
		return;
	if (loop->wall_armed && loop->prog_wall == deadline)
		return;
	/* Even with no WALL timer it stays armed (far future) to see steps. */
	if (tfd_set(loop->tfd_wall, deadline == VMT_NS_NEVER ? VMT_NS_NEVER - 1 : deadline,
		    TFD_TIMER_CANCEL_ON_SET) == 0) {
		loop->prog_wall = deadline;
		loop->wall_armed = true;
	}
}

int vmt_loop_new(vmt_source *src, vmt_loop **ret)
{
	struct vmti_clock_state st;
	struct epoll_event ev = { .events = EPOLLIN };
	vmt_loop *loop;
	int r;

	if (!src || !ret)
		return -EINVAL;
	loop = calloc(1, sizeof(*loop));
	if (!loop)
		return -ENOMEM;
	loop->epfd = loop->efd = loop->tfd_mono = loop->tfd_boot = loop->tfd_wall = -1;
	loop->src = src;
	loop->hooked = src->hook.fn != NULL;
	pthread_mutex_init(&loop->sync_mu, NULL);
	pthread_cond_init(&loop->sync_cv, NULL);

	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	loop->efd = vmti_efd_new();
	loop->tfd_mono = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	loop->tfd_boot = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	loop->tfd_wall = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	if (loop->efd < 0) {
		r = loop->efd;
		goto fail;
	}
	if (loop->epfd < 0 || loop->tfd_mono < 0 || loop->tfd_boot < 0 ||
	    loop->tfd_wall < 0) {
		r = -errno;
		goto fail;
	}
	int fds[] = { loop->efd, loop->tfd_mono, loop->tfd_boot, loop->tfd_wall };

	for (unsigned i = 0; i < 4; i++) {
		ev.data.u32 = i;
		if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fds[i], &ev) < 0) {
			r = -errno;
			goto fail;
		}
	}
	vmti_source_state(src, &st);
	/* A property of the clock, whichever process keeps it: the page says. */
	loop->manual = (st.flags & VMTI_PAGE_MANUAL) != 0;
	loop->seen_reset_count = st.reset_count;
	loop->seen_wall_steps = st.wall_steps;
	vmti_wheel_init(&loop->wheel[VMT_CLOCK_VM], st.vm_now);
	vmti_wheel_init(&loop->wheel[VMT_CLOCK_HOST], st.host_now);
	vmti_wheel_init(&loop->wheel[VMT_CLOCK_WALL], vmti_host_now(src, VMT_CLOCK_WALL));
	vmti_wheel_init(&loop->wheel[VMT_CLOCK_BOOT], vmti_host_now(src, VMT_CLOCK_BOOT));
	for (unsigned c = 0; c < VMT_CLOCK_COUNT; c++)
		loop->wake_below[c] = VMT_NS_NEVER;
	loop->prog_mono = loop->prog_boot = VMT_NS_NEVER;
	arm_wall(loop, VMT_NS_NEVER);
	r = vmti_source_subscribe(src, loop->efd);
	if (r < 0)
		goto fail;
	*ret = loop;
	return 0;

fail:
	vmt_loop_free(loop);
	return r;
}

vmt_loop *vmt_loop_free(vmt_loop *loop)
{
	struct vmt_timer *t, *nx;

	if (!loop)
		return NULL;
	if (loop->efd >= 0 && loop->src)
		vmti_source_unsubscribe(loop->src, loop->efd);
	for (t = loop->all; t; t = nx) {
		nx = t->all_next;
		vmti_timer_destroy(t);
	}
	int fds[] = { loop->epfd, loop->efd, loop->tfd_mono, loop->tfd_boot, loop->tfd_wall };

	for (unsigned i = 0; i < 5; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	pthread_mutex_destroy(&loop->sync_mu);
	pthread_cond_destroy(&loop->sync_cv);
	free(loop->due);
	free(loop->due_tmp);
	free(loop->stepw);
	free(loop->steprun);
	free(loop);
	return NULL;
}

int vmt_loop_get_fd(const vmt_loop *loop)
{
	return loop ? loop->epfd : -EINVAL;
}

vmt_source *vmt_loop_source(const vmt_loop *loop)
{
	return loop ? loop->src : NULL;
}


/* Phase 1: returns true if the kernel saw the wall clock being set. */
static bool drain_fds(vmt_loop *loop)
{
	struct epoll_event ev[4];
	bool wall_step = false;
	int n = epoll_wait(loop->epfd, ev, 4, 0);

	for (int i = 0; i < n; i++) {
		switch (ev[i].data.u32) {
		case EV_EFD:
			/* Cold: only a dispatch that was woken gets here. */
			if (vmti_loop_drain_hook)
				vmti_loop_drain_hook(loop);
			vmti_efd_drain(loop->efd);
			break;
		case EV_MONO:
			vmti_efd_drain(loop->tfd_mono);
			loop->prog_mono = VMT_NS_NEVER;
			break;
		case EV_BOOT:
			vmti_efd_drain(loop->tfd_boot);
			loop->prog_boot = VMT_NS_NEVER;
			break;
		case EV_WALL:
			if (vmti_efd_drain(loop->tfd_wall) == -ECANCELED)
				wall_step = true;
			loop->wall_armed = false;
			break;
		}
	}
	return wall_step;
}

struct collect_ctx {
	vmt_loop *loop;
	int err;
};

static void collect_one(struct vmti_wnode *n, void *arg)
{
	struct collect_ctx *c = arg;
	vmt_loop *loop = c->loop;
	struct vmt_timer *t = (struct vmt_timer *)n;

	if (VMTI_ARRAY_GROW(loop->due, loop->due_cap, loop->ndue + 1) < 0 ||
	    VMTI_ARRAY_GROW(loop->due_tmp, loop->due_tmp_cap, loop->ndue + 1) < 0) {
		/* Leave it queued and due: the next dispatch takes it. */
		vmti_wheel_insert(&loop->wheel[t->clock], &t->node);
		c->err = -ENOMEM;
		return;
	}
	t->state = VMTI_TIMER_COLLECTED;
	t->listed = true;
	loop->due[loop->ndue++] = (struct vmti_due){ n->deadline, n->seq, t };
}

static inline bool due_before(const struct vmti_due *a, const struct vmti_due *b)
{
	return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

/* Merges the sorted runs a[0..na) and b[0..nb) into out. */
static void merge_due(const struct vmti_due *a, size_t na, const struct vmti_due *b, size_t nb,
		      struct vmti_due *out)
{
	size_t i = 0, j = 0, k = 0;

	while (i < na && j < nb)
		out[k++] = due_before(&b[j], &a[i]) ? b[j++] : a[i++];
	while (i < na)
		out[k++] = a[i++];
	while (j < nb)
		out[k++] = b[j++];
}

/*
 * Sorts a run-list segment by (deadline, arming order).  Collection often
 * yields it in order already; otherwise insertion sort on short runs, then
 * bottom-up merges through @tmp: the keys sit in the run list, so sorting
 * touches no timer, and the comparisons are inline (qsort's indirect calls
 * cost several times more per element).
 */
static void sort_due(struct vmti_due *d, size_t n, struct vmti_due *tmp)
{
	enum { RUN = 16 };
	struct vmti_due *src = d, *dst = tmp;
	size_t i;

	for (i = 1; i < n && !due_before(&d[i], &d[i - 1]); i++)
		;
	if (i >= n)
		return;
	for (size_t lo = 0; lo < n; lo += RUN) {
		size_t hi = lo + RUN < n ? lo + RUN : n;

		for (size_t a = lo + 1; a < hi; a++) {
			struct vmti_due x = d[a];
			size_t b = a;

			for (; b > lo && due_before(&x, &d[b - 1]); b--)
				d[b] = d[b - 1];
			d[b] = x;
		}
	}
	for (size_t w = RUN; w < n; w *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * w) {
			size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;

			merge_due(src + lo, mid - lo, src + mid, hi - mid, dst + lo);
		}
		struct vmti_due *t = src;

		src = dst;
		dst = t;
	}
	if (src != d)
		memcpy(d, src, n * sizeof(*d));
}

/* Queues @t at @d without counting as an API arm (periodic re-queue). */
static void requeue_locked(vmt_loop *loop, struct vmt_timer *t, vmt_ns d)
{
	t->node.deadline = d;
	t->node.seq = loop->seq++;
	vmti_wheel_insert(&loop->wheel[t->clock], &t->node);
	t->state = VMTI_TIMER_QUEUED;
}

/* Lets vmt_timer_free()/cancel_sync() on other threads look again. */
static void wake_sync_waiters(vmt_loop *loop)
{
	if (atomic_load(&loop->sync_waiters)) {
		pthread_mutex_lock(&loop->sync_mu);
		pthread_cond_broadcast(&loop->sync_cv);
		pthread_mutex_unlock(&loop->sync_mu);
	}
}

/*
 * Runs the callback(s) of one collected timer.  Returns how many ran.
 * Called without the lock; takes it around every look at the timer.
 */
static int run_one(vmt_loop *loop, struct vmt_timer *t, const vmt_ns *now)
{
	int ran = 0;
	bool destroy = false;

	vmti_loop_lock(loop);
	/* From here vmt_timer_free() on another thread no longer defers to us. */
	t->listed = false;
	if (t->state != VMTI_TIMER_COLLECTED) {
		/* Cancelled or re-armed since collection; maybe freed. */
		if (t->free_pending && !t->running) {
			vmti_timer_unlink_locked(t);
			destroy = true;
		}
		vmti_loop_unlock(loop);
		if (destroy)
			vmti_timer_destroy(t);
		return 0;
	}
	for (;;) {
		uint64_t exp = 1;
		vmt_ns d = t->node.deadline, c_now = now[t->clock];

		if (t->period) {
			vmt_ns next;

			switch (t->policy) {
			case VMT_MISSED_CATCHUP:
				next = vmt_ns_add(d, t->period);
				break;
			case VMT_MISSED_DELAY:
				next = vmt_ns_add(c_now, t->period);
				break;
			default: {
				uint64_t missed = c_now > d ? (c_now - d) / t->period : 0;

				exp = missed + 1;
				next = vmt_ns_add(d, vmt_ns_mul(t->period, exp));
				break;
			}
			}
			if (next == VMT_NS_NEVER) {
				t->state = VMTI_TIMER_IDLE;
				t->period = 0;
			} else {
				requeue_locked(loop, t, next);
			}
		} else {
			t->state = VMTI_TIMER_IDLE;
		}
		uint32_t gen = t->arm_gen;

		t->running = true;
		vmti_loop_unlock(loop);

		t->fn(t, exp, t->userdata);
		ran++;

		vmti_loop_lock(loop);
		t->running = false;
		if (t->free_pending) {
			vmti_timer_unlink_locked(t);
			destroy = true;
			break;
		}
		/* Catch-up: deliver the next missed tick now, up to a batch. */
		if (t->policy != VMT_MISSED_CATCHUP || !t->period || t->arm_gen != gen ||
		    t->state != VMTI_TIMER_QUEUED || t->node.deadline > c_now ||
		    ran >= VMT_CATCHUP_BATCH)
			break;
		vmti_wheel_remove(&loop->wheel[t->clock], &t->node);
		t->state = VMTI_TIMER_COLLECTED;
	}
	vmti_loop_unlock(loop);
	wake_sync_waiters(loop);
	if (destroy)
		vmti_timer_destroy(t);
	return ran;
}

/*
 * Tells the @i-th timer of this dispatch's step list that the wall clock was
 * stepped (expirations 0).  The same lifetime rules as run_one(): the list
 * marked it listed, so a free from another thread is left to us.
 */
static int run_step(vmt_loop *loop, size_t i)
{
	struct vmt_timer *t;
	bool call;

	vmti_loop_lock(loop);
	t = loop->steprun[i];
	t->listed = false;
	call = !t->free_pending;
	if (call) {
		t->running = true;
		vmti_loop_unlock(loop);
		t->fn(t, 0, t->userdata);
		vmti_loop_lock(loop);
		t->running = false;
	}
	if (t->free_pending) {
		vmti_timer_unlink_locked(t);
		vmti_loop_unlock(loop);
		wake_sync_waiters(loop);
		vmti_timer_destroy(t);
		return call;
	}
	vmti_loop_unlock(loop);
	wake_sync_waiters(loop);
	return call;
}

/* Maps the earliest VM deadline to host monotonic time; NEVER if none. */
static vmt_ns vm_to_host(const vmt_loop *loop, const struct vmti_clock_state *st, vmt_ns vm_next)
{
	if (vm_next == VMT_NS_NEVER || !(st->flags & VMTI_PAGE_RUNNING))
		return VMT_NS_NEVER;
	if (vm_next <= st->vm_now)
		return 0; /* due now */
	if (loop->manual)
		return VMT_NS_NEVER; /* VM time moves only when told to */
	return vmt_ns_add(st->host_now, vm_next - st->vm_now);
}

/* Phase 4: thresholds for cross-thread arms, then the kernel timers. */
static void program(vmt_loop *loop, const struct vmti_clock_state *st, const vmt_ns *now)
{
	vmt_ns next[VMT_CLOCK_COUNT], mono, boot, wall;
	bool running = st->flags & VMTI_PAGE_RUNNING;

	vmti_loop_lock(loop);
	for (unsigned c = 0; c < VMT_CLOCK_COUNT; c++)
		next[c] = vmti_wheel_next(&loop->wheel[c]);
	loop->wake_below[VMT_CLOCK_HOST] = next[VMT_CLOCK_HOST];
	loop->wake_below[VMT_CLOCK_BOOT] = next[VMT_CLOCK_BOOT];
	loop->wake_below[VMT_CLOCK_WALL] = next[VMT_CLOCK_WALL];
	if (!running)
		loop->wake_below[VMT_CLOCK_VM] = 0; /* nothing fires while stopped */
	else if (loop->manual)
		loop->wake_below[VMT_CLOCK_VM] = vmt_ns_add(st->vm_now, 1); /* only due ones */
	else
		loop->wake_below[VMT_CLOCK_VM] = next[VMT_CLOCK_VM];
	vmti_loop_unlock(loop);

	mono = vm_to_host(loop, st, next[VMT_CLOCK_VM]);
	if (next[VMT_CLOCK_HOST] < mono)
		mono = next[VMT_CLOCK_HOST] <= now[VMT_CLOCK_HOST] ? 0 : next[VMT_CLOCK_HOST];
	boot = next[VMT_CLOCK_BOOT];
	if (boot != VMT_NS_NEVER && boot <= now[VMT_CLOCK_BOOT])
		boot = 0;
	wall = next[VMT_CLOCK_WALL];
	if (wall != VMT_NS_NEVER && wall <= now[VMT_CLOCK_WALL])
		wall = 0;
	if (loop->hooked) {
		/* Fake clocks: only "due now" can be expressed to the kernel. */
		if (boot == 0 || wall == 0)
			mono = 0;
		else if (mono != 0)
			mono = VMT_NS_NEVER;
		boot = VMT_NS_NEVER;
	} else if (wall == 0) {
		mono = 0;
	}
	if (mono != loop->prog_mono && tfd_set(loop->tfd_mono, mono, 0) == 0)
		loop->prog_mono = mono;
	if (boot != loop->prog_boot && tfd_set(loop->tfd_boot, boot, 0) == 0)
		loop->prog_boot = boot;
	arm_wall(loop, wall == 0 ? VMT_NS_NEVER : wall);
}

static int dispatch(vmt_loop *loop)
{
	struct vmti_clock_state st;
	vmt_ns now[VMT_CLOCK_COUNT];
	size_t seg[VMT_CLOCK_COUNT + 1];
	struct collect_ctx cc = { loop, 0 };
	bool wall_step;
	size_t nstep = 0;
	int ran = 0;

	wall_step = drain_fds(loop);
	/*
	 * After draining, before phase 4: an arm that found the flag set and
	 * did not write is seen by phase 4; an arm after this writes again.
	 */
	atomic_store(&loop->wake_pending, false);
	vmti_source_state(loop->src, &st);
	if (st.wall_steps != loop->seen_wall_steps) {
		loop->seen_wall_steps = st.wall_steps;
		wall_step = true;
	}
	now[VMT_CLOCK_VM] = st.vm_now;
	now[VMT_CLOCK_HOST] = st.host_now;
	now[VMT_CLOCK_WALL] = vmti_host_now(loop->src, VMT_CLOCK_WALL);
	now[VMT_CLOCK_BOOT] = vmti_host_now(loop->src, VMT_CLOCK_BOOT);

	vmti_loop_lock(loop);
	if (st.reset_count != loop->seen_reset_count) {
		/* VM time was set explicitly, maybe backwards: re-place VM timers. */
		loop->seen_reset_count = st.reset_count;
		vmti_wheel_rebase(&loop->wheel[VMT_CLOCK_VM], st.vm_now);
	}
	if (wall_step) {
		vmti_wheel_rebase(&loop->wheel[VMT_CLOCK_WALL], now[VMT_CLOCK_WALL]);
		/* Watchers hear of the step before any expiry of this dispatch. */
		nstep = loop->nstepw;
		for (size_t i = 0; i < nstep; i++) {
			loop->steprun[i] = loop->stepw[i];
			loop->steprun[i]->listed = true;
		}
		if (nstep) {
			vmti_loop_unlock(loop);
			for (size_t i = 0; i < nstep; i++)
				ran += run_step(loop, i);
			vmti_loop_lock(loop);
		}
	}
	loop->ndue = 0;
	for (unsigned c = 0; c < VMT_CLOCK_COUNT; c++) {
		seg[c] = loop->ndue;
		if (c == VMT_CLOCK_VM && !(st.flags & VMTI_PAGE_RUNNING))
			continue; /* VM timers never fire while the VM is stopped */
		if (!loop->wheel[c].count)
			continue;
		vmti_wheel_advance_collect(&loop->wheel[c], now[c], collect_one, &cc);
		vmti_wheel_collect(&loop->wheel[c], now[c], collect_one, &cc);
	}
	seg[VMT_CLOCK_COUNT] = loop->ndue;
	vmti_loop_unlock(loop);

	for (unsigned c = 0; c < VMT_CLOCK_COUNT; c++)
		sort_due(loop->due + seg[c], seg[c + 1] - seg[c], loop->due_tmp + seg[c]);
	for (size_t i = 0; i < loop->ndue; i++)
		ran += run_one(loop, loop->due[i].t, now);
	loop->ndue = 0;

	program(loop, &st, now);
	return cc.err && !ran ? cc.err : ran;
}

int vmt_loop_dispatch(vmt_loop *loop)
{
	bool idle = false;
	vmt_loop *outer;
	int r;

	if (!loop)
		return -EINVAL;
	if (vmti_dispatching == loop ||
	    !atomic_compare_exchange_strong(&loop->dispatching, &idle, true))
		return -EBUSY;
	outer = vmti_dispatching;
	vmti_dispatching = loop;
	r = dispatch(loop);
	vmti_dispatching = outer;
	atomic_store(&loop->dispatching, false);
	return r;
}

int vmt_loop_run(vmt_loop *loop)
{
	if (!loop)
		return -EINVAL;
	if (vmti_dispatching == loop)
		return -EBUSY;
	while (!atomic_load(&loop->quit)) {
		struct epoll_event ev;
		int r = vmt_loop_dispatch(loop);

		if (r < 0 && r != -ENOMEM)
			return r;
		if (atomic_load(&loop->quit))
			break;
		if (epoll_wait(loop->epfd, &ev, 1, -1) < 0 && errno != EINTR)
			return -errno;
	}
	atomic_store(&loop->quit, false);
	return 0;
}

int vmt_loop_quit(vmt_loop *loop)
{
	if (!loop)
		return -EINVAL;
	atomic_store(&loop->quit, true);
	vmti_loop_wake(loop);
	return 0;
}

int64_t vmt_loop_timeout_ns(vmt_loop *loop)
{
	struct vmti_clock_state st;
	vmt_ns next[VMT_CLOCK_COUNT], best = VMT_NS_NEVER;

	if (!loop)
		return -EINVAL;
	vmti_source_state(loop->src, &st);
	vmti_loop_lock(loop);
	for (unsigned c = 0; c < VMT_CLOCK_COUNT; c++)
		next[c] = vmti_wheel_next(&loop->wheel[c]);
	vmti_loop_unlock(loop);

	vmt_ns vm = vm_to_host(loop, &st, next[VMT_CLOCK_VM]);

	if (vm == 0)
		return 0;
	if (vm != VMT_NS_NEVER)
		best = vm - st.host_now;
	if (next[VMT_CLOCK_HOST] != VMT_NS_NEVER)
		best = vmt_ns_sub(next[VMT_CLOCK_HOST], st.host_now) < best
			       ? vmt_ns_sub(next[VMT_CLOCK_HOST], st.host_now)
			       : best;
	for (unsigned c = VMT_CLOCK_WALL; c <= VMT_CLOCK_BOOT; c++) {
		if (next[c] == VMT_NS_NEVER)
			continue;
		vmt_ns rel = vmt_ns_sub(next[c], vmti_host_now(loop->src, (enum vmt_clock)c));

		if (rel < best)
			best = rel;
	}
	if (best == VMT_NS_NEVER)
		return -1;
	return best > (vmt_ns)INT64_MAX ? INT64_MAX : (int64_t)best;
}

int vmt_loop_run_until(vmt_loop *loop, vmt_ns vm_deadline)
{
	int total = 0, r;

	if (!loop || vm_deadline == VMT_NS_NEVER)
		return -EINVAL;
	/* Only the keeper's own source can step the clock (its ops can). */
	if (!loop->manual || !loop->src->ops || !loop->src->ops->advance)
		return -EOPNOTSUPP;
	if (vmti_dispatching == loop)
		return -EBUSY;
	if (vmt_source_running(loop->src) != 1)
		return -EPERM;
	for (;;) {
		vmt_ns now, next;

		r = vmt_loop_dispatch(loop);
		if (r < 0)
			return r;
		total += r;
		now = vmt_now(loop->src, VMT_CLOCK_VM);
		vmti_loop_lock(loop);
		next = vmti_wheel_next(&loop->wheel[VMT_CLOCK_VM]);
		vmti_loop_unlock(loop);
		if (next <= now)
			continue; /* re-armed to now by a callback: next pass */
		if (now >= vm_deadline)
			break;
		r = vmti_source_advance(loop->src, (next < vm_deadline ? next : vm_deadline) - now);
		if (r == -EPERM)
			break; /* a callback stopped the VM: time stops here */
		if (r < 0)
			return r;
	}
	return total;
}

/* One timer as inspect prints it, copied under the lock. */
struct inspect_rec {
	vmt_ns deadline, period;
	uint8_t clock, policy;
	bool pending;
	char name[VMT_TIMER_NAME_MAX + 1];
};

/*
 * Copies up to @max timers after @mark into @rec and moves @mark past them.
 * @mark is a timer with no callback, linked into the loop's list, so the walk
 * survives timers being freed while the lock is dropped; other walkers skip
 * such markers.
 */
static size_t inspect_copy(vmt_loop *loop, struct vmt_timer *mark, struct inspect_rec *rec,
			   size_t max)
{
	struct vmt_timer *t, **pos;
	size_t n = 0;

	vmti_loop_lock(loop);
	for (t = mark->all_next; t && n < max; t = t->all_next) {
		if (!t->fn)
			continue; /* another inspect's marker */
		struct inspect_rec *r = &rec[n++];

		r->pending = t->state != VMTI_TIMER_IDLE;
		r->deadline = t->node.deadline;
		r->period = t->period;
		r->clock = t->clock;
		r->policy = t->policy;
		snprintf(r->name, sizeof(r->name), "%s", t->name ? t->name : "");
	}
	/* Re-link the marker just before @t (at the end when @t is NULL). */
	*mark->all_pprev = mark->all_next;
	if (mark->all_next)
		mark->all_next->all_pprev = mark->all_pprev;
	if (t) {
		pos = t->all_pprev;
	} else {
		for (pos = mark->all_pprev; *pos; pos = &(*pos)->all_next)
			;
	}
	mark->all_next = *pos;
	if (*pos)
		(*pos)->all_pprev = &mark->all_next;
	*pos = mark;
	mark->all_pprev = pos;
	vmti_loop_unlock(loop);
	return n;
}

/*
 * No stdio under the lock: a stream that blocks (a pipe nobody reads) would
 * stall every thread arming a timer.  The timers are copied a few at a time
 * under the lock, printed without it; the lock is never held for more than
 * one chunk, however many timers the loop has.
 */
int vmt_loop_inspect(vmt_loop *loop, FILE *out)
{
	static const char *const pol[] = { "coalesce", "catchup", "delay" };
	struct inspect_rec rec[16];
	struct vmt_timer mark = { 0 };
	bool first = true;
	size_t n;
	int r;

	if (!loop || !out)
		return -EINVAL;
	fprintf(out, "{\"now\":{");
	for (unsigned c = 0; c < VMT_CLOCK_COUNT; c++)
		fprintf(out, "%s\"%s\":%" PRIu64, c ? "," : "", vmt_clock_name((enum vmt_clock)c),
			vmt_now(loop->src, (enum vmt_clock)c));
	fprintf(out, "},\"timers\":[");
	vmti_loop_lock(loop);
	mark.all_next = loop->all;
	if (loop->all)
		loop->all->all_pprev = &mark.all_next;
	loop->all = &mark;
	mark.all_pprev = &loop->all;
	vmti_loop_unlock(loop);
	do {
		n = inspect_copy(loop, &mark, rec, sizeof(rec) / sizeof(rec[0]));
		for (size_t i = 0; i < n; i++, first = false) {
			fprintf(out, "%s{\"name\":", first ? "" : ",");
			vmti_json_cstr(out, rec[i].name);
			fprintf(out, ",\"clock\":\"%s\",\"pending\":%s,\"deadline_ns\":",
				vmt_clock_name((enum vmt_clock)rec[i].clock),
				rec[i].pending ? "true" : "false");
			if (rec[i].pending)
				fprintf(out, "%" PRIu64, rec[i].deadline);
			else
				fprintf(out, "null");
			fprintf(out, ",\"period_ns\":%" PRIu64 ",\"policy\":\"%s\"}", rec[i].period,
				pol[rec[i].policy < 3 ? rec[i].policy : 0]);
		}
	} while (n);
	vmti_loop_lock(loop);
	*mark.all_pprev = mark.all_next;
	if (mark.all_next)
		mark.all_next->all_pprev = mark.all_pprev;
	vmti_loop_unlock(loop);
	r = fprintf(out, "]}\n");
	if (r < 0 || fflush(out) != 0 || ferror(out))
		return -EIO;
	return 0;
}
