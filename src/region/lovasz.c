/*
 * The Lovász losses: convex surrogates of the Jaccard (IoU) loss through its
 * Lovász extension.
 *
 * For one class c of one group (an image, or the batch), over the pixels not
 * ignored, with errors e_i and foreground flags f_i sorted so that
 * e_(1) >= e_(2) >= ... (ties keep pixel order):
 *
 *   J_k = 1 - (F - sum_{j<=k} f_(j)) / (F + sum_{j<=k} (1 - f_(j))),  F = sum_i f_i
 *   loss_c = sum_k h(e_(k)) (J_k - J_{k-1}),  J_0 = 0
 *
 *   lovasz_softmax: e_i = |f_i - p_ic| (p: softmax probabilities), h(e) = e,
 *                   f_i = [label_i == c]; loss = the mean over the groups of
 *                   the mean over the group's classes of w_c loss_c (classes:
 *                   those present in the group's target, all, or class_list).
 *   lovasz_hinge:   binary; e_i = 1 - x_i (2 f_i - 1) for logits x, h = relu,
 *                   f_i the 0/1 target; loss = the mean over the groups.
 *
 * J_k - J_{k-1} is the k-th component of the Lovász gradient of the Jaccard
 * loss, and d loss / d e_(k) = (J_k - J_{k-1}) h'(e_(k)), pushed to p
 * (de/dp = -1 on the foreground, +1 elsewhere: e is 1 - p or p on the
 * probabilities' domain, also at p = 0 or 1, where torch's abs would give 0)
 * and through the softmax, or to x. At ties the loss is continuous and this is one subgradient: that of the
 * pixel order, as torch.sort(stable=True) gives it.
 *
 * The sort is a stable LSD radix sort of the errors' bits (core/radix_sort.h),
 * linear in the pixels: one task per (group, class) on the context's threads,
 * each summing its term in sorted order, so the result does not depend on the
 * thread count.
 *
 * Reference: M. Berman, A. Rannen Triki, M. B. Blaschko, "The Lovász-Softmax
 * loss: A tractable surrogate for the optimization of the intersection-over-
 * union measure in neural networks", CVPR 2018; eq. (12) of the 2023 survey.
 *
 * Conventions: smp's LovaszLoss and the authors' code (classes=present,
 * per_image=false, ignore_index drops pixels; a group with no class to
 * average gives 0 and still counts in the mean over images). kornia's
 * lovasz_softmax_loss is per_image=true, classes=all (with its weights);
 * kornia's lovasz_hinge_loss is per_image=true. The hinge's target is a 0/1
 * mask: any other value (but ignore_index) is an error.
 */
#ifndef LK_REAL
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/chunks.h"
#include "core/context.h"
#include "core/hot.h"
#include "core/labels.h"
#include "core/lanes.h"
#include "core/loss.h"
#include "core/radix_sort.h"
#include "core/tensor.h"
#include "core/vecmath.h"

enum { PS_CLASSES, PS_CLASS_LIST, PS_PER_IMAGE, PS_WEIGHT, PS_IGNORE_INDEX, PS_ACTIVATION, PS_COUNT };
enum { PH_PER_IMAGE, PH_IGNORE_INDEX, PH_COUNT };
enum { CLASSES_PRESENT = 0, CLASSES_ALL = 1 };
enum { ERROR_IN_INPUT = 0, ERROR_IN_TARGET = 1 };

#define LOVASZ_BLOCK 64
#define SCAN_BLOCK 64
#define MAX_GROUP ((int64_t)1 << 31) /* pixels of a group: their positions fill 31 bits */

/* One call of either loss. */
typedef struct lovasz_run {
    const lk_call *call;
    int hinge;
    int64_t images, classes, spatial; /* hinge: 1 class, spatial = elements per image */
    int64_t groups, group_images;     /* per_image: N groups of 1 image, else 1 of N */
    int probabilities;                /* softmax loss with activation=none */
    lk_label_rule label_rule;
    int32_t *label;                   /* [N x S]: the class, or 0/1 (hinge); -1 if ignored */
    uint8_t *chunk_complete;          /* softmax loss: [chunks] 1 if no pixel is ignored */
    void *prob;                       /* softmax loss: p in the input's (N, C, S) layout */
    void *upstream;                   /* softmax loss with gradient: [C][N][S] d loss / d p */
    int64_t *task_class;              /* [tasks] the class of each (group, class) task */
    int64_t classes_per_group;
    double *task_loss;                /* [tasks] */
    uint8_t *task_counted;            /* [tasks] 1 if the term counts in its group's mean */
    double *scale;                    /* [groups x C] of upstream in the backward pass */
    char *sort_scratch;               /* one area per worker */
    size_t sort_scratch_size;
    lk_chunk_error *errors;
} lovasz_run;

