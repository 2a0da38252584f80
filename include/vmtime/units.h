/* SPDX-License-Identifier: MIT */
/*
 * vmtime/units.h - the lifecycle of VM components, in dependency order.
 *
 * A VM is many components (the VM clock, interrupt controllers, timers,
 * disks) that must start, stop, reset, save and restore together, and in an
 * order: a timer device must not run before the clock it counts on, and must
 * be restored after it.  A unit is one such component, registered under a
 * unique name with a table of operations; a units set runs each operation
 * over all of its units.
 *
 * Guarantees:
 *  - Order: start, reset and restore run a unit only after every unit it
 *    depends on has finished; stop runs a unit only after every unit that
 *    depends on it has stopped; save and post_restore run in any order.
 *  - Concurrency: independent units run at the same time on a small worker
 *    pool owned by the set (and on the calling thread).  A unit begins as
 *    soon as the units it waits on are done, not in waves.
 *  - No cycles: a dependency that would close a cycle is refused when it is
 *    added (-ELOOP), so an operation can never deadlock.
 *  - Reports: every operation returns a report listing, for each unit it
 *    concerned, whether the unit's operation ran and succeeded, failed (with
 *    its errno and message) or was skipped.  When reset or restore fails for
 *    a unit, the units depending on it are not run and are reported as
 *    skipped because of it.  A unit's state changed exactly when its entry
 *    says VMT_UNIT_DONE.
 *  - Save identity: a unit's name is the name of its section in a snapshot.
 *    A restore refuses a snapshot naming a unit that is not registered or
 *    naming one twice, before running anything.
 *
 * Threads: one operation runs at a time per set.  While it runs, calls that
 * change the set (add, remove, dependencies, another operation) return -EBUSY,
 * including calls made from a unit's own operation; vmt_units_inspect() may
 * be called at any time.
 *
 * Locks: the set's lock is never held while a unit operation runs (inspect
 * included) nor while vmt_units_inspect() writes to its stream.  An
 * operation may therefore call any function of its own set: the getters
 * (count, find, state, running, inspect) work, changes are -EBUSY.  While
 * an inspect calls the units' inspect operations, changes and operations
 * asked for by other threads wait for it to finish, so an inspect
 * operation never runs beside another operation of its unit, nor after its
 * unit was removed; it must not wait for a thread that changes the set.
 */
#ifndef VMTIME_UNITS_H
#define VMTIME_UNITS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common.h"
#include "keeper.h"
#include "snapshot.h"

VMT_BEGIN_DECLS

/** typedef vmt_units - a set of units and its worker pool (opaque). */
typedef struct vmt_units vmt_units;

/** typedef vmt_unit - one registered unit (opaque, owned by its set). */
typedef struct vmt_unit vmt_unit;

/** typedef vmt_units_report - the outcome of one operation (opaque). */
typedef struct vmt_units_report vmt_units_report;

/** VMT_UNIT_NAME_MAX - the longest unit name, in bytes. */
#define VMT_UNIT_NAME_MAX 63

/**
 * struct vmt_unit_ops - what a unit does for each operation.
 * @start: begin running (infallible).
 * @stop: stop running (infallible).
 * @reset: return to the power-on state; the set is stopped.
 * @save: write the unit's state through @w; the set is stopped.
 * @save_version: the payload version stored with the saved state and given
 *	back to @restore.
 * @restore: read the unit's state back; @payload_version is what @save_version
 *	was when the state was saved.
 * @post_restore: called on every unit once every restore has succeeded.
 * @inspect: write the unit's own state as one JSON value.
 *
 * Every member may be NULL: the operation then does nothing and succeeds,
 * except that a unit without @save has no saved state (it writes no section),
 * and restoring saved state into a unit without @restore fails with
 * -EOPNOTSUPP.  Fallible operations return 0 or a negative errno and may fill
 * @err with a message; @err is never NULL.  Operations run on a worker thread
 * of the set or on the thread that called the operation.
 */
