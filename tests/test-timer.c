/* SPDX-License-Identifier: MIT */
/* test-timer.c - timer rules on a manual VM clock and on injected host clocks. */
#include <stdbool.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <vmtime/vmtime.h>

#include "loop-internal.h"
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

TEST(periodic_coalesce_counts_missed_ticks)
{
	struct env e;
	struct rec r;

	env_manual(&e, 0);
	vmt_timer *t = mk(&e, VMT_CLOCK_VM, &r);

	ASSERT_OK(vmt_keeper_start(e.k));
	ASSERT_OK(vmt_timer_arm_periodic(t, 10 * VMT_NS_PER_MS, 10 * VMT_NS_PER_MS,
					 VMT_MISSED_COALESCE));
	ASSERT_OK(vmt_keeper_advance(e.k, 35 * VMT_NS_PER_MS));
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	ASSERT_EQ(r.calls, 1);
	ASSERT_EQ(r.exp[0], 3);
	/* The grid is kept: next expiry at 40 ms. */
	ASSERT_UEQ(vmt_timer_deadline(t), 40 * VMT_NS_PER_MS);
	ASSERT_UEQ(vmt_timer_period(t), 10 * VMT_NS_PER_MS);
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 0);
	/* run_until fires each tick exactly on the grid. */
	ASSERT_EQ(vmt_loop_run_until(e.loop, 70 * VMT_NS_PER_MS), 4);
	for (int i = 1; i <= 4; i++) {
		ASSERT_UEQ(r.at[i], (vmt_ns)(30 + 10 * i) * VMT_NS_PER_MS);
		ASSERT_EQ(r.exp[i], 1);
	}
	ASSERT_EQ(r.exp_total, 7);
	env_free(&e);
}

TEST(periodic_catchup_delivers_every_tick_in_batches)
{
	struct env e;
	struct rec r;

	env_manual(&e, 0);
	vmt_timer *t = mk(&e, VMT_CLOCK_VM, &r);

	ASSERT_OK(vmt_keeper_start(e.k));
	ASSERT_OK(vmt_timer_arm_periodic(t, 1000, 1000, VMT_MISSED_CATCHUP));
	ASSERT_OK(vmt_keeper_advance(e.k, 3500));
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 3);
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(r.exp[i], 1);
	ASSERT_UEQ(vmt_timer_deadline(t), 4000);
	/* 100 missed ticks: at most VMT_CATCHUP_BATCH per dispatch, none lost. */
	ASSERT_OK(vmt_keeper_advance(e.k, 100000));
	ASSERT_EQ(vmt_loop_dispatch(e.loop), VMT_CATCHUP_BATCH);
	ASSERT_EQ(vmt_loop_timeout_ns(e.loop), 0);
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 100 - VMT_CATCHUP_BATCH);
	ASSERT_EQ(r.calls, 103);
	ASSERT_EQ(r.exp_total, 103);
	ASSERT_UEQ(vmt_timer_deadline(t), 104000);
	env_free(&e);
}

TEST(periodic_delay_shifts_the_grid)
{
	struct env e;
	struct rec r;

	env_manual(&e, 0);
	vmt_timer *t = mk(&e, VMT_CLOCK_VM, &r);

	ASSERT_OK(vmt_keeper_start(e.k));
	ASSERT_OK(vmt_timer_arm_periodic(t, 1000, 1000, VMT_MISSED_DELAY));
	ASSERT_OK(vmt_keeper_advance(e.k, 3500));
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	ASSERT_EQ(r.exp[0], 1);
	ASSERT_UEQ(vmt_timer_deadline(t), 4500);
	ASSERT_EQ(vmt_loop_run_until(e.loop, 6000), 2);
	ASSERT_UEQ(r.at[1], 4500);
	ASSERT_UEQ(r.at[2], 5500);
	env_free(&e);
}

