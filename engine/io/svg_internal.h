/* SVG text building shared by plot.c and heatmap.c (internal to engine/io). */
#ifndef ENGINE_IO_SVG_INTERNAL_H
#define ENGINE_IO_SVG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "../error.h"

#define ENG_SVG_NCOLORS 10
extern const char *const eng_svg_palette[ENG_SVG_NCOLORS];

/* A growing text buffer; an allocation failure is remembered and reported by eng_svg_end. */
typedef struct eng_svg {
    char *text;
    size_t len, cap;
    bool failed;
} eng_svg;

/* Starts the document: <svg> of width x height with a white background. */
void eng_svg_begin(eng_svg *o, int width, int height);
void eng_svg_printf(eng_svg *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Text content with &, <, >, " escaped (NULL writes nothing). */
void eng_svg_text(eng_svg *o, const char *s);
/* The same cut to max characters (UTF-8 aware) with an ellipsis when longer. */
void eng_svg_text_cut(eng_svg *o, const char *s, int max);
/* Closes the document and hands over the text ([out] *svg, malloc'ed); ENG_ENOMEM naming what
 * when an allocation failed (the buffer is freed then). */
ENG_MUST_CHECK eng_status eng_svg_end(eng_svg *o, const char *what, char **svg);
/* Writes text to path; ENG_EIO naming the file. */
ENG_MUST_CHECK eng_status eng_svg_write_file(const char *path, const char *text);

#endif
