/* The losskit command-line tool: one file per command. */
#ifndef LK_CLI_H
#define LK_CLI_H

#include <stdio.h>

/* Each command gets argv after its name; returns the process exit code. */
int lk_cli_list(int argc, char **argv);
int lk_cli_explore(int argc, char **argv);
int lk_cli_bench(int argc, char **argv);
int lk_cli_eval(int argc, char **argv);

/* Prints the terms a loss spec ("dice + 0.5*focal:gamma=2") parses to, or
 * the library's positioned error on stderr; returns the exit code. */
int lk_cli_print_spec(FILE *out, const char *spec);

/* Exit codes. LK_EXIT_INPUT: an input file is missing, unreadable, of an
 * unsupported format or dtype, or does not fit the other (shapes). */
enum { LK_EXIT_OK = 0, LK_EXIT_FAILURE = 1, LK_EXIT_USAGE = 2, LK_EXIT_INPUT = 3 };

#if defined(__GNUC__)
#define LK_CLI_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#else
#define LK_CLI_PRINTF(fmt_index, first_arg)
#endif

#endif
