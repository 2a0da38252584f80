/* SPDX-License-Identifier: MIT */
/*
 * vmtime/ptimer.h - QEMU-compatible countdown timers on any vmtime clock.
 *
 * Many guest devices (PIT, HPET comparators, SoC timers, watchdogs) are a
 * down-counter that is loaded, counts at a fixed rate and raises an interrupt
 * when it reaches zero.  QEMU models them all with one helper, ptimer, whose
 * rough edges are selected per device by policy flags.  vmt_ptimer has the
 * same observable behaviour and the same flag values, so a device model ports
 * from QEMU by renaming (docs/ptimer.md has the mapping), but it runs on any
 * vmtime clock (VMT_CLOCK_VM for guest devices).
 *
 * Guarantees:
 *  - Periodic mode is drift-free: each event is computed from the previous
 *    one, never from the time the callback happened to run.
 *  - Changing the period or the frequency first samples the current count,
 *    so a running counter continues from the value it had.
 *  - Periods below one nanosecond (frequencies above 1 GHz) are exact to
 *    2^-32 ns, as in QEMU.
 *  - Changes are grouped in transactions: setters are refused outside one,
 *    the timer is re-programmed once at commit, and a trigger requested inside
 *    a transaction is delivered at commit.  The callback runs inside a
 *    transaction the library began, so it calls setters directly.
 *  - A transaction is also a lock: a begin on another thread waits until the
 *    current transaction commits, so a vCPU thread may program the timer while
 *    the loop thread runs its callback.  Device state touched by both the
 *    callback and vCPU code can be protected by the transaction itself.
 *  - Saved state resumes the count exactly (deadline relative to the clock).
 */
#ifndef VMTIME_PTIMER_H
#define VMTIME_PTIMER_H

#include <stdint.h>

#include "clock.h"
#include "common.h"
#include "loop.h"
#include "snapshot.h"
#include "time.h"

VMT_BEGIN_DECLS

/** typedef vmt_ptimer - a countdown timer (opaque). */
typedef struct vmt_ptimer vmt_ptimer;

/**
 * typedef vmt_ptimer_fn - called when the counter reaches zero (a "trigger").
 * @opaque: as given to vmt_ptimer_new()
 *
 * Runs inside a transaction of the timer: it may call the setters directly
 * and must not call vmt_ptimer_transaction_begin() or vmt_ptimer_free() on
 * its own timer.  A counter that reaches zero in time triggers on the loop's
 * thread; a trigger caused by a change (a count of 0 loaded into a running
 * timer) runs on the thread committing the change, as in QEMU.
 */
typedef void (*vmt_ptimer_fn)(void *opaque);

/*
 * Policy flags, with QEMU's PTIMER_POLICY_* values.  LEGACY (0) is QEMU's
 * historical behaviour; each flag removes one of its rough edges:
 *
 * VMT_PTIMER_POLICY_WRAP_AFTER_ONE_PERIOD: a periodic timer reloaded to N
 *	counts N..0 and wraps one period after reaching 0 (N+1 periods per
 *	cycle) instead of reloading as it reaches 0.
 * VMT_PTIMER_POLICY_CONTINUOUS_TRIGGER: a periodic timer with a limit of 0
 *	keeps triggering every period instead of stopping.
 * VMT_PTIMER_POLICY_NO_IMMEDIATE_TRIGGER: starting or setting the count to 0
 *	does not trigger at once; the trigger comes when the counter wraps.
 * VMT_PTIMER_POLICY_NO_IMMEDIATE_RELOAD: a count of 0 is not reloaded from
 *	the limit at once; it stays 0 for one period.
 * VMT_PTIMER_POLICY_NO_COUNTER_ROUND_DOWN: the running count is rounded up
 *	(reads N while counting from N to N-1) instead of down.
 * VMT_PTIMER_POLICY_TRIGGER_ONLY_ON_DECREMENT: trigger only when the counter
 *	decrements to 0, never because it was set to 0 or started at 0.
 *	Incompatible with NO_IMMEDIATE_TRIGGER (refused).
 */
#define VMT_PTIMER_POLICY_LEGACY 0u
#define VMT_PTIMER_POLICY_WRAP_AFTER_ONE_PERIOD (1u << 0)
#define VMT_PTIMER_POLICY_CONTINUOUS_TRIGGER (1u << 1)
#define VMT_PTIMER_POLICY_NO_IMMEDIATE_TRIGGER (1u << 2)
#define VMT_PTIMER_POLICY_NO_IMMEDIATE_RELOAD (1u << 3)
#define VMT_PTIMER_POLICY_NO_COUNTER_ROUND_DOWN (1u << 4)
#define VMT_PTIMER_POLICY_TRIGGER_ONLY_ON_DECREMENT (1u << 5)
/** VMT_PTIMER_POLICY_ALL - every known policy bit. */
#define VMT_PTIMER_POLICY_ALL 0x3fu

/**
 * enum vmt_ptimer_mode - what a timer is doing (vmt_ptimer_mode()).
 * @VMT_PTIMER_STOPPED: not counting.
 * @VMT_PTIMER_PERIODIC: counting, reloads from the limit at zero.
 * @VMT_PTIMER_ONESHOT: counting, stops at zero.
 */
