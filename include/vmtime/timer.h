/* SPDX-License-Identifier: MIT */
/*
 * vmtime/timer.h - one-shot and periodic timers on any vmtime clock.
 *
 * A timer belongs to a loop and a clock.  Arming, re-arming and cancelling
 * are O(1) and may happen from any thread (a vCPU thread reprogramming a
 * device timer is the hot path of a VMM); the callback always runs on the
 * loop's dispatching thread, with the timer already unlinked, so it may re-arm
 * or free its own timer.
 *
 * Callbacks run without any vmtime lock held (the library never calls user
 * code or does stdio under an internal lock): a callback may arm, cancel and
 * free timers, and take locks that arming threads hold.
 *
 * Deadlines are absolute times on the timer's clock.  The callback receives
 * how many expirations it covers: more than 1 when a periodic timer missed
 * ticks (the loop was busy, the process was descheduled) and its policy is
 * VMT_MISSED_COALESCE.
 */
#ifndef VMTIME_TIMER_H
#define VMTIME_TIMER_H

#include <stdint.h>

#include "clock.h"
#include "common.h"
#include "loop.h"
#include "time.h"

VMT_BEGIN_DECLS

/** typedef vmt_timer - a timer (opaque). */
typedef struct vmt_timer vmt_timer;

/**
 * typedef vmt_timer_fn - a timer callback.
 * @t: the timer (already unlinked: vmt_timer_pending() is false unless the
 *	timer is periodic, in which case its next deadline is already set)
 * @expirations: how many expirations this call covers (>= 1); 0 for a
 *	wall-clock step, only for a timer that asked with
 *	vmt_timer_watch_wall_steps()
 * @userdata: as given to vmt_timer_new()
 */
typedef void (*vmt_timer_fn)(vmt_timer *t, uint64_t expirations, void *userdata);

/**
 * enum vmt_missed - what a periodic timer does with ticks it missed.
 * @VMT_MISSED_COALESCE: one callback carrying the number of ticks; deadlines
 *	stay on the period grid (like timerfd).  The default.
 * @VMT_MISSED_CATCHUP: every tick gets its own callback with expirations 1,
 *	at most VMT_CATCHUP_BATCH per dispatch so other timers still run; the
 *	grid is kept, so a guest that counts ticks loses no time.
 * @VMT_MISSED_DELAY: one callback with expirations 1; the grid shifts, the
 *	next deadline being now + period (missed ticks are delayed, the guest
 *	clock lags).
 */
enum vmt_missed {
	VMT_MISSED_COALESCE = 0,
	VMT_MISSED_CATCHUP = 1,
	VMT_MISSED_DELAY = 2,
};

/** VMT_CATCHUP_BATCH - most catch-up callbacks of one timer per dispatch. */
#define VMT_CATCHUP_BATCH 64

/** VMT_TIMER_NAME_MAX - longest timer name, in bytes, without the NUL. */
#define VMT_TIMER_NAME_MAX 63

/**
 * vmt_timer_new() - create a disarmed timer.
 * @loop: the loop whose dispatch runs the callback
 * @clock: the clock its deadlines are on
 * @fn: the callback
 * @userdata: passed to @fn
 * @ret: where the timer is written, only on success
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL @loop, @fn or @ret or an unknown @clock,
 * -ENOMEM.
 */
VMT_EXPORT int vmt_timer_new(vmt_loop *loop, enum vmt_clock clock, vmt_timer_fn fn,
			     void *userdata, vmt_timer **ret);

/**
 * vmt_timer_free() - cancel and destroy a timer.
 * @t: the timer, or NULL
 *
 * Safe from inside the timer's own callback (the memory is released when the
 * callback returns).  From another thread while the callback runs, waits for
 * it to return, as vmt_timer_cancel_sync() does.
 *
 * Context: any thread.
 * Return: NULL.
 */
VMT_EXPORT vmt_timer *vmt_timer_free(vmt_timer *t);

/**
 * vmt_timer_arm() - (re-)arm a one-shot timer at an absolute deadline.
 * @t: the timer
 * @deadline: time on the timer's clock; a time already passed fires on the
 *	next dispatch; VMT_NS_NEVER disarms
 *
 * Replaces any previous setting, including a periodic one.
 *
 * Context: any thread, including callbacks.
 * Return: 0, -EINVAL for a NULL @t.
 */
VMT_EXPORT int vmt_timer_arm(vmt_timer *t, vmt_ns deadline);

/**
 * vmt_timer_arm_in() - (re-)arm a one-shot timer @delay from now.
 * @t: the timer
 * @delay: nanoseconds on the timer's clock
 *
 * Context: any thread, including callbacks.
 * Return: 0, -EINVAL for a NULL @t, -EOVERFLOW if now + @delay does not fit
 * (use vmt_timer_arm(t, VMT_NS_NEVER) to wait forever).
 */
VMT_EXPORT int vmt_timer_arm_in(vmt_timer *t, vmt_ns delay);

/**
 * vmt_timer_arm_periodic() - (re-)arm a periodic timer.
 * @t: the timer
 * @first: absolute time of the first expiry on the timer's clock
 * @period: the period, > 0
 * @policy: enum vmt_missed
 *
 * Context: any thread, including callbacks.
 * Return: 0, -EINVAL for a NULL @t, a zero @period, a @first of
 * VMT_NS_NEVER or an unknown @policy.
 */
VMT_EXPORT int vmt_timer_arm_periodic(vmt_timer *t, vmt_ns first, vmt_ns period,
				      enum vmt_missed policy);

