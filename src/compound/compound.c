#include "compound/compound.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/chunks.h"
#include "core/hot.h"
#include "core/labels.h"

lk_status lk_term_set_add(lk_term_set *set, const lk_call *call, const lk_loss_desc *desc,
                          double weight, const char *const *skip, lk_params **params)
{
    if (set->count == LK_TERM_SET_MAX)
        return lk_fail(LK_EINVAL, "loss '%s': more than %d terms", call->desc->name,
                       LK_TERM_SET_MAX);
    lk_params *own = NULL;
    lk_status status = lk_params_create(desc, &own);
    if (status == LK_OK) status = lk_params_copy_shared(own, call->params, skip);
    if (status != LK_OK) {
        lk_params_destroy(own);
        return status;
    }
    set->params[set->count] = own;
    char *label = set->labels[set->count];
    snprintf(label, sizeof set->labels[0], "loss '%s', term %zu (%s)", call->desc->name,
             set->count + 1, desc->name);
    set->terms[set->count] = (lk_term){desc, own, weight, label, NULL};
    set->count++;
    if (params) *params = own;
    return LK_OK;
}

typedef struct one_hot_job {
    const lk_tensor *labels;
    const lk_tensor *out;
    lk_label_rule rule;
    int64_t classes, spatial, foreground;
} one_hot_job;

#define ONE_HOT_BLOCK 256

LK_HOT static void one_hot_chunk(void *arg, int64_t chunk, int worker)
{
    const one_hot_job *job = arg;
    int64_t begin, end;
    int64_t image = lk_image_chunk_span(chunk, job->spatial, &begin, &end);
    (void)worker;
    for (int64_t first = begin; first < end; first += ONE_HOT_BLOCK) {
        int len = (int)(end - first < ONE_HOT_BLOCK ? end - first : ONE_HOT_BLOCK);
        int32_t class_index[ONE_HOT_BLOCK];
        uint8_t valid[ONE_HOT_BLOCK];
        lk_load_labels(job->labels, image * job->spatial + first, len, &job->rule, class_index, valid);
        for (int64_t c = 0; c < job->classes; c++) {
            int32_t wanted = (int32_t)(c + job->foreground);
            int64_t row = (image * job->classes + c) * job->spatial + first;
            if (job->out->dtype == LK_F32) {
                float *restrict out = (float *)job->out->data + row;
                for (int j = 0; j < len; j++) out[j] = class_index[j] == wanted ? 1.0f : 0.0f;
            } else {
                double *restrict out = (double *)job->out->data + row;
                for (int j = 0; j < len; j++) out[j] = class_index[j] == wanted ? 1.0 : 0.0;
            }
        }
    }
}

lk_status lk_term_set_per_class_target(lk_term_set *set, const lk_call *call,
                                       int materialize)
{
    const lk_tensor *input = &call->inputs[0], *target = &call->inputs[1];
    set->per_class[0] = *input;
    set->per_class[1] = *target;
    set->terms[set->count - 1].inputs = set->per_class;
    if (lk_dtype_is_float(target->dtype)) return LK_OK;
    set->per_class[1] = *input;
    if (!materialize) return LK_OK; /* a header only: the checks read no data */
    if (!set->owned_target) {
        one_hot_job job = {target, &set->per_class[1], {call->classes == 1 ? 2 : call->classes, 0, 0},
                           call->classes, call->spatial, call->classes == 1 ? 1 : 0};
        lk_status status = lk_check_labels(call->ctx, target, call->desc->inputs[1].name, &job.rule);
        if (status != LK_OK) return status;
        set->owned_target = malloc((size_t)lk_numel(input) * lk_dtype_size(input->dtype));
        if (!set->owned_target)
            return lk_fail(LK_ENOMEM, "loss '%s': out of memory for the one-hot target",
                           call->desc->name);
        set->per_class[1].data = set->owned_target;
        int64_t chunks = call->batch * lk_chunk_count(call->spatial);
        lk_parallel_for_items(call->ctx, chunks, lk_numel(input), one_hot_chunk, &job);
    }
    set->per_class[1].data = set->owned_target;
    return LK_OK;
}

lk_status lk_term_set_check(const lk_term_set *set, const lk_call *call)
{
    return lk_terms_check(set->terms, set->count, call->inputs, call->desc->n_inputs);
}

lk_status lk_term_set_run(const lk_term_set *set, const lk_call *call)
{
    return lk_terms_compute(set->terms, set->count, set->offset, call->inputs, call->desc->n_inputs,
                            call->loss, call->grads, call->ctx);
}

lk_status lk_term_params_split(lk_params *params, const char *key, int64_t classes, double first,
                               double rest)
{
    double *values = malloc((size_t)classes * sizeof *values);
    if (!values) return lk_fail(LK_ENOMEM, "out of memory for %lld class values", (long long)classes);
    for (int64_t c = 0; c < classes; c++) values[c] = c == 0 ? first : rest;
    lk_status status = lk_params_set_floats(params, key, values, (size_t)classes);
    free(values);
    return status;
}

void lk_term_set_free(lk_term_set *set)
{
    for (size_t k = 0; k < set->count; k++) lk_params_destroy(set->params[k]);
    free(set->owned_target);
    memset(set, 0, sizeof *set);
}

lk_status lk_compound_loss_check(const lk_call *call, lk_term_builder build)
{
    lk_term_set set = {0};
    lk_status status = build(call, &set, 0);
    if (status == LK_OK) status = lk_term_set_check(&set, call);
    lk_term_set_free(&set);
    return status;
}

lk_status lk_compound_loss_compute(const lk_call *call, lk_term_builder build)
{
    lk_term_set set = {0};
    lk_status status = build(call, &set, 1);
    if (status == LK_OK) status = lk_term_set_run(&set, call);
    lk_term_set_free(&set);
    return status;
}
