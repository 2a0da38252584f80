// SPDX-License-Identifier: MIT
/*
 * test-timerfd-diff.c - vmt_timerfd against the kernel's timerfd.
 *
 * VMT_TEST_THREADED: the loop delivering expirations runs in its own thread.
 *
 * Every scenario runs the same calls, back to back, on a kernel timerfd
 * (CLOCK_MONOTONIC, then CLOCK_REALTIME) and on a vmt_timerfd on the matching
 * vmtime clock (HOST, then WALL), and compares errors and values: errnos and
 * counts exactly, times within TOL.  The real clock is the subject, so the
 * scenarios sleep (tens of milliseconds each).  Nothing assumes how soon the
 * process runs again: a check that something has not expired yet is only
 * made when the clock read after it shows the expiry still ahead (a scenario
 * that ran too late is tried again), and a read pair an expiry may have
 * fallen between is completed by reading both again (pair_read()).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <vmtime/vmtime.h>
#include <vmtime/timerfd.h>

#include "tests.h"

#define MS VMT_NS_PER_MS
/* Allowed difference: the time between the two calls of a pair, plus this. */
#define TOL (1 * MS)

static vmt_keeper *keeper;
static vmt_loop *loop;
static pthread_t loop_thread;

static void *loop_main(void *arg)
{
	(void)arg;
	vmt_loop_run(loop);
	return NULL;
}

static void env_up(void)
{
	if (keeper)
		return;
	if (vmt_keeper_new(NULL, &keeper) < 0 || vmt_loop_new(vmt_keeper_source(keeper), &loop) < 0 ||
	    pthread_create(&loop_thread, NULL, loop_main, NULL) != 0) {
		fprintf(stderr, "cannot set up a keeper, a loop and its thread\n");
		exit(1);
	}
}

static void sleep_ns(vmt_ns ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / VMT_NS_PER_SEC),
			       .tv_nsec = (long)(ns % VMT_NS_PER_SEC) };

	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
		;
}

static vmt_ns clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (vmt_ns)ts.tv_sec * VMT_NS_PER_SEC + (vmt_ns)ts.tv_nsec;
}

