/*
 * The driver of softmax-family pixel losses (cross-entropy, focal, TopK, ...).
 *
 * A loss supplies a *rule*: a function that, given a block of pixels with
 * their probabilities p, log-probabilities log p and targets, writes for each
 * pixel j its loss and the coefficients of its gradient
 *
 *     d loss_j / d input[c, j] = a_j * p[c, j] - b_j * [c == label_j] - e[c, j]
 *
 * (a = coef_prob, b = coef_label, e = coef_class). With logits as input this
 * form covers every loss of p and log p: the softmax backward pass is fused
 * into it. With probabilities as input (activation none) a is usually 0 and
 * b, e hold d loss / d p directly.
 *
 * The driver does everything else, once for all such losses: fixed chunking
 * over pixels (N x spatial), gathering a block of pixels of the (N, C, *S)
 * layout into class-major buffers, label validation and ignore_index, the
 * softmax with max-subtraction (or validation of given probabilities),
 * masking of ignored pixels, the gradient write, per-pixel loss output and the
 * deterministic loss sum.
 */
#ifndef LK_CORE_SOFTMAX_H
#define LK_CORE_SOFTMAX_H

#include <stdint.h>

#include "core/labels.h"
#include "losskit.h"

enum { LK_INPUT_LOGITS = 0, LK_INPUT_PROBS = 1 };

/* Blocks never hold more pixels than this: rules may keep [len] temporaries
 * on the stack. */
#define LK_SOFTMAX_BLOCK 64

/* One block of pixels. Class-major buffers are [classes][stride]; pixel
 * buffers are [len]. Pointers are to the call's element type (float or
 * double): rules are typed (see core/typed.h). */
typedef struct lk_softmax_block {
    int64_t first_pixel; /* flat index (over N x spatial) of lane 0 */
    int len;             /* pixels in the block */
    int stride;          /* row length of the class-major buffers prob, logp, coef_class */
    int64_t source_stride; /* row length of input and target (the tensor's, or stride) */
    int classes;
    int mode;            /* LK_INPUT_LOGITS or LK_INPUT_PROBS */
    /* inputs of the rule */
    const void *input;      /* [C][source_stride] the prediction as given */
    const void *prob;       /* [C][stride] softmax(input), or input (probs mode);
                               NULL unless the job sets needs_distribution */
    const void *logp;       /* [C][stride] log_softmax(input), or clamped log(input);
                               NULL unless the job sets needs_distribution */
    const void *target;     /* [C][source_stride] dense targets, NULL in label mode */
    const int32_t *label;   /* [len] class of each pixel (0 where ignored), NULL in dense mode */
    const uint8_t *valid;   /* [len] 0 for ignored pixels, NULL in dense mode */
    const void *prob_label; /* [len] label mode: p of the labelled class */
    const void *logp_label; /* [len] label mode: log p of the labelled class */
    const void *rest_label; /* [len] label mode: 1 - p of the labelled class, accurate */
    /* outputs of the rule: loss, coef_prob and coef_label for every lane */
    void *loss;       /* [len] */
    void *coef_prob;  /* [len] a */
    void *coef_label; /* [len] b (label mode) */
    void *coef_class; /* [C][stride] e, zeroed before the rule; NULL unless the job uses it */
} lk_softmax_block;

typedef void (*lk_softmax_rule)(const lk_softmax_block *block, const void *config);

typedef struct lk_softmax_job {
    lk_softmax_rule rule_f32;
    lk_softmax_rule rule_f64;
    const void *config;      /* passed to the rule */
    int mode;                /* LK_INPUT_LOGITS or LK_INPUT_PROBS */
    const lk_tensor *input;  /* (N, C, *spatial) */
    const char *input_name;
    const lk_tensor *labels; /* label mode: (N, *spatial); else NULL */
    lk_label_rule label_rule;
    const lk_tensor *target; /* dense mode: like input; else NULL */
    const char *target_name;
    int uses_class_coef;     /* the rule writes coef_class */
    int needs_distribution;  /* the rule reads prob and logp of every class */
    double grad_scale;       /* multiplies every gradient (e.g. 1 / normalizer) */
    void *grad;              /* gradient w.r.t. input, or NULL */
    void *pixel_loss;        /* per-pixel losses out (input dtype, N x spatial), or NULL */
    double ignored_loss;     /* what pixel_loss holds at ignored pixels (usually 0) */
    double loss_sum;         /* out: sum of the per-pixel losses */
    int64_t valid_pixels;    /* out: pixels not ignored */
} lk_softmax_job;

/* Runs the job over every pixel. Reports invalid labels, probabilities or
 * targets (LK_EVALUE, with their index); a non-finite loss_sum is left for the
 * caller to report (lk_finish_loss). */
lk_status lk_softmax_run(lk_context *ctx, lk_softmax_job *job);

#endif
