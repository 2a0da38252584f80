/* SPDX-License-Identifier: MIT */
/*
 * test-rtc.c - the MC146818A RTC on a manual VM clock: register values in
 * BCD/binary and 12/24 h, calendar rollovers, UIP timing, periodic rates,
 * alarm, flags, SET, CMOS RAM, pause, save/restore, tick policies, hostile
 * input and threaded access (VMT_TEST_THREADED).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include <vmtime/keeper.h>
#include <vmtime/loop.h>
#include <vmtime/rtc.h>
#include <vmtime/snapshot.h>
#include <vmtime/units.h>

#include "dev-tests.h"
#include "tests.h"

#define SEC VMT_NS_PER_SEC
#define UIP_NS 2228000u

struct fx {
	struct dev_clock clk;
	vmt_rtc *rtc;
	struct dev_irq_log irq;	/* IRQ8 */
	vmt_ns wall;		/* the host wall clock the keeper sees */
};

static vmt_ns host_clock(void *opaque, enum vmt_clock clock)
{
	struct fx *f = opaque;

	return clock == VMT_CLOCK_WALL ? f->wall : 1000 * SEC;
}

/* ns since 1970 of a UTC date. */
static int64_t date(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
			 .tm_hour = h, .tm_min = mi, .tm_sec = s };

	return (int64_t)timegm(&tm) * (int64_t)SEC;
}

static void fx_new_rtc(struct fx *f, enum vmt_rtc_base base, int64_t epoch,
		       enum vmt_tick_policy ticks)
{
	struct vmt_rtc_config c;

	ASSERT_OK(vmt_rtc_config_init(&c));
	c.dev.irq = dev_irq_record;
	c.dev.irq_opaque = &f->irq;
	c.dev.ticks = ticks;
	c.base = base;
	c.epoch_ns = epoch;
	ASSERT_OK(vmt_rtc_new(f->clk.loop, &c, &f->rtc));
}

/* A stopped clock at VM time @t0, on a host whose wall clock reads @wall. */
static void fx_clock(struct fx *f, vmt_ns t0, vmt_ns wall)
{
	struct vmt_keeper_config kc = VMT_KEEPER_CONFIG_INIT;

	memset(f, 0, sizeof(*f));
	f->wall = wall;
	kc.initial_vm_time = t0;
	kc.host_clock = host_clock;
	kc.host_clock_opaque = f;
	dev_clock_init_config(&f->clk, &kc);
	dev_irq_init(&f->irq, f->clk.src, 1);
}

static void fx_init(struct fx *f, int64_t epoch, enum vmt_tick_policy ticks)
{
	fx_clock(f, 0, (vmt_ns)date(2030, 6, 1, 12, 0, 0));
	fx_new_rtc(f, VMT_RTC_BASE_EPOCH, epoch, ticks);
	ASSERT_OK(vmt_keeper_start(f->clk.k));
}

static void fx_fini(struct fx *f)
{
	vmt_rtc_free(f->rtc);
	dev_clock_fini(&f->clk);
}

/* device.h: every tick is in one place. */
static void check_books(struct fx *f)
{
	struct vmt_dev_stats st;

	ASSERT_OK(vmt_rtc_get_stats(f->rtc, &st));
	ASSERT_UEQ(st.ticks, st.raised + st.lost + st.backlog);
	ASSERT_UEQ(st.due, 0);
}

static uint8_t rd(struct fx *f, unsigned idx)
{
	uint64_t v = 0;

	ASSERT_OK(vmt_rtc_write(f->rtc, 0, 1, idx));
	ASSERT_OK(vmt_rtc_read(f->rtc, 1, 1, &v));
	return (uint8_t)v;
}

static void wr(struct fx *f, unsigned idx, uint8_t v)
{
	ASSERT_OK(vmt_rtc_write(f->rtc, 0, 1, idx));
	ASSERT_OK(vmt_rtc_write(f->rtc, 1, 1, v));
}

/* The time registers as "YY-MM-DD hh:mm:ss w" (raw bytes, hex). */
static const char *regs(struct fx *f)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "%02x%02x-%02x-%02x %02x:%02x:%02x %x", rd(f, 0x32), rd(f, 9),
		 rd(f, 8), rd(f, 7), rd(f, 4), rd(f, 2), rd(f, 0), rd(f, 6));
	return buf;
}

TEST(bcd_24h_registers_count_seconds_minutes_days)
{
	struct fx f;

	fx_init(&f, date(2024, 2, 28, 23, 59, 58), VMT_TICKS_COALESCE);
	ASSERT_STREQ(regs(&f), "2024-02-28 23:59:58 4");	/* a Wednesday */
	ASSERT_EQ(rd(&f, VMT_RTC_REG_A), 0x26);
	ASSERT_EQ(rd(&f, VMT_RTC_REG_B), 0x02);
	ASSERT_EQ(rd(&f, VMT_RTC_REG_D), 0x80);
	dev_run_to(&f.clk, dev_now(&f.clk) + SEC - 1);
	ASSERT_STREQ(regs(&f), "2024-02-28 23:59:58 4");
	dev_run_to(&f.clk, dev_now(&f.clk) + 1);
	ASSERT_STREQ(regs(&f), "2024-02-28 23:59:59 4");
	dev_run_to(&f.clk, dev_now(&f.clk) + SEC);
	ASSERT_STREQ(regs(&f), "2024-02-29 00:00:00 5");	/* leap day */
	dev_run_to(&f.clk, dev_now(&f.clk) + 86400 * SEC);
	ASSERT_STREQ(regs(&f), "2024-03-01 00:00:00 6");
	fx_fini(&f);
}

TEST(rollovers_of_2000_2100_and_years)
{
	struct fx f;

	fx_init(&f, date(1999, 12, 31, 23, 59, 59), VMT_TICKS_COALESCE);
	ASSERT_STREQ(regs(&f), "1999-12-31 23:59:59 6");
	dev_run_to(&f.clk, dev_now(&f.clk) + SEC);
	ASSERT_STREQ(regs(&f), "2000-01-01 00:00:00 7");
	fx_fini(&f);

	fx_init(&f, date(2000, 2, 28, 12, 0, 0), VMT_TICKS_COALESCE);
	dev_run_to(&f.clk, dev_now(&f.clk) + 86400 * SEC);
	ASSERT_STREQ(regs(&f), "2000-02-29 12:00:00 3");	/* 2000 is leap */
	fx_fini(&f);

	fx_init(&f, date(2100, 2, 28, 12, 0, 0), VMT_TICKS_COALESCE);
	dev_run_to(&f.clk, dev_now(&f.clk) + 86400 * SEC);
	ASSERT_STREQ(regs(&f), "2100-03-01 12:00:00 2");	/* 2100 is not */
	fx_fini(&f);

	fx_init(&f, date(1900, 1, 1, 0, 0, 0), VMT_TICKS_COALESCE);
	ASSERT_STREQ(regs(&f), "1900-01-01 00:00:00 2");	/* a Monday */
	fx_fini(&f);

	fx_init(&f, date(2199, 12, 31, 23, 59, 59), VMT_TICKS_COALESCE);
	dev_run_to(&f.clk, dev_now(&f.clk) + SEC);
	ASSERT_STREQ(regs(&f), "2200-01-01 00:00:00 4");
	fx_fini(&f);
}

