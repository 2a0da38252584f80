/* SPDX-License-Identifier: MIT */
/*
 * test-pit.c - the library's i8254 (vmtime/pit.h) on a manual VM clock:
 * exact counts per mode against the datasheet, gates, BCD, latch and
 * read-back, port 0x61, pause, save/restore mid-period, every tick policy
 * with exact counts, the accounting of ticks due across a policy switch
 * (issue 9 defect 12), hostile input, and register access from threads
 * while the loop runs (VMT_TEST_THREADED: also under TSan).
 *
 * Times are input-clock indices: clock edge c happens at VM ns
 * ceil(c * 1e9 / 1193182) (tclk()); the VM clock starts at 0, so a write
 * at VM time 0 loads the count on edge 1.
 */
#include <pthread.h>
#include <stdatomic.h>

#include <vmtime/keeper.h>
#include <vmtime/loop.h>
#include <vmtime/pit.h>
#include <vmtime/snapshot.h>
#include <vmtime/timer.h>
#include <vmtime/units.h>

#include "dev-tests.h"
#include "tests.h"

struct fx {
	struct dev_clock clk;
	vmt_pit *pit;
	struct dev_irq_log irq;	/* IRQ0; accept is what the fake PIC answers */
};

static void fx_init_at(struct fx *f, enum vmt_tick_policy policy, vmt_ns min_period, vmt_ns t0)
{
	struct vmt_pit_config pc;

	memset(f, 0, sizeof(*f));
	dev_clock_init(&f->clk, t0);
	dev_irq_init(&f->irq, f->clk.src, 1);
	ASSERT_OK(vmt_pit_config_init(&pc));
	pc.dev.irq = dev_irq_record;
	pc.dev.irq_opaque = &f->irq;
	pc.dev.ticks = policy;
	pc.dev.min_period_ns = min_period;
	ASSERT_OK(vmt_pit_new(f->clk.loop, &pc, &f->pit));
	ASSERT_OK(vmt_keeper_start(f->clk.k));
}

static void fx_init(struct fx *f, enum vmt_tick_policy policy)
{
	fx_init_at(f, policy, 1, 0);
}

static void fx_fini(struct fx *f)
{
	vmt_pit_free(f->pit);
	dev_clock_fini(&f->clk);
}

static vmt_ns tclk(uint64_t c)
{
	return (vmt_ns)(((unsigned __int128)c * VMT_NS_PER_SEC + VMT_PIT_FREQ_HZ - 1) /
			VMT_PIT_FREQ_HZ);
}

static void at(struct fx *f, uint64_t c)
{
	ASSERT_OK(vmt_loop_run_until(f->clk.loop, tclk(c)));
}

static void out(struct fx *f, uint64_t off, unsigned v)
{
	ASSERT_OK(vmt_pit_write(f->pit, off, 1, v));
}

static unsigned in(struct fx *f, uint64_t off)
{
	uint64_t v = 0x1234;

	ASSERT_OK(vmt_pit_read(f->pit, off, 1, &v));
	ASSERT_TRUE(v <= 0xff);
	return (unsigned)v;
}

/* Control word (lobyte/hibyte, @mode, @bcd) then the count. */
static void program(struct fx *f, int ch, int mode, int bcd, unsigned count)
{
	out(f, VMT_PIT_CONTROL, (unsigned)(ch << 6 | 3 << 4 | mode << 1 | bcd));
	out(f, (uint64_t)ch, count & 0xff);
	out(f, (uint64_t)ch, count >> 8 & 0xff);
}

static unsigned latched(struct fx *f, int ch)
{
	unsigned lo, hi;

	out(f, VMT_PIT_CONTROL, (unsigned)(ch << 6)); /* counter latch */
	lo = in(f, (uint64_t)ch);
	hi = in(f, (uint64_t)ch);
	return lo | hi << 8;
}

/* Read-back of the status byte alone. */
static unsigned status(struct fx *f, int ch)
{
	out(f, VMT_PIT_CONTROL, 0xc0 | 0x20 | (2u << ch));
	return in(f, (uint64_t)ch);
}

static int out_pin(struct fx *f, int ch)
{
	return status(f, ch) >> 7;
}

static struct vmt_dev_stats stats(struct fx *f)
{
	struct vmt_dev_stats st;

	ASSERT_OK(vmt_pit_get_stats(f->pit, &st));
	/* Every tick is in exactly one place. */
	ASSERT_UEQ(st.ticks, st.raised + st.lost + st.backlog);
	return st;
}

TEST(mode0_out_rises_n_plus_1_clocks_after_the_write)
{
	struct fx f;

	fx_init(&f, VMT_TICKS_COALESCE);
	program(&f, 0, 0, 0, 100);
	/* Written at clock 0: OUT low, null count until the load on edge 1. */
	ASSERT_EQ(status(&f, 0), 0x40 | 0x30 | 0);
	at(&f, 1);
	ASSERT_EQ(status(&f, 0), 0x30);
	ASSERT_EQ(latched(&f, 0), 100);
	at(&f, 51);
	ASSERT_EQ(latched(&f, 0), 50);
	at(&f, 100);
	ASSERT_EQ(latched(&f, 0), 1);
	ASSERT_EQ(out_pin(&f, 0), 0);
	ASSERT_EQ(f.irq.raises[0], 0);
	at(&f, 101);
	ASSERT_EQ(latched(&f, 0), 0);
	ASSERT_EQ(out_pin(&f, 0), 1);
	ASSERT_EQ(f.irq.raises[0], 1);
	ASSERT_UEQ(f.irq.at[0], tclk(101));
	/* It wraps and goes on counting; OUT stays high, no second IRQ. */
	at(&f, 102);
	ASSERT_EQ(latched(&f, 0), 0xffff);
	at(&f, 101 + 70000);
	ASSERT_EQ(latched(&f, 0), (0x10000 - 70000 % 0x10000) & 0xffff);
	ASSERT_EQ(out_pin(&f, 0), 1);
	ASSERT_EQ(f.irq.raises[0], 1);
	fx_fini(&f);
}

TEST(mode0_first_byte_stops_the_count_second_restarts_it)
{
	struct fx f;

	fx_init(&f, VMT_TICKS_COALESCE);
	program(&f, 0, 0, 0, 1000);
	at(&f, 201);		/* d = 200: reads 800 */
	ASSERT_EQ(latched(&f, 0), 800);
	out(&f, 0, 0x34);	/* first byte: counting stops */
	at(&f, 500);
	ASSERT_EQ(latched(&f, 0), 800);
	out(&f, 0, 0x12);	/* 0x1234 loads on the next edge */
	at(&f, 501);
	ASSERT_EQ(latched(&f, 0), 0x1234);
	at(&f, 501 + 0x1234);
	ASSERT_EQ(f.irq.raises[0], 1);
	ASSERT_UEQ(f.irq.at[0], tclk(501 + 0x1234));
	fx_fini(&f);
}

