/* SPDX-License-Identifier: MIT */
/*
 * test-ptimer.c - QEMU-compatible countdown timers.
 *
 * The scenarios follow the ones QEMU's own ptimer test runs, with our own
 * numbers, for every valid policy mask (the 48 of 64 that do not combine
 * TRIGGER_ONLY_ON_DECREMENT with NO_IMMEDIATE_TRIGGER).  VM time is stepped
 * with a manual keeper, so every callback runs at exactly its deadline and
 * every count and trigger time is checked exactly.
 *
 * The binary also has a two-thread case (transactions are a lock):
 * VMT_TEST_THREADED.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vmtime/vmtime.h>
#include <vmtime/ptimer.h>
#include <vmtime/snapshot.h>

#include "tests.h"

#define P UINT64_C(3000) /* the period of most scenarios, ns */

#define WRAP VMT_PTIMER_POLICY_WRAP_AFTER_ONE_PERIOD
#define CONT VMT_PTIMER_POLICY_CONTINUOUS_TRIGGER
#define NIT VMT_PTIMER_POLICY_NO_IMMEDIATE_TRIGGER
#define NIR VMT_PTIMER_POLICY_NO_IMMEDIATE_RELOAD
#define NRD VMT_PTIMER_POLICY_NO_COUNTER_ROUND_DOWN
#define TOD VMT_PTIMER_POLICY_TRIGGER_ONLY_ON_DECREMENT

/* The policy under test, printed by every failed check. */
static unsigned int cur_policy;

#define CHECK_EQ(a, b)                                                                   \
	do {                                                                             \
		unsigned long long a_ = (unsigned long long)(a),                         \
				   b_ = (unsigned long long)(b);                         \
		if (a_ != b_)                                                            \
			VMT_FAIL("policy 0x%02x: %s == %s: %llu vs %llu", cur_policy, #a, \
				 #b, a_, b_);                                            \
	} while (0)

struct env {
	vmt_keeper *k;
	vmt_loop *loop;
	vmt_source *src;
};

/* What the trigger callback saw. */
struct ctx {
	vmt_source *src;
	enum vmt_clock clock;
	unsigned int n;
	vmt_ns at;
	vmt_ptimer *pt;
	/* Optional extra work inside the callback. */
	void (*hook)(struct ctx *c);
	int hook_ret;
};

static void on_trigger(void *opaque)
{
	struct ctx *c = opaque;

	c->n++;
	c->at = vmt_now(c->src, c->clock);
	if (c->hook)
		c->hook(c);
}

static void env_init(struct env *e)
{
	struct vmt_keeper_config cfg = VMT_KEEPER_CONFIG_INIT;

	cfg.mode = VMT_KEEPER_MANUAL;
	cfg.initial_vm_time = 1000000;
	ASSERT_OK(vmt_keeper_new(&cfg, &e->k));
	ASSERT_OK(vmt_keeper_start(e->k));
	e->src = vmt_keeper_source(e->k);
	ASSERT_TRUE(e->src != NULL);
	ASSERT_OK(vmt_loop_new(e->src, &e->loop));
}

static void env_fini(struct env *e)
{
	vmt_loop_free(e->loop);
	vmt_keeper_free(e->k);
}

static vmt_ns now(struct env *e)
{
	return vmt_now(e->src, VMT_CLOCK_VM);
}

static void step(struct env *e, vmt_ns ns)
{
	ASSERT_OK(vmt_loop_run_until(e->loop, now(e) + ns));
}

static vmt_ptimer *mk(struct env *e, struct ctx *c, unsigned int policy)
{
	vmt_ptimer *pt = NULL;

	memset(c, 0, sizeof(*c));
	c->src = e->src;
	c->clock = VMT_CLOCK_VM;
	ASSERT_OK(vmt_ptimer_new(e->loop, VMT_CLOCK_VM, on_trigger, c, policy, &pt));
	c->pt = pt;
	return pt;
}

#define BEGIN(pt) ASSERT_OK(vmt_ptimer_transaction_begin(pt))
#define COMMIT(pt) ASSERT_OK(vmt_ptimer_transaction_commit(pt))

static bool valid_policy(unsigned int p)
{
	return !((p & TOD) && (p & NIT));
}

/* Run @scenario once per valid policy mask, each with a fresh timer. */
static void for_each_policy(void (*scenario)(struct env *e, unsigned int pol))
{
	struct env e;
	int n = 0;

	env_init(&e);
	for (unsigned int pol = 0; pol <= VMT_PTIMER_POLICY_ALL; pol++) {
		if (!valid_policy(pol))
			continue;
		cur_policy = pol;
		scenario(&e, pol);
		n++;
	}
	ASSERT_EQ(n, 48);
	env_fini(&e);
}

/* ---- the per-policy scenarios ---------------------------------------- */

static void sc_set_count(struct env *e, unsigned int pol)
{
	struct ctx c;
	vmt_ptimer *pt = mk(e, &c, pol);

	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_count(pt, 500));
	COMMIT(pt);
	CHECK_EQ(vmt_ptimer_get_count(pt), 500);
	CHECK_EQ(vmt_ptimer_mode(pt), VMT_PTIMER_STOPPED);
	CHECK_EQ(vmt_ptimer_next_event(pt), VMT_NS_NEVER);
	step(e, 10 * P);
	CHECK_EQ(vmt_ptimer_get_count(pt), 500);
	CHECK_EQ(c.n, 0);
	vmt_ptimer_free(pt);
}

static void sc_set_limit(struct env *e, unsigned int pol)
{
	struct ctx c;
	vmt_ptimer *pt = mk(e, &c, pol);

	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_limit(pt, 700, 0));
	COMMIT(pt);
	CHECK_EQ(vmt_ptimer_get_count(pt), 0);
	CHECK_EQ(vmt_ptimer_get_limit(pt), 700);
	CHECK_EQ(c.n, 0);

	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_limit(pt, 1200, 1));
	COMMIT(pt);
	CHECK_EQ(vmt_ptimer_get_count(pt), 1200);
	CHECK_EQ(vmt_ptimer_get_limit(pt), 1200);
	CHECK_EQ(c.n, 0);
	vmt_ptimer_free(pt);
}

