/*
 * Loss selection of the explore and bench commands: specs and categories,
 * resolved against the registry.
 */
#include "selection.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static lk_cli_loss *append_loss(lk_cli_selection *selection, const char *command)
{
    lk_cli_loss *grown = realloc(selection->losses, (selection->count + 1) * sizeof *grown);
    if (!grown) {
        fprintf(stderr, "losskit %s: out of memory\n", command);
        return NULL;
    }
    selection->losses = grown;
    lk_cli_loss *loss = &grown[selection->count];
    memset(loss, 0, sizeof *loss);
    return loss;
}

int lk_cli_selection_add_spec(lk_cli_selection *selection, const char *command, const char *spec)
{
    char name[64];
    const char *colon = strchr(spec, ':');
    size_t name_length = colon ? (size_t)(colon - spec) : strlen(spec);
    if (name_length == 0 || name_length >= sizeof name) {
        fprintf(stderr, "losskit %s: --loss '%s': expected NAME or NAME:key=value,...\n", command,
                spec);
        return 0;
    }
    memcpy(name, spec, name_length);
    name[name_length] = '\0';
    const lk_loss_desc *desc = lk_loss_find(name);
    if (!desc) {
        fprintf(stderr, "losskit %s: --loss '%s': %s\n", command, spec, lk_last_error());
        return 0;
    }
    lk_params *params;
    if (lk_params_create(desc, &params) != LK_OK) {
        fprintf(stderr, "losskit %s: %s\n", command, lk_last_error());
        return 0;
    }
    if (colon && lk_params_parse(params, colon + 1) != LK_OK) {
        fprintf(stderr, "losskit %s: --loss '%s': %s\n", command, spec, lk_last_error());
        lk_params_destroy(params);
        return 0;
    }
    lk_cli_loss *loss = append_loss(selection, command);
    if (!loss) {
        lk_params_destroy(params);
        return 0;
    }
    loss->desc = desc;
    loss->params = params;
    snprintf(loss->label, sizeof loss->label, "%s", spec);
    selection->count++;
    return 1;
}

int lk_cli_selection_add_category(lk_cli_selection *selection, const char *command,
                                  const char *category)
{
    for (int c = LK_CATEGORY_PIXEL; c <= LK_CATEGORY_GENERAL; c++)
        if (strcmp(lk_category_name((lk_category)c), category) == 0) {
            selection->categories |= LK_CLI_CATEGORY_BIT(c);
            return 1;
        }
    fprintf(stderr,
            "losskit %s: unknown category '%s' (pixel, region, boundary, compound, general)\n",
            command, category);
    return 0;
}

int lk_cli_selection_finish(lk_cli_selection *selection, const char *command,
                            unsigned default_categories)
{
    unsigned categories = selection->categories;
    if (!categories && selection->count == 0) categories = default_categories;
    for (size_t i = 0; i < lk_loss_count(); i++) {
        const lk_loss_desc *desc = lk_loss_at(i);
        if (!(categories & LK_CLI_CATEGORY_BIT(lk_loss_category(desc)))) continue;
        if (!lk_cli_selection_add_spec(selection, command, lk_loss_name(desc))) return 0;
    }
    return 1;
}

void lk_cli_selection_free(lk_cli_selection *selection)
{
    for (size_t i = 0; i < selection->count; i++) lk_params_destroy(selection->losses[i].params);
    free(selection->losses);
    selection->losses = NULL;
    selection->count = 0;
}