enum vmt_ptimer_mode {
	VMT_PTIMER_STOPPED = 0,
	VMT_PTIMER_PERIODIC = 1,
	VMT_PTIMER_ONESHOT = 2,
};

/**
 * vmt_ptimer_new() - create a stopped countdown timer.
 * @loop: the loop whose dispatch runs @fn
 * @clock: the clock it counts on, usually VMT_CLOCK_VM
 * @fn: the trigger callback
 * @opaque: passed to @fn
 * @policy: a mask of VMT_PTIMER_POLICY_* flags
 * @ret: where the timer is written, only on success
 *
 * The timer starts with count, limit and period 0.
 *
 * Context: any thread.
 * Return: 0; -EINVAL for a NULL @loop, @fn or @ret, an unknown @clock, an
 * unknown policy bit, or TRIGGER_ONLY_ON_DECREMENT together with
 * NO_IMMEDIATE_TRIGGER; -ENOMEM.
 */
VMT_EXPORT int vmt_ptimer_new(vmt_loop *loop, enum vmt_clock clock, vmt_ptimer_fn fn,
			      void *opaque, unsigned int policy, vmt_ptimer **ret);

/**
 * vmt_ptimer_free() - stop and destroy a timer.
 * @pt: the timer, or NULL
 *
 * Waits for a callback running on another thread to return.
 *
 * Context: any thread, not inside a transaction of @pt (hence not from its
 * own callback).
 * Return: NULL.
 */
VMT_EXPORT vmt_ptimer *vmt_ptimer_free(vmt_ptimer *pt);

/**
 * vmt_ptimer_transaction_begin() - start a group of changes.
 * @pt: the timer
 *
 * If another thread is inside a transaction of @pt (or its callback runs),
 * waits until it commits.
 *
 * Context: any thread; not nested (not from @pt's callback).
 * Return: 0, -EINVAL for a NULL @pt, -EBUSY if this thread is already inside
 * a transaction of @pt.
 */
VMT_EXPORT int vmt_ptimer_transaction_begin(vmt_ptimer *pt);

/**
 * vmt_ptimer_transaction_commit() - apply the changes and end the transaction.
 * @pt: the timer
 *
 * Re-programs the timer once if a change needs it.  A trigger the changes
 * cause (a running counter loaded with 0, a start at 0) is delivered here:
 * the callback runs on this thread, still inside the transaction, before
 * this returns; if it changes the timer again, the re-programming repeats.
 * A running timer left with nothing to count (a count and a limit of 0, in a
 * policy that does not keep it alive) stops silently, as in QEMU.  The
 * transaction ends even when an error is returned.
 *
 * Context: the thread that began the transaction.
 * Return: 0; -EINVAL for a NULL @pt; -EPERM if this thread is not inside a
 * transaction of @pt; -EDOM if the timer was running and its period is now
 * zero: it was stopped without a trigger (QEMU prints "Timer with period
 * zero, disabling").
 */
VMT_EXPORT int vmt_ptimer_transaction_commit(vmt_ptimer *pt);

/**
 * vmt_ptimer_set_period() - set the period of one count, in ns.
 * @pt: the timer
 * @period_ns: the period; 0 is accepted but a running timer is then stopped
 *	at commit (-EDOM)
 *
 * A running timer first samples its current count and continues from it.
 *
 * Context: inside a transaction of @pt.
 * Return: 0, -EINVAL for a NULL @pt, -EPERM outside a transaction,
 * -ERANGE if @period_ns is above INT64_MAX.
 */
VMT_EXPORT int vmt_ptimer_set_period(vmt_ptimer *pt, vmt_ns period_ns);

/**
 * vmt_ptimer_set_period_frac() - set a period with a sub-nanosecond part.
 * @pt: the timer
 * @period_ns: the whole nanoseconds
 * @frac: the fraction of a nanosecond, in units of 2^-32 ns
 *
 * The period is @period_ns + @frac / 2^32 ns.  Otherwise as
 * vmt_ptimer_set_period().
 *
 * Context: inside a transaction of @pt.
 * Return: as vmt_ptimer_set_period().
 */
VMT_EXPORT int vmt_ptimer_set_period_frac(vmt_ptimer *pt, vmt_ns period_ns, uint32_t frac);

/**
 * vmt_ptimer_set_freq() - set the counting frequency.
 * @pt: the timer
 * @hz: counts per second, > 0; above 1 GHz the period is below 1 ns and is
 *	kept with its fraction
 *
 * Equivalent to vmt_ptimer_set_period_frac() with 10^9 / @hz ns.
 *
 * Context: inside a transaction of @pt.
 * Return: 0, -EINVAL for a NULL @pt or a zero @hz, -EPERM outside a
 * transaction.
 */
VMT_EXPORT int vmt_ptimer_set_freq(vmt_ptimer *pt, uint64_t hz);