struct vmt_unit_ops {
	void (*start)(void *userdata);
	void (*stop)(void *userdata);
	int (*reset)(void *userdata, struct vmt_error *err);
	int (*save)(void *userdata, vmt_fields_writer *w, struct vmt_error *err);
	uint32_t save_version;
	int (*restore)(void *userdata, vmt_fields_reader *r, uint32_t payload_version,
		       struct vmt_error *err);
	int (*post_restore)(void *userdata, struct vmt_error *err);
	void (*inspect)(void *userdata, FILE *out);
};

/**
 * enum vmt_unit_state - whether a unit runs.
 * @VMT_UNIT_STOPPED: stopped (the state of a new unit).
 * @VMT_UNIT_RUNNING: started.
 */
enum vmt_unit_state {
	VMT_UNIT_STOPPED = 0,
	VMT_UNIT_RUNNING = 1,
};

/**
 * enum vmt_unit_op - the operations, as named in reports.
 * @VMT_UNIT_OP_START: start.
 * @VMT_UNIT_OP_STOP: stop.
 * @VMT_UNIT_OP_RESET: reset.
 * @VMT_UNIT_OP_SAVE: save.
 * @VMT_UNIT_OP_RESTORE: restore.
 * @VMT_UNIT_OP_POST_RESTORE: post_restore.
 */
enum vmt_unit_op {
	VMT_UNIT_OP_START = 0,
	VMT_UNIT_OP_STOP = 1,
	VMT_UNIT_OP_RESET = 2,
	VMT_UNIT_OP_SAVE = 3,
	VMT_UNIT_OP_RESTORE = 4,
	VMT_UNIT_OP_POST_RESTORE = 5,
};

/**
 * enum vmt_unit_status - what happened to one unit in one operation.
 * @VMT_UNIT_DONE: the operation ran (or the unit has nothing to do for it)
 *	and succeeded; the unit's state changed.
 * @VMT_UNIT_FAILED: the operation ran and failed; see the errno and message.
 * @VMT_UNIT_SKIPPED: not run because a unit it waits on failed or was
 *	skipped; the cause names that unit.  The unit was not touched.
 * @VMT_UNIT_NO_STATE: save: the unit has no save operation and wrote
 *	nothing; restore: the snapshot holds no state for the unit, which was
 *	not called (the units depending on it still waited for it).
 */
enum vmt_unit_status {
	VMT_UNIT_DONE = 0,
	VMT_UNIT_FAILED = 1,
	VMT_UNIT_SKIPPED = 2,
	VMT_UNIT_NO_STATE = 3,
};

/**
 * struct vmt_unit_result - one entry of a report.
 * @unit: the unit's name (or, for a restore refused before it began, the
 *	name of the offending section).
 * @op: the operation.
 * @status: what happened.
 * @error: 0, or the negative errno of a failure; -ECANCELED when skipped.
 * @msg: a message for a failure or skip, "" otherwise; never NULL.
 * @cause: for a skipped unit, the name of the unit it waited on that failed
 *	or was skipped; NULL otherwise.
 *
 * The strings belong to the report and live until it is freed.
 */
struct vmt_unit_result {
	const char *unit;
	enum vmt_unit_op op;
	enum vmt_unit_status status;
	int error;
	const char *msg;
	const char *cause;
};

/**
 * vmt_units_new() - create an empty, stopped units set and its worker pool.
 * @ret: where the set is written, only on success
 *
 * The pool has min(4, online CPUs) - 1 threads, at least one; the thread
 * calling an operation works beside them.  Worker threads block all signals.
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL @ret, -ENOMEM, or the errno of
 * pthread_create() (-EAGAIN).
 */
VMT_EXPORT int vmt_units_new(vmt_units **ret);

/**
 * vmt_units_free() - destroy a set, its units and its pool.
 * @units: the set, or NULL
 *
 * No unit operation is called (stop the set first if its units must stop).
 *
 * Context: any thread but a unit operation of this set; not while an
 * operation of the set runs.
 * Return: NULL.
 */
VMT_EXPORT vmt_units *vmt_units_free(vmt_units *units);

