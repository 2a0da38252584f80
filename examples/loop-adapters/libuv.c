/* SPDX-License-Identifier: MIT */
/*
 * libuv.c - vmtime's loop inside a libuv loop.
 *
 * <vmtime/integration/uv.h> watches vmt_loop_get_fd() with a uv_poll_t
 * whose callback calls vmt_loop_dispatch(); a uv_timer_t of the VMM drives
 * the phases.
 */
#include <uv.h>
#include <vmtime/integration/uv.h>

#include "demo.h"

static struct vmt_uv vmt_watch;
static uv_timer_t phases;

static void on_phase(uv_timer_t *t)
{
	struct demo *d = t->data;
	int next = demo_step(d);

	if (next >= 0 && d->ok) {
		uv_timer_start(t, on_phase, next, 0);
		return;
	}
	/* Done: closing both handles lets uv_run() return. */
	vmt_uv_stop(&vmt_watch, NULL);
	uv_close((uv_handle_t *)t, NULL);
}

int main(void)
{
	struct demo d;
	uv_loop_t uv;

	if (demo_init(&d) < 0)
		return 1;
	demo_check(&d, uv_loop_init(&uv) == 0, "uv_loop_init");
	demo_check(&d, vmt_uv_start(&uv, d.loop, &vmt_watch) == 0, "vmt_uv_start");
	uv_timer_init(&uv, &phases);
	phases.data = &d;
	uv_timer_start(&phases, on_phase, 100, 0);
	if (d.ok)
		uv_run(&uv, UV_RUN_DEFAULT);
	demo_check(&d, vmt_watch.error == 0, "no error while dispatching");
	demo_check(&d, uv_loop_close(&uv) == 0, "uv_loop_close");
	return demo_finish(&d, "libuv");
}
