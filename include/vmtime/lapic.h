/* SPDX-License-Identifier: MIT */
/*
 * vmtime/lapic.h - the timer of a local APIC, for VMMs and emulators that
 * keep the APIC in userspace.
 *
 * The APIC timer is every modern guest's tick and high-resolution timer.
 * vmt_lapic is its timer part only (LVT timer, initial count, current count,
 * divide configuration, IA32_TSC_DEADLINE): the VMM's own APIC forwards
 * those registers here and delivers the interrupt the device raises.  See
 * docs/devices/lapic.md.
 *
 * Guarantees (besides those of device.h):
 *  - the counter counts on VMT_CLOCK_VM at bus_hz / divide: the current
 *    count read at a VM time is exact (128-bit arithmetic, no drift), frozen
 *    while the VM is paused, and resumed exactly by a restore;
 *  - TSC-deadline mode compares against a guest TSC derived from VM time:
 *    tsc = tsc_offset + floor(vm_ns * tsc_hz / 10^9), so a deadline lands on
 *    the VM time the guest computed from its TSC;
 *  - periodic interrupts are raised at most once per min_period_ns, so a
 *    guest writing an initial count of 1 with divide 1 cannot make the loop
 *    spin; the counter still counts at the programmed rate.
 *
 * Registers are at their xAPIC MMIO offsets from the APIC base (0x320 LVT
 * timer, 0x380 initial count, 0x390 current count, 0x3E0 divide
 * configuration); x2APIC MSRs 0x832/0x838/0x839/0x83E map to the same
 * offsets (msr - 0x800) << 4.  Accesses are 32-bit.
 *
 * Interrupt: line 0, edge: a pulse (device.h) per expiry.  The callback has
 * no room for the vector: it reads vmt_lapic_vector(), which may be called
 * from the callback.  A masked LVT counts expirations but raises nothing.
 */
#ifndef VMTIME_LAPIC_H
#define VMTIME_LAPIC_H

#include <stdint.h>
#include <stdio.h>

#include "common.h"
#include "device.h"
#include "loop.h"
#include "snapshot.h"
#include "units.h"

VMT_BEGIN_DECLS

/** typedef vmt_lapic - a local APIC timer (opaque). */
typedef struct vmt_lapic vmt_lapic;

/* Register offsets from the APIC base (Intel SDM vol. 3, "Local APIC"). */
#define VMT_LAPIC_LVT_TIMER 0x320
#define VMT_LAPIC_INITIAL_COUNT 0x380
#define VMT_LAPIC_CURRENT_COUNT 0x390
#define VMT_LAPIC_DIVIDE_CONFIG 0x3e0
/** VMT_LAPIC_MSR_TSC_DEADLINE - the IA32_TSC_DEADLINE MSR. */
#define VMT_LAPIC_MSR_TSC_DEADLINE 0x6e0

/* LVT timer bits. */
#define VMT_LAPIC_LVT_VECTOR 0xffu
#define VMT_LAPIC_LVT_MASKED (1u << 16)
#define VMT_LAPIC_LVT_MODE_SHIFT 17
#define VMT_LAPIC_LVT_MODE (3u << 17)
#define VMT_LAPIC_MODE_ONESHOT 0u
#define VMT_LAPIC_MODE_PERIODIC 1u
#define VMT_LAPIC_MODE_TSC_DEADLINE 2u

/** VMT_LAPIC_BUS_HZ_DEFAULT - 1 GHz: KVM's default APIC bus cycle of 1 ns. */
#define VMT_LAPIC_BUS_HZ_DEFAULT UINT64_C(1000000000)

/**
 * struct vmt_lapic_config - how to create an APIC timer.
 * @dev: the common part; dev.name defaults to "lapic-timer"
 * @bus_hz: the APIC timer's input clock before the divider, 1 Hz to 10 GHz
 *	(0: VMT_LAPIC_BUS_HZ_DEFAULT)
 * @tsc_hz: the guest TSC's frequency for TSC-deadline mode, 1 Hz to 100 GHz
 *	(0: 1 GHz, TSC = VM ns)
 * @tsc_offset: the guest TSC at VM time 0
 */
