/* SPDX-License-Identifier: MIT */
/*
 * tools/commands.h - the subcommands of the vmtime tool, one file each, and
 * the conventions they share (tools/cli.c): exit codes, one-line error
 * messages "vmtime: CMD: WHAT: <vmt_strerror() text>", --help everywhere.
 */
#ifndef VMT_TOOLS_COMMANDS_H
#define VMT_TOOLS_COMMANDS_H

#include <stdbool.h>
#include <stdio.h>

/* Exit codes of every subcommand; documented in vmtime(1) and --help. */
enum {
	CLI_OK = 0,    /* success; for `snapshot diff`: the files are equal */
	CLI_FAIL = 1,  /* a check failed (corrupt snapshot, demo check, files differ) */
	CLI_USAGE = 2, /* bad command line */
	CLI_IO = 3,    /* a file or socket could not be read or reached, or a system error */
};

/* The exit-code paragraph every help text ends with. */
#define CLI_EXIT_HELP                                                                  \
	"exit status: 0 success, 1 a check failed, 2 usage error, 3 I/O error (a file or\n" \
	"socket that cannot be read or reached, out of memory or descriptors)\n"

/*
 * Each returns the process exit status; argv[0] is the subcommand's name.
 * Each help function prints the help of the subcommand, or of its
 * subcommand @sub (NULL: the whole command), and returns false if @sub is
 * not one of its subcommands.
 */
int cmd_demo(int argc, char **argv);
bool cmd_demo_help(FILE *f, const char *sub);
int cmd_snapshot(int argc, char **argv);
bool cmd_snapshot_help(FILE *f, const char *sub);
int cmd_inspect(int argc, char **argv);
bool cmd_inspect_help(FILE *f, const char *sub);

/* True for "-h" and "--help". */
bool cli_is_help(const char *arg);

/*
 * cli_opt_value() - match option @name at argv[*i], as "--name VALUE" or
 * "--name=VALUE".  Returns 1 and sets *@val (advancing *i past a separate
 * value), 0 if argv[*i] is another argument, -1 if the value is missing
 * (the usage error is already printed for @cmd).
 */
int cli_opt_value(const char *cmd, int argc, char **argv, int *i, const char *name,
		  const char **val);

/*
 * cli_usage() - print "vmtime: CMD: MESSAGE" and where to find help on
 * stderr; returns CLI_USAGE.
 */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * cli_error() - print "vmtime: CMD: MESSAGE: <vmt_strerror(err)>" on stderr
 * (without the last part when @err is 0); returns @status.
 */
int cli_error(int status, const char *cmd, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
