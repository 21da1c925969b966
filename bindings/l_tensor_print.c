/* tostring(t) for engine.Tensor, after PyTorch's torch/_tensor_str.py (the __tostring
 * metamethod; moved out of l_tensor.c to keep that file to its boxes and arguments). */
#include <math.h>
#include <stdio.h>

#include "bindings.h"

/* ---- tostring, after PyTorch's torch/_tensor_str.py: fixed 4 decimals or scientific notation
 * when magnitudes span more than 1e3 (or exceed 1e8, or go below 1e-4), every element padded to
 * one width, 80-column lines, and past 1000 elements only 3 edge items per dimension. ---- */

enum { EDGE_ITEMS = 3, SUMMARIZE_ABOVE = 1000, LINE_WIDTH = 80 };

typedef struct printer {
    const eng_tensor *t;
    bool summarize, sci;
    int width;
    double abs_min, abs_max; /* over finite non-zero values */
    luaL_Buffer *b;
} printer;

static int format_value(const printer *p, double v, char *buf, size_t size)
{
    if (!eng_dtype_is_float(p->t->dtype))
        return snprintf(buf, size, "%lld", (long long)v);
    if (isnan(v))
        return snprintf(buf, size, "nan");
    if (isinf(v))
        return snprintf(buf, size, v > 0 ? "inf" : "-inf");
    return snprintf(buf, size, p->sci ? "%.4e" : "%.4f", v);
}

/* Calls fn on every element that will be printed, in order. */
static void visit(printer *p, int d, int64_t *idx, void (*fn)(printer *, double))
{
    if (d == p->t->ndim) {
        fn(p, eng_tensor_get(p->t, idx));
        return;
    }
    int64_t n = p->t->shape[d];
    for (int64_t i = 0; i < n; i++) {
        if (p->summarize && n > 2 * EDGE_ITEMS && i == EDGE_ITEMS)
            i = n - EDGE_ITEMS;
        idx[d] = i;
        visit(p, d + 1, idx, fn);
    }
}

static void collect_range(printer *p, double v)
{
    double a = fabs(v);
    if (isfinite(v) && a != 0) {
        p->abs_min = a < p->abs_min ? a : p->abs_min;
        p->abs_max = a > p->abs_max ? a : p->abs_max;
    }
}

static void collect_width(printer *p, double v)
{
    char buf[64];
    int n = format_value(p, v, buf, sizeof buf);
    p->width = n > p->width ? n : p->width;
}

static void add_value(printer *p, double v)
{
    char buf[64];
    int n = format_value(p, v, buf, sizeof buf);
    for (int i = n; i < p->width; i++)
        luaL_addchar(p->b, ' ');
    luaL_addlstring(p->b, buf, (size_t)n);
}

static void add_spaces(luaL_Buffer *b, int n)
{
    for (int i = 0; i < n; i++)
        luaL_addchar(b, ' ');
}

/* Dimension d at indent (the column of its '['). */
static void emit(printer *p, int d, int indent, int64_t *idx)
{
    const eng_tensor *t = p->t;
    int64_t n = t->shape[d];
    bool elide = p->summarize && n > 2 * EDGE_ITEMS;
    luaL_addchar(p->b, '[');
    if (d == t->ndim - 1) {
        int per_line = (LINE_WIDTH - indent) / (p->width + 2);
        per_line = per_line < 1 ? 1 : per_line;
        int64_t k = 0; /* items on this line so far, " ..." counting as one */
        for (int64_t i = 0; i < n; i++) {
            if (i > 0) {
                luaL_addchar(p->b, ',');
                if (k % per_line == 0) {
                    luaL_addchar(p->b, '\n');
                    add_spaces(p->b, indent + 1);
                } else {
                    luaL_addchar(p->b, ' ');
                }
            }
            if (elide && i == EDGE_ITEMS) {
                luaL_addstring(p->b, " ...");
                k++;
                i = n - EDGE_ITEMS - 1;
                continue;
            }
            idx[d] = i;
            add_value(p, eng_tensor_get(t, idx));
            k++;
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            if (i > 0) {
                luaL_addchar(p->b, ',');
                for (int j = d + 1; j < t->ndim; j++)
                    luaL_addchar(p->b, '\n');
                add_spaces(p->b, indent + 1);
            }
            if (elide && i == EDGE_ITEMS) {
                luaL_addstring(p->b, "...");
                i = n - EDGE_ITEMS - 1;
                continue;
            }
            idx[d] = i;
            emit(p, d + 1, indent + 1, idx);
        }
    }
    luaL_addchar(p->b, ']');
}

int l_tensor_tostring(lua_State *L)
{
    luaL_checkudata(L, 1, ENG_LUA_TENSOR);
    const eng_tensor *t = l_test_tensor(L, 1);
    if (!t) {
        lua_pushliteral(L, "tensor(closed)");
        return 1;
    }
    int64_t idx[ENG_MAX_DIMS] = {0};
    printer p = {.t = t,
                 .summarize = eng_tensor_numel(t) > SUMMARIZE_ABOVE,
                 .abs_min = INFINITY,
                 .abs_max = 0};
    /* No element: no walk (a shape like [2^62,2^62,0] would never end it). */
    if (eng_tensor_numel(t) > 0)
        visit(&p, 0, idx, collect_range);
    p.sci =
        p.abs_max > 0 && (p.abs_max / p.abs_min > 1000.0 || p.abs_max > 1e8 || p.abs_min < 1e-4);
    if (eng_tensor_numel(t) > 0)
        visit(&p, 0, idx, collect_width);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    p.b = &b;
    luaL_addstring(&b, "tensor(");
    if (t->ndim == 0) {
        p.width = 0;
        add_value(&p, eng_tensor_get(t, idx));
    } else if (eng_tensor_numel(t) == 0) {
        luaL_addstring(&b, "[]");
        if (t->ndim > 1) {
            luaL_addstring(&b, ", size=(");
            for (int d = 0; d < t->ndim; d++) {
                lua_pushfstring(L, d ? ", %I" : "%I", (lua_Integer)t->shape[d]);
                luaL_addvalue(&b);
            }
            luaL_addchar(&b, ')');
        }
    } else {
        emit(&p, 0, 7, idx);
    }
    luaL_addstring(&b, ", dtype=");
    luaL_addstring(&b, eng_dtype_name(t->dtype));
    luaL_addchar(&b, ')');
    luaL_pushresult(&b);
    return 1;
}
