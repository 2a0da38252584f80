/* SPDX-License-Identifier: MIT */
/*
 * test-pit.c - the 8254 PIT of examples/kvm-pit, without KVM, on a manual
 * VM clock: counter reads in each mode, latch and read-back, reload, IRQ
 * timing, missed-tick policies, pause, save/restore mid-count, errors.
 */
#include <vmtime/keeper.h>
#include <vmtime/loop.h>
#include <vmtime/snapshot.h>
#include <vmtime/timer.h>

#include "pit.h"
#include "tests.h"

#define MAX_IRQS 256

struct fx {
	vmt_keeper *k;
	vmt_source *src;
	vmt_loop *loop;
	struct pit *pit;
	int accept; /* what the fake interrupt controller answers */
	int nirq;
	vmt_ns irq_at[MAX_IRQS];
};

static int fake_irq(void *opaque)
{
	struct fx *f = opaque;

	if (f->nirq < MAX_IRQS)
		f->irq_at[f->nirq] = vmt_now(f->src, VMT_CLOCK_VM);
	f->nirq++;
	return f->accept;
}

static void fx_init(struct fx *f, enum vmt_missed policy, vmt_ns initial)
{
	struct vmt_keeper_config kc = VMT_KEEPER_CONFIG_INIT;
	struct pit_config pc;

	memset(f, 0, sizeof(*f));
	kc.mode = VMT_KEEPER_MANUAL;
	kc.initial_vm_time = initial;
	ASSERT_OK(vmt_keeper_new(&kc, &f->k));
	f->src = vmt_keeper_source(f->k);
	ASSERT_OK(vmt_loop_new(f->src, &f->loop));
	pc.loop = f->loop;
	pc.irq = fake_irq;
	pc.irq_opaque = f;
	pc.policy = policy;
	ASSERT_OK(pit_new(&pc, &f->pit));
	f->accept = 1;
	ASSERT_OK(vmt_keeper_start(f->k));
}

static void fx_fini(struct fx *f)
{
	pit_free(f->pit);
	vmt_loop_free(f->loop);
	vmt_keeper_free(f->k);
}

static vmt_ns now(struct fx *f)
{
	return vmt_now(f->src, VMT_CLOCK_VM);
}

/* Exact time of @n input clocks, in ns (rounded down). */
static vmt_ns counts(uint64_t n)
{
	return (vmt_ns)((unsigned __int128)n * VMT_NS_PER_SEC / PIT_FREQ_HZ);
}

static void run_to(struct fx *f, vmt_ns t)
{
	ASSERT_OK(vmt_loop_run_until(f->loop, t));
}

static void out(struct fx *f, uint16_t port, uint8_t v)
{
	ASSERT_OK(pit_write(f->pit, port, v));
}

static uint8_t in(struct fx *f, uint16_t port)
{
	uint8_t v = 0;

	ASSERT_OK(pit_read(f->pit, port, &v));
	return v;
}

/* Control word for channel @ch, lobyte/hibyte, @mode; then the count. */
static void program(struct fx *f, int ch, int mode, uint32_t count)
{
	out(f, PIT_PORT_CONTROL, (uint8_t)(ch << 6 | 3 << 4 | mode << 1));
	out(f, PIT_PORT_BASE + ch, count & 0xff);
	out(f, PIT_PORT_BASE + ch, (count >> 8) & 0xff);
}

static unsigned latched_read(struct fx *f, int ch)
{
	unsigned lo, hi;

	out(f, PIT_PORT_CONTROL, (uint8_t)(ch << 6)); /* counter latch */
	lo = in(f, PIT_PORT_BASE + ch);
	hi = in(f, PIT_PORT_BASE + ch);
	return lo | hi << 8;
}

#define ASSERT_NEAR(a, b, tol)                                                           \
	do {                                                                             \
		long long a_ = (long long)(a), b_ = (long long)(b);                      \
		if (llabs(a_ - b_) > (tol))                                              \
			VMT_FAIL("%s ~ %s: %lld vs %lld (tolerance %d)", #a, #b, a_, b_, \
				 (int)(tol));                                            \
	} while (0)