static void sc_oneshot(struct env *e, unsigned int pol)
{
	bool nrd = pol & NRD;
	uint64_t d;
	vmt_ns t;
	struct ctx c;
	vmt_ptimer *pt = mk(e, &c, pol);

	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_period(pt, P));
	ASSERT_OK(vmt_ptimer_set_count(pt, 6));
	ASSERT_OK(vmt_ptimer_run(pt, 1));
	COMMIT(pt);
	t = now(e);
	CHECK_EQ(vmt_ptimer_mode(pt), VMT_PTIMER_ONESHOT);
	CHECK_EQ(vmt_ptimer_next_event(pt), t + 6 * P);

	/* Two periods and 1 ns in: 6 - 2 = 4 counts left, LEGACY reads 3. */
	step(e, 2 * P + 1);
	CHECK_EQ(vmt_ptimer_get_count(pt), nrd ? 4 : 3);
	CHECK_EQ(c.n, 0);

	/* Stopping keeps the count as read, while time goes on. */
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_stop(pt));
	COMMIT(pt);
	CHECK_EQ(vmt_ptimer_get_count(pt), nrd ? 4 : 3);
	CHECK_EQ(vmt_ptimer_mode(pt), VMT_PTIMER_STOPPED);
	step(e, 10 * P);
	CHECK_EQ(vmt_ptimer_get_count(pt), nrd ? 4 : 3);
	CHECK_EQ(c.n, 0);

	/* Restart: it counts the rest, d periods from now. */
	d = nrd ? 4 : 3;
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_run(pt, 1));
	COMMIT(pt);
	t = now(e);
	CHECK_EQ(vmt_ptimer_get_count(pt), d);
	step(e, (d - 1) * P + 1);
	CHECK_EQ(vmt_ptimer_get_count(pt), nrd ? 1 : 0);
	CHECK_EQ(c.n, 0);
	step(e, P - 1);
	CHECK_EQ(c.n, 1);
	CHECK_EQ(c.at, t + d * P);
	CHECK_EQ(vmt_ptimer_get_count(pt), 0);
	CHECK_EQ(vmt_ptimer_mode(pt), VMT_PTIMER_STOPPED);
	step(e, 4 * P);
	CHECK_EQ(c.n, 1);
	CHECK_EQ(vmt_ptimer_get_count(pt), 0);

	/* Loading a stopped timer does not start it. */
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_count(pt, 7));
	COMMIT(pt);
	step(e, 5 * P);
	CHECK_EQ(vmt_ptimer_get_count(pt), 7);
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_limit(pt, 5, 1));
	COMMIT(pt);
	step(e, 5 * P);
	CHECK_EQ(vmt_ptimer_get_count(pt), 5);
	CHECK_EQ(c.n, 1);

	/* Loading a running one restarts the count from now. */
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_run(pt, 1));
	COMMIT(pt);
	step(e, P + 1);
	CHECK_EQ(vmt_ptimer_get_count(pt), nrd ? 4 : 3);
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_count(pt, 9));
	COMMIT(pt);
	t = now(e);
	CHECK_EQ(vmt_ptimer_get_count(pt), 9);
	step(e, 8 * P + 1);
	CHECK_EQ(vmt_ptimer_get_count(pt), nrd ? 1 : 0);
	CHECK_EQ(c.n, 1);
	step(e, P - 1);
	CHECK_EQ(c.n, 2);
	CHECK_EQ(c.at, t + 9 * P);
	CHECK_EQ(vmt_ptimer_get_count(pt), 0);

	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_stop(pt));
	COMMIT(pt);
	step(e, 10 * P);
	CHECK_EQ(vmt_ptimer_get_count(pt), 0);
	CHECK_EQ(c.n, 2);
	vmt_ptimer_free(pt);
}

static void sc_periodic(struct env *e, unsigned int pol)
{
	bool wrap = pol & WRAP, nrd = pol & NRD, nit = pol & NIT, nir = pol & NIR;
	bool tod = pol & TOD;
	/* The count one period and 1 ns after a wrap. */
	uint64_t after_one = (nrd ? 5 : 4) + (wrap ? 1 : 0);
	unsigned int n;
	vmt_ns t, s;
	struct ctx c;
	vmt_ptimer *pt = mk(e, &c, pol);

	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_period(pt, P));
	ASSERT_OK(vmt_ptimer_set_limit(pt, 6, 1));
	ASSERT_OK(vmt_ptimer_run(pt, 0));
	COMMIT(pt);
	t = now(e);
	CHECK_EQ(vmt_ptimer_get_count(pt), 6);
	CHECK_EQ(c.n, 0);
	step(e, 1);
	CHECK_EQ(vmt_ptimer_get_count(pt), nrd ? 6 : 5);

	/* The wrap: a trigger; WRAP_AFTER_ONE_PERIOD then reads 0 for a period. */
	step(e, 6 * P - 1);
	CHECK_EQ(c.n, 1);
	CHECK_EQ(c.at, t + 6 * P);
	CHECK_EQ(vmt_ptimer_get_count(pt), wrap ? 0 : 6);
	CHECK_EQ(vmt_ptimer_next_event(pt), t + 6 * P + (wrap ? 7 : 6) * P);
	step(e, 1);
	CHECK_EQ(vmt_ptimer_get_count(pt), wrap ? 0 : (nrd ? 6 : 5));
	step(e, P);
	CHECK_EQ(vmt_ptimer_get_count(pt), after_one);

	/* Loading while running restarts from now, on a new grid. */
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_count(pt, 12));
	COMMIT(pt);
	t = now(e);
	CHECK_EQ(vmt_ptimer_get_count(pt), 12);
	step(e, 1);
	CHECK_EQ(vmt_ptimer_get_count(pt), nrd ? 12 : 11);
	step(e, 12 * P - 1);
	CHECK_EQ(c.n, 2);
	CHECK_EQ(c.at, t + 12 * P);
	CHECK_EQ(vmt_ptimer_get_count(pt), wrap ? 0 : 6);
	step(e, P + 1);
	CHECK_EQ(vmt_ptimer_get_count(pt), after_one);

	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_stop(pt));
	COMMIT(pt);
	step(e, 4 * P);
	CHECK_EQ(vmt_ptimer_get_count(pt), after_one);
	CHECK_EQ(c.n, 2);

	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_count(pt, 2));
	ASSERT_OK(vmt_ptimer_run(pt, 0));
	COMMIT(pt);
	t = now(e);
	step(e, 2 * P + 1);
	CHECK_EQ(c.n, 3);
	CHECK_EQ(c.at, t + 2 * P);
	CHECK_EQ(vmt_ptimer_get_count(pt), wrap ? 0 : (nrd ? 6 : 5));

	/*
	 * Loading 0 into the running timer: an immediate trigger unless a
	 * policy defers (NO_IMMEDIATE_TRIGGER) or forbids it (ONLY_ON_DEC);
	 * an immediate reload from the limit unless NO_IMMEDIATE_RELOAD, which
	 * stays at 0 for one period and wraps then.
	 */
	n = c.n;
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_count(pt, 0));
	COMMIT(pt);
	t = now(e);
	if (!(nit || tod)) {
		n++;
		CHECK_EQ(c.at, t);
	}
	CHECK_EQ(c.n, n);
	CHECK_EQ(vmt_ptimer_get_count(pt), nir ? 0 : 6);
	CHECK_EQ(vmt_ptimer_next_event(pt), t + (nir ? 1 : 6) * P);
	s = t;
	if (nir) {
		step(e, P);
		if (nit) {
			n++;
			CHECK_EQ(c.at, t + P);
		}
		CHECK_EQ(c.n, n);
		CHECK_EQ(vmt_ptimer_get_count(pt), 6);
		s = t + P;
	}
	step(e, 1);
	CHECK_EQ(vmt_ptimer_get_count(pt), nrd ? 6 : 5);
	CHECK_EQ(c.n, n);
	step(e, 6 * P - 1);
	CHECK_EQ(c.n, n + 1);
	CHECK_EQ(c.at, s + 6 * P);
	step(e, P + 1);
	CHECK_EQ(vmt_ptimer_get_count(pt), after_one);

	/* A zero period stops the running timer, without a trigger. */
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_period(pt, 0));
	ASSERT_ERR(vmt_ptimer_transaction_commit(pt), -EDOM);
	CHECK_EQ(vmt_ptimer_mode(pt), VMT_PTIMER_STOPPED);
	CHECK_EQ(vmt_ptimer_get_count(pt), after_one);
	step(e, 10 * P);
	CHECK_EQ(vmt_ptimer_get_count(pt), after_one);
	CHECK_EQ(c.n, n + 1);
	vmt_ptimer_free(pt);
}

