/* SPDX-License-Identifier: MIT */
/*
 * test-hpet.c - the HPET on a manual VM clock: capabilities, counter
 * exactness, halt and counter writes, one-shot, periodic, 32-bit mode and
 * wrap, the accumulator write, level and edge lines, status W1C, legacy
 * and I/O APIC routing, pause, save/restore, tick policies, the minimum
 * period, hostile streams, bad accesses and threaded access
 * (VMT_TEST_THREADED).
 */
#include <pthread.h>
#include <stdatomic.h>

#include <vmtime/hpet.h>
#include <vmtime/keeper.h>
#include <vmtime/loop.h>
#include <vmtime/snapshot.h>
#include <vmtime/units.h>

#include "dev-tests.h"
#include "tests.h"

#define SEC VMT_NS_PER_SEC
#define CONF(n) VMT_HPET_TIMER_CONF(n)
#define CMP(n) VMT_HPET_TIMER_CMP(n)
#define ENB VMT_HPET_TN_INT_ENB_CNF
#define PER VMT_HPET_TN_TYPE_CNF
#define LVL VMT_HPET_TN_INT_TYPE_CNF
#define SETVAL VMT_HPET_TN_VAL_SET_CNF
#define M32 VMT_HPET_TN_32MODE_CNF
#define ROUTE(n) ((uint64_t)(n) << VMT_HPET_TN_INT_ROUTE_SHIFT)
#define FREQ_100M 100000000u	/* 10 ns a tick: round numbers */

struct fx {
	struct dev_clock clk;
	vmt_hpet *h;
	struct dev_irq_log irq;	/* every I/O APIC input */
};

static void fx_dev(struct fx *f, enum vmt_tick_policy ticks, uint64_t freq, vmt_ns min_period)
{
	struct vmt_hpet_config c;

	ASSERT_OK(vmt_hpet_config_init(&c));
	c.dev.irq = dev_irq_record;
	c.dev.irq_opaque = &f->irq;
	c.dev.ticks = ticks;
	c.dev.min_period_ns = min_period;
	c.freq_hz = freq;
	ASSERT_OK(vmt_hpet_new(f->clk.loop, &c, &f->h));
}

static void fx_clock(struct fx *f, vmt_ns t0)
{
	memset(f, 0, sizeof(*f));
	dev_clock_init(&f->clk, t0);
	dev_irq_init(&f->irq, f->clk.src, DEV_IRQ_LINES);
}

static void fx_init(struct fx *f, enum vmt_tick_policy ticks, uint64_t freq)
{
	fx_clock(f, 5 * SEC);
	fx_dev(f, ticks, freq, 0);
	ASSERT_OK(vmt_keeper_start(f->clk.k));
}

static void fx_fini(struct fx *f)
{
	vmt_hpet_free(f->h);
	dev_clock_fini(&f->clk);
}

static uint64_t rd(struct fx *f, unsigned off)
{
	uint64_t v = 0;

	ASSERT_OK(vmt_hpet_read(f->h, off, 8, &v));
	return v;
}

static uint64_t rd32(struct fx *f, unsigned off)
{
	uint64_t v = 0;

	ASSERT_OK(vmt_hpet_read(f->h, off, 4, &v));
	return v;
}

static void wr(struct fx *f, unsigned off, uint64_t v)
{
	ASSERT_OK(vmt_hpet_write(f->h, off, 8, v));
}

static void wr32(struct fx *f, unsigned off, uint64_t v)
{
	ASSERT_OK(vmt_hpet_write(f->h, off, 4, v));
}

static int edges(struct fx *f, unsigned line)
{
	return atomic_load(&f->irq.raises[line]);
}

static void check_books(struct fx *f)
{
	struct vmt_dev_stats st;

	ASSERT_OK(vmt_hpet_get_stats(f->h, &st));
	ASSERT_UEQ(st.ticks, st.raised + st.lost + st.backlog);
}

static void enable(struct fx *f)
{
	wr(f, VMT_HPET_GEN_CONF, VMT_HPET_ENABLE_CNF);
}

TEST(capabilities_and_power_up_state)
{
	struct fx f;

	fx_init(&f, VMT_TICKS_COALESCE, 0);
	/* 69841279 fs, vendor 8086, LEG_RT_CAP, COUNT_SIZE_CAP, 3 timers, rev 1 */
	ASSERT_UEQ(rd(&f, VMT_HPET_GCAP_ID), 0x0429b17f8086a201ull);
	ASSERT_UEQ(rd32(&f, VMT_HPET_GCAP_ID + 4), 69841279);
	ASSERT_UEQ(rd(&f, VMT_HPET_GEN_CONF), 0);
	ASSERT_UEQ(rd(&f, VMT_HPET_GINTR_STA), 0);
	ASSERT_UEQ(rd(&f, VMT_HPET_MAIN_COUNTER), 0);
	for (unsigned i = 0; i < 3; i++) {
		/* route cap 20-23, 64-bit, periodic-capable */
		ASSERT_UEQ(rd(&f, CONF(i)), 0x00f0000000000030ull);
		ASSERT_UEQ(rd(&f, CMP(i)), UINT64_MAX);
		ASSERT_UEQ(rd(&f, VMT_HPET_TIMER_FSB(i)), 0);
	}
	/* The capabilities are read-only; reserved offsets read 0. */
	wr(&f, VMT_HPET_GCAP_ID, 0);
	ASSERT_UEQ(rd(&f, VMT_HPET_GCAP_ID), 0x0429b17f8086a201ull);
	wr(&f, 0x008, ~0ull);
	wr(&f, 0x0e8, ~0ull);
	wr(&f, CONF(3), ~0ull);	/* past the last comparator */
	ASSERT_UEQ(rd(&f, 0x008), 0);
	ASSERT_UEQ(rd(&f, 0x0e8), 0);
	ASSERT_UEQ(rd(&f, CONF(3)), 0);
	ASSERT_UEQ(rd(&f, 0x3f8), 0);
	/* FSB delivery is not offered: the enable bit stays 0. */
	wr(&f, CONF(0), VMT_HPET_TN_FSB_EN_CNF);
	ASSERT_UEQ(rd(&f, CONF(0)) & VMT_HPET_TN_FSB_EN_CNF, 0);
	wr(&f, VMT_HPET_TIMER_FSB(0), 0x12345678);
	ASSERT_UEQ(rd(&f, VMT_HPET_TIMER_FSB(0)), 0);
	fx_fini(&f);

	/* More comparators and another clock change NUM_TIM_CAP and the period. */
	fx_clock(&f, 0);
	{
		struct vmt_hpet_config c;

		ASSERT_OK(vmt_hpet_config_init(&c));
		c.timers = 32;
		c.freq_hz = FREQ_100M;
		c.route_cap = 0x00000f00;
		ASSERT_OK(vmt_hpet_new(f.clk.loop, &c, &f.h));
	}
	ASSERT_UEQ(rd(&f, VMT_HPET_GCAP_ID), 0x009896808086bf01ull);
	ASSERT_UEQ(rd(&f, CONF(31)), 0x00000f0000000030ull);
	fx_fini(&f);
}

