/* SPDX-License-Identifier: MIT */
/*
 * guest.c - pvclock and Hyper-V reference TSC pages from the VM clock.
 *
 * Both formats are "value at a TSC point + TSC delta * rate".  We take the
 * point from one read of the clock page (so the pair is consistent) and the
 * rate from the keeper's calibrated TSC parameters when there are any: they
 * are what VMT_CLOCK_VM itself runs on, so the guest's extrapolation and the
 * host's reads agree until the next refresh.
 *
 * Multipliers are truncated, never rounded up: the guest's clock may then
 * trail VM time by a fraction of a ns per second between updates, and each
 * update moves it forward, never back.
 */
#include <errno.h>

#include "guest-internal.h"
#include "source-internal.h"

static vmti_u128 host_rate(const struct vmti_tsc_params *p)
{
	/* ns per host tick << 64 */
	if (p->shift <= 64)
		return (vmti_u128)p->mult << (64 - p->shift);
	return (vmti_u128)p->mult >> (p->shift - 64);
}

int vmti_guest_sample(const vmt_source *src, const struct vmt_guest_tsc *gt,
		      struct vmti_guest_sample *s)
{
	uint64_t ratio = gt->ratio ? gt->ratio : UINT64_C(1) << VMT_GUEST_RATIO_FRAC_BITS;
	struct vmti_clock_state st;

	if (gt->guest_khz && (gt->guest_khz < VMTI_TSC_MIN_KHZ || gt->guest_khz > VMTI_TSC_MAX_KHZ))
		return -EINVAL;
	/* One read: the (TSC, VM time) pair is consistent. */
	vmti_source_read(src, VMTI_READ_TSC_PAIR, &st);
	s->frozen = !vmti_page_runs(st.flags);
	s->vm_ns = st.vm_now;
	s->guest_tsc = (uint64_t)(((vmti_u128)st.tsc_now * ratio) >> VMT_GUEST_RATIO_FRAC_BITS) +
		       gt->offset;
	/*
	 * With the page's TSC parameters, host time is the very function
	 * VMT_CLOCK_VM reads: the guest's extrapolation is exact.
	 */
	s->stable = (st.flags & VMTI_PAGE_TSC_VALID) && !src->hook.fn &&
		    vmti_tsc_params_valid(&st.tsc);
	s->rate = 0;
	if (s->stable)
		s->rate = (host_rate(&st.tsc) << VMT_GUEST_RATIO_FRAC_BITS) / ratio;
	else if (gt->guest_khz)
		s->rate = ((vmti_u128)VMT_NS_PER_MS << 64) / gt->guest_khz;
	return 0;
}

static int bit_length(vmti_u128 v)
{
	uint64_t hi = (uint64_t)(v >> 64), lo = (uint64_t)v;

	if (hi)
		return 128 - __builtin_clzll(hi);
	return lo ? 64 - __builtin_clzll(lo) : 0;
}

int vmti_guest_pvclock_fields(const struct vmti_guest_sample *s,
			      struct vmt_pvclock_vcpu_time_info *out)
{
	int b, shift;

	out->tsc_timestamp = s->guest_tsc;
	out->system_time = s->vm_ns;
	if (s->frozen) {
		out->tsc_to_system_mul = 0;
		out->tsc_shift = 0;
		return 0;
	}
	if (!s->rate)
		return -EAGAIN;
	/*
	 * rate = mul * 2^shift / 2^32 with mul in [2^31, 2^32): the top 32 bits
	 * of the rate, the shift placing them.
	 */
	b = bit_length(s->rate);
	shift = b - 64;
	if (b < 32 || shift < -31 || shift > 31)
		return -ERANGE;
	out->tsc_to_system_mul = (uint32_t)(s->rate >> (b - 32));
	out->tsc_shift = (int8_t)shift;
	return 0;
}

