/* SPDX-License-Identifier: MIT */
/*
 * test-property.c - VM time never goes backwards, under random state changes.
 *
 * VMT_TEST_THREADED: also runs under TSan.
 *
 * One writer thread applies thousands of random start/stop/reset/advance
 * operations to a keeper and checks every result against a model, while
 * reader threads call vmt_now(VM) through several sources as fast as they
 * can.  A reader may see a smaller value only across an explicit reset, which
 * it recognizes by vmt_source_reset_count() having changed between the
 * start of its previous read and the end of the current one.  Variants:
 *
 *  - a manual keeper with resets anywhere (backward steps excused by resets);
 *  - a real keeper with start/stop and resets only forward (strictly monotonic);
 *  - a real keeper whose host clock is a shared fake that another thread
 *    advances, so the stop path is hit while the host clock moves under it,
 *    and the frozen value can be bounded from the host readings around it.
 *
 * After every stop the writer checks the frozen value against everything the
 * readers have returned so far (the "stop freezes at a value no reader has
 * passed" guarantee).
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <time.h>

#include <vmtime/vmtime.h>

#include "internal.h"
#include "keeper-internal.h"
#include "mirror.h"
#include "source-internal.h"
#include "testing.h"
#include "tests.h"

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define VMT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define VMT_SANITIZED 1
#endif
#endif

#ifdef VMT_SANITIZED
#define BUDGET_NS (250 * VMT_NS_PER_MS)
#define MIN_OPS 2000
#else
#define BUDGET_NS (700 * VMT_NS_PER_MS)
#define MIN_OPS 5000
#endif
#define MAX_OPS 2000000
#define READERS 3

static vmt_ns mono_ns(void)
{
	return vmti_clock_ns(CLOCK_MONOTONIC);
}

struct reader {
	pthread_t th;
	const vmt_source *src;
	atomic_bool *quit;
	bool strict;	/* no explicit reset may lower VM time in this run */
	bool use_state;	/* read (reset_count, vm_now) under one sequence */
	_Atomic uint64_t last; /* the last value read, for the writer's stop check */
	_Atomic uint64_t count; /* reads so far, for the writer's pacing */
	/* results, read after join */
	uint64_t reads, excused, backward, changes;
	vmt_ns bad_prev, bad_now;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	vmt_ns prev = 0;
	int64_t prev_c0 = -1;
	uint64_t prev_reset = 0;
	bool first = true;

	while (!atomic_load_explicit(r->quit, memory_order_relaxed)) {
		vmt_ns v;
		bool back_ok;

		if (r->use_state) {
			struct vmti_clock_state st;

			vmti_source_state(r->src, &st);
			v = st.vm_now;
			if (!first && st.reset_count < prev_reset) {
				r->backward++;
				r->bad_prev = prev_reset;
				r->bad_now = st.reset_count;
			}
			back_ok = st.reset_count != prev_reset;
			prev_reset = st.reset_count;
		} else {
			int64_t c0 = vmt_source_reset_count(r->src);

			v = vmt_now(r->src, VMT_CLOCK_VM);
			/*
			 * Both reads fall between prev_c0 and c1: equal counts
			 * mean no reset was published in between.
			 */
			back_ok = vmt_source_reset_count(r->src) != prev_c0;
			prev_c0 = c0;
		}
		if (!first && v < prev) {
			if (back_ok && !r->strict) {
				r->excused++;
			} else if (!r->backward++) {
				r->bad_prev = prev;
				r->bad_now = v;
			}
		}
		if (!first && v != prev)
			r->changes++;
		atomic_store_explicit(&r->last, v, memory_order_release);
		atomic_store_explicit(&r->count, r->reads + 1, memory_order_relaxed);
		prev = v;
		first = false;
		/* Two cores are shared by many: leave the writer some CPU. */
		if ((++r->reads & 255) == 0)
			sched_yield();
	}
	return NULL;
}

struct run {
	vmt_keeper *k;
	vmt_source *att;
	struct reader rd[READERS];
	atomic_bool quit;
	uint64_t ops, stops;
};

