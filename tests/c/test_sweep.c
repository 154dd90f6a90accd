/*
 * The registry sweep: every loss, every example parameter set of its
 * registry entry, on generated inputs of several shapes and dtypes:
 *
 *   gradients    float64 central differences against the analytic gradient
 *                of every differentiable input, on random inputs and on edge
 *                cases (logits near +-80, one pixel, every pixel ignored,
 *                absent classes, 0 to 3 spatial dims);
 *   float32      agrees with float64 on the same inputs;
 *   determinism  1, 2 and 3 threads give bit-identical losses and gradients;
 *   bad input    wrong shapes and dtypes, labels and targets out of range,
 *                NaN and infinity, parameters out of range or unknown, list
 *                parameters of the wrong length, bad gradient and loss
 *                tensors: the right status and a message naming the culprit.
 *
 * A new loss joins by being in the registry; nothing here names a loss.
 */
#include <float.h>
#include <stdlib.h>

#include "cases.h"
#include "check.h"

static const int64_t sweep_shapes[][6] = {
    /* ndim, shape */
    {2, 3, 3},          /* (N, C): no spatial dims */
    {3, 2, 3, 7},       /* 1-D */
    {4, 2, 3, 4, 5},    /* 2-D */
    {5, 1, 3, 2, 3, 4}, /* 3-D */
    {4, 1, 3, 1, 1},    /* one pixel */
    {4, 1, 3, 12, 13},  /* 2-D, large enough for RMI's default windows */
    {3, 12, 3, 4},      /* 1-D; as (T, N, C), sequences long enough for repeats */
};

static const lk_dtype target_dtypes[] = {LK_I64, LK_U8, LK_I32, LK_F64, LK_F32};

static lk_case_options options_for(int shape_index, lk_dtype dtype, lk_dtype target_dtype,
                                   unsigned long long seed)
{
    lk_case_options options = {0};
    options.dtype = dtype;
    options.ndim = (int)sweep_shapes[shape_index][0];
    for (int axis = 0; axis < options.ndim; axis++) options.shape[axis] = sweep_shapes[shape_index][axis + 1];
    options.target_dtype = target_dtype;
    options.seed = seed;
    return options;
}

/* ------------------------------------------------------------ gradients */

/* Differences of the total loss along element i of input slot: central,
 * forward and backward; center is the total at the probe's inputs. rounding:
 * what the rounding of totals as large as center adds to a difference (a few
 * ulps of the total over h), which dominates for large totals such as sums of
 * squares of logits near 80. */
typedef struct differences {
    double central, forward, backward, rounding;
} differences;

static differences finite_differences(lk_case *probe, double center, size_t slot, int64_t i)
{
    lk_tensor *t = &probe->inputs[slot];
    double x = lk_tensor_get(t, i);
    /* large enough that rounding in a total of up to ~1e3 stays below 1e-8 */
    double h = 1e-5 * (fabs(x) > 1 ? fabs(x) : 1);
    lk_tensor_set(t, i, x + h);
    lk_status status = lk_case_run(probe, NULL, 0);
    double plus = lk_case_total(probe);
    lk_tensor_set(t, i, x - h);
    status |= lk_case_run(probe, NULL, 0);
    double minus = lk_case_total(probe);
    lk_tensor_set(t, i, x);
    differences d = {NAN, NAN, NAN, 8 * DBL_EPSILON * fabs(center) / h};
    if (status == LK_OK) {
        d.central = (plus - minus) / (2 * h);
        d.forward = (plus - center) / h;
        d.backward = (center - minus) / h;
    }
    return d;
}

/* The analytic derivative agrees with the central difference; or, for the
 * piecewise-linear losses (Lovász: the sorted order of the errors; TopK: the
 * selection) where a kink lies within h of the probe and the central
 * difference averages two slopes, with the one-sided difference that stays on
 * one side of it. A wrong derivative does not match a one-sided difference by
 * accident: on smooth losses those are off by O(h) = 1e-5, far beyond the
 * tolerance. */
static int derivative_agrees(double analytic, differences d)
{
    double tolerance = 1e-7 + 1e-6 * fabs(analytic) + d.rounding;
    return fabs(d.central - analytic) <= tolerance || fabs(d.forward - analytic) <= tolerance ||
           fabs(d.backward - analytic) <= tolerance;
}