TEST(mode2_counter_counts_down_and_reloads)
{
	struct fx f;
	vmt_ns t0;

	fx_init(&f, VMT_MISSED_CATCHUP, 0);
	program(&f, 0, 2, 1000);
	t0 = now(&f);
	ASSERT_EQ(latched_read(&f, 0), 1000);
	run_to(&f, t0 + counts(250) + 1);
	ASSERT_NEAR(latched_read(&f, 0), 750, 1);
	run_to(&f, t0 + counts(999) + 1);
	ASSERT_NEAR(latched_read(&f, 0), 1, 1);
	/* After the reload: back near the top, never 0. */
	run_to(&f, t0 + counts(1100) + 1);
	ASSERT_NEAR(latched_read(&f, 0), 900, 1);
	for (int i = 0; i < 300; i++) {
		unsigned v;

		run_to(&f, now(&f) + counts(7) + 3);
		v = latched_read(&f, 0);
		ASSERT_TRUE(v >= 1 && v <= 1000);
	}
	fx_fini(&f);
}

TEST(mode2_irq_every_period_on_the_grid)
{
	struct fx f;
	vmt_ns t0;

	fx_init(&f, VMT_MISSED_CATCHUP, 0);
	program(&f, 0, 2, 1193);
	t0 = now(&f);
	run_to(&f, t0 + counts(1193) - 10);
	ASSERT_EQ(f.nirq, 0);
	run_to(&f, t0 + counts(1193 * 10) + 10);
	ASSERT_EQ(f.nirq, 10);
	for (int i = 0; i < 10; i++)
		ASSERT_NEAR(f.irq_at[i], t0 + counts(1193 * (uint64_t)(i + 1)), 5);
	fx_fini(&f);
}

TEST(irq_stays_on_the_counter_grid_for_long)
{
	struct fx f;
	vmt_ns t0, exact;
	const uint64_t n = 20000;

	/* A whole-ns period would drift 0.47 ns per tick: 9.4 us here. */
	fx_init(&f, VMT_MISSED_CATCHUP, 0);
	program(&f, 0, 2, 1193);
	t0 = now(&f);
	run_to(&f, t0 + counts(1193 * n) - 1000);
	ASSERT_EQ(f.nirq, n - 1);
	run_to(&f, t0 + counts(1193 * n) + 1000);
	ASSERT_EQ(f.nirq, n);
	exact = t0 + counts(1193 * n);
	ASSERT_NEAR(now(&f), exact + 1000, 0);
	/* Right after the last interrupt the counter has just reloaded. */
	ASSERT_NEAR(latched_read(&f, 0), 1193 - 1, 1);
	fx_fini(&f);
}

TEST(mode3_square_wave_counts_by_two)
{
	struct fx f;
	vmt_ns t0;

	fx_init(&f, VMT_MISSED_CATCHUP, 0);
	program(&f, 0, 3, 1000);
	t0 = now(&f);
	ASSERT_EQ(latched_read(&f, 0), 1000);
	run_to(&f, t0 + counts(100) + 1);
	ASSERT_NEAR(latched_read(&f, 0), 800, 2);
	/* Second half: counts down from the top again. */
	run_to(&f, t0 + counts(600) + 1);
	ASSERT_NEAR(latched_read(&f, 0), 800, 2);
	/* The status byte's OUT bit: low in the second half. */
	out(&f, PIT_PORT_CONTROL, 0xc0 | 0x20 | 0x02); /* read-back status of ch0 */
	ASSERT_EQ(in(&f, PIT_PORT_BASE) & 0x80, 0);
	run_to(&f, t0 + counts(1000 * 5) + 10);
	ASSERT_EQ(f.nirq, 5);
	fx_fini(&f);
}

