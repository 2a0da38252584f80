/* SPDX-License-Identifier: MIT */
/*
 * test-guest.c - pvclock and Hyper-V reference TSC pages read back by the
 * guest's own formulas (Linux pvclock_clocksource_read(), read_hv_clock_tsc()).
 */
#include <vmtime/guest.h>
#include <vmtime/keeper.h>

#include "guest-internal.h"
#include "keeper-internal.h"
#include "tests.h"
#include "tsc.h"

/* Linux: __pvclock_read_cycles() inside the pvclock_read_begin/retry loop. */
static uint64_t guest_pvclock_read(const struct vmt_pvclock_vcpu_time_info *pv, uint64_t tsc)
{
	uint32_t v;
	uint64_t ns;

	do {
		v = __atomic_load_n(&pv->version, __ATOMIC_ACQUIRE) & ~1u;
		uint64_t delta = tsc - pv->tsc_timestamp;
		int8_t shift = pv->tsc_shift;

		if (shift < 0)
			delta >>= -shift;
		else
			delta <<= shift;
		ns = pv->system_time +
		     (uint64_t)(((vmti_u128)delta * pv->tsc_to_system_mul) >> 32);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
	} while ((__atomic_load_n(&pv->version, __ATOMIC_RELAXED) & 1) ||
		 __atomic_load_n(&pv->version, __ATOMIC_RELAXED) != v);
	return ns;
}

/* Linux: hv_read_tsc_page_tsc(); UINT64_MAX means "invalid, use the MSR". */
static uint64_t guest_hv_read(const struct vmt_hv_tsc_page *pg, uint64_t tsc)
{
	uint32_t seq;
	uint64_t scale;
	int64_t offset;

	do {
		seq = __atomic_load_n(&pg->tsc_sequence, __ATOMIC_ACQUIRE);
		if (!seq)
			return UINT64_MAX;
		scale = pg->tsc_scale;
		offset = pg->tsc_offset;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
	} while (__atomic_load_n(&pg->tsc_sequence, __ATOMIC_RELAXED) != seq);
	return (uint64_t)(((vmti_u128)tsc * scale) >> 64) + (uint64_t)offset;
}

static struct vmti_guest_sample synth(uint64_t khz, uint64_t tsc, vmt_ns vm)
{
	struct vmti_guest_sample s = {
		.guest_tsc = tsc,
		.vm_ns = vm,
		.rate = ((vmti_u128)VMT_NS_PER_MS << 64) / khz,
	};
	return s;
}

/* Exact VM time after @d guest ticks at @khz: vm + d * 10^6 / khz. */
static vmt_ns expect_ns(vmt_ns vm, uint64_t khz, uint64_t d)
{
	return vm + (vmt_ns)((vmti_u128)d * VMT_NS_PER_MS / khz);
}

static const uint64_t freqs_khz[] = { 1000000, 2100000, 2999999, 3300000, 4700000,
				      100000,  12000,	1000,	 50000000 };

TEST(pvclock_reads_back_vm_time_within_1ns)
{
	for (size_t i = 0; i < sizeof(freqs_khz) / sizeof(freqs_khz[0]); i++) {
		uint64_t khz = freqs_khz[i];
		struct vmti_guest_sample s = synth(khz, UINT64_C(123456789012), 5 * VMT_NS_PER_SEC + 7);
		struct vmt_pvclock_vcpu_time_info pv = { 0 };

		ASSERT_OK(vmti_guest_pvclock_fields(&s, &pv));
		/* From the sample point up to 1 s of guest time. */
		uint64_t span = khz * 1000;
		for (uint64_t d = 0; d <= span; d += span / 997 + 1) {
			vmt_ns want = expect_ns(s.vm_ns, khz, d);
			vmt_ns got = guest_pvclock_read(&pv, s.guest_tsc + d);

			/* Never ahead, at most 1 ns behind. */
			ASSERT_ULE(got, want);
			ASSERT_ULE(want - got, 1);
		}
	}
}

