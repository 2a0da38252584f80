/* SPDX-License-Identifier: MIT */
/*
 * cli.c - what every subcommand of the vmtime tool shares: option values,
 * one-line error messages and exit codes.
 *
 * A message is printed once, by the code that decides the exit status, so
 * a failure never shows up twice; its last part is vmt_strerror()'s text,
 * which says what the errno means in vmtime's terms.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include <vmtime/error.h>

#include "commands.h"

bool cli_is_help(const char *arg)
{
	return !strcmp(arg, "-h") || !strcmp(arg, "--help");
}

int cli_opt_value(const char *cmd, int argc, char **argv, int *i, const char *name,
		  const char **val)
{
	const char *a = argv[*i];
	size_t n = strlen(name);

	if (strncmp(a, name, n))
		return 0;
	if (a[n] == '=') {
		*val = a + n + 1;
		return 1;
	}
	if (a[n])
		return 0;
	if (*i + 1 >= argc) {
		cli_usage(cmd, "%s needs a value", name);
		return -1;
	}
	*val = argv[++*i];
	return 1;
}

static void vprint(const char *cmd, const char *fmt, va_list ap)
{
	fprintf(stderr, "vmtime: ");
	if (cmd)
		fprintf(stderr, "%s: ", cmd);
	vfprintf(stderr, fmt, ap);
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprint(cmd, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'vmtime %s%s--help'.\n", cmd ? cmd : "", cmd ? " " : "");
	return CLI_USAGE;
}

int cli_error(int status, const char *cmd, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprint(cmd, fmt, ap);
	va_end(ap);
	if (err)
		fprintf(stderr, ": %s", vmt_strerror(err));
	fputc('\n', stderr);
	return status;
}
