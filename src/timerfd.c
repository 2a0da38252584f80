// SPDX-License-Identifier: MIT
/*
 * timerfd.c - Linux-compatible timer fds on any vmtime clock.
 *
 * The fd is an eventfd: its counter is the kernel timerfd's "ticks", so
 * read(2), poll(2), epoll(7) and fd passing behave like the kernel's without
 * any help from us.  A vmtime timer on the chosen clock feeds the counter from
 * the loop's dispatching thread.
 *
 * The kernel counts periodic expirations when they are read, from the timer's
 * grid (hrtimer_forward_now()), not when its interrupt runs.  We keep our own
 * copy of the grid (@next, @interval) and count from it in the timer callback
 * and again in read/gettime/settime, so those calls see every expiry due by
 * "now" even when the loop is late, and an expiry is never counted twice:
 *
 *   grid:      T0        T0+I      T0+2I     T0+3I
 *   loop:      |--fires (counts T0..T0+I, next = T0+2I)--|
 *   read:                                   |-- counts T0+2I, T0+3I if due
 *   callback:  finds next > now, counts nothing (already read)
 *
 * Times follow the kernel's ktime range: a value or interval beyond KT_MAX ns
 * (about 292 years) saturates to it, and so does an addition.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <vmtime/source.h>
#include <vmtime/timer.h>
#include <vmtime/timerfd.h>

#include "internal.h"
#include "saved-fields.h"

_Static_assert(VMT_TFD_NONBLOCK == TFD_NONBLOCK, "TFD_NONBLOCK value");
_Static_assert(VMT_TFD_CLOEXEC == TFD_CLOEXEC, "TFD_CLOEXEC value");
_Static_assert(VMT_TFD_NONBLOCK == EFD_NONBLOCK, "the fd flags pass to eventfd()");
_Static_assert(VMT_TFD_CLOEXEC == EFD_CLOEXEC, "the fd flags pass to eventfd()");
_Static_assert(VMT_TFD_TIMER_ABSTIME == TFD_TIMER_ABSTIME, "TFD_TIMER_ABSTIME value");
_Static_assert(VMT_TFD_TIMER_CANCEL_ON_SET == TFD_TIMER_CANCEL_ON_SET,
	       "TFD_TIMER_CANCEL_ON_SET value");

#define TFD_NEW_FLAGS (VMT_TFD_NONBLOCK | VMT_TFD_CLOEXEC)
#define TFD_SET_FLAGS (VMT_TFD_TIMER_ABSTIME | VMT_TFD_TIMER_CANCEL_ON_SET)

/* The kernel's KTIME_MAX and KTIME_SEC_MAX. */
#define KT_MAX ((vmt_ns)INT64_MAX)
#define KT_SEC_MAX ((time_t)(INT64_MAX / (int64_t)VMT_NS_PER_SEC))

/* The largest count an eventfd holds. */
#define EFD_COUNT_MAX (UINT64_MAX - 1)

struct vmt_timerfd {
	pthread_mutex_t lock;	/* everything below, and every write to @fd */
	vmt_loop *loop;
	vmt_source *src;
	/*
	 * [0] on @clock; for WALL, [1] on HOST: like the kernel's hrtimer_init(),
	 * a relative WALL setting runs on the monotonic clock, so a wall step
	 * does not move it.
	 */
	vmt_timer *timer[2];
	enum vmt_clock clock;
	int flags;		/* creation flags */
	int fd;			/* the eventfd */
	int settime_flags;
	bool armed;		/* an expiry at @next is not counted yet */
	bool expired;		/* counted since the last read/gettime/settime */
	bool cancelled;		/* a wall step no read or settime reported yet */
	bool nowait_ok;		/* preadv2(RWF_NOWAIT) works on the eventfd */
	vmt_ns next;
	vmt_ns interval;	/* kept when disarmed: gettime reports it */
};

