/* SPDX-License-Identifier: MIT */
/*
 * vmtime/guest.h - the VM clock as the guest reads it: pvclock and Hyper-V pages.
 *
 * A guest reads time without exiting through a page the VMM keeps up to date:
 * Linux's kvmclock/pvclock (struct pvclock_vcpu_time_info, one per vCPU) or
 * the Hyper-V reference TSC page (Windows, and Linux on Hyper-V).  Both
 * describe time as a linear function of the guest's TSC.  These helpers fill
 * them from a vmtime source so the guest sees exactly VMT_CLOCK_VM:
 *
 *  - the sample (guest TSC, VM time) is taken under the clock page's sequence,
 *    and with the keeper in TSC mode the rate is the calibrated TSC rate, so
 *    the guest's extrapolation tracks VMT_CLOCK_VM, not a nominal frequency;
 *  - while the VM clock is stopped (and for a manual keeper, whose time moves
 *    only when told to) the page publishes a zero multiplier and the frozen
 *    value: a guest read returns the frozen time whatever its TSC says, and
 *    the sequence stays valid (the guest need not fall back to an MSR);
 *  - after a start, reset or restore the next update continues from the
 *    keeper's value, so guest time is continuous across stop/start and
 *    save/restore exactly as VMT_CLOCK_VM is;
 *  - Hyper-V reference time (100 ns units) is rounded up from nanoseconds, so
 *    it is never behind VM time at the sample;
 *  - the multipliers are rounded down: between two updates the pvclock time
 *    may trail VM time by about a ns per second but never runs ahead of it,
 *    so an update never moves guest time backwards; the Hyper-V value stays
 *    within one 100 ns unit of VM time rounded up.
 *
 * The VMM calls an update helper when it creates the page, and again whenever
 * the VM clock changes state (subscribe a loop or an eventfd to the keeper)
 * and about once a second while it runs in TSC mode (calibration refreshes).
 * One writer per page at a time; guests read concurrently, protected by the
 * page's own version/sequence protocol.
 *
 * The guest TSC is the host TSC scaled and offset as the hypervisor does it:
 *
 *   guest_tsc = ((host_tsc * ratio) >> VMT_GUEST_RATIO_FRAC_BITS) + offset
 *
 * (Intel VMX uses 48 fractional bits, as here; shift an AMD 8.32 ratio left by
 * 16).  The guest TSC rate in ns per tick comes from the keeper's calibration
 * when it publishes TSC parameters, else from @guest_khz.
 */
#ifndef VMTIME_GUEST_H
#define VMTIME_GUEST_H

#include <stdint.h>

#include "common.h"
#include "source.h"
#include "time.h"

VMT_BEGIN_DECLS

/**
 * struct vmt_pvclock_vcpu_time_info - Linux's pvclock ABI (32 bytes).
 * @version: odd while the host writes; the guest retries until it reads the
 *	same even value before and after the other fields.
 * @pad0: reserved, zero.
 * @tsc_timestamp: guest TSC at which @system_time holds.
 * @system_time: guest time in ns at @tsc_timestamp.
 * @tsc_to_system_mul: ns per guest tick as a 0.32 fixed-point multiplier,
 *	applied after shifting the TSC delta by @tsc_shift.
 * @tsc_shift: left shift (right shift if negative) of the TSC delta.
 * @flags: VMT_PVCLOCK_* bits.
 * @pad: reserved, zero.
 *
 * Guest formula: ns = system_time + (((tsc - tsc_timestamp) << tsc_shift) *
 * tsc_to_system_mul >> 32), the shift being a right shift when negative.
 */
struct vmt_pvclock_vcpu_time_info {
	uint32_t version;
	uint32_t pad0;
	uint64_t tsc_timestamp;
	uint64_t system_time;
	uint32_t tsc_to_system_mul;
	int8_t tsc_shift;
	uint8_t flags;
	uint8_t pad[2];
};

/* The guest may trust the TSC to be synchronized across vCPUs. */
#define VMT_PVCLOCK_TSC_STABLE_BIT (1u << 0)
/* The host paused the guest (the guest's watchdogs may ignore the gap). */
#define VMT_PVCLOCK_GUEST_STOPPED (1u << 1)

