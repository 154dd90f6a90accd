/*
 * Region losses: losses built on per-class sums over the pixels (Dice, IoU,
 * Tversky, GDL, ...), and the driver that runs them in the three steps of the
 * statistics API of include/losskit.h: stats, finalize, backward.
 *
 * Every such loss reads the same sums, per image n and class c, over the
 * pixels not ignored (p: probability of class c after the activation; g: the
 * target, one-hot of the labels or dense):
 *
 *     stats[n][c][k], k = LK_STAT_PG, _P, _G, _PP, _GG, _EEG, _EE, _N
 *
 * and, for losses that declare `confusion`, the soft confusion matrix
 * stats[n][c][LK_STATS + c'] = sum of g_c p_c'. A loss declares the sums it
 * reads (a function of its parameters) and writes one function:
 *
 *   class_term  for losses made of one term per class (Dice, Tversky, ...):
 *               T_c from the class's sums s[k], adding upstream * dT_c/ds[k]
 *               into ds;
 *   group_term  for losses made of one term per group (GDL, generalized
 *               Wasserstein Dice, log-cosh Dice): T from the group's
 *               [C][K] sums, adding upstream * dT/dstats into ds.
 *
 * A group is one image, or with batch=true the whole batch (the images' sums
 * added in image order). The driver does everything else, once for all region
 * losses: the activation (softmax / sigmoid / none) and its backward pass,
 * labels or dense targets, ignore_index, include_background, per-class
 * weights, classes absent from the target, the reduction (mean over terms,
 * sum, or none: one value per term) and the parallel, deterministic sums.
 *
 * Parameters the driver reads by name, where the loss has them: activation
 * (softmax|sigmoid|none, by word), include_background, batch, reduction,
 * ignore_index, weight (class-term losses: one weight per class kept) and
 * absent_classes (class-term losses: keep|zero|skip).
 *
 * Labels with a single channel (C = 1, sigmoid or probabilities) are a binary
 * mask: 1 is the foreground that channel predicts, 0 the background.
 */
#ifndef LK_CORE_REGION_H
#define LK_CORE_REGION_H

#include <stdint.h>

#include "core/loss.h"

#define LK_STAT_BIT(k) (1u << (k))

/* What a term function sees of its group. */
typedef struct lk_region_group {
    const lk_params *params;
    int64_t classes;  /* C */
    int64_t row;      /* K: the sums of one class, stats[c * row + k] */
    int first_class;  /* 0, or 1 when include_background is false */
} lk_region_group;

/* T_c from s = the class's sums; if ds != NULL, adds upstream * dT_c/ds. */
typedef double (*lk_class_term_fn)(const lk_region_group *group, int64_t c, const double *s,
                                   double upstream, double *ds);

/* T from the group's sums [C][K]; if ds != NULL, adds upstream * dT/dstats. */
typedef double (*lk_group_term_fn)(const lk_region_group *group, const double *stats,
                                   double upstream, double *ds);

/* LK_STAT_BIT of every sum the loss reads with these parameters. */
typedef unsigned (*lk_region_sums_fn)(const lk_params *params);

typedef struct lk_region_ops {
    unsigned fixed_sums;         /* LK_STAT_BIT of every sum the loss reads, if they are fixed */
    lk_region_sums_fn sums;      /* else: the sums for its parameters (Dice's squared_pred) */
    int confusion;               /* reads the confusion block (K = LK_STATS + C) */
    lk_class_term_fn class_term; /* per-class losses, else NULL */
    lk_group_term_fn group_term; /* per-group losses, else NULL */
} lk_region_ops;

/* The compute function of every region loss: stats, finalize, backward. */
lk_status lk_region_compute(const lk_call *call);

/* The validation every region entry point runs on a call's geometry (its
 * batch and classes; inputs may be NULL): the activation against the class
 * count, the weights' length, then the loss's own check. */
lk_status lk_region_check(const lk_call *call);

/* The loss tensor's shape (ndim, shape) for N images of C classes: () for
 * mean and sum; for none (N, C_kept) or (C_kept,) with batch=true for
 * per-class losses, (N,) or () for per-group ones. */
void lk_region_output_shape(const lk_loss_desc *desc, const lk_params *params, int64_t images,
                            int64_t classes, lk_tensor *out);

