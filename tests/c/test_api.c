/* The public API around the losses: contexts, concurrency, per-thread errors,
 * one-shot compute, exact message formats, small hand-computed values. */
#include <pthread.h>
#include <stdlib.h>

#include "check.h"

static void test_context_bounds(void)
{
    lk_context *ctx = NULL;
    CHECK_STATUS(lk_context_create(-1, &ctx), LK_EINVAL);
    CHECK_MESSAGE_HAS("n_threads = -1");
    CHECK_STATUS(lk_context_create(100000, &ctx), LK_EINVAL);
    CHECK_STATUS(lk_context_create(1, NULL), LK_EINVAL);
    CHECK_OK(lk_context_create(0, &ctx));
    CHECK(lk_context_threads(ctx) >= 1);
    lk_context_destroy(ctx);
    CHECK_OK(lk_context_create(4, &ctx));
    CHECK(lk_context_threads(ctx) == 4);
    lk_context_destroy(ctx);
    lk_context_destroy(NULL);
    CHECK(lk_context_threads(NULL) >= 1);
}

/* Run by ctest with LOSSKIT_NUM_THREADS=3 in the environment. */
static void test_default_threads_from_env(void)
{
    const char *env = getenv("LOSSKIT_NUM_THREADS");
    CHECK_MSG(env && lk_context_threads(NULL) == atoi(env), "LOSSKIT_NUM_THREADS=%s, default context has %d",
              env ? env : "(unset)", lk_context_threads(NULL));
}

/* Cross-entropy of logits [0, log 3] with label 1: -log(3/4). */
static void test_hand_computed_cross_entropy(void)
{
    double logits[2] = {0, log(3.0)}, grad[2], loss;
    long long label = 1;
    lk_tensor inputs[2] = {{logits, LK_F64, 2, {1, 2}}, {&label, LK_I64, 1, {1}}};
    lk_tensor out = {&loss, LK_F64, 0, {0}};
    lk_tensor grads[2] = {{grad, LK_F64, 2, {1, 2}}, {0}};
    CHECK_OK(lk_compute("cross_entropy", NULL, inputs, 2, &out, grads));
    CHECK_CLOSE(loss, -log(0.75), 1e-15, 0);
    CHECK_CLOSE(grad[0], 0.25, 1e-15, 0);
    CHECK_CLOSE(grad[1], -0.25, 1e-15, 0);
    CHECK_OK(lk_compute("cross_entropy", "label_smoothing=0.5", inputs, 2, &out, grads));
    CHECK_CLOSE(loss, 0.5 * -log(0.75) + 0.25 * (-log(0.25) - log(0.75)), 1e-15, 0);
    CHECK_STATUS(lk_compute("no_such_loss", NULL, inputs, 2, &out, grads), LK_ENOTFOUND);
    CHECK_STATUS(lk_compute("cross_entropy", "label_smoothing=2", inputs, 2, &out, grads), LK_EPARAM);
}

static void test_label_map_with_channel_axis(void)
{
    float logits[2 * 3 * 4];
    for (int i = 0; i < 24; i++) logits[i] = (float)(i % 5) * 0.3f;
    unsigned char labels[8] = {0, 1, 2, 1, 0, 2, 2, 1};
    float loss_a, loss_b;
    lk_tensor inputs[2] = {{logits, LK_F32, 3, {2, 3, 4}}, {labels, LK_U8, 2, {2, 4}}};
    lk_tensor out = {&loss_a, LK_F32, 0, {0}};
    CHECK_OK(lk_compute("focal", NULL, inputs, 2, &out, NULL));
    inputs[1].ndim = 3;
    inputs[1].shape[1] = 1;
    inputs[1].shape[2] = 4;
    out.data = &loss_b;
    CHECK_OK(lk_compute("focal", NULL, inputs, 2, &out, NULL)); /* (N, 1, *spatial) */
    CHECK(loss_a == loss_b);
    inputs[1].shape[1] = 2; /* (N, 2, 4): neither form */
    inputs[1].shape[2] = 2;
    CHECK_STATUS(lk_compute("focal", NULL, inputs, 2, &out, NULL), LK_ESHAPE);
    CHECK_MESSAGE_HAS("(2, 4) or (2, 1, 4)");
}