static void record_error(lovasz_run *run, int64_t chunk, int which, int64_t index)
{
    run->errors[chunk].index = index;
    run->errors[chunk].input = which;
}

#define LK_TYPED_FILE "region/lovasz.c"
#include "core/typed.h"
#else /* typed section ------------------------------------------------------ */

#include "core/class_activation.h"
#include "core/unit_interval.h"

#define KEY LK_T(lk_radix_key)

/* The Lovász extension over errors sorted in decreasing order (their keys),
 * the foreground flag in each payload's low bit: returns sum_k h(e_k) (J_k -
 * J_{k-1}). With out, writes scale x d loss / d prediction at out[position]
 * (the payload's high bits): -grad on the foreground, +grad elsewhere, 0
 * where the hinge is off.
 *
 * J_k - J_{k-1} is computed directly, without the cancellation of two close
 * Jaccard values: with U the union and I the intersection after step k, a
 * foreground step lowers I by one (1 / U), a background step raises U by one
 * (I / (U (U - 1))). Blocks of SCAN_BLOCK steps vectorize the divisions. */
LK_HOT static double LK_T(lovasz_scan)(const KEY *keys, const uint32_t *payload, size_t n,
                                double foreground, int hinge, lk_real *out, double scale)
{
    uint32_t foreground_count = 0;
    double lanes[LK_LANES] = {0};
    double seen[SCAN_BLOCK], is_foreground[SCAN_BLOCK], grad[SCAN_BLOCK];
    double contribution[SCAN_BLOCK], derivative[SCAN_BLOCK];
    for (size_t start = 0; start < n; start += SCAN_BLOCK) {
        int len = (int)(n - start < SCAN_BLOCK ? n - start : SCAN_BLOCK);
        const uint32_t *restrict flags = payload + start;
        for (int j = 0; j < len; j++) { /* an integer prefix count: one cycle a step */
            foreground_count += flags[j] & 1;
            seen[j] = (double)foreground_count;
            is_foreground[j] = (double)(flags[j] & 1);
        }
        double before = (double)start; /* steps before the block */
        for (int j = 0; j < len; j++) { /* vectorizes */
            double background_seen = before + (double)(j + 1) - seen[j];
            double union_now = foreground + background_seen, intersection = foreground - seen[j];
            double after_foreground = 1 / union_now;
            double after_background = intersection / ((union_now - 1) * union_now);
            grad[j] = is_foreground[j] > 0 ? after_foreground : after_background;
        }
        if (start == 0) grad[0] = 1 - (foreground - seen[0]) / (foreground + 1 - seen[0]); /* J_1 - J_0 */
        for (int j = 0; j < len; j++) { /* vectorizes */
            double error = (double)lk_from_descending_key(keys[start + (size_t)j]);
            int active = !hinge || error > 0;
            contribution[j] = active ? error * grad[j] : 0;
            derivative[j] = active ? (is_foreground[j] > 0 ? -grad[j] : grad[j]) * scale : 0;
        }
        lk_lanes_add(lanes, contribution, len); /* a fixed order, and no add chain */
        for (int k = 0; out && k < len; k++) out[flags[k] >> 1] = (lk_real)derivative[k];
    }
    return lk_lanes_total(lanes);
}

/* This worker's sort buffers, for up to `capacity` pairs. */
static void LK_T(sort_buffers)(const lovasz_run *run, int worker, size_t capacity, KEY **keys,
                               uint32_t **payload, KEY **scratch_keys, uint32_t **scratch_payload)
{
    char *base = run->sort_scratch + (size_t)worker * run->sort_scratch_size;
    *keys = (KEY *)(void *)base;
    *scratch_keys = *keys + capacity;
    *payload = (uint32_t *)(void *)(*scratch_keys + capacity);
    *scratch_payload = *payload + capacity;
}

/* Softmax loss, first pass, over the chunk's positions of one image: the
 * labels as int32 (-1 where ignored), and p (the softmax into the gradient
 * buffer or scratch; given probabilities are checked). */