TEST(hv_reads_back_vm_time_within_1_unit)
{
	for (size_t i = 0; i < sizeof(freqs_khz) / sizeof(freqs_khz[0]); i++) {
		uint64_t khz = freqs_khz[i];
		struct vmti_guest_sample s = synth(khz, UINT64_C(987654321098), VMT_NS_PER_SEC + 1);
		struct vmt_hv_tsc_page pg = { .tsc_sequence = 1 };

		if (khz <= 10000) {
			ASSERT_ERR(vmti_guest_hv_fields(&s, &pg.tsc_scale, &pg.tsc_offset), -ERANGE);
			continue;
		}
		ASSERT_OK(vmti_guest_hv_fields(&s, &pg.tsc_scale, &pg.tsc_offset));
		/* At the sample point the value is the VM time rounded up. */
		ASSERT_UEQ(guest_hv_read(&pg, s.guest_tsc), vmt_ns_to_100ns(s.vm_ns));
		uint64_t span = khz * 1000;
		for (uint64_t d = 0; d <= span; d += span / 991 + 1) {
			uint64_t want = vmt_ns_to_100ns(expect_ns(s.vm_ns, khz, d));
			uint64_t got = guest_hv_read(&pg, s.guest_tsc + d);

			/* Rounded up at the sample, truncated scale: one unit either way. */
			ASSERT_ULE(got, want + 1);
			ASSERT_ULE(want, got + 1);
		}
	}
}

TEST(guest_tsc_wraps_and_negative_offsets)
{
	/* A guest TSC near 2^64: offsets wrap in two's complement and still read back. */
	struct vmti_guest_sample s = synth(2500000, UINT64_MAX - 1000, 42 * VMT_NS_PER_SEC);
	struct vmt_hv_tsc_page pg = { .tsc_sequence = 7 };
	struct vmt_pvclock_vcpu_time_info pv = { 0 };

	ASSERT_OK(vmti_guest_hv_fields(&s, &pg.tsc_scale, &pg.tsc_offset));
	ASSERT_UEQ(guest_hv_read(&pg, s.guest_tsc), vmt_ns_to_100ns(s.vm_ns));
	ASSERT_OK(vmti_guest_pvclock_fields(&s, &pv));
	ASSERT_ULE(expect_ns(s.vm_ns, 2500000, 500) - guest_pvclock_read(&pv, s.guest_tsc + 500), 1);
}

TEST(frozen_publishes_zero_rate)
{
	struct vmti_guest_sample s = synth(3000000, 1000, 777);
	struct vmt_pvclock_vcpu_time_info pv = { 0 };
	struct vmt_hv_tsc_page pg = { .tsc_sequence = 1 };

	s.frozen = true;
	s.rate = 0; /* no rate needed while frozen */
	ASSERT_OK(vmti_guest_pvclock_fields(&s, &pv));
	ASSERT_EQ(pv.tsc_to_system_mul, 0);
	ASSERT_UEQ(guest_pvclock_read(&pv, 1000 + (UINT64_C(1) << 40)), 777);
	ASSERT_OK(vmti_guest_hv_fields(&s, &pg.tsc_scale, &pg.tsc_offset));
	ASSERT_UEQ(pg.tsc_scale, 0);
	ASSERT_UEQ(guest_hv_read(&pg, UINT64_C(1) << 50), 8); /* 777 ns rounds up to 8 */
}

TEST(no_rate_is_eagain)
{
	struct vmti_guest_sample s = synth(3000000, 1000, 777);
	struct vmt_pvclock_vcpu_time_info pv = { 0 };
	uint64_t scale;
	int64_t offset;

	s.rate = 0;
	ASSERT_ERR(vmti_guest_pvclock_fields(&s, &pv), -EAGAIN);
	ASSERT_ERR(vmti_guest_hv_fields(&s, &scale, &offset), -EAGAIN);
}