/**
 * vmt_units_add() - register a unit.
 * @units: the set
 * @name: a unique name of 1 to VMT_UNIT_NAME_MAX printable ASCII characters
 *	(0x20 space to 0x7e '~'), without '"' or '\\'; it is copied
 * @ops: the operations (copied), or NULL for a unit that does nothing
 * @userdata: passed to every operation
 * @ret: where the unit is written, only on success (may be NULL)
 *
 * The new unit is stopped, also when the set runs: vmt_units_start_stopped()
 * starts it.
 *
 * Context: any thread, not while an operation of the set runs.
 * Return: 0; -EINVAL for a NULL @units or @name, an empty name or a
 * character outside the allowed set; -ENAMETOOLONG for a name longer than
 * VMT_UNIT_NAME_MAX; -EEXIST if the name is taken; -EBUSY while an operation
 * runs; -ENOMEM.
 */
VMT_EXPORT int vmt_units_add(vmt_units *units, const char *name, const struct vmt_unit_ops *ops,
			     void *userdata, vmt_unit **ret);

/**
 * vmt_unit_remove() - unregister a unit and drop its dependency edges.
 * @unit: the unit; the handle is invalid afterwards
 *
 * No operation of the unit is called.  Units that depended on it no longer
 * wait for it.
 *
 * Context: any thread, not while an operation of the set runs.
 * Return: 0, -EINVAL for a NULL @unit, -EBUSY while an operation runs.
 */
VMT_EXPORT int vmt_unit_remove(vmt_unit *unit);

/**
 * vmt_unit_depends_on() - make @unit depend on @dep.
 * @unit: the dependent
 * @dep: the unit it depends on (same set)
 *
 * @dep is started, reset and restored before @unit and stopped after it.
 *
 * Context: any thread, not while an operation of the set runs.
 * Return: 0; -EINVAL for a NULL argument or units of different sets;
 * -EALREADY if the dependency exists; -ELOOP if @dep is @unit or already
 * depends on @unit, directly or not (the edge would close a cycle); -EBUSY
 * while an operation runs; -ENOMEM.
 */
VMT_EXPORT int vmt_unit_depends_on(vmt_unit *unit, vmt_unit *dep);

/**
 * vmt_unit_dependency_of() - make @dependent depend on @unit.
 * @unit: the unit depended on
 * @dependent: the unit that depends on it
 *
 * The reverse form of vmt_unit_depends_on(dependent, unit).
 *
 * Context: as vmt_unit_depends_on().
 * Return: as vmt_unit_depends_on().
 */
VMT_EXPORT int vmt_unit_dependency_of(vmt_unit *unit, vmt_unit *dependent);

/**
 * vmt_units_find() - look a unit up by name.
 * @units: the set
 * @name: the name
 * @ret: where the unit is written, only on success
 *
 * Context: any thread.
 * Return: 0, -EINVAL for a NULL argument, -ENOENT if no unit has the name.
 */
VMT_EXPORT int vmt_units_find(vmt_units *units, const char *name, vmt_unit **ret);

/**
 * vmt_unit_name() - a unit's name.
 * @unit: the unit
 *
 * Context: any thread.
 * Return: the name (valid while the unit is registered), NULL for NULL @unit.
 */
VMT_EXPORT const char *vmt_unit_name(const vmt_unit *unit);

/**
 * vmt_unit_state() - whether a unit runs.
 * @unit: the unit
 *
 * Context: any thread.
 * Return: an enum vmt_unit_state, or -EINVAL for a NULL @unit.
 */
VMT_EXPORT int vmt_unit_state(const vmt_unit *unit);

/**
 * vmt_units_count() - how many units are registered.
 * @units: the set
 *
 * Context: any thread.
 * Return: the count, or -EINVAL for a NULL @units.
 */
VMT_EXPORT int vmt_units_count(vmt_units *units);

/**
 * vmt_units_running() - whether the set runs (between start and stop).
 * @units: the set
 *
 * Context: any thread.
 * Return: 1 running, 0 stopped, -EINVAL for a NULL @units.
 */
VMT_EXPORT int vmt_units_running(vmt_units *units);

