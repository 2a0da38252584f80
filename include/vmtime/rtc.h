/* SPDX-License-Identifier: MIT */
/*
 * vmtime/rtc.h - the MC146818A real-time clock and CMOS RAM of a PC.
 *
 * The guest reads its wall clock at boot from the RTC, programs its periodic
 * interrupt as a tick (Windows, old Linux) and its alarm as a wake-up; VMMs
 * get the pause, the save/restore and the lost ticks of that device subtly
 * wrong.  vmt_rtc is the chip as its datasheet describes it, counting on the
 * VM clock (docs/devices/rtc.md has the register table and the references).
 *
 * Guarantees (besides those of device.h):
 *  - with the UTC, LOCALTIME and EPOCH bases the guest's date and time count
 *    on VMT_CLOCK_VM: a paused VM finds its RTC where it left it, and a
 *    restore resumes the saved date (plus the time a CATCHUP keeper adds);
 *    the HOST base reads the host's wall clock instead (QEMU's clock=host);
 *  - every register read returns the value the chip holds at that VM time,
 *    whether or not the loop thread has run the device's timer yet: update
 *    cycles, flags and periodic ticks are computed from the clock, exactly;
 *  - the device's timer is armed only when an interrupt can follow (an
 *    enabled flag that is clear), so a guest that never acknowledges costs no
 *    wakeups, and the periodic interrupt is raised at most once per
 *    min_period_ns.
 *
 * Ports: offset 0 (port 0x70) selects a register of the first bank (bits
 * 6-0) and holds the NMI-disable bit (bit 7); offset 1 (0x71) reads or
 * writes it; offsets 2 and 3 (0x72/0x73) do the same for CMOS bytes
 * 128-255.  Index ports read back 0xff (they are write-only on a PC).
 *
 * Interrupt: line 0 is IRQ8, edge: a pulse (device.h) each time IRQF in
 * register C goes from 0 to 1.  The chip's IRQ pin is an active-low level
 * that stays asserted until register C is read; on a PC it reaches the PIC
 * as the edge of IRQ8, so a pulse is what the controller sees.  While IRQF
 * is set no new edge happens: a tick that finds its PF flag still set is
 * missed, and the tick policy decides its fate (REINJECT raises it again
 * after the guest reads register C, as QEMU's driftfix=slew does).
 */
#ifndef VMTIME_RTC_H
#define VMTIME_RTC_H

#include <stdint.h>
#include <stdio.h>

#include "common.h"
#include "device.h"
#include "loop.h"
#include "snapshot.h"
#include "units.h"

VMT_BEGIN_DECLS

/** typedef vmt_rtc - an MC146818A RTC with 256 bytes of CMOS (opaque). */
typedef struct vmt_rtc vmt_rtc;

/**
 * enum vmt_rtc_base - where the RTC's date and time come from.
 * @VMT_RTC_BASE_UTC: the host's UTC wall time when the device is created,
 *	then carried on VMT_CLOCK_VM (QEMU -rtc base=utc,clock=vm).  The
 *	default.
 * @VMT_RTC_BASE_LOCALTIME: the host's local time at creation (localtime_r()
 *	is called once, there), then carried on VMT_CLOCK_VM (base=localtime).
 * @VMT_RTC_BASE_HOST: the host's wall clock (VMT_CLOCK_WALL, UTC) plus the
 *	offset the guest set; keeps moving while the VM is paused
 *	(clock=host).  Interrupts still come only while the VM runs.
 * @VMT_RTC_BASE_EPOCH: &vmt_rtc_config.epoch_ns at creation, carried on
 *	VMT_CLOCK_VM: reproducible runs.
 */
enum vmt_rtc_base {
	VMT_RTC_BASE_UTC = 0,
	VMT_RTC_BASE_LOCALTIME = 1,
	VMT_RTC_BASE_HOST = 2,
	VMT_RTC_BASE_EPOCH = 3,
};

/* Register indexes of the first bank (datasheet "Address map"). */
#define VMT_RTC_SECONDS 0x00
#define VMT_RTC_SECONDS_ALARM 0x01
#define VMT_RTC_MINUTES 0x02
#define VMT_RTC_MINUTES_ALARM 0x03
#define VMT_RTC_HOURS 0x04
#define VMT_RTC_HOURS_ALARM 0x05
#define VMT_RTC_DAY_OF_WEEK 0x06
#define VMT_RTC_DATE 0x07
#define VMT_RTC_MONTH 0x08
#define VMT_RTC_YEAR 0x09
#define VMT_RTC_REG_A 0x0a
#define VMT_RTC_REG_B 0x0b
#define VMT_RTC_REG_C 0x0c
#define VMT_RTC_REG_D 0x0d
/** VMT_RTC_CENTURY_DEFAULT - the ACPI FADT's usual century byte. */
#define VMT_RTC_CENTURY_DEFAULT 0x32

