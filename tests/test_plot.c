/* SVG plots (engine/io/plot.h): round tick values worked out by hand, the legend outside the
 * data and never clipped, 12 series told apart by colour and dash, automatic log axes, error
 * bars, heat maps with marked cells, and the errors. */
#include "support.h"

#include "io/plot.h"

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* The text of every <text ...>label</text> whose label is made of digits, '.', '-' and 'e'. */
static int tick_labels(const char *svg, char labels[][32], int max)
{
    int n = 0;
    for (const char *p = strstr(svg, "<text"); p && n < max; p = strstr(p + 1, "<text")) {
        const char *gt = strchr(p, '>'), *end = gt ? strstr(gt, "</text>") : NULL;
        if (!end || end - gt - 1 >= 32 || end - gt - 1 == 0)
            continue;
        size_t len = (size_t)(end - gt - 1);
        if (strspn(gt + 1, "0123456789.-e") != len)
            continue;
        memcpy(labels[n], gt + 1, len);
        labels[n++][len] = 0;
    }
    return n;
}

static bool has_label(char labels[][32], int n, const char *want)
{
    for (int i = 0; i < n; i++)
        if (strcmp(labels[i], want) == 0)
            return true;
    return false;
}

static void test_plot_ticks_are_round_numbers(void **state)
{
    (void)state;
    /* y from 0.094 to 7.2 (the values the issue quotes): a range of 7.1 over ~5 intervals is
     * 1.42, whose nice number is 1 (1.42 < 1.5); so ticks 0, 1, ..., 8 (by hand). x from 1 to
     * 37: 36 / 5 = 7.2 -> 10 (7.2 >= 7): ticks 0, 10, ..., 40. */
    double x[] = {1, 10, 37}, y[] = {0.094, 0.23, 7.2};
    eng_plot_series s = {"loss", 3, x, y, NULL, false};
    eng_plot p = {.title = "t", .xlabel = "step", .ylabel = "loss", .nseries = 1, .series = &s};
    char *svg;
    assert_ok(eng_plot_svg(&p, &svg));
    char labels[64][32];
    int n = tick_labels(svg, labels, 64);
    for (int i = 0; i < n; i++)
        print_message("tick %s\n", labels[i]);
    assert_int_equal(n, 9 + 5);
    for (const char *const *w = (const char *const[]){"0", "1", "4", "8", "10", "30", "40", NULL};
         *w; w++)
        assert_true(has_label(labels, n, *w));
    assert_false(has_label(labels, n, "0.094"));
    assert_false(has_label(labels, n, "7.2"));
    free(svg);
    /* a small range: 0.0123 to 0.0187 -> step 0.001 (0.00128 -> 1e-3), labels with 3
     * decimals */
    double y2[] = {0.0123, 0.0150, 0.0187};
    s.y = y2;
    assert_ok(eng_plot_svg(&p, &svg));
    n = tick_labels(svg, labels, 64);
    assert_true(has_label(labels, n, "0.012") && has_label(labels, n, "0.019"));
    assert_false(has_label(labels, n, "0.0123"));
    free(svg);
}

static void test_plot_auto_log_axis_where_values_span_decades(void **state)
{
    (void)state;
    double x[] = {1, 2, 3, 4}, y[] = {2.5, 0.3, 0.004, 0.0007};
    eng_plot_series s = {"loss", 4, x, y, NULL, false};
    eng_plot p = {.title = "t", .nseries = 1, .series = &s, .auto_logx = true, .auto_logy = true};
    char *svg;
    assert_ok(eng_plot_svg(&p, &svg));
    char labels[64][32];
    int n = tick_labels(svg, labels, 64);
    /* y: decades 1e-4 .. 10 labelled 1e-4, 0.001, 0.01, 0.1, 1, 10; x (1..4) stays linear:
     * 3 / 5 = 0.6 -> step 0.5, ticks 1.0, 1.5, ..., 4.0 */
    assert_true(has_label(labels, n, "1e-4") && has_label(labels, n, "0.001") &&
                has_label(labels, n, "10"));
    assert_true(has_label(labels, n, "1.5") && has_label(labels, n, "4.0"));
    assert_false(has_label(labels, n, "4.5"));
    free(svg);
    /* a range within one decade stays linear */
    double y2[] = {0.3, 0.5, 0.7, 0.9};
    s.y = y2;
    assert_ok(eng_plot_svg(&p, &svg));
    n = tick_labels(svg, labels, 64);
    assert_true(has_label(labels, n, "0.3") && has_label(labels, n, "0.9"));
    assert_false(has_label(labels, n, "1e-4"));
    free(svg);
}

/* The number after attr=" in s. */
static double attr(const char *s, const char *name)
{
    char key[32];
    snprintf(key, sizeof key, " %s=\"", name);
    const char *p = strstr(s, key);
    return p ? atof(p + strlen(key)) : NAN;
}