TEST(binary_and_12h_modes)
{
	struct fx f;

	fx_init(&f, date(2023, 11, 5, 0, 30, 7), VMT_TICKS_COALESCE);
	wr(&f, VMT_RTC_REG_B, VMT_RTC_B_DM);	/* binary, 12 h */
	ASSERT_EQ(rd(&f, 0), 7);
	ASSERT_EQ(rd(&f, 2), 30);
	ASSERT_EQ(rd(&f, 4), 12);	/* 12 AM */
	ASSERT_EQ(rd(&f, 9), 23);
	ASSERT_EQ(rd(&f, 0x32), 20);
	dev_run_to(&f.clk, dev_now(&f.clk) + 12 * 3600 * SEC);
	ASSERT_EQ(rd(&f, 4), 0x80 | 12);	/* 12 PM */
	dev_run_to(&f.clk, dev_now(&f.clk) + 3600 * SEC);
	ASSERT_EQ(rd(&f, 4), 0x80 | 1);
	wr(&f, VMT_RTC_REG_B, 0);	/* BCD, 12 h */
	ASSERT_EQ(rd(&f, 4), 0x81);
	dev_run_to(&f.clk, dev_now(&f.clk) + 10 * 3600 * SEC);
	ASSERT_EQ(rd(&f, 4), 0x91);	/* 11 PM */
	wr(&f, VMT_RTC_REG_B, VMT_RTC_B_24H);
	ASSERT_EQ(rd(&f, 4), 0x23);
	fx_fini(&f);
}

TEST(uip_is_high_244us_plus_the_1984us_cycle_before_each_second)
{
	struct fx f;
	vmt_ns t0;

	fx_init(&f, date(2024, 1, 1, 0, 0, 0), VMT_TICKS_COALESCE);
	t0 = dev_now(&f.clk);
	dev_run_to(&f.clk, t0 + SEC - UIP_NS - 1);
	ASSERT_EQ(rd(&f, VMT_RTC_REG_A) & VMT_RTC_A_UIP, 0);
	dev_run_to(&f.clk, t0 + SEC - UIP_NS);
	ASSERT_EQ(rd(&f, VMT_RTC_REG_A), 0xa6);
	ASSERT_EQ(rd(&f, 0), 0x00);	/* the old second until the cycle ends */
	dev_run_to(&f.clk, t0 + SEC - 1);
	ASSERT_EQ(rd(&f, VMT_RTC_REG_A) & VMT_RTC_A_UIP, VMT_RTC_A_UIP);
	dev_run_to(&f.clk, t0 + SEC);
	ASSERT_EQ(rd(&f, VMT_RTC_REG_A) & VMT_RTC_A_UIP, 0);
	ASSERT_EQ(rd(&f, 0), 0x01);
	/* SET inhibits the update cycle and clears UIP. */
	dev_run_to(&f.clk, t0 + 2 * SEC - 1000);
	wr(&f, VMT_RTC_REG_B, VMT_RTC_B_24H | VMT_RTC_B_SET);
	ASSERT_EQ(rd(&f, VMT_RTC_REG_A) & VMT_RTC_A_UIP, 0);
	fx_fini(&f);
}

/* Step in quarter periods, acknowledging each interrupt as a handler would. */
static int run_acking(struct fx *f, vmt_ns until, vmt_ns step)
{
	int seen = atomic_load(&f->irq.raises[0]), n = 0;

	while (dev_now(&f->clk) < until) {
		dev_run_to(&f->clk, dev_now(&f->clk) + step < until ? dev_now(&f->clk) + step : until);
		if (atomic_load(&f->irq.raises[0]) != seen) {
			n += atomic_load(&f->irq.raises[0]) - seen;
			(void)rd(f, VMT_RTC_REG_C);
			seen = atomic_load(&f->irq.raises[0]);
		}
	}
	return n;
}

TEST(periodic_rates_give_exact_interrupt_counts)
{
	static const struct {
		uint8_t rs;
		int hz;
	} rates[] = { { 3, 8192 }, { 6, 1024 }, { 15, 2 }, { 1, 256 }, { 2, 128 }, { 10, 64 } };
	struct fx f;

	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		struct vmt_dev_stats st;
		vmt_ns step = SEC / (vmt_ns)rates[i].hz / 4;

		fx_init(&f, date(2024, 1, 1, 0, 0, 0), VMT_TICKS_COALESCE);
		wr(&f, VMT_RTC_REG_A, (uint8_t)(0x20 | rates[i].rs));
		wr(&f, VMT_RTC_REG_B, VMT_RTC_B_24H | VMT_RTC_B_PIE);
		ASSERT_EQ(run_acking(&f, dev_now(&f.clk) + SEC, step), rates[i].hz);
		ASSERT_OK(vmt_rtc_get_stats(f.rtc, &st));
		ASSERT_UEQ(st.ticks, rates[i].hz);
		ASSERT_UEQ(st.raised, rates[i].hz);
		ASSERT_UEQ(st.lost, 0);
		fx_fini(&f);
	}
	/* Rate 0: no periodic interrupt, PF never set. */
	fx_init(&f, date(2024, 1, 1, 0, 0, 0), VMT_TICKS_COALESCE);
	wr(&f, VMT_RTC_REG_A, 0x20);
	wr(&f, VMT_RTC_REG_B, VMT_RTC_B_24H | VMT_RTC_B_PIE);
	dev_run_to(&f.clk, dev_now(&f.clk) + SEC / 2);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 0);
	ASSERT_EQ(rd(&f, VMT_RTC_REG_C) & VMT_RTC_C_PF, 0);
	fx_fini(&f);
}

