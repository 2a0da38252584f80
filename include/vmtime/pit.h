/* SPDX-License-Identifier: MIT */
/*
 * vmtime/pit.h - an Intel 8254 programmable interval timer (PC ports
 * 0x40-0x43 and the channel 2 bits of port 0x61) on the VM clock.
 *
 * The PIT is what a PC guest counts time with and calibrates its TSC
 * against, so it must freeze while the VM is paused, keep exact counts
 * across a snapshot and not lose the ticks a tick-counting guest relies on.
 * Every counter value is computed from VMT_CLOCK_VM at 1193182 Hz (no timer
 * runs to make a counter count); only channel 0's interrupt (IRQ0) uses a
 * timer, armed at the next rising edge of OUT0.
 *
 * Guarantees (beyond those of device.h):
 *  - counts, OUT levels and the status byte are the 8254 datasheet's, to the
 *    input clock: a count N written at VM time t is loaded on the first
 *    clock edge after t and reaches 0 N clocks later (mode 0's OUT rises
 *    N + 1 clock edges after the write, as the datasheet says);
 *  - every rising edge of OUT0 is one tick of IRQ0 (line 0, an edge):
 *    once in modes 0, 1, 4 and 5, every period in modes 2 and 3, at most
 *    one per min_period_ns (a shorter period raises IRQ0 every k-th
 *    period, the smallest k that is long enough);
 *  - ticks are accounted on the device's own grid, read from the VM clock
 *    under the device's lock: a register write or a policy change first
 *    hands the ticks already due to the policy in force, so none is lost or
 *    counted twice whatever the loop thread is doing (vmt_dev_stats.due).
 *
 * Not emulated: the speaker's sound, the DRAM refresh (port 0x61 bit 4 only
 * toggles every 15.085 us of VM time), an OUT0 rising edge that a gate
 * change alone causes (modes 2 and 3 drive OUT high when the gate falls;
 * only edges at terminal count raise IRQ0).  Gates 0 and 1 are tied high
 * as on a PC unless vmt_pit_set_gate() drives them.
 */
#ifndef VMTIME_PIT_H
#define VMTIME_PIT_H

#include <stdint.h>
#include <stdio.h>

#include "common.h"
#include "device.h"
#include "loop.h"
#include "snapshot.h"
#include "time.h"
#include "units.h"

VMT_BEGIN_DECLS

/** VMT_PIT_FREQ_HZ - the 8254's input clock on a PC (14.31818 MHz / 12). */
#define VMT_PIT_FREQ_HZ 1193182u

/* Register offsets from port 0x40. */
#define VMT_PIT_COUNTER0 0x00	/* port 0x40 */
#define VMT_PIT_COUNTER1 0x01	/* port 0x41 */
#define VMT_PIT_COUNTER2 0x02	/* port 0x42 */
#define VMT_PIT_CONTROL 0x03	/* port 0x43, write-only (reads 0xff) */
#define VMT_PIT_PORT61 0x21	/* port 0x61, the channel 2 bits of system control port B */

/* Port 0x61 bits. */
#define VMT_PIT_61_GATE2 0x01	/* r/w: channel 2's gate */
#define VMT_PIT_61_SPKR 0x02	/* r/w: speaker data enable (stored only) */
#define VMT_PIT_61_RW_MASK 0x0f	/* bits 2-3 (parity/channel check enables) are stored */
#define VMT_PIT_61_REFRESH 0x10	/* r: toggles every 15.085 us of VM time */
#define VMT_PIT_61_OUT2 0x20	/* r: channel 2's OUT */

/** VMT_PIT_REFRESH_NS - the half period of port 0x61 bit 4. */
#define VMT_PIT_REFRESH_NS 15085u

/** VMT_PIT_SAVE_VERSION - the payload version of vmt_pit_add_unit()'s unit. */
#define VMT_PIT_SAVE_VERSION 1u

/** typedef vmt_pit - an 8254 (opaque). */
typedef struct vmt_pit vmt_pit;

/**
 * struct vmt_pit_config - how to create a PIT (vmt_pit_config_init()).
 * @dev: the common part: dev.name defaults to "pit"; dev.irq drives line
 *	0 (IRQ0, edges); dev.ticks is the policy of IRQ0's ticks
 * @retry_ns: under VMT_TICKS_REINJECT, how long after an interrupt the
 *	next one of the backlog is raised (0: dev.min_period_ns, or its
 *	default); never below the minimum period
 */
