/* SPDX-License-Identifier: MIT */
/*
 * vmtime/integration/sd-event.h - vmtime's loop inside a systemd sd-event loop.
 *
 * Header-only: include it in code that links libsystemd; libvmtime itself
 * links nothing of it.  An sd_event_add_io() source on vmt_loop_get_fd()
 * for EPOLLIN calls vmt_loop_dispatch().  No sd-event timer is needed: the
 * fd becomes readable by itself at the next deadline.
 */
#ifndef VMTIME_INTEGRATION_SD_EVENT_H
#define VMTIME_INTEGRATION_SD_EVENT_H

#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>

#include <systemd/sd-event.h>

#include <vmtime/loop.h>

/* Embed in your own state; valid from vmt_sd_event_start() to vmt_sd_event_stop(). */
struct vmt_sd_event {
	sd_event_source *src;
	vmt_loop *loop;
	int error;	/* the last negative return of vmt_loop_dispatch(), else 0 */
};

static inline int vmt_sd_event_on_ready(sd_event_source *s, int fd, uint32_t revents,
					void *userdata)
{
	struct vmt_sd_event *w = (struct vmt_sd_event *)userdata;
	int r;

	(void)s;
	(void)fd;
	(void)revents;
	/* Never blocks; re-arms the fd for the next deadline before it returns. */
	r = vmt_loop_dispatch(w->loop);
	if (r < 0)
		w->error = r;
	/* 0 even on error: a negative return would disable the source for good. */
	return 0;
}

/**
 * vmt_sd_event_start() - dispatch @loop from the sd-event loop @e.
 * @e: the sd-event loop
 * @loop: the vmtime loop; must outlive the watch
 * @w: caller-owned storage for the watch
 *
 * Context: the thread that runs @e; the vmtime callbacks run there, from
 * inside sd_event_loop() or sd_event_run().
 * Return: 0, -EINVAL for a NULL argument or a bad loop fd, or the negative
 * errno of sd_event_add_io() (e.g. -ENOMEM, -ECHILD after a fork).
 */
static inline int vmt_sd_event_start(sd_event *e, vmt_loop *loop, struct vmt_sd_event *w)
{
	int fd;

	if (!e || !loop || !w)
		return -EINVAL;
	fd = vmt_loop_get_fd(loop);
	if (fd < 0)
		return -EINVAL;
	w->loop = loop;
	w->error = 0;
	w->src = NULL;
	/* sd-event nests the epoll fd in its own epoll set, as any fd. */
	return sd_event_add_io(e, &w->src, fd, EPOLLIN, vmt_sd_event_on_ready, w);
}

/**
 * vmt_sd_event_stop() - stop dispatching and drop the source.
 * @w: a watch started by vmt_sd_event_start(), or one whose start failed
 *
 * Call it before vmt_loop_free(), which closes the fd the source watches.
 *
 * Context: the thread that runs the sd-event loop.
 * Return: 0, -EINVAL for a NULL @w.
 */
static inline int vmt_sd_event_stop(struct vmt_sd_event *w)
{
	if (!w)
		return -EINVAL;
	w->src = sd_event_source_disable_unref(w->src);
	return 0;
}

#endif /* VMTIME_INTEGRATION_SD_EVENT_H */
