#include "winograd.h"

#include <string.h>

#include "cpu.h"
#include "winograd_avx512.h"

/* The tile transforms run their AVX-512 bodies (winograd_avx512.c) where the processor has
 * AVX-512F. */
#if defined(__x86_64__) && defined(__GNUC__)
#define AVX512_BODY(call)                                                                          \
    if (eng_simd_level() == ENG_SIMD_AVX512) {                                                     \
        call;                                                                                      \
        return;                                                                                    \
    }
#else
#define AVX512_BODY(call)
#endif

/* Pairs per block of the weight transform: u's 16 matrices are each out * in floats apart,
 * often a multiple of 4096 bytes (64 -> 64 channels: 16 KB), where stores to all 16 at once
 * evict each other from L1; a block's values go through a local buffer and out in runs
 * (64 -> 64: 198 -> 26 us, 32 -> 32: 47 -> 6.4 us). */
#define WEIGHT_BLOCK 64

void eng_winograd_weights_f32(float *u, const float *w, int out, int in)
{
    int64_t pairs = (int64_t)out * in;
    float blk[16][WEIGHT_BLOCK];
    for (int64_t k0 = 0; k0 < pairs; k0 += WEIGHT_BLOCK) {
        int nb = pairs - k0 < WEIGHT_BLOCK ? (int)(pairs - k0) : WEIGHT_BLOCK;
        for (int b = 0; b < nb; b++) {
            const float *g = w + 9 * (k0 + b);
            float t[4][3];
            for (int j = 0; j < 3; j++) {
                float g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
                t[0][j] = g0;
                t[1][j] = 0.5f * (g0 + g1 + g2);
                t[2][j] = 0.5f * (g0 - g1 + g2);
                t[3][j] = g2;
            }
            for (int i = 0; i < 4; i++) {
                float a = t[i][0], bb = t[i][1], c = t[i][2];
                blk[4 * i][b] = a;
                blk[4 * i + 1][b] = 0.5f * (a + bb + c);
                blk[4 * i + 2][b] = 0.5f * (a - bb + c);
                blk[4 * i + 3][b] = c;
            }
        }
        for (int xi = 0; xi < 16; xi++)
            memcpy(u + xi * pairs + k0, blk[xi], sizeof(float) * (size_t)nb);
    }
}

void eng_winograd_weights_grad_f32(float *dw, const float *du, int out, int in)
{
    int64_t pairs = (int64_t)out * in;
    for (int64_t k = 0; k < pairs; k++) {
        float d[4][4], s[3][4];
        for (int xi = 0; xi < 16; xi++)
            d[xi / 4][xi % 4] = du[(int64_t)xi * pairs + k];
        for (int j = 0; j < 4; j++) { /* s = G^T d */
            s[0][j] = d[0][j] + 0.5f * (d[1][j] + d[2][j]);
            s[1][j] = 0.5f * (d[1][j] - d[2][j]);
            s[2][j] = 0.5f * (d[1][j] + d[2][j]) + d[3][j];
        }
        float *g = dw + 9 * k;
        for (int i = 0; i < 3; i++) { /* dw += s G */
            g[3 * i] += s[i][0] + 0.5f * (s[i][1] + s[i][2]);
            g[3 * i + 1] += 0.5f * (s[i][1] - s[i][2]);
            g[3 * i + 2] += 0.5f * (s[i][1] + s[i][2]) + s[i][3];
        }
    }
}

/* The transforms go plane by plane and tile row by tile row: for a fixed element xi of the
 * 4x4 tile, a tile row's tiles are consecutive in the transformed arrays, so each step reads
 * or writes 16 runs of tw floats, and the arithmetic runs along whole rows (the compiler
 * vectorises it). Rows are staged through local buffers of ENG_WINOGRAD_MAX_WIDTH + 4 floats,
 * zero-padded. */
#define ROW (ENG_WINOGRAD_MAX_WIDTH + 4)

/* Element (xi, channel ch, tile t) goes to xi * plane + ch * ch_stride + t * tile_stride:
 * (ld, 1) for the products' [channels][tiles] layout, (1, channels) for the transposed one.
 * Inlined into both entry points so that each has constant strides (the first vectorises). */
