/*
 * The beta schedules of the smooth L1 losses (include/losskit.h): Dynamic
 * R-CNN's statistic and update, RetinaMask's self-adjusting state, against
 * values worked out by hand from the references' rules, and their errors.
 * (tests/python/test_reference_gan_detection.py checks them against the
 * rules written in torch / numpy on random data.)
 */
#include <stdlib.h>

#include "check.h"

static lk_tensor matrix(void *data, lk_dtype dtype, int64_t rows, int64_t columns)
{
    lk_tensor t = {data, dtype, 2, {rows, columns}};
    return t;
}

static void test_dynamic_statistic(void)
{
    /* row errors (|dx| + |dy|) / 2: 1.5, 0.25, 3, 0.5 */
    double targets[] = {1, -2, 9, 9, 0.5, 0, 7, 7, -3, 3, 0, 0, 0.25, 0.75, 5, 5};
    lk_tensor t = matrix(targets, LK_F64, 4, 4);
    double value = 0;
    double expected[] = {0.25, 0.5, 1.5, 3};
    for (int k = 1; k <= 4; k++) {
        CHECK_OK(lk_dynamic_beta_statistic(&t, k, &value));
        CHECK_CLOSE(value, expected[k - 1], 0, 0);
    }
    float narrow[] = {0.1f, 0.2f, -0.3f, 0.4f};
    lk_tensor f = matrix(narrow, LK_F32, 2, 2);
    CHECK_OK(lk_dynamic_beta_statistic(&f, 2, &value));
    CHECK(value == (double)((0.3f + 0.4f) / 2)); /* in the targets' dtype, as torch */

    CHECK_STATUS(lk_dynamic_beta_statistic(&t, 0, &value), LK_EINVAL);
    CHECK_MESSAGE_HAS("k = 0");
    CHECK_STATUS(lk_dynamic_beta_statistic(&t, 5, &value), LK_EINVAL);
    CHECK_STATUS(lk_dynamic_beta_statistic(NULL, 1, &value), LK_EINVAL);
    CHECK_STATUS(lk_dynamic_beta_statistic(&t, 1, NULL), LK_EINVAL);
    lk_tensor one_column = matrix(targets, LK_F64, 16, 1);
    CHECK_STATUS(lk_dynamic_beta_statistic(&one_column, 1, &value), LK_ESHAPE);
    CHECK_MESSAGE_HAS("K >= 2");
    int labels[8] = {0};
    lk_tensor integers = matrix(labels, LK_I32, 4, 2);
    CHECK_STATUS(lk_dynamic_beta_statistic(&integers, 1, &value), LK_EDTYPE);
    targets[5] = NAN;
    CHECK_STATUS(lk_dynamic_beta_statistic(&t, 1, &value), LK_EVALUE);
    CHECK_MESSAGE_HAS("'targets'[1, 1] = nan");
}

static void test_dynamic_update(void)
{
    double odd[] = {0.3, 0.1, 0.2}, even[] = {0.4, 0.1, 0.2, 5}, zeros[] = {0, 1e-16, 0};
    double beta = 0;
    CHECK_OK(lk_dynamic_beta_update(odd, 3, 1.0, 0.7, &beta));
    CHECK(beta == 0.2);
    CHECK_OK(lk_dynamic_beta_update(even, 4, 1.0, 0.7, &beta));
    CHECK(beta == (0.2 + 0.4) / 2);
    CHECK_OK(lk_dynamic_beta_update(even, 4, 0.25, 0.7, &beta));
    CHECK(beta == 0.25); /* capped at initial_beta */
    CHECK_OK(lk_dynamic_beta_update(zeros, 3, 1.0, 0.7, &beta));
    CHECK(beta == 0.7); /* a median below 1e-15 keeps the current beta */

    CHECK_STATUS(lk_dynamic_beta_update(odd, 0, 1.0, 0.7, &beta), LK_EINVAL);
    CHECK_STATUS(lk_dynamic_beta_update(NULL, 3, 1.0, 0.7, &beta), LK_EINVAL);
    CHECK_STATUS(lk_dynamic_beta_update(odd, 3, 0, 0.7, &beta), LK_EVALUE);
    CHECK_STATUS(lk_dynamic_beta_update(odd, 3, 1.0, NAN, &beta), LK_EVALUE);
    odd[1] = -1;
    CHECK_STATUS(lk_dynamic_beta_update(odd, 3, 1.0, 0.7, &beta), LK_EVALUE);
    CHECK_MESSAGE_HAS("history[1] = -1");
}

