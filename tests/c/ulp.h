/*
 * Distance in ulp (units in the last place) between a computed value and the
 * exact one (long double), for float and double results; subnormal results
 * are measured in the subnormal spacing. Used by the vector-math tests and by
 * bench/bench_vecmath.c.
 */
#ifndef LK_TEST_ULP_H
#define LK_TEST_ULP_H

#include <math.h>

/* digits: significand bits (24, 53); min_exponent: of the smallest normal
 * (-126, -1022); rounded: exact rounded to the result's format. */
static inline double lk_ulp_error(long double got, long double exact, long double rounded, int digits,
                                  int min_exponent)
{
    if (isnan(exact)) return isnan(got) ? 0 : INFINITY;
    if (isinf(exact) || isinf(rounded)) return got == rounded ? 0 : INFINITY;
    int exponent;
    frexpl(exact, &exponent);
    long double normal = ldexpl(1, min_exponent);
    long double ulp = fabsl(exact) < normal ? ldexpl(1, min_exponent - digits + 1)
                                            : ldexpl(1, exponent - digits);
    return (double)(fabsl(got - exact) / ulp);
}

static inline double lk_ulp_error_f32(float got, long double exact)
{
    return lk_ulp_error(got, exact, (float)exact, 24, -126);
}

static inline double lk_ulp_error_f64(double got, long double exact)
{
    return lk_ulp_error(got, exact, (double)exact, 53, -1022);
}

#endif