static void test_label_error_message(void)
{
    float logits[1 * 3 * 2 * 2] = {0};
    int labels[4] = {0, 1, 2, 7};
    float loss;
    lk_tensor inputs[2] = {{logits, LK_F32, 4, {1, 3, 2, 2}}, {labels, LK_I32, 3, {1, 2, 2}}};
    lk_tensor out = {&loss, LK_F32, 0, {0}};
    CHECK_STATUS(lk_compute("cross_entropy", NULL, inputs, 2, &out, NULL), LK_EVALUE);
    CHECK(strcmp(lk_last_error(), "target[0, 1, 1] = 7 is not a class index in [0, 3) nor ignore_index (-100)") == 0);
    labels[3] = -100; /* ignored */
    CHECK_OK(lk_compute("cross_entropy", NULL, inputs, 2, &out, NULL));
    logits[2] = NAN; /* class 0 at pixel 2, which is labelled */
    CHECK_STATUS(lk_compute("cross_entropy", NULL, inputs, 2, &out, NULL), LK_EVALUE);
    CHECK(strcmp(lk_last_error(), "input 'input'[0, 0, 1, 0] = nan: inputs must be finite") == 0);
}

/* A NaN at an ignored pixel never reaches the loss or the gradient. */
static void test_nan_at_ignored_pixel(void)
{
    double logits[2 * 2] = {NAN, 1, NAN, 2}; /* (1, 2, 2): pixel 0 is NaN */
    long long labels[2] = {-100, 1};
    double grad[4], loss;
    lk_tensor inputs[2] = {{logits, LK_F64, 3, {1, 2, 2}}, {labels, LK_I64, 2, {1, 2}}};
    lk_tensor out = {&loss, LK_F64, 0, {0}};
    lk_tensor grads[2] = {{grad, LK_F64, 3, {1, 2, 2}}, {0}};
    CHECK_OK(lk_compute("cross_entropy", NULL, inputs, 2, &out, grads));
    CHECK(isfinite(loss) && grad[0] == 0 && grad[2] == 0);
    CHECK_CLOSE(loss, log(exp(1.0) + exp(2.0)) - 2, 1e-15, 0);
}

typedef struct worker_arg {
    lk_context *ctx;
    double loss;
    lk_status status;
} worker_arg;

static float shared_logits[4 * 3 * 64 * 64];
static long long shared_labels[4 * 64 * 64];

static void *compute_in_thread(void *raw)
{
    worker_arg *arg = raw;
    const lk_loss_desc *desc = lk_loss_find("focal");
    lk_params *params;
    lk_params_create(desc, &params);
    float loss = 0;
    lk_tensor inputs[2] = {{shared_logits, LK_F32, 4, {4, 3, 64, 64}}, {shared_labels, LK_I64, 3, {4, 64, 64}}};
    lk_tensor out = {&loss, LK_F32, 0, {0}};
    for (int i = 0; i < 20; i++) arg->status |= lk_loss_compute(desc, params, inputs, 2, &out, NULL, arg->ctx);
    arg->loss = loss;
    lk_params_destroy(params);
    return NULL;
}