TEST(mode0_one_interrupt_at_terminal_count)
{
	struct fx f;
	vmt_ns t0;

	fx_init(&f, VMT_MISSED_CATCHUP, 0);
	program(&f, 0, 0, 500);
	t0 = now(&f);
	ASSERT_EQ(latched_read(&f, 0), 500);
	out(&f, PIT_PORT_CONTROL, 0xc0 | 0x20 | 0x02);
	ASSERT_EQ(in(&f, PIT_PORT_BASE) & 0x80, 0); /* OUT low while counting */
	run_to(&f, t0 + counts(499));
	ASSERT_EQ(f.nirq, 0);
	ASSERT_NEAR(latched_read(&f, 0), 1, 1);
	run_to(&f, t0 + counts(501));
	ASSERT_EQ(f.nirq, 1);
	ASSERT_NEAR(f.irq_at[0], t0 + counts(500), 2);
	out(&f, PIT_PORT_CONTROL, 0xc0 | 0x20 | 0x02);
	ASSERT_EQ(in(&f, PIT_PORT_BASE) & 0x80, 0x80); /* OUT high after terminal count */
	/* The counter wraps and keeps counting; no second interrupt. */
	run_to(&f, t0 + counts(600) + 1);
	ASSERT_NEAR(latched_read(&f, 0), 0x10000 - 100, 2);
	run_to(&f, t0 + counts(500 + 3 * 65536));
	ASSERT_EQ(f.nirq, 1);
	fx_fini(&f);
}

TEST(latch_freezes_the_value_until_read)
{
	struct fx f;
	vmt_ns t0;
	unsigned lo, hi, v;

	fx_init(&f, VMT_MISSED_CATCHUP, 0);
	program(&f, 0, 2, 5000);
	t0 = now(&f);
	run_to(&f, t0 + counts(1000) + 1);
	out(&f, PIT_PORT_CONTROL, 0x00); /* latch */
	run_to(&f, t0 + counts(3000) + 1);
	out(&f, PIT_PORT_CONTROL, 0x00); /* a second latch is ignored until read */
	lo = in(&f, PIT_PORT_BASE);
	run_to(&f, t0 + counts(3500) + 1);
	hi = in(&f, PIT_PORT_BASE);
	v = lo | hi << 8;
	ASSERT_NEAR(v, 4000, 1);
	/* Latch consumed: a live read now shows the moving counter. */
	lo = in(&f, PIT_PORT_BASE);
	hi = in(&f, PIT_PORT_BASE);
	ASSERT_NEAR(lo | hi << 8, 1500, 1);
	fx_fini(&f);
}

TEST(read_back_latches_count_and_status)
{
	struct fx f;
	vmt_ns t0;
	unsigned st, lo, hi;

	fx_init(&f, VMT_MISSED_CATCHUP, 0);
	program(&f, 0, 2, 3000);
	t0 = now(&f);
	run_to(&f, t0 + counts(1000) + 1);
	/* Read-back of channel 0: count and status (bits 5 and 4 clear). */
	out(&f, PIT_PORT_CONTROL, 0xc0 | 0x02);
	run_to(&f, t0 + counts(2000) + 1);
	st = in(&f, PIT_PORT_BASE);
	lo = in(&f, PIT_PORT_BASE);
	hi = in(&f, PIT_PORT_BASE);
	/* OUT high, count loaded, lobyte/hibyte, mode 2, binary. */
	ASSERT_EQ(st, 0x80 | 3 << 4 | 2 << 1);
	ASSERT_NEAR(lo | hi << 8, 2000, 1);
	/* Status right after a control word: null count set. */
	out(&f, PIT_PORT_CONTROL, 0x34);
	out(&f, PIT_PORT_CONTROL, 0xc0 | 0x20 | 0x02);
	ASSERT_EQ(in(&f, PIT_PORT_BASE) & 0x40, 0x40);
	fx_fini(&f);
}

