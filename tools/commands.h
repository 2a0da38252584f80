/* SPDX-License-Identifier: MIT */
/* tools/commands.h - the subcommands of the vmtime tool, one file each. */
#ifndef VMT_TOOLS_COMMANDS_H
#define VMT_TOOLS_COMMANDS_H

/* Each returns the process exit status. argv[0] is the subcommand's name. */
int cmd_demo(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);
int cmd_inspect(int argc, char **argv);

#endif