static void sc_mode_change(struct env *e, unsigned int pol)
{
	bool wrap = pol & WRAP, nrd = pol & NRD;
	vmt_ns t;
	struct ctx c;
	vmt_ptimer *pt = mk(e, &c, pol);

	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_period(pt, P));
	ASSERT_OK(vmt_ptimer_set_limit(pt, 6, 1));
	ASSERT_OK(vmt_ptimer_run(pt, 1));
	COMMIT(pt);
	t = now(e);
	step(e, 5 * P + 1);
	CHECK_EQ(vmt_ptimer_get_count(pt), nrd ? 1 : 0);
	CHECK_EQ(c.n, 0);

	/* One-shot to periodic: the count goes on, the timer now reloads. */
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_run(pt, 0));
	COMMIT(pt);
	CHECK_EQ(vmt_ptimer_mode(pt), VMT_PTIMER_PERIODIC);
	CHECK_EQ(vmt_ptimer_get_count(pt), nrd ? 1 : 0);
	CHECK_EQ(vmt_ptimer_next_event(pt), t + 6 * P);
	CHECK_EQ(c.n, 0);
	step(e, P);
	CHECK_EQ(c.n, 1);
	CHECK_EQ(c.at, t + 6 * P);
	CHECK_EQ(vmt_ptimer_get_count(pt), wrap ? 0 : (nrd ? 6 : 5));
	CHECK_EQ(vmt_ptimer_mode(pt), VMT_PTIMER_PERIODIC);

	/* Periodic to one-shot: it stops at the next zero. */
	step(e, 5 * P);
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_run(pt, 1));
	COMMIT(pt);
	CHECK_EQ(vmt_ptimer_get_count(pt), (nrd ? 1 : 0) + (wrap ? 1 : 0));
	CHECK_EQ(c.n, 1);
	step(e, 3 * P);
	CHECK_EQ(c.n, 2);
	CHECK_EQ(c.at, t + (wrap ? 13 : 12) * P);
	CHECK_EQ(vmt_ptimer_get_count(pt), 0);
	CHECK_EQ(vmt_ptimer_mode(pt), VMT_PTIMER_STOPPED);
	vmt_ptimer_free(pt);
}

/* Shared by the period and frequency changes: the rate halves mid-count. */
static void halve_rate_midway(struct env *e, unsigned int pol, bool by_freq)
{
	const vmt_ns q = 4000; /* 250 kHz */
	bool nrd = pol & NRD;
	uint64_t d = nrd ? 4 : 3;
	vmt_ns t;
	struct ctx c;
	vmt_ptimer *pt = mk(e, &c, pol);

	BEGIN(pt);
	if (by_freq)
		ASSERT_OK(vmt_ptimer_set_freq(pt, 250000));
	else
		ASSERT_OK(vmt_ptimer_set_period(pt, q));
	ASSERT_OK(vmt_ptimer_set_limit(pt, 8, 1));
	ASSERT_OK(vmt_ptimer_run(pt, 1));
	COMMIT(pt);
	step(e, 4 * q + 1);
	CHECK_EQ(vmt_ptimer_get_count(pt), d);

	/* The count is sampled (as read) and counting restarts from it. */
	BEGIN(pt);
	if (by_freq)
		ASSERT_OK(vmt_ptimer_set_freq(pt, 125000));
	else
		ASSERT_OK(vmt_ptimer_set_period(pt, 2 * q));
	COMMIT(pt);
	t = now(e);
	CHECK_EQ(vmt_ptimer_get_count(pt), d);
	CHECK_EQ(vmt_ptimer_next_event(pt), t + d * 2 * q);
	step(e, 4 * q + 1);
	CHECK_EQ(vmt_ptimer_get_count(pt), nrd ? 2 : 0);
	CHECK_EQ(c.n, 0);
	step(e, 4 * q);
	CHECK_EQ(c.n, 1);
	CHECK_EQ(c.at, t + d * 2 * q);
	CHECK_EQ(vmt_ptimer_get_count(pt), 0);
	vmt_ptimer_free(pt);
}

static void sc_period_change(struct env *e, unsigned int pol)
{
	halve_rate_midway(e, pol, false);
}

static void sc_freq_change(struct env *e, unsigned int pol)
{
	halve_rate_midway(e, pol, true);
}

static void sc_run_period_0(struct env *e, unsigned int pol)
{
	struct ctx c;
	vmt_ptimer *pt = mk(e, &c, pol);

	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_count(pt, 99));
	ASSERT_ERR(vmt_ptimer_run(pt, 1), -EDOM);
	COMMIT(pt);
	CHECK_EQ(vmt_ptimer_mode(pt), VMT_PTIMER_STOPPED);
	step(e, 10 * VMT_NS_PER_SEC);
	CHECK_EQ(vmt_ptimer_get_count(pt), 99);
	CHECK_EQ(c.n, 0);
	vmt_ptimer_free(pt);
}

static void sc_run_delta_0(struct env *e, unsigned int pol)
{
	bool wrap = pol & WRAP, nrd = pol & NRD, nit = pol & NIT, nir = pol & NIR;
	bool tod = pol & TOD;
	bool imm = !(nit || tod);
	unsigned int n = 0;
	vmt_ns t, s;
	struct ctx c;
	vmt_ptimer *pt = mk(e, &c, pol);

	/* One-shot from 0 with a limit of 99. */
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_period(pt, P));
	ASSERT_OK(vmt_ptimer_set_limit(pt, 99, 0));
	ASSERT_OK(vmt_ptimer_run(pt, 1));
	COMMIT(pt);
	t = now(e);
	n += imm;
	CHECK_EQ(c.n, n);
	if (imm)
		CHECK_EQ(c.at, t);
	CHECK_EQ(vmt_ptimer_get_count(pt), nir ? 0 : 99);
	/* NO_IMMEDIATE_RELOAD alone leaves a one-shot nothing to count. */
	CHECK_EQ(vmt_ptimer_mode(pt),
		 nir && !nit ? VMT_PTIMER_STOPPED : VMT_PTIMER_ONESHOT);

	if (nit || nir) {
		/* With both, the deferred trigger comes one period later. */
		step(e, P + 1);
		CHECK_EQ(vmt_ptimer_get_count(pt), nir ? 0 : (nrd ? 98 : 97));
		if (nit && nir) {
			n++;
			CHECK_EQ(c.at, t + P);
		}
		CHECK_EQ(c.n, n);
		BEGIN(pt);
		ASSERT_OK(vmt_ptimer_set_count(pt, 99));
		ASSERT_OK(vmt_ptimer_run(pt, 1));
		COMMIT(pt);
	}
	t = now(e);
	step(e, P + 1);
	CHECK_EQ(vmt_ptimer_get_count(pt), nrd ? 98 : 97);
	step(e, 97 * P);
	CHECK_EQ(vmt_ptimer_get_count(pt), nrd ? 1 : 0);
	CHECK_EQ(c.n, n);
	step(e, 2 * P);
	CHECK_EQ(c.n, n + 1);
	CHECK_EQ(c.at, t + 99 * P);
	CHECK_EQ(vmt_ptimer_get_count(pt), 0);
	n++;

	/* Periodic from 0. */
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_count(pt, 0));
	ASSERT_OK(vmt_ptimer_run(pt, 0));
	COMMIT(pt);
	t = now(e);
	n += imm;
	CHECK_EQ(c.n, n);
	CHECK_EQ(vmt_ptimer_get_count(pt), nir ? 0 : 99);
	step(e, 1);
	s = t;
	if (nir) {
		step(e, P);
		s = t + P;
	}
	if (nir && nit) {
		n++;
		CHECK_EQ(c.at, t + P);
	}
	CHECK_EQ(c.n, n);
	CHECK_EQ(vmt_ptimer_get_count(pt), nrd ? 99 : 98);
	step(e, P);
	CHECK_EQ(vmt_ptimer_get_count(pt), nrd ? 98 : 97);
	step(e, 98 * P);
	CHECK_EQ(c.n, n + 1);
	CHECK_EQ(c.at, s + 99 * P);
	CHECK_EQ(vmt_ptimer_get_count(pt), wrap ? 0 : (nrd ? 99 : 98));
	vmt_ptimer_free(pt);
}

