/* SPDX-License-Identifier: MIT */
/*
 * vmtime/timerfd.h - Linux-compatible timer file descriptors on any vmtime clock.
 *
 * Device models and guest agents are often written against timerfd_create(2):
 * a timer whose expirations are counted in a file descriptor that read(2),
 * poll(2) and epoll(7) understand.  The kernel only offers that on host
 * clocks; a VMM needs it on the VM clock too, so that a timer stops while the
 * VM is paused and resumes on its grid.  This module gives the same API, with
 * Linux's argument types, on every vmtime clock: code ports by renaming
 * timerfd_* to vmt_timerfd_* and TFD_* to VMT_TFD_*.
 *
 * Guarantees:
 *  - The fd is a real kernel fd (an eventfd whose counter holds the pending
 *    expirations): read(2) of 8 bytes returns the count and resets it, a
 *    buffer under 8 bytes gives EINVAL, nothing pending blocks (or EAGAIN with
 *    VMT_TFD_NONBLOCK), poll and epoll report it readable when expirations are
 *    pending, and it can be passed to another process.
 *  - On VMT_CLOCK_HOST, VMT_CLOCK_WALL and VMT_CLOCK_BOOT the values, errors
 *    and counts are those of the kernel's timerfd on CLOCK_MONOTONIC,
 *    CLOCK_REALTIME and CLOCK_BOOTTIME, including TFD_TIMER_CANCEL_ON_SET.
 *    The deliberate differences are listed in docs/timerfd.md.
 *  - On VMT_CLOCK_VM the same rules hold in VM time: nothing expires while the
 *    VM is stopped, gettime reports the frozen remaining time, and periodic
 *    ticks missed while the loop was busy are counted, never lost.
 *
 * Delivery: expirations reach the fd when the timer fd's loop is dispatched
 * (a thread in vmt_loop_run(), or the loop's fd in the application's own
 * event loop).  vmt_timerfd_read() and vmt_timerfd_gettime() count every
 * expiry already due themselves, so their results never depend on how late
 * the loop runs; a raw read(2) or poll(2) sees an expiry once the loop has
 * delivered it.
 */
#ifndef VMTIME_TIMERFD_H
#define VMTIME_TIMERFD_H

#include <stdint.h>

#include "clock.h"
#include "common.h"
#include "loop.h"
#include "snapshot.h"

VMT_BEGIN_DECLS

/* struct itimerspec is POSIX: include <time.h> with POSIX enabled to fill one. */
struct itimerspec;

/** typedef vmt_timerfd - a timer fd (opaque). */
typedef struct vmt_timerfd vmt_timerfd;

/* Creation flags; the kernel's TFD_NONBLOCK and TFD_CLOEXEC values. */
#define VMT_TFD_NONBLOCK 00004000
#define VMT_TFD_CLOEXEC 02000000

/* Settime flags; the kernel's TFD_TIMER_ABSTIME and TFD_TIMER_CANCEL_ON_SET. */
#define VMT_TFD_TIMER_ABSTIME (1 << 0)
#define VMT_TFD_TIMER_CANCEL_ON_SET (1 << 1)

/**
 * vmt_timerfd_new() - create a disarmed timer fd.
 * @loop: the loop that delivers its expirations; must outlive the timer fd
 * @clock: the clock its times are on
 * @flags: VMT_TFD_NONBLOCK and/or VMT_TFD_CLOEXEC, applied to the fd
 * @ret: where the timer fd is written, only on success
 *
 * Context: any thread.
 * Return: 0; -EINVAL for a NULL @loop or @ret, an unknown @clock or an
 * unknown bit in @flags; -ENOMEM; -EMFILE/-ENFILE when out of file
 * descriptors.
 */
VMT_EXPORT int vmt_timerfd_new(vmt_loop *loop, enum vmt_clock clock, int flags, vmt_timerfd **ret);

/**
 * vmt_timerfd_free() - disarm and destroy a timer fd, closing its fd.
 * @t: the timer fd, or NULL
 *
 * Another process that received the fd keeps an open eventfd that no longer
 * receives expirations.
 *
 * Context: any thread, once no other thread uses @t; not from a callback of
 * the timer fd's loop.
 * Return: NULL.
 */
VMT_EXPORT vmt_timerfd *vmt_timerfd_free(vmt_timerfd *t);

/**
 * vmt_timerfd_fd() - the pollable, readable fd.
 * @t: the timer fd
 *
 * The fd is owned by @t: do not close it (dup(2) it to keep a copy).
 *
 * Context: any thread.
 * Return: the fd, or -EINVAL for a NULL @t.
 */
VMT_EXPORT int vmt_timerfd_fd(const vmt_timerfd *t);

