/* Progress display (progress.h). One display is one line of work: a counter, its total, the
 * time it started. Redraws are rate-limited by a deadline kept as an atomic integer, and the
 * thread that wins a compare-and-swap on `busy` draws; the others return at once, so a step
 * costs an atomic add and a clock read. */
#include "progress.h"

#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define LABEL_MAX 96
#define NOTE_MAX 96
#define LINE_MAX_CHARS 400

struct eng_progress {
    char label[LABEL_MAX];
    char unit[24];
    char note[NOTE_MAX];
    int64_t total;
    _Atomic int64_t done;
    _Atomic int64_t next_draw_us; /* clock time (microseconds) of the next allowed redraw */
    _Atomic int busy;             /* 1 while a thread draws or the owner edits the note */
    _Atomic int64_t draws;
    FILE *stream;
    bool quiet, tty, color;
    double interval; /* seconds between redraws (tty) or lines (plain) */
    double t0;
    double (*clock)(void *);
    void *clock_ctx;
};

static _Atomic bool default_verbose = true;

void eng_progress_set_verbose(bool verbose)
{
    atomic_store(&default_verbose, verbose);
}

bool eng_progress_verbose(void)
{
    return atomic_load(&default_verbose);
}

static double monotonic_seconds(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now(const eng_progress *p)
{
    return p->clock(p->clock_ctx);
}

static bool term_is_dumb(void)
{
    const char *term = getenv("TERM");
    return term && strcmp(term, "dumb") == 0;
}

static bool no_color(void)
{
    const char *v = getenv("NO_COLOR"); /* https://no-color.org: set and non-empty */
    return v && v[0];
}

char *eng_progress_format_time(char *buf, double seconds)
{
    if (!isfinite(seconds) || seconds < 0 || seconds > 3.6e8) {
        strcpy(buf, "?");
        return buf;
    }
    int s = (int)(seconds + 0.5); /* at most 3.6e8: fits an int, and 16 bytes hold it */
    if (s >= 3600)
        snprintf(buf, 16, "%d:%02d:%02d", s / 3600 % 1000000, s / 60 % 60, s % 60);
    else
        snprintf(buf, 16, "%d:%02d", s / 60 % 60, s % 60);
    return buf;
}

static void format_rate(char *buf, size_t size, double rate, const char *unit)
{
    if (!isfinite(rate) || rate <= 0)
        snprintf(buf, size, "- %s/s", unit);
    else if (rate >= 1)
        snprintf(buf, size, "%.*f %s/s", rate >= 100 ? 0 : rate >= 10 ? 1 : 2, rate, unit);
    else
        snprintf(buf, size, "%.2f s/%s", 1.0 / rate, unit);
}

static int terminal_width(FILE *stream)
{
    struct winsize ws;
    if (ioctl(fileno(stream), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        return ws.ws_col;
    const char *cols = getenv("COLUMNS");
    int c = cols ? atoi(cols) : 0;
    return c >= 20 && c < LINE_MAX_CHARS ? c : 80;
}

/* The figures after the bar: "47%  188/400  93.1 it/s  0:02  ETA 0:02  note". */
static void figures(const eng_progress *p, int64_t done, double elapsed, bool final, char *out,
                    size_t size)
{
    char rate[48], el[16], eta[16];
    double r = elapsed > 0 ? (double)done / elapsed : NAN;
    format_rate(rate, sizeof rate, r, p->unit);
    eng_progress_format_time(el, elapsed);
    int n = 0;
    if (p->total > 0)
        n = snprintf(out, size, "%3d%%  %lld/%lld  %s  %s", (int)(100.0 * done / p->total),
                     (long long)done, (long long)p->total, rate, el);
    else
        n = snprintf(out, size, "%lld  %s  %s", (long long)done, rate, el);
    if (p->total > 0 && !final && n >= 0 && (size_t)n < size) {
        eng_progress_format_time(eta, done > 0 ? (double)(p->total - done) / r : NAN);
        n += snprintf(out + n, size - (size_t)n, "  ETA %s", eta);
    }
    if (p->note[0] && n >= 0 && (size_t)n < size)
        snprintf(out + n, size - (size_t)n, "  %s", p->note);
}

/* One redraw of the terminal line: "\r", label, bar, figures, note, clear to the end of line.
 * The bar and the figures are kept; the note is cut to what the width leaves. The final line
 * is not cut (a newline follows, so wrapping harms nothing). */
static void draw_tty(eng_progress *p, int64_t done, double elapsed, bool final)
{
    char fig[LINE_MAX_CHARS], bar[LINE_MAX_CHARS];
    char note[NOTE_MAX];
    memcpy(note, p->note, sizeof note);
    p->note[0] = 0; /* the figures without the note; the note is written after them */
    figures(p, done, elapsed, final, fig, sizeof fig);
    memcpy(p->note, note, sizeof note);
    int width = terminal_width(p->stream) - 1;
    if (width > LINE_MAX_CHARS - 1)
        width = LINE_MAX_CHARS - 1;
    int label_len = (int)strlen(p->label), fig_len = (int)strlen(fig);
    int bar_len = width - label_len - fig_len - 4; /* " [" + "] " */
    if (bar_len > 30)
        bar_len = 30;
    bar[0] = 0;
    if (p->total > 0 && bar_len >= 8) {
        int fill = (int)((double)bar_len * (double)done / (double)p->total);
        fill = fill < 0 ? 0 : fill > bar_len ? bar_len : fill;
        for (int i = 0; i < bar_len; i++)
            bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
        bar[bar_len] = 0;
    }
    const char *bold = p->color ? "\033[1m" : "", *green = p->color ? "\033[32m" : "";
    const char *reset = p->color ? "\033[0m" : "";
    int room = width - label_len - (bar[0] ? bar_len + 3 : 0) - 1;
    room = room < 0 ? 0 : room;
    int note_room = final ? NOTE_MAX : room - fig_len - 2;
    fprintf(p->stream, "\r%s%s%s", bold, p->label, reset);
    if (bar[0])
        fprintf(p->stream, " [%s%s%s]", green, bar, reset);
    fprintf(p->stream, " %.*s", final ? LINE_MAX_CHARS : room, fig);
    if (note[0] && note_room > 0)
        fprintf(p->stream, "  %.*s", note_room, note);
    fprintf(p->stream, "\033[K%s", final ? "\n" : "");
    fflush(p->stream);
}

/* One plain line: "label: 188/400 (47%), 93.1 it/s, elapsed 0:02, ETA 0:02, note". */
static void draw_plain(eng_progress *p, int64_t done, double elapsed, bool final)
{
    char rate[48], el[16], eta[16];
    double r = elapsed > 0 ? (double)done / elapsed : NAN;
    format_rate(rate, sizeof rate, r, p->unit);
    eng_progress_format_time(el, elapsed);
    fprintf(p->stream, "%s: ", p->label);
    if (p->total > 0)
        fprintf(p->stream, "%lld/%lld %s", (long long)done, (long long)p->total, p->unit);
    else
        fprintf(p->stream, "%lld %s", (long long)done, p->unit);
    if (final) {
        fprintf(p->stream, " in %s (%s)", el, rate);
    } else {
        eng_progress_format_time(eta, p->total > 0 && done > 0 ? (p->total - done) / r : NAN);
        fprintf(p->stream, " (%d%%), %s, elapsed %s",
                p->total > 0 ? (int)(100.0 * done / p->total) : 0, rate, el);
        if (p->total > 0)
            fprintf(p->stream, ", ETA %s", eta);
    }
    if (p->note[0])
        fprintf(p->stream, ", %s", p->note);
    fputc('\n', p->stream);
    fflush(p->stream);
}

static void draw(eng_progress *p, double t, bool final)
{
    int64_t done = atomic_load(&p->done);
    if (p->tty)
        draw_tty(p, done, t - p->t0, final);
    else
        draw_plain(p, done, t - p->t0, final);
    atomic_fetch_add(&p->draws, 1);
}

static void lock(eng_progress *p)
{
    int expected = 0;
    while (!atomic_compare_exchange_weak(&p->busy, &expected, 1)) {
        expected = 0;
        sched_yield();
    }
}

static void maybe_draw(eng_progress *p)
{
    if (p->quiet)
        return;
    double t = now(p);
    int64_t t_us = (int64_t)(t * 1e6);
    if (t_us < atomic_load(&p->next_draw_us))
        return;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&p->busy, &expected, 1))
        return; /* another thread is drawing */
    if (t_us >= atomic_load(&p->next_draw_us)) {
        draw(p, t, false);
        atomic_store(&p->next_draw_us, t_us + (int64_t)(p->interval * 1e6));
    }
    atomic_store(&p->busy, 0);
}

eng_status eng_progress_begin(eng_progress **out, const char *label, int64_t total,
                              const eng_progress_opts *opts)
{
    if (!out || !label)
        return eng_error(ENG_EARG, "progress: NULL %s", out ? "label" : "out");
    eng_progress_opts o = opts ? *opts : (eng_progress_opts){0};
    eng_progress *p = calloc(1, sizeof *p);
    if (!p)
        return eng_error(ENG_ENOMEM, "progress '%s': out of memory", label);
    snprintf(p->label, sizeof p->label, "%s", label);
    snprintf(p->unit, sizeof p->unit, "%s", o.unit ? o.unit : "it");
    p->total = total > 0 ? total : 0;
    p->stream = o.stream ? o.stream : stderr;
    p->clock = o.clock ? o.clock : monotonic_seconds;
    p->clock_ctx = o.clock_ctx;
    p->quiet = o.verbose == ENG_PROGRESS_QUIET ||
               (o.verbose == ENG_PROGRESS_DEFAULT && !eng_progress_verbose());
    if (o.mode == ENG_PROGRESS_AUTO)
        p->tty = isatty(fileno(p->stream)) && !term_is_dumb();
    else
        p->tty = o.mode == ENG_PROGRESS_TTY;
    p->color = o.color > 0 || (o.color == 0 && p->tty && !no_color() && !term_is_dumb());
    p->interval = p->tty ? 1.0 / ENG_PROGRESS_HZ : (o.interval > 0 ? o.interval : 30.0);
    p->t0 = now(p);
    /* a terminal shows the line at once; plain output waits for the first interval */
    atomic_store(&p->next_draw_us, (int64_t)((p->t0 + (p->tty ? 0 : p->interval)) * 1e6));
    *out = p;
    if (p->tty)
        maybe_draw(p);
    return ENG_OK;
}

void eng_progress_step(eng_progress *p, int64_t n)
{
    if (!p)
        return;
    atomic_fetch_add(&p->done, n);
    maybe_draw(p);
}

void eng_progress_set(eng_progress *p, int64_t done)
{
    if (!p)
        return;
    atomic_store(&p->done, done);
    maybe_draw(p);
}

void eng_progress_note(eng_progress *p, const char *fmt, ...)
{
    if (!p || p->quiet)
        return;
    lock(p);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->note, sizeof p->note, fmt, ap);
    va_end(ap);
    atomic_store(&p->busy, 0);
}