TEST(periodic_in_counts_from_now_and_reports_its_policy)
{
	struct env e;
	struct rec r;

	env_manual(&e, 5000);
	vmt_timer *t = mk(&e, VMT_CLOCK_VM, &r);

	ASSERT_EQ(vmt_timer_policy(t), VMT_MISSED_COALESCE);
	ASSERT_OK(vmt_keeper_start(e.k));
	ASSERT_OK(vmt_timer_arm_periodic_in(t, 300, 1000, VMT_MISSED_CATCHUP));
	ASSERT_UEQ(vmt_timer_deadline(t), 5300);
	ASSERT_UEQ(vmt_timer_period(t), 1000);
	ASSERT_EQ(vmt_timer_policy(t), VMT_MISSED_CATCHUP);
	ASSERT_EQ(vmt_loop_run_until(e.loop, 7300), 3);
	ASSERT_UEQ(r.at[0], 5300);
	ASSERT_UEQ(r.at[2], 7300);
	ASSERT_OK(vmt_timer_arm_periodic_in(t, 0, 500, VMT_MISSED_DELAY));
	ASSERT_UEQ(vmt_timer_deadline(t), 7300);
	ASSERT_EQ(vmt_timer_policy(t), VMT_MISSED_DELAY);
	/* One-shot and disarmed timers have no policy of their own. */
	ASSERT_OK(vmt_timer_arm_in(t, 10));
	ASSERT_EQ(vmt_timer_policy(t), VMT_MISSED_COALESCE);
	ASSERT_OK(vmt_timer_arm_periodic_in(t, 10, 10, VMT_MISSED_DELAY));
	ASSERT_EQ(vmt_timer_cancel(t), 1);
	ASSERT_EQ(vmt_timer_policy(t), VMT_MISSED_COALESCE);
	ASSERT_UEQ(vmt_timer_period(t), 0);

	ASSERT_ERR(vmt_timer_policy(NULL), -EINVAL);
	ASSERT_ERR(vmt_timer_arm_periodic_in(NULL, 1, 1, VMT_MISSED_COALESCE), -EINVAL);
	ASSERT_ERR(vmt_timer_arm_periodic_in(t, 1, 0, VMT_MISSED_COALESCE), -EINVAL);
	ASSERT_ERR(vmt_timer_arm_periodic_in(t, 1, 1, (enum vmt_missed)3), -EINVAL);
	ASSERT_ERR(vmt_timer_arm_periodic_in(t, VMT_NS_NEVER - 7300, 1, VMT_MISSED_COALESCE),
		   -EOVERFLOW);
	ASSERT_ERR(vmt_timer_arm_periodic_in(t, VMT_NS_NEVER, 1, VMT_MISSED_COALESCE), -EOVERFLOW);
	ASSERT_EQ(vmt_timer_pending(t), 0);
	ASSERT_OK(vmt_timer_arm_periodic_in(t, VMT_NS_NEVER - 7301, 1, VMT_MISSED_COALESCE));
	ASSERT_UEQ(vmt_timer_deadline(t), VMT_NS_NEVER - 1);
	env_free(&e);
}

static vmt_ns rearm_now_at;

static void rearm_now_cb(vmt_timer *t, uint64_t exp, void *ud)
{
	struct rec *r = ud;

	record(t, exp, ud);
	if (r->calls < 3)
		vmt_timer_arm(t, rearm_now_at); /* already due: next pass, no livelock */
}

TEST(rearm_to_now_runs_in_next_pass)
{
	struct env e;
	struct rec r = { 0 };
	vmt_timer *t;

	env_manual(&e, 0);
	r.src = e.src;
	ASSERT_OK(vmt_timer_new(e.loop, VMT_CLOCK_VM, rearm_now_cb, &r, &t));
	ASSERT_OK(vmt_keeper_start(e.k));
	rearm_now_at = 500;
	ASSERT_OK(vmt_timer_arm(t, 500));
	ASSERT_OK(vmt_keeper_advance(e.k, 1000));
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	ASSERT_EQ(vmt_timer_pending(t), 1);
	ASSERT_EQ(vmt_loop_timeout_ns(e.loop), 0);
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 0);
	ASSERT_EQ(r.calls, 3);
	env_free(&e);
}

static void free_self_cb(vmt_timer *t, uint64_t exp, void *ud)
{
	int *calls = ud;

	(void)exp;
	(*calls)++;
	ASSERT_TRUE(vmt_timer_free(t) == NULL);
}

TEST(free_from_own_callback)
{
	struct env e;
	int calls = 0;
	vmt_timer *t, *p;

	env_manual(&e, 0);
	ASSERT_OK(vmt_keeper_start(e.k));
	ASSERT_OK(vmt_timer_new(e.loop, VMT_CLOCK_VM, free_self_cb, &calls, &t));
	ASSERT_OK(vmt_timer_new(e.loop, VMT_CLOCK_VM, free_self_cb, &calls, &p));
	ASSERT_OK(vmt_timer_arm(t, 10));
	ASSERT_OK(vmt_timer_arm_periodic(p, 10, 10, VMT_MISSED_CATCHUP));
	ASSERT_OK(vmt_keeper_advance(e.k, 100));
	/* The periodic one frees itself on its first tick: no further catch-up. */
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 2);
	ASSERT_EQ(calls, 2);
	ASSERT_OK(vmt_keeper_advance(e.k, 100));
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 0);
	env_free(&e);
}

