/* SPDX-License-Identifier: MIT */
/*
 * vmtime/integration/uv.h - vmtime's loop inside a libuv loop.
 *
 * Header-only: include it after <uv.h> in code that links libuv; libvmtime
 * itself links nothing of libuv.  A uv_poll_t watches vmt_loop_get_fd() for
 * UV_READABLE and its callback calls vmt_loop_dispatch().  No uv timer is
 * needed: the fd becomes readable by itself at the next deadline.
 */
#ifndef VMTIME_INTEGRATION_UV_H
#define VMTIME_INTEGRATION_UV_H

#include <errno.h>

#include <uv.h>

#include <vmtime/loop.h>

/* Embed in your own state; valid from vmt_uv_start() until its close callback. */
struct vmt_uv {
	uv_poll_t poll;
	vmt_loop *loop;
	int error;	/* the last negative return of vmt_loop_dispatch(), else 0 */
};

static inline void vmt_uv_on_ready(uv_poll_t *p, int status, int events)
{
	struct vmt_uv *w = (struct vmt_uv *)p->data;
	int r;

	(void)events;
	if (status < 0) {
		w->error = status;
		return;
	}
	/* Never blocks; re-arms the fd for the next deadline before it returns. */
	r = vmt_loop_dispatch(w->loop);
	if (r < 0)
		w->error = r;
}

/**
 * vmt_uv_start() - dispatch @loop from the libuv loop @uv.
 * @uv: the libuv loop
 * @loop: the vmtime loop; must outlive the watch
 * @w: caller-owned storage for the watch
 *
 * Context: the thread that runs @uv.  The vmtime callbacks then run on
 * that thread, from inside uv_run().
 * Return: 0, -EINVAL for a NULL argument or a bad loop fd, or the negative
 * libuv error of uv_poll_init() or uv_poll_start() (nothing left to close).
 */
static inline int vmt_uv_start(uv_loop_t *uv, vmt_loop *loop, struct vmt_uv *w)
{
	int fd, r;

	if (!uv || !loop || !w)
		return -EINVAL;
	fd = vmt_loop_get_fd(loop);
	if (fd < 0)
		return -EINVAL;
	/* uv_poll_init(), not uv_poll_init_socket(): the fd is an epoll fd. */
	r = uv_poll_init(uv, &w->poll, fd);
	if (r < 0)
		return r;
	w->loop = loop;
	w->error = 0;
	w->poll.data = w;
	r = uv_poll_start(&w->poll, UV_READABLE, vmt_uv_on_ready);
	if (r < 0) {
		/* Closing is the only way to drop an initialized handle. */
		uv_close((uv_handle_t *)&w->poll, NULL);
		return r;
	}
	return 0;
}

/**
 * vmt_uv_stop() - stop dispatching and close the watch.
 * @w: a watch started by vmt_uv_start()
 * @close_cb: called by libuv once @w may be freed (may be NULL)
 *
 * Free the vmtime loop only after @close_cb ran (or uv_run() returned):
 * vmt_loop_free() closes the fd libuv is watching.
 *
 * Context: the thread that runs the libuv loop.
 * Return: 0, -EINVAL for a NULL @w.
 */
static inline int vmt_uv_stop(struct vmt_uv *w, uv_close_cb close_cb)
{
	if (!w)
		return -EINVAL;
	uv_close((uv_handle_t *)&w->poll, close_cb);
	return 0;
}

#endif /* VMTIME_INTEGRATION_UV_H */
