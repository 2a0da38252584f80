// SPDX-License-Identifier: MIT
/*
 * test-timerfd.c - timer fds under a manual keeper and injected host clocks.
 *
 * Time moves only when the test says so: VM time through vmt_loop_run_until()
 * and vmt_keeper_advance(), HOST/WALL/BOOT through the keeper's host_clock
 * hook; wall-clock steps are injected with vmt_keeper_wall_stepped().  Every
 * expected count and time is exact.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <vmtime/vmtime.h>
#include <vmtime/timerfd.h>

#include "tests.h"

#define MS VMT_NS_PER_MS
#define SEC VMT_NS_PER_SEC
#define KT_MAX ((vmt_ns)INT64_MAX)

static vmt_ns fake[VMT_CLOCK_COUNT];

static vmt_ns fake_clock(void *opaque, enum vmt_clock c)
{
	(void)opaque;
	return fake[c];
}

struct env {
	vmt_keeper *k;
	vmt_loop *loop;
};

/* A keeper with injected host clocks; @manual: VM time moves only when told. */
static void env_new(struct env *e, bool manual)
{
	struct vmt_keeper_config cfg = VMT_KEEPER_CONFIG_INIT;

	fake[VMT_CLOCK_HOST] = 1000 * SEC;
	fake[VMT_CLOCK_BOOT] = 2000 * SEC;
	fake[VMT_CLOCK_WALL] = 1700000000 * SEC;
	cfg.mode = manual ? VMT_KEEPER_MANUAL : VMT_KEEPER_REAL;
	cfg.host_clock = fake_clock;
	ASSERT_OK(vmt_keeper_new(&cfg, &e->k));
	ASSERT_OK(vmt_loop_new(vmt_keeper_source(e->k), &e->loop));
}

static void env_free(struct env *e)
{
	e->loop = vmt_loop_free(e->loop);
	e->k = vmt_keeper_free(e->k);
}

static struct itimerspec its(vmt_ns value, vmt_ns interval)
{
	return (struct itimerspec){
		.it_value = { (time_t)(value / SEC), (long)(value % SEC) },
		.it_interval = { (time_t)(interval / SEC), (long)(interval % SEC) },
	};
}

static vmt_ns ts_ns(const struct timespec *ts)
{
	return (vmt_ns)ts->tv_sec * SEC + (vmt_ns)ts->tv_nsec;
}

static int set(vmt_timerfd *t, int flags, vmt_ns value, vmt_ns interval)
{
	struct itimerspec nv = its(value, interval);

	return vmt_timerfd_settime(t, flags, &nv, NULL);
}

static vmt_ns get_value(vmt_timerfd *t)
{
	struct itimerspec cur;

	if (vmt_timerfd_gettime(t, &cur) < 0)
		return VMT_NS_NEVER;
	return ts_ns(&cur.it_value);
}

static vmt_ns get_interval(vmt_timerfd *t)
{
	struct itimerspec cur;

	if (vmt_timerfd_gettime(t, &cur) < 0)
		return VMT_NS_NEVER;
	return ts_ns(&cur.it_interval);
}

/* vmt_timerfd_read(): the count, or the negative errno. */
static int64_t rd(vmt_timerfd *t)
{
	uint64_t n = 0;
	int r = vmt_timerfd_read(t, &n);

	return r < 0 ? r : (int64_t)n;
}

/* read(2) on the fd: the count, or the negative errno. */
static int64_t raw_rd(vmt_timerfd *t)
{
	uint64_t n = 0;
	ssize_t r = read(vmt_timerfd_fd(t), &n, sizeof(n));

	if (r < 0)
		return -errno;
	return r == 8 ? (int64_t)n : -EIO;
}