struct vmt_pit_config {
	struct vmt_dev_config dev;
	vmt_ns retry_ns;
};

/**
 * vmt_pit_config_init() - fill a config with the defaults (no irq, "pit",
 * COALESCE, the default minimum period).
 * @cfg: the config
 *
 * Context: any.
 * Return: 0, -EINVAL for a NULL @cfg.
 */
VMT_EXPORT int vmt_pit_config_init(struct vmt_pit_config *cfg);

/**
 * vmt_pit_new() - create a PIT in its power-on state.
 * @loop: the loop whose thread raises IRQ0; its source's VM clock drives
 *	the counters
 * @cfg: the configuration
 * @ret: where the device is written, only on success
 *
 * At power-on no channel is programmed: data writes are ignored until a
 * control word selects an access mode, counters read 0, gates 0 and 1 are
 * high and gate 2 (port 0x61 bit 0) is low.
 *
 * Context: any thread.
 * Return: 0; -EINVAL for a NULL argument, an unknown tick policy or a name
 * with a character other than printable ASCII but '"' and '\\';
 * -ENAMETOOLONG for a name over VMT_DEV_NAME_MAX; -ENOMEM.
 */
VMT_EXPORT int vmt_pit_new(vmt_loop *loop, const struct vmt_pit_config *cfg, vmt_pit **ret);

/**
 * vmt_pit_free() - destroy a PIT.
 * @pit: the device, or NULL
 *
 * Waits for the device's timer callback if it runs on another thread.
 *
 * Context: any thread but the device's irq callback; not concurrently with
 * other calls on @pit.
 * Return: NULL.
 */
VMT_EXPORT vmt_pit *vmt_pit_free(vmt_pit *pit);

/**
 * vmt_pit_read() - a guest's port read.
 * @pit: the device
 * @offset: VMT_PIT_COUNTER0..VMT_PIT_CONTROL (ports 0x40-0x43) or
 *	VMT_PIT_PORT61
 * @size: 1
 * @val: where the byte is written, only on success
 *
 * A counter read returns, in this order, a latched status byte, then a
 * latched count, then the live count, one byte per read as the channel's
 * access mode says (the word mode alternates low and high bytes).
 *
 * Context: any thread (vCPU threads); may call the irq callback (ticks that
 * were due) after the device's lock is dropped.
 * Return: 0, -EINVAL for a NULL argument, another offset or a size other
 * than 1.
 */
VMT_EXPORT int vmt_pit_read(vmt_pit *pit, uint64_t offset, unsigned size, uint64_t *val);

/**
 * vmt_pit_write() - a guest's port write.
 * @pit: the device
 * @offset: as for vmt_pit_read()
 * @size: 1
 * @val: the byte (bits above 7 are ignored)
 *
 * Context: as vmt_pit_read().
 * Return: 0, -EINVAL for a NULL @pit, another offset or a size other than
 * 1.
 */
VMT_EXPORT int vmt_pit_write(vmt_pit *pit, uint64_t offset, unsigned size, uint64_t val);

/**
 * vmt_pit_set_gate() - drive a channel's GATE input.
 * @pit: the device
 * @ch: 0-2 (gate 2 is also port 0x61 bit 0)
 * @level: 0 or 1 (any non-zero value is 1)
 *
 * For boards that do not tie gates 0 and 1 high.  A rising edge triggers
 * modes 1 and 5 and reloads modes 2 and 3; a low gate suspends counting in
 * modes 0, 2, 3 and 4 and holds OUT high in modes 2 and 3.
 *
 * Context: as vmt_pit_read().
 * Return: 0, -EINVAL for a NULL @pit or @ch above 2.
 */
VMT_EXPORT int vmt_pit_set_gate(vmt_pit *pit, unsigned ch, int level);

/**
 * vmt_pit_set_policy() - change the policy of IRQ0's ticks.
 * @pit: the device
 * @policy: the new policy
 *
 * The ticks already due (vmt_dev_stats.due) are first handed to the old
 * policy; a REINJECT backlog left behind by another policy is lost (counted
 * in vmt_dev_stats.lost).  The period grid is kept.
 *
 * Context: any thread; may call the irq callback after the lock is dropped.
 * Return: 0, -EINVAL for a NULL @pit or an unknown policy.
 */
