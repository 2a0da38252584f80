/* SPDX-License-Identifier: MIT */
/*
 * cmd-inspect.c - `vmtime inspect --connect PATH`: a running keeper's clock as JSON.
 *
 * Connects to the keeper's control socket like any device process would, so
 * what it prints is what an attached reader sees.  Exit status: 0 with the
 * keeper alive, 1 if it is gone (the JSON says "alive": false), 2 for a
 * usage error, 3 if the socket cannot be reached.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <vmtime/share.h>

#include "commands.h"

bool cmd_inspect_help(FILE *f, const char *sub)
{
	if (sub)
		return false;
	fprintf(f, "usage: vmtime inspect --connect PATH\n\n"
		   "Print, as one JSON object, the clock state of the keeper that listens on\n"
		   "the unix socket PATH (vmt_keeper_listen(), `vmtime demo --listen PATH`):\n"
		   "running or stopped, VM and host time, whether the keeper is alive.\n\n"
		   "options:\n"
		   "  --connect PATH  the keeper's control socket (required; also --connect=PATH)\n"
		   "  -h, --help      show this help\n\n"
		   "exit status: 0 the keeper is alive, 1 the keeper is gone (\"alive\": false),\n"
		   "2 usage error, 3 the socket cannot be reached (missing, refused, not a keeper,\n"
		   "another user's keeper)\n");
	return true;
}

int cmd_inspect(int argc, char **argv)
{
	const char *path = NULL;
	vmt_source *src;
	int r, alive;

	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			cmd_inspect_help(stdout, NULL);
			return CLI_OK;
		}
		r = cli_opt_value("inspect", argc, argv, &i, "--connect", &path);
		if (r < 0)
			return CLI_USAGE;
		if (r == 0)
			return cli_usage("inspect", "unexpected argument '%s'", argv[i]);
	}
	if (!path)
		return cli_usage("inspect", "--connect PATH is required");
	r = vmt_source_connect(path, &src);
	if (r < 0)
		return cli_error(CLI_IO, "inspect", r, "cannot connect to %s", path);
	r = vmt_source_inspect(src, stdout);
	alive = vmt_source_alive(src);
	vmt_source_free(src);
	if (r < 0)
		return cli_error(CLI_IO, "inspect", r, "writing the state failed");
	return alive == 1 ? CLI_OK : CLI_FAIL;
}
