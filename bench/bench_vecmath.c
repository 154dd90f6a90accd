/*
 * exp and log: losskit's inline polynomials (core/vecmath.h, auto-vectorized
 * in plain loops) against glibc's libm and SLEEF's vectorized 1-ulp functions
 * (AVX2), on the same inputs: nanoseconds per element (single thread, data in
 * L2) and the worst error in ulp against long double on those inputs.
 *
 * The table decides which exp/log the kernels use; the numbers are recorded in
 * docs/performance.md. SLEEF columns appear when libsleef-dev is installed.
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/hot.h"
#include "core/vecmath.h"

#if defined(LK_HAVE_SLEEF)
#include <immintrin.h>
#include <sleef.h>
#define LK_AVX2 __attribute__((target("avx2,fma")))
#endif

#define COUNT 16384
#define REPEATS 400

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------------- kernels */

LK_HOT static void ours_expf(const float *x, float *y, int n) { for (int i = 0; i < n; i++) y[i] = lk_exp_f32(x[i]); }
LK_HOT static void ours_logf(const float *x, float *y, int n) { for (int i = 0; i < n; i++) y[i] = lk_log_f32(x[i]); }
LK_HOT static void ours_exp(const double *x, double *y, int n) { for (int i = 0; i < n; i++) y[i] = lk_exp_f64(x[i]); }
LK_HOT static void ours_log(const double *x, double *y, int n) { for (int i = 0; i < n; i++) y[i] = lk_log_f64(x[i]); }
static void libm_expf(const float *x, float *y, int n) { for (int i = 0; i < n; i++) y[i] = expf(x[i]); }
static void libm_logf(const float *x, float *y, int n) { for (int i = 0; i < n; i++) y[i] = logf(x[i]); }
static void libm_exp(const double *x, double *y, int n) { for (int i = 0; i < n; i++) y[i] = exp(x[i]); }
static void libm_log(const double *x, double *y, int n) { for (int i = 0; i < n; i++) y[i] = log(x[i]); }

#if defined(LK_HAVE_SLEEF)
LK_AVX2 static void sleef_expf(const float *x, float *y, int n)
{
    for (int i = 0; i < n; i += 8) _mm256_storeu_ps(y + i, Sleef_expf8_u10avx2(_mm256_loadu_ps(x + i)));
}
LK_AVX2 static void sleef_logf(const float *x, float *y, int n)
{
    for (int i = 0; i < n; i += 8) _mm256_storeu_ps(y + i, Sleef_logf8_u10avx2(_mm256_loadu_ps(x + i)));
}
LK_AVX2 static void sleef_exp(const double *x, double *y, int n)
{
    for (int i = 0; i < n; i += 4) _mm256_storeu_pd(y + i, Sleef_expd4_u10avx2(_mm256_loadu_pd(x + i)));
}
LK_AVX2 static void sleef_log(const double *x, double *y, int n)
{
    for (int i = 0; i < n; i += 4) _mm256_storeu_pd(y + i, Sleef_logd4_u10avx2(_mm256_loadu_pd(x + i)));
}
#endif

/* ---------------------------------------------------------------- measuring */

static double ulp_f32(float got, long double exact)
{
    if (isinf(exact) || isinf((float)exact)) return got == (float)exact ? 0 : INFINITY;
    int e;
    frexpl(exact, &e);
    long double ulp = fabsl(exact) < FLT_MIN ? ldexpl(1, -149) : ldexpl(1, e - 24);
    return (double)(fabsl((long double)got - exact) / ulp);
}

static double ulp_f64(double got, long double exact)
{
    if (isinf(exact) || isinf((double)exact)) return got == (double)exact ? 0 : INFINITY;
    int e;
    frexpl(exact, &e);
    long double ulp = fabsl(exact) < DBL_MIN ? ldexpl(1, -1074) : ldexpl(1, e - 53);
    return (double)(fabsl((long double)got - exact) / ulp);
}