static int readable(vmt_timerfd *t)
{
	struct pollfd p = { .fd = vmt_timerfd_fd(t), .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static vmt_ns vm_now(struct env *e)
{
	return vmt_now(vmt_keeper_source(e->k), VMT_CLOCK_VM);
}

/* Creation. */

TEST(new_validates_and_applies_fd_flags)
{
	struct env e;
	vmt_timerfd *t = (vmt_timerfd *)&e, *sentinel = t;

	env_new(&e, true);
	ASSERT_ERR(vmt_timerfd_new(NULL, VMT_CLOCK_VM, 0, &t), -EINVAL);
	ASSERT_ERR(vmt_timerfd_new(e.loop, VMT_CLOCK_VM, 0, NULL), -EINVAL);
	ASSERT_ERR(vmt_timerfd_new(e.loop, VMT_CLOCK_COUNT, 0, &t), -EINVAL);
	ASSERT_ERR(vmt_timerfd_new(e.loop, (enum vmt_clock)-1, 0, &t), -EINVAL);
	for (int bit = 0; bit < 32; bit++) {
		int f = (int)(1u << bit);

		if (f == VMT_TFD_NONBLOCK || f == VMT_TFD_CLOEXEC)
			continue;
		ASSERT_ERR(vmt_timerfd_new(e.loop, VMT_CLOCK_VM, f, &t), -EINVAL);
		ASSERT_ERR(vmt_timerfd_new(e.loop, VMT_CLOCK_VM, f | VMT_TFD_NONBLOCK, &t), -EINVAL);
	}
	ASSERT_TRUE(t == sentinel); /* never written on failure */
	for (int f = 0; f < 4; f++) {
		int flags = (f & 1 ? VMT_TFD_NONBLOCK : 0) | (f & 2 ? VMT_TFD_CLOEXEC : 0);

		for (int c = 0; c < VMT_CLOCK_COUNT; c++) {
			ASSERT_OK(vmt_timerfd_new(e.loop, (enum vmt_clock)c, flags, &t));
			ASSERT_GE(vmt_timerfd_fd(t), 0);
			ASSERT_EQ(!!(fcntl(vmt_timerfd_fd(t), F_GETFL) & O_NONBLOCK), f & 1);
			ASSERT_EQ(!!(fcntl(vmt_timerfd_fd(t), F_GETFD) & FD_CLOEXEC), !!(f & 2));
			/* A new timer fd is disarmed and empty. */
			ASSERT_UEQ(get_value(t), 0);
			ASSERT_UEQ(get_interval(t), 0);
			ASSERT_EQ(readable(t), 0);
			ASSERT_TRUE(vmt_timerfd_free(t) == NULL);
		}
	}
	ASSERT_ERR(vmt_timerfd_fd(NULL), -EINVAL);
	ASSERT_TRUE(vmt_timerfd_free(NULL) == NULL);
	env_free(&e);
}

/* Settime validation: every errno, and a refused call changes nothing. */

TEST(settime_validation)
{
	static const struct timespec bad[] = {
		{ -1, 0 }, { -1, 999999999 }, { LONG_MIN, 0 }, { 0, -1 }, { 0, 1000000000 },
		{ 5, LONG_MAX }, { 5, LONG_MIN }, { -5, -5 },
	};
	struct itimerspec nv, old = its(123, 456), cur;
	struct env e;
	vmt_timerfd *t;

	env_new(&e, true);
	ASSERT_OK(vmt_timerfd_new(e.loop, VMT_CLOCK_VM, VMT_TFD_NONBLOCK, &t));
	ASSERT_OK(vmt_keeper_start(e.k));
	/* An armed timer with one expiry pending, to see that nothing changes. */
	ASSERT_OK(set(t, 0, 10 * MS, 20 * MS));
	ASSERT_OK(vmt_loop_run_until(e.loop, 15 * MS));
	ASSERT_EQ(readable(t), 1);

	nv = its(SEC, 0);
	ASSERT_ERR(vmt_timerfd_settime(NULL, 0, &nv, NULL), -EINVAL);
	ASSERT_ERR(vmt_timerfd_settime(t, 0, NULL, &old), -EINVAL);
	for (int bit = 2; bit < 32; bit++)
		ASSERT_ERR(vmt_timerfd_settime(t, (int)(1u << bit), &nv, &old), -EINVAL);
	ASSERT_ERR(vmt_timerfd_settime(t, -1, &nv, &old), -EINVAL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (int f = 0; f < 4; f++) {
			nv = its(SEC, SEC);
			nv.it_value = bad[i];
			ASSERT_ERR(vmt_timerfd_settime(t, f, &nv, &old), -EINVAL);
			nv = its(SEC, SEC);
			nv.it_interval = bad[i];
			ASSERT_ERR(vmt_timerfd_settime(t, f, &nv, &old), -EINVAL);
			/* A zero (disarming) value does not excuse a bad interval. */
			nv = its(0, 0);
			nv.it_interval = bad[i];
			ASSERT_ERR(vmt_timerfd_settime(t, f, &nv, &old), -EINVAL);
		}
	}
	/* old_value untouched, setting and pending expiry kept. */
	ASSERT_UEQ(ts_ns(&old.it_value), 123);
	ASSERT_UEQ(ts_ns(&old.it_interval), 456);
	ASSERT_OK(vmt_timerfd_gettime(t, &cur));
	ASSERT_UEQ(ts_ns(&cur.it_value), 15 * MS);
	ASSERT_UEQ(ts_ns(&cur.it_interval), 20 * MS);
	ASSERT_EQ(rd(t), 1);
	/* The edges are valid. */
	nv = (struct itimerspec){ { 0, 999999999 }, { 0, 999999999 } };
	ASSERT_OK(vmt_timerfd_settime(t, 0, &nv, NULL));
	ASSERT_ERR(vmt_timerfd_gettime(NULL, &cur), -EINVAL);
	ASSERT_ERR(vmt_timerfd_gettime(t, NULL), -EINVAL);
	t = vmt_timerfd_free(t);
	env_free(&e);
}

/* Read semantics. */

TEST(read_semantics)
{
	struct env e;
	vmt_timerfd *t, *tb;
	uint64_t buf[2] = { 0, 0 };

	env_new(&e, true);
	ASSERT_OK(vmt_timerfd_new(e.loop, VMT_CLOCK_VM, VMT_TFD_NONBLOCK, &t));
	ASSERT_OK(vmt_timerfd_new(e.loop, VMT_CLOCK_VM, 0, &tb));
	ASSERT_OK(vmt_keeper_start(e.k));
	ASSERT_ERR(vmt_timerfd_read(NULL, buf), -EINVAL);
	ASSERT_ERR(vmt_timerfd_read(t, NULL), -EINVAL);
	ASSERT_EQ(rd(t), -EAGAIN);
	ASSERT_EQ(raw_rd(t), -EAGAIN);

	ASSERT_OK(set(t, 0, 10 * MS, 10 * MS));
	ASSERT_OK(set(tb, 0, 10 * MS, 0));
	ASSERT_OK(vmt_loop_run_until(e.loop, 9 * MS));
	ASSERT_EQ(readable(t), 0);
	ASSERT_EQ(rd(t), -EAGAIN);
	/* Readable exactly when the loop delivered an expiry. */
	ASSERT_OK(vmt_loop_run_until(e.loop, 10 * MS));
	ASSERT_EQ(readable(t), 1);
	ASSERT_EQ(readable(tb), 1);
	ASSERT_EQ(read(vmt_timerfd_fd(t), buf, 7), -1);
	ASSERT_EQ(errno, EINVAL);
	ASSERT_EQ(read(vmt_timerfd_fd(t), buf, 1), -1);
	ASSERT_EQ(errno, EINVAL);
	ASSERT_EQ(read(vmt_timerfd_fd(t), buf, 16), 8);
	ASSERT_UEQ(buf[0], 1);
	ASSERT_EQ(readable(t), 0);
	ASSERT_EQ(raw_rd(t), -EAGAIN);
	/* A blocking timer fd with an expiry due returns at once. */
	ASSERT_EQ(rd(tb), 1);
	ASSERT_EQ(readable(tb), 0);

	ASSERT_OK(vmt_loop_run_until(e.loop, 35 * MS));
	ASSERT_EQ(raw_rd(t), 2); /* 20, 30 */
	ASSERT_OK(vmt_loop_run_until(e.loop, 40 * MS));
	ASSERT_EQ(rd(t), 1);
	ASSERT_EQ(rd(t), -EAGAIN);
	t = vmt_timerfd_free(t);
	tb = vmt_timerfd_free(tb);
	env_free(&e);
}

/* The VM clock: exact grid, missed ticks counted, pause, resume, reset. */

TEST(vm_periodic_grid_and_missed_ticks)
{
	struct env e;
	vmt_timerfd *t;
	struct itimerspec old;

	env_new(&e, true);
	ASSERT_OK(vmt_timerfd_new(e.loop, VMT_CLOCK_VM, VMT_TFD_NONBLOCK, &t));
	ASSERT_OK(vmt_keeper_start(e.k));
	ASSERT_OK(set(t, 0, 5 * MS, 10 * MS)); /* 5, 15, 25, ... */
	ASSERT_UEQ(get_value(t), 5 * MS);
	ASSERT_OK(vmt_loop_run_until(e.loop, 5 * MS));
	ASSERT_EQ(raw_rd(t), 1);
	ASSERT_UEQ(get_value(t), 10 * MS);
	/* One second with nobody dispatching: every tick counted, none lost. */
	ASSERT_OK(vmt_keeper_advance(e.k, SEC));
	ASSERT_EQ(readable(t), 0);
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	/* 15 .. 1005: 100 ticks in one callback, delivered to the fd. */
	ASSERT_EQ(raw_rd(t), 100);
	ASSERT_UEQ(get_value(t), 10 * MS);
	ASSERT_OK(vmt_keeper_advance(e.k, 95 * MS)); /* 1100: 1015 .. 1095 */
	ASSERT_EQ(rd(t), 9);				/* counted without a dispatch */
	ASSERT_GE(vmt_loop_dispatch(e.loop), 0);
	ASSERT_EQ(raw_rd(t), -EAGAIN);			/* and not twice */
	ASSERT_UEQ(get_value(t), 5 * MS);
	/* old_value is the time to the next expiry and the interval. */
	ASSERT_OK(vmt_keeper_advance(e.k, 7 * MS)); /* 1107: 1105 expired, unread */
	ASSERT_OK(vmt_timerfd_settime(t, 0, &(struct itimerspec){ 0 }, &old));
	ASSERT_UEQ(ts_ns(&old.it_value), 8 * MS);
	ASSERT_UEQ(ts_ns(&old.it_interval), 10 * MS);
	/* Disarming discarded the pending tick. */
	ASSERT_EQ(rd(t), -EAGAIN);
	ASSERT_EQ(raw_rd(t), -EAGAIN);
	t = vmt_timerfd_free(t);
	env_free(&e);
}

/* A REAL keeper on an injected host clock: VM time runs only while started. */
TEST(vm_pause_stops_expirations_and_resume_keeps_the_grid)
{
	struct env e;
	vmt_timerfd *t;

	env_new(&e, false);
	ASSERT_OK(vmt_timerfd_new(e.loop, VMT_CLOCK_VM, VMT_TFD_NONBLOCK, &t));
	ASSERT_OK(vmt_keeper_start(e.k));
	ASSERT_OK(set(t, 0, 10 * MS, 10 * MS)); /* 10, 20, 30, ... */
	fake[VMT_CLOCK_HOST] += 25 * MS;
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	ASSERT_EQ(raw_rd(t), 2);
	ASSERT_OK(vmt_keeper_stop(e.k));
	ASSERT_UEQ(vm_now(&e), 25 * MS);
	/* A whole host minute passes while the VM is stopped. */
	fake[VMT_CLOCK_HOST] += 60 * SEC;
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 0);
	ASSERT_EQ(readable(t), 0);
	ASSERT_EQ(rd(t), -EAGAIN);
	ASSERT_UEQ(get_value(t), 5 * MS); /* frozen */
	ASSERT_EQ(vmt_loop_timeout_ns(e.loop), -1);
	/* Resumed: the next expiry is VM 30 ms, 5 ms of host time later. */
	ASSERT_OK(vmt_keeper_start(e.k));
	ASSERT_EQ(vmt_loop_timeout_ns(e.loop), (int64_t)(5 * MS));
	fake[VMT_CLOCK_HOST] += 4 * MS;
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 0);
	ASSERT_UEQ(get_value(t), 1 * MS);
	fake[VMT_CLOCK_HOST] += 1 * MS;
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	ASSERT_EQ(raw_rd(t), 1);
	ASSERT_UEQ(get_value(t), 10 * MS);
	/* Stopped with a tick due but not dispatched: still counted once. */
	fake[VMT_CLOCK_HOST] += 12 * MS; /* VM 42: 40 due */
	ASSERT_OK(vmt_keeper_stop(e.k));
	ASSERT_EQ(rd(t), 1);
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 0);
	ASSERT_EQ(rd(t), -EAGAIN);
	ASSERT_UEQ(get_value(t), 8 * MS);
	t = vmt_timerfd_free(t);
	env_free(&e);
}

