/* SPDX-License-Identifier: MIT */
/*
 * tests/mirror.h - a source on a keeper's page as another process has it.
 *
 * An attached source (vmt_source_attach() of the exported page): its own
 * read-only mapping, no keeper behind it, reads through a different virtual
 * address, so a test checks that the page is the whole state.  It shares
 * the keeper's host-clock hook, which a real other process cannot.
 */
#ifndef VMT_TESTS_MIRROR_H
#define VMT_TESTS_MIRROR_H

#include <unistd.h>

#include <vmtime/share.h>

#include "keeper-internal.h"
#include "tests.h"

static inline vmt_source *mirror(vmt_keeper *k)
{
	vmt_source *src;
	int fd = vmt_keeper_export_fd(k), r;

	if (fd < 0)
		VMT_FAIL("vmt_keeper_export_fd: %s", strerror(-fd));
	r = vmt_source_attach(fd, &src);
	close(fd);
	if (r < 0)
		VMT_FAIL("vmt_source_attach: %s", strerror(-r));
	src->hook = k->src.hook;
	return src;
}

#endif /* VMT_TESTS_MIRROR_H */
