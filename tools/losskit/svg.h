/*
 * Line plots as standalone SVG, written by hand (no dependencies): a frame
 * with ticks, tick labels and axis titles, one polyline per curve in a
 * distinct colour and dash pattern, and a legend beside the plot.
 */
#ifndef LK_CLI_SVG_H
#define LK_CLI_SVG_H

#include <stddef.h>

typedef struct lk_cli_curve {
    const char *label;
    const double *x, *y; /* count points; a non-finite y breaks the line there */
    size_t count;
} lk_cli_curve;

typedef struct lk_cli_plot {
    const char *title;
    const char *x_label, *y_label;
    double x_min, x_max, y_min, y_max;
} lk_cli_plot;

/* Writes the plot to path; returns 0 and prints the reason on failure. */
int lk_cli_svg_write(const char *path, const lk_cli_plot *plot, const lk_cli_curve *curves,
                     size_t n_curves);

#endif
