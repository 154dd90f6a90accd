/*
 * Parameter sets: storage, text parsing ("gamma=2,alpha=[0.25,0.75]") and
 * range checks. Every value entering a parameter set goes through
 * store_checked(), so the checks live in one place.
 */
#include "core/params.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/loss.h"

#define LK_MAX_LIST 65536 /* longest accepted list parameter */

typedef struct lk_param_value {
    double number;   /* FLOAT; BOOL (0/1); CHOICE (position) */
    int64_t integer; /* INT */
    double *list;    /* FLOAT_LIST (NULL when empty) */
    size_t count;
} lk_param_value;

struct lk_params {
    const lk_loss_desc *desc;
    lk_param_value values[]; /* one per desc->params entry */
};

/* ------------------------------------------------------------ lookups */

int lk_param_index(const lk_loss_desc *desc, const char *name)
{
    for (size_t i = 0; i < desc->n_params; i++)
        if (strcmp(desc->params[i].name, name) == 0) return (int)i;
    return -1;
}

const lk_loss_desc *lk_params_desc(const lk_params *params)
{
    return params->desc;
}

double lk_param_float(const lk_params *params, size_t index)
{
    return params->values[index].number;
}

int64_t lk_param_int(const lk_params *params, size_t index)
{
    return params->values[index].integer;
}

int lk_param_bool(const lk_params *params, size_t index)
{
    return params->values[index].number != 0.0;
}

int lk_param_choice(const lk_params *params, size_t index)
{
    return (int)params->values[index].number;
}

const double *lk_param_list(const lk_params *params, size_t index, size_t *count)
{
    *count = params->values[index].count;
    return params->values[index].list;
}

/* ------------------------------------------------------------ ranges */

static void format_bound(double value, char *buf, size_t size)
{
    if (isinf(value))
        snprintf(buf, size, "%sinf", value < 0 ? "-" : "");
    else if (value == floor(value) && fabs(value) < 1e17)
        snprintf(buf, size, "%.0f", value);
    else
        snprintf(buf, size, "%.15g", value);
}

char *lk_param_range(const lk_param_info *info, char *buf, size_t size)
{
    if (!buf || size == 0) return buf;
    buf[0] = '\0';
    if (!info || info->type == LK_PARAM_BOOL || info->type == LK_PARAM_CHOICE) return buf;
    char low[40], high[40];
    format_bound(info->min, low, sizeof low);
    format_bound(info->max, high, sizeof high);
    int min_open = (info->flags & LK_RANGE_MIN_OPEN) || isinf(info->min);
    int max_open = (info->flags & LK_RANGE_MAX_OPEN) || isinf(info->max);
    snprintf(buf, size, "%c%s, %s%c", min_open ? '(' : '[', low, high, max_open ? ')' : ']');
    return buf;
}

/* Integers are compared as integers: 2^53 + 1 is not 2^53. */
static int integer_in_range(const lk_param_info *info, int64_t value)
{
    int64_t low = (int64_t)info->min, high = (int64_t)info->max;
    if (value < low || value > high) return 0;
    if ((info->flags & LK_RANGE_MIN_OPEN) && value == low) return 0;
    if ((info->flags & LK_RANGE_MAX_OPEN) && value == high) return 0;
    return 1;
}

static int in_range(const lk_param_info *info, double value)
{
    if (!(value >= info->min && value <= info->max)) return 0; /* NaN fails too */
    if ((info->flags & LK_RANGE_MIN_OPEN) && value == info->min) return 0;
    if ((info->flags & LK_RANGE_MAX_OPEN) && value == info->max) return 0;
    return 1;
}

static lk_status range_error(const lk_loss_desc *desc, const lk_param_info *info,
                             const char *what, double value)
{
    char range[LK_RANGE_TEXT];
    return lk_fail(LK_EPARAM, "loss '%s': parameter '%s'%s = %.17g is outside its valid range %s",
                   desc->name, info->name, what, value, lk_param_range(info, range, sizeof range));
}

/* ------------------------------------------------------------ storing */

static lk_status store_list(lk_param_value *slot, const double *values, size_t count)
{
    double *copy = NULL;
    if (count > 0) {
        copy = malloc(count * sizeof *copy);
        if (!copy) return lk_fail(LK_ENOMEM, "out of memory for a list of %zu values", count);
        memcpy(copy, values, count * sizeof *copy);
    }
    free(slot->list);
    slot->list = copy;
    slot->count = count;
    return LK_OK;
}