TEST(flags_are_read_to_clear_and_pf_sets_without_pie)
{
	struct fx f;

	fx_init(&f, date(2024, 1, 1, 0, 0, 0), VMT_TICKS_COALESCE);
	dev_run_to(&f.clk, dev_now(&f.clk) + SEC + 1);
	/* No enable: flags set, IRQF clear, no interrupt. */
	ASSERT_EQ(rd(&f, VMT_RTC_REG_C), VMT_RTC_C_PF | VMT_RTC_C_UF);
	ASSERT_EQ(rd(&f, VMT_RTC_REG_C), 0);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 0);
	/* Enabling UIE with UF already set raises at once. */
	dev_run_to(&f.clk, dev_now(&f.clk) + SEC);
	wr(&f, VMT_RTC_REG_B, VMT_RTC_B_24H | VMT_RTC_B_UIE);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 1);
	ASSERT_EQ(atomic_load(&f.irq.lowers[0]), 1);	/* a pulse */
	ASSERT_EQ(rd(&f, VMT_RTC_REG_C), VMT_RTC_C_IRQF | VMT_RTC_C_PF | VMT_RTC_C_UF);
	/* Update-ended interrupts once a second, on the boundary. */
	dev_run_to(&f.clk, dev_now(&f.clk) + SEC);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 2);
	/* Unacknowledged: no more edges. */
	dev_run_to(&f.clk, dev_now(&f.clk) + 5 * SEC);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 2);
	ASSERT_EQ(rd(&f, VMT_RTC_REG_C) & 0xf0, VMT_RTC_C_IRQF | VMT_RTC_C_PF | VMT_RTC_C_UF);
	dev_run_to(&f.clk, dev_now(&f.clk) + SEC);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 3);
	/* Register C and D are read-only. */
	wr(&f, VMT_RTC_REG_C, 0);
	ASSERT_NE(rd(&f, VMT_RTC_REG_C), 0);
	wr(&f, VMT_RTC_REG_D, 0);
	ASSERT_EQ(rd(&f, VMT_RTC_REG_D), 0x80);
	fx_fini(&f);
}

TEST(alarm_matches_exactly_and_with_dont_care)
{
	struct fx f;
	vmt_ns t0;

	fx_init(&f, date(2024, 1, 1, 10, 0, 0), VMT_TICKS_COALESCE);
	t0 = dev_now(&f.clk);
	wr(&f, VMT_RTC_SECONDS_ALARM, 0x30);
	wr(&f, VMT_RTC_MINUTES_ALARM, 0x01);
	wr(&f, VMT_RTC_HOURS_ALARM, 0x10);
	wr(&f, VMT_RTC_REG_B, VMT_RTC_B_24H | VMT_RTC_B_AIE);
	dev_run_to(&f.clk, t0 + 90 * SEC - 1);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 0);
	dev_run_to(&f.clk, t0 + 90 * SEC);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 1);
	ASSERT_EQ(rd(&f, VMT_RTC_REG_C) & (VMT_RTC_C_IRQF | VMT_RTC_C_AF),
		  VMT_RTC_C_IRQF | VMT_RTC_C_AF);
	/* Hours and minutes don't care: every minute at :30. */
	wr(&f, VMT_RTC_MINUTES_ALARM, 0xc0);
	wr(&f, VMT_RTC_HOURS_ALARM, 0xff);
	dev_run_to(&f.clk, t0 + 150 * SEC - 1);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 1);
	dev_run_to(&f.clk, t0 + 150 * SEC);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 2);
	(void)rd(&f, VMT_RTC_REG_C);
	/* All three don't care: every second. */
	wr(&f, VMT_RTC_SECONDS_ALARM, 0xc5);
	dev_run_to(&f.clk, t0 + 151 * SEC);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 3);
	fx_fini(&f);

	/* The alarm in 12 h mode compares the PM bit too. */
	fx_init(&f, date(2024, 1, 1, 13, 59, 59), VMT_TICKS_COALESCE);
	wr(&f, VMT_RTC_REG_B, VMT_RTC_B_AIE);
	wr(&f, VMT_RTC_SECONDS_ALARM, 0);
	wr(&f, VMT_RTC_MINUTES_ALARM, 0);
	wr(&f, VMT_RTC_HOURS_ALARM, 0x02);	/* 2 AM: no match at 2 PM */
	dev_run_to(&f.clk, dev_now(&f.clk) + SEC);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 0);
	wr(&f, VMT_RTC_HOURS_ALARM, 0x83);
	dev_run_to(&f.clk, dev_now(&f.clk) + 3600 * SEC);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 1);
	fx_fini(&f);
}

TEST(set_bit_halts_updates_and_guest_writes_set_the_time)
{
	struct fx f;
	vmt_ns t0;
	int64_t t;

	fx_init(&f, date(2024, 1, 1, 0, 0, 0), VMT_TICKS_COALESCE);
	t0 = dev_now(&f.clk);
	dev_run_to(&f.clk, t0 + SEC / 4);
	wr(&f, VMT_RTC_REG_B, VMT_RTC_B_24H | VMT_RTC_B_SET | VMT_RTC_B_UIE);
	ASSERT_EQ(rd(&f, VMT_RTC_REG_B), VMT_RTC_B_24H | VMT_RTC_B_SET);	/* SET clears UIE */
	wr(&f, 9, 0x38);
	wr(&f, 0x32, 0x20);
	wr(&f, 8, 0x07);
	wr(&f, 7, 0x04);
	wr(&f, 4, 0x12);
	wr(&f, 2, 0x34);
	wr(&f, 0, 0x56);
	wr(&f, 6, 0x01);	/* the guest says Sunday; 2038-07-04 is a Sunday */
	dev_run_to(&f.clk, t0 + 3 * SEC + SEC / 4);	/* held: no update */
	ASSERT_STREQ(regs(&f), "2038-07-04 12:34:56 1");
	ASSERT_EQ(rd(&f, VMT_RTC_REG_C) & VMT_RTC_C_UF, 0);	/* no update cycle */
	wr(&f, VMT_RTC_REG_B, VMT_RTC_B_24H);
	ASSERT_OK(vmt_rtc_get_time(f.rtc, &t));
	/* The divider kept its phase: the next second comes at t0 + 4 s. */
	ASSERT_EQ(t, date(2038, 7, 4, 12, 34, 56) + (int64_t)SEC / 4);
	dev_run_to(&f.clk, t0 + 4 * SEC - 1);
	ASSERT_STREQ(regs(&f), "2038-07-04 12:34:56 1");
	dev_run_to(&f.clk, t0 + 4 * SEC);
	ASSERT_STREQ(regs(&f), "2038-07-04 12:34:57 1");
	/* A write to a running clock counts on from the written value. */
	wr(&f, 2, 0x59);
	wr(&f, 4, 0x23);
	dev_run_to(&f.clk, t0 + 7 * SEC);
	ASSERT_STREQ(regs(&f), "2038-07-05 00:00:00 2");
	fx_fini(&f);
}

