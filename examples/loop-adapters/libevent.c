/* SPDX-License-Identifier: MIT */
/*
 * libevent.c - vmtime's loop inside a libevent base.
 *
 * A persistent read event on vmt_loop_get_fd() calls vmt_loop_dispatch();
 * an evtimer of the VMM drives the phases.
 */
#include <event2/event.h>

#include "demo.h"

static struct event *vmt_watch, *phases;

/* The fd is readable: something is due (or the VM clock changed state). */
static void on_vmtime(evutil_socket_t fd, short what, void *userdata)
{
	struct demo *d = userdata;

	(void)fd;
	(void)what;
	/* Never blocks; re-arms the fd for the next deadline before it returns. */
	demo_check(d, vmt_loop_dispatch(d->loop) >= 0, "vmt_loop_dispatch");
}

static void on_phase(evutil_socket_t fd, short what, void *userdata)
{
	struct demo *d = userdata;
	int next = demo_step(d);
	struct timeval tv = { .tv_usec = next * 1000 };

	(void)fd;
	(void)what;
	if (next >= 0 && d->ok)
		evtimer_add(phases, &tv);
	else
		event_del(vmt_watch); /* nothing left pending: the base returns */
}

int main(void)
{
	struct timeval first = { .tv_usec = 100 * 1000 };
	struct event_base *base;
	struct demo d;

	if (demo_init(&d) < 0)
		return 1;
	base = event_base_new();
	if (base) {
		/* EV_PERSIST: the fd stays watched until deleted, not one wake-up. */
		vmt_watch = event_new(base, vmt_loop_get_fd(d.loop), EV_READ | EV_PERSIST,
				      on_vmtime, &d);
		phases = evtimer_new(base, on_phase, &d);
	}
	demo_check(&d, vmt_watch && phases, "event_new");
	demo_check(&d, d.ok && event_add(vmt_watch, NULL) == 0, "event_add");
	demo_check(&d, d.ok && evtimer_add(phases, &first) == 0, "evtimer_add");
	if (d.ok)
		event_base_dispatch(base);
	/* Free the events before vmt_loop_free() closes the fd. */
	if (vmt_watch)
		event_free(vmt_watch);
	if (phases)
		event_free(phases);
	if (base)
		event_base_free(base);
	return demo_finish(&d, "libevent");
}