/**
 * vmt_timerfd_settime() - arm or disarm, as timerfd_settime(2).
 * @t: the timer fd
 * @flags: 0, VMT_TFD_TIMER_ABSTIME (it_value is an absolute time on the
 *	clock), plus VMT_TFD_TIMER_CANCEL_ON_SET (only meaningful with ABSTIME
 *	on VMT_CLOCK_WALL: a wall-clock step cancels the timer, see
 *	vmt_timerfd_read())
 * @new_value: it_value, the first expiry (relative, or absolute with
 *	ABSTIME; zero disarms), and it_interval, the period (zero: one-shot).
 *	Both need tv_sec >= 0 and tv_nsec in [0, 999999999].  Values beyond
 *	the kernel's range (about 292 years) saturate; an absolute time
 *	already passed expires at once, with every period since counted.
 * @old_value: if not NULL, receives the previous setting as
 *	vmt_timerfd_gettime() would have reported it
 *
 * Expirations pending on the fd are discarded.  The interval is stored even
 * when it_value disarms.
 *
 * Context: any thread, including callbacks of the timer fd's loop.
 * Return: 0; -EINVAL for a NULL @t or @new_value, an unknown bit in @flags or
 * a value out of range (nothing changed); -ECANCELED if the timer was
 * cancelled by a wall-clock step that no read reported yet and the new setting
 * asks for CANCEL_ON_SET again: the new setting is armed all the same and
 * @old_value is not written (the kernel does this too).
 */
VMT_EXPORT int vmt_timerfd_settime(vmt_timerfd *t, int flags, const struct itimerspec *new_value,
				   struct itimerspec *old_value);

/**
 * vmt_timerfd_gettime() - the time to the next expiry, as timerfd_gettime(2).
 * @t: the timer fd
 * @curr: receives it_value, the relative time to the next expiry (zero when
 *	disarmed or already expired and one-shot), and it_interval
 *
 * On VMT_CLOCK_VM while the VM is stopped it_value is the frozen remaining
 * time.
 *
 * Context: any thread, including callbacks of the timer fd's loop.
 * Return: 0, -EINVAL for a NULL argument.
 */
VMT_EXPORT int vmt_timerfd_gettime(vmt_timerfd *t, struct itimerspec *curr);

/**
 * vmt_timerfd_read() - take the pending expirations, as read(2) on the fd.
 * @t: the timer fd
 * @expirations: receives the count (>= 1), only on success
 *
 * Counts every expiry due by now, even those the loop has not delivered yet.
 * With nothing pending, waits for the next expiry (the loop must be
 * dispatched by another thread to deliver it) or, for a VMT_TFD_NONBLOCK
 * timer fd, fails with -EAGAIN.
 *
 * Context: any thread; a callback of the timer fd's loop may only use it on
 * a VMT_TFD_NONBLOCK timer fd (waiting there would stop the loop).
 * Return: 0; -EINVAL for a NULL argument; -EAGAIN; -EINTR if a signal
 * interrupted the wait; -ECANCELED if the timer is an absolute WALL timer
 * set with VMT_TFD_TIMER_CANCEL_ON_SET and the wall clock was stepped since
 * it was set or since the last -ECANCELED (the pending expirations are
 * discarded; a periodic timer that had expired is left disarmed, as in the
 * kernel).
 */
VMT_EXPORT int vmt_timerfd_read(vmt_timerfd *t, uint64_t *expirations);

/**
 * vmt_timerfd_save() - save the setting and the pending count.
 * @t: the timer fd
 * @w: the fields writer of the timer fd's unit
 *
 * Saves the clock, the creation and settime flags, the next expiry and the
 * interval, the expirations pending (delivered or not) and a pending
 * cancellation.  VM and WALL deadlines are saved as absolute times; HOST and
 * BOOT ones, meaningless in another boot, as the time remaining.  Save while
 * nobody reads the fd (the VM stopped): the pending count is read from the
 * fd and written back.
 *
 * Context: any thread except callbacks of the timer fd's loop.
 * Return: 0, -EINVAL for a NULL argument, or the writer's error.
 */
VMT_EXPORT int vmt_timerfd_save(vmt_timerfd *t, vmt_fields_writer *w);

/**
 * vmt_timerfd_restore() - replace the setting with a saved one.
 * @t: the timer fd
 * @r: a reader over the fields vmt_timerfd_save() wrote
 *
 * Adopts the saved clock and flags, arms the saved deadline (HOST and BOOT:
 * the saved remaining time from now) and sets the fd's count to the saved
 * pending count.  Restore the keeper first, so VM deadlines meet the VM time
 * they were saved with.  On failure nothing changed.
 *
 * Context: any thread except callbacks of the timer fd's loop.
 * Return: 0; -EINVAL for a NULL argument; -ENOENT if a field is missing;
 * -EBADMSG if a field has the wrong type or an impossible value (unknown
 * clock or flag, a time beyond the kernel's range); -ENOMEM.
 */
VMT_EXPORT int vmt_timerfd_restore(vmt_timerfd *t, const vmt_fields_reader *r);

VMT_END_DECLS

#endif /* VMTIME_TIMERFD_H */
