/* The registry's integrity: every entry complete and consistent, defaults and
 * examples valid, names unique, lookups and JSON. */
#include <stdlib.h>

#include "check.h"

static void test_entries_complete(void)
{
    CHECK(lk_loss_count() >= 6);
    for (size_t i = 0; i < lk_loss_count(); i++) {
        const lk_loss_desc *desc = lk_loss_at(i);
        const char *name = lk_loss_name(desc);
        CHECK(name && *name);
        CHECK_MSG(lk_loss_summary(desc) && strlen(lk_loss_summary(desc)) > 10, "%s: summary", name);
        CHECK_MSG(lk_loss_formula(desc) && *lk_loss_formula(desc), "%s: formula", name);
        CHECK_MSG(lk_loss_reference(desc) && *lk_loss_reference(desc), "%s: reference", name);
        CHECK_MSG(lk_loss_notes(desc) && *lk_loss_notes(desc), "%s: notes", name);
        CHECK_MSG(strcmp(lk_category_name(lk_loss_category(desc)), "unknown") != 0, "%s: category", name);
        CHECK_MSG(lk_loss_input_count(desc) >= 1 && lk_loss_input_count(desc) <= 8,
                  "%s: %zu inputs (lk_loss_compute handles 1 to LK_MAX_INPUTS = 8)", name,
                  lk_loss_input_count(desc));
        int differentiable = 0;
        for (size_t k = 0; k < lk_loss_input_count(desc); k++) {
            const lk_input_info *input = lk_loss_input(desc, k);
            CHECK_MSG(input->name && input->doc && input->dtypes, "%s: input %zu", name, k);
            differentiable |= input->differentiable;
        }
        CHECK_MSG(differentiable, "%s: no differentiable input", name);
        for (size_t k = 0; k < lk_loss_param_count(desc); k++) {
            const lk_param_info *param = lk_loss_param(desc, k);
            CHECK_MSG(param->name && param->doc && param->default_value, "%s: param %zu", name, k);
            CHECK_MSG(param->type != LK_PARAM_CHOICE || param->choices, "%s.%s: choices", name, param->name);
            for (size_t j = 0; j < k; j++)
                CHECK_MSG(strcmp(lk_loss_param(desc, j)->name, param->name) != 0, "%s: '%s' twice", name, param->name);
        }
        CHECK(lk_loss_param(desc, lk_loss_param_count(desc)) == NULL);
        CHECK(lk_loss_input(desc, lk_loss_input_count(desc)) == NULL);
        lk_params *params = NULL;
        CHECK_MSG(lk_params_create(desc, &params) == LK_OK, "%s: defaults invalid: %s", name, lk_last_error());
        size_t examples = 0;
        for (; lk_loss_example(desc, examples); examples++) {
            lk_params *example = lk_params_clone(params);
            CHECK_MSG(lk_params_parse(example, lk_loss_example(desc, examples)) == LK_OK, "%s: example '%s': %s",
                      name, lk_loss_example(desc, examples), lk_last_error());
            lk_params_destroy(example);
        }
        CHECK_MSG(examples >= 4, "%s: only %zu examples", name, examples);
        lk_params_destroy(params);
        for (size_t j = 0; j < i; j++) CHECK_MSG(strcmp(lk_loss_name(lk_loss_at(j)), name) != 0, "'%s' twice", name);
        CHECK(lk_loss_find(name) == desc);
    }
    CHECK(lk_loss_at(lk_loss_count()) == NULL);
}

static void test_find_unknown(void)
{
    CHECK(lk_loss_find("dice_typo") == NULL);
    CHECK_MESSAGE_HAS("'dice_typo'");
    CHECK_MESSAGE_HAS("cross_entropy"); /* lists the known names */
    CHECK(lk_loss_find(NULL) == NULL);
    CHECK(lk_loss_name(NULL) == NULL);
    CHECK(lk_loss_example(NULL, 0) == NULL);
}

static void test_json(void)
{
    const char *json = lk_registry_json();
    CHECK(json && json[0] == '{');
    CHECK(strstr(json, "\"losses\"") != NULL);
    for (size_t i = 0; i < lk_loss_count(); i++) {
        const char *one = lk_loss_json(lk_loss_at(i));
        CHECK(one && strstr(json, one) != NULL);
        char key[128];
        snprintf(key, sizeof key, "\"name\": \"%s\"", lk_loss_name(lk_loss_at(i)));
        CHECK(strstr(one, key) != NULL);
    }
    CHECK(lk_loss_json(NULL) == NULL);
    CHECK(lk_registry_json() == json); /* built once */
}

static void test_names_and_ranges(void)
{
    CHECK(strcmp(lk_status_name(LK_ESHAPE), "LK_ESHAPE") == 0);
    CHECK(strcmp(lk_status_name((lk_status)99), "LK_UNKNOWN") == 0);
    CHECK(strcmp(lk_dtype_name(LK_U8), "uint8") == 0 && lk_dtype_size(LK_F64) == 8);
    CHECK(lk_dtype_size((lk_dtype)42) == 0 && strcmp(lk_dtype_name((lk_dtype)42), "unknown") == 0);
    CHECK(strcmp(lk_category_name((lk_category)9), "unknown") == 0);
    char version[16];
    snprintf(version, sizeof version, "%d.%d.%d", LK_VERSION_MAJOR, LK_VERSION_MINOR, LK_VERSION_PATCH);
    CHECK(strcmp(lk_version(), version) == 0);
    lk_param_info open = {"k", LK_PARAM_FLOAT, "1", 0, 100, LK_RANGE_MIN_OPEN, NULL, "d"};
    char text[64];
    CHECK(strcmp(lk_param_range(&open, text, sizeof text), "(0, 100]") == 0);
    lk_param_info wide = {"w", LK_PARAM_FLOAT_LIST, "[]", 0, INFINITY, 0, NULL, "d"};
    CHECK(strcmp(lk_param_range(&wide, text, sizeof text), "[0, inf)") == 0);
    lk_param_info choice = {"r", LK_PARAM_CHOICE, "a", 0, 0, 0, "a|b", "d"};
    CHECK(strcmp(lk_param_range(&choice, text, sizeof text), "") == 0);
}

int main(int argc, char **argv)
{
    static const lk_test tests[] = {
        {"entries_complete", test_entries_complete},
        {"find_unknown", test_find_unknown},
        {"json", test_json},
        {"names_and_ranges", test_names_and_ranges},
    };
    return lk_test_main(tests, sizeof tests / sizeof tests[0], argc, argv);
}
