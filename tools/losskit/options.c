/*
 * Checked parsing of numeric command-line options.
 */
#include "options.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int lk_cli_parse_int(const char *command, const char *option, const char *text, int64_t min,
                     int64_t max, int64_t *out)
{
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno || end == text || *end || value < min || value > max) {
        fprintf(stderr, "losskit %s: %s '%s': expected an integer in [%lld, %lld]\n", command,
                option, text, (long long)min, (long long)max);
        return 0;
    }
    *out = value;
    return 1;
}

int lk_cli_parse_real(const char *command, const char *option, const char *text, double min,
                      double max, double *out)
{
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(value) || value <= min || value >= max) {
        fprintf(stderr, "losskit %s: %s '%s': expected a number in (%g, %g)\n", command, option,
                text, min, max);
        return 0;
    }
    *out = value;
    return 1;
}

const char *lk_cli_option_value(const char *command, int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "losskit %s: %s needs a value\n", command, argv[*i]);
        return NULL;
    }
    return argv[++*i];
}
