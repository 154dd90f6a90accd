/*
 * losskit list: the registry as a table (default), JSON (--json) or the
 * Markdown catalogue (--markdown, from which docs/losses.md is generated).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "losskit.h"

enum format { FORMAT_TABLE, FORMAT_JSON, FORMAT_MARKDOWN };

static void print_help(FILE *out)
{
    fprintf(out,
            "usage: losskit list [--json | --markdown] [--category CATEGORY]\n"
            "       losskit list --spec SPEC\n"
            "\n"
            "Lists every loss in the registry with its category, parameters and reference.\n"
            "\n"
            "  --json             the registry as JSON: every loss with its inputs, typed\n"
            "                     parameters (default, valid range, choices, doc) and examples\n"
            "  --markdown         the catalogue in Markdown (docs/losses.md is this output)\n"
            "  --category C       only the losses of category C: pixel, region, boundary,\n"
            "                     compound or general\n"
            "  --spec SPEC        the terms of a loss spec, \"focal:gamma=2\" or a weighted\n"
            "                     sum \"dice:smooth_nr=1 + 0.5*focal:gamma=2\": weight, loss and\n"
            "                     every parameter of each term (errors name the position)\n"
            "  -h, --help         this help\n");
}

static int in_category(const lk_loss_desc *desc, const char *category)
{
    return !category || strcmp(lk_category_name(lk_loss_category(desc)), category) == 0;
}

static int known_category(const char *category)
{
    for (int c = LK_CATEGORY_PIXEL; c <= LK_CATEGORY_GENERAL; c++)
        if (strcmp(lk_category_name((lk_category)c), category) == 0) return 1;
    return 0;
}

/* "gamma=2 alpha=[] reduction=mean" */
static void print_param_defaults(FILE *out, const lk_loss_desc *desc)
{
    for (size_t i = 0; i < lk_loss_param_count(desc); i++) {
        const lk_param_info *param = lk_loss_param(desc, i);
        fprintf(out, "%s%s=%s", i ? " " : "", param->name, param->default_value);
    }
}

/* The NAME column as wide as the longest name listed. */
static int name_column_width(const char *category)
{
    size_t width = strlen("NAME");
    for (size_t i = 0; i < lk_loss_count(); i++) {
        const lk_loss_desc *desc = lk_loss_at(i);
        if (in_category(desc, category) && strlen(lk_loss_name(desc)) > width)
            width = strlen(lk_loss_name(desc));
    }
    return (int)width;
}

static void print_table(FILE *out, const char *category)
{
    int width = name_column_width(category);
    fprintf(out, "%-*s %-9s %s\n", width, "NAME", "CATEGORY", "PARAMETERS (defaults)");
    for (size_t i = 0; i < lk_loss_count(); i++) {
        const lk_loss_desc *desc = lk_loss_at(i);
        if (!in_category(desc, category)) continue;
        fprintf(out, "%-*s %-9s ", width, lk_loss_name(desc),
                lk_category_name(lk_loss_category(desc)));
        print_param_defaults(out, desc);
        fprintf(out, "\n%-*s %-9s %s\n", width, "", "", lk_loss_reference(desc));
    }
}

static int print_json(FILE *out, const char *category)
{
    fprintf(out, "{\"version\": \"%s\", \"losses\": [", lk_version());
    int first = 1;
    for (size_t i = 0; i < lk_loss_count(); i++) {
        const lk_loss_desc *desc = lk_loss_at(i);
        if (!in_category(desc, category)) continue;
        const char *json = lk_loss_json(desc);
        if (!json) return LK_EXIT_FAILURE;
        fprintf(out, "%s%s", first ? "" : ",\n", json);
        first = 0;
    }
    fprintf(out, "]}\n");
    return LK_EXIT_OK;
}

static const char *shape_text(const lk_input_info *input)
{
    if (input->shape == LK_SHAPE_CLASS_TARGET && !(input->dtypes & LK_DTYPES_FLOAT))
        return "(N, *spatial) or (N, 1, *spatial)";
    return lk_shape_rule_text(input->shape);
}

static void print_dtypes(FILE *out, unsigned dtypes)
{
    int listed = 0;
    for (int dtype = 0; dtype < LK_DTYPE_COUNT; dtype++)
        if (dtypes & LK_DTYPE_BIT(dtype))
            fprintf(out, "%s%s", listed++ ? ", " : "", lk_dtype_name((lk_dtype)dtype));
}

static void print_range(FILE *out, const lk_param_info *param)
{
    if (param->type == LK_PARAM_CHOICE) {
        for (const char *c = param->choices; *c; c++) {
            if (*c == '|')
                fputs(" \\| ", out); /* a literal bar inside a Markdown table */
            else
                fputc(*c, out);
        }
        return;
    }
    if (param->type == LK_PARAM_BOOL) {
        fputs("true, false", out);
        return;
    }
    char range[96];
    fprintf(out, "%s%s", lk_param_range(param, range, sizeof range),
            param->type == LK_PARAM_FLOAT_LIST ? " each" : "");
}

static const char *type_text(lk_param_type type)
{
    static const char *const names[] = {"float", "int", "bool", "choice", "float list"};
    return (unsigned)type < sizeof names / sizeof names[0] ? names[type] : "?";
}