static int all_finite(const lk_tensor *t)
{
    for (int64_t i = 0; i < lk_tensor_numel(t); i++)
        if (!isfinite(lk_tensor_get(t, i))) return 0;
    return 1;
}

static void check_gradient_case(lk_case *c, const char *spec)
{
    lk_status status = lk_case_run(c, NULL, 1);
    CHECK_MSG(status == LK_OK, "%s: %s", lk_case_label(c, spec), lk_last_error());
    if (status != LK_OK) return;
    CHECK_MSG(all_finite(&c->loss), "%s: non-finite loss", lk_case_label(c, spec));
    lk_case probe = lk_case_clone(c);
    status = lk_case_run(&probe, NULL, 0); /* the total without gradients, as the probes' */
    CHECK_MSG(status == LK_OK, "%s: %s", lk_case_label(c, spec), lk_last_error());
    double center = lk_case_total(&probe);
    lk_rng rng = {99};
    for (size_t slot = 0; slot < c->n_inputs; slot++) {
        if (!c->grads[slot].data) continue;
        CHECK_MSG(all_finite(&c->grads[slot]), "%s: gradient of input %zu not finite or not "
                  "written everywhere", lk_case_label(c, spec), slot);
        int64_t count = lk_tensor_numel(&c->inputs[slot]);
        int64_t probes = count < 24 ? count : 24;
        for (int64_t k = 0; k < probes; k++) {
            int64_t i = count <= 24 ? k : lk_rng_below(&rng, count);
            double analytic = lk_tensor_get(&c->grads[slot], i);
            differences numeric = finite_differences(&probe, center, slot, i);
            CHECK_MSG(derivative_agrees(analytic, numeric),
                      "%s: d loss / d input%zu[%lld] = %.12g analytic, %.12g numeric",
                      lk_case_label(c, spec), slot, (long long)i, analytic, numeric.central);
        }
    }
    lk_case_free(&probe);
}

/* Runs fn on every loss x example x shape x target dtype that applies. */
static void for_each_case(void (*fn)(lk_case *, const char *), lk_dtype dtype, int extreme,
                          int all_ignored, int single_class)
{
    int cases = 0;
    for (size_t l = 0; l < lk_loss_count(); l++) {
        const lk_loss_desc *desc = lk_loss_at(l);
        for (size_t e = 0; lk_loss_example(desc, e); e++) {
            const char *spec = lk_loss_example(desc, e);
            for (int s = 0; s < (int)(sizeof sweep_shapes / sizeof sweep_shapes[0]); s++) {
                /* a loss of one input (GAN losses of D's output) has no target to vary */
                size_t n_target_dtypes = lk_loss_input_count(desc) > 1 ? sizeof target_dtypes / sizeof target_dtypes[0] : 1;
                for (size_t d = 0; d < n_target_dtypes; d++) {
                    lk_case_options options = options_for(s, dtype, target_dtypes[d], 1000 + l * 97 + e * 13 + (unsigned)s);
                    options.extreme = extreme;
                    options.all_ignored = all_ignored;
                    options.single_class = single_class;
                    lk_case c;
                    if (!lk_case_make(desc, spec, &options, &c)) continue;
                    fn(&c, spec);
                    lk_case_free(&c);
                    cases++;
                }
            }
        }
    }
    CHECK_MSG(cases > 0, "no case ran");
}

/* The losses that take an upstream gradient: that of sum(u * loss), for
 * random weights u of either sign, by finite differences of that sum. */
static void check_weighted_case(lk_case *c, const char *spec)
{
    if (!lk_loss_takes_upstream(c->desc)) return;
    lk_case_weigh(c, 77 + (unsigned long long)lk_tensor_numel(&c->loss));
    check_gradient_case(c, spec);
}

static void test_gradients_weighted_upstream(void)
{
    for_each_case(check_weighted_case, LK_F64, 0, 0, 0);
}

static void test_gradients_random(void)
{
    for_each_case(check_gradient_case, LK_F64, 0, 0, 0);
}

