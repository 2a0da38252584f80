/* SPDX-License-Identifier: MIT */
/*
 * test-keeper.c - the keeper and the source: state changes, errors, the
 * host-clock hook, and what several readers of one VM clock agree on.
 *
 * Most tests drive the clocks through the config's host_clock hook or a
 * manual keeper.  The few that use the real monotonic clock are the ones
 * where the real clock is the subject (OpenVMM's multi-source test), and
 * they only check orderings, never durations beyond a lower bound.
 */
#include <stdbool.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <vmtime/vmtime.h>

#include "keeper-internal.h"
#include "mirror.h"
#include "source-internal.h"
#include "tests.h"

#define ASSERT_UGT(a, b) VMT_UCMP(a, >, b)

struct fake {
	vmt_ns host, wall, boot;
	int calls;
};

static vmt_ns fake_clock(void *opaque, enum vmt_clock clock)
{
	struct fake *f = opaque;

	f->calls++;
	switch (clock) {
	case VMT_CLOCK_WALL:
		return f->wall;
	case VMT_CLOCK_BOOT:
		return f->boot;
	default:
		return f->host;
	}
}

static vmt_keeper *keeper_manual(vmt_ns t0)
{
	struct vmt_keeper_config cfg = VMT_KEEPER_CONFIG_INIT;
	vmt_keeper *k = NULL;

	cfg.mode = VMT_KEEPER_MANUAL;
	cfg.initial_vm_time = t0;
	if (vmt_keeper_new(&cfg, &k) < 0)
		VMT_FAIL("vmt_keeper_new(manual) failed");
	return k;
}

static vmt_keeper *keeper_hooked(enum vmt_keeper_mode mode, vmt_ns t0, struct fake *f)
{
	struct vmt_keeper_config cfg = VMT_KEEPER_CONFIG_INIT;
	vmt_keeper *k = NULL;

	cfg.mode = mode;
	cfg.initial_vm_time = t0;
	cfg.host_clock = fake_clock;
	cfg.host_clock_opaque = f;
	if (vmt_keeper_new(&cfg, &k) < 0)
		VMT_FAIL("vmt_keeper_new(hooked) failed");
	return k;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- creation and configuration ---- */

TEST(new_null_config_is_real_stopped_at_zero)
{
	vmt_keeper *k = NULL;
	vmt_source *src;

	ASSERT_OK(vmt_keeper_new(NULL, &k));
	ASSERT_TRUE(k != NULL);
	src = vmt_keeper_source(k);
	ASSERT_TRUE(src != NULL);
	ASSERT_EQ(vmt_keeper_running(k), 0);
	ASSERT_EQ(vmt_source_running(src), 0);
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), 0);
	ASSERT_EQ(vmt_source_reset_count(src), 0);
	/* REAL: advancing by hand is not offered. */
	ASSERT_OK(vmt_keeper_start(k));
	ASSERT_ERR(vmt_keeper_advance(k, 1), -EOPNOTSUPP);
	ASSERT_TRUE(vmt_keeper_free(k) == NULL);
	ASSERT_TRUE(vmt_keeper_free(NULL) == NULL);
}

TEST(new_initial_time)
{
	vmt_keeper *k = keeper_manual(123456789);

	ASSERT_UEQ(vmt_now(vmt_keeper_source(k), VMT_CLOCK_VM), 123456789);
	vmt_keeper_free(k);
	k = keeper_manual(VMT_NS_NEVER - 1);
	ASSERT_UEQ(vmt_now(vmt_keeper_source(k), VMT_CLOCK_VM), VMT_NS_NEVER - 1);
	vmt_keeper_free(k);
}

