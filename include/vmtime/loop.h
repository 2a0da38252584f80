/* SPDX-License-Identifier: MIT */
/*
 * vmtime/loop.h - dispatching timers on every clock through one fd.
 *
 * A loop owns timers on the VM clock and on the host clocks.  It does not
 * want to own the process: it exposes one epoll fd that becomes readable when
 * a timer is due or the VM clock changed state, so it plugs into any other
 * event loop; vmt_loop_dispatch() runs what is due and never blocks.
 * vmt_loop_run() is a convenience for threads that have nothing else to wait
 * on.
 *
 * VM-clock timers are mapped to host deadlines only while the VM runs; while
 * it is stopped they stay queued and never fire.  When the keeper starts,
 * stops, resets or restores the clock, the loop is woken and re-evaluates
 * them.  WALL timers are re-evaluated when the wall clock is stepped.
 *
 * Timers may be armed and cancelled from any thread; callbacks run on the
 * thread that calls vmt_loop_dispatch() (one at a time).
 *
 * No user code and no stdio under an internal lock: the loop's lock (taken
 * by every arm and cancel) is held only for a few list operations.  Timer
 * callbacks and clock-step notifications run without it, and
 * vmt_loop_inspect() writes without it, so a callback may call any function
 * its Context line allows and a blocked stream delays only its writer.
 */
#ifndef VMTIME_LOOP_H
#define VMTIME_LOOP_H

#include <stdint.h>
#include <stdio.h>

#include "common.h"
#include "source.h"
#include "time.h"

VMT_BEGIN_DECLS

/** typedef vmt_loop - a timer dispatcher (opaque). */
typedef struct vmt_loop vmt_loop;

/**
 * vmt_loop_new() - create a loop reading the clocks through @src.
 * @src: the source (a keeper's own, or an attached one); must outlive the loop
 * @ret: where the loop is written, only on success
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL argument, -ENOMEM, -EMFILE/-ENFILE when out
 * of file descriptors, or another errno from epoll/eventfd/timerfd creation.
 */
VMT_EXPORT int vmt_loop_new(vmt_source *src, vmt_loop **ret);

/**
 * vmt_loop_free() - destroy a loop and every timer still attached to it.
 * @loop: the loop, or NULL
 *
 * Timers of the loop must not be used afterwards.
 *
 * Context: any thread, not from a callback of this loop and not while
 * another thread dispatches it.
 * Return: NULL.
 */
VMT_EXPORT vmt_loop *vmt_loop_free(vmt_loop *loop);

/**
 * vmt_loop_get_fd() - the loop's pollable fd.
 * @loop: the loop
 *
 * The fd (an epoll fd) is readable when a timer is due, when the VM clock
 * changed state, or when another thread armed a timer earlier than the loop
 * planned to wake.  Call vmt_loop_dispatch() when it is.
 *
 * Context: any thread.
 * Return: the fd (owned by the loop), or -EINVAL for a NULL @loop.
 */
VMT_EXPORT int vmt_loop_get_fd(const vmt_loop *loop);

/**
 * vmt_loop_dispatch() - run the callbacks of every due timer, without waiting.
 * @loop: the loop
 *
 * Phases: the clocks are sampled once; if the wall clock was stepped, the
 * timers watching for steps (vmt_timer_watch_wall_steps()) are told; every
 * due timer is collected; then the callbacks run in deadline order (arming
 * order among equal deadlines).  A
 * timer re-armed inside its callback to a deadline that is already due runs
 * in the next dispatch, not this one.  Finally the fd is armed for the next
 * deadline.
 *
 * Context: one thread at a time; not from inside a callback of this loop.
 * Return: the number of callbacks that ran (>= 0; wall-step notifications
 * count), -EINVAL for a NULL @loop, -EBUSY if the loop is already being dispatched (recursively or by
 * another thread), -ENOMEM if no callback ran because the list of due
 * timers could not grow (they stay due for the next dispatch).
 */
VMT_EXPORT int vmt_loop_dispatch(vmt_loop *loop);

/**
 * vmt_loop_run() - wait for and dispatch timers until vmt_loop_quit().
 * @loop: the loop
 *
 * Context: the thread that owns the loop; not from a callback.
 * Return: 0 after vmt_loop_quit(), -EINVAL for a NULL @loop, -EBUSY as for
 * vmt_loop_dispatch(), or the errno of a failed epoll_wait().
 */
VMT_EXPORT int vmt_loop_run(vmt_loop *loop);

/**
 * vmt_loop_quit() - make vmt_loop_run() return.
 * @loop: the loop
 *
 * If the loop is not running, the next vmt_loop_run() returns at once.
 *
 * Context: any thread, including callbacks.
 * Return: 0, -EINVAL for a NULL @loop.
 */
VMT_EXPORT int vmt_loop_quit(vmt_loop *loop);

/**
 * vmt_loop_timeout_ns() - how long the loop may sleep.
 * @loop: the loop
 *
 * Same convention as QEMU's timerlistgroup_deadline_ns() and poll timeouts.
 * VM-clock timers count only while the VM runs, and never for a manual
 * keeper (VM time moves only when told to).
 *
 * Context: any thread.
 * Return: -1 if no timer can become due, 0 if one is due now, else the host
 * nanoseconds to the next deadline; -EINVAL (a negative value other than -1)
 * is returned for a NULL @loop.
 */
VMT_EXPORT int64_t vmt_loop_timeout_ns(vmt_loop *loop);

/**
 * vmt_loop_run_until() - step a manual VM clock to @vm_deadline.
 * @loop: the loop
 * @vm_deadline: the VM time to stop at
 *
 * VM time moves from deadline to deadline of the loop's VM timers; at each
 * one the loop dispatches, so every timer fires with VM time equal to its
 * deadline.  Timers on other clocks that are due are dispatched as well.  A
 * @vm_deadline not after the current VM time only dispatches.
 *
 * Context: the loop's thread; not from a callback.
 * Return: the number of callbacks that ran; -EINVAL for a NULL @loop or a
 * @vm_deadline of VMT_NS_NEVER; -EOPNOTSUPP unless the loop reads a
 * VMT_KEEPER_MANUAL keeper's own source; -EPERM if the VM clock is stopped;
 * -EBUSY or -ENOMEM as for vmt_loop_dispatch().
 */
VMT_EXPORT int vmt_loop_run_until(vmt_loop *loop, vmt_ns vm_deadline);

/**
 * vmt_loop_source() - the source the loop reads.
 * @loop: the loop
 *
 * Context: any thread.
 * Return: the source, or NULL for a NULL @loop.
 */
VMT_EXPORT vmt_source *vmt_loop_source(const vmt_loop *loop);

/**
 * vmt_loop_inspect() - write the loop's timers as one JSON object.
 * @loop: the loop
 * @out: the stream
 *
 * Fields: now (per clock), timers: an array of {name, clock, pending,
 * deadline_ns, period_ns, policy}; names are JSON-escaped, and any byte of a
 * name that is not UTF-8 is written as U+FFFD.  Timers are copied a few at a
 * time under the loop's lock and written without it: a stream that blocks
 * never stalls arming threads, and the list is not one atomic snapshot (a
 * timer created or freed meanwhile may or may not appear).
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL argument, -EIO if writing failed.
 */
VMT_EXPORT int vmt_loop_inspect(vmt_loop *loop, FILE *out);

VMT_END_DECLS

#endif /* VMTIME_LOOP_H */
