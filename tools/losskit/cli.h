/* The losskit command-line tool: one file per command. */
#ifndef LK_CLI_H
#define LK_CLI_H

#include <stdio.h>

/* Each command gets argv after its name; returns the process exit code. */
int lk_cli_list(int argc, char **argv);

/* Prints the terms a loss spec ("dice + 0.5*focal:gamma=2") parses to, or
 * the library's positioned error on stderr; returns the exit code. */
int lk_cli_print_spec(FILE *out, const char *spec);

/* Exit codes. */
enum { LK_EXIT_OK = 0, LK_EXIT_FAILURE = 1, LK_EXIT_USAGE = 2 };

#endif
