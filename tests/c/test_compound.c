/* Weighted sums of losses (lk_compound_*): values and gradients against the
 * terms run one by one, the named compounds against the same sums, and every
 * error of the spec parser (the position it names, the cause). */
#include <stdlib.h>

#include "check.h"

enum { N = 2, C = 3, H = 4, W = 5, PIXELS = N * H * W, ELEMENTS = N * C * H * W };

typedef struct batch {
    double logits[ELEMENTS];
    long long labels[PIXELS];
    lk_tensor inputs[2];
} batch;

static void make_batch(batch *b, unsigned long long seed)
{
    lk_rng rng = {seed};
    for (int i = 0; i < ELEMENTS; i++) b->logits[i] = 4 * lk_rng_uniform(&rng) - 2;
    for (int i = 0; i < PIXELS; i++) b->labels[i] = lk_rng_below(&rng, C);
    b->inputs[0] = (lk_tensor){b->logits, LK_F64, 4, {N, C, H, W}};
    b->inputs[1] = (lk_tensor){b->labels, LK_I64, 3, {N, H, W}};
}

/* loss and gradient of one registered loss. */
static double run_loss(const char *name, const char *spec, const batch *b, double *grad)
{
    double value = NAN;
    lk_tensor out = {&value, LK_F64, 0, {0}};
    lk_tensor grads[2] = {{grad, LK_F64, 4, {N, C, H, W}}, {0}};
    CHECK_OK(lk_compute(name, spec, b->inputs, 2, &out, grads));
    return value;
}

static double run_sum(const char *spec, const batch *b, double *grad)
{
    lk_compound *sum = NULL;
    double value = NAN;
    CHECK_OK(lk_compound_parse(spec, &sum));
    if (!sum) return value;
    lk_tensor out = {&value, LK_F64, 0, {0}};
    lk_tensor grads[2] = {{grad, LK_F64, 4, {N, C, H, W}}, {0}};
    CHECK_OK(lk_compound_compute(sum, b->inputs, 2, &out, grads, NULL));
    lk_compound_destroy(sum);
    return value;
}

static void test_sum_of_terms(void)
{
    batch b;
    make_batch(&b, 7);
    static double dice[ELEMENTS], focal[ELEMENTS], total[ELEMENTS];
    double expected = run_loss("dice", "smooth_nr=1", &b, dice) +
                      0.5 * run_loss("focal", "gamma=2", &b, focal);
    double value = run_sum(" dice:smooth_nr=1 + 0.5 * focal:gamma=2 ", &b, total);
    CHECK_CLOSE(value, expected, 1e-15, 0);
    for (int i = 0; i < ELEMENTS; i++) CHECK_CLOSE(total[i], dice[i] + 0.5 * focal[i], 1e-15, 1e-18);
}

static void test_one_term_is_the_loss(void)
{
    batch b;
    make_batch(&b, 8);
    static double direct[ELEMENTS], summed[ELEMENTS];
    double expected = run_loss("focal", "gamma=1.5,alpha=[0.2,0.5,0.3]", &b, direct);
    double value = run_sum("focal:gamma=1.5,alpha=[0.2,0.5,0.3]", &b, summed);
    CHECK(value == expected);
    CHECK(memcmp(direct, summed, sizeof direct) == 0);
    /* a weight scales value and gradient */
    value = run_sum("-2.5e+0*focal:gamma=1.5,alpha=[0.2,0.5,0.3]", &b, summed);
    CHECK_CLOSE(value, -2.5 * expected, 1e-15, 0);
    for (int i = 0; i < ELEMENTS; i++) CHECK_CLOSE(summed[i], -2.5 * direct[i], 1e-15, 0);
}

/* dice_ce and dice_focal are thin descriptors over the same mechanism. */
static void test_named_compounds_are_sums(void)
{
    batch b;
    make_batch(&b, 9);
    static double named[ELEMENTS], summed[ELEMENTS];
    double value = run_loss("dice_ce", "lambda_dice=0.5,lambda_ce=2,label_smoothing=0.1", &b, named);
    double expected = run_sum("0.5*dice + 2*cross_entropy:label_smoothing=0.1", &b, summed);
    CHECK(value == expected);
    CHECK(memcmp(named, summed, sizeof named) == 0);
    value = run_loss("dice_ce", "include_background=false,weight=[3,1,2]", &b, named);
    expected = run_sum("dice:include_background=false,weight=[1,2] + cross_entropy:weight=[3,1,2]",
                       &b, summed);
    CHECK(value == expected);
    CHECK(memcmp(named, summed, sizeof named) == 0);
}

