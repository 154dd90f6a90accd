/*
 * Helpers shared by the softmax-family pixel losses: per-class factors from
 * list parameters, a softmax job set up from a call, and label-count-based
 * normalizers.
 */
#ifndef LK_PIXEL_PIXEL_H
#define LK_PIXEL_PIXEL_H

#include "core/elementwise.h"
#include "core/loss.h"
#include "core/softmax.h"

/* Input slots shared by the pixel losses (initializers for lk_input_info). */
#define LK_INPUT_LABELS_OR_DISTRIBUTIONS                                                   \
    {"target",                                                                             \
     "class indices (N, *spatial) or (N, 1, *spatial); or per-class probabilities shaped " \
     "like input",                                                                         \
     LK_DTYPES_LABEL | LK_DTYPES_FLOAT, LK_SHAPE_CLASS_TARGET, LK_DOMAIN_CLASS_TARGET, 0}
#define LK_INPUT_ELEMENT_SCORES                                                            \
    {"input", "scores of any shape (N, C, *spatial) or (N,): logits, or probabilities "    \
              "with activation=none",                                                      \
     LK_DTYPES_FLOAT, LK_SHAPE_ANY, LK_DOMAIN_SCORES, 1}
#define LK_INPUT_BINARY_TARGETS                                                            \
    {"target", "targets in [0, 1] shaped like input (soft, or an integer 0/1 mask)",       \
     LK_DTYPES_FLOAT | LK_DTYPES_LABEL, LK_SHAPE_LIKE_FIRST, LK_DOMAIN_UNIT_INTERVAL, 0}

/* A list parameter expanded to one factor per class: an empty list gives 1 for
 * every class, one value v gives v for every class. Returns NULL (ENOMEM set)
 * on allocation failure. The caller frees. */
double *lk_class_factors(const lk_call *call, size_t param_index);

/* Fills the parts of a softmax job that every pixel loss sets the same way:
 * input (input 0) and its mode from the activation parameter, the target
 * (input 1) as labels or dense targets, ignore_index (or none if
 * ignore_param < 0), the gradient and per-pixel loss outputs. */
void lk_softmax_job_from_call(const lk_call *call, lk_softmax_job *job, size_t activation_param,
                              int ignore_param);

/* Number of pixels per class (labels validated on the way). */
lk_status lk_softmax_label_counts(const lk_call *call, const lk_softmax_job *job, int64_t *counts);

/* Runs the job for the call's reduction and sets *divisor, by which the loss
 * sum is divided for reduction mean (1 for sum and none; 0 when nothing is
 * left to average, and then the loss and gradient are 0):
 *   dense targets: N x spatial;
 *   labels, class_weight NULL: the number of pixels not ignored. The
 *     gradient is scaled for the common case, no pixel ignored, in the same
 *     pass, and rescaled afterwards if some were;
 *   labels, class_weight given: the sum of class_weight[label] over the
 *     pixels not ignored, from a label count before the pass. */
lk_status lk_softmax_run_reduced(const lk_call *call, lk_softmax_job *job,
                                 const double *class_weight, double *divisor);

/* The rules of a softmax loss that takes labels or per-class targets. */
typedef struct lk_softmax_rules {
    lk_softmax_rule label_f32, label_f64; /* targets are class indices */
    lk_softmax_rule dense_f32, dense_f64; /* targets are per-class distributions */
} lk_softmax_rules;

/* The whole compute of such a loss: the job from the call, the label or
 * dense rules (the dense ones read the distribution and write per-class
 * coefficients), lk_softmax_run_reduced without class weights, and
 * lk_finish_loss with its divisor. */
lk_status lk_softmax_label_or_dense_loss(const lk_call *call, const void *config,
                                         const lk_softmax_rules *rules, size_t activation_param,
                                         int ignore_param);

/* Runs an element-wise loss for the call: input 0 against target 1, mode from
 * the activation parameter, one class table per list parameter in
 * table_params (one value or one per class; empty means 1), mean over the
 * elements. */
lk_status lk_elementwise_loss(const lk_call *call, lk_elementwise_rule rule_f32,
                              lk_elementwise_rule rule_f64, const void *config,
                              size_t activation_param, const size_t *table_params, int n_tables);

/* lk_check_class_list(call, p, 1) for each parameter in params. */
lk_status lk_check_class_lists(const lk_call *call, const size_t *params, int n_params);

#endif
