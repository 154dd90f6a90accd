/*
 * Vectorizable elementary functions: exp, log, log1p, and the sigmoid-family
 * helpers built on them, for float and double.
 *
 * Why not libm: glibc's expf/logf are scalar calls, so a loop calling them
 * does not vectorize; these are branch-free inline functions that GCC and
 * clang turn into SIMD code inside the kernels' loops over pixels. Each is
 * within 2 ulp of the correctly rounded result over its whole domain
 * (tests/c/test_vecmath.c checks it against libm in long double, and
 * bench/bench_vecmath.c compares their speed with libm and SLEEF; the numbers
 * are in docs/performance.md).
 *
 * Method (the textbook one, e.g. Muller, "Elementary Functions", ch. 11):
 *   exp(x) = 2^n * exp(r), n = round(x / ln 2), r = x - n ln 2 computed with a
 *            two-part ln 2 (Cody & Waite) so that |r| <= ln 2 / 2; exp(r) by
 *            its Taylor polynomial (degree 7 for float, 13 for double, whose
 *            truncation error is below 0.1 ulp); 2^n applied as two exact
 *            powers of two so that results near overflow and in the subnormal
 *            range come out right.
 *   log(x) = e ln 2 + log(1 + f), x = 2^e (1 + f), 1 + f in [sqrt(1/2), sqrt(2));
 *            with s = f / (2 + f), log(1 + f) = f - (f^2/2 - s (f^2/2 + R(s^2)))
 *            where R is the series of 2 atanh(s) - 2 s (as in fdlibm's log),
 *            so that the large term f is exact.
 * NaN propagates through every function; float-to-int conversions are done
 * on bit patterns (no undefined behaviour for NaN or huge inputs).
 *
 * The library is compiled without floating-point contraction (-std=c11,
 * -ffp-contract=off), so these give the same bits in the SIMD clones and in
 * the portable code: results do not depend on the CPU.
 */