static void test_exponents_and_lists_do_not_split(void)
{
    lk_compound *sum = NULL;
    CHECK_OK(lk_compound_parse("dice:smooth_nr=1e+2,smooth_dr=1E+2 + 1e+1*focal:alpha=[0.2,0.5,0.3]",
                               &sum));
    CHECK(lk_compound_term_count(sum) == 2);
    CHECK(lk_compound_term_weight(sum, 1) == 10);
    CHECK(strcmp(lk_loss_name(lk_compound_term_loss(sum, 1)), "focal") == 0);
    char text[64];
    lk_params_get(lk_compound_term_params(sum, 0), "smooth_nr", text, sizeof text);
    CHECK(strcmp(text, "100") == 0);
    CHECK(lk_compound_input_count(sum) == 2);
    CHECK(lk_compound_input(sum, 0)->differentiable == 1);
    CHECK(lk_compound_input(sum, 1)->differentiable == 0);
    CHECK(lk_compound_input(sum, 2) == NULL);
    CHECK(lk_compound_term_loss(sum, 2) == NULL);
    lk_compound_destroy(sum);
}

/* A bad spec: the status, and the pieces its message must hold. */
static void check_bad_spec(const char *spec, lk_status status, const char *position,
                           const char *cause)
{
    lk_compound *sum = (lk_compound *)&sum;
    lk_status got = lk_compound_parse(spec, &sum);
    CHECK_MSG(got == status, "'%s': got %s, expected %s (%s)", spec, lk_status_name(got),
              lk_status_name(status), lk_last_error());
    CHECK_MSG(sum == NULL, "'%s': *out not NULL after a failure", spec);
    if (position) CHECK_MESSAGE_HAS(position);
    CHECK_MESSAGE_HAS(cause);
}

static void test_spec_errors(void)
{
    check_bad_spec("dice + 0.5*focl", LK_ENOTFOUND, "term 2 at position 7", "no loss named 'focl'");
    check_bad_spec("dice + x*focal", LK_EPARAM, "term 2 at position 7", "bad weight 'x'");
    check_bad_spec("inf*dice", LK_EPARAM, "term 1 at position 0", "bad weight 'inf'");
    check_bad_spec("1e999*dice", LK_EPARAM, "term 1 at position 0", "bad weight '1e999'");
    check_bad_spec("*dice", LK_EPARAM, "term 1", "bad weight ''");
    check_bad_spec("dice + 0.5*", LK_EPARAM, "term 2 at position 7", "expected a loss name");
    check_bad_spec("dice + focal:gamma=-1", LK_EPARAM, "term 2 at position 7", "'gamma'");
    check_bad_spec("dice + focal:gama=2", LK_EPARAM, "term 2", "no parameter 'gama'");
    check_bad_spec("dice:smooth_nr", LK_EPARAM, "term 1", "key=value");
    check_bad_spec("dice +", LK_EPARAM, "term 2 at position 6", "empty term");
    check_bad_spec("+ dice", LK_EPARAM, "term 1 at position 0", "empty term");
    check_bad_spec("dice + + focal", LK_EPARAM, "term 2", "empty term");
    check_bad_spec("", LK_EPARAM, "term 1", "empty term");
    check_bad_spec("dice + focal:reduction=none", LK_EPARAM, "term 2", "reduction=none");
    check_bad_spec("dice + binary_cross_entropy", LK_EPARAM, "term 2",
                   "must take the same inputs");
    check_bad_spec("focal:alpha=[0.2,0.5 + dice", LK_EPARAM, "term 1", "alpha");
    CHECK_STATUS(lk_compound_parse(NULL, NULL), LK_EINVAL);
    lk_compound *sum = NULL;
    CHECK_STATUS(lk_compound_parse(NULL, &sum), LK_EINVAL);
}

/* Every one-character insertion and deletion of a valid spec parses or
 * fails cleanly (the sanitizer build runs this too); a failure leaves a
 * message that names a term. */
static void test_mutated_specs_never_crash(void)
{
    static const char base[] = "dice:smooth_nr=1e+2,weight=[0.5,2,1] + 0.5*focal:gamma=2";
    static const char alphabet[] = "+*:=,[]. e-0x_";
    char spec[sizeof base + 1];
    size_t length = strlen(base);
    for (size_t at = 0; at <= length; at++) {
        for (size_t a = 0; a < sizeof alphabet - 1; a++) {
            memcpy(spec, base, at);
            spec[at] = alphabet[a];
            memcpy(spec + at + 1, base + at, length - at + 1);
            lk_compound *sum = NULL;
            lk_status status = lk_compound_parse(spec, &sum);
            CHECK_MSG(status == LK_OK || strstr(lk_last_error(), "term "), "'%s': %s", spec, lk_last_error());
            CHECK_MSG((status == LK_OK) == (sum != NULL), "'%s': status and result disagree", spec);
            lk_compound_destroy(sum);
        }
        if (at == length) break;
        memcpy(spec, base, at);
        memcpy(spec + at, base + at + 1, length - at);
        lk_compound *sum = NULL;
        lk_status status = lk_compound_parse(spec, &sum);
        CHECK_MSG(status == LK_OK || strstr(lk_last_error(), "term "), "'%s': %s", spec, lk_last_error());
        lk_compound_destroy(sum);
    }
}

