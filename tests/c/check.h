/*
 * A minimal test harness: CHECK-style assertions that record failures and
 * keep going, and a runner that prints "N passed, M failed" and sets the exit
 * code. Each test program lists its tests in a table passed to lk_test_main.
 */
#ifndef LK_TEST_CHECK_H
#define LK_TEST_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "losskit.h"

extern int lk_test_failures; /* failed checks in the current test */

void lk_test_report(const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) lk_test_report(__FILE__, __LINE__, "CHECK(%s) failed", #cond);        \
    } while (0)

#define CHECK_MSG(cond, ...)                                                               \
    do {                                                                                   \
        if (!(cond)) lk_test_report(__FILE__, __LINE__, __VA_ARGS__);                      \
    } while (0)

/* expr must return status; on mismatch prints the last error message. */
#define CHECK_STATUS(expr, status)                                                         \
    do {                                                                                   \
        lk_status got_status_ = (expr);                                                    \
        if (got_status_ != (status))                                                       \
            lk_test_report(__FILE__, __LINE__, "%s returned %s, expected %s (message: %s)", \
                           #expr, lk_status_name(got_status_), lk_status_name(status),     \
                           lk_last_error());                                               \
    } while (0)

#define CHECK_OK(expr) CHECK_STATUS(expr, LK_OK)

/* The last error message contains every one of the given substrings. */
#define CHECK_MESSAGE_HAS(text)                                                            \
    do {                                                                                   \
        if (!strstr(lk_last_error(), (text)))                                              \
            lk_test_report(__FILE__, __LINE__, "message '%s' lacks '%s'", lk_last_error(), \
                           (text));                                                        \
    } while (0)

#define CHECK_CLOSE(a, b, rtol, atol)                                                      \
    do {                                                                                   \
        double a_ = (a), b_ = (b);                                                         \
        if (!(fabs(a_ - b_) <= (atol) + (rtol) * fabs(b_)))                                \
            lk_test_report(__FILE__, __LINE__, "%s = %.17g differs from %s = %.17g", #a,   \
                           a_, #b, b_);                                                    \
    } while (0)

typedef struct lk_test {
    const char *name;
    void (*run)(void);
} lk_test;

/* Runs the tests (all, or those named in argv) and returns the exit code. */
int lk_test_main(const lk_test *tests, size_t count, int argc, char **argv);

/* A deterministic random generator (splitmix64). */
typedef struct lk_rng {
    unsigned long long state;
} lk_rng;

double lk_rng_uniform(lk_rng *rng); /* [0, 1) */
long long lk_rng_below(lk_rng *rng, long long bound);

#endif
