/*
 * Element-wise losses of real values, on the element-wise driver
 * (core/elementwise.h): the GAN losses of a discriminator's output (one
 * input, no target) and the regression losses of the detection family (the
 * prediction against a real-valued target of its shape). No activation and
 * no range check: every finite value is valid, and a NaN or infinity reaches
 * the loss sum, where lk_finish_loss reports the input that holds it.
 */
#ifndef LK_GENERAL_REAL_ELEMENTWISE_H
#define LK_GENERAL_REAL_ELEMENTWISE_H

#include "core/elementwise.h"
#include "core/loss.h"

/* The regression target slot: real values shaped like the prediction. */
#define LK_INPUT_REGRESSION_TARGET(doc)                                                    \
    {"target", doc, LK_DTYPES_FLOAT, LK_SHAPE_LIKE_FIRST, LK_DOMAIN_REAL, 0}

/* Runs rule over input 0 (against input 1 when the loss has two inputs) for
 * the call: gradient of input 0, per-element losses for reduction none, mean
 * over the elements. class_table: NULL, or one value per class (axis 1) that
 * the rule reads as block->class_value[0]. */
lk_status lk_real_elementwise_loss(const lk_call *call, lk_elementwise_rule rule_f32,
                                   lk_elementwise_rule rule_f64, const void *config,
                                   const double *class_table);

#endif