TEST(divider_reset_stops_the_clock_and_release_updates_half_a_second_later)
{
	struct fx f;
	vmt_ns t0;

	fx_init(&f, date(2024, 1, 1, 0, 0, 0), VMT_TICKS_COALESCE);
	t0 = dev_now(&f.clk);
	wr(&f, VMT_RTC_REG_A, 0x70);	/* divider chain in reset */
	dev_run_to(&f.clk, t0 + 10 * SEC);
	ASSERT_STREQ(regs(&f), "2024-01-01 00:00:00 2");
	ASSERT_EQ(rd(&f, VMT_RTC_REG_A), 0x70);
	wr(&f, VMT_RTC_REG_A, 0x26);
	dev_run_to(&f.clk, t0 + 10 * SEC + SEC / 2 + 1984000 - 1);
	ASSERT_EQ(rd(&f, 0), 0);
	dev_run_to(&f.clk, t0 + 10 * SEC + SEC / 2 + 1984000);
	ASSERT_EQ(rd(&f, 0), 1);
	/* Other dividers (another crystal, test modes) stop the clock too. */
	wr(&f, VMT_RTC_REG_A, 0x06);
	dev_run_to(&f.clk, dev_now(&f.clk) + 5 * SEC);
	ASSERT_EQ(rd(&f, 0), 1);
	fx_fini(&f);
}

TEST(cmos_ram_banks_and_index_ports)
{
	struct fx f;
	uint64_t v;
	uint8_t b;

	fx_init(&f, date(2024, 1, 1, 0, 0, 0), VMT_TICKS_COALESCE);
	for (unsigned i = 14; i < 128; i++)
		if (i != 0x32)
			wr(&f, i, (uint8_t)(i ^ 0x5a));
	for (unsigned i = 14; i < 128; i++)
		if (i != 0x32)
			ASSERT_EQ(rd(&f, i), i ^ 0x5a);
	for (unsigned i = 128; i < 256; i++) {
		ASSERT_OK(vmt_rtc_write(f.rtc, 2, 1, i));
		ASSERT_OK(vmt_rtc_write(f.rtc, 3, 1, 255 - i));
	}
	ASSERT_OK(vmt_rtc_write(f.rtc, 2, 1, 0x05));	/* bank 2 index 0x85 */
	ASSERT_OK(vmt_rtc_read(f.rtc, 3, 1, &v));
	ASSERT_EQ(v, 255 - 0x85);
	ASSERT_OK(vmt_rtc_cmos_get(f.rtc, 0x85, &b));
	ASSERT_EQ(b, 255 - 0x85);
	ASSERT_OK(vmt_rtc_read(f.rtc, 0, 1, &v));
	ASSERT_EQ(v, 0xff);
	ASSERT_OK(vmt_rtc_read(f.rtc, 2, 1, &v));
	ASSERT_EQ(v, 0xff);
	/* NMI disable bit, kept apart from the index. */
	ASSERT_EQ(vmt_rtc_nmi_disabled(f.rtc), 0);
	ASSERT_OK(vmt_rtc_write(f.rtc, 0, 1, 0x80 | 0x20));
	ASSERT_EQ(vmt_rtc_nmi_disabled(f.rtc), 1);
	ASSERT_OK(vmt_rtc_read(f.rtc, 1, 1, &v));
	ASSERT_EQ(v, 0x20 ^ 0x5a);
	/* Host-side access. */
	ASSERT_OK(vmt_rtc_cmos_set(f.rtc, 0x34, 0x12));
	ASSERT_EQ(rd(&f, 0x34), 0x12);
	ASSERT_ERR(vmt_rtc_cmos_set(f.rtc, 0x32, 0), -EINVAL);
	ASSERT_ERR(vmt_rtc_cmos_set(f.rtc, 13, 0), -EINVAL);
	ASSERT_ERR(vmt_rtc_cmos_set(f.rtc, 256, 0), -EINVAL);
	ASSERT_ERR(vmt_rtc_cmos_set(NULL, 20, 0), -EINVAL);
	ASSERT_ERR(vmt_rtc_cmos_get(f.rtc, 256, &b), -EINVAL);
	ASSERT_ERR(vmt_rtc_cmos_get(f.rtc, 1, NULL), -EINVAL);
	ASSERT_ERR(vmt_rtc_nmi_disabled(NULL), -EINVAL);
	/* cmos_get of register C does not clear it. */
	dev_run_to(&f.clk, dev_now(&f.clk) + SEC);
	ASSERT_OK(vmt_rtc_cmos_get(f.rtc, VMT_RTC_REG_C, &b));
	ASSERT_OK(vmt_rtc_cmos_get(f.rtc, VMT_RTC_REG_C, &b));
	ASSERT_EQ(b, VMT_RTC_C_PF | VMT_RTC_C_UF);
	fx_fini(&f);
}

TEST(pause_freezes_the_date_and_raises_nothing)
{
	struct fx f;
	int64_t a, b;

	fx_init(&f, date(2024, 1, 1, 0, 0, 0), VMT_TICKS_COALESCE);
	wr(&f, VMT_RTC_REG_B, VMT_RTC_B_24H | VMT_RTC_B_PIE | VMT_RTC_B_UIE);
	dev_run_to(&f.clk, dev_now(&f.clk) + SEC / 2);
	(void)rd(&f, VMT_RTC_REG_C);
	ASSERT_OK(vmt_keeper_stop(f.clk.k));
	atomic_store(&f.irq.raises[0], 0);
	ASSERT_OK(vmt_rtc_get_time(f.rtc, &a));
	f.wall += 3600 * SEC;	/* an hour of host time passes */
	ASSERT_OK(vmt_loop_dispatch(f.clk.loop));
	ASSERT_OK(vmt_rtc_get_time(f.rtc, &b));
	ASSERT_EQ(a, b);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 0);
	ASSERT_STREQ(regs(&f), "2024-01-01 00:00:00 2");
	ASSERT_OK(vmt_keeper_start(f.clk.k));
	dev_run_to(&f.clk, dev_now(&f.clk) + SEC / 2);
	ASSERT_STREQ(regs(&f), "2024-01-01 00:00:01 2");
	fx_fini(&f);
}

TEST(host_base_follows_the_wall_clock_across_a_pause)
{
	struct fx f;
	int64_t t;

	fx_init(&f, 0, VMT_TICKS_COALESCE);
	vmt_rtc_free(f.rtc);
	fx_new_rtc(&f, VMT_RTC_BASE_HOST, 0, VMT_TICKS_COALESCE);
	ASSERT_STREQ(regs(&f), "2030-06-01 12:00:00 7");
	ASSERT_OK(vmt_keeper_stop(f.clk.k));
	f.wall += 90 * SEC;
	ASSERT_STREQ(regs(&f), "2030-06-01 12:01:30 7");
	ASSERT_OK(vmt_keeper_start(f.clk.k));
	/* The guest sets it an hour ahead: an offset from the wall clock. */
	wr(&f, 4, 0x13);
	f.wall += SEC;
	ASSERT_OK(vmt_rtc_get_time(f.rtc, &t));
	ASSERT_EQ(t, date(2030, 6, 1, 13, 1, 31));
	fx_fini(&f);
}

