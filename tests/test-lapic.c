/* SPDX-License-Identifier: MIT */
/*
 * test-lapic.c - the local APIC timer on a manual VM clock: current count
 * per divide value, one-shot, periodic, TSC-deadline, mask, mode switches,
 * count 0, pause, save/restore, the minimum period, tick policies, hostile
 * streams and threaded access (VMT_TEST_THREADED).
 */
#include <pthread.h>
#include <stdatomic.h>

#include <vmtime/keeper.h>
#include <vmtime/lapic.h>
#include <vmtime/loop.h>
#include <vmtime/snapshot.h>
#include <vmtime/units.h>

#include "dev-tests.h"
#include "tests.h"

#define SEC VMT_NS_PER_SEC
#define LVT VMT_LAPIC_LVT_TIMER
#define TMICT VMT_LAPIC_INITIAL_COUNT
#define TMCCT VMT_LAPIC_CURRENT_COUNT
#define TDCR VMT_LAPIC_DIVIDE_CONFIG
#define PERIODIC (VMT_LAPIC_MODE_PERIODIC << VMT_LAPIC_LVT_MODE_SHIFT)
#define DEADLINE (VMT_LAPIC_MODE_TSC_DEADLINE << VMT_LAPIC_LVT_MODE_SHIFT)

struct fx {
	struct dev_clock clk;
	vmt_lapic *l;
	struct dev_irq_log irq;
	int last_vector;
};

static int fake_irq(void *opaque, unsigned line, int level)
{
	struct fx *f = opaque;

	if (line == 0 && level)
		f->last_vector = vmt_lapic_vector(f->l);	/* allowed from the callback */
	return dev_irq_record(&f->irq, line, level);
}

static void fx_dev(struct fx *f, enum vmt_tick_policy ticks, uint64_t bus_hz, uint64_t tsc_hz,
		   vmt_ns min_period)
{
	struct vmt_lapic_config c;

	ASSERT_OK(vmt_lapic_config_init(&c));
	c.dev.irq = fake_irq;
	c.dev.irq_opaque = f;
	c.dev.ticks = ticks;
	c.dev.min_period_ns = min_period;
	c.bus_hz = bus_hz;
	c.tsc_hz = tsc_hz;
	c.tsc_offset = 1000;
	ASSERT_OK(vmt_lapic_new(f->clk.loop, &c, &f->l));
}

/* A stopped clock at @t0 and its interrupt log, no device yet. */
static void fx_clock(struct fx *f, vmt_ns t0)
{
	memset(f, 0, sizeof(*f));
	dev_clock_init(&f->clk, t0);
	dev_irq_init(&f->irq, f->clk.src, 1);
}

static void fx_init(struct fx *f, enum vmt_tick_policy ticks)
{
	fx_clock(f, 5 * SEC);
	fx_dev(f, ticks, 0, 0, 0);
	ASSERT_OK(vmt_keeper_start(f->clk.k));
}

static void fx_fini(struct fx *f)
{
	vmt_lapic_free(f->l);
	dev_clock_fini(&f->clk);
}

static uint32_t rd(struct fx *f, unsigned off)
{
	uint64_t v = 0;

	ASSERT_OK(vmt_lapic_read(f->l, off, 4, &v));
	return (uint32_t)v;
}

static void wr(struct fx *f, unsigned off, uint32_t v)
{
	ASSERT_OK(vmt_lapic_write(f->l, off, 4, v));
}

static void check_books(struct fx *f)
{
	struct vmt_dev_stats st;

	ASSERT_OK(vmt_lapic_get_stats(f->l, &st));
	ASSERT_UEQ(st.ticks, st.raised + st.lost + st.backlog);
}

TEST(power_up_state)
{
	struct fx f;
	uint64_t v;

	fx_init(&f, VMT_TICKS_COALESCE);
	ASSERT_EQ(rd(&f, LVT), VMT_LAPIC_LVT_MASKED);
	ASSERT_EQ(rd(&f, TMICT), 0);
	ASSERT_EQ(rd(&f, TMCCT), 0);
	ASSERT_EQ(rd(&f, TDCR), 0);
	ASSERT_OK(vmt_lapic_read_msr(f.l, VMT_LAPIC_MSR_TSC_DEADLINE, &v));
	ASSERT_EQ(v, 0);
	fx_fini(&f);
}