struct victim {
	vmt_timer *other;
	/*
	 * 0 cancel, 1 free, 2 re-arm later; then, issue 9 defect 1 (the freed
	 * timer is still in the dispatch's run list: ASan saw run_one() read
	 * it): 3 cancel, 4 re-arm later, 5 re-arm to a passed time, each then
	 * free.
	 */
	int mode;
	int calls;
};

static void kill_other_cb(vmt_timer *t, uint64_t exp, void *ud)
{
	struct victim *v = ud;

	(void)t;
	(void)exp;
	v->calls++;
	if (!v->other)
		return;
	if (v->mode == 0 || v->mode == 3)
		ASSERT_EQ(vmt_timer_cancel(v->other), 1);
	else if (v->mode == 2 || v->mode == 4)
		ASSERT_OK(vmt_timer_arm(v->other, 1000000));
	else if (v->mode == 5)
		ASSERT_OK(vmt_timer_arm(v->other, 0));
	if (v->mode == 1 || v->mode >= 3)
		v->other = vmt_timer_free(v->other);
}

TEST(callback_cancels_frees_or_rearms_a_due_timer)
{
	for (int mode = 0; mode < 6; mode++) {
		struct env e;
		struct victim first = { 0 }, second = { 0 };
		vmt_timer *a, *b;

		env_manual(&e, 0);
		ASSERT_OK(vmt_keeper_start(e.k));
		ASSERT_OK(vmt_timer_new(e.loop, VMT_CLOCK_VM, kill_other_cb, &first, &a));
		ASSERT_OK(vmt_timer_new(e.loop, VMT_CLOCK_VM, kill_other_cb, &second, &b));
		first.other = b;
		first.mode = mode;
		ASSERT_OK(vmt_timer_arm(a, 10));
		ASSERT_OK(vmt_timer_arm(b, 20));
		ASSERT_OK(vmt_keeper_advance(e.k, 100));
		/* Both were due and collected; the first one's callback stops the second. */
		ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
		ASSERT_EQ(second.calls, 0);
		if (mode == 2) {
			ASSERT_UEQ(vmt_timer_deadline(b), 1000000);
			ASSERT_EQ(vmt_loop_run_until(e.loop, 1000000), 1);
			ASSERT_EQ(second.calls, 1);
		} else if (mode >= 3) {
			ASSERT_OK(vmt_keeper_advance(e.k, 2000000));
			ASSERT_EQ(vmt_loop_dispatch(e.loop), 0);
			ASSERT_EQ(second.calls, 0);
		}
		env_free(&e);
	}
}

TEST(vm_timers_do_not_fire_while_stopped)
{
	struct env e;
	struct rec r;

	env_manual(&e, 0);
	vmt_timer *t = mk(&e, VMT_CLOCK_VM, &r);

	ASSERT_OK(vmt_timer_arm(t, 1000));
	ASSERT_EQ(vmt_loop_timeout_ns(e.loop), -1);
	ASSERT_ERR(vmt_keeper_advance(e.k, 5000), -EPERM);
	ASSERT_ERR(vmt_loop_run_until(e.loop, 5000), -EPERM);
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 0);
	ASSERT_OK(vmt_keeper_start(e.k));
	ASSERT_OK(vmt_keeper_advance(e.k, 2000));
	ASSERT_OK(vmt_keeper_stop(e.k));
	/* Due, but the VM stopped before the loop ran: it waits for the start. */
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 0);
	ASSERT_EQ(vmt_timer_pending(t), 1);
	ASSERT_OK(vmt_keeper_start(e.k));
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	ASSERT_UEQ(r.at[0], 2000);
	env_free(&e);
}

TEST(reset_re_evaluates_vm_timers)
{
	struct env e;
	struct rec r;

	env_manual(&e, 1000 * VMT_NS_PER_SEC);
	vmt_timer *t = mk(&e, VMT_CLOCK_VM, &r);

	ASSERT_OK(vmt_keeper_start(e.k));
	ASSERT_OK(vmt_loop_run_until(e.loop, 1001 * VMT_NS_PER_SEC));
	ASSERT_OK(vmt_keeper_stop(e.k));
	/* Machine reset: VM time goes back to 0; a timer at 5 ms must wait 5 ms. */
	ASSERT_OK(vmt_keeper_reset(e.k, 0));
	ASSERT_OK(vmt_timer_arm(t, 5 * VMT_NS_PER_MS));
	ASSERT_OK(vmt_keeper_start(e.k));
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 0);
	ASSERT_EQ(vmt_loop_run_until(e.loop, 4 * VMT_NS_PER_MS), 0);
	ASSERT_EQ(vmt_loop_run_until(e.loop, 6 * VMT_NS_PER_MS), 1);
	ASSERT_UEQ(r.at[0], 5 * VMT_NS_PER_MS);
	/* Forward reset: a pending timer that is now in the past fires at once. */
	ASSERT_OK(vmt_timer_arm(t, 10 * VMT_NS_PER_SEC));
	ASSERT_OK(vmt_keeper_stop(e.k));
	ASSERT_OK(vmt_keeper_reset(e.k, 20 * VMT_NS_PER_SEC));
	ASSERT_OK(vmt_keeper_start(e.k));
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	env_free(&e);
}