static void run_start(struct run *run, vmt_keeper *k, bool strict)
{
	memset(run, 0, sizeof(*run));
	run->k = k;
	run->att = mirror(k);
	atomic_init(&run->quit, false);
	for (int i = 0; i < READERS; i++) {
		struct reader *r = &run->rd[i];

		r->src = i == 1 ? run->att : vmt_keeper_source(k);
		r->quit = &run->quit;
		r->strict = strict;
		r->use_state = i == 2;
		atomic_init(&r->last, 0);
		atomic_init(&r->count, 0);
		if (pthread_create(&r->th, NULL, reader_main, r))
			VMT_FAIL("pthread_create");
	}
}

static void run_finish(struct run *run)
{
	uint64_t reads = 0, excused = 0, changes = 0;

	atomic_store(&run->quit, true);
	for (int i = 0; i < READERS; i++)
		pthread_join(run->rd[i].th, NULL);
	vmt_source_free(run->att);
	for (int i = 0; i < READERS; i++) {
		struct reader *r = &run->rd[i];

		reads += r->reads;
		excused += r->excused;
		changes += r->changes;
		if (r->backward)
			VMT_FAIL("reader %d saw VM time go back %llu times (first %llu -> %llu)", i,
				 (unsigned long long)r->backward, (unsigned long long)r->bad_prev,
				 (unsigned long long)r->bad_now);
		if (r->reads == 0)
			VMT_FAIL("reader %d never ran", i);
	}
	fprintf(stderr, "  %llu ops (%llu stops), %llu reads, %llu changes seen, %llu excused by resets\n",
		(unsigned long long)run->ops, (unsigned long long)run->stops,
		(unsigned long long)reads, (unsigned long long)changes,
		(unsigned long long)excused);
	ASSERT_GE(run->ops, MIN_OPS);
}

/* Every value any reader returned so far is at most the frozen @f. */
static void check_readers_below(struct run *run, vmt_ns f)
{
	for (int i = 0; i < READERS; i++) {
		vmt_ns last = atomic_load_explicit(&run->rd[i].last, memory_order_acquire);

		if (last > f)
			VMT_FAIL("reader %d returned %llu, above the frozen %llu", i,
				 (unsigned long long)last, (unsigned long long)f);
	}
}

/*
 * Lets one reader (in turn) complete a read of the state the last operation
 * left, so readers see many states instead of a blur of writes.
 */
static void pace(struct run *run)
{
	struct reader *r = &run->rd[run->ops % READERS];
	uint64_t c = atomic_load_explicit(&r->count, memory_order_relaxed);

	/* Bounded: a descheduled reader must not stall the writer for long. */
	for (int i = 0; i < 2000; i++)
		if (atomic_load_explicit(&r->count, memory_order_relaxed) != c)
			return;
	if (run->ops % 4 == 0)
		sched_yield();
}

static bool budget_left(vmt_ns t0, uint64_t ops)
{
	if (ops < MIN_OPS)
		return true;
	return ops < MAX_OPS && mono_ns() - t0 < BUDGET_NS;
}