TEST(current_count_decrements_exactly_per_divide_value)
{
	static const struct {
		uint32_t dcr;
		uint64_t div;
	} d[] = { { 0x0, 2 }, { 0x1, 4 }, { 0x2, 8 },  { 0x3, 16 },
		  { 0x8, 32 }, { 0x9, 64 }, { 0xa, 128 }, { 0xb, 1 } };
	struct fx f;

	fx_init(&f, VMT_TICKS_COALESCE);
	wr(&f, LVT, 0x30);
	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
		vmt_ns t0;

		wr(&f, TDCR, d[i].dcr | 0xf0);	/* reserved bits dropped */
		ASSERT_EQ(rd(&f, TDCR), d[i].dcr);
		wr(&f, TMICT, 1000000);
		t0 = dev_now(&f.clk);
		ASSERT_EQ(rd(&f, TMCCT), 1000000);
		/* 1 GHz bus: one count per div ns. */
		dev_run_to(&f.clk, t0 + 1000 * d[i].div - 1);
		ASSERT_EQ(rd(&f, TMCCT), 1000000 - 999);
		dev_run_to(&f.clk, t0 + 1000 * d[i].div);
		ASSERT_EQ(rd(&f, TMCCT), 1000000 - 1000);
	}
	fx_fini(&f);
}

TEST(one_shot_fires_once_at_the_count_and_reads_zero)
{
	struct fx f;
	vmt_ns t0;

	fx_init(&f, VMT_TICKS_COALESCE);
	wr(&f, LVT, 0xec);
	wr(&f, TDCR, 0xb);	/* divide by 1 */
	wr(&f, TMICT, 5000);
	t0 = dev_now(&f.clk);
	dev_run_to(&f.clk, t0 + 4999);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 0);
	ASSERT_EQ(rd(&f, TMCCT), 1);
	dev_run_to(&f.clk, t0 + 5000);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 1);
	ASSERT_EQ(f.last_vector, 0xec);
	ASSERT_UEQ(f.irq.last_at, t0 + 5000);
	ASSERT_EQ(rd(&f, TMCCT), 0);
	ASSERT_EQ(rd(&f, TMICT), 5000);
	dev_run_to(&f.clk, t0 + SEC);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 1);
	/* A new initial count restarts it. */
	wr(&f, TMICT, 10);
	dev_run_to(&f.clk, dev_now(&f.clk) + 10);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 2);
	fx_fini(&f);
}

TEST(periodic_reloads_on_the_grid)
{
	struct fx f;
	vmt_ns t0;

	fx_init(&f, VMT_TICKS_COALESCE);
	wr(&f, LVT, PERIODIC | 0x40);
	wr(&f, TDCR, 0x3);	/* divide by 16 */
	wr(&f, TMICT, 62500);	/* 1 ms */
	t0 = dev_now(&f.clk);
	dev_run_to(&f.clk, t0 + 1000 * VMT_NS_PER_MS);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 1000);
	ASSERT_UEQ(f.irq.last_at, t0 + 1000 * VMT_NS_PER_MS);
	ASSERT_EQ(rd(&f, TMCCT), 62500);
	dev_run_to(&f.clk, dev_now(&f.clk) + 16 * 100);
	ASSERT_EQ(rd(&f, TMCCT), 62400);
	check_books(&f);
	/* Initial count 0 stops it. */
	wr(&f, TMICT, 0);
	ASSERT_EQ(rd(&f, TMCCT), 0);
	dev_run_to(&f.clk, dev_now(&f.clk) + SEC);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 1000);
	fx_fini(&f);
}

