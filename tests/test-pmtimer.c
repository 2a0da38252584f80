/* SPDX-License-Identifier: MIT */
/*
 * test-pmtimer.c - the ACPI PM timer (vmtime/pmtimer.h) on a manual VM
 * clock: exact counter values, the 24- and 32-bit MSB toggles setting
 * TMR_STS, the SCI level with TMR_EN, write-1-to-clear, pause,
 * save/restore onto a clock at another time, bad offsets and sizes.
 */
#include <vmtime/keeper.h>
#include <vmtime/loop.h>
#include <vmtime/pmtimer.h>
#include <vmtime/snapshot.h>
#include <vmtime/units.h>

#include "dev-tests.h"
#include "tests.h"

struct fx {
	struct dev_clock clk;
	vmt_pmtimer *pm;
	struct dev_irq_log irq;	/* the SCI: a level line */
};

static void fx_init_at(struct fx *f, int ext32, vmt_ns t0)
{
	struct vmt_pmtimer_config pc;

	memset(f, 0, sizeof(*f));
	dev_clock_init(&f->clk, t0);
	dev_irq_init(&f->irq, f->clk.src, 1);
	f->irq.changes_only = true;
	ASSERT_OK(vmt_pmtimer_config_init(&pc));
	pc.dev.irq = dev_irq_record;
	pc.dev.irq_opaque = &f->irq;
	pc.ext32 = ext32;
	ASSERT_OK(vmt_pmtimer_new(f->clk.loop, &pc, &f->pm));
	ASSERT_OK(vmt_keeper_start(f->clk.k));
}

static void fx_fini(struct fx *f)
{
	vmt_pmtimer_free(f->pm);
	dev_clock_fini(&f->clk);
}

static uint64_t rd(struct fx *f, uint64_t off, unsigned size)
{
	uint64_t v;

	ASSERT_OK(vmt_pmtimer_read(f->pm, off, size, &v));
	return v;
}

static void wr(struct fx *f, uint64_t off, unsigned size, uint64_t v)
{
	ASSERT_OK(vmt_pmtimer_write(f->pm, off, size, v));
}

/* The first VM ns at which the counter has counted @c. */
static vmt_ns tcount(uint64_t c)
{
	return (vmt_ns)(((unsigned __int128)c * VMT_NS_PER_SEC + VMT_PMTIMER_FREQ_HZ - 1) /
			VMT_PMTIMER_FREQ_HZ);
}

static uint64_t counts(vmt_ns t)
{
	return (uint64_t)((unsigned __int128)t * VMT_PMTIMER_FREQ_HZ / VMT_NS_PER_SEC);
}

TEST(counter_is_vm_time_at_3579545_hz)
{
	struct fx f;

	fx_init_at(&f, 0, 0);
	ASSERT_EQ(rd(&f, VMT_PMTIMER_PM_TMR, 4), 0);
	ASSERT_OK(vmt_loop_run_until(f.clk.loop, tcount(1) - 1));
	ASSERT_EQ(rd(&f, VMT_PMTIMER_PM_TMR, 4), 0);
	ASSERT_OK(vmt_loop_run_until(f.clk.loop, tcount(1)));
	ASSERT_EQ(rd(&f, VMT_PMTIMER_PM_TMR, 4), 1);
	ASSERT_OK(vmt_loop_run_until(f.clk.loop, VMT_NS_PER_SEC));
	ASSERT_EQ(rd(&f, VMT_PMTIMER_PM_TMR, 4), 3579545);
	/* 24 bits wrap after 2^24 counts (4.687 s). */
	ASSERT_OK(vmt_loop_run_until(f.clk.loop, 5 * VMT_NS_PER_SEC));
	ASSERT_EQ(rd(&f, VMT_PMTIMER_PM_TMR, 4), (5ull * 3579545) & 0xffffff);
	fx_fini(&f);
}