/* The one gate every value passes: type and range checks, then the store. */
static lk_status store_checked(lk_params *params, size_t index, double number, int64_t integer,
                               const double *list, size_t count)
{
    const lk_loss_desc *desc = params->desc;
    const lk_param_info *info = &desc->params[index];
    lk_param_value *slot = &params->values[index];
    switch (info->type) {
    case LK_PARAM_FLOAT:
        if (!isfinite(number) || !in_range(info, number)) return range_error(desc, info, "", number);
        slot->number = number;
        return LK_OK;
    case LK_PARAM_INT:
        if (!integer_in_range(info, integer)) {
            char range[LK_RANGE_TEXT];
            return lk_fail(LK_EPARAM,
                           "loss '%s': parameter '%s' = %lld is outside its valid range %s",
                           desc->name, info->name, (long long)integer,
                           lk_param_range(info, range, sizeof range));
        }
        slot->integer = integer;
        return LK_OK;
    case LK_PARAM_BOOL:
    case LK_PARAM_CHOICE:
        slot->number = number;
        return LK_OK;
    case LK_PARAM_FLOAT_LIST:
        if (count > LK_MAX_LIST)
            return lk_fail(LK_EPARAM, "loss '%s': parameter '%s' has %zu values, more than %d",
                           desc->name, info->name, count, LK_MAX_LIST);
        for (size_t i = 0; i < count; i++) {
            if (!isfinite(list[i]) || !in_range(info, list[i])) {
                char what[32];
                snprintf(what, sizeof what, "[%zu]", i);
                return range_error(desc, info, what, list[i]);
            }
        }
        return store_list(slot, list, count);
    }
    return lk_fail(LK_EINVAL, "loss '%s': parameter '%s' has an unknown type", desc->name, info->name);
}

static lk_status find_param(const lk_params *params, const char *key, size_t *index)
{
    if (!params) return lk_fail(LK_EINVAL, "params is NULL");
    if (!key) return lk_fail(LK_EINVAL, "key is NULL");
    int found = lk_param_index(params->desc, key);
    if (found < 0) {
        char known[512];
        size_t used = 0;
        known[0] = '\0';
        for (size_t i = 0; i < params->desc->n_params && used < sizeof known; i++) {
            int n = snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "",
                             params->desc->params[i].name);
            used += n > 0 ? (size_t)n : 0;
        }
        return lk_fail(LK_EPARAM, "loss '%s' has no parameter '%s' (its parameters: %s)",
                       params->desc->name, key, params->desc->n_params ? known : "none");
    }
    *index = (size_t)found;
    return LK_OK;
}

/* ------------------------------------------------------------ text parsing */

static const char *skip_space(const char *text)
{
    while (*text && isspace((unsigned char)*text)) text++;
    return text;
}

/* Parses a whole string as one number; 0 on success. */
static int parse_double_text(const char *text, size_t length, double *out)
{
    char buf[64];
    if (length == 0 || length >= sizeof buf) return -1;
    memcpy(buf, text, length);
    buf[length] = '\0';
    char *end = NULL;
    errno = 0;
    double value = strtod(buf, &end);
    if (end == buf || *skip_space(end) != '\0' || errno == ERANGE) return -1;
    *out = value;
    return 0;
}

static int parse_int_text(const char *text, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (end == text || *skip_space(end) != '\0' || errno == ERANGE) return -1;
    *out = (int64_t)value;
    return 0;
}

static int parse_bool_text(const char *text, double *out)
{
    static const char *const truths[] = {"true", "1", "yes", "on", "True"};
    static const char *const lies[] = {"false", "0", "no", "off", "False"};
    for (size_t i = 0; i < LK_COUNT_OF(truths); i++) {
        if (strcmp(text, truths[i]) == 0) { *out = 1.0; return 0; }
        if (strcmp(text, lies[i]) == 0) { *out = 0.0; return 0; }
    }
    return -1;
}

static int parse_choice_text(const char *choices, const char *text, double *out)
{
    size_t want = strlen(text);
    int position = 0;
    for (const char *start = choices; *start; position++) {
        const char *bar = strchr(start, '|');
        size_t length = bar ? (size_t)(bar - start) : strlen(start);
        if (length == want && strncmp(start, text, length) == 0) {
            *out = position;
            return 0;
        }
        if (!bar) break;
        start = bar + 1;
    }
    return -1;
}

