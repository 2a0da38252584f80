/* SPDX-License-Identifier: MIT */
/* source-internal.h - the read handle on a clock page (not installed). */
#ifndef VMT_SOURCE_INTERNAL_H
#define VMT_SOURCE_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>

#include <vmtime/keeper.h>
#include <vmtime/source.h>

#include "page.h"

/*
 * How a source learns that the clock changed state.  A keeper's own source
 * subscribes an eventfd directly with the keeper; an attached source (another
 * process) plugs in its own ops to pass the eventfd over its channel.
 */
struct vmti_source_ops {
	int (*subscribe)(vmt_source *src, int efd);
	void (*unsubscribe)(vmt_source *src, int efd);
	/* 1 while the keeper is alive, -ESHUTDOWN once it is gone. */
	int (*alive)(const vmt_source *src);
};

struct vmt_source {
	/*
	 * The page readers use.  Atomic so an attached source whose keeper died
	 * can swap in a private frozen copy: readers never see the dead keeper's
	 * clock run on.
	 */
	_Atomic(const struct vmti_page *) page;
	vmt_keeper *keeper; /* NULL for a source attached from another process */
	vmt_host_clock_fn host_clock; /* test hook; NULL for the real clocks */
	void *host_clock_opaque;
	const struct vmti_source_ops *ops;
	void *priv; /* owned by whoever set ops */
};

/* A consistent copy of the page's mutable state. */
struct vmti_clock_state {
	uint64_t flags;
	vmt_ns vm_base;
	vmt_ns host_base;
	uint64_t generation;
	uint64_t reset_count;
	uint64_t wall_steps;
	vmt_ns vm_now; /* VM time at the moment the state was read */
	vmt_ns host_now; /* host monotonic time at that moment */
};

/* Reads HOST, WALL or BOOT (through the test hook when there is one). */
vmt_ns vmti_host_now(const vmt_source *src, enum vmt_clock clock);

/* Reads the whole state and VM/host "now" under one sequence. */
void vmti_source_state(const vmt_source *src, struct vmti_clock_state *st);

/* Host monotonic time from a page, with the TSC when the page says so. */
vmt_ns vmti_page_host_mono(const vmt_source *src, const struct vmti_page *p, uint64_t flags);

int vmti_source_subscribe(vmt_source *src, int efd);
void vmti_source_unsubscribe(vmt_source *src, int efd);

#endif /* VMT_SOURCE_INTERNAL_H */