TEST(msb_toggle_sets_tmr_sts_and_the_sci_follows_tmr_en)
{
	struct fx f;
	struct vmt_dev_stats st;

	fx_init_at(&f, 0, 0);
	wr(&f, VMT_PMTIMER_PM1_EN, 2, VMT_PMTIMER_TMR_EN);
	ASSERT_OK(vmt_loop_run_until(f.clk.loop, tcount(1u << 23) - 1));
	ASSERT_EQ(rd(&f, VMT_PMTIMER_PM1_STS, 2), 0);
	ASSERT_EQ(f.irq.level[0], 0);
	ASSERT_OK(vmt_loop_run_until(f.clk.loop, tcount(1u << 23)));
	ASSERT_EQ(f.irq.level[0], 1);
	ASSERT_EQ(rd(&f, VMT_PMTIMER_PM1_STS, 2), VMT_PMTIMER_TMR_STS);
	/* Writing 0 changes nothing; writing 1 clears and drops the SCI. */
	wr(&f, VMT_PMTIMER_PM1_STS, 2, 0);
	ASSERT_EQ(rd(&f, VMT_PMTIMER_PM1_STS, 2), VMT_PMTIMER_TMR_STS);
	wr(&f, VMT_PMTIMER_PM1_STS, 2, VMT_PMTIMER_TMR_STS);
	ASSERT_EQ(rd(&f, VMT_PMTIMER_PM1_STS, 2), 0);
	ASSERT_EQ(f.irq.level[0], 0);
	/* The next toggle (bit 23 falling at 2^24) with TMR_EN clear: flag, no SCI. */
	wr(&f, VMT_PMTIMER_PM1_EN, 1, 0);
	ASSERT_OK(vmt_loop_run_until(f.clk.loop, tcount(1u << 24)));
	ASSERT_EQ(rd(&f, VMT_PMTIMER_PM1_STS, 1), 1);
	ASSERT_EQ(f.irq.level[0], 0);
	wr(&f, VMT_PMTIMER_PM1_EN, 1, 1);	/* enabling with the flag set raises it */
	ASSERT_EQ(f.irq.level[0], 1);
	/* A toggle while the flag is still set is merged. */
	ASSERT_OK(vmt_loop_run_until(f.clk.loop, tcount(3u << 23)));
	ASSERT_OK(vmt_pmtimer_get_stats(f.pm, &st));
	ASSERT_UEQ(st.ticks, 3);
	ASSERT_UEQ(st.raised, 2);
	ASSERT_UEQ(st.lost, 1);
	ASSERT_UEQ(st.due, 0);
	ASSERT_EQ(f.irq.calls, 3);
	fx_fini(&f);
}

TEST(a_late_loop_still_shows_the_flag_to_a_polling_guest)
{
	struct fx f;
	struct vmt_dev_stats st;

	fx_init_at(&f, 0, 0);
	ASSERT_OK(vmt_keeper_advance(f.clk.k, tcount(1u << 23)));	/* no dispatch */
	ASSERT_OK(vmt_pmtimer_get_stats(f.pm, &st));
	ASSERT_UEQ(st.due, 1);
	ASSERT_EQ(rd(&f, VMT_PMTIMER_PM1_STS, 2), VMT_PMTIMER_TMR_STS);
	fx_fini(&f);
}

TEST(ext32_counts_32_bits_and_toggles_bit_31)
{
	struct fx f;
	vmt_ns t = tcount(1ull << 31);

	fx_init_at(&f, 1, t - 1000);
	ASSERT_EQ(rd(&f, VMT_PMTIMER_PM_TMR, 4), counts(t - 1000));
	ASSERT_EQ(rd(&f, VMT_PMTIMER_PM1_STS, 2), 0);
	ASSERT_OK(vmt_loop_run_until(f.clk.loop, t));
	ASSERT_EQ(rd(&f, VMT_PMTIMER_PM_TMR, 4), 1ull << 31);
	ASSERT_EQ(rd(&f, VMT_PMTIMER_PM1_STS, 2), VMT_PMTIMER_TMR_STS);
	ASSERT_OK(vmt_loop_run_until(f.clk.loop, tcount(1ull << 32) + 5));
	ASSERT_EQ(rd(&f, VMT_PMTIMER_PM_TMR, 4), counts(tcount(1ull << 32) + 5) & 0xffffffff);
	fx_fini(&f);
}