TEST(mode2_counts_n_to_1_and_ticks_every_n_clocks)
{
	struct fx f;

	fx_init(&f, VMT_TICKS_COALESCE);
	program(&f, 0, 2, 0, 1000);
	at(&f, 1);
	ASSERT_EQ(latched(&f, 0), 1000);
	ASSERT_EQ(out_pin(&f, 0), 1);
	at(&f, 1 + 999);	/* count 1: OUT low for this clock */
	ASSERT_EQ(latched(&f, 0), 1);
	ASSERT_EQ(out_pin(&f, 0), 0);
	ASSERT_EQ(f.irq.raises[0], 0);
	at(&f, 1 + 1000);	/* reload: OUT rises, IRQ0 */
	ASSERT_EQ(latched(&f, 0), 1000);
	ASSERT_EQ(out_pin(&f, 0), 1);
	ASSERT_EQ(f.irq.raises[0], 1);
	at(&f, 1 + 1000 * 50);
	ASSERT_EQ(f.irq.raises[0], 50);
	for (int i = 0; i < 50; i++)
		ASSERT_UEQ(f.irq.at[i], tclk(1 + 1000 * (uint64_t)(i + 1)));
	/* Mode 6 is mode 2 (the status byte keeps the bits as written). */
	out(&f, VMT_PIT_CONTROL, 0x3c);
	ASSERT_EQ(status(&f, 0) & 0x0e, 0x0c);
	fx_fini(&f);
}

TEST(mode2_new_count_takes_effect_at_the_next_reload)
{
	struct fx f;
	struct vmt_dev_stats st;

	fx_init(&f, VMT_TICKS_COALESCE);
	program(&f, 0, 2, 0, 1000);
	at(&f, 1 + 300);
	out(&f, 0, 500 & 0xff);
	out(&f, 0, 500 >> 8);
	ASSERT_EQ(status(&f, 0) & 0x40, 0x40);	/* null count until the reload */
	ASSERT_EQ(latched(&f, 0), 700);
	at(&f, 1 + 1000);
	ASSERT_EQ(f.irq.raises[0], 1);
	ASSERT_EQ(latched(&f, 0), 500);
	ASSERT_EQ(status(&f, 0) & 0x40, 0);
	at(&f, 1 + 1000 + 500 * 4);
	ASSERT_EQ(f.irq.raises[0], 5);
	ASSERT_UEQ(f.irq.at[4], tclk(1 + 1000 + 2000));
	st = stats(&f);
	ASSERT_UEQ(st.ticks, 5);
	ASSERT_UEQ(st.raised, 5);
	fx_fini(&f);
}

TEST(mode3_square_wave_even_and_odd)
{
	struct fx f;

	fx_init(&f, VMT_TICKS_COALESCE);
	program(&f, 0, 3, 0, 10);
	/* Even: 10 8 6 4 2 high, 10 8 6 4 2 low. */
	for (unsigned i = 0; i < 10; i++) {
		at(&f, 1 + i);
		ASSERT_EQ(latched(&f, 0), 10 - 2 * (i % 5));
		ASSERT_EQ(out_pin(&f, 0), i < 5);
	}
	at(&f, 11);
	ASSERT_EQ(f.irq.raises[0], 1);
	ASSERT_UEQ(f.irq.at[0], tclk(11));
	/* Odd (7): high for 4 clocks (6 4 2 0), low for 3 (6 4 2). */
	program(&f, 2, 3, 0, 7);
	out(&f, VMT_PIT_PORT61, VMT_PIT_61_GATE2);
	{
		static const unsigned val[7] = { 6, 4, 2, 0, 6, 4, 2 };
		uint64_t c0 = 12;	/* the gate rose at clock 11: load on 12 */

		for (unsigned i = 0; i < 14; i++) {
			at(&f, c0 + i);
			ASSERT_EQ(latched(&f, 2), val[i % 7]);
			ASSERT_EQ(out_pin(&f, 2), i % 7 < 4);
			ASSERT_EQ(!!(in(&f, VMT_PIT_PORT61) & VMT_PIT_61_OUT2), i % 7 < 4);
		}
	}
	fx_fini(&f);
}

TEST(mode4_strobe_low_for_one_clock_at_terminal_count)
{
	struct fx f;

	fx_init(&f, VMT_TICKS_COALESCE);
	program(&f, 0, 4, 0, 50);
	at(&f, 50);
	ASSERT_EQ(out_pin(&f, 0), 1);
	at(&f, 51);	/* count 0: the strobe */
	ASSERT_EQ(latched(&f, 0), 0);
	ASSERT_EQ(out_pin(&f, 0), 0);
	ASSERT_EQ(f.irq.raises[0], 0);
	at(&f, 52);
	ASSERT_EQ(out_pin(&f, 0), 1);
	ASSERT_EQ(f.irq.raises[0], 1);
	ASSERT_UEQ(f.irq.at[0], tclk(52));
	at(&f, 52 + 100000);
	ASSERT_EQ(f.irq.raises[0], 1);
	fx_fini(&f);
}

