#include "pixel/pixel.h"

#include <stdlib.h>

double *lk_class_factors(const lk_call *call, size_t param_index)
{
    size_t count;
    const double *values = lk_param_list(call->params, param_index, &count);
    double *factors = malloc((size_t)call->classes * sizeof *factors);
    if (!factors) {
        lk_fail(LK_ENOMEM, "out of memory for %lld class factors", (long long)call->classes);
        return NULL;
    }
    for (int64_t c = 0; c < call->classes; c++)
        factors[c] = count == 0 ? 1.0 : count == 1 ? values[0] : values[c];
    return factors;
}

void lk_softmax_job_from_call(const lk_call *call, lk_softmax_job *job, size_t activation_param,
                              int ignore_param)
{
    const lk_tensor *target = &call->inputs[1];
    job->mode = lk_param_choice(call->params, activation_param) == LK_ACTIVATION_NONE
                    ? LK_INPUT_PROBS
                    : LK_INPUT_LOGITS;
    job->input = &call->inputs[0];
    job->input_name = call->desc->inputs[0].name;
    job->target_name = call->desc->inputs[1].name;
    if (lk_dtype_is_label(target->dtype)) {
        job->labels = target;
        job->label_rule.classes = call->classes;
        job->label_rule.has_ignore = ignore_param >= 0;
        job->label_rule.ignore_index =
            ignore_param >= 0 ? lk_param_int(call->params, (size_t)ignore_param) : 0;
    } else {
        job->target = target;
    }
    job->grad = lk_grad_data(call, 0);
    job->pixel_loss = call->reduction == LK_REDUCTION_NONE ? call->loss->data : NULL;
}

lk_status lk_softmax_label_counts(const lk_call *call, const lk_softmax_job *job, int64_t *counts)
{
    return lk_label_counts(call->ctx, job->labels, job->target_name, &job->label_rule, counts);
}

static lk_status weighted_label_total(const lk_call *call, const lk_softmax_job *job,
                                      const double *class_weight, double *total)
{
    int64_t *counts = malloc((size_t)call->classes * sizeof *counts);
    if (!counts) return lk_fail(LK_ENOMEM, "out of memory counting labels");
    lk_status status = lk_softmax_label_counts(call, job, counts);
    *total = 0;
    for (int64_t c = 0; status == LK_OK && c < call->classes; c++)
        *total += (double)counts[c] * class_weight[c];
    free(counts);
    return status;
}

lk_status lk_softmax_run_reduced(const lk_call *call, lk_softmax_job *job,
                                 const double *class_weight, double *divisor)
{
    *divisor = 1;
    job->grad_scale = 1;
    if (call->reduction != LK_REDUCTION_MEAN) return lk_softmax_run(call->ctx, job);
    double pixels = (double)(call->batch * call->spatial);
    if (job->labels && class_weight) {
        lk_status status = weighted_label_total(call, job, class_weight, divisor);
        if (status != LK_OK) return status;
        job->grad_scale = *divisor > 0 ? 1 / *divisor : 0;
        return lk_softmax_run(call->ctx, job);
    }
    *divisor = pixels;
    job->grad_scale = 1 / pixels;
    lk_status status = lk_softmax_run(call->ctx, job);
    if (status != LK_OK || !job->labels) return status;
    *divisor = (double)job->valid_pixels;
    if (job->grad && job->valid_pixels != call->batch * call->spatial)
        lk_scale_in_place(call->ctx, &call->grads[0], *divisor > 0 ? pixels / *divisor : 0);
    return LK_OK;
}

lk_status lk_softmax_label_or_dense_loss(const lk_call *call, const void *config,
                                         const lk_softmax_rules *rules, size_t activation_param,
                                         int ignore_param)
{
    lk_softmax_job job = {.config = config};
    lk_softmax_job_from_call(call, &job, activation_param, ignore_param);
    int labels = job.labels != NULL;
    job.rule_f32 = labels ? rules->label_f32 : rules->dense_f32;
    job.rule_f64 = labels ? rules->label_f64 : rules->dense_f64;
    job.uses_class_coef = job.needs_distribution = !labels;
    double divisor;
    lk_status status = lk_softmax_run_reduced(call, &job, NULL, &divisor);
    return status == LK_OK ? lk_finish_loss(call, job.loss_sum, divisor > 0 ? 1 / divisor : 0) : status;
}

lk_status lk_elementwise_loss(const lk_call *call, lk_elementwise_rule rule_f32,
                              lk_elementwise_rule rule_f64, const void *config,
                              size_t activation_param, const size_t *table_params, int n_tables)
{
    double elements = (double)lk_numel(&call->inputs[0]);
    lk_elementwise_job job = {
        .rule_f32 = rule_f32, .rule_f64 = rule_f64, .config = config,
        .mode = lk_param_choice(call->params, activation_param) == LK_ACTIVATION_NONE
                    ? LK_INPUT_PROBS
                    : LK_INPUT_LOGITS,
        .input = &call->inputs[0], .input_name = call->desc->inputs[0].name,
        .target = &call->inputs[1], .target_name = call->desc->inputs[1].name,
        .n_tables = n_tables,
        .grad_scale = call->reduction == LK_REDUCTION_MEAN ? 1 / elements : 1,
        .grad = lk_grad_data(call, 0),
        .element_loss = call->reduction == LK_REDUCTION_NONE ? call->loss->data : NULL};
    double *tables[LK_MAX_CLASS_TABLES] = {NULL};
    lk_status status = LK_OK;
    for (int k = 0; k < n_tables && status == LK_OK; k++) {
        tables[k] = lk_class_factors(call, table_params[k]);
        job.class_table[k] = tables[k];
        if (!tables[k]) status = LK_ENOMEM;
    }
    if (status == LK_OK) status = lk_elementwise_run(call->ctx, &job);
    if (status == LK_OK) status = lk_finish_loss(call, job.loss_sum, 1 / elements);
    for (int k = 0; k < n_tables; k++) free(tables[k]);
    return status;
}

lk_status lk_check_class_lists(const lk_call *call, const size_t *params, int n_params)
{
    for (int k = 0; k < n_params; k++) {
        lk_status status = lk_check_class_list(call, params[k], 1);
        if (status != LK_OK) return status;
    }
    return LK_OK;
}