/* Saturating addition within the kernel's range (VM times may lie beyond it). */
static vmt_ns kt_add(vmt_ns a, vmt_ns b)
{
	vmt_ns cap = a > KT_MAX ? VMT_NS_NEVER - 1 : KT_MAX;

	return b > cap - a || a > cap ? cap : a + b;
}

static int ts_valid(const struct timespec *ts)
{
	return ts->tv_sec >= 0 && ts->tv_nsec >= 0 && ts->tv_nsec < (long)VMT_NS_PER_SEC;
}

static vmt_ns kt_from_ts(const struct timespec *ts)
{
	if (ts->tv_sec >= KT_SEC_MAX)
		return KT_MAX;
	return (vmt_ns)ts->tv_sec * VMT_NS_PER_SEC + (vmt_ns)ts->tv_nsec;
}

/*
 * Both derived from the clock and the settime flags, never stored: a
 * relative WALL setting runs on HOST (rel_host(), the index of the loop
 * timer in use), and only an absolute WALL one with CANCEL_ON_SET is
 * cancelled by a wall-clock step.
 */
static bool rel_host(const struct vmt_timerfd *t)
{
	return t->clock == VMT_CLOCK_WALL && !(t->settime_flags & VMT_TFD_TIMER_ABSTIME);
}

static bool might_cancel(const struct vmt_timerfd *t)
{
	return t->clock == VMT_CLOCK_WALL && (t->settime_flags & VMT_TFD_TIMER_ABSTIME) &&
	       (t->settime_flags & VMT_TFD_TIMER_CANCEL_ON_SET);
}

/*
 * Takes the eventfd's count without waiting, even when the fd is blocking:
 * settime must discard pending expirations, and a poll-then-read would block
 * forever if another reader emptied the fd in between.
 */
static int efd_take(struct vmt_timerfd *t, uint64_t *v)
{
	struct iovec io = { .iov_base = v, .iov_len = sizeof(*v) };
	struct pollfd p = { .fd = t->fd, .events = POLLIN };
	ssize_t n;

	*v = 0;
	if (t->nowait_ok) {
		n = preadv2(t->fd, &io, 1, -1, RWF_NOWAIT);
		if (n == (ssize_t)sizeof(*v))
			return 0;
		if (n < 0 && errno == EAGAIN) {
			*v = 0;
			return 0;
		}
		if (n < 0 && errno != EOPNOTSUPP && errno != EINVAL)
			return -errno;
		t->nowait_ok = false;
	}
	/*
	 * Older kernels: every writer holds t->lock, so a count seen by poll
	 * can only shrink through a raw read(2) racing with us.
	 */
	if (!(t->flags & VMT_TFD_NONBLOCK) && poll(&p, 1, 0) <= 0)
		return 0;
	n = read(t->fd, v, sizeof(*v));
	if (n == (ssize_t)sizeof(*v))
		return 0;
	*v = 0;
	return n < 0 && errno != EAGAIN ? -errno : 0;
}

/*
 * Adds @n expirations to the fd.  An eventfd write blocks when the counter
 * would pass EFD_COUNT_MAX; a huge count is merged with the current one so the
 * write never does (small ones would need 2^32 writes without a read).
 */
