/*
 * A --loss SPEC of `losskit eval`, turned into a computation on a prediction
 * and a target. This is the one place where the command line's loss text
 * meets the registry: today SPEC is one registry loss, "name" or
 * "name:key=value,..." (lk_params_parse's form); a weighted sum of such terms
 * ("dice + 0.5*focal:gamma=2") plugs in here, as a list of terms that
 * eval_loss_run adds up.
 */
#ifndef LK_CLI_EVAL_LOSS_H
#define LK_CLI_EVAL_LOSS_H

#include <stddef.h>

#include "losskit.h"

typedef struct eval_loss eval_loss;

/* What a loss may take as its inputs, all for one image (N = 1). */
typedef struct eval_inputs {
    const lk_tensor *scores;      /* (1, C, *spatial) float64 */
    int probabilities;            /* 1: scores are probabilities (or one-hot); 0: logits */
    const lk_tensor *labels;      /* (1, *spatial) int64: the target's label map */
    const lk_tensor *one_hot;     /* (1, C, *spatial) float64: the target per class, or NULL
                                     when it could not be formed (labels outside [0, C)) */
    const char *one_hot_problem;  /* why one_hot is NULL */
    const double *spacing;        /* one per spatial axis, or NULL (1 everywhere) */
} eval_inputs;

/* The values of one loss: one for reduction mean or sum, more for none. */
typedef struct eval_result {
    double *values;
    size_t count;
    lk_tensor shape;          /* ndim and shape of the values */
    char implied[256];        /* parameters eval chose for these inputs, e.g.
                                 "activation=none", applied before SPEC's own */
} eval_result;

/* Parses and checks SPEC (unknown loss, bad parameter: a message on stderr).
 * Returns an exit code (LK_EXIT_OK or LK_EXIT_USAGE). */
int eval_loss_parse(const char *spec, eval_loss **out);
void eval_loss_free(eval_loss *loss);
const char *eval_loss_spec(const eval_loss *loss);

/* Computes the loss in float64; on failure prints why and returns
 * LK_EXIT_FAILURE. result->values is malloc'ed (eval_result_free). */
int eval_loss_run(const eval_loss *loss, const eval_inputs *inputs, eval_result *result);
void eval_result_free(eval_result *result);

#endif
