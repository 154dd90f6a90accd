/* The vectorizable exp/log of core/vecmath.h against libm in long double:
 * within 2 ulp over their domains (dense samples, plus the special values). */
#include <float.h>
#include <stdint.h>

#include "check.h"
#include "core/special.h"
#include "core/vecmath.h"
#include "ulp.h"

/* Every 1021st float bit pattern: ~4.2 million values, all exponents. (An
 * exhaustive run over all 2^32 floats is recorded in docs/performance.md.) */
static void test_float32_sweep(void)
{
    double worst_exp = 0, worst_log = 0, worst_log1p = 0;
    for (uint64_t bits = 0; bits <= 0xffffffffu; bits += 1021) {
        float x = lk_from_bits_f32((uint32_t)bits);
        if (isnan(x)) continue;
        worst_exp = fmax(worst_exp, lk_ulp_error_f32(lk_exp_f32(x), expl(x)));
        if (x >= 0) {
            worst_log = fmax(worst_log, lk_ulp_error_f32(lk_log_f32(x), logl(x)));
            worst_log1p = fmax(worst_log1p, lk_ulp_error_f32(lk_log1p_f32(x), log1pl(x)));
        }
    }
    CHECK_MSG(worst_exp <= 2, "expf: %.3f ulp", worst_exp);
    CHECK_MSG(worst_log <= 2, "logf: %.3f ulp", worst_log);
    CHECK_MSG(worst_log1p <= 2, "log1pf: %.3f ulp", worst_log1p);
    printf("  float32: exp %.3f, log %.3f, log1p %.3f ulp (worst sampled)\n", worst_exp, worst_log, worst_log1p);
}

static void test_float64_sweep(void)
{
    lk_rng rng = {42};
    double worst_exp = 0, worst_log = 0, worst_log1p = 0;
    for (int i = 0; i < 2000000; i++) {
        double x = lk_rng_uniform(&rng) * 1500 - 750;
        worst_exp = fmax(worst_exp, lk_ulp_error_f64(lk_exp_f64(x), expl(x)));
        uint64_t bits = (uint64_t)(lk_rng_uniform(&rng) * 9218868437227405312.0); /* up to +inf */
        double y = lk_from_bits_f64(bits);
        worst_log = fmax(worst_log, lk_ulp_error_f64(lk_log_f64(y), logl(y)));
        double z = lk_rng_uniform(&rng) * 4;
        worst_log1p = fmax(worst_log1p, lk_ulp_error_f64(lk_log1p_f64(z), log1pl(z)));
        worst_log = fmax(worst_log, lk_ulp_error_f64(lk_log_f64(z + 0.5), logl(z + 0.5)));
    }
    CHECK_MSG(worst_exp <= 2, "exp: %.3f ulp", worst_exp);
    CHECK_MSG(worst_log <= 2, "log: %.3f ulp", worst_log);
    CHECK_MSG(worst_log1p <= 2, "log1p: %.3f ulp", worst_log1p);
    printf("  float64: exp %.3f, log %.3f, log1p %.3f ulp (worst sampled)\n", worst_exp, worst_log, worst_log1p);
}

/* The softmax exp: 2 ulp where the result is normal, 0 below, NaN kept. */
static void test_nonpositive_exp(void)
{
    double worst_f32 = 0, worst_f64 = 0;
    for (uint64_t bits = 0x80000000u; bits <= 0xffffffffu; bits += 61) { /* every negative float */
        float x = lk_from_bits_f32((uint32_t)bits);
        if (isnan(x)) continue;
        float got = lk_exp_nonpositive_f32(x);
        if (x < -87.33654f)
            CHECK_MSG(got == 0, "exp_nonpositive(%a) = %a, expected 0", (double)x, (double)got);
        else
            worst_f32 = fmax(worst_f32, lk_ulp_error_f32(got, expl(x)));
    }
    lk_rng rng = {5};
    for (int i = 0; i < 1000000; i++) {
        double x = -lk_rng_uniform(&rng) * 708.3;
        worst_f64 = fmax(worst_f64, lk_ulp_error_f64(lk_exp_nonpositive_f64(x), expl(x)));
    }
    CHECK_MSG(worst_f32 <= 2 && worst_f64 <= 2, "exp_nonpositive: %.3f / %.3f ulp", worst_f32, worst_f64);
    CHECK(lk_exp_nonpositive_f32(0) == 1 && lk_exp_nonpositive_f64(0) == 1);
    CHECK(lk_exp_nonpositive_f32(-INFINITY) == 0 && lk_exp_nonpositive_f64(-800) == 0);
    CHECK(isnan(lk_exp_nonpositive_f32(NAN)) && isnan(lk_exp_nonpositive_f64(NAN)));
    CHECK(lk_exp_nonpositive_f32(-87.3f) > 0);
}