TEST(vm_reset_re_evaluates)
{
	struct env e;
	vmt_timerfd *t, *tr;

	env_new(&e, true);
	ASSERT_OK(vmt_timerfd_new(e.loop, VMT_CLOCK_VM, VMT_TFD_NONBLOCK, &t));
	ASSERT_OK(vmt_timerfd_new(e.loop, VMT_CLOCK_VM, VMT_TFD_NONBLOCK, &tr));
	ASSERT_OK(vmt_keeper_start(e.k));
	ASSERT_OK(set(t, VMT_TFD_TIMER_ABSTIME, 100 * MS, 10 * MS));
	ASSERT_OK(set(tr, 0, 100 * MS, 0)); /* relative: absolute VM 100 ms as well */
	ASSERT_OK(vmt_loop_run_until(e.loop, 50 * MS));
	ASSERT_OK(vmt_keeper_stop(e.k));
	/* Back to 0: the absolute deadlines now lie 100 ms ahead. */
	ASSERT_OK(vmt_keeper_reset(e.k, 0));
	ASSERT_UEQ(get_value(t), 100 * MS);
	ASSERT_UEQ(get_value(tr), 100 * MS);
	ASSERT_OK(vmt_keeper_start(e.k));
	ASSERT_OK(vmt_loop_run_until(e.loop, 99 * MS));
	ASSERT_EQ(readable(t) + readable(tr), 0);
	ASSERT_OK(vmt_loop_run_until(e.loop, 100 * MS));
	ASSERT_EQ(raw_rd(t), 1);
	ASSERT_EQ(raw_rd(tr), 1);
	/* Forward to 200 ms: the ticks from 110 to 200 are due at once. */
	ASSERT_OK(vmt_keeper_stop(e.k));
	ASSERT_OK(vmt_keeper_reset(e.k, 200 * MS));
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 0); /* stopped: nothing fires */
	ASSERT_EQ(readable(t), 0);
	ASSERT_OK(vmt_keeper_start(e.k));
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	ASSERT_EQ(raw_rd(t), 10);
	ASSERT_UEQ(get_value(t), 10 * MS);
	t = vmt_timerfd_free(t);
	tr = vmt_timerfd_free(tr);
	env_free(&e);
}

