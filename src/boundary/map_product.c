/*
 * The map-product losses' kernel (see boundary/map_product.h), a rule of
 * the softmax driver: it reads the maps of its pixels (their image and
 * position from the block's first pixel) and writes the loss and the
 * gradient coefficients a = -loss, e_c = -p_c Z_c (logits) or a = 0,
 * e_c = -Z_c (probabilities).
 */
#ifndef LK_REAL
#include "boundary/map_product.h"

#include "core/hot.h"
#include "core/softmax.h"

typedef struct map_product_config {
    const double *maps; /* (N, C, spatial) */
    int64_t spatial;
} map_product_config;

#define LK_TYPED_FILE "boundary/map_product.c"
#include "core/typed.h"
#else /* typed section ------------------------------------------------------ */

LK_HOT static void LK_T(map_product_rule)(const lk_softmax_block *block, const void *config_ptr)
{
    const map_product_config *config = config_ptr;
    int classes = block->classes, logits = block->mode == LK_INPUT_LOGITS;
    lk_real *restrict loss = block->loss, *restrict a = block->coef_prob;
    lk_real *restrict b = block->coef_label;
    const double *map_of[LK_SOFTMAX_BLOCK]; /* class 0's map value of each pixel */
    for (int j = 0; j < block->len; j++) {
        int64_t pixel = block->first_pixel + j;
        int64_t image = pixel / config->spatial, position = pixel % config->spatial;
        map_of[j] = config->maps + image * classes * config->spatial + position;
        loss[j] = 0;
        b[j] = 0;
    }
    for (int c = 0; c < classes; c++) {
        const lk_real *restrict p = (const lk_real *)block->prob + c * block->stride;
        lk_real *restrict e = (lk_real *)block->coef_class + c * block->stride;
        for (int j = 0; j < block->len; j++) {
            lk_real z = (lk_real)map_of[j][c * config->spatial];
            loss[j] += p[j] * z;
            e[j] = logits ? -p[j] * z : -z;
        }
    }
    for (int j = 0; j < block->len; j++) a[j] = logits ? -loss[j] : 0;
}

#endif /* typed section */

#ifndef LK_REAL

lk_status lk_map_product_loss(const lk_call *call, const double *maps, int64_t kept_classes,
                              size_t activation_param)
{
    map_product_config config = {maps, call->spatial};
    lk_softmax_job job = {
        .rule_f32 = map_product_rule_f32,
        .rule_f64 = map_product_rule_f64,
        .config = &config,
        .mode = lk_param_choice(call->params, activation_param) == LK_ACTIVATION_APPLY
                    ? LK_INPUT_LOGITS
                    : LK_INPUT_PROBS,
        .input = &call->inputs[0],
        .input_name = call->desc->inputs[0].name,
        .uses_class_coef = 1,
        .needs_distribution = 1,
        .grad = lk_grad_data(call, 0),
        .pixel_loss = call->reduction == LK_REDUCTION_NONE ? call->loss->data : NULL,
    };
    double count = (double)(call->batch * kept_classes * call->spatial);
    double scale = call->reduction == LK_REDUCTION_MEAN ? (count > 0 ? 1 / count : 0) : 1;
    job.grad_scale = scale;
    lk_status status = lk_softmax_run(call->ctx, &job);
    return status == LK_OK ? lk_finish_loss(call, job.loss_sum, scale) : status;
}

#endif