static void test_special_values(void)
{
    CHECK(isnan(lk_exp_f32(NAN)) && isnan(lk_exp_f64(NAN)));
    CHECK(lk_exp_f32(INFINITY) == INFINITY && lk_exp_f64(INFINITY) == INFINITY);
    CHECK(lk_exp_f32(-INFINITY) == 0 && lk_exp_f64(-INFINITY) == 0);
    CHECK(lk_exp_f32(0) == 1 && lk_exp_f64(0) == 1);
    CHECK(lk_exp_f32(89) == INFINITY && lk_exp_f64(710) == INFINITY);
    CHECK(lk_exp_f32(-104) == 0 && lk_exp_f64(-746) == 0);
    CHECK(lk_log_f32(0) == -INFINITY && lk_log_f64(0) == -INFINITY);
    CHECK(lk_log_f32(1) == 0 && lk_log_f64(1) == 0);
    CHECK(isnan(lk_log_f32(-1)) && isnan(lk_log_f64(-1)));
    CHECK(isnan(lk_log_f32(NAN)) && isnan(lk_log_f64(NAN)));
    CHECK(lk_log_f32(INFINITY) == INFINITY && lk_log_f64(INFINITY) == INFINITY);
    CHECK(lk_log1p_f32(INFINITY) == INFINITY && lk_log1p_f64(INFINITY) == INFINITY);
    CHECK(lk_log1p_f32(0) == 0 && lk_log1p_f64(1e-300) == 1e-300);
    CHECK(lk_log_f64(4.9406564584124654e-324) == -744.44007192138122);
}

static void test_helpers(void)
{
    double base[4] = {0, 0.5, 0.3, 1}, out[4];
    float base_f[4] = {0, 0.5f, 0.3f, 1}, out_f[4];
    double exponents[] = {0, 1, 2, 1.7, 0.5};
    for (size_t e = 0; e < sizeof exponents / sizeof exponents[0]; e++) {
        lk_pow_array_f64(base, exponents[e], out, 4);
        lk_pow_array_f32(base_f, (float)exponents[e], out_f, 4);
        for (int j = 0; j < 4; j++) {
            CHECK_CLOSE(out[j], pow(base[j], exponents[e]), 4e-16, 0); /* pow(0, 0) = 1 */
            CHECK_CLOSE(out_f[j], powf(base_f[j], (float)exponents[e]), 3e-7, 0);
        }
    }
    double xs[] = {-800, -50, -3, -1e-9, 0, 2e-12, 3, 40, 800};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        double p, q, neg_log_p;
        lk_logistic_f64(xs[i], &p, &q, &neg_log_p);
        long double exact_p = 1 / (1 + expl(-(long double)xs[i]));
        CHECK_CLOSE(p, (double)exact_p, 4e-16, 1e-300);
        CHECK_CLOSE(q, (double)(1 / (1 + expl((long double)xs[i]))), 4e-16, 1e-300); /* no cancellation */
        CHECK_CLOSE(neg_log_p, (double)log1pl(expl(-(long double)xs[i])), 4e-16, 1e-300);
        float pf, qf, nf;
        lk_logistic_f32((float)xs[i], &pf, &qf, &nf);
        CHECK_CLOSE(pf, p, 3e-7, 1e-38);
        CHECK_CLOSE(nf, neg_log_p, 3e-7, 1e-38);
    }
    CHECK(lk_log_clamped_f32(0) == lk_log_f32(FLT_MIN));
    CHECK(lk_inverse_clamped_f64(0) == 0 && lk_inverse_clamped_f64(0.5) == 2);
}

/* log Gamma against libm's lgamma (this test is single-threaded, so its
 * signgam does not matter), digamma against exact values and identities. */
static void test_gamma_functions(void)
{
    for (double x = 1e-6; x < 1e6; x *= 1.37) {
        double expected = lgamma(x);
        double tolerance = x >= 10 ? 4e-16 * fabs(expected) : 1e-14;
        CHECK_MSG(fabs(lk_log_gamma(x) - expected) <= tolerance, "log_gamma(%.17g) = %.17g, libm %.17g", x,
                  lk_log_gamma(x), expected);
        /* psi(x + 1) = psi(x) + 1 / x, across the series' shift too */
        double step = lk_digamma(x + 1) - lk_digamma(x) - 1 / x; /* a few ulp of the terms */
        CHECK_MSG(fabs(step) <= 2e-15 * (1 + fabs(lk_digamma(x)) + 1 / x), "digamma recurrence at %.17g: %.3g", x,
                  step);
        /* psi is log Gamma's derivative */
        if (x > 1e-3 && x < 1e5) {
            double h = 1e-5 * x, numeric = (lgamma(x + h) - lgamma(x - h)) / (2 * h);
            CHECK_MSG(fabs(lk_digamma(x) - numeric) <= 1e-7 * (1 + fabs(numeric)), "digamma(%.17g) = %.17g, "
                      "numeric %.17g", x, lk_digamma(x), numeric);
        }
    }
    const double euler = 0.57721566490153286061;
    /* within a few ulp of the series' value at the shift (about 13) */
    CHECK_CLOSE(lk_digamma(1), -euler, 0, 4e-15);
    CHECK_CLOSE(lk_digamma(0.5), -euler - 2 * log(2.0), 0, 4e-15);
    CHECK_CLOSE(lk_digamma(10), -euler + 7129.0 / 2520, 0, 4e-15); /* H_9 - gamma */
    CHECK_CLOSE(lk_log_gamma(1), 0, 0, 4e-15);
    CHECK_CLOSE(lk_log_gamma(2), 0, 0, 4e-15);
    CHECK_CLOSE(lk_log_gamma(0.5), 0.5 * log(3.14159265358979323846), 0, 4e-15);
}

int main(int argc, char **argv)
{
    static const lk_test tests[] = {
        {"float32_sweep", test_float32_sweep},
        {"float64_sweep", test_float64_sweep},
        {"nonpositive_exp", test_nonpositive_exp},
        {"special_values", test_special_values},
        {"helpers", test_helpers},
        {"gamma_functions", test_gamma_functions},
    };
    return lk_test_main(tests, sizeof tests / sizeof tests[0], argc, argv);
}
