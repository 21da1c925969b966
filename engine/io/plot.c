/* SVG line plots (plot.h). Tick values follow Heckbert's "nice numbers" (Graphics Gems, 1990):
 * a step of 1, 2 or 5 times a power of ten giving about five intervals. */
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svg_internal.h"

enum { LEFT = 80, TOP = 44, PLOT_W = 480, PLOT_H = 320, BOTTOM = 56, ROW = 18 };

/* Colour-blind-aware palette (Tableau 10, reordered) and dash patterns: series s gets colour
 * s % 10 and dash s / 10. */
const char *const eng_svg_palette[ENG_SVG_NCOLORS] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                                      "#9467bd", "#8c564b", "#e377c2", "#17becf",
                                                      "#7f7f7f", "#bcbd22"};
static const char *const dashes[] = {"", "7,4", "2,3", "9,3,2,3"};

typedef struct scale {
    bool log;
    double lo, hi; /* in axis units (log10 of the value on a log axis) */
    double step;   /* tick step in axis units */
} scale;

static bool usable(double v, bool log_axis)
{
    return isfinite(v) && (!log_axis || v > 0);
}

static double to_axis(double v, bool log_axis)
{
    return log_axis ? log10(v) : v;
}

/* 1, 2 or 5 times a power of ten, near x (rounded) */
static double nice_number(double x)
{
    double e = floor(log10(x)), f = x / pow(10, e);
    double nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
    return nf * pow(10, e);
}

static void make_scale(scale *s, double lo, double hi, bool log_axis)
{
    s->log = log_axis;
    if (log_axis) {
        s->lo = floor(lo);
        s->hi = ceil(hi);
        if (s->hi == s->lo)
            s->lo -= 1, s->hi += 1;
        double decades = s->hi - s->lo;
        s->step = decades > 20 ? 5 : decades > 10 ? 2 : 1;
        s->lo = floor(s->lo / s->step) * s->step;
        s->hi = ceil(s->hi / s->step) * s->step;
        return;
    }
    if (hi == lo) {
        double pad = lo == 0 ? 1 : fabs(lo) * 0.1;
        lo -= pad, hi += pad;
    }
    s->step = nice_number((hi - lo) / 5);
    s->lo = floor(lo / s->step + 1e-9) * s->step;
    s->hi = ceil(hi / s->step - 1e-9) * s->step;
}

/* A tick label: the decade as a plain number where short (0.001 .. 10000), else 1e-6; linear
 * ticks with as many decimals as the step needs. */
static void tick_label(char *buf, size_t size, const scale *s, double v)
{
    if (s->log) {
        int e = (int)lround(v);
        if (e >= 0 && e <= 4)
            snprintf(buf, size, "%.0f", pow(10, e));
        else if (e < 0 && e >= -3)
            snprintf(buf, size, "%.*f", -e, pow(10, e));
        else
            snprintf(buf, size, "1e%d", e);
        return;
    }
    double big = fmax(fabs(s->lo), fabs(s->hi));
    if (fabs(v) < s->step * 1e-6)
        v = 0;
    if (big >= 1e6 || s->step < 1e-4) {
        snprintf(buf, size, "%.3g", v);
        return;
    }
    int decimals = (int)fmax(0, -floor(log10(s->step) + 1e-9));
    snprintf(buf, size, "%.*f", decimals, v);
}

static double px(const scale *s, double v, double x0, double w)
{
    return x0 + (v - s->lo) / (s->hi - s->lo) * w;
}

/* Whether the positive values of an axis span at least two decades. */
static bool spans_decades(const eng_plot *p, bool x_axis)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int s = 0; s < p->nseries; s++)
        for (int i = 0; i < p->series[s].n; i++) {
            double v = x_axis ? p->series[s].x[i] : p->series[s].y[i];
            if (!isfinite(v))
                continue;
            if (v <= 0)
                return false;
            lo = fmin(lo, v), hi = fmax(hi, v);
        }
    return lo < hi && hi / lo >= 100;
}