static void sc_periodic_load_0(struct env *e, unsigned int pol)
{
	bool cont = pol & CONT, nit = pol & NIT, tod = pol & TOD;
	unsigned int n = 0;
	vmt_ns t;
	struct ctx c;
	vmt_ptimer *pt = mk(e, &c, pol);

	/* Count 0, limit 0: only CONTINUOUS_TRIGGER keeps it running. */
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_period(pt, P));
	ASSERT_OK(vmt_ptimer_run(pt, 0));
	COMMIT(pt);
	t = now(e);
	n += !(nit || tod);
	CHECK_EQ(c.n, n);
	CHECK_EQ(vmt_ptimer_get_count(pt), 0);
	CHECK_EQ(vmt_ptimer_mode(pt), cont || nit ? VMT_PTIMER_PERIODIC : VMT_PTIMER_STOPPED);
	step(e, P + 1);
	if (cont || nit) {
		n++;
		CHECK_EQ(c.at, t + P);
	}
	CHECK_EQ(c.n, n);
	CHECK_EQ(vmt_ptimer_get_count(pt), 0);
	CHECK_EQ(vmt_ptimer_mode(pt), cont ? VMT_PTIMER_PERIODIC : VMT_PTIMER_STOPPED);

	/* From 10 with a limit of 0: one trigger at 0, then again only if CONT. */
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_count(pt, 10));
	ASSERT_OK(vmt_ptimer_run(pt, 0));
	COMMIT(pt);
	t = now(e);
	step(e, 10 * P + 1);
	CHECK_EQ(c.n, n + 1);
	CHECK_EQ(c.at, t + 10 * P);
	CHECK_EQ(vmt_ptimer_get_count(pt), 0);
	n++;
	step(e, P + 1);
	if (cont) {
		n++;
		CHECK_EQ(c.at, t + 11 * P);
	}
	CHECK_EQ(c.n, n);
	CHECK_EQ(vmt_ptimer_get_count(pt), 0);
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_stop(pt));
	COMMIT(pt);
	vmt_ptimer_free(pt);
}

static void sc_oneshot_load_0(struct env *e, unsigned int pol)
{
	bool nit = pol & NIT, tod = pol & TOD;
	vmt_ns t;
	struct ctx c;
	vmt_ptimer *pt = mk(e, &c, pol);

	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_period(pt, P));
	ASSERT_OK(vmt_ptimer_run(pt, 1));
	COMMIT(pt);
	t = now(e);
	CHECK_EQ(c.n, !(nit || tod));
	CHECK_EQ(vmt_ptimer_get_count(pt), 0);
	step(e, P + 1);
	CHECK_EQ(c.n, !(nit || tod) + nit);
	if (nit)
		CHECK_EQ(c.at, t + P);
	CHECK_EQ(vmt_ptimer_get_count(pt), 0);
	CHECK_EQ(vmt_ptimer_mode(pt), VMT_PTIMER_STOPPED);
	vmt_ptimer_free(pt);
}

static void sc_freq_above_1ghz(struct env *e, unsigned int pol)
{
	bool nrd = pol & NRD, wrap = pol & WRAP;
	vmt_ns t;
	struct ctx c;
	vmt_ptimer *pt = mk(e, &c, pol);

	/* 2 GHz: a period of 0.5 ns, zero whole nanoseconds. */
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_freq(pt, 2000000000));
	ASSERT_OK(vmt_ptimer_set_limit(pt, 8, 1));
	ASSERT_OK(vmt_ptimer_run(pt, 1));
	COMMIT(pt);
	t = now(e);
	step(e, 3);
	CHECK_EQ(vmt_ptimer_get_count(pt), nrd ? 3 : 2);
	CHECK_EQ(c.n, 0);
	step(e, 1);
	CHECK_EQ(c.n, 1);
	CHECK_EQ(c.at, t + 4);
	CHECK_EQ(vmt_ptimer_get_count(pt), 0);

	/*
	 * 3 GHz periodic with a limit of 3: a third of a nanosecond is not
	 * representable, so each wrap is 2^-32 ns short of 1 ns.  The fraction
	 * is carried from event to event, so the events stay on their grid
	 * and the timer fires at every nanosecond (every 4/3 ns with
	 * WRAP_AFTER_ONE_PERIOD): 1000 (750) triggers in 1000 ns, the last at
	 * exactly 1000 ns.
	 */
	c.n = 0;
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_freq(pt, 3000000000u));
	ASSERT_OK(vmt_ptimer_set_limit(pt, 3, 1));
	ASSERT_OK(vmt_ptimer_run(pt, 0));
	COMMIT(pt);
	t = now(e);
	step(e, 1000);
	CHECK_EQ(c.n, wrap ? 750 : 1000);
	CHECK_EQ(c.at, t + 1000);
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_stop(pt));
	COMMIT(pt);
	vmt_ptimer_free(pt);
}

TEST(policy_set_count)
{
	for_each_policy(sc_set_count);
}

TEST(policy_set_limit)
{
	for_each_policy(sc_set_limit);
}

TEST(policy_oneshot)
{
	for_each_policy(sc_oneshot);
}

TEST(policy_periodic)
{
	for_each_policy(sc_periodic);
}

TEST(policy_on_the_fly_mode_change)
{
	for_each_policy(sc_mode_change);
}

TEST(policy_on_the_fly_period_change)
{
	for_each_policy(sc_period_change);
}

TEST(policy_on_the_fly_freq_change)
{
	for_each_policy(sc_freq_change);
}

TEST(policy_run_with_period_0)
{
	for_each_policy(sc_run_period_0);
}

TEST(policy_run_with_delta_0)
{
	for_each_policy(sc_run_delta_0);
}

TEST(policy_periodic_with_load_0)
{
	for_each_policy(sc_periodic_load_0);
}

TEST(policy_oneshot_with_load_0)
{
	for_each_policy(sc_oneshot_load_0);
}

TEST(policy_freq_above_1ghz)
{
	for_each_policy(sc_freq_above_1ghz);
}

/* ---- policy-independent behaviour -------------------------------------- */

static void noop(void *opaque)
{
	(void)opaque;
}

