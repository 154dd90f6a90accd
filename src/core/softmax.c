/*
 * The softmax-family driver (see softmax.h for the contract with rules).
 *
 * Memory traffic is one read of the input (and of the labels or targets) and
 * one write of the gradient: the forward pass, the loss rule and the backward
 * pass all happen on a block of pixels while it sits in L1. Blocks are at most
 * LK_SOFTMAX_BLOCK pixels, fewer when there are many classes, so that the
 * class-major buffers stay small.
 */
#ifndef LK_REAL
#include "core/softmax.h"

#include <stdlib.h>
#include <string.h>

#include "core/chunks.h"
#include "core/context.h"
#include "core/error.h"
#include "core/hot.h"
#include "core/scratch.h"
#include "core/tensor.h"
#include "core/vecmath.h"

#define LK_SOFTMAX_BLOCK_ELEMS 4096 /* classes x block, per class-major buffer */

enum { ERROR_IN_INPUT = 0, ERROR_IN_LABELS = 1, ERROR_IN_TARGET = 2 };

typedef struct softmax_run {
    lk_softmax_job *job;
    int64_t classes, spatial, n_pixels;
    int block;
    char *scratch; /* one area per worker */
    size_t scratch_size;
    double *partials; /* one per chunk */
    int64_t *valid_counts; /* one per chunk */
    lk_chunk_error *errors;
} softmax_run;

static int block_length(int64_t classes)
{
    int64_t length = LK_SOFTMAX_BLOCK_ELEMS / classes;
    if (length >= LK_SOFTMAX_BLOCK) return LK_SOFTMAX_BLOCK;
    if (length >= 8) return (int)(length & ~(int64_t)7);
    return length >= 1 ? (int)length : 1;
}

/* Flat index in the (N, C, *spatial) tensor of class c at flat pixel p. */
static int64_t element_index(const softmax_run *run, int64_t pixel, int64_t c)
{
    int64_t image = pixel / run->spatial, position = pixel % run->spatial;
    return (image * run->classes + c) * run->spatial + position;
}

static void record_error(softmax_run *run, int64_t chunk, int which, int64_t index, double value)
{
    run->errors[chunk].index = index;
    run->errors[chunk].value = value;
    run->errors[chunk].input = which;
}

#define LK_TYPED_FILE "core/softmax.c"
#include "core/typed.h"
#else /* typed section ------------------------------------------------------ */

typedef struct LK_T(buffers) {
    lk_real *input, *target, *prob, *logp, *coef_class, *grad; /* [C][L] */
    lk_real *max, *log_sum, *inverse_sum, *x_label;            /* [L] */
    lk_real *prob_label, *logp_label, *rest_label;             /* [L] */
    lk_real *loss, *coef_prob, *coef_label;                    /* [L] */
    lk_real *grad_prob, *grad_label, *grad_class;              /* [L] */
    int32_t *label;
    uint8_t *valid;
    double *sum_lanes;
} LK_T(buffers);

/* Lays the buffers out from base (base NULL: only computes the size). */
static size_t LK_T(layout)(char *base, int64_t classes, int block, LK_T(buffers) *out)
{
    lk_scratch s = {base, 0};
    size_t wide = (size_t)classes * (size_t)block * sizeof(lk_real);
    size_t narrow = (size_t)block * sizeof(lk_real);
    lk_real **wide_buffers[] = {&out->input, &out->target, &out->prob, &out->logp,
                                &out->coef_class, &out->grad};
    lk_real **narrow_buffers[] = {&out->max, &out->log_sum, &out->inverse_sum, &out->x_label,
                                  &out->prob_label, &out->logp_label, &out->rest_label,
                                  &out->loss, &out->coef_prob, &out->coef_label,
                                  &out->grad_prob, &out->grad_label, &out->grad_class};
    for (size_t i = 0; i < sizeof wide_buffers / sizeof wide_buffers[0]; i++)
        *wide_buffers[i] = lk_scratch_take(&s, wide);
    for (size_t i = 0; i < sizeof narrow_buffers / sizeof narrow_buffers[0]; i++)
        *narrow_buffers[i] = lk_scratch_take(&s, narrow);
    out->label = lk_scratch_take(&s, (size_t)block * sizeof(int32_t));
    out->valid = lk_scratch_take(&s, (size_t)block);
    out->sum_lanes = lk_scratch_take(&s, (size_t)block * sizeof(double));
    return lk_scratch_size(&s);
}