TEST(modes_1_and_5_start_on_a_gate_rising_edge_and_retrigger)
{
	struct fx f;

	fx_init(&f, VMT_TICKS_COALESCE);
	/* Mode 1 on channel 2: OUT high until triggered. */
	program(&f, 2, 1, 0, 100);
	at(&f, 10);
	ASSERT_EQ(out_pin(&f, 2), 1);
	ASSERT_EQ(status(&f, 2) & 0x40, 0x40);	/* CR not loaded without a trigger */
	out(&f, VMT_PIT_PORT61, VMT_PIT_61_GATE2);	/* trigger at clock 10 */
	at(&f, 11);
	ASSERT_EQ(out_pin(&f, 2), 0);
	ASSERT_EQ(latched(&f, 2), 100);
	ASSERT_EQ(status(&f, 2) & 0x40, 0);
	at(&f, 60);
	ASSERT_EQ(latched(&f, 2), 51);
	/* Gate low does not matter in mode 1; a new rising edge retriggers. */
	out(&f, VMT_PIT_PORT61, 0);
	out(&f, VMT_PIT_PORT61, VMT_PIT_61_GATE2);
	at(&f, 61);
	ASSERT_EQ(latched(&f, 2), 100);
	at(&f, 160);
	ASSERT_EQ(out_pin(&f, 2), 0);
	at(&f, 161);
	ASSERT_EQ(out_pin(&f, 2), 1);
	/* Mode 5: the strobe N clocks after the trigger's load. */
	program(&f, 2, 5, 0, 20);
	out(&f, VMT_PIT_PORT61, 0);
	at(&f, 200);
	out(&f, VMT_PIT_PORT61, VMT_PIT_61_GATE2);
	at(&f, 201 + 19);
	ASSERT_EQ(out_pin(&f, 2), 1);
	at(&f, 201 + 20);
	ASSERT_EQ(out_pin(&f, 2), 0);
	at(&f, 201 + 21);
	ASSERT_EQ(out_pin(&f, 2), 1);
	/* Mode 1 on channel 0 through vmt_pit_set_gate: one IRQ at count 0. */
	ASSERT_OK(vmt_pit_set_gate(f.pit, 0, 0));
	program(&f, 0, 1, 0, 30);
	at(&f, 300);
	ASSERT_OK(vmt_pit_set_gate(f.pit, 0, 1));
	at(&f, 301 + 30);
	ASSERT_EQ(f.irq.raises[0], 1);
	ASSERT_UEQ(f.irq.at[0], tclk(331));
	fx_fini(&f);
}

TEST(gate_low_inhibits_mode0_and_holds_mode2_out_high)
{
	struct fx f;

	fx_init(&f, VMT_TICKS_COALESCE);
	program(&f, 2, 0, 0, 100);	/* gate 2 is low at power-on */
	at(&f, 50);
	ASSERT_EQ(latched(&f, 2), 100);
	out(&f, VMT_PIT_PORT61, VMT_PIT_61_GATE2);
	at(&f, 80);
	ASSERT_EQ(latched(&f, 2), 70);
	out(&f, VMT_PIT_PORT61, 0);
	at(&f, 500);
	ASSERT_EQ(latched(&f, 2), 70);
	ASSERT_EQ(out_pin(&f, 2), 0);
	/* Mode 2: gate low holds OUT high; the rising edge reloads. */
	program(&f, 2, 2, 0, 10);
	out(&f, VMT_PIT_PORT61, VMT_PIT_61_GATE2);
	at(&f, 510);
	ASSERT_EQ(latched(&f, 2), 1);	/* rose at 500: loaded at 501 */
	ASSERT_EQ(out_pin(&f, 2), 0);
	out(&f, VMT_PIT_PORT61, 0);
	ASSERT_EQ(out_pin(&f, 2), 1);
	at(&f, 600);
	ASSERT_EQ(latched(&f, 2), 1);
	out(&f, VMT_PIT_PORT61, VMT_PIT_61_GATE2);
	at(&f, 601);
	ASSERT_EQ(latched(&f, 2), 10);
	fx_fini(&f);
}

TEST(bcd_counts_in_decimal_and_0_is_10000)
{
	struct fx f;

	fx_init(&f, VMT_TICKS_COALESCE);
	program(&f, 0, 2, 1, 0x1234);
	at(&f, 1 + 35);
	ASSERT_EQ(latched(&f, 0), 0x1199);
	at(&f, 1 + 1234);
	ASSERT_EQ(f.irq.raises[0], 1);
	ASSERT_EQ(status(&f, 0) & 1, 1);
	program(&f, 0, 0, 1, 0);	/* 10000 */
	at(&f, 1234 + 2);
	ASSERT_EQ(latched(&f, 0), 0x0000);
	at(&f, 1234 + 3);
	ASSERT_EQ(latched(&f, 0), 0x9999);
	at(&f, 1234 + 2 + 10000);
	ASSERT_EQ(f.irq.raises[0], 2);
	ASSERT_UEQ(f.irq.at[1], tclk(1234 + 2 + 10000));
	at(&f, 1234 + 2 + 10001);
	ASSERT_EQ(latched(&f, 0), 0x9999);
	fx_fini(&f);
}

TEST(latch_and_read_back_status_then_count)
{
	struct fx f;
	unsigned lo, hi;

	fx_init(&f, VMT_TICKS_COALESCE);
	program(&f, 1, 2, 0, 0x0300);
	at(&f, 1 + 0x10);
	out(&f, VMT_PIT_CONTROL, 0x40);	/* latch channel 1 */
	at(&f, 1 + 0x80);
	out(&f, VMT_PIT_CONTROL, 0x40);	/* ignored: a latch is pending */
	ASSERT_EQ(in(&f, 1), 0xf0);
	ASSERT_EQ(in(&f, 1), 0x02);
	/* Read-back of count and status: status first, then the count. */
	out(&f, VMT_PIT_CONTROL, 0xc0 | 0x04);
	ASSERT_EQ(in(&f, 1), 0x80 | 0x30 | 0x04);
	lo = in(&f, 1);
	hi = in(&f, 1);
	ASSERT_EQ(lo | hi << 8, 0x0300 - 0x80);
	/* Unlatched word reads alternate low and high bytes of the live count. */
	ASSERT_EQ(in(&f, 1), 0x80);
	ASSERT_EQ(in(&f, 1), 0x02);
	/* The control register reads as a floating bus. */
	ASSERT_EQ(in(&f, VMT_PIT_CONTROL), 0xff);
	fx_fini(&f);
}

TEST(lsb_only_msb_only_and_interleaved_word_access)
{
	struct fx f;

	fx_init(&f, VMT_TICKS_COALESCE);
	out(&f, VMT_PIT_CONTROL, 0x10 | 2 << 1);	/* ch0 LSB only, mode 2 */
	out(&f, 0, 200);
	at(&f, 1 + 50);
	ASSERT_EQ(in(&f, 0), 150);
	ASSERT_EQ(in(&f, 0), 150);
	out(&f, VMT_PIT_CONTROL, 0x20 | 2 << 1);	/* MSB only: 0x0200 */
	out(&f, 0, 0x02);
	at(&f, 51 + 1 + 0x10);
	ASSERT_EQ(in(&f, 0), 0x01);
	/* Word mode: read and write byte pointers are separate. */
	out(&f, VMT_PIT_CONTROL, 0x30);
	ASSERT_EQ(in(&f, 0) | in(&f, 0) << 8, 0x01f0);	/* CE held at control */
	out(&f, 0, 0x00);
	(void)in(&f, 0);
	out(&f, 0, 0x10);
	ASSERT_EQ(status(&f, 0) & 0x40, 0x40);
	fx_fini(&f);
}

