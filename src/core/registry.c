/*
 * The table of losses (from registry_list.h), lookups, accessors, and the
 * registry as JSON for bindings (built once, on first request).
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/loss.h"
#include "core/region.h"

#define LK_LOSS(name) extern const lk_loss_desc lk_loss_##name;
#include "core/registry_list.h"
#undef LK_LOSS

static const lk_loss_desc *const registry[] = {
#define LK_LOSS(name) &lk_loss_##name,
#include "core/registry_list.h"
#undef LK_LOSS
};

size_t lk_loss_count(void)
{
    return LK_COUNT_OF(registry);
}

const lk_loss_desc *lk_loss_at(size_t i)
{
    return i < LK_COUNT_OF(registry) ? registry[i] : NULL;
}

const lk_loss_desc *lk_loss_find(const char *name)
{
    if (!name) {
        lk_fail(LK_EINVAL, "name is NULL");
        return NULL;
    }
    for (size_t i = 0; i < LK_COUNT_OF(registry); i++)
        if (strcmp(registry[i]->name, name) == 0) return registry[i];
    char known[1024];
    size_t used = 0;
    known[0] = '\0';
    for (size_t i = 0; i < LK_COUNT_OF(registry) && used < sizeof known; i++) {
        int n = snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "", registry[i]->name);
        used += n > 0 ? (size_t)n : 0;
    }
    lk_fail(LK_ENOTFOUND, "no loss named '%s' (known: %s)", name, known);
    return NULL;
}

const char *lk_loss_name(const lk_loss_desc *desc) { return desc ? desc->name : NULL; }
lk_category lk_loss_category(const lk_loss_desc *desc) { return desc->category; }
const char *lk_loss_summary(const lk_loss_desc *desc) { return desc ? desc->summary : NULL; }
const char *lk_loss_formula(const lk_loss_desc *desc) { return desc ? desc->formula : NULL; }
const char *lk_loss_reference(const lk_loss_desc *desc) { return desc ? desc->reference : NULL; }
const char *lk_loss_notes(const lk_loss_desc *desc) { return desc ? desc->notes : NULL; }
size_t lk_loss_input_count(const lk_loss_desc *desc) { return desc ? desc->n_inputs : 0; }
size_t lk_loss_param_count(const lk_loss_desc *desc) { return desc ? desc->n_params : 0; }

const lk_input_info *lk_loss_input(const lk_loss_desc *desc, size_t i)
{
    return desc && i < desc->n_inputs ? &desc->inputs[i] : NULL;
}

const lk_param_info *lk_loss_param(const lk_loss_desc *desc, size_t i)
{
    return desc && i < desc->n_params ? &desc->params[i] : NULL;
}

const char *lk_loss_example(const lk_loss_desc *desc, size_t i)
{
    if (!desc || !desc->examples) return NULL;
    for (size_t k = 0; k <= i; k++)
        if (!desc->examples[k]) return NULL;
    return desc->examples[i];
}

const char *lk_category_name(lk_category category)
{
    switch (category) {
    case LK_CATEGORY_PIXEL: return "pixel";
    case LK_CATEGORY_REGION: return "region";
    case LK_CATEGORY_BOUNDARY: return "boundary";
    case LK_CATEGORY_COMPOUND: return "compound";
    case LK_CATEGORY_GENERAL: return "general";
    }
    return "unknown";
}

/* ------------------------------------------------------------ JSON */

typedef struct text {
    char *data;
    size_t length, capacity;
    int failed;
} text;

static void append(text *out, const char *piece, size_t length)
{
    if (out->failed) return;
    if (out->length + length + 1 > out->capacity) {
        size_t capacity = out->capacity ? out->capacity : 4096;
        while (out->length + length + 1 > capacity) capacity *= 2;
        char *grown = realloc(out->data, capacity);
        if (!grown) {
            out->failed = 1;
            return;
        }
        out->data = grown;
        out->capacity = capacity;
    }
    memcpy(out->data + out->length, piece, length);
    out->length += length;
    out->data[out->length] = '\0';
}

static void append_raw(text *out, const char *piece)
{
    append(out, piece, strlen(piece));
}

static void append_string(text *out, const char *value)
{
    if (!value) {
        append_raw(out, "null");
        return;
    }
    append_raw(out, "\"");
    for (const unsigned char *c = (const unsigned char *)value; *c; c++) {
        char escaped[8];
        if (*c == '"' || *c == '\\') {
            escaped[0] = '\\';
            escaped[1] = (char)*c;
            append(out, escaped, 2);
        } else if (*c == '\n') {
            append_raw(out, "\\n");
        } else if (*c < 0x20) {
            snprintf(escaped, sizeof escaped, "\\u%04x", *c);
            append_raw(out, escaped);
        } else {
            append(out, (const char *)c, 1);
        }
    }
    append_raw(out, "\"");
}