static void test_compute_errors_name_the_term(void)
{
    batch b;
    make_batch(&b, 10);
    b.labels[3] = 7;
    lk_compound *sum = NULL;
    CHECK_OK(lk_compound_parse("dice + 0.5*focal", &sum));
    double value, grad[ELEMENTS];
    lk_tensor out = {&value, LK_F64, 0, {0}};
    lk_tensor grads[2] = {{grad, LK_F64, 4, {N, C, H, W}}, {0}};
    CHECK_STATUS(lk_compound_compute(sum, b.inputs, 2, &out, grads, NULL), LK_EVALUE);
    CHECK_MESSAGE_HAS("term 1 (dice) at position 0");
    CHECK_MESSAGE_HAS("= 7");
    b.labels[3] = 1;
    CHECK_STATUS(lk_compound_compute(sum, b.inputs, 1, &out, grads, NULL), LK_EINVAL);
    lk_tensor per_pixel = {grad, LK_F64, 3, {N, H, W}};
    CHECK_STATUS(lk_compound_compute(sum, b.inputs, 2, &per_pixel, grads, NULL), LK_ESHAPE);
    lk_tensor wrong_dtype = {grad, LK_F32, 0, {0}};
    CHECK_STATUS(lk_compound_compute(sum, b.inputs, 2, &wrong_dtype, grads, NULL), LK_EDTYPE);
    lk_tensor label_grad[2] = {{0}, {grad, LK_F64, 3, {N, H, W}}};
    CHECK_STATUS(lk_compound_compute(sum, b.inputs, 2, &out, label_grad, NULL), LK_EINVAL);
    CHECK_MESSAGE_HAS("term 1 (dice)");
    lk_tensor shape;
    CHECK_OK(lk_compound_output_shape(sum, b.inputs, 2, &shape));
    CHECK(shape.ndim == 0 && shape.dtype == LK_F64);
    b.inputs[0].shape[2] = 2; /* the labels no longer fit the image */
    CHECK_STATUS(lk_compound_output_shape(sum, b.inputs, 2, &shape), LK_ESHAPE);
    CHECK_STATUS(lk_compound_compute(NULL, b.inputs, 2, &out, grads, NULL), LK_EINVAL);
    lk_compound_destroy(sum);
    lk_compound_destroy(NULL);
}

static void test_threads_bit_identical(void)
{
    batch b;
    make_batch(&b, 11);
    lk_compound *sum = NULL;
    CHECK_OK(lk_compound_parse("dice:batch=true + 0.25*cross_entropy + 2*focal:gamma=3", &sum));
    double values[3];
    static double grads_of[3][ELEMENTS];
    for (int threads = 1; threads <= 3; threads++) {
        lk_context *ctx = NULL;
        CHECK_OK(lk_context_create(threads, &ctx));
        lk_tensor out = {&values[threads - 1], LK_F64, 0, {0}};
        lk_tensor grads[2] = {{grads_of[threads - 1], LK_F64, 4, {N, C, H, W}}, {0}};
        CHECK_OK(lk_compound_compute(sum, b.inputs, 2, &out, grads, ctx));
        lk_context_destroy(ctx);
    }
    for (int t = 1; t < 3; t++) {
        CHECK(memcmp(&values[0], &values[t], sizeof values[0]) == 0);
        CHECK(memcmp(grads_of[0], grads_of[t], sizeof grads_of[0]) == 0);
    }
    lk_compound_destroy(sum);
}

int main(int argc, char **argv)
{
    static const lk_test tests[] = {
        {"sum_of_terms", test_sum_of_terms},
        {"one_term_is_the_loss", test_one_term_is_the_loss},
        {"named_compounds_are_sums", test_named_compounds_are_sums},
        {"exponents_and_lists_do_not_split", test_exponents_and_lists_do_not_split},
        {"spec_errors", test_spec_errors},
        {"mutated_specs_never_crash", test_mutated_specs_never_crash},
        {"compute_errors_name_the_term", test_compute_errors_name_the_term},
        {"threads_bit_identical", test_threads_bit_identical},
    };
    return lk_test_main(tests, sizeof tests / sizeof tests[0], argc, argv);
}
