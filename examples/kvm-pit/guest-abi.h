/* SPDX-License-Identifier: MIT */
/*
 * guest-abi.h - what the test guest and the VMM agree on: where the guest
 * is loaded, where it keeps its state, and the ports it reports on.
 *
 * Included by guest.S (through the C preprocessor) and by the VMM, so only
 * plain #defines may live here.
 */
#ifndef KVMPIT_GUEST_ABI_H
#define KVMPIT_GUEST_ABI_H

/* The guest runs in 16-bit real mode with every segment at 0. */
#define GUEST_LOAD_ADDR 0x1000
#define GUEST_STACK_TOP 0x7000

/*
 * The guest's state block (32-bit little-endian words): the VMM reads
 * it from guest RAM while the vCPU is parked, which is exact at a phase
 * boundary, whereas the port reports below lag by up to a report interval.
 */
#define GUEST_STATE_ADDR 0x0600
#define GUEST_OFF_TICKS 0 /* IRQ0 handler invocations */
#define GUEST_OFF_CSUM 4  /* rol(csum, 5) ^ ticks, updated on every tick */
#define GUEST_OFF_READS 8 /* PIT counter reads done by the main loop */
#define GUEST_OFF_BAD 12  /* reads outside [1, divisor]: an emulation bug */
/* 16 is the guest's own (the tick count of its last report). */
#define GUEST_OFF_RTC 20       /* last CMOS clock read, GUEST_RTC_* bytes */
#define GUEST_OFF_RTC_READS 24 /* CMOS clock reads done */

/*
 * A CMOS clock read, as the guest stores and reports it: the raw bytes of
 * the seconds, minutes and hours registers and of register B (whose DM
 * and 24H bits say how to decode the others), read after register A's UIP
 * bit was seen clear, so no update cycle splits them.
 */
#define GUEST_RTC_SEC_SHIFT 0
#define GUEST_RTC_MIN_SHIFT 8
#define GUEST_RTC_HOUR_SHIFT 16
#define GUEST_RTC_REGB_SHIFT 24

/* Debug ports, written with 32-bit OUT: ticks, then checksum, then bad reads. */
#define GUEST_PORT_TICKS 0x500
#define GUEST_PORT_CSUM 0x504
#define GUEST_PORT_BAD 0x508
/* A CMOS clock read (GUEST_OFF_RTC's word), after each one. */
#define GUEST_PORT_RTC 0x50c

/* The guest reads the CMOS clock every GUEST_RTC_EVERY ticks (~50 ms). */
#define GUEST_RTC_EVERY 50

/* The guest reports every GUEST_REPORT_EVERY ticks (keeps exits low). */
#define GUEST_REPORT_EVERY 8

/* PIT channel 0 divisor the guest programs: 1193182 Hz / 1193 ~ 1000.15 Hz. */
#define GUEST_PIT_DIVISOR 1193

/* The vector the guest remaps IRQ0 to. */
#define GUEST_IRQ0_VECTOR 0x20

#endif /* KVMPIT_GUEST_ABI_H */