TEST(lsb_and_msb_access_modes)
{
	struct fx f;
	vmt_ns t0;

	fx_init(&f, VMT_MISSED_CATCHUP, 0);
	/* LSB only: count 200. */
	out(&f, PIT_PORT_CONTROL, 1 << 4 | 2 << 1);
	out(&f, PIT_PORT_BASE, 200);
	t0 = now(&f);
	run_to(&f, t0 + counts(50) + 1);
	ASSERT_NEAR(in(&f, PIT_PORT_BASE), 150, 1);
	ASSERT_NEAR(in(&f, PIT_PORT_BASE), 150, 1);
	/* MSB only: count 0x0300. */
	out(&f, PIT_PORT_CONTROL, 2 << 4 | 2 << 1);
	out(&f, PIT_PORT_BASE, 0x03);
	t0 = now(&f);
	run_to(&f, t0 + counts(0x180) + 1);
	ASSERT_EQ(in(&f, PIT_PORT_BASE), 0x01);
	/* Count 0 means 65536. */
	program(&f, 0, 2, 0);
	t0 = now(&f);
	run_to(&f, t0 + counts(65536) + 10);
	ASSERT_EQ(f.nirq, 1);
	/* Port 0x43 is write-only; channel 2 counts too. */
	ASSERT_EQ(in(&f, PIT_PORT_CONTROL), 0xff);
	program(&f, 2, 2, 4000);
	run_to(&f, now(&f) + counts(1000) + 1);
	ASSERT_NEAR(latched_read(&f, 2), 3000, 1);
	fx_fini(&f);
}

TEST(reprogramming_changes_the_period)
{
	struct fx f;
	vmt_ns t0;

	fx_init(&f, VMT_MISSED_CATCHUP, 0);
	program(&f, 0, 2, 1000);
	t0 = now(&f);
	run_to(&f, t0 + counts(2500));
	ASSERT_EQ(f.nirq, 2);
	program(&f, 0, 2, 100);
	t0 = now(&f);
	run_to(&f, t0 + counts(1000) + 10);
	ASSERT_EQ(f.nirq, 2 + 10);
	/* A control word stops the channel until a count is written. */
	out(&f, PIT_PORT_CONTROL, 0x34);
	run_to(&f, now(&f) + counts(5000));
	ASSERT_EQ(f.nirq, 12);
	fx_fini(&f);
}

TEST(stopped_clock_freezes_counter_and_irqs)
{
	struct fx f;
	vmt_ns t0;
	unsigned v;

	fx_init(&f, VMT_MISSED_CATCHUP, 0);
	program(&f, 0, 2, 1193);
	t0 = now(&f);
	run_to(&f, t0 + counts(1193 * 3 + 400));
	ASSERT_EQ(f.nirq, 3);
	v = latched_read(&f, 0);
	ASSERT_OK(vmt_keeper_stop(f.k));
	ASSERT_ERR(vmt_loop_run_until(f.loop, now(&f) + VMT_NS_PER_SEC), -EPERM);
	ASSERT_EQ(vmt_loop_dispatch(f.loop), 0);
	ASSERT_EQ(latched_read(&f, 0), v);
	ASSERT_EQ(f.nirq, 3);
	ASSERT_OK(vmt_keeper_start(f.k));
	run_to(&f, t0 + counts(1193 * 4) + 10);
	ASSERT_EQ(f.nirq, 4);
	fx_fini(&f);
}

TEST(coalesce_loses_missed_ticks_catchup_does_not)
{
	struct fx f;
	struct pit_stats st;

	/* COALESCE: a late loop gives one callback for 10 ticks: one edge. */
	fx_init(&f, VMT_MISSED_COALESCE, 0);
	program(&f, 0, 2, 1193);
	ASSERT_EQ(pit_ticks_owed(f.pit), 0);
	ASSERT_EQ(pit_irq_idle(f.pit), 1);
	ASSERT_OK(vmt_keeper_advance(f.k, counts(1193 * 10) + 10));
	/* Due on the VM clock, not yet run by the loop: owed. */
	ASSERT_EQ(pit_ticks_owed(f.pit), 10);
	ASSERT_EQ(pit_irq_idle(f.pit), 0);
	ASSERT_OK(vmt_loop_dispatch(f.loop));
	ASSERT_EQ(pit_ticks_owed(f.pit), 0);
	ASSERT_OK(pit_get_stats(f.pit, &st));
	ASSERT_EQ(f.nirq, 1);
	ASSERT_EQ(st.expirations, 10);
	ASSERT_EQ(st.raised, 1);
	ASSERT_EQ(st.lost, 9);
	fx_fini(&f);

	/* CATCHUP: every tick raised, on the grid. */
	fx_init(&f, VMT_MISSED_CATCHUP, 0);
	program(&f, 0, 2, 1193);
	ASSERT_OK(vmt_keeper_advance(f.k, counts(1193 * 10) + 10));
	ASSERT_OK(vmt_loop_dispatch(f.loop));
	ASSERT_OK(pit_get_stats(f.pit, &st));
	ASSERT_EQ(f.nirq, 10);
	ASSERT_EQ(st.raised, 10);
	ASSERT_EQ(st.lost, 0);
	fx_fini(&f);
}