TEST(new_config_errors)
{
	struct vmt_keeper_config cfg = VMT_KEEPER_CONFIG_INIT;
	vmt_keeper *sentinel = (vmt_keeper *)&cfg, *k = sentinel;

	ASSERT_ERR(vmt_keeper_new(&cfg, NULL), -EINVAL);
	ASSERT_ERR(vmt_keeper_new(NULL, NULL), -EINVAL);

	cfg.mode = 2;
	ASSERT_ERR(vmt_keeper_new(&cfg, &k), -EINVAL);
	cfg.mode = UINT32_MAX;
	ASSERT_ERR(vmt_keeper_new(&cfg, &k), -EINVAL);
	cfg.mode = VMT_KEEPER_MANUAL;
	cfg.tsc = 2;
	ASSERT_ERR(vmt_keeper_new(&cfg, &k), -EINVAL);
	cfg.tsc = VMT_TSC_OFF;
	cfg.restore_policy = 2;
	ASSERT_ERR(vmt_keeper_new(&cfg, &k), -EINVAL);
	cfg.restore_policy = VMT_RESTORE_FREEZE;
	cfg.initial_vm_time = VMT_NS_NEVER;
	ASSERT_ERR(vmt_keeper_new(&cfg, &k), -EINVAL);
	cfg.initial_vm_time = 0;
	cfg.size = 0;
	ASSERT_ERR(vmt_keeper_new(&cfg, &k), -EINVAL);
	cfg.size = 4;
	ASSERT_ERR(vmt_keeper_new(&cfg, &k), -EINVAL);
	/* The first version ends after initial_vm_time. */
	cfg.size = offsetof(struct vmt_keeper_config, initial_vm_time) + sizeof(vmt_ns) - 1;
	ASSERT_ERR(vmt_keeper_new(&cfg, &k), -EINVAL);
	/* ret is written only on success. */
	ASSERT_TRUE(k == sentinel);
}

static vmt_ns never_called(void *opaque, enum vmt_clock clock)
{
	(void)clock;
	(*(int *)opaque)++;
	return 0;
}

TEST(new_config_first_version_size)
{
	struct vmt_keeper_config cfg = VMT_KEEPER_CONFIG_INIT;
	int hook_calls = 0;
	vmt_keeper *k = NULL;
	vmt_ns t;

	/*
	 * A caller built against the first version: the fields past its size
	 * are garbage in its memory and must read as zero (no hook).
	 */
	cfg.size = offsetof(struct vmt_keeper_config, initial_vm_time) + sizeof(vmt_ns);
	cfg.mode = VMT_KEEPER_MANUAL;
	cfg.initial_vm_time = 42;
	cfg.host_clock = never_called;
	cfg.host_clock_opaque = &hook_calls;
	ASSERT_OK(vmt_keeper_new(&cfg, &k));
	ASSERT_UEQ(vmt_now(vmt_keeper_source(k), VMT_CLOCK_VM), 42);
	ASSERT_OK(vmt_source_now(vmt_keeper_source(k), VMT_CLOCK_HOST, &t));
	ASSERT_UGT(t, 0);
	ASSERT_OK(vmt_keeper_start(k));
	ASSERT_OK(vmt_keeper_advance(k, 8));
	ASSERT_UEQ(vmt_now(vmt_keeper_source(k), VMT_CLOCK_VM), 50);
	ASSERT_EQ(hook_calls, 0);
	vmt_keeper_free(k);
}

TEST(new_config_larger_struct)
{
	struct {
		struct vmt_keeper_config c;
		uint64_t future[3];
	} big;
	vmt_keeper *sentinel = (vmt_keeper *)&big, *k = sentinel;

	memset(&big, 0, sizeof(big));
	big.c.size = sizeof(big);
	big.c.mode = VMT_KEEPER_MANUAL;
	big.c.initial_vm_time = 7;
	big.future[2] = 1;
	ASSERT_ERR(vmt_keeper_new(&big.c, &k), -E2BIG);
	ASSERT_TRUE(k == sentinel);
	big.future[2] = 0;
	big.future[0] = UINT64_C(1) << 63;
	ASSERT_ERR(vmt_keeper_new(&big.c, &k), -E2BIG);
	ASSERT_TRUE(k == sentinel);
	/* A newer caller that left the new fields at zero is accepted. */
	big.future[0] = 0;
	ASSERT_OK(vmt_keeper_new(&big.c, &k));
	ASSERT_TRUE(k != sentinel);
	ASSERT_UEQ(vmt_now(vmt_keeper_source(k), VMT_CLOCK_VM), 7);
	vmt_keeper_free(k);
	/* Only one byte more than this library knows, and it is set. */
	k = sentinel;
	big.c.size = sizeof(big.c) + 1;
	((unsigned char *)&big)[sizeof(big.c)] = 0x80;
	ASSERT_ERR(vmt_keeper_new(&big.c, &k), -E2BIG);
	ASSERT_TRUE(k == sentinel);
	/* ...while a set byte past the declared size is not the library's business. */
	big.c.size = sizeof(big.c);
	ASSERT_OK(vmt_keeper_new(&big.c, &k));
	vmt_keeper_free(k);
}

