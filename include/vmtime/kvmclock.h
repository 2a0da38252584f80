/* SPDX-License-Identifier: MIT */
/*
 * vmtime/kvmclock.h - the KVM clock bridge: a Linux guest's kvmclock is the
 * VM clock.
 *
 * On KVM a Linux guest reads time through kvmclock, a pvclock page that KVM
 * computes from the guest TSC and from a per-VM clock that runs with the
 * host whether or not the vCPUs run.  Left alone, that clock goes on during
 * a pause (the guest's CLOCK_MONOTONIC jumps on resume, or, in QEMU, is
 * frozen but drifts from every other device) and starts again from zero in a
 * restored VM.  The bridge makes the kernel's clock follow VMT_CLOCK_VM:
 * KVM_GET_CLOCK when the VM stops, KVM_SET_CLOCK when it starts and after a
 * restore, so that
 *
 *	guest kvmclock = VM time + offset		(while the VM runs)
 *
 * Guarantees:
 *  - the guest's kvmclock never steps back: a start sets VM time + offset,
 *    or, when the kernel's clock ran ahead of VM time during the last run
 *    (both follow the host, but KVM's clock follows the host's boot clock
 *    and its own TSC scaling, VM time the keeper's; they part by a few ppm),
 *    the value the guest last saw plus the VM time since, whichever is
 *    larger; &vmt_kvmclock_stats.held_ns says by how much;
 *  - where KVM offers KVM_CLOCK_REALTIME (KVM_CAP_ADJUST_CLOCK), the start
 *    passes the host's CLOCK_REALTIME read with VM time, and KVM adds the
 *    time the ioctl took to reach it, so the guest does not lose it;
 *  - a pause adds nothing to the guest's kvmclock, a FREEZE restore resumes
 *    it at the saved value and a CATCHUP restore moves it by the wall time
 *    the keeper adds (the floor and the offset are saved state);
 *  - the bridge uses only ioctls on the VM and vCPU fds the VMM gives it,
 *    never owns or closes them, and no dependency beyond libc.
 *
 * What the VMM does besides:
 *  - register the unit (vmt_kvmclock_add_unit(): it depends on "vmtime") and
 *    make its vCPU unit depend on the bridge's unit, so vCPUs are stopped
 *    before the clock is read and start after it is set;
 *  - pass its CPUID table through vmt_kvmclock_cpuid_fixup(): it hides the
 *    invariant TSC.  The guest TSC keeps counting host time during a pause
 *    (KVM offsets it from the host TSC); with an invariant TSC a Linux guest
 *    prefers the TSC clocksource (kvm-clock lowers its own rating then), and
 *    would see the pause.  Without it the guest stays on kvm-clock, which
 *    the bridge controls; adjusting every vCPU's TSC offset on resume
 *    instead would also move the TSC-deadline timers the guest armed;
 *  - save and restore the time MSRs of every vCPU with the VM
 *    (vmt_kvmclock_vcpu_save()/_restore(), or its own MSR code using
 *    vmt_kvmclock_msrs()), so the restored guest's pvclock page is found
 *    again and its TSC continues.
 *
 * Only on Linux with <linux/kvm.h> (x86); elsewhere vmt_kvmclock_new()
 * returns -EOPNOTSUPP.
 */
#ifndef VMTIME_KVMCLOCK_H
#define VMTIME_KVMCLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common.h"
#include "snapshot.h"
#include "source.h"
#include "units.h"

VMT_BEGIN_DECLS

/** typedef vmt_kvmclock - the bridge of one KVM VM (opaque). */
typedef struct vmt_kvmclock vmt_kvmclock;

/** VMT_KVMCLOCK_NAME_DEFAULT - the unit name used when none is given. */
#define VMT_KVMCLOCK_NAME_DEFAULT "kvmclock"

/**
 * struct vmt_kvmclock_config - how to create a bridge
 * (vmt_kvmclock_config_init()).
 * @vm_fd: the KVM VM fd (from KVM_CREATE_VM); not owned, must outlive the
 *	bridge
 * @offset_ns: the guest's kvmclock at VM time 0; 0 by default
 * @name: the unit name; NULL for VMT_KVMCLOCK_NAME_DEFAULT; copied
 */
struct vmt_kvmclock_config {
	int vm_fd;
	uint64_t offset_ns;
	const char *name;
};

/**
 * struct vmt_kvmclock_stats - what the bridge did.
 * @adjust_flags: KVM_CAP_ADJUST_CLOCK as KVM reported it (KVM_CLOCK_*
 *	flags; 1 on kernels older than the flags)
 * @starts: KVM_SET_CLOCK calls made by starts
 * @stops: KVM_GET_CLOCK calls made by stops
 * @set_ns: the value the last start gave KVM_SET_CLOCK
 * @set_vm_ns: the VM time read for it
 * @stop_ns: the guest's kvmclock at the last stop
 * @stop_vm_ns: the VM time read with it
 * @drift_ns: at the last stop, kvmclock - (VM time + offset): how far the
 *	kernel's clock moved from VM time during the run
 * @held_ns: how far the last start set the clock above VM time + offset so
 *	the guest would not see it step back (0 when it did not)
 * @errors: ioctls that failed in a start or stop (which cannot fail)
 * @last_error: the negative errno of the last of them, 0 if none
 */