TEST(catchup_retries_ticks_the_controller_refused)
{
	struct fx f;
	struct pit_stats st;
	vmt_ns t0;

	fx_init(&f, VMT_MISSED_CATCHUP, 0);
	program(&f, 0, 2, 1193);
	t0 = now(&f);
	f.accept = 0; /* the guest does not acknowledge */
	run_to(&f, t0 + counts(1193 * 5) + 10);
	ASSERT_OK(pit_get_stats(f.pit, &st));
	ASSERT_EQ(st.raised, 0);
	ASSERT_EQ(st.backlog, 5);
	ASSERT_EQ(pit_ticks_owed(f.pit), 5);
	ASSERT_EQ(pit_irq_idle(f.pit), 0);
	ASSERT_GT(st.retries, 5);
	f.accept = 1;
	/* Retries every PIT_RETRY_NS drain the backlog well within one period. */
	run_to(&f, now(&f) + 6 * PIT_RETRY_NS);
	ASSERT_OK(pit_get_stats(f.pit, &st));
	ASSERT_EQ(st.raised, 5);
	ASSERT_EQ(st.backlog, 0);
	ASSERT_EQ(st.lost, 0);
	/* Switching to COALESCE drops a backlog as lost. */
	f.accept = 0;
	run_to(&f, t0 + counts(1193 * 8) + 10);
	ASSERT_OK(pit_set_policy(f.pit, VMT_MISSED_COALESCE));
	ASSERT_OK(pit_get_stats(f.pit, &st));
	ASSERT_EQ(st.backlog, 0);
	ASSERT_EQ(st.lost, 3);
	fx_fini(&f);
}

/* The image lives in the returned writer: free it after reading. */
static vmt_snap_writer *save_to_buffer(struct fx *f, const void **buf, size_t *len)
{
	vmt_snap_writer *sw;
	vmt_fields_writer *fw;

	ASSERT_OK(vmt_snap_writer_new(&sw));
	ASSERT_OK(vmt_snap_writer_section(sw, "pit", PIT_SAVE_VERSION, &fw));
	ASSERT_OK(pit_save(f->pit, fw));
	ASSERT_OK(vmt_snap_writer_save_buffer(sw, buf, len, NULL));
	return sw;
}