TEST(hv_sequence_skips_0_and_all_ones)
{
	ASSERT_EQ(vmti_guest_hv_next_seq(0), 1);
	ASSERT_EQ(vmti_guest_hv_next_seq(1), 2);
	ASSERT_EQ(vmti_guest_hv_next_seq(0xFFFFFFFDu), 0xFFFFFFFEu);
	ASSERT_EQ(vmti_guest_hv_next_seq(0xFFFFFFFEu), 1);
	ASSERT_EQ(vmti_guest_hv_next_seq(0xFFFFFFFFu), 1);
}

static vmt_keeper *manual_keeper(vmt_ns t0)
{
	struct vmt_keeper_config cfg = VMT_KEEPER_CONFIG_INIT;
	vmt_keeper *k = NULL;

	cfg.mode = VMT_KEEPER_MANUAL;
	cfg.initial_vm_time = t0;
	if (vmt_keeper_new(&cfg, &k) < 0)
		return NULL;
	return k;
}

TEST(manual_keeper_stop_start_reset)
{
	vmt_keeper *k = manual_keeper(1000);
	vmt_source *src = vmt_keeper_source(k);
	struct vmt_guest_tsc gt = { .offset = 12345 };
	struct vmt_pvclock_vcpu_time_info pv = { 0 };
	struct vmt_hv_tsc_page pg = { 0 };
	uint64_t ref;

	ASSERT_TRUE(k);
	/* Stopped: frozen value, whatever the guest TSC. */
	ASSERT_OK(vmt_guest_pvclock_update(src, &gt, &pv));
	ASSERT_EQ(pv.version, 2);
	ASSERT_UEQ(guest_pvclock_read(&pv, vmti_rdtsc() + (UINT64_C(1) << 35)), 1000);
	ASSERT_OK(vmt_guest_hv_tsc_page_update(src, &gt, &pg));
	ASSERT_EQ(pg.tsc_sequence, 1);
	ASSERT_UEQ(guest_hv_read(&pg, vmti_rdtsc()), 10);

	/* Manual and running: time moves only by advance, the page follows each update. */
	ASSERT_OK(vmt_keeper_start(k));
	ASSERT_OK(vmt_keeper_advance(k, 2501));
	ASSERT_OK(vmt_guest_pvclock_update(src, &gt, &pv));
	ASSERT_EQ(pv.version, 4);
	ASSERT_UEQ(guest_pvclock_read(&pv, vmti_rdtsc()), 3501);
	ASSERT_OK(vmt_guest_hv_tsc_page_update(src, &gt, &pg));
	ASSERT_EQ(pg.tsc_sequence, 2);
	ASSERT_UEQ(guest_hv_read(&pg, vmti_rdtsc()), 36); /* 3501 ns rounds up */
	ASSERT_OK(vmt_guest_hv_ref_counter(src, &ref));
	ASSERT_UEQ(ref, 36);

	/* Reset: the next update publishes the reset value. */
	ASSERT_OK(vmt_keeper_stop(k));
	ASSERT_OK(vmt_keeper_reset(k, 50));
	ASSERT_OK(vmt_guest_pvclock_update(src, &gt, &pv));
	ASSERT_UEQ(guest_pvclock_read(&pv, vmti_rdtsc()), 50);
	ASSERT_OK(vmt_guest_hv_tsc_page_update(src, &gt, &pg));
	ASSERT_UEQ(guest_hv_read(&pg, vmti_rdtsc()), 1);
	vmt_keeper_free(k);
}

