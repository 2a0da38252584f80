/* SPDX-License-Identifier: MIT */
/*
 * vmtime/hpet.h - the High Precision Event Timer (IA-PC HPET 1.0a).
 *
 * The HPET is the clocksource and the broadcast/legacy tick of PC guests
 * that find it in the ACPI HPET table: a 64-bit up-counter and 3 to 32
 * comparators, each one-shot or periodic, 32- or 64-bit, edge or level,
 * routed to an I/O APIC input or (legacy replacement) to IRQ0 and IRQ8.
 * vmt_hpet is that register block on the VM clock.  See docs/devices/hpet.md.
 *
 * Guarantees (besides those of device.h):
 *  - the main counter advances exactly one per COUNTER_CLK_PERIOD (the
 *    femtoseconds the capabilities register announces) of VM time while
 *    ENABLE_CNF is set: the value read at a VM time is exact (128-bit
 *    arithmetic, no drift), frozen while the VM is paused or the counter
 *    halted, and resumed exactly by a restore;
 *  - a comparator matches when the counter counts onto its value (its low
 *    32 bits in 32-bit mode): a matching value written or reached while
 *    halted does not match until the counter comes round again;
 *  - interrupts of one comparator are raised at most once per
 *    min_period_ns, so a 1-tick period cannot make the loop spin; the
 *    counter, the comparators and the status bits stay exact.
 *
 * Registers are at their offsets in the 1 KiB block (VMT_HPET_*); every
 * register is 64-bit and may be accessed as 8 bytes, or as 4 bytes at
 * either half.  Reserved offsets inside the block read 0 and ignore writes.
 *
 * Interrupt lines: 0-31 are the I/O APIC inputs of Tn_INT_ROUTE_CNF;
 * VMT_HPET_LINE_IRQ0 and VMT_HPET_LINE_IRQ8 are the ISA IRQs timers 0 and 1
 * drive under legacy replacement (LEG_RT_CNF), which then replace the
 * PIT's and the RTC's outputs (the VMM gates those).  Edge comparators
 * pulse; level comparators assert their line while their status bit is
 * set and while their interrupt is enabled; clearing the status bit
 * deasserts it.
 */
#ifndef VMTIME_HPET_H
#define VMTIME_HPET_H

#include <stdint.h>
#include <stdio.h>

#include "common.h"
#include "device.h"
#include "loop.h"
#include "snapshot.h"
#include "units.h"

VMT_BEGIN_DECLS

/** typedef vmt_hpet - an HPET block (opaque). */
typedef struct vmt_hpet vmt_hpet;

/* Register offsets in the block (HPET 1.0a, section 2.3). */
#define VMT_HPET_GCAP_ID 0x000
#define VMT_HPET_GEN_CONF 0x010
#define VMT_HPET_GINTR_STA 0x020
#define VMT_HPET_MAIN_COUNTER 0x0f0
/* Tn_CONF_CAP, Tn_COMPARATOR and Tn_FSB_INT_ROUTE (reads 0) of comparator n. */
#define VMT_HPET_TIMER_CONF(n) (0x100 + 0x20 * (n))
#define VMT_HPET_TIMER_CMP(n) (0x108 + 0x20 * (n))
#define VMT_HPET_TIMER_FSB(n) (0x110 + 0x20 * (n))
/**
 * VMT_HPET_BLOCK_SIZE - bytes of MMIO the block decodes: the specification's
 * 1 KiB, which holds comparators 0-23; a block with more decodes up to
 * VMT_HPET_TIMER_CONF(timers) (comparator N is at 0x100 + 0x20 * N).
 */
#define VMT_HPET_BLOCK_SIZE 0x400

/* General Configuration bits. */
#define VMT_HPET_ENABLE_CNF (1u << 0)
#define VMT_HPET_LEG_RT_CNF (1u << 1)