static void draw_axes(eng_svg *o, const scale *xs, const scale *ys, const eng_plot *p)
{
    double x0 = LEFT, y0 = TOP + PLOT_H;
    for (int a = 0; a < 2; a++) {
        const scale *s = a == 0 ? xs : ys;
        int count = (int)lround((s->hi - s->lo) / s->step);
        for (int i = 0; i <= count; i++) {
            double v = s->lo + s->step * i;
            char label[32];
            tick_label(label, sizeof label, s, v);
            if (a == 0) {
                double x = px(s, v, x0, PLOT_W);
                eng_svg_printf(o,
                               "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" "
                               "stroke=\"#e3e3e3\"/><text x=\"%.1f\" y=\"%.1f\" "
                               "text-anchor=\"middle\">%s</text>\n",
                               x, TOP, x, y0, x, y0 + 18, label);
            } else {
                double y = y0 - (v - s->lo) / (s->hi - s->lo) * PLOT_H;
                eng_svg_printf(o,
                               "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
                               "stroke=\"#e3e3e3\"/><text x=\"%d\" y=\"%.1f\" "
                               "text-anchor=\"end\">%s</text>\n",
                               LEFT, y, LEFT + PLOT_W, y, LEFT - 6, y + 4, label);
            }
        }
        /* minor ticks at 2..9 times each decade, when the decades are few */
        if (s->log && s->step == 1 && count <= 6)
            for (int i = 0; i < count; i++)
                for (int m = 2; m <= 9; m++) {
                    double v = s->lo + i + log10(m);
                    if (a == 0)
                        eng_svg_printf(o,
                                       "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                                       "stroke=\"#999\"/>\n",
                                       px(s, v, x0, PLOT_W), y0, px(s, v, x0, PLOT_W), y0 - 4);
                    else {
                        double y = y0 - (v - s->lo) / (s->hi - s->lo) * PLOT_H;
                        eng_svg_printf(o,
                                       "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
                                       "stroke=\"#999\"/>\n",
                                       LEFT, y, LEFT + 4, y);
                    }
                }
    }
    eng_svg_printf(o,
                   "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
                   "stroke=\"#333\"/>\n",
                   LEFT, TOP, PLOT_W, PLOT_H);
    eng_svg_printf(o, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", LEFT + PLOT_W / 2,
                   TOP + PLOT_H + 42);
    eng_svg_text(o, p->xlabel);
    eng_svg_printf(o,
                   "</text>\n<text transform=\"translate(18,%d) rotate(-90)\" "
                   "text-anchor=\"middle\">",
                   TOP + PLOT_H / 2);
    eng_svg_text(o, p->ylabel);
    eng_svg_printf(o, "</text>\n");
}

static void draw_series(eng_svg *o, const scale *xs, const scale *ys, const eng_plot_series *s,
                        int k)
{
    const char *color = eng_svg_palette[k % ENG_SVG_NCOLORS];
    const char *dash = dashes[(k / ENG_SVG_NCOLORS) % 4];
    double y0 = TOP + PLOT_H;
#define PX(v) px(xs, to_axis(v, xs->log), LEFT, PLOT_W)
#define PY(v) (y0 - (to_axis(v, ys->log) - ys->lo) / (ys->hi - ys->lo) * PLOT_H)
    if (s->yerr) {
        eng_svg_printf(o, "<path class=\"errbar\" stroke=\"%s\" stroke-width=\"1\" d=\"", color);
        for (int i = 0; i < s->n; i++) {
            if (!usable(s->x[i], xs->log) || !usable(s->y[i], ys->log) || !isfinite(s->yerr[i]))
                continue;
            double hi = s->y[i] + fabs(s->yerr[i]), lo = s->y[i] - fabs(s->yerr[i]);
            double ylo = usable(lo, ys->log) ? fmin(PY(lo), y0) : y0;
            double yhi = fmax(PY(hi), (double)TOP);
            double x = PX(s->x[i]);
            eng_svg_printf(o, "M%.1f %.1fV%.1fM%.1f %.1fh6M%.1f %.1fh6", x, ylo, yhi, x - 3, ylo,
                           x - 3, yhi);
        }
        eng_svg_printf(o, "\"/>\n");
    }
    eng_svg_printf(o,
                   "<path class=\"series\" fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"%s%s%s"
                   " d=\"",
                   color, s->points_only ? "0" : "1.8", dash[0] ? " stroke-dasharray=\"" : "", dash,
                   dash[0] ? "\"" : "");
    bool pen_down = false;
    for (int i = 0; i < s->n; i++) {
        if (!usable(s->x[i], xs->log) || !usable(s->y[i], ys->log)) {
            pen_down = false; /* a gap where a value is missing */
            continue;
        }
        eng_svg_printf(o, "%c%.1f %.1f", pen_down ? 'L' : 'M', PX(s->x[i]), PY(s->y[i]));
        pen_down = true;
    }
    eng_svg_printf(o, "\"><title>");
    eng_svg_text(o, s->label);
    eng_svg_printf(o, "</title></path>\n");
    if (s->n <= 200)
        for (int i = 0; i < s->n; i++)
            if (usable(s->x[i], xs->log) && usable(s->y[i], ys->log))
                eng_svg_printf(o, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%s\" fill=\"%s\"/>\n",
                               PX(s->x[i]), PY(s->y[i]), s->points_only ? "3" : "2.2", color);
#undef PX
#undef PY
}

/* The legend right of the plot: a line sample in the series' colour and dash, the label (cut
 * at 44 characters, whole in a tooltip), and the marker's label on a row of its own. */