LK_HOT static void LK_T(prepare_chunk)(void *arg, int64_t chunk, int worker)
{
    (void)worker;
    lovasz_run *run = arg;
    int64_t begin, end, n = lk_image_chunk_span(chunk, run->spatial, &begin, &end);
    int classes = (int)run->classes;
    const lk_real *input = (const lk_real *)run->call->inputs[0].data;
    lk_real max[LOVASZ_BLOCK], sum[LOVASZ_BLOCK];
    uint8_t valid[LOVASZ_BLOCK];
    for (int64_t first = begin; first < end; first += LOVASZ_BLOCK) {
        int len = (int)(end - first < LOVASZ_BLOCK ? end - first : LOVASZ_BLOCK);
        int64_t pixel = n * run->spatial + first, offset = n * run->classes * run->spatial + first;
        int32_t *label = run->label + pixel;
        int bad = lk_load_labels(&run->call->inputs[1], pixel, len, &run->label_rule, label, valid);
        if (bad >= 0) {
            record_error(run, chunk, ERROR_IN_TARGET, pixel + bad);
            return;
        }
        int all_valid = 1;
        for (int j = 0; j < len; j++) {
            all_valid &= valid[j];
            label[j] = valid[j] ? label[j] : -1;
        }
        run->chunk_complete[chunk] &= (uint8_t)all_valid;
        if (!run->probabilities) {
            lk_real *prob = (lk_real *)run->prob + offset;
            LK_T(lk_block_softmax)(input + offset, run->spatial, classes, len, prob, run->spatial, max, sum);
            continue;
        }
        int64_t outside = LK_T(lk_first_outside_unit)(input + offset, classes, run->spatial, len);
        if (outside >= 0) {
            record_error(run, chunk, ERROR_IN_INPUT, offset + outside);
            return;
        }
    }
}

/* Softmax loss, one (group, class) term: its errors, sorted, scanned. */
LK_HOT static void LK_T(softmax_task)(void *arg, int64_t task, int worker)
{
    lovasz_run *run = arg;
    int64_t group = task / run->classes_per_group, c = run->task_class[task];
    int64_t first_image = group * run->group_images, spatial = run->spatial;
    KEY *keys, *scratch_keys;
    uint32_t *payload, *scratch_payload;
    LK_T(sort_buffers)(run, worker, (size_t)(run->group_images * spatial), &keys, &payload,
                       &scratch_keys, &scratch_payload);
    size_t n = 0;
    double foreground = 0;
    int64_t chunks_per_image = lk_chunk_count(spatial);
    for (int64_t image = first_image; image < first_image + run->group_images; image++) {
        const int32_t *restrict label = run->label + image * spatial;
        const lk_real *restrict p = (const lk_real *)run->prob + (image * run->classes + c) * spatial;
        uint32_t base = (uint32_t)((image - first_image) * spatial);
        int complete = 1;
        for (int64_t chunk = image * chunks_per_image; chunk < (image + 1) * chunks_per_image; chunk++)
            complete &= run->chunk_complete[chunk];
        size_t present = 0;
        if (complete) { /* every pixel counts: a loop that vectorizes */
            KEY *restrict out_keys = keys + n;
            uint32_t *restrict out_payload = payload + n;
            for (int64_t s = 0; s < spatial; s++) {
                int is_foreground = label[s] == c;
                lk_real background_error = p[s], foreground_error = 1 - p[s];
                lk_real error = is_foreground ? foreground_error : background_error;
                out_keys[s] = lk_descending_key_nonnegative(error);
                out_payload[s] = (base + (uint32_t)s) << 1 | (uint32_t)is_foreground;
                present += (size_t)is_foreground;
            }
            n += (size_t)spatial;
        } else { /* branch-free: every pixel writes its pair, ignored ones are overwritten */
            for (int64_t s = 0; s < spatial; s++) {
                int is_foreground = label[s] == c;
                lk_real background_error = p[s], foreground_error = 1 - p[s];
                keys[n] = lk_descending_key_nonnegative(is_foreground ? foreground_error : background_error);
                payload[n] = (base + (uint32_t)s) << 1 | (uint32_t)is_foreground;
                present += (size_t)is_foreground;
                n += label[s] >= 0;
            }
        }
        foreground += (double)present;
    }
    int counted = foreground > 0 || lk_param_choice(run->call->params, PS_CLASSES) == CLASSES_ALL;
    run->task_counted[task] = (uint8_t)counted;
    run->task_loss[task] = 0;
    if (!counted) return;
    LK_T(lk_radix_sort)(keys, payload, n, scratch_keys, scratch_payload);
    lk_real *out = NULL;
    if (run->upstream) out = (lk_real *)run->upstream + (c * run->images + first_image) * spatial;
    run->task_loss[task] = LK_T(lovasz_scan)(keys, payload, n, foreground, 0, out, 1);
}

