/* SPDX-License-Identifier: MIT */
/*
 * units-internal.h - the units set shared by its two halves (not installed):
 * units.c, the graph (names, units, dependency edges, cycle detection and
 * the topological order), and units-run.c, the runner (worker pool,
 * operations in dependency order, reports, inspect), which sits on top.
 *
 * One mutex per set guards everything: the units, their edges, and the state
 * of the running operation.  Unit operations, and inspect's writing, run with
 * it released (units.h, "Locks").
 */
#ifndef VMT_UNITS_INTERNAL_H
#define VMT_UNITS_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vmtime/snapshot.h>
#include <vmtime/units.h>

#define POOL_MAX 4

enum progress {
	PROG_IDLE = 0,
	PROG_WAITING,
	PROG_RUNNING,
	PROG_DONE,
	PROG_FAILED,
	PROG_SKIPPED,
};

/* What a unit's run returned besides an errno. */
#define RUN_NO_STATE 1

struct vmt_unit {
	vmt_units *set;
	struct vmt_unit_ops ops;
	void *userdata;
	enum vmt_unit_state state;

	vmt_unit **deps;	/* units this one depends on */
	vmt_unit **dents;	/* units depending on this one */
	uint32_t ndeps, ndents;
	size_t capdeps, capdents;

	vmt_unit *prev, *next;	/* registration order */
	vmt_unit *hnext;	/* name hash chain */
	uint64_t key;		/* topological order key */
	uint64_t mark;		/* search stamp for cycle detection */

	/*
	 * Scratch of the running operation, under set->lock.  progress is
	 * PROG_IDLE exactly for the units not taking part in it.
	 */
	enum progress progress;
	uint32_t idx;		/* index among the operation's units */
	uint32_t pending;	/* participating units still to wait for */
	vmt_unit *cause;	/* first waited-on unit that failed or was skipped */
	bool has_section;
	struct vmt_snap_section section;
	vmt_fields_writer *fw;

	size_t name_len;
	char name[VMT_UNIT_NAME_MAX + 1];
};

struct job;

struct vmt_units {
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* work queued, operation finished, or quit */
	pthread_t threads[POOL_MAX];
	int nthreads;
	int idle;
	bool quit;
	bool busy;		/* an operation runs */
	bool running;		/* between start and stop */
	struct job *job;
	/*
	 * Inspects calling units' inspect operations, with the lock released;
	 * changes and operations wait for them (idle_cond) so an inspect
	 * operation never runs beside another operation or after its unit
	 * was removed.
	 */
	unsigned inspecting;
	pthread_cond_t idle_cond;

	vmt_unit *head, *tail;
	size_t count;
	vmt_unit **buckets;
	size_t nbuckets;
	uint64_t next_key;
	uint64_t stamp;
};

/* vmti_units_lookup() - the unit named by @len bytes of @name, or NULL; under the lock. */
vmt_unit *vmti_units_lookup(const vmt_units *s, const char *name, size_t len);

/* vmti_units_graph_free() - free every unit and the name table of @s. */
void vmti_units_graph_free(vmt_units *s);

/*
 * vmti_units_lock_for_change() - take the lock to change the set or claim
 * it for an operation: waits while inspects are calling inspect operations
 * (s->inspecting).  From inside one of those it would wait for itself:
 * -EBUSY with the lock released, as from inside any other unit operation.
 */
int vmti_units_lock_for_change(vmt_units *s);

/*
 * The inspects under way on this thread, innermost first (an inspect
 * operation may inspect another set whose operation changes this one):
 * vmt_units_inspect() pushes a frame around its calls of inspect operations.
 */
struct vmti_inspect_frame {
	const vmt_units *set;
	struct vmti_inspect_frame *up;
};

void vmti_units_inspect_push(struct vmti_inspect_frame *f, const vmt_units *s);
void vmti_units_inspect_pop(struct vmti_inspect_frame *f);

#endif /* VMT_UNITS_INTERNAL_H */
