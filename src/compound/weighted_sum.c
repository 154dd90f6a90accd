/*
 * The public weighted sums of losses (include/losskit.h, "Weighted sums of
 * losses"): the spec parser, the check that every term takes the same
 * inputs, and lk_compound_compute, which runs the terms with
 * lk_terms_compute (core/terms.h), as the named compound losses do.
 *
 *   "dice:smooth_nr=1 + 0.5*focal:gamma=2"
 *
 * A term runs from the start of the spec, or just after a separating '+',
 * to the next separating '+': one outside brackets and not the sign of an
 * exponent (a '+' after a digit and an 'e', before a digit: "1e+5").
 * Positions in messages are 0-based character offsets into the spec.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/terms.h"

struct lk_compound {
    char *spec;
    size_t n_terms;
    lk_term *terms;
    lk_params **params; /* owned, one per term */
    char **labels;      /* owned: how errors name each term */
    size_t n_inputs;
    lk_input_info inputs[LK_MAX_INPUTS];
};

/* How much of the spec messages quote. */
#define SPEC_QUOTE 160

/* ------------------------------------------------------------ splitting */

static int exponent_sign(const char *spec, size_t start, size_t at)
{
    return at >= start + 2 && (spec[at - 1] == 'e' || spec[at - 1] == 'E') &&
           (isdigit((unsigned char)spec[at - 2]) || spec[at - 2] == '.') &&
           isdigit((unsigned char)spec[at + 1]);
}

/* The end of the term that starts at `start`: its separating '+' or the end. */
static size_t term_end(const char *spec, size_t start)
{
    int depth = 0;
    size_t at = start;
    for (; spec[at]; at++) {
        if (spec[at] == '[') depth++;
        if (spec[at] == ']' && depth > 0) depth--;
        if (spec[at] == '+' && depth == 0 && !exponent_sign(spec, start, at)) break;
    }
    return at;
}

/* [*begin, *end) without the spaces at both ends. */
static void trim_span(const char *text, size_t *begin, size_t *end)
{
    while (*begin < *end && isspace((unsigned char)text[*begin])) (*begin)++;
    while (*end > *begin && isspace((unsigned char)text[*end - 1])) (*end)--;
}

static char *copy_span(const char *text, size_t begin, size_t end)
{
    char *copy = malloc(end - begin + 1);
    if (!copy) return NULL;
    memcpy(copy, text + begin, end - begin);
    copy[end - begin] = '\0';
    return copy;
}

/* ------------------------------------------------------------ one term */

/* Puts "spec '...': term k at position p" in front of the current error. */
static lk_status term_failure(lk_status status, const char *spec, size_t k, size_t position)
{
    char prefix[SPEC_QUOTE + 96];
    snprintf(prefix, sizeof prefix, "spec '%.*s%s': term %zu at position %zu", SPEC_QUOTE, spec,
             strlen(spec) > SPEC_QUOTE ? "..." : "", k + 1, position);
    return lk_fail_prefix(status, prefix);
}

static lk_status parse_weight(const char *spec, size_t begin, size_t end, double *weight)
{
    trim_span(spec, &begin, &end);
    char *text = copy_span(spec, begin, end);
    if (!text) return lk_fail(LK_ENOMEM, "out of memory parsing a spec");
    char *stop = NULL;
    errno = 0;
    double value = strtod(text, &stop);
    int bad = begin == end || stop == text || *stop != '\0' || errno == ERANGE || !isfinite(value);
    lk_status status = bad ? lk_fail(LK_EPARAM, "bad weight '%s': expected a finite number before "
                                                "'*', as in 0.5*focal",
                                     text)
                           : LK_OK;
    free(text);
    *weight = value;
    return status;
}

static int valid_name(const char *name)
{
    if (!*name) return 0;
    for (const char *c = name; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '_') return 0;
    return 1;
}

static lk_status refuse_reduction_none(const lk_params *params)
{
    char reduction[16];
    if (lk_params_get(params, "reduction", reduction, sizeof reduction) < 0) return LK_OK;
    if (strcmp(reduction, "none") != 0) return LK_OK;
    return lk_fail(LK_EPARAM, "reduction=none: a term of a sum must reduce to a scalar (mean or "
                              "sum); the terms' per-item losses have different shapes");
}

