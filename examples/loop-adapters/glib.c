/* SPDX-License-Identifier: MIT */
/*
 * glib.c - vmtime's loop inside a GLib main loop.
 *
 * g_unix_fd_add() makes a GSource watching vmt_loop_get_fd() for G_IO_IN
 * whose callback calls vmt_loop_dispatch(); a g_timeout_add() timer of the
 * VMM drives the phases.
 */
#include <glib.h>
#include <glib-unix.h>

#include "demo.h"

static GMainLoop *main_loop;

/* The fd is readable: something is due (or the VM clock changed state). */
static gboolean on_vmtime(gint fd, GIOCondition cond, gpointer userdata)
{
	struct demo *d = userdata;

	(void)fd;
	(void)cond;
	/* Never blocks; re-arms the fd for the next deadline before it returns. */
	demo_check(d, vmt_loop_dispatch(d->loop) >= 0, "vmt_loop_dispatch");
	return G_SOURCE_CONTINUE; /* keep watching: the fd is reused forever */
}

static gboolean on_phase(gpointer userdata)
{
	struct demo *d = userdata;
	int next = demo_step(d);

	if (next >= 0 && d->ok)
		g_timeout_add(next, on_phase, d);
	else
		g_main_loop_quit(main_loop);
	return G_SOURCE_REMOVE; /* one-shot: each phase has its own length */
}

int main(void)
{
	struct demo d;
	guint watch;

	if (demo_init(&d) < 0)
		return 1;
	/* On the default context; pass a GMainContext of your own through
	 * g_unix_fd_source_new() + g_source_attach() for a loop thread. */
	watch = g_unix_fd_add(vmt_loop_get_fd(d.loop), G_IO_IN, on_vmtime, &d);
	g_timeout_add(100, on_phase, &d);
	main_loop = g_main_loop_new(NULL, FALSE);
	g_main_loop_run(main_loop);
	/* Remove the watch before vmt_loop_free() closes its fd. */
	g_source_remove(watch);
	g_main_loop_unref(main_loop);
	return demo_finish(&d, "glib");
}