TEST(port61_bits_refresh_toggle_and_out2)
{
	struct fx f;

	fx_init(&f, VMT_TICKS_COALESCE);
	ASSERT_EQ(in(&f, VMT_PIT_PORT61), 0);
	out(&f, VMT_PIT_PORT61, 0xff);
	ASSERT_EQ(in(&f, VMT_PIT_PORT61) & 0x0f, 0x0f);
	ASSERT_OK(vmt_loop_run_until(f.clk.loop, VMT_PIT_REFRESH_NS));
	ASSERT_EQ(in(&f, VMT_PIT_PORT61) & VMT_PIT_61_REFRESH, VMT_PIT_61_REFRESH);
	ASSERT_OK(vmt_loop_run_until(f.clk.loop, 2 * VMT_PIT_REFRESH_NS - 1));
	ASSERT_EQ(in(&f, VMT_PIT_PORT61) & VMT_PIT_61_REFRESH, VMT_PIT_61_REFRESH);
	ASSERT_OK(vmt_loop_run_until(f.clk.loop, 2 * VMT_PIT_REFRESH_NS));
	ASSERT_EQ(in(&f, VMT_PIT_PORT61) & VMT_PIT_61_REFRESH, 0);
	/* Linux's PIT calibration: mode 0 on channel 2, poll bit 5. */
	out(&f, VMT_PIT_PORT61, VMT_PIT_61_GATE2);
	program(&f, 2, 0, 0, 1000);
	{
		vmt_ns t = vmt_now(f.clk.src, VMT_CLOCK_VM);
		uint64_t c = (uint64_t)((unsigned __int128)t * VMT_PIT_FREQ_HZ / VMT_NS_PER_SEC);

		at(&f, c + 1000);
		ASSERT_EQ(in(&f, VMT_PIT_PORT61) & VMT_PIT_61_OUT2, 0);
		at(&f, c + 1001);
		ASSERT_EQ(in(&f, VMT_PIT_PORT61) & VMT_PIT_61_OUT2, VMT_PIT_61_OUT2);
	}
	fx_fini(&f);
}

TEST(stopped_clock_freezes_the_count_and_raises_nothing)
{
	struct fx f;
	unsigned v;

	fx_init(&f, VMT_TICKS_REINJECT);
	program(&f, 0, 2, 0, 1193);
	at(&f, 1 + 1193 * 3 + 100);
	ASSERT_EQ(f.irq.raises[0], 3);
	v = latched(&f, 0);
	ASSERT_OK(vmt_keeper_stop(f.clk.k));
	for (int i = 0; i < 20; i++)
		ASSERT_OK(vmt_loop_dispatch(f.clk.loop));
	ASSERT_EQ(latched(&f, 0), v);
	ASSERT_EQ(f.irq.raises[0], 3);
	ASSERT_UEQ(stats(&f).due, 0);
	ASSERT_OK(vmt_keeper_start(f.clk.k));
	at(&f, 1 + 1193 * 4);
	ASSERT_EQ(f.irq.raises[0], 4);
	fx_fini(&f);
}

/* Serialize @w into a reader over its bytes (through a snapshot image). */
static void to_reader(vmt_fields_writer *w, vmt_snap_writer **sw, vmt_snap_reader **sr,
		      vmt_fields_reader *r)
{
	ASSERT_OK(vmt_snap_writer_new(sw));
	ASSERT_OK(vmt_snap_writer_add(*sw, "pit", 1, w));
	dev_reopen(*sw, "pit", sr, r);
}

TEST(save_restore_mid_period_on_a_clock_at_another_time)
{
	struct fx a, b;
	vmt_fields_writer *w;
	vmt_snap_writer *sw;
	vmt_snap_reader *sr;
	vmt_fields_reader r;
	unsigned va, v2;

	fx_init(&a, VMT_TICKS_COALESCE);
	program(&a, 0, 2, 0, 1000);
	program(&a, 2, 3, 0, 501);
	out(&a, VMT_PIT_PORT61, VMT_PIT_61_GATE2 | VMT_PIT_61_SPKR);
	at(&a, 1 + 2500);
	ASSERT_EQ(a.irq.raises[0], 2);
	out(&a, VMT_PIT_CONTROL, 0x40 | 0x00);	/* channel 1 unprogrammed: ignored latch */
	out(&a, VMT_PIT_CONTROL, 0x00);		/* latch channel 0, read after restore */
	ASSERT_OK(vmt_keeper_stop(a.clk.k));
	ASSERT_OK(vmt_fields_writer_new(&w));
	ASSERT_OK(vmt_pit_save(a.pit, w, 7));
	to_reader(w, &sw, &sr, &r);

	/* The second VM's clock reads 5 s more: every count resumes all the same. */
	fx_init_at(&b, VMT_TICKS_COALESCE, 1, 5 * VMT_NS_PER_SEC);
	ASSERT_OK(vmt_keeper_stop(b.clk.k));
	ASSERT_OK(vmt_pit_restore(b.pit, &r, 7));
	ASSERT_EQ(in(&b, 0) | in(&b, 0) << 8, 500);	/* the latch survived */
	va = latched(&a, 2);
	v2 = latched(&b, 2);
	ASSERT_EQ(va, v2);
	ASSERT_EQ(in(&b, VMT_PIT_PORT61) & 0x0f, 0x03);
	ASSERT_OK(vmt_keeper_start(a.clk.k));
	ASSERT_OK(vmt_keeper_start(b.clk.k));
	/* The next IRQ comes 500 clocks after the restore point (+- the phase). */
	ASSERT_OK(vmt_loop_run_until(b.clk.loop, vmt_now(b.clk.src, VMT_CLOCK_VM) + tclk(501)));
	ASSERT_EQ(b.irq.raises[0], 1);
	ASSERT_OK(vmt_loop_run_until(b.clk.loop, vmt_now(b.clk.src, VMT_CLOCK_VM) + tclk(1000) - 2000));
	ASSERT_EQ(b.irq.raises[0], 1);
	ASSERT_OK(vmt_loop_run_until(b.clk.loop, vmt_now(b.clk.src, VMT_CLOCK_VM) + 3000));
	ASSERT_EQ(b.irq.raises[0], 2);
	/* Wrong id, wrong types, impossible values: refused, device unchanged. */
	ASSERT_ERR(vmt_pit_restore(b.pit, &r, 8), -ENOENT);
	vmt_snap_reader_free(sr);
	vmt_snap_writer_free(sw);
	{
		vmt_fields_writer *bad;

		ASSERT_OK(vmt_fields_writer_new(&bad));
		ASSERT_OK(vmt_fields_begin_group(bad, 7));
		for (uint32_t i = 1; i <= 3; i++) {
			ASSERT_OK(vmt_fields_begin_group(bad, i));
			for (uint32_t id = 1; id <= 19; id++)
				ASSERT_OK(id == 14 || id == 15 || id == 19
						  ? vmt_fields_put_i64(bad, id, 0)
						  : vmt_fields_put_u64(bad, id, id == 2 ? 9 : 0));
			ASSERT_OK(vmt_fields_end_group(bad));
		}
		ASSERT_OK(vmt_fields_put_u64(bad, 10, 0));
		ASSERT_OK(vmt_fields_put_u64(bad, 11, 0));
		ASSERT_OK(vmt_fields_put_u64(bad, 12, 0));
		ASSERT_OK(vmt_fields_end_group(bad));
		to_reader(bad, &sw, &sr, &r);
		v2 = latched(&b, 0);
		ASSERT_ERR(vmt_pit_restore(b.pit, &r, 7), -EBADMSG);	/* mode 9 */
		ASSERT_EQ(latched(&b, 0), v2);
		vmt_snap_reader_free(sr);
		vmt_snap_writer_free(sw);
		vmt_fields_writer_free(bad);
	}
	vmt_fields_writer_free(w);
	fx_fini(&a);
	fx_fini(&b);
}