struct vmt_kvmclock_stats {
	uint32_t adjust_flags;
	uint64_t starts;
	uint64_t stops;
	uint64_t set_ns;
	uint64_t set_vm_ns;
	uint64_t stop_ns;
	uint64_t stop_vm_ns;
	int64_t drift_ns;
	uint64_t held_ns;
	uint64_t errors;
	int last_error;
};

/**
 * vmt_kvmclock_config_init() - fill a config with the defaults (no VM fd:
 * @vm_fd is -1 and must be set).
 * @cfg: the config
 *
 * Context: any.
 * Return: 0, -EINVAL for a NULL @cfg.
 */
VMT_EXPORT int vmt_kvmclock_config_init(struct vmt_kvmclock_config *cfg);

/**
 * vmt_kvmclock_new() - create the bridge of a VM.
 * @src: the source giving VMT_CLOCK_VM (the keeper's, vmt_keeper_source())
 * @cfg: the configuration
 * @ret: where the bridge is written, only on success
 *
 * Asks KVM for KVM_CAP_ADJUST_CLOCK; the kernel's clock is not touched
 * before the first start.
 *
 * Context: any thread.
 * Return: 0; -EINVAL for a NULL argument, a negative @vm_fd, an empty name
 * or one with a character other than printable ASCII but '"' and '\\';
 * -ENAMETOOLONG for a name over VMT_UNIT_NAME_MAX; -EBADF for a closed fd;
 * -ENOTTY for an fd that is not a KVM VM; -EOPNOTSUPP where KVM cannot get
 * and set the clock (no KVM_CAP_ADJUST_CLOCK, or not built for Linux with
 * <linux/kvm.h>); -ENOMEM.
 */
VMT_EXPORT int vmt_kvmclock_new(vmt_source *src, const struct vmt_kvmclock_config *cfg,
				vmt_kvmclock **ret);

/**
 * vmt_kvmclock_free() - destroy a bridge (the VM and its clock stay).
 * @kc: the bridge, or NULL
 *
 * Context: any thread; not concurrently with other calls on @kc.
 * Return: NULL.
 */
VMT_EXPORT vmt_kvmclock *vmt_kvmclock_free(vmt_kvmclock *kc);

/**
 * vmt_kvmclock_start() - set the kernel's clock from VM time (the unit's
 * start; call it yourself only without units).
 * @kc: the bridge
 *
 * Call it after the VM clock started and before the vCPUs run.
 *
 * Context: any thread.
 * Return: 0; -EINVAL for a NULL @kc; -EALREADY if started; the errno of
 * KVM_SET_CLOCK (then the bridge stays stopped).
 */
VMT_EXPORT int vmt_kvmclock_start(vmt_kvmclock *kc);

/**
 * vmt_kvmclock_stop() - read the kernel's clock (the unit's stop).
 * @kc: the bridge
 *
 * Call it after the vCPUs stopped and before the VM clock stops.
 *
 * Context: any thread.
 * Return: 0; -EINVAL for a NULL @kc; -EALREADY if stopped; the errno of
 * KVM_GET_CLOCK (the bridge is stopped all the same and the next start sets
 * VM time + offset).
 */
VMT_EXPORT int vmt_kvmclock_stop(vmt_kvmclock *kc);

/**
 * vmt_kvmclock_reset() - forget the guest's last clock value (a machine
 * reset: the next start sets VM time + offset even if that is lower).
 * @kc: the bridge
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL @kc, -EBUSY while started.
 */
VMT_EXPORT int vmt_kvmclock_reset(vmt_kvmclock *kc);

/**
 * vmt_kvmclock_read() - the guest's kvmclock now, and VM time with it.
 * @kc: the bridge
 * @guest_ns: where KVM_GET_CLOCK's value is written
 * @vm_ns: where VM time read right after is written (may be NULL)
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL @kc or @guest_ns, or the errno of
 * KVM_GET_CLOCK.
 */
VMT_EXPORT int vmt_kvmclock_read(vmt_kvmclock *kc, uint64_t *guest_ns, vmt_ns *vm_ns);

/**
 * vmt_kvmclock_save() - write the bridge's state as one group of fields.
 * @kc: the bridge, stopped
 * @w: the fields writer
 * @id: the group's field id
 *
 * Saves the offset and the guest's clock at the last stop with its VM time.
 *
 * Context: any thread.
 * Return: 0; -EINVAL for a NULL argument; -EBUSY while started; or the
 * writer's errno.
 */
VMT_EXPORT int vmt_kvmclock_save(vmt_kvmclock *kc, vmt_fields_writer *w, uint32_t id);

