/*
 * A one-line progress bar on stderr for the CLI's long runs, drawn only when
 * stderr is a terminal (pipes, files and CI logs get nothing):
 *
 *     [##########----------]  3/6  dice
 */
#ifndef LK_CLI_PROGRESS_H
#define LK_CLI_PROGRESS_H

#include <stddef.h>

typedef struct lk_progress {
    int enabled;
    size_t total, done;
} lk_progress;

/* Starts a bar of total steps (enabled when stderr is a terminal). */
void lk_progress_begin(lk_progress *progress, size_t total);
/* Draws the bar with done steps and the label of the step now running. */
void lk_progress_show(lk_progress *progress, size_t done, const char *label);
/* Erases the bar. */
void lk_progress_end(lk_progress *progress);

#endif
