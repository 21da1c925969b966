/* SVG heat maps (plot.h): a metric over two settings of a sweep. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"
#include "svg_internal.h"

/* viridis at 0, 1/4, 1/2, 3/4, 1 (matplotlib's colormap), interpolated linearly */
static const int viridis[5][3] = {{0x44, 0x01, 0x54},
                                  {0x3b, 0x52, 0x8b},
                                  {0x21, 0x91, 0x8c},
                                  {0x5e, 0xc9, 0x62},
                                  {0xfd, 0xe7, 0x25}};

static void color_at(double t, char out[8])
{
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double f = t * 4;
    int i = f >= 4 ? 3 : (int)f;
    double u = f - i;
    int rgb[3];
    for (int c = 0; c < 3; c++)
        rgb[c] = (int)lround(viridis[i][c] + u * (viridis[i + 1][c] - viridis[i][c]));
    snprintf(out, 8, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}

static int longest(const char *const *labels, int n)
{
    int m = 0;
    for (int i = 0; i < n; i++) {
        int len = labels && labels[i] ? (int)strlen(labels[i]) : 0;
        m = len > m ? len : m;
    }
    return m > 24 ? 24 : m;
}

static void draw_cell(eng_svg *o, const eng_heatmap *m, int i, int j, double x, double y, double cw,
                      double ch, double lo, double hi)
{
    double v = m->values[(size_t)j * m->nx + i];
    const char *status = m->status ? m->status[(size_t)j * m->nx + i] : NULL;
    char fill[8] = "#bbbbbb", text[32];
    bool dark = false;
    /* positive values spanning two decades or more are coloured on a log scale */
    bool log_scale = lo > 0 && hi / lo >= 100;
    if (status && status[0]) {
        snprintf(text, sizeof text, "%s", status);
    } else if (isfinite(v)) {
        double t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
        if (log_scale)
            t = (log10(v) - log10(lo)) / (log10(hi) - log10(lo));
        color_at(t, fill);
        dark = t < 0.55;
        snprintf(text, sizeof text, "%.3g", v);
    } else {
        snprintf(text, sizeof text, "-");
    }
    eng_svg_printf(o,
                   "<rect class=\"cell\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                   "fill=\"%s\" stroke=\"white\"%s><title>",
                   x, y, cw, ch, fill, status && status[0] ? " stroke-dasharray=\"3,2\"" : "");
    eng_svg_text(o, m->xticks ? m->xticks[i] : "");
    eng_svg_printf(o, ", ");
    eng_svg_text(o, m->yticks ? m->yticks[j] : "");
    eng_svg_printf(o, ": ");
    eng_svg_text(o, text);
    eng_svg_printf(o,
                   "</title></rect>\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
                   "fill=\"%s\"%s>",
                   x + cw / 2, y + ch / 2 + 4, dark ? "white" : "#111",
                   status && status[0] ? " font-style=\"italic\"" : "");
    eng_svg_text(o, text);
    eng_svg_printf(o, "</text>\n");
}

eng_status eng_heatmap_svg(const eng_heatmap *m, char **svg)
{
    *svg = NULL;
    if (m->nx < 1 || m->ny < 1 || !m->values)
        return eng_error(ENG_EARG, "heat map '%s': %d x %d cells, expected at least 1 x 1",
                         m->title ? m->title : "", m->nx, m->ny);
    double lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < m->nx * m->ny; k++) {
        bool marked = m->status && m->status[k] && m->status[k][0];
        if (!marked && isfinite(m->values[k]))
            lo = fmin(lo, m->values[k]), hi = fmax(hi, m->values[k]);
    }
    double cw = m->nx > 8 ? 64 : 84, ch = 34;
    int left = 40 + longest(m->yticks, m->ny) * 7, top = 48;
    double gw = cw * m->nx, gh = ch * m->ny;
    int width = left + (int)gw + 160, height = top + (int)gh + 64;
    eng_svg o;
    eng_svg_begin(&o, width, height);
    eng_svg_printf(&o, "<text x=\"%d\" y=\"24\" font-size=\"15\">", left);
    eng_svg_text(&o, m->title);
    eng_svg_printf(&o, "</text>\n");
    for (int j = 0; j < m->ny; j++) {
        /* row 0 at the bottom, as on a plot's y axis */
        double y = top + gh - ch * (j + 1);
        for (int i = 0; i < m->nx; i++)
            draw_cell(&o, m, i, j, left + cw * i, y, cw, ch, lo, hi);
        eng_svg_printf(&o, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">", left - 6,
                       y + ch / 2 + 4);
        eng_svg_text_cut(&o, m->yticks ? m->yticks[j] : "", 24);
        eng_svg_printf(&o, "</text>\n");
    }
    for (int i = 0; i < m->nx; i++) {
        eng_svg_printf(&o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
                       left + cw * (i + 0.5), top + gh + 16);
        eng_svg_text_cut(&o, m->xticks ? m->xticks[i] : "", (int)(cw / 7));
        eng_svg_printf(&o, "</text>\n");
    }
    eng_svg_printf(&o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", left + gw / 2,
                   top + gh + 40);
    eng_svg_text(&o, m->xlabel);
    eng_svg_printf(&o,
                   "</text>\n<text transform=\"translate(16,%.1f) rotate(-90)\" "
                   "text-anchor=\"middle\">",
                   top + gh / 2);
    eng_svg_text(&o, m->ylabel);
    eng_svg_printf(&o, "</text>\n");
    /* the colour scale: 10 bands from the minimum (bottom) to the maximum (top) */
    if (lo <= hi) {
        double bx = left + gw + 24, bh = gh / 10;
        for (int b = 0; b < 10; b++) {
            char fill[8];
            color_at((b + 0.5) / 10, fill);
            eng_svg_printf(&o,
                           "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"%.1f\" "
                           "fill=\"%s\"/>\n",
                           bx, top + gh - bh * (b + 1), bh + 0.5, fill);
        }
        eng_svg_printf(&o,
                       "<text x=\"%.1f\" y=\"%d\" font-size=\"10\">%.3g%s</text>\n"
                       "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\">%.3g%s</text>\n",
                       bx + 18, top + 8, hi, m->low_is_good ? "" : " (best)", bx + 18, top + gh, lo,
                       m->low_is_good ? " (best)" : "");
        eng_svg_printf(&o, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\">", bx, top - 6);
        eng_svg_text_cut(&o, m->value_label, 14);
        eng_svg_printf(&o, "%s</text>\n", lo > 0 && hi / lo >= 100 ? " (log scale)" : "");
    }
    return eng_svg_end(&o, m->title, svg);
}