TEST(divide_change_keeps_the_count)
{
	struct fx f;
	vmt_ns t0;

	fx_init(&f, VMT_TICKS_COALESCE);
	wr(&f, LVT, 0x40);
	wr(&f, TDCR, 0xb);
	wr(&f, TMICT, 1000);
	t0 = dev_now(&f.clk);
	dev_run_to(&f.clk, t0 + 400);
	ASSERT_EQ(rd(&f, TMCCT), 600);
	wr(&f, TDCR, 0x0);	/* divide by 2 from now */
	dev_run_to(&f.clk, t0 + 400 + 200);
	ASSERT_EQ(rd(&f, TMCCT), 500);
	dev_run_to(&f.clk, t0 + 400 + 1200 - 1);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 0);
	dev_run_to(&f.clk, t0 + 400 + 1200);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 1);
	fx_fini(&f);
}

TEST(mask_counts_but_raises_nothing)
{
	struct fx f;
	struct vmt_dev_stats st;

	fx_init(&f, VMT_TICKS_REINJECT);
	wr(&f, LVT, PERIODIC | VMT_LAPIC_LVT_MASKED | 0x50);
	wr(&f, TDCR, 0xb);
	wr(&f, TMICT, 100000);	/* 100 us */
	dev_run_to(&f.clk, dev_now(&f.clk) + 10 * VMT_NS_PER_MS);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 0);
	ASSERT_OK(vmt_lapic_get_stats(f.l, &st));
	ASSERT_UEQ(st.ticks, 100);
	ASSERT_UEQ(st.lost, 100);
	ASSERT_UEQ(st.backlog, 0);
	wr(&f, LVT, PERIODIC | 0x50);
	dev_run_to(&f.clk, dev_now(&f.clk) + VMT_NS_PER_MS);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 10);
	check_books(&f);
	fx_fini(&f);
}

TEST(mode_switches)
{
	struct fx f;
	uint64_t v;
	vmt_ns t0;

	fx_init(&f, VMT_TICKS_COALESCE);
	/* Periodic -> one-shot: the period under way finishes, then it stops. */
	wr(&f, LVT, PERIODIC | 0x40);
	wr(&f, TDCR, 0xb);
	wr(&f, TMICT, 100000);	/* 100 us, above the 10 us minimum */
	t0 = dev_now(&f.clk);
	dev_run_to(&f.clk, t0 + 250000);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 2);
	wr(&f, LVT, 0x40);
	ASSERT_EQ(rd(&f, TMCCT), 50000);
	dev_run_to(&f.clk, t0 + 300000);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 3);
	ASSERT_EQ(rd(&f, TMCCT), 0);
	dev_run_to(&f.clk, t0 + 1000000);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 3);
	/* Into TSC-deadline: counts cleared, TMICT writes ignored. */
	wr(&f, TMICT, 1000);
	wr(&f, LVT, DEADLINE | 0x41);
	ASSERT_EQ(rd(&f, TMICT), 0);
	ASSERT_EQ(rd(&f, TMCCT), 0);
	wr(&f, TMICT, 77);
	ASSERT_EQ(rd(&f, TMICT), 0);
	dev_run_to(&f.clk, dev_now(&f.clk) + 10000);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 3);
	/* Out of TSC-deadline: the deadline is cleared. */
	ASSERT_OK(vmt_lapic_write_msr(f.l, VMT_LAPIC_MSR_TSC_DEADLINE, UINT64_MAX / 4));
	ASSERT_OK(vmt_lapic_read_msr(f.l, VMT_LAPIC_MSR_TSC_DEADLINE, &v));
	ASSERT_UEQ(v, UINT64_MAX / 4);
	wr(&f, LVT, 0x41);
	ASSERT_OK(vmt_lapic_read_msr(f.l, VMT_LAPIC_MSR_TSC_DEADLINE, &v));
	ASSERT_EQ(v, 0);
	/* Writes to the MSR outside TSC-deadline mode are ignored. */
	ASSERT_OK(vmt_lapic_write_msr(f.l, VMT_LAPIC_MSR_TSC_DEADLINE, 5));
	wr(&f, LVT, DEADLINE | 0x41);
	ASSERT_OK(vmt_lapic_read_msr(f.l, VMT_LAPIC_MSR_TSC_DEADLINE, &v));
	ASSERT_EQ(v, 0);
	/* The reserved mode 11 acts as one-shot. */
	wr(&f, LVT, (3u << VMT_LAPIC_LVT_MODE_SHIFT) | 0x42);
	wr(&f, TMICT, 10);
	dev_run_to(&f.clk, dev_now(&f.clk) + 100);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 4);
	fx_fini(&f);
}