/* Register A */
#define VMT_RTC_A_UIP 0x80
#define VMT_RTC_A_DV_MASK 0x70
#define VMT_RTC_A_DV_32K 0x20	/* the only divider that keeps time */
#define VMT_RTC_A_RS_MASK 0x0f
/* Register B */
#define VMT_RTC_B_SET 0x80
#define VMT_RTC_B_PIE 0x40
#define VMT_RTC_B_AIE 0x20
#define VMT_RTC_B_UIE 0x10
#define VMT_RTC_B_SQWE 0x08
#define VMT_RTC_B_DM 0x04	/* binary, not BCD */
#define VMT_RTC_B_24H 0x02
#define VMT_RTC_B_DSE 0x01	/* reads back as written; no daylight-saving rule is applied */
/* Register C */
#define VMT_RTC_C_IRQF 0x80
#define VMT_RTC_C_PF 0x40
#define VMT_RTC_C_AF 0x20
#define VMT_RTC_C_UF 0x10
/* Register D */
#define VMT_RTC_D_VRT 0x80

/** VMT_RTC_CMOS_SIZE - CMOS bytes, both banks. */
#define VMT_RTC_CMOS_SIZE 256

/**
 * struct vmt_rtc_config - how to create an RTC (vmt_rtc_config_init()).
 * @dev: the common part; dev.name defaults to "rtc"
 * @base: enum vmt_rtc_base
 * @epoch_ns: for VMT_RTC_BASE_EPOCH, the time the RTC shows at creation, in
 *	ns since 1970-01-01 00:00:00 (negative before 1970); years 1900-2199
 * @century_index: the CMOS byte holding the century (BCD or binary like the
 *	other registers), kept up to date by the device;
 *	VMT_RTC_CENTURY_DEFAULT, or 0 for none (years are then 19xx for 70-99
 *	and 20xx for 00-69); 14-127 otherwise
 */
struct vmt_rtc_config {
	struct vmt_dev_config dev;
	enum vmt_rtc_base base;
	int64_t epoch_ns;
	unsigned century_index;
};

/**
 * vmt_rtc_config_init() - fill a config with the defaults.
 * @cfg: the config
 *
 * Context: any.
 * Return: 0, -EINVAL for a NULL @cfg.
 */
VMT_EXPORT int vmt_rtc_config_init(struct vmt_rtc_config *cfg);

/**
 * vmt_rtc_new() - create an RTC.
 * @loop: the loop whose thread runs the device's timer; its source gives
 *	VMT_CLOCK_VM (and VMT_CLOCK_WALL for the time at creation)
 * @cfg: the configuration
 * @ret: where the device is written, only on success
 *
 * The RTC starts with register A 0x26 (32.768 kHz divider, 1024 Hz rate),
 * B 0x02 (24 h, BCD), C 0, D 0x80 and the CMOS RAM zeroed.
 *
 * Context: any thread.
 * Return: 0; -EINVAL for a NULL argument, an unknown base or tick policy,
 * an epoch outside 1900-2199, a @century_index other than 0 or 14-127, or a
 * name with a character other than printable ASCII but '"' and '\\';
 * -ENAMETOOLONG for a name over VMT_DEV_NAME_MAX; -ERANGE if the host's
 * wall clock is outside 1900-2199 (UTC and LOCALTIME bases); -ENOMEM.
 */
VMT_EXPORT int vmt_rtc_new(vmt_loop *loop, const struct vmt_rtc_config *cfg, vmt_rtc **ret);

/**
 * vmt_rtc_free() - destroy an RTC.
 * @rtc: the device, or NULL
 *
 * Waits for the device's timer callback if it runs on another thread.
 *
 * Context: any thread but the device's irq callback; not concurrently with
 * other calls on @rtc.
 * Return: NULL.
 */
VMT_EXPORT vmt_rtc *vmt_rtc_free(vmt_rtc *rtc);

/**
 * vmt_rtc_read() - a guest's port read.
 * @rtc: the device
 * @offset: 0-3, from port 0x70
 * @size: 1
 * @val: where the byte is written, only on success
 *
 * Reading register C clears its flags (and may raise a REINJECT tick).
 *
 * Context: any thread (vCPU threads); may call the irq callback after the
 * device's lock is dropped.
 * Return: 0, -EINVAL for a NULL argument, an offset above 3 or a size other
 * than 1.
 */
VMT_EXPORT int vmt_rtc_read(vmt_rtc *rtc, uint64_t offset, unsigned size, uint64_t *val);

/**
 * vmt_rtc_write() - a guest's port write.
 * @rtc: the device
 * @offset: 0-3, from port 0x70
 * @size: 1
 * @val: the byte (bits above 7 are ignored)
 *
 * Context: as vmt_rtc_read().
 * Return: 0, -EINVAL for a NULL @rtc, an offset above 3 or a size other
 * than 1.
 */
VMT_EXPORT int vmt_rtc_write(vmt_rtc *rtc, uint64_t offset, unsigned size, uint64_t val);

/**
 * vmt_rtc_nmi_disabled() - the NMI-disable bit (bit 7 of port 0x70).
 * @rtc: the device
 *
 * The RTC does not act on it; the VMM's NMI logic reads it here.
 *
 * Context: any thread.
 * Return: 1 disabled, 0 enabled, -EINVAL for a NULL @rtc.
 */