/* The loop thread was late by 5.5 periods: what each policy makes of it. */
static void late_by_5(struct fx *f)
{
	program(f, 0, 2, 0, 1000);
	ASSERT_OK(vmt_keeper_advance(f->clk.k, tclk(1 + 5500)));
	ASSERT_UEQ(stats(f).due, 5);
	ASSERT_EQ(f->irq.raises[0], 0);
	ASSERT_OK(vmt_loop_dispatch(f->clk.loop));
}

TEST(coalesce_merges_late_ticks_and_keeps_the_grid)
{
	struct fx f;
	struct vmt_dev_stats st;

	fx_init(&f, VMT_TICKS_COALESCE);
	late_by_5(&f);
	st = stats(&f);
	ASSERT_EQ(f.irq.raises[0], 1);
	ASSERT_UEQ(st.ticks, 5);
	ASSERT_UEQ(st.raised, 1);
	ASSERT_UEQ(st.lost, 4);
	ASSERT_OK(vmt_loop_run_until(f.clk.loop, tclk(1 + 6000)));
	ASSERT_EQ(f.irq.raises[0], 2);
	ASSERT_UEQ(f.irq.at[1], tclk(1 + 6000));
	/* A controller that coalesces: the tick is lost. */
	f.irq.accept = 0;
	at(&f, 1 + 7000);
	st = stats(&f);
	ASSERT_UEQ(st.coalesced, 1);
	ASSERT_UEQ(st.lost, 5);
	ASSERT_UEQ(st.backlog, 0);
	fx_fini(&f);
}

TEST(delay_raises_once_and_moves_the_grid)
{
	struct fx f;
	struct vmt_dev_stats st;
	vmt_ns late = tclk(1 + 5500);

	fx_init(&f, VMT_TICKS_DELAY);
	late_by_5(&f);
	st = stats(&f);
	ASSERT_UEQ(st.ticks, 5);
	ASSERT_UEQ(st.raised, 1);
	ASSERT_UEQ(st.lost, 4);
	/* Next tick one period (1000 clocks) after the late look. */
	ASSERT_OK(vmt_loop_run_until(f.clk.loop, tclk(1 + 6000)));
	ASSERT_EQ(f.irq.raises[0], 1);
	ASSERT_OK(vmt_loop_run_until(f.clk.loop, tclk(1 + 6500)));
	ASSERT_EQ(f.irq.raises[0], 2);
	ASSERT_UGE(f.irq.at[1], late + tclk(1000) - 1000);
	ASSERT_ULE(f.irq.at[1], late + tclk(1000) + 1000);
	fx_fini(&f);
}

TEST(reinject_delivers_every_tick_one_per_acknowledgement)
{
	struct fx f;
	struct vmt_dev_stats st;

	fx_init(&f, VMT_TICKS_REINJECT);
	late_by_5(&f);
	st = stats(&f);
	ASSERT_EQ(f.irq.raises[0], 1);
	ASSERT_UEQ(st.raised, 1);
	ASSERT_UEQ(st.backlog, 4);
	/* Retries every min period (1 ns here): the backlog drains before the next tick. */
	ASSERT_OK(vmt_loop_run_until(f.clk.loop, tclk(1 + 5500) + 100));
	st = stats(&f);
	ASSERT_EQ(f.irq.raises[0], 5);
	ASSERT_UEQ(st.backlog, 0);
	ASSERT_UEQ(st.lost, 0);
	/* A controller that refuses: the tick stays owed and is raised again. */
	f.irq.accept = 0;
	at(&f, 1 + 6000);
	st = stats(&f);
	ASSERT_UEQ(st.coalesced, 1);
	ASSERT_UEQ(st.backlog, 1);
	f.irq.accept = 1;
	ASSERT_OK(vmt_loop_run_until(f.clk.loop, tclk(1 + 6000) + 10));
	st = stats(&f);
	ASSERT_UEQ(st.raised, 6);
	ASSERT_UEQ(st.backlog, 0);
	ASSERT_UEQ(st.ticks, 6);
	fx_fini(&f);
}

/*
 * Issue 9 defect 12.  Ticks due but not yet handed to the policy when the
 * policy changes (the demo's coalesce -> catch-up switch) must be counted
 * once: in "due" before the switch, and by the old policy at the switch.
 * The probe timer runs in the same dispatch as the PIT's timer, before it:
 * the PIT's timer is then collected but its callback has not run, the
 * window in which the example's pit_ticks_owed() (deadline-based) missed
 * the ticks and its irq_tick() then gave them to the new policy.
 */
struct probe {
	struct fx *f;
	struct vmt_dev_stats before, after;
};

static void probe_cb(vmt_timer *t, uint64_t exp, void *ud)
{
	struct probe *p = ud;

	(void)t;
	(void)exp;
	vmt_pit_get_stats(p->f->pit, &p->before);
	vmt_pit_set_policy(p->f->pit, VMT_TICKS_REINJECT);
	vmt_pit_get_stats(p->f->pit, &p->after);
}