static inline __attribute__((always_inline)) void
input_transform(float *v, int64_t ch_stride, int64_t tile_stride, int64_t plane, const float *x,
                int n, int c, int h, int w, int ph, int pw, int oh, int ow)
{
    int th = (oh + 1) / 2, tw = (ow + 1) / 2, per_image = th * tw, wp = 2 * tw + 2;
    int count = w < wp - pw ? w : wp - pw; /* image columns inside the windows */
    float rows[4][ROW], t[4][ROW];
    for (int k = 0; k < n; k++)
        for (int ch = 0; ch < c; ch++) {
            const float *p = x + ((int64_t)k * c + ch) * h * w;
            for (int ti = 0; ti < th; ti++) {
                for (int i = 0; i < 4; i++) {
                    int r = 2 * ti - ph + i;
                    memset(rows[i], 0, sizeof(float) * (size_t)wp);
                    if (r >= 0 && r < h && count > 0)
                        memcpy(rows[i] + pw, p + (int64_t)r * w, sizeof(float) * (size_t)count);
                }
                for (int cc = 0; cc < wp; cc++) { /* t = B^T d, along whole rows */
                    t[0][cc] = rows[0][cc] - rows[2][cc];
                    t[1][cc] = rows[1][cc] + rows[2][cc];
                    t[2][cc] = rows[2][cc] - rows[1][cc];
                    t[3][cc] = rows[1][cc] - rows[3][cc];
                }
                int64_t first = (int64_t)k * per_image + (int64_t)ti * tw;
                float *vt = v + ch * ch_stride + first * tile_stride;
                for (int i = 0; i < 4; i++) { /* v = t B, tile by tile */
                    float *v0 = vt + (4 * i) * plane, *v1 = v0 + plane, *v2 = v1 + plane;
                    float *v3 = v2 + plane;
                    const float *ti_row = t[i];
                    for (int tj = 0; tj < tw; tj++) {
                        float a0 = ti_row[2 * tj], a1 = ti_row[2 * tj + 1];
                        float a2 = ti_row[2 * tj + 2], a3 = ti_row[2 * tj + 3];
                        v0[tj * tile_stride] = a0 - a2;
                        v1[tj * tile_stride] = a1 + a2;
                        v2[tj * tile_stride] = a2 - a1;
                        v3[tj * tile_stride] = a1 - a3;
                    }
                }
            }
        }
}

void eng_winograd_input_f32(float *v, int64_t ld, int64_t plane, const float *x, int n, int c,
                            int h, int w, int ph, int pw, int oh, int ow)
{
    AVX512_BODY(eng_winograd_input_avx512_f32(v, ld, plane, x, n, c, h, w, ph, pw, oh, ow))
    input_transform(v, ld, 1, plane, x, n, c, h, w, ph, pw, oh, ow);
}

void eng_winograd_input_t_f32(float *vt, int64_t plane, const float *x, int n, int c, int h, int w,
                              int ph, int pw, int oh, int ow)
{
    AVX512_BODY(eng_winograd_input_t_avx512_f32(vt, plane, x, n, c, h, w, ph, pw, oh, ow))
    input_transform(vt, 1, c, plane, x, n, c, h, w, ph, pw, oh, ow);
}

void eng_winograd_input_grad_f32(float *dx, const float *dv, int64_t ld, int64_t plane, int n,
                                 int c, int h, int w, int ph, int pw, int oh, int ow, bool add)
{
    AVX512_BODY(
        eng_winograd_input_grad_avx512_f32(dx, dv, ld, plane, n, c, h, w, ph, pw, oh, ow, add))
    int th = (oh + 1) / 2, tw = (ow + 1) / 2, per_image = th * tw, wp = 2 * tw + 2;
    int count = w < wp - pw ? w : wp - pw;
    float s[4][4][ROW / 2], acc[4][ROW];
    for (int k = 0; k < n; k++)
        for (int ch = 0; ch < c; ch++) {
            float *p = dx + ((int64_t)k * c + ch) * h * w;
            for (int ti = 0; ti < th; ti++) {
                const float *a = dv + (int64_t)ch * ld + (int64_t)k * per_image + (int64_t)ti * tw;
                for (int j = 0; j < 4; j++) { /* s = B a, tile by tile */
                    const float *a0 = a + j * plane, *a1 = a0 + 4 * plane, *a2 = a1 + 4 * plane;
                    const float *a3 = a2 + 4 * plane;
                    for (int tj = 0; tj < tw; tj++) {
                        s[0][j][tj] = a0[tj];
                        s[1][j][tj] = a1[tj] - a2[tj] + a3[tj];
                        s[2][j][tj] = a1[tj] + a2[tj] - a0[tj];
                        s[3][j][tj] = -a3[tj];
                    }
                }
                for (int i = 0; i < 4; i++) { /* dd = s B^T; neighbouring windows overlap */
                    memset(acc[i], 0, sizeof(float) * (size_t)wp);
                    for (int tj = 0; tj < tw; tj++) {
                        float s0 = s[i][0][tj], s1 = s[i][1][tj], s2 = s[i][2][tj];
                        float s3 = s[i][3][tj];
                        acc[i][2 * tj] += s0;
                        acc[i][2 * tj + 1] += s1 - s2 + s3;
                        acc[i][2 * tj + 2] += s1 + s2 - s0;
                        acc[i][2 * tj + 3] += -s3;
                    }
                    int r = 2 * ti - ph + i;
                    if (r < 0 || r >= h)
                        continue;
                    float *row = p + (int64_t)r * w;
                    if (add || (ti > 0 && i < 2)) /* else the row's first sums: stored */
                        for (int col = 0; col < count; col++)
                            row[col] += acc[i][pw + col];
                    else
                        for (int col = 0; col < count; col++)
                            row[col] = acc[i][pw + col];
                }
            }
        }
}