/* Fake host clocks for HOST/WALL/BOOT timers. */
static vmt_ns fake[VMT_CLOCK_COUNT];

static vmt_ns fake_clock(void *opaque, enum vmt_clock c)
{
	(void)opaque;
	return fake[c];
}

static void env_hooked(struct env *e)
{
	struct vmt_keeper_config cfg = VMT_KEEPER_CONFIG_INIT;

	fake[VMT_CLOCK_HOST] = 100 * VMT_NS_PER_SEC;
	fake[VMT_CLOCK_BOOT] = 200 * VMT_NS_PER_SEC;
	fake[VMT_CLOCK_WALL] = 1700000000 * VMT_NS_PER_SEC;
	cfg.host_clock = fake_clock;
	ASSERT_OK(vmt_keeper_new(&cfg, &e->k));
	e->src = vmt_keeper_source(e->k);
	ASSERT_OK(vmt_loop_new(e->src, &e->loop));
}

TEST(host_boot_wall_timers_on_injected_clocks)
{
	struct env e;
	struct rec rh, rb, rw;

	env_hooked(&e);
	vmt_timer *th = mk(&e, VMT_CLOCK_HOST, &rh), *tb = mk(&e, VMT_CLOCK_BOOT, &rb),
		  *tw = mk(&e, VMT_CLOCK_WALL, &rw);

	ASSERT_EQ(vmt_loop_timeout_ns(e.loop), -1);
	ASSERT_OK(vmt_timer_arm_in(th, 3000));
	ASSERT_OK(vmt_timer_arm_in(tb, 2000));
	ASSERT_OK(vmt_timer_arm_in(tw, 1000));
	ASSERT_EQ(vmt_loop_timeout_ns(e.loop), 1000);
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 0);
	for (int c = 1; c < VMT_CLOCK_COUNT; c++)
		fake[c] += 1500;
	ASSERT_EQ(vmt_loop_timeout_ns(e.loop), 0);
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	ASSERT_EQ(rw.calls, 1);
	ASSERT_EQ(vmt_loop_timeout_ns(e.loop), 500);
	for (int c = 1; c < VMT_CLOCK_COUNT; c++)
		fake[c] += 1500;
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 2);
	ASSERT_EQ(rh.calls + rb.calls, 2);
	ASSERT_UEQ(rh.at[0], 100 * VMT_NS_PER_SEC + 3000);
	ASSERT_EQ(vmt_loop_timeout_ns(e.loop), -1);
	/* A running REAL VM clock follows the hooked host clock. */
	struct rec rv;
	vmt_timer *tv = mk(&e, VMT_CLOCK_VM, &rv);

	ASSERT_OK(vmt_keeper_start(e.k));
	ASSERT_OK(vmt_timer_arm(tv, 700));
	ASSERT_EQ(vmt_loop_timeout_ns(e.loop), 700);
	fake[VMT_CLOCK_HOST] += 700;
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	ASSERT_UEQ(rv.at[0], 700);
	env_free(&e);
}

TEST(wall_step_re_evaluates_wall_timers)
{
	struct env e;
	struct rec r, rw;

	env_hooked(&e);
	vmt_timer *t = mk(&e, VMT_CLOCK_WALL, &r);
	/* A disarmed watcher: told of every step, never of an expiry. */
	vmt_timer *w = mk(&e, VMT_CLOCK_WALL, &rw);
	vmt_ns w0 = fake[VMT_CLOCK_WALL];

	ASSERT_OK(vmt_timer_watch_wall_steps(w, 1));
	ASSERT_OK(vmt_timer_watch_wall_steps(w, 1)); /* twice is once */
	ASSERT_OK(vmt_timer_arm(t, w0 + VMT_NS_PER_SEC));
	fake[VMT_CLOCK_WALL] = w0 + VMT_NS_PER_SEC / 2;
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 0);
	/* The wall clock is set back one hour, then a timer is armed in between. */
	fake[VMT_CLOCK_WALL] = w0 - 3600 * VMT_NS_PER_SEC;
	ASSERT_OK(vmt_keeper_wall_stepped(e.k));
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	ASSERT_EQ(rw.calls, 1);
	ASSERT_UEQ(rw.exp[0], 0);
	ASSERT_EQ(r.calls, 0);
	ASSERT_OK(vmt_timer_arm(t, w0 - 1800 * VMT_NS_PER_SEC));
	fake[VMT_CLOCK_WALL] += 1799 * VMT_NS_PER_SEC;
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 0);
	fake[VMT_CLOCK_WALL] += VMT_NS_PER_SEC;
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	ASSERT_UEQ(r.exp[0], 1);
	/* A step forward past a deadline fires it at once, after the notice. */
	ASSERT_OK(vmt_timer_arm(t, w0 + 10 * VMT_NS_PER_SEC));
	fake[VMT_CLOCK_WALL] = w0 + 20 * VMT_NS_PER_SEC;
	ASSERT_OK(vmt_keeper_wall_stepped(e.k));
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 2);
	ASSERT_EQ(rw.calls, 2);
	ASSERT_EQ(r.calls, 2);
	ASSERT_OK(vmt_timer_watch_wall_steps(w, 0));
	ASSERT_OK(vmt_keeper_wall_stepped(e.k));
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 0);
	ASSERT_EQ(rw.calls, 2);
	vmt_timer_free(w);
	vmt_timer_free(t);
	env_free(&e);
}