TEST(counter_counts_exactly_and_halts)
{
	struct fx f;
	vmt_ns t0;

	fx_init(&f, VMT_TICKS_COALESCE, 0);
	enable(&f);
	t0 = dev_now(&f.clk);
	dev_run_to(&f.clk, t0 + SEC);
	/* floor(10^15 / 69841279): the announced period is what counts */
	ASSERT_UEQ(rd(&f, VMT_HPET_MAIN_COUNTER), 14318179);
	dev_run_to(&f.clk, t0 + 3600 * SEC);
	ASSERT_UEQ(rd(&f, VMT_HPET_MAIN_COUNTER), 51545447785ull);
	ASSERT_UEQ(rd32(&f, VMT_HPET_MAIN_COUNTER), 51545447785ull & 0xffffffff);
	ASSERT_UEQ(rd32(&f, VMT_HPET_MAIN_COUNTER + 4), 51545447785ull >> 32);
	/* Writes while running are ignored. */
	wr(&f, VMT_HPET_MAIN_COUNTER, 5);
	ASSERT_UEQ(rd(&f, VMT_HPET_MAIN_COUNTER), 51545447785ull);
	/* Halted: frozen, and writable (either half). */
	wr(&f, VMT_HPET_GEN_CONF, 0);
	dev_run_to(&f.clk, dev_now(&f.clk) + SEC);
	ASSERT_UEQ(rd(&f, VMT_HPET_MAIN_COUNTER), 51545447785ull);
	wr32(&f, VMT_HPET_MAIN_COUNTER + 4, 0x12);
	ASSERT_UEQ(rd(&f, VMT_HPET_MAIN_COUNTER), 0x12ull << 32 | (51545447785ull & 0xffffffff));
	wr(&f, VMT_HPET_MAIN_COUNTER, 1000);
	wr32(&f, VMT_HPET_MAIN_COUNTER, 7);
	ASSERT_UEQ(rd(&f, VMT_HPET_MAIN_COUNTER), 7);
	/* Running again: counts from the written value at the same rate. */
	enable(&f);
	t0 = dev_now(&f.clk);
	dev_run_to(&f.clk, t0 + 69);
	ASSERT_UEQ(rd(&f, VMT_HPET_MAIN_COUNTER), 7);
	dev_run_to(&f.clk, t0 + 70);
	ASSERT_UEQ(rd(&f, VMT_HPET_MAIN_COUNTER), 8);
	/* The 64-bit counter wraps to 0. */
	wr(&f, VMT_HPET_GEN_CONF, 0);
	wr(&f, VMT_HPET_MAIN_COUNTER, UINT64_MAX);
	enable(&f);
	dev_run_to(&f.clk, dev_now(&f.clk) + 140);
	ASSERT_UEQ(rd(&f, VMT_HPET_MAIN_COUNTER), 1);
	fx_fini(&f);
}

TEST(one_shot_fires_once_when_the_counter_reaches_it)
{
	struct fx f;
	vmt_ns t0;

	fx_init(&f, VMT_TICKS_COALESCE, FREQ_100M);
	wr(&f, CONF(2), ENB | ROUTE(20));
	wr(&f, CMP(2), 500);	/* 5 us */
	enable(&f);
	t0 = dev_now(&f.clk);
	dev_run_to(&f.clk, t0 + 4999);
	ASSERT_EQ(edges(&f, 20), 0);
	dev_run_to(&f.clk, t0 + 5000);
	ASSERT_EQ(edges(&f, 20), 1);
	ASSERT_UEQ(f.irq.last_at, t0 + 5000);
	ASSERT_EQ(atomic_load(&f.irq.level[20]), 0);	/* a pulse */
	ASSERT_UEQ(rd(&f, CMP(2)), 500);
	ASSERT_UEQ(rd(&f, VMT_HPET_GINTR_STA), 0);	/* edge: no status */
	dev_run_to(&f.clk, t0 + 10 * SEC);
	ASSERT_EQ(edges(&f, 20), 1);	/* 64-bit: not again for 2^64 ticks */
	/* A comparator at the counter's current value waits for the next wrap. */
	wr(&f, CMP(2), rd(&f, VMT_HPET_MAIN_COUNTER));
	dev_run_to(&f.clk, dev_now(&f.clk) + SEC);
	ASSERT_EQ(edges(&f, 20), 1);
	/* One already passed does too; a later one fires. */
	wr(&f, CMP(2), rd(&f, VMT_HPET_MAIN_COUNTER) + 10);
	dev_run_to(&f.clk, dev_now(&f.clk) + 100);
	ASSERT_EQ(edges(&f, 20), 2);
	/* Disabled: counts as a match, raises nothing. */
	wr(&f, CONF(2), ROUTE(20));
	wr(&f, CMP(2), rd(&f, VMT_HPET_MAIN_COUNTER) + 10);
	dev_run_to(&f.clk, dev_now(&f.clk) + 100);
	ASSERT_EQ(edges(&f, 20), 2);
	check_books(&f);
	fx_fini(&f);
}

