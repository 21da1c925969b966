/* Line plots written as standalone SVG files: the epsilon sweep's V-curve, sweeps of a metric
 * against a setting, loss curves. */
#ifndef ENGINE_IO_PLOT_H
#define ENGINE_IO_PLOT_H

#include <stdbool.h>

#include "../error.h"

typedef struct eng_plot_series {
    const char *label;
    int n;
    const double *x, *y; /* non-finite points (and non-positive ones on a log axis) are skipped */
} eng_plot_series;

typedef struct eng_plot {
    const char *title, *xlabel, *ylabel;
    bool logx, logy;
    int nseries;
    const eng_plot_series *series;
    int nmarks;              /* vertical marker lines, e.g. the chosen step: marker m in
                              * series m's colour, labelled under its legend entry */
    const double *mark_x;
    const char *const *mark_label;
} eng_plot;

/* Writes the plot to path (overwriting it). Errors name the file. */
eng_status eng_plot_write_svg(const eng_plot *plot, const char *path);

#endif
