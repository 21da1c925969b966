#include "pool.h"

#include <stdbool.h>
#include <string.h>

#include "cpu.h"
#include "pointwise_avx512.h"

/* The 2x2 f32 bodies run on AVX-512 where the processor has it (pointwise_avx512.c). */
#if defined(__x86_64__) && defined(__GNUC__)
#define POOL_AVX512_f32(call)                                                                      \
    if (eng_simd_level() == ENG_SIMD_AVX512) {                                                     \
        call;                                                                                      \
        return;                                                                                    \
    }
#else
#define POOL_AVX512_f32(call)
#endif
#define POOL_AVX512_f64(call)

static int imax(int a, int b)
{
    return a > b ? a : b;
}
static int imin(int a, int b)
{
    return a < b ? a : b;
}

/* The common 2x2 window with stride 2: a branch-light body the compiler can schedule well.
 * Candidates are compared in row-major order with '>', so ties keep the first, as in the
 * general loop. */
#define DEFINE_MAXPOOL2X2(T, SFX)                                                                  \
    static inline void maxpool2x2_forward_##SFX(T *restrict y, int32_t *restrict argmax,           \
                                                const T *restrict x, const eng_pool_geometry *g,   \
                                                bool relu)                                         \
    {                                                                                              \
        for (int64_t p = 0; p < g->planes; p++) {                                                  \
            const T *xp = x + p * g->h * g->w;                                                     \
            T *yp = y + p * g->oh * g->ow;                                                         \
            int32_t *ap = argmax + p * g->oh * g->ow;                                              \
            for (int oy = 0; oy < g->oh; oy++) {                                                   \
                const T *r0 = xp + 2 * oy * g->w, *r1 = r0 + g->w;                                 \
                int base = 2 * oy * g->w;                                                          \
                for (int ox = 0; ox < g->ow; ox++) {                                               \
                    T a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];      \
                    T m = a;                                                                       \
                    int at = base + 2 * ox;                                                        \
                    if (b > m) {                                                                   \
                        m = b;                                                                     \
                        at = base + 2 * ox + 1;                                                    \
                    }                                                                              \
                    if (c > m) {                                                                   \
                        m = c;                                                                     \
                        at = base + g->w + 2 * ox;                                                 \
                    }                                                                              \
                    if (d > m) {                                                                   \
                        m = d;                                                                     \
                        at = base + g->w + 2 * ox + 1;                                             \
                    }                                                                              \
                    if (relu && !(m > 0)) { /* relu(x) is all +0 here: the first cell wins */      \
                        at = base + 2 * ox;                                                        \
                        m = m != m ? m : (T)0;                                                     \
                    }                                                                              \
                    yp[oy * g->ow + ox] = m;                                                       \
                    ap[oy * g->ow + ox] = at;                                                      \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

/* 2x2 windows tiling an even plane: every input element belongs to exactly one window, so
 * each is written once (the winner's gradient or zero) and dx needs no clearing pass. The
 * winner is the first element equal to the window's maximum y, which is the element the
 * forward's strict '>' kept; when none is equal (the first element was a NaN, so y is NaN),
 * the forward kept the first. */
#define DEFINE_MAXPOOL2X2_BACKWARD_XY(T, SFX)                                                      \
    static void maxpool2x2_backward_xy_##SFX(T *restrict dx, const T *restrict dy,                 \
                                             const T *restrict x, const T *restrict y,             \
                                             const eng_pool_geometry *g)                           \
    {                                                                                              \
        for (int64_t p = 0; p < g->planes; p++) {                                                  \
            T *dxp = dx + p * g->h * g->w;                                                         \
            const T *xp = x + p * g->h * g->w;                                                     \
            const T *dyp = dy + p * g->oh * g->ow, *yp = y + p * g->oh * g->ow;                    \
            for (int oy = 0; oy < g->oh; oy++) {                                                   \
                T *r0 = dxp + 2 * oy * g->w, *r1 = r0 + g->w;                                      \
                const T *x0 = xp + 2 * oy * g->w, *x1 = x0 + g->w;                                 \
                for (int ox = 0; ox < g->ow; ox++) {                                               \
                    T d = dyp[oy * g->ow + ox], m = yp[oy * g->ow + ox];                           \
                    /* bitwise, not short-circuit: branch-free on random data */                   \
                    int ea = x0[2 * ox] == m, eb = x0[2 * ox + 1] == m;                            \
                    int ec = x1[2 * ox] == m, ed = x1[2 * ox + 1] == m;                            \
                    int wa = ea | (1 - (eb | ec | ed)), na = 1 - wa, nb = 1 - eb;                  \
                    int wb = na & eb, wc = na & nb & ec, wd = na & nb & (1 - ec);                  \
                    r0[2 * ox] = wa ? d : (T)0;                                                    \
                    r0[2 * ox + 1] = wb ? d : (T)0;                                                \
                    r1[2 * ox] = wc ? d : (T)0;                                                    \
                    r1[2 * ox + 1] = wd ? d : (T)0;                                                \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

/* 2x2 windows tiling an even plane: every input element belongs to exactly one window, so
 * each is written once (the winner's gradient or zero) and dx needs no clearing pass. The
 * winners come from the forward's argmax. y [optional]: the fused ReLU's mask (NULL: none). */
#define DEFINE_MAXPOOL2X2_BACKWARD_ARGMAX(T, SFX)                                                  \
    static inline void maxpool2x2_backward_argmax_##SFX(                                           \
        T *restrict dx, const T *restrict dy, const T *restrict y, const int32_t *restrict argmax, \
        const eng_pool_geometry *g)                                                                \
    {                                                                                              \
        for (int64_t p = 0; p < g->planes; p++) {                                                  \
            T *dxp = dx + p * g->h * g->w;                                                         \
            const T *dyp = dy + p * g->oh * g->ow;                                                 \
            const int32_t *ap = argmax + p * g->oh * g->ow;                                        \
            for (int oy = 0; oy < g->oh; oy++) {                                                   \
                T *r0 = dxp + 2 * oy * g->w, *r1 = r0 + g->w;                                      \
                int base = 2 * oy * g->w;                                                          \
                for (int ox = 0; ox < g->ow; ox++) {                                               \
                    T d = dyp[oy * g->ow + ox];                                                    \
                    if (y) /* the ReLU before the pool passes dy where its output is > 0 */        \
                        d = y[p * g->oh * g->ow + oy * g->ow + ox] > 0 ? d : (T)0;                 \
                    int at = ap[oy * g->ow + ox], c = base + 2 * ox;                               \
                    r0[2 * ox] = at == c ? d : (T)0;                                               \
                    r0[2 * ox + 1] = at == c + 1 ? d : (T)0;                                       \
                    r1[2 * ox] = at == c + g->w ? d : (T)0;                                        \
                    r1[2 * ox + 1] = at == c + g->w + 1 ? d : (T)0;                                \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

/* The frozen forward over 2x2 windows with stride 2: each output takes the input element at
 * the reference winner's place (the first element of x_ref's window equal to y_ref, or the
 * first when none is: the rule of window_winner), chosen without a branch (the winners of
 * random data are unpredictable). */
#define DEFINE_MAXPOOL2X2_FROZEN(T, SFX)                                                           \
    static void maxpool2x2_frozen_##SFX(T *restrict y, const T *restrict x_ref,                    \
                                        const T *restrict y_ref, const T *restrict x,              \
                                        const eng_pool_geometry *g)                                \
    {                                                                                              \
        for (int64_t p = 0; p < g->planes; p++) {                                                  \
            const T *rp = x_ref + p * g->h * g->w, *xp = x + p * g->h * g->w;                      \
            const T *ryp = y_ref + p * g->oh * g->ow;                                              \
            T *yp = y + p * g->oh * g->ow;                                                         \
            for (int oy = 0; oy < g->oh; oy++) {                                                   \
                const T *q0 = rp + 2 * oy * g->w, *q1 = q0 + g->w;                                 \
                const T *x0 = xp + 2 * oy * g->w, *x1 = x0 + g->w;                                 \
                for (int ox = 0; ox < g->ow; ox++) {                                               \
                    T m = ryp[oy * g->ow + ox];                                                    \
                    int eb = q0[2 * ox + 1] == m, ec = q1[2 * ox] == m;                            \
                    int ed = q1[2 * ox + 1] == m;                                                  \
                    int wa = (q0[2 * ox] == m) | (1 - (eb | ec | ed));                             \
                    T v = ec ? x1[2 * ox] : x1[2 * ox + 1];                                        \
                    v = eb ? x0[2 * ox + 1] : v;                                                   \
                    yp[oy * g->ow + ox] = wa ? x0[2 * ox] : v;                                     \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

DEFINE_MAXPOOL2X2(float, f32)
DEFINE_MAXPOOL2X2(double, f64)
DEFINE_MAXPOOL2X2_FROZEN(float, f32)
DEFINE_MAXPOOL2X2_FROZEN(double, f64)
DEFINE_MAXPOOL2X2_BACKWARD_XY(float, f32)
DEFINE_MAXPOOL2X2_BACKWARD_XY(double, f64)
DEFINE_MAXPOOL2X2_BACKWARD_ARGMAX(float, f32)
DEFINE_MAXPOOL2X2_BACKWARD_ARGMAX(double, f64)

/* The first element of the window [ya,yb) x [xa,xb) of plane xp (width w) equal to the window's
 * maximum ymax: the winner a forward kept. When ymax is a NaN none is equal, and the forward
 * kept the first element. */
#define DEFINE_WINDOW_WINNER(T, SFX)                                                               \
    static inline int window_winner_##SFX(const T *xp, T ymax, int w, int ya, int yb, int xa,      \
                                          int xb)                                                  \
    {                                                                                              \
        for (int iy = ya; iy < yb; iy++)                                                           \
            for (int ix = xa; ix < xb; ix++)                                                       \
                if (xp[iy * w + ix] == ymax)                                                       \
                    return iy * w + ix;                                                            \
        return ya * w + xa;                                                                        \
    }
DEFINE_WINDOW_WINNER(float, f32)
DEFINE_WINDOW_WINNER(double, f64)

#define DEFINE_POOL(T, SFX)                                                                        \
    static inline void maxpool_forward_##SFX(T *y, int32_t *argmax, const T *x,                    \
                                             const eng_pool_geometry *g, bool relu)                \
    {                                                                                              \
        if (g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0) {    \
            POOL_AVX512_##SFX(eng_maxpool2x2_forward_avx512_f32(y, argmax, x, g, relu))            \
                maxpool2x2_forward_##SFX(y, argmax, x, g, relu);                                   \
            return;                                                                                \
        }                                                                                          \
        for (int64_t p = 0; p < g->planes; p++) {                                                  \
            const T *xp = x + p * g->h * g->w;                                                     \
            T *yp = y + p * g->oh * g->ow;                                                         \
            int32_t *ap = argmax + p * g->oh * g->ow;                                              \
            for (int oy = 0; oy < g->oh; oy++) {                                                   \
                int y0 = oy * g->sh - g->ph;                                                       \
                int ya = imax(y0, 0), yb = imin(y0 + g->kh, g->h);                                 \
                for (int ox = 0; ox < g->ow; ox++) {                                               \
                    int x0 = ox * g->sw - g->pw;                                                   \
                    int xa = imax(x0, 0), xb = imin(x0 + g->kw, g->w);                             \
                    int best = ya * g->w + xa;                                                     \
                    T m = xp[best];                                                                \
                    for (int iy = ya; iy < yb; iy++)                                               \
                        for (int ix = xa; ix < xb; ix++)                                           \
                            if (xp[iy * g->w + ix] > m) {                                          \
                                m = xp[iy * g->w + ix];                                            \
                                best = iy * g->w + ix;                                             \
                            }                                                                      \
                    if (relu && !(m > 0)) { /* relu(x) is all +0 here: the first cell wins */      \
                        best = ya * g->w + xa;                                                     \
                        m = m != m ? m : (T)0;                                                     \
                    }                                                                              \
                    yp[oy * g->ow + ox] = m;                                                       \
                    ap[oy * g->ow + ox] = best;                                                    \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    void eng_maxpool_forward_##SFX(T *y, int32_t *argmax, const T *x, const eng_pool_geometry *g)  \
    {                                                                                              \
        maxpool_forward_##SFX(y, argmax, x, g, false);                                             \
    }                                                                                              \
    void eng_relu_maxpool_forward_##SFX(T *y, int32_t *argmax, const T *x,                         \
                                        const eng_pool_geometry *g)                                \
    {                                                                                              \
        maxpool_forward_##SFX(y, argmax, x, g, true);                                              \
    }                                                                                              \
    void eng_maxpool_backward_xy_##SFX(T *dx, const T *dy, const T *x, const T *y,                 \
                                       const eng_pool_geometry *g)                                 \
    {                                                                                              \
        if (g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0 &&    \
            g->h % 2 == 0 && g->w % 2 == 0) {                                                      \
            maxpool2x2_backward_xy_##SFX(dx, dy, x, y, g);                                         \
            return;                                                                                \
        }                                                                                          \
        memset(dx, 0, sizeof(T) * (size_t)(g->planes * g->h * g->w));                              \
        for (int64_t p = 0; p < g->planes; p++) {                                                  \
            const T *xp = x + p * g->h * g->w;                                                     \
            T *dxp = dx + p * g->h * g->w;                                                         \
            for (int oy = 0; oy < g->oh; oy++) {                                                   \
                int y0 = oy * g->sh - g->ph;                                                       \
                int ya = imax(y0, 0), yb = imin(y0 + g->kh, g->h);                                 \
                for (int ox = 0; ox < g->ow; ox++) {                                               \
                    int x0 = ox * g->sw - g->pw;                                                   \
                    int xa = imax(x0, 0), xb = imin(x0 + g->kw, g->w);                             \
                    int64_t at = (p * g->oh + oy) * g->ow + ox;                                    \
                    int best = window_winner_##SFX(xp, y[at], g->w, ya, yb, xa, xb);               \
                    dxp[best] += dy[at];                                                           \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    void eng_maxpool_frozen_##SFX(T *y, const T *x_ref, const T *y_ref, const T *x,                \
                                  const eng_pool_geometry *g)                                      \
    {                                                                                              \
        if (g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0) {    \
            maxpool2x2_frozen_##SFX(y, x_ref, y_ref, x, g);                                        \
            return;                                                                                \
        }                                                                                          \
        for (int64_t p = 0; p < g->planes; p++) {                                                  \
            const T *rp = x_ref + p * g->h * g->w, *xp = x + p * g->h * g->w;                      \
            for (int oy = 0; oy < g->oh; oy++) {                                                   \
                int y0 = oy * g->sh - g->ph;                                                       \
                int ya = imax(y0, 0), yb = imin(y0 + g->kh, g->h);                                 \
                for (int ox = 0; ox < g->ow; ox++) {                                               \
                    int x0 = ox * g->sw - g->pw;                                                   \
                    int xa = imax(x0, 0), xb = imin(x0 + g->kw, g->w);                             \
                    int64_t at = (p * g->oh + oy) * g->ow + ox;                                    \
                    int best = window_winner_##SFX(rp, y_ref[at], g->w, ya, yb, xa, xb);           \
                    y[at] = xp[best];                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    static inline void maxpool_backward_##SFX(T *dx, const T *dy, const T *y,                      \
                                              const int32_t *argmax, const eng_pool_geometry *g)   \
    {                                                                                              \
        if (g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0 &&    \
            g->h % 2 == 0 && g->w % 2 == 0) {                                                      \
            POOL_AVX512_##SFX(eng_maxpool2x2_backward_avx512_f32(dx, dy, y, argmax, g))            \
                maxpool2x2_backward_argmax_##SFX(dx, dy, y, argmax, g);                            \
            return;                                                                                \
        }                                                                                          \
        memset(dx, 0, sizeof(T) * (size_t)(g->planes * g->h * g->w));                              \
        int64_t out = (int64_t)g->oh * g->ow;                                                      \
        for (int64_t p = 0; p < g->planes; p++) {                                                  \
            T *dxp = dx + p * g->h * g->w;                                                         \
            for (int64_t i = 0; i < out; i++)                                                      \
                if (!y || y[p * out + i] > 0)                                                      \
                    dxp[argmax[p * out + i]] += dy[p * out + i];                                   \
        }                                                                                          \
    }                                                                                              \
    void eng_maxpool_backward_##SFX(T *dx, const T *dy, const int32_t *argmax,                     \
                                    const eng_pool_geometry *g)                                    \
    {                                                                                              \
        maxpool_backward_##SFX(dx, dy, NULL, argmax, g);                                           \
    }                                                                                              \
    void eng_relu_maxpool_backward_##SFX(T *dx, const T *dy, const T *y, const int32_t *argmax,    \
                                         const eng_pool_geometry *g)                               \
    {                                                                                              \
        maxpool_backward_##SFX(dx, dy, y, argmax, g);                                              \
    }                                                                                              \
    void eng_avgpool_forward_##SFX(T *y, const T *x, const eng_pool_geometry *g)                   \
    {                                                                                              \
        for (int64_t p = 0; p < g->planes; p++) {                                                  \
            const T *xp = x + p * g->h * g->w;                                                     \
            T *yp = y + p * g->oh * g->ow;                                                         \
            for (int oy = 0; oy < g->oh; oy++) {                                                   \
                int y0 = oy * g->sh - g->ph;                                                       \
                int ya = imax(y0, 0), yb = imin(y0 + g->kh, g->h);                                 \
                int ny = imin(y0 + g->kh, g->h + g->ph) - y0;                                      \
                for (int ox = 0; ox < g->ow; ox++) {                                               \
                    int x0 = ox * g->sw - g->pw;                                                   \
                    int xa = imax(x0, 0), xb = imin(x0 + g->kw, g->w);                             \
                    int nx = imin(x0 + g->kw, g->w + g->pw) - x0;                                  \
                    double acc = 0;                                                                \
                    for (int iy = ya; iy < yb; iy++)                                               \
                        for (int ix = xa; ix < xb; ix++)                                           \
                            acc += xp[iy * g->w + ix];                                             \
                    yp[oy * g->ow + ox] = (T)(acc / (ny * nx));                                    \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    void eng_avgpool_backward_##SFX(T *dx, const T *dy, const eng_pool_geometry *g)                \
    {                                                                                              \
        memset(dx, 0, sizeof(T) * (size_t)(g->planes * g->h * g->w));                              \
        for (int64_t p = 0; p < g->planes; p++) {                                                  \
            T *dxp = dx + p * g->h * g->w;                                                         \
            const T *dyp = dy + p * g->oh * g->ow;                                                 \
            for (int oy = 0; oy < g->oh; oy++) {                                                   \
                int y0 = oy * g->sh - g->ph;                                                       \
                int ya = imax(y0, 0), yb = imin(y0 + g->kh, g->h);                                 \
                int ny = imin(y0 + g->kh, g->h + g->ph) - y0;                                      \
                for (int ox = 0; ox < g->ow; ox++) {                                               \
                    int x0 = ox * g->sw - g->pw;                                                   \
                    int xa = imax(x0, 0), xb = imin(x0 + g->kw, g->w);                             \
                    int nx = imin(x0 + g->kw, g->w + g->pw) - x0;                                  \
                    T share = dyp[oy * g->ow + ox] / (T)(ny * nx);                                 \
                    for (int iy = ya; iy < yb; iy++)                                               \
                        for (int ix = xa; ix < xb; ix++)                                           \
                            dxp[iy * g->w + ix] += share;                                          \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

DEFINE_POOL(float, f32)
DEFINE_POOL(double, f64)