static void test_gradients_extreme_logits(void)
{
    for_each_case(check_gradient_case, LK_F64, 1, 0, 0);
}

static void test_gradients_all_ignored(void)
{
    for_each_case(check_gradient_case, LK_F64, 0, 1, 0);
}

static void test_gradients_absent_classes(void)
{
    for_each_case(check_gradient_case, LK_F64, 0, 0, 1);
}

/* ------------------------------------------------------------ float32 */

static void check_float32_case(lk_case *c, const char *spec)
{
    lk_case narrow = lk_case_clone(c);
    for (size_t slot = 0; slot < c->n_inputs; slot++) {
        lk_tensor *wide = &c->inputs[slot];
        if (wide->dtype != LK_F64) continue;
        lk_tensor *t = &narrow.inputs[slot];
        t->dtype = LK_F32;
        for (int64_t i = 0; i < lk_tensor_numel(wide); i++) ((float *)t->data)[i] = (float)lk_tensor_get(wide, i);
        /* the float64 run sees exactly the float32 inputs */
        for (int64_t i = 0; i < lk_tensor_numel(wide); i++) lk_tensor_set(wide, i, lk_tensor_get(t, i));
        if (narrow.grads[slot].data) narrow.grads[slot].dtype = LK_F32;
    }
    narrow.loss.dtype = LK_F32;
    lk_status wide_status = lk_case_run(c, NULL, 1), narrow_status = lk_case_run(&narrow, NULL, 1);
    CHECK_MSG(wide_status == LK_OK && narrow_status == LK_OK, "%s: %s", lk_case_label(c, spec), lk_last_error());
    if (wide_status == LK_OK && narrow_status == LK_OK) {
        double scale = 0;
        for (int64_t i = 0; i < lk_tensor_numel(&c->loss); i++) scale = fmax(scale, fabs(lk_tensor_get(&c->loss, i)));
        for (int64_t i = 0; i < lk_tensor_numel(&c->loss); i++)
            CHECK_MSG(fabs(lk_tensor_get(&narrow.loss, i) - lk_tensor_get(&c->loss, i)) <= 2e-5 * (1 + scale),
                      "%s: float32 loss[%lld] = %.9g, float64 %.9g", lk_case_label(c, spec), (long long)i,
                      lk_tensor_get(&narrow.loss, i), lk_tensor_get(&c->loss, i));
        for (size_t slot = 0; slot < c->n_inputs; slot++) {
            if (!c->grads[slot].data) continue;
            double gscale = 0;
            for (int64_t i = 0; i < lk_tensor_numel(&c->grads[slot]); i++) gscale = fmax(gscale, fabs(lk_tensor_get(&c->grads[slot], i)));
            for (int64_t i = 0; i < lk_tensor_numel(&c->grads[slot]); i++) {
                double a = lk_tensor_get(&narrow.grads[slot], i), b = lk_tensor_get(&c->grads[slot], i);
                CHECK_MSG(fabs(a - b) <= 1e-4 * gscale + 1e-7, "%s: float32 grad[%lld] = %.9g, float64 %.9g",
                          lk_case_label(c, spec), (long long)i, a, b);
            }
        }
    }
    lk_case_free(&narrow);
}

static void test_float32_matches_float64(void)
{
    for_each_case(check_float32_case, LK_F64, 0, 0, 0);
    for_each_case(check_float32_case, LK_F64, 1, 0, 0);
}

/* ------------------------------------------------------------ determinism */

static const int64_t determinism_shapes[][6] = {
    {4, 3, 3, 130, 70},  /* several chunks, blocks inside images */
    {3, 5, 3, 1001},     /* blocks spanning images */
    {2, 20011, 3},       /* (N, C): one pixel per image */
    {5, 2, 3, 9, 10, 11},
};