/* ---- NULL arguments and state errors ---- */

TEST(null_arguments)
{
	vmt_ns t = 99;

	ASSERT_ERR(vmt_keeper_start(NULL), -EINVAL);
	ASSERT_ERR(vmt_keeper_stop(NULL), -EINVAL);
	ASSERT_ERR(vmt_keeper_reset(NULL, 0), -EINVAL);
	ASSERT_ERR(vmt_keeper_running(NULL), -EINVAL);
	ASSERT_ERR(vmt_keeper_advance(NULL, 1), -EINVAL);
	ASSERT_ERR(vmt_keeper_wall_stepped(NULL), -EINVAL);
	ASSERT_ERR(vmt_keeper_inspect(NULL, stderr), -EINVAL);
	ASSERT_TRUE(vmt_keeper_source(NULL) == NULL);
	ASSERT_UEQ(vmt_now(NULL, VMT_CLOCK_VM), VMT_NS_NEVER);
	ASSERT_UEQ(vmt_now(NULL, VMT_CLOCK_HOST), VMT_NS_NEVER);
	ASSERT_ERR(vmt_source_now(NULL, VMT_CLOCK_VM, &t), -EINVAL);
	ASSERT_UEQ(t, 99);
	ASSERT_ERR(vmt_source_running(NULL), -EINVAL);
	ASSERT_ERR(vmt_source_reset_count(NULL), -EINVAL);
}

TEST(start_stop_errors)
{
	vmt_keeper *k = keeper_manual(0);

	ASSERT_ERR(vmt_keeper_stop(k), -EALREADY);
	ASSERT_OK(vmt_keeper_start(k));
	ASSERT_EQ(vmt_keeper_running(k), 1);
	ASSERT_EQ(vmt_source_running(vmt_keeper_source(k)), 1);
	ASSERT_ERR(vmt_keeper_start(k), -EALREADY);
	ASSERT_EQ(vmt_keeper_running(k), 1);
	ASSERT_ERR(vmt_keeper_reset(k, 5), -EBUSY);
	ASSERT_OK(vmt_keeper_stop(k));
	ASSERT_EQ(vmt_keeper_running(k), 0);
	ASSERT_ERR(vmt_keeper_stop(k), -EALREADY);
	ASSERT_EQ(vmt_keeper_running(k), 0);
	/* A refused reset changed nothing. */
	ASSERT_UEQ(vmt_now(vmt_keeper_source(k), VMT_CLOCK_VM), 0);
	ASSERT_EQ(vmt_source_reset_count(vmt_keeper_source(k)), 0);
	vmt_keeper_free(k);
}

TEST(reset_rules)
{
	vmt_keeper *k = keeper_manual(1000);
	vmt_source *src = vmt_keeper_source(k);

	ASSERT_ERR(vmt_keeper_reset(k, VMT_NS_NEVER), -EINVAL);
	ASSERT_EQ(vmt_source_reset_count(src), 0);
	ASSERT_OK(vmt_keeper_reset(k, 5000));
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), 5000);
	ASSERT_EQ(vmt_source_reset_count(src), 1);
	/* Backwards is allowed, and counted. */
	ASSERT_OK(vmt_keeper_reset(k, 10));
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), 10);
	ASSERT_EQ(vmt_source_reset_count(src), 2);
	/* So is resetting to the same value. */
	ASSERT_OK(vmt_keeper_reset(k, 10));
	ASSERT_EQ(vmt_source_reset_count(src), 3);
	ASSERT_OK(vmt_keeper_reset(k, VMT_NS_NEVER - 1));
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), VMT_NS_NEVER - 1);
	ASSERT_EQ(vmt_source_reset_count(src), 4);
	/* Start, advance, stop and refused calls leave the count alone. */
	ASSERT_OK(vmt_keeper_reset(k, 0));
	ASSERT_OK(vmt_keeper_start(k));
	ASSERT_OK(vmt_keeper_advance(k, 3));
	ASSERT_ERR(vmt_keeper_reset(k, 1), -EBUSY);
	ASSERT_OK(vmt_keeper_stop(k));
	ASSERT_EQ(vmt_source_reset_count(src), 5);
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), 3);
	vmt_keeper_free(k);
}

