/* SPDX-License-Identifier: MIT */
/*
 * wheel.h - a hierarchical timing wheel with exact deadlines (not installed).
 *
 * Why a wheel: a VMM re-arms device timers constantly (every guest write to
 * a timer register), mostly from vCPU threads, and keeps many timers pending.
 * Arm, re-arm and cancel here are O(1) list operations on a slot chosen from
 * the deadline's bits, independent of how many timers are pending; a heap
 * pays O(log n) cache misses on each of them.  The wheel keeps each timer's
 * exact deadline: slots only group timers, and a timer fires when the clock
 * reaches its own deadline, never at a slot boundary.
 *
 * Layout: 9 levels of 64 slots.  Time is counted in ticks of 2^10 ns; level L
 * holds timers whose deadline tick first differs from the wheel's cursor in
 * 6-bit digit L, in the slot named by that digit.  Moving the cursor
 * re-places ("cascades") the timers of the slots it reaches, each to a lower
 * level; a timer cascades at most 9 times in its life, and mostly never (a
 * re-armed device timer is removed before the cursor gets to it).  Timers
 * whose tick the cursor has reached sit on the "near" list, where collection
 * compares exact deadlines.  All digits of a 64-bit deadline are covered, so
 * nothing is clamped.
 *
 * Two shortcuts keep re-arm and cancel from touching any node but their own
 * (at 10^6 pending timers every other node is a cache miss):
 *  - re-arming a node to a deadline not earlier than the start of the slot
 *    it sits in only rewrites its deadline: the cursor reaches that slot
 *    before the deadline, and cascading then places the node by its new
 *    deadline.  A device timer pushed later, the common case, never moves.
 *  - cancelling a node outside the near list only marks it dead; cascading
 *    unlinks dead nodes.  Re-arming a dead node revives it in place.
 * A slot may therefore hold nodes whose deadlines lie beyond its range, but
 * never before it.
 *
 * The earliest deadline is the minimum of the near list or else of the live
 * nodes of the occupied slots, visited in range order (ranges are ordered
 * across levels) until the minimum found is not beyond the visited slot's
 * range; it is cached and recomputed only when the cached timer leaves or the
 * cursor moves.
 *
 * Not thread-safe: the loop serializes access.
 */
#ifndef VMT_WHEEL_H
#define VMT_WHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vmtime/time.h>

#define VMTI_WHEEL_LEVELS 9
#define VMTI_WHEEL_SLOTS 64
#define VMTI_WHEEL_BITS 6
#define VMTI_WHEEL_GRAN_SHIFT 10
#define VMTI_WHEEL_NEAR 0xffff

struct vmti_wnode {
	struct vmti_wnode *next;
	struct vmti_wnode **pprev; /* NULL when not in a wheel */
	vmt_ns deadline;
	uint64_t seq;	/* arming order, for FIFO among equal deadlines */
	uint16_t where; /* level * 64 + slot, or VMTI_WHEEL_NEAR */
	bool dead;	/* cancelled but still linked (see vmti_wheel_cancel) */
};

struct vmti_wheel {
	vmt_ns cur; /* the time the wheel was last advanced to */
	size_t count;
	vmt_ns next;
	bool next_valid;
	struct vmti_wnode *near;
	uint64_t occupied[VMTI_WHEEL_LEVELS];
	struct vmti_wnode *slot[VMTI_WHEEL_LEVELS][VMTI_WHEEL_SLOTS];
};

void vmti_wheel_init(struct vmti_wheel *w, vmt_ns now);
void vmti_wheel_insert(struct vmti_wheel *w, struct vmti_wnode *n);
/* Unlinks a linked node (live or dead). */
void vmti_wheel_remove(struct vmti_wheel *w, struct vmti_wnode *n);

/* Sets @n's deadline to @deadline and makes it live, moving it only if needed. */
void vmti_wheel_rearm(struct vmti_wheel *w, struct vmti_wnode *n, vmt_ns deadline);

/* Makes a linked node dead (or unlinks it from the near list). */
void vmti_wheel_cancel(struct vmti_wheel *w, struct vmti_wnode *n);

/* Moves the cursor to @now (no-op if @now is not later) and cascades. */
void vmti_wheel_advance(struct vmti_wheel *w, vmt_ns now);

/*
 * Like vmti_wheel_advance(), but a cascading node that is already due
 * (deadline <= @now) goes straight to @fn, unlinked, instead of through the
 * near list: a large jump of the clock touches each due node once.  Due
 * nodes already on the near list still need vmti_wheel_collect().
 * Returns how many nodes went to @fn.
 */
size_t vmti_wheel_advance_collect(struct vmti_wheel *w, vmt_ns now,
				  void (*fn)(struct vmti_wnode *n, void *arg), void *arg);

/*
 * Removes every node with deadline <= @now from the near list and passes it
 * to @fn.  Call after vmti_wheel_advance(w, now).
 */
size_t vmti_wheel_collect(struct vmti_wheel *w, vmt_ns now,
			  void (*fn)(struct vmti_wnode *n, void *arg), void *arg);

/* The earliest deadline, or VMT_NS_NEVER if the wheel is empty. */
vmt_ns vmti_wheel_next(struct vmti_wheel *w);

/* Re-places every node relative to @now, which may be earlier than the cursor. */
void vmti_wheel_rebase(struct vmti_wheel *w, vmt_ns now);

static inline bool vmti_wnode_queued(const struct vmti_wnode *n)
{
	return n->pprev != NULL;
}

#endif /* VMT_WHEEL_H */