void eng_winograd_output_f32(float *y, const float *m, int64_t ld, int64_t plane, const float *bias,
                             int n, int out, int oh, int ow)
{
    AVX512_BODY(eng_winograd_output_avx512_f32(y, m, ld, plane, bias, n, out, oh, ow))
    int th = (oh + 1) / 2, tw = (ow + 1) / 2, per_image = th * tw;
    float s[2][4][ROW / 2], rows[2][ROW];
    for (int k = 0; k < n; k++)
        for (int o = 0; o < out; o++) {
            float *p = y + ((int64_t)k * out + o) * oh * ow, b = bias ? bias[o] : 0.0f;
            for (int ti = 0; ti < th; ti++) {
                const float *a = m + (int64_t)o * ld + (int64_t)k * per_image + (int64_t)ti * tw;
                for (int j = 0; j < 4; j++) { /* s = A^T a */
                    const float *a0 = a + j * plane, *a1 = a0 + 4 * plane, *a2 = a1 + 4 * plane;
                    const float *a3 = a2 + 4 * plane;
                    for (int tj = 0; tj < tw; tj++) {
                        s[0][j][tj] = a0[tj] + a1[tj] + a2[tj];
                        s[1][j][tj] = a1[tj] - a2[tj] - a3[tj];
                    }
                }
                for (int i = 0; i < 2; i++) /* y = s A */
                    for (int tj = 0; tj < tw; tj++) {
                        rows[i][2 * tj] = s[i][0][tj] + s[i][1][tj] + s[i][2][tj] + b;
                        rows[i][2 * tj + 1] = s[i][1][tj] - s[i][2][tj] - s[i][3][tj] + b;
                    }
                for (int i = 0; i < 2 && 2 * ti + i < oh; i++)
                    memcpy(p + (int64_t)(2 * ti + i) * ow, rows[i], sizeof(float) * (size_t)ow);
            }
        }
}

void eng_winograd_output_grad_f32(float *dm, int64_t ld, int64_t plane, const float *dy, int n,
                                  int out, int oh, int ow)
{
    AVX512_BODY(eng_winograd_output_grad_avx512_f32(dm, ld, plane, dy, n, out, oh, ow))
    int th = (oh + 1) / 2, tw = (ow + 1) / 2, per_image = th * tw;
    float rows[2][ROW];
    for (int k = 0; k < n; k++)
        for (int o = 0; o < out; o++) {
            const float *p = dy + ((int64_t)k * out + o) * oh * ow;
            for (int ti = 0; ti < th; ti++) {
                for (int i = 0; i < 2; i++) {
                    memset(rows[i], 0, sizeof(float) * (size_t)(2 * tw));
                    if (2 * ti + i < oh)
                        memcpy(rows[i], p + (int64_t)(2 * ti + i) * ow, sizeof(float) * (size_t)ow);
                }
                float *mt = dm + (int64_t)o * ld + (int64_t)k * per_image + (int64_t)ti * tw;
                for (int tj = 0; tj < tw; tj++) {
                    /* g = [[a, b], [c, d]]; s = A g is (a, b), (a + c, b + d), (a - c, b - d),
                     * (-c, -d); dm = s A^T row by row */
                    float a = rows[0][2 * tj], b = rows[0][2 * tj + 1];
                    float c = rows[1][2 * tj], d = rows[1][2 * tj + 1];
                    float sr[4][2] = {{a, b}, {a + c, b + d}, {a - c, b - d}, {-c, -d}};
                    for (int i = 0; i < 4; i++) {
                        mt[(4 * i + 0) * plane + tj] = sr[i][0];
                        mt[(4 * i + 1) * plane + tj] = sr[i][0] + sr[i][1];
                        mt[(4 * i + 2) * plane + tj] = sr[i][0] - sr[i][1];
                        mt[(4 * i + 3) * plane + tj] = -sr[i][1];
                    }
                }
            }
        }
}