TEST(bad_arguments)
{
	vmt_keeper *k = manual_keeper(0);
	vmt_source *src = vmt_keeper_source(k);
	struct vmt_guest_tsc gt = { 0 };
	struct {
		uint64_t align;
		struct vmt_pvclock_vcpu_time_info pv;
		struct vmt_hv_tsc_page pg;
		char bytes[64];
	} m = { 0 };
	uint64_t ref;

	ASSERT_ERR(vmt_guest_pvclock_update(NULL, &gt, &m.pv), -EINVAL);
	ASSERT_ERR(vmt_guest_pvclock_update(src, NULL, &m.pv), -EINVAL);
	ASSERT_ERR(vmt_guest_pvclock_update(src, &gt, NULL), -EINVAL);
	ASSERT_ERR(vmt_guest_pvclock_update(src, &gt, (void *)(m.bytes + 1)), -EINVAL);
	ASSERT_ERR(vmt_guest_hv_tsc_page_update(NULL, &gt, &m.pg), -EINVAL);
	ASSERT_ERR(vmt_guest_hv_tsc_page_update(src, NULL, &m.pg), -EINVAL);
	ASSERT_ERR(vmt_guest_hv_tsc_page_update(src, &gt, NULL), -EINVAL);
	ASSERT_ERR(vmt_guest_hv_tsc_page_update(src, &gt, (void *)(m.bytes + 4)), -EINVAL);
	ASSERT_ERR(vmt_guest_hv_ref_counter(NULL, &ref), -EINVAL);
	ASSERT_ERR(vmt_guest_hv_ref_counter(src, NULL), -EINVAL);
	gt.guest_khz = 999;
	ASSERT_ERR(vmt_guest_pvclock_update(src, &gt, &m.pv), -EINVAL);
	gt.guest_khz = VMTI_TSC_MAX_KHZ + 1;
	ASSERT_ERR(vmt_guest_hv_tsc_page_update(src, &gt, &m.pg), -EINVAL);
	vmt_keeper_free(k);
}

TEST(real_keeper_without_rate_is_eagain)
{
	struct vmt_keeper_config cfg = VMT_KEEPER_CONFIG_INIT;
	struct vmt_pvclock_vcpu_time_info pv = { 0 };
	struct vmt_hv_tsc_page pg = { 0 };
	struct vmt_guest_tsc gt = { 0 };
	vmt_keeper *k;

	cfg.tsc = VMT_TSC_OFF;
	ASSERT_OK(vmt_keeper_new(&cfg, &k));
	ASSERT_OK(vmt_keeper_start(k));
	ASSERT_ERR(vmt_guest_pvclock_update(vmt_keeper_source(k), &gt, &pv), -EAGAIN);
	ASSERT_ERR(vmt_guest_hv_tsc_page_update(vmt_keeper_source(k), &gt, &pg), -EAGAIN);
	/* Unchanged on failure. */
	ASSERT_EQ(pv.version, 0);
	ASSERT_EQ(pg.tsc_sequence, 0);
	gt.guest_khz = 10000; /* 10 MHz: one tick is one 100 ns unit, too coarse */
	ASSERT_ERR(vmt_guest_hv_tsc_page_update(vmt_keeper_source(k), &gt, &pg), -ERANGE);
	vmt_keeper_free(k);
}

/* A real keeper: the guest's reading lies between two host reads of VM time. */
static void check_real(vmt_keeper *k, uint64_t khz, uint64_t ratio, vmt_ns slack)
{
	vmt_source *src = vmt_keeper_source(k);
	struct vmt_guest_tsc gt = { .ratio = ratio, .offset = UINT64_C(1) << 62, .guest_khz = khz };
	uint64_t r = ratio ? ratio : UINT64_C(1) << VMT_GUEST_RATIO_FRAC_BITS;
	struct vmt_pvclock_vcpu_time_info pv = { 0 };
	struct vmt_hv_tsc_page pg = { 0 };

	ASSERT_OK(vmt_guest_pvclock_update(src, &gt, &pv));
	ASSERT_OK(vmt_guest_hv_tsc_page_update(src, &gt, &pg));
	for (int i = 0; i < 200; i++) {
		vmt_ns before = vmt_now(src, VMT_CLOCK_VM);
		uint64_t gtsc = (uint64_t)(((vmti_u128)vmti_rdtsc() * r) >> VMT_GUEST_RATIO_FRAC_BITS) +
				gt.offset;
		vmt_ns after = vmt_now(src, VMT_CLOCK_VM);
		vmt_ns pvns = guest_pvclock_read(&pv, gtsc);
		uint64_t hv = guest_hv_read(&pg, gtsc);

		ASSERT_UGE(pvns + slack, before);
		ASSERT_ULE(pvns, after + slack);
		ASSERT_UGE(hv * 100 + slack + 100, before);
		ASSERT_ULE(hv * 100, after + slack + 100);
	}
}

