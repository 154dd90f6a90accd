/*
 * A loss's inputs built from its registry entry: the explore and bench
 * commands describe a segmentation problem once (class probabilities and a
 * label map, a "scene") and every selected loss gets it in the form its input
 * slots ask for (include/losskit.h, lk_input_info):
 *
 *  - the prediction (slot 0, shape rule scores or any): the probabilities p
 *    as the loss's `activation` parameter wants them: log p (logits whose
 *    softmax is p) for softmax, log(p / (1 - p)) per channel for sigmoid, p
 *    itself for none. A loss without an activation parameter takes logits:
 *    log p for scores-shaped inputs, log(p / (1 - p)) for any-shaped ones.
 *    In a binary scene (C = 2: background, foreground) sigmoid and
 *    any-shaped predictions hold the foreground channel only (one channel).
 *  - class targets: the label map (int64, or the narrowest integer dtype the
 *    slot takes; label != 0 for a slot whose domain is binary, an object
 *    mask), or, for a slot that takes no integers, the one-hot target shaped
 *    like the prediction; like-first targets: the one-hot target shaped like
 *    the prediction (float when the slot takes floats);
 *  - scalar inputs: scene->scalar.
 * A slot the scene cannot fill makes the loss skipped, with the reason.
 */
#ifndef LK_CLI_SCENE_H
#define LK_CLI_SCENE_H

#include <stddef.h>
#include <stdint.h>

#include "losskit.h"
#include "selection.h"

#define LK_CLI_MAX_INPUTS 4

typedef struct lk_cli_scene {
    int ndim;                   /* 2 + number of spatial axes */
    int64_t shape[LK_MAX_DIMS]; /* (N, C, *spatial) of probs */
    const double *probs;        /* class probabilities in (0, 1), summing to 1 over C */
    const int64_t *labels;      /* (N, *spatial), each in [0, C) */
    int binary;                 /* C = 2: sigmoid and any-shaped inputs get channel 1 only */
    double scalar;              /* the value given to scalar input slots */
    lk_dtype dtype;             /* LK_F32 or LK_F64: predictions, float targets, gradients */
} lk_cli_scene;

typedef struct lk_cli_inputs {
    size_t count;
    lk_tensor inputs[LK_CLI_MAX_INPUTS];
    lk_tensor grads[LK_CLI_MAX_INPUTS]; /* data NULL for inputs without a gradient */
    lk_tensor loss;                     /* shaped as lk_loss_output_shape says */
    size_t bytes_read;                  /* all inputs */
    size_t bytes_written;               /* all gradients */
} lk_cli_inputs;

/* Allocates and fills the inputs, gradients and loss tensor of loss for the
 * scene. Returns 1, or 0 with the reason in why (out holds nothing then). */
int lk_cli_inputs_build(const lk_cli_loss *loss, const lk_cli_scene *scene, lk_cli_inputs *out,
                        char *why, size_t why_size);
void lk_cli_inputs_free(lk_cli_inputs *inputs);

/* Runs the loss with its gradients; lk_loss_compute's status. */
lk_status lk_cli_inputs_compute(const lk_cli_loss *loss, lk_cli_inputs *inputs, lk_context *ctx);

/* The sum of the elements of a float tensor (the loss itself for mean and
 * sum; what the gradient is of, for reduction none), and the Euclidean norm
 * of one. */
double lk_cli_tensor_sum(const lk_tensor *tensor);
double lk_cli_tensor_norm(const lk_tensor *tensor);

size_t lk_cli_tensor_numel(const lk_tensor *tensor);

#endif