typedef void (*kernel_f32)(const float *, float *, int);
typedef void (*kernel_f64)(const double *, double *, int);

static void row_f32(const char *name, kernel_f32 kernel, const float *x, float *y, int is_exp)
{
    kernel(x, y, COUNT);
    double best = 1e30;
    for (int r = 0; r < 7; r++) {
        double start = now();
        for (int k = 0; k < REPEATS; k++) kernel(x, y, COUNT);
        double elapsed = (now() - start) / ((double)REPEATS * COUNT);
        best = elapsed < best ? elapsed : best;
    }
    double worst = 0;
    for (int i = 0; i < COUNT; i++)
        worst = fmax(worst, ulp_f32(y[i], is_exp ? expl((long double)x[i]) : logl((long double)x[i])));
    printf("| %-6s | float32 | %-28s | %6.3f | %5.2f |\n", is_exp ? "exp" : "log", name, best * 1e9, worst);
}

static void row_f64(const char *name, kernel_f64 kernel, const double *x, double *y, int is_exp)
{
    kernel(x, y, COUNT);
    double best = 1e30;
    for (int r = 0; r < 7; r++) {
        double start = now();
        for (int k = 0; k < REPEATS; k++) kernel(x, y, COUNT);
        double elapsed = (now() - start) / ((double)REPEATS * COUNT);
        best = elapsed < best ? elapsed : best;
    }
    double worst = 0;
    for (int i = 0; i < COUNT; i++)
        worst = fmax(worst, ulp_f64(y[i], is_exp ? expl((long double)x[i]) : logl((long double)x[i])));
    printf("| %-6s | float64 | %-28s | %6.3f | %5.2f |\n", is_exp ? "exp" : "log", name, best * 1e9, worst);
}

int main(void)
{
    static float xf_exp[COUNT], xf_log[COUNT], yf[COUNT];
    static double xd_exp[COUNT], xd_log[COUNT], yd[COUNT];
    unsigned long long state = 12345;
    for (int i = 0; i < COUNT; i++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        double u = (double)(state >> 11) * (1.0 / 9007199254740992.0);
        xf_exp[i] = (float)(-20 + 20 * u); /* softmax arguments x - max <= 0 */
        xf_log[i] = (float)(1 + 7 * u);    /* sums of exps: [1, C] */
        xd_exp[i] = -20 + 20 * u;
        xd_log[i] = 1 + 7 * u;
    }
    printf("| function | dtype | implementation | ns / element | max ulp |\n|---|---|---|---|---|\n");
    row_f32("losskit (inline, vectorized)", ours_expf, xf_exp, yf, 1);
    row_f32("glibc expf", libm_expf, xf_exp, yf, 1);
#if defined(LK_HAVE_SLEEF)
    row_f32("SLEEF Sleef_expf8_u10avx2", sleef_expf, xf_exp, yf, 1);
#endif
    row_f32("losskit (inline, vectorized)", ours_logf, xf_log, yf, 0);
    row_f32("glibc logf", libm_logf, xf_log, yf, 0);
#if defined(LK_HAVE_SLEEF)
    row_f32("SLEEF Sleef_logf8_u10avx2", sleef_logf, xf_log, yf, 0);
#endif
    row_f64("losskit (inline, vectorized)", ours_exp, xd_exp, yd, 1);
    row_f64("glibc exp", libm_exp, xd_exp, yd, 1);
#if defined(LK_HAVE_SLEEF)
    row_f64("SLEEF Sleef_expd4_u10avx2", sleef_exp, xd_exp, yd, 1);
#endif
    row_f64("losskit (inline, vectorized)", ours_log, xd_log, yd, 0);
    row_f64("glibc log", libm_log, xd_log, yd, 0);
#if defined(LK_HAVE_SLEEF)
    row_f64("SLEEF Sleef_logd4_u10avx2", sleef_log, xd_log, yd, 0);
#else
    printf("\n(SLEEF not found: install libsleef-dev and rebuild for its columns)\n");
#endif
    return 0;
}
