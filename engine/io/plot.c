#include "plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

enum { WIDTH = 760, HEIGHT = 440, LEFT = 80, RIGHT = 230, TOP = 40, BOTTOM = 60 };

static const char *const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                                     "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};

static bool usable(double v, bool log_axis)
{
    return isfinite(v) && (!log_axis || v > 0);
}

static double axis(double v, bool log_axis)
{
    return log_axis ? log10(v) : v;
}

/* Text content is escaped so that labels from users cannot break the XML. */
static void put_escaped(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static void tick_label(char *buf, size_t size, double v, bool log_axis)
{
    if (log_axis)
        snprintf(buf, size, "1e%d", (int)lround(v));
    else
        snprintf(buf, size, "%.3g", v);
}

eng_status eng_plot_write_svg(const eng_plot *plot, const char *path)
{
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int s = 0; s < plot->nseries; s++) {
        const eng_plot_series *series = &plot->series[s];
        for (int i = 0; i < series->n; i++) {
            if (!usable(series->x[i], plot->logx) || !usable(series->y[i], plot->logy))
                continue;
            double x = axis(series->x[i], plot->logx), y = axis(series->y[i], plot->logy);
            x0 = fmin(x0, x), x1 = fmax(x1, x), y0 = fmin(y0, y), y1 = fmax(y1, y);
        }
    }
    if (!(x0 <= x1))
        return eng_error(ENG_EARG, "%s: nothing to plot (no finite points%s)", path,
                         plot->logx || plot->logy ? " above zero on the log axes" : "");
    if (plot->logx)
        x0 = floor(x0), x1 = ceil(x1);
    if (plot->logy)
        y0 = floor(y0), y1 = ceil(y1);
    if (x1 == x0)
        x0 -= 1, x1 += 1;
    if (y1 == y0)
        y0 -= 1, y1 += 1;
    errno = 0;
    FILE *f = fopen(path, "w");
    if (!f)
        return eng_error(ENG_EIO, "%s: cannot write the plot (%s)", path, strerror(errno));
    double pw = WIDTH - LEFT - RIGHT, ph = HEIGHT - TOP - BOTTOM;
#define PX(x) (LEFT + ((x) - x0) / (x1 - x0) * pw)
#define PY(y) (TOP + ph - ((y) - y0) / (y1 - y0) * ph)
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n", WIDTH, HEIGHT);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%d\" y=\"24\" font-size=\"15\">", LEFT);
    put_escaped(f, plot->title);
    fprintf(f, "</text>\n");
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"#333\"/>\n",
            LEFT, TOP, pw, ph);
    /* ticks: every decade on log axes, five intervals otherwise */
    for (int a = 0; a < 2; a++) {
        bool log_axis = a == 0 ? plot->logx : plot->logy;
        double lo = a == 0 ? x0 : y0, hi = a == 0 ? x1 : y1;
        int count = log_axis ? (int)(hi - lo) : 5;
        int every = count > 12 ? 2 : 1;
        for (int i = 0; i <= count; i += every) {
            double v = lo + (hi - lo) * i / count;
            char label[32];
            tick_label(label, sizeof label, v, log_axis);
            if (a == 0)
                fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                           "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                        PX(v), TOP, PX(v), TOP + ph, PX(v), TOP + ph + 18, label);
            else
                fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                           "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                        LEFT, PY(v), LEFT + pw, PY(v), LEFT - 6, PY(v) + 4, label);
        }
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", LEFT + pw / 2, HEIGHT - 18);
    put_escaped(f, plot->xlabel);
    fprintf(f, "</text>\n<text transform=\"translate(18,%.1f) rotate(-90)\" "
               "text-anchor=\"middle\">", TOP + ph / 2);
    put_escaped(f, plot->ylabel);
    fprintf(f, "</text>\n");
    /* Marker m is drawn in series m's colour; its label goes under that series' legend
     * entry. */
    for (int m = 0; m < plot->nmarks; m++) {
        if (!usable(plot->mark_x[m], plot->logx))
            continue;
        double x = PX(axis(plot->mark_x[m], plot->logx));
        const char *color = colors[m % (int)(sizeof colors / sizeof colors[0])];
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                   "stroke-dasharray=\"5,4\"/>\n", x, TOP, x, TOP + ph, color);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" fill=\"#444\">",
                LEFT + pw + 30, TOP + 25 + 30 * m);
        put_escaped(f, plot->mark_label ? plot->mark_label[m] : "");
        fprintf(f, "</text>\n");
    }
    for (int s = 0; s < plot->nseries; s++) {
        const eng_plot_series *series = &plot->series[s];
        const char *color = colors[s % (int)(sizeof colors / sizeof colors[0])];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" points=\"", color);
        for (int i = 0; i < series->n; i++)
            if (usable(series->x[i], plot->logx) && usable(series->y[i], plot->logy))
                fprintf(f, "%.1f,%.1f ", PX(axis(series->x[i], plot->logx)),
                        PY(axis(series->y[i], plot->logy)));
        fprintf(f, "\"/>\n");
        for (int i = 0; i < series->n; i++)
            if (usable(series->x[i], plot->logx) && usable(series->y[i], plot->logy))
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n",
                        PX(axis(series->x[i], plot->logx)), PY(axis(series->y[i], plot->logy)),
                        color);
        fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"14\" height=\"3\" fill=\"%s\"/>"
                   "<text x=\"%.1f\" y=\"%d\">", LEFT + pw + 12, TOP + 8 + 30 * s, color,
                LEFT + pw + 30, TOP + 12 + 30 * s);
        put_escaped(f, series->label);
        fprintf(f, "</text>\n");
    }
#undef PX
#undef PY
    fprintf(f, "</svg>\n");
    bool bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return eng_error(ENG_EIO, "%s: write failed (%s)", path, strerror(errno));
    return ENG_OK;
}