VMT_EXPORT int vmt_pit_set_policy(vmt_pit *pit, enum vmt_tick_policy policy);

/**
 * vmt_pit_loaded_at() - when a channel last started counting.
 * @pit: the device
 * @ch: 0-2
 * @t: where the VM time of the last count load (or gate trigger) is written
 *
 * A diagnostic for the host (not saved): a VMM counts the ticks a guest
 * should have seen from the moment it started the PIT.
 *
 * Context: any thread.
 * Return: 0 (VMT_NS_NEVER in *@t if the channel never counted since it was
 * created, reset or restored), -EINVAL for a NULL argument or @ch above 2.
 */
VMT_EXPORT int vmt_pit_loaded_at(vmt_pit *pit, unsigned ch, vmt_ns *t);

/**
 * vmt_pit_reset() - return to the power-on state (see vmt_pit_new()).
 * @pit: the device
 *
 * A REINJECT backlog is dropped (not counted as lost: the guest reset).
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL @pit.
 */
VMT_EXPORT int vmt_pit_reset(vmt_pit *pit);

/**
 * vmt_pit_save() - write the device's state as one group of snapshot fields.
 * @pit: the device
 * @w: the writer (a unit's save)
 * @id: the field id of the group
 *
 * Counter phases are written relative to the VM clock, so a restore onto a
 * clock restored with either policy resumes every count where it was.  The
 * REINJECT backlog and the ticks due are saved as owed ticks.
 *
 * Context: any thread (the VM stopped, for a consistent snapshot).
 * Return: 0, -EINVAL for a NULL argument, or the writer's errno.
 */
VMT_EXPORT int vmt_pit_save(vmt_pit *pit, vmt_fields_writer *w, uint32_t id);

/**
 * vmt_pit_restore() - load the group written by vmt_pit_save().
 * @pit: the device (its VM clock already restored)
 * @r: the reader
 * @id: the group's field id
 *
 * Nothing is raised by the restore itself; owed ticks are delivered under
 * the device's policy once the clock runs.  On error the device is
 * unchanged.
 *
 * Context: any thread.
 * Return: 0; -EINVAL for a NULL argument; -ENOENT if the group or a field
 * is missing; -EBADMSG for a field of the wrong type or an impossible value.
 */
VMT_EXPORT int vmt_pit_restore(vmt_pit *pit, const vmt_fields_reader *r, uint32_t id);

/**
 * vmt_pit_inspect() - write the device's state as one JSON object.
 * @pit: the device
 * @out: the stream
 *
 * Fields: name, ticks (the policy), channels (an array of {mode, rw, bcd,
 * gate, out, count, value, null_count}), port61, stats.
 *
 * Context: any thread; the stream is written after the lock is dropped.
 * Return: 0, -EINVAL for a NULL argument, -EIO if writing failed.
 */
VMT_EXPORT int vmt_pit_inspect(vmt_pit *pit, FILE *out);

/**
 * vmt_pit_get_stats() - what IRQ0's ticks did.
 * @pit: the device
 * @stats: where the counters are written (see struct vmt_dev_stats)
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL argument.
 */
VMT_EXPORT int vmt_pit_get_stats(vmt_pit *pit, struct vmt_dev_stats *stats);

/**
 * vmt_pit_add_unit() - register the device as a unit depending on "vmtime".
 * @pit: the device; must outlive the unit
 * @units: the set, holding the keeper's unit (vmt_keeper_add_unit())
 * @ret: where the unit is written, only on success (may be NULL)
 *
 * The unit is named after the device; reset is vmt_pit_reset(), save and
 * restore use field group 1 (payload version VMT_PIT_SAVE_VERSION; another
 * version fails the restore with -EPROTONOSUPPORT), inspect
 * vmt_pit_inspect().
 *
 * Context: as vmt_units_add().
 * Return: 0; -EINVAL for a NULL @pit or @units; -ENOENT if the set has no
 * "vmtime" unit; or an errno of vmt_units_add() (-EEXIST, -EBUSY, -ENOMEM).
 */
VMT_EXPORT int vmt_pit_add_unit(vmt_pit *pit, vmt_units *units, vmt_unit **ret);

VMT_END_DECLS

#endif /* VMTIME_PIT_H */
