/* SPDX-License-Identifier: MIT */
/*
 * vmtime/clock.h - the clocks a vmtime timer or reader can use.
 *
 * Choosing the wrong clock is the commonest device-model bug (a guest timer
 * that keeps running while the VM is paused, a timeout that jumps when NTP
 * steps the wall clock), so the clocks are listed in one table:
 *
 *   clock           | runs while VM paused | follows NTP steps | counts host suspend | source
 *   ----------------+----------------------+-------------------+---------------------+-----------------------------
 *   VMT_CLOCK_VM    | no (frozen)          | no                | no                  | the keeper's VM clock
 *   VMT_CLOCK_HOST  | yes                  | no (slews only)   | no                  | CLOCK_MONOTONIC
 *   VMT_CLOCK_WALL  | yes                  | yes (can go back) | yes                 | CLOCK_REALTIME
 *   VMT_CLOCK_BOOT  | yes                  | no (slews only)   | yes                 | CLOCK_BOOTTIME
 *
 * VMT_CLOCK_VM is what guest-visible devices (PIT, HPET, APIC timer, RTC
 * periodic interrupt) must count on: it stops when the VM stops, resets with
 * the VM and is saved and restored with it.  While the VM runs it advances at
 * the rate of VMT_CLOCK_HOST.  HOST suits host-side timeouts (watchdogs,
 * progress lines); WALL is only for deadlines the user expressed in calendar
 * time; BOOT is for host timeouts that must include time spent suspended.
 */
#ifndef VMTIME_CLOCK_H
#define VMTIME_CLOCK_H

#include "common.h"

VMT_BEGIN_DECLS

/**
 * enum vmt_clock - the clocks of vmtime; see the table above.
 * @VMT_CLOCK_VM: runs only while the VM runs.
 * @VMT_CLOCK_HOST: the host's CLOCK_MONOTONIC.
 * @VMT_CLOCK_WALL: the host's CLOCK_REALTIME; steps when the wall clock is set.
 * @VMT_CLOCK_BOOT: the host's CLOCK_BOOTTIME; includes suspend.
 * @VMT_CLOCK_COUNT: the number of clocks (not a clock).
 */
enum vmt_clock {
	VMT_CLOCK_VM = 0,
	VMT_CLOCK_HOST = 1,
	VMT_CLOCK_WALL = 2,
	VMT_CLOCK_BOOT = 3,
	VMT_CLOCK_COUNT
};

/**
 * vmt_clock_name() - a clock's short lowercase name ("vm", "host", ...).
 * @clock: the clock
 *
 * Context: any.
 * Return: a static string, or NULL for a value that is not a clock.
 */
VMT_EXPORT const char *vmt_clock_name(enum vmt_clock clock);

VMT_END_DECLS

#endif /* VMTIME_CLOCK_H */
