/* SPDX-License-Identifier: MIT */
/* source-internal.h - the read handle on a clock page (not installed). */
#ifndef VMT_SOURCE_INTERNAL_H
#define VMT_SOURCE_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>

#include <vmtime/source.h>

#include "page.h"

/*
 * What a source does beyond reading its page, installed by whoever made it:
 * the keeper for its own source (keeper.c), share.c for an attached one.  A
 * source knows nothing of either.
 */
struct vmti_source_ops {
	/* Pass wakes on clock state changes to eventfd @efd / stop doing so. */
	int (*subscribe)(vmt_source *src, int efd);
	void (*unsubscribe)(vmt_source *src, int efd);
	/* 1 while the keeper is alive, -ESHUTDOWN once it is gone. */
	int (*alive)(const vmt_source *src);
	/*
	 * The keeper stayed inside a page write past the source's stuck_ns:
	 * take it for dead, and freeze the source (its page pointer) without
	 * waiting again.  NULL for a keeper in this process: it cannot die
	 * without its readers, so they wait for it.
	 */
	void (*stuck)(const vmt_source *src);
	/* Steps a manual clock (vmt_keeper_advance()); NULL: -EOPNOTSUPP. */
	int (*advance)(vmt_source *src, vmt_ns ns);
};

struct vmt_source {
	/*
	 * The page readers use.  Atomic so an attached source whose keeper died
	 * can swap in a private frozen copy: readers never see the dead keeper's
	 * clock run on.
	 */
	_Atomic(const struct vmti_page *) page;
	struct vmti_host_hook hook; /* test hook; fn NULL for the real clocks */
	const struct vmti_source_ops *ops;
	vmt_ns stuck_ns; /* with ops->stuck: how long readers wait for a write */
	/* Injected wall-clock steps (vmt_keeper_wall_stepped(), a test hook). */
	_Atomic uint64_t wall_steps;
};

/* Reads HOST, WALL or BOOT (through the test hook when there is one). */
vmt_ns vmti_host_now(const vmt_source *src, enum vmt_clock clock);

void vmti_source_read_slow(const vmt_source *src, unsigned what, struct vmti_clock_state *st);

/*
 * The whole state and VM/host "now" under one sequence (@what: see
 * vmti_page_try_read()); never waits unboundedly for a keeper that can die.
 */
static inline void vmti_source_read(const vmt_source *src, unsigned what,
				    struct vmti_clock_state *st)
{
	const struct vmti_page *p = atomic_load_explicit(&src->page, memory_order_acquire);

	if (__builtin_expect(vmti_page_try_read(p, &src->hook, what, st) != 0, 0))
		vmti_source_read_slow(src, what, st);
}

/* Same, with the injected wall-clock steps (loops). */
void vmti_source_state(const vmt_source *src, struct vmti_clock_state *st);

int vmti_source_subscribe(vmt_source *src, int efd);
void vmti_source_unsubscribe(vmt_source *src, int efd);

/* Steps a manual clock through the source's keeper: -EOPNOTSUPP if it has none. */
int vmti_source_advance(vmt_source *src, vmt_ns ns);

#endif /* VMT_SOURCE_INTERNAL_H */