TEST(save_restore_mid_count_on_a_different_clock)
{
	struct vmt_snap_section sec;
	vmt_snap_reader *rd;
	vmt_snap_writer *sw;
	struct fx a, b;
	unsigned va, vb;
	const void *buf;
	size_t len;
	vmt_ns ta, tb;

	fx_init(&a, VMT_MISSED_CATCHUP, 0);
	program(&a, 0, 2, 1193);
	program(&a, 2, 3, 3000);
	ta = now(&a);
	run_to(&a, ta + counts(1193 * 7 + 300));
	/* A pending latch is device state too. */
	out(&a, PIT_PORT_CONTROL, 0x00);
	va = latched_read(&a, 2);
	ASSERT_OK(vmt_keeper_stop(a.k));
	sw = save_to_buffer(&a, &buf, &len);

	/* The restoring VM's clock reads 5 s: deadlines travel relative. */
	fx_init(&b, VMT_MISSED_CATCHUP, 5 * VMT_NS_PER_SEC);
	ASSERT_OK(vmt_keeper_stop(b.k));
	ASSERT_OK(vmt_snap_reader_from_buffer(buf, len, &rd, NULL));
	ASSERT_OK(vmt_snap_reader_find(rd, "pit", &sec));
	ASSERT_OK(pit_restore(b.pit, &sec.fields, sec.payload_version));
	vmt_snap_reader_free(rd);
	vmt_snap_writer_free(sw);
	ASSERT_OK(vmt_keeper_start(b.k));
	ASSERT_OK(vmt_keeper_start(a.k));

	vb = latched_read(&b, 2);
	ASSERT_EQ(vb, va);
	{
		unsigned lo = in(&b, PIT_PORT_BASE), hi = in(&b, PIT_PORT_BASE);
		unsigned lo2 = in(&a, PIT_PORT_BASE), hi2 = in(&a, PIT_PORT_BASE);

		ASSERT_EQ(lo | hi << 8, lo2 | hi2 << 8);
		ASSERT_NEAR(lo | hi << 8, 1193 - 300, 1);
	}
	/* Both run on: the same interrupts at the same offsets. */
	tb = now(&b);
	ta = now(&a);
	run_to(&a, ta + counts(1193 * 5));
	run_to(&b, tb + counts(1193 * 5));
	ASSERT_EQ(a.nirq, 7 + 5);
	ASSERT_EQ(b.nirq, 5);
	for (int i = 0; i < 5; i++)
		ASSERT_NEAR(b.irq_at[i] - tb, a.irq_at[7 + i] - ta, 5);
	ASSERT_EQ(latched_read(&a, 0), latched_read(&b, 0));
	fx_fini(&a);
	fx_fini(&b);
}

TEST(restore_refuses_bad_payloads)
{
	struct vmt_snap_section sec;
	vmt_snap_writer *sw;
	vmt_fields_writer *fw;
	vmt_snap_reader *rd;
	struct fx f;
	const void *buf;
	size_t len;

	fx_init(&f, VMT_MISSED_CATCHUP, 0);
	program(&f, 0, 2, 1193);
	ASSERT_OK(vmt_keeper_stop(f.k));
	sw = save_to_buffer(&f, &buf, &len);
	ASSERT_OK(vmt_snap_reader_from_buffer(buf, len, &rd, NULL));
	ASSERT_OK(vmt_snap_reader_find(rd, "pit", &sec));
	ASSERT_ERR(pit_restore(f.pit, &sec.fields, PIT_SAVE_VERSION + 1), -EPROTONOSUPPORT);
	ASSERT_ERR(pit_restore(NULL, &sec.fields, PIT_SAVE_VERSION), -EINVAL);
	ASSERT_ERR(pit_restore(f.pit, NULL, PIT_SAVE_VERSION), -EINVAL);
	vmt_snap_reader_free(rd);
	vmt_snap_writer_free(sw);

	/* A payload without the PIT's fields. */
	ASSERT_OK(vmt_snap_writer_new(&sw));
	ASSERT_OK(vmt_snap_writer_section(sw, "pit", PIT_SAVE_VERSION, &fw));
	ASSERT_OK(vmt_fields_put_u64(fw, 99, 1));
	ASSERT_OK(vmt_snap_writer_save_buffer(sw, &buf, &len, NULL));
	ASSERT_OK(vmt_snap_reader_from_buffer(buf, len, &rd, NULL));
	ASSERT_OK(vmt_snap_reader_find(rd, "pit", &sec));
	ASSERT_ERR(pit_restore(f.pit, &sec.fields, PIT_SAVE_VERSION), -ENOENT);
	vmt_snap_reader_free(rd);
	vmt_snap_writer_free(sw);

	/* An impossible value: a count of 0x20000, and a field of the wrong type. */
	for (int variant = 0; variant < 2; variant++) {
		ASSERT_OK(vmt_snap_writer_new(&sw));
		ASSERT_OK(vmt_snap_writer_section(sw, "pit", PIT_SAVE_VERSION, &fw));
		ASSERT_OK(vmt_fields_begin_group(fw, 1));
		if (variant == 0) {
			/* Every register field present, the count out of range. */
			ASSERT_OK(vmt_fields_put_u64(fw, 1, 0x20000));
			for (uint32_t id = 2; id <= 12; id++)
				ASSERT_OK(vmt_fields_put_u64(fw, id, 0));
			ASSERT_OK(vmt_fields_put_i64(fw, 13, 0));
		} else {
			ASSERT_OK(vmt_fields_put_str(fw, 1, "1193"));
		}
		ASSERT_OK(vmt_fields_end_group(fw));
		ASSERT_OK(vmt_snap_writer_save_buffer(sw, &buf, &len, NULL));
		ASSERT_OK(vmt_snap_reader_from_buffer(buf, len, &rd, NULL));
		ASSERT_OK(vmt_snap_reader_find(rd, "pit", &sec));
		ASSERT_ERR(pit_restore(f.pit, &sec.fields, PIT_SAVE_VERSION), -EBADMSG);
		vmt_snap_reader_free(rd);
		vmt_snap_writer_free(sw);
	}
	/* A failed restore leaves the PIT reset: no channel counts. */
	ASSERT_OK(vmt_keeper_start(f.k));
	run_to(&f, now(&f) + counts(1193 * 3));
	ASSERT_EQ(f.nirq, 0);
	fx_fini(&f);
}