/**
 * vmt_kvmclock_restore() - load the group written by vmt_kvmclock_save().
 * @kc: the bridge, stopped
 * @r: the reader
 * @id: the group's field id
 *
 * The next start sets the saved clock moved by the VM time since the save
 * (0 under VMT_RESTORE_FREEZE).  On error the bridge is unchanged.
 *
 * Context: any thread.
 * Return: 0; -EINVAL for a NULL argument; -EBUSY while started; -ENOENT if
 * the group or a field is missing; -EBADMSG for a field of the wrong type,
 * an unknown version or a floor flag other than 0 or 1.
 */
VMT_EXPORT int vmt_kvmclock_restore(vmt_kvmclock *kc, const vmt_fields_reader *r, uint32_t id);

/**
 * vmt_kvmclock_get_stats() - the counters and last values.
 * @kc: the bridge
 * @stats: where they are written
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL argument.
 */
VMT_EXPORT int vmt_kvmclock_get_stats(vmt_kvmclock *kc, struct vmt_kvmclock_stats *stats);

/**
 * vmt_kvmclock_inspect() - write the bridge's state as one JSON object.
 * @kc: the bridge
 * @out: the stream
 *
 * Fields: name, running, offset_ns, and the members of
 * &struct vmt_kvmclock_stats.
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL argument, -EIO if writing failed.
 */
VMT_EXPORT int vmt_kvmclock_inspect(vmt_kvmclock *kc, FILE *out);

/**
 * vmt_kvmclock_add_unit() - register the bridge as a unit depending on
 * "vmtime".
 * @kc: the bridge; must outlive the unit
 * @units: the set holding the keeper's unit
 * @ret: where the unit is written, only on success (may be NULL)
 *
 * start and stop are vmt_kvmclock_start()/_stop() (their failures are
 * counted in the stats: unit starts cannot fail), reset
 * vmt_kvmclock_reset(), save and restore field group 1, payload version 1.
 *
 * Context: as vmt_units_add().
 * Return: 0; -EINVAL for a NULL @kc or @units; -ENOENT if the set has no
 * "vmtime" unit; or an errno of vmt_units_add() (-EEXIST, -EBUSY, -ENOMEM).
 */
VMT_EXPORT int vmt_kvmclock_add_unit(vmt_kvmclock *kc, vmt_units *units, vmt_unit **ret);

/**
 * vmt_kvmclock_cpuid_fixup() - adjust one CPUID entry for a guest on the
 * bridge (see above: hides the invariant TSC, leaf 0x80000007 EDX bit 8).
 * @function: the leaf
 * @index: the subleaf
 * @regs: eax, ebx, ecx, edx of the entry, changed in place
 *
 * Context: any.
 * Return: 1 if the entry changed, 0 if not, -EINVAL for a NULL @regs.
 */
VMT_EXPORT int vmt_kvmclock_cpuid_fixup(uint32_t function, uint32_t index, uint32_t regs[4]);

/**
 * vmt_kvmclock_msrs() - the time MSRs to save and restore with each vCPU,
 * in the order to restore them.
 * @n: where their number is written
 *
 * IA32_TSC first (KVM derives the TSC offset from it), IA32_TSC_ADJUST,
 * the kvmclock MSRs (system time and wall clock, new and old numbers), the
 * steal-time MSR, and IA32_TSC_DEADLINE last (it is in guest TSC units).
 *
 * Context: any.
 * Return: a static array of MSR indexes; NULL (and *@n untouched) for a
 * NULL @n.
 */
VMT_EXPORT const uint32_t *vmt_kvmclock_msrs(size_t *n);

/**
 * vmt_kvmclock_vcpu_save() - save a vCPU's time MSRs as one group of fields.
 * @kc: the bridge
 * @vcpu_fd: the vCPU's fd, its vCPU not running
 * @w: the fields writer
 * @id: the group's field id
 *
 * MSRs that KVM does not offer on this host are left out.
 *
 * Context: any thread but the vCPU's while it is in KVM_RUN.
 * Return: 0; -EINVAL for a NULL argument or a negative fd; the errno of
 * KVM_GET_MSRS; or the writer's errno.
 */
VMT_EXPORT int vmt_kvmclock_vcpu_save(vmt_kvmclock *kc, int vcpu_fd, vmt_fields_writer *w,
				      uint32_t id);

/**
 * vmt_kvmclock_vcpu_restore() - load the MSRs saved by
 * vmt_kvmclock_vcpu_save() into a vCPU.
 * @kc: the bridge
 * @vcpu_fd: the vCPU's fd, its vCPU not running
 * @r: the reader
 * @id: the group's field id
 *
 * Context: as vmt_kvmclock_vcpu_save().
 * Return: 0; -EINVAL for a NULL argument or a negative fd; -ENOENT if the
 * group is missing; -EBADMSG for a malformed group or an MSR that is not in
 * vmt_kvmclock_msrs(); -EIO if KVM refused an MSR (those before it are
 * set); or the errno of KVM_SET_MSRS.
 */
VMT_EXPORT int vmt_kvmclock_vcpu_restore(vmt_kvmclock *kc, int vcpu_fd, const vmt_fields_reader *r,
					 uint32_t id);

VMT_END_DECLS

#endif /* VMTIME_KVMCLOCK_H */
