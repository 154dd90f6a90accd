/*
 * Weighted sums of registered losses: loss = sum_k w_k loss_k(inputs), with
 * the gradients summed the same way. The named compound losses (dice_ce,
 * dice_focal, ...) and the user's sums of the public lk_compound API
 * (include/losskit.h, src/compound/weighted_sum.c) are both run by
 * lk_terms_compute, so a compound never copies a kernel: each term is one
 * lk_loss_compute of a registered loss, validated as such.
 *
 * Every term must reduce to a scalar (reduction mean or sum): the terms of a
 * pixel loss and of a region loss have no common per-item shape.
 */
#ifndef LK_CORE_TERMS_H
#define LK_CORE_TERMS_H

#include <stddef.h>

#include "core/loss.h"

typedef struct lk_term {
    const lk_loss_desc *desc;
    const lk_params *params;
    double weight;     /* finite */
    const char *label; /* how errors name the term; NULL: "term k (loss name)" */
    const lk_tensor *inputs; /* NULL: the sum's inputs; else this term's own, as many, with
                                the same differentiable tensors (a compound may hand one
                                term the one-hot form of the labels, say) */
} lk_term;

/* offset + sum_k weight_k loss_k into loss (a scalar of input 0's dtype,
 * rounded once; offset: a constant of the compound, 0 for most), and the
 * summed gradients into grads (as in lk_loss_compute: NULL, or data NULL,
 * for none). Term 0 writes the gradients in place; each later term writes
 * into one scratch buffer per gradient, added afterwards, element by element
 * (so the result does not depend on the thread count). A term's error is
 * reported with the term's number and loss name in front. */
lk_status lk_terms_compute(const lk_term *terms, size_t n_terms, double offset,
                           const lk_tensor *inputs, size_t n_inputs, const lk_tensor *loss,
                           const lk_tensor *grads, lk_context *ctx);

/* Checks, without reading tensor data, that every term accepts the inputs
 * and reduces them to a scalar. */
lk_status lk_terms_check(const lk_term *terms, size_t n_terms, const lk_tensor *inputs,
                         size_t n_inputs);

/* Copies into dst the value of every parameter of src whose name dst also
 * has (by text, which reads back exactly), except the names in skip
 * (NULL-terminated, may be NULL). Used by compound losses to hand their
 * shared options (activation, ignore_index, ...) to their terms. */
lk_status lk_params_copy_shared(lk_params *dst, const lk_params *src, const char *const *skip);

#endif