int lk_param_choice_is(const lk_params *params, size_t index, const char *word)
{
    double position;
    return parse_choice_text(params->desc->params[index].choices, word, &position) == 0 &&
           (int)position == lk_param_choice(params, index);
}

/* "[1, 2.5, 3]", "[]", or a bare single number "2". Allocates *out. */
static lk_status parse_list_text(const lk_loss_desc *desc, const lk_param_info *info,
                                 const char *text, double **out, size_t *count)
{
    const char *cursor = skip_space(text);
    int bracketed = *cursor == '[';
    if (bracketed) cursor = skip_space(cursor + 1);
    size_t capacity = 8, used = 0;
    double *values = malloc(capacity * sizeof *values);
    if (!values) return lk_fail(LK_ENOMEM, "out of memory parsing a list");
    while (*cursor && *cursor != ']') {
        const char *end = cursor;
        while (*end && *end != ',' && *end != ']') end++;
        size_t length = (size_t)(end - cursor);
        while (length > 0 && isspace((unsigned char)cursor[length - 1])) length--;
        double value;
        if (parse_double_text(cursor, length, &value) != 0) {
            free(values);
            return lk_fail(LK_EPARAM,
                           "loss '%s': parameter '%s' expects a list of numbers like [1,0.5], "
                           "got '%s' (element %zu is not a number)",
                           desc->name, info->name, text, used);
        }
        if (used == capacity) {
            capacity *= 2;
            double *grown = realloc(values, capacity * sizeof *values);
            if (!grown) {
                free(values);
                return lk_fail(LK_ENOMEM, "out of memory parsing a list");
            }
            values = grown;
        }
        values[used++] = value;
        cursor = *end == ',' ? skip_space(end + 1) : end;
    }
    int closed = *cursor == ']';
    if (bracketed != closed || (closed && *skip_space(cursor + 1) != '\0')) {
        free(values);
        return lk_fail(LK_EPARAM, "loss '%s': parameter '%s' expects a list like [1,0.5], got '%s'",
                       desc->name, info->name, text);
    }
    *out = values;
    *count = used;
    return LK_OK;
}

static lk_status set_from_text(lk_params *params, size_t index, const char *value)
{
    const lk_loss_desc *desc = params->desc;
    const lk_param_info *info = &desc->params[index];
    double number = 0;
    int64_t integer = 0;
    switch (info->type) {
    case LK_PARAM_FLOAT:
        if (parse_double_text(value, strlen(value), &number) != 0)
            return lk_fail(LK_EPARAM, "loss '%s': parameter '%s' expects a number, got '%s'",
                           desc->name, info->name, value);
        return store_checked(params, index, number, 0, NULL, 0);
    case LK_PARAM_INT:
        if (parse_int_text(value, &integer) != 0)
            return lk_fail(LK_EPARAM, "loss '%s': parameter '%s' expects an integer, got '%s'",
                           desc->name, info->name, value);
        return store_checked(params, index, 0, integer, NULL, 0);
    case LK_PARAM_BOOL:
        if (parse_bool_text(value, &number) != 0)
            return lk_fail(LK_EPARAM, "loss '%s': parameter '%s' expects true or false, got '%s'",
                           desc->name, info->name, value);
        return store_checked(params, index, number, 0, NULL, 0);
    case LK_PARAM_CHOICE:
        if (parse_choice_text(info->choices, value, &number) != 0)
            return lk_fail(LK_EPARAM, "loss '%s': parameter '%s' expects one of %s, got '%s'",
                           desc->name, info->name, info->choices, value);
        return store_checked(params, index, number, 0, NULL, 0);
    case LK_PARAM_FLOAT_LIST: {
        double *list = NULL;
        size_t count = 0;
        lk_status status = parse_list_text(desc, info, value, &list, &count);
        if (status == LK_OK) status = store_checked(params, index, 0, 0, list, count);
        free(list);
        return status;
    }
    }
    return lk_fail(LK_EINVAL, "loss '%s': parameter '%s' has an unknown type", desc->name, info->name);
}

/* ------------------------------------------------------------ public API */

