/* Which elements a check looks at: stratified samples of a tensor's indices, and the tensors
 * named by the only / exclude lists. */
#include <stdlib.h>
#include <string.h>

#include "check_internal.h"

static int cmp_int64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Stratified sample of `want` distinct flat indices of a tensor of this shape: one element in
 * every leading index (row, output channel, sample) while they fit, the first and last
 * elements, the corners of a spatial plane, then uniform draws. Sorted on return. */
int64_t gc_choose_indices(const eng_tensor *t, int64_t want, eng_rng *rng, int64_t *out)
{
    int64_t n = eng_tensor_numel(t);
    if (want <= 0 || want >= n) {
        for (int64_t i = 0; i < n; i++)
            out[i] = i;
        return n;
    }
    int64_t count = 0;
    /* membership by a small open-addressing table of twice the capacity */
    int64_t cap = 1;
    while (cap < 4 * want)
        cap <<= 1;
    int64_t *table = malloc(sizeof *table * (size_t)cap);
    if (!table)
        return -1;
    for (int64_t i = 0; i < cap; i++)
        table[i] = -1;
#define ADD(idx)                                                                                   \
    do {                                                                                           \
        int64_t v_ = (idx),                                                                        \
                s_ = (int64_t)(((uint64_t)v_ * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);          \
        while (table[s_] != -1 && table[s_] != v_)                                                 \
            s_ = (s_ + 1) & (cap - 1);                                                             \
        if (table[s_] == -1 && count < want) {                                                     \
            table[s_] = v_;                                                                        \
            out[count++] = v_;                                                                     \
        }                                                                                          \
    } while (0)
    int64_t rows = t->ndim >= 2 ? t->shape[0] : 0, per_row = rows ? n / rows : 0;
    if (rows && rows <= want / 2)
        for (int64_t r = 0; r < rows; r++)
            ADD(r * per_row + (int64_t)eng_rng_below(rng, (uint64_t)per_row));
    ADD(0);
    ADD(n - 1);
    if (t->ndim >= 3) {
        int64_t h = t->shape[t->ndim - 2], w = t->shape[t->ndim - 1], plane = h * w;
        int64_t base = (int64_t)eng_rng_below(rng, (uint64_t)(n / plane)) * plane;
        ADD(base);
        ADD(base + w - 1);
        ADD(base + (h - 1) * w);
        ADD(base + plane - 1);
    }
    while (count < want)
        ADD((int64_t)eng_rng_below(rng, (uint64_t)n));
#undef ADD
    free(table);
    qsort(out, (size_t)count, sizeof *out, cmp_int64);
    return count;
}

/* Whether `name` (a tensor) or `layer` (its layer) is one of the names in list (separated by
 * commas or spaces); marks the list entry used in *used (bit k for entry k < 64). */
bool gc_listed(const char *list, const char *name, const char *layer, uint64_t *used)
{
    int k = 0;
    for (const char *p = list; *p; k++) {
        while (*p == ',' || *p == ' ')
            p++;
        size_t len = strcspn(p, ", ");
        if (len == 0)
            break;
        bool hit = (strlen(name) == len && strncmp(p, name, len) == 0) ||
                   (layer[0] && strlen(layer) == len && strncmp(p, layer, len) == 0);
        if (hit) {
            if (k < 64)
                *used |= 1ull << k;
            return true;
        }
        p += len;
    }
    return false;
}

/* The first entry of list not in used, as an error naming it. */
eng_status gc_check_list_used(const char *what, const char *list, uint64_t used,
                              const eng_gc_objective *obj)
{
    int k = 0;
    for (const char *p = list; *p; k++) {
        while (*p == ',' || *p == ' ')
            p++;
        size_t len = strcspn(p, ", ");
        if (len == 0)
            break;
        if (k < 64 && !(used & (1ull << k)))
            return eng_error(ENG_EARG,
                             "gradcheck: %s: no tensor named '%.*s', nor a layer (the "
                             "first tensor is '%s')",
                             what, (int)len, p, obj->ntensors ? obj->tensors[0].name : "none");
        p += len;
    }
    return ENG_OK;
}
