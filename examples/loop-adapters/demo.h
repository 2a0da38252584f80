/* SPDX-License-Identifier: MIT */
/*
 * demo.h - the VM every loop adapter example drives, and its checks.
 *
 * The adapters (epoll.c, libuv.c, glib.c, libevent.c) differ only in how
 * their event loop watches vmt_loop_get_fd() and calls vmt_loop_dispatch();
 * the VM they run is this one, so that part is written once:
 *
 *   - a REAL keeper (VM time follows CLOCK_MONOTONIC while the VM runs);
 *   - a 2 ms VM-clock periodic "tick" (a guest timer device, CATCHUP so no
 *     tick is ever lost) and a 10 ms HOST-clock "beat" (host housekeeping,
 *     which keeps running while the VM is paused);
 *   - phases driven by the foreign loop through demo_step(): run 100 ms,
 *     pause 50 ms, run 100 ms.
 *
 * The checks bound counts, never durations, so a loaded machine that runs a
 * phase late only changes the numbers printed.
 */
#ifndef LOOP_ADAPTERS_DEMO_H
#define LOOP_ADAPTERS_DEMO_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <vmtime/vmtime.h>

#define DEMO_TICK (2 * VMT_NS_PER_MS)
#define DEMO_BEAT (10 * VMT_NS_PER_MS)

struct demo {
	vmt_keeper *k;
	vmt_loop *loop;
	vmt_timer *tick, *beat;
	uint64_t ticks, beats, early;
	vmt_ns beat_armed;		/* HOST time the beat's grid starts at */
	int phase;
	uint64_t ticks_at_pause, beats_at_pause, ticks_in_pause, beats_in_pause;
	vmt_ns vm_at_pause;
	vmt_ns vm_synced;		/* VM time at the end of the last demo_sync() */
	bool ok;
};

static void demo_tick(vmt_timer *t, uint64_t expirations, void *userdata)
{
	struct demo *d = userdata;

	(void)t;
	d->ticks += expirations; /* always 1 with CATCHUP */
	/* Tick n is due at VM time n * period: a tick ahead of VM time is a bug. */
	if (d->ticks * DEMO_TICK > vmt_now(vmt_loop_source(d->loop), VMT_CLOCK_VM))
		d->early++;
}

static void demo_beat(vmt_timer *t, uint64_t expirations, void *userdata)
{
	(void)t;
	((struct demo *)userdata)->beats += expirations; /* COALESCE: missed beats counted */
}

static void demo_check(struct demo *d, bool cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "FAIL: %s\n", what);
		d->ok = false;
	}
}

/* A periodic count must be floor(elapsed / period) for some elapsed in [t0, t1]. */
static void demo_within(struct demo *d, const char *what, uint64_t n, vmt_ns t0, vmt_ns t1,
			vmt_ns period)
{
	if (n >= t0 / period && n <= t1 / period)
		return;
	fprintf(stderr, "FAIL: %" PRIu64 " %s after %" PRIu64 "..%" PRIu64 " ns\n", n, what, t0, t1);
	d->ok = false;
}

static void demo_free(struct demo *d)
{
	/* Timers before their loop, the loop before the keeper whose source it reads. */
	vmt_timer_free(d->tick);
	vmt_timer_free(d->beat);
	vmt_loop_free(d->loop);
	vmt_keeper_free(d->k);
}

/* A REAL keeper, its loop, both timers armed, the VM clock started. */
static int demo_init(struct demo *d)
{
	int r;

	memset(d, 0, sizeof(*d));
	d->ok = true;
	r = vmt_keeper_new(NULL, &d->k);
	if (!r)
		r = vmt_loop_new(vmt_keeper_source(d->k), &d->loop);
	if (!r)
		r = vmt_timer_new(d->loop, VMT_CLOCK_VM, demo_tick, d, &d->tick);
	if (!r)
		r = vmt_timer_new(d->loop, VMT_CLOCK_HOST, demo_beat, d, &d->beat);
	if (!r)
		r = vmt_timer_arm_periodic(d->tick, DEMO_TICK, DEMO_TICK, VMT_MISSED_CATCHUP);
	if (!r) {
		d->beat_armed = vmt_now(vmt_keeper_source(d->k), VMT_CLOCK_HOST);
		r = vmt_timer_arm_periodic(d->beat, d->beat_armed + DEMO_BEAT, DEMO_BEAT,
					   VMT_MISSED_COALESCE);
	}
	if (!r)
		r = vmt_keeper_start(d->k);
	if (r < 0) {
		fprintf(stderr, "demo: setup failed: %s\n", strerror(-r));
		demo_free(d);
	}
	return r;
}