TEST(utc_and_localtime_bases_start_from_the_host_wall_clock)
{
	struct fx f;
	int64_t t;

	fx_init(&f, 0, VMT_TICKS_COALESCE);
	vmt_rtc_free(f.rtc);
	fx_new_rtc(&f, VMT_RTC_BASE_UTC, 0, VMT_TICKS_COALESCE);
	ASSERT_OK(vmt_rtc_get_time(f.rtc, &t));
	ASSERT_EQ(t, date(2030, 6, 1, 12, 0, 0));
	f.wall += 100 * SEC;	/* the wall clock moves, the VM clock not */
	ASSERT_OK(vmt_rtc_get_time(f.rtc, &t));
	ASSERT_EQ(t, date(2030, 6, 1, 12, 0, 0));
	vmt_rtc_free(f.rtc);
	fx_new_rtc(&f, VMT_RTC_BASE_LOCALTIME, 0, VMT_TICKS_COALESCE);
	ASSERT_OK(vmt_rtc_get_time(f.rtc, &t));
	{
		struct vmt_rtc_config c;
		vmt_ns saved = f.wall;
		vmt_rtc *r;

		/* A host wall clock past 2199 cannot be shown. */
		ASSERT_OK(vmt_rtc_config_init(&c));
		f.wall = (vmt_ns)date(2230, 1, 1, 0, 0, 0);
		ASSERT_ERR(vmt_rtc_new(f.clk.loop, &c, &r), -ERANGE);
		c.base = VMT_RTC_BASE_HOST;
		ASSERT_ERR(vmt_rtc_new(f.clk.loop, &c, &r), -ERANGE);
		f.wall = saved;
	}
	{
		time_t s = (time_t)(f.wall / SEC);
		struct tm tm;

		ASSERT_TRUE(localtime_r(&s, &tm) != NULL);
		ASSERT_EQ(t, (int64_t)f.wall + tm.tm_gmtoff * (int64_t)SEC);
	}
	fx_fini(&f);
}


TEST(save_restore_mid_second_resumes_exactly)
{
	struct fx f, g;
	vmt_fields_writer *w;
	vmt_snap_writer *sw;
	vmt_snap_reader *sr;
	vmt_fields_reader r;
	vmt_ns t0;

	fx_init(&f, date(2024, 5, 6, 7, 8, 9), VMT_TICKS_REINJECT);
	t0 = dev_now(&f.clk);
	wr(&f, VMT_RTC_REG_A, 0x2f);	/* 2 Hz */
	wr(&f, VMT_RTC_REG_B, VMT_RTC_B_PIE | VMT_RTC_B_DM);	/* binary 12 h */
	wr(&f, 40, 0x99);
	dev_run_to(&f.clk, t0 + 3 * SEC + 300 * VMT_NS_PER_MS);
	ASSERT_OK(vmt_keeper_stop(f.clk.k));
	ASSERT_OK(vmt_snap_writer_new(&sw));
	ASSERT_OK(vmt_snap_writer_section(sw, "rtc", 1, &w));
	ASSERT_OK(vmt_rtc_save(f.rtc, w, 7));
	dev_reopen(sw, "rtc", &sr, &r);

	/*
	 * Another VM, whose keeper resumed at the saved VM time (FREEZE), on
	 * another host wall time.
	 */
	fx_clock(&g, dev_now(&f.clk), f.wall + 1000 * SEC);
	fx_new_rtc(&g, VMT_RTC_BASE_EPOCH, 0, VMT_TICKS_REINJECT);
	ASSERT_OK(vmt_rtc_restore(g.rtc, &r, 7));
	ASSERT_OK(vmt_keeper_start(g.clk.k));
	ASSERT_EQ(rd(&g, 40), 0x99);
	ASSERT_EQ(rd(&g, 0), 12);
	ASSERT_EQ(rd(&g, 4), 7);
	ASSERT_EQ(rd(&g, VMT_RTC_REG_B), VMT_RTC_B_PIE | VMT_RTC_B_DM);
	/* The REINJECT backlog came along; drain it. */
	{
		struct vmt_dev_stats sf, sg;

		ASSERT_OK(vmt_rtc_get_stats(f.rtc, &sf));
		ASSERT_OK(vmt_rtc_get_stats(g.rtc, &sg));
		ASSERT_UEQ(sg.backlog, sf.backlog);
		ASSERT_UGE(sg.backlog, 5);
	}
	check_books(&g);
	while (rd(&g, VMT_RTC_REG_C) & VMT_RTC_C_IRQF)
		;
	/* The next second and the 2 Hz tick come 0.7 s / 0.2 s later. */
	atomic_store(&g.irq.raises[0], 0);
	dev_run_to(&g.clk, dev_now(&g.clk) + 200 * VMT_NS_PER_MS - 1);
	ASSERT_EQ(atomic_load(&g.irq.raises[0]), 0);
	dev_run_to(&g.clk, dev_now(&g.clk) + 1);
	ASSERT_EQ(atomic_load(&g.irq.raises[0]), 1);
	dev_run_to(&g.clk, t0 + 4 * SEC - 1);
	ASSERT_EQ(rd(&g, 0), 12);
	dev_run_to(&g.clk, t0 + 4 * SEC);
	ASSERT_EQ(rd(&g, 0), 13);
	/* VM time moved on by a CATCHUP restore: the date moves as much. */
	vmt_rtc_free(g.rtc);
	fx_new_rtc(&g, VMT_RTC_BASE_EPOCH, 0, VMT_TICKS_REINJECT);
	ASSERT_OK(vmt_rtc_restore(g.rtc, &r, 7));
	{
		int64_t t;

		ASSERT_OK(vmt_rtc_get_time(g.rtc, &t));
		ASSERT_EQ(t, date(2024, 5, 6, 7, 8, 9) + (int64_t)(dev_now(&g.clk) - t0));
	}
	/* Another base is refused; a missing group is -ENOENT. */
	vmt_rtc_free(g.rtc);
	fx_new_rtc(&g, VMT_RTC_BASE_HOST, 0, VMT_TICKS_REINJECT);
	ASSERT_ERR(vmt_rtc_restore(g.rtc, &r, 7), -EINVAL);
	ASSERT_ERR(vmt_rtc_restore(g.rtc, &r, 8), -ENOENT);
	ASSERT_ERR(vmt_rtc_restore(NULL, &r, 7), -EINVAL);
	ASSERT_ERR(vmt_rtc_save(g.rtc, NULL, 7), -EINVAL);
	vmt_snap_reader_free(sr);
	vmt_snap_writer_free(sw);
	fx_fini(&g);
	fx_fini(&f);
}