/* Copies a block that spans images between the (N, C, *spatial) tensor and a
 * class-major buffer, in either direction. */
static inline void LK_T(transfer)(lk_real *tensor, const softmax_run *run, int64_t first, int len,
                                  lk_real *block, int stride, int to_block)
{
    int64_t image = first / run->spatial, position = first % run->spatial;
    for (int j = 0; j < len;) {
        int64_t left_in_image = run->spatial - position;
        int count = (int)(len - j < left_in_image ? len - j : left_in_image);
        lk_real *base = tensor + image * run->classes * run->spatial + position;
        for (int64_t c = 0; c < run->classes; c++) {
            lk_real *in_tensor = base + c * run->spatial;
            lk_real *in_block = block + c * stride + j;
            memcpy(to_block ? in_block : in_tensor, to_block ? in_tensor : in_block,
                   (size_t)count * sizeof(lk_real));
        }
        j += count;
        image++;
        position = 0;
    }
}

#include "core/class_activation.h"
#include "core/unit_interval.h"

/* Logits: the max, exp(x - max) of every class into e, and per pixel the log
 * of the sum, its inverse, and p, log p and 1 - p of the labelled class (1 - p
 * as the sum of the other classes' exps, accurate where p is close to 1). */
static inline void LK_T(softmax_stats)(const lk_real *restrict x, int64_t row, int classes,
                                       int len, const int32_t *restrict label,
                                       lk_real *restrict e, int stride, lk_real *restrict max,
                                       lk_real *restrict x_label, lk_real *restrict prob_label,
                                       lk_real *restrict rest_label, lk_real *restrict logp_label,
                                       lk_real *restrict inverse_sum, lk_real *restrict log_sum)
{
    LK_T(lk_block_class_max)(x, row, classes, len, max);
    for (int j = 0; j < len; j++) x_label[j] = prob_label[j] = rest_label[j] = 0;
    for (int c = 0; c < classes; c++) {
        const lk_real *xc = x + c * row;
        lk_real *ec = e + c * stride;
        for (int j = 0; j < len; j++) {
            lk_real value = lk_exp_nonpositive(xc[j] - max[j]);
            int hit = label[j] == c;
            ec[j] = value;
            x_label[j] += hit ? xc[j] : 0;
            prob_label[j] += hit ? value : 0;
            rest_label[j] += hit ? 0 : value;
        }
    }
    for (int j = 0; j < len; j++) {
        lk_real sum = prob_label[j] + rest_label[j];
        lk_real inverse = 1 / sum;
        lk_real log_of_sum = lk_log(sum);
        inverse_sum[j] = inverse;
        log_sum[j] = log_of_sum;
        logp_label[j] = (x_label[j] - max[j]) - log_of_sum;
        prob_label[j] *= inverse;
        rest_label[j] *= inverse;
    }
}

/* Logits, for rules that read every class: prob normalized, logp. */
static inline void LK_T(normalize)(const lk_real *restrict x, int64_t row, int classes, int len,
                                   lk_real *restrict prob, lk_real *restrict logp, int stride,
                                   const lk_real *restrict max, const lk_real *restrict log_sum,
                                   lk_real *restrict inverse_sum)
{
    for (int c = 0; c < classes; c++) {
        const lk_real *xc = x + c * row;
        lk_real *p = prob + c * stride, *lp = logp + c * stride;
        for (int j = 0; j < len; j++) {
            p[j] *= inverse_sum[j];
            lp[j] = (xc[j] - max[j]) - log_sum[j];
        }
    }
    for (int j = 0; j < len; j++) inverse_sum[j] = 1;
}

/* Probabilities as input: copies into prob, clamped logs into logp (if the
 * rule reads them), and the labelled class's p, log p, 1 - p. */