TEST(tsc_deadline_fires_at_the_vm_time_of_the_tsc)
{
	struct fx f;
	uint64_t tsc, v;

	fx_init(&f, VMT_TICKS_COALESCE);
	vmt_lapic_free(f.l);
	fx_dev(&f, VMT_TICKS_COALESCE, 0, 2500000000u, 0);	/* 2.5 GHz TSC */
	ASSERT_OK(vmt_lapic_guest_tsc(f.l, &tsc));
	ASSERT_UEQ(tsc, 1000 + 5 * 2500000000ull);	/* offset + 5 s */
	wr(&f, LVT, DEADLINE | 0x60);
	ASSERT_OK(vmt_lapic_write_msr(f.l, VMT_LAPIC_MSR_TSC_DEADLINE, tsc + 2500));	/* 1 us */
	dev_run_to(&f.clk, dev_now(&f.clk) + 999);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 0);
	dev_run_to(&f.clk, dev_now(&f.clk) + 1);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 1);
	ASSERT_EQ(f.last_vector, 0x60);
	ASSERT_OK(vmt_lapic_read_msr(f.l, VMT_LAPIC_MSR_TSC_DEADLINE, &v));
	ASSERT_EQ(v, 0);	/* cleared when it fired */
	/* A deadline in the past fires at once, on the writing thread. */
	ASSERT_OK(vmt_lapic_write_msr(f.l, VMT_LAPIC_MSR_TSC_DEADLINE, 1));
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 2);
	/* 0 disarms. */
	ASSERT_OK(vmt_lapic_guest_tsc(f.l, &tsc));
	ASSERT_OK(vmt_lapic_write_msr(f.l, VMT_LAPIC_MSR_TSC_DEADLINE, tsc + 100));
	ASSERT_OK(vmt_lapic_write_msr(f.l, VMT_LAPIC_MSR_TSC_DEADLINE, 0));
	dev_run_to(&f.clk, dev_now(&f.clk) + SEC);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 2);
	/* The guest writes its TSC: the offset follows, the rate does not. */
	ASSERT_OK(vmt_lapic_set_guest_tsc(f.l, 42));
	ASSERT_OK(vmt_lapic_guest_tsc(f.l, &tsc));
	ASSERT_UEQ(tsc, 42);
	dev_run_to(&f.clk, dev_now(&f.clk) + 2);
	ASSERT_OK(vmt_lapic_guest_tsc(f.l, &tsc));
	ASSERT_UEQ(tsc, 47);
	ASSERT_ERR(vmt_lapic_read_msr(f.l, 0x10, &v), -ENOENT);
	ASSERT_ERR(vmt_lapic_write_msr(f.l, 0x6e1, 0), -ENOENT);
	ASSERT_ERR(vmt_lapic_read_msr(f.l, VMT_LAPIC_MSR_TSC_DEADLINE, NULL), -EINVAL);
	ASSERT_ERR(vmt_lapic_write_msr(NULL, VMT_LAPIC_MSR_TSC_DEADLINE, 0), -EINVAL);
	fx_fini(&f);
}

