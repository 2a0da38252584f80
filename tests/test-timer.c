/* SPDX-License-Identifier: MIT */
/* test-timer.c - timer rules on a manual VM clock and on injected host clocks. */
#include <vmtime/vmtime.h>

#include "tests.h"

struct rec {
	int calls;
	uint64_t exp_total;
	vmt_ns at[512];
	uint64_t exp[512];
	vmt_source *src;
	enum vmt_clock clock;
};

static void record(vmt_timer *t, uint64_t expirations, void *ud)
{
	struct rec *r = ud;

	if (r->calls < 512) {
		r->at[r->calls] = vmt_now(r->src, r->clock);
		r->exp[r->calls] = expirations;
	}
	r->calls++;
	r->exp_total += expirations;
	(void)t;
}

struct env {
	vmt_keeper *k;
	vmt_source *src;
	vmt_loop *loop;
};

static void env_manual(struct env *e, vmt_ns t0)
{
	struct vmt_keeper_config cfg = VMT_KEEPER_CONFIG_INIT;

	cfg.mode = VMT_KEEPER_MANUAL;
	cfg.initial_vm_time = t0;
	ASSERT_OK(vmt_keeper_new(&cfg, &e->k));
	e->src = vmt_keeper_source(e->k);
	ASSERT_OK(vmt_loop_new(e->src, &e->loop));
}

static void env_free(struct env *e)
{
	e->loop = vmt_loop_free(e->loop);
	e->k = vmt_keeper_free(e->k);
}

static vmt_timer *mk(struct env *e, enum vmt_clock c, struct rec *r)
{
	vmt_timer *t;

	memset(r, 0, sizeof(*r));
	r->src = e->src;
	r->clock = c;
	ASSERT_OK(vmt_timer_new(e->loop, c, record, r, &t));
	return t;
}

/* OpenVMM's first test: long timeout does not fire, short fires and is cleared. */
TEST(openvmm_timeouts)
{
	struct env e;
	struct rec rl, rs;

	env_manual(&e, 0);
	vmt_timer *tl = mk(&e, VMT_CLOCK_VM, &rl), *ts = mk(&e, VMT_CLOCK_VM, &rs);

	ASSERT_OK(vmt_keeper_start(e.k));
	ASSERT_OK(vmt_timer_arm(tl, 1000 * VMT_NS_PER_SEC));
	ASSERT_OK(vmt_timer_arm(ts, 10 * VMT_NS_PER_MS));
	ASSERT_EQ(vmt_loop_run_until(e.loop, 20 * VMT_NS_PER_MS), 1);
	ASSERT_EQ(rs.calls, 1);
	ASSERT_UEQ(rs.at[0], 10 * VMT_NS_PER_MS);
	ASSERT_EQ(vmt_timer_pending(ts), 0);
	ASSERT_UEQ(vmt_timer_deadline(ts), VMT_NS_NEVER);
	ASSERT_EQ(rl.calls, 0);
	ASSERT_EQ(vmt_timer_pending(tl), 1);
	/* A changed timeout fires at the new time, not the old one. */
	ASSERT_OK(vmt_timer_arm(ts, 50 * VMT_NS_PER_MS));
	ASSERT_OK(vmt_timer_arm(ts, 30 * VMT_NS_PER_MS));
	ASSERT_EQ(vmt_loop_run_until(e.loop, 100 * VMT_NS_PER_MS), 1);
	ASSERT_UEQ(rs.at[1], 30 * VMT_NS_PER_MS);
	ASSERT_EQ(rl.calls, 0);
	env_free(&e);
}

static int fifo_order[16], fifo_n;

static void fifo_cb(vmt_timer *t, uint64_t exp, void *ud)
{
	(void)t;
	(void)exp;
	fifo_order[fifo_n++] = (int)(intptr_t)ud;
}

TEST(fifo_equal_deadlines)
{
	struct env e;
	vmt_timer *t[5];
	int arm_order[5] = { 3, 1, 4, 0, 2 };

	env_manual(&e, 0);
	ASSERT_OK(vmt_keeper_start(e.k));
	fifo_n = 0;
	for (int i = 0; i < 5; i++)
		ASSERT_OK(vmt_timer_new(e.loop, VMT_CLOCK_VM, fifo_cb, (void *)(intptr_t)i, &t[i]));
	/* Equal deadlines fire in arming order; an earlier deadline first. */
	for (int i = 0; i < 5; i++)
		ASSERT_OK(vmt_timer_arm(t[arm_order[i]], 5000));
	ASSERT_OK(vmt_keeper_advance(e.k, 10000));
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 5);
	for (int i = 0; i < 5; i++)
		ASSERT_EQ(fifo_order[i], arm_order[i]);
	env_free(&e);
}
