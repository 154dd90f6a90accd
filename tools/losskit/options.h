/*
 * Number options of the commands, checked: a bad value prints
 * "losskit COMMAND: --OPTION 'TEXT': expected ..." and returns 0.
 */
#ifndef LK_CLI_OPTIONS_H
#define LK_CLI_OPTIONS_H

#include <stdint.h>

int lk_cli_parse_int(const char *command, const char *option, const char *text, int64_t min,
                     int64_t max, int64_t *out);
/* A finite real in the open interval (min, max). */
int lk_cli_parse_real(const char *command, const char *option, const char *text, double min,
                      double max, double *out);

/* The value of an option that takes one: argv[*i + 1], advancing *i; prints
 * an error and returns NULL when it is missing. */
const char *lk_cli_option_value(const char *command, int argc, char **argv, int *i);

#endif
