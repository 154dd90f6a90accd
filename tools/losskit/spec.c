/*
 * Loss specs on the command line: "focal:gamma=2", or a weighted sum
 * "dice:smooth_nr=1 + 0.5*focal:gamma=2", read with the library's
 * lk_compound_parse (include/losskit.h), so every command takes the same
 * form and reports the same positioned errors. `losskit list --spec SPEC`
 * shows what a spec parses to.
 */
#include <stdlib.h>

#include "cli.h"
#include "losskit.h"

static void print_term_params(FILE *out, const lk_compound *sum, size_t k)
{
    const lk_loss_desc *desc = lk_compound_term_loss(sum, k);
    const lk_params *params = lk_compound_term_params(sum, k);
    for (size_t i = 0; i < lk_loss_param_count(desc); i++) {
        const char *name = lk_loss_param(desc, i)->name;
        int length = lk_params_get(params, name, NULL, 0);
        char *value = length >= 0 ? malloc((size_t)length + 1) : NULL;
        if (!value) continue;
        lk_params_get(params, name, value, (size_t)length + 1);
        fprintf(out, "%s%s=%s", i ? " " : "", name, value);
        free(value);
    }
}

int lk_cli_print_spec(FILE *out, const char *spec)
{
    lk_compound *sum = NULL;
    if (lk_compound_parse(spec, &sum) != LK_OK) {
        fprintf(stderr, "losskit: %s\n", lk_last_error());
        return LK_EXIT_FAILURE;
    }
    fprintf(out, "%-10s %-24s %s\n", "WEIGHT", "LOSS", "PARAMETERS");
    for (size_t k = 0; k < lk_compound_term_count(sum); k++) {
        fprintf(out, "%-10.6g %-24s ", lk_compound_term_weight(sum, k),
                lk_loss_name(lk_compound_term_loss(sum, k)));
        print_term_params(out, sum, k);
        fprintf(out, "\n");
    }
    fprintf(out, "inputs:");
    for (size_t i = 0; i < lk_compound_input_count(sum); i++) {
        const lk_input_info *input = lk_compound_input(sum, i);
        fprintf(out, " %s%s", input->name, input->differentiable ? " (gradient)" : "");
    }
    fprintf(out, "\n");
    lk_compound_destroy(sum);
    return LK_EXIT_OK;
}