TEST(pause_freezes_the_count)
{
	struct fx f;
	uint32_t c;

	fx_init(&f, VMT_TICKS_COALESCE);
	wr(&f, LVT, PERIODIC | 0x40);
	wr(&f, TMICT, 1000000);
	dev_run_to(&f.clk, dev_now(&f.clk) + 300000);
	ASSERT_OK(vmt_keeper_stop(f.clk.k));
	c = rd(&f, TMCCT);
	ASSERT_EQ(c, 1000000 - 150000);
	ASSERT_OK(vmt_loop_dispatch(f.clk.loop));
	ASSERT_EQ(rd(&f, TMCCT), c);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 0);
	ASSERT_OK(vmt_keeper_start(f.clk.k));
	dev_run_to(&f.clk, dev_now(&f.clk) + 2 * 850000);
	ASSERT_EQ(atomic_load(&f.irq.raises[0]), 1);
	fx_fini(&f);
}


TEST(save_restore_mid_period_resumes_exactly)
{
	struct fx f, g;
	vmt_snap_writer *sw;
	vmt_snap_reader *sr;
	vmt_fields_writer *w;
	vmt_fields_reader r;
	uint64_t tf, tg;
	vmt_ns t0, ts;

	fx_init(&f, VMT_TICKS_COALESCE);
	wr(&f, LVT, PERIODIC | 0x33);
	wr(&f, TDCR, 0x1);	/* divide by 4 */
	wr(&f, TMICT, 250);	/* 1 us */
	t0 = dev_now(&f.clk);
	dev_run_to(&f.clk, t0 + 10400);
	ASSERT_OK(vmt_keeper_stop(f.clk.k));
	ts = dev_now(&f.clk);
	ASSERT_OK(vmt_snap_writer_new(&sw));
	ASSERT_OK(vmt_snap_writer_section(sw, "lapic", 1, &w));
	ASSERT_OK(vmt_lapic_save(f.l, w, 3));
	dev_reopen(sw, "lapic", &sr, &r);

	fx_clock(&g, ts);
	fx_dev(&g, VMT_TICKS_COALESCE, 0, 0, 0);
	ASSERT_OK(vmt_lapic_restore(g.l, &r, 3));
	ASSERT_OK(vmt_keeper_start(g.clk.k));
	ASSERT_EQ(rd(&g, LVT), PERIODIC | 0x33);
	ASSERT_EQ(rd(&g, TDCR), 0x1);
	ASSERT_EQ(rd(&g, TMCCT), 250 - 100);
	ASSERT_OK(vmt_lapic_guest_tsc(f.l, &tf));
	ASSERT_OK(vmt_lapic_guest_tsc(g.l, &tg));
	ASSERT_UEQ(tg, tf);
	dev_run_to(&g.clk, t0 + 11000 - 1);
	ASSERT_EQ(atomic_load(&g.irq.raises[0]), 0);
	dev_run_to(&g.clk, t0 + 11000);
	ASSERT_EQ(atomic_load(&g.irq.raises[0]), 1);
	ASSERT_ERR(vmt_lapic_restore(g.l, &r, 4), -ENOENT);
	ASSERT_ERR(vmt_lapic_restore(NULL, &r, 3), -EINVAL);
	ASSERT_ERR(vmt_lapic_save(g.l, NULL, 3), -EINVAL);
	vmt_snap_reader_free(sr);
	vmt_snap_writer_free(sw);
	fx_fini(&g);
	fx_fini(&f);
}

TEST(restore_refuses_impossible_values)
{
	struct fx f;

	fx_init(&f, VMT_TICKS_COALESCE);
	for (uint32_t bad = 1; bad <= 5; bad++) {
		vmt_snap_writer *sw;
		vmt_snap_reader *sr;
		vmt_fields_writer *w;
		vmt_fields_reader r;

		ASSERT_OK(vmt_snap_writer_new(&sw));
		ASSERT_OK(vmt_snap_writer_section(sw, "lapic", 1, &w));
		ASSERT_OK(vmt_fields_begin_group(w, 1));
		for (uint32_t id = 1; id <= 11; id++) {
			uint64_t v = id == 1 ? 1 : 0;

			/* bad: version 2, LVT bit 12, count over 32 bits, DCR bit 2, armed 2 */
			if (id == bad)
				v = (uint64_t[]){ 0, 2, 1u << 12, 1ull << 32, 4, 2 }[bad];
			ASSERT_OK(vmt_fields_put_u64(w, id, v));
		}
		ASSERT_OK(vmt_fields_end_group(w));
		dev_reopen(sw, "lapic", &sr, &r);
		ASSERT_ERR(vmt_lapic_restore(f.l, &r, 1), -EBADMSG);
		vmt_snap_reader_free(sr);
		vmt_snap_writer_free(sw);
	}
	ASSERT_EQ(rd(&f, LVT), VMT_LAPIC_LVT_MASKED);	/* unchanged */
	fx_fini(&f);
}