static void test_threads_bit_identical(void)
{
    lk_context *contexts[3];
    int threads[3] = {1, 2, 3};
    for (int k = 0; k < 3; k++) CHECK_OK(lk_context_create(threads[k], &contexts[k]));
    for (size_t l = 0; l < lk_loss_count(); l++) {
        const lk_loss_desc *desc = lk_loss_at(l);
        for (size_t e = 0; lk_loss_example(desc, e); e++) {
            const char *spec = lk_loss_example(desc, e);
            for (size_t s = 0; s < sizeof determinism_shapes / sizeof determinism_shapes[0]; s++) {
                for (int d = 0; d < 2; d++) {
                    lk_case_options options = {0};
                    options.dtype = d ? LK_F64 : LK_F32;
                    options.ndim = (int)determinism_shapes[s][0];
                    for (int axis = 0; axis < options.ndim; axis++) options.shape[axis] = determinism_shapes[s][axis + 1];
                    options.target_dtype = LK_I64;
                    options.seed = 7 + s;
                    lk_case base;
                    if (!lk_case_make(desc, spec, &options, &base)) {
                        options.target_dtype = options.dtype;
                        if (!lk_case_make(desc, spec, &options, &base)) continue;
                    }
                    CHECK_OK(lk_case_run(&base, contexts[0], 1));
                    for (int k = 1; k < 3; k++) {
                        lk_case other = lk_case_clone(&base);
                        CHECK_OK(lk_case_run(&other, contexts[k], 1));
                        CHECK_MSG(lk_tensor_same_bits(&base.loss, &other.loss), "%s: loss differs with %d threads",
                                  lk_case_label(&base, spec), threads[k]);
                        for (size_t slot = 0; slot < base.n_inputs; slot++)
                            if (base.grads[slot].data)
                                CHECK_MSG(lk_tensor_same_bits(&base.grads[slot], &other.grads[slot]),
                                          "%s: gradient differs with %d threads", lk_case_label(&base, spec), threads[k]);
                        lk_case_free(&other);
                    }
                    lk_case_free(&base);
                }
            }
        }
    }
    for (int k = 0; k < 3; k++) lk_context_destroy(contexts[k]);
}

/* ------------------------------------------------------------ bad input */

/* A valid float32 case of the loss with its default parameters: 2-D images,
 * or (T, N, C) sequences for the losses that take those. */
static int default_case(const lk_loss_desc *desc, lk_case *c, lk_dtype target_dtype)
{
    lk_case_options options = options_for(2, LK_F32, target_dtype, 5);
    if (lk_case_make(desc, "", &options, c)) return 1;
    options = options_for(1, LK_F32, target_dtype, 5);
    return lk_case_make(desc, "", &options, c);
}

static int label_target(const lk_case *c)
{
    lk_dtype dtype = c->inputs[1].dtype;
    return dtype == LK_U8 || dtype == LK_I32 || dtype == LK_I64;
}

static lk_status run_with(lk_case *c)
{
    return lk_case_run(c, NULL, 1);
}

static void check_fails(lk_case *c, lk_status expected, const char *name_in_message,
                        const char *what)
{
    lk_status status = run_with(c);
    CHECK_MSG(status == expected, "%s, %s: got %s, expected %s (%s)", lk_loss_name(c->desc), what,
              lk_status_name(status), lk_status_name(expected), lk_last_error());
    if (name_in_message)
        CHECK_MSG(strstr(lk_last_error(), name_in_message) != NULL, "%s, %s: message '%s' lacks '%s'",
                  lk_loss_name(c->desc), what, lk_last_error(), name_in_message);
}

/* An upstream tensor: refused by a loss that takes none; of the wrong shape,
 * dtype or with a NaN, refused with its name (and index). */
static void bad_upstream(const lk_loss_desc *desc)
{
    lk_case c;
    if (!default_case(desc, &c, LK_I64) && !default_case(desc, &c, LK_F32)) return;
    lk_case_weigh(&c, 3);
    if (!lk_loss_takes_upstream(desc)) {
        check_fails(&c, LK_EINVAL, "upstream", "an upstream tensor");
        lk_case_free(&c);
        return;
    }
    CHECK_MSG(run_with(&c) == LK_OK, "%s with upstream: %s", lk_loss_name(desc), lk_last_error());
    lk_tensor_set(&c.upstream, 0, NAN);
    check_fails(&c, LK_EVALUE, "upstream", "a NaN upstream");
    lk_tensor_set(&c.upstream, 0, 1);
    c.upstream.dtype = LK_I64;
    check_fails(&c, LK_EDTYPE, "upstream", "an integer upstream");
    c.upstream.dtype = LK_F64;
    c.upstream.ndim = c.loss.ndim + 1;
    c.upstream.shape[c.loss.ndim] = 1;
    check_fails(&c, LK_ESHAPE, "upstream", "an upstream of the wrong shape");
    lk_case_free(&c);
}