/* Tn_CONF_CAP bits. */
#define VMT_HPET_TN_INT_TYPE_CNF (1u << 1)	/* 1: level */
#define VMT_HPET_TN_INT_ENB_CNF (1u << 2)
#define VMT_HPET_TN_TYPE_CNF (1u << 3)	/* 1: periodic */
#define VMT_HPET_TN_PER_INT_CAP (1u << 4)
#define VMT_HPET_TN_SIZE_CAP (1u << 5)
#define VMT_HPET_TN_VAL_SET_CNF (1u << 6)
#define VMT_HPET_TN_32MODE_CNF (1u << 8)
#define VMT_HPET_TN_INT_ROUTE_SHIFT 9
#define VMT_HPET_TN_INT_ROUTE_CNF (0x1fu << 9)
#define VMT_HPET_TN_FSB_EN_CNF (1u << 14)
#define VMT_HPET_TN_FSB_INT_DEL_CAP (1u << 15)
#define VMT_HPET_TN_INT_ROUTE_CAP_SHIFT 32

/* Interrupt lines beyond the I/O APIC inputs 0-31: the legacy ISA IRQs. */
#define VMT_HPET_LINE_IRQ0 32u
#define VMT_HPET_LINE_IRQ8 40u

/** VMT_HPET_FREQ_DEFAULT - 14.31818 MHz, the PC's HPET clock. */
#define VMT_HPET_FREQ_DEFAULT UINT64_C(14318180)
/** VMT_HPET_VENDOR_ID - the VENDOR_ID the capabilities register reports. */
#define VMT_HPET_VENDOR_ID 0x8086u
/** VMT_HPET_ROUTE_CAP_DEFAULT - I/O APIC inputs 20-23, as on Intel chipsets. */
#define VMT_HPET_ROUTE_CAP_DEFAULT UINT32_C(0x00f00000)
/** VMT_HPET_TIMERS_MAX - most comparators a block has (NUM_TIM_CAP + 1). */
#define VMT_HPET_TIMERS_MAX 32u

/**
 * struct vmt_hpet_config - how to create an HPET.
 * @dev: the common part; dev.name defaults to "hpet"
 * @freq_hz: the counter's frequency, 10 MHz to 1 GHz (0: the default);
 *	the block announces and counts at the period 10^15 / @freq_hz fs
 *	rounded to the nearest femtosecond (69841279 fs by default)
 * @timers: comparators, 3 to VMT_HPET_TIMERS_MAX (0: 3)
 * @route_cap: Tn_INT_ROUTE_CAP of every comparator: the I/O APIC inputs
 *	(bit n: input n) a guest may route to (0: VMT_HPET_ROUTE_CAP_DEFAULT)
 */
struct vmt_hpet_config {
	struct vmt_dev_config dev;
	uint64_t freq_hz;
	unsigned timers;
	uint32_t route_cap;
};

/**
 * vmt_hpet_config_init() - fill a config with the defaults.
 * @cfg: the config
 *
 * Context: any.
 * Return: 0, -EINVAL for a NULL @cfg.
 */
VMT_EXPORT int vmt_hpet_config_init(struct vmt_hpet_config *cfg);

/**
 * vmt_hpet_new() - create an HPET in its power-up state.
 * @loop: the loop whose thread runs the device's timer
 * @cfg: the configuration
 * @ret: where the device is written, only on success
 *
 * Power-up: counter halted at 0, legacy replacement off, status 0, every
 * comparator one-shot, edge, disabled, 64-bit, route 0, comparator all
 * ones.
 *
 * Context: any thread.
 * Return: 0; -EINVAL for a NULL argument, an unknown tick policy, a
 * frequency under 10 MHz (a period over 100 ns, which the specification
 * forbids) or over 1 GHz, a comparator count outside 3..32 or a bad name
 * (as vmt_rtc_new()); -ENAMETOOLONG; -ENOMEM.
 */
VMT_EXPORT int vmt_hpet_new(vmt_loop *loop, const struct vmt_hpet_config *cfg, vmt_hpet **ret);

/**
 * vmt_hpet_free() - destroy an HPET.
 * @hpet: the device, or NULL
 *
 * Context: any thread but the device's irq callback; not concurrently with
 * other calls on @hpet.
 * Return: NULL.
 */
VMT_EXPORT vmt_hpet *vmt_hpet_free(vmt_hpet *hpet);

