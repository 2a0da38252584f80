/* SPDX-License-Identifier: MIT */
/*
 * vmtime/pmtimer.h - the ACPI power management timer and the PM1 event
 * registers it reports through, on the VM clock.
 *
 * The PM timer is the clocksource a guest falls back to and calibrates
 * against (ACPI 6.5, 4.8.3.3): a free-running 24-bit (or 32-bit,
 * FADT.TMR_VAL_EXT) counter at 3.579545 MHz whose most significant bit
 * toggling sets TMR_STS in PM1_STS, raising the SCI while TMR_EN is set.
 * Here the counter is a function of VMT_CLOCK_VM: frozen while the VM is
 * paused, continuous across a snapshot.
 *
 * The register block is laid out as on the PIIX4 and ICH chipsets (and so
 * as QEMU's): one I/O block whose base a FADT gives as PM1a_EVT_BLK, with
 * PM1a_CNT_BLK = base + 4 and PM_TMR_BLK = base + 8:
 *
 *	offset	size	register
 *	0x00	2	PM1_STS  (write 1 to clear; TMR_STS is bit 0)
 *	0x02	2	PM1_EN   (TMR_EN is bit 0)
 *	0x04	2	PM1_CNT  (stored; SCI_EN is bit 0)
 *	0x08	4	PM_TMR   (read-only)
 *
 * The 16-bit registers take 1- and 2-byte accesses (a byte at offsets 0-5,
 * a word at 0, 2 and 4); PM_TMR takes 4-byte reads at 8.  Other offsets
 * and sizes are -EINVAL.
 *
 * Line 0 is the SCI, a level: high while PM1_STS & PM1_EN & TMR_STS (the
 * other status and enable bits are stored for the guest only: power
 * button, global lock and the like are the VMM's business).  The SCI is
 * raised whatever SCI_EN says, as QEMU does (a VM has no SMI handler to
 * route it to).
 */
#ifndef VMTIME_PMTIMER_H
#define VMTIME_PMTIMER_H

#include <stdint.h>
#include <stdio.h>

#include "common.h"
#include "device.h"
#include "loop.h"
#include "snapshot.h"
#include "time.h"
#include "units.h"

VMT_BEGIN_DECLS

/** VMT_PMTIMER_FREQ_HZ - the PM timer's clock (ACPI: 3.579545 MHz). */
#define VMT_PMTIMER_FREQ_HZ 3579545u

/* Register offsets from the PM base (PM1a_EVT_BLK). */
#define VMT_PMTIMER_PM1_STS 0x00
#define VMT_PMTIMER_PM1_EN 0x02
#define VMT_PMTIMER_PM1_CNT 0x04
#define VMT_PMTIMER_PM_TMR 0x08
/** VMT_PMTIMER_BLOCK_LEN - bytes of the block (the FADT's lengths: 4, 2, 4). */
#define VMT_PMTIMER_BLOCK_LEN 0x0c

/* Bits. */
#define VMT_PMTIMER_TMR_STS 0x0001	/* PM1_STS */
#define VMT_PMTIMER_TMR_EN 0x0001	/* PM1_EN */
#define VMT_PMTIMER_SCI_EN 0x0001	/* PM1_CNT */

/** VMT_PMTIMER_SAVE_VERSION - the payload version of the device's unit. */
#define VMT_PMTIMER_SAVE_VERSION 1u

/** typedef vmt_pmtimer - a PM timer with its PM1 registers (opaque). */
typedef struct vmt_pmtimer vmt_pmtimer;

/**
 * struct vmt_pmtimer_config - how to create one (vmt_pmtimer_config_init()).
 * @dev: the common part; dev.name defaults to "pmtimer"; dev.irq drives
 *	line 0 (the SCI, a level).  TMR_STS is a flag and the SCI a level:
 *	there is nothing to coalesce or reinject, so dev.ticks must be a
 *	valid policy but changes nothing.
 * @ext32: 1 for a 32-bit counter (FADT flag TMR_VAL_EXT), 0 for 24 bits
 */
struct vmt_pmtimer_config {
	struct vmt_dev_config dev;
	int ext32;
};

/**
 * vmt_pmtimer_config_init() - fill a config with the defaults (24 bits).
 * @cfg: the config
 *
 * Context: any.
 * Return: 0, -EINVAL for a NULL @cfg.
 */
VMT_EXPORT int vmt_pmtimer_config_init(struct vmt_pmtimer_config *cfg);

/**
 * vmt_pmtimer_new() - create a PM timer.
 * @loop: the loop whose thread sets TMR_STS; its source's VM clock drives
 *	the counter
 * @cfg: the configuration
 * @ret: where the device is written, only on success
 *
 * The counter reads floor(VM time * 3.579545 MHz) modulo 2^24 (2^32), the
 * registers are 0.
 *
 * Context: any thread.
 * Return: 0; -EINVAL for a NULL argument, an unknown tick policy, @ext32
 * other than 0 or 1 or a name with a character other than printable ASCII
 * but '"' and '\\'; -ENAMETOOLONG for a name over VMT_DEV_NAME_MAX;
 * -ENOMEM.
 */