static vmt_ns mono(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* A scenario that the scheduler made too late to check runs again, this often. */
#define LATE_RETRIES 8

static struct timespec ts_ns(vmt_ns ns)
{
	return (struct timespec){ .tv_sec = (time_t)(ns / VMT_NS_PER_SEC),
				  .tv_nsec = (long)(ns % VMT_NS_PER_SEC) };
}

static struct itimerspec its(vmt_ns value, vmt_ns interval)
{
	return (struct itimerspec){ .it_value = ts_ns(value), .it_interval = ts_ns(interval) };
}

static int64_t its_ns(const struct timespec *ts)
{
	if (ts->tv_sec > INT64_MAX / (time_t)VMT_NS_PER_SEC - 1)
		return INT64_MAX;
	return (int64_t)ts->tv_sec * (int64_t)VMT_NS_PER_SEC + ts->tv_nsec;
}

/* One kernel timerfd and one vmt_timerfd driven in lockstep. */
struct pair {
	clockid_t kclock;
	enum vmt_clock vclock;
	int kfd;
	vmt_timerfd *v;
	/*
	 * How far apart the two calls of the last relative settime were: the
	 * two deadlines differ by up to that much.
	 */
	vmt_ns skew;
};

static const struct {
	clockid_t kclock;
	enum vmt_clock vclock;
	const char *name;
} clocks[] = {
	{ CLOCK_MONOTONIC, VMT_CLOCK_HOST, "monotonic/host" },
	{ CLOCK_REALTIME, VMT_CLOCK_WALL, "realtime/wall" },
	{ CLOCK_BOOTTIME, VMT_CLOCK_BOOT, "boottime/boot" },
};

#define FOR_EACH_CLOCK(i) for (size_t i = 0; i < sizeof(clocks) / sizeof(clocks[0]); i++)

static int k_err(int r)
{
	return r < 0 ? -errno : r;
}

static void pair_new(struct pair *p, size_t ci, int flags)
{
	env_up();
	p->kclock = clocks[ci].kclock;
	p->vclock = clocks[ci].vclock;
	p->skew = 0;
	p->kfd = timerfd_create(p->kclock, flags);
	ASSERT_OK(k_err(p->kfd));
	ASSERT_OK(vmt_timerfd_new(loop, p->vclock, flags, &p->v));
}

static void pair_free(struct pair *p)
{
	close(p->kfd);
	p->v = vmt_timerfd_free(p->v);
}

static void expect_close(const struct pair *p, const struct itimerspec *k,
			 const struct itimerspec *v, vmt_ns apart)
{
	int64_t kv = its_ns(&k->it_value), vv = its_ns(&v->it_value);
	int64_t tol = (int64_t)(TOL + apart + p->skew);

	if (kv - vv > tol || vv - kv > tol)
		VMT_FAIL("it_value: kernel %lld ns, vmtime %lld ns, calls %llu ns apart",
			 (long long)kv, (long long)vv, (unsigned long long)apart);
	ASSERT_EQ(k->it_interval.tv_sec, v->it_interval.tv_sec);
	ASSERT_EQ(k->it_interval.tv_nsec, v->it_interval.tv_nsec);
}

static int pair_settime(struct pair *p, int flags, const struct itimerspec *nv,
			struct itimerspec *old);

static int pair_set(struct pair *p, int flags, vmt_ns value, vmt_ns interval,
		    struct itimerspec *old)
{
	struct itimerspec nv = its(value, interval);

	return pair_settime(p, flags, &nv, old);
}

/* Returns the kernel's result; fails unless vmtime's matches. */
static int pair_settime(struct pair *p, int flags, const struct itimerspec *nv,
			struct itimerspec *old)
{
	struct itimerspec ko, vo;
	int kr, vr;

	memset(&ko, 0x5a, sizeof(ko));
	memset(&vo, 0x5a, sizeof(vo));
	vmt_ns t0 = clock_ns(CLOCK_MONOTONIC), apart;

	kr = k_err(timerfd_settime(p->kfd, flags, nv, &ko));
	vr = vmt_timerfd_settime(p->v, flags, nv, &vo);
	apart = clock_ns(CLOCK_MONOTONIC) - t0;
	ASSERT_EQ(kr, vr);
	if (kr == 0) {
		expect_close(p, &ko, &vo, apart);
		p->skew = (flags & TFD_TIMER_ABSTIME) ? 0 : apart;
	}
	else
		ASSERT_TRUE(memcmp(&ko, &vo, sizeof(ko)) == 0); /* neither was written */
	if (old)
		*old = ko;
	return kr;
}

static void pair_gettime(struct pair *p, struct itimerspec *cur)
{
	struct itimerspec k, v;

	vmt_ns t0 = clock_ns(CLOCK_MONOTONIC);

	ASSERT_OK(k_err(timerfd_gettime(p->kfd, &k)));
	ASSERT_OK(vmt_timerfd_gettime(p->v, &v));
	expect_close(p, &k, &v, clock_ns(CLOCK_MONOTONIC) - t0);
	if (cur)
		*cur = k;
}

/* One read of each fd: the count, or -errno. */
static void read_both(struct pair *p, int64_t *kr, int64_t *vr)
{
	uint64_t kc = 0, vc = 0;
	ssize_t n = read(p->kfd, &kc, sizeof(kc));
	int r;

	*kr = n < 0 ? -errno : (int64_t)kc;
	if (n >= 0)
		ASSERT_EQ(n, 8);
	r = vmt_timerfd_read(p->v, &vc);
	*vr = r < 0 ? r : (int64_t)vc;
}

/*
 * vmt_timerfd_read() against read(2); the result is a count or -errno.  The
 * kernel's fd is read first: an expiry between the two reads gives vmtime
 * one more.  When the kernel's next expiry fell within the measured window
 * and the results differ, both are read again and the counts added, until a
 * window without an expiry: the totals must then agree.
 */
static int64_t pair_read(struct pair *p)
{
	int64_t ktot = -EAGAIN, vtot = -EAGAIN;

	for (int round = 0;; round++) {
		struct itimerspec g;
		int64_t kr, vr;
		vmt_ns t0 = mono(), next;

		ASSERT_OK(k_err(timerfd_gettime(p->kfd, &g)));
		next = (vmt_ns)its_ns(&g.it_value);
		read_both(p, &kr, &vr);
		bool expiry_inside = next != 0 && next <= mono() - t0;

		if (round == 0) {
			ktot = kr;
			vtot = vr;
		} else {
			/* Only EAGAIN and counts get here. */
			if (kr > 0)
				ktot = ktot > 0 ? ktot + kr : kr;
			if (vr > 0)
				vtot = vtot > 0 ? vtot + vr : vr;
		}
		if (ktot == vtot || !expiry_inside || round == 3 ||
		    (ktot < 0 && ktot != -EAGAIN) || (vtot < 0 && vtot != -EAGAIN))
			break;
	}
	ASSERT_EQ(ktot, vtot);
	return ktot;
}

/* read(2) on both fds; for vmtime the loop thread must have delivered. */
static int64_t pair_raw_read(struct pair *p, size_t len)
{
	uint64_t kc[2] = { 0, 0 }, vc[2] = { 0, 0 };
	ssize_t kn, vn;
	int ke, ve;

	kn = read(p->kfd, kc, len);
	ke = errno;
	vn = read(vmt_timerfd_fd(p->v), vc, len);
	ve = errno;
	ASSERT_EQ(kn, vn);
	if (kn < 0) {
		ASSERT_EQ(ke, ve);
		return -ke;
	}
	ASSERT_UEQ(kc[0], vc[0]);
	return (int64_t)kc[0];
}

static int poll_in(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int r = poll(&pfd, 1, timeout_ms);

	return r > 0 && (pfd.revents & POLLIN);
}

/* Waits for the loop thread to deliver (bounded), then compares readiness. */
static void pair_expect_readable(struct pair *p, int want)
{
	/* The bound only ends a failing test: a loaded machine may take a while. */
	ASSERT_EQ(poll_in(p->kfd, want ? 10000 : 0), want);
	ASSERT_EQ(poll_in(vmt_timerfd_fd(p->v), want ? 10000 : 0), want);
}

/* Validation: create flags, settime flags and values, kernel vs vmtime. */

TEST(create_flags_match_kernel)
{
	FOR_EACH_CLOCK(ci) {
		for (int bit = -1; bit < 32; bit++) {
			int flags = bit < 0 ? 0 : (int)(1u << bit);
			int fds[2];
			vmt_timerfd *v = NULL;
			int kr, vr;

			for (int combo = 0; combo < 2; combo++) {
				if (combo)
					flags |= VMT_TFD_NONBLOCK | VMT_TFD_CLOEXEC;
				env_up();
				fds[0] = timerfd_create(clocks[ci].kclock, flags);
				kr = fds[0] < 0 ? -errno : 0;
				vr = vmt_timerfd_new(loop, clocks[ci].vclock, flags, &v);
				if (kr != vr)
					VMT_FAIL("%s flags %#x: kernel %d, vmtime %d", clocks[ci].name,
						 flags, kr, vr);
				if (kr >= 0) {
					fds[1] = vmt_timerfd_fd(v);
					/* Same fd flags: O_NONBLOCK and FD_CLOEXEC. */
					ASSERT_EQ(fcntl(fds[0], F_GETFL) & O_NONBLOCK,
						  fcntl(fds[1], F_GETFL) & O_NONBLOCK);
					ASSERT_EQ(fcntl(fds[0], F_GETFD), fcntl(fds[1], F_GETFD));
					close(fds[0]);
					v = vmt_timerfd_free(v);
				}
			}
		}
	}
}

TEST(bad_clock_is_einval_both)
{
	vmt_timerfd *v = NULL;

	env_up();
	ASSERT_ERR(k_err(timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0)), -EINVAL);
	ASSERT_ERR(k_err(timerfd_create(1234, 0)), -EINVAL);
	ASSERT_ERR(vmt_timerfd_new(loop, VMT_CLOCK_COUNT, 0, &v), -EINVAL);
	ASSERT_ERR(vmt_timerfd_new(loop, (enum vmt_clock)1234, 0, &v), -EINVAL);
	ASSERT_ERR(vmt_timerfd_new(loop, (enum vmt_clock)-1, 0, &v), -EINVAL);
	ASSERT_TRUE(v == NULL);
}