TEST(advance_rules)
{
	vmt_keeper *k = keeper_manual(100);
	vmt_source *src = vmt_keeper_source(k);

	ASSERT_ERR(vmt_keeper_advance(k, 1), -EPERM);
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), 100);
	ASSERT_OK(vmt_keeper_start(k));
	ASSERT_OK(vmt_keeper_advance(k, 0));
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), 100);
	ASSERT_OK(vmt_keeper_advance(k, 50));
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), 150);
	/* Manual VM time does not follow the host while running. */
	sleep_ms(2);
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), 150);
	/* Reaching NEVER is refused; one below is the largest time. */
	ASSERT_ERR(vmt_keeper_advance(k, VMT_NS_NEVER), -EOVERFLOW);
	ASSERT_ERR(vmt_keeper_advance(k, VMT_NS_NEVER - 150), -EOVERFLOW);
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), 150);
	ASSERT_OK(vmt_keeper_advance(k, VMT_NS_NEVER - 151));
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), VMT_NS_NEVER - 1);
	ASSERT_ERR(vmt_keeper_advance(k, 1), -EOVERFLOW);
	ASSERT_OK(vmt_keeper_advance(k, 0));
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), VMT_NS_NEVER - 1);
	ASSERT_OK(vmt_keeper_stop(k));
	ASSERT_ERR(vmt_keeper_advance(k, 1), -EPERM);
	ASSERT_ERR(vmt_keeper_advance(k, 0), -EPERM);
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), VMT_NS_NEVER - 1);
	vmt_keeper_free(k);
}

TEST(advance_on_real_keeper)
{
	struct fake f = { .host = 1000 };
	vmt_keeper *k = keeper_hooked(VMT_KEEPER_REAL, 0, &f);

	ASSERT_ERR(vmt_keeper_advance(k, 1), -EOPNOTSUPP);
	ASSERT_OK(vmt_keeper_start(k));
	ASSERT_ERR(vmt_keeper_advance(k, 1), -EOPNOTSUPP);
	ASSERT_UEQ(vmt_now(vmt_keeper_source(k), VMT_CLOCK_VM), 0);
	vmt_keeper_free(k);
}

TEST(now_bad_clock)
{
	vmt_keeper *k = keeper_manual(5);
	vmt_source *src = vmt_keeper_source(k);
	const enum vmt_clock bad[] = { VMT_CLOCK_COUNT, (enum vmt_clock)(VMT_CLOCK_COUNT + 1),
				       (enum vmt_clock)1000, (enum vmt_clock)-1 };
	vmt_ns t = 77;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_UEQ(vmt_now(src, bad[i]), VMT_NS_NEVER);
		ASSERT_ERR(vmt_source_now(src, bad[i], &t), -EINVAL);
		ASSERT_UEQ(t, 77);
	}
	ASSERT_ERR(vmt_source_now(src, VMT_CLOCK_VM, NULL), -EINVAL);
	for (int c = 0; c < VMT_CLOCK_COUNT; c++) {
		ASSERT_OK(vmt_source_now(src, (enum vmt_clock)c, &t));
		ASSERT_TRUE(t != VMT_NS_NEVER);
	}
	ASSERT_OK(vmt_source_now(src, VMT_CLOCK_VM, &t));
	ASSERT_UEQ(t, 5);
	vmt_keeper_free(k);
}

/* ---- the host-clock hook ---- */

TEST(hook_feeds_host_clocks)
{
	struct fake f = { .host = 111, .wall = 222, .boot = 333 };
	vmt_keeper *k = keeper_hooked(VMT_KEEPER_MANUAL, 0, &f);
	vmt_source *src = vmt_keeper_source(k);
	vmt_ns t;

	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_HOST), 111);
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_WALL), 222);
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_BOOT), 333);
	ASSERT_OK(vmt_source_now(src, VMT_CLOCK_WALL, &t));
	ASSERT_UEQ(t, 222);
	/* A wall step backwards is visible as such. */
	f.wall = 5;
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_WALL), 5);
	/* MANUAL: VM time ignores the host even while running. */
	ASSERT_OK(vmt_keeper_start(k));
	f.host += 1000000;
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), 0);
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_HOST), 1000111);
	ASSERT_GT(f.calls, 0);
	vmt_keeper_free(k);
}