TEST(ticks_due_across_a_policy_switch_are_counted_once)
{
	struct fx f;
	struct probe p = { &f, { 0 }, { 0 } };
	struct vmt_dev_stats st;
	vmt_timer *probe;

	fx_init(&f, VMT_TICKS_COALESCE);
	ASSERT_OK(vmt_timer_new(f.clk.loop, VMT_CLOCK_VM, probe_cb, &p, &probe));
	program(&f, 0, 2, 0, 1000);
	at(&f, 1 + 1000);	/* one tick on time */
	ASSERT_EQ(f.irq.raises[0], 1);
	/* Late by 7 ticks; the probe is due first, in the same dispatch. */
	ASSERT_OK(vmt_timer_arm(probe, tclk(1 + 1500)));
	ASSERT_OK(vmt_keeper_advance(f.clk.k, tclk(1 + 8000) - tclk(1 + 1000)));
	ASSERT_OK(vmt_loop_dispatch(f.clk.loop));
	ASSERT_UEQ(p.before.due, 7);
	ASSERT_UEQ(p.before.ticks, 1);
	/* At the switch the 7 went to COALESCE: 1 raised, 6 lost, none left. */
	ASSERT_UEQ(p.after.due, 0);
	ASSERT_UEQ(p.after.ticks, 8);
	ASSERT_UEQ(p.after.ticks, p.after.raised + p.after.lost + p.after.backlog);
	ASSERT_OK(vmt_loop_dispatch(f.clk.loop));
	st = stats(&f);
	ASSERT_UEQ(st.ticks, 8);
	ASSERT_UEQ(st.raised, 2);
	ASSERT_UEQ(st.lost, 6);
	ASSERT_EQ(f.irq.raises[0], 2);
	/* Owed before + taken before == taken after + lost after. */
	ASSERT_UEQ(p.before.due + p.before.backlog + p.before.raised + p.before.lost,
		   st.raised + st.lost + st.backlog);
	/* REINJECT from here: the next ticks are all delivered. */
	at(&f, 1 + 10000);
	st = stats(&f);
	ASSERT_UEQ(st.ticks, 10);
	ASSERT_UEQ(st.raised, 4);
	vmt_timer_free(probe);
	fx_fini(&f);
}

TEST(switching_away_from_reinject_loses_the_backlog_visibly)
{
	struct fx f;
	struct vmt_dev_stats st;

	fx_init(&f, VMT_TICKS_REINJECT);
	f.irq.accept = 0;
	late_by_5(&f);
	st = stats(&f);
	ASSERT_UEQ(st.backlog, 5);
	ASSERT_OK(vmt_pit_set_policy(f.pit, VMT_TICKS_COALESCE));
	st = stats(&f);
	ASSERT_UEQ(st.backlog, 0);
	ASSERT_UEQ(st.lost, 5);
	ASSERT_ERR(vmt_pit_set_policy(f.pit, (enum vmt_tick_policy)7), -EINVAL);
	ASSERT_ERR(vmt_pit_set_policy(NULL, VMT_TICKS_COALESCE), -EINVAL);
	fx_fini(&f);
}

TEST(short_periods_are_raised_at_the_minimum_period)
{
	struct fx f;
	struct vmt_dev_stats st;

	/* Count 1 and 2 in mode 2 with the default 10 us minimum. */
	fx_init_at(&f, VMT_TICKS_REINJECT, 0, 0);
	program(&f, 0, 2, 0, 1);
	ASSERT_OK(vmt_loop_run_until(f.clk.loop, 10 * VMT_NS_PER_MS));
	st = stats(&f);
	/* At most one per 10 us: 1000 in 10 ms (12 clocks each: 1005). */
	ASSERT_LE(f.irq.raises[0], 1001);
	ASSERT_GE(f.irq.raises[0], 990);
	ASSERT_UEQ(st.lost, 0);
	for (int i = 1; i < f.irq.raises[0] && i < DEV_IRQ_TIMES; i++)
		ASSERT_UGE(f.irq.at[i] - f.irq.at[i - 1], 10000);
	fx_fini(&f);
}

TEST(bad_offsets_sizes_and_arguments)
{
	struct fx f;
	struct vmt_pit_config pc;
	struct vmt_dev_stats st;
	vmt_pit *p;
	uint64_t v = 77;
	vmt_ns t;

	fx_init(&f, VMT_TICKS_COALESCE);
	ASSERT_ERR(vmt_pit_read(f.pit, 4, 1, &v), -EINVAL);
	ASSERT_ERR(vmt_pit_read(f.pit, 0x20, 1, &v), -EINVAL);
	ASSERT_ERR(vmt_pit_read(f.pit, 0x22, 1, &v), -EINVAL);
	ASSERT_ERR(vmt_pit_read(f.pit, UINT64_MAX, 1, &v), -EINVAL);
	ASSERT_ERR(vmt_pit_read(f.pit, 0, 2, &v), -EINVAL);
	ASSERT_ERR(vmt_pit_read(f.pit, 0, 0, &v), -EINVAL);
	ASSERT_ERR(vmt_pit_read(f.pit, 0, 1, NULL), -EINVAL);
	ASSERT_ERR(vmt_pit_read(NULL, 0, 1, &v), -EINVAL);
	ASSERT_EQ(v, 77);
	ASSERT_ERR(vmt_pit_write(f.pit, 4, 1, 0), -EINVAL);
	ASSERT_ERR(vmt_pit_write(f.pit, 3, 4, 0), -EINVAL);
	ASSERT_ERR(vmt_pit_write(NULL, 3, 1, 0), -EINVAL);
	ASSERT_ERR(vmt_pit_set_gate(f.pit, 3, 1), -EINVAL);
	ASSERT_ERR(vmt_pit_set_gate(NULL, 0, 1), -EINVAL);
	ASSERT_ERR(vmt_pit_get_stats(f.pit, NULL), -EINVAL);
	ASSERT_ERR(vmt_pit_get_stats(NULL, &st), -EINVAL);
	ASSERT_ERR(vmt_pit_loaded_at(f.pit, 3, &t), -EINVAL);
	ASSERT_ERR(vmt_pit_loaded_at(f.pit, 0, NULL), -EINVAL);
	ASSERT_OK(vmt_pit_loaded_at(f.pit, 0, &t));
	ASSERT_UEQ(t, VMT_NS_NEVER);
	ASSERT_ERR(vmt_pit_reset(NULL), -EINVAL);
	ASSERT_ERR(vmt_pit_save(NULL, NULL, 1), -EINVAL);
	ASSERT_ERR(vmt_pit_restore(NULL, NULL, 1), -EINVAL);
	ASSERT_ERR(vmt_pit_inspect(f.pit, NULL), -EINVAL);
	ASSERT_ERR(vmt_pit_add_unit(f.pit, NULL, NULL), -EINVAL);
	ASSERT_ERR(vmt_pit_config_init(NULL), -EINVAL);
	ASSERT_TRUE(vmt_pit_free(NULL) == NULL);
	/* Data before any control word is ignored; counters read 0. */
	out(&f, 0, 0x55);
	ASSERT_EQ(in(&f, 0), 0);
	/* Only the low 8 bits of a written value count. */
	ASSERT_OK(vmt_pit_write(f.pit, VMT_PIT_CONTROL, 1, 0xf00 | 0x34));
	ASSERT_EQ(status(&f, 0), 0x80 | 0x40 | 0x30 | 0x04);	/* mode 2: OUT starts high */

	ASSERT_OK(vmt_pit_config_init(&pc));
	ASSERT_ERR(vmt_pit_new(NULL, &pc, &p), -EINVAL);
	ASSERT_ERR(vmt_pit_new(f.clk.loop, NULL, &p), -EINVAL);
	ASSERT_ERR(vmt_pit_new(f.clk.loop, &pc, NULL), -EINVAL);
	pc.dev.ticks = (enum vmt_tick_policy)3;
	ASSERT_ERR(vmt_pit_new(f.clk.loop, &pc, &p), -EINVAL);
	pc.dev.ticks = VMT_TICKS_COALESCE;
	pc.dev.name = "bad\"name";
	ASSERT_ERR(vmt_pit_new(f.clk.loop, &pc, &p), -EINVAL);
	pc.dev.name = "";
	ASSERT_ERR(vmt_pit_new(f.clk.loop, &pc, &p), -EINVAL);
	pc.dev.name = "0123456789012345678901234567890123456789012345678901234567890123";
	ASSERT_ERR(vmt_pit_new(f.clk.loop, &pc, &p), -ENAMETOOLONG);
	fx_fini(&f);
}