/* Softmax loss, the backward pass over the chunk's positions of one image:
 * u_c = scale[group][c] upstream_c, then through the softmax (in place: the
 * gradient buffer holds p until it is overwritten here). */
LK_HOT static void LK_T(backward_chunk)(void *arg, int64_t chunk, int worker)
{
    (void)worker;
    lovasz_run *run = arg;
    int64_t begin, end, n = lk_image_chunk_span(chunk, run->spatial, &begin, &end);
    int64_t classes = run->classes, spatial = run->spatial;
    const double *scale = run->scale + (n / run->group_images) * classes;
    lk_real *grad = lk_grad_data(run->call, 0);
    for (int64_t first = begin; first < end; first += LOVASZ_BLOCK) {
        int len = (int)(end - first < LOVASZ_BLOCK ? end - first : LOVASZ_BLOCK);
        const int32_t *label = run->label + n * spatial + first;
        lk_real dot[LOVASZ_BLOCK];
        for (int j = 0; j < len; j++) dot[j] = 0;
        for (int64_t c = 0; !run->probabilities && c < classes; c++) {
            const lk_real *p = (const lk_real *)run->prob + (n * classes + c) * spatial + first;
            const lk_real *u = (const lk_real *)run->upstream + (c * run->images + n) * spatial + first;
            const lk_real factor = (lk_real)scale[c];
            for (int j = 0; j < len; j++) dot[j] += p[j] * (factor * u[j]);
        }
        for (int64_t c = 0; c < classes; c++) {
            const lk_real *p = (const lk_real *)run->prob + (n * classes + c) * spatial + first;
            const lk_real *u = (const lk_real *)run->upstream + (c * run->images + n) * spatial + first;
            lk_real *out = grad + (n * classes + c) * spatial + first;
            const lk_real factor = (lk_real)scale[c];
            if (run->probabilities)
                for (int j = 0; j < len; j++) out[j] = label[j] >= 0 ? factor * u[j] : 0;
            else
                for (int j = 0; j < len; j++) out[j] = label[j] >= 0 ? p[j] * (factor * u[j] - dot[j]) : 0;
        }
    }
}

/* Hinge loss, first pass over a chunk of elements: the 0/1 target as int32
 * (-1 where ignored), checked, and the logits checked finite (relu would
 * hide a NaN or an infinity on its flat side). */
static void LK_T(hinge_prepare_chunk)(void *arg, int64_t chunk, int worker)
{
    (void)worker;
    lovasz_run *run = arg;
    const lk_tensor *target = &run->call->inputs[1];
    const lk_real *x = (const lk_real *)run->call->inputs[0].data;
    int64_t count = run->images * run->spatial;
    for (int64_t i = chunk * LK_CHUNK; i < lk_chunk_end(chunk, count); i++) {
        int ignored = 0;
        double value;
        if (lk_dtype_is_label(target->dtype)) {
            int64_t label = lk_read_label(target, i);
            ignored = run->label_rule.has_ignore && label == run->label_rule.ignore_index;
            value = (double)label;
        } else {
            value = lk_read_real(target, i);
        }
        if (!ignored && value != 0 && value != 1) {
            record_error(run, chunk, ERROR_IN_TARGET, i);
            return;
        }
        if (!ignored && !isfinite(x[i])) {
            record_error(run, chunk, ERROR_IN_INPUT, i);
            return;
        }
        run->label[i] = ignored ? -1 : (int32_t)value;
    }
}

/* Hinge loss, one group: errors 1 - x (2 f - 1), sorted, scanned; the
 * gradient, scaled by 1 / groups, straight into the gradient buffer. */
