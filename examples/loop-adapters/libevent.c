/* SPDX-License-Identifier: MIT */
/*
 * libevent.c - vmtime's loop inside a libevent base.
 *
 * <vmtime/integration/event.h> adds a persistent read event on
 * vmt_loop_get_fd() that calls vmt_loop_dispatch(); an evtimer of the VMM
 * drives the phases.
 */
#include <event2/event.h>
#include <vmtime/integration/event.h>

#include "demo.h"

static struct vmt_event vmt_watch;
static struct event *phases;

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
		vmt_event_stop(&vmt_watch); /* nothing left pending: the base returns */
}

int main(void)
{
	struct timeval first = { .tv_usec = 100 * 1000 };
	struct event_base *base;
	struct demo d;

	if (demo_init(&d) < 0)
		return 1;
	base = event_base_new();
	if (base)
		phases = evtimer_new(base, on_phase, &d);
	demo_check(&d, phases != NULL, "evtimer_new");
	demo_check(&d, d.ok && vmt_event_start(base, d.loop, &vmt_watch) == 0, "vmt_event_start");
	demo_check(&d, d.ok && evtimer_add(phases, &first) == 0, "evtimer_add");
	if (d.ok)
		event_base_dispatch(base);
	/* Free the events before vmt_loop_free() closes the fd. */
	demo_check(&d, vmt_watch.error == 0, "no error while dispatching");
	vmt_event_stop(&vmt_watch);
	if (phases)
		event_free(phases);
	if (base)
		event_base_free(base);
	return demo_finish(&d, "libevent");
}
