/* SPDX-License-Identifier: MIT */
/*
 * pit.h - an Intel 8254 programmable interval timer on the vmtime VM clock.
 *
 * The PIT is the device a PC guest counts time with, so it must stop when
 * the VM stops, lose no tick that a tick-counting guest relies on, and
 * resume exactly after a snapshot.  This model gets each of these from a
 * vmtime piece:
 *
 *  - the counter of each channel is a vmt_ptimer on VMT_CLOCK_VM counting at
 *    1193182 Hz with limit = the programmed count: what the guest reads on
 *    ports 0x40-0x42 (live, latched or through read-back) is derived from
 *    the ptimer's count, and the count freezes while the VM is paused;
 *  - channel 0's interrupt (IRQ0) is raised by a vmt_timer on VMT_CLOCK_VM,
 *    periodic on the ptimer's grid for modes 2 and 3, one-shot at terminal
 *    count for modes 0 and 4, with a vmt_missed policy chosen by the VMM.
 *    ptimer has no missed-tick policy, and its trigger runs inside the
 *    ptimer's transaction lock, so IRQ delivery is kept on a plain timer;
 *  - with VMT_MISSED_CATCHUP, a tick the interrupt controller could not take
 *    (IRR still set: the guest has not acknowledged the previous one) is
 *    kept in a backlog and retried shortly after, like KVM's in-kernel PIT
 *    "reinject" mode, so the guest eventually sees every tick;
 *  - pit_save() / pit_restore() carry the registers, the ptimers (relative
 *    to the VM clock) and the IRQ timer, for a unit depending on "vmtime".
 *
 * Modes 0, 2, 3 and 4 count and raise IRQ0 (channel 0); modes 1 and 5 need a
 * gate edge, which no channel here receives, so they count like mode 0 and
 * 4 without an interrupt.  Counts are binary; the BCD bit is kept for the
 * status byte only.  Port 0x61 (channel 2 gate, speaker) is not part of it.
 *
 * Threads: the port functions are called by the vCPU thread, the timers
 * fire on the loop's thread; a mutex inside serializes them.
 */
#ifndef KVMPIT_PIT_H
#define KVMPIT_PIT_H

#include <stdint.h>

#include <vmtime/loop.h>
#include <vmtime/ptimer.h>
#include <vmtime/snapshot.h>
#include <vmtime/timer.h>

/* The 8254 input clock on a PC. */
#define PIT_FREQ_HZ 1193182u
#define PIT_PORT_BASE 0x40
#define PIT_PORT_CONTROL 0x43

/* How long a coalesced catch-up tick waits before it is raised again (VM ns). */
#define PIT_RETRY_NS (50 * 1000)

struct pit;

/**
 * typedef pit_irq_fn - raise an edge on IRQ0.
 * @opaque: as given in struct pit_config
 *
 * Return: 1 if the interrupt controller took it, 0 if it was coalesced with
 * one still pending, a negative errno if raising failed.
 */
typedef int (*pit_irq_fn)(void *opaque);

/**
 * struct pit_config - how to create a PIT.
 * @loop: the loop whose thread raises IRQ0; its keeper's VM clock drives
 *	the counters
 * @irq: raises IRQ0
 * @irq_opaque: passed to @irq
 * @policy: the missed-tick policy of the IRQ0 timer (enum vmt_missed)
 */
struct pit_config {
	vmt_loop *loop;
	pit_irq_fn irq;
	void *irq_opaque;
	enum vmt_missed policy;
};

/**
 * struct pit_stats - what channel 0's interrupt did (host-side counters,
 * not saved).
 * @expirations: ticks the IRQ timer covered (sum of its expirations)
 * @raised: edges the interrupt controller took
 * @lost: ticks dropped: coalesced by a COALESCE or DELAY timer, or refused
 *	by the controller under those policies
 * @retries: catch-up edges that found the controller busy and were retried
 * @backlog: catch-up ticks not yet delivered
 */
struct pit_stats {
	uint64_t expirations;
	uint64_t raised;
	uint64_t lost;
	uint64_t retries;
	uint64_t backlog;
};

/**
 * pit_new() - create a PIT in its power-on state (no channel counting).
 * @cfg: the configuration
 * @ret: where the PIT is written, only on success
 *
 * Return: 0, -EINVAL for a NULL argument, a NULL loop or irq, or an unknown
 * policy; -ENOMEM.
 */
int pit_new(const struct pit_config *cfg, struct pit **ret);

