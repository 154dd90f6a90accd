/*
 * Which losses a command runs: --loss NAME[:key=value,...] (repeatable) and
 * --category C (repeatable), read from the registry. Shared by explore and
 * bench.
 */
#ifndef LK_CLI_SELECTION_H
#define LK_CLI_SELECTION_H

#include <stddef.h>

#include "losskit.h"

typedef struct lk_cli_loss {
    const lk_loss_desc *desc;
    lk_params *params;
    char label[128]; /* "focal" or "focal:gamma=1" as the user wrote it */
} lk_cli_loss;

typedef struct lk_cli_selection {
    lk_cli_loss *losses;
    size_t count;
    unsigned categories; /* bit (1 << lk_category) per --category given */
} lk_cli_selection;

/* Adds the loss of a spec "name" or "name:key=value,..."; on failure prints
 * "losskit COMMAND: ..." (the registry's message) to stderr and returns 0. */
int lk_cli_selection_add_spec(lk_cli_selection *selection, const char *command, const char *spec);

/* Records --category C; prints an error naming the valid ones and returns 0
 * for an unknown category. */
int lk_cli_selection_add_category(lk_cli_selection *selection, const char *command,
                                  const char *category);

/* After parsing: adds every registered loss (with its defaults) of the
 * categories given, or of default_categories when no --loss and no
 * --category was given. Returns 0 on ENOMEM (message printed). */
int lk_cli_selection_finish(lk_cli_selection *selection, const char *command,
                            unsigned default_categories);

void lk_cli_selection_free(lk_cli_selection *selection);

#define LK_CLI_CATEGORY_BIT(category) (1u << (unsigned)(category))

#endif