/**
 * struct vmt_hv_tsc_page - the start of the Hyper-V reference TSC page.
 * @tsc_sequence: 0 means invalid (the guest reads the reference counter MSR
 *	instead); otherwise the guest retries until it reads the same value
 *	before and after the other fields.
 * @reserved1: reserved, zero.
 * @tsc_scale: 100 ns units per guest tick as a 0.64 fixed-point number.
 * @tsc_offset: added to the scaled TSC.
 *
 * Guest formula: reference time (100 ns) = ((tsc * tsc_scale) >> 64) +
 * tsc_offset, the product taken on 128 bits.  The rest of the 4 KiB guest
 * page is reserved and left untouched.
 */
struct vmt_hv_tsc_page {
	uint32_t tsc_sequence;
	uint32_t reserved1;
	uint64_t tsc_scale;
	int64_t tsc_offset;
};

/* Fractional bits of &vmt_guest_tsc.ratio. */
#define VMT_GUEST_RATIO_FRAC_BITS 48

/**
 * struct vmt_guest_tsc - how the guest TSC derives from the host TSC.
 * @ratio: guest ticks per host tick, fixed point with
 *	VMT_GUEST_RATIO_FRAC_BITS fractional bits; 0 means 1.0 (no scaling).
 * @offset: added (modulo 2^64) to the scaled host TSC.
 * @guest_khz: the guest TSC frequency in kHz, used for the rate when the
 *	keeper publishes no calibrated TSC parameters (TSC mode off, not yet
 *	calibrated, no invariant TSC); 0 if unknown.  Within [1000, 10^8].
 */
struct vmt_guest_tsc {
	uint64_t ratio;
	uint64_t offset;
	uint64_t guest_khz;
};

/**
 * vmt_guest_pvclock_update() - publish VM time in a pvclock structure.
 * @src: the source of the VM clock (a keeper's own or an attached one)
 * @gt: the guest TSC's relation to the host TSC
 * @pv: the structure, in guest memory (8-byte aligned)
 *
 * Writes with the version protocol: version becomes odd, the fields are
 * written, version becomes even again (2 more than before when it was
 * even).  VMT_PVCLOCK_TSC_STABLE_BIT is set when the keeper publishes
 * calibrated TSC parameters (its TSC is invariant); the other flag bits
 * already in @pv are kept.
 *
 * Context: any thread; one writer per @pv at a time; lock-free.
 * Return: 0; -EINVAL for a NULL or misaligned argument or a @guest_khz out of
 * range; -EAGAIN if the clock runs and no rate is known (no calibrated TSC
 * parameters yet and @gt->guest_khz is 0); -ERANGE if the rate cannot be
 * expressed in the pvclock format.
 */
VMT_EXPORT int vmt_guest_pvclock_update(const vmt_source *src, const struct vmt_guest_tsc *gt,
					struct vmt_pvclock_vcpu_time_info *pv);

/**
 * vmt_guest_hv_tsc_page_update() - publish VM time in a Hyper-V reference TSC page.
 * @src: the source of the VM clock
 * @gt: the guest TSC's relation to the host TSC
 * @pg: the page, in guest memory (8-byte aligned)
 *
 * Writes with the sequence protocol: the sequence is set to 0 (guests that
 * read meanwhile use the reference counter MSR, see vmt_guest_hv_ref_counter()),
 * the fields are written, then the sequence becomes its previous value plus
 * one, skipping 0 and 0xFFFFFFFF.
 *
 * Context: any thread; one writer per @pg at a time; lock-free.
 * Return: 0; -EINVAL as for vmt_guest_pvclock_update(); -EAGAIN likewise;
 * -ERANGE if the guest TSC runs at 10 MHz or less (a tick would be worth
 * more than one 100 ns unit, which the format cannot express).
 */
VMT_EXPORT int vmt_guest_hv_tsc_page_update(const vmt_source *src, const struct vmt_guest_tsc *gt,
					    struct vmt_hv_tsc_page *pg);

/**
 * vmt_guest_hv_ref_counter() - the Hyper-V reference counter (MSR 0x40000020).
 * @src: the source of the VM clock
 * @ret: where VM time in 100 ns units, rounded up, is written, only on success
 *
 * Context: any thread, lock-free.
 * Return: 0, -EINVAL for a NULL argument.
 */
VMT_EXPORT int vmt_guest_hv_ref_counter(const vmt_source *src, uint64_t *ret);

VMT_END_DECLS

#endif /* VMTIME_GUEST_H */