static void append_key(text *out, const char *key, int first)
{
    if (!first) append_raw(out, ", ");
    append_string(out, key);
    append_raw(out, ": ");
}

static void append_number(text *out, double value)
{
    char buf[40];
    if (isinf(value) || isnan(value))
        append_raw(out, "null");
    else {
        snprintf(buf, sizeof buf, "%.17g", value);
        append_raw(out, buf);
    }
}

static const char *param_type_name(lk_param_type type)
{
    static const char *const names[] = {"float", "int", "bool", "choice", "float_list"};
    return (unsigned)type < LK_COUNT_OF(names) ? names[type] : "unknown";
}

static const char *shape_rule_name(lk_shape_rule rule)
{
    static const char *const names[] = {"scores",          "class_target", "like_first",
                                        "any",             "scalar",       "sequence_scores",
                                        "per_item",        "label_sequences", "embeddings",
                                        "views",           "keys",         "row_target",
                                        "tile_pair_weight", "layer_weight", "layer_bias",
                                        "classifier_weight", "classifier_bias"};
    return (unsigned)rule < LK_COUNT_OF(names) ? names[rule] : "unknown";
}

const char *lk_shape_rule_text(lk_shape_rule rule)
{
    switch (rule) {
    case LK_SHAPE_SCORES: return "(N, C, *spatial)";
    case LK_SHAPE_CLASS_TARGET: return "labels (N, *spatial) or (N, 1, *spatial), or like input";
    case LK_SHAPE_LIKE_FIRST: return "like input";
    case LK_SHAPE_ANY: return "any, 1-5 dims";
    case LK_SHAPE_SCALAR: return "() or (1,)";
    case LK_SHAPE_SEQUENCE_SCORES: return "(T, N, C)";
    case LK_SHAPE_PER_ITEM: return "(N,)";
    case LK_SHAPE_LABEL_SEQUENCES: return "(N, S) padded or (S_total,) concatenated";
    case LK_SHAPE_EMBEDDINGS: return "(N, D)";
    case LK_SHAPE_VIEWS: return "(N, V, D)";
    case LK_SHAPE_KEYS: return "(M, D) or (N, M, D)";
    case LK_SHAPE_ROW_TARGET: return "labels (N,) or mask (N, N)";
    case LK_SHAPE_TILE_PAIR_WEIGHT: return "(H, 2 T T)";
    case LK_SHAPE_LAYER_WEIGHT: return "(H_out, H_in)";
    case LK_SHAPE_LAYER_BIAS: return "(H,)";
    case LK_SHAPE_CLASSIFIER_WEIGHT: return "(K, D)";
    case LK_SHAPE_CLASSIFIER_BIAS: return "(K,)";
    }
    return "?";
}

static const char *domain_name(lk_value_domain domain)
{
    static const char *const names[] = {"scores",          "class_target",  "unit_interval",
                                        "binary",          "real",          "log_probs",
                                        "label_sequences", "input_lengths", "target_lengths",
                                        "groups",          "classifier_labels"};
    return (unsigned)domain < LK_COUNT_OF(names) ? names[domain] : "unknown";
}

static const char *output_rule_name(lk_output_rule rule)
{
    static const char *const names[] = {"per_pixel", "per_element", "scalar", "per_term",
                                        "per_item",  "per_anchor", "per_class"};
    return (unsigned)rule < LK_COUNT_OF(names) ? names[rule] : "unknown";
}

static void append_input(text *out, const lk_input_info *info)
{
    append_raw(out, "{");
    append_key(out, "name", 1);
    append_string(out, info->name);
    append_key(out, "doc", 0);
    append_string(out, info->doc);
    append_key(out, "dtypes", 0);
    append_raw(out, "[");
    int listed = 0;
    for (int dtype = 0; dtype < LK_DTYPE_COUNT; dtype++) {
        if (!(info->dtypes & LK_DTYPE_BIT(dtype))) continue;
        if (listed++) append_raw(out, ", ");
        append_string(out, lk_dtype_name((lk_dtype)dtype));
    }
    append_raw(out, "]");
    append_key(out, "shape", 0);
    append_string(out, shape_rule_name(info->shape));
    append_key(out, "domain", 0);
    append_string(out, domain_name(info->domain));
    append_key(out, "differentiable", 0);
    append_raw(out, info->differentiable ? "true" : "false");
    append_raw(out, "}");
}

