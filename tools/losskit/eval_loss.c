/*
 * --loss SPEC to a computation: the registry loss SPEC names, its parameters,
 * and the inputs it takes (see eval_loss.h).
 *
 * Before SPEC's own parameters, eval sets those that follow from the files
 * (SPEC's override them; the output lists them as "implied"):
 *   activation  none for probabilities (and one-hot label maps); for logits,
 *               softmax with two or more channels, sigmoid with one (as the
 *               loss allows);
 *   spacing     the voxel spacing, for losses with a spacing parameter, when
 *               --spacing or a NIfTI header gives one.
 * Inputs by the loss's shape rule: a class target gets the label map; a
 * target shaped like the prediction (binary_cross_entropy, lovasz_hinge, ...)
 * gets the one-hot target.
 *
 * A weighted sum ("dice + 0.5*focal:gamma=2", any SPEC with '+' or '*') is
 * parsed by lk_compound_parse (its errors name the term and the position),
 * then each term runs as a loss of its own, with the implied parameters set
 * before the term's, and the values are added with their weights. A term's
 * parameter that equals its default counts as not given (the compound keeps
 * values, not the text that set them).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "eval_loss.h"

struct eval_loss {
    const lk_loss_desc *desc;
    char *spec;        /* as given */
    const char *parameters; /* inside spec: after "name:", or "" */
    lk_compound *sum;  /* a weighted sum of terms, or NULL for one loss */
};

const char *eval_loss_spec(const eval_loss *loss) { return loss->spec; }

void eval_loss_free(eval_loss *loss)
{
    if (!loss) return;
    lk_compound_destroy(loss->sum);
    free(loss->spec);
    free(loss);
}

/* Creates params holding the implied values, then SPEC's. */
static lk_status make_params(const eval_loss *loss, const char *implied, lk_params **out)
{
    lk_status status = lk_params_create(loss->desc, out);
    if (status == LK_OK && implied[0]) status = lk_params_parse(*out, implied);
    if (status == LK_OK) status = lk_params_parse(*out, loss->parameters);
    if (status != LK_OK) {
        lk_params_destroy(*out);
        *out = NULL;
    }
    return status;
}

/* A loss holding a copy of SPEC, or NULL (out of memory, said on stderr). */
static eval_loss *new_loss(const char *spec)
{
    eval_loss *loss = calloc(1, sizeof *loss);
    char *copy = malloc(strlen(spec) + 1);
    if (!loss || !copy) {
        free(loss);
        free(copy);
        fprintf(stderr, "losskit eval: out of memory\n");
        return NULL;
    }
    strcpy(copy, spec);
    loss->spec = copy;
    return loss;
}

static int parse_sum(const char *spec, eval_loss **out)
{
    eval_loss *loss = new_loss(spec);
    if (!loss) return LK_EXIT_FAILURE;
    loss->parameters = "";
    if (lk_compound_parse(spec, &loss->sum) != LK_OK) {
        fprintf(stderr, "losskit eval: --loss: %s\n", lk_last_error());
        eval_loss_free(loss);
        return LK_EXIT_USAGE;
    }
    *out = loss;
    return LK_EXIT_OK;
}

/* Whether SPEC is a weighted sum: a '*', or a '+' that is not an exponent's
 * sign ("1e+1"). */
static int is_sum(const char *spec)
{
    if (strchr(spec, '*')) return 1;
    for (const char *plus = strchr(spec, '+'); plus; plus = strchr(plus + 1, '+')) {
        int exponent = plus - spec >= 2 && (plus[-1] == 'e' || plus[-1] == 'E') &&
                       (isdigit((unsigned char)plus[-2]) || plus[-2] == '.');
        if (!exponent) return 1;
    }
    return 0;
}

int eval_loss_parse(const char *spec, eval_loss **out)
{
    if (is_sum(spec)) return parse_sum(spec, out);
    eval_loss *loss = new_loss(spec);
    if (!loss) return LK_EXIT_FAILURE;
    char *copy = loss->spec;
    char *colon = strchr(copy, ':');
    size_t name_length = colon ? (size_t)(colon - copy) : strlen(copy);
    char name[128];
    if (name_length == 0 || name_length >= sizeof name) {
        fprintf(stderr, "losskit eval: --loss '%s': expected NAME or NAME:key=value,...\n", spec);
        eval_loss_free(loss);
        return LK_EXIT_USAGE;
    }
    memcpy(name, copy, name_length);
    name[name_length] = '\0';
    loss->parameters = colon ? colon + 1 : "";
    loss->desc = lk_loss_find(name);
    lk_params *params = NULL;
    if (!loss->desc || make_params(loss, "", &params) != LK_OK) {
        fprintf(stderr, "losskit eval: --loss '%s': %s\n", spec, lk_last_error());
        eval_loss_free(loss);
        return LK_EXIT_USAGE;
    }
    lk_params_destroy(params);
    *out = loss;
    return LK_EXIT_OK;
}