TEST(hook_real_mode_follows_host)
{
	struct fake f = { .host = 5000 };
	vmt_keeper *k = keeper_hooked(VMT_KEEPER_REAL, 1000, &f);
	vmt_source *src = vmt_keeper_source(k);

	/* Stopped: VM time is frozen whatever the host does. */
	f.host = 6000;
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), 1000);
	f.host = 5000;
	ASSERT_OK(vmt_keeper_start(k));
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), 1000);
	f.host = 5100;
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), 1100);
	f.host = 5000 + 3 * VMT_NS_PER_SEC;
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), 1000 + 3 * VMT_NS_PER_SEC);
	vmt_keeper_free(k);
}

TEST(hook_real_mode_clamps_early_host_reading)
{
	struct fake f = { .host = 5000 };
	vmt_keeper *k = keeper_hooked(VMT_KEEPER_REAL, 1000, &f);
	vmt_source *src = vmt_keeper_source(k);
	vmt_source *a;

	a = mirror(k);
	ASSERT_OK(vmt_keeper_start(k));
	f.host = 5300;
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), 1300);
	/* A reading before the start stamp (another CPU, an early sample). */
	f.host = 4000;
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), 1000);
	ASSERT_UEQ(vmt_now(a, VMT_CLOCK_VM), 1000);
	f.host = 4999;
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), 1000);
	f.host = 0;
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), 1000);
	/* A stop sampled that early freezes at the start value, not below. */
	ASSERT_OK(vmt_keeper_stop(k));
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), 1000);
	ASSERT_UEQ(vmt_now(a, VMT_CLOCK_VM), 1000);
	vmt_source_free(a);
	vmt_keeper_free(k);
}

TEST(hook_real_mode_stop_freezes_and_restart_resumes)
{
	struct fake f = { .host = 10000 };
	vmt_keeper *k = keeper_hooked(VMT_KEEPER_REAL, 0, &f);
	vmt_source *src = vmt_keeper_source(k);
	vmt_source *a;

	a = mirror(k);
	ASSERT_OK(vmt_keeper_start(k));
	f.host = 10250;
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), 250);
	f.host = 10350;
	ASSERT_OK(vmt_keeper_stop(k));
	/* Frozen at the value computed from the host reading of the stop. */
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), 350);
	ASSERT_UEQ(vmt_now(a, VMT_CLOCK_VM), 350);
	f.host = 99999;
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), 350);
	ASSERT_UEQ(vmt_now(a, VMT_CLOCK_VM), 350);
	/* The paused host time does not count. */
	ASSERT_OK(vmt_keeper_start(k));
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), 350);
	f.host = 100099;
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), 450);
	ASSERT_UEQ(vmt_now(a, VMT_CLOCK_VM), 450);
	f.host = 100100;
	ASSERT_OK(vmt_keeper_stop(k));
	/* Reset while stopped, then run from the reset value. */
	ASSERT_OK(vmt_keeper_reset(k, 7));
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), 7);
	ASSERT_UEQ(vmt_now(a, VMT_CLOCK_VM), 7);
	ASSERT_EQ(vmt_source_reset_count(a), 1);
	f.host = 200000;
	ASSERT_OK(vmt_keeper_start(k));
	f.host = 200010;
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), 17);
	vmt_source_free(a);
	vmt_keeper_free(k);
}

TEST(hook_real_mode_stop_near_never)
{
	struct fake f = { .host = 0 };
	vmt_keeper *k = keeper_hooked(VMT_KEEPER_REAL, VMT_NS_NEVER - 10, &f);
	vmt_source *src = vmt_keeper_source(k);
	struct vmti_clock_state st;

	ASSERT_OK(vmt_keeper_start(k));
	f.host = 5;
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), VMT_NS_NEVER - 5);
	/* Running past the end saturates below "never"; it does not wrap to 0. */
	f.host = 1000;
	ASSERT_UGE(vmt_now(src, VMT_CLOCK_VM), VMT_NS_NEVER - 5);
	ASSERT_ULT(vmt_now(src, VMT_CLOCK_VM), VMT_NS_NEVER);
	/* The same for the loops' view of the clock. */
	vmti_source_state(src, &st);
	ASSERT_UGE(st.vm_now, VMT_NS_NEVER - 5);
	ASSERT_ULT(st.vm_now, VMT_NS_NEVER);
	/* A frozen clock never reads as "never" either. */
	ASSERT_OK(vmt_keeper_stop(k));
	ASSERT_ULT(vmt_now(src, VMT_CLOCK_VM), VMT_NS_NEVER);
	ASSERT_UGE(vmt_now(src, VMT_CLOCK_VM), VMT_NS_NEVER - 5);
	vmt_keeper_free(k);
}