static const time_t secs[] = {
	0, 1, 2, -1, -2, 1000000, INT_MAX, (time_t)INT64_MAX / 1000000000 - 1,
	(time_t)INT64_MAX / 1000000000, (time_t)INT64_MAX / 1000000000 + 1, INT64_MAX, INT64_MIN,
};
static const long nsecs[] = {
	0, 1, 500000000, 999999999, 1000000000, -1, LONG_MAX, LONG_MIN, 2000000000,
};
static const time_t good_secs[] = { 0, 0, 1, 3, INT_MAX, INT64_MAX };
static const long good_nsecs[] = { 0, 1, 999999999 };
static const int set_flags[] = {
	0, TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET,
	4, 8, 1 << 30, INT_MIN, -1, TFD_TIMER_ABSTIME | 4,
};

/* Deterministic xorshift, so a failure reproduces. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

#define PICK(a) (a[rng() % (sizeof(a) / sizeof(a[0]))])

/*
 * One settime case on both: errors must match; a valid setting must read back
 * the same through gettime; then both are disarmed again (a tiny interval in
 * the past would otherwise keep the loop thread busy).
 */
static void settime_case(struct pair *p, int flags, struct itimerspec nv)
{
	static const struct itimerspec off;
	int r = pair_settime(p, flags, &nv, NULL);

	if (r == 0) {
		pair_gettime(p, NULL);
		ASSERT_OK(pair_settime(p, 0, &off, NULL));
		/* Disarming discarded what fired: both are empty. */
		ASSERT_EQ(pair_read(p), -EAGAIN);
	}
}