/* Parses spec[begin, end) (one term, not yet trimmed) into term k. */
static lk_status parse_term(lk_compound *sum, size_t k, size_t begin, size_t end)
{
    const char *spec = sum->spec;
    trim_span(spec, &begin, &end);
    if (begin == end)
        return lk_fail(LK_EPARAM, "empty term (a '+' with no loss %s it)", k == 0 ? "before" : "after");
    size_t name_begin = begin, colon = begin;
    while (colon < end && spec[colon] != ':') colon++;
    const char *star = memchr(spec + begin, '*', colon - begin);
    double weight = 1;
    if (star) {
        lk_status status = parse_weight(spec, begin, (size_t)(star - spec), &weight);
        if (status != LK_OK) return status;
        name_begin = (size_t)(star - spec) + 1;
    }
    size_t name_end = colon;
    trim_span(spec, &name_begin, &name_end);
    char *name = copy_span(spec, name_begin, name_end);
    if (!name) return lk_fail(LK_ENOMEM, "out of memory parsing a spec");
    lk_status status = LK_OK;
    const lk_loss_desc *desc = NULL;
    if (!valid_name(name))
        status = lk_fail(LK_EPARAM, "expected a loss name (letters, digits, '_')%s, got '%s'",
                         star ? " after '*'" : "", name);
    else if (!(desc = lk_loss_find(name)))
        status = LK_ENOTFOUND;
    free(name);
    lk_params *params = NULL;
    if (status == LK_OK) status = lk_params_create(desc, &params);
    sum->params[k] = params;
    if (status == LK_OK && colon < end) {
        char *text = copy_span(spec, colon + 1, end);
        status = text ? lk_params_parse(params, text)
                      : lk_fail(LK_ENOMEM, "out of memory parsing a spec");
        free(text);
    }
    if (status == LK_OK) status = refuse_reduction_none(params);
    sum->terms[k] = (lk_term){desc, params, weight, NULL, NULL};
    return status;
}

/* ------------------------------------------------------------ inputs */

/* Term k takes the inputs the terms before it agreed on; narrows them. */
static lk_status agree_on_inputs(lk_compound *sum, size_t k)
{
    const lk_loss_desc *first = sum->terms[0].desc, *desc = sum->terms[k].desc;
    if (desc->n_inputs != sum->n_inputs)
        return lk_fail(LK_EPARAM,
                       "loss '%s' takes %zu inputs but '%s' (term 1) takes %zu: the terms of a "
                       "sum must take the same inputs",
                       desc->name, desc->n_inputs, first->name, sum->n_inputs);
    for (size_t i = 0; i < sum->n_inputs; i++) {
        lk_input_info *shared = &sum->inputs[i];
        const lk_input_info *own = &desc->inputs[i];
        if (own->shape != shared->shape || !(own->dtypes & shared->dtypes))
            return lk_fail(LK_EPARAM,
                           "loss '%s' takes input %zu ('%s') as %s, '%s' (term 1) as %s%s: the "
                           "terms of a sum must take the same inputs",
                           desc->name, i, own->name, lk_shape_rule_text(own->shape), first->name,
                           lk_shape_rule_text(shared->shape),
                           own->shape == shared->shape ? ", with no dtype in common" : "");
        shared->dtypes &= own->dtypes;
        shared->differentiable = shared->differentiable && own->differentiable;
    }
    return LK_OK;
}

static lk_status label_term(lk_compound *sum, size_t k, size_t position)
{
    size_t size = strlen(sum->terms[k].desc->name) + SPEC_QUOTE + 64;
    sum->labels[k] = malloc(size);
    if (!sum->labels[k]) return lk_fail(LK_ENOMEM, "out of memory parsing a spec");
    snprintf(sum->labels[k], size, "term %zu (%s) at position %zu of '%.*s%s'", k + 1,
             sum->terms[k].desc->name, position, SPEC_QUOTE, sum->spec,
             strlen(sum->spec) > SPEC_QUOTE ? "..." : "");
    sum->terms[k].label = sum->labels[k];
    return LK_OK;
}

/* ------------------------------------------------------------ public API */

static size_t count_terms(const char *spec)
{
    size_t count = 1;
    for (size_t at = term_end(spec, 0); spec[at]; at = term_end(spec, at + 1)) count++;
    return count;
}

static lk_status allocate(lk_compound *sum, const char *spec)
{
    sum->spec = copy_span(spec, 0, strlen(spec));
    sum->n_terms = sum->spec ? count_terms(spec) : 0;
    sum->terms = calloc(sum->n_terms, sizeof *sum->terms);
    sum->params = calloc(sum->n_terms, sizeof *sum->params);
    sum->labels = calloc(sum->n_terms, sizeof *sum->labels);
    if (!sum->spec || !sum->terms || !sum->params || !sum->labels)
        return lk_fail(LK_ENOMEM, "out of memory parsing a spec");
    return LK_OK;
}

