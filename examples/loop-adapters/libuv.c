/* SPDX-License-Identifier: MIT */
/*
 * libuv.c - vmtime's loop inside a libuv loop.
 *
 * A uv_poll_t watches vmt_loop_get_fd() for UV_READABLE and its callback
 * calls vmt_loop_dispatch(); a uv_timer_t of the VMM drives the phases.
 */
#include <uv.h>

#include "demo.h"

static uv_poll_t vmt_watch;
static uv_timer_t phases;

/* The fd is readable: something is due (or the VM clock changed state). */
static void on_vmtime(uv_poll_t *w, int status, int events)
{
	struct demo *d = w->data;

	(void)events;
	demo_check(d, status == 0, "uv_poll status");
	/* Never blocks; re-arms the fd for the next deadline before it returns. */
	demo_check(d, vmt_loop_dispatch(d->loop) >= 0, "vmt_loop_dispatch");
}

static void on_phase(uv_timer_t *t)
{
	struct demo *d = t->data;
	int next = demo_step(d);

	if (next >= 0 && d->ok) {
		uv_timer_start(t, on_phase, next, 0);
		return;
	}
	/* Done: closing both handles lets uv_run() return. */
	uv_close((uv_handle_t *)&vmt_watch, NULL);
	uv_close((uv_handle_t *)t, NULL);
}

int main(void)
{
	struct demo d;
	uv_loop_t uv;

	if (demo_init(&d) < 0)
		return 1;
	demo_check(&d, uv_loop_init(&uv) == 0, "uv_loop_init");
	/* uv_poll_init(), not uv_poll_init_socket(): the fd is an epoll fd. */
	demo_check(&d, uv_poll_init(&uv, &vmt_watch, vmt_loop_get_fd(d.loop)) == 0, "uv_poll_init");
	vmt_watch.data = &d;
	demo_check(&d, uv_poll_start(&vmt_watch, UV_READABLE, on_vmtime) == 0, "uv_poll_start");
	uv_timer_init(&uv, &phases);
	phases.data = &d;
	uv_timer_start(&phases, on_phase, 100, 0);
	if (d.ok)
		uv_run(&uv, UV_RUN_DEFAULT);
	demo_check(&d, uv_loop_close(&uv) == 0, "uv_loop_close");
	return demo_finish(&d, "libuv");
}