TEST(byte_access_and_stored_registers)
{
	struct fx f;

	fx_init_at(&f, 0, 0);
	wr(&f, VMT_PMTIMER_PM1_EN, 2, 0x0121);
	ASSERT_EQ(rd(&f, VMT_PMTIMER_PM1_EN, 2), 0x0121);
	ASSERT_EQ(rd(&f, VMT_PMTIMER_PM1_EN + 1, 1), 0x01);
	wr(&f, VMT_PMTIMER_PM1_EN + 1, 1, 0x05);
	ASSERT_EQ(rd(&f, VMT_PMTIMER_PM1_EN, 2), 0x0521);
	wr(&f, VMT_PMTIMER_PM1_CNT, 2, VMT_PMTIMER_SCI_EN);
	ASSERT_EQ(rd(&f, VMT_PMTIMER_PM1_CNT, 1), 1);
	/* PM_TMR ignores writes. */
	wr(&f, VMT_PMTIMER_PM_TMR, 4, 0x123456);
	ASSERT_EQ(rd(&f, VMT_PMTIMER_PM_TMR, 4), 0);
	ASSERT_OK(vmt_pmtimer_reset(f.pm));
	ASSERT_EQ(rd(&f, VMT_PMTIMER_PM1_EN, 2), 0);
	ASSERT_EQ(rd(&f, VMT_PMTIMER_PM1_CNT, 2), 0);
	fx_fini(&f);
}

TEST(pause_freezes_the_counter)
{
	struct fx f;
	uint64_t v;

	fx_init_at(&f, 0, 0);
	ASSERT_OK(vmt_loop_run_until(f.clk.loop, 1234567));
	v = rd(&f, VMT_PMTIMER_PM_TMR, 4);
	ASSERT_OK(vmt_keeper_stop(f.clk.k));
	ASSERT_OK(vmt_loop_dispatch(f.clk.loop));
	ASSERT_EQ(rd(&f, VMT_PMTIMER_PM_TMR, 4), v);
	ASSERT_EQ(v, counts(1234567));
	fx_fini(&f);
}

TEST(save_restore_resumes_the_count_on_a_clock_at_another_time)
{
	struct fx a, b;
	vmt_fields_writer *w;
	vmt_snap_writer *sw;
	vmt_snap_reader *sr;
	vmt_fields_reader fr;
	uint64_t v;

	fx_init_at(&a, 0, 0);
	wr(&a, VMT_PMTIMER_PM1_EN, 2, 1);
	ASSERT_OK(vmt_loop_run_until(a.clk.loop, tcount((1u << 23) + 77)));
	ASSERT_OK(vmt_keeper_stop(a.clk.k));
	v = rd(&a, VMT_PMTIMER_PM_TMR, 4);
	ASSERT_OK(vmt_fields_writer_new(&w));
	ASSERT_OK(vmt_pmtimer_save(a.pm, w, 3));
	ASSERT_OK(vmt_snap_writer_new(&sw));
	ASSERT_OK(vmt_snap_writer_add(sw, "pmtimer", 1, w));
	dev_reopen(sw, "pmtimer", &sr, &fr);

	fx_init_at(&b, 0, 7 * VMT_NS_PER_SEC + 333);
	ASSERT_OK(vmt_keeper_stop(b.clk.k));
	ASSERT_OK(vmt_pmtimer_restore(b.pm, &fr, 3));
	ASSERT_EQ(rd(&b, VMT_PMTIMER_PM_TMR, 4), v);
	ASSERT_EQ(rd(&b, VMT_PMTIMER_PM1_STS, 2), 1);
	ASSERT_EQ(b.irq.level[0], 1);
	ASSERT_OK(vmt_keeper_start(b.clk.k));
	ASSERT_OK(vmt_loop_run_until(b.clk.loop, vmt_now(b.clk.src, VMT_CLOCK_VM) + VMT_NS_PER_SEC));
	ASSERT_TRUE(rd(&b, VMT_PMTIMER_PM_TMR, 4) - v >= 3579545 - 1 &&
		    rd(&b, VMT_PMTIMER_PM_TMR, 4) - v <= 3579545 + 1);
	/* Another width, another group: refused. */
	ASSERT_ERR(vmt_pmtimer_restore(b.pm, &fr, 4), -ENOENT);
	{
		struct fx c;

		fx_init_at(&c, 1, 0);
		ASSERT_ERR(vmt_pmtimer_restore(c.pm, &fr, 3), -EINVAL);
		fx_fini(&c);
	}
	vmt_snap_reader_free(sr);
	vmt_snap_writer_free(sw);
	vmt_fields_writer_free(w);
	fx_fini(&a);
	fx_fini(&b);
}