/**
 * pit_free() - destroy a PIT; waits for a running timer callback.
 * @pit: the PIT, or NULL
 *
 * Return: NULL.
 */
struct pit *pit_free(struct pit *pit);

/**
 * pit_write() - an OUT to one of ports 0x40-0x43.
 * @pit: the PIT
 * @port: the port
 * @val: the byte
 *
 * Return: 0, -EINVAL for a NULL @pit or a port outside 0x40-0x43.
 */
int pit_write(struct pit *pit, uint16_t port, uint8_t val);

/**
 * pit_read() - an IN from one of ports 0x40-0x43.
 * @pit: the PIT
 * @port: the port (0x43 reads as 0xff: the control register is write-only)
 * @val: where the byte is written
 *
 * Return: 0, -EINVAL for a NULL argument or a port outside 0x40-0x43.
 */
int pit_read(struct pit *pit, uint16_t port, uint8_t *val);

/**
 * pit_set_policy() - change the missed-tick policy of the IRQ0 timer.
 * @pit: the PIT
 * @policy: enum vmt_missed
 *
 * A running periodic timer keeps its grid.  Leaving VMT_MISSED_CATCHUP
 * drops the backlog (counted as lost).
 *
 * Return: 0, -EINVAL for a NULL @pit or an unknown policy.
 */
int pit_set_policy(struct pit *pit, enum vmt_missed policy);

/**
 * pit_get_stats() - read the interrupt counters.
 * @pit: the PIT
 * @st: where they are written
 *
 * Return: 0, -EINVAL for a NULL argument.
 */
int pit_get_stats(struct pit *pit, struct pit_stats *st);

/**
 * pit_loaded_at() - when a channel's count was last written.
 * @pit: the PIT
 * @ch: the channel, 0 to 2
 * @t: where the VM time is written (VMT_NS_NEVER if the channel was not
 *	loaded since it was created, reset or restored)
 *
 * A diagnostic for the host (not saved): the demo counts the ticks a guest
 * should have seen from the moment it started the PIT, not from boot.
 *
 * Return: 0, -EINVAL for a NULL argument or a bad channel.
 */
int pit_loaded_at(struct pit *pit, int ch, vmt_ns *t);

/**
 * pit_ticks_owed() - channel 0 ticks due but not yet handed to the
 * interrupt controller.
 * @pit: the PIT
 *
 * The catch-up backlog plus the expirations of the IRQ timer that are due
 * on the VM clock but whose callback has not run (the loop thread is late,
 * or the clock stopped first: they run after the next start).
 *
 * Return: the count (>= 0), -EINVAL for a NULL @pit.
 */
long long pit_ticks_owed(struct pit *pit);

/**
 * pit_irq_idle() - whether channel 0 owes no interrupt right now.
 * @pit: the PIT
 *
 * Lets a VMM stop at a point where every tick due so far has been handed to
 * the interrupt controller (the demo does, so a phase boundary does not
 * split a tick in flight).
 *
 * Return: 1 if no catch-up backlog is pending and the IRQ timer is not
 * overdue, 0 otherwise, -EINVAL for a NULL @pit.
 */
int pit_irq_idle(struct pit *pit);

/**
 * pit_reset() - return to the power-on state.
 * @pit: the PIT
 *
 * Return: 0, -EINVAL for a NULL @pit.
 */
int pit_reset(struct pit *pit);

/* Version of the payload pit_save() writes. */
#define PIT_SAVE_VERSION 1

/**
 * pit_save() - write the PIT's state.
 * @pit: the PIT
 * @w: the fields writer (a unit's save)
 *
 * Deadlines are written relative to the VM clock, which is stopped during a
 * save, so a restore onto a clock restored with either policy resumes every
 * count where it was.
 *
 * Return: 0, -EINVAL for a NULL argument, or the writer's errno.
 */
int pit_save(struct pit *pit, vmt_fields_writer *w);

/**
 * pit_restore() - load state written by pit_save().
 * @pit: the PIT (its VM clock already restored)
 * @r: the fields reader
 * @version: the payload version
 *
 * Return: 0; -EINVAL for a NULL argument; -EPROTONOSUPPORT for a version
 * other than PIT_SAVE_VERSION; -ENOENT for a missing field; -EBADMSG for a
 * field of the wrong type or an impossible value.  On error the PIT is
 * left reset.
 */
int pit_restore(struct pit *pit, vmt_fields_reader *r, uint32_t version);

#endif /* KVMPIT_PIT_H */
