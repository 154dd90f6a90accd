/*
 * Test cases generated from the registry: valid inputs for any loss, built
 * from its input slots (shape rule, value domain, dtypes) and its parameters
 * (activation, ignore_index). The sweeps use them so that a new loss is tested
 * without new test code.
 */
#ifndef LK_TEST_CASES_H
#define LK_TEST_CASES_H

#include "check.h"
#include "losskit.h"

typedef struct lk_case_options {
    lk_dtype dtype;          /* of the prediction (and of float targets) */
    int ndim;                /* of input 0: (N, C, *spatial) */
    int64_t shape[5];
    lk_dtype target_dtype;   /* of input 1 */
    int extreme;             /* some logits near +-80 */
    int all_ignored;         /* every label is ignore_index */
    int single_class;        /* every label is 0: the other classes are absent */
    unsigned long long seed;
} lk_case_options;

typedef struct lk_case {
    const lk_loss_desc *desc;
    lk_params *params;
    size_t n_inputs;
    lk_tensor inputs[8];
    lk_tensor loss;
    lk_tensor grads[8]; /* data NULL for inputs without gradient */
    lk_tensor upstream; /* data NULL: lk_loss_compute; else lk_loss_compute_upstream */
} lk_case;

/* Builds a case; returns 0 when the options do not apply to this loss (e.g. a
 * target dtype its slot does not accept), 1 when built. spec: parameters. */
int lk_case_make(const lk_loss_desc *desc, const char *spec, const lk_case_options *options,
                 lk_case *out);
void lk_case_free(lk_case *c);
lk_case lk_case_clone(const lk_case *c); /* deep copy of inputs and outputs */

/* Runs the loss; with_grads 0 skips the gradients. */
lk_status lk_case_run(lk_case *c, lk_context *ctx, int with_grads);
/* Gives the case an upstream tensor (float64, the loss's shape) of values in
 * [-1, 2], for a loss that takes one. */
void lk_case_weigh(lk_case *c, unsigned long long seed);
/* The sum of the loss tensor's elements (weighed by the upstream tensor, if any). */
double lk_case_total(const lk_case *c);

double lk_tensor_get(const lk_tensor *t, int64_t i);
void lk_tensor_set(lk_tensor *t, int64_t i, double value);
int64_t lk_tensor_numel(const lk_tensor *t);
size_t lk_tensor_bytes(const lk_tensor *t);
/* Whether a and b hold the same bytes (b read as a's size). */
int lk_tensor_same_bits(const lk_tensor *a, const lk_tensor *b);

/* The integer value of a parameter of the case's loss, if it has it. */
int lk_case_int_param(const lk_case *c, const char *name, long long *value);
/* The class count of the case's input 0: axis 1, or axis 2 of a (T, N, C) sequence. */
int64_t lk_case_classes(const lk_case *c);
/* Whether the loss's activation parameter is set to "none". */
int lk_case_takes_probabilities(const lk_case *c);

/* A short description for failure messages: "focal[gamma=2] f64 (2, 3, 5)". */
const char *lk_case_label(const lk_case *c, const char *spec);

#endif