static const lk_param_info *find_param(const lk_loss_desc *desc, const char *name)
{
    for (size_t i = 0; i < lk_loss_param_count(desc); i++)
        if (strcmp(lk_loss_param(desc, i)->name, name) == 0) return lk_loss_param(desc, i);
    return NULL;
}

static int has_choice(const lk_param_info *info, const char *word)
{
    size_t length = strlen(word);
    for (const char *at = info->choices; at && *at;) {
        const char *bar = strchr(at, '|');
        size_t choice_length = bar ? (size_t)(bar - at) : strlen(at);
        if (choice_length == length && strncmp(at, word, length) == 0) return 1;
        at = bar ? bar + 1 : at + choice_length;
    }
    return 0;
}

/* The activation that reads the scores as eval holds them, or NULL. */
static const char *implied_activation(const lk_param_info *activation, const eval_inputs *inputs)
{
    if (inputs->probabilities) return has_choice(activation, "none") ? "none" : NULL;
    const char *first = inputs->scores->shape[1] == 1 ? "sigmoid" : "softmax";
    const char *second = inputs->scores->shape[1] == 1 ? "softmax" : "sigmoid";
    return has_choice(activation, first) ? first : has_choice(activation, second) ? second : NULL;
}

/* The shortest "%g" text that reads back as value exactly. */
static void format_exact(double value, char *buf, size_t size)
{
    for (int digits = 6; digits <= 17; digits++) {
        snprintf(buf, size, "%.*g", digits, value);
        if (strtod(buf, NULL) == value) return;
    }
}

/* "activation=none,spacing=[1.5,1.5,3]": what the inputs imply. */
static int implied_params(const eval_loss *loss, const eval_inputs *inputs, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    const lk_param_info *activation = find_param(loss->desc, "activation");
    if (activation) {
        const char *choice = implied_activation(activation, inputs);
        if (!choice) {
            fprintf(stderr, "losskit eval: --loss '%s': its activation (%s) cannot read %s\n",
                    loss->spec, activation->choices, inputs->probabilities ? "probabilities" : "logits");
            return LK_EXIT_FAILURE;
        }
        used += (size_t)snprintf(buf + used, size - used, "activation=%s", choice);
    } else if (inputs->probabilities) {
        fprintf(stderr, "losskit eval: --loss '%s': %s takes logits (it has no activation "
                        "parameter) and the prediction holds probabilities; give logits "
                        "(--pred-kind logits)\n",
                loss->spec, lk_loss_name(loss->desc));
        return LK_EXIT_FAILURE;
    }
    int spatial_dims = inputs->scores->ndim - 2;
    if (inputs->spacing && find_param(loss->desc, "spacing")) {
        used += (size_t)snprintf(buf + used, size - used, "%sspacing=[", used ? "," : "");
        for (int axis = 0; axis < spatial_dims && used < size; axis++) {
            char number[32];
            format_exact(inputs->spacing[axis], number, sizeof number);
            used += (size_t)snprintf(buf + used, size - used, "%s%s", axis ? "," : "", number);
        }
        if (used < size) used += (size_t)snprintf(buf + used, size - used, "]");
    }
    if (used >= size) {
        fprintf(stderr, "losskit eval: --loss '%s': implied parameters too long\n", loss->spec);
        return LK_EXIT_FAILURE;
    }
    return LK_EXIT_OK;
}