struct vmt_lapic_config {
	struct vmt_dev_config dev;
	uint64_t bus_hz;
	uint64_t tsc_hz;
	uint64_t tsc_offset;
};

/**
 * vmt_lapic_config_init() - fill a config with the defaults.
 * @cfg: the config
 *
 * Context: any.
 * Return: 0, -EINVAL for a NULL @cfg.
 */
VMT_EXPORT int vmt_lapic_config_init(struct vmt_lapic_config *cfg);

/**
 * vmt_lapic_new() - create an APIC timer in its power-up state.
 * @loop: the loop whose thread runs the device's timer
 * @cfg: the configuration
 * @ret: where the device is written, only on success
 *
 * Power-up: LVT timer masked (0x10000), counts 0, divide configuration 0
 * (divide by 2), no deadline.
 *
 * Context: any thread.
 * Return: 0; -EINVAL for a NULL argument, an unknown tick policy, a
 * frequency out of range or a bad name (as vmt_rtc_new()); -ENAMETOOLONG;
 * -ENOMEM.
 */
VMT_EXPORT int vmt_lapic_new(vmt_loop *loop, const struct vmt_lapic_config *cfg, vmt_lapic **ret);

/**
 * vmt_lapic_free() - destroy an APIC timer.
 * @lapic: the device, or NULL
 *
 * Context: any thread but the device's irq callback; not concurrently with
 * other calls on @lapic.
 * Return: NULL.
 */
VMT_EXPORT vmt_lapic *vmt_lapic_free(vmt_lapic *lapic);

/**
 * vmt_lapic_read() - a guest's MMIO read of a timer register.
 * @lapic: the device
 * @offset: from the APIC base: 0x320, 0x380, 0x390 or 0x3E0
 * @size: 4
 * @val: where the register is written, only on success
 *
 * Context: any thread (the vCPU's); may call the irq callback after the
 * device's lock is dropped.
 * Return: 0; -EINVAL for a NULL argument or a size other than 4; -ENOENT
 * for an offset that is not a timer register (the rest of the APIC is the
 * VMM's).
 */
VMT_EXPORT int vmt_lapic_read(vmt_lapic *lapic, uint64_t offset, unsigned size, uint64_t *val);

/**
 * vmt_lapic_write() - a guest's MMIO write of a timer register.
 * @lapic: the device
 * @offset: as vmt_lapic_read(); the current count is read-only (ignored)
 * @size: 4
 * @val: the value (bits above 31 are ignored)
 *
 * Context: as vmt_lapic_read().
 * Return: as vmt_lapic_read().
 */
VMT_EXPORT int vmt_lapic_write(vmt_lapic *lapic, uint64_t offset, unsigned size, uint64_t val);

/**
 * vmt_lapic_read_msr() - RDMSR of IA32_TSC_DEADLINE.
 * @lapic: the device
 * @msr: VMT_LAPIC_MSR_TSC_DEADLINE
 * @val: where the value is written: the armed deadline, 0 when disarmed or
 *	outside TSC-deadline mode
 *
 * Context: as vmt_lapic_read().
 * Return: 0, -EINVAL for a NULL argument, -ENOENT for another MSR.
 */
VMT_EXPORT int vmt_lapic_read_msr(vmt_lapic *lapic, uint32_t msr, uint64_t *val);

/**
 * vmt_lapic_write_msr() - WRMSR of IA32_TSC_DEADLINE.
 * @lapic: the device
 * @msr: VMT_LAPIC_MSR_TSC_DEADLINE
 * @val: the deadline in guest TSC ticks; 0 disarms; a deadline already
 *	passed raises at once.  Ignored outside TSC-deadline mode.
 *
 * Context: as vmt_lapic_read().
 * Return: 0, -EINVAL for a NULL @lapic, -ENOENT for another MSR.
 */
VMT_EXPORT int vmt_lapic_write_msr(vmt_lapic *lapic, uint32_t msr, uint64_t val);

