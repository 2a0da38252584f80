/* SPDX-License-Identifier: MIT */
/*
 * vmtime/device.h - what every emulated time device has in common.
 *
 * vmtime ships the time devices a PC guest programs (i8254 PIT, MC146818
 * RTC, HPET, local APIC timer, ACPI PM timer) as library components.  A VMM
 * wires each one to its port or MMIO dispatch (vmt_<dev>_read/_write) and to
 * its interrupt controller (a vmt_irq_fn).  This header holds the pieces the
 * devices share, so that every device has the same shape:
 *
 *   vmt_<dev>_config_init(&cfg)        defaults, then set cfg.dev.irq, ...
 *   vmt_<dev>_new(loop, &cfg, &dev)    / vmt_<dev>_free(dev)
 *   vmt_<dev>_read(dev, offset, size, &val) / vmt_<dev>_write(dev, offset,
 *					size, val): offset relative to the
 *					device's base port or MMIO address
 *   vmt_<dev>_reset(dev)
 *   vmt_<dev>_save(dev, w, id) / vmt_<dev>_restore(dev, r, id): a group of
 *					snapshot fields with tag @id
 *   vmt_<dev>_inspect(dev, out)        one JSON object
 *   vmt_<dev>_add_unit(dev, units, &unit): a unit that depends on "vmtime"
 *
 * Guarantees, for every device:
 *  - everything the guest can observe counts on VMT_CLOCK_VM of the loop's
 *    source: while the VM is stopped counters are frozen and no interrupt is
 *    raised; after a restore every count resumes where it was saved;
 *  - register access may come from any thread (vCPU threads) concurrently
 *    with the loop's thread; a mutex inside each device serializes them;
 *  - the irq callback is never called with that mutex held (it may issue a
 *    KVM ioctl), calls for one device are serialized and arrive in the order
 *    the device produced them;
 *  - a bad offset, size or value from the guest is an error return or is
 *    ignored as the datasheet says, never a crash; periods a guest programs
 *    below the device's minimum interrupt period are raised at that minimum
 *    (VMT_DEV_MIN_PERIOD_NS unless the config lowers it), so a hostile guest
 *    cannot make the loop thread spin.
 */
#ifndef VMTIME_DEVICE_H
#define VMTIME_DEVICE_H

#include <stdint.h>

#include "common.h"
#include "time.h"

VMT_BEGIN_DECLS

/**
 * typedef vmt_irq_fn - drive an interrupt line of a device.
 * @opaque: as given in struct vmt_dev_config
 * @line: the device's output line (each device header numbers its lines,
 *	e.g. the PIT's line 0 is IRQ0; the HPET's are the I/O APIC inputs its
 *	comparators route to)
 * @level: 1 to assert, 0 to deassert
 *
 * An edge-triggered output is a pulse: a call with @level 1 immediately
 * followed by one with @level 0 (what KVM_IRQ_LINE expects for an edge on
 * the in-kernel PIC/IOAPIC).  A level-triggered output calls with 1 when
 * the condition becomes true and with 0 when the guest clears it, and only
 * on changes.  Each device header says which of its lines are which.
 *
 * Context: the thread that caused the change: the loop's thread for timer
 * expiries, a vCPU thread for a register write; never under the device's
 * lock.  Must not call back into the same device.
 * Return: for @level 1, 1 if the interrupt controller took the interrupt,
 * 0 if it was coalesced with one still pending (IRR already set, line
 * masked: KVM_IRQ_LINE_STATUS's status 0), a negative errno if raising
 * failed (counted as coalesced).  The return of a @level 0 call is ignored.
 */
typedef int (*vmt_irq_fn)(void *opaque, unsigned line, int level);

