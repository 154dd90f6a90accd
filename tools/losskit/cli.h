/* The losskit command-line tool: one file per command. */
#ifndef LK_CLI_H
#define LK_CLI_H

#include <stdio.h>

/* Each command gets argv after its name; returns the process exit code. */
int lk_cli_list(int argc, char **argv);
int lk_cli_explore(int argc, char **argv);
int lk_cli_bench(int argc, char **argv);

/* Exit codes. */
enum { LK_EXIT_OK = 0, LK_EXIT_FAILURE = 1, LK_EXIT_USAGE = 2 };

#endif