/**
 * vmt_lapic_vector() - the vector of the LVT timer entry.
 * @lapic: the device
 *
 * Lock-free: the irq callback calls it to learn what to deliver.
 *
 * Context: any thread, including the device's irq callback.
 * Return: the vector (0-255), -EINVAL for a NULL @lapic.
 */
VMT_EXPORT int vmt_lapic_vector(vmt_lapic *lapic);

/**
 * vmt_lapic_guest_tsc() - the guest TSC now.
 * @lapic: the device
 * @tsc: where it is written: tsc_offset + floor(VM ns * tsc_hz / 10^9)
 *
 * An emulator returns it for RDTSC, so the guest's TSC and its deadlines
 * agree with the device.
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL argument.
 */
VMT_EXPORT int vmt_lapic_guest_tsc(vmt_lapic *lapic, uint64_t *tsc);

/**
 * vmt_lapic_set_guest_tsc() - WRMSR of IA32_TSC: the guest TSC reads @tsc now.
 * @lapic: the device
 * @tsc: the new value (the offset changes; the frequency does not)
 *
 * An armed deadline keeps its TSC value, so it moves in VM time.
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL @lapic.
 */
VMT_EXPORT int vmt_lapic_set_guest_tsc(vmt_lapic *lapic, uint64_t tsc);

/**
 * vmt_lapic_reset() - INIT/RESET: back to the power-up state.
 * @lapic: the device
 *
 * The REINJECT backlog counts as lost.
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL @lapic.
 */
VMT_EXPORT int vmt_lapic_reset(vmt_lapic *lapic);

/**
 * vmt_lapic_save() - write the device's state as one group of fields.
 * @lapic: the device
 * @w: the fields writer
 * @id: the group's field id
 *
 * The running count is saved relative to the current VM time, so it
 * resumes exactly where VM time resumes.
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL argument, or the writer's errno.
 */
VMT_EXPORT int vmt_lapic_save(vmt_lapic *lapic, vmt_fields_writer *w, uint32_t id);

/**
 * vmt_lapic_restore() - load the group written by vmt_lapic_save().
 * @lapic: the device
 * @r: the reader
 * @id: the group's field id
 *
 * Nothing is raised by the restore itself.  On error the device is
 * unchanged.
 *
 * Context: any thread.
 * Return: 0; -EINVAL for a NULL argument; -ENOENT for a missing group or
 * field; -EBADMSG for a field of the wrong type or an impossible value.
 */
VMT_EXPORT int vmt_lapic_restore(vmt_lapic *lapic, const vmt_fields_reader *r, uint32_t id);

/**
 * vmt_lapic_inspect() - write the device's state as one JSON object.
 * @lapic: the device
 * @out: the stream
 *
 * Fields: name, mode, vector, masked, initial, current, divide, deadline,
 * tsc, bus_hz, tsc_hz, ticks (the policy), stats.
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL argument, -EIO if writing failed.
 */
VMT_EXPORT int vmt_lapic_inspect(vmt_lapic *lapic, FILE *out);

/**
 * vmt_lapic_get_stats() - what the timer's interrupts did (every expiry,
 * one-shot, periodic or deadline, is a tick).
 * @lapic: the device
 * @stats: where the counters are written
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL argument.
 */
VMT_EXPORT int vmt_lapic_get_stats(vmt_lapic *lapic, struct vmt_dev_stats *stats);

/**
 * vmt_lapic_add_unit() - register the device as a unit depending on "vmtime".
 * @lapic: the device; must outlive the unit
 * @units: the set
 * @ret: where the unit is written, only on success (may be NULL)
 *
 * Named after the device; reset, save/restore (field group 1, payload
 * version 1) and inspect as above.
 *
 * Context: as vmt_units_add().
 * Return: 0; -EINVAL for a NULL @lapic or @units; -ENOENT if the set has no
 * "vmtime" unit; or an errno of vmt_units_add().
 */
VMT_EXPORT int vmt_lapic_add_unit(vmt_lapic *lapic, vmt_units *units, vmt_unit **ret);

VMT_END_DECLS

#endif /* VMTIME_LAPIC_H */
