/* SPDX-License-Identifier: MIT */
/*
 * vmm.h - a minimal KVM virtual machine whose PIT runs on vmtime.
 *
 * One vCPU in its own thread, guest RAM, KVM's in-kernel PIC/IOAPIC/LAPIC
 * (KVM_CREATE_IRQCHIP) but no in-kernel PIT: ports 0x40-0x43 exit to
 * userspace and are served by the library's PIT (vmtime/pit.h), ports
 * 0x70-0x73 by its RTC (vmtime/rtc.h, base UTC on the VM clock), both on
 * the VM clock of a vmtime keeper.
 *
 * The VM is driven through vmtime units, registered by vmm_add_units():
 *
 *   unit     depends on                 start/stop            save/restore
 *   -------  -------------------------  --------------------  ------------------------------
 *   vmtime   (the keeper's clock)       run/freeze VM time     VM time
 *   pit      vmtime                     -                      registers, IRQ0 grid, owed ticks
 *   rtc      vmtime                     -                      date at its VM time, registers, CMOS
 *   ram      vmtime                     -                      guest memory
 *   irqchip  vmtime                     -                      KVM_GET/SET_IRQCHIP (2 PICs, IOAPIC)
 *   vcpu     vmtime, pit, rtc, ram,     run/kick out of KVM_RUN  regs, sregs, FPU, LAPIC, events, MP state
 *            irqchip
 *
 * so a units stop parks the vCPU first and freezes the clock last, and a
 * start runs the clock before the vCPU: the guest never runs on a stopped
 * clock, and the PIT never ticks for a parked guest.
 */
#ifndef KVMPIT_VMM_H
#define KVMPIT_VMM_H

#include <stddef.h>
#include <stdint.h>

#include <vmtime/loop.h>
#include <vmtime/timer.h>
#include <vmtime/units.h>

#include <vmtime/pit.h>
#include <vmtime/rtc.h>

struct vmm;

/**
 * struct vmm_config - how to build a VM.
 * @loop: the loop running the PIT's timers (on its own thread)
 * @policy: the policy of the PIT's IRQ0 ticks
 * @mem_size: guest RAM in bytes (a multiple of 4096, at least 1 MiB)
 */
struct vmm_config {
	vmt_loop *loop;
	enum vmt_tick_policy policy;
	size_t mem_size;
};

/**
 * struct guest_state - the guest's own counters.
 * @ticks: IRQ0 interrupts the guest handled
 * @csum: its checksum over the tick sequence
 * @reads: PIT counter reads it made
 * @bad: reads outside [1, divisor]
 * @rtc: its last CMOS clock read (guest-abi.h, GUEST_RTC_*)
 * @rtc_reads: CMOS clock reads it made
 */
struct guest_state {
	uint32_t ticks;
	uint32_t csum;
	uint32_t reads;
	uint32_t bad;
	uint32_t rtc;
	uint32_t rtc_reads;
};

/**
 * vmm_probe() - whether KVM can run a VM here.
 * @why: a buffer for the reason it cannot
 * @len: its size
 *
 * The device is /dev/kvm, or the path in the environment variable
 * VMTIME_KVM_DEVICE (tests point it elsewhere to exercise the fallback).
 *
 * Return: 0, or a negative errno with @why filled (no /dev/kvm, no access,
 * KVM_CREATE_VM refused, an API version or capability missing).
 */
int vmm_probe(char *why, size_t len);

/**
 * vmm_new() - create a VM with the guest loaded and its vCPU parked.
 * @cfg: the configuration
 * @ret: where the VM is written, only on success
 * @err: filled on failure (may be NULL)
 *
 * Return: 0, -EINVAL, -ENOMEM, or the errno of the failing KVM call.
 */
int vmm_new(const struct vmm_config *cfg, struct vmm **ret, struct vmt_error *err);

/**
 * vmm_free() - park and join the vCPU, then destroy the VM.
 * @vm: the VM, or NULL (its units must be removed or their set freed first)
 *
 * Return: NULL.
 */
struct vmm *vmm_free(struct vmm *vm);

/**
 * vmm_add_units() - register pit, rtc, ram, irqchip and vcpu in @units.
 * @vm: the VM
 * @units: a set already holding the "vmtime" unit
 *
 * Return: 0, -EINVAL, -ENOENT if "vmtime" is missing, or the errno of
 * vmt_units_add()/vmt_unit_depends_on().
 */
int vmm_add_units(struct vmm *vm, vmt_units *units);

/**
 * vmm_guest_state() - read the guest's state block from its RAM.
 * @vm: the VM
 * @st: where it is written
 *
 * Exact while the vCPU is parked; a snapshot of a moving value otherwise.
 *
 * Return: 0, -EINVAL.
 */
int vmm_guest_state(struct vmm *vm, struct guest_state *st);

/**
 * vmm_last_report() - the last tick count, checksum and CMOS clock read the
 * guest reported on its debug ports.
 * @vm: the VM
 * @st: where it is written (@reads is the number of tick reports,
 *	@rtc_reads that of clock reports)
 *
 * Return: 0, -EINVAL.
 */
int vmm_last_report(struct vmm *vm, struct guest_state *st);

/**
 * vmm_irq_idle() - whether no timer interrupt is in flight.
 * @vm: the VM
 *
 * Return: 1 if the PIT owes no tick (no backlog, none due) and the master PIC has
 * IRQ0 neither requested nor in service, 0 otherwise, a negative errno if
 * the PIC state could not be read.
 */
int vmm_irq_idle(struct vmm *vm);

/**
 * vmm_ticks_owed() - timer interrupts due to the guest but not yet taken.
 * @vm: the VM
 *
 * The PIT's backlog and due ticks (struct vmt_dev_stats, read together
 * under the PIT's lock) plus IRQ0 requested in the master PIC.  Exact
 * while the VM is stopped; a tick in service (taken, handler not finished)
 * is not counted, so the value may be one short, and an edge the loop
 * thread is handing to KVM at that instant may be seen both in the PIT's
 * backlog and in IRR, one over (the demo's tolerance of 2 covers both).
 *
 * Return: the count (>= 0), or a negative errno if the PIC state could not
 * be read.
 */
long long vmm_ticks_owed(struct vmm *vm);

/**
 * vmm_pit() - the VM's PIT.
 * @vm: the VM
 *
 * Return: the PIT, NULL for a NULL @vm.
 */
vmt_pit *vmm_pit(struct vmm *vm);

/**
 * vmm_rtc() - the VM's RTC.
 * @vm: the VM
 *
 * Return: the RTC, NULL for a NULL @vm.
 */
vmt_rtc *vmm_rtc(struct vmm *vm);

/**
 * vmm_error() - why the vCPU stopped on its own, if it did.
 * @vm: the VM
 * @msg: a buffer for the reason
 * @len: its size
 *
 * Return: 0 if the vCPU ran without error, a negative errno otherwise
 * (-EFAULT for a guest shutdown or failed entry, the errno of KVM_RUN).
 */
int vmm_error(struct vmm *vm, char *msg, size_t len);

/**
 * vmm_exits() - how many exits to userspace the vCPU made.
 * @vm: the VM
 *
 * Return: the count, 0 for a NULL @vm.
 */
uint64_t vmm_exits(struct vmm *vm);

/* The checksum the guest must hold after @ticks ticks. */
uint32_t guest_expected_csum(uint32_t ticks);

#endif /* KVMPIT_VMM_H */