/* A saved group with every field 0 but version, base and @cmos_len bytes. */
static void refused(struct fx *f, size_t cmos_len, uint32_t bad_id, uint64_t bad)
{
	uint8_t cmos[VMT_RTC_CMOS_SIZE] = { [VMT_RTC_REG_A] = 0x26 };
	vmt_snap_writer *sw;
	vmt_snap_reader *sr;
	vmt_fields_writer *w;
	vmt_fields_reader r;

	ASSERT_OK(vmt_snap_writer_new(&sw));
	ASSERT_OK(vmt_snap_writer_section(sw, "rtc", 1, &w));
	ASSERT_OK(vmt_fields_begin_group(w, 1));
	ASSERT_OK(vmt_fields_put_bytes(w, 2, cmos, cmos_len));
	for (uint32_t id = 1; id <= 11; id++) {
		uint64_t v = id == 1 ? 1 : id == 5 ? VMT_RTC_BASE_EPOCH : 0;

		if (id != 2)
			ASSERT_OK(vmt_fields_put_u64(w, id, id == bad_id ? bad : v));
	}
	ASSERT_OK(vmt_fields_end_group(w));
	dev_reopen(sw, "rtc", &sr, &r);
	ASSERT_ERR(vmt_rtc_restore(f->rtc, &r, 1), -EBADMSG);
	vmt_snap_reader_free(sr);
	vmt_snap_writer_free(sw);
}

TEST(restore_refuses_impossible_values)
{
	struct fx f;

	fx_init(&f, date(2024, 1, 1, 0, 0, 0), VMT_TICKS_COALESCE);
	refused(&f, 10, 0, 0);			/* 10 bytes of CMOS */
	refused(&f, VMT_RTC_CMOS_SIZE, 1, 2);	/* unknown version */
	refused(&f, VMT_RTC_CMOS_SIZE, 4, 2);	/* NMI bit 2 */
	refused(&f, VMT_RTC_CMOS_SIZE, 9, 16384);	/* grid offset */
	refused(&f, VMT_RTC_CMOS_SIZE, 10, VMT_TICKS_BACKLOG_MAX + 1);
	refused(&f, VMT_RTC_CMOS_SIZE, 11, 7);	/* day-of-week offset */
	ASSERT_STREQ(regs(&f), "2024-01-01 00:00:00 2");	/* unchanged */
	fx_fini(&f);
}

/* Run @ms of a 1024 Hz tick the guest does not acknowledge. */
static void miss_ticks(struct fx *f, int ms)
{
	wr(f, VMT_RTC_REG_B, VMT_RTC_B_24H | VMT_RTC_B_PIE);
	dev_run_to(&f->clk, dev_now(&f->clk) + (vmt_ns)ms * VMT_NS_PER_MS);
}

TEST(reinject_raises_the_backlog_one_per_acknowledgement)
{
	struct fx f;
	struct vmt_dev_stats st;
	int acks = 0;

	fx_init(&f, date(2024, 1, 1, 0, 0, 0), VMT_TICKS_REINJECT);
	miss_ticks(&f, 10);	/* ticks 1..10 at 1024 Hz: 10 ticks */
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 1);
	ASSERT_OK(vmt_rtc_get_stats(f.rtc, &st));
	ASSERT_UEQ(st.ticks, 10);
	ASSERT_UEQ(st.backlog, 9);
	ASSERT_UEQ(st.lost, 0);
	/* Each read of C (the handler's ack) raises one more, at once. */
	check_books(&f);
	while (rd(&f, VMT_RTC_REG_C) & VMT_RTC_C_IRQF) {
		check_books(&f);
		acks++;
		ASSERT_LE(acks, 20);
	}
	ASSERT_EQ(acks, 10);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 10);
	ASSERT_OK(vmt_rtc_get_stats(f.rtc, &st));
	ASSERT_UEQ(st.backlog, 0);
	ASSERT_UEQ(st.raised, 10);
	/* A tick the controller coalesced joins the backlog. */
	f.irq.accept = 0;
	dev_run_to(&f.clk, dev_now(&f.clk) + SEC / 1024 + 1);
	ASSERT_OK(vmt_rtc_get_stats(f.rtc, &st));
	ASSERT_UEQ(st.coalesced, 1);
	ASSERT_UEQ(st.backlog, 1);
	f.irq.accept = 1;
	(void)rd(&f, VMT_RTC_REG_C);
	ASSERT_OK(vmt_rtc_get_stats(f.rtc, &st));
	ASSERT_UEQ(st.backlog, 0);
	check_books(&f);
	/* A backlog dropped by a reset is lost. */
	f.irq.accept = 0;
	dev_run_to(&f.clk, dev_now(&f.clk) + 3 * SEC / 1024);
	ASSERT_OK(vmt_rtc_reset(f.rtc));
	check_books(&f);
	ASSERT_EQ(rd(&f, VMT_RTC_REG_B), VMT_RTC_B_24H);
	ASSERT_EQ(rd(&f, VMT_RTC_REG_C), 0);
	fx_fini(&f);
}

TEST(coalesce_and_delay_lose_missed_ticks)
{
	struct fx f;
	struct vmt_dev_stats st;

	fx_init(&f, date(2024, 1, 1, 0, 0, 0), VMT_TICKS_COALESCE);
	miss_ticks(&f, 10);
	ASSERT_EQ(rd(&f, VMT_RTC_REG_C) & VMT_RTC_C_IRQF, VMT_RTC_C_IRQF);
	ASSERT_EQ(rd(&f, VMT_RTC_REG_C), 0);
	ASSERT_OK(vmt_rtc_get_stats(f.rtc, &st));
	ASSERT_UEQ(st.lost, 9);
	ASSERT_UEQ(st.backlog, 0);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 1);
	check_books(&f);
	fx_fini(&f);

	/* DELAY: the grid restarts one period after the late acknowledgement. */
	fx_init(&f, date(2024, 1, 1, 0, 0, 0), VMT_TICKS_DELAY);
	miss_ticks(&f, 10);
	dev_run_to(&f.clk, dev_now(&f.clk) + 100000);	/* 0.1 ms later */
	(void)rd(&f, VMT_RTC_REG_C);
	ASSERT_OK(vmt_rtc_get_stats(f.rtc, &st));
	ASSERT_UEQ(st.lost, 9);
	atomic_store(&f.irq.raises[0], 0);
	/* On the 32 kHz grid: within one cycle (30.5 us) before now + period. */
	dev_run_to(&f.clk, dev_now(&f.clk) + SEC / 1024 - 30600);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 0);
	dev_run_to(&f.clk, dev_now(&f.clk) + 30700);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 1);
	fx_fini(&f);
}