TEST(one_shot_in_32_bit_mode_fires_again_after_the_wrap)
{
	struct fx f;
	vmt_ns t0;

	fx_init(&f, VMT_TICKS_COALESCE, FREQ_100M);
	wr(&f, CMP(0), 0x1234567890ull);
	wr(&f, CONF(0), ENB | M32 | ROUTE(21));
	ASSERT_UEQ(rd(&f, CMP(0)), 0x34567890);	/* the upper half is dropped */
	ASSERT_UEQ(rd32(&f, CMP(0) + 4), 0);
	wr(&f, CMP(0), 0xabcdef00000010ull);
	ASSERT_UEQ(rd(&f, CMP(0)), 0x10);
	wr(&f, VMT_HPET_MAIN_COUNTER, 0xfffffff0ull);
	enable(&f);
	t0 = dev_now(&f.clk);
	dev_run_to(&f.clk, t0 + 0x20 * 10 - 1);
	ASSERT_EQ(edges(&f, 21), 0);
	dev_run_to(&f.clk, t0 + 0x20 * 10);	/* low half 0x10 after the wrap */
	ASSERT_EQ(edges(&f, 21), 1);
	ASSERT_UEQ(rd(&f, VMT_HPET_MAIN_COUNTER), 0x100000010ull);
	/* Again 2^32 ticks (42.9 s at 100 MHz) later. */
	dev_run_to(&f.clk, t0 + 0x20 * 10 + (1ull << 32) * 10 - 1);
	ASSERT_EQ(edges(&f, 21), 1);
	dev_run_to(&f.clk, t0 + 0x20 * 10 + (1ull << 32) * 10);
	ASSERT_EQ(edges(&f, 21), 2);
	fx_fini(&f);
}

TEST(periodic_adds_the_period_on_each_match)
{
	struct fx f;
	vmt_ns t0;

	fx_init(&f, VMT_TICKS_COALESCE, FREQ_100M);
	wr(&f, CONF(0), ENB | PER | SETVAL | ROUTE(22));
	wr(&f, CMP(0), 100000);	/* accumulator: first match at 1 ms */
	ASSERT_UEQ(rd(&f, CONF(0)) & SETVAL, 0);	/* clears itself */
	wr(&f, CMP(0), 50000);	/* then the period: 500 us */
	ASSERT_UEQ(rd(&f, CMP(0)), 100000);
	enable(&f);
	t0 = dev_now(&f.clk);
	dev_run_to(&f.clk, t0 + VMT_NS_PER_MS - 1);
	ASSERT_EQ(edges(&f, 22), 0);
	dev_run_to(&f.clk, t0 + VMT_NS_PER_MS);
	ASSERT_EQ(edges(&f, 22), 1);
	ASSERT_UEQ(rd(&f, CMP(0)), 150000);	/* the next match */
	dev_run_to(&f.clk, t0 + VMT_NS_PER_MS + 1000 * 500000);
	ASSERT_EQ(edges(&f, 22), 1001);
	ASSERT_UEQ(f.irq.last_at, t0 + VMT_NS_PER_MS + 1000 * 500000);
	/* Without VAL_SET a comparator write sets only the period. */
	wr(&f, CMP(0), 20000);
	ASSERT_UEQ(rd(&f, CMP(0)), 100000 + 1001 * 50000ull);
	dev_run_to(&f.clk, dev_now(&f.clk) + 500000);
	ASSERT_EQ(edges(&f, 22), 1002);
	dev_run_to(&f.clk, dev_now(&f.clk) + 200000);
	ASSERT_EQ(edges(&f, 22), 1003);
	check_books(&f);
	/* Back to one-shot: stops after the match under way. */
	wr(&f, CONF(0), ENB | ROUTE(22));
	dev_run_to(&f.clk, dev_now(&f.clk) + 10 * VMT_NS_PER_MS);
	ASSERT_EQ(edges(&f, 22), 1004);
	fx_fini(&f);
}

TEST(periodic_32_bit_mode_wraps_the_comparator)
{
	struct fx f;
	vmt_ns t0;

	fx_init(&f, VMT_TICKS_COALESCE, FREQ_100M);
	wr(&f, CONF(1), ENB | PER | M32 | SETVAL | ROUTE(20));
	wr32(&f, CMP(1), 0xffffff00u);
	wr32(&f, CMP(1), 0x1000);	/* 40.96 us */
	wr(&f, VMT_HPET_MAIN_COUNTER, 0xfffffe00u);
	enable(&f);
	t0 = dev_now(&f.clk);
	dev_run_to(&f.clk, t0 + 0x100 * 10);
	ASSERT_EQ(edges(&f, 20), 1);
	ASSERT_UEQ(rd(&f, CMP(1)), 0xf00);	/* 0xffffff00 + 0x1000 mod 2^32 */
	dev_run_to(&f.clk, t0 + 0x1100 * 10 - 1);
	ASSERT_EQ(edges(&f, 20), 1);
	dev_run_to(&f.clk, t0 + 0x1100 * 10);
	ASSERT_EQ(edges(&f, 20), 2);
	ASSERT_UEQ(rd(&f, CMP(1)), 0x1f00);
	fx_fini(&f);
}

