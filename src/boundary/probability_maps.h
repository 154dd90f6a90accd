/*
 * Per-class probability maps for the boundary losses that run their own
 * kernels over whole images (hausdorff_erosion, boundary_dou): they need each
 * (image, class) map in one piece, with its neighbours, which no pixel-block
 * driver gives.
 *
 * lk_probability_maps_prepare runs one parallel pass over fixed chunks of each
 * image: it applies the activation (softmax over the classes, a sigmoid per
 * class, or none: the input holds probabilities, checked to lie in [0, 1]),
 * checks logits finite, and loads the labels as the channel each pixel's
 * target is 1 in (-1: none). The loss then reads prob and label, writes
 * d loss / d p into upstream, and lk_probability_maps_backward turns that into the
 * gradient of the input (through the activation).
 *
 * With one channel the labels are a 0/1 mask and the channel predicts label
 * 1, as in the region driver (core/region.h).
 */
#ifndef LK_BOUNDARY_PROBABILITY_MAPS_H
#define LK_BOUNDARY_PROBABILITY_MAPS_H

#include <stdint.h>

#include "core/chunks.h"
#include "core/labels.h"
#include "core/loss.h"

/* Positions in the choices "none|softmax|sigmoid". */
enum { LK_MAPS_NONE = 0, LK_MAPS_SOFTMAX = 1, LK_MAPS_SIGMOID = 2 };

typedef struct lk_probability_maps {
    const lk_call *call;
    int activation;                 /* LK_MAPS_* */
    int64_t images, classes, spatial;
    int64_t depth, height, width;   /* of each image; depth 1 for 2-D images */
    int volume;                     /* 3-D: depth is a spatial axis with neighbours */
    lk_label_rule label_rule;
    int32_t *label;                 /* [N][S] the channel whose target is 1, or -1 */
    const void *prob;               /* [N][C][S] p, in the input's dtype */
    void *activated;                /* where the activation writes p (NULL for none) */
    void *upstream;                 /* [N][C][S] d loss / d p (NULL: no gradient wanted) */
    void *prob_scratch, *upstream_scratch; /* what the maps own */
    lk_chunk_error *errors;         /* one per chunk */
} lk_probability_maps;

/* The activation's choices, as a parameter (default_text: its default). */
#define LK_PARAM_MAPS_ACTIVATION(default_text, doc)                                        \
    {"activation", LK_PARAM_CHOICE, default_text, 0, 0, 0, "none|softmax|sigmoid", doc}

/* The input slots of these losses: scores of 2-D images or 3-D volumes, and labels. */
#define LK_INPUT_MAP_SCORES(doc) {"input", doc, LK_DTYPES_FLOAT, LK_SHAPE_SCORES, LK_DOMAIN_SCORES, 1}
#define LK_INPUT_MAP_LABELS                                                                \
    {"target", "class indices (N, *spatial) or (N, 1, *spatial); a 0/1 mask with one channel", \
     LK_DTYPES_LABEL, LK_SHAPE_CLASS_TARGET, LK_DOMAIN_CLASS_TARGET, 0}

/* The check of these losses: 2-D images or 3-D volumes (LK_ESHAPE), and
 * activation=softmax with 2 or more classes (LK_EPARAM). */
lk_status lk_probability_maps_check(const lk_call *call, int activation);

/* Fills maps for the call (input 0: scores, input 1: labels). On failure the
 * maps are freed and the first bad value is reported by its index. */
lk_status lk_probability_maps_prepare(lk_probability_maps *maps, const lk_call *call, int activation);

/* The gradient of input 0 from upstream (a no-op for activation none: the
 * loss wrote into the gradient itself). */
void lk_probability_maps_backward(lk_probability_maps *maps);

void lk_probability_maps_free(lk_probability_maps *maps);

/* The typed pointers of one (image, class) map. */
static inline int64_t lk_probability_map_offset(const lk_probability_maps *maps, int64_t image, int64_t c)
{
    return (image * maps->classes + c) * maps->spatial;
}

#endif