TEST(manual_random_ops)
{
	struct vmt_keeper_config cfg = VMT_KEEPER_CONFIG_INIT;
	vmt_keeper *k = NULL;
	vmt_source *src;
	static struct run run; /* static: outlives a failed test's readers */
	vmt_ns value = 1000, t0 = mono_ns();
	bool running = false;
	int64_t resets = 0;
	uint64_t ok[4] = { 0 };

	test_rng_seed(UINT64_C(0x9a11));
	cfg.mode = VMT_KEEPER_MANUAL;
	cfg.initial_vm_time = value;
	ASSERT_OK(vmt_keeper_new(&cfg, &k));
	src = vmt_keeper_source(k);
	run_start(&run, k, false);
	while (budget_left(t0, run.ops)) {
		uint64_t op = test_rng() % 100;
		int r;

		if (op < 25) {
			r = vmt_keeper_start(k);
			ASSERT_ERR(r, running ? -EALREADY : 0);
			running = true;
			ok[0] += r == 0;
		} else if (op < 50) {
			r = vmt_keeper_stop(k);
			ASSERT_ERR(r, running ? 0 : -EALREADY);
			running = false;
			if (r == 0) {
				ok[1]++;
				run.stops++;
			}
		} else if (op < 70) {
			vmt_ns t;

			switch (test_rng() % 6) {
			case 0:
				t = 0;
				break;
			case 1:
				t = test_rng() % 50 ? VMT_NS_NEVER - 1 - test_rng() % 1000 : VMT_NS_NEVER;
				break;
			case 2:
				t = vmt_ns_add(value, test_rng() % 100000);
				break;
			default:
				t = value > 1000 ? value - test_rng() % 1000 : test_rng() % 100000;
				break;
			}
			r = vmt_keeper_reset(k, t);
			if (t == VMT_NS_NEVER) {
				ASSERT_ERR(r, -EINVAL);
			} else {
				ASSERT_ERR(r, running ? -EBUSY : 0);
				if (r == 0) {
					value = t;
					resets++;
					ok[2]++;
				}
			}
		} else {
			vmt_ns ns = test_rng() % 20 ? test_rng() % 1000000 : test_rng();

			r = vmt_keeper_advance(k, ns);
			if (!running) {
				ASSERT_ERR(r, -EPERM);
			} else if (ns >= VMT_NS_NEVER - value) {
				ASSERT_ERR(r, -EOVERFLOW);
			} else {
				ASSERT_ERR(r, 0);
				value += ns;
				ok[3]++;
			}
		}
		ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), value);
		ASSERT_EQ(vmt_source_reset_count(src), resets);
		ASSERT_EQ(vmt_keeper_running(k), running);
		run.ops++;
		pace(&run);
	}
	run_finish(&run);
	for (int i = 0; i < 4; i++)
		ASSERT_GT(ok[i], 100);
	vmt_keeper_free(k);
}

/*
 * Real keeper, real host clock: start/stop, and resets only to values at or
 * after the current time, so no reader may ever see a smaller value.
 */
TEST(real_start_stop_forward_resets)
{
	vmt_keeper *k = NULL;
	vmt_source *src;
	static struct run run; /* static: outlives a failed test's readers */
	vmt_ns t0 = mono_ns(), seen = 0;
	bool running = false;

	test_rng_seed(UINT64_C(0x4ea1));
	ASSERT_OK(vmt_keeper_new(NULL, &k));
	src = vmt_keeper_source(k);
	run_start(&run, k, true);
	while (budget_left(t0, run.ops)) {
		uint64_t op = test_rng() % 100;
		vmt_ns now;
		int r;

		if (op < 40) {
			r = vmt_keeper_start(k);
			ASSERT_ERR(r, running ? -EALREADY : 0);
			running = true;
		} else if (op < 80) {
			r = vmt_keeper_stop(k);
			ASSERT_ERR(r, running ? 0 : -EALREADY);
			if (r == 0) {
				vmt_ns f = vmt_now(src, VMT_CLOCK_VM);

				run.stops++;
				ASSERT_UGE(f, seen);
				check_readers_below(&run, f);
			}
			running = false;
		} else {
			vmt_ns t = vmt_ns_add(vmt_now(src, VMT_CLOCK_VM), test_rng() % 100000);

			r = vmt_keeper_reset(k, t);
			ASSERT_ERR(r, running ? -EBUSY : 0);
			if (r == 0)
				ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), t);
		}
		now = vmt_now(src, VMT_CLOCK_VM);
		ASSERT_UGE(now, seen);
		seen = now;
		ASSERT_EQ(vmt_keeper_running(k), running);
		run.ops++;
		pace(&run);
	}
	run_finish(&run);
	ASSERT_GT(run.stops, 100);
	vmt_keeper_free(k);
}

/* A host clock another thread advances; the keeper reads it through the hook. */
struct ticker {
	_Atomic uint64_t host;
	atomic_bool quit;
	pthread_t th;
	uint64_t seed;
};

