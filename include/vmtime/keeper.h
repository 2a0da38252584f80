/* SPDX-License-Identifier: MIT */
/*
 * vmtime/keeper.h - the one writer of a VM clock.
 *
 * A keeper owns a VM clock: it starts it when the VM starts running, stops it
 * when the VM stops, and resets it while stopped.  The clock's state is one
 * (VM time, host time) pair published in a seqlock page that any number of
 * readers use without locks (see source.h):
 *
 *   stopped:  vm_now = frozen
 *   running:  vm_now = base + max(0, host_now - host_start)
 *
 * Guarantees:
 *  - Start publishes a single pair, so every reader in every thread agrees on
 *    where VM time resumed.
 *  - Stop freezes the clock at a value no reader has already passed: the
 *    keeper samples the host clock only after readers can see that a change
 *    is in progress, so a read that raced with the stop retries.
 *  - A host reading earlier than the start stamp (another CPU, a reader that
 *    sampled the host clock early) is clamped to the start value: VM time
 *    does not go backwards.
 *  - Every loop using the keeper's clock is told when the clock starts, stops,
 *    is reset or restored, so its VM-clock timers are re-evaluated.
 *
 * A manual keeper (VMT_KEEPER_MANUAL) moves VM time only when told to, via
 * vmt_keeper_advance() or vmt_loop_run_until(): tests and deterministic replay
 * step time exactly, without sleeping.
 */
#ifndef VMTIME_KEEPER_H
#define VMTIME_KEEPER_H

#include <stdint.h>
#include <stdio.h>

#include "clock.h"
#include "common.h"
#include "source.h"
#include "time.h"

VMT_BEGIN_DECLS

/** typedef vmt_keeper - the owner and only writer of a VM clock (opaque). */
typedef struct vmt_keeper vmt_keeper;

/**
 * enum vmt_keeper_mode - how VM time advances while the clock runs.
 * @VMT_KEEPER_REAL: at the rate of the host's CLOCK_MONOTONIC.
 * @VMT_KEEPER_MANUAL: only through vmt_keeper_advance() and
 *	vmt_loop_run_until(); for tests and replay.
 */
enum vmt_keeper_mode {
	VMT_KEEPER_REAL = 0,
	VMT_KEEPER_MANUAL = 1,
};

/**
 * enum vmt_tsc_mode - whether readers compute host time from the TSC.
 * @VMT_TSC_OFF: readers call clock_gettime().
 * @VMT_TSC_AUTO: use calibrated TSC parameters when the TSC is invariant.
 */
enum vmt_tsc_mode {
	VMT_TSC_OFF = 0,
	VMT_TSC_AUTO = 1,
};

/**
 * enum vmt_restore_policy - where VM time resumes after a restore.
 * @VMT_RESTORE_FREEZE: at the saved value (as OpenVMM and QEMU do).
 * @VMT_RESTORE_CATCHUP: at saved + max(0, wall time elapsed since the save).
 */
enum vmt_restore_policy {
	VMT_RESTORE_FREEZE = 0,
	VMT_RESTORE_CATCHUP = 1,
};

/**
 * typedef vmt_host_clock_fn - test hook replacing the host clocks.
 * @opaque: the config's host_clock_opaque
 * @clock: VMT_CLOCK_HOST, VMT_CLOCK_WALL or VMT_CLOCK_BOOT
 *
 * Tests inject host readings and wall-clock steps through this hook instead
 * of stepping the machine's clocks.  It must be monotonic for HOST and BOOT.
 *
 * Return: the clock's time in ns.
 */
typedef vmt_ns (*vmt_host_clock_fn)(void *opaque, enum vmt_clock clock);

/**
 * struct vmt_keeper_config - how to create a keeper.
 * @size: sizeof(struct vmt_keeper_config) as the caller compiled it; lets the
 *	struct grow: fields the caller does not know read as zero, and a caller
 *	newer than the library is refused only if it set fields the library
 *	does not know.  VMT_KEEPER_CONFIG_INIT fills it.
 * @mode: enum vmt_keeper_mode.
 * @tsc: enum vmt_tsc_mode.
 * @initial_vm_time: VM time when the keeper is created (the clock is stopped).
 * @restore_policy: enum vmt_restore_policy used when the clock is restored.
 * @host_clock: test hook; NULL reads the real host clocks.  Every source and
 *	loop of this keeper in this process reads HOST, WALL and BOOT (and VM
 *	time in REAL mode) through it.
 * @host_clock_opaque: passed to @host_clock.
 */
struct vmt_keeper_config {
	uint32_t size;
	uint32_t mode;
	uint32_t tsc;
	uint32_t restore_policy;
	vmt_ns initial_vm_time;
	vmt_host_clock_fn host_clock;
	void *host_clock_opaque;
};

#define VMT_KEEPER_CONFIG_INIT { .size = sizeof(struct vmt_keeper_config) }

