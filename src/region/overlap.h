/*
 * The overlap indices the region losses are built on, as ratios of linear
 * forms in one class's (or group's) sums s[LK_STAT_*]:
 *
 *   index = (num . s + num0) / (den . s + den0)
 *
 * Dice, Jaccard and Tversky are such ratios, so one function gives each its
 * value and its exact derivative, d index / d s_k = (num_k - index den_k) / den.
 */
#ifndef LK_REGION_OVERLAP_H
#define LK_REGION_OVERLAP_H

#include "losskit.h"

typedef struct lk_sum_ratio {
    double num[LK_STATS], den[LK_STATS]; /* coefficients of the sums */
    double num0, den0;                    /* constant parts: the smoothing */
} lk_sum_ratio;

/* The ratio at s; if ds != NULL, adds scale * d ratio / d s into ds. */
double lk_sum_ratio_value(const lk_sum_ratio *ratio, const double *s, double scale, double *ds);

/* (2 I + smooth_nr) / (P + G + smooth_dr), with I = sum p g and P, G the sums
 * of p and g, or of their squares when squared (the V-Net form). */
lk_sum_ratio lk_dice_ratio(int squared, double smooth_nr, double smooth_dr);

/* (I + smooth_nr) / (P + G - I + smooth_dr), P and G as above. */
lk_sum_ratio lk_jaccard_ratio(int squared, double smooth_nr, double smooth_dr);

/* (I + smooth_nr) / (I + alpha FP + beta FN + smooth_dr), FP = P - I and
 * FN = G - I: alpha weighs false positives, beta false negatives. */
lk_sum_ratio lk_tversky_ratio(double alpha, double beta, double smooth_nr, double smooth_dr);

#endif