static inline void LK_T(given_probabilities)(const lk_real *restrict x, int64_t row, int classes,
                                             int len, const int32_t *restrict label,
                                             lk_real *restrict prob, lk_real *restrict logp,
                                             int stride, int with_logs,
                                             lk_real *restrict prob_label,
                                             lk_real *restrict logp_label,
                                             lk_real *restrict rest_label,
                                             lk_real *restrict inverse_sum)
{
    for (int j = 0; j < len; j++) prob_label[j] = 0;
    for (int c = 0; c < classes; c++) {
        const lk_real *xc = x + c * row;
        lk_real *p = prob + c * stride, *lp = logp + c * stride;
        for (int j = 0; j < len; j++) {
            p[j] = xc[j];
            prob_label[j] += label[j] == c ? xc[j] : 0;
        }
        if (with_logs)
            for (int j = 0; j < len; j++) lp[j] = lk_log_clamped(xc[j]);
    }
    for (int j = 0; j < len; j++) {
        inverse_sum[j] = 1;
        logp_label[j] = lk_log_clamped(prob_label[j]);
        rest_label[j] = 1 - prob_label[j];
    }
}

/* Per-pixel factors of the gradient: scale and the ignore mask folded into
 * a (with the 1/sum that turns stored exps into probabilities), b and e. */
static inline void LK_T(gradient_factors)(int len, const uint8_t *restrict valid, lk_real scale,
                                          const lk_real *restrict coef_prob,
                                          const lk_real *restrict coef_label,
                                          const lk_real *restrict inverse_sum,
                                          lk_real *restrict grad_prob,
                                          lk_real *restrict grad_label,
                                          lk_real *restrict grad_class)
{
    for (int j = 0; j < len; j++) {
        lk_real weight = valid[j] ? scale : 0;
        grad_prob[j] = weight * coef_prob[j] * inverse_sum[j];
        grad_label[j] = weight * coef_label[j];
        grad_class[j] = weight;
    }
}

/* grad[c, j] = grad_prob[j] p[c, j] - grad_label[j] [c == label_j]
 *              - grad_class[j] e[c, j], and exactly 0 where ignored. */
static inline void LK_T(write_gradient)(lk_real *restrict g, int64_t row, int classes, int len,
                                        const lk_real *restrict p, const lk_real *restrict e,
                                        int stride, int uses_class_coef,
                                        const int32_t *restrict label,
                                        const uint8_t *restrict valid,
                                        const lk_real *restrict grad_prob,
                                        const lk_real *restrict grad_label,
                                        const lk_real *restrict grad_class)
{
    for (int c = 0; c < classes; c++) {
        const lk_real *pc = p + c * stride, *ec = e + c * stride;
        lk_real *gc = g + c * row;
        if (uses_class_coef) {
            for (int j = 0; j < len; j++) {
                lk_real value = grad_prob[j] * pc[j] - (label[j] == c ? grad_label[j] : 0) -
                                grad_class[j] * ec[j];
                gc[j] = valid[j] ? value : 0;
            }
        } else {
            for (int j = 0; j < len; j++) {
                lk_real value = grad_prob[j] * pc[j] - (label[j] == c ? grad_label[j] : 0);
                gc[j] = valid[j] ? value : 0;
            }
        }
    }
}

/* Masks ignored pixels' losses to 0 and adds the losses into the lanes. */
static inline int64_t LK_T(accumulate)(int len, const uint8_t *restrict valid,
                                       lk_real *restrict loss, double *restrict sum_lanes)
{
    int64_t valid_count = 0;
    for (int j = 0; j < len; j++) {
        loss[j] = valid[j] ? loss[j] : 0;
        sum_lanes[j] += (double)loss[j];
        valid_count += valid[j];
    }
    return valid_count;
}

static inline void LK_T(store_pixel_losses)(int len, const uint8_t *restrict valid,
                                            const lk_real *restrict loss, lk_real ignored,
                                            lk_real *restrict out)
{
    for (int j = 0; j < len; j++) out[j] = valid[j] ? loss[j] : ignored;
}