#ifndef LK_CORE_VECMATH_H
#define LK_CORE_VECMATH_H

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t lk_bits_f32(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline float lk_from_bits_f32(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static inline uint64_t lk_bits_f64(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline double lk_from_bits_f64(uint64_t u)
{
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* ---------------------------------------------------------------- exp */

/* The parts of exp shared by lk_exp and lk_exp_nonpositive: the reduction
 * x = n ln 2 + r (n returned through the shifter's bits), and exp(r). */
static inline float lk_exp_reduce_f32(float x, float *shifted)
{
    const float shifter = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693359375f;    /* 9 significant bits: n * ln2_hi is exact */
    const float ln2_lo = -2.12194440e-4f; /* ln 2 - ln2_hi */
    *shifted = x * log2e + shifter;
    float n = *shifted - shifter;
    return (x - n * ln2_hi) - n * ln2_lo;
}

/* n as an integer, from the shifted value lk_exp_reduce returned. */
static inline int32_t lk_exp_n_f32(float shifted)
{
    return (int32_t)(lk_bits_f32(shifted) - lk_bits_f32(12582912.0f));
}

static inline float lk_exp_polynomial_f32(float r)
{
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    return p * r + 1.0f;
}

static inline float lk_exp_f32(float x)
{
    x = x > 89.0f ? 89.0f : x;     /* beyond: overflow to inf below */
    x = x < -104.0f ? -104.0f : x; /* below: underflow to 0 below */
    float shifted;
    float p = lk_exp_polynomial_f32(lk_exp_reduce_f32(x, &shifted));
    int32_t n_int = lk_exp_n_f32(shifted);
    int32_t half = n_int / 2; /* n in [-150, 129]: both halves are normal exponents */
    float scale1 = lk_from_bits_f32((uint32_t)(half + 127) << 23);
    float scale2 = lk_from_bits_f32((uint32_t)(n_int - half + 127) << 23);
    return p * scale1 * scale2;
}

static inline double lk_exp_reduce_f64(double x, double *n)
{
    const double shifter = 6755399441055744.0; /* 1.5 * 2^52 */
    const double log2e = 1.4426950408889634074;
    const double ln2_hi = 6.93147180369123816490e-01; /* trailing zeros: n * ln2_hi exact */
    const double ln2_lo = 1.90821492927058770002e-10;
    *n = (x * log2e + shifter) - shifter;
    return (x - *n * ln2_hi) - *n * ln2_lo;
}

static inline double lk_exp_polynomial_f64(double r)
{
    double p = 1.0 / 6227020800.0; /* 1/13! */
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    return p * r + 1.0;
}

/* 2^n for an integral double n in [-1022, 1023]: the biased exponent added
 * into the shifter's mantissa, then shifted into place (AVX2 has no int64
 * arithmetic shift or int64 -> double conversion, so no integer n). */
static inline double lk_exp2_integer_f64(double n)
{
    return lk_from_bits_f64(lk_bits_f64(n + (1023.0 + 6755399441055744.0)) << 52);
}

static inline double lk_exp_f64(double x)
{
    x = x > 710.0 ? 710.0 : x;
    x = x < -746.0 ? -746.0 : x;
    double n;
    double p = lk_exp_polynomial_f64(lk_exp_reduce_f64(x, &n));
    /* 2^n as two normal powers of two, n in [-1077, 1025] */
    double half = (n * 0.5 + 6755399441055744.0) - 6755399441055744.0;
    return p * lk_exp2_integer_f64(half) * lk_exp2_integer_f64(n - half);
}

/* exp(x) for x <= 0 (or NaN), as softmax needs: exp(x - max). Results below
 * the smallest normal number (x < -87.34 in float, -708.4 in double) are 0,
 * which a probability of 1e-38 next to one of at least 1/C does not notice;
 * that saves the general function's overflow clamp and two-step scaling.
 * Within 2 ulp of libm where the result is normal, NaN propagates. */
static inline float lk_exp_nonpositive_f32(float x)
{
    int underflow = x < -87.33654f;
    float shifted;
    float p = lk_exp_polynomial_f32(lk_exp_reduce_f32(x, &shifted));
    /* 2^n: n + 127 into the exponent field (n in [-126, 0] where the result is
     * used; unsigned arithmetic, as n is arbitrary where it underflows) */
    float scale = lk_from_bits_f32(((uint32_t)lk_exp_n_f32(shifted) + 127u) << 23);
    return underflow ? 0.0f : p * scale;
}

static inline double lk_exp_nonpositive_f64(double x)
{
    int underflow = x < -708.3964185322641;
    double n;
    double p = lk_exp_polynomial_f64(lk_exp_reduce_f64(x, &n));
    return underflow ? 0.0 : p * lk_exp2_integer_f64(n);
}

#define lk_exp_nonpositive(x) \
    _Generic((x), float: lk_exp_nonpositive_f32, double: lk_exp_nonpositive_f64)(x)

/* ---------------------------------------------------------------- log */

static inline float lk_log_f32(float x)
{
    const float ln2_hi = 0.693359375f;
    const float ln2_lo = -2.12194440e-4f;
    int subnormal = x < FLT_MIN;
    float scaled = subnormal ? x * 8388608.0f : x; /* 2^23 */
    uint32_t bits = lk_bits_f32(scaled);
    int32_t exponent = (int32_t)((bits >> 23) & 0xffu) - 127 - (subnormal ? 23 : 0);
    float m = lk_from_bits_f32((bits & 0x007fffffu) | 0x3f800000u); /* [1, 2) */
    int big = m > 1.41421356f;
    m = big ? m * 0.5f : m;
    exponent += big;
    float f = m - 1.0f;
    float s = f / (2.0f + f);
    float z = s * s;
    float series = 2.0f / 9.0f;
    series = series * z + 2.0f / 7.0f;
    series = series * z + 2.0f / 5.0f;
    series = series * z + 2.0f / 3.0f;
    series = series * z;
    float half_f2 = 0.5f * f * f;
    float log1pf = f - (half_f2 - s * (half_f2 + series));
    float e = (float)exponent;
    float result = e * ln2_hi + (log1pf + e * ln2_lo);
    result = x == 0.0f ? -INFINITY : result;
    result = x == INFINITY ? INFINITY : result;
    result = x >= 0.0f ? result : NAN; /* negative or NaN */
    return result;
}

static inline double lk_log_f64(double x)
{
    const double ln2_hi = 6.93147180369123816490e-01;
    const double ln2_lo = 1.90821492927058770002e-10;
    const double two52 = 4503599627370496.0;
    int subnormal = x < DBL_MIN;
    double scaled = subnormal ? x * 18014398509481984.0 : x; /* 2^54 */
    uint64_t bits = lk_bits_f64(scaled);
    /* the exponent field as a double: put it in the mantissa of 2^52 */
    double biased = lk_from_bits_f64(0x4330000000000000ull | (bits >> 52 & 0x7ffu)) - two52;
    double exponent = biased - (subnormal ? 1023.0 + 54.0 : 1023.0);
    double m = lk_from_bits_f64((bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull);
    int big = m > 1.4142135623730951;
    m = big ? m * 0.5 : m;
    exponent += big ? 1.0 : 0.0;
    double f = m - 1.0;
    double s = f / (2.0 + f);
    double z = s * s;
    double series = 2.0 / 21.0;
    series = series * z + 2.0 / 19.0;
    series = series * z + 2.0 / 17.0;
    series = series * z + 2.0 / 15.0;
    series = series * z + 2.0 / 13.0;
    series = series * z + 2.0 / 11.0;
    series = series * z + 2.0 / 9.0;
    series = series * z + 2.0 / 7.0;
    series = series * z + 2.0 / 5.0;
    series = series * z + 2.0 / 3.0;
    series = series * z;
    double half_f2 = 0.5 * f * f;
    double log1pf = f - (half_f2 - s * (half_f2 + series));
    double result = exponent * ln2_hi + (log1pf + exponent * ln2_lo);
    result = x == 0.0 ? -INFINITY : result;
    result = x == INFINITY ? INFINITY : result;
    result = x >= 0.0 ? result : NAN;
    return result;
}

/* log(1 + u) for u >= 0: the rounding error of 1 + u is recovered exactly
 * (Sterbenz) and corrected to first order, which keeps small u accurate. */
static inline float lk_log1p_f32(float u)
{
    float y = 1.0f + u;
    float rounding = (y - 1.0f) - u;
    rounding = u == INFINITY ? 0.0f : rounding;
    return lk_log_f32(y) - rounding / y;
}

static inline double lk_log1p_f64(double u)
{
    double y = 1.0 + u;
    double rounding = (y - 1.0) - u;
    rounding = u == INFINITY ? 0.0 : rounding;
    return lk_log_f64(y) - rounding / y;
}

#define lk_exp(x) _Generic((x), float: lk_exp_f32, double: lk_exp_f64)(x)
#define lk_log(x) _Generic((x), float: lk_log_f32, double: lk_log_f64)(x)
#define lk_log1p(x) _Generic((x), float: lk_log1p_f32, double: lk_log1p_f64)(x)

/* ------------------------------------------------ clamped probabilities */

/* Probabilities given as input (activation "none") are clamped from below at
 * the smallest normal number of their type before log and 1/p, so that both
 * stay finite; the clamped region has zero derivative. */
static inline float lk_log_clamped_f32(float p)
{
    return lk_log_f32(p < FLT_MIN ? FLT_MIN : p);
}

static inline double lk_log_clamped_f64(double p)
{
    return lk_log_f64(p < DBL_MIN ? DBL_MIN : p);
}

static inline float lk_inverse_clamped_f32(float p)
{
    return p < FLT_MIN ? 0.0f : 1.0f / p;
}

static inline double lk_inverse_clamped_f64(double p)
{
    return p < DBL_MIN ? 0.0 : 1.0 / p;
}

#define lk_log_clamped(p) _Generic((p), float: lk_log_clamped_f32, double: lk_log_clamped_f64)(p)
#define lk_inverse_clamped(p) \
    _Generic((p), float: lk_inverse_clamped_f32, double: lk_inverse_clamped_f64)(p)

/* ------------------------------------------------ powers */

/* out[j] = base[j]^exponent for base >= 0, exponent >= 0, with 0^0 = 1. The
 * exponent is the same for the whole array, so its common values (0, 1, 2)
 * are picked once, outside the loops; a select on a loop-invariant condition
 * inside a loop would keep it from vectorizing. */
static inline void lk_pow_array_f32(const float *restrict base, float exponent,
                                    float *restrict out, int len)
{
    if (exponent == 2.0f) {
        for (int j = 0; j < len; j++) out[j] = base[j] * base[j];
    } else if (exponent == 1.0f) {
        for (int j = 0; j < len; j++) out[j] = base[j];
    } else if (exponent == 0.0f) {
        for (int j = 0; j < len; j++) out[j] = 1.0f;
    } else {
        for (int j = 0; j < len; j++) {
            float general = lk_exp_f32(exponent * lk_log_f32(base[j]));
            out[j] = base[j] == 0.0f ? 0.0f : general;
        }
    }
}

static inline void lk_pow_array_f64(const double *restrict base, double exponent,
                                    double *restrict out, int len)
{
    if (exponent == 2.0) {
        for (int j = 0; j < len; j++) out[j] = base[j] * base[j];
    } else if (exponent == 1.0) {
        for (int j = 0; j < len; j++) out[j] = base[j];
    } else if (exponent == 0.0) {
        for (int j = 0; j < len; j++) out[j] = 1.0;
    } else {
        for (int j = 0; j < len; j++) {
            double general = lk_exp_f64(exponent * lk_log_f64(base[j]));
            out[j] = base[j] == 0.0 ? 0.0 : general;
        }
    }
}

#define lk_pow_array(base, exponent, out, len)                                             \
    _Generic((exponent), float: lk_pow_array_f32, double: lk_pow_array_f64)(base, exponent, \
                                                                            out, len)

/* ------------------------------------------------ sigmoid family */

/* The logistic function's pieces at x, from one exp(-|x|): p = sigmoid(x),
 * q = 1 - p (computed directly, without cancellation where p ~ 1) and
 * softplus(-x) = -log p (without overflow). log(1 - p) = -(softplus(-x) + x).
 * The sigmoid-family losses' forward and backward passes are made of these. */
static inline void lk_logistic_f32(float x, float *p, float *q, float *neg_log_p)
{
    float e = lk_exp_f32(x < 0.0f ? x : -x);
    float inverse = 1.0f / (1.0f + e);
    *p = x >= 0.0f ? inverse : e * inverse;
    *q = x >= 0.0f ? e * inverse : inverse;
    *neg_log_p = (x < 0.0f ? -x : 0.0f) + lk_log1p_f32(e);
}

static inline void lk_logistic_f64(double x, double *p, double *q, double *neg_log_p)
{
    double e = lk_exp_f64(x < 0.0 ? x : -x);
    double inverse = 1.0 / (1.0 + e);
    *p = x >= 0.0 ? inverse : e * inverse;
    *q = x >= 0.0 ? e * inverse : inverse;
    *neg_log_p = (x < 0.0 ? -x : 0.0) + lk_log1p_f64(e);
}

#define lk_logistic(x, p, q, neg_log_p) \
    _Generic((x), float: lk_logistic_f32, double: lk_logistic_f64)(x, p, q, neg_log_p)

/* sigmoid(x) alone, the same bits as lk_logistic's p (the unused pieces are
 * dead code once inlined). */
static inline float lk_sigmoid_f32(float x)
{
    float p, q, neg_log_p;
    lk_logistic_f32(x, &p, &q, &neg_log_p);
    return p;
}

static inline double lk_sigmoid_f64(double x)
{
    double p, q, neg_log_p;
    lk_logistic_f64(x, &p, &q, &neg_log_p);
    return p;
}

#define lk_sigmoid(x) _Generic((x), float: lk_sigmoid_f32, double: lk_sigmoid_f64)(x)

#endif