static void test_plot_legend_sits_outside_the_data_and_fits_twelve_series(void **state)
{
    (void)state;
    enum { NS = 12, N = 5 };
    double x[N] = {1, 2, 3, 4, 5}, y[NS][N];
    eng_plot_series s[NS];
    char names[NS][64];
    for (int k = 0; k < NS; k++) {
        for (int i = 0; i < N; i++)
            y[k][i] = k + i;
        snprintf(names[k], sizeof names[k], "lr=%g,optimizer=adam,momentum=0.9 (completed)",
                 1e-3 * (k + 1));
        s[k] = (eng_plot_series){names[k], N, x, y[k], NULL, false};
    }
    eng_plot p = {.title = "curves", .nseries = NS, .series = s};
    char *svg;
    assert_ok(eng_plot_svg(&p, &svg));
    /* the plot area is the first rect with a stroke; every legend entry starts right of it */
    const char *frame = strstr(svg, "fill=\"none\" stroke=\"#333\"");
    assert_non_null(frame);
    while (frame > svg && strncmp(frame, "<rect", 5) != 0)
        frame--;
    double right = attr(frame, "x") + attr(frame, "width");
    double width = attr(svg, "width"), height = attr(svg, "height");
    assert_int_equal(count(svg, "<g class=\"legend\">"), NS);
    int pairs = 0;
    char seen[NS][64];
    for (const char *g = strstr(svg, "<g class=\"legend\">"); g;
         g = strstr(g + 1, "<g class=\"legend\">")) {
        double lx = attr(g, "x1"), ly = attr(g, "y1");
        assert_true(lx > right);            /* right of the data */
        assert_true(ly > 0 && ly < height); /* inside the picture */
        /* colour and dash of this entry, all different */
        const char *st = strstr(g, "stroke=\"");
        const char *dash = strstr(g, "stroke-dasharray=\"");
        const char *end = strstr(g, "/>");
        snprintf(seen[pairs], 64, "%.7s %.8s", st + 8, dash && dash < end ? dash + 18 : "solid");
        for (int k = 0; k < pairs; k++)
            assert_string_not_equal(seen[k], seen[pairs]);
        pairs++;
        /* the label text (cut at 44 characters) fits the picture: 7 px a character */
        assert_true(attr(g, "x") + 45 * 7 <= width + 1);
    }
    assert_int_equal(pairs, NS);
    assert_int_equal(count(svg, "<path class=\"series\""), NS);
    free(svg);
}

static void test_plot_error_bars_and_diagonal(void **state)
{
    (void)state;
    double n[] = {1e-6, 1e-4, 1e-2}, a[] = {1.1e-6, 0.9e-4, 1e-2}, e[] = {2e-7, 1e-5, 1e-9};
    eng_plot_series s = {"conv1.weight", 3, n, a, e, true};
    eng_plot p = {.title = "analytic vs numerical",
                  .logx = true,
                  .logy = true,
                  .nseries = 1,
                  .series = &s,
                  .diagonal = true};
    char *svg;
    assert_ok(eng_plot_svg(&p, &svg));
    assert_int_equal(count(svg, "<path class=\"errbar\""), 1);
    assert_int_equal(count(svg, "<path class=\"diagonal\""), 1);
    /* one vertical bar (V) per point */
    const char *bars = strstr(svg, "<path class=\"errbar\"");
    const char *end = strstr(bars, "/>");
    int v = 0;
    for (const char *q = bars; q < end; q++)
        v += *q == 'V';
    assert_int_equal(v, 3);
    free(svg);
}

static void test_heatmap_marks_diverged_and_crashed_cells(void **state)
{
    (void)state;
    const char *xs[] = {"0.001", "0.01", "0.1"}, *ys[] = {"sgd", "adam"};
    double values[] = {0.7, 0.8, NAN, 0.75, 0.85, 0.5};
    const char *status[] = {NULL, NULL, "diverged", NULL, NULL, "error"};
    eng_heatmap m = {"accuracy", "lr", "optimizer", "accuracy", 3,    2,
                     xs,         ys,   values,      status,     false};
    char *svg;
    assert_ok(eng_heatmap_svg(&m, &svg));
    assert_int_equal(count(svg, "<rect class=\"cell\""), 6);
    assert_int_equal(count(svg, ">diverged</text>"), 1);
    assert_int_equal(count(svg, ">error</text>"), 1);
    assert_int_equal(count(svg, ">0.85</text>"), 1);
    /* the best finite unmarked value (0.85) gets the top colour of viridis, the worst (0.7)
     * the bottom one */
    assert_non_null(strstr(svg, "fill=\"#fde725\" stroke=\"white\"><title>0.01, adam: 0.85"));
    assert_non_null(strstr(svg, "fill=\"#440154\" stroke=\"white\"><title>0.001, sgd: 0.7"));
    free(svg);
}

static void test_plot_errors_name_the_plot_and_file(void **state)
{
    (void)state;
    double x[] = {NAN}, y[] = {1};
    eng_plot_series s = {"a", 1, x, y, NULL, false};
    eng_plot p = {.title = "empty one", .nseries = 1, .series = &s};
    char *svg;
    assert_error(eng_plot_svg(&p, &svg), ENG_EARG, "plot 'empty one': nothing to plot");
    assert_error(eng_plot_write_svg(&p, "/nonexistent/x.svg"), ENG_EARG, "/nonexistent/x.svg");
    double x2[] = {1};
    s.x = x2;
    assert_error(eng_plot_write_svg(&p, "/nonexistent/x.svg"), ENG_EIO,
                 "/nonexistent/x.svg: cannot write the plot");
    eng_heatmap m = {0};
    assert_error(eng_heatmap_svg(&m, &svg), ENG_EARG, "0 x 0 cells");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plot_ticks_are_round_numbers),
        cmocka_unit_test(test_plot_auto_log_axis_where_values_span_decades),
        cmocka_unit_test(test_plot_legend_sits_outside_the_data_and_fits_twelve_series),
        cmocka_unit_test(test_plot_error_bars_and_diagonal),
        cmocka_unit_test(test_heatmap_marks_diverged_and_crashed_cells),
        cmocka_unit_test(test_plot_errors_name_the_plot_and_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
