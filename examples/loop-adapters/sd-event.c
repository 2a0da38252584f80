/* SPDX-License-Identifier: MIT */
/*
 * sd-event.c - vmtime's loop inside a systemd sd-event loop.
 *
 * <vmtime/integration/sd-event.h> adds an io source on vmt_loop_get_fd()
 * that calls vmt_loop_dispatch(); a one-shot CLOCK_MONOTONIC time source of
 * the VMM drives the phases.
 */
#include <systemd/sd-event.h>
#include <vmtime/integration/sd-event.h>

#include "demo.h"

static struct vmt_sd_event vmt_watch;

static int on_phase(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct demo *d = userdata;
	int next = demo_step(d);

	if (next >= 0 && d->ok) {
		demo_check(d, sd_event_source_set_time(s, usec + (uint64_t)next * 1000) >= 0,
			   "sd_event_source_set_time");
		demo_check(d, sd_event_source_set_enabled(s, SD_EVENT_ONESHOT) >= 0,
			   "sd_event_source_set_enabled");
		return 0;
	}
	return sd_event_exit(sd_event_source_get_event(s), 0);
}

int main(void)
{
	sd_event_source *phases = NULL;
	sd_event *e = NULL;
	struct demo d;
	uint64_t now;

	if (demo_init(&d) < 0)
		return 1;
	demo_check(&d, sd_event_new(&e) >= 0, "sd_event_new");
	demo_check(&d, d.ok && vmt_sd_event_start(e, d.loop, &vmt_watch) >= 0, "vmt_sd_event_start");
	demo_check(&d, d.ok && sd_event_now(e, CLOCK_MONOTONIC, &now) >= 0, "sd_event_now");
	demo_check(&d, d.ok && sd_event_add_time(e, &phases, CLOCK_MONOTONIC, now + 100 * 1000, 0,
						 on_phase, &d) >= 0, "sd_event_add_time");
	if (d.ok)
		demo_check(&d, sd_event_loop(e) >= 0, "sd_event_loop");
	demo_check(&d, vmt_watch.error == 0, "no error while dispatching");
	/* Drop the source before vmt_loop_free() closes its fd. */
	vmt_sd_event_stop(&vmt_watch);
	sd_event_source_unref(phases);
	sd_event_unref(e);
	return demo_finish(&d, "sd-event");
}
