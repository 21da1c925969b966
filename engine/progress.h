/* Progress of long work (training epochs, gradient checks, sweeps, dataset import) on stderr.
 *
 * Usage, from any helper of the library:
 *
 *     eng_progress *p;
 *     if (eng_progress_begin(&p, "gradcheck conv1.weight", n, NULL)) return ...;
 *     for (int64_t i = 0; i < n; i++) { ...; eng_progress_step(p, 1); }
 *     eng_progress_end(p);                  // final line; frees p (NULL is fine)
 *
 * On a terminal it is one line redrawn in place (at most ENG_PROGRESS_HZ times a second):
 *
 *     gradcheck conv1.weight [=========>          ]  47%  188/400  93.1 /s  0:02  ETA 0:02
 *
 * Off a terminal (a pipe, a file, TERM=dumb) it writes plain lines with no carriage returns:
 * one when the work ends, and in between at most one every `interval` seconds (default 30).
 * So a training epoch that takes less than that prints exactly one line.
 * NO_COLOR (any value) turns colours off; TERM=dumb also forces plain lines.
 * eng_progress_set_verbose(false), or opts.verbose = ENG_PROGRESS_QUIET, silences it.
 *
 * Threads: the counter is atomic and a redraw is claimed by one thread at a time, so any
 * number of threads may call eng_progress_step on one display; begin, note and end belong to
 * the one thread that owns it. */
#ifndef ENGINE_PROGRESS_H
#define ENGINE_PROGRESS_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

#define ENG_PROGRESS_HZ 10 /* the most redraws per second on a terminal */

typedef struct eng_progress eng_progress;

typedef enum eng_progress_mode {
    ENG_PROGRESS_AUTO = 0, /* terminal line if the stream is a tty and TERM is not dumb */
    ENG_PROGRESS_TTY,      /* force the redrawn line (tests) */
    ENG_PROGRESS_PLAIN,    /* force plain lines */
} eng_progress_mode;

typedef enum eng_progress_verbosity {
    ENG_PROGRESS_DEFAULT = 0, /* follow eng_progress_set_verbose (true unless set) */
    ENG_PROGRESS_QUIET,       /* print nothing */
    ENG_PROGRESS_VERBOSE,     /* print even when the process default is quiet */
} eng_progress_verbosity;

/* Options of one display; a zeroed struct (or NULL) means: stderr, auto mode, unit "it",
 * plain lines every 30 s, the process' verbosity, the monotonic clock. */
typedef struct eng_progress_opts {
    FILE *stream; /* [optional] where to write; stderr when NULL */
    eng_progress_mode mode;
    eng_progress_verbosity verbose;
    const char *unit; /* [optional] what is counted: "steps", "images"; "it" when NULL */
    double interval;  /* plain mode: seconds between intermediate lines; <= 0: 30 */
    int color;        /* -1: never; 0: auto (tty, no NO_COLOR, TERM not dumb); 1: always */
    /* [optional] the clock in seconds (tests inject one); monotonic time when NULL */
    double (*clock)(void *ctx);
    void *clock_ctx;
} eng_progress_opts;

/* Starts a display of `label` (copied) counting to total (<= 0: unknown, no ETA or bar) and
 * stores it in *out. Fails only on allocation (ENG_ENOMEM) or a NULL out/label (ENG_EARG).
 * A silenced display is still a valid object; every call on it is cheap and prints nothing. */
ENG_MUST_CHECK eng_status eng_progress_begin(eng_progress **out, const char *label, int64_t total,
                                             const eng_progress_opts *opts);

/* Adds n (>= 0) to the count and redraws if it is time. Safe from several threads. */
void eng_progress_step(eng_progress *p, int64_t n);

/* Sets the count to done (for work measured as "done so far"), redrawing if it is time. */
void eng_progress_set(eng_progress *p, int64_t done);

/* Changes the total the count runs to (<= 0: unknown), when the work turns out larger or
 * smaller than planned. Owner thread only. */
void eng_progress_set_total(eng_progress *p, int64_t total);

/* Sets a short text shown after the figures ("loss 0.3121"); printf-style, truncated to 95
 * characters. Owner thread only. */
void eng_progress_note(eng_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes one line of its own (printf-style, a newline added) on the display's stream, unless
 * the display is silenced; on a terminal above the bar, which the next step redraws. Owner
 * thread only. */
void eng_progress_message(eng_progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* On a terminal, erases the current line so that the caller can print a line of its own; the
 * next step redraws the display below it. Off a terminal it does nothing. Owner thread only. */
void eng_progress_clear(eng_progress *p);

/* Writes the final line (count, elapsed time, mean rate, note) and frees p; NULL is a no-op. */
void eng_progress_end(eng_progress *p);

/* Frees p without a final line (an error path); NULL is a no-op. On a tty it ends the line. */
void eng_progress_abandon(eng_progress *p);

/* Counts of what was written so far, for tests: redraws (tty) or lines (plain). */
int64_t eng_progress_draws(const eng_progress *p);

/* The process-wide default for displays made with ENG_PROGRESS_DEFAULT (initially true). */
void eng_progress_set_verbose(bool verbose);
bool eng_progress_verbose(void);

/* Formats seconds as "0:07", "12:34" or "1:02:03" into buf (size >= 16); "?" when not finite
 * or negative. Returns buf. */
char *eng_progress_format_time(char *buf, double seconds);

#pragma GCC visibility pop

#endif
