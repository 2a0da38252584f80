/* SPDX-License-Identifier: MIT */
/*
 * cmd-inspect.c - `vmtime inspect --connect PATH`: a running keeper's clock as JSON.
 *
 * Connects to the keeper's control socket like any device process would, so
 * what it prints is what an attached reader sees.  Exit status: 0 with the
 * keeper alive, 3 if the keeper is gone (state "dead"), 1 if it cannot
 * connect, 2 for a usage error.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <vmtime/share.h>

#include "commands.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: vmtime inspect --connect PATH\n"
		   "  print the clock state of the keeper listening on PATH as JSON\n");
}

int cmd_inspect(int argc, char **argv)
{
	const char *path = NULL;
	vmt_source *src;
	int r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--connect") && i + 1 < argc)
			path = argv[++i];
		else if (!strncmp(argv[i], "--connect=", 10))
			path = argv[i] + 10;
		else {
			usage(stderr);
			return 2;
		}
	}
	if (!path) {
		usage(stderr);
		return 2;
	}
	r = vmt_source_connect(path, &src);
	if (r < 0) {
		fprintf(stderr, "vmtime inspect: cannot connect to %s: %s\n", path, strerror(-r));
		return 1;
	}
	r = vmt_source_inspect(src, stdout);
	int alive = vmt_source_alive(src);
	vmt_source_free(src);
	if (r < 0)
		return 1;
	return alive < 0 ? 3 : 0;
}