TEST(absolute_past_and_huge_values)
{
	struct env e;
	vmt_timerfd *t;
	struct itimerspec nv, cur;

	env_new(&e, true);
	ASSERT_OK(vmt_timerfd_new(e.loop, VMT_CLOCK_VM, VMT_TFD_NONBLOCK, &t));
	ASSERT_OK(vmt_keeper_start(e.k));
	ASSERT_OK(vmt_loop_run_until(e.loop, SEC));
	/* T0 = 100 ms, I = 30 ms at 1 s: floor(900 / 30) + 1 = 31, at once. */
	ASSERT_OK(set(t, VMT_TFD_TIMER_ABSTIME, 100 * MS, 30 * MS));
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	ASSERT_EQ(raw_rd(t), 31);
	ASSERT_UEQ(get_value(t), 30 * MS);
	/* Exactly on a grid point counts that point. */
	ASSERT_OK(set(t, VMT_TFD_TIMER_ABSTIME, 400 * MS, 300 * MS));
	ASSERT_EQ(rd(t), 3); /* 400, 700, 1000 */
	ASSERT_UEQ(get_value(t), 300 * MS);
	/* A past one-shot: one expiry; gettime clamps at zero. */
	ASSERT_OK(set(t, VMT_TFD_TIMER_ABSTIME, 1, 0));
	ASSERT_UEQ(get_value(t), 0);
	ASSERT_EQ(rd(t), 1);
	ASSERT_UEQ(get_value(t), 0);

	/* Beyond the kernel's range: value and interval saturate to KTIME_MAX. */
	nv = (struct itimerspec){ { INT64_MAX, 999999999 }, { INT64_MAX, 999999999 } };
	ASSERT_OK(vmt_timerfd_settime(t, 0, &nv, NULL));
	ASSERT_OK(vmt_timerfd_gettime(t, &cur));
	ASSERT_UEQ(ts_ns(&cur.it_value), KT_MAX - SEC);
	ASSERT_UEQ(ts_ns(&cur.it_interval), KT_MAX);
	ASSERT_OK(vmt_timerfd_settime(t, VMT_TFD_TIMER_ABSTIME, &nv, NULL));
	ASSERT_UEQ(get_value(t), KT_MAX - SEC);
	nv = (struct itimerspec){ .it_value = { INT64_MAX / 1000000000 - 1, 999999999 } };
	ASSERT_OK(vmt_timerfd_settime(t, VMT_TFD_TIMER_ABSTIME, &nv, NULL));
	ASSERT_UEQ(get_value(t), (vmt_ns)(INT64_MAX / 1000000000) * SEC - 1 - SEC);
	ASSERT_OK(vmt_timerfd_settime(t, 0, &nv, NULL)); /* relative: the sum saturates */
	ASSERT_UEQ(get_value(t), KT_MAX - SEC);
	ASSERT_OK(vmt_loop_run_until(e.loop, 2 * SEC));
	ASSERT_EQ(rd(t), -EAGAIN);
	t = vmt_timerfd_free(t);
	env_free(&e);
}

TEST(zero_value_disarms_and_keeps_interval)
{
	struct env e;
	vmt_timerfd *t;
	struct itimerspec nv = its(0, 50 * MS), old;

	env_new(&e, true);
	ASSERT_OK(vmt_timerfd_new(e.loop, VMT_CLOCK_HOST, VMT_TFD_NONBLOCK, &t));
	ASSERT_OK(set(t, 0, 20 * MS, 10 * MS));
	fake[VMT_CLOCK_HOST] += 5 * MS;
	ASSERT_OK(vmt_timerfd_settime(t, 0, &nv, &old));
	ASSERT_UEQ(ts_ns(&old.it_value), 15 * MS);
	ASSERT_UEQ(ts_ns(&old.it_interval), 10 * MS);
	ASSERT_UEQ(get_value(t), 0);
	ASSERT_UEQ(get_interval(t), 50 * MS);
	fake[VMT_CLOCK_HOST] += SEC;
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 0);
	ASSERT_EQ(rd(t), -EAGAIN);
	ASSERT_OK(vmt_timerfd_settime(t, VMT_TFD_TIMER_ABSTIME, &nv, &old));
	ASSERT_UEQ(ts_ns(&old.it_value), 0);
	ASSERT_UEQ(ts_ns(&old.it_interval), 50 * MS);
	t = vmt_timerfd_free(t);
	env_free(&e);
}