static void append_param(text *out, const lk_param_info *info)
{
    char range[LK_RANGE_TEXT];
    append_raw(out, "{");
    append_key(out, "name", 1);
    append_string(out, info->name);
    append_key(out, "type", 0);
    append_string(out, param_type_name(info->type));
    append_key(out, "default", 0);
    append_string(out, info->default_value);
    append_key(out, "doc", 0);
    append_string(out, info->doc);
    if (info->type == LK_PARAM_CHOICE) {
        append_key(out, "choices", 0);
        append_raw(out, "[");
        const char *start = info->choices;
        for (int i = 0; start; i++) {
            const char *bar = strchr(start, '|');
            size_t length = bar ? (size_t)(bar - start) : strlen(start);
            char word[64];
            snprintf(word, sizeof word, "%.*s", (int)length, start);
            if (i) append_raw(out, ", ");
            append_string(out, word);
            start = bar ? bar + 1 : NULL;
        }
        append_raw(out, "]");
    }
    if (info->type == LK_PARAM_FLOAT || info->type == LK_PARAM_INT ||
        info->type == LK_PARAM_FLOAT_LIST) {
        append_key(out, "min", 0);
        append_number(out, info->min);
        append_key(out, "max", 0);
        append_number(out, info->max);
        append_key(out, "range", 0);
        append_string(out, lk_param_range(info, range, sizeof range));
    }
    append_raw(out, "}");
}

static void append_loss(text *out, const lk_loss_desc *desc)
{
    append_raw(out, "{");
    append_key(out, "name", 1);
    append_string(out, desc->name);
    append_key(out, "category", 0);
    append_string(out, lk_category_name(desc->category));
    append_key(out, "summary", 0);
    append_string(out, desc->summary);
    append_key(out, "formula", 0);
    append_string(out, desc->formula);
    append_key(out, "reference", 0);
    append_string(out, desc->reference);
    append_key(out, "notes", 0);
    append_string(out, desc->notes);
    append_key(out, "output", 0);
    append_string(out, output_rule_name(desc->output));
    append_key(out, "upstream", 0);
    append_raw(out, desc->takes_upstream ? "true" : "false");
    append_key(out, "stats", 0);
    if (!desc->region)
        append_raw(out, "null");
    else
        append_string(out, desc->region->class_term ? "per_class" : "per_group");
    append_key(out, "inputs", 0);
    append_raw(out, "[");
    for (size_t i = 0; i < desc->n_inputs; i++) {
        if (i) append_raw(out, ", ");
        append_input(out, &desc->inputs[i]);
    }
    append_raw(out, "]");
    append_key(out, "params", 0);
    append_raw(out, "[");
    for (size_t i = 0; i < desc->n_params; i++) {
        if (i) append_raw(out, ", ");
        append_param(out, &desc->params[i]);
    }
    append_raw(out, "]");
    append_key(out, "examples", 0);
    append_raw(out, "[");
    for (size_t i = 0; desc->examples && desc->examples[i]; i++) {
        if (i) append_raw(out, ", ");
        append_string(out, desc->examples[i]);
    }
    append_raw(out, "]}");
}

static char *registry_json;
static char *loss_json[LK_COUNT_OF(registry)];
static pthread_once_t registry_json_once = PTHREAD_ONCE_INIT;

static char *finish_text(text *out)
{
    if (out->failed) {
        free(out->data);
        return NULL;
    }
    return out->data;
}

static void build_registry_json(void)
{
    text whole = {0};
    append_raw(&whole, "{\"version\": ");
    append_string(&whole, lk_version());
    append_raw(&whole, ", \"losses\": [");
    for (size_t i = 0; i < LK_COUNT_OF(registry); i++) {
        text one = {0};
        append_loss(&one, registry[i]);
        loss_json[i] = finish_text(&one);
        if (i) append_raw(&whole, ",\n");
        append_raw(&whole, loss_json[i] ? loss_json[i] : "null");
    }
    append_raw(&whole, "]}\n");
    registry_json = finish_text(&whole);
}

const char *lk_registry_json(void)
{
    pthread_once(&registry_json_once, build_registry_json);
    if (!registry_json) lk_fail(LK_ENOMEM, "out of memory building the registry JSON");
    return registry_json;
}

const char *lk_loss_json(const lk_loss_desc *desc)
{
    pthread_once(&registry_json_once, build_registry_json);
    for (size_t i = 0; i < LK_COUNT_OF(registry); i++)
        if (registry[i] == desc) return loss_json[i];
    lk_fail(LK_EINVAL, "desc is not a registered loss");
    return NULL;
}
