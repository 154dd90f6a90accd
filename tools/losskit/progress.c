/*
 * The progress bar: one line on stderr, redrawn in place with '\r'.
 */
#define _POSIX_C_SOURCE 200809L
#include "progress.h"

#include <stdio.h>
#include <unistd.h>

enum { BAR_WIDTH = 30 };

void lk_cli_progress_start(lk_cli_progress *progress, const char *what, size_t total)
{
    progress->enabled = isatty(fileno(stderr)) && total > 0;
    progress->done = 0;
    progress->total = total;
    progress->what = what;
}

void lk_cli_progress_step(lk_cli_progress *progress, const char *label)
{
    if (progress->done < progress->total) progress->done++;
    if (!progress->enabled) return;
    int filled = (int)(BAR_WIDTH * progress->done / progress->total);
    fprintf(stderr, "\r%s [%.*s%*s] %zu/%zu %-28.28s", progress->what, filled,
            "##############################", BAR_WIDTH - filled, "", progress->done,
            progress->total, label);
    fflush(stderr);
}

void lk_cli_progress_end(lk_cli_progress *progress)
{
    if (!progress->enabled) return;
    fprintf(stderr, "\r%*s\r", BAR_WIDTH + 80, "");
    fflush(stderr);
}