TEST(watch_wall_steps_rejects_other_clocks)
{
	struct env e;
	struct rec r;

	env_hooked(&e);
	ASSERT_ERR(vmt_timer_watch_wall_steps(NULL, 1), -EINVAL);
	for (unsigned c = 0; c < VMT_CLOCK_COUNT; c++) {
		vmt_timer *t = mk(&e, (enum vmt_clock)c, &r);

		if (c == VMT_CLOCK_WALL)
			ASSERT_OK(vmt_timer_watch_wall_steps(t, 1));
		else
			ASSERT_ERR(vmt_timer_watch_wall_steps(t, 1), -EINVAL);
		vmt_timer_free(t);
	}
	/* The freed watcher left the list: a step calls nobody. */
	ASSERT_OK(vmt_keeper_wall_stepped(e.k));
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 0);
	env_free(&e);
}

/* Step watchers that free themselves or the next one from the notice. */
static vmt_timer *step_victim;
static int step_calls;

static void step_frees(vmt_timer *t, uint64_t expirations, void *ud)
{
	ASSERT_UEQ(expirations, 0);
	step_calls++;
	if (ud == &step_victim) {
		step_victim = vmt_timer_free(step_victim);
		vmt_timer_free(t);
	}
}

TEST(wall_step_watchers_may_free_themselves_and_others)
{
	struct env e;
	vmt_timer *a, *b;

	env_hooked(&e);
	ASSERT_OK(vmt_timer_new(e.loop, VMT_CLOCK_WALL, step_frees, &step_victim, &a));
	ASSERT_OK(vmt_timer_new(e.loop, VMT_CLOCK_WALL, step_frees, NULL, &b));
	ASSERT_OK(vmt_timer_watch_wall_steps(a, 1));
	ASSERT_OK(vmt_timer_watch_wall_steps(b, 1));
	/* Armed and due at the step: b is freed before its notice and expiry. */
	ASSERT_OK(vmt_timer_arm(b, fake[VMT_CLOCK_WALL] + 5));
	step_victim = b;
	step_calls = 0;
	fake[VMT_CLOCK_WALL] += VMT_NS_PER_SEC;
	ASSERT_OK(vmt_keeper_wall_stepped(e.k));
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	ASSERT_EQ(step_calls, 1);
	/* Both are gone (ASan would see a use after free): nothing is told. */
	ASSERT_OK(vmt_keeper_wall_stepped(e.k));
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 0);
	env_free(&e);
}

enum { MANY = 5000 };
static vmt_ns many_deadline[MANY];
static bool many_cancelled[MANY];
static int many_fired[MANY];
static vmt_ns many_last;
static int many_bad;
static vmt_source *many_src;

static void many_cb(vmt_timer *t, uint64_t exp, void *ud)
{
	int i = (int)(intptr_t)ud;
	vmt_ns now = vmt_now(many_src, VMT_CLOCK_VM);

	(void)t;
	(void)exp;
	/* run_until fires each timer exactly at its deadline, in order. */
	if (now != many_deadline[i] || now < many_last || many_cancelled[i])
		many_bad++;
	many_last = now;
	many_fired[i]++;
}