LK_HOT static void LK_T(hinge_task)(void *arg, int64_t group, int worker)
{
    lovasz_run *run = arg;
    int64_t first = group * run->group_images * run->spatial, count = run->group_images * run->spatial;
    KEY *keys, *scratch_keys;
    uint32_t *payload, *scratch_payload;
    LK_T(sort_buffers)(run, worker, (size_t)count, &keys, &payload, &scratch_keys, &scratch_payload);
    const lk_real *x = (const lk_real *)run->call->inputs[0].data + first;
    const int32_t *flag = run->label + first;
    size_t n = 0;
    double foreground = 0;
    for (int64_t i = 0; i < count; i++) {
        if (flag[i] < 0) continue;
        keys[n] = lk_descending_key((lk_real)1 - (flag[i] ? x[i] : -x[i]));
        payload[n] = (uint32_t)i << 1 | (uint32_t)flag[i];
        foreground += flag[i];
        n++;
    }
    lk_real *grad = lk_grad_data(run->call, 0);
    if (grad) memset(grad + first, 0, (size_t)count * sizeof(lk_real)); /* the ignored elements */
    LK_T(lk_radix_sort)(keys, payload, n, scratch_keys, scratch_payload);
    run->task_loss[group] = LK_T(lovasz_scan)(keys, payload, n, foreground, 1,
                                              grad ? grad + first : NULL, 1 / (double)run->groups);
    run->task_counted[group] = 1;
}

#undef KEY

#endif /* typed section */

#ifndef LK_REAL

/* ------------------------------------------------------------ shared steps */

static lk_status report_error(const lovasz_run *run, const lk_chunk_error *error)
{
    const lk_loss_desc *desc = run->call->desc;
    const lk_tensor *target = &run->call->inputs[1];
    char where[LK_INDEX_TEXT];
    if (error->input == ERROR_IN_INPUT && run->hinge)
        return lk_fail(LK_EVALUE, "%s%s = %g: inputs must be finite", desc->inputs[0].name,
                       lk_format_index(&run->call->inputs[0], error->index, where, sizeof where),
                       lk_read_real(&run->call->inputs[0], error->index));
    if (error->input == ERROR_IN_INPUT)
        return lk_unit_interval_error(&run->call->inputs[0], desc->inputs[0].name, error->index,
                                      "a probability",
                                      " (activation=none expects probabilities; use the softmax "
                                      "activation for logits)");
    if (run->hinge)
        return lk_fail(LK_EVALUE, "%s%s = %g: the target of '%s' must be 0 or 1%s", desc->inputs[1].name,
                       lk_format_index(target, error->index, where, sizeof where),
                       lk_dtype_is_label(target->dtype) ? (double)lk_read_label(target, error->index)
                                                        : lk_read_real(target, error->index),
                       desc->name, lk_dtype_is_label(target->dtype) ? " (or ignore_index)" : "");
    return lk_label_error(target, desc->inputs[1].name, &run->label_rule, error->index);
}

/* Runs fn over n_tasks and reports the first invalid value a task met. */
static lk_status run_tasks(lovasz_run *run, int64_t n_tasks, lk_task_fn f32, lk_task_fn f64)
{
    for (int64_t task = 0; task < n_tasks; task++) run->errors[task].index = -1;
    lk_parallel_for_items(run->call->ctx, n_tasks, lk_numel(&run->call->inputs[0]),
                          run->call->inputs[0].dtype == LK_F32 ? f32 : f64, run);
    const lk_chunk_error *error = lk_first_chunk_error(run->errors, n_tasks);
    return error ? report_error(run, error) : LK_OK;
}