LK_HOT static void LK_T(softmax_chunk)(void *arg, int64_t chunk, int worker)
{
    softmax_run *run = arg;
    lk_softmax_job *job = run->job;
    int classes = (int)run->classes, stride = run->block;
    int64_t spatial = run->spatial;
    LK_T(buffers) b;
    LK_T(layout)(run->scratch + (size_t)worker * run->scratch_size, run->classes, stride, &b);
    lk_softmax_rule rule = LK_REAL_DTYPE == LK_F32 ? job->rule_f32 : job->rule_f64;
    int logits = job->mode == LK_INPUT_LOGITS;
    lk_softmax_block block = {
        .stride = stride, .classes = classes, .mode = job->mode,
        .prob = job->needs_distribution ? b.prob : NULL,
        .logp = job->needs_distribution ? b.logp : NULL,
        .label = job->labels ? b.label : NULL, .valid = job->labels ? b.valid : NULL,
        .prob_label = b.prob_label, .logp_label = b.logp_label, .rest_label = b.rest_label,
        .loss = b.loss, .coef_prob = b.coef_prob, .coef_label = b.coef_label,
        .coef_class = job->uses_class_coef ? b.coef_class : NULL};
    lk_real scale = (lk_real)job->grad_scale;
    lk_real *input = job->input->data, *target = job->target ? job->target->data : NULL;
    lk_real *grad = job->grad;
    for (int j = 0; j < stride; j++) b.sum_lanes[j] = 0;
    if (!job->labels) {
        for (int j = 0; j < stride; j++) {
            b.label[j] = -1; /* matches no class: dense mode has no label term */
            b.valid[j] = 1;
        }
    }
    int64_t end = lk_chunk_end(chunk, run->n_pixels), valid_count = 0;
    for (int64_t first = chunk * LK_CHUNK; first < end; first += stride) {
        int len = (int)(end - first < stride ? end - first : stride);
        int64_t position = first % spatial;
        int64_t offset = (first - position) * classes + position; /* of [image, 0, position] */
        int direct = position + len <= spatial; /* one image: work on the tensors in place */
        int64_t row = direct ? spatial : stride;
        const lk_real *x = direct ? input + offset : b.input;
        const lk_real *t = direct && target ? target + offset : b.target;
        lk_real *g = direct && grad ? grad + offset : b.grad;
        if (!direct) LK_T(transfer)(input, run, first, len, b.input, stride, 1);
        if (!direct && target) LK_T(transfer)(target, run, first, len, b.target, stride, 1);
        block.first_pixel = first;
        block.len = len;
        block.source_stride = row;
        block.input = x;
        block.target = target ? t : NULL;
        if (job->labels) {
            int bad = lk_load_labels(job->labels, first, len, &job->label_rule, b.label, b.valid);
            if (bad >= 0) {
                record_error(run, chunk, ERROR_IN_LABELS, first + bad, 0);
                return;
            }
        }
        if (target) {
            int64_t bad = LK_T(lk_first_outside_unit)(t, classes, row, len);
            if (bad >= 0) {
                record_error(run, chunk, ERROR_IN_TARGET,
                             element_index(run, first + bad % row, bad / row), t[bad]);
                return;
            }
        }
        if (logits) {
            LK_T(softmax_stats)(x, row, classes, len, b.label, b.prob, stride, b.max, b.x_label,
                                b.prob_label, b.rest_label, b.logp_label, b.inverse_sum,
                                b.log_sum);
            if (job->needs_distribution)
                LK_T(normalize)(x, row, classes, len, b.prob, b.logp, stride, b.max, b.log_sum,
                                b.inverse_sum);
        } else {
            int64_t bad = LK_T(lk_first_outside_unit)(x, classes, row, len);
            if (bad >= 0) {
                record_error(run, chunk, ERROR_IN_INPUT,
                             element_index(run, first + bad % row, bad / row), x[bad]);
                return;
            }
            LK_T(given_probabilities)(x, row, classes, len, b.label, b.prob, b.logp, stride,
                                      job->needs_distribution, b.prob_label, b.logp_label,
                                      b.rest_label, b.inverse_sum);
        }
        if (job->uses_class_coef)
            memset(b.coef_class, 0, (size_t)classes * (size_t)stride * sizeof(lk_real));
        rule(&block, job->config);
        valid_count += LK_T(accumulate)(len, b.valid, b.loss, b.sum_lanes);
        if (job->pixel_loss)
            LK_T(store_pixel_losses)(len, b.valid, b.loss, (lk_real)job->ignored_loss,
                                     (lk_real *)job->pixel_loss + first);
        if (grad) {
            LK_T(gradient_factors)(len, b.valid, scale, b.coef_prob, b.coef_label, b.inverse_sum,
                                   b.grad_prob, b.grad_label, b.grad_class);
            LK_T(write_gradient)(g, row, classes, len, b.prob, b.coef_class, stride,
                                 job->uses_class_coef, b.label, b.valid, b.grad_prob,
                                 b.grad_label, b.grad_class);
            if (!direct) LK_T(transfer)(grad, run, first, len, b.grad, stride, 0);
        }
    }
    double total = 0;
    for (int j = 0; j < stride; j++) total += b.sum_lanes[j];
    run->partials[chunk] = total;
    run->valid_counts[chunk] = valid_count;
}

