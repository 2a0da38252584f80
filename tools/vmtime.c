/* SPDX-License-Identifier: MIT */
/*
 * vmtime - command-line tool: the demo, snapshot inspection, live inspection.
 * Each subcommand lives in its own tools/cmd-*.c and is listed here.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} commands[] = {
	{ "demo", cmd_demo, "run the main job: a VM whose timer device runs on vmtime" },
	{ "snapshot", cmd_snapshot, "show or check a snapshot file" },
	{ "inspect", cmd_inspect, "print a running keeper's clock as JSON (--connect PATH)" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: vmtime COMMAND [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "vmtime: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