/* Groups, label rule, label buffer, sort scratch and error slots of a run. */
static lk_status start_run(const lk_call *call, lovasz_run *run, int per_image, int ignore_param,
                           int64_t classes, int64_t spatial, int64_t n_tasks, int64_t chunks)
{
    memset(run, 0, sizeof *run);
    run->call = call;
    run->images = call->batch;
    run->classes = classes;
    run->spatial = spatial;
    run->groups = per_image ? call->batch : 1;
    run->group_images = per_image ? 1 : call->batch;
    run->label_rule.classes = classes;
    run->label_rule.has_ignore = 1;
    run->label_rule.ignore_index = lk_param_int(call->params, (size_t)ignore_param);
    if (run->group_images * spatial >= MAX_GROUP)
        return lk_fail(LK_ESHAPE, "loss '%s': a group of %lld pixels; at most 2^31 - 1 are ranked "
                       "together (use per_image=true)",
                       call->desc->name, (long long)(run->group_images * spatial));
    size_t key_size = call->inputs[0].dtype == LK_F32 ? sizeof(uint32_t) : sizeof(uint64_t);
    run->sort_scratch_size = (size_t)(run->group_images * spatial) * 2 * (key_size + sizeof(uint32_t));
    run->sort_scratch = malloc(run->sort_scratch_size * (size_t)lk_context_threads(call->ctx) + 1);
    run->label = malloc((size_t)(call->batch * spatial) * sizeof(int32_t));
    run->task_loss = calloc((size_t)n_tasks, sizeof(double));
    run->task_counted = calloc((size_t)n_tasks, 1);
    run->errors = malloc((size_t)(chunks > n_tasks ? chunks : n_tasks) * sizeof *run->errors);
    run->chunk_complete = malloc((size_t)chunks);
    if (run->chunk_complete) memset(run->chunk_complete, 1, (size_t)chunks);
    if (!run->sort_scratch || !run->label || !run->task_loss || !run->task_counted || !run->errors ||
        !run->chunk_complete)
        return lk_fail(LK_ENOMEM, "out of memory for the Lovász loss");
    return LK_OK;
}

static void end_run(lovasz_run *run)
{
    free(run->sort_scratch);
    free(run->label);
    free(run->task_loss);
    free(run->task_counted);
    free(run->errors);
    free(run->chunk_complete);
    free(run->task_class);
    free(run->scale);
    free(run->upstream);
}

/* ------------------------------------------------------------ Lovász-softmax */

/* The classes each group averages over: class_list, or all of them. */
static lk_status select_classes(const lk_call *call, lovasz_run *run)
{
    size_t count;
    const double *list = lk_param_list(call->params, PS_CLASS_LIST, &count);
    run->classes_per_group = count ? (int64_t)count : call->classes;
    run->task_class = malloc((size_t)(run->groups * run->classes_per_group) * sizeof(int64_t));
    if (!run->task_class) return lk_fail(LK_ENOMEM, "out of memory for the Lovász loss");
    for (int64_t g = 0; g < run->groups; g++)
        for (int64_t k = 0; k < run->classes_per_group; k++)
            run->task_class[g * run->classes_per_group + k] = count ? (int64_t)list[k] : k;
    return LK_OK;
}

static double class_weight(const lk_call *call, int64_t c)
{
    size_t count;
    const double *weight = lk_param_list(call->params, PS_WEIGHT, &count);
    return count == 0 ? 1 : weight[count == 1 ? 0 : c];
}

/* The loss from the tasks' terms, and each (group, class)'s factor of the
 * backward pass: w_c / (counted classes of the group x groups). */
static double combine_terms(const lk_call *call, lovasz_run *run)
{
    double total = 0;
    for (int64_t g = 0; g < run->groups; g++) {
        int64_t counted = 0;
        double group_total = 0;
        for (int64_t k = 0; k < run->classes_per_group; k++) {
            int64_t task = g * run->classes_per_group + k;
            counted += run->task_counted[task];
            if (run->task_counted[task])
                group_total += class_weight(call, run->task_class[task]) * run->task_loss[task];
        }
        double share = counted ? 1 / ((double)counted * (double)run->groups) : 0;
        total += group_total * share;
        for (int64_t k = 0; run->scale && k < run->classes_per_group; k++) {
            int64_t task = g * run->classes_per_group + k, c = run->task_class[task];
            run->scale[g * run->classes + c] = run->task_counted[task] ? class_weight(call, c) * share : 0;
        }
    }
    return total;
}

static lk_status lovasz_softmax_check(const lk_call *call)
{
    size_t count;
    const double *list = lk_param_list(call->params, PS_CLASS_LIST, &count);
    for (size_t k = 0; k < count; k++) {
        if (list[k] != floor(list[k]) || list[k] >= (double)call->classes)
            return lk_fail(LK_EPARAM,
                           "loss '%s': parameter 'class_list'[%zu] = %.17g is not a class index in "
                           "[0, %lld)",
                           call->desc->name, k, list[k], (long long)call->classes);
        for (size_t j = 0; j < k; j++)
            if (list[j] == list[k])
                return lk_fail(LK_EPARAM, "loss '%s': parameter 'class_list' names class %.17g twice",
                               call->desc->name, list[k]);
    }
    if (lk_param_choice(call->params, PS_ACTIVATION) == LK_ACTIVATION_APPLY && call->classes < 2)
        return lk_fail(LK_EPARAM, "loss '%s': activation=softmax needs 2 or more classes; for one "
                       "channel use lovasz_hinge", call->desc->name);
    return lk_check_class_list(call, PS_WEIGHT, 1);
}