TEST(unit_saves_resets_and_needs_vmtime)
{
	struct fx f;
	vmt_units *u;
	vmt_unit *unit;
	vmt_snap_writer *sw;
	vmt_snap_reader *sr;
	const void *buf;
	size_t len;
	char *txt = NULL;
	size_t tlen = 0;
	FILE *m;

	fx_init(&f, VMT_TICKS_COALESCE);
	ASSERT_OK(vmt_units_new(&u));
	ASSERT_ERR(vmt_pit_add_unit(f.pit, u, &unit), -ENOENT);
	ASSERT_OK(vmt_keeper_add_unit(f.clk.k, u, NULL));
	ASSERT_OK(vmt_pit_add_unit(f.pit, u, &unit));
	ASSERT_STREQ(vmt_unit_name(unit), "pit");
	ASSERT_ERR(vmt_pit_add_unit(f.pit, u, NULL), -EEXIST);
	program(&f, 0, 2, 0, 5000);
	at(&f, 1 + 1234);
	ASSERT_OK(vmt_keeper_stop(f.clk.k));
	ASSERT_OK(vmt_snap_writer_new(&sw));
	ASSERT_OK(vmt_units_save(u, sw, NULL));
	ASSERT_OK(vmt_snap_writer_save_buffer(sw, &buf, &len, NULL));
	ASSERT_OK(vmt_snap_reader_from_buffer(buf, len, &sr, NULL));
	ASSERT_OK(vmt_units_reset(u, NULL));
	ASSERT_EQ(latched(&f, 0), 0);
	ASSERT_OK(vmt_units_restore(u, sr, NULL));
	ASSERT_EQ(latched(&f, 0), 5000 - 1234);
	{
		/* A payload version the device does not know. */
		vmt_snap_writer *sw2;
		vmt_snap_reader *sr2;
		vmt_fields_writer *w;
		vmt_fields_reader r;
		vmt_units_report *rep = NULL;
		const struct vmt_unit_result *e;

		ASSERT_OK(vmt_snap_writer_new(&sw2));
		ASSERT_OK(vmt_snap_writer_section(sw2, "pit", 2, &w));
		ASSERT_OK(vmt_pit_save(f.pit, w, 1));
		dev_reopen(sw2, "pit", &sr2, &r);
		ASSERT_ERR(vmt_units_restore(u, sr2, &rep), -EPROTONOSUPPORT);
		e = vmt_units_report_find(rep, "pit", VMT_UNIT_OP_RESTORE);
		ASSERT_TRUE(e != NULL && strstr(e->msg, "payload version 2") != NULL);
		vmt_units_report_free(rep);
		vmt_snap_reader_free(sr2);
		vmt_snap_writer_free(sw2);
	}
	m = open_memstream(&txt, &tlen);
	ASSERT_OK(vmt_pit_inspect(f.pit, m));
	fclose(m);
	ASSERT_TRUE(strstr(txt, "\"name\":\"pit\"") != NULL);
	ASSERT_TRUE(strstr(txt, "\"mode\":2") != NULL);
	free(txt);
	vmt_snap_reader_free(sr);
	vmt_snap_writer_free(sw);
	vmt_units_free(u);
	fx_fini(&f);
}

TEST(random_register_streams_never_crash_or_storm)
{
	struct fx f;
	struct vmt_dev_stats st;
	uint64_t v;

	test_rng_seed(11);
	/* The default minimum period: at most one raise per 10 us of VM time. */
	fx_init_at(&f, VMT_TICKS_REINJECT, 0, 0);
	for (int i = 0; i < 200000; i++) {
		uint64_t r = test_rng();
		uint64_t off = (r >> 8) % 5;

		if (off == 4)
			off = VMT_PIT_PORT61;
		if (r & 1)
			ASSERT_OK(vmt_pit_write(f.pit, off, 1, r >> 16));
		else
			ASSERT_OK(vmt_pit_read(f.pit, off, 1, &v));
		if (i % 64 == 0)
			ASSERT_OK(vmt_loop_run_until(f.clk.loop,
						     vmt_now(f.clk.src, VMT_CLOCK_VM) + (r >> 40) % 50000));
		if (i % 50000 == 0)
			ASSERT_OK(vmt_pit_set_policy(f.pit, (enum vmt_tick_policy)((r >> 3) % 3)));
	}
	st = stats(&f);
	ASSERT_LE(st.raised, vmt_now(f.clk.src, VMT_CLOCK_VM) / 10000 + 3);
	ASSERT_ULE(st.backlog, VMT_TICKS_BACKLOG_MAX);
	fx_fini(&f);
}