static void draw_legend(eng_svg *o, const eng_plot *p, int x0)
{
    int y = TOP + 10;
    for (int k = 0; k < p->nseries; k++) {
        const char *color = eng_svg_palette[k % ENG_SVG_NCOLORS];
        const char *dash = dashes[(k / ENG_SVG_NCOLORS) % 4];
        eng_svg_printf(o,
                       "<g class=\"legend\"><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
                       "stroke=\"%s\" stroke-width=\"2.2\"%s%s%s/><text x=\"%d\" y=\"%d\">",
                       x0, y - 4, x0 + 26, y - 4, color, dash[0] ? " stroke-dasharray=\"" : "",
                       dash, dash[0] ? "\"" : "", x0 + 32, y);
        eng_svg_text_cut(o, p->series[k].label, 44);
        eng_svg_printf(o, "<title>");
        eng_svg_text(o, p->series[k].label);
        eng_svg_printf(o, "</title></text></g>\n");
        y += ROW;
        if (k < p->nmarks && p->mark_label && p->mark_label[k]) {
            eng_svg_printf(o, "<text x=\"%d\" y=\"%d\" font-size=\"10\" fill=\"#444\">", x0 + 32,
                           y - 3);
            eng_svg_text_cut(o, p->mark_label[k], 52);
            eng_svg_printf(o, "</text>\n");
            y += ROW - 4;
        }
    }
}

static int legend_width(const eng_plot *p)
{
    size_t longest = 0;
    for (int k = 0; k < p->nseries; k++) {
        size_t n = p->series[k].label ? strlen(p->series[k].label) : 0;
        longest = n > longest ? n : longest;
    }
    if (longest > 44)
        longest = 44;
    int width = p->nseries ? 40 + (int)longest * 7 : 0;
    /* marker labels, in a 10 px font (about 6 px a character), cut at 52 characters */
    for (int m = 0; m < p->nmarks && m < p->nseries && p->mark_label; m++) {
        size_t n = p->mark_label[m] ? strlen(p->mark_label[m]) : 0;
        int w = 40 + (int)(n > 52 ? 52 : n) * 6;
        width = w > width ? w : width;
    }
    return width;
}

eng_status eng_plot_svg(const eng_plot *plot, char **svg)
{
    *svg = NULL;
    bool logx = plot->auto_logx ? spans_decades(plot, true) : plot->logx;
    bool logy = plot->auto_logy ? spans_decades(plot, false) : plot->logy;
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int s = 0; s < plot->nseries; s++) {
        const eng_plot_series *series = &plot->series[s];
        for (int i = 0; i < series->n; i++) {
            if (!usable(series->x[i], logx) || !usable(series->y[i], logy))
                continue;
            double x = to_axis(series->x[i], logx), y = to_axis(series->y[i], logy);
            x0 = fmin(x0, x), x1 = fmax(x1, x), y0 = fmin(y0, y), y1 = fmax(y1, y);
        }
    }
    if (!(x0 <= x1))
        return eng_error(ENG_EARG, "plot '%s': nothing to plot (no finite points%s)",
                         plot->title ? plot->title : "",
                         logx || logy ? " above zero on the log axes" : "");
    scale xs, ys;
    make_scale(&xs, x0, x1, logx);
    make_scale(&ys, y0, y1, logy);
    int rows = plot->nseries + (plot->mark_label ? plot->nmarks : 0);
    int width = LEFT + PLOT_W + 24 + legend_width(plot) + 10;
    int height = TOP + PLOT_H + BOTTOM;
    if (TOP + 20 + rows * ROW > height)
        height = TOP + 20 + rows * ROW;
    eng_svg o;
    eng_svg_begin(&o, width, height);
    eng_svg_printf(&o, "<text x=\"%d\" y=\"24\" font-size=\"15\">", LEFT);
    eng_svg_text(&o, plot->title);
    eng_svg_printf(&o, "</text>\n");
    draw_axes(&o, &xs, &ys, plot);
    if (plot->diagonal) {
        /* y = x over the common range, grey and dashed */
        double a = fmax(xs.lo, ys.lo), b = fmin(xs.hi, ys.hi);
        if (a < b && xs.log == ys.log)
            eng_svg_printf(
                &o,
                "<path class=\"diagonal\" stroke=\"#888\" stroke-dasharray=\"4,4\" "
                "d=\"M%.1f %.1fL%.1f %.1f\"/>\n",
                px(&xs, a, LEFT, PLOT_W), TOP + PLOT_H - (a - ys.lo) / (ys.hi - ys.lo) * PLOT_H,
                px(&xs, b, LEFT, PLOT_W), TOP + PLOT_H - (b - ys.lo) / (ys.hi - ys.lo) * PLOT_H);
    }
    for (int m = 0; m < plot->nmarks; m++) {
        if (!usable(plot->mark_x[m], logx))
            continue;
        double x = px(&xs, to_axis(plot->mark_x[m], logx), LEFT, PLOT_W);
        eng_svg_printf(&o,
                       "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\" "
                       "stroke-dasharray=\"5,4\"/>\n",
                       x, TOP, x, TOP + PLOT_H, eng_svg_palette[m % ENG_SVG_NCOLORS]);
    }
    for (int s = 0; s < plot->nseries; s++)
        draw_series(&o, &xs, &ys, &plot->series[s], s);
    draw_legend(&o, plot, LEFT + PLOT_W + 24);
    return eng_svg_end(&o, plot->title, svg);
}

eng_status eng_plot_write_svg(const eng_plot *plot, const char *path)
{
    char *svg;
    eng_status st = eng_plot_svg(plot, &svg);
    if (st)
        return eng_error_wrap(st, "%s", path);
    st = eng_svg_write_file(path, svg);
    free(svg);
    return st;
}