TEST(min_period_limits_how_often_the_loop_raises)
{
	struct fx f;
	struct vmt_rtc_config c;
	struct vmt_dev_stats st;
	int n;

	fx_init(&f, date(2024, 1, 1, 0, 0, 0), VMT_TICKS_COALESCE);
	vmt_rtc_free(f.rtc);
	ASSERT_OK(vmt_rtc_config_init(&c));
	c.dev.irq = dev_irq_record;
	c.dev.irq_opaque = &f.irq;
	c.dev.min_period_ns = VMT_NS_PER_MS;
	c.base = VMT_RTC_BASE_EPOCH;
	ASSERT_OK(vmt_rtc_new(f.clk.loop, &c, &f.rtc));
	wr(&f, VMT_RTC_REG_A, 0x23);	/* 8192 Hz */
	wr(&f, VMT_RTC_REG_B, VMT_RTC_B_24H | VMT_RTC_B_PIE);
	n = run_acking(&f, dev_now(&f.clk) + SEC / 10, 10000);
	ASSERT_LE(n, 101);
	ASSERT_GE(n, 90);
	ASSERT_OK(vmt_rtc_get_stats(f.rtc, &st));
	ASSERT_UEQ(st.ticks, 819);	/* counted at the programmed rate */
	fx_fini(&f);
}

TEST(bad_offsets_sizes_and_arguments)
{
	struct fx f;
	struct vmt_rtc_config c;
	uint64_t v;
	vmt_rtc *r;
	char longname[80];

	fx_init(&f, date(2024, 1, 1, 0, 0, 0), VMT_TICKS_COALESCE);
	ASSERT_ERR(vmt_rtc_read(f.rtc, 4, 1, &v), -EINVAL);
	ASSERT_ERR(vmt_rtc_read(f.rtc, 1, 2, &v), -EINVAL);
	ASSERT_ERR(vmt_rtc_read(f.rtc, 1, 0, &v), -EINVAL);
	ASSERT_ERR(vmt_rtc_read(f.rtc, 1, 1, NULL), -EINVAL);
	ASSERT_ERR(vmt_rtc_read(NULL, 1, 1, &v), -EINVAL);
	ASSERT_ERR(vmt_rtc_write(f.rtc, UINT64_MAX, 1, 0), -EINVAL);
	ASSERT_ERR(vmt_rtc_write(f.rtc, 0, 4, 0), -EINVAL);
	ASSERT_ERR(vmt_rtc_write(NULL, 0, 1, 0), -EINVAL);
	ASSERT_ERR(vmt_rtc_config_init(NULL), -EINVAL);
	ASSERT_ERR(vmt_rtc_get_time(f.rtc, NULL), -EINVAL);
	ASSERT_ERR(vmt_rtc_get_stats(f.rtc, NULL), -EINVAL);
	ASSERT_ERR(vmt_rtc_reset(NULL), -EINVAL);
	ASSERT_ERR(vmt_rtc_inspect(f.rtc, NULL), -EINVAL);
	ASSERT_TRUE(vmt_rtc_free(NULL) == NULL);
	ASSERT_STREQ(vmt_rtc_base_name(VMT_RTC_BASE_HOST), "host");
	ASSERT_STREQ(vmt_rtc_base_name((enum vmt_rtc_base)9), "unknown");

	ASSERT_OK(vmt_rtc_config_init(&c));
	ASSERT_ERR(vmt_rtc_new(NULL, &c, &r), -EINVAL);
	ASSERT_ERR(vmt_rtc_new(f.clk.loop, NULL, &r), -EINVAL);
	ASSERT_ERR(vmt_rtc_new(f.clk.loop, &c, NULL), -EINVAL);
	c.base = (enum vmt_rtc_base)4;
	ASSERT_ERR(vmt_rtc_new(f.clk.loop, &c, &r), -EINVAL);
	c.base = VMT_RTC_BASE_EPOCH;
	c.epoch_ns = date(1899, 12, 31, 23, 59, 59);
	ASSERT_ERR(vmt_rtc_new(f.clk.loop, &c, &r), -EINVAL);
	c.epoch_ns = date(2200, 1, 1, 0, 0, 0);
	ASSERT_ERR(vmt_rtc_new(f.clk.loop, &c, &r), -EINVAL);
	c.epoch_ns = 0;
	c.century_index = 13;
	ASSERT_ERR(vmt_rtc_new(f.clk.loop, &c, &r), -EINVAL);
	c.century_index = 128;
	ASSERT_ERR(vmt_rtc_new(f.clk.loop, &c, &r), -EINVAL);
	c.century_index = 0;
	c.dev.ticks = (enum vmt_tick_policy)3;
	ASSERT_ERR(vmt_rtc_new(f.clk.loop, &c, &r), -EINVAL);
	c.dev.ticks = VMT_TICKS_COALESCE;
	c.dev.name = "a\"b";
	ASSERT_ERR(vmt_rtc_new(f.clk.loop, &c, &r), -EINVAL);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	c.dev.name = longname;
	ASSERT_ERR(vmt_rtc_new(f.clk.loop, &c, &r), -ENAMETOOLONG);
	/* No century byte: 70-99 are 19xx. */
	c.dev.name = "rtc2";
	c.epoch_ns = date(1985, 1, 1, 0, 0, 0);
	ASSERT_OK(vmt_rtc_new(f.clk.loop, &c, &r));
	{
		int64_t t;

		ASSERT_OK(vmt_rtc_write(r, 0, 1, VMT_RTC_REG_B));
		ASSERT_OK(vmt_rtc_write(r, 1, 1, VMT_RTC_B_24H | VMT_RTC_B_SET));
		ASSERT_OK(vmt_rtc_write(r, 1, 1, VMT_RTC_B_24H));
		ASSERT_OK(vmt_rtc_get_time(r, &t));
		ASSERT_EQ(t, date(1985, 1, 1, 0, 0, 0));
	}
	vmt_rtc_free(r);
	fx_fini(&f);
}