/*
 * Dispatch until nothing is due, so the counters cover every deadline that
 * passed before the call, then check them against the clocks read around it:
 * a timer never fires early, and (CATCHUP, COALESCE) never loses a deadline.
 * Called from the foreign loop, never from a vmtime callback (dispatch would
 * return -EBUSY there).
 */
static void demo_sync(struct demo *d)
{
	vmt_source *src = vmt_loop_source(d->loop);
	vmt_ns vm0 = vmt_now(src, VMT_CLOCK_VM), host0 = vmt_now(src, VMT_CLOCK_HOST);
	vmt_ns vm1, host1;

	while (vmt_loop_timeout_ns(d->loop) == 0)
		demo_check(d, vmt_loop_dispatch(d->loop) >= 0, "vmt_loop_dispatch");
	vm1 = vmt_now(src, VMT_CLOCK_VM);
	host1 = vmt_now(src, VMT_CLOCK_HOST);
	d->vm_synced = vm1;
	demo_within(d, "ticks (VM)", d->ticks, vm0, vm1, DEMO_TICK);
	demo_within(d, "beats (HOST)", d->beats, host0 - d->beat_armed, host1 - d->beat_armed,
		    DEMO_BEAT);
}

/*
 * The phases, called from a timer of the foreign loop.  Return: the
 * milliseconds until the next call, or -1 when the run is over.
 */
static int demo_step(struct demo *d)
{
	vmt_source *src = vmt_loop_source(d->loop);

	demo_sync(d);
	switch (d->phase++) {
	case 0: /* ran 100 ms: pause the VM, as a VMM's "stop" command does */
		demo_check(d, vmt_keeper_stop(d->k) == 0, "vmt_keeper_stop");
		d->vm_at_pause = vmt_now(src, VMT_CLOCK_VM);
		d->ticks_at_pause = d->ticks;
		d->beats_at_pause = d->beats;
		return 50;
	case 1: /* paused 50 ms: VM time froze, no tick fired, the beat went on */
		d->ticks_in_pause = d->ticks - d->ticks_at_pause;
		d->beats_in_pause = d->beats - d->beats_at_pause;
		demo_check(d, vmt_now(src, VMT_CLOCK_VM) == d->vm_at_pause,
			   "VM time frozen while paused");
		demo_check(d, d->ticks_in_pause == 0, "no VM tick while paused");
		demo_check(d, d->beats_in_pause > 0, "HOST beat runs while paused");
		demo_check(d, vmt_keeper_start(d->k) == 0, "vmt_keeper_start");
		return 100;
	default:
		/*
		 * Ran 100 ms more: demo_sync() above made the final check.  It
		 * cannot be made after the stop: ticks that fell due between
		 * the sync and the stop only fire once the VM runs again.
		 */
		demo_check(d, vmt_keeper_stop(d->k) == 0, "vmt_keeper_stop");
		return -1;
	}
}

/* Print the summary, free everything.  Return: the exit status. */
static int demo_finish(struct demo *d, const char *name)
{
	vmt_ns vm = d->vm_synced;

	demo_check(d, d->phase == 3, "the loop ran every phase");
	demo_check(d, d->early == 0, "no tick ahead of VM time");
	printf("%s: %" PRIu64 " ticks in %" PRIu64 ".%03" PRIu64 " ms of VM time (floor(vm / 2 ms) = %"
	       PRIu64 "), %" PRIu64 " HOST beats; paused at VM %" PRIu64 " ms: %" PRIu64
	       " ticks, %" PRIu64 " beats: %s\n",
	       name, d->ticks, vm / VMT_NS_PER_MS, vm % VMT_NS_PER_MS / VMT_NS_PER_US,
	       vm / DEMO_TICK, d->beats, d->vm_at_pause / VMT_NS_PER_MS, d->ticks_in_pause,
	       d->beats_in_pause, d->ok ? "ok" : "FAILED");
	demo_free(d);
	return d->ok ? 0 : 1;
}

#endif /* LOOP_ADAPTERS_DEMO_H */