TEST(errors)
{
	struct env e;
	struct ctx c;
	vmt_ptimer *pt = NULL, *pt2;

	env_init(&e);
	ASSERT_ERR(vmt_ptimer_new(NULL, VMT_CLOCK_VM, noop, NULL, 0, &pt), -EINVAL);
	ASSERT_ERR(vmt_ptimer_new(e.loop, VMT_CLOCK_VM, NULL, NULL, 0, &pt), -EINVAL);
	ASSERT_ERR(vmt_ptimer_new(e.loop, VMT_CLOCK_VM, noop, NULL, 0, NULL), -EINVAL);
	ASSERT_ERR(vmt_ptimer_new(e.loop, VMT_CLOCK_COUNT, noop, NULL, 0, &pt), -EINVAL);
	ASSERT_ERR(vmt_ptimer_new(e.loop, (enum vmt_clock)-1, noop, NULL, 0, &pt), -EINVAL);
	ASSERT_ERR(vmt_ptimer_new(e.loop, VMT_CLOCK_VM, noop, NULL, 64, &pt), -EINVAL);
	ASSERT_ERR(vmt_ptimer_new(e.loop, VMT_CLOCK_VM, noop, NULL, NIT | TOD, &pt), -EINVAL);
	ASSERT_ERR(vmt_ptimer_new(e.loop, VMT_CLOCK_VM, noop, NULL, NIT | TOD | WRAP, &pt),
		   -EINVAL);
	ASSERT_TRUE(pt == NULL);

	/* NULL timers. */
	ASSERT_TRUE(vmt_ptimer_free(NULL) == NULL);
	ASSERT_ERR(vmt_ptimer_transaction_begin(NULL), -EINVAL);
	ASSERT_ERR(vmt_ptimer_transaction_commit(NULL), -EINVAL);
	ASSERT_ERR(vmt_ptimer_set_period(NULL, 1), -EINVAL);
	ASSERT_ERR(vmt_ptimer_set_period_frac(NULL, 1, 1), -EINVAL);
	ASSERT_ERR(vmt_ptimer_set_freq(NULL, 1), -EINVAL);
	ASSERT_ERR(vmt_ptimer_set_limit(NULL, 1, 1), -EINVAL);
	ASSERT_ERR(vmt_ptimer_set_count(NULL, 1), -EINVAL);
	ASSERT_ERR(vmt_ptimer_run(NULL, 1), -EINVAL);
	ASSERT_ERR(vmt_ptimer_stop(NULL), -EINVAL);
	ASSERT_ERR(vmt_ptimer_mode(NULL), -EINVAL);
	ASSERT_UEQ(vmt_ptimer_get_count(NULL), 0);
	ASSERT_UEQ(vmt_ptimer_get_limit(NULL), 0);
	ASSERT_UEQ(vmt_ptimer_next_event(NULL), VMT_NS_NEVER);

	pt = mk(&e, &c, 0);
	/* Setters and commit outside a transaction. */
	ASSERT_ERR(vmt_ptimer_transaction_commit(pt), -EPERM);
	ASSERT_ERR(vmt_ptimer_set_period(pt, P), -EPERM);
	ASSERT_ERR(vmt_ptimer_set_period_frac(pt, 0, 1), -EPERM);
	ASSERT_ERR(vmt_ptimer_set_freq(pt, 1000), -EPERM);
	ASSERT_ERR(vmt_ptimer_set_limit(pt, 5, 1), -EPERM);
	ASSERT_ERR(vmt_ptimer_set_count(pt, 5), -EPERM);
	ASSERT_ERR(vmt_ptimer_run(pt, 0), -EPERM);
	ASSERT_ERR(vmt_ptimer_stop(pt), -EPERM);
	ASSERT_UEQ(vmt_ptimer_get_count(pt), 0);
	ASSERT_UEQ(vmt_ptimer_get_limit(pt), 0);

	/* Inside one: nesting, bad values, a period of zero. */
	BEGIN(pt);
	ASSERT_ERR(vmt_ptimer_transaction_begin(pt), -EBUSY);
	ASSERT_ERR(vmt_ptimer_set_freq(pt, 0), -EINVAL);
	ASSERT_ERR(vmt_ptimer_set_period(pt, (vmt_ns)INT64_MAX + 1), -ERANGE);
	ASSERT_ERR(vmt_ptimer_set_period_frac(pt, VMT_NS_NEVER, 0), -ERANGE);
	ASSERT_OK(vmt_ptimer_set_period(pt, INT64_MAX));
	ASSERT_OK(vmt_ptimer_set_period(pt, 0));
	ASSERT_OK(vmt_ptimer_set_count(pt, 3));
	ASSERT_ERR(vmt_ptimer_run(pt, 0), -EDOM);
	ASSERT_ERR(vmt_ptimer_run(pt, 1), -EDOM);
	ASSERT_OK(vmt_ptimer_stop(pt));
	/* Freeing inside a transaction is refused (nothing happens). */
	ASSERT_TRUE(vmt_ptimer_free(pt) == NULL);
	COMMIT(pt);
	ASSERT_EQ(vmt_ptimer_mode(pt), VMT_PTIMER_STOPPED);
	ASSERT_UEQ(vmt_ptimer_get_count(pt), 3);

	/* A sub-nanosecond period is not zero. */
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_period_frac(pt, 0, 1));
	ASSERT_OK(vmt_ptimer_run(pt, 1));
	COMMIT(pt);
	ASSERT_EQ(vmt_ptimer_mode(pt), VMT_PTIMER_ONESHOT);

	/* A period set to zero while running: -EDOM at commit, stopped. */
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_period(pt, 0));
	ASSERT_ERR(vmt_ptimer_transaction_commit(pt), -EDOM);
	ASSERT_EQ(vmt_ptimer_mode(pt), VMT_PTIMER_STOPPED);
	/* The transaction ended anyway. */
	ASSERT_ERR(vmt_ptimer_transaction_commit(pt), -EPERM);
	BEGIN(pt);
	COMMIT(pt);
	ASSERT_EQ(c.n, 0);

	/* Two timers have independent transactions. */
	pt2 = mk(&e, &c, 0);
	BEGIN(pt);
	BEGIN(pt2);
	COMMIT(pt);
	COMMIT(pt2);
	vmt_ptimer_free(pt2);
	vmt_ptimer_free(pt);
	env_fini(&e);
}

/* The callback runs inside a transaction: begin is refused, setters work. */
static void hook_reload_twice(struct ctx *c)
{
	c->hook_ret = vmt_ptimer_transaction_begin(c->pt);
	if (c->n < 3) {
		if (vmt_ptimer_set_count(c->pt, 4) < 0 || vmt_ptimer_run(c->pt, 1) < 0)
			c->hook_ret = -1000;
	} else if (vmt_ptimer_stop(c->pt) < 0) {
		c->hook_ret = -1001;
	}
}

TEST(callback_inside_transaction)
{
	struct env e;
	struct ctx c;
	vmt_ptimer *pt;
	vmt_ns t;

	env_init(&e);
	pt = mk(&e, &c, 0);
	c.hook = hook_reload_twice;
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_period(pt, P));
	ASSERT_OK(vmt_ptimer_set_count(pt, 2));
	ASSERT_OK(vmt_ptimer_run(pt, 1));
	COMMIT(pt);
	t = now(&e);
	/* 2 periods, then the callback reloads 4 twice, then stops. */
	step(&e, 100 * P);
	ASSERT_EQ(c.n, 3);
	ASSERT_ERR(c.hook_ret, -EBUSY);
	ASSERT_UEQ(c.at, t + 10 * P);
	ASSERT_EQ(vmt_ptimer_mode(pt), VMT_PTIMER_STOPPED);
	vmt_ptimer_free(pt);
	env_fini(&e);
}

/* A trigger caused by a change is delivered by the commit, not before. */
static void hook_check_not_in_setter(struct ctx *c)
{
	c->hook_ret = (int)vmt_ptimer_get_count(c->pt);
}

TEST(trigger_delivered_at_commit)
{
	struct env e;
	struct ctx c;
	vmt_ptimer *pt;

	env_init(&e);
	pt = mk(&e, &c, 0);
	c.hook = hook_check_not_in_setter;
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_period(pt, P));
	ASSERT_OK(vmt_ptimer_set_limit(pt, 5, 0));
	ASSERT_OK(vmt_ptimer_run(pt, 0));
	ASSERT_EQ(c.n, 0);
	ASSERT_OK(vmt_ptimer_set_count(pt, 0));
	ASSERT_EQ(c.n, 0);
	COMMIT(pt);
	/* One trigger, for the count of 0; it ran before the reload (as in QEMU). */
	ASSERT_EQ(c.n, 1);
	ASSERT_EQ(c.hook_ret, 0);
	ASSERT_UEQ(vmt_ptimer_get_count(pt), 5);
	/* Count changes inside one transaction are applied once. */
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_count(pt, 0));
	ASSERT_OK(vmt_ptimer_set_count(pt, 3));
	ASSERT_UEQ(vmt_ptimer_get_count(pt), 3);
	COMMIT(pt);
	ASSERT_EQ(c.n, 1);
	ASSERT_UEQ(vmt_ptimer_get_count(pt), 3);
	vmt_ptimer_free(pt);
	env_fini(&e);
}

