/*
 * The SVG line-plot writer.
 */
#include "svg.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

enum {
    PLOT_LEFT = 70,
    PLOT_TOP = 50,
    PLOT_WIDTH = 560,
    PLOT_HEIGHT = 400,
    LEGEND_LEFT = PLOT_LEFT + PLOT_WIDTH + 30,
    LEGEND_ROW = 16,
    LEGEND_WIDTH = 290,
    TICKS = 5
};

/* d3's category10 colours, then four dash patterns: 40 distinct curves. */
static const char *const colours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
static const char *const dashes[] = {"none", "7,3", "2,2", "9,3,2,3"};
#define N_COLOURS (sizeof colours / sizeof colours[0])
#define N_DASHES (sizeof dashes / sizeof dashes[0])

static void write_escaped(FILE *out, const char *text)
{
    for (; *text; text++) switch (*text) {
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '&': fputs("&amp;", out); break;
        case '"': fputs("&quot;", out); break;
        default: fputc(*text, out);
        }
}

static double to_x(const lk_cli_plot *plot, double x)
{
    return PLOT_LEFT + PLOT_WIDTH * (x - plot->x_min) / (plot->x_max - plot->x_min);
}

static double to_y(const lk_cli_plot *plot, double y)
{
    return PLOT_TOP + PLOT_HEIGHT * (plot->y_max - y) / (plot->y_max - plot->y_min);
}

static void write_axes(FILE *out, const lk_cli_plot *plot)
{
    fprintf(out, "<g font-family=\"sans-serif\" font-size=\"12\" fill=\"#222\">\n");
    for (int k = 0; k <= TICKS; k++) {
        double x = plot->x_min + (plot->x_max - plot->x_min) * k / TICKS;
        double y = plot->y_min + (plot->y_max - plot->y_min) * k / TICKS;
        double px = to_x(plot, x), py = to_y(plot, y);
        fprintf(out,
                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>"
                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#222\"/>"
                "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n",
                px, PLOT_TOP, px, PLOT_TOP + PLOT_HEIGHT, px, PLOT_TOP + PLOT_HEIGHT, px,
                PLOT_TOP + PLOT_HEIGHT + 5, px, PLOT_TOP + PLOT_HEIGHT + 19, x);
        fprintf(out,
                "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#222\"/>"
                "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                PLOT_LEFT, py, PLOT_LEFT + PLOT_WIDTH, py, PLOT_LEFT - 5, py, PLOT_LEFT, py,
                PLOT_LEFT - 8, py + 4, y);
    }
    fprintf(out, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#222\"/>\n",
            PLOT_LEFT, PLOT_TOP, PLOT_WIDTH, PLOT_HEIGHT);
    fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", PLOT_LEFT + PLOT_WIDTH / 2,
            PLOT_TOP + PLOT_HEIGHT + 40);
    write_escaped(out, plot->x_label);
    fprintf(out, "</text>\n<text transform=\"translate(%d,%d) rotate(-90)\" text-anchor=\"middle\">",
            PLOT_LEFT - 45, PLOT_TOP + PLOT_HEIGHT / 2);
    write_escaped(out, plot->y_label);
    fprintf(out, "</text>\n<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"15\">",
            PLOT_LEFT + PLOT_WIDTH / 2, PLOT_TOP - 20);
    write_escaped(out, plot->title);
    fprintf(out, "</text>\n</g>\n");
}

static const char *dash_attribute(size_t i)
{
    return dashes[(i / N_COLOURS) % N_DASHES];
}

/* One polyline per run of finite points. */
static void write_curve(FILE *out, const lk_cli_plot *plot, const lk_cli_curve *curve, size_t i)
{
    int open = 0;
    for (size_t k = 0; k <= curve->count; k++) {
        int finite = k < curve->count && isfinite(curve->y[k]) && isfinite(curve->x[k]);
        if (finite && !open) {
            fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" "
                         "stroke-dasharray=\"%s\" points=\"", colours[i % N_COLOURS],
                    dash_attribute(i));
            open = 1;
        }
        if (finite) fprintf(out, "%.2f,%.2f ", to_x(plot, curve->x[k]), to_y(plot, curve->y[k]));
        if (!finite && open) {
            fprintf(out, "\"/>\n");
            open = 0;
        }
    }
}

static void write_legend(FILE *out, const lk_cli_curve *curves, size_t n_curves)
{
    fprintf(out, "<g font-family=\"sans-serif\" font-size=\"12\" fill=\"#222\">\n");
    for (size_t i = 0; i < n_curves; i++) {
        int y = PLOT_TOP + 6 + (int)i * LEGEND_ROW;
        fprintf(out,
                "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\" "
                "stroke-dasharray=\"%s\"/><text x=\"%d\" y=\"%d\">",
                LEGEND_LEFT, y, LEGEND_LEFT + 30, y, colours[i % N_COLOURS], dash_attribute(i),
                LEGEND_LEFT + 36, y + 4);
        write_escaped(out, curves[i].label);
        fprintf(out, "</text>\n");
    }
    fprintf(out, "</g>\n");
}

int lk_cli_svg_write(const char *path, const lk_cli_plot *plot, const lk_cli_curve *curves,
                     size_t n_curves)
{
    FILE *out = fopen(path, "w");
    if (!out) {
        fprintf(stderr, "losskit: cannot write %s: %s\n", path, strerror(errno));
        return 0;
    }
    int legend_bottom = PLOT_TOP + 20 + (int)n_curves * LEGEND_ROW;
    int height = legend_bottom > PLOT_TOP + PLOT_HEIGHT + 60 ? legend_bottom
                                                             : PLOT_TOP + PLOT_HEIGHT + 60;
    int width = LEGEND_LEFT + LEGEND_WIDTH;
    fprintf(out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            width, height, width, height);
    write_axes(out, plot);
    for (size_t i = 0; i < n_curves; i++) write_curve(out, plot, &curves[i], i);
    write_legend(out, curves, n_curves);
    fprintf(out, "</svg>\n");
    if (fclose(out) != 0) {
        fprintf(stderr, "losskit: cannot write %s: %s\n", path, strerror(errno));
        return 0;
    }
    return 1;
}
