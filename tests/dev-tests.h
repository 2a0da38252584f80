/* SPDX-License-Identifier: MIT */
/*
 * tests/dev-tests.h - what the device tests share: a manual VM clock with
 * a loop on it (struct dev_clock), a fake interrupt controller that records
 * what a device drives on its lines (struct dev_irq_log), and round-tripping
 * saved state through a real snapshot image.
 */
#ifndef VMT_DEV_TESTS_H
#define VMT_DEV_TESTS_H

#include <stdatomic.h>
#include <stdbool.h>

#include <vmtime/keeper.h>
#include <vmtime/loop.h>
#include <vmtime/snapshot.h>

#include "tests.h"

/* A manual keeper, its source and one loop on it: the device's clock. */
struct dev_clock {
	vmt_keeper *k;
	vmt_source *src;
	vmt_loop *loop;
};

/*
 * Build @c from @kc (forced to MANUAL).  The keeper is left stopped, so a
 * device created on @c->loop (or restored) sees no time pass before the
 * test calls vmt_keeper_start().
 */
static inline void dev_clock_init_config(struct dev_clock *c, struct vmt_keeper_config *kc)
{
	kc->mode = VMT_KEEPER_MANUAL;
	ASSERT_OK(vmt_keeper_new(kc, &c->k));
	c->src = vmt_keeper_source(c->k);
	ASSERT_OK(vmt_loop_new(c->src, &c->loop));
}

/* The same, with the VM clock at @t0 and the real host clocks. */
static inline void dev_clock_init(struct dev_clock *c, vmt_ns t0)
{
	struct vmt_keeper_config kc = VMT_KEEPER_CONFIG_INIT;

	kc.initial_vm_time = t0;
	dev_clock_init_config(c, &kc);
}

/* Free the loop, then the keeper (free the devices on the loop first). */
static inline void dev_clock_fini(struct dev_clock *c)
{
	vmt_loop_free(c->loop);
	vmt_keeper_free(c->k);
}

static inline vmt_ns dev_now(const struct dev_clock *c)
{
	return vmt_now(c->src, VMT_CLOCK_VM);
}

/* Run the loop until VM time @t. */
static inline void dev_run_to(struct dev_clock *c, vmt_ns t)
{
	ASSERT_OK(vmt_loop_run_until(c->loop, t));
}

#define DEV_IRQ_LINES 64
#define DEV_IRQ_TIMES 4096

/*
 * The fake interrupt controller: dev_irq_record() is a vmt_irq_fn whose
 * opaque is a struct dev_irq_log.  The counters are atomic because in the
 * threaded tests the loop thread raises while the test thread reads.
 */
struct dev_irq_log {
	vmt_source *src;	/* the clock raise times are read on */
	unsigned lines;		/* a call on a line at or above this aborts */
	bool changes_only;	/* a call that leaves the level as it was aborts */
	int accept;		/* what a raise is answered (0: not taken) */
	atomic_int raises[DEV_IRQ_LINES];	/* level-1 calls per line */
	atomic_int lowers[DEV_IRQ_LINES];	/* level-0 calls per line */
	atomic_int level[DEV_IRQ_LINES];	/* each line's last level */
	atomic_int calls;	/* every call, any line, any level */
	atomic_int nraised;	/* level-1 calls on any line */
	vmt_ns at[DEV_IRQ_TIMES];	/* VM time of the first raises, any line */
	vmt_ns last_at;		/* VM time of the last raise */
};

/* Zero @log: @lines lines read on @src, every raise taken. */
static inline void dev_irq_init(struct dev_irq_log *log, vmt_source *src, unsigned lines)
{
	memset(log, 0, sizeof(*log));
	log->src = src;
	log->lines = lines;
	log->accept = 1;
}

/*
 * Not a test assertion: this runs in the device's callback, maybe on the
 * loop thread, where a test failure's longjmp() cannot go.
 */
static inline int dev_irq_record(void *opaque, unsigned line, int level)
{
	struct dev_irq_log *log = opaque;
	int n;

	if (line >= log->lines || line >= DEV_IRQ_LINES) {
		fprintf(stderr, "  FAIL: interrupt on line %u of %u\n", line, log->lines);
		abort();
	}
	if (log->changes_only && atomic_load(&log->level[line]) == level) {
		/* A level line is only driven on changes. */
		fprintf(stderr, "  FAIL: line %u driven to %d twice\n", line, level);
		abort();
	}
	atomic_fetch_add(&log->calls, 1);
	atomic_store(&log->level[line], level);
	if (!level) {
		atomic_fetch_add(&log->lowers[line], 1);
		return 0;
	}
	atomic_fetch_add(&log->raises[line], 1);
	n = atomic_fetch_add(&log->nraised, 1);
	log->last_at = vmt_now(log->src, VMT_CLOCK_VM);
	if (n < DEV_IRQ_TIMES)
		log->at[n] = log->last_at;
	return log->accept;
}

/* Seal @sw and open its image again: @r reads the section @name. */
static inline void dev_reopen(vmt_snap_writer *sw, const char *name, vmt_snap_reader **sr,
			      vmt_fields_reader *r)
{
	struct vmt_snap_section sec;
	const void *buf;
	size_t len;

	ASSERT_OK(vmt_snap_writer_save_buffer(sw, &buf, &len, NULL));
	ASSERT_OK(vmt_snap_reader_from_buffer(buf, len, sr, NULL));
	ASSERT_OK(vmt_snap_reader_find(*sr, name, &sec));
	*r = sec.fields;
}

#endif /* VMT_DEV_TESTS_H */