/* Several threads share one context: each gets the same bits. */
static void test_concurrent_callers(void)
{
    lk_rng rng = {11};
    for (size_t i = 0; i < sizeof shared_logits / sizeof shared_logits[0]; i++) shared_logits[i] = (float)lk_rng_uniform(&rng) * 4;
    for (size_t i = 0; i < sizeof shared_labels / sizeof shared_labels[0]; i++) shared_labels[i] = lk_rng_below(&rng, 3);
    lk_context *ctx;
    CHECK_OK(lk_context_create(2, &ctx));
    pthread_t threads[4];
    worker_arg args[4];
    for (int t = 0; t < 4; t++) {
        args[t] = (worker_arg){ctx, 0, LK_OK};
        pthread_create(&threads[t], NULL, compute_in_thread, &args[t]);
    }
    for (int t = 0; t < 4; t++) pthread_join(threads[t], NULL);
    for (int t = 0; t < 4; t++) {
        CHECK(args[t].status == LK_OK);
        CHECK(args[t].loss == args[0].loss && args[0].loss > 0);
    }
    lk_context_destroy(ctx);
}

static void *fail_in_thread(void *raw)
{
    (void)raw;
    lk_loss_find("from_another_thread");
    return NULL;
}

static void test_errors_are_per_thread(void)
{
    lk_loss_find("from_this_thread");
    pthread_t thread;
    pthread_create(&thread, NULL, fail_in_thread, NULL);
    pthread_join(thread, NULL);
    CHECK_MESSAGE_HAS("from_this_thread");
}

static void test_too_many_classes(void)
{
    float x[4];
    long long y[2];
    float loss;
    lk_tensor inputs[2] = {{x, LK_F32, 2, {1, 3000000000LL}}, {y, LK_I64, 1, {1}}};
    lk_tensor out = {&loss, LK_F32, 0, {0}};
    CHECK_STATUS(lk_compute("cross_entropy", NULL, inputs, 2, &out, NULL), LK_ESHAPE); /* before any read */
    CHECK_MESSAGE_HAS("3000000000 classes");
}

static void test_output_shape(void)
{
    const lk_loss_desc *desc = lk_loss_find("cross_entropy");
    lk_params *params;
    CHECK_OK(lk_params_create(desc, &params));
    float x[2 * 3 * 5];
    long long y[2 * 5];
    lk_tensor inputs[2] = {{x, LK_F32, 3, {2, 3, 5}}, {y, LK_I64, 2, {2, 5}}};
    lk_tensor out;
    CHECK_OK(lk_loss_output_shape(desc, params, inputs, 2, &out));
    CHECK(out.ndim == 0 && out.dtype == LK_F32);
    CHECK_OK(lk_params_set(params, "reduction", "none"));
    CHECK_OK(lk_loss_output_shape(desc, params, inputs, 2, &out));
    CHECK(out.ndim == 2 && out.shape[0] == 2 && out.shape[1] == 5);
    CHECK_STATUS(lk_loss_output_shape(desc, params, inputs, 2, NULL), LK_EINVAL);
    lk_params *other;
    CHECK_OK(lk_params_create(lk_loss_find("focal"), &other));
    CHECK_STATUS(lk_loss_output_shape(desc, other, inputs, 2, &out), LK_EINVAL);
    CHECK_MESSAGE_HAS("created for loss 'focal'");
    lk_params_destroy(other);
    lk_params_destroy(params);
}

int main(int argc, char **argv)
{
    static const lk_test tests[] = {
        {"context_bounds", test_context_bounds},
        {"hand_computed_cross_entropy", test_hand_computed_cross_entropy},
        {"label_map_with_channel_axis", test_label_map_with_channel_axis},
        {"label_error_message", test_label_error_message},
        {"nan_at_ignored_pixel", test_nan_at_ignored_pixel},
        {"concurrent_callers", test_concurrent_callers},
        {"errors_are_per_thread", test_errors_are_per_thread},
        {"output_shape", test_output_shape},
        {"too_many_classes", test_too_many_classes},
    };
    /* Needs LOSSKIT_NUM_THREADS set before the process starts: its own ctest entry. */
    static const lk_test env_test[] = {{"default_threads_from_env", test_default_threads_from_env}};
    if (argc == 2 && strcmp(argv[1], env_test[0].name) == 0) return lk_test_main(env_test, 1, argc, argv);
    return lk_test_main(tests, sizeof tests / sizeof tests[0], argc, argv);
}