/*
 * The operations below share their contract:
 *  - @report (may be NULL) receives the report whenever the operation was
 *    carried out, including when units failed; it is not written when the
 *    call is refused before any unit ran (-EINVAL, -EBUSY, -EALREADY,
 *    -ENOMEM).  Free it with vmt_units_report_free().
 *  - Return: 0 if every unit succeeded; otherwise the errno of the first
 *    failed entry of the report, or -EINVAL, -EBUSY (another operation runs,
 *    or the set runs and the operation needs it stopped), -ENOMEM.
 *  - Context: any thread but a unit operation of this set (-EBUSY).
 */

/**
 * vmt_units_start() - start every unit, dependencies first; the set runs.
 * @units: the set
 * @report: where the report is written (NULL: not wanted)
 *
 * Context: any thread but a unit operation of this set (-EBUSY there).
 * Return: 0; -EALREADY if the set runs; see the shared contract above.
 */
VMT_EXPORT int vmt_units_start(vmt_units *units, vmt_units_report **report);

/**
 * vmt_units_start_stopped() - start the units added while the set runs.
 * @units: the set
 * @report: where the report is written (NULL: not wanted)
 *
 * Starts, dependencies first, every unit that is stopped; units already
 * running count as started.  When the set is stopped it does nothing and
 * returns an empty report.
 *
 * Context: any thread but a unit operation of this set (-EBUSY there).
 * Return: 0; see the shared contract above.
 */
VMT_EXPORT int vmt_units_start_stopped(vmt_units *units, vmt_units_report **report);

/**
 * vmt_units_stop() - stop every running unit, dependents first.
 * @units: the set
 * @report: where the report is written (NULL: not wanted)
 *
 * Context: any thread but a unit operation of this set (-EBUSY there).
 * Return: 0; -EALREADY if the set is stopped; see the shared contract above.
 */
VMT_EXPORT int vmt_units_stop(vmt_units *units, vmt_units_report **report);

/**
 * vmt_units_reset() - reset every unit, dependencies first.
 * @units: the set, stopped
 * @report: where the report is written (NULL: not wanted)
 *
 * The units depending on a unit whose reset failed are skipped.
 *
 * Context: any thread but a unit operation of this set (-EBUSY there).
 * Return: 0, a unit's errno, or see the shared contract above (-EBUSY if
 * the set runs).
 */
VMT_EXPORT int vmt_units_reset(vmt_units *units, vmt_units_report **report);

/**
 * vmt_units_save() - save every unit that has a save operation.
 * @units: the set, stopped
 * @w: the snapshot being written; one section per saving unit, named after
 *	it, with the unit's save_version
 * @report: where the report is written (NULL: not wanted)
 *
 * Units save concurrently, in any order, each into its own buffer; the
 * sections are appended to @w in registration order, so equal states give
 * equal files.  A unit that fails leaves no section; the snapshot should then
 * not be saved to disk.
 *
 * Context: any thread but a unit operation of this set (-EBUSY there).
 * Return: 0, a unit's errno, or see the shared contract above (-EBUSY if
 * the set runs).
 */
VMT_EXPORT int vmt_units_save(vmt_units *units, vmt_snap_writer *w, vmt_units_report **report);

/**
 * vmt_units_restore() - restore every unit, dependencies first, then run
 * every post_restore.
 * @units: the set, stopped
 * @r: the snapshot read
 * @report: where the report is written (NULL: not wanted)
 *
 * Before any unit runs, every section must name a registered unit, once;
 * otherwise nothing is restored and the report names each offending section
 * (-ENOENT: no such unit, -EBADMSG: named twice).  A unit without a section
 * is not called but still restored in order.  The dependents of a unit whose
 * restore failed are skipped, and post_restore runs only if every restore
 * succeeded.
 *
 * Context: any thread but a unit operation of this set (-EBUSY there).
 * Return: 0, -ENOENT or -EBADMSG as above, a unit's errno (-EOPNOTSUPP: saved
 * state for a unit without a restore operation), or see the shared contract
 * above (-EBUSY if the set runs).
 */
VMT_EXPORT int vmt_units_restore(vmt_units *units, vmt_snap_reader *r, vmt_units_report **report);

