/*
 * exp and log: losskit's inline polynomials (core/vecmath.h, auto-vectorized
 * in plain loops) against glibc's libm and SLEEF's vectorized 1-ulp functions
 * (AVX2), on the same inputs: nanoseconds per element (single thread, data in
 * L2) and the worst error in ulp against long double on those inputs.
 *
 * The table decides which exp/log the kernels use; the numbers are recorded in
 * docs/performance.md. SLEEF rows appear when libsleef-dev is installed.
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include <math.h>
#include <stdio.h>
#include <time.h>

#include "core/hot.h"
#include "core/vecmath.h"
#include "ulp.h"

#if defined(LK_HAVE_SLEEF)
#include <immintrin.h>
#include <sleef.h>
#define LK_AVX2 __attribute__((target("avx2,fma")))
#endif

#define COUNT 16384
#define REPEATS 400

/* Kernels over untyped arrays, so that one timing and one report serve all. */
typedef void (*kernel)(const void *x, void *y, int n);

LK_HOT static void ours_expf(const void *x, void *y, int n) { const float *a = x; float *b = y; for (int i = 0; i < n; i++) b[i] = lk_exp_f32(a[i]); }
LK_HOT static void ours_logf(const void *x, void *y, int n) { const float *a = x; float *b = y; for (int i = 0; i < n; i++) b[i] = lk_log_f32(a[i]); }
LK_HOT static void ours_exp(const void *x, void *y, int n) { const double *a = x; double *b = y; for (int i = 0; i < n; i++) b[i] = lk_exp_f64(a[i]); }
LK_HOT static void ours_log(const void *x, void *y, int n) { const double *a = x; double *b = y; for (int i = 0; i < n; i++) b[i] = lk_log_f64(a[i]); }
static void libm_expf(const void *x, void *y, int n) { const float *a = x; float *b = y; for (int i = 0; i < n; i++) b[i] = expf(a[i]); }
static void libm_logf(const void *x, void *y, int n) { const float *a = x; float *b = y; for (int i = 0; i < n; i++) b[i] = logf(a[i]); }
static void libm_exp(const void *x, void *y, int n) { const double *a = x; double *b = y; for (int i = 0; i < n; i++) b[i] = exp(a[i]); }
static void libm_log(const void *x, void *y, int n) { const double *a = x; double *b = y; for (int i = 0; i < n; i++) b[i] = log(a[i]); }

#if defined(LK_HAVE_SLEEF)
LK_AVX2 static void sleef_expf(const void *x, void *y, int n)
{
    for (int i = 0; i < n; i += 8)
        _mm256_storeu_ps((float *)y + i, Sleef_expf8_u10avx2(_mm256_loadu_ps((const float *)x + i)));
}
LK_AVX2 static void sleef_logf(const void *x, void *y, int n)
{
    for (int i = 0; i < n; i += 8)
        _mm256_storeu_ps((float *)y + i, Sleef_logf8_u10avx2(_mm256_loadu_ps((const float *)x + i)));
}
LK_AVX2 static void sleef_exp(const void *x, void *y, int n)
{
    for (int i = 0; i < n; i += 4)
        _mm256_storeu_pd((double *)y + i, Sleef_expd4_u10avx2(_mm256_loadu_pd((const double *)x + i)));
}
LK_AVX2 static void sleef_log(const void *x, void *y, int n)
{
    for (int i = 0; i < n; i += 4)
        _mm256_storeu_pd((double *)y + i, Sleef_logd4_u10avx2(_mm256_loadu_pd((const double *)x + i)));
}
#endif

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Best nanoseconds per element over 7 runs of REPEATS calls. */
static double time_kernel(kernel run, const void *x, void *y)
{
    run(x, y, COUNT);
    double best = 1e30;
    for (int r = 0; r < 7; r++) {
        double start = now();
        for (int k = 0; k < REPEATS; k++) run(x, y, COUNT);
        double elapsed = (now() - start) / ((double)REPEATS * COUNT);
        best = elapsed < best ? elapsed : best;
    }
    return best * 1e9;
}

static void row(const char *function, const char *name, kernel run, const void *x, void *y,
                int is_double)
{
    double ns = time_kernel(run, x, y), worst = 0;
    for (int i = 0; i < COUNT; i++) {
        long double in = is_double ? (long double)((const double *)x)[i] : (long double)((const float *)x)[i];
        long double exact = function[0] == 'e' ? expl(in) : logl(in);
        worst = fmax(worst, is_double ? lk_ulp_error_f64(((double *)y)[i], exact)
                                      : lk_ulp_error_f32(((float *)y)[i], exact));
    }
    printf("| %-6s | %s | %-28s | %6.3f | %5.2f |\n", function, is_double ? "float64" : "float32",
           name, ns, worst);
}

int main(void)
{
    static float xf_exp[COUNT], xf_log[COUNT], yf[COUNT];
    static double xd_exp[COUNT], xd_log[COUNT], yd[COUNT];
    unsigned long long state = 12345;
    for (int i = 0; i < COUNT; i++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        double u = (double)(state >> 11) * (1.0 / 9007199254740992.0);
        xd_exp[i] = -20 + 20 * u; /* softmax arguments x - max <= 0 */
        xd_log[i] = 1 + 7 * u;    /* sums of exps: [1, C] */
        xf_exp[i] = (float)xd_exp[i];
        xf_log[i] = (float)xd_log[i];
    }
    printf("| function | dtype | implementation | ns / element | max ulp |\n|---|---|---|---|---|\n");
    row("exp", "losskit (inline, vectorized)", ours_expf, xf_exp, yf, 0);
    row("exp", "glibc expf", libm_expf, xf_exp, yf, 0);
#if defined(LK_HAVE_SLEEF)
    row("exp", "SLEEF Sleef_expf8_u10avx2", sleef_expf, xf_exp, yf, 0);
#endif
    row("log", "losskit (inline, vectorized)", ours_logf, xf_log, yf, 0);
    row("log", "glibc logf", libm_logf, xf_log, yf, 0);
#if defined(LK_HAVE_SLEEF)
    row("log", "SLEEF Sleef_logf8_u10avx2", sleef_logf, xf_log, yf, 0);
#endif
    row("exp", "losskit (inline, vectorized)", ours_exp, xd_exp, yd, 1);
    row("exp", "glibc exp", libm_exp, xd_exp, yd, 1);
#if defined(LK_HAVE_SLEEF)
    row("exp", "SLEEF Sleef_expd4_u10avx2", sleef_exp, xd_exp, yd, 1);
#endif
    row("log", "losskit (inline, vectorized)", ours_log, xd_log, yd, 1);
    row("log", "glibc log", libm_log, xd_log, yd, 1);
#if defined(LK_HAVE_SLEEF)
    row("log", "SLEEF Sleef_logd4_u10avx2", sleef_log, xd_log, yd, 1);
#else
    printf("\n(SLEEF not found: install libsleef-dev and rebuild for its rows)\n");
#endif
    return 0;
}
