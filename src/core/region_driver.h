/*
 * Inside the region driver (see region.h): the settings read from a loss's
 * parameters, the two passes over the pixels (region.c) and the finalize step
 * (region_finalize.c).
 */
#ifndef LK_CORE_REGION_DRIVER_H
#define LK_CORE_REGION_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "core/labels.h"
#include "core/region.h"

enum { LK_REGION_SOFTMAX = 0, LK_REGION_SIGMOID = 1, LK_REGION_PROBABILITIES = 2 };
enum { LK_ABSENT_KEEP = 0, LK_ABSENT_ZERO = 1, LK_ABSENT_SKIP = 2 };

/* Losses whose stats hold a confusion block keep at most this many classes
 * (the block grows as C^2). */
#define LK_REGION_MAX_CONFUSION_CLASSES 1024

/* The driver's parameters, read by name from the loss's parameter set;
 * a parameter the loss does not have takes the value in parentheses. */
typedef struct lk_region_settings {
    int activation;          /* LK_REGION_* (softmax) */
    int first_class;         /* 1 when include_background is false and C > 1 (0) */
    int batch;               /* (0) */
    int reduction;           /* LK_REDUCTION_* (mean) */
    int absent;              /* LK_ABSENT_* (keep) */
    const double *weight;    /* class-term losses: per kept class (NULL) */
    size_t weight_count;
    lk_label_rule label_rule;
    int32_t foreground;      /* the label value of channel 0 when C = 1 */
} lk_region_settings;

lk_region_settings lk_region_settings_from(const lk_params *params, int64_t classes);

/* The stats pass: stats[n][c][k] of every image of the call (N x C x K
 * doubles). With store_prob, p (after the activation) is also written into
 * the gradient buffer, for the backward pass to read instead of recomputing. */
lk_status lk_region_stats_pass(const lk_call *call, double *stats, int store_prob);

/* The backward pass: the gradient of input 0 from dstats[n][c][k]; with
 * prob_stored, p is read from the gradient buffer. */
lk_status lk_region_backward_pass(const lk_call *call, const double *dstats, int prob_stored);

/* Terms per group: classes kept for per-class losses, 1 for per-group ones. */
int64_t lk_region_terms(const lk_loss_desc *desc, const lk_region_settings *settings,
                        int64_t classes);

/* The loss from the whole batch's stats (images x C x K): values[group *
 * terms + term] (what reduction none returns), *reduced (the mean or sum),
 * and, if ds != NULL, d loss / d stats (of the sum of values for none).
 * A non-finite term is reported (LK_EVALUE) with its image and class. */
lk_status lk_region_finalize(const lk_loss_desc *desc, const lk_params *params, int64_t images,
                             int64_t classes, const double *stats, double *values,
                             double *reduced, double *ds);

#endif