/**
 * vmt_units_inspect() - write the set as one JSON object.
 * @units: the set
 * @out: the stream
 *
 * Fields: running, operation (the running operation's name or null), units:
 * an array of {name, state, depends_on, dependents, and "inspect", the unit's
 * own JSON, when it has an inspect operation}.  While an operation runs, the
 * units' inspect operations are not called (they may be busy) and each unit
 * carries "progress": waiting, running, done, failed or skipped.  The set is
 * copied under its lock, then written (and the inspect operations called)
 * without it.
 *
 * Context: any thread, also during an operation and from a unit operation
 * (an inspect operation included).
 * Return: 0, -EINVAL for a NULL argument, -ENOMEM if the copy could not be
 * made, -EIO if writing failed.
 */
VMT_EXPORT int vmt_units_inspect(vmt_units *units, FILE *out);

/**
 * vmt_units_report_count() - the number of entries of a report.
 * @report: the report
 *
 * Entries follow unit registration order; for restore, the post_restore
 * entries follow the restore entries.
 *
 * Context: any thread.
 * Return: the count; 0 for a NULL @report.
 */
VMT_EXPORT size_t vmt_units_report_count(const vmt_units_report *report);

/**
 * vmt_units_report_failures() - the number of failed or skipped entries.
 * @report: the report
 *
 * Context: any thread.
 * Return: the count; 0 for a NULL @report.
 */
VMT_EXPORT size_t vmt_units_report_failures(const vmt_units_report *report);

/**
 * vmt_units_report_entry() - one entry of a report.
 * @report: the report
 * @i: the index, below vmt_units_report_count()
 *
 * Context: any thread.
 * Return: the entry (valid until the report is freed), or NULL for a NULL
 * @report or an index out of range.
 */
VMT_EXPORT const struct vmt_unit_result *vmt_units_report_entry(const vmt_units_report *report,
								size_t i);

/**
 * vmt_units_report_find() - the entry of a unit for an operation.
 * @report: the report
 * @unit: the unit's name
 * @op: the operation
 *
 * Context: any thread.
 * Return: the entry, or NULL if the report has none (or an argument is NULL).
 */
VMT_EXPORT const struct vmt_unit_result *vmt_units_report_find(const vmt_units_report *report,
							       const char *unit,
							       enum vmt_unit_op op);

/**
 * vmt_units_report_free() - free a report.
 * @report: the report, or NULL
 *
 * Context: any thread.
 * Return: NULL.
 */
VMT_EXPORT vmt_units_report *vmt_units_report_free(vmt_units_report *report);

/**
 * vmt_unit_op_name() - an operation's name ("start", "post_restore", ...).
 * @op: the operation
 *
 * Context: any.
 * Return: a static string, or NULL for a value that is not an operation.
 */
VMT_EXPORT const char *vmt_unit_op_name(enum vmt_unit_op op);

/**
 * vmt_unit_status_name() - a status's name ("done", "failed", "skipped",
 * "no_state").
 * @status: the status
 *
 * Context: any.
 * Return: a static string, or NULL for a value that is not a status.
 */
VMT_EXPORT const char *vmt_unit_status_name(enum vmt_unit_status status);

/**
 * vmt_keeper_add_unit() - register a keeper's VM clock as the unit "vmtime".
 * @k: the keeper
 * @units: the set
 * @ret: where the unit is written, only on success (may be NULL)
 *
 * start and stop start and stop the VM clock; reset sets it back to the
 * keeper's &vmt_keeper_config.initial_vm_time (0 by default).  Save writes the VM
 * time, the wall time at the save and the restore policy; saving a running
 * clock fails with -EBUSY.  Restore sets the VM time to the saved value
 * (VMT_RESTORE_FREEZE) or to saved + max(0, wall now - wall at save)
 * (VMT_RESTORE_CATCHUP), the policy being the keeper's own.  Make every
 * device unit depend on it, so it is restored before them and stopped after
 * them.  The keeper must outlive the unit.
 *
 * Context: as vmt_units_add().
 * Return: as vmt_units_add() (-EEXIST if "vmtime" is taken); -EINVAL for a
 * NULL @k.
 */
VMT_EXPORT int vmt_keeper_add_unit(vmt_keeper *k, vmt_units *units, vmt_unit **ret);

VMT_END_DECLS

#endif /* VMTIME_UNITS_H */