static lk_status parse_terms(lk_compound *sum)
{
    size_t begin = 0;
    for (size_t k = 0; k < sum->n_terms; k++) {
        size_t end = term_end(sum->spec, begin), position = begin;
        while (isspace((unsigned char)sum->spec[position])) position++;
        lk_status status = parse_term(sum, k, begin, end);
        if (status == LK_OK && k == 0) {
            sum->n_inputs = sum->terms[0].desc->n_inputs;
            memcpy(sum->inputs, sum->terms[0].desc->inputs, sum->n_inputs * sizeof sum->inputs[0]);
        }
        if (status == LK_OK && k > 0) status = agree_on_inputs(sum, k);
        if (status == LK_OK) status = label_term(sum, k, position);
        if (status != LK_OK) return term_failure(status, sum->spec, k, position);
        begin = end + 1;
    }
    return LK_OK;
}

lk_status lk_compound_parse(const char *spec, lk_compound **out)
{
    if (!out) return lk_fail(LK_EINVAL, "out is NULL");
    *out = NULL;
    if (!spec) return lk_fail(LK_EINVAL, "spec is NULL");
    lk_compound *sum = calloc(1, sizeof *sum);
    if (!sum) return lk_fail(LK_ENOMEM, "out of memory parsing a spec");
    lk_status status = allocate(sum, spec);
    if (status == LK_OK) status = parse_terms(sum);
    if (status != LK_OK) {
        lk_compound_destroy(sum);
        return status;
    }
    *out = sum;
    return LK_OK;
}

void lk_compound_destroy(lk_compound *compound)
{
    if (!compound) return;
    for (size_t k = 0; k < compound->n_terms; k++) {
        if (compound->params) lk_params_destroy(compound->params[k]);
        if (compound->labels) free(compound->labels[k]);
    }
    free(compound->params);
    free(compound->labels);
    free(compound->terms);
    free(compound->spec);
    free(compound);
}

size_t lk_compound_term_count(const lk_compound *compound)
{
    return compound ? compound->n_terms : 0;
}

const lk_loss_desc *lk_compound_term_loss(const lk_compound *compound, size_t i)
{
    return compound && i < compound->n_terms ? compound->terms[i].desc : NULL;
}

const lk_params *lk_compound_term_params(const lk_compound *compound, size_t i)
{
    return compound && i < compound->n_terms ? compound->terms[i].params : NULL;
}

double lk_compound_term_weight(const lk_compound *compound, size_t i)
{
    return compound && i < compound->n_terms ? compound->terms[i].weight : 0;
}

size_t lk_compound_input_count(const lk_compound *compound)
{
    return compound ? compound->n_inputs : 0;
}

const lk_input_info *lk_compound_input(const lk_compound *compound, size_t i)
{
    return compound && i < compound->n_inputs ? &compound->inputs[i] : NULL;
}

static lk_status check_call(const lk_compound *compound, const lk_tensor *inputs, size_t n_inputs)
{
    if (!compound) return lk_fail(LK_EINVAL, "compound is NULL");
    if (!inputs) return lk_fail(LK_EINVAL, "inputs is NULL");
    if (n_inputs != compound->n_inputs)
        return lk_fail(LK_EINVAL, "the sum '%.*s' takes %zu inputs, got %zu", SPEC_QUOTE,
                       compound->spec, compound->n_inputs, n_inputs);
    return LK_OK;
}

lk_status lk_compound_output_shape(const lk_compound *compound, const lk_tensor *inputs,
                                   size_t n_inputs, lk_tensor *out)
{
    if (!out) return lk_fail(LK_EINVAL, "out is NULL");
    lk_status status = check_call(compound, inputs, n_inputs);
    if (status == LK_OK) status = lk_terms_check(compound->terms, compound->n_terms, inputs, n_inputs);
    if (status != LK_OK) return status;
    memset(out, 0, sizeof *out);
    out->dtype = inputs[0].dtype;
    return LK_OK;
}

lk_status lk_compound_compute(const lk_compound *compound, const lk_tensor *inputs,
                              size_t n_inputs, const lk_tensor *loss, const lk_tensor *grads,
                              lk_context *ctx)
{
    lk_status status = check_call(compound, inputs, n_inputs);
    if (status != LK_OK) return status;
    return lk_terms_compute(compound->terms, compound->n_terms, 0, inputs, n_inputs, loss, grads,
                            ctx ? ctx : lk_default_context());
}