/**
 * vmt_timer_arm_periodic_in() - (re-)arm a periodic timer, first expiry
 * @first_delay from now.
 * @t: the timer
 * @first_delay: nanoseconds on the timer's clock until the first expiry
 * @period: the period, > 0
 * @policy: enum vmt_missed
 *
 * The grid is now + @first_delay + k * @period, "now" being read once.
 *
 * Context: any thread, including callbacks.
 * Return: 0, -EINVAL for a NULL @t, a zero @period or an unknown @policy,
 * -EOVERFLOW if now + @first_delay does not fit.
 */
VMT_EXPORT int vmt_timer_arm_periodic_in(vmt_timer *t, vmt_ns first_delay, vmt_ns period,
					 enum vmt_missed policy);

/**
 * vmt_timer_watch_wall_steps() - also call a VMT_CLOCK_WALL timer's callback
 * when the wall clock is stepped.
 * @t: the timer, on VMT_CLOCK_WALL
 * @on: 1 to be told of steps, 0 to stop
 *
 * A step (settimeofday(), an NTP step, a resume from suspend, seen by the
 * kernel; or one injected with vmt_keeper_wall_stepped()) calls the callback
 * once with @expirations 0, in the dispatch that notices it, before any
 * expiry callback of that dispatch, whether the timer is armed or not.  This
 * is what TFD_TIMER_CANCEL_ON_SET needs; the timer's own deadline is
 * re-evaluated against the new wall time as for every WALL timer.  The
 * notification follows the same lifetime rules as an expiry: the timer may
 * be freed from any thread, also from its own callback.  A notification
 * already collected by a dispatch on another thread may still arrive after
 * @on 0 returns (as an expiry may after vmt_timer_cancel()).
 *
 * Context: any thread, including callbacks.
 * Return: 0, -EINVAL for a NULL @t or a timer on another clock, -ENOMEM.
 */
VMT_EXPORT int vmt_timer_watch_wall_steps(vmt_timer *t, int on);

/**
 * vmt_timer_cancel() - disarm a timer.
 * @t: the timer
 *
 * After it returns the callback will not be called again unless the timer is
 * re-armed; a callback already running on another thread may still be
 * finishing (use vmt_timer_cancel_sync() to wait for it).
 *
 * Context: any thread, including callbacks.
 * Return: 1 if the timer was pending, 0 if not, -EINVAL for a NULL @t.
 */
VMT_EXPORT int vmt_timer_cancel(vmt_timer *t);

/**
 * vmt_timer_cancel_sync() - disarm a timer and wait for its running callback.
 * @t: the timer
 *
 * Like vmt_timer_cancel(), and if the callback is running on another thread,
 * waits until it returns.  Called from the timer's own callback it does not
 * wait (that would never end).
 *
 * Context: any thread, including callbacks; must not be called while holding
 * a lock the callback takes.
 * Return: as vmt_timer_cancel().
 */
VMT_EXPORT int vmt_timer_cancel_sync(vmt_timer *t);

/**
 * vmt_timer_pending() - whether the timer is armed.
 * @t: the timer
 *
 * Context: any thread.
 * Return: 1 armed, 0 not, -EINVAL for a NULL @t.
 */
VMT_EXPORT int vmt_timer_pending(const vmt_timer *t);

/**
 * vmt_timer_deadline() - the next expiry.
 * @t: the timer
 *
 * Context: any thread.
 * Return: the absolute deadline on the timer's clock, or VMT_NS_NEVER if the
 * timer is not armed or @t is NULL.
 */
VMT_EXPORT vmt_ns vmt_timer_deadline(const vmt_timer *t);

/**
 * vmt_timer_period() - the period of a periodic timer.
 * @t: the timer
 *
 * Context: any thread.
 * Return: the period, or 0 if the timer is one-shot, disarmed or NULL.
 */
VMT_EXPORT vmt_ns vmt_timer_period(const vmt_timer *t);

/**
 * vmt_timer_policy() - the missed-tick policy of a periodic timer.
 * @t: the timer
 *
 * Context: any thread.
 * Return: the enum vmt_missed given when the timer was armed periodic,
 * VMT_MISSED_COALESCE if it is one-shot or disarmed, -EINVAL for a NULL @t.
 */
VMT_EXPORT int vmt_timer_policy(const vmt_timer *t);

/**
 * vmt_timer_clock() - the clock of a timer.
 * @t: the timer
 *
 * Context: any thread.
 * Return: the clock, or VMT_CLOCK_COUNT for a NULL @t.
 */
VMT_EXPORT enum vmt_clock vmt_timer_clock(const vmt_timer *t);

/**
 * vmt_timer_set_name() - name a timer for inspect output and debugging.
 * @t: the timer
 * @name: the name (copied); NULL clears it
 *
 * Context: any thread, also while vmt_loop_inspect() runs (it copies names
 * under the loop's lock); not while another thread uses vmt_timer_get_name().
 * Return: 0, -EINVAL for a NULL @t, -ENAMETOOLONG if @name is longer than
 * VMT_TIMER_NAME_MAX bytes, -ENOMEM (the old name is kept).
 */
VMT_EXPORT int vmt_timer_set_name(vmt_timer *t, const char *name);

/**
 * vmt_timer_get_name() - a timer's name.
 * @t: the timer
 *
 * Context: any thread.
 * Return: the name ("" if unnamed), or NULL for a NULL @t.
 */
VMT_EXPORT const char *vmt_timer_get_name(const vmt_timer *t);

/**
 * vmt_timer_loop() - the loop of a timer.
 * @t: the timer
 *
 * Context: any thread.
 * Return: the loop, or NULL for a NULL @t.
 */
VMT_EXPORT vmt_loop *vmt_timer_loop(const vmt_timer *t);

VMT_END_DECLS

#endif /* VMTIME_TIMER_H */