VMT_EXPORT int vmt_rtc_nmi_disabled(vmt_rtc *rtc);

/**
 * vmt_rtc_cmos_get() - read a CMOS byte without the guest's side effects.
 * @rtc: the device
 * @index: 0-255
 * @val: where the byte is written
 *
 * Time registers read as the guest would; register C is not cleared.
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL argument or an @index above 255.
 */
VMT_EXPORT int vmt_rtc_cmos_get(vmt_rtc *rtc, unsigned index, uint8_t *val);

/**
 * vmt_rtc_cmos_set() - store a CMOS RAM byte (firmware setup data: memory
 * size, boot order).
 * @rtc: the device
 * @index: 14-255, not the century byte
 * @val: the byte
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL @rtc or an @index that is a clock register
 * (0-13, the century byte) or above 255.
 */
VMT_EXPORT int vmt_rtc_cmos_set(vmt_rtc *rtc, unsigned index, uint8_t val);

/**
 * vmt_rtc_get_time() - the date and time the RTC shows now.
 * @rtc: the device
 * @ns: where the time is written: ns since 1970-01-01 00:00:00 in the RTC's
 *	own zone (negative before 1970), including the divider's sub-second
 *	phase
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL argument.
 */
VMT_EXPORT int vmt_rtc_get_time(vmt_rtc *rtc, int64_t *ns);

/**
 * vmt_rtc_reset() - the chip's RESET pin (a machine reset).
 * @rtc: the device
 *
 * Clears PIE, AIE, UIE, SQWE and the flags of register C (datasheet "RESET"
 * pin); the time, the divider, the alarm and the CMOS RAM keep running, as
 * on battery.  The REINJECT backlog is dropped.
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL @rtc.
 */
VMT_EXPORT int vmt_rtc_reset(vmt_rtc *rtc);

/**
 * vmt_rtc_save() - write the device's state as one group of snapshot fields.
 * @rtc: the device
 * @w: the fields writer (a unit's save callback)
 * @id: the field id of the group
 *
 * The date is saved with the VM time it belongs to: on restore it moves by
 * what VM time moved (nothing under VMT_RESTORE_FREEZE, the caught-up wall
 * time under VMT_RESTORE_CATCHUP).  The HOST base saves the guest's offset
 * from the host wall clock.
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL argument, or the writer's errno.
 */
VMT_EXPORT int vmt_rtc_save(vmt_rtc *rtc, vmt_fields_writer *w, uint32_t id);

/**
 * vmt_rtc_restore() - load the group written by vmt_rtc_save().
 * @rtc: the device; its base must be the saved one
 * @r: the reader
 * @id: the group's field id
 *
 * Nothing is raised by the restore itself (the interrupt controller
 * restores its own pending state).  On error the device is unchanged.
 *
 * Context: any thread.
 * Return: 0; -EINVAL for a NULL argument or another base; -ENOENT if the
 * group or a field is missing; -EBADMSG for a field of the wrong type or
 * an impossible value.
 */
VMT_EXPORT int vmt_rtc_restore(vmt_rtc *rtc, const vmt_fields_reader *r, uint32_t id);

/**
 * vmt_rtc_inspect() - write the device's state as one JSON object.
 * @rtc: the device
 * @out: the stream
 *
 * Fields: name, base, time (ISO 8601, the RTC's zone), regs {a, b, c, d},
 * running, set, periodic_hz, nmi_disabled, ticks (the policy), stats.
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL argument, -EIO if writing failed.
 */
VMT_EXPORT int vmt_rtc_inspect(vmt_rtc *rtc, FILE *out);

/**
 * vmt_rtc_get_stats() - what the periodic interrupt did.
 * @rtc: the device
 * @stats: where the counters are written
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL argument.
 */
VMT_EXPORT int vmt_rtc_get_stats(vmt_rtc *rtc, struct vmt_dev_stats *stats);

/**
 * vmt_rtc_add_unit() - register the device as a unit depending on "vmtime".
 * @rtc: the device; must outlive the unit
 * @units: the set, holding the keeper's unit (vmt_keeper_add_unit())
 * @ret: where the unit is written, only on success (may be NULL)
 *
 * The unit is named after the device; reset is vmt_rtc_reset(), save and
 * restore use field group 1 (payload version 1), inspect vmt_rtc_inspect().
 *
 * Context: as vmt_units_add().
 * Return: 0; -EINVAL for a NULL @rtc or @units; -ENOENT if the set has no
 * "vmtime" unit; or an errno of vmt_units_add() (-EEXIST, -EBUSY, -ENOMEM).
 */
VMT_EXPORT int vmt_rtc_add_unit(vmt_rtc *rtc, vmt_units *units, vmt_unit **ret);

/**
 * vmt_rtc_base_name() - a base's name ("utc", "localtime", "host", "epoch").
 * @base: the base
 *
 * Context: any.
 * Return: a static string, "unknown" for a value outside the enum.
 */
VMT_EXPORT const char *vmt_rtc_base_name(enum vmt_rtc_base base);

VMT_END_DECLS

#endif /* VMTIME_RTC_H */
