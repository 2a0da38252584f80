/* SPDX-License-Identifier: MIT */
/*
 * vmtime/integration/glib.h - vmtime's loop as a ready GSource.
 *
 * Header-only: include it in code that links glib-2.0; libvmtime itself
 * links nothing of GLib.  The source watches vmt_loop_get_fd() for G_IO_IN
 * and its dispatch calls vmt_loop_dispatch().  No GLib timeout is needed:
 * the fd becomes readable by itself at the next deadline.
 */
#ifndef VMTIME_INTEGRATION_GLIB_H
#define VMTIME_INTEGRATION_GLIB_H

#include <glib.h>

#include <vmtime/loop.h>

struct vmt_gsource {
	GSource source;		/* first: the GSource is the allocation */
	vmt_loop *loop;
	int error;		/* the last negative return of vmt_loop_dispatch(), else 0 */
};

static inline gboolean vmt_gsource_dispatch(GSource *s, GSourceFunc cb, gpointer userdata)
{
	struct vmt_gsource *v = (struct vmt_gsource *)s;
	int r;

	(void)cb;
	(void)userdata;
	/* Never blocks; re-arms the fd for the next deadline before it returns. */
	r = vmt_loop_dispatch(v->loop);
	if (r < 0)
		v->error = r;
	return G_SOURCE_CONTINUE; /* the fd is the loop's for its whole life */
}

/**
 * vmt_gsource_new() - a GSource that dispatches @loop.
 * @loop: the vmtime loop; must outlive the source
 *
 * Attach it with g_source_attach() to the GMainContext whose thread should
 * run the vmtime callbacks, then g_source_unref() it if the context may own
 * it.  Destroy it (g_source_destroy()) before vmt_loop_free(), which closes
 * the fd the source polls.  The last dispatch error, if any, is readable as
 * ((struct vmt_gsource *)source)->error.
 *
 * Context: any thread; the callbacks run on the thread iterating the
 * context the source is attached to.
 * Return: a new reference to the source (the caller owns it), or NULL for a NULL
 * @loop or a loop without a valid fd.
 */
static inline GSource *vmt_gsource_new(vmt_loop *loop)
{
	/* A NULL check: GLib then dispatches when any of the source's fds is ready. */
	static GSourceFuncs funcs = { NULL, NULL, vmt_gsource_dispatch, NULL, NULL, NULL };
	struct vmt_gsource *v;
	int fd;

	if (!loop)
		return NULL;
	fd = vmt_loop_get_fd(loop);
	if (fd < 0)
		return NULL;
	v = (struct vmt_gsource *)g_source_new(&funcs, sizeof(*v));
	v->loop = loop;
	v->error = 0;
	g_source_set_name(&v->source, "vmtime loop");
	g_source_add_unix_fd(&v->source, fd, G_IO_IN);
	return &v->source;
}

#endif /* VMTIME_INTEGRATION_GLIB_H */