/* ---- several sources of one keeper (OpenVMM's multi-source behaviour) ---- */

TEST(manual_sources_agree)
{
	vmt_keeper *k = keeper_manual(0);
	vmt_loop *l1 = NULL, *l2 = NULL;
	vmt_source *a, *b;
	const vmt_source *s[4];

	ASSERT_OK(vmt_loop_new(vmt_keeper_source(k), &l1));
	ASSERT_OK(vmt_loop_new(vmt_keeper_source(k), &l2));
	a = mirror(k);
	b = mirror(k);
	s[0] = vmt_loop_source(l1);
	s[1] = vmt_loop_source(l2);
	s[2] = a;
	s[3] = b;
	ASSERT_OK(vmt_keeper_start(k));
	for (int i = 1; i <= 100; i++) {
		ASSERT_OK(vmt_keeper_advance(k, (vmt_ns)i));
		for (int j = 0; j < 4; j++) {
			ASSERT_UEQ(vmt_now(s[j], VMT_CLOCK_VM), (vmt_ns)i * (i + 1) / 2);
			ASSERT_EQ(vmt_source_running(s[j]), 1);
		}
	}
	ASSERT_OK(vmt_keeper_stop(k));
	for (int j = 0; j < 4; j++) {
		ASSERT_UEQ(vmt_now(s[j], VMT_CLOCK_VM), 5050);
		ASSERT_EQ(vmt_source_running(s[j]), 0);
	}
	ASSERT_OK(vmt_keeper_reset(k, 3));
	for (int j = 0; j < 4; j++) {
		ASSERT_UEQ(vmt_now(s[j], VMT_CLOCK_VM), 3);
		ASSERT_EQ(vmt_source_reset_count(s[j]), 1);
	}
	vmt_source_free(a);
	vmt_source_free(b);
	vmt_loop_free(l1);
	vmt_loop_free(l2);
	vmt_keeper_free(k);
}

TEST(real_sources_interleaved_stop_reset)
{
	vmt_keeper *k = NULL;
	vmt_loop *l1 = NULL, *l2 = NULL;
	vmt_source *a;
	const vmt_source *s[4];
	vmt_ns prev = 0, before_stop, frozen;

	ASSERT_OK(vmt_keeper_new(NULL, &k));
	ASSERT_OK(vmt_loop_new(vmt_keeper_source(k), &l1));
	ASSERT_OK(vmt_loop_new(vmt_keeper_source(k), &l2));
	a = mirror(k);
	s[0] = vmt_keeper_source(k);
	s[1] = vmt_loop_source(l1);
	s[2] = vmt_loop_source(l2);
	s[3] = a;
	ASSERT_OK(vmt_keeper_start(k));
	/* Reads interleaved across the sources never decrease. */
	for (int i = 0; i < 20000; i++) {
		vmt_ns t = vmt_now(s[i % 4], VMT_CLOCK_VM);

		if (t < prev)
			VMT_FAIL("read %d through source %d went back: %llu after %llu", i, i % 4,
				 (unsigned long long)t, (unsigned long long)prev);
		prev = t;
	}
	sleep_ms(2);
	before_stop = vmt_now(s[1], VMT_CLOCK_VM);
	ASSERT_UGE(before_stop, prev);
	ASSERT_OK(vmt_keeper_stop(k));
	/* After stop every source reads the same non-zero time, not below any read. */
	frozen = vmt_now(s[0], VMT_CLOCK_VM);
	ASSERT_UGT(frozen, 0);
	ASSERT_UGE(frozen, 2 * VMT_NS_PER_MS);
	ASSERT_UGE(frozen, before_stop);
	sleep_ms(1);
	for (int j = 0; j < 4; j++)
		ASSERT_UEQ(vmt_now(s[j], VMT_CLOCK_VM), frozen);
	/* After reset every source reads the reset value. */
	ASSERT_OK(vmt_keeper_reset(k, 0));
	for (int j = 0; j < 4; j++) {
		ASSERT_UEQ(vmt_now(s[j], VMT_CLOCK_VM), 0);
		ASSERT_EQ(vmt_source_reset_count(s[j]), 1);
	}
	/* Runs again from the reset value. */
	ASSERT_OK(vmt_keeper_start(k));
	sleep_ms(1);
	ASSERT_UGE(vmt_now(s[3], VMT_CLOCK_VM), VMT_NS_PER_MS);
	vmt_source_free(a);
	vmt_loop_free(l1);
	vmt_loop_free(l2);
	vmt_keeper_free(k);
}

