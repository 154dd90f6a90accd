/* Parameter sets: parsing, typed setters, ranges, all-or-nothing specs, and
 * every error path with its message. */
#include <stdlib.h>

#include "check.h"

static lk_params *make(const char *loss)
{
    lk_params *params = NULL;
    CHECK_OK(lk_params_create(lk_loss_find(loss), &params));
    return params;
}

static void expect_value(lk_params *params, const char *key, const char *expected)
{
    char text[256];
    int length = lk_params_get(params, key, text, sizeof text);
    CHECK_MSG(length >= 0 && strcmp(text, expected) == 0, "%s = '%s', expected '%s'", key, text, expected);
}

static void test_defaults(void)
{
    lk_params *params = make("focal");
    expect_value(params, "gamma", "2");
    expect_value(params, "alpha", "[]");
    expect_value(params, "ignore_index", "-100");
    expect_value(params, "reduction", "mean");
    expect_value(params, "activation", "softmax");
    lk_params_destroy(params);
}

static void test_parse_spec(void)
{
    lk_params *params = make("focal");
    CHECK_OK(lk_params_parse(params, " gamma = 0.5 , alpha=[0.25, 0.5,1] ,reduction=sum,ignore_index=255"));
    expect_value(params, "gamma", "0.5");
    expect_value(params, "alpha", "[0.25,0.5,1]");
    expect_value(params, "reduction", "sum");
    expect_value(params, "ignore_index", "255");
    CHECK_OK(lk_params_parse(params, "alpha=[]"));
    expect_value(params, "alpha", "[]");
    CHECK_OK(lk_params_parse(params, "alpha=0.75")); /* a bare number is a one-element list */
    expect_value(params, "alpha", "[0.75]");
    CHECK_OK(lk_params_parse(params, ""));
    CHECK_OK(lk_params_parse(params, NULL));
    expect_value(params, "gamma", "0.5");
    lk_params_destroy(params);
}

static void test_spec_is_all_or_nothing(void)
{
    lk_params *params = make("focal");
    CHECK_STATUS(lk_params_parse(params, "gamma=3,reduction=bogus"), LK_EPARAM);
    CHECK_MESSAGE_HAS("reduction");
    CHECK_MESSAGE_HAS("bogus");
    CHECK_MESSAGE_HAS("mean|sum|none");
    expect_value(params, "gamma", "2"); /* unchanged */
    lk_params_destroy(params);
}

static void test_spec_syntax_errors(void)
{
    lk_params *params = make("cross_entropy");
    static const char *const bad[] = {
        "label_smoothing",          /* no '=' */
        "=0.1",                     /* no key */
        "label_smoothing=",         /* no value */
        "label_smoothing=0.1,",     /* dangling comma */
        "weight=[1,2",              /* unbalanced bracket */
        "weight=[1,,2]",            /* empty element */
        "weight=[1,x]",             /* not a number */
        "weight=[1,2]]",            /* trailing garbage */
        "label_smoothing=0.1x",     /* trailing garbage in a number */
        "ignore_index=1.5",         /* not an integer */
        "ignore_index=99999999999999999999", /* overflow */
        "label_smoothing=1e999",    /* overflow */
        "nonsense=1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lk_status status = lk_params_parse(params, bad[i]);
        CHECK_MSG(status == LK_EPARAM, "'%s' gave %s", bad[i], lk_status_name(status));
    }
    lk_params_destroy(params);
}

static void test_ranges(void)
{
    lk_params *params = make("topk_cross_entropy");
    CHECK_STATUS(lk_params_set(params, "k", "0"), LK_EPARAM); /* open at 0 */
    CHECK_MESSAGE_HAS("(0, 100]");
    CHECK_OK(lk_params_set(params, "k", "100"));
    CHECK_STATUS(lk_params_set(params, "k", "100.0001"), LK_EPARAM);
    CHECK_STATUS(lk_params_set(params, "k", "nan"), LK_EPARAM);
    CHECK_STATUS(lk_params_set(params, "k", "inf"), LK_EPARAM);
    CHECK_STATUS(lk_params_set(params, "weight", "[1,-1]"), LK_EPARAM);
    CHECK_MESSAGE_HAS("weight'[1] = -1");
    lk_params_destroy(params);
    params = make("cross_entropy");
    CHECK_STATUS(lk_params_set(params, "ignore_index", "9007199254740993"), LK_EPARAM);
    CHECK_OK(lk_params_set(params, "ignore_index", "9007199254740992"));
    lk_params_destroy(params);
}