TEST(host_and_boot_clocks)
{
	struct env e;
	vmt_timerfd *th, *tb;

	env_new(&e, true);
	ASSERT_OK(vmt_timerfd_new(e.loop, VMT_CLOCK_HOST, VMT_TFD_NONBLOCK, &th));
	ASSERT_OK(vmt_timerfd_new(e.loop, VMT_CLOCK_BOOT, VMT_TFD_NONBLOCK, &tb));
	/* VM stopped: host clocks run regardless. */
	ASSERT_OK(set(th, 0, 3 * MS, 0));
	ASSERT_OK(set(tb, VMT_TFD_TIMER_ABSTIME, fake[VMT_CLOCK_BOOT] + 2 * MS, MS));
	fake[VMT_CLOCK_HOST] += 2 * MS;
	fake[VMT_CLOCK_BOOT] += 2 * MS;
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	ASSERT_EQ(raw_rd(tb), 1);
	ASSERT_EQ(raw_rd(th), -EAGAIN);
	ASSERT_UEQ(get_value(th), 1 * MS);
	fake[VMT_CLOCK_HOST] += 1 * MS;
	fake[VMT_CLOCK_BOOT] += 5 * MS + MS / 2;
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 2);
	ASSERT_EQ(raw_rd(th), 1);
	ASSERT_EQ(raw_rd(tb), 5);
	ASSERT_UEQ(get_value(tb), MS / 2);
	th = vmt_timerfd_free(th);
	tb = vmt_timerfd_free(tb);
	env_free(&e);
}

/* CANCEL_ON_SET, through injected wall-clock steps. */

static void wall_step(struct env *e, int64_t delta)
{
	fake[VMT_CLOCK_WALL] += (vmt_ns)delta;
	ASSERT_OK(vmt_keeper_wall_stepped(e->k));
}

TEST(cancel_on_set_reports_ecanceled)
{
	struct env e;
	vmt_timerfd *t;
	struct itimerspec nv, old = its(77, 77);
	vmt_ns w0;

	env_new(&e, true);
	w0 = fake[VMT_CLOCK_WALL];
	ASSERT_OK(vmt_timerfd_new(e.loop, VMT_CLOCK_WALL, VMT_TFD_NONBLOCK, &t));
	ASSERT_OK(set(t, VMT_TFD_TIMER_ABSTIME | VMT_TFD_TIMER_CANCEL_ON_SET, w0 + 10 * SEC, 0));
	/*
	 * The step is seen by the next dispatch: the fd wakes readers.  The
	 * WALL fd's notice of the step is one callback of that dispatch.
	 */
	wall_step(&e, -3600 * (int64_t)SEC);
	ASSERT_EQ(readable(t), 0);
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	ASSERT_EQ(readable(t), 1);
	ASSERT_EQ(rd(t), -ECANCELED);
	ASSERT_EQ(readable(t), 0);
	ASSERT_EQ(rd(t), -EAGAIN);
	/* The timer itself stays armed, on the stepped clock. */
	ASSERT_UEQ(get_value(t), 3610 * SEC);
	fake[VMT_CLOCK_WALL] = w0 + 10 * SEC;
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	ASSERT_EQ(rd(t), 1);

	/* Settime after an unread step: -ECANCELED, armed anyway, old not written. */
	ASSERT_OK(set(t, VMT_TFD_TIMER_ABSTIME | VMT_TFD_TIMER_CANCEL_ON_SET, w0 + 20 * SEC, 0));
	wall_step(&e, 5 * (int64_t)SEC);
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	nv = its(w0 + 30 * SEC, 0);
	ASSERT_ERR(vmt_timerfd_settime(t, VMT_TFD_TIMER_ABSTIME | VMT_TFD_TIMER_CANCEL_ON_SET, &nv,
				       &old),
		   -ECANCELED);
	ASSERT_UEQ(ts_ns(&old.it_value), 77);
	ASSERT_UEQ(get_value(t), 15 * SEC);
	ASSERT_EQ(rd(t), -EAGAIN); /* settime discarded the wake-up */
	ASSERT_OK(vmt_timerfd_settime(t, VMT_TFD_TIMER_ABSTIME | VMT_TFD_TIMER_CANCEL_ON_SET, &nv,
				      &old));
	ASSERT_UEQ(ts_ns(&old.it_value), 15 * SEC);

	/* Every step counts; one read reports them all. */
	wall_step(&e, 1);
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	wall_step(&e, 1);
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	ASSERT_EQ(rd(t), -ECANCELED);
	ASSERT_EQ(rd(t), -EAGAIN);

	/* A raw read(2) sees the wake-up as a count (docs/timerfd.md). */
	wall_step(&e, 1);
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	ASSERT_EQ(raw_rd(t), 1);
	t = vmt_timerfd_free(t);
	env_free(&e);
}

TEST(cancel_on_set_only_for_absolute_wall_timers)
{
	struct env e;
	vmt_timerfd *tw, *th, *tv;
	const int f = VMT_TFD_TIMER_CANCEL_ON_SET;

	env_new(&e, true);
	ASSERT_OK(vmt_timerfd_new(e.loop, VMT_CLOCK_WALL, VMT_TFD_NONBLOCK, &tw));
	ASSERT_OK(vmt_timerfd_new(e.loop, VMT_CLOCK_HOST, VMT_TFD_NONBLOCK, &th));
	ASSERT_OK(vmt_timerfd_new(e.loop, VMT_CLOCK_VM, VMT_TFD_NONBLOCK, &tv));
	/* Relative WALL: ignored, and like the kernel's it runs on the monotonic clock. */
	ASSERT_OK(set(tw, f, 10 * SEC, 0));
	ASSERT_OK(set(th, f | VMT_TFD_TIMER_ABSTIME, fake[VMT_CLOCK_HOST] + 10 * SEC, 0));
	ASSERT_OK(set(tv, f | VMT_TFD_TIMER_ABSTIME, 10 * SEC, 0));
	wall_step(&e, 3600 * (int64_t)SEC);
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	ASSERT_EQ(rd(tw), -EAGAIN);
	ASSERT_EQ(rd(th), -EAGAIN);
	ASSERT_EQ(rd(tv), -EAGAIN);
	ASSERT_UEQ(get_value(tw), 10 * SEC);
	fake[VMT_CLOCK_HOST] += 10 * SEC;
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 2);
	ASSERT_EQ(rd(tw), 1);
	ASSERT_EQ(rd(th), 1);
	/* Re-set without the flag: a later step is not reported. */
	ASSERT_OK(set(tw, f | VMT_TFD_TIMER_ABSTIME, fake[VMT_CLOCK_WALL] + SEC, 0));
	ASSERT_OK(set(tw, VMT_TFD_TIMER_ABSTIME, fake[VMT_CLOCK_WALL] + SEC, 0));
	wall_step(&e, -1);
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	ASSERT_EQ(rd(tw), -EAGAIN);
	tw = vmt_timerfd_free(tw);
	th = vmt_timerfd_free(th);
	tv = vmt_timerfd_free(tv);
	env_free(&e);
}