/* Late dispatch: missed wraps are delivered, the grid does not move. */
TEST(periodic_no_drift)
{
	struct env e;
	struct ctx c;
	vmt_ptimer *pt;
	vmt_ns t;

	env_init(&e);
	pt = mk(&e, &c, 0);
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_period(pt, 7));
	ASSERT_OK(vmt_ptimer_set_limit(pt, 100, 1));
	ASSERT_OK(vmt_ptimer_run(pt, 0));
	COMMIT(pt);
	t = now(&e);
	/* The loop does not dispatch for 3.5 wraps. */
	ASSERT_OK(vmt_keeper_advance(e.k, 3 * 700 + 350));
	for (int i = 0; i < 10; i++)
		ASSERT_OK(vmt_loop_dispatch(e.loop));
	ASSERT_EQ(c.n, 3);
	ASSERT_UEQ(vmt_ptimer_next_event(pt), t + 4 * 700);
	ASSERT_UEQ(vmt_ptimer_get_count(pt), 50);
	/* A thousand wraps later, still on the grid. */
	step(&e, 1000 * 700);
	ASSERT_EQ(c.n, 1003);
	ASSERT_UEQ(c.at, t + 1003 * 700);
	ASSERT_UEQ(vmt_ptimer_next_event(pt), t + 1004 * 700);
	vmt_ptimer_free(pt);
	env_fini(&e);
}

TEST(period_frac)
{
	struct env e;
	struct ctx c;
	vmt_ptimer *pt;
	vmt_ns t;

	env_init(&e);
	pt = mk(&e, &c, 0);
	/* 2.25 ns per count, 1000 counts: 2250 ns. */
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_period_frac(pt, 2, 1u << 30));
	ASSERT_OK(vmt_ptimer_set_limit(pt, 1000, 1));
	ASSERT_OK(vmt_ptimer_run(pt, 0));
	COMMIT(pt);
	t = now(&e);
	ASSERT_UEQ(vmt_ptimer_next_event(pt), t + 2250);
	step(&e, 901);
	/* 1349 ns left: 599.6 counts, read rounded down. */
	ASSERT_UEQ(vmt_ptimer_get_count(pt), 599);
	step(&e, 1349);
	ASSERT_EQ(c.n, 1);
	ASSERT_UEQ(c.at, t + 2250);
	/* 10 counts of 2.25 ns: events at 22.5 ns steps, fired rounded up. */
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_limit(pt, 10, 1));
	COMMIT(pt);
	t = now(&e);
	step(&e, 45);
	ASSERT_EQ(c.n, 3);
	ASSERT_UEQ(c.at, t + 45);
	ASSERT_UEQ(vmt_ptimer_next_event(pt), t + 68); /* 67.5 rounded up */
	step(&e, 23);
	ASSERT_EQ(c.n, 4);
	ASSERT_UEQ(c.at, t + 68);
	ASSERT_UEQ(vmt_ptimer_next_event(pt), t + 90);
	vmt_ptimer_free(pt);
	env_fini(&e);
}

/* Large values saturate instead of wrapping. */
TEST(huge_values)
{
	struct env e;
	struct ctx c;
	vmt_ptimer *pt;

	env_init(&e);
	pt = mk(&e, &c, WRAP | NRD);
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_period(pt, INT64_MAX));
	ASSERT_OK(vmt_ptimer_set_limit(pt, UINT64_MAX, 1));
	ASSERT_OK(vmt_ptimer_run(pt, 0));
	COMMIT(pt);
	ASSERT_UEQ(vmt_ptimer_next_event(pt), VMT_NS_NEVER);
	ASSERT_UEQ(vmt_ptimer_get_count(pt), UINT64_MAX);
	step(&e, VMT_NS_PER_SEC);
	ASSERT_EQ(c.n, 0);
	/* One period began: UINT64_MAX - 1, rounded up by NO_COUNTER_ROUND_DOWN. */
	ASSERT_UEQ(vmt_ptimer_get_count(pt), UINT64_MAX);
	vmt_ptimer_free(pt);
	env_fini(&e);
}

/* ---- the clock ------------------------------------------------------------ */

struct fake_host {
	vmt_ns host;
};

static vmt_ns fake_clock(void *opaque, enum vmt_clock clock)
{
	struct fake_host *h = opaque;

	(void)clock;
	return h->host;
}

/* While the VM is paused the count is frozen and nothing triggers. */
TEST(vm_pause_freezes_count)
{
	struct vmt_keeper_config cfg = VMT_KEEPER_CONFIG_INIT;
	struct fake_host h = { .host = 5 * VMT_NS_PER_SEC };
	vmt_keeper *k;
	vmt_loop *loop;
	vmt_ptimer *pt;
	struct ctx c;

	cfg.mode = VMT_KEEPER_REAL;
	cfg.host_clock = fake_clock;
	cfg.host_clock_opaque = &h;
	ASSERT_OK(vmt_keeper_new(&cfg, &k));
	ASSERT_OK(vmt_loop_new(vmt_keeper_source(k), &loop));
	memset(&c, 0, sizeof(c));
	c.src = vmt_keeper_source(k);
	c.clock = VMT_CLOCK_VM;
	ASSERT_OK(vmt_ptimer_new(loop, VMT_CLOCK_VM, on_trigger, &c, 0, &pt));
	c.pt = pt;

	ASSERT_OK(vmt_keeper_start(k));
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_period(pt, 1000));
	ASSERT_OK(vmt_ptimer_set_limit(pt, 100, 1));
	ASSERT_OK(vmt_ptimer_run(pt, 1));
	COMMIT(pt);
	h.host += 30500;
	ASSERT_UEQ(vmt_ptimer_get_count(pt), 69);
	ASSERT_OK(vmt_keeper_stop(k));
	h.host += 10 * VMT_NS_PER_SEC;
	ASSERT_OK(vmt_loop_dispatch(loop));
	ASSERT_UEQ(vmt_ptimer_get_count(pt), 69);
	ASSERT_EQ(c.n, 0);
	ASSERT_EQ(vmt_ptimer_mode(pt), VMT_PTIMER_ONESHOT);
	/* Resumed, it counts on from where it froze. */
	ASSERT_OK(vmt_keeper_start(k));
	h.host += 60000;
	ASSERT_UEQ(vmt_ptimer_get_count(pt), 9);
	h.host += 9500;
	ASSERT_OK(vmt_loop_dispatch(loop));
	ASSERT_EQ(c.n, 1);
	ASSERT_UEQ(c.at, 100000);
	ASSERT_OK(vmt_keeper_stop(k));
	vmt_ptimer_free(pt);
	vmt_loop_free(loop);
	vmt_keeper_free(k);
}