TEST(settime_validation_table_matches_kernel)
{
	FOR_EACH_CLOCK(ci) {
		struct pair p;
		unsigned cases = 0, valid = 0;

		pair_new(&p, ci, TFD_NONBLOCK);
		/* Enumerated: every flag value with each bad/odd field alone. */
		for (size_t f = 0; f < sizeof(set_flags) / sizeof(set_flags[0]); f++) {
			for (size_t field = 0; field < 4; field++) {
				for (size_t k = 0; k < sizeof(nsecs) / sizeof(nsecs[0]); k++) {
					struct itimerspec nv = its(7 * VMT_NS_PER_SEC, 0);

					if (field == 0)
						nv.it_value.tv_nsec = nsecs[k];
					else if (field == 1)
						nv.it_interval.tv_nsec = nsecs[k];
					else if (field == 2 && k < sizeof(secs) / sizeof(secs[0]))
						nv.it_value.tv_sec = secs[k];
					else if (field == 3 && k < sizeof(secs) / sizeof(secs[0]))
						nv.it_interval.tv_sec = secs[k];
					settime_case(&p, set_flags[f], nv);
					cases++;
				}
			}
		}
		/* Randomized combinations of the same values. */
		for (int i = 0; i < 400; i++) {
			struct itimerspec nv;

			/* Half the draws from the valid values only. */
			nv.it_value.tv_sec = rng() % 2 ? PICK(secs) : PICK(good_secs);
			nv.it_value.tv_nsec = rng() % 2 ? PICK(nsecs) : PICK(good_nsecs);
			nv.it_interval.tv_sec = rng() % 2 ? PICK(secs) : PICK(good_secs);
			nv.it_interval.tv_nsec = rng() % 2 ? PICK(nsecs) : PICK(good_nsecs);
			/* Keep periodic timers in the past from firing every nanosecond. */
			if (nv.it_interval.tv_sec == 0 && nv.it_interval.tv_nsec >= 0 &&
			    nv.it_interval.tv_nsec < 1000000)
				nv.it_interval.tv_nsec = 0;
			valid += pair_settime(&p, PICK(set_flags), &nv, NULL) == 0;
			settime_case(&p, 0, its(0, 0));
			cases++;
		}
		ASSERT_GT(valid, 40u); /* about 1 in 6 random draws is valid */
		ASSERT_GT(cases, 700u);
		pair_free(&p);
	}
}

TEST(null_arguments_are_einval)
{
	struct itimerspec v = its(1, 0);
	uint64_t n;
	vmt_timerfd *t = NULL;

	env_up();
	ASSERT_ERR(vmt_timerfd_new(NULL, VMT_CLOCK_HOST, 0, &t), -EINVAL);
	ASSERT_ERR(vmt_timerfd_new(loop, VMT_CLOCK_HOST, 0, NULL), -EINVAL);
	ASSERT_ERR(vmt_timerfd_fd(NULL), -EINVAL);
	ASSERT_ERR(vmt_timerfd_settime(NULL, 0, &v, NULL), -EINVAL);
	ASSERT_ERR(vmt_timerfd_gettime(NULL, &v), -EINVAL);
	ASSERT_ERR(vmt_timerfd_read(NULL, &n), -EINVAL);
	ASSERT_OK(vmt_timerfd_new(loop, VMT_CLOCK_HOST, 0, &t));
	ASSERT_ERR(vmt_timerfd_settime(t, 0, NULL, NULL), -EINVAL);
	ASSERT_ERR(vmt_timerfd_gettime(t, NULL), -EINVAL);
	ASSERT_ERR(vmt_timerfd_read(t, NULL), -EINVAL);
	ASSERT_TRUE(vmt_timerfd_free(t) == NULL);
	ASSERT_TRUE(vmt_timerfd_free(NULL) == NULL);
}