/* The loss's inputs from what eval holds, by each input's shape rule. */
static int select_inputs(const eval_loss *loss, const eval_inputs *inputs, lk_tensor *tensors)
{
    size_t count = lk_loss_input_count(loss->desc);
    if (count != 2) {
        fprintf(stderr, "losskit eval: --loss '%s': %s takes %zu inputs; eval gives a "
                        "prediction and a target only\n",
                loss->spec, lk_loss_name(loss->desc), count);
        return LK_EXIT_FAILURE;
    }
    tensors[0] = *inputs->scores;
    if (lk_loss_input(loss->desc, 1)->shape != LK_SHAPE_LIKE_FIRST) {
        tensors[1] = *inputs->labels;
        return LK_EXIT_OK;
    }
    if (!inputs->one_hot) {
        fprintf(stderr, "losskit eval: --loss '%s': %s takes the target per class: %s\n",
                loss->spec, lk_loss_name(loss->desc), inputs->one_hot_problem);
        return LK_EXIT_FAILURE;
    }
    tensors[1] = *inputs->one_hot;
    return LK_EXIT_OK;
}

void eval_result_free(eval_result *result)
{
    free(result->values);
    result->values = NULL;
}

/* "key=value,..." of the term's parameters that differ from their defaults. */
static int term_parameters(const lk_loss_desc *desc, const lk_params *params, char *buf, size_t size)
{
    lk_params *defaults = NULL;
    if (lk_params_create(desc, &defaults) != LK_OK) return 0;
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < lk_loss_param_count(desc) && used < size; i++) {
        const char *name = lk_loss_param(desc, i)->name;
        char value[512], standard[512];
        lk_params_get(params, name, value, sizeof value);
        lk_params_get(defaults, name, standard, sizeof standard);
        if (strcmp(value, standard) != 0)
            used += (size_t)snprintf(buf + used, size - used, "%s%s=%s", used ? "," : "", name, value);
    }
    lk_params_destroy(defaults);
    return used < size;
}

/* sum_k weight_k loss_k, each term run as a loss of its own. */
static int run_sum(const eval_loss *loss, const eval_inputs *inputs, eval_result *result)
{
    double total = 0;
    for (size_t k = 0; k < lk_compound_term_count(loss->sum); k++) {
        eval_loss term = {lk_compound_term_loss(loss->sum, k), loss->spec, "", NULL};
        char parameters[2048];
        if (!term_parameters(term.desc, lk_compound_term_params(loss->sum, k), parameters, sizeof parameters)) {
            fprintf(stderr, "losskit eval: --loss '%s': term %zu has too many parameters\n", loss->spec, k + 1);
            return LK_EXIT_FAILURE;
        }
        term.parameters = parameters;
        eval_result part;
        int code = eval_loss_run(&term, inputs, &part);
        if (code != LK_EXIT_OK) return code;
        total += lk_compound_term_weight(loss->sum, k) * part.values[0];
        if (k == 0) snprintf(result->implied, sizeof result->implied, "%s", part.implied);
        eval_result_free(&part);
    }
    result->values = malloc(sizeof(double));
    if (!result->values) {
        fprintf(stderr, "losskit eval: out of memory\n");
        return LK_EXIT_FAILURE;
    }
    result->values[0] = total;
    result->count = 1;
    result->shape.ndim = 0;
    result->shape.dtype = LK_F64;
    result->shape.data = result->values;
    return LK_EXIT_OK;
}

int eval_loss_run(const eval_loss *loss, const eval_inputs *inputs, eval_result *result)
{
    if (loss->sum) {
        memset(result, 0, sizeof *result);
        return run_sum(loss, inputs, result);
    }
    memset(result, 0, sizeof *result);
    lk_tensor tensors[2];
    lk_params *params = NULL;
    int code = select_inputs(loss, inputs, tensors);
    if (code == LK_EXIT_OK) code = implied_params(loss, inputs, result->implied, sizeof result->implied);
    if (code != LK_EXIT_OK) return code;
    lk_status status = make_params(loss, result->implied, &params);
    if (status == LK_OK) status = lk_loss_output_shape(loss->desc, params, tensors, 2, &result->shape);
    if (status == LK_OK) {
        result->count = 1;
        for (int axis = 0; axis < result->shape.ndim; axis++)
            result->count *= (size_t)result->shape.shape[axis];
        result->values = malloc(result->count ? result->count * sizeof(double) : 1);
        result->shape.data = result->values;
        if (!result->values) status = LK_ENOMEM;
    }
    if (status == LK_OK) status = lk_loss_compute(loss->desc, params, tensors, 2, &result->shape, NULL, NULL);
    lk_params_destroy(params);
    if (status != LK_OK) {
        fprintf(stderr, "losskit eval: --loss '%s': %s: %s\n", loss->spec, lk_status_name(status),
                lk_last_error());
        eval_result_free(result);
        return LK_EXIT_FAILURE;
    }
    return LK_EXIT_OK;
}