/* The same timer counts on a host clock. */
TEST(host_clock)
{
	struct vmt_keeper_config cfg = VMT_KEEPER_CONFIG_INIT;
	struct fake_host h = { .host = 7 * VMT_NS_PER_SEC };
	vmt_keeper *k;
	vmt_loop *loop;
	vmt_ptimer *pt;
	struct ctx c;

	cfg.mode = VMT_KEEPER_MANUAL;
	cfg.host_clock = fake_clock;
	cfg.host_clock_opaque = &h;
	ASSERT_OK(vmt_keeper_new(&cfg, &k));
	ASSERT_OK(vmt_loop_new(vmt_keeper_source(k), &loop));
	memset(&c, 0, sizeof(c));
	c.src = vmt_keeper_source(k);
	c.clock = VMT_CLOCK_HOST;
	ASSERT_OK(vmt_ptimer_new(loop, VMT_CLOCK_HOST, on_trigger, &c, NRD, &pt));
	BEGIN(pt);
	ASSERT_OK(vmt_ptimer_set_freq(pt, 1000000));
	ASSERT_OK(vmt_ptimer_set_limit(pt, 10, 1));
	ASSERT_OK(vmt_ptimer_run(pt, 0));
	COMMIT(pt);
	/* The VM clock is stopped: a host-clock timer does not care. */
	h.host += 4500;
	ASSERT_UEQ(vmt_ptimer_get_count(pt), 6);
	h.host += 5500;
	ASSERT_OK(vmt_loop_dispatch(loop));
	ASSERT_EQ(c.n, 1);
	ASSERT_UEQ(c.at, 7 * VMT_NS_PER_SEC + 10000);
	ASSERT_UEQ(vmt_ptimer_next_event(pt), 7 * VMT_NS_PER_SEC + 20000);
	vmt_ptimer_free(pt);
	vmt_loop_free(loop);
	vmt_keeper_free(k);
}

/* ---- save and restore -------------------------------------------------- */

/* The writer owns its image: copy it out so it outlives the writer. */
static void *save_copy(vmt_snap_writer *w, size_t *len)
{
	const void *img;
	void *buf;

	ASSERT_OK(vmt_snap_writer_save_buffer(w, &img, len, NULL));
	buf = malloc(*len);
	ASSERT_TRUE(buf != NULL);
	memcpy(buf, img, *len);
	return buf;
}

/* Save @pt as group 7 of a one-section snapshot; return its bytes. */
static void *save_one(vmt_ptimer *pt, size_t *len)
{
	vmt_snap_writer *w;
	vmt_fields_writer *fw;
	void *buf = NULL;

	ASSERT_OK(vmt_snap_writer_new(&w));
	ASSERT_OK(vmt_snap_writer_section(w, "dev", 1, &fw));
	ASSERT_OK(vmt_fields_put_u64(fw, 1, 42)); /* a device field beside it */
	ASSERT_OK(vmt_ptimer_save(pt, fw, 7));
	buf = save_copy(w, len);
	vmt_snap_writer_free(w);
	return buf;
}

static void open_one(const void *buf, size_t len, vmt_snap_reader **r,
		     struct vmt_snap_section *s)
{
	struct vmt_error err = { 0 };

	if (vmt_snap_reader_from_buffer(buf, len, r, &err) < 0)
		VMT_FAIL("snapshot: %s", err.msg);
	ASSERT_OK(vmt_snap_reader_find(*r, "dev", s));
}

TEST(save_restore_resumes_exactly)
{
	struct env a, b;
	struct ctx ca, cb;
	vmt_ptimer *pa, *pb;
	vmt_snap_reader *r;
	struct vmt_snap_section s;
	size_t len;
	void *buf;
	vmt_ns ta, tb;

	for (unsigned int pol = 0; pol <= VMT_PTIMER_POLICY_ALL; pol++) {
		if (!valid_policy(pol))
			continue;
		cur_policy = pol;
		env_init(&a);
		env_init(&b);
		/* The destination's clock is elsewhere: the state is relative. */
		ASSERT_OK(vmt_keeper_advance(b.k, 123456789));
		pa = mk(&a, &ca, pol);
		pb = mk(&b, &cb, pol);

		/* Periodic at 3 GHz (fractional), mid-count, after a wrap. */
		BEGIN(pa);
		ASSERT_OK(vmt_ptimer_set_freq(pa, 3000000000u));
		ASSERT_OK(vmt_ptimer_set_limit(pa, 3000, 1));
		ASSERT_OK(vmt_ptimer_run(pa, 0));
		COMMIT(pa);
		step(&a, 1700);
		CHECK_EQ(ca.n, 1);
		buf = save_one(pa, &len);
		open_one(buf, len, &r, &s);
		ASSERT_OK(vmt_ptimer_restore(pb, &s.fields, 7));

		CHECK_EQ(vmt_ptimer_mode(pb), VMT_PTIMER_PERIODIC);
		CHECK_EQ(vmt_ptimer_get_limit(pb), 3000);
		CHECK_EQ(vmt_ptimer_get_count(pb), vmt_ptimer_get_count(pa));
		ta = now(&a);
		tb = now(&b);
		CHECK_EQ(vmt_ptimer_next_event(pb) - tb, vmt_ptimer_next_event(pa) - ta);
		/* Both go on identically, count for count, trigger for trigger. */
		for (int i = 0; i < 40; i++) {
			step(&a, 97);
			step(&b, 97);
			CHECK_EQ(vmt_ptimer_get_count(pb), vmt_ptimer_get_count(pa));
			CHECK_EQ(cb.n + 1, ca.n);
			if (cb.n)
				CHECK_EQ(cb.at - tb, ca.at - ta);
		}
		CHECK_EQ(cb.n, 4);
		vmt_snap_reader_free(r);
		free(buf);

		/* A stopped timer keeps its count. */
		BEGIN(pa);
		ASSERT_OK(vmt_ptimer_stop(pa));
		COMMIT(pa);
		buf = save_one(pa, &len);
		open_one(buf, len, &r, &s);
		ASSERT_OK(vmt_ptimer_restore(pb, &s.fields, 7));
		CHECK_EQ(vmt_ptimer_mode(pb), VMT_PTIMER_STOPPED);
		CHECK_EQ(vmt_ptimer_get_count(pb), vmt_ptimer_get_count(pa));
		CHECK_EQ(vmt_ptimer_next_event(pb), VMT_NS_NEVER);
		vmt_snap_reader_free(r);
		free(buf);
		vmt_ptimer_free(pa);
		vmt_ptimer_free(pb);
		env_fini(&a);
		env_fini(&b);
	}
}

/*
 * Build a group 7 by hand: a periodic timer of 10 counts of 1 us that began
 * 5 us ago.  @skip_id is left out; @bad_id gets a string (@bad_kind 0), 3
 * (1), UINT64_MAX (2) or 0 (3).
 */
static void *forge(uint32_t skip_id, uint32_t bad_id, int bad_kind, size_t *len)
{
	static const uint32_t u64_ids[] = { 1, 2, 3, 4, 5, 6, 8, 9 };
	static const uint64_t bad[] = { 0, 3, UINT64_MAX, 0 };
	vmt_snap_writer *w;
	vmt_fields_writer *fw;
	void *buf = NULL;

	ASSERT_OK(vmt_snap_writer_new(&w));
	ASSERT_OK(vmt_snap_writer_section(w, "dev", 1, &fw));
	ASSERT_OK(vmt_fields_begin_group(fw, 7));
	for (size_t i = 0; i < sizeof(u64_ids) / sizeof(u64_ids[0]); i++) {
		uint32_t id = u64_ids[i];
		uint64_t v = 0;

		if (id == 1)
			v = VMT_PTIMER_PERIODIC;
		else if (id == 3 || id == 4 || id == 9)
			v = 10;
		else if (id == 5)
			v = 1000;
		if (id == skip_id)
			continue;
		if (id == bad_id && bad_kind == 0)
			ASSERT_OK(vmt_fields_put_str(fw, id, "x"));
		else
			ASSERT_OK(vmt_fields_put_u64(fw, id, id == bad_id ? bad[bad_kind] : v));
	}
	if (skip_id != 7)
		ASSERT_OK(vmt_fields_put_i64(fw, 7, -5000));
	ASSERT_OK(vmt_fields_end_group(fw));
	buf = save_copy(w, len);
	vmt_snap_writer_free(w);
	return buf;
}