lk_status lk_params_create(const lk_loss_desc *desc, lk_params **out)
{
    if (!out) return lk_fail(LK_EINVAL, "out is NULL");
    *out = NULL;
    if (!desc) return lk_fail(LK_EINVAL, "desc is NULL");
    lk_params *params = calloc(1, sizeof *params + desc->n_params * sizeof params->values[0]);
    if (!params) return lk_fail(LK_ENOMEM, "out of memory creating parameters for '%s'", desc->name);
    params->desc = desc;
    for (size_t i = 0; i < desc->n_params; i++) {
        lk_status status = set_from_text(params, i, desc->params[i].default_value);
        if (status != LK_OK) {
            lk_params_destroy(params);
            return lk_fail_prefix(status, "invalid default in the registry");
        }
    }
    *out = params;
    return LK_OK;
}

void lk_params_destroy(lk_params *params)
{
    if (!params) return;
    for (size_t i = 0; i < params->desc->n_params; i++) free(params->values[i].list);
    free(params);
}

lk_params *lk_params_clone(const lk_params *params)
{
    if (!params) return NULL;
    size_t n = params->desc->n_params;
    lk_params *copy = malloc(sizeof *copy + n * sizeof copy->values[0]);
    if (!copy) return NULL;
    copy->desc = params->desc;
    for (size_t i = 0; i < n; i++) {
        copy->values[i] = params->values[i];
        copy->values[i].list = NULL;
        copy->values[i].count = 0;
        if (store_list(&copy->values[i], params->values[i].list, params->values[i].count) != LK_OK) {
            lk_params_destroy(copy);
            return NULL;
        }
    }
    return copy;
}

lk_status lk_params_set(lk_params *params, const char *key, const char *value)
{
    size_t index = 0;
    lk_status status = find_param(params, key, &index);
    if (status != LK_OK) return status;
    if (!value) return lk_fail(LK_EINVAL, "value of parameter '%s' is NULL", key);
    return set_from_text(params, index, value);
}

lk_status lk_params_set_float(lk_params *params, const char *key, double value)
{
    size_t index = 0;
    lk_status status = find_param(params, key, &index);
    if (status != LK_OK) return status;
    const lk_param_info *info = &params->desc->params[index];
    if (info->type == LK_PARAM_FLOAT_LIST) return store_checked(params, index, 0, 0, &value, 1);
    if (info->type == LK_PARAM_INT) {
        if (!(value == floor(value)) || fabs(value) > LK_INT_LIMIT)
            return lk_fail(LK_EPARAM, "loss '%s': parameter '%s' expects an integer, got %.17g",
                           params->desc->name, key, value);
        return store_checked(params, index, 0, (int64_t)value, NULL, 0);
    }
    if (info->type != LK_PARAM_FLOAT)
        return lk_fail(LK_EPARAM, "loss '%s': parameter '%s' is not a number; set it as text",
                       params->desc->name, key);
    return store_checked(params, index, value, 0, NULL, 0);
}

lk_status lk_params_set_int(lk_params *params, const char *key, int64_t value)
{
    size_t index = 0;
    lk_status status = find_param(params, key, &index);
    if (status != LK_OK) return status;
    const lk_param_info *info = &params->desc->params[index];
    if (info->type == LK_PARAM_FLOAT) return store_checked(params, index, (double)value, 0, NULL, 0);
    if (info->type != LK_PARAM_INT)
        return lk_fail(LK_EPARAM, "loss '%s': parameter '%s' is not an integer",
                       params->desc->name, key);
    return store_checked(params, index, 0, value, NULL, 0);
}

lk_status lk_params_set_floats(lk_params *params, const char *key, const double *values,
                               size_t count)
{
    size_t index = 0;
    lk_status status = find_param(params, key, &index);
    if (status != LK_OK) return status;
    if (count > 0 && !values) return lk_fail(LK_EINVAL, "values is NULL for %zu values", count);
    if (params->desc->params[index].type != LK_PARAM_FLOAT_LIST)
        return lk_fail(LK_EPARAM, "loss '%s': parameter '%s' is not a list",
                       params->desc->name, key);
    return store_checked(params, index, 0, 0, values, count);
}

/* Trims spaces at both ends, in place. */
static char *trim(char *text)
{
    text = (char *)skip_space(text);
    size_t length = strlen(text);
    while (length > 0 && isspace((unsigned char)text[length - 1])) text[--length] = '\0';
    return text;
}