TEST(many_timers_fire_exactly_and_in_order)
{
	struct env e;
	static vmt_timer *t[MANY];
	uint64_t x = 88172645463325252ull;

	env_manual(&e, 0);
	many_src = e.src;
	many_last = 0;
	many_bad = 0;
	ASSERT_OK(vmt_keeper_start(e.k));
	for (int i = 0; i < MANY; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		/* Spread over 1 us .. ~70 s so every wheel level is used. */
		many_deadline[i] = 1000 + (x % (1ull << (10 + (i % 27))));
		many_cancelled[i] = false;
		many_fired[i] = 0;
		ASSERT_OK(vmt_timer_new(e.loop, VMT_CLOCK_VM, many_cb, (void *)(intptr_t)i, &t[i]));
		ASSERT_OK(vmt_timer_arm(t[i], many_deadline[i]));
	}
	/* Re-arm a third (the device pattern), cancel a tenth. */
	for (int i = 0; i < MANY; i += 3) {
		many_deadline[i] = many_deadline[i] / 2 + 777;
		ASSERT_OK(vmt_timer_arm(t[i], many_deadline[i]));
	}
	for (int i = 0; i < MANY; i += 10) {
		ASSERT_EQ(vmt_timer_cancel(t[i]), 1);
		many_cancelled[i] = true;
	}
	int r = vmt_loop_run_until(e.loop, 100 * VMT_NS_PER_SEC);

	ASSERT_EQ(r, MANY - MANY / 10);
	ASSERT_EQ(many_bad, 0);
	for (int i = 0; i < MANY; i++)
		ASSERT_EQ(many_fired[i], many_cancelled[i] ? 0 : 1);
	env_free(&e);
}

static int busy_rc;

static void dispatch_inside_cb(vmt_timer *t, uint64_t exp, void *ud)
{
	(void)exp;
	busy_rc = vmt_loop_dispatch(vmt_timer_loop(t));
	(void)ud;
}

TEST(errors)
{
	struct env e;
	struct rec r;
	vmt_timer *t, *x;
	char longname[VMT_TIMER_NAME_MAX + 2];

	env_manual(&e, 0);
	t = mk(&e, VMT_CLOCK_VM, &r);
	ASSERT_ERR(vmt_timer_new(NULL, VMT_CLOCK_VM, record, NULL, &x), -EINVAL);
	ASSERT_ERR(vmt_timer_new(e.loop, VMT_CLOCK_COUNT, record, NULL, &x), -EINVAL);
	ASSERT_ERR(vmt_timer_new(e.loop, VMT_CLOCK_VM, NULL, NULL, &x), -EINVAL);
	ASSERT_ERR(vmt_timer_new(e.loop, VMT_CLOCK_VM, record, NULL, NULL), -EINVAL);
	ASSERT_ERR(vmt_timer_arm(NULL, 1), -EINVAL);
	ASSERT_ERR(vmt_timer_arm_in(NULL, 1), -EINVAL);
	ASSERT_ERR(vmt_timer_arm_in(t, VMT_NS_NEVER), -EOVERFLOW);
	ASSERT_ERR(vmt_timer_arm_periodic(NULL, 1, 1, VMT_MISSED_COALESCE), -EINVAL);
	ASSERT_ERR(vmt_timer_arm_periodic(t, 1, 0, VMT_MISSED_COALESCE), -EINVAL);
	ASSERT_ERR(vmt_timer_arm_periodic(t, VMT_NS_NEVER, 1, VMT_MISSED_COALESCE), -EINVAL);
	ASSERT_ERR(vmt_timer_arm_periodic(t, 1, 1, (enum vmt_missed)3), -EINVAL);
	ASSERT_ERR(vmt_timer_cancel(NULL), -EINVAL);
	ASSERT_ERR(vmt_timer_cancel_sync(NULL), -EINVAL);
	ASSERT_ERR(vmt_timer_pending(NULL), -EINVAL);
	ASSERT_UEQ(vmt_timer_deadline(NULL), VMT_NS_NEVER);
	ASSERT_UEQ(vmt_timer_period(NULL), 0);
	ASSERT_EQ(vmt_timer_clock(NULL), VMT_CLOCK_COUNT);
	ASSERT_EQ(vmt_timer_clock(t), VMT_CLOCK_VM);
	ASSERT_TRUE(vmt_timer_loop(NULL) == NULL);
	ASSERT_TRUE(vmt_timer_get_name(NULL) == NULL);
	ASSERT_STREQ(vmt_timer_get_name(t), "");
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	ASSERT_ERR(vmt_timer_set_name(t, longname), -ENAMETOOLONG);
	ASSERT_ERR(vmt_timer_set_name(NULL, "x"), -EINVAL);
	longname[VMT_TIMER_NAME_MAX] = 0;
	ASSERT_OK(vmt_timer_set_name(t, longname));
	ASSERT_STREQ(vmt_timer_get_name(t), longname);
	ASSERT_OK(vmt_timer_set_name(t, NULL));
	ASSERT_STREQ(vmt_timer_get_name(t), "");
	ASSERT_TRUE(vmt_timer_free(NULL) == NULL);
	/* arm(NEVER) disarms; cancel reports whether it was pending. */
	ASSERT_OK(vmt_timer_arm(t, 5));
	ASSERT_OK(vmt_timer_arm(t, VMT_NS_NEVER));
	ASSERT_EQ(vmt_timer_pending(t), 0);
	ASSERT_EQ(vmt_timer_cancel(t), 0);
	ASSERT_OK(vmt_timer_arm(t, 5));
	ASSERT_EQ(vmt_timer_cancel_sync(t), 1);

	/* Loop errors. */
	vmt_loop *l;

	ASSERT_ERR(vmt_loop_new(NULL, &l), -EINVAL);
	ASSERT_ERR(vmt_loop_new(e.src, NULL), -EINVAL);
	ASSERT_ERR(vmt_loop_get_fd(NULL), -EINVAL);
	ASSERT_ERR(vmt_loop_dispatch(NULL), -EINVAL);
	ASSERT_ERR(vmt_loop_run(NULL), -EINVAL);
	ASSERT_ERR(vmt_loop_quit(NULL), -EINVAL);
	ASSERT_TRUE(vmt_loop_timeout_ns(NULL) < -1);
	ASSERT_ERR(vmt_loop_run_until(NULL, 1), -EINVAL);
	ASSERT_ERR(vmt_loop_run_until(e.loop, VMT_NS_NEVER), -EINVAL);
	ASSERT_ERR(vmt_loop_inspect(NULL, stdout), -EINVAL);
	ASSERT_ERR(vmt_loop_inspect(e.loop, NULL), -EINVAL);
	ASSERT_TRUE(vmt_loop_source(NULL) == NULL);
	ASSERT_TRUE(vmt_loop_source(e.loop) == e.src);
	ASSERT_TRUE(vmt_loop_free(NULL) == NULL);
	/* Dispatch from inside a callback of the same loop is refused. */
	ASSERT_OK(vmt_timer_new(e.loop, VMT_CLOCK_VM, dispatch_inside_cb, NULL, &x));
	ASSERT_OK(vmt_keeper_start(e.k));
	ASSERT_OK(vmt_timer_arm(x, 0));
	busy_rc = 0;
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	ASSERT_ERR(busy_rc, -EBUSY);
	/* quit before run: run returns at once. */
	ASSERT_OK(vmt_loop_quit(e.loop));
	ASSERT_OK(vmt_loop_run(e.loop));
	env_free(&e);

	/* run_until needs a manual keeper's own source. */
	vmt_keeper *k;

	ASSERT_OK(vmt_keeper_new(NULL, &k));
	ASSERT_OK(vmt_loop_new(vmt_keeper_source(k), &l));
	ASSERT_ERR(vmt_loop_run_until(l, 5), -EOPNOTSUPP);
	vmt_loop_free(l);
	vmt_keeper_free(k);
}

