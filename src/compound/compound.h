/*
 * What the named compound losses share: a small set of registered losses
 * (core/terms.h) built for one call from the compound's own parameters,
 * and the per-class form of the target for the terms that read one value
 * per class and pixel (binary_cross_entropy, sigmoid_focal) while the
 * compound takes class indices.
 */
#ifndef LK_COMPOUND_COMPOUND_H
#define LK_COMPOUND_COMPOUND_H

#include "core/terms.h"

#define LK_TERM_SET_MAX 4

typedef struct lk_term_set {
    size_t count;
    lk_term terms[LK_TERM_SET_MAX];
    lk_params *params[LK_TERM_SET_MAX]; /* owned */
    char labels[LK_TERM_SET_MAX][96];   /* "loss 'dice_ce', term 2 (cross_entropy)" */
    lk_tensor per_class[2];                   /* input 0, and the target like input 0 */
    void *owned_target;                       /* the one-hot target, when built */
    double offset;                            /* a constant added to the sum */
} lk_term_set;

/* Appends the term weight x desc, whose parameters start from desc's
 * defaults and take every parameter of the call's loss with the same name
 * except those in skip (NULL-terminated, may be NULL). *params (may be NULL)
 * receives them, to set the others. */
lk_status lk_term_set_add(lk_term_set *set, const lk_call *call, const lk_loss_desc *desc,
                          double weight, const char *const *skip, lk_params **params);

/* Makes the last term read set->per_class: input 0 as given, and the target
 * as one value per class and pixel: a float target as given; labels as
 * their one-hot form in input 0's dtype (with one channel, the 0/1 mask:
 * label 1 is the foreground). With materialize = 0 only the tensor headers
 * are set (for the checks, which read no data); otherwise the one-hot
 * array is built, after every label is checked to be a class. */
lk_status lk_term_set_per_class_target(lk_term_set *set, const lk_call *call,
                                       int materialize);

/* Sets the list parameter key of a term to C values: class 0's, then the
 * same value for every other class (the background/foreground split of the
 * unified focal loss, say). */
lk_status lk_term_params_split(lk_params *params, const char *key, int64_t classes, double first,
                               double rest);

/* The terms' check (lk_terms_check) on the call's inputs. */
lk_status lk_term_set_check(const lk_term_set *set, const lk_call *call);

/* The weighted sum, plus the offset, into the call's loss and gradients. */
lk_status lk_term_set_run(const lk_term_set *set, const lk_call *call);

void lk_term_set_free(lk_term_set *set);

/* Builds a compound loss's terms for a call (materialize as in
 * lk_term_set_per_class_target). */
typedef lk_status (*lk_term_builder)(const lk_call *call, lk_term_set *set, int materialize);

/* The check and the compute of a compound loss made of the terms build
 * gives: build them (headers only for the check), then check or run them. */
lk_status lk_compound_loss_check(const lk_call *call, lk_term_builder build);
lk_status lk_compound_loss_compute(const lk_call *call, lk_term_builder build);

#endif