#endif /* typed section */

#ifndef LK_REAL

static lk_status report_error(const softmax_run *run, const lk_chunk_error *error)
{
    const lk_softmax_job *job = run->job;
    switch (error->input) {
    case ERROR_IN_LABELS:
        return lk_label_error(job->labels, job->target_name, &job->label_rule, error->index);
    case ERROR_IN_TARGET:
        return lk_unit_interval_error(job->target, job->target_name, error->index, "a probability", "");
    default:
        return lk_unit_interval_error(job->input, job->input_name, error->index, "a probability",
                                      " (activation=none expects probabilities; use the softmax "
                                      "activation for logits)");
    }
}

lk_status lk_softmax_run(lk_context *ctx, lk_softmax_job *job)
{
    if (!ctx) ctx = lk_default_context();
    softmax_run run = {.job = job};
    run.classes = job->input->shape[1];
    run.spatial = lk_numel_from(job->input, 2);
    run.n_pixels = job->input->shape[0] * run.spatial;
    run.block = block_length(run.classes);
    int f32 = job->input->dtype == LK_F32;
    run.scratch_size = f32 ? layout_f32(NULL, run.classes, run.block, &(buffers_f32){0})
                           : layout_f64(NULL, run.classes, run.block, &(buffers_f64){0});
    int n_workers = lk_context_threads(ctx);
    int64_t n_chunks = lk_chunk_count(run.n_pixels);
    run.scratch = aligned_alloc(LK_SCRATCH_ALIGN, run.scratch_size * (size_t)n_workers);
    run.partials = calloc((size_t)n_chunks, sizeof *run.partials);
    run.errors = malloc((size_t)n_chunks * sizeof *run.errors);
    run.valid_counts = calloc((size_t)n_chunks, sizeof *run.valid_counts);
    lk_status status = LK_OK;
    if (!run.scratch || !run.partials || !run.errors || !run.valid_counts) {
        status = lk_fail(LK_ENOMEM, "out of memory for the softmax driver's buffers");
    } else {
        for (int64_t chunk = 0; chunk < n_chunks; chunk++) run.errors[chunk].index = -1;
        lk_parallel_for(ctx, n_chunks, f32 ? softmax_chunk_f32 : softmax_chunk_f64, &run);
        const lk_chunk_error *error = lk_first_chunk_error(run.errors, n_chunks);
        if (error) status = report_error(&run, error);
        job->loss_sum = 0;
        job->valid_pixels = 0;
        for (int64_t chunk = 0; chunk < n_chunks; chunk++) {
            job->loss_sum += run.partials[chunk];
            job->valid_pixels += run.valid_counts[chunk];
        }
    }
    free(run.valid_counts);
    free(run.scratch);
    free(run.partials);
    free(run.errors);
    return status;
}

#endif