TEST(level_interrupt_holds_status_until_written_one)
{
	struct fx f;
	vmt_ns t0;

	fx_init(&f, VMT_TICKS_COALESCE, FREQ_100M);
	wr(&f, CONF(1), ENB | LVL | PER | SETVAL | ROUTE(23));
	wr(&f, CMP(1), 10000);
	wr(&f, CMP(1), 10000);	/* 100 us */
	enable(&f);
	t0 = dev_now(&f.clk);
	dev_run_to(&f.clk, t0 + 100000);
	ASSERT_EQ(edges(&f, 23), 1);
	ASSERT_EQ(atomic_load(&f.irq.level[23]), 1);
	ASSERT_UEQ(rd(&f, VMT_HPET_GINTR_STA), 2);
	/* Unacknowledged: the next matches coalesce, the line stays up. */
	dev_run_to(&f.clk, t0 + 500000);
	ASSERT_EQ(edges(&f, 23), 1);
	/* Writing 0 does nothing; writing 1 clears and deasserts. */
	wr(&f, VMT_HPET_GINTR_STA, 0);
	ASSERT_UEQ(rd(&f, VMT_HPET_GINTR_STA), 2);
	wr(&f, VMT_HPET_GINTR_STA, ~0ull);
	ASSERT_UEQ(rd(&f, VMT_HPET_GINTR_STA), 0);
	ASSERT_EQ(atomic_load(&f.irq.level[23]), 0);
	dev_run_to(&f.clk, t0 + 600000);
	ASSERT_EQ(edges(&f, 23), 2);
	ASSERT_EQ(atomic_load(&f.irq.level[23]), 1);
	/* Disabling the interrupt deasserts but keeps the status. */
	wr(&f, CONF(1), LVL | PER | ROUTE(23));
	ASSERT_EQ(atomic_load(&f.irq.level[23]), 0);
	ASSERT_UEQ(rd(&f, VMT_HPET_GINTR_STA), 2);
	wr32(&f, VMT_HPET_GINTR_STA, 2);
	/* A disabled level comparator still sets its status bit. */
	dev_run_to(&f.clk, dev_now(&f.clk) + 100000);
	ASSERT_UEQ(rd(&f, VMT_HPET_GINTR_STA), 2);
	ASSERT_EQ(atomic_load(&f.irq.level[23]), 0);
	ASSERT_EQ(edges(&f, 23), 2);
	/* Switching to edge clears it. */
	wr(&f, CONF(1), PER | ROUTE(23));
	ASSERT_UEQ(rd(&f, VMT_HPET_GINTR_STA), 0);
	check_books(&f);
	fx_fini(&f);
}

TEST(legacy_replacement_routes_timers_0_and_1_to_irq0_and_irq8)
{
	struct fx f;

	fx_init(&f, VMT_TICKS_COALESCE, FREQ_100M);
	for (unsigned i = 0; i < 3; i++) {
		wr(&f, CONF(i), ENB | PER | SETVAL | ROUTE(20 + i));
		wr(&f, CMP(i), 1000);
		wr(&f, CMP(i), 1000);	/* 10 us */
	}
	wr(&f, VMT_HPET_GEN_CONF, VMT_HPET_ENABLE_CNF | VMT_HPET_LEG_RT_CNF);
	ASSERT_UEQ(rd(&f, VMT_HPET_GEN_CONF), 3);
	dev_run_to(&f.clk, dev_now(&f.clk) + 100000);
	ASSERT_EQ(edges(&f, VMT_HPET_LINE_IRQ0), 10);
	ASSERT_EQ(edges(&f, VMT_HPET_LINE_IRQ8), 10);
	ASSERT_EQ(edges(&f, 22), 10);
	ASSERT_EQ(edges(&f, 20) + edges(&f, 21), 0);
	/* Legacy off: the routes again. */
	wr(&f, VMT_HPET_GEN_CONF, VMT_HPET_ENABLE_CNF);
	dev_run_to(&f.clk, dev_now(&f.clk) + 100000);
	ASSERT_EQ(edges(&f, 20), 10);
	ASSERT_EQ(edges(&f, 21), 10);
	ASSERT_EQ(edges(&f, VMT_HPET_LINE_IRQ0), 10);
	fx_fini(&f);
}

TEST(route_outside_the_capability_is_refused)
{
	struct fx f;

	fx_init(&f, VMT_TICKS_COALESCE, FREQ_100M);
	wr(&f, CONF(0), ENB | ROUTE(21));
	wr(&f, CONF(0), ENB | ROUTE(5));	/* not in 0x00f00000: reads back unchanged */
	ASSERT_UEQ((rd(&f, CONF(0)) & VMT_HPET_TN_INT_ROUTE_CNF) >> 9, 21);
	/* The reset route 0 is outside the capability: nothing is raised. */
	wr(&f, CONF(1), ENB);
	wr(&f, CMP(1), 100);
	wr(&f, CMP(0), 100);
	enable(&f);
	dev_run_to(&f.clk, dev_now(&f.clk) + SEC);
	ASSERT_EQ(edges(&f, 0), 0);
	ASSERT_EQ(edges(&f, 21), 1);
	check_books(&f);
	fx_fini(&f);
}

TEST(pause_freezes_the_counter_and_raises_nothing)
{
	struct fx f;
	uint64_t c;

	fx_init(&f, VMT_TICKS_COALESCE, FREQ_100M);
	wr(&f, CONF(0), ENB | PER | SETVAL | ROUTE(20));
	wr(&f, CMP(0), 100000);
	wr(&f, CMP(0), 100000);	/* 1 ms */
	enable(&f);
	dev_run_to(&f.clk, dev_now(&f.clk) + 300000);
	ASSERT_OK(vmt_keeper_stop(f.clk.k));
	c = rd(&f, VMT_HPET_MAIN_COUNTER);
	ASSERT_UEQ(c, 30000);
	ASSERT_OK(vmt_loop_dispatch(f.clk.loop));
	ASSERT_UEQ(rd(&f, VMT_HPET_MAIN_COUNTER), c);
	ASSERT_EQ(edges(&f, 20), 0);
	ASSERT_OK(vmt_keeper_start(f.clk.k));
	dev_run_to(&f.clk, dev_now(&f.clk) + 700000 - 1);
	ASSERT_EQ(edges(&f, 20), 0);
	dev_run_to(&f.clk, dev_now(&f.clk) + 1);
	ASSERT_EQ(edges(&f, 20), 1);
	fx_fini(&f);
}