void eng_progress_set_total(eng_progress *p, int64_t total)
{
    if (!p)
        return;
    lock(p); /* a drawing thread reads the total */
    p->total = total > 0 ? total : 0;
    atomic_store(&p->busy, 0);
}

void eng_progress_message(eng_progress *p, const char *fmt, ...)
{
    if (!p || p->quiet)
        return;
    lock(p);
    if (p->tty && atomic_load(&p->draws) > 0)
        fputs("\r\033[K", p->stream);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(p->stream, fmt, ap);
    va_end(ap);
    fputc('\n', p->stream);
    fflush(p->stream);
    if (p->tty)
        atomic_store(&p->next_draw_us, 0); /* redraw at the next step */
    atomic_store(&p->busy, 0);
}

void eng_progress_clear(eng_progress *p)
{
    if (!p || p->quiet || !p->tty)
        return;
    lock(p);
    if (atomic_load(&p->draws) > 0) {
        fputs("\r\033[K", p->stream);
        fflush(p->stream);
    }
    atomic_store(&p->next_draw_us, 0); /* redraw at the next step */
    atomic_store(&p->busy, 0);
}

void eng_progress_end(eng_progress *p)
{
    if (!p)
        return;
    if (!p->quiet) {
        lock(p);
        draw(p, now(p), true);
        atomic_store(&p->busy, 0);
    }
    free(p);
}

void eng_progress_abandon(eng_progress *p)
{
    if (!p)
        return;
    if (!p->quiet && p->tty && atomic_load(&p->draws) > 0) {
        fputc('\n', p->stream);
        fflush(p->stream);
    }
    free(p);
}

int64_t eng_progress_draws(const eng_progress *p)
{
    return p ? atomic_load(&((eng_progress *)p)->draws) : 0;
}