int vmti_guest_hv_fields(const struct vmti_guest_sample *s, uint64_t *scale, int64_t *offset)
{
	uint64_t ref = vmt_ns_to_100ns(s->vm_ns), sc = 0;

	if (!s->frozen) {
		vmti_u128 r;

		if (!s->rate)
			return -EAGAIN;
		r = s->rate / 100;
		if (r >> 64)
			return -ERANGE;
		sc = (uint64_t)r;
	}
	*scale = sc;
	/* Offsets are two's complement: the sum wraps back to the exact value. */
	*offset = (int64_t)(ref - (uint64_t)(((vmti_u128)s->guest_tsc * sc) >> 64));
	return 0;
}

uint32_t vmti_guest_hv_next_seq(uint32_t seq)
{
	seq++;
	if (seq == 0 || seq == UINT32_MAX)
		seq = 1;
	return seq;
}

static int check_args(const vmt_source *src, const struct vmt_guest_tsc *gt, const void *page)
{
	if (!src || !gt || !page || ((uintptr_t)page & 7))
		return -EINVAL;
	return 0;
}

int vmt_guest_pvclock_update(const vmt_source *src, const struct vmt_guest_tsc *gt,
			     struct vmt_pvclock_vcpu_time_info *pv)
{
	struct vmt_pvclock_vcpu_time_info f;
	struct vmti_guest_sample s;
	uint32_t v;
	uint8_t flags;
	int r;

	r = check_args(src, gt, pv);
	if (r < 0)
		return r;
	r = vmti_guest_sample(src, gt, &s);
	if (r < 0)
		return r;
	r = vmti_guest_pvclock_fields(&s, &f);
	if (r < 0)
		return r;

	v = __atomic_load_n(&pv->version, __ATOMIC_RELAXED);
	v = (v + 1) | 1;
	flags = __atomic_load_n(&pv->flags, __ATOMIC_RELAXED) & ~VMT_PVCLOCK_TSC_STABLE_BIT;
	if (s.stable)
		flags |= VMT_PVCLOCK_TSC_STABLE_BIT;
	/* The guest pairs these with its rmb()s: odd version, fields, even version. */
	/* Release stores: the odd version is visible before any field changes. */
	__atomic_store_n(&pv->version, v, __ATOMIC_RELAXED);
	__atomic_store_n(&pv->tsc_timestamp, f.tsc_timestamp, __ATOMIC_RELEASE);
	__atomic_store_n(&pv->system_time, f.system_time, __ATOMIC_RELEASE);
	__atomic_store_n(&pv->tsc_to_system_mul, f.tsc_to_system_mul, __ATOMIC_RELEASE);
	__atomic_store_n(&pv->tsc_shift, f.tsc_shift, __ATOMIC_RELEASE);
	__atomic_store_n(&pv->flags, flags, __ATOMIC_RELEASE);
	__atomic_store_n(&pv->version, v + 1, __ATOMIC_RELEASE);
	return 0;
}

int vmt_guest_hv_tsc_page_update(const vmt_source *src, const struct vmt_guest_tsc *gt,
				 struct vmt_hv_tsc_page *pg)
{
	struct vmti_guest_sample s;
	uint64_t scale;
	int64_t offset;
	uint32_t seq;
	int r;

	r = check_args(src, gt, pg);
	if (r < 0)
		return r;
	r = vmti_guest_sample(src, gt, &s);
	if (r < 0)
		return r;
	r = vmti_guest_hv_fields(&s, &scale, &offset);
	if (r < 0)
		return r;

	/*
	 * The format has no "write in progress" state, so the sequence goes
	 * through 0: a guest that read the old sequence sees it change and
	 * retries; one that reads 0 uses the reference counter MSR meanwhile.
	 */
	seq = vmti_guest_hv_next_seq(__atomic_load_n(&pg->tsc_sequence, __ATOMIC_RELAXED));
	__atomic_store_n(&pg->tsc_sequence, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&pg->tsc_scale, scale, __ATOMIC_RELEASE);
	__atomic_store_n(&pg->tsc_offset, offset, __ATOMIC_RELEASE);
	__atomic_store_n(&pg->tsc_sequence, seq, __ATOMIC_RELEASE);
	return 0;
}

int vmt_guest_hv_ref_counter(const vmt_source *src, uint64_t *ret)
{
	if (!src || !ret)
		return -EINVAL;
	*ret = vmt_ns_to_100ns(vmt_now(src, VMT_CLOCK_VM));
	return 0;
}