/**
 * vmt_keeper_new() - create a keeper with a stopped VM clock.
 * @cfg: the configuration, or NULL for a REAL keeper starting at 0
 * @ret: where the keeper is written, only on success
 *
 * Context: any thread.
 * Return: 0; -EINVAL for a NULL @ret, a @cfg->size smaller than the first
 * version of the struct, an unknown mode, TSC mode or restore policy, or an
 * @cfg->initial_vm_time of VMT_NS_NEVER;
 * -E2BIG if @cfg->size is larger than this library knows and the unknown
 * tail is not zero; -ENOMEM; or the errno of memfd_create(), ftruncate(),
 * mmap() or of creating the TSC calibration thread (-EMFILE when out of
 * file descriptors, -EAGAIN).
 */
VMT_EXPORT int vmt_keeper_new(const struct vmt_keeper_config *cfg, vmt_keeper **ret);

/**
 * vmt_keeper_free() - destroy a keeper.
 * @k: the keeper, or NULL
 *
 * Free every loop built on the keeper's source first.  Attached readers in
 * other processes keep their mapping and see a stopped clock.
 *
 * Context: any thread, not from a timer callback of one of its loops.
 * Return: NULL.
 */
VMT_EXPORT vmt_keeper *vmt_keeper_free(vmt_keeper *k);

/**
 * vmt_keeper_start() - start the VM clock.
 * @k: the keeper
 *
 * Context: any thread; serialized with the other keeper calls.
 * Return: 0, -EINVAL for a NULL @k, -EALREADY if the clock is running.
 */
VMT_EXPORT int vmt_keeper_start(vmt_keeper *k);

/**
 * vmt_keeper_stop() - stop (freeze) the VM clock.
 * @k: the keeper
 *
 * The clock freezes at a value at least as large as any value a reader has
 * already seen.
 *
 * Context: any thread; serialized with the other keeper calls.
 * Return: 0, -EINVAL for a NULL @k, -EALREADY if the clock is stopped.
 */
VMT_EXPORT int vmt_keeper_stop(vmt_keeper *k);

/**
 * vmt_keeper_reset() - set the VM clock to @t.
 * @k: the keeper
 * @t: the new VM time (may be smaller than the current one)
 *
 * Context: any thread; serialized with the other keeper calls.
 * Return: 0, -EINVAL for a NULL @k or @t == VMT_NS_NEVER, -EBUSY if the
 * clock is running (stop it first).
 */
VMT_EXPORT int vmt_keeper_reset(vmt_keeper *k, vmt_ns t);

/**
 * vmt_keeper_running() - whether the VM clock runs.
 * @k: the keeper
 *
 * Context: any thread.
 * Return: 1 running, 0 stopped, -EINVAL for a NULL @k.
 */
VMT_EXPORT int vmt_keeper_running(const vmt_keeper *k);

/**
 * vmt_keeper_advance() - move a manual keeper's running VM clock forward.
 * @k: the keeper
 * @ns: how far
 *
 * Loops on the clock are notified; their due VM timers fire on their next
 * dispatch.  To fire each timer at exactly its deadline, use
 * vmt_loop_run_until() instead.
 *
 * Context: any thread; serialized with the other keeper calls.
 * Return: 0; -EINVAL for a NULL @k; -EOPNOTSUPP if the keeper is not
 * VMT_KEEPER_MANUAL; -EPERM if the clock is stopped (VM time does not move
 * while the VM is stopped); -EOVERFLOW if VM time would reach VMT_NS_NEVER.
 */
VMT_EXPORT int vmt_keeper_advance(vmt_keeper *k, vmt_ns ns);

/**
 * vmt_keeper_source() - the keeper's own read handle.
 * @k: the keeper
 *
 * Context: any thread.
 * Return: the source (valid until the keeper is freed), or NULL for a NULL @k.
 */
VMT_EXPORT vmt_source *vmt_keeper_source(vmt_keeper *k);

/**
 * vmt_keeper_wall_stepped() - test hook: act as if the wall clock was set.
 * @k: the keeper
 *
 * Real wall-clock steps are detected by every loop through the kernel.  A
 * test that injects WALL readings through &vmt_keeper_config.host_clock calls
 * this after changing them, so loops re-evaluate WALL timers exactly as after
 * a real step.
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL @k.
 */
VMT_EXPORT int vmt_keeper_wall_stepped(vmt_keeper *k);

/**
 * vmt_keeper_inspect() - write the clock's state as one JSON object.
 * @k: the keeper
 * @out: the stream
 *
 * Fields: mode, running, vm_ns, host_ns, wall_ns, boot_ns, reset_count,
 * generation, restore_policy, tsc.
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL argument, -EIO if writing failed.
 */
VMT_EXPORT int vmt_keeper_inspect(const vmt_keeper *k, FILE *out);

VMT_END_DECLS

#endif /* VMTIME_KEEPER_H */