TEST(real_vm_time_runs_at_host_rate)
{
	vmt_keeper *k = NULL;
	vmt_source *src;
	vmt_ns h0, h1, v0, v1;

	ASSERT_OK(vmt_keeper_new(NULL, &k));
	src = vmt_keeper_source(k);
	ASSERT_OK(vmt_keeper_start(k));
	v0 = vmt_now(src, VMT_CLOCK_VM);
	h0 = vmt_now(src, VMT_CLOCK_HOST);
	sleep_ms(20);
	h1 = vmt_now(src, VMT_CLOCK_HOST);
	v1 = vmt_now(src, VMT_CLOCK_VM);
	/* VM elapsed covers the sleep and no more than the host saw around it. */
	ASSERT_UGE(v1 - v0, 20 * VMT_NS_PER_MS);
	ASSERT_UGE(h1 - h0, 20 * VMT_NS_PER_MS);
	ASSERT_ULE(v1 - v0, (h1 - h0) + (h1 - h0) / 100 + 100 * VMT_NS_PER_US);
	/* While stopped, host time passes and VM time does not. */
	ASSERT_OK(vmt_keeper_stop(k));
	v0 = vmt_now(src, VMT_CLOCK_VM);
	sleep_ms(5);
	ASSERT_UEQ(vmt_now(src, VMT_CLOCK_VM), v0);
	vmt_keeper_free(k);
}

TEST(free_running_keeper)
{
	vmt_keeper *k = keeper_manual(0);

	ASSERT_OK(vmt_keeper_start(k));
	ASSERT_TRUE(vmt_keeper_free(k) == NULL);
	ASSERT_OK(vmt_keeper_new(NULL, &k));
	ASSERT_OK(vmt_keeper_start(k));
	ASSERT_TRUE(vmt_keeper_free(k) == NULL);
}

TEST(keepers_are_independent)
{
	vmt_keeper *k1 = keeper_manual(10), *k2 = keeper_manual(20);

	ASSERT_OK(vmt_keeper_start(k1));
	ASSERT_EQ(vmt_keeper_running(k2), 0);
	ASSERT_OK(vmt_keeper_advance(k1, 5));
	ASSERT_ERR(vmt_keeper_advance(k2, 5), -EPERM);
	ASSERT_OK(vmt_keeper_reset(k2, 1));
	ASSERT_UEQ(vmt_now(vmt_keeper_source(k1), VMT_CLOCK_VM), 15);
	ASSERT_UEQ(vmt_now(vmt_keeper_source(k2), VMT_CLOCK_VM), 1);
	ASSERT_EQ(vmt_source_reset_count(vmt_keeper_source(k1)), 0);
	ASSERT_EQ(vmt_source_reset_count(vmt_keeper_source(k2)), 1);
	vmt_keeper_free(k1);
	vmt_keeper_free(k2);
}

/* ---- inspect ---- */

/* The raw text of "key": value in a flat JSON object, or NULL. */
static const char *json_value(const char *json, const char *key, char *buf, size_t len)
{
	char pat[64];
	const char *p, *e;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	if (!p)
		return NULL;
	p += strlen(pat);
	while (*p == ' ')
		p++;
	if (*p == '"') {
		e = strchr(p + 1, '"');
		if (!e)
			return NULL;
		p++;
	} else {
		e = p + strcspn(p, ",}");
	}
	if ((size_t)(e - p) >= len)
		return NULL;
	memcpy(buf, p, (size_t)(e - p));
	buf[e - p] = '\0';
	return buf;
}

static char *inspect_string(const vmt_keeper *k)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		VMT_FAIL("open_memstream");
	if (vmt_keeper_inspect(k, f) < 0)
		VMT_FAIL("vmt_keeper_inspect failed");
	fclose(f);
	return buf;
}