/* VMT_TEST_THREADED: vCPU threads hammer the ports while the loop ticks. */
struct hammer {
	struct fx *f;
	int id;
	uint64_t seed;
};

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;
	uint64_t v;

	for (int i = 0; i < 20000; i++) {
		uint64_t r = test_rng_next(&h->seed);

		if (h->id == 0 && i % 1000 == 0) {
			vmt_pit_write(h->f->pit, VMT_PIT_CONTROL, 1, 0x34);
			vmt_pit_write(h->f->pit, 0, 1, 0x00);
			vmt_pit_write(h->f->pit, 0, 1, 0x10);
		} else if (r & 1) {
			vmt_pit_read(h->f->pit, (r >> 8) % 3, 1, &v);
		} else {
			vmt_pit_write(h->f->pit, VMT_PIT_PORT61, 1, r >> 16);
			vmt_pit_write(h->f->pit, VMT_PIT_CONTROL, 1, 0x80 | ((r >> 20) & 0x3e));
		}
	}
	return NULL;
}

TEST(threaded_register_access_while_the_loop_runs)
{
	struct fx f;
	struct hammer h[3];
	pthread_t th[3];
	struct vmt_dev_stats st;

	fx_init(&f, VMT_TICKS_REINJECT);
	program(&f, 0, 2, 0, 100);
	for (int i = 0; i < 3; i++) {
		h[i] = (struct hammer){ &f, i, 100 + (uint64_t)i };
		ASSERT_EQ(pthread_create(&th[i], NULL, hammer_main, &h[i]), 0);
	}
	for (int i = 0; i < 2000; i++)
		ASSERT_OK(vmt_loop_run_until(f.clk.loop, vmt_now(f.clk.src, VMT_CLOCK_VM) + 50000));
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	st = stats(&f);
	ASSERT_TRUE(st.ticks > 0);
	fx_fini(&f);
}

/*
 * Issue 9 defect 12, the race itself: a loop thread dispatches while
 * another thread reads what is owed.  The example's PIT computed owed
 * from its timer's deadline, which the loop moves on before the callback
 * runs: an equivalent harness on it found ticks + owed short of the grid
 * in 53396 of 999881 readings.  Here every reading must add up exactly.
 */
struct spinner {
	vmt_loop *loop;
	atomic_int quit;
};

static void *spin_main(void *arg)
{
	struct spinner *s = arg;

	while (!atomic_load(&s->quit))
		vmt_loop_dispatch(s->loop);
	return NULL;
}

TEST(owed_never_misses_a_tick_the_loop_thread_is_handling)
{
	struct fx f;
	struct spinner s;
	pthread_t th;
	struct vmt_dev_stats st;
	vmt_ns t;
	uint64_t grid;

	fx_init(&f, VMT_TICKS_COALESCE);
	program(&f, 0, 2, 0, 1193);
	s.loop = f.clk.loop;
	atomic_init(&s.quit, 0);
	ASSERT_EQ(pthread_create(&th, NULL, spin_main, &s), 0);
	for (int i = 0; i < 20000; i++) {
		ASSERT_OK(vmt_keeper_advance(f.clk.k, 3300000));
		ASSERT_OK(vmt_pit_get_stats(f.pit, &st));
		/* The clock only moves here: the grid is known exactly. */
		t = vmt_now(f.clk.src, VMT_CLOCK_VM);
		grid = ((uint64_t)((unsigned __int128)t * VMT_PIT_FREQ_HZ / VMT_NS_PER_SEC) - 1) / 1193;
		if (st.ticks + st.due != grid) {
			atomic_store(&s.quit, 1);
			pthread_join(th, NULL);
			VMT_FAIL("reading %d: ticks %" PRIu64 " + due %" PRIu64 " != %" PRIu64, i,
				 st.ticks, st.due, grid);
		}
		ASSERT_UEQ(st.ticks, st.raised + st.lost + st.backlog);
	}
	atomic_store(&s.quit, 1);
	pthread_join(th, NULL);
	fx_fini(&f);
}

TEST(reinject_without_an_irq_callback_does_not_spin)
{
	struct fx f;
	struct vmt_pit_config pc;
	struct vmt_dev_stats st;
	vmt_pit *p;
	int ran;

	fx_init(&f, VMT_TICKS_COALESCE);
	ASSERT_OK(vmt_pit_config_init(&pc));
	pc.dev.ticks = VMT_TICKS_REINJECT;
	ASSERT_OK(vmt_pit_new(f.clk.loop, &pc, &p));
	ASSERT_OK(vmt_pit_write(p, VMT_PIT_CONTROL, 1, 0x34));
	ASSERT_OK(vmt_pit_write(p, 0, 1, 1000 & 0xff));
	ASSERT_OK(vmt_pit_write(p, 0, 1, 1000 >> 8));
	ran = vmt_loop_run_until(f.clk.loop, tclk(1 + 10000));
	ASSERT_OK(ran);
	ASSERT_LE(ran, 11);	/* one look per tick, no retries */
	ASSERT_OK(vmt_pit_get_stats(p, &st));
	ASSERT_UEQ(st.ticks, 10);
	ASSERT_UEQ(st.lost, 10);
	ASSERT_UEQ(st.backlog, 0);
	vmt_pit_free(p);
	fx_fini(&f);
}

TEST(binary_count_0_is_65536)
{
	struct fx f;

	fx_init(&f, VMT_TICKS_COALESCE);
	program(&f, 0, 2, 0, 0);
	at(&f, 1);
	ASSERT_EQ(latched(&f, 0), 0);	/* 65536 reads as 0 */
	at(&f, 2);
	ASSERT_EQ(latched(&f, 0), 0xffff);
	at(&f, 65536);
	ASSERT_EQ(f.irq.raises[0], 0);
	at(&f, 1 + 65536);
	ASSERT_EQ(f.irq.raises[0], 1);
	ASSERT_UEQ(f.irq.at[0], tclk(1 + 65536));
	fx_fini(&f);
}

TEST(irq0_stays_on_the_counter_grid_after_an_hour)
{
	struct fx f;
	uint64_t k = 3600ull * VMT_PIT_FREQ_HZ / 1193;	/* ticks in an hour */

	fx_init(&f, VMT_TICKS_COALESCE);
	program(&f, 0, 2, 0, 1193);
	ASSERT_OK(vmt_keeper_advance(f.clk.k, tclk(1 + k * 1193)));
	ASSERT_OK(vmt_loop_dispatch(f.clk.loop));
	ASSERT_EQ(f.irq.raises[0], 1);
	ASSERT_UEQ(stats(&f).ticks, k);
	/* The next edge is exactly where the 8254 would put it, no drift. */
	ASSERT_OK(vmt_loop_run_until(f.clk.loop, tclk(1 + (k + 1) * 1193) + 5000));
	ASSERT_EQ(f.irq.raises[0], 2);
	ASSERT_UEQ(f.irq.at[1], tclk(1 + (k + 1) * 1193));
	fx_fini(&f);
}