/* One "key=value" item of a spec; value may be a bracketed list. */
static lk_status parse_item(lk_params *params, const char *item, size_t length, size_t offset)
{
    char *buf = malloc(length + 1);
    if (!buf) return lk_fail(LK_ENOMEM, "out of memory parsing parameters");
    memcpy(buf, item, length);
    buf[length] = '\0';
    lk_status status;
    char *equals = strchr(buf, '=');
    if (!equals) {
        status = lk_fail(LK_EPARAM, "parameter spec: expected key=value at position %zu, got '%s'",
                         offset, buf);
    } else {
        *equals = '\0';
        char *key = trim(buf), *value = trim(equals + 1);
        if (!*key)
            status = lk_fail(LK_EPARAM, "parameter spec: empty key at position %zu", offset);
        else if (!*value)
            status = lk_fail(LK_EPARAM, "parameter spec: no value for '%s' at position %zu", key,
                             offset);
        else
            status = lk_params_set(params, key, value);
    }
    free(buf);
    return status;
}

lk_status lk_params_parse(lk_params *params, const char *spec)
{
    if (!params) return lk_fail(LK_EINVAL, "params is NULL");
    if (!spec) return LK_OK;
    lk_params *staged = lk_params_clone(params);
    if (!staged) return lk_fail(LK_ENOMEM, "out of memory parsing parameters");
    lk_status status = LK_OK;
    const char *cursor = spec;
    while (status == LK_OK && *skip_space(cursor)) {
        const char *start = cursor;
        int depth = 0;
        while (*cursor && (depth > 0 || *cursor != ',')) {
            if (*cursor == '[') depth++;
            if (*cursor == ']') depth--;
            cursor++;
        }
        if (depth != 0)
            status = lk_fail(LK_EPARAM, "parameter spec: unbalanced '[' in '%s'", spec);
        else
            status = parse_item(staged, start, (size_t)(cursor - start), (size_t)(start - spec));
        if (status == LK_OK && *cursor == ',') {
            cursor++;
            if (!*skip_space(cursor))
                status = lk_fail(LK_EPARAM, "parameter spec: dangling ',' at the end of '%s'", spec);
        }
    }
    if (status == LK_OK) {
        /* Commit: swap the staged values in, free the old ones with the clone. */
        for (size_t i = 0; i < params->desc->n_params; i++) {
            lk_param_value old = params->values[i];
            params->values[i] = staged->values[i];
            staged->values[i] = old;
        }
    }
    lk_params_destroy(staged);
    return status;
}

/* The shortest %g text that reads back as the same double. */
static int print_double(double value, char *buf, size_t size)
{
    char text[32];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, value);
        if (strtod(text, NULL) == value) break;
    }
    return snprintf(buf, size, "%s", text);
}

static int print_value(const lk_param_info *info, const lk_param_value *value, char *buf,
                       size_t size)
{
    switch (info->type) {
    case LK_PARAM_FLOAT: return print_double(value->number, buf, size);
    case LK_PARAM_INT: return snprintf(buf, size, "%lld", (long long)value->integer);
    case LK_PARAM_BOOL: return snprintf(buf, size, "%s", value->number != 0 ? "true" : "false");
    case LK_PARAM_CHOICE: {
        const char *start = info->choices;
        for (int i = 0; i < (int)value->number && start; i++) {
            start = strchr(start, '|');
            if (start) start++;
        }
        if (!start) return snprintf(buf, size, "?");
        const char *bar = strchr(start, '|');
        int length = bar ? (int)(bar - start) : (int)strlen(start);
        return snprintf(buf, size, "%.*s", length, start);
    }
    case LK_PARAM_FLOAT_LIST: {
        int total = snprintf(buf, size, "[");
        for (size_t i = 0; i < value->count; i++) {
            size_t used = (size_t)total < size ? (size_t)total : size;
            if (i) total += snprintf(buf + used, size - used, ",");
            used = (size_t)total < size ? (size_t)total : size;
            total += print_double(value->list[i], buf + used, size - used);
        }
        size_t used = (size_t)total < size ? (size_t)total : size;
        total += snprintf(buf + used, size - used, "]");
        return total;
    }
    }
    return -1;
}

int lk_params_get(const lk_params *params, const char *key, char *buf, size_t size)
{
    if (!params || !key) return -1;
    int index = lk_param_index(params->desc, key);
    if (index < 0) return -1;
    char dummy[1];
    if (!buf || size == 0) {
        buf = dummy;
        size = sizeof dummy;
    }
    return print_value(&params->desc->params[index], &params->values[index], buf, size);
}