TEST(save_restore_mid_period_resumes_exactly)
{
	struct fx f, g;
	vmt_snap_writer *sw;
	vmt_snap_reader *sr;
	vmt_fields_writer *w;
	vmt_fields_reader r;
	vmt_ns t0, ts;

	/* The default clock: the saved fraction of a tick must survive. */
	fx_init(&f, VMT_TICKS_COALESCE, 0);
	wr(&f, CONF(2), ENB | PER | SETVAL | LVL | ROUTE(22));
	wr(&f, CMP(2), 14318);
	wr(&f, CMP(2), 14318);
	wr(&f, CONF(1), ENB | M32 | ROUTE(21));
	wr(&f, CMP(1), 22909);	/* 1599993.86 ns */
	enable(&f);
	t0 = dev_now(&f.clk);
	dev_run_to(&f.clk, t0 + 1500033);	/* a level match at ~1 ms, status still set */
	ASSERT_OK(vmt_keeper_stop(f.clk.k));
	ts = dev_now(&f.clk);
	ASSERT_UEQ(rd(&f, VMT_HPET_GINTR_STA), 4);
	ASSERT_OK(vmt_snap_writer_new(&sw));
	ASSERT_OK(vmt_snap_writer_section(sw, "hpet", 1, &w));
	ASSERT_OK(vmt_hpet_save(f.h, w, 3));
	dev_reopen(sw, "hpet", &sr, &r);

	fx_clock(&g, ts);
	fx_dev(&g, VMT_TICKS_COALESCE, 0, 0);
	ASSERT_OK(vmt_hpet_restore(g.h, &r, 3));
	ASSERT_EQ(atomic_load(&g.irq.level[22]), 0);	/* nothing raised by the restore */
	ASSERT_OK(vmt_keeper_start(g.clk.k));
	ASSERT_OK(vmt_keeper_start(f.clk.k));
	ASSERT_UEQ(rd(&g, VMT_HPET_GINTR_STA), 4);
	ASSERT_UEQ(rd(&g, CMP(2)), rd(&f, CMP(2)));
	ASSERT_UEQ(rd(&g, CONF(1)), rd(&f, CONF(1)));
	/* Both run side by side: every counter read and interrupt agree. */
	for (vmt_ns t = ts; t < ts + 200000; t += 7) {
		dev_run_to(&f.clk, t);
		dev_run_to(&g.clk, t);
		ASSERT_UEQ(rd(&g, VMT_HPET_MAIN_COUNTER), rd(&f, VMT_HPET_MAIN_COUNTER));
	}
	ASSERT_EQ(edges(&g, 21), edges(&f, 21));
	ASSERT_EQ(edges(&g, 21), 1);	/* the one-shot, after the restore */
	ASSERT_UEQ(g.irq.last_at, t0 + 1599994);
	ASSERT_UEQ(f.irq.last_at, t0 + 1599994);
	wr(&g, VMT_HPET_GINTR_STA, 4);
	ASSERT_ERR(vmt_hpet_restore(g.h, &r, 4), -ENOENT);
	ASSERT_ERR(vmt_hpet_restore(NULL, &r, 3), -EINVAL);
	ASSERT_ERR(vmt_hpet_save(g.h, NULL, 3), -EINVAL);
	vmt_snap_reader_free(sr);
	vmt_snap_writer_free(sw);
	fx_fini(&g);
	fx_fini(&f);
}

TEST(restore_refuses_impossible_values)
{
	struct fx f;
	/* field id -> a bad value: version, comparator count, GEN_CONF bit 2,
	 * status of timer 3, acc beyond the elapsed time, config bit 0,
	 * a 32-bit comparator over 32 bits, backlog over the cap */
	static const struct {
		uint32_t id;
		uint64_t v;
	} bad[] = { { 1, 2 }, { 2, 4 }, { 3, 4 }, { 4, 8 }, { 7, 1 },
		    { 16, 1 }, { 17, 1ull << 32 }, { 19, VMT_TICKS_BACKLOG_MAX + 1 },
		    { 4, 2 } /* status of the edge comparator 1 */ };

	fx_init(&f, VMT_TICKS_COALESCE, 0);
	for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
		vmt_snap_writer *sw;
		vmt_snap_reader *sr;
		vmt_fields_writer *w;
		vmt_fields_reader r;

		ASSERT_OK(vmt_snap_writer_new(&sw));
		ASSERT_OK(vmt_snap_writer_section(sw, "hpet", 1, &w));
		ASSERT_OK(vmt_fields_begin_group(w, 1));
		for (uint32_t id = 1; id <= 7; id++)
			ASSERT_OK(vmt_fields_put_u64(w, id, id == bad[b].id ? bad[b].v :
							    id == 1 ? 1 : id == 2 ? 3 : 0));
		for (uint32_t id = 16; id < 16 + 12; id++) {
			uint64_t v = id == 16 ? (bad[b].id == 17 ? M32 : LVL) : 0;

			ASSERT_OK(vmt_fields_put_u64(w, id, id == bad[b].id && id != 16 ? bad[b].v :
							    id == 16 && bad[b].id == 16 ? 1 : v));
		}
		ASSERT_OK(vmt_fields_end_group(w));
		dev_reopen(sw, "hpet", &sr, &r);
		if (vmt_hpet_restore(f.h, &r, 1) != -EBADMSG)
			VMT_FAIL("bad value %zu was taken", b);
		vmt_snap_reader_free(sr);
		vmt_snap_writer_free(sw);
	}
	ASSERT_UEQ(rd(&f, CMP(0)), UINT64_MAX);	/* unchanged */
	fx_fini(&f);
}