static void test_typed_setters(void)
{
    lk_params *params = make("focal");
    CHECK_OK(lk_params_set_float(params, "gamma", 1.25));
    expect_value(params, "gamma", "1.25");
    CHECK_STATUS(lk_params_set_float(params, "gamma", -1), LK_EPARAM);
    CHECK_OK(lk_params_set_float(params, "ignore_index", 7)); /* integral values accepted */
    expect_value(params, "ignore_index", "7");
    CHECK_STATUS(lk_params_set_float(params, "ignore_index", 7.5), LK_EPARAM);
    CHECK_OK(lk_params_set_int(params, "ignore_index", -3));
    CHECK_OK(lk_params_set_int(params, "gamma", 3));
    expect_value(params, "gamma", "3");
    CHECK_STATUS(lk_params_set_int(params, "reduction", 1), LK_EPARAM);
    double alpha[] = {0.1, 0.2, 0.7};
    CHECK_OK(lk_params_set_floats(params, "alpha", alpha, 3));
    expect_value(params, "alpha", "[0.1,0.2,0.7]");
    CHECK_OK(lk_params_set_floats(params, "alpha", NULL, 0));
    expect_value(params, "alpha", "[]");
    CHECK_STATUS(lk_params_set_floats(params, "alpha", NULL, 2), LK_EINVAL);
    CHECK_STATUS(lk_params_set_floats(params, "gamma", alpha, 1), LK_EPARAM);
    CHECK_OK(lk_params_set_float(params, "alpha", 0.3)); /* one number into a list */
    expect_value(params, "alpha", "[0.3]");
    CHECK_STATUS(lk_params_set_float(params, "reduction", 1), LK_EPARAM);
    lk_params_destroy(params);
}

static void test_bool_and_choice_text(void)
{
    lk_params *params = make("weighted_cross_entropy");
    CHECK_OK(lk_params_set(params, "weighting", "median_frequency"));
    expect_value(params, "weighting", "median_frequency");
    CHECK_STATUS(lk_params_set(params, "weighting", "median"), LK_EPARAM); /* no prefixes */
    CHECK_STATUS(lk_params_set(params, "weighting", ""), LK_EPARAM);
    lk_params_destroy(params);
}

static void test_null_and_unknown(void)
{
    lk_params *none = make("focal");
    lk_params *kept = none;
    CHECK_STATUS(lk_params_create(NULL, &none), LK_EINVAL);
    CHECK(none == NULL); /* the out pointer is cleared on failure */
    lk_params_destroy(kept);
    lk_params *params = make("focal");
    CHECK_STATUS(lk_params_create(lk_loss_find("focal"), NULL), LK_EINVAL);
    CHECK_STATUS(lk_params_set(NULL, "gamma", "1"), LK_EINVAL);
    CHECK_STATUS(lk_params_set(params, NULL, "1"), LK_EINVAL);
    CHECK_STATUS(lk_params_set(params, "gamma", NULL), LK_EINVAL);
    CHECK_STATUS(lk_params_set(params, "gama", "1"), LK_EPARAM);
    CHECK_MESSAGE_HAS("'gama'");
    CHECK_MESSAGE_HAS("gamma, alpha"); /* lists the parameters it has */
    CHECK_STATUS(lk_params_parse(NULL, "gamma=1"), LK_EINVAL);
    CHECK(lk_params_get(params, "gama", NULL, 0) == -1);
    CHECK(lk_params_get(NULL, "gamma", NULL, 0) == -1);
    char small[3];
    CHECK(lk_params_get(params, "reduction", small, sizeof small) == 4); /* "mean" needs 4 */
    CHECK(strcmp(small, "me") == 0);
    lk_params_destroy(NULL);
    lk_params_destroy(params);
}

static void test_clone_is_deep(void)
{
    lk_params *params = make("focal");
    CHECK_OK(lk_params_parse(params, "alpha=[0.1,0.2],gamma=4"));
    lk_params *copy = lk_params_clone(params);
    CHECK(copy != NULL);
    CHECK_OK(lk_params_parse(params, "alpha=[0.9],gamma=1"));
    expect_value(copy, "alpha", "[0.1,0.2]");
    expect_value(copy, "gamma", "4");
    CHECK(lk_params_clone(NULL) == NULL);
    lk_params_destroy(copy);
    lk_params_destroy(params);
}

static void test_long_lists(void)
{
    lk_params *params = make("cross_entropy");
    size_t count = 3000;
    char *spec = malloc(count * 8 + 16);
    size_t used = (size_t)sprintf(spec, "weight=[");
    for (size_t i = 0; i < count; i++) used += (size_t)sprintf(spec + used, "%s%zu", i ? "," : "", i % 7);
    sprintf(spec + used, "]");
    CHECK_OK(lk_params_parse(params, spec)); /* longer than the item buffer: parsed by lk_params_set */
    free(spec);
    double *many = malloc(70000 * sizeof *many);
    for (int i = 0; i < 70000; i++) many[i] = 1;
    CHECK_STATUS(lk_params_set_floats(params, "weight", many, 70000), LK_EPARAM);
    free(many);
    lk_params_destroy(params);
}