/* Sequences with real time. */

TEST(oneshot_relative)
{
	FOR_EACH_CLOCK(ci) {
		struct pair p;
		struct itimerspec cur;

		for (int attempt = 0;; attempt++) {
			vmt_ns t0, el_get;
			bool kq, vq;
			int64_t r;

			pair_new(&p, ci, TFD_NONBLOCK);
			ASSERT_EQ(pair_read(&p), -EAGAIN);
			pair_gettime(&p, &cur);
			ASSERT_EQ(its_ns(&cur.it_value), 0);
			t0 = mono();
			ASSERT_OK(pair_set(&p, 0, 30 * MS, 0, NULL));
			pair_gettime(&p, &cur);
			el_get = mono() - t0;
			kq = !poll_in(p.kfd, 0);
			vq = !poll_in(vmt_timerfd_fd(p.v), 0);
			r = pair_read(&p);
			ASSERT_LE(its_ns(&cur.it_value), (int64_t)(30 * MS));
			if (mono() - t0 < 30 * MS) {
				/* Measured: nothing can have expired yet. */
				ASSERT_GE(its_ns(&cur.it_value), (int64_t)(30 * MS - el_get));
				ASSERT_TRUE(kq && vq);
				ASSERT_EQ(r, -EAGAIN);
				break;
			}
			pair_free(&p);
			ASSERT_LT(attempt, LATE_RETRIES);
		}
		sleep_ns(45 * MS);
		pair_expect_readable(&p, 1);
		ASSERT_EQ(pair_read(&p), 1);
		ASSERT_EQ(pair_read(&p), -EAGAIN);
		pair_expect_readable(&p, 0);
		pair_gettime(&p, &cur);
		ASSERT_EQ(its_ns(&cur.it_value), 0);
		ASSERT_EQ(its_ns(&cur.it_interval), 0);
		pair_free(&p);
	}
}

TEST(periodic_counts_missed_ticks)
{
	FOR_EACH_CLOCK(ci) {
		for (int attempt = 0;; attempt++) {
			struct pair p;
			struct itimerspec cur;
			vmt_ns tg;
			int64_t r;

			pair_new(&p, ci, TFD_NONBLOCK);
			/* Expiries at 10, 30, 50, 70 ms; read at 60 ms: 3. */
			ASSERT_OK(pair_set(&p, 0, 10 * MS, 20 * MS, NULL));
			sleep_ns(60 * MS);
			/* Both agree (pair_read); a late wake-up may only add ticks. */
			ASSERT_GE(pair_read(&p), 3);
			tg = mono();
			pair_gettime(&p, &cur);
			ASSERT_EQ(its_ns(&cur.it_interval), (int64_t)(20 * MS));
			/* Next read half a period after the next expiry. */
			sleep_ns((vmt_ns)its_ns(&cur.it_value) + 10 * MS);
			ASSERT_GE(pair_read(&p), 1);
			r = pair_read(&p);
			/* The expiry after the next one is at tg + it_value + 20 ms or later. */
			bool on_time = mono() < tg + (vmt_ns)its_ns(&cur.it_value) + 20 * MS;

			pair_free(&p);
			if (on_time) {
				ASSERT_EQ(r, -EAGAIN);
				break;
			}
			ASSERT_LT(attempt, LATE_RETRIES);
		}
	}
}

