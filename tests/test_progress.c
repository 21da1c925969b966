/* The progress display (engine/progress.h): redraw rate on a terminal, plain lines off one,
 * ETA and rate against figures worked out by hand from an injected clock, NO_COLOR, the
 * verbosity switch and several producer threads. */
#include "support.h"

#include <pthread.h>

static double fake_time;
static double fake_clock(void *ctx)
{
    (void)ctx;
    return fake_time;
}

/* Everything the display wrote, read back from a temporary file. */
static char *slurp(FILE *f)
{
    long n = ftell(f);
    char *s = calloc(1, (size_t)n + 1);
    rewind(f);
    assert_true(fread(s, 1, (size_t)n, f) == (size_t)n);
    return s;
}

static int count_char(const char *s, char c)
{
    int n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

static eng_progress_opts opts_for(FILE *f, eng_progress_mode mode)
{
    eng_progress_opts o = {0};
    o.stream = f;
    o.mode = mode;
    o.verbose = ENG_PROGRESS_VERBOSE;
    o.clock = fake_clock;
    o.color = -1;
    return o;
}

static void test_progress_tty_redraws_at_most_ten_times_a_second(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    fake_time = 100;
    eng_progress_opts o = opts_for(f, ENG_PROGRESS_TTY);
    eng_progress *p;
    assert_ok(eng_progress_begin(&p, "train", 2000, &o));
    /* 2000 steps, 1 ms apart: 2 s of work. One draw at the start, then one per 0.1 s at most:
     * 1 + 20 draws (by hand: deadlines at 100.1, 100.2, ..., 102.0). */
    for (int i = 0; i < 2000; i++) {
        fake_time += 0.001;
        eng_progress_step(p, 1);
    }
    int64_t draws = eng_progress_draws(p);
    if (draws < 20 || draws > 21)
        print_message("draws %lld, expected 20 or 21\n", (long long)draws);
    assert_true(draws >= 20 && draws <= 21);
    eng_progress_end(p);
    char *s = slurp(f);
    assert_int_equal(count_char(s, '\r'), (int)draws + 1);
    assert_int_equal(count_char(s, '\n'), 1); /* only the final line ends with a newline */
    free(s);
    fclose(f);
}

static void test_progress_tty_line_shows_count_rate_elapsed_and_eta(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    fake_time = 0;
    eng_progress_opts o = opts_for(f, ENG_PROGRESS_TTY);
    o.unit = "steps";
    setenv("COLUMNS", "200", 1); /* wide enough for the full 30-character bar */
    eng_progress *p;
    assert_ok(eng_progress_begin(&p, "epoch 1/3", 400, &o));
    fake_time = 5; /* 100 of 400 in 5 s: 20 steps/s, 300 left: ETA 15 s */
    eng_progress_set(p, 100);
    eng_progress_abandon(p);
    char *s = slurp(f);
    const char *last = strrchr(s, '\r');
    assert_non_null(last);
    if (!strstr(last, " 25%  100/400  20.0 steps/s  0:05  ETA 0:15") ||
        !strstr(last, "epoch 1/3 [=======>"))
        print_message("line: '%s'\n", last + 1);
    assert_non_null(strstr(last, " 25%  100/400  20.0 steps/s  0:05  ETA 0:15"));
    assert_non_null(strstr(last, "epoch 1/3 [=======>")); /* 30-wide bar, a quarter full */
    assert_null(strstr(s, "\033[1m"));                    /* colour off (o.color = -1) */
    free(s);
    fclose(f);
}

/* Work that turns out smaller than planned: the new total gives the percentage and the ETA. */
static void test_progress_set_total_changes_percentage_and_eta(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    fake_time = 0;
    eng_progress_opts o = opts_for(f, ENG_PROGRESS_TTY);
    o.unit = "ms";
    setenv("COLUMNS", "200", 1);
    eng_progress *p;
    assert_ok(eng_progress_begin(&p, "check", 1000, &o));
    eng_progress_set_total(p, 400);
    fake_time = 10; /* 100 of 400 in 10 s: 10 ms/s, 300 left: ETA 30 s */
    eng_progress_set(p, 100);
    eng_progress_abandon(p);
    char *s = slurp(f);
    const char *last = strrchr(s, '\r');
    assert_non_null(last);
    if (!strstr(last, " 25%  100/400  10.0 ms/s  0:10  ETA 0:30"))
        print_message("line: '%s'\n", last + 1);
    assert_non_null(strstr(last, " 25%  100/400  10.0 ms/s  0:10  ETA 0:30"));
    free(s);
    fclose(f);
}

static void test_progress_plain_writes_one_line_at_the_end_of_short_work(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    fake_time = 0;
    eng_progress_opts o = opts_for(f, ENG_PROGRESS_PLAIN);
    o.unit = "steps";
    eng_progress *p;
    assert_ok(eng_progress_begin(&p, "epoch 2/5", 50, &o));
    eng_progress_note(p, "loss %.3f", 0.25);
    for (int i = 0; i < 50; i++) {
        fake_time += 0.1; /* 5 s in all, under the 30 s interval */
        eng_progress_step(p, 1);
    }
    eng_progress_end(p);
    char *s = slurp(f);
    assert_string_equal(s, "epoch 2/5: 50/50 steps in 0:05 (10.0 steps/s), loss 0.250\n");
    free(s);
    fclose(f);
}

static void test_progress_plain_writes_at_most_one_line_per_interval(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    fake_time = 0;
    eng_progress_opts o = opts_for(f, ENG_PROGRESS_PLAIN);
    o.interval = 10;
    eng_progress *p;
    assert_ok(eng_progress_begin(&p, "import", 0, &o)); /* unknown total */
    for (int i = 0; i < 1000; i++) { /* 35 s: lines at 10, 20, 30 s, then the final one */
        fake_time += 0.035;
        eng_progress_step(p, 3);
    }
    eng_progress_end(p);
    char *s = slurp(f);
    assert_int_equal(count_char(s, '\n'), 4);
    assert_int_equal(count_char(s, '\r'), 0);
    assert_null(strstr(s, "ETA")); /* no total, no estimate */
    assert_non_null(strstr(s, "import: 3000 it in 0:35"));
    free(s);
    fclose(f);
}

static void test_progress_quiet_writes_nothing(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    eng_progress_opts o = opts_for(f, ENG_PROGRESS_TTY);
    o.verbose = ENG_PROGRESS_DEFAULT;
    eng_progress_set_verbose(false);
    eng_progress *p;
    assert_ok(eng_progress_begin(&p, "quiet", 10, &o));
    eng_progress_step(p, 10);
    eng_progress_note(p, "x");
    eng_progress_end(p);
    eng_progress_set_verbose(true);
    o.verbose = ENG_PROGRESS_QUIET;
    assert_ok(eng_progress_begin(&p, "quiet", 10, &o));
    eng_progress_step(p, 10);
    eng_progress_end(p);
    assert_int_equal(ftell(f), 0);
    fclose(f);
}

static void test_progress_color_follows_no_color_and_dumb_term(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    eng_progress_opts o = opts_for(f, ENG_PROGRESS_TTY);
    o.color = 0; /* auto */
    setenv("NO_COLOR", "1", 1);
    eng_progress *p;
    assert_ok(eng_progress_begin(&p, "a", 10, &o));
    eng_progress_end(p);
    unsetenv("NO_COLOR");
    setenv("TERM", "xterm", 1);
    assert_ok(eng_progress_begin(&p, "b", 10, &o));
    eng_progress_end(p);
    char *s = slurp(f);
    char *b = strchr(s, '\n'); /* the end of the line of "a" */
    assert_non_null(b);
    *b = 0;
    assert_null(strstr(s, "\033[1m"));                           /* NO_COLOR: no colour for "a" */
    assert_non_null(strstr(b + 1, "\033[1mb\033[0m [\033[32m")); /* colour for "b" */
    free(s);
    fclose(f);
    /* TERM=dumb in auto mode: plain lines, whatever the stream */
    f = tmpfile();
    o.stream = f;
    setenv("TERM", "dumb", 1);
    o.mode = ENG_PROGRESS_AUTO;
    assert_ok(eng_progress_begin(&p, "c", 10, &o));
    eng_progress_step(p, 10);
    eng_progress_end(p);
    s = slurp(f);
    assert_int_equal(count_char(s, '\r'), 0);
    assert_null(strchr(s, '\033'));
    free(s);
    fclose(f);
}

static void test_progress_format_time_reads_hours_minutes_seconds(void **state)
{
    (void)state;
    char buf[16];
    assert_string_equal(eng_progress_format_time(buf, 7.4), "0:07");
    assert_string_equal(eng_progress_format_time(buf, 754), "12:34");
    assert_string_equal(eng_progress_format_time(buf, 3723), "1:02:03");
    assert_string_equal(eng_progress_format_time(buf, NAN), "?");
    assert_string_equal(eng_progress_format_time(buf, -1), "?");
}

static eng_progress *shared;
static void *producer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10000; i++)
        eng_progress_step(shared, 1);
    return NULL;
}

static void test_progress_counts_steps_from_several_threads(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    eng_progress_opts o = {0};
    o.stream = f;
    o.mode = ENG_PROGRESS_PLAIN;
    o.verbose = ENG_PROGRESS_VERBOSE;
    assert_ok(eng_progress_begin(&shared, "threads", 40000, &o));
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, producer, NULL), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    eng_progress_end(shared);
    char *s = slurp(f);
    assert_non_null(strstr(s, "threads: 40000/40000 it in"));
    free(s);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_progress_tty_redraws_at_most_ten_times_a_second),
        cmocka_unit_test(test_progress_tty_line_shows_count_rate_elapsed_and_eta),
        cmocka_unit_test(test_progress_set_total_changes_percentage_and_eta),
        cmocka_unit_test(test_progress_plain_writes_one_line_at_the_end_of_short_work),
        cmocka_unit_test(test_progress_plain_writes_at_most_one_line_per_interval),
        cmocka_unit_test(test_progress_quiet_writes_nothing),
        cmocka_unit_test(test_progress_color_follows_no_color_and_dumb_term),
        cmocka_unit_test(test_progress_format_time_reads_hours_minutes_seconds),
        cmocka_unit_test(test_progress_counts_steps_from_several_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