TEST(periodic_is_clamped_to_the_minimum_period)
{
	struct fx f;
	struct vmt_dev_stats st;

	fx_init(&f, VMT_TICKS_COALESCE);
	wr(&f, LVT, PERIODIC | 0x40);
	wr(&f, TDCR, 0xb);
	wr(&f, TMICT, 1);	/* a 1 ns period */
	dev_run_to(&f.clk, dev_now(&f.clk) + VMT_NS_PER_MS);
	/* At most one raise per 10 us. */
	ASSERT_LE(atomic_load(&f.irq.raises[0]), 101);
	ASSERT_GE(atomic_load(&f.irq.raises[0]), 99);
	ASSERT_OK(vmt_lapic_get_stats(f.l, &st));
	ASSERT_UEQ(st.ticks, 1000000);	/* counted at the programmed rate */
	check_books(&f);
	fx_fini(&f);
}

TEST(reinject_retries_coalesced_and_missed_ticks)
{
	struct fx f;
	struct vmt_dev_stats st;

	fx_init(&f, VMT_TICKS_REINJECT);
	wr(&f, LVT, PERIODIC | 0x40);
	wr(&f, TDCR, 0xb);
	wr(&f, TMICT, 1000000);	/* 1 ms */
	f.irq.accept = 0;	/* the guest has interrupts off */
	dev_run_to(&f.clk, dev_now(&f.clk) + 10 * VMT_NS_PER_MS);
	ASSERT_OK(vmt_lapic_get_stats(f.l, &st));
	ASSERT_UEQ(st.ticks, 10);
	ASSERT_UEQ(st.lost, 0);
	ASSERT_UGE(st.backlog, 10);	/* each retry was coalesced too */
	check_books(&f);
	f.irq.accept = 1;
	dev_run_to(&f.clk, dev_now(&f.clk) + 10 * VMT_NS_PER_MS);
	ASSERT_OK(vmt_lapic_get_stats(f.l, &st));
	ASSERT_UEQ(st.ticks, 20);
	ASSERT_UEQ(st.raised, 20);	/* every tick delivered in the end */
	ASSERT_UEQ(st.backlog, 0);
	check_books(&f);
	ASSERT_OK(vmt_lapic_reset(f.l));
	ASSERT_EQ(rd(&f, LVT), VMT_LAPIC_LVT_MASKED);
	fx_fini(&f);

	/* COALESCE loses what the controller coalesced. */
	fx_init(&f, VMT_TICKS_COALESCE);
	wr(&f, LVT, PERIODIC | 0x40);
	wr(&f, TDCR, 0xb);
	wr(&f, TMICT, 1000000);
	f.irq.accept = 0;
	dev_run_to(&f.clk, dev_now(&f.clk) + 10 * VMT_NS_PER_MS);
	ASSERT_OK(vmt_lapic_get_stats(f.l, &st));
	ASSERT_UEQ(st.lost, 10);
	ASSERT_UEQ(st.coalesced, 10);
	check_books(&f);
	fx_fini(&f);
}

