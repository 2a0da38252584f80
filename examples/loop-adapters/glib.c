/* SPDX-License-Identifier: MIT */
/*
 * glib.c - vmtime's loop inside a GLib main loop.
 *
 * <vmtime/integration/glib.h> makes a GSource watching vmt_loop_get_fd()
 * for G_IO_IN whose dispatch calls vmt_loop_dispatch(); a g_timeout_add()
 * timer of the VMM drives the phases.
 */
#include <glib.h>
#include <vmtime/integration/glib.h>

#include "demo.h"

static GMainLoop *main_loop;

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
	GSource *watch;

	if (demo_init(&d) < 0)
		return 1;
	/* On the default context (NULL); a loop thread passes its own. */
	watch = vmt_gsource_new(d.loop);
	demo_check(&d, watch != NULL, "vmt_gsource_new");
	if (!watch)
		return demo_finish(&d, "glib");
	g_source_attach(watch, NULL);
	g_timeout_add(100, on_phase, &d);
	main_loop = g_main_loop_new(NULL, FALSE);
	g_main_loop_run(main_loop);
	/* Remove the watch before vmt_loop_free() closes its fd. */
	demo_check(&d, ((struct vmt_gsource *)watch)->error == 0, "no error while dispatching");
	g_source_destroy(watch);
	g_source_unref(watch);
	g_main_loop_unref(main_loop);
	return demo_finish(&d, "glib");
}
