/*
 * lk_terms_compute: a weighted sum of registered losses, each run by
 * lk_loss_compute, the gradients summed element by element (see terms.h).
 */
#include "core/terms.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/chunks.h"
#include "core/hot.h"

/* Puts "term k (name)" (or the term's label) in front of the current error. */
static lk_status term_error(lk_status status, const lk_term *term, size_t k)
{
    char prefix[160];
    if (term->label)
        snprintf(prefix, sizeof prefix, "%s", term->label);
    else
        snprintf(prefix, sizeof prefix, "term %zu (%s)", k + 1, term->desc->name);
    return lk_fail_prefix(status, prefix);
}

lk_status lk_terms_check(const lk_term *terms, size_t n_terms, const lk_tensor *inputs,
                         size_t n_inputs)
{
    if (!terms || n_terms == 0) return lk_fail(LK_EINVAL, "a weighted sum needs at least one term");
    for (size_t k = 0; k < n_terms; k++) {
        lk_tensor shape;
        const lk_tensor *own = terms[k].inputs ? terms[k].inputs : inputs;
        lk_status status = lk_loss_output_shape(terms[k].desc, terms[k].params, own, n_inputs, &shape);
        if (status != LK_OK) return term_error(status, &terms[k], k);
        if (shape.ndim != 0) {
            char text[LK_SHAPE_TEXT];
            lk_fail(LK_EPARAM, "its loss has shape %s; a term of a weighted sum must reduce to a "
                    "scalar (reduction=mean or sum)", lk_format_shape(&shape, text, sizeof text));
            return term_error(LK_EPARAM, &terms[k], k);
        }
        if (!isfinite(terms[k].weight)) {
            lk_fail(LK_EPARAM, "weight %g is not finite", terms[k].weight);
            return term_error(LK_EPARAM, &terms[k], k);
        }
    }
    return LK_OK;
}

typedef struct accumulate_job {
    const lk_tensor *sum; /* grads[i] */
    const void *term;     /* the term's gradient, same dtype and shape */
    double weight;
    int64_t count;
} accumulate_job;

LK_HOT static void accumulate_chunk(void *arg, int64_t chunk, int worker)
{
    const accumulate_job *job = arg;
    int64_t begin = chunk * LK_CHUNK, end = lk_chunk_end(chunk, job->count);
    (void)worker;
    if (job->sum->dtype == LK_F32) {
        float *restrict sum = job->sum->data;
        const float *restrict term = job->term;
        float weight = (float)job->weight;
        for (int64_t i = begin; i < end; i++) sum[i] += weight * term[i];
    } else {
        double *restrict sum = job->sum->data;
        const double *restrict term = job->term;
        for (int64_t i = begin; i < end; i++) sum[i] += job->weight * term[i];
    }
}

static void accumulate(lk_context *ctx, const lk_tensor *sum, const void *term, double weight)
{
    accumulate_job job = {sum, term, weight, lk_numel(sum)};
    lk_parallel_for_items(ctx, lk_chunk_count(job.count), job.count, accumulate_chunk, &job);
}

static void store_scalar(const lk_tensor *out, double value)
{
    if (out->dtype == LK_F32)
        *(float *)out->data = (float)value;
    else
        *(double *)out->data = value;
}

static double read_scalar(const lk_tensor *t)
{
    return t->dtype == LK_F32 ? (double)*(const float *)t->data : *(const double *)t->data;
}

/* One scratch gradient per gradient wanted, for the terms after the first. */
static lk_status make_scratch(const lk_tensor *grads, size_t n_inputs, lk_tensor *scratch)
{
    memset(scratch, 0, n_inputs * sizeof *scratch);
    for (size_t i = 0; grads && i < n_inputs; i++) {
        if (!grads[i].data) continue;
        scratch[i] = grads[i];
        scratch[i].data = malloc((size_t)lk_numel(&grads[i]) * lk_dtype_size(grads[i].dtype));
        if (!scratch[i].data)
            return lk_fail(LK_ENOMEM, "out of memory for the gradient of a weighted sum's term");
    }
    return LK_OK;
}