TEST(real_keeper_nominal_frequency)
{
	struct vmt_keeper_config cfg = VMT_KEEPER_CONFIG_INIT;
	uint64_t t0, t1;
	vmt_ns m0, m1;
	vmt_keeper *k;

	if (!vmti_tsc_invariant())
		SKIP("no invariant TSC");
	/* The frequency a VMM would give: measured here over 20 ms (a few ppm). */
	vmti_tsc_sample(&t0, &m0);
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	vmti_tsc_sample(&t1, &m1);
	uint64_t khz = (uint64_t)((vmti_u128)(t1 - t0) * 1000000 / (m1 - m0));

	ASSERT_OK(vmt_keeper_new(&cfg, &k));
	ASSERT_OK(vmt_keeper_start(k));
	/* 20 us of slack: a descheduled read between the two host reads. */
	check_real(k, khz, 0, 20000);
	/* A guest TSC at 3/4 of the host rate. */
	check_real(k, khz * 3 / 4, UINT64_C(3) << (VMT_GUEST_RATIO_FRAC_BITS - 2), 20000);
	vmt_keeper_free(k);
}

TEST(tsc_mode_keeper_uses_the_calibrated_rate)
{
	struct vmt_keeper_config cfg = VMT_KEEPER_CONFIG_INIT;
	struct vmt_pvclock_vcpu_time_info pv = { 0 };
	struct vmt_guest_tsc gt = { 0 };
	vmt_keeper *k;

	if (!vmti_tsc_invariant())
		SKIP("no invariant TSC");
	cfg.tsc = VMT_TSC_AUTO;
	ASSERT_OK(vmt_keeper_new(&cfg, &k));
	for (int i = 0; i < 400 && !(VMTI_PAGE_GET(k->page, flags) & VMTI_PAGE_TSC_VALID); i++) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	ASSERT_TRUE(VMTI_PAGE_GET(k->page, flags) & VMTI_PAGE_TSC_VALID);
	ASSERT_OK(vmt_keeper_start(k));
	/* No guest_khz needed: the keeper's calibration gives the rate. */
	ASSERT_OK(vmt_guest_pvclock_update(vmt_keeper_source(k), &gt, &pv));
	ASSERT_TRUE(pv.flags & VMT_PVCLOCK_TSC_STABLE_BIT);
	ASSERT_NE(pv.tsc_to_system_mul, 0);
	check_real(k, 0, 0, 20000);
	check_real(k, 0, UINT64_C(5) << (VMT_GUEST_RATIO_FRAC_BITS - 1), 20000); /* 2.5x */
	/*
	 * A guest TSC 2^48 times slower than the host's: hours per tick, which
	 * needs a pvclock shift far beyond 31 and a Hyper-V scale beyond 64 bits.
	 */
	struct vmt_hv_tsc_page pg = { 0 };

	gt.ratio = 1;
	pv.version = 4;
	ASSERT_ERR(vmt_guest_pvclock_update(vmt_keeper_source(k), &gt, &pv), -ERANGE);
	ASSERT_EQ(pv.version, 4); /* untouched on failure */
	ASSERT_ERR(vmt_guest_hv_tsc_page_update(vmt_keeper_source(k), &gt, &pg), -ERANGE);
	ASSERT_EQ(pg.tsc_sequence, 0);
	gt.ratio = 0;
	/* Stopped: the stable flag stays, the rate is zero, the time frozen. */
	ASSERT_OK(vmt_keeper_stop(k));
	ASSERT_OK(vmt_guest_pvclock_update(vmt_keeper_source(k), &gt, &pv));
	ASSERT_EQ(pv.tsc_to_system_mul, 0);
	ASSERT_UEQ(guest_pvclock_read(&pv, vmti_rdtsc() + 1000000),
		   vmt_now(vmt_keeper_source(k), VMT_CLOCK_VM));
	vmt_keeper_free(k);
}