TEST(bad_offsets_sizes_and_arguments)
{
	struct fx f;
	struct vmt_lapic_config c;
	vmt_lapic *l;
	uint64_t v;

	fx_init(&f, VMT_TICKS_COALESCE);
	ASSERT_ERR(vmt_lapic_read(f.l, LVT, 8, &v), -EINVAL);
	ASSERT_ERR(vmt_lapic_read(f.l, LVT, 1, &v), -EINVAL);
	ASSERT_ERR(vmt_lapic_write(f.l, TMICT, 2, 0), -EINVAL);
	ASSERT_ERR(vmt_lapic_read(f.l, 0x324, 4, &v), -ENOENT);
	ASSERT_ERR(vmt_lapic_read(f.l, 0x20, 4, &v), -ENOENT);
	ASSERT_ERR(vmt_lapic_write(f.l, UINT64_MAX, 4, 0), -ENOENT);
	ASSERT_ERR(vmt_lapic_read(f.l, LVT, 4, NULL), -EINVAL);
	ASSERT_ERR(vmt_lapic_read(NULL, LVT, 4, &v), -EINVAL);
	ASSERT_ERR(vmt_lapic_write(NULL, LVT, 4, 0), -EINVAL);
	ASSERT_ERR(vmt_lapic_vector(NULL), -EINVAL);
	ASSERT_ERR(vmt_lapic_guest_tsc(f.l, NULL), -EINVAL);
	ASSERT_ERR(vmt_lapic_set_guest_tsc(NULL, 0), -EINVAL);
	ASSERT_ERR(vmt_lapic_reset(NULL), -EINVAL);
	ASSERT_ERR(vmt_lapic_get_stats(f.l, NULL), -EINVAL);
	ASSERT_ERR(vmt_lapic_inspect(f.l, NULL), -EINVAL);
	ASSERT_ERR(vmt_lapic_config_init(NULL), -EINVAL);
	ASSERT_TRUE(vmt_lapic_free(NULL) == NULL);
	/* The current count is read-only. */
	wr(&f, TMCCT, 123);
	ASSERT_EQ(rd(&f, TMCCT), 0);

	ASSERT_OK(vmt_lapic_config_init(&c));
	ASSERT_ERR(vmt_lapic_new(NULL, &c, &l), -EINVAL);
	ASSERT_ERR(vmt_lapic_new(f.clk.loop, NULL, &l), -EINVAL);
	ASSERT_ERR(vmt_lapic_new(f.clk.loop, &c, NULL), -EINVAL);
	c.bus_hz = 20 * SEC;
	ASSERT_ERR(vmt_lapic_new(f.clk.loop, &c, &l), -EINVAL);
	c.bus_hz = 0;
	c.tsc_hz = 200 * SEC;
	ASSERT_ERR(vmt_lapic_new(f.clk.loop, &c, &l), -EINVAL);
	c.tsc_hz = 0;
	c.dev.ticks = (enum vmt_tick_policy)7;
	ASSERT_ERR(vmt_lapic_new(f.clk.loop, &c, &l), -EINVAL);
	c.dev.ticks = VMT_TICKS_COALESCE;
	c.dev.name = "bad\\name";
	ASSERT_ERR(vmt_lapic_new(f.clk.loop, &c, &l), -EINVAL);
	fx_fini(&f);
}