TEST(argument_errors)
{
	struct pit_config pc = { 0 };
	struct pit_stats st;
	struct pit *p;
	uint8_t v;
	vmt_ns t;
	struct fx f;

	fx_init(&f, VMT_MISSED_CATCHUP, 0);
	ASSERT_ERR(pit_new(NULL, &p), -EINVAL);
	ASSERT_ERR(pit_new(&pc, &p), -EINVAL);
	pc.loop = f.loop;
	ASSERT_ERR(pit_new(&pc, &p), -EINVAL);
	pc.irq = fake_irq;
	ASSERT_ERR(pit_new(&pc, NULL), -EINVAL);
	pc.policy = (enum vmt_missed)7;
	ASSERT_ERR(pit_new(&pc, &p), -EINVAL);
	ASSERT_ERR(pit_write(NULL, 0x40, 0), -EINVAL);
	ASSERT_ERR(pit_write(f.pit, 0x44, 0), -EINVAL);
	ASSERT_ERR(pit_write(f.pit, 0x3f, 0), -EINVAL);
	ASSERT_ERR(pit_read(f.pit, 0x40, NULL), -EINVAL);
	ASSERT_ERR(pit_read(f.pit, 0x44, &v), -EINVAL);
	ASSERT_ERR(pit_read(NULL, 0x40, &v), -EINVAL);
	ASSERT_ERR(pit_set_policy(f.pit, (enum vmt_missed)9), -EINVAL);
	ASSERT_ERR(pit_set_policy(NULL, VMT_MISSED_DELAY), -EINVAL);
	ASSERT_ERR(pit_get_stats(f.pit, NULL), -EINVAL);
	ASSERT_ERR(pit_get_stats(NULL, &st), -EINVAL);
	ASSERT_ERR(pit_reset(NULL), -EINVAL);
	ASSERT_ERR(pit_ticks_owed(NULL), -EINVAL);
	ASSERT_ERR(pit_irq_idle(NULL), -EINVAL);
	ASSERT_ERR(pit_loaded_at(f.pit, 3, &t), -EINVAL);
	ASSERT_ERR(pit_loaded_at(f.pit, 0, NULL), -EINVAL);
	ASSERT_OK(pit_loaded_at(f.pit, 0, &t));
	ASSERT_UEQ(t, VMT_NS_NEVER);
	ASSERT_ERR(pit_save(NULL, NULL), -EINVAL);
	ASSERT_TRUE(pit_free(NULL) == NULL);
	/* Data written before any control word is ignored. */
	out(&f, PIT_PORT_BASE, 0x12);
	run_to(&f, counts(70000));
	ASSERT_EQ(f.nirq, 0);
	/* Reset stops a running channel. */
	program(&f, 0, 2, 100);
	ASSERT_OK(pit_reset(f.pit));
	run_to(&f, now(&f) + counts(1000));
	ASSERT_EQ(f.nirq, 0);
	fx_fini(&f);
}