static void test_self_adjusting(void)
{
    double mean[2], var[2], beta[2];
    lk_self_adjusting_state state;
    CHECK_OK(lk_self_adjusting_init(&state, 2, 1.0 / 9, 0.1, mean, var));
    CHECK(mean[0] == 1.0 / 9 && mean[1] == 1.0 / 9 && var[0] == 0 && var[1] == 0);
    CHECK_OK(lk_self_adjusting_beta(&state, beta));
    CHECK(beta[0] == 1.0 / 9);
    /* errors |x - t|: column 0: 0.1, 0.3, 0.5 (mean 0.3, var 0.04); column 1: 2, 2, 2 */
    double x[] = {0.1, 3, -0.3, 1, 0.5, 0}, t[] = {0, 1, 0, -1, 0, 2};
    lk_tensor input = matrix(x, LK_F64, 3, 2), target = matrix(t, LK_F64, 3, 2);
    CHECK_OK(lk_self_adjusting_update(&state, &input, &target));
    CHECK_CLOSE(mean[0], 0.9 / 9 + 0.1 * 0.3, 1e-15, 0);
    CHECK_CLOSE(var[0], 0.1 * 0.04, 1e-14, 0);
    CHECK_CLOSE(mean[1], 0.9 / 9 + 0.1 * 2, 1e-15, 0);
    CHECK(var[1] == 0);
    CHECK_OK(lk_self_adjusting_beta(&state, beta));
    CHECK(beta[0] == 1.0 / 9 && beta[1] == 1.0 / 9); /* 0.126 and 0.3: clipped at beta_max */
    CHECK_OK(lk_self_adjusting_init(&state, 2, 1.0, 0.1, mean, var));
    CHECK_OK(lk_self_adjusting_update(&state, &input, &target));
    CHECK_OK(lk_self_adjusting_beta(&state, beta));
    CHECK_CLOSE(beta[0], 0.9 + 0.03 - 0.004, 1e-14, 0);
    CHECK(beta[1] == 1.0); /* 1.1, clipped */
    mean[0] = 0.0001;
    CHECK_OK(lk_self_adjusting_beta(&state, beta));
    CHECK(beta[0] == 1e-3); /* clipped at 1e-3 */

    lk_tensor one_row = matrix(x, LK_F64, 1, 2);
    double before = mean[1];
    CHECK_OK(lk_self_adjusting_update(&state, &one_row, &one_row));
    CHECK(mean[1] == before); /* no variance of one row: no update */

    lk_tensor wrong = matrix(x, LK_F64, 2, 3);
    CHECK_STATUS(lk_self_adjusting_update(&state, &wrong, &wrong), LK_ESHAPE);
    CHECK_MESSAGE_HAS("(N, 2)");
    float narrow[6] = {0};
    lk_tensor f = matrix(narrow, LK_F32, 3, 2);
    CHECK_STATUS(lk_self_adjusting_update(&state, &input, &f), LK_ESHAPE);
    x[3] = INFINITY;
    CHECK_STATUS(lk_self_adjusting_update(&state, &input, &target), LK_EVALUE);
    CHECK_MESSAGE_HAS("'input'[1, 1] = inf");
    CHECK_STATUS(lk_self_adjusting_init(&state, 0, 1.0 / 9, 0.1, mean, var), LK_EINVAL);
    CHECK_STATUS(lk_self_adjusting_init(&state, 2, 0, 0.1, mean, var), LK_EINVAL);
    CHECK_MESSAGE_HAS("beta_max");
    CHECK_STATUS(lk_self_adjusting_init(&state, 2, 1.0 / 9, 1.5, mean, var), LK_EINVAL);
    CHECK_MESSAGE_HAS("momentum");
    CHECK_STATUS(lk_self_adjusting_init(&state, 2, 1.0 / 9, 0.1, NULL, var), LK_EINVAL);
    CHECK_STATUS(lk_self_adjusting_init(NULL, 2, 1.0 / 9, 0.1, mean, var), LK_EINVAL);
    CHECK_STATUS(lk_self_adjusting_beta(&state, NULL), LK_EINVAL);
}

int main(int argc, char **argv)
{
    static const lk_test tests[] = {
        {"dynamic_statistic", test_dynamic_statistic},
        {"dynamic_update", test_dynamic_update},
        {"self_adjusting", test_self_adjusting},
    };
    return lk_test_main(tests, sizeof tests / sizeof tests[0], argc, argv);
}