static void efd_add(struct vmt_timerfd *t, uint64_t n)
{
	uint64_t cur;

	if (n == 0)
		return;
	if (n > (UINT64_C(1) << 32) && efd_take(t, &cur) == 0)
		n = n > EFD_COUNT_MAX - cur ? EFD_COUNT_MAX : n + cur;
	while (write(t->fd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
}

/* Counts the expiries due by @now that nobody counted yet, moving the grid. */
static uint64_t collect(struct vmt_timerfd *t, vmt_ns now)
{
	uint64_t n;

	if (!t->armed || now < t->next)
		return 0;
	t->expired = true;
	if (t->interval == 0) {
		t->armed = false;
		return 1;
	}
	/* hrtimer_forward(): the first grid point strictly after now. */
	n = (now - t->next) / t->interval + 1;
	t->next = kt_add(t->next + (n - 1) * t->interval, t->interval);
	return n;
}

/* The relative time to the next expiry, as the kernel reports it. */
static vmt_ns remaining(const struct vmt_timerfd *t, vmt_ns now)
{
	vmt_ns next;

	if (!t->armed)
		return 0;
	if (t->next > now)
		return t->next - now;
	if (t->interval == 0)
		return 0;
	next = kt_add(t->next + (now - t->next) / t->interval * t->interval, t->interval);
	return vmt_ns_sub(next, now);
}

/* Points the loop's timer at our schedule. */
static void arm_loop_timer(struct vmt_timerfd *t)
{
	bool host = rel_host(t);
	vmt_timer *timer = t->timer[host];

	if (t->timer[!host])
		vmt_timer_cancel(t->timer[!host]);
	if (!t->armed)
		vmt_timer_cancel(timer);
	else if (t->interval)
		vmt_timer_arm_periodic(timer, t->next, t->interval, VMT_MISSED_COALESCE);
	else
		vmt_timer_arm(timer, t->next);
}

static vmt_ns now_of(const struct vmt_timerfd *t)
{
	return vmt_now(t->src, rel_host(t) ? VMT_CLOCK_HOST : t->clock);
}

/*
 * The loop's periodic timer coalesces missed ticks (VMT_MISSED_COALESCE) and
 * stays on the same grid as ours, but @expirations only covers ticks up to the
 * loop's own sample of the clock, and a read on another thread may already
 * have counted some of them: counting from our grid at our own reading of the
 * clock counts each tick exactly once.
 */
/*
 * An expiry, or (expirations 0, the WALL timer only) a wall-clock step: like
 * timerfd_clock_was_set(), every step counts one tick, so a reader wakes and
 * sees -ECANCELED; the timer itself stays armed.
 */
static void tfd_expired(vmt_timer *timer, uint64_t expirations, void *userdata)
{
	struct vmt_timerfd *t = userdata;
	uint64_t n;

	(void)timer;
	pthread_mutex_lock(&t->lock);
	if (!expirations) {
		if (might_cancel(t)) {
			t->cancelled = true;
			efd_add(t, 1);
		}
	} else if ((n = collect(t, now_of(t)))) {
		efd_add(t, n);
	} else if (t->armed) {
		/* The wall clock went back after the loop sampled it. */
		arm_loop_timer(t);
	}
	pthread_mutex_unlock(&t->lock);
}

/* Frees timers made by tfd_timers_new(); not under t->lock. */
static void tfd_timers_free(vmt_timer *timer[2])
{
	for (int i = 0; i < 2; i++)
		timer[i] = vmt_timer_free(timer[i]);
}

/* The loop timers a timer fd on @clock needs (WALL: told of wall steps). */
static int tfd_timers_new(struct vmt_timerfd *t, enum vmt_clock clock, vmt_timer *timer[2])
{
	int r;

	timer[0] = timer[1] = NULL;
	r = vmt_timer_new(t->loop, clock, tfd_expired, t, &timer[0]);
	if (r == 0 && clock == VMT_CLOCK_WALL)
		r = vmt_timer_new(t->loop, VMT_CLOCK_HOST, tfd_expired, t, &timer[1]);
	if (r < 0) {
		vmt_timer_free(timer[0]);
		return r;
	}
	for (int i = 0; i < 2; i++)
		if (timer[i])
			vmt_timer_set_name(timer[i], "timerfd");
	if (clock == VMT_CLOCK_WALL) {
		r = vmt_timer_watch_wall_steps(timer[0], 1);
		if (r < 0) {
			tfd_timers_free(timer);
			return r;
		}
	}
	return 0;
}

int vmt_timerfd_new(vmt_loop *loop, enum vmt_clock clock, int flags, vmt_timerfd **ret)
{
	struct vmt_timerfd *t;
	int r;

	if (!loop || !ret || (unsigned)clock >= VMT_CLOCK_COUNT || (flags & ~TFD_NEW_FLAGS))
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->loop = loop;
	t->src = vmt_loop_source(loop);
	t->clock = clock;
	t->flags = flags;
	t->nowait_ok = true;
	r = pthread_mutex_init(&t->lock, NULL);
	if (r) {
		free(t);
		return -r;
	}
	t->fd = eventfd(0, flags);
	if (t->fd < 0) {
		r = -errno;
		goto err_mutex;
	}
	r = tfd_timers_new(t, clock, t->timer);
	if (r < 0)
		goto err_fd;
	*ret = t;
	return 0;

err_fd:
	close(t->fd);
err_mutex:
	pthread_mutex_destroy(&t->lock);
	free(t);
	return r;
}

vmt_timerfd *vmt_timerfd_free(vmt_timerfd *t)
{
	if (!t)
		return NULL;
	/* Not under t->lock: it waits for a running callback, which takes it. */
	tfd_timers_free(t->timer);
	close(t->fd);
	pthread_mutex_destroy(&t->lock);
	free(t);
	return NULL;
}

int vmt_timerfd_fd(const vmt_timerfd *t)
{
	return t ? t->fd : -EINVAL;
}

/* The current setting as gettime reports it; delivers what is due first. */
static void tfd_get_locked(struct vmt_timerfd *t, vmt_ns now, struct itimerspec *cur)
{
	efd_add(t, collect(t, now));
	/* The kernel re-arms an expired periodic timer here: it no longer counts as expired. */
	t->expired = false;
	cur->it_value = vmt_ns_to_timespec(remaining(t, now));
	cur->it_interval = vmt_ns_to_timespec(t->interval);
}

int vmt_timerfd_settime(vmt_timerfd *t, int flags, const struct itimerspec *new_value,
			struct itimerspec *old_value)
{
	struct itimerspec old;
	vmt_ns value, now;
	uint64_t drop;
	int r = 0;

	if (!t || !new_value || (flags & ~TFD_SET_FLAGS) || !ts_valid(&new_value->it_value) ||
	    !ts_valid(&new_value->it_interval))
		return -EINVAL;
	value = kt_from_ts(&new_value->it_value);

	pthread_mutex_lock(&t->lock);
	now = now_of(t);
	tfd_get_locked(t, now, &old);

	efd_take(t, &drop);
	t->expired = false;
	t->settime_flags = flags;
	t->interval = kt_from_ts(&new_value->it_interval);
	t->armed = value != 0;
	if (t->clock == VMT_CLOCK_WALL)
		now = now_of(t); /* the new setting's clock */
	if (t->armed) {
		t->next = (flags & VMT_TFD_TIMER_ABSTIME) ? value : kt_add(now, value);
		/* A step seen but not read: report it, yet arm all the same (the kernel's accident). */
		if (might_cancel(t) && t->cancelled) {
			t->cancelled = false;
			r = -ECANCELED;
		}
	}
	arm_loop_timer(t);
	pthread_mutex_unlock(&t->lock);

	if (r == 0 && old_value)
		*old_value = old;
	return r;
}

int vmt_timerfd_gettime(vmt_timerfd *t, struct itimerspec *curr)
{
	struct itimerspec cur;

	if (!t || !curr)
		return -EINVAL;
	pthread_mutex_lock(&t->lock);
	tfd_get_locked(t, now_of(t), &cur);
	pthread_mutex_unlock(&t->lock);
	*curr = cur;
	return 0;
}

int vmt_timerfd_read(vmt_timerfd *t, uint64_t *expirations)
{
	struct pollfd p;
	uint64_t n, v;
	int r;

	if (!t || !expirations)
		return -EINVAL;
	for (;;) {
		pthread_mutex_lock(&t->lock);
		n = collect(t, now_of(t));
		r = efd_take(t, &v);
		if (r < 0) {
			efd_add(t, n);
			pthread_mutex_unlock(&t->lock);
			return r;
		}
		n = n > EFD_COUNT_MAX - v ? EFD_COUNT_MAX : n + v;
		if (n) {
			if (might_cancel(t) && t->cancelled) {
				t->cancelled = false;
				/* Like the kernel: an expired periodic timer is not re-armed. */
				if (t->expired && t->interval) {
					t->armed = false;
					vmt_timer_cancel(t->timer[rel_host(t)]);
				}
				r = -ECANCELED;
			}
			t->expired = false;
			pthread_mutex_unlock(&t->lock);
			if (r == 0)
				*expirations = n;
			return r;
		}
		pthread_mutex_unlock(&t->lock);
		if (t->flags & VMT_TFD_NONBLOCK)
			return -EAGAIN;
		/* Wait unlocked: the loop's callback needs the lock to deliver. */
		p = (struct pollfd){ .fd = t->fd, .events = POLLIN };
		if (poll(&p, 1, -1) < 0 && errno != EAGAIN)
			return -errno;
	}
}

int vmt_timerfd_save(vmt_timerfd *t, vmt_fields_writer *w)
{
	uint64_t pending, v;
	vmt_ns now, deadline, rem;
	bool armed, cancelled, expired;
	int settime_flags;

	if (!t || !w)
		return -EINVAL;
	pthread_mutex_lock(&t->lock);
	now = now_of(t);
	pending = collect(t, now);
	if (efd_take(t, &v) == 0)
		pending = pending > EFD_COUNT_MAX - v ? EFD_COUNT_MAX : pending + v;
	efd_add(t, pending);
	armed = t->armed;
	deadline = armed ? t->next : 0;
	rem = remaining(t, now);
	cancelled = t->cancelled;
	expired = t->expired;
	settime_flags = t->settime_flags;
	v = t->interval;
	pthread_mutex_unlock(&t->lock);

	vmt_fields_put_u64(w, VMTI_TFD_F_CLOCK, t->clock);
	vmt_fields_put_u64(w, VMTI_TFD_F_FLAGS, (unsigned)t->flags);
	vmt_fields_put_u64(w, VMTI_TFD_F_SETTIME_FLAGS, (unsigned)settime_flags);
	vmt_fields_put_u64(w, VMTI_TFD_F_ARMED, armed);
	vmt_fields_put_u64(w, VMTI_TFD_F_DEADLINE, deadline);
	vmt_fields_put_u64(w, VMTI_TFD_F_REMAINING, rem);
	vmt_fields_put_u64(w, VMTI_TFD_F_INTERVAL, v);
	vmt_fields_put_u64(w, VMTI_TFD_F_PENDING, pending);
	vmt_fields_put_u64(w, VMTI_TFD_F_CANCELLED, cancelled);
	return vmt_fields_put_u64(w, VMTI_TFD_F_EXPIRED, expired);
}

/* The saved fields, read and checked before anything changes. */
struct tfd_saved {
	uint64_t clock, flags, settime_flags, armed, deadline, remaining, interval, pending;
	uint64_t cancelled, expired;
};

static int tfd_read_saved(const vmt_fields_reader *r, struct tfd_saved *s)
{
	static const struct {
		uint32_t id;
		size_t off;
	} fields[] = {
		{ VMTI_TFD_F_CLOCK, offsetof(struct tfd_saved, clock) },
		{ VMTI_TFD_F_FLAGS, offsetof(struct tfd_saved, flags) },
		{ VMTI_TFD_F_SETTIME_FLAGS, offsetof(struct tfd_saved, settime_flags) },
		{ VMTI_TFD_F_ARMED, offsetof(struct tfd_saved, armed) },
		{ VMTI_TFD_F_DEADLINE, offsetof(struct tfd_saved, deadline) },
		{ VMTI_TFD_F_REMAINING, offsetof(struct tfd_saved, remaining) },
		{ VMTI_TFD_F_INTERVAL, offsetof(struct tfd_saved, interval) },
		{ VMTI_TFD_F_PENDING, offsetof(struct tfd_saved, pending) },
		{ VMTI_TFD_F_CANCELLED, offsetof(struct tfd_saved, cancelled) },
		{ VMTI_TFD_F_EXPIRED, offsetof(struct tfd_saved, expired) },
	};
	vmt_ns limit;
	int r2;

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		r2 = vmt_fields_get_u64(r, fields[i].id, (uint64_t *)((char *)s + fields[i].off));
		if (r2 < 0)
			return r2;
	}
	if (s->clock >= VMT_CLOCK_COUNT || (s->flags & ~(uint64_t)TFD_NEW_FLAGS) ||
	    (s->settime_flags & ~(uint64_t)TFD_SET_FLAGS) || s->armed > 1 || s->cancelled > 1 ||
	    s->expired > 1 || s->interval > KT_MAX || s->remaining > KT_MAX ||
	    s->pending > EFD_COUNT_MAX)
		return -EBADMSG;
	/* Only VM time may lie beyond the kernel's range (kt_add()). */
	limit = s->clock == VMT_CLOCK_VM ? VMT_NS_NEVER - 1 : KT_MAX;
	if (s->deadline > limit || (s->armed && s->deadline == 0))
		return -EBADMSG;
	return 0;
}

/* Gives the fd the saved status flags; nothing else shares its open file. */
static int tfd_set_fd_flags(int fd, int flags)
{
	int fl = fcntl(fd, F_GETFL);
	int fdfl = fcntl(fd, F_GETFD);

	if (fl < 0 || fdfl < 0)
		return -errno;
	fl = (flags & VMT_TFD_NONBLOCK) ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	fdfl = (flags & VMT_TFD_CLOEXEC) ? fdfl | FD_CLOEXEC : fdfl & ~FD_CLOEXEC;
	if (fcntl(fd, F_SETFL, fl) < 0 || fcntl(fd, F_SETFD, fdfl) < 0)
		return -errno;
	return 0;
}

int vmt_timerfd_restore(vmt_timerfd *t, const vmt_fields_reader *r)
{
	vmt_timer *timer[2] = { NULL, NULL };
	bool change;
	struct tfd_saved s;
	uint64_t drop;
	int ret;

	if (!t || !r)
		return -EINVAL;
	ret = tfd_read_saved(r, &s);
	if (ret < 0)
		return ret;
	change = (enum vmt_clock)s.clock != t->clock;
	if (change) {
		ret = tfd_timers_new(t, (enum vmt_clock)s.clock, timer);
		if (ret < 0)
			return ret;
	}
	ret = tfd_set_fd_flags(t->fd, (int)s.flags);
	if (ret < 0) {
		if (change)
			tfd_timers_free(timer);
		return ret;
	}

	pthread_mutex_lock(&t->lock);
	if (change) {
		/* Swap: @timer ends up holding the old ones, freed below. */
		for (int i = 0; i < 2; i++) {
			vmt_timer *old = t->timer[i];

			if (old)
				vmt_timer_cancel(old);
			t->timer[i] = timer[i];
			timer[i] = old;
		}
		t->clock = (enum vmt_clock)s.clock;
	}
	t->flags = (int)s.flags;
	t->settime_flags = (int)s.settime_flags;
	t->cancelled = s.cancelled;
	t->expired = s.expired;
	t->interval = s.interval;
	t->armed = s.armed;
	/* Absolute VM and WALL times stay meaningful; host ones resume relative. */
	if (t->armed)
		t->next = t->clock == VMT_CLOCK_VM || (t->clock == VMT_CLOCK_WALL && !rel_host(t)) ?
				  s.deadline :
				  kt_add(now_of(t), s.remaining);
	efd_take(t, &drop);
	efd_add(t, s.pending);
	arm_loop_timer(t);
	pthread_mutex_unlock(&t->lock);

	/* Not under t->lock: it waits for a running callback, which takes it. */
	if (change)
		tfd_timers_free(timer);
	return 0;
}