static void print_markdown_loss(FILE *out, const lk_loss_desc *desc)
{
    fprintf(out, "### `%s`\n\n%s.\n\n", lk_loss_name(desc), lk_loss_summary(desc));
    fprintf(out, "```\n%s\n```\n\n", lk_loss_formula(desc));
    fprintf(out, "**Reference.** %s\n\n", lk_loss_reference(desc));
    fprintf(out, "**Conventions.** %s\n\n", lk_loss_notes(desc));
    if (lk_loss_has_stats(desc))
        fprintf(out, "**Statistics API.** Yes: `lk_loss_stats` / `lk_loss_finalize` / "
                     "`lk_loss_backward` (Python: `Loss.stats`, `.finalize`, `.backward`; torch: "
                     "`.stats`, `.loss_from_stats`), for sums gathered across workers.\n\n");
    fprintf(out, "| input | dtypes | shape | gradient | meaning |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < lk_loss_input_count(desc); i++) {
        const lk_input_info *input = lk_loss_input(desc, i);
        fprintf(out, "| `%s` | ", input->name);
        print_dtypes(out, input->dtypes);
        fprintf(out, " | %s | %s | %s |\n", shape_text(input),
                input->differentiable ? "yes" : "no", input->doc);
    }
    fprintf(out, "\n| parameter | type | default | valid | meaning |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < lk_loss_param_count(desc); i++) {
        const lk_param_info *param = lk_loss_param(desc, i);
        fprintf(out, "| `%s` | %s | `%s` | ", param->name, type_text(param->type),
                param->default_value);
        print_range(out, param);
        fprintf(out, " | %s |\n", param->doc);
    }
    fprintf(out, "\nExamples (the test sweeps run each): ");
    for (size_t i = 0; lk_loss_example(desc, i); i++) {
        const char *spec = lk_loss_example(desc, i);
        fprintf(out, "%s`%s%s%s`", i ? ", " : "", lk_loss_name(desc), *spec ? ":" : "", spec);
    }
    fprintf(out, "\n\n");
}

static void print_markdown(FILE *out, const char *category)
{
    fprintf(out,
            "# Loss catalogue\n\n"
            "<!-- Generated by `losskit list --markdown` from the registry; do not edit. "
            "Regenerate with `make docs`. -->\n\n"
            "losskit %s: %zu losses. Every loss returns its value and its exact gradient for "
            "every input marked *gradient: yes*, in float32 and float64. A loss and its "
            "parameters are written `name:key=value,key=value` on the command line, and as "
            "keyword arguments in Python.\n\n",
            lk_version(), lk_loss_count());
    for (int c = LK_CATEGORY_PIXEL; c <= LK_CATEGORY_GENERAL; c++) {
        const char *name = lk_category_name((lk_category)c);
        if (category && strcmp(category, name) != 0) continue;
        int any = 0;
        for (size_t i = 0; i < lk_loss_count(); i++) any |= lk_loss_category(lk_loss_at(i)) == (lk_category)c;
        if (!any) continue;
        fprintf(out, "## %c%s losses\n\n", name[0] - 'a' + 'A', name + 1);
        for (size_t i = 0; i < lk_loss_count(); i++)
            if (lk_loss_category(lk_loss_at(i)) == (lk_category)c)
                fprintf(out, "- [`%s`](#%s): %s\n", lk_loss_name(lk_loss_at(i)),
                        lk_loss_name(lk_loss_at(i)), lk_loss_summary(lk_loss_at(i)));
        fprintf(out, "\n");
        for (size_t i = 0; i < lk_loss_count(); i++)
            if (lk_loss_category(lk_loss_at(i)) == (lk_category)c) print_markdown_loss(out, lk_loss_at(i));
    }
}

int lk_cli_list(int argc, char **argv)
{
    enum format format = FORMAT_TABLE;
    const char *category = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            format = FORMAT_JSON;
        } else if (strcmp(argv[i], "--markdown") == 0) {
            format = FORMAT_MARKDOWN;
        } else if (strcmp(argv[i], "--category") == 0 && i + 1 < argc) {
            category = argv[++i];
            if (!known_category(category)) {
                fprintf(stderr,
                        "losskit list: unknown category '%s' (pixel, region, boundary, compound, "
                        "general)\n",
                        category);
                return LK_EXIT_USAGE;
            }
        } else if (strcmp(argv[i], "--spec") == 0 && i + 1 < argc) {
            return lk_cli_print_spec(stdout, argv[i + 1]);
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            print_help(stdout);
            return LK_EXIT_OK;
        } else {
            fprintf(stderr, "losskit list: unexpected argument '%s'\n\n", argv[i]);
            print_help(stderr);
            return LK_EXIT_USAGE;
        }
    }
    switch (format) {
    case FORMAT_JSON: return print_json(stdout, category);
    case FORMAT_MARKDOWN: print_markdown(stdout, category); return LK_EXIT_OK;
    case FORMAT_TABLE: print_table(stdout, category); return LK_EXIT_OK;
    }
    return LK_EXIT_OK;
}