/* K, the sums per class of the loss's stats rows. */
int64_t lk_region_row_length(const lk_loss_desc *desc, int64_t classes);

/* ------------------------------------------------------------ shared parameters */

#define LK_PARAM_REGION_ACTIVATION                                                         \
    {"activation", LK_PARAM_CHOICE, "softmax", 0, 0, 0, "softmax|sigmoid|none",            \
     "softmax: logits, softmax over the classes; sigmoid: logits, a sigmoid per class "    \
     "(multi-label, or one channel); none: probabilities (MONAI's default)"}

#define LK_PARAM_INCLUDE_BACKGROUND                                                        \
    {"include_background", LK_PARAM_BOOL, "true", 0, 0, 0, NULL,                           \
     "false leaves class 0 out of the loss (MONAI's include_background; ignored with one " \
     "channel)"}

#define LK_PARAM_BATCH                                                                     \
    {"batch", LK_PARAM_BOOL, "false", 0, 0, 0, NULL,                                       \
     "true: one sum over the whole batch per class; false: per image, then averaged "      \
     "(MONAI's batch)"}

#define LK_PARAM_SMOOTH_NR(default_text)                                                   \
    {"smooth_nr", LK_PARAM_FLOAT, default_text, 0, INFINITY, 0, NULL,                      \
     "added to the numerator (MONAI's smooth_nr)"}

#define LK_PARAM_SMOOTH_DR(default_text)                                                   \
    {"smooth_dr", LK_PARAM_FLOAT, default_text, 0, INFINITY, 0, NULL,                      \
     "added to the denominator; > 0 keeps a class empty in both prediction and target "    \
     "finite (MONAI's smooth_dr)"}

#define LK_PARAM_SQUARED_PRED                                                              \
    {"squared_pred", LK_PARAM_BOOL, "false", 0, 0, 0, NULL,                                \
     "true: sums of p^2 and g^2 in the denominator (the V-Net form, MONAI's squared_pred)"}

#define LK_PARAM_REGION_WEIGHT                                                             \
    LK_PARAM_CLASS_WEIGHT("per-class weights multiplying each class's term: one value, or " \
                          "one per class kept ([] = 1; MONAI's weight)")

#define LK_PARAM_ABSENT_CLASSES                                                            \
    {"absent_classes", LK_PARAM_CHOICE, "keep", 0, 0, 0, "keep|zero|skip",                 \
     "a class absent from a group's target: keep its term (MONAI); zero: its term is 0 "   \
     "but counts in the mean (smp); skip: left out of the mean (kornia)"}

#define LK_PARAM_REGION_REDUCTION                                                          \
    {"reduction", LK_PARAM_CHOICE, "mean", 0, 0, 0, "mean|sum|none",                       \
     "mean: the mean of the terms (classes x images, or classes with batch=true); sum: "   \
     "their sum; none: one value per term"}

/* The parameters every per-class region loss has, as designated initializers
 * of its parameter table: the file's enum names their positions P_*. */
#define LK_REGION_CLASS_PARAMS                                                             \
    [P_INCLUDE_BACKGROUND] = LK_PARAM_INCLUDE_BACKGROUND,                                  \
    [P_ACTIVATION] = LK_PARAM_REGION_ACTIVATION, [P_BATCH] = LK_PARAM_BATCH,               \
    [P_WEIGHT] = LK_PARAM_REGION_WEIGHT, [P_IGNORE_INDEX] = LK_PARAM_IGNORE_INDEX,         \
    [P_ABSENT_CLASSES] = LK_PARAM_ABSENT_CLASSES, [P_REDUCTION] = LK_PARAM_REGION_REDUCTION

/* The fields of an lk_loss_desc that make it a region loss run by the driver. */
#define LK_REGION_LOSS(ops) .output = LK_OUTPUT_REGION, .compute = lk_region_compute, .region = &(ops)

/* The region losses' target slot (their prediction is LK_INPUT_SCORES). */
#define LK_INPUT_REGION_TARGET                                                             \
    {"target",                                                                             \
     "class indices (N, *spatial) or (N, 1, *spatial) (a 0/1 mask with one channel); or "  \
     "per-class targets in [0, 1] shaped like input",                                      \
     LK_DTYPES_LABEL | LK_DTYPES_FLOAT, LK_SHAPE_CLASS_TARGET, LK_DOMAIN_CLASS_TARGET, 0}

#endif