/**
 * enum vmt_tick_policy - what a device does with periodic interrupts the
 * guest did not get in time.
 * @VMT_TICKS_COALESCE: ticks missed while the loop thread was late merge
 *	into one interrupt, and a tick the controller coalesced is lost; the
 *	period grid is kept (QEMU's default, KVM PIT without reinject).  The
 *	default.
 * @VMT_TICKS_REINJECT: every tick is delivered: missed and coalesced ticks
 *	go to a backlog that is raised again, one per acknowledgement (or
 *	retry), until it is empty; the grid is kept, so a tick-counting guest
 *	loses no time (KVM PIT reinject, QEMU RTC driftfix=slew).  The backlog
 *	is capped at VMT_TICKS_BACKLOG_MAX ticks; beyond it ticks are lost.
 * @VMT_TICKS_DELAY: one interrupt for the missed ticks, and the grid shifts
 *	to now + period (the guest's tick clock lags by the delay).
 */
enum vmt_tick_policy {
	VMT_TICKS_COALESCE = 0,
	VMT_TICKS_REINJECT = 1,
	VMT_TICKS_DELAY = 2,
};

/** VMT_TICKS_BACKLOG_MAX - most ticks a REINJECT device holds to deliver. */
#define VMT_TICKS_BACKLOG_MAX 100000u

/**
 * VMT_DEV_MIN_PERIOD_NS - the shortest interrupt period a guest can program,
 * unless the VMM lowers it in struct vmt_dev_config (QEMU's ptimer keeps
 * 10 us too).  Counters still count at the programmed rate; only how often
 * the interrupt is raised is limited.
 */
#define VMT_DEV_MIN_PERIOD_NS 10000u

/** VMT_DEV_NAME_MAX - longest device name, in bytes, without the NUL. */
#define VMT_DEV_NAME_MAX 63

/**
 * struct vmt_dev_config - the part of every device's configuration that is
 * common; the first member (named dev) of each struct vmt_<dev>_config.
 * @name: the device's name for inspect, its timers and its unit (NULL: the
 *	device's default, e.g. "pit"); printable ASCII but '"' and '\\'
 * @irq: drives the device's interrupt lines (NULL: interrupts are dropped,
 *	e.g. an emulator that polls status registers)
 * @irq_opaque: passed to @irq
 * @ticks: the missed-tick policy of the device's periodic interrupts
 * @min_period_ns: the shortest interrupt period (0: VMT_DEV_MIN_PERIOD_NS);
 *	tests may lower it to 1
 */
struct vmt_dev_config {
	const char *name;
	vmt_irq_fn irq;
	void *irq_opaque;
	enum vmt_tick_policy ticks;
	vmt_ns min_period_ns;
};

/**
 * struct vmt_dev_stats - what a device's periodic interrupt did (host-side
 * counters, not saved).
 * @ticks: periods that elapsed on the VM clock while armed and that the
 *	device has handed to its tick policy
 * @raised: interrupts the controller took
 * @coalesced: raises the controller reported coalesced
 * @lost: ticks that will never be delivered (merged by COALESCE or DELAY,
 *	coalesced under those policies, or over the REINJECT backlog cap)
 * @backlog: ticks handed to the policy but neither taken nor lost yet: the
 *	REINJECT backlog and edges on their way to the controller
 * @due: periods already elapsed on the VM clock that the device has not
 *	handed to its policy yet (its loop thread is late, or the clock
 *	stopped first); they are counted in @ticks when the device next looks
 *
 * Every tick is in exactly one place: @ticks == @raised + @lost + @backlog,
 * and @backlog + @due is what the guest is owed at this instant (a VMM
 * adds what its interrupt controller still holds).  A device reads all of
 * it under its lock, so the sum does not tear across a concurrent expiry.
 */
struct vmt_dev_stats {
	uint64_t ticks;
	uint64_t raised;
	uint64_t coalesced;
	uint64_t lost;
	uint64_t backlog;
	uint64_t due;
};

/**
 * vmt_tick_policy_name() - the name of a policy ("coalesce", "reinject",
 * "delay").
 * @p: the policy
 *
 * Context: any thread.
 * Return: a static string, "unknown" for a value outside the enum.
 */
VMT_EXPORT const char *vmt_tick_policy_name(enum vmt_tick_policy p);

VMT_END_DECLS

#endif /* VMTIME_DEVICE_H */