TEST(absolute_in_the_past_counts_from_t0)
{
	FOR_EACH_CLOCK(ci) {
		struct pair p;
		vmt_ns now;

		pair_new(&p, ci, TFD_NONBLOCK);
		now = clock_ns(p.kclock);
		/* T0 = now - 95 ms, I = 20 ms: floor(95 / 20) + 1 = 5 at once. */
		ASSERT_OK(pair_set(&p, TFD_TIMER_ABSTIME, now - 95 * MS, 20 * MS, NULL));
		ASSERT_GE(pair_read(&p), 5);
		pair_gettime(&p, NULL);
		/* A one-shot in the past: 1. */
		ASSERT_OK(pair_set(&p, TFD_TIMER_ABSTIME, now - 5 * VMT_NS_PER_SEC, 0, NULL));
		pair_expect_readable(&p, 1);
		ASSERT_EQ(pair_read(&p), 1);
		/* Absolute time 1 ns (1970 or boot): still one expiry. */
		ASSERT_OK(pair_set(&p, TFD_TIMER_ABSTIME, 1, 0, NULL));
		ASSERT_EQ(pair_read(&p), 1);
		pair_free(&p);
	}
}

TEST(absolute_in_the_future)
{
	FOR_EACH_CLOCK(ci) {
		struct pair p;
		struct itimerspec cur;
		vmt_ns now;

		for (int attempt = 0;; attempt++) {
			int64_t r;

			pair_new(&p, ci, TFD_NONBLOCK);
			now = clock_ns(p.kclock);
			ASSERT_OK(pair_set(&p, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET,
					   now + 25 * MS, 0, NULL));
			pair_gettime(&p, &cur);
			ASSERT_LE(its_ns(&cur.it_value), (int64_t)(25 * MS));
			r = pair_read(&p);
			if (clock_ns(p.kclock) < now + 25 * MS) {
				ASSERT_EQ(r, -EAGAIN);
				break;
			}
			pair_free(&p);
			ASSERT_LT(attempt, LATE_RETRIES);
		}
		sleep_ns(40 * MS);
		ASSERT_EQ(pair_read(&p), 1);
		pair_free(&p);
	}
}

TEST(settime_discards_pending_and_reports_old)
{
	FOR_EACH_CLOCK(ci) {
		struct pair p;
		struct itimerspec old;

		pair_new(&p, ci, TFD_NONBLOCK);
		ASSERT_OK(pair_set(&p, 0, 5 * MS, 0, NULL));
		sleep_ns(15 * MS);
		pair_expect_readable(&p, 1);
		/* An expired one-shot reports 0 as its old value. */
		vmt_ns t0 = mono();

		ASSERT_OK(pair_set(&p, 0, VMT_NS_PER_SEC, 0, &old));
		ASSERT_EQ(its_ns(&old.it_value), 0);
		pair_expect_readable(&p, 0);
		ASSERT_EQ(pair_read(&p), -EAGAIN);

		/* A periodic timer that expired reports the time to its next expiry. */
		ASSERT_OK(pair_set(&p, 0, 10 * MS, 10 * MS, &old));
		ASSERT_GE(its_ns(&old.it_value), (int64_t)(VMT_NS_PER_SEC - (mono() - t0)));
		sleep_ns(35 * MS);
		ASSERT_OK(pair_set(&p, 0, VMT_NS_PER_SEC, 0, &old));
		ASSERT_EQ(its_ns(&old.it_interval), (int64_t)(10 * MS));
		ASSERT_LE(its_ns(&old.it_value), (int64_t)(10 * MS));
		ASSERT_EQ(pair_read(&p), -EAGAIN);
		pair_free(&p);
	}
}

TEST(zero_value_disarms_but_keeps_interval)
{
	FOR_EACH_CLOCK(ci) {
		struct pair p;
		struct itimerspec cur, old;

		pair_new(&p, ci, TFD_NONBLOCK);
		ASSERT_OK(pair_set(&p, 0, 20 * MS, 10 * MS, NULL));
		ASSERT_OK(pair_set(&p, 0, 0, 50 * MS, &old));
		ASSERT_EQ(its_ns(&old.it_interval), (int64_t)(10 * MS));
		pair_gettime(&p, &cur);
		ASSERT_EQ(its_ns(&cur.it_value), 0);
		ASSERT_EQ(its_ns(&cur.it_interval), (int64_t)(50 * MS));
		sleep_ns(30 * MS);
		ASSERT_EQ(pair_read(&p), -EAGAIN);
		/* The same with an absolute zero. */
		ASSERT_OK(pair_set(&p, TFD_TIMER_ABSTIME, 0, 7, &old));
		ASSERT_EQ(its_ns(&old.it_interval), (int64_t)(50 * MS));
		pair_gettime(&p, &cur);
		ASSERT_EQ(its_ns(&cur.it_interval), 7);
		pair_free(&p);
	}
}