TEST(inspect_lists_timers)
{
	struct env e;
	struct rec r;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	env_manual(&e, 0);
	vmt_timer *t = mk(&e, VMT_CLOCK_VM, &r);

	ASSERT_OK(vmt_timer_set_name(t, "pit \"ch0\""));
	ASSERT_OK(vmt_timer_arm_periodic(t, 1000, 500, VMT_MISSED_CATCHUP));
	f = open_memstream(&buf, &len);
	ASSERT_OK(vmt_loop_inspect(e.loop, f));
	fclose(f);
	ASSERT_TRUE(strstr(buf, "\"name\":\"pit \\\"ch0\\\"\"") != NULL);
	ASSERT_TRUE(strstr(buf, "\"deadline_ns\":1000") != NULL);
	ASSERT_TRUE(strstr(buf, "\"period_ns\":500") != NULL);
	ASSERT_TRUE(strstr(buf, "\"policy\":\"catchup\"") != NULL);
	free(buf);
	env_free(&e);
}

/* ---- error paths not covered above ---- */

static int run_rc, run_until_rc;

static void run_inside_cb(vmt_timer *t, uint64_t exp, void *ud)
{
	(void)exp;
	(void)ud;
	run_rc = vmt_loop_run(vmt_timer_loop(t));
	run_until_rc = vmt_loop_run_until(vmt_timer_loop(t), 10);
}

TEST(run_and_run_until_from_a_callback_are_busy)
{
	struct env e;
	vmt_timer *t;

	env_manual(&e, 0);
	ASSERT_OK(vmt_timer_new(e.loop, VMT_CLOCK_VM, run_inside_cb, NULL, &t));
	ASSERT_OK(vmt_keeper_start(e.k));
	ASSERT_OK(vmt_timer_arm(t, 0));
	run_rc = run_until_rc = 0;
	ASSERT_EQ(vmt_loop_dispatch(e.loop), 1);
	ASSERT_ERR(run_rc, -EBUSY);
	ASSERT_ERR(run_until_rc, -EBUSY);
	/* The refused calls did not move VM time. */
	ASSERT_UEQ(vmt_now(e.src, VMT_CLOCK_VM), 0);
	env_free(&e);
}

