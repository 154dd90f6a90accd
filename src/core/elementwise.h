/*
 * The driver of element-wise losses (binary cross-entropy, sigmoid focal):
 * every element of the input has its own loss, independent of the others,
 * and the class of an element is its index on axis 1.
 *
 * A loss supplies a rule that, for a block of elements, writes each element's
 * loss and d loss / d input. The driver does the rest: fixed chunking, target
 * conversion (integer masks become reals) and validation (targets and given
 * probabilities must lie in [0, 1]), per-class parameters expanded to one value
 * per element, the gradient scale, per-element loss output, the deterministic
 * loss sum. Regression losses (smooth L1 family) take real-valued targets
 * (real_targets); losses of one input (GAN losses of the discriminator's
 * output) take none. Their input mode is LK_INPUT_LOGITS: any real value.
 */
#ifndef LK_CORE_ELEMENTWISE_H
#define LK_CORE_ELEMENTWISE_H

#include <stdint.h>

#include "losskit.h"

#define LK_ELEMENTWISE_BLOCK 256
#define LK_MAX_CLASS_TABLES 4

/* One block of elements; [len] arrays of the call's element type. */
typedef struct lk_elementwise_block {
    int64_t first; /* flat index of lane 0 */
    int len;
    int mode;                /* LK_INPUT_LOGITS or LK_INPUT_PROBS (core/softmax.h) */
    const void *input;       /* the prediction as given */
    const void *target;      /* targets in [0, 1] (any real with real_targets; NULL
                                without a target) */
    const void *class_value[LK_MAX_CLASS_TABLES]; /* per-class parameters, per element */
    void *loss;              /* out: loss of each element */
    void *grad;              /* out: d loss / d input of each element */
} lk_elementwise_block;

typedef void (*lk_elementwise_rule)(const lk_elementwise_block *block, const void *config);

typedef struct lk_elementwise_job {
    lk_elementwise_rule rule_f32;
    lk_elementwise_rule rule_f64;
    const void *config;
    int mode;
    const lk_tensor *input; /* any shape; axis 1 (if any) is the class */
    const char *input_name;
    const lk_tensor *target; /* shaped like input, float or integer; NULL: no target */
    const char *target_name;
    int real_targets;        /* 1: targets are any real (regression), not checked
                                against [0, 1]; non-finite ones reach the loss sum */
    const double *class_table[LK_MAX_CLASS_TABLES]; /* C values each; NULL: all 1 */
    int n_tables;
    double grad_scale;
    void *grad;         /* gradient w.r.t. input, or NULL */
    void *element_loss; /* per-element losses out (input dtype), or NULL */
    double loss_sum;    /* out */
} lk_elementwise_job;

lk_status lk_elementwise_run(lk_context *ctx, lk_elementwise_job *job);

#endif
