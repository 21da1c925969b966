/* SVG text building (svg_internal.h). */
#include "svg_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reserve(eng_svg *o, size_t more)
{
    if (o->failed || o->len + more + 1 <= o->cap)
        return;
    size_t cap = o->cap ? o->cap : 4096;
    while (cap < o->len + more + 1)
        cap *= 2;
    char *t = realloc(o->text, cap);
    if (!t) {
        o->failed = true;
        return;
    }
    o->text = t;
    o->cap = cap;
}

void eng_svg_printf(eng_svg *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    reserve(o, (size_t)n);
    if (o->failed)
        return;
    va_start(ap, fmt);
    vsnprintf(o->text + o->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    o->len += (size_t)n;
}

static void put_char(eng_svg *o, char c)
{
    switch (c) {
    case '<': eng_svg_printf(o, "&lt;"); break;
    case '>': eng_svg_printf(o, "&gt;"); break;
    case '&': eng_svg_printf(o, "&amp;"); break;
    case '"': eng_svg_printf(o, "&quot;"); break;
    default:
        reserve(o, 1);
        if (!o->failed) {
            o->text[o->len++] = c;
            o->text[o->len] = 0;
        }
    }
}

void eng_svg_text(eng_svg *o, const char *s)
{
    for (; s && *s; s++)
        put_char(o, *s);
}

void eng_svg_text_cut(eng_svg *o, const char *s, int max)
{
    int chars = 0;
    for (const char *p = s; p && *p; p++)
        chars += ((unsigned char)*p & 0xC0) != 0x80;
    if (chars <= max) {
        eng_svg_text(o, s);
        return;
    }
    int n = 0;
    for (; *s; s++) {
        bool start = ((unsigned char)*s & 0xC0) != 0x80;
        if (start && ++n > max - 1)
            break;
        put_char(o, *s);
    }
    eng_svg_printf(o, "\u2026");
}

void eng_svg_begin(eng_svg *o, int width, int height)
{
    *o = (eng_svg){0};
    eng_svg_printf(o,
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                   "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
                   "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                   width, height, width, height);
}

eng_status eng_svg_end(eng_svg *o, const char *what, char **svg)
{
    eng_svg_printf(o, "</svg>\n");
    if (o->failed) {
        free(o->text);
        *o = (eng_svg){0};
        return eng_error(ENG_ENOMEM, "plot '%s': out of memory", what ? what : "");
    }
    *svg = o->text;
    *o = (eng_svg){0};
    return ENG_OK;
}

eng_status eng_svg_write_file(const char *path, const char *text)
{
    errno = 0;
    FILE *f = fopen(path, "w");
    if (!f)
        return eng_error(ENG_EIO, "%s: cannot write the plot (%s)", path, strerror(errno));
    fputs(text, f);
    bool bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return eng_error(ENG_EIO, "%s: write failed (%s)", path, strerror(errno));
    return ENG_OK;
}