/**
 * vmt_ptimer_set_limit() - set the reload value.
 * @pt: the timer
 * @limit: the value a periodic timer reloads from when it reaches zero
 * @reload: nonzero to also load @limit into the counter now (as
 *	vmt_ptimer_set_count(pt, limit))
 *
 * Context: inside a transaction of @pt.
 * Return: 0, -EINVAL for a NULL @pt, -EPERM outside a transaction.
 */
VMT_EXPORT int vmt_ptimer_set_limit(vmt_ptimer *pt, uint64_t limit, int reload);

/**
 * vmt_ptimer_set_count() - load the counter.
 * @pt: the timer
 * @count: the new value; a running timer counts down from it
 *
 * Context: inside a transaction of @pt.
 * Return: 0, -EINVAL for a NULL @pt, -EPERM outside a transaction.
 */
VMT_EXPORT int vmt_ptimer_set_count(vmt_ptimer *pt, uint64_t count);

/**
 * vmt_ptimer_get_count() - the current value of the counter.
 * @pt: the timer
 *
 * Computed from the next event and the clock, rounded down (QEMU's rounding:
 * a LEGACY running counter reads one less than the count it is counting
 * from; NO_COUNTER_ROUND_DOWN rounds up).
 *
 * Context: any thread; inside or outside a transaction (outside, it briefly
 * waits for another thread's transaction).
 * Return: the count, or 0 for a NULL @pt.
 */
VMT_EXPORT uint64_t vmt_ptimer_get_count(vmt_ptimer *pt);

/**
 * vmt_ptimer_get_limit() - the reload value.
 * @pt: the timer
 *
 * Context: any thread.
 * Return: the limit, or 0 for a NULL @pt.
 */
VMT_EXPORT uint64_t vmt_ptimer_get_limit(vmt_ptimer *pt);

/**
 * vmt_ptimer_run() - start counting down.
 * @pt: the timer
 * @oneshot: nonzero to stop at zero, zero to reload from the limit
 *
 * On an already running timer only the mode changes; the count goes on.
 * The counting starts at commit.
 *
 * Context: inside a transaction of @pt.
 * Return: 0; -EINVAL for a NULL @pt; -EPERM outside a transaction; -EDOM if
 * the timer is stopped and its period is zero: it stays stopped, with its
 * count, and nothing triggers (as in QEMU).
 */
VMT_EXPORT int vmt_ptimer_run(vmt_ptimer *pt, int oneshot);

/**
 * vmt_ptimer_stop() - stop counting; the counter keeps its current value.
 * @pt: the timer
 *
 * Context: inside a transaction of @pt.
 * Return: 0, -EINVAL for a NULL @pt, -EPERM outside a transaction.
 */
VMT_EXPORT int vmt_ptimer_stop(vmt_ptimer *pt);

/**
 * vmt_ptimer_mode() - whether and how the timer runs.
 * @pt: the timer
 *
 * Context: any thread.
 * Return: an enum vmt_ptimer_mode, or -EINVAL for a NULL @pt.
 */
VMT_EXPORT int vmt_ptimer_mode(vmt_ptimer *pt);

/**
 * vmt_ptimer_next_event() - when the counter next reaches zero or wraps.
 * @pt: the timer
 *
 * Context: any thread.
 * Return: the absolute time on the timer's clock, or VMT_NS_NEVER if the
 * timer is stopped or @pt is NULL.
 */
VMT_EXPORT vmt_ns vmt_ptimer_next_event(vmt_ptimer *pt);

/**
 * vmt_ptimer_save() - write the timer's state as one group of snapshot fields.
 * @pt: the timer
 * @w: the fields writer of the timer's owner (a unit's save callback)
 * @id: the field id of the group, chosen by the owner among its own fields
 *
 * Saves mode, policy, limit, count, period with its fraction, and the start
 * and length of the current run with the start relative to the current time
 * of the timer's clock, so a restore resumes the count exactly even on a
 * clock that reads another value.
 *
 * Context: any thread, outside a transaction of @pt (the saved state must
 * not include half-applied changes).
 * Return: 0, -EINVAL for a NULL argument, -EBUSY inside a transaction of
 * @pt, or the writer's errno.
 */
VMT_EXPORT int vmt_ptimer_save(vmt_ptimer *pt, vmt_fields_writer *w, uint32_t id);

/**
 * vmt_ptimer_restore() - load the group written by vmt_ptimer_save().
 * @pt: the timer (its policy must equal the saved one)
 * @r: the fields reader the group was saved into
 * @id: the group's field id
 *
 * A running timer is re-armed relative to the current time of its clock.
 * Nothing triggers during the restore.  On error the timer is unchanged.
 *
 * Context: any thread, outside a transaction of @pt.
 * Return: 0; -EINVAL for a NULL argument or a saved policy other than the
 * timer's; -EBUSY inside a transaction of @pt; -ENOENT if the group or one
 * of its fields is missing; -EBADMSG if a field has the wrong type or an
 * impossible value (unknown mode, period out of range, a running timer with
 * a zero period).
 */
VMT_EXPORT int vmt_ptimer_restore(vmt_ptimer *pt, const vmt_fields_reader *r, uint32_t id);

VMT_END_DECLS

#endif /* VMTIME_PTIMER_H */