TEST(hostile_streams)
{
	struct fx f;
	unsigned seed = 99;
	static const unsigned offs[] = { LVT, TMICT, TMCCT, TDCR };

	fx_init(&f, VMT_TICKS_REINJECT);
	for (int round = 0; round < 300; round++) {
		for (int i = 0; i < 20; i++) {
			unsigned x = (unsigned)rand_r(&seed), y = (unsigned)rand_r(&seed);
			uint64_t v;

			if (x & 1)
				ASSERT_OK(vmt_lapic_write(f.l, offs[(x >> 1) & 3], 4,
							  (uint64_t)y << 8 | (x & 0xff)));
			else
				ASSERT_OK(vmt_lapic_read(f.l, offs[(x >> 1) & 3], 4, &v));
			if ((x & 0x70) == 0)
				ASSERT_OK(vmt_lapic_write_msr(f.l, VMT_LAPIC_MSR_TSC_DEADLINE,
							      (uint64_t)y * x));
		}
		dev_run_to(&f.clk, dev_now(&f.clk) + (vmt_ns)(rand_r(&seed) % 200000));
		check_books(&f);
	}
	/* Initial count 1, divide 1, periodic, for 10 ms: bounded raises. */
	atomic_store(&f.irq.raises[0], 0);
	wr(&f, LVT, PERIODIC | 0x40);
	wr(&f, TDCR, 0xb);
	wr(&f, TMICT, 1);
	dev_run_to(&f.clk, dev_now(&f.clk) + 10 * VMT_NS_PER_MS);
	ASSERT_LE(atomic_load(&f.irq.raises[0]), 1002);
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

	fx_init(&f, VMT_TICKS_COALESCE);
	wr(&f, LVT, PERIODIC | 0x40);
	wr(&f, TMICT, 1000);
	out = open_memstream(&buf, &len);
	ASSERT_TRUE(out != NULL);
	ASSERT_OK(vmt_lapic_inspect(f.l, out));
	fclose(out);
	ASSERT_TRUE(strstr(buf, "\"mode\":\"periodic\"") != NULL);
	ASSERT_TRUE(strstr(buf, "\"vector\":64") != NULL);
	ASSERT_TRUE(strstr(buf, "\"divide\":2") != NULL);
	free(buf);

	ASSERT_OK(vmt_units_new(&units));
	ASSERT_ERR(vmt_lapic_add_unit(f.l, units, &u), -ENOENT);
	ASSERT_ERR(vmt_lapic_add_unit(NULL, units, &u), -EINVAL);
	ASSERT_OK(vmt_keeper_add_unit(f.clk.k, units, NULL));
	ASSERT_OK(vmt_lapic_add_unit(f.l, units, &u));
	ASSERT_STREQ(vmt_unit_name(u), "lapic-timer");
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
		ASSERT_EQ(rd(&f, LVT), VMT_LAPIC_LVT_MASKED);
		ASSERT_OK(vmt_snap_reader_from_buffer(p, n, &sr, NULL));
		ASSERT_OK(vmt_units_restore(units, sr, NULL));
		ASSERT_EQ(rd(&f, LVT), PERIODIC | 0x40);
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
	static const unsigned offs[] = { LVT, TMICT, TMCCT, TDCR };
	struct racer *r = arg;
	uint64_t v;

	while (!atomic_load(r->stop)) {
		unsigned x = (unsigned)rand_r(&r->seed);

		if (x & 1)
			vmt_lapic_write(r->f->l, offs[(x >> 1) & 3], 4,
					(x & 0x10) ? (PERIODIC | 0x40) : (x >> 12) & 0xfff);
		else
			vmt_lapic_read(r->f->l, offs[(x >> 1) & 3], 4, &v);
		if ((x & 0xe0) == 0) {
			vmt_lapic_write_msr(r->f->l, VMT_LAPIC_MSR_TSC_DEADLINE, x);
			vmt_lapic_guest_tsc(r->f->l, &v);
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

	fx_init(&f, VMT_TICKS_REINJECT);
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

TEST(reinject_without_an_irq_callback_drops_instead_of_retrying)
{
	struct fx f;
	struct vmt_lapic_config c;
	struct vmt_dev_stats st;
	int callbacks;

	fx_init(&f, VMT_TICKS_REINJECT);
	vmt_lapic_free(f.l);
	ASSERT_OK(vmt_lapic_config_init(&c));
	c.dev.ticks = VMT_TICKS_REINJECT;	/* no irq: interrupts are dropped */
	ASSERT_OK(vmt_lapic_new(f.clk.loop, &c, &f.l));
	wr(&f, LVT, PERIODIC | 0x40);
	wr(&f, TDCR, 0xb);
	wr(&f, TMICT, 1000000);	/* 1 ms */
	callbacks = vmt_loop_run_until(f.clk.loop, dev_now(&f.clk) + 10 * VMT_NS_PER_MS);
	ASSERT_OK(vmt_lapic_get_stats(f.l, &st));
	ASSERT_UEQ(st.ticks, 10);
	ASSERT_UEQ(st.lost, 10);
	ASSERT_UEQ(st.backlog, 0);
	ASSERT_LE(callbacks, 10);	/* one wakeup per period, no retries */
	fx_fini(&f);
}
