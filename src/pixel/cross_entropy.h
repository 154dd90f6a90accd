/*
 * The cross-entropy rules, shared by cross_entropy.c, weighted_cross_entropy.c
 * and topk_cross_entropy.c (see cross_entropy.c for the formulas).
 */
#ifndef LK_PIXEL_CROSS_ENTROPY_H
#define LK_PIXEL_CROSS_ENTROPY_H

#include "core/softmax.h"

typedef struct lk_ce_config {
    double smoothing;      /* label smoothing epsilon in [0, 1] */
    const double *weight;  /* one factor per class */
    int uniform;           /* every weight is 1 */
    double weight_sum;     /* sum of weight[c] over classes */
} lk_ce_config;

void lk_ce_label_rule_f32(const lk_softmax_block *block, const void *config);
void lk_ce_label_rule_f64(const lk_softmax_block *block, const void *config);
void lk_ce_dense_rule_f32(const lk_softmax_block *block, const void *config);
void lk_ce_dense_rule_f64(const lk_softmax_block *block, const void *config);

#endif
