/*
 * The element-wise driver (see elementwise.h). Inputs are read in place and
 * gradients written in place: elements are contiguous, so a block is a plain
 * slice; only integer targets are converted into a buffer.
 */
#ifndef LK_REAL
#include "core/elementwise.h"

#include <stdlib.h>
#include <string.h>

#include "core/chunks.h"
#include "core/context.h"
#include "core/error.h"
#include "core/hot.h"
#include "core/softmax.h"
#include "core/tensor.h"

#define LK_SCRATCH_ALIGN 64

enum { ERROR_IN_INPUT = 0, ERROR_IN_TARGET = 1 };

typedef struct elementwise_run {
    lk_elementwise_job *job;
    int64_t classes, spatial, n_elements;
    char *scratch;
    size_t scratch_size;
    double *partials;
    lk_chunk_error *errors;
} elementwise_run;

#define LK_TYPED_FILE "core/elementwise.c"
#include "core/typed.h"
#else /* typed section ------------------------------------------------------ */

/* Index of the first value outside [0, 1] (NaN included), or -1. */
static inline int LK_T(first_outside_unit)(const lk_real *restrict x, int len)
{
    int outside = 0;
    for (int j = 0; j < len; j++) outside |= !(x[j] >= 0 && x[j] <= 1);
    if (!outside) return -1;
    for (int j = 0; j < len; j++)
        if (!(x[j] >= 0 && x[j] <= 1)) return j;
    return -1;
}

/* Integer targets (0/1 masks) as reals. */
static void LK_T(convert_targets)(const lk_tensor *t, int64_t first, int count, lk_real *out)
{
    for (int j = 0; j < count; j++) out[j] = (lk_real)lk_read_real(t, first + j);
}

/* Per-element values of a per-class table, filled run by run of equal class. */
static inline void LK_T(expand_table)(const double *table, int64_t first, int len,
                                      int64_t classes, int64_t spatial, lk_real *restrict out)
{
    int64_t position = first % spatial, c = (first / spatial) % classes;
    if (spatial == 1 && table) { /* (N, C): the class changes at every element */
        for (int j = 0; j < len; j++) {
            out[j] = (lk_real)table[c];
            c = c + 1 == classes ? 0 : c + 1;
        }
        return;
    }
    for (int j = 0; j < len;) {
        int64_t left_in_row = spatial - position;
        int count = (int)(len - j < left_in_row ? len - j : left_in_row);
        lk_real value = table ? (lk_real)table[c] : 1;
        for (int k = 0; k < count; k++) out[j + k] = value;
        j += count;
        position = 0;
        c = c + 1 == classes ? 0 : c + 1;
    }
}

static inline void LK_T(finish_block)(int len, const lk_real *restrict loss,
                                      const lk_real *restrict grad, lk_real scale,
                                      lk_real *restrict grad_out, double *restrict sum_lanes)
{
    for (int j = 0; j < len; j++) sum_lanes[j] += (double)loss[j];
    if (grad_out)
        for (int j = 0; j < len; j++) grad_out[j] = grad[j] * scale;
}