static lk_status lovasz_softmax_compute(const lk_call *call)
{
    lovasz_run run;
    int64_t chunks = call->batch * lk_chunk_count(call->spatial);
    int per_image = lk_param_bool(call->params, PS_PER_IMAGE);
    int64_t groups = per_image ? call->batch : 1;
    size_t count;
    lk_param_list(call->params, PS_CLASS_LIST, &count);
    int64_t tasks = groups * (count ? (int64_t)count : call->classes);
    lk_status status =
        start_run(call, &run, per_image, PS_IGNORE_INDEX, call->classes, call->spatial, tasks, chunks);
    if (status == LK_OK) status = select_classes(call, &run);
    size_t pixels = (size_t)lk_numel(&call->inputs[0]);
    size_t element = lk_dtype_size(call->inputs[0].dtype);
    void *prob_scratch = NULL;
    run.probabilities = lk_param_choice(call->params, PS_ACTIVATION) == LK_ACTIVATION_NONE;
    if (status == LK_OK) {
        if (run.probabilities)
            run.prob = call->inputs[0].data;
        else if (lk_grad_data(call, 0))
            run.prob = lk_grad_data(call, 0); /* p waits there for the backward pass */
        else
            run.prob = prob_scratch = malloc(pixels * element);
        if (lk_grad_data(call, 0)) {
            run.upstream = calloc(pixels, element);
            run.scale = calloc((size_t)(groups * call->classes), sizeof(double));
        }
        if (!run.prob || (lk_grad_data(call, 0) && (!run.upstream || !run.scale)))
            status = lk_fail(LK_ENOMEM, "out of memory for the Lovász loss");
    }
    if (status == LK_OK) status = run_tasks(&run, chunks, prepare_chunk_f32, prepare_chunk_f64);
    if (status == LK_OK) status = run_tasks(&run, tasks, softmax_task_f32, softmax_task_f64);
    double total = status == LK_OK ? combine_terms(call, &run) : 0;
    if (status == LK_OK && run.upstream)
        status = run_tasks(&run, chunks, backward_chunk_f32, backward_chunk_f64);
    if (status == LK_OK) status = lk_finish_loss(call, total, 1);
    free(prob_scratch);
    end_run(&run);
    return status;
}

/* ------------------------------------------------------------ Lovász hinge */

static lk_status lovasz_hinge_compute(const lk_call *call)
{
    lovasz_run run;
    int per_image = lk_param_bool(call->params, PH_PER_IMAGE);
    int64_t per_image_elements = lk_numel(&call->inputs[0]) / call->batch;
    int64_t groups = per_image ? call->batch : 1;
    int64_t chunks = lk_chunk_count(call->batch * per_image_elements);
    lk_status status =
        start_run(call, &run, per_image, PH_IGNORE_INDEX, 1, per_image_elements, groups, chunks);
    run.hinge = 1;
    if (status == LK_OK) status = run_tasks(&run, chunks, hinge_prepare_chunk_f32, hinge_prepare_chunk_f64);
    if (status == LK_OK) status = run_tasks(&run, groups, hinge_task_f32, hinge_task_f64);
    double total = 0;
    for (int64_t g = 0; g < groups; g++) total += run.task_loss[g];
    if (status == LK_OK) status = lk_finish_loss(call, total, 1 / (double)groups);
    end_run(&run);
    return status;
}

/* ------------------------------------------------------------ registry */

#define PER_IMAGE_PARAM                                                                    \
    {"per_image", LK_PARAM_BOOL, "false", 0, 0, 0, NULL,                                   \
     "true: one ranking per image, then the mean over the images; false: one over the batch " \
     "(smp's per_image)"}

static const lk_input_info lovasz_softmax_inputs[] = {LK_INPUT_SCORES, LK_INPUT_LABELS};

