/*
 * A progress bar on stderr for long runs, drawn only when stderr is a
 * terminal (never in pipes, logs or tests).
 */
#ifndef LK_CLI_PROGRESS_H
#define LK_CLI_PROGRESS_H

#include <stddef.h>

typedef struct lk_cli_progress {
    int enabled;
    size_t done, total;
    const char *what;
} lk_cli_progress;

/* Starts a bar of total steps, enabled when stderr is a terminal. */
void lk_cli_progress_start(lk_cli_progress *progress, const char *what, size_t total);
/* One more step done; the label (a loss name, say) is shown beside the bar. */
void lk_cli_progress_step(lk_cli_progress *progress, const char *label);
/* Erases the bar. */
void lk_cli_progress_end(lk_cli_progress *progress);

#endif
