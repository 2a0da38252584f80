/* SPDX-License-Identifier: MIT */
/*
 * vmtime/integration/event.h - vmtime's loop inside a libevent base.
 *
 * Header-only: include it in code that links libevent; libvmtime itself
 * links nothing of libevent.  A persistent EV_READ event on
 * vmt_loop_get_fd() calls vmt_loop_dispatch().  No evtimer is needed: the
 * fd becomes readable by itself at the next deadline.
 */
#ifndef VMTIME_INTEGRATION_EVENT_H
#define VMTIME_INTEGRATION_EVENT_H

#include <errno.h>

#include <event2/event.h>

#include <vmtime/loop.h>

/* Embed in your own state; valid from vmt_event_start() to vmt_event_stop(). */
struct vmt_event {
	struct event *ev;
	vmt_loop *loop;
	int error;	/* the last negative return of vmt_loop_dispatch(), else 0 */
};

static inline void vmt_event_on_ready(evutil_socket_t fd, short what, void *userdata)
{
	struct vmt_event *w = (struct vmt_event *)userdata;
	int r;

	(void)fd;
	(void)what;
	/* Never blocks; re-arms the fd for the next deadline before it returns. */
	r = vmt_loop_dispatch(w->loop);
	if (r < 0)
		w->error = r;
}

/**
 * vmt_event_start() - dispatch @loop from the libevent base @base.
 * @base: the event base
 * @loop: the vmtime loop; must outlive the watch
 * @w: caller-owned storage for the watch
 *
 * Context: the thread that runs @base; the vmtime callbacks run there,
 * from inside event_base_dispatch() or event_base_loop().
 * Return: 0, -EINVAL for a NULL argument or a bad loop fd, -ENOMEM if
 * event_new() failed, -EIO if event_add() failed.
 */
static inline int vmt_event_start(struct event_base *base, vmt_loop *loop, struct vmt_event *w)
{
	int fd;

	if (!base || !loop || !w)
		return -EINVAL;
	fd = vmt_loop_get_fd(loop);
	if (fd < 0)
		return -EINVAL;
	w->loop = loop;
	w->error = 0;
	/* EV_PERSIST: the fd stays watched until deleted, not one wake-up. */
	w->ev = event_new(base, fd, EV_READ | EV_PERSIST, vmt_event_on_ready, w);
	if (!w->ev)
		return -ENOMEM;
	if (event_add(w->ev, NULL) < 0) {
		event_free(w->ev);
		w->ev = NULL;
		return -EIO;
	}
	return 0;
}

/**
 * vmt_event_stop() - stop dispatching and free the event.
 * @w: a watch started by vmt_event_start(), or one whose start failed
 *
 * Call it before vmt_loop_free(), which closes the fd the event watches.
 * A base with nothing else pending returns from event_base_dispatch().
 *
 * Context: the thread that runs the base.
 * Return: 0, -EINVAL for a NULL @w.
 */
static inline int vmt_event_stop(struct vmt_event *w)
{
	if (!w)
		return -EINVAL;
	if (w->ev)
		event_free(w->ev); /* event_free() deletes a pending event first */
	w->ev = NULL;
	return 0;
}

#endif /* VMTIME_INTEGRATION_EVENT_H */