TEST(cancelled_read_leaves_an_expired_periodic_timer_disarmed)
{
	struct env e;
	vmt_timerfd *t;
	vmt_ns w0;

	env_new(&e, true);
	w0 = fake[VMT_CLOCK_WALL];
	ASSERT_OK(vmt_timerfd_new(e.loop, VMT_CLOCK_WALL, VMT_TFD_NONBLOCK, &t));
	ASSERT_OK(set(t, VMT_TFD_TIMER_ABSTIME | VMT_TFD_TIMER_CANCEL_ON_SET, w0 + SEC, SEC));
	fake[VMT_CLOCK_WALL] += SEC;
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	wall_step(&e, 1);
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	ASSERT_EQ(rd(t), -ECANCELED);
	/* As in the kernel, the expired periodic timer was not re-armed. */
	ASSERT_UEQ(get_value(t), 0);
	ASSERT_UEQ(get_interval(t), SEC);
	fake[VMT_CLOCK_WALL] += 10 * SEC;
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 0);
	ASSERT_EQ(rd(t), -EAGAIN);
	/* One that had not expired yet keeps running. */
	ASSERT_OK(set(t, VMT_TFD_TIMER_ABSTIME | VMT_TFD_TIMER_CANCEL_ON_SET,
		      fake[VMT_CLOCK_WALL] + SEC, SEC));
	wall_step(&e, 1);
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	ASSERT_EQ(rd(t), -ECANCELED);
	ASSERT_UEQ(get_value(t), SEC - 1);
	fake[VMT_CLOCK_WALL] += SEC;
	ASSERT_EQ(rd(t), 1);
	t = vmt_timerfd_free(t);
	env_free(&e);
}

/* Saved state. */

struct saved {
	vmt_snap_writer *w; /* owns the image the reader points into */
	vmt_snap_reader *sr;
	vmt_fields_reader fields;
};

static void saved_open(struct saved *s, vmt_snap_writer *w)
{
	struct vmt_snap_section sec;
	const void *buf;
	size_t len;

	s->w = w;
	ASSERT_OK(vmt_snap_writer_save_buffer(w, &buf, &len, NULL));
	ASSERT_OK(vmt_snap_reader_from_buffer(buf, len, &s->sr, NULL));
	ASSERT_OK(vmt_snap_reader_find(s->sr, "tfd", &sec));
	s->fields = sec.fields;
}

static void save(vmt_timerfd *t, struct saved *s)
{
	vmt_snap_writer *w;
	vmt_fields_writer *fw;

	ASSERT_OK(vmt_snap_writer_new(&w));
	ASSERT_OK(vmt_snap_writer_section(w, "tfd", 1, &fw));
	ASSERT_OK(vmt_timerfd_save(t, fw));
	saved_open(s, w);
}

static void saved_free(struct saved *s)
{
	s->sr = vmt_snap_reader_free(s->sr);
	s->w = vmt_snap_writer_free(s->w);
}

/* A payload with the field ids of docs/timerfd.md; @bad_id gets @bad instead. */
static void save_crafted(struct saved *s, uint32_t bad_id, uint64_t bad, bool as_string)
{
	static const uint64_t good[] = { 0, VMT_CLOCK_VM, VMT_TFD_NONBLOCK, 0, 1, 50 * MS, 0,
					 10 * MS, 3, 0, 0 };
	vmt_snap_writer *w;
	vmt_fields_writer *fw;

	ASSERT_OK(vmt_snap_writer_new(&w));
	ASSERT_OK(vmt_snap_writer_section(w, "tfd", 1, &fw));
	for (uint32_t id = 1; id <= 10; id++) {
		if (id == bad_id && as_string)
			ASSERT_OK(vmt_fields_put_str(fw, id, "x"));
		else if (id == bad_id && bad == UINT64_MAX - 7)
			continue; /* missing */
		else
			ASSERT_OK(vmt_fields_put_u64(fw, id, id == bad_id ? bad : good[id]));
	}
	saved_open(s, w);
}