static void free_scratch(lk_tensor *scratch, size_t n_inputs)
{
    for (size_t i = 0; i < n_inputs; i++) free(scratch[i].data);
}

static lk_status check_loss_tensor(const lk_tensor *inputs, size_t n_inputs, const lk_tensor *loss)
{
    if (!loss) return lk_fail(LK_EINVAL, "loss is NULL");
    if (!inputs || n_inputs == 0) return lk_fail(LK_EINVAL, "inputs is NULL or empty");
    lk_status status = lk_check_tensor_header("output", "loss", loss);
    if (status != LK_OK) return status;
    if (loss->ndim != 0) {
        char text[LK_SHAPE_TEXT];
        return lk_fail(LK_ESHAPE, "output 'loss' of a weighted sum must be a scalar (shape ()); got %s",
                       lk_format_shape(loss, text, sizeof text));
    }
    if (loss->dtype != inputs[0].dtype)
        return lk_fail(LK_EDTYPE, "output 'loss' must be %s (the dtype of input 0); got %s",
                       lk_dtype_name(inputs[0].dtype), lk_dtype_name(loss->dtype));
    return LK_OK;
}

lk_status lk_terms_compute(const lk_term *terms, size_t n_terms, double offset,
                           const lk_tensor *inputs, size_t n_inputs, const lk_tensor *loss,
                           const lk_tensor *grads, lk_context *ctx)
{
    lk_status status = lk_terms_check(terms, n_terms, inputs, n_inputs);
    if (status == LK_OK) status = check_loss_tensor(inputs, n_inputs, loss);
    if (status != LK_OK) return status;
    if (n_inputs > LK_MAX_INPUTS) return lk_fail(LK_EINVAL, "at most %d inputs", LK_MAX_INPUTS);
    lk_tensor scratch[LK_MAX_INPUTS];
    memset(scratch, 0, sizeof scratch);
    if (n_terms > 1) status = make_scratch(grads, n_inputs, scratch);
    double total = offset;
    for (size_t k = 0; k < n_terms && status == LK_OK; k++) {
        double value_storage = 0;
        lk_tensor value = {&value_storage, inputs[0].dtype, 0, {0}};
        const lk_tensor *term_grads = k == 0 ? grads : scratch;
        const lk_tensor *own = terms[k].inputs ? terms[k].inputs : inputs;
        status = lk_loss_compute(terms[k].desc, terms[k].params, own, n_inputs, &value, term_grads,
                                 ctx);
        if (status != LK_OK) {
            status = term_error(status, &terms[k], k);
            break;
        }
        total += terms[k].weight * read_scalar(&value);
        for (size_t i = 0; grads && i < n_inputs; i++) {
            if (!grads[i].data) continue;
            if (k == 0 && terms[k].weight != 1)
                lk_scale_in_place(ctx, &grads[i], terms[k].weight);
            else if (k > 0)
                accumulate(ctx, &grads[i], scratch[i].data, terms[k].weight);
        }
    }
    free_scratch(scratch, n_inputs);
    if (status == LK_OK && !isfinite(total))
        status = lk_fail(LK_EVALUE, "the weighted sum of the terms is %g: it overflowed", total);
    if (status == LK_OK) store_scalar(loss, total);
    return status;
}

lk_status lk_params_copy_shared(lk_params *dst, const lk_params *src, const char *const *skip)
{
    const lk_loss_desc *from = lk_params_desc(src), *to = lk_params_desc(dst);
    for (size_t i = 0; i < from->n_params; i++) {
        const char *name = from->params[i].name;
        int skipped = lk_param_index(to, name) < 0;
        for (size_t s = 0; skip && skip[s] && !skipped; s++) skipped = strcmp(skip[s], name) == 0;
        if (skipped) continue;
        int length = lk_params_get(src, name, NULL, 0);
        char *text = malloc((size_t)length + 1);
        if (!text) return lk_fail(LK_ENOMEM, "out of memory copying parameter '%s'", name);
        lk_params_get(src, name, text, (size_t)length + 1);
        lk_status status = lk_params_set(dst, name, text);
        free(text);
        if (status != LK_OK) return status;
    }
    return LK_OK;
}