static vmt_ns ticker_clock(void *opaque, enum vmt_clock clock)
{
	struct ticker *tk = opaque;

	(void)clock;
	return atomic_load_explicit(&tk->host, memory_order_acquire);
}

static void *ticker_main(void *arg)
{
	struct ticker *tk = arg;
	uint64_t s = tk->seed, n = 0;

	while (!atomic_load_explicit(&tk->quit, memory_order_relaxed)) {
		/* this thread's own generator */
		uint64_t x = test_rng_next(&s);

		atomic_fetch_add_explicit(&tk->host, x % 64 ? 1 + x % 997 : x % 10000000,
					  memory_order_acq_rel);
		if ((++n & 63) == 0)
			sched_yield();
	}
	return NULL;
}

TEST(hooked_host_clock_moving_under_stop)
{
	struct vmt_keeper_config cfg = VMT_KEEPER_CONFIG_INIT;
	static struct ticker tk;
	vmt_keeper *k = NULL;
	vmt_source *src;
	static struct run run; /* static: outlives a failed test's readers */
	vmt_ns t0 = mono_ns(), seen = 0, base = 500;
	vmt_ns start_lo = 0, start_hi = 0; /* host readings around the last start */
	bool running = false;

	test_rng_seed(UINT64_C(0x71c4));
	atomic_init(&tk.host, UINT64_C(1) << 40);
	atomic_init(&tk.quit, false);
	tk.seed = UINT64_C(0x2545f4914f6cdd1d);
	cfg.mode = VMT_KEEPER_REAL;
	cfg.initial_vm_time = base;
	cfg.host_clock = ticker_clock;
	cfg.host_clock_opaque = &tk;
	ASSERT_OK(vmt_keeper_new(&cfg, &k));
	src = vmt_keeper_source(k);
	if (pthread_create(&tk.th, NULL, ticker_main, &tk))
		VMT_FAIL("pthread_create");
	run_start(&run, k, true);
	while (budget_left(t0, run.ops)) {
		uint64_t op = test_rng() % 100;
		vmt_ns now;
		int r;

		if (op < 40) {
			vmt_ns lo = ticker_clock(&tk, VMT_CLOCK_HOST), hi;

			r = vmt_keeper_start(k);
			hi = ticker_clock(&tk, VMT_CLOCK_HOST);
			ASSERT_ERR(r, running ? -EALREADY : 0);
			if (r == 0) {
				start_lo = lo;
				start_hi = hi;
			}
			running = true;
		} else if (op < 80) {
			vmt_ns lo = ticker_clock(&tk, VMT_CLOCK_HOST), hi;

			r = vmt_keeper_stop(k);
			hi = ticker_clock(&tk, VMT_CLOCK_HOST);
			ASSERT_ERR(r, running ? 0 : -EALREADY);
			if (r == 0) {
				vmt_ns f = vmt_now(src, VMT_CLOCK_VM);

				/*
				 * Frozen at base + (stop sample - start sample),
				 * each sample taken inside its call.
				 */
				run.stops++;
				ASSERT_UGE(f, base + vmt_ns_sub(lo, start_hi));
				ASSERT_ULE(f, base + (hi - start_lo));
				ASSERT_UGE(f, seen);
				check_readers_below(&run, f);
				base = f;
			}
			running = false;
		} else {
			vmt_ns t = vmt_ns_add(vmt_now(src, VMT_CLOCK_VM), test_rng() % 100000);

			r = vmt_keeper_reset(k, t);
			ASSERT_ERR(r, running ? -EBUSY : 0);
			if (r == 0) {
				ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), t);
				base = t;
			}
		}
		now = vmt_now(src, VMT_CLOCK_VM);
		ASSERT_UGE(now, seen);
		seen = now;
		run.ops++;
		pace(&run);
	}
	run_finish(&run);
	atomic_store(&tk.quit, true);
	pthread_join(tk.th, NULL);
	ASSERT_GT(run.stops, 100);
	vmt_keeper_free(k);
}