/* Every parameter's current value, as text, in one string. */
static void snapshot(lk_params *params, const lk_loss_desc *desc, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < lk_loss_param_count(desc) && used < size; i++) {
        char value[512];
        lk_params_get(params, lk_loss_param(desc, i)->name, value, sizeof value);
        int n = snprintf(out + used, size - used, "%s=%s;", lk_loss_param(desc, i)->name, value);
        used += n > 0 ? (size_t)n : 0;
    }
}

/* Appends piece to spec if it fits. */
static void append_piece(char *spec, size_t size, const char *piece)
{
    size_t used = strlen(spec);
    if (used + strlen(piece) + 1 < size) strcpy(spec + used, piece);
}

/* Half the specs are key=value items made of the loss's own parameter names
 * and plausible values, half are random runs of grammar pieces. */
static void random_spec(const lk_loss_desc *desc, lk_rng *rng, char *spec, size_t size)
{
    static const char *const pieces[] = {
        "gamma", "alpha", "weight", "reduction", "=", "=", ",", ",", "[", "]", " ", "0", "1",
        "2.5", "-1", "1e999", "nan", "inf", "mean", "x", "==", "[]", "[,]", ".", "\t", "1,2"};
    static const char *const values[] = {
        "0", "1", "2", "0.5", "0.25", "-1", "-100", "255", "1e-3", "100", "1e999", "nan", "mean",
        "sum", "none", "softmax", "sigmoid", "given", "inverse_frequency", "true", "[]", "[1]",
        "[0.5,2,1]", "[1, 2]", "[1,-2]", " 3 ", "[", "x", ""};
    spec[0] = '\0';
    long long count = 1 + lk_rng_below(rng, 4);
    int structured = lk_rng_uniform(rng) < 0.5;
    for (long long k = 0; k < (structured ? count : 3 * count); k++) {
        if (!structured) {
            append_piece(spec, size, pieces[lk_rng_below(rng, (long long)(sizeof pieces / sizeof pieces[0]))]);
            continue;
        }
        if (k) append_piece(spec, size, ",");
        size_t n_params = lk_loss_param_count(desc);
        int junk = lk_rng_uniform(rng) < 0.1;
        append_piece(spec, size, junk ? "gama" : lk_loss_param(desc, (size_t)lk_rng_below(rng, (long long)n_params))->name);
        append_piece(spec, size, "=");
        append_piece(spec, size, values[lk_rng_below(rng, (long long)(sizeof values / sizeof values[0]))]);
    }
}

/* Random specs: the parser never crashes (the suite also runs under
 * ASan/UBSan), answers LK_OK or LK_EPARAM, changes nothing when it refuses,
 * and what it accepts reads back into text that sets the same values. */
static void test_random_specs(void)
{
    lk_rng rng = {77};
    int accepted = 0, refused = 0;
    for (size_t l = 0; l < lk_loss_count(); l++) {
        const lk_loss_desc *desc = lk_loss_at(l);
        lk_params *params = make(lk_loss_name(desc));
        for (int trial = 0; trial < 10000; trial++) {
            char spec[256];
            random_spec(desc, &rng, spec, sizeof spec);
            char before[2048], after[2048];
            snapshot(params, desc, before, sizeof before);
            lk_status status = lk_params_parse(params, spec);
            snapshot(params, desc, after, sizeof after);
            CHECK_MSG(status == LK_OK || status == LK_EPARAM, "'%s': %s", spec, lk_status_name(status));
            if (status != LK_OK) {
                refused++;
                CHECK_MSG(strcmp(before, after) == 0, "'%s' was refused but changed the parameters", spec);
                continue;
            }
            accepted++;
            for (size_t i = 0; i < lk_loss_param_count(desc); i++) { /* read back, set again */
                const char *name = lk_loss_param(desc, i)->name;
                char value[512];
                lk_params_get(params, name, value, sizeof value);
                CHECK_MSG(lk_params_set(params, name, value) == LK_OK, "%s=%s does not read back: %s", name,
                          value, lk_last_error());
            }
            snapshot(params, desc, before, sizeof before);
            CHECK_MSG(strcmp(before, after) == 0, "'%s': values changed when set from their own text", spec);
        }
        lk_params_destroy(params);
    }
    printf("  %d accepted, %d refused\n", accepted, refused);
    CHECK_MSG(accepted > 1000 && refused > 1000, "weak sample: %d accepted, %d refused", accepted, refused);
}

int main(int argc, char **argv)
{
    static const lk_test tests[] = {
        {"defaults", test_defaults},
        {"parse_spec", test_parse_spec},
        {"spec_is_all_or_nothing", test_spec_is_all_or_nothing},
        {"spec_syntax_errors", test_spec_syntax_errors},
        {"ranges", test_ranges},
        {"typed_setters", test_typed_setters},
        {"bool_and_choice_text", test_bool_and_choice_text},
        {"null_and_unknown", test_null_and_unknown},
        {"clone_is_deep", test_clone_is_deep},
        {"long_lists", test_long_lists},
        {"random_specs", test_random_specs},
    };
    return lk_test_main(tests, sizeof tests / sizeof tests[0], argc, argv);
}