static void bad_shapes(const lk_loss_desc *desc)
{
    lk_case c;
    if (!default_case(desc, &c, LK_I64) && !default_case(desc, &c, LK_F32)) return;
    const char *input_name = lk_loss_input(desc, 0)->name;
    int has_target = c.n_inputs > 1;

    lk_tensor saved = c.inputs[0];
    c.inputs[0].ndim = lk_loss_input(desc, 0)->shape == LK_SHAPE_SCORES ? 1 : 6;
    check_fails(&c, LK_ESHAPE, input_name, "input of the wrong rank");
    c.inputs[0] = saved;

    if (has_target) {
        c.inputs[1].shape[c.inputs[1].ndim - 1] -= 1;
        check_fails(&c, LK_ESHAPE, lk_loss_input(desc, 1)->name, "target shape off by one");
        c.inputs[1].shape[c.inputs[1].ndim - 1] += 1;
    }

    c.inputs[0].shape[c.inputs[0].ndim - 1] = 0;
    check_fails(&c, LK_ESHAPE, input_name, "zero-sized dimension");
    c.inputs[0] = saved;

    c.inputs[0].dtype = LK_I32;
    check_fails(&c, LK_EDTYPE, input_name, "integer predictions");
    c.inputs[0].dtype = (lk_dtype)77;
    check_fails(&c, LK_EDTYPE, input_name, "unknown dtype");
    c.inputs[0] = saved;

    c.inputs[0].data = NULL;
    check_fails(&c, LK_EINVAL, input_name, "NULL data");
    c.inputs[0] = saved;

    lk_tensor saved_loss = c.loss;
    c.loss.ndim = c.loss.ndim == 0 ? 1 : 0;
    c.loss.shape[0] = 2;
    check_fails(&c, LK_ESHAPE, "loss", "loss tensor of the wrong shape");
    c.loss = saved_loss;
    c.loss.dtype = LK_F64;
    check_fails(&c, LK_EDTYPE, "loss", "loss tensor of the wrong dtype");
    c.loss = saved_loss;

    lk_tensor saved_grad = c.grads[0];
    c.grads[0].shape[1] += 1;
    check_fails(&c, LK_ESHAPE, "grads[0]", "gradient of the wrong shape");
    c.grads[0] = saved_grad;
    c.grads[0].data = c.inputs[0].data;
    check_fails(&c, LK_EINVAL, "overlaps", "gradient written over the input");
    c.grads[0] = saved_grad;

    if (has_target && !lk_loss_input(desc, 1)->differentiable) {
        c.grads[1] = c.inputs[1];
        c.grads[1].data = malloc(lk_tensor_bytes(&c.inputs[1]));
        check_fails(&c, LK_EINVAL, lk_loss_input(desc, 1)->name, "gradient asked of a non-differentiable input");
        free(c.grads[1].data);
        c.grads[1].data = NULL;
    }

    CHECK_STATUS(lk_loss_compute(desc, c.params, c.inputs, c.n_inputs - 1, &c.loss, c.grads, NULL), LK_EINVAL);
    CHECK_STATUS(lk_loss_compute(NULL, c.params, c.inputs, c.n_inputs, &c.loss, c.grads, NULL), LK_EINVAL);
    CHECK_STATUS(lk_loss_compute(desc, NULL, c.inputs, c.n_inputs, &c.loss, c.grads, NULL), LK_EINVAL);
    CHECK_STATUS(lk_loss_compute(desc, c.params, NULL, c.n_inputs, &c.loss, c.grads, NULL), LK_EINVAL);
    CHECK_STATUS(lk_loss_compute(desc, c.params, c.inputs, c.n_inputs, NULL, c.grads, NULL), LK_EINVAL);
    CHECK_OK(run_with(&c)); /* everything restored */
    lk_case_free(&c);
}