/**
 * vmt_hpet_read() - a guest's MMIO read.
 * @hpet: the device
 * @offset: from the block's base, inside the block (VMT_HPET_BLOCK_SIZE),
 *	aligned to @size
 * @size: 4 (either half of a register) or 8
 * @val: where the value is written, only on success
 *
 * Context: any thread (the vCPU's); may call the irq callback after the
 * device's lock is dropped.
 * Return: 0; -EINVAL for a NULL argument, a size other than 4 or 8, an
 * offset outside the block or not aligned to @size.
 */
VMT_EXPORT int vmt_hpet_read(vmt_hpet *hpet, uint64_t offset, unsigned size, uint64_t *val);

/**
 * vmt_hpet_write() - a guest's MMIO write.
 * @hpet: the device
 * @offset: as vmt_hpet_read()
 * @size: as vmt_hpet_read()
 * @val: the value (a 4-byte write uses bits 31-0); read-only bits and
 *	registers ignore it; the main counter only takes it while halted
 *
 * Context: as vmt_hpet_read().
 * Return: as vmt_hpet_read().
 */
VMT_EXPORT int vmt_hpet_write(vmt_hpet *hpet, uint64_t offset, unsigned size, uint64_t val);

/**
 * vmt_hpet_reset() - back to the power-up state; asserted lines deassert.
 * @hpet: the device
 *
 * The REINJECT backlog and pulses still on their way count as lost.
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL @hpet.
 */
VMT_EXPORT int vmt_hpet_reset(vmt_hpet *hpet);

/**
 * vmt_hpet_save() - write the device's state as one group of fields.
 * @hpet: the device
 * @w: the fields writer
 * @id: the group's field id
 *
 * A running counter is saved relative to the current VM time, so it
 * resumes exactly where VM time resumes.
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL argument, or the writer's errno.
 */
VMT_EXPORT int vmt_hpet_save(vmt_hpet *hpet, vmt_fields_writer *w, uint32_t id);

/**
 * vmt_hpet_restore() - load the group written by vmt_hpet_save().
 * @hpet: the device, with as many comparators as the saved one
 * @r: the reader
 * @id: the group's field id
 *
 * Nothing is raised by the restore itself: the level lines the saved
 * status asserts are taken as already asserted (the VMM restores its
 * interrupt controller with them).  On error the device is unchanged.
 *
 * Context: any thread.
 * Return: 0; -EINVAL for a NULL argument; -ENOENT for a missing group or
 * field; -EBADMSG for a field of the wrong type, an unknown state version,
 * another comparator count or an impossible value.
 */
VMT_EXPORT int vmt_hpet_restore(vmt_hpet *hpet, const vmt_fields_reader *r, uint32_t id);

/**
 * vmt_hpet_inspect() - write the device's state as one JSON object.
 * @hpet: the device
 * @out: the stream
 *
 * Fields: name, period_fs, enabled, legacy, counter, status, ticks (the
 * policy), timers (an array of objects: config, comparator, period, mode,
 * level, enabled, mode32, line (-1: none), backlog), stats.
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL argument, -EIO if writing failed.
 */
VMT_EXPORT int vmt_hpet_inspect(vmt_hpet *hpet, FILE *out);

/**
 * vmt_hpet_get_stats() - what the comparators' interrupts did, summed over
 * every comparator (each match is a tick).
 * @hpet: the device
 * @stats: where the counters are written
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL argument.
 */
VMT_EXPORT int vmt_hpet_get_stats(vmt_hpet *hpet, struct vmt_dev_stats *stats);

/**
 * vmt_hpet_add_unit() - register the device as a unit depending on "vmtime".
 * @hpet: the device; must outlive the unit
 * @units: the set
 * @ret: where the unit is written, only on success (may be NULL)
 *
 * Named after the device; reset, save/restore (field group 1, payload
 * version 1) and inspect as above.
 *
 * Context: as vmt_units_add().
 * Return: 0; -EINVAL for a NULL @hpet or @units; -ENOENT if the set has no
 * "vmtime" unit; or an errno of vmt_units_add().
 */
VMT_EXPORT int vmt_hpet_add_unit(vmt_hpet *hpet, vmt_units *units, vmt_unit **ret);

VMT_END_DECLS

#endif /* VMTIME_HPET_H */