/*
 * Readers of an attached source whose keeper stalls inside a write past the
 * bound: they give up, the source freezes from the saved state, and no value
 * any of them read goes back, across start/stop/reset cycles before the
 * stall (issue 9 defect 2).  The keeper's own readers wait the stall out.
 */
struct mono_reader {
	pthread_t th;
	const vmt_source *src;
	atomic_bool *quit;
	uint64_t reads, backward;
	vmt_ns last;
};

static void *mono_reader_main(void *arg)
{
	struct mono_reader *r = arg;
	vmt_ns prev = 0;
	int64_t prev_epoch = -1; /* reset_count around prev, -1 if it moved */

	while (!atomic_load_explicit(r->quit, memory_order_relaxed)) {
		int64_t c0 = vmt_source_reset_count(r->src);
		vmt_ns v = vmt_now(r->src, VMT_CLOCK_VM);
		int64_t c1 = vmt_source_reset_count(r->src);

		/*
		 * Only a reset excuses a step back, and only two reads that each
		 * saw one reset_count before and after can be compared: a read
		 * with a reset landing around it may be from either side.
		 */
		if (c0 == c1 && c0 == prev_epoch && v < prev)
			r->backward++;
		prev = v;
		prev_epoch = c0 == c1 ? c0 : -1;
		r->reads++;
		if ((r->reads & 255) == 0)
			sched_yield();
	}
	r->last = prev;
	return NULL;
}

static atomic_int stall_ms;

static void stall_in_write(struct vmti_page *p)
{
	int ms = atomic_load(&stall_ms);

	(void)p;
	if (ms) {
		struct timespec ts = { 0, (long)ms * 1000000L };

		nanosleep(&ts, NULL);
	}
}

TEST(attached_readers_never_go_back_across_a_stalled_write)
{
	struct mono_reader rd[2];
	atomic_bool quit;
	vmt_keeper *k;
	vmt_source *att;

	ASSERT_OK(vmt_keeper_new(NULL, &k));
	vmti_attached_stuck_ns = 20 * VMT_NS_PER_MS;
	att = mirror(k);
	vmti_attached_stuck_ns = 2 * VMT_NS_PER_SEC;
	atomic_init(&quit, false);
	for (int i = 0; i < 2; i++) {
		rd[i] = (struct mono_reader){ .src = i ? att : vmt_keeper_source(k), .quit = &quit };
		ASSERT_EQ(pthread_create(&rd[i].th, NULL, mono_reader_main, &rd[i]), 0);
	}
	for (int i = 0; i < 50; i++) {
		ASSERT_OK(vmt_keeper_start(k));
		ASSERT_OK(vmt_keeper_stop(k));
		if (i % 10 == 9)
			ASSERT_OK(vmt_keeper_reset(k, vmt_now(vmt_keeper_source(k), VMT_CLOCK_VM) / 2));
	}
	ASSERT_OK(vmt_keeper_start(k));
	/* A stop that stalls 200 ms inside its write, ten times the bound. */
	atomic_store(&stall_ms, 200);
	vmti_testing_in_write = stall_in_write;
	ASSERT_OK(vmt_keeper_stop(k));
	vmti_testing_in_write = NULL;
	atomic_store(&stall_ms, 0);
	atomic_store(&quit, true);
	for (int i = 0; i < 2; i++)
		pthread_join(rd[i].th, NULL);
	ASSERT_ERR(vmt_source_alive(att), -ESHUTDOWN);
	ASSERT_EQ(vmt_source_alive(vmt_keeper_source(k)), 1);
	for (int i = 0; i < 2; i++) {
		ASSERT_TRUE(rd[i].reads > 0);
		ASSERT_EQ(rd[i].backward, 0);
	}
	/* Frozen from the state before the stop, run on to when it gave up. */
	ASSERT_ULE(vmt_now(att, VMT_CLOCK_VM), vmt_now(vmt_keeper_source(k), VMT_CLOCK_VM));
	ASSERT_UGE(vmt_now(att, VMT_CLOCK_VM), rd[1].last);
	vmt_source_free(att);
	vmt_keeper_free(k);
}