TEST(hostile_register_streams_do_not_crash_or_storm)
{
	struct fx f;
	uint64_t v;
	unsigned seed = 12345;

	fx_init(&f, date(2024, 1, 1, 0, 0, 0), VMT_TICKS_REINJECT);
	for (int round = 0; round < 200; round++) {
		for (int i = 0; i < 50; i++) {
			unsigned x = (unsigned)rand_r(&seed);

			ASSERT_OK(vmt_rtc_write(f.rtc, x & 3, 1, x >> 8));
			if (x & 0x10000)
				ASSERT_OK(vmt_rtc_read(f.rtc, (x >> 4) & 3, 1, &v));
		}
		dev_run_to(&f.clk, dev_now(&f.clk) + (vmt_ns)(rand_r(&seed) % 5000000));
		(void)rd(&f, VMT_RTC_REG_A);
	}
	/* A rate write in a loop with acks: bounded interrupts. */
	wr(&f, VMT_RTC_REG_B, VMT_RTC_B_PIE | VMT_RTC_B_UIE | VMT_RTC_B_AIE);
	atomic_store(&f.irq.raises[0], 0);
	for (int i = 0; i < 10000; i++) {
		wr(&f, VMT_RTC_REG_A, (uint8_t)(0x20 | (i % 16)));
		(void)rd(&f, VMT_RTC_REG_C);
	}
	ASSERT_LE(atomic_load(&f.irq.raises[0]), 10001);
	dev_run_to(&f.clk, dev_now(&f.clk) + SEC / 100);
	ASSERT_LE(atomic_load(&f.irq.raises[0]), 10200);
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

	fx_init(&f, date(2024, 3, 4, 5, 6, 7), VMT_TICKS_COALESCE);
	out = open_memstream(&buf, &len);
	ASSERT_TRUE(out != NULL);
	ASSERT_OK(vmt_rtc_inspect(f.rtc, out));
	fclose(out);
	ASSERT_TRUE(strstr(buf, "\"time\":\"2024-03-04T05:06:07\"") != NULL);
	ASSERT_TRUE(strstr(buf, "\"periodic_hz\":1024") != NULL);
	ASSERT_TRUE(strstr(buf, "\"base\":\"epoch\"") != NULL);
	free(buf);

	ASSERT_OK(vmt_units_new(&units));
	ASSERT_ERR(vmt_rtc_add_unit(f.rtc, units, &u), -ENOENT);
	ASSERT_ERR(vmt_rtc_add_unit(NULL, units, &u), -EINVAL);
	ASSERT_OK(vmt_keeper_add_unit(f.clk.k, units, NULL));
	ASSERT_OK(vmt_rtc_add_unit(f.rtc, units, &u));
	ASSERT_STREQ(vmt_unit_name(u), "rtc");
	ASSERT_ERR(vmt_rtc_add_unit(f.rtc, units, NULL), -EEXIST);
	{
		vmt_snap_writer *sw;
		vmt_snap_reader *sr;
		const void *p;
		size_t n;

		ASSERT_OK(vmt_keeper_stop(f.clk.k));
		wr(&f, 51, 0x42);
		ASSERT_OK(vmt_snap_writer_new(&sw));
		ASSERT_OK(vmt_units_save(units, sw, NULL));
		ASSERT_OK(vmt_snap_writer_save_buffer(sw, &p, &n, NULL));
		wr(&f, 51, 0);
		ASSERT_OK(vmt_snap_reader_from_buffer(p, n, &sr, NULL));
		ASSERT_OK(vmt_units_restore(units, sr, NULL));
		ASSERT_EQ(rd(&f, 51), 0x42);
		ASSERT_OK(vmt_units_reset(units, NULL));
		vmt_snap_reader_free(sr);
		vmt_snap_writer_free(sw);
	}
	{
		/* A payload version the device does not know. */
		vmt_snap_writer *sw;
		vmt_snap_reader *sr;
		vmt_fields_writer *w;
		vmt_fields_reader r;
		vmt_units_report *rep = NULL;
		const struct vmt_unit_result *e;

		ASSERT_OK(vmt_snap_writer_new(&sw));
		ASSERT_OK(vmt_snap_writer_section(sw, "rtc", 2, &w));
		ASSERT_OK(vmt_rtc_save(f.rtc, w, 1));
		dev_reopen(sw, "rtc", &sr, &r);
		ASSERT_ERR(vmt_units_restore(units, sr, &rep), -EPROTONOSUPPORT);
		e = vmt_units_report_find(rep, "rtc", VMT_UNIT_OP_RESTORE);
		ASSERT_TRUE(e != NULL && strstr(e->msg, "payload version 2") != NULL);
		vmt_units_report_free(rep);
		vmt_snap_reader_free(sr);
		vmt_snap_writer_free(sw);
	}
	vmt_units_free(units);
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
	struct racer *r = arg;
	uint64_t v;

	while (!atomic_load(r->stop)) {
		unsigned x = (unsigned)rand_r(&r->seed);

		/* Offsets 2/3 only: each thread owns its index port. */
		if (x & 1) {
			vmt_rtc_write(r->f->rtc, 2, 1, x >> 8);
			vmt_rtc_write(r->f->rtc, 3, 1, x >> 16);
		} else {
			vmt_rtc_read(r->f->rtc, 3, 1, &v);
		}
		if ((x & 0x70) == 0) {
			uint8_t b;
			int64_t t;

			vmt_rtc_cmos_get(r->f->rtc, VMT_RTC_REG_C, &b);
			vmt_rtc_get_time(r->f->rtc, &t);
		}
	}
	return NULL;
}

TEST(threaded_register_access)
{
	struct fx f;
	pthread_t th[2];
	struct racer rc[2];
	atomic_int stop = 0;

	fx_init(&f, date(2024, 1, 1, 0, 0, 0), VMT_TICKS_REINJECT);
	wr(&f, VMT_RTC_REG_A, 0x23);
	wr(&f, VMT_RTC_REG_B, VMT_RTC_B_24H | VMT_RTC_B_PIE | VMT_RTC_B_UIE);
	for (int i = 0; i < 2; i++) {
		rc[i] = (struct racer){ &f, &stop, (unsigned)i + 1 };
		ASSERT_EQ(pthread_create(&th[i], NULL, race, &rc[i]), 0);
	}
	for (int i = 0; i < 2000; i++) {
		dev_run_to(&f.clk, dev_now(&f.clk) + 50000);
		(void)rd(&f, VMT_RTC_REG_C);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	fx_fini(&f);
}

TEST(reinject_without_an_irq_callback_does_not_double_polled_ticks)
{
	struct fx f;
	struct vmt_rtc_config c;
	vmt_ns end;
	int pf = 0;

	fx_init(&f, date(2024, 1, 1, 0, 0, 0), VMT_TICKS_REINJECT);
	vmt_rtc_free(f.rtc);
	ASSERT_OK(vmt_rtc_config_init(&c));
	c.dev.ticks = VMT_TICKS_REINJECT;	/* no irq: a guest that polls C */
	c.base = VMT_RTC_BASE_EPOCH;
	ASSERT_OK(vmt_rtc_new(f.clk.loop, &c, &f.rtc));
	wr(&f, VMT_RTC_REG_B, VMT_RTC_B_24H | VMT_RTC_B_PIE);
	end = dev_now(&f.clk) + SEC / 8;
	while (dev_now(&f.clk) < end) {
		dev_run_to(&f.clk, dev_now(&f.clk) + SEC / 4096);
		pf += !!(rd(&f, VMT_RTC_REG_C) & VMT_RTC_C_PF);
	}
	ASSERT_EQ(pf, 128);	/* 1024 Hz for 1/8 s */
	check_books(&f);
	fx_fini(&f);
}