VMT_EXPORT int vmt_pmtimer_new(vmt_loop *loop, const struct vmt_pmtimer_config *cfg,
			       vmt_pmtimer **ret);

/**
 * vmt_pmtimer_free() - destroy a PM timer.
 * @pm: the device, or NULL
 *
 * Context: any thread but the device's irq callback; not concurrently with
 * other calls on @pm.
 * Return: NULL.
 */
VMT_EXPORT vmt_pmtimer *vmt_pmtimer_free(vmt_pmtimer *pm);

/**
 * vmt_pmtimer_read() - a guest's port read.
 * @pm: the device
 * @offset: from the PM base (see the layout above)
 * @size: 1, 2 or 4 as the layout allows
 * @val: where the value is written, only on success
 *
 * Context: any thread (vCPU threads); may drive the SCI (a toggle that was
 * due) after the device's lock is dropped.
 * Return: 0, -EINVAL for a NULL argument or an offset and size the layout
 * does not have.
 */
VMT_EXPORT int vmt_pmtimer_read(vmt_pmtimer *pm, uint64_t offset, unsigned size, uint64_t *val);

/**
 * vmt_pmtimer_write() - a guest's port write.
 * @pm: the device
 * @offset: as for vmt_pmtimer_read()
 * @size: as for vmt_pmtimer_read()
 * @val: the value (bits above @size ignored); PM1_STS bits written 1 are
 *	cleared, PM_TMR ignores writes
 *
 * Context: as vmt_pmtimer_read().
 * Return: 0, -EINVAL for a NULL @pm or an offset and size the layout does
 * not have.
 */
VMT_EXPORT int vmt_pmtimer_write(vmt_pmtimer *pm, uint64_t offset, unsigned size, uint64_t val);

/**
 * vmt_pmtimer_reset() - registers back to 0 (the SCI drops); the counter
 * runs on, as the hardware's does across a reset.
 * @pm: the device
 *
 * Context: any thread; may drive the SCI after the lock is dropped.
 * Return: 0, -EINVAL for a NULL @pm.
 */
VMT_EXPORT int vmt_pmtimer_reset(vmt_pmtimer *pm);

/**
 * vmt_pmtimer_save() - write the device's state as one group of fields.
 * @pm: the device
 * @w: the writer
 * @id: the field id of the group
 *
 * Saves the counter value at the save's VM time and the registers.
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL argument, or the writer's errno.
 */
VMT_EXPORT int vmt_pmtimer_save(vmt_pmtimer *pm, vmt_fields_writer *w, uint32_t id);

/**
 * vmt_pmtimer_restore() - load the group written by vmt_pmtimer_save().
 * @pm: the device (its VM clock already restored)
 * @r: the reader
 * @id: the group's field id
 *
 * The counter goes on from the saved value at the restored VM time; the
 * SCI is driven to what the restored registers say.  On error the device
 * is unchanged.
 *
 * Context: any thread; may drive the SCI after the lock is dropped.
 * Return: 0; -EINVAL for a NULL argument or a counter width other than the
 * device's; -ENOENT if the group or a field is missing; -EBADMSG for a
 * field of the wrong type or an impossible value.
 */
VMT_EXPORT int vmt_pmtimer_restore(vmt_pmtimer *pm, const vmt_fields_reader *r, uint32_t id);

/**
 * vmt_pmtimer_inspect() - write the device's state as one JSON object.
 * @pm: the device
 * @out: the stream
 *
 * Fields: name, bits (24 or 32), counter, pm1_sts, pm1_en, pm1_cnt, sci,
 * stats.
 *
 * Context: any thread; the stream is written after the lock is dropped.
 * Return: 0, -EINVAL for a NULL argument, -EIO if writing failed.
 */
VMT_EXPORT int vmt_pmtimer_inspect(vmt_pmtimer *pm, FILE *out);

/**
 * vmt_pmtimer_get_stats() - what the overflow flag did.
 * @pm: the device
 * @stats: ticks are MSB toggles, raised the times TMR_STS went from 0 to
 *	1, lost the toggles that found it still set, due toggles not yet
 *	seen; coalesced and backlog stay 0
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL argument.
 */
VMT_EXPORT int vmt_pmtimer_get_stats(vmt_pmtimer *pm, struct vmt_dev_stats *stats);

/**
 * vmt_pmtimer_add_unit() - register the device as a unit depending on
 * "vmtime".
 * @pm: the device; must outlive the unit
 * @units: the set, holding the keeper's unit
 * @ret: where the unit is written, only on success (may be NULL)
 *
 * The unit is named after the device; reset, save and restore (field group
 * 1, payload version VMT_PMTIMER_SAVE_VERSION; another version fails the
 * restore with -EPROTONOSUPPORT) and inspect call the functions above.
 *
 * Context: as vmt_units_add().
 * Return: 0; -EINVAL for a NULL @pm or @units; -ENOENT if the set has no
 * "vmtime" unit; or an errno of vmt_units_add() (-EEXIST, -EBUSY, -ENOMEM).
 */
VMT_EXPORT int vmt_pmtimer_add_unit(vmt_pmtimer *pm, vmt_units *units, vmt_unit **ret);

VMT_END_DECLS

#endif /* VMTIME_PMTIMER_H */