TEST(save_restore_resumes_exactly)
{
	struct env e;
	vmt_timerfd *t, *t2;
	struct saved s;

	env_new(&e, true);
	ASSERT_OK(vmt_timerfd_new(e.loop, VMT_CLOCK_VM, VMT_TFD_NONBLOCK, &t));
	ASSERT_OK(vmt_keeper_start(e.k));
	ASSERT_OK(set(t, 0, 5 * MS, 10 * MS));
	ASSERT_OK(vmt_loop_run_until(e.loop, 17 * MS));
	ASSERT_EQ(raw_rd(t), 2);
	ASSERT_OK(vmt_loop_run_until(e.loop, 37 * MS)); /* 25, 35 pending */
	ASSERT_OK(vmt_keeper_stop(e.k));
	save(t, &s);
	/* Saving left the pending count on the fd. */
	ASSERT_EQ(readable(t), 1);

	/* The VM runs on and the timer changes... */
	ASSERT_OK(vmt_keeper_start(e.k));
	ASSERT_OK(vmt_loop_run_until(e.loop, 100 * MS));
	ASSERT_EQ(rd(t), 8);
	ASSERT_OK(set(t, 0, 0, 0));
	ASSERT_OK(vmt_keeper_stop(e.k));
	/* ...then the VM is restored: the clock first, then the timer fd. */
	ASSERT_OK(vmt_keeper_reset(e.k, 37 * MS));
	ASSERT_ERR(vmt_timerfd_restore(NULL, &s.fields), -EINVAL);
	ASSERT_ERR(vmt_timerfd_restore(t, NULL), -EINVAL);
	ASSERT_OK(vmt_timerfd_restore(t, &s.fields));
	ASSERT_UEQ(get_value(t), 8 * MS);
	ASSERT_UEQ(get_interval(t), 10 * MS);
	ASSERT_EQ(raw_rd(t), 2);
	ASSERT_OK(vmt_keeper_start(e.k));
	ASSERT_OK(vmt_loop_run_until(e.loop, 44 * MS));
	ASSERT_EQ(readable(t), 0);
	ASSERT_OK(vmt_loop_run_until(e.loop, 45 * MS));
	ASSERT_EQ(raw_rd(t), 1);
	ASSERT_OK(vmt_keeper_stop(e.k));

	/* Into a timer fd of another clock and flags: it adopts the saved ones. */
	ASSERT_OK(vmt_timerfd_new(e.loop, VMT_CLOCK_WALL, 0, &t2));
	ASSERT_OK(set(t2, 0, SEC, 0));
	ASSERT_OK(vmt_keeper_reset(e.k, 37 * MS));
	ASSERT_OK(vmt_timerfd_restore(t2, &s.fields));
	ASSERT_TRUE(fcntl(vmt_timerfd_fd(t2), F_GETFL) & O_NONBLOCK);
	ASSERT_UEQ(get_value(t2), 8 * MS);
	ASSERT_EQ(rd(t2), 2);
	ASSERT_EQ(rd(t2), -EAGAIN); /* NONBLOCK adopted */
	fake[VMT_CLOCK_HOST] += 10 * SEC; /* no longer a WALL/HOST timer */
	fake[VMT_CLOCK_WALL] += 10 * SEC;
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 0);
	ASSERT_OK(vmt_keeper_start(e.k));
	ASSERT_OK(vmt_loop_run_until(e.loop, 65 * MS));
	ASSERT_EQ(rd(t2), 3); /* 45, 55, 65 */
	saved_free(&s);
	t = vmt_timerfd_free(t);
	t2 = vmt_timerfd_free(t2);
	env_free(&e);
}

TEST(save_restore_host_resumes_relative_wall_absolute)
{
	struct env e;
	vmt_timerfd *th, *tw;
	struct saved sh, sw;
	vmt_ns w0;

	env_new(&e, true);
	w0 = fake[VMT_CLOCK_WALL];
	ASSERT_OK(vmt_timerfd_new(e.loop, VMT_CLOCK_HOST, VMT_TFD_NONBLOCK, &th));
	ASSERT_OK(vmt_timerfd_new(e.loop, VMT_CLOCK_WALL, VMT_TFD_NONBLOCK, &tw));
	ASSERT_OK(set(th, 0, 10 * SEC, 0));
	ASSERT_OK(set(tw, VMT_TFD_TIMER_ABSTIME | VMT_TFD_TIMER_CANCEL_ON_SET, w0 + 10 * SEC, 0));
	fake[VMT_CLOCK_HOST] += 4 * SEC;
	fake[VMT_CLOCK_WALL] += 4 * SEC;
	save(th, &sh);
	save(tw, &sw);
	/* Later (another boot, say): HOST resumes with 6 s left, WALL at w0 + 10 s. */
	fake[VMT_CLOCK_HOST] += 100 * SEC;
	fake[VMT_CLOCK_WALL] += 3 * SEC;
	ASSERT_OK(vmt_timerfd_restore(th, &sh.fields));
	ASSERT_OK(vmt_timerfd_restore(tw, &sw.fields));
	ASSERT_UEQ(get_value(th), 6 * SEC);
	ASSERT_UEQ(get_value(tw), 3 * SEC);
	/* The CANCEL_ON_SET setting came back too. */
	wall_step(&e, 1);
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	ASSERT_EQ(rd(tw), -ECANCELED);
	saved_free(&sh);
	saved_free(&sw);
	th = vmt_timerfd_free(th);
	tw = vmt_timerfd_free(tw);
	env_free(&e);
}

TEST(restore_errors_change_nothing)
{
	static const struct {
		uint32_t id;
		uint64_t v;
	} bad[] = {
		{ 1, VMT_CLOCK_COUNT },	     { 1, UINT64_MAX }, { 2, 1 },	{ 2, 1u << 31 },
		{ 3, 4 },		     { 4, 2 },		{ 5, 0 },	{ 5, UINT64_MAX },
		{ 6, UINT64_MAX },	     { 7, KT_MAX + 1 }, { 8, UINT64_MAX }, { 9, 2 },
		{ 10, 3 },
	};
	struct env e;
	vmt_timerfd *t;
	struct saved s;

	env_new(&e, true);
	ASSERT_OK(vmt_timerfd_new(e.loop, VMT_CLOCK_VM, VMT_TFD_NONBLOCK, &t));
	ASSERT_OK(set(t, 0, 20 * MS, 0));
	/* The crafted payload itself is valid. */
	save_crafted(&s, 0, 0, false);
	ASSERT_OK(vmt_timerfd_restore(t, &s.fields));
	ASSERT_UEQ(get_value(t), 50 * MS);
	ASSERT_EQ(rd(t), 3);
	saved_free(&s);
	ASSERT_OK(set(t, 0, 20 * MS, 0));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		save_crafted(&s, bad[i].id, bad[i].v, false);
		if (vmt_timerfd_restore(t, &s.fields) != -EBADMSG)
			VMT_FAIL("field %u = %llu accepted", bad[i].id, (unsigned long long)bad[i].v);
		saved_free(&s);
	}
	for (uint32_t id = 1; id <= 10; id++) {
		save_crafted(&s, id, 0, true);
		ASSERT_ERR(vmt_timerfd_restore(t, &s.fields), -EBADMSG);
		saved_free(&s);
		save_crafted(&s, id, UINT64_MAX - 7, false);
		ASSERT_ERR(vmt_timerfd_restore(t, &s.fields), -ENOENT);
		saved_free(&s);
	}
	ASSERT_UEQ(get_value(t), 20 * MS);
	ASSERT_EQ(rd(t), -EAGAIN);
	ASSERT_TRUE(fcntl(vmt_timerfd_fd(t), F_GETFL) & O_NONBLOCK);
	ASSERT_ERR(vmt_timerfd_save(NULL, NULL), -EINVAL);
	ASSERT_ERR(vmt_timerfd_save(t, NULL), -EINVAL);
	t = vmt_timerfd_free(t);
	env_free(&e);
}