static const lk_param_info lovasz_softmax_params[PS_COUNT] = {
    [PS_CLASSES] = {"classes", LK_PARAM_CHOICE, "present", 0, 0, 0, "present|all",
                    "present: average over the classes in each group's target; all: over every "
                    "class (or every class of class_list)"},
    [PS_CLASS_LIST] = {"class_list", LK_PARAM_FLOAT_LIST, "[]", 0, INFINITY, 0, NULL,
                       "the class indices to average over ([] = all classes; smp's classes=[...])"},
    [PS_PER_IMAGE] = PER_IMAGE_PARAM,
    [PS_WEIGHT] = LK_PARAM_CLASS_WEIGHT("per-class weights of the terms: one value, or one per "
                                        "class ([] = 1; kornia's weight)"),
    [PS_IGNORE_INDEX] = LK_PARAM_IGNORE_INDEX,
    [PS_ACTIVATION] = LK_PARAM_SOFTMAX_ACTIVATION,
};

static const char *const lovasz_softmax_examples[] = {
    "",
    "per_image=true",
    "classes=all,weight=[0.5,2,1]",
    "class_list=[2,0],ignore_index=1",
    "classes=all,class_list=[1],per_image=true",
    "activation=none",
    "activation=none,per_image=true,classes=all",
    NULL,
};

static const lk_input_info lovasz_hinge_inputs[] = {
    {"input", "logits of any shape (N, ...): one binary problem per image (per_image) or batch",
     LK_DTYPES_FLOAT, LK_SHAPE_ANY, LK_DOMAIN_SCORES, 1},
    {"target", "the 0/1 mask, shaped like input (integer, with ignore_index, or float)",
     LK_DTYPES_LABEL | LK_DTYPES_FLOAT, LK_SHAPE_LIKE_FIRST, LK_DOMAIN_BINARY, 0},
};

static const lk_param_info lovasz_hinge_params[PH_COUNT] = {
    [PH_PER_IMAGE] = PER_IMAGE_PARAM,
    [PH_IGNORE_INDEX] = LK_PARAM_IGNORE_INDEX,
};

static const char *const lovasz_hinge_examples[] = {"", "per_image=true", "ignore_index=0",
                                                    "per_image=true,ignore_index=1", NULL};

const lk_loss_desc lk_loss_lovasz_softmax = {
    .name = "lovasz_softmax",
    .category = LK_CATEGORY_REGION,
    .summary = "Lovász-softmax loss: the Lovász extension of the Jaccard loss per class (smp "
               "LovaszLoss, kornia lovasz_softmax_loss)",
    .formula = "loss_c = sum_k e_(k) (J_k - J_{k-1}), e = |[y = c] - p_c| sorted decreasing, J_k "
               "the Jaccard loss of the top k; mean over classes, then groups",
    .reference = "M. Berman, A. Rannen Triki, M. B. Blaschko, The Lovász-Softmax loss: A tractable "
                 "surrogate for the optimization of the intersection-over-union measure in neural "
                 "networks, CVPR 2018",
    .notes = "smp's defaults (classes=present, per_image=false). kornia: per_image=true, "
             "classes=all. A group with no class to average adds 0. Ties: the pixel order's "
             "subgradient. Linear-time radix sort.",
    LK_DESC_INPUTS(lovasz_softmax_inputs),
    LK_DESC_PARAMS(lovasz_softmax_params),
    .examples = lovasz_softmax_examples,
    .output = LK_OUTPUT_SCALAR,
    .check = lovasz_softmax_check,
    .compute = lovasz_softmax_compute,
};

const lk_loss_desc lk_loss_lovasz_hinge = {
    .name = "lovasz_hinge",
    .category = LK_CATEGORY_REGION,
    .summary = "Lovász hinge loss: binary, the Lovász extension of the Jaccard loss over hinge "
               "errors (smp LovaszLoss binary, kornia lovasz_hinge_loss)",
    .formula = "loss = sum_k relu(e_(k)) (J_k - J_{k-1}), e = 1 - x (2 y - 1) sorted decreasing; "
               "mean over groups",
    .reference = "M. Berman, A. Rannen Triki, M. B. Blaschko, The Lovász-Softmax loss, CVPR 2018",
    .notes = "smp's default per_image=false; kornia: per_image=true. The target is a 0/1 mask; "
             "ignore_index drops elements of integer targets.",
    LK_DESC_INPUTS(lovasz_hinge_inputs),
    LK_DESC_PARAMS(lovasz_hinge_params),
    .examples = lovasz_hinge_examples,
    .output = LK_OUTPUT_SCALAR,
    .compute = lovasz_hinge_compute,
};

#endif
