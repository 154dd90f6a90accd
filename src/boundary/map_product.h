/*
 * The losses that weigh each class probability with a constant map Z of the
 * ground truth, summed over the classes of each pixel:
 *
 *   loss_x = sum_c p_c(x) Z_c(x),   d loss_x / d p_c = Z_c(x)
 *   (with logits: d / d x_c = p_c (Z_c - loss_x), the softmax chain)
 *
 * Kervadec et al.'s boundary loss (Z = signed distance maps) and Valverde &
 * Tohka's region-wise losses (RW, RRW) are of this form; they differ in Z
 * and in the classes they keep (Z_c = 0 for the others).
 */
#ifndef LK_BOUNDARY_MAP_PRODUCT_H
#define LK_BOUNDARY_MAP_PRODUCT_H

#include "core/loss.h"

/* Runs the loss for the call: maps (N, C, *spatial) float64, input 0 the
 * scores with the activation of the choice parameter activation_param
 * (softmax|none), mean over N x kept_classes x spatial (the references' plain
 * .mean() over the kept channels), sum, or per pixel (none). */
lk_status lk_map_product_loss(const lk_call *call, const double *maps, int64_t kept_classes,
                              size_t activation_param);

#endif