TEST(free_with_pending_expirations)
{
	struct env e;
	vmt_timerfd *t;
	int fd;

	env_new(&e, true);
	ASSERT_OK(vmt_timerfd_new(e.loop, VMT_CLOCK_VM, 0, &t));
	ASSERT_OK(vmt_keeper_start(e.k));
	ASSERT_OK(set(t, 0, MS, MS));
	ASSERT_OK(vmt_loop_run_until(e.loop, 10 * MS));
	fd = dup(vmt_timerfd_fd(t));
	ASSERT_GE(fd, 0);
	t = vmt_timerfd_free(t);
	/* The loop forgot it, and a copy of the fd still holds what was delivered. */
	ASSERT_OK(vmt_loop_run_until(e.loop, 20 * MS));
	uint64_t n = 0;
	ASSERT_EQ(read(fd, &n, sizeof(n)), 8);
	ASSERT_UEQ(n, 10);
	close(fd);
	env_free(&e);
}

/* ---- error paths not covered above ---- */

TEST(new_out_of_file_descriptors)
{
	struct rlimit old;
	struct env e;
	vmt_timerfd *sentinel = (vmt_timerfd *)&old, *t = sentinel;
	int fd, r;

	env_new(&e, true);
	/* No descriptor left: the eventfd cannot be made. */
	fd = test_fd_limit(0, &old);
	r = vmt_timerfd_new(e.loop, VMT_CLOCK_WALL, 0, &t);
	test_fd_limit_restore(&old);
	ASSERT_ERR(r, -EMFILE);
	ASSERT_TRUE(t == sentinel);
	ASSERT_OK(vmt_timerfd_new(e.loop, VMT_CLOCK_WALL, 0, &t));
	ASSERT_EQ(vmt_timerfd_fd(t), fd);
	vmt_timerfd_free(t);
	env_free(&e);
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

TEST(blocking_read_interrupted_by_a_signal)
{
	struct sigaction sa = { .sa_handler = on_alarm }, old_sa;
	struct sigevent sev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGALRM };
	/* Every 20 ms: one that lands before the read blocks only runs the handler. */
	struct itimerspec every = { { 0, 20 * 1000 * 1000 }, { 0, 20 * 1000 * 1000 } };
	struct env e;
	vmt_timerfd *t;
	timer_t timer;
	uint64_t n = 0;
	int r;

	env_new(&e, true);
	ASSERT_OK(vmt_timerfd_new(e.loop, VMT_CLOCK_VM, 0, &t));
	/* No SA_RESTART; poll(2) is never restarted anyway. */
	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(sigaction(SIGALRM, &sa, &old_sa), 0);
	/* Aimed at this thread, so no other thread takes the signal. */
	sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
	ASSERT_EQ(timer_create(CLOCK_MONOTONIC, &sev, &timer), 0);
	ASSERT_EQ(timer_settime(timer, 0, &every, NULL), 0);
	/* Disarmed: nothing can ever expire, only the signal ends the wait. */
	r = vmt_timerfd_read(t, &n);
	timer_delete(timer);
	sigaction(SIGALRM, &old_sa, NULL);
	ASSERT_ERR(r, -EINTR);
	ASSERT_GT(alarms, 0);
	ASSERT_EQ(n, 0);
	vmt_timerfd_free(t);
	env_free(&e);
}

TEST(save_reports_the_writer_error)
{
	vmt_snap_writer *w;
	vmt_fields_writer *fw;
	struct env e;
	vmt_timerfd *t;

	env_new(&e, true);
	ASSERT_OK(vmt_timerfd_new(e.loop, VMT_CLOCK_VM, VMT_TFD_NONBLOCK, &t));
	ASSERT_OK(set(t, 0, 20 * MS, 0));
	/* A writer with a sticky error (groups nested too deep). */
	ASSERT_OK(vmt_fields_writer_new(&fw));
	for (unsigned d = 0; d <= VMT_FIELDS_MAX_DEPTH; d++)
		vmt_fields_begin_group(fw, d);
	ASSERT_ERR(vmt_timerfd_save(t, fw), -E2BIG);
	vmt_fields_writer_free(fw);
	/* A section writer closed by the next section. */
	ASSERT_OK(vmt_snap_writer_new(&w));
	ASSERT_OK(vmt_snap_writer_section(w, "tfd", 1, &fw));
	ASSERT_OK(vmt_snap_writer_discard_section(w));
	ASSERT_ERR(vmt_timerfd_save(t, fw), -EBUSY);
	vmt_snap_writer_free(w);
	/* Saving read the pending count and put it back: the timer is unchanged. */
	ASSERT_UEQ(get_value(t), 20 * MS);
	ASSERT_EQ(rd(t), -EAGAIN);
	vmt_timerfd_free(t);
	env_free(&e);
}
