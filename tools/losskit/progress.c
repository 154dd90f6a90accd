/* The CLI's progress bar (progress.h). */
#define _POSIX_C_SOURCE 200809L /* fileno, isatty */

#include <stdio.h>
#include <unistd.h>

#include "progress.h"

enum { BAR_WIDTH = 20, LINE_WIDTH = 72 };

void lk_progress_begin(lk_progress *progress, size_t total)
{
    progress->enabled = isatty(fileno(stderr)) && total > 0;
    progress->total = total;
    progress->done = 0;
}

void lk_progress_show(lk_progress *progress, size_t done, const char *label)
{
    if (!progress->enabled) return;
    progress->done = done < progress->total ? done : progress->total;
    char bar[BAR_WIDTH + 1];
    size_t filled = progress->done * BAR_WIDTH / progress->total;
    for (size_t i = 0; i < BAR_WIDTH; i++) bar[i] = i < filled ? '#' : '-';
    bar[BAR_WIDTH] = '\0';
    int width = (int)(LINE_WIDTH - BAR_WIDTH - 12);
    fprintf(stderr, "\r[%s] %2zu/%-2zu %-*.*s", bar, progress->done, progress->total, width, width,
            label);
    fflush(stderr);
}

void lk_progress_end(lk_progress *progress)
{
    if (!progress->enabled) return;
    fprintf(stderr, "\r%*s\r", LINE_WIDTH, "");
    fflush(stderr);
    progress->enabled = 0;
}