static void bad_dtypes(const lk_loss_desc *desc)
{
    lk_case c;
    if (lk_loss_input_count(desc) < 2) return; /* the input's own dtype is checked in bad_shapes */
    if (!default_case(desc, &c, LK_I64) && !default_case(desc, &c, LK_F32)) return;
    const lk_input_info *target = lk_loss_input(desc, 1);
    lk_tensor saved = c.inputs[1];
    if (!(target->dtypes & LK_DTYPE_BIT(LK_F32))) {
        c.inputs[1].dtype = LK_F32; /* same width as ... irrelevant: rejected before reading */
        check_fails(&c, LK_EDTYPE, target->name, "float target for a label slot");
    } else {
        lk_case wide;
        lk_case_options options = options_for(2, LK_F64, LK_F64, 5);
        if (lk_case_make(desc, "", &options, &wide)) {
            float *narrow = malloc((size_t)lk_tensor_numel(&wide.inputs[1]) * sizeof *narrow);
            for (int64_t i = 0; i < lk_tensor_numel(&wide.inputs[1]); i++) narrow[i] = 0.5f;
            free(wide.inputs[1].data);
            wide.inputs[1].data = narrow;
            wide.inputs[1].dtype = LK_F32;
            check_fails(&wide, LK_EDTYPE, target->name, "float32 target with float64 input");
            lk_case_free(&wide);
        }
    }
    c.inputs[1] = saved;
    lk_case_free(&c);
}

/* Invalid target values (labels out of range, targets above 1, NaN), then
 * the target restored with a label that counts at pixel 0. */
static void bad_target_values(const lk_loss_desc *desc, lk_case *c)
{
    const char *target_name = lk_loss_input(desc, 1)->name;
    int64_t last = lk_tensor_numel(&c->inputs[1]) - 1;
    double saved = lk_tensor_get(&c->inputs[1], last);
    if (label_target(c) && lk_loss_input(desc, 1)->domain == LK_DOMAIN_GROUPS) {
        /* labels compared for equality: any integer is one */
    } else if (label_target(c)) {
        lk_tensor_set(&c->inputs[1], last, (double)lk_case_classes(c));
        check_fails(c, LK_EVALUE, target_name, "label equal to the class count");
        lk_tensor_set(&c->inputs[1], last, -7);
        check_fails(c, LK_EVALUE, "= -7", "negative label");
    } else {
        lk_tensor_set(&c->inputs[1], last, 1.5);
        if (lk_loss_input(desc, 1)->domain != LK_DOMAIN_REAL) /* a real map has no range */
            check_fails(c, LK_EVALUE, target_name, "target above 1");
        lk_tensor_set(&c->inputs[1], last, NAN);
        check_fails(c, LK_EVALUE, target_name, "NaN target");
    }
    lk_tensor_set(&c->inputs[1], last, saved);
    /* a non-ignored pixel: its label must count */
    long long ignore_index;
    if (label_target(c) && lk_case_int_param(c, "ignore_index", &ignore_index))
        lk_tensor_set(&c->inputs[1], 0, 0);
}

static void bad_values(const lk_loss_desc *desc)
{
    for (int variant = 0; variant < 2; variant++) {
        lk_case c;
        if (!default_case(desc, &c, variant == 0 ? LK_I64 : LK_F32)) continue;
        const char *input_name = lk_loss_input(desc, 0)->name;
        if (c.n_inputs > 1) bad_target_values(desc, &c); /* GAN losses of D's output have none */
        int64_t pixel0 = 0;
        double x = lk_tensor_get(&c.inputs[0], pixel0);
        lk_tensor_set(&c.inputs[0], pixel0, NAN);
        check_fails(&c, LK_EVALUE, input_name, "NaN in the input");
        lk_tensor_set(&c.inputs[0], pixel0, INFINITY);
        check_fails(&c, LK_EVALUE, input_name, "infinity in the input");
        lk_tensor_set(&c.inputs[0], pixel0, x);
        CHECK_OK(run_with(&c));
        lk_case_free(&c);
    }
}

