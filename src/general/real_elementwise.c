#include "general/real_elementwise.h"

#include "core/softmax.h"

lk_status lk_real_elementwise_loss(const lk_call *call, lk_elementwise_rule rule_f32,
                                   lk_elementwise_rule rule_f64, const void *config,
                                   const double *class_table)
{
    double elements = (double)lk_numel(&call->inputs[0]);
    int has_target = call->desc->n_inputs > 1;
    lk_elementwise_job job = {
        .rule_f32 = rule_f32, .rule_f64 = rule_f64, .config = config, .mode = LK_INPUT_LOGITS,
        .input = &call->inputs[0], .input_name = call->desc->inputs[0].name,
        .target = has_target ? &call->inputs[1] : NULL,
        .target_name = has_target ? call->desc->inputs[1].name : NULL,
        .real_targets = 1,
        .class_table = {class_table}, .n_tables = class_table ? 1 : 0,
        .grad_scale = call->reduction == LK_REDUCTION_MEAN ? 1 / elements : 1,
        .grad = lk_grad_data(call, 0),
        .element_loss = call->reduction == LK_REDUCTION_NONE ? call->loss->data : NULL};
    lk_status status = lk_elementwise_run(call->ctx, &job);
    return status == LK_OK ? lk_finish_loss(call, job.loss_sum, 1 / elements) : status;
}