TEST(minimum_period_clamps_a_one_tick_period)
{
	struct fx f;
	struct vmt_dev_stats st;

	fx_init(&f, VMT_TICKS_COALESCE, FREQ_100M);
	wr(&f, CONF(0), ENB | PER | SETVAL | ROUTE(20));
	wr(&f, CMP(0), 1);
	wr(&f, CMP(0), 1);	/* every 10 ns */
	enable(&f);
	dev_run_to(&f.clk, dev_now(&f.clk) + VMT_NS_PER_MS);
	/* At most one raise per 10 us. */
	ASSERT_LE(edges(&f, 20), 101);
	ASSERT_GE(edges(&f, 20), 99);
	ASSERT_OK(vmt_hpet_get_stats(f.h, &st));
	ASSERT_UEQ(st.ticks, 100000);	/* counted at the programmed rate */
	ASSERT_UEQ(rd(&f, CMP(0)), 100001);
	check_books(&f);
	fx_fini(&f);

	/* A lowered minimum of 1 ns: still one raise per loop pass at most. */
	fx_clock(&f, 0);
	fx_dev(&f, VMT_TICKS_COALESCE, FREQ_100M, 1);
	ASSERT_OK(vmt_keeper_start(f.clk.k));
	wr(&f, CONF(0), ENB | PER | SETVAL | ROUTE(20));
	wr(&f, CMP(0), 1);
	wr(&f, CMP(0), 1);
	enable(&f);
	dev_run_to(&f.clk, dev_now(&f.clk) + 10000);
	ASSERT_UEQ(edges(&f, 20), 1000);
	check_books(&f);
	fx_fini(&f);
}

static void periodic_1ms(struct fx *f, unsigned conf)
{
	wr(f, CONF(0), ENB | PER | SETVAL | ROUTE(20) | conf);
	wr(f, CMP(0), 100000);
	wr(f, CMP(0), 100000);	/* 1 ms */
	enable(f);
}

TEST(reinject_retries_coalesced_edges)
{
	struct fx f;
	struct vmt_dev_stats st;

	fx_init(&f, VMT_TICKS_REINJECT, FREQ_100M);
	periodic_1ms(&f, 0);
	f.irq.accept = 0;	/* the guest has interrupts off */
	dev_run_to(&f.clk, dev_now(&f.clk) + 10 * VMT_NS_PER_MS);
	ASSERT_OK(vmt_hpet_get_stats(f.h, &st));
	ASSERT_UEQ(st.ticks, 10);
	ASSERT_UEQ(st.lost, 0);
	ASSERT_UEQ(st.backlog, 10);
	ASSERT_UGE(st.coalesced, 10);	/* each retry was coalesced too */
	check_books(&f);
	f.irq.accept = 1;
	dev_run_to(&f.clk, dev_now(&f.clk) + 10 * VMT_NS_PER_MS);
	ASSERT_OK(vmt_hpet_get_stats(f.h, &st));
	ASSERT_UEQ(st.ticks, 20);
	ASSERT_UEQ(st.raised, 20);	/* every tick delivered in the end */
	ASSERT_UEQ(st.backlog, 0);
	check_books(&f);
	/* A reset drops the backlog (lost) and deasserts. */
	ASSERT_OK(vmt_hpet_reset(f.h));
	ASSERT_UEQ(rd(&f, VMT_HPET_GEN_CONF), 0);
	ASSERT_UEQ(rd(&f, VMT_HPET_MAIN_COUNTER), 0);
	check_books(&f);
	fx_fini(&f);
}

TEST(reinject_on_a_level_comparator_takes_one_per_status_clear)
{
	struct fx f;
	struct vmt_dev_stats st;

	fx_init(&f, VMT_TICKS_REINJECT, FREQ_100M);
	periodic_1ms(&f, LVL);
	dev_run_to(&f.clk, dev_now(&f.clk) + 10 * VMT_NS_PER_MS);
	ASSERT_EQ(edges(&f, 20), 1);
	ASSERT_OK(vmt_hpet_get_stats(f.h, &st));
	ASSERT_UEQ(st.ticks, 10);
	ASSERT_UEQ(st.raised, 1);
	ASSERT_UEQ(st.backlog, 9);
	for (int i = 0; i < 9; i++) {
		wr(&f, VMT_HPET_GINTR_STA, 1);
		ASSERT_UEQ(rd(&f, VMT_HPET_GINTR_STA), 1);	/* the next one at once */
		ASSERT_EQ(atomic_load(&f.irq.level[20]), 1);
	}
	wr(&f, VMT_HPET_GINTR_STA, 1);
	ASSERT_UEQ(rd(&f, VMT_HPET_GINTR_STA), 0);
	ASSERT_EQ(atomic_load(&f.irq.level[20]), 0);
	ASSERT_OK(vmt_hpet_get_stats(f.h, &st));
	ASSERT_UEQ(st.raised, 10);
	ASSERT_UEQ(st.backlog, 0);
	check_books(&f);
	fx_fini(&f);
}

TEST(coalesce_and_delay_lose_missed_ticks)
{
	struct fx f;
	struct vmt_dev_stats st;
	vmt_ns t0;

	fx_init(&f, VMT_TICKS_COALESCE, FREQ_100M);
	periodic_1ms(&f, 0);
	f.irq.accept = 0;
	dev_run_to(&f.clk, dev_now(&f.clk) + 10 * VMT_NS_PER_MS);
	ASSERT_OK(vmt_hpet_get_stats(f.h, &st));
	ASSERT_UEQ(st.lost, 10);
	ASSERT_UEQ(st.coalesced, 10);
	check_books(&f);
	/* Matches the loop missed merge into one; the grid is kept. */
	f.irq.accept = 1;
	ASSERT_OK(vmt_keeper_advance(f.clk.k, 5500 * VMT_NS_PER_US));
	dev_run_to(&f.clk, dev_now(&f.clk));
	ASSERT_EQ(edges(&f, 20), 11);
	ASSERT_OK(vmt_hpet_get_stats(f.h, &st));
	ASSERT_UEQ(st.lost, 14);
	ASSERT_UEQ(rd(&f, CMP(0)), 100000 * 16);
	fx_fini(&f);

	/* DELAY: one interrupt, then the grid counts from now. */
	fx_init(&f, VMT_TICKS_DELAY, FREQ_100M);
	periodic_1ms(&f, 0);
	t0 = dev_now(&f.clk);
	ASSERT_OK(vmt_keeper_advance(f.clk.k, 5500 * VMT_NS_PER_US));
	dev_run_to(&f.clk, dev_now(&f.clk));
	ASSERT_EQ(edges(&f, 20), 1);
	ASSERT_UEQ(rd(&f, CMP(0)), 550000 + 100000);
	dev_run_to(&f.clk, t0 + 6500 * VMT_NS_PER_US);
	ASSERT_EQ(edges(&f, 20), 2);
	ASSERT_OK(vmt_hpet_get_stats(f.h, &st));
	ASSERT_UEQ(st.ticks, 6);
	ASSERT_UEQ(st.lost, 4);
	check_books(&f);
	fx_fini(&f);
}