TEST(inspect_fields)
{
	static const char *const fields[] = { "mode", "running", "vm_ns", "host_ns", "wall_ns",
					      "boot_ns", "reset_count", "generation",
					      "restore_policy", "tsc" };
	struct fake f = { .host = 4242, .wall = 1700000000 * VMT_NS_PER_SEC, .boot = 9999 };
	vmt_keeper *k = keeper_hooked(VMT_KEEPER_MANUAL, 0, &f);
	char *json, v[64];
	unsigned long long gen1, gen2;

	ASSERT_OK(vmt_keeper_start(k));
	ASSERT_OK(vmt_keeper_advance(k, 31337));
	ASSERT_OK(vmt_keeper_stop(k));
	ASSERT_OK(vmt_keeper_reset(k, 31338));
	json = inspect_string(k);
	/* One object on one line. */
	ASSERT_TRUE(json[0] == '{');
	ASSERT_TRUE(strchr(json, '}') != NULL);
	ASSERT_TRUE(strchr(json, '}')[1] == '\n' || strchr(json, '}')[1] == '\0');
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (!json_value(json, fields[i], v, sizeof(v)))
			VMT_FAIL("field %s missing in %s", fields[i], json);
	ASSERT_STREQ(json_value(json, "mode", v, sizeof(v)), "manual");
	ASSERT_STREQ(json_value(json, "running", v, sizeof(v)), "false");
	ASSERT_STREQ(json_value(json, "vm_ns", v, sizeof(v)), "31338");
	ASSERT_STREQ(json_value(json, "host_ns", v, sizeof(v)), "4242");
	ASSERT_STREQ(json_value(json, "wall_ns", v, sizeof(v)), "1700000000000000000");
	ASSERT_STREQ(json_value(json, "boot_ns", v, sizeof(v)), "9999");
	ASSERT_STREQ(json_value(json, "reset_count", v, sizeof(v)), "1");
	ASSERT_STREQ(json_value(json, "restore_policy", v, sizeof(v)), "freeze");
	gen1 = strtoull(json_value(json, "generation", v, sizeof(v)), NULL, 10);
	free(json);

	/*
	 * A start is a state change of the page; an injected wall-clock step
	 * wakes the loops (test-timerfd) but is not in the page.
	 */
	ASSERT_OK(vmt_keeper_start(k));
	ASSERT_OK(vmt_keeper_wall_stepped(k));
	json = inspect_string(k);
	ASSERT_STREQ(json_value(json, "running", v, sizeof(v)), "true");
	gen2 = strtoull(json_value(json, "generation", v, sizeof(v)), NULL, 10);
	ASSERT_EQ(gen2, gen1 + 1);
	free(json);
	vmt_keeper_free(k);
}

TEST(inspect_real_and_catchup)
{
	struct vmt_keeper_config cfg = VMT_KEEPER_CONFIG_INIT;
	vmt_keeper *k = NULL;
	char *json, v[64];

	cfg.restore_policy = VMT_RESTORE_CATCHUP;
	ASSERT_OK(vmt_keeper_new(&cfg, &k));
	json = inspect_string(k);
	ASSERT_STREQ(json_value(json, "mode", v, sizeof(v)), "real");
	ASSERT_STREQ(json_value(json, "restore_policy", v, sizeof(v)), "catchup");
	ASSERT_STREQ(json_value(json, "vm_ns", v, sizeof(v)), "0");
	free(json);
	vmt_keeper_free(k);
}

TEST(inspect_errors)
{
	vmt_keeper *k = keeper_manual(0);
	FILE *full;

	ASSERT_ERR(vmt_keeper_inspect(k, NULL), -EINVAL);
	ASSERT_ERR(vmt_keeper_inspect(NULL, NULL), -EINVAL);
	full = fopen("/dev/full", "w");
	if (full) {
		ASSERT_ERR(vmt_keeper_inspect(k, full), -EIO);
		fclose(full);
	}
	vmt_keeper_free(k);
	if (!full)
		SKIP("no /dev/full for the -EIO case");
}

/* ---- resource errors ---- */

TEST(new_out_of_file_descriptors)
{
	struct rlimit old;
	vmt_keeper *sentinel = (vmt_keeper *)&old, *k = sentinel;
	int fd, r;

	/* No descriptor left: memfd_create() must fail. */
	fd = test_fd_limit(0, &old);
	r = vmt_keeper_new(NULL, &k);
	test_fd_limit_restore(&old);
	ASSERT_ERR(r, -EMFILE);
	ASSERT_TRUE(k == sentinel);
	/* Nothing leaked: the next keeper gets the same descriptor. */
	ASSERT_OK(vmt_keeper_new(NULL, &k));
	ASSERT_EQ(k->memfd, fd);
	vmt_keeper_free(k);
}