LK_HOT static void LK_T(elementwise_chunk)(void *arg, int64_t chunk, int worker)
{
    elementwise_run *run = arg;
    lk_elementwise_job *job = run->job;
    const int block_length = LK_ELEMENTWISE_BLOCK;
    lk_real *area = (lk_real *)(void *)(run->scratch + (size_t)worker * run->scratch_size);
    lk_real *targets = area, *loss = area + block_length, *grad = area + 2 * block_length;
    lk_real *tables = area + 3 * block_length;
    double *sum_lanes = (double *)(void *)(area + (3 + LK_MAX_CLASS_TABLES) * block_length);
    lk_elementwise_rule rule = LK_REAL_DTYPE == LK_F32 ? job->rule_f32 : job->rule_f64;
    const lk_real *input = job->input->data;
    int float_targets = job->target && lk_dtype_is_float(job->target->dtype);
    lk_real *grad_out = job->grad, *element_loss = job->element_loss;
    lk_real scale = (lk_real)job->grad_scale;
    lk_elementwise_block block = {.mode = job->mode, .loss = loss, .grad = grad};
    for (int t = 0; t < job->n_tables; t++) block.class_value[t] = tables + t * block_length;
    for (int j = 0; j < block_length; j++) sum_lanes[j] = 0;
    int64_t end = lk_chunk_end(chunk, run->n_elements);
    for (int64_t first = chunk * LK_CHUNK; first < end; first += block_length) {
        int len = (int)(end - first < block_length ? end - first : block_length);
        const lk_real *x = input + first;
        const lk_real *t = NULL;
        if (float_targets)
            t = (const lk_real *)job->target->data + first;
        else if (job->target) {
            LK_T(convert_targets)(job->target, first, len, targets);
            t = targets;
        }
        int bad = t && !job->real_targets ? LK_T(first_outside_unit)(t, len) : -1;
        if (bad >= 0) {
            run->errors[chunk] = (lk_chunk_error){first + bad, (double)t[bad], ERROR_IN_TARGET};
            return;
        }
        if (job->mode == LK_INPUT_PROBS && (bad = LK_T(first_outside_unit)(x, len)) >= 0) {
            run->errors[chunk] = (lk_chunk_error){first + bad, (double)x[bad], ERROR_IN_INPUT};
            return;
        }
        for (int k = 0; k < job->n_tables; k++)
            LK_T(expand_table)(job->class_table[k], first, len, run->classes, run->spatial,
                               tables + k * block_length);
        block.first = first;
        block.len = len;
        block.input = x;
        block.target = t;
        rule(&block, job->config);
        if (element_loss) memcpy(element_loss + first, loss, (size_t)len * sizeof(lk_real));
        LK_T(finish_block)(len, loss, grad, scale, grad_out ? grad_out + first : NULL, sum_lanes);
    }
    double total = 0;
    for (int j = 0; j < block_length; j++) total += sum_lanes[j];
    run->partials[chunk] = total;
}

#endif /* typed section */

#ifndef LK_REAL

static lk_status report_error(const elementwise_run *run, const lk_chunk_error *error)
{
    const lk_elementwise_job *job = run->job;
    if (error->input == ERROR_IN_TARGET)
        return lk_unit_interval_error(job->target, job->target_name, error->index, "a target", "");
    return lk_unit_interval_error(job->input, job->input_name, error->index, "a probability",
                                  " (activation=none expects probabilities; use the sigmoid "
                                  "activation for logits)");
}

lk_status lk_elementwise_run(lk_context *ctx, lk_elementwise_job *job)
{
    if (!ctx) ctx = lk_default_context();
    elementwise_run run = {.job = job};
    run.n_elements = lk_numel(job->input);
    run.classes = job->input->ndim >= 2 ? job->input->shape[1] : 1;
    run.spatial = lk_numel_from(job->input, 2);
    size_t real_size = lk_dtype_size(job->input->dtype);
    size_t bytes = (size_t)LK_ELEMENTWISE_BLOCK * ((3 + LK_MAX_CLASS_TABLES) * real_size + sizeof(double));
    run.scratch_size = (bytes + LK_SCRATCH_ALIGN - 1) / LK_SCRATCH_ALIGN * LK_SCRATCH_ALIGN;
    int n_workers = lk_context_threads(ctx);
    int64_t n_chunks = lk_chunk_count(run.n_elements);
    run.scratch = aligned_alloc(LK_SCRATCH_ALIGN, run.scratch_size * (size_t)n_workers);
    run.partials = calloc((size_t)n_chunks, sizeof *run.partials);
    run.errors = malloc((size_t)n_chunks * sizeof *run.errors);
    lk_status status = LK_OK;
    if (!run.scratch || !run.partials || !run.errors) {
        status = lk_fail(LK_ENOMEM, "out of memory for the element-wise driver's buffers");
    } else {
        for (int64_t chunk = 0; chunk < n_chunks; chunk++) run.errors[chunk].index = -1;
        int f32 = job->input->dtype == LK_F32;
        lk_parallel_for(ctx, n_chunks, f32 ? elementwise_chunk_f32 : elementwise_chunk_f64, &run);
        const lk_chunk_error *error = lk_first_chunk_error(run.errors, n_chunks);
        if (error) status = report_error(&run, error);
        job->loss_sum = 0;
        for (int64_t chunk = 0; chunk < n_chunks; chunk++) job->loss_sum += run.partials[chunk];
    }
    free(run.scratch);
    free(run.partials);
    free(run.errors);
    return status;
}

#endif