TEST(bad_offsets_sizes_and_arguments)
{
	struct fx f;
	struct vmt_hpet_config c;
	vmt_hpet *h;
	uint64_t v;

	fx_init(&f, VMT_TICKS_COALESCE, 0);
	ASSERT_ERR(vmt_hpet_read(f.h, 0, 1, &v), -EINVAL);
	ASSERT_ERR(vmt_hpet_read(f.h, 0, 2, &v), -EINVAL);
	ASSERT_ERR(vmt_hpet_read(f.h, 0, 16, &v), -EINVAL);
	ASSERT_ERR(vmt_hpet_read(f.h, 4, 8, &v), -EINVAL);
	ASSERT_ERR(vmt_hpet_read(f.h, 2, 4, &v), -EINVAL);
	ASSERT_ERR(vmt_hpet_write(f.h, 0x10c, 8, 0), -EINVAL);
	ASSERT_ERR(vmt_hpet_read(f.h, VMT_HPET_BLOCK_SIZE, 4, &v), -EINVAL);
	ASSERT_ERR(vmt_hpet_write(f.h, UINT64_MAX - 7, 8, 0), -EINVAL);
	ASSERT_ERR(vmt_hpet_read(f.h, 0, 8, NULL), -EINVAL);
	ASSERT_ERR(vmt_hpet_read(NULL, 0, 8, &v), -EINVAL);
	ASSERT_ERR(vmt_hpet_write(NULL, 0, 8, 0), -EINVAL);
	ASSERT_ERR(vmt_hpet_reset(NULL), -EINVAL);
	ASSERT_ERR(vmt_hpet_get_stats(f.h, NULL), -EINVAL);
	ASSERT_ERR(vmt_hpet_get_stats(NULL, &(struct vmt_dev_stats){ 0 }), -EINVAL);
	ASSERT_ERR(vmt_hpet_inspect(f.h, NULL), -EINVAL);
	ASSERT_ERR(vmt_hpet_config_init(NULL), -EINVAL);
	ASSERT_TRUE(vmt_hpet_free(NULL) == NULL);

	ASSERT_OK(vmt_hpet_config_init(&c));
	ASSERT_ERR(vmt_hpet_new(NULL, &c, &h), -EINVAL);
	ASSERT_ERR(vmt_hpet_new(f.clk.loop, NULL, &h), -EINVAL);
	ASSERT_ERR(vmt_hpet_new(f.clk.loop, &c, NULL), -EINVAL);
	c.freq_hz = 9999999;	/* a period over 100 ns */
	ASSERT_ERR(vmt_hpet_new(f.clk.loop, &c, &h), -EINVAL);
	c.freq_hz = 10000000;	/* exactly 100 ns: allowed */
	ASSERT_OK(vmt_hpet_new(f.clk.loop, &c, &h));
	vmt_hpet_free(h);
	c.freq_hz = 1000000001;
	ASSERT_ERR(vmt_hpet_new(f.clk.loop, &c, &h), -EINVAL);
	c.freq_hz = 0;
	c.timers = 2;
	ASSERT_ERR(vmt_hpet_new(f.clk.loop, &c, &h), -EINVAL);
	c.timers = 33;
	ASSERT_ERR(vmt_hpet_new(f.clk.loop, &c, &h), -EINVAL);
	c.timers = 0;
	c.dev.ticks = (enum vmt_tick_policy)7;
	ASSERT_ERR(vmt_hpet_new(f.clk.loop, &c, &h), -EINVAL);
	c.dev.ticks = VMT_TICKS_COALESCE;
	c.dev.name = "bad\"name";
	ASSERT_ERR(vmt_hpet_new(f.clk.loop, &c, &h), -EINVAL);
	c.dev.name = "0123456789012345678901234567890123456789012345678901234567890123";
	ASSERT_ERR(vmt_hpet_new(f.clk.loop, &c, &h), -ENAMETOOLONG);
	fx_fini(&f);
}

TEST(hostile_streams)
{
	struct fx f;
	unsigned seed = 1234;

	fx_init(&f, VMT_TICKS_REINJECT, 0);
	for (int round = 0; round < 300; round++) {
		for (int i = 0; i < 20; i++) {
			unsigned x = (unsigned)rand_r(&seed), y = (unsigned)rand_r(&seed);
			/* Mostly real registers, sometimes anywhere in the block. */
			uint64_t off = x & 0x100 ? (x >> 9) % 0x60 * 8 + 0x100 : (x >> 9) % 0x20 * 8;
			unsigned size = x & 2 ? 4 : 8;
			uint64_t v = (uint64_t)y << 32 | (unsigned)rand_r(&seed);

			if (size == 4 && x & 4)
				off += 4;
			if (x & 1)
				ASSERT_OK(vmt_hpet_write(f.h, off, size, x & 8 ? v & 0x3ff : v));
			else
				ASSERT_OK(vmt_hpet_read(f.h, off, size, &v));
		}
		dev_run_to(&f.clk, dev_now(&f.clk) + (vmt_ns)(rand_r(&seed) % 200000));
		check_books(&f);
	}
	/* Every comparator at a 1-tick period for 10 ms: bounded raises. */
	for (int l = 0; l < 64; l++)
		atomic_store(&f.irq.raises[l], 0);
	ASSERT_OK(vmt_hpet_reset(f.h));
	for (unsigned i = 0; i < 3; i++) {
		wr(&f, CONF(i), ENB | PER | SETVAL | ROUTE(20));
		wr(&f, CMP(i), 1);
		wr(&f, CMP(i), 1);
	}
	enable(&f);
	dev_run_to(&f.clk, dev_now(&f.clk) + 10 * VMT_NS_PER_MS);
	ASSERT_LE(edges(&f, 20), 3 * 1002);
	check_books(&f);
	fx_fini(&f);
}

