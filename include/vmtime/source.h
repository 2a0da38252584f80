/* SPDX-License-Identifier: MIT */
/*
 * vmtime/source.h - reading the clocks.
 *
 * A source is a read handle on one VM clock and on the host clocks.  A keeper
 * owns one (vmt_keeper_source()); other processes attach their own from the
 * keeper's clock page.  Reading never takes a lock and never writes shared
 * memory: the VM clock's state sits in a page behind a sequence counter, and a
 * reader retries only if the keeper changed the state while it was reading.
 *
 * Guarantee: VMT_CLOCK_VM read through any source of one keeper, in any thread
 * or process, never goes backwards, across start, stop and parameter updates.
 * Only vmt_keeper_reset() (and a restore) moves it to an explicit new value.
 */
#ifndef VMTIME_SOURCE_H
#define VMTIME_SOURCE_H

#include <stdint.h>

#include "clock.h"
#include "common.h"
#include "time.h"

VMT_BEGIN_DECLS

/** typedef vmt_source - a read handle on a VM clock (opaque). */
typedef struct vmt_source vmt_source;

/**
 * vmt_now() - read a clock.
 * @src: the source
 * @clock: which clock
 *
 * The fast path: no checks beyond what keeps it safe.  VMT_CLOCK_VM while the
 * VM is stopped reads the frozen value.
 *
 * Context: any thread, any context, lock-free.
 * Return: the time in ns, or VMT_NS_NEVER if @src is NULL or @clock is not a
 * clock (use vmt_source_now() for an errno).
 */
VMT_EXPORT vmt_ns vmt_now(const vmt_source *src, enum vmt_clock clock);

/**
 * vmt_source_now() - read a clock, with argument checking.
 * @src: the source
 * @clock: which clock
 * @ret: where the time is written, only on success
 *
 * Context: any thread, lock-free.
 * Return: 0, or -EINVAL if an argument is NULL or @clock is not a clock.
 */
VMT_EXPORT int vmt_source_now(const vmt_source *src, enum vmt_clock clock, vmt_ns *ret);

/**
 * vmt_source_running() - whether the VM clock is running.
 * @src: the source
 *
 * Context: any thread, lock-free.
 * Return: 1 running, 0 stopped, -EINVAL if @src is NULL.
 */
VMT_EXPORT int vmt_source_running(const vmt_source *src);

/**
 * vmt_source_reset_count() - how many times the VM clock was set explicitly.
 * @src: the source
 *
 * The count grows on every vmt_keeper_reset() and restore: the only events
 * that may move VM time to a smaller value.  A reader that must tell a reset
 * from a bug compares the count around its reads.
 *
 * Context: any thread, lock-free.
 * Return: the count (>= 0), or -EINVAL if @src is NULL.
 */
VMT_EXPORT int64_t vmt_source_reset_count(const vmt_source *src);

VMT_END_DECLS

#endif /* VMTIME_SOURCE_H */