TEST(huge_values_saturate_like_the_kernel)
{
	static const time_t huge[] = {
		(time_t)INT64_MAX / 1000000000 - 1, (time_t)INT64_MAX / 1000000000,
		(time_t)INT64_MAX / 1000000000 + 1, INT64_MAX,
	};

	FOR_EACH_CLOCK(ci) {
		struct pair p;

		pair_new(&p, ci, TFD_NONBLOCK);
		for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
			for (int abs = 0; abs < 2; abs++) {
				struct itimerspec nv = { .it_value = { huge[i], 999999999 },
							 .it_interval = { huge[i], 999999999 } };

				ASSERT_OK(pair_settime(&p, abs ? TFD_TIMER_ABSTIME : 0, &nv, NULL));
				pair_gettime(&p, NULL);
				ASSERT_EQ(pair_read(&p), -EAGAIN);
			}
		}
		pair_free(&p);
	}
}

TEST(raw_read_and_poll)
{
	FOR_EACH_CLOCK(ci) {
		struct pair p;

		pair_new(&p, ci, TFD_NONBLOCK);
		ASSERT_EQ(pair_raw_read(&p, 8), -EAGAIN);
		ASSERT_OK(pair_set(&p, 0, 10 * MS, 0, NULL));
		pair_expect_readable(&p, 1);
		ASSERT_EQ(pair_raw_read(&p, 4), -EINVAL);
		ASSERT_EQ(pair_raw_read(&p, 7), -EINVAL);
		ASSERT_EQ(pair_raw_read(&p, 16), 1);
		pair_expect_readable(&p, 0);
		ASSERT_EQ(pair_raw_read(&p, 8), -EAGAIN);
		pair_free(&p);
	}
}

struct blocked {
	int fd;
	vmt_timerfd *v;
	int64_t result;
	vmt_ns done_at; /* CLOCK_MONOTONIC when the read returned */
};

static void *blocked_read(void *arg)
{
	struct blocked *b = arg;
	uint64_t n = 0;

	if (b->v) {
		int r = vmt_timerfd_read(b->v, &n);

		b->result = r < 0 ? r : (int64_t)n;
	} else {
		ssize_t r = read(b->fd, &n, sizeof(n));

		b->result = r < 0 ? -errno : (int64_t)n;
	}
	b->done_at = clock_ns(CLOCK_MONOTONIC);
	return NULL;
}

TEST(blocking_reads_wait_for_the_expiry)
{
	FOR_EACH_CLOCK(ci) {
		/* Round 0: vmt_timerfd_read(); round 1: read(2) on the vmtime fd. */
		for (int round = 0; round < 2; round++) {
			struct pair p;
			struct blocked b[2];
			pthread_t th[2];

			pair_new(&p, ci, 0);
			/*
			 * Measured from before the arming, not from the thread's
			 * start: creating a thread can take longer than the timer
			 * (TSan on a loaded machine).
			 */
			vmt_ns armed = clock_ns(CLOCK_MONOTONIC);

			ASSERT_OK(pair_set(&p, 0, 30 * MS, 0, NULL));
			b[0] = (struct blocked){ .fd = p.kfd };
			b[1] = round ? (struct blocked){ .fd = vmt_timerfd_fd(p.v) } :
				       (struct blocked){ .v = p.v };
			for (int i = 0; i < 2; i++)
				ASSERT_EQ(pthread_create(&th[i], NULL, blocked_read, &b[i]), 0);
			for (int i = 0; i < 2; i++)
				pthread_join(th[i], NULL);
			for (int i = 0; i < 2; i++) {
				ASSERT_EQ(b[i].result, 1);
				ASSERT_GE(b[i].done_at - armed, 30 * MS);
			}
			pair_free(&p);
		}
	}
}

/* Last: stops the loop thread so the sanitizers see every thread joined. */
TEST(zz_teardown)
{
	if (!keeper)
		return;
	ASSERT_OK(vmt_loop_quit(loop));
	pthread_join(loop_thread, NULL);
	loop = vmt_loop_free(loop);
	keeper = vmt_keeper_free(keeper);
}