TEST(inspect_and_unit)
{
	struct fx f;
	vmt_units *units;
	vmt_unit *u;
	char *buf = NULL;
	size_t len = 0;
	FILE *out;

	fx_init(&f, VMT_TICKS_COALESCE, FREQ_100M);
	periodic_1ms(&f, LVL);
	out = open_memstream(&buf, &len);
	ASSERT_TRUE(out != NULL);
	ASSERT_OK(vmt_hpet_inspect(f.h, out));
	fclose(out);
	ASSERT_TRUE(strstr(buf, "\"name\":\"hpet\"") != NULL);
	ASSERT_TRUE(strstr(buf, "\"period_fs\":10000000") != NULL);
	ASSERT_TRUE(strstr(buf, "\"mode\":\"periodic\",\"level\":true") != NULL);
	ASSERT_TRUE(strstr(buf, "\"line\":20") != NULL);
	ASSERT_TRUE(strstr(buf, "\"line\":-1") != NULL);
	free(buf);

	ASSERT_OK(vmt_units_new(&units));
	ASSERT_ERR(vmt_hpet_add_unit(f.h, units, &u), -ENOENT);
	ASSERT_ERR(vmt_hpet_add_unit(NULL, units, &u), -EINVAL);
	ASSERT_ERR(vmt_hpet_add_unit(f.h, NULL, &u), -EINVAL);
	ASSERT_OK(vmt_keeper_add_unit(f.clk.k, units, NULL));
	ASSERT_OK(vmt_hpet_add_unit(f.h, units, &u));
	ASSERT_STREQ(vmt_unit_name(u), "hpet");
	{
		vmt_snap_writer *sw;
		vmt_snap_reader *sr;
		const void *p;
		size_t n;

		ASSERT_OK(vmt_keeper_stop(f.clk.k));
		ASSERT_OK(vmt_snap_writer_new(&sw));
		ASSERT_OK(vmt_units_save(units, sw, NULL));
		ASSERT_OK(vmt_snap_writer_save_buffer(sw, &p, &n, NULL));
		ASSERT_OK(vmt_units_reset(units, NULL));
		ASSERT_UEQ(rd(&f, VMT_HPET_GEN_CONF), 0);
		ASSERT_OK(vmt_snap_reader_from_buffer(p, n, &sr, NULL));
		ASSERT_OK(vmt_units_restore(units, sr, NULL));
		ASSERT_UEQ(rd(&f, VMT_HPET_GEN_CONF), 1);
		ASSERT_UEQ(rd(&f, CONF(0)) & 0xffff, 0x30 | ENB | PER | LVL | ROUTE(20));
		vmt_snap_reader_free(sr);
		vmt_snap_writer_free(sw);
	}
	vmt_units_free(units);
	fx_fini(&f);
}

TEST(reinject_without_an_irq_callback_drops_instead_of_retrying)
{
	struct fx f;
	struct vmt_hpet_config c;
	struct vmt_dev_stats st;
	int callbacks;

	fx_init(&f, VMT_TICKS_REINJECT, FREQ_100M);
	vmt_hpet_free(f.h);
	ASSERT_OK(vmt_hpet_config_init(&c));
	c.dev.ticks = VMT_TICKS_REINJECT;	/* no irq: interrupts are dropped */
	c.freq_hz = FREQ_100M;
	ASSERT_OK(vmt_hpet_new(f.clk.loop, &c, &f.h));
	periodic_1ms(&f, 0);
	callbacks = vmt_loop_run_until(f.clk.loop, dev_now(&f.clk) + 10 * VMT_NS_PER_MS);
	ASSERT_OK(vmt_hpet_get_stats(f.h, &st));
	ASSERT_UEQ(st.ticks, 10);
	ASSERT_UEQ(st.lost, 10);
	ASSERT_UEQ(st.backlog, 0);
	ASSERT_LE(callbacks, 10);	/* one wakeup per period, no retries */
	fx_fini(&f);
}

/* ---- threads: VMT_TEST_THREADED ------------------------------------------ */

struct racer {
	struct fx *f;
	atomic_int *stop;
	unsigned seed;
};

static void *race(void *arg)
{
	static const unsigned offs[] = { VMT_HPET_GEN_CONF, VMT_HPET_GINTR_STA,
					 VMT_HPET_MAIN_COUNTER, CONF(0), CMP(0), CONF(1), CMP(1),
					 CONF(2) };
	struct racer *r = arg;
	uint64_t v;

	while (!atomic_load(r->stop)) {
		unsigned x = (unsigned)rand_r(&r->seed);
		unsigned off = offs[(x >> 1) & 7];

		if (x & 1)
			vmt_hpet_write(r->f->h, off, 8,
				       off == VMT_HPET_GEN_CONF ? (x >> 4) & 3 :
				       off == CONF(0) || off == CONF(1) || off == CONF(2) ?
							       ((x >> 4) & 0x14e) | ROUTE(20) :
							       (x >> 8) & 0xffff);
		else
			vmt_hpet_read(r->f->h, off, x & 0x10 ? 4 : 8, &v);
	}
	return NULL;
}

TEST(threaded_register_access)
{
	struct fx f;
	pthread_t th[2];
	struct racer rc[2];
	atomic_int stop = 0;

	fx_init(&f, VMT_TICKS_REINJECT, FREQ_100M);
	for (int i = 0; i < 2; i++) {
		rc[i] = (struct racer){ &f, &stop, (unsigned)i + 7 };
		ASSERT_EQ(pthread_create(&th[i], NULL, race, &rc[i]), 0);
	}
	for (int i = 0; i < 2000; i++)
		dev_run_to(&f.clk, dev_now(&f.clk) + 20000);
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	check_books(&f);
	fx_fini(&f);
}
