#include "hdf5_error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

void eng_h5_quiet(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* What the walk over HDF5's error stack found. The stack runs from the API call (n = 0) down
 * to the innermost function, which usually knows the real cause. */
typedef struct stack_summary {
    int depth;
    int err; /* errno reported by the file driver, 0 when none */
    bool locked, truncated, not_hdf5;
    long long eof, stored_eof;
    char innermost[256]; /* the innermost description, first line only */
} stack_summary;

/* Copies the first line of s into buf. */
static void first_line(char *buf, size_t size, const char *s)
{
    size_t n = strcspn(s, "\n");
    if (n >= size)
        n = size - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
}

static herr_t walk(unsigned n, const H5E_error2_t *e, void *data)
{
    stack_summary *s = data;
    const char *desc = e->desc ? e->desc : "";
    const char *p;
    s->depth = (int)n + 1;
    if ((p = strstr(desc, "errno = ")))
        s->err = atoi(p + 8);
    if (e->min_num == H5E_CANTLOCKFILE)
        s->locked = true;
    if (e->min_num == H5E_NOTHDF5)
        s->not_hdf5 = true;
    if (e->min_num == H5E_TRUNCATED) {
        s->truncated = true;
        /* "truncated file: eof = 4000, sblock->base_addr = 0, stored_eof = 802048" */
        if ((p = strstr(desc, "eof = ")))
            s->eof = atoll(p + 6);
        if ((p = strstr(desc, "stored_eof = ")))
            s->stored_eof = atoll(p + 13);
    }
    if (desc[0])
        first_line(s->innermost, sizeof s->innermost, desc);
    return 0;
}

/* The cause as a phrase, from the most specific evidence to the least. */
static void describe_cause(const stack_summary *s, char *buf, size_t size)
{
    if (s->locked)
        snprintf(buf, size,
                 "the file is locked: another process has it open (if the file system does "
                 "not support locking, set HDF5_USE_FILE_LOCKING=FALSE)");
    else if (s->truncated && s->stored_eof > 0)
        snprintf(buf, size, "truncated file (%lld bytes, the file's superblock says %lld)", s->eof,
                 s->stored_eof);
    else if (s->truncated)
        snprintf(buf, size, "truncated file");
    else if (s->err == EISDIR)
        snprintf(buf, size, "is a directory, not a file");
    else if (s->err)
        snprintf(buf, size, "%s", strerror(s->err));
    else if (s->not_hdf5)
        snprintf(buf, size, "not an HDF5 file (no HDF5 signature)");
    else if (s->depth > 0)
        snprintf(buf, size, "%s (HDF5)", s->innermost);
    else
        snprintf(buf, size, "HDF5 call failed without a reason on its error stack");
}

eng_status eng_h5_error(eng_status status, const char *path, const char *fmt, ...)
{
    stack_summary s = {0};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk, &s);
    H5Eclear2(H5E_DEFAULT);
    char what[512], cause[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    describe_cause(&s, cause, sizeof cause);
    return eng_error(status, "%s: %s: %s", path, what, cause);
}
