/* SPDX-License-Identifier: MIT */
/*
 * vmtime - command-line tool: the demo, snapshot inspection, live inspection.
 * Each subcommand lives in its own tools/cmd-*.c and is listed here; the
 * conventions they share (exit codes, messages) are in tools/cli.c.
 */
#include <stdio.h>
#include <string.h>

#include <vmtime/common.h>

#include "commands.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	bool (*help)(FILE *f, const char *sub);
	const char *summary;
} commands[] = {
	{ "demo", cmd_demo, cmd_demo_help,
	  "run the main job: a VM whose timer device runs on vmtime" },
	{ "snapshot", cmd_snapshot, cmd_snapshot_help,
	  "show, check or compare snapshot files" },
	{ "inspect", cmd_inspect, cmd_inspect_help,
	  "print a running keeper's clock as JSON (--connect PATH)" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: vmtime COMMAND [ARGS...]\n"
		   "       vmtime help [COMMAND [SUBCOMMAND]]\n"
		   "       vmtime --version\n\n"
		   "commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "  %-10s %s\n\n", "help", "show the help of a command (as COMMAND --help)");
	fprintf(f, "Every command and subcommand takes -h/--help.\n\n" CLI_EXIT_HELP);
}

static int version(void)
{
	/* What the library says, so the tool and vmt_version() cannot differ. */
	printf("vmtime %s\n", vmt_version_string());
	return CLI_OK;
}

static int help(int argc, char **argv)
{
	if (argc < 2 || cli_is_help(argv[1]) || (argc == 2 && !strcmp(argv[1], "help"))) {
		usage(stdout);
		return CLI_OK;
	}
	if (argc > 3)
		return cli_usage("help", "too many arguments");
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (strcmp(argv[1], commands[i].name))
			continue;
		if (!commands[i].help(stdout, argc == 3 ? argv[2] : NULL))
			return cli_usage("help", "'%s' has no subcommand '%s'", argv[1], argv[2]);
		return CLI_OK;
	}
	return cli_usage("help", "no help topic '%s'", argv[1]);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (cli_is_help(argv[1])) {
		usage(stdout);
		return CLI_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))
		return version();
	if (!strcmp(argv[1], "help"))
		return help(argc - 1, argv + 1);
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	return cli_usage(NULL, "unknown command '%s'", argv[1]);
}
