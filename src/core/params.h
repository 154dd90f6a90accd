/*
 * Parameter sets: typed values for one loss's parameters, read by index in
 * the loss's own parameter table (each loss file names its indices with an
 * enum), and the definitions of parameters that many losses share.
 */
#ifndef LK_CORE_PARAMS_H
#define LK_CORE_PARAMS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "losskit.h"

/* Readers for the loss implementations; index is the parameter's position in
 * the loss's table, type as declared there. */
double lk_param_float(const lk_params *params, size_t index);
int64_t lk_param_int(const lk_params *params, size_t index);
int lk_param_bool(const lk_params *params, size_t index);
int lk_param_choice(const lk_params *params, size_t index); /* position in the choices */
int lk_param_choice_is(const lk_params *params, size_t index, const char *word);
const double *lk_param_list(const lk_params *params, size_t index, size_t *count);

const lk_loss_desc *lk_params_desc(const lk_params *params);

/* Position of the parameter called name in desc's table, or -1. */
int lk_param_index(const lk_loss_desc *desc, const char *name);

#define LK_RANGE_TEXT 96

/* ---------------------------------------------------------------------
 * Shared parameter definitions (initializers for lk_param_info tables)
 * --------------------------------------------------------------------- */

/* Positions in "mean|sum|none". */
enum { LK_REDUCTION_MEAN = 0, LK_REDUCTION_SUM = 1, LK_REDUCTION_NONE = 2 };
/* Positions in "softmax|none" and "sigmoid|none". */
enum { LK_ACTIVATION_APPLY = 0, LK_ACTIVATION_NONE = 1 };

#define LK_INT_LIMIT 9007199254740992.0 /* 2^53: integers exact in a double */

#define LK_PARAM_REDUCTION(default_text, mean_doc)                                         \
    {"reduction", LK_PARAM_CHOICE, default_text, 0, 0, 0, "mean|sum|none",                 \
     "mean: " mean_doc "; sum: the sum; none: one value per pixel"}

#define LK_PARAM_IGNORE_INDEX                                                              \
    {"ignore_index", LK_PARAM_INT, "-100", -LK_INT_LIMIT, LK_INT_LIMIT, 0, NULL,           \
     "label value whose pixels add nothing to the loss, the mean's divisor or the "        \
     "gradient (PyTorch's default -100)"}

#define LK_PARAM_CLASS_WEIGHT(doc)                                                         \
    {"weight", LK_PARAM_FLOAT_LIST, "[]", 0, INFINITY, 0, NULL, doc}

#define LK_PARAM_SOFTMAX_ACTIVATION                                                        \
    {"activation", LK_PARAM_CHOICE, "softmax", 0, 0, 0, "softmax|none",                    \
     "softmax: input holds logits, softmax over the class axis is applied inside; "        \
     "none: input holds probabilities"}

#define LK_PARAM_SIGMOID_ACTIVATION                                                        \
    {"activation", LK_PARAM_CHOICE, "sigmoid", 0, 0, 0, "sigmoid|none",                    \
     "sigmoid: input holds logits, a sigmoid per element is applied inside; "              \
     "none: input holds probabilities"}

#endif
