/*
 * Class-index label maps: loading a block of labels as int32 class indices
 * with an ignore mask, and the per-class pixel counts (which validate every
 * label on the way and give the normalizers of weighted means).
 */
#ifndef LK_CORE_LABELS_H
#define LK_CORE_LABELS_H

#include <stdint.h>

#include "losskit.h"

typedef struct lk_label_rule {
    int64_t classes;      /* valid labels are [0, classes) */
    int has_ignore;       /* labels equal to ignore_index are ignored */
    int64_t ignore_index;
} lk_label_rule;

/* Loads labels[first, first + len): class[j] and valid[j] (0 for ignored
 * pixels, whose class[j] is set to 0). Returns -1, or the lane of the first
 * label that is neither a class nor ignore_index. */
int lk_load_labels(const lk_tensor *labels, int64_t first, int len, const lk_label_rule *rule,
                   int32_t *class_index, uint8_t *valid);

/* counts[c] = number of pixels labelled c, for c < rule->classes, over the
 * n_pixels labels. Reports the first invalid label as LK_EVALUE naming
 * `name`. */
lk_status lk_label_counts(lk_context *ctx, const lk_tensor *labels, const char *name,
                          const lk_label_rule *rule, int64_t *counts);

/* Validates every label (the LK_EVALUE of lk_label_counts) without keeping
 * the counts: for losses that read the labels later, pixel by pixel. */
lk_status lk_check_labels(lk_context *ctx, const lk_tensor *labels, const char *name,
                          const lk_label_rule *rule);

/* The LK_EVALUE message for an invalid label at flat index `index`. */
lk_status lk_label_error(const lk_tensor *labels, const char *name, const lk_label_rule *rule,
                         int64_t index);

#endif