TEST(loop_inspect_write_error_is_eio)
{
	struct env e;
	struct rec r;
	FILE *full;

	env_manual(&e, 0);
	mk(&e, VMT_CLOCK_VM, &r);
	full = fopen("/dev/full", "w");
	if (!full) {
		env_free(&e);
		SKIP("no /dev/full for the -EIO case");
	}
	ASSERT_ERR(vmt_loop_inspect(e.loop, full), -EIO);
	fclose(full);
	env_free(&e);
}

TEST(loop_new_out_of_file_descriptors)
{
	struct rlimit old;
	struct env e;
	vmt_loop *sentinel = (vmt_loop *)&old, *l = sentinel;
	int fd, r;

	env_manual(&e, 0);
	/*
	 * The loop needs five descriptors: a limit at the lowest free one fails
	 * the first, two above it fails the third (the first two are released).
	 */
	for (int extra = 0; extra <= 2; extra += 2) {
		fd = test_fd_limit(extra, &old);
		r = vmt_loop_new(e.src, &l);
		test_fd_limit_restore(&old);
		ASSERT_ERR(r, -EMFILE);
		ASSERT_TRUE(l == sentinel);
		/* Nothing leaked: the lowest free descriptor is the same. */
		int again = dup(2);

		ASSERT_EQ(again, fd);
		close(again);
	}
	env_free(&e);
}

TEST(loop_run_reports_a_failed_epoll_wait)
{
	struct env e;
	int epfd, saved, other;

	env_manual(&e, 0);
	epfd = vmt_loop_get_fd(e.loop);
	ASSERT_GE(epfd, 0);
	/* Put a non-epoll fd in the epoll fd's place: epoll_wait() fails with EINVAL. */
	saved = dup(epfd);
	other = eventfd(0, EFD_CLOEXEC);
	ASSERT_GE(saved, 0);
	ASSERT_GE(other, 0);
	ASSERT_EQ(dup2(other, epfd), epfd);
	int r = vmt_loop_run(e.loop);

	ASSERT_EQ(dup2(saved, epfd), epfd);
	close(saved);
	close(other);
	ASSERT_ERR(r, -EINVAL);
	/* The loop works again with its own epoll fd back. */
	ASSERT_OK(vmt_loop_quit(e.loop));
	ASSERT_OK(vmt_loop_run(e.loop));
	env_free(&e);
}

enum { BATCH = 3000 };
static vmt_ns batch_deadline[BATCH];
static int batch_order[BATCH]; /* arming order of each timer */
static int batch_seen, batch_bad;
static vmt_ns batch_last_deadline;
static int batch_last_order;

static void batch_cb(vmt_timer *t, uint64_t exp, void *ud)
{
	int i = (int)(intptr_t)ud;

	(void)t;
	(void)exp;
	/* Deadline order, and arming order among equal deadlines. */
	if (batch_seen && (batch_deadline[i] < batch_last_deadline ||
			   (batch_deadline[i] == batch_last_deadline && batch_order[i] < batch_last_order)))
		batch_bad++;
	batch_last_deadline = batch_deadline[i];
	batch_last_order = batch_order[i];
	batch_seen++;
}

TEST(one_dispatch_runs_a_large_batch_in_deadline_then_arming_order)
{
	struct env e;
	static vmt_timer *t[BATCH];
	uint64_t x = 0x9e3779b97f4a7c15ull;

	env_manual(&e, 0);
	ASSERT_OK(vmt_keeper_start(e.k));
	batch_seen = batch_bad = 0;
	for (int i = 0; i < BATCH; i++)
		ASSERT_OK(vmt_timer_new(e.loop, VMT_CLOCK_VM, batch_cb, (void *)(intptr_t)i, &t[i]));
	/* Arm in a scrambled order, few distinct deadlines so ties are common. */
	for (int k = 0; k < BATCH; k++) {
		int i = (int)((uint64_t)k * 7919 % BATCH);

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		batch_deadline[i] = 1000 + (x % 97) * (x % 3 ? 1 : 1000000);
		batch_order[i] = k;
		ASSERT_OK(vmt_timer_arm(t[i], batch_deadline[i]));
	}
	ASSERT_OK(vmt_keeper_advance(e.k, VMT_NS_PER_SEC));
	ASSERT_EQ(vmt_loop_dispatch(e.loop), BATCH);
	ASSERT_EQ(batch_seen, BATCH);
	ASSERT_EQ(batch_bad, 0);
	env_free(&e);
}