static void bad_parameters(const lk_loss_desc *desc)
{
    lk_params *params;
    CHECK_OK(lk_params_create(desc, &params));
    for (size_t i = 0; i < lk_loss_param_count(desc); i++) {
        const lk_param_info *param = lk_loss_param(desc, i);
        char value[64];
        if (param->type == LK_PARAM_FLOAT || param->type == LK_PARAM_INT || param->type == LK_PARAM_FLOAT_LIST) {
            const char *open = param->type == LK_PARAM_FLOAT_LIST ? "[" : "";
            const char *close = param->type == LK_PARAM_FLOAT_LIST ? "]" : "";
            int integer = param->type == LK_PARAM_INT;
            if (isfinite(param->min)) {
                double below = (param->flags & LK_RANGE_MIN_OPEN) ? param->min : param->min - 1;
                if (integer)
                    snprintf(value, sizeof value, "%lld", (long long)param->min - 1);
                else
                    snprintf(value, sizeof value, "%s%.17g%s", open, below, close);
                CHECK_STATUS(lk_params_set(params, param->name, value), LK_EPARAM);
                CHECK_MESSAGE_HAS(param->name);
            }
            if (isfinite(param->max)) {
                double above = (param->flags & LK_RANGE_MAX_OPEN) ? param->max : param->max + 1;
                if (integer)
                    snprintf(value, sizeof value, "%lld", (long long)param->max + 1);
                else
                    snprintf(value, sizeof value, "%s%.17g%s", open, above, close);
                CHECK_STATUS(lk_params_set(params, param->name, value), LK_EPARAM);
                CHECK_MESSAGE_HAS(param->name);
            }
            if (param->type != LK_PARAM_INT) {
                snprintf(value, sizeof value, "%snan%s", open, close);
                CHECK_STATUS(lk_params_set(params, param->name, value), LK_EPARAM);
            }
        }
        CHECK_STATUS(lk_params_set(params, param->name, "not-a-value"), LK_EPARAM);
        CHECK_MESSAGE_HAS(param->name);
        char current[128];
        CHECK(lk_params_get(params, param->name, current, sizeof current) >= 0);
        CHECK_MSG(strcmp(current, param->default_value) == 0 || param->type == LK_PARAM_FLOAT ||
                      param->type == LK_PARAM_FLOAT_LIST,
                  "%s: failed sets changed '%s' from %s to %s", lk_loss_name(desc), param->name,
                  param->default_value, current);
    }
    CHECK_STATUS(lk_params_set(params, "no_such_parameter", "1"), LK_EPARAM);
    CHECK_MESSAGE_HAS("no_such_parameter");
    CHECK_MESSAGE_HAS(lk_loss_name(desc));
    lk_params_destroy(params);

    /* per-class lists of the wrong length are refused when the classes are known */
    for (size_t i = 0; i < lk_loss_param_count(desc); i++) {
        const lk_param_info *param = lk_loss_param(desc, i);
        if (param->type != LK_PARAM_FLOAT_LIST) continue;
        lk_case c;
        if (!default_case(desc, &c, LK_I64) && !default_case(desc, &c, LK_F32)) continue;
        CHECK_OK(lk_params_set(c.params, param->name, "[0.5,0.5,0.5,0.5,0.5]"));
        check_fails(&c, LK_EPARAM, param->name, "list parameter longer than the class count");
        lk_case_free(&c);
    }
}

static void test_bad_input(void)
{
    for (size_t l = 0; l < lk_loss_count(); l++) {
        const lk_loss_desc *desc = lk_loss_at(l);
        bad_shapes(desc);
        bad_dtypes(desc);
        bad_values(desc);
        bad_parameters(desc);
        bad_upstream(desc);
    }
}

int main(int argc, char **argv)
{
    static const lk_test tests[] = {
        {"gradients_random", test_gradients_random},
        {"gradients_extreme_logits", test_gradients_extreme_logits},
        {"gradients_all_ignored", test_gradients_all_ignored},
        {"gradients_absent_classes", test_gradients_absent_classes},
        {"gradients_weighted_upstream", test_gradients_weighted_upstream},
        {"float32_matches_float64", test_float32_matches_float64},
        {"threads_bit_identical", test_threads_bit_identical},
        {"bad_input", test_bad_input},
    };
    return lk_test_main(tests, sizeof tests / sizeof tests[0], argc, argv);
}