/* Restore group @id of a forged snapshot (see forge()). */
static int try_forged(vmt_ptimer *pt, uint32_t skip_id, uint32_t bad_id, int bad_kind,
		      uint32_t id)
{
	vmt_snap_reader *r;
	struct vmt_snap_section s;
	size_t len;
	void *buf = forge(skip_id, bad_id, bad_kind, &len);
	int ret;

	open_one(buf, len, &r, &s);
	ret = vmt_ptimer_restore(pt, &s.fields, id);
	vmt_snap_reader_free(r);
	free(buf);
	return ret;
}

TEST(save_restore_errors)
{
	struct env e;
	struct ctx c;
	vmt_ptimer *pt, *other;
	vmt_fields_writer *fw;
	vmt_fields_reader fr;

	env_init(&e);
	pt = mk(&e, &c, 0);
	ASSERT_OK(vmt_fields_writer_new(&fw));
	ASSERT_ERR(vmt_ptimer_save(NULL, fw, 1), -EINVAL);
	ASSERT_ERR(vmt_ptimer_save(pt, NULL, 1), -EINVAL);
	memset(&fr, 0, sizeof(fr));
	ASSERT_OK(vmt_fields_reader_init(&fr, NULL, 0));
	ASSERT_ERR(vmt_ptimer_restore(NULL, &fr, 1), -EINVAL);
	ASSERT_ERR(vmt_ptimer_restore(pt, NULL, 1), -EINVAL);
	BEGIN(pt);
	ASSERT_ERR(vmt_ptimer_save(pt, fw, 1), -EBUSY);
	ASSERT_ERR(vmt_ptimer_restore(pt, &fr, 1), -EBUSY);
	COMMIT(pt);
	/* The writer's own errors come through (a group nested too deep). */
	for (int i = 0; i < (int)VMT_FIELDS_MAX_DEPTH; i++)
		ASSERT_OK(vmt_fields_begin_group(fw, 1));
	ASSERT_ERR(vmt_ptimer_save(pt, fw, 1), -E2BIG);
	vmt_fields_writer_free(fw);

	/* The group or a field missing. */
	ASSERT_ERR(vmt_ptimer_restore(pt, &fr, 1), -ENOENT);
	ASSERT_ERR(try_forged(pt, 0, 0, 0, 8), -ENOENT);
	for (uint32_t id = 1; id <= 9; id++)
		ASSERT_ERR(try_forged(pt, id, 0, 0, 7), -ENOENT);
	/* A field of the wrong type. */
	ASSERT_ERR(try_forged(pt, 0, 3, 0, 7), -EBADMSG);
	/* Impossible values: mode 3, a period over INT64_MAX, fractions over 32 bits. */
	ASSERT_ERR(try_forged(pt, 0, 1, 1, 7), -EBADMSG);
	ASSERT_ERR(try_forged(pt, 0, 5, 2, 7), -EBADMSG);
	ASSERT_ERR(try_forged(pt, 0, 6, 2, 7), -EBADMSG);
	ASSERT_ERR(try_forged(pt, 0, 8, 2, 7), -EBADMSG);
	/* Running with a zero period. */
	ASSERT_ERR(try_forged(pt, 0, 5, 3, 7), -EBADMSG);
	ASSERT_EQ(vmt_ptimer_mode(pt), VMT_PTIMER_STOPPED);
	/* The policy must match the timer's. */
	other = mk(&e, &c, NRD);
	ASSERT_ERR(try_forged(other, 0, 0, 0, 7), -EINVAL);
	ASSERT_EQ(vmt_ptimer_mode(other), VMT_PTIMER_STOPPED);
	vmt_ptimer_free(other);

	/* The well-formed one restores: 5 us left of 10 counts of 1 us. */
	ASSERT_OK(try_forged(pt, 0, 0, 0, 7));
	ASSERT_EQ(vmt_ptimer_mode(pt), VMT_PTIMER_PERIODIC);
	ASSERT_UEQ(vmt_ptimer_get_count(pt), 5);
	ASSERT_UEQ(vmt_ptimer_next_event(pt), now(&e) + 5000);
	step(&e, 5000);
	ASSERT_EQ(c.n, 1);
	vmt_ptimer_free(pt);
	env_fini(&e);
}

/* ---- threads: VMT_TEST_THREADED ------------------------------------------ */

struct racer {
	vmt_ptimer *pt;
	atomic_int entered;
	int ret;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;

	r->ret = vmt_ptimer_transaction_begin(r->pt);
	atomic_store(&r->entered, 1);
	if (r->ret == 0) {
		/* Not this thread's transaction until it began one. */
		r->ret = vmt_ptimer_set_count(r->pt, 77);
		if (vmt_ptimer_transaction_commit(r->pt) < 0)
			r->ret = -1000;
	}
	return NULL;
}

TEST(transaction_is_a_lock)
{
	struct env e;
	struct ctx c;
	struct racer r = { 0 };
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	pthread_t th;

	env_init(&e);
	r.pt = mk(&e, &c, 0);
	BEGIN(r.pt);
	ASSERT_EQ(pthread_create(&th, NULL, racer_main, &r), 0);
	nanosleep(&ts, NULL);
	/* The other thread waits for this transaction. */
	ASSERT_EQ(atomic_load(&r.entered), 0);
	ASSERT_OK(vmt_ptimer_set_count(r.pt, 5));
	COMMIT(r.pt);
	ASSERT_EQ(pthread_join(th, NULL), 0);
	ASSERT_EQ(atomic_load(&r.entered), 1);
	ASSERT_OK(r.ret);
	ASSERT_UEQ(vmt_ptimer_get_count(r.pt), 77);
	vmt_ptimer_free(r.pt);
	env_fini(&e);
}

/* A vCPU thread programs the timer while the loop thread delivers expiries. */
struct vcpu {
	vmt_ptimer *pt;
	atomic_int stop;
	int errors;
	unsigned int rounds;
};

static void *vcpu_main(void *arg)
{
	struct vcpu *v = arg;

	while (!atomic_load(&v->stop)) {
		if (vmt_ptimer_transaction_begin(v->pt) < 0)
			v->errors++;
		/* Every 4th round loads 0: a trigger on this thread. */
		if (vmt_ptimer_set_count(v->pt, v->rounds % 4 ? 5 : 0) < 0)
			v->errors++;
		if (vmt_ptimer_get_count(v->pt) > 5)
			v->errors++;
		if (vmt_ptimer_transaction_commit(v->pt) < 0)
			v->errors++;
		if (vmt_ptimer_get_count(v->pt) > 5)
			v->errors++;
		v->rounds++;
	}
	return NULL;
}

TEST(vcpu_thread_and_loop_thread)
{
	struct env e;
	struct ctx c;
	struct vcpu v = { 0 };
	pthread_t th;

	env_init(&e);
	v.pt = mk(&e, &c, 0);
	BEGIN(v.pt);
	ASSERT_OK(vmt_ptimer_set_period(v.pt, 10));
	ASSERT_OK(vmt_ptimer_set_limit(v.pt, 5, 1));
	ASSERT_OK(vmt_ptimer_run(v.pt, 0));
	COMMIT(v.pt);
	ASSERT_EQ(pthread_create(&th, NULL, vcpu_main, &v), 0);
	for (int i = 0; i < 3000; i++)
		step(&e, 7);
	atomic_store(&v.stop, 1);
	ASSERT_EQ(pthread_join(th, NULL), 0);
	ASSERT_EQ(v.errors, 0);
	ASSERT_GT(c.n, 0);
	ASSERT_EQ(vmt_ptimer_mode(v.pt), VMT_PTIMER_PERIODIC);
	vmt_ptimer_free(v.pt);
	env_fini(&e);
}
