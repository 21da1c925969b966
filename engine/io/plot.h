/* Line plots as SVG: the epsilon sweep's V-curve, sweeps of a metric against a setting, loss
 * curves, analytic against numerical gradients with error bars; and heat maps of a metric over
 * two settings. Written as standalone files or returned as text for the HTML reports.
 *
 * Layout rules: the legend sits right of the plot area, one row per series (and one more for
 * a series' marker label), and the picture grows to hold it, so it never covers data or gets
 * clipped. Series s is drawn in palette colour s % 10 with dash pattern s / 10 (solid, dashed,
 * dotted, dash-dot): 40 series stay distinguishable. Linear ticks are round numbers (1, 2 or 5
 * times a power of ten) and the axis is widened to the ticks around the data; log axes tick
 * every decade, labelled 0.001 ... 10000 or 1e-6. Each series is one <path class="series">. */
#ifndef ENGINE_IO_PLOT_H
#define ENGINE_IO_PLOT_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

#include <stdbool.h>

#include "../error.h"

typedef struct eng_plot_series {
    const char *label;
    int n;
    const double *x, *y; /* non-finite points (and non-positive ones on a log axis) are skipped */
    const double *yerr;  /* [optional] half-width of each point's error bar (drawn as y +- yerr) */
    bool points_only;    /* markers without the connecting line (scatter plots) */
} eng_plot_series;

typedef struct eng_plot {
    const char *title, *xlabel, *ylabel;
    bool logx, logy;
    int nseries;
    const eng_plot_series *series;
    int nmarks; /* vertical marker lines, e.g. the chosen step: marker m in
                 * series m's colour, labelled under its legend entry */
    const double *mark_x;
    const char *const *mark_label;
    bool auto_logx, auto_logy; /* use a log axis when the values are positive and span at
                                  least two decades (logx/logy then ignored) */
    bool diagonal;             /* draw the line y = x (analytic against numerical) */
} eng_plot;

/* The plot as SVG text; [out] *svg is malloc'ed, owned by the caller. Errors (nothing to
 * plot, no memory) name the plot's title. */
ENG_MUST_CHECK eng_status eng_plot_svg(const eng_plot *plot, char **svg);

/* Writes the plot to path (overwriting it). Errors name the file. */
ENG_MUST_CHECK eng_status eng_plot_write_svg(const eng_plot *plot, const char *path);

/* A heat map of values [ny][nx] (row-major, row j = y category j): each cell coloured on a
 * sequential scale (viridis) between the finite minimum and maximum, its value printed in it;
 * a cell whose status [optional, ny*nx strings] is not NULL or "" shows that text ("diverged",
 * "error") on grey, and a non-finite value without status shows "-". low_is_good reverses the
 * scale's legend wording only. [out] *svg malloc'ed. */
typedef struct eng_heatmap {
    const char *title, *xlabel, *ylabel, *value_label;
    int nx, ny;
    const char *const *xticks, *const *yticks; /* nx and ny category labels */
    const double *values;
    const char *const *status;
    bool low_is_good;
} eng_heatmap;

ENG_MUST_CHECK eng_status eng_heatmap_svg(const eng_heatmap *map, char **svg);

#pragma GCC visibility pop

#endif
