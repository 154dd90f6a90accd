/*
 * The smooth L1 rule that the smooth-L1 family shares (dynamic_smooth_l1,
 * self_adjusting_smooth_l1, and cycle_consistency at beta = 0, which is L1),
 * for the element-wise driver (general/real_elementwise.h):
 *
 *   d = x - t,  loss = scale * (0.5 d^2 / beta   if |d| < beta
 *                               |d| - 0.5 beta   otherwise)
 *   d loss / d x = scale * (d / beta or sign(d))
 *
 * beta is the config's, or per element when the job has a class table
 * (block->class_value[0], one value per class along axis 1); beta = 0 gives
 * scale * |d| with the subgradient 0 at d = 0, as torch.nn.functional.l1_loss.
 */
#ifndef LK_GENERAL_SMOOTH_L1_H
#define LK_GENERAL_SMOOTH_L1_H

#include "core/elementwise.h"

typedef struct lk_smooth_l1_config {
    double scale; /* loss_weight, or the cycle loss's lambda */
    double beta;  /* every element's beta, unless the job has a class table */
} lk_smooth_l1_config;

void lk_smooth_l1_rule_f32(const lk_elementwise_block *block, const void *config);
void lk_smooth_l1_rule_f64(const lk_elementwise_block *block, const void *config);

#endif