TEST(bad_offsets_sizes_and_arguments)
{
	struct fx f;
	struct vmt_pmtimer_config pc;
	struct vmt_dev_stats st;
	vmt_pmtimer *p;
	vmt_units *u;
	uint64_t v = 9;

	fx_init_at(&f, 0, 0);
	ASSERT_ERR(vmt_pmtimer_read(f.pm, VMT_PMTIMER_PM_TMR, 2, &v), -EINVAL);
	ASSERT_ERR(vmt_pmtimer_read(f.pm, VMT_PMTIMER_PM_TMR, 1, &v), -EINVAL);
	ASSERT_ERR(vmt_pmtimer_read(f.pm, 6, 2, &v), -EINVAL);
	ASSERT_ERR(vmt_pmtimer_read(f.pm, 1, 2, &v), -EINVAL);
	ASSERT_ERR(vmt_pmtimer_read(f.pm, 0, 4, &v), -EINVAL);
	ASSERT_ERR(vmt_pmtimer_read(f.pm, 12, 4, &v), -EINVAL);
	ASSERT_ERR(vmt_pmtimer_read(f.pm, UINT64_MAX, 1, &v), -EINVAL);
	ASSERT_ERR(vmt_pmtimer_read(f.pm, 0, 8, &v), -EINVAL);
	ASSERT_ERR(vmt_pmtimer_read(f.pm, 0, 2, NULL), -EINVAL);
	ASSERT_ERR(vmt_pmtimer_read(NULL, 0, 2, &v), -EINVAL);
	ASSERT_EQ(v, 9);
	ASSERT_ERR(vmt_pmtimer_write(f.pm, 9, 1, 0), -EINVAL);
	ASSERT_ERR(vmt_pmtimer_write(NULL, 0, 2, 0), -EINVAL);
	ASSERT_ERR(vmt_pmtimer_get_stats(f.pm, NULL), -EINVAL);
	ASSERT_ERR(vmt_pmtimer_get_stats(NULL, &st), -EINVAL);
	ASSERT_ERR(vmt_pmtimer_reset(NULL), -EINVAL);
	ASSERT_ERR(vmt_pmtimer_save(f.pm, NULL, 1), -EINVAL);
	ASSERT_ERR(vmt_pmtimer_restore(f.pm, NULL, 1), -EINVAL);
	ASSERT_ERR(vmt_pmtimer_inspect(f.pm, NULL), -EINVAL);
	ASSERT_ERR(vmt_pmtimer_config_init(NULL), -EINVAL);
	ASSERT_TRUE(vmt_pmtimer_free(NULL) == NULL);
	ASSERT_OK(vmt_pmtimer_config_init(&pc));
	ASSERT_ERR(vmt_pmtimer_new(NULL, &pc, &p), -EINVAL);
	ASSERT_ERR(vmt_pmtimer_new(f.clk.loop, &pc, NULL), -EINVAL);
	pc.ext32 = 2;
	ASSERT_ERR(vmt_pmtimer_new(f.clk.loop, &pc, &p), -EINVAL);
	pc.ext32 = 0;
	pc.dev.ticks = (enum vmt_tick_policy)9;
	ASSERT_ERR(vmt_pmtimer_new(f.clk.loop, &pc, &p), -EINVAL);
	pc.dev.ticks = VMT_TICKS_COALESCE;
	pc.dev.name = "a\\b";
	ASSERT_ERR(vmt_pmtimer_new(f.clk.loop, &pc, &p), -EINVAL);
	/* The unit needs "vmtime". */
	ASSERT_OK(vmt_units_new(&u));
	ASSERT_ERR(vmt_pmtimer_add_unit(f.pm, u, NULL), -ENOENT);
	ASSERT_OK(vmt_keeper_add_unit(f.clk.k, u, NULL));
	ASSERT_OK(vmt_pmtimer_add_unit(f.pm, u, NULL));
	ASSERT_ERR(vmt_pmtimer_add_unit(f.pm, NULL, NULL), -EINVAL);
	vmt_units_free(u);
	fx_fini(&f);
}
