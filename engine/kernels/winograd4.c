#include "winograd4.h"

#include <stdbool.h>

#include "cpu.h"
#include "winograd4_avx512.h"
#include "winograd4_formulas.h"

/* The tile transforms run their AVX-512 bodies (winograd4_avx512.c) where the processor has
 * AVX-512F; they give the same bits as the plain bodies below, which therefore follow their
 * order of operations: first along the tile's rows (I indexes rows), then along its columns. */
#if defined(__x86_64__) && defined(__GNUC__)
#define AVX512_BODY(call)                                                                          \
    if (eng_simd_level() == ENG_SIMD_AVX512) {                                                     \
        call;                                                                                      \
        return;                                                                                    \
    }
#else
#define AVX512_BODY(call)
#endif

/* Tiles per chunk of the input gradient: the vector body joins the overlapping columns of 7
 * windows (30 image columns) in registers before adding them to dx; the plain body joins the
 * same ones, so that both round alike. */
#define IN_TILES 7

static const double g_rows[6][3] = {
    {1.0, 0.0, 0.0},
    {1.0 / 3, 1.0 / 3, 1.0 / 3},
    {-1.0 / 3, 1.0 / 3, -1.0 / 3},
    {-16.0 / 15, -8.0 / 15, -4.0 / 15},
    {1.0 / 15, -2.0 / 15, 4.0 / 15},
    {0.0, 0.0, 1.0},
};

void eng_winograd4_weights_f32(float *u, const float *w, int out, int in)
{
    int64_t pairs = (int64_t)out * in;
    for (int64_t k = 0; k < pairs; k++) {
        const float *g = w + 9 * k;
        double t[6][3]; /* t = G g */
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 3; j++)
                t[i][j] = g_rows[i][0] * g[j] + g_rows[i][1] * g[3 + j] + g_rows[i][2] * g[6 + j];
        for (int i = 0; i < 6; i++) /* u = t G^T */
            for (int j = 0; j < 6; j++)
                u[(int64_t)(6 * i + j) * pairs + k] =
                    (float)(t[i][0] * g_rows[j][0] + t[i][1] * g_rows[j][1] +
                            t[i][2] * g_rows[j][2]);
    }
}

void eng_winograd4_weights_grad_f32(float *dw, const float *du, int out, int in)
{
    int64_t pairs = (int64_t)out * in;
    for (int64_t k = 0; k < pairs; k++) {
        double s[3][6]; /* s = G^T du */
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 6; j++) {
                double acc = 0;
                for (int r = 0; r < 6; r++)
                    acc += g_rows[r][i] * du[(int64_t)(6 * r + j) * pairs + k];
                s[i][j] = acc;
            }
        float *g = dw + 9 * k;
        for (int i = 0; i < 3; i++) /* dw += s G */
            for (int j = 0; j < 3; j++) {
                double acc = 0;
                for (int c = 0; c < 6; c++)
                    acc += s[i][c] * g_rows[c][j];
                g[3 * i + j] += (float)acc;
            }
    }
}

void eng_winograd4_input_f32(float *v, int64_t ld, int64_t plane, const float *x, int n, int c,
                             int h, int w, int ph, int pw, int oh, int ow)
{
    AVX512_BODY(eng_winograd4_input_avx512_f32(v, ld, plane, x, n, c, h, w, ph, pw, oh, ow))
    int th = (oh + 3) / 4, tw = (ow + 3) / 4;
    int64_t per_image = (int64_t)th * tw;
    for (int k = 0; k < n; k++)
        for (int ch = 0; ch < c; ch++) {
            const float *p = x + ((int64_t)k * c + ch) * h * w;
            for (int ti = 0; ti < th; ti++)
                for (int tj = 0; tj < tw; tj++) {
                    float d[6][6], t[6][6], o[6];
                    for (int r = 0; r < 6; r++)
                        for (int q = 0; q < 6; q++) {
                            int row = 4 * ti - ph + r, col = 4 * tj - pw + q;
                            bool in = row >= 0 && row < h && col >= 0 && col < w;
                            d[r][q] = in ? p[(int64_t)row * w + col] : 0.0f;
                        }
                    for (int q = 0; q < 6; q++) { /* t = B^T d, column by column */
#define I(r) d[r][q]
                        WG4_BT(o, I);
#undef I
                        for (int i = 0; i < 6; i++)
                            t[i][q] = o[i];
                    }
                    float *dst = v + ch * ld + k * per_image + (int64_t)ti * tw + tj;
                    for (int i = 0; i < 6; i++) { /* v = t B */
#define I(q) t[i][q]
                        WG4_BT(o, I);
#undef I
                        for (int j = 0; j < 6; j++)
                            dst[(6 * i + j) * plane] = o[j];
                    }
                }
        }
}

/* dd = B dv B^T for the windows of tiles tj0 .. tj0 + nt - 1 of one tile row, joined along
 * the row: acc[r][col] for chunk columns 0 .. 4 nt + 1 (column 4l + q of window l). */
static void input_grad_chunk(float acc[6][4 * IN_TILES + 2], const float *a, int64_t plane, int nt)
{
    for (int r = 0; r < 6; r++)
        for (int col = 0; col < 4 * nt + 2; col++)
            acc[r][col] = 0.0f;
    for (int l = 0; l < nt; l++) {
        float s[6][6], o[6];
        for (int j = 0; j < 6; j++) { /* s = B dv, column by column */
#define I(i) a[(6 * (i) + j) * plane + l]
            WG4_B(o, I);
#undef I
            for (int r = 0; r < 6; r++)
                s[r][j] = o[r];
        }
        for (int r = 0; r < 6; r++) { /* s B^T; columns 4l and 4l + 1 also take window l - 1's */
#define I(j) s[r][j]
            WG4_B(o, I);
#undef I
            acc[r][4 * l] = o[0] + acc[r][4 * l];
            acc[r][4 * l + 1] = o[1] + acc[r][4 * l + 1];
            for (int q = 2; q < 6; q++)
                acc[r][4 * l + q] = o[q];
        }
    }
}

void eng_winograd4_input_grad_f32(float *dx, const float *dv, int64_t ld, int64_t plane, int n,
                                  int c, int h, int w, int ph, int pw, int oh, int ow, bool add)
{
    AVX512_BODY(
        eng_winograd4_input_grad_avx512_f32(dx, dv, ld, plane, n, c, h, w, ph, pw, oh, ow, add))
    int th = (oh + 3) / 4, tw = (ow + 3) / 4;
    int64_t per_image = (int64_t)th * tw;
    float acc[6][4 * IN_TILES + 2];
    for (int k = 0; k < n; k++)
        for (int ch = 0; ch < c; ch++) {
            float *p = dx + ((int64_t)k * c + ch) * h * w;
            for (int ti = 0; ti < th; ti++)
                for (int tj0 = 0; tj0 < tw; tj0 += IN_TILES) {
                    int nt = tw - tj0 < IN_TILES ? tw - tj0 : IN_TILES, col0 = 4 * tj0 - pw;
                    input_grad_chunk(acc, dv + ch * ld + k * per_image + (int64_t)ti * tw + tj0,
                                     plane, nt);
                    for (int r = 0; r < 6; r++) {
                        int row = 4 * ti - ph + r;
                        if (row < 0 || row >= h)
                            continue;
                        /* without add, the columns written before: the tile row above's last
                         * two rows, the chunk on the left's last two columns */
                        int before = add || (ti > 0 && r < 2) ? 4 * nt + 2 : tj0 > 0 ? 2 : 0;
                        for (int col = 0; col < 4 * nt + 2; col++) {
                            float *at = p + (int64_t)row * w + col0 + col;
                            if (col0 + col >= 0 && col0 + col < w)
                                *at = col < before ? *at + acc[r][col] : acc[r][col];
                        }
                    }
                }
        }
}

void eng_winograd4_output_f32(float *y, const float *m, int64_t ld, int64_t plane,
                              const float *bias, int n, int out, int oh, int ow)
{
    AVX512_BODY(eng_winograd4_output_avx512_f32(y, m, ld, plane, bias, n, out, oh, ow))
    int th = (oh + 3) / 4, tw = (ow + 3) / 4;
    int64_t per_image = (int64_t)th * tw;
    for (int k = 0; k < n; k++)
        for (int o = 0; o < out; o++) {
            float *p = y + ((int64_t)k * out + o) * oh * ow, b = bias ? bias[o] : 0.0f;
            for (int ti = 0; ti < th; ti++)
                for (int tj = 0; tj < tw; tj++) {
                    const float *a = m + o * ld + k * per_image + (int64_t)ti * tw + tj;
                    float s[4][6], r4[4];
                    for (int j = 0; j < 6; j++) { /* s = A^T a */
#define I(i) a[(6 * (i) + j) * plane]
                        WG4_AT(r4, I);
#undef I
                        for (int i = 0; i < 4; i++)
                            s[i][j] = r4[i];
                    }
                    for (int i = 0; i < 4 && 4 * ti + i < oh; i++) { /* y = s A + b */
#define I(j) s[i][j]
                        WG4_AT(r4, I);
#undef I
                        for (int q = 0; q < 4 && 4 * tj + q < ow; q++)
                            p[(int64_t)(4 * ti + i) * ow + 4 * tj + q] = r4[q] + b;
                    }
                }
        }
}

void eng_winograd4_output_grad_f32(float *dm, int64_t ld, int64_t plane, const float *dy, int n,
                                   int out, int oh, int ow)
{
    AVX512_BODY(eng_winograd4_output_grad_avx512_f32(dm, ld, plane, dy, n, out, oh, ow))
    int th = (oh + 3) / 4, tw = (ow + 3) / 4;
    int64_t per_image = (int64_t)th * tw;
    for (int k = 0; k < n; k++)
        for (int o = 0; o < out; o++) {
            const float *p = dy + ((int64_t)k * out + o) * oh * ow;
            for (int ti = 0; ti < th; ti++)
                for (int tj = 0; tj < tw; tj++) {
                    float g[4][4], s[6][4], r6[6];
                    for (int i = 0; i < 4; i++)
                        for (int q = 0; q < 4; q++) {
                            int row = 4 * ti + i, col = 4 * tj + q;
                            g[i][q] = row < oh && col < ow ? p[(int64_t)row * ow + col] : 0.0f;
                        }
                    for (int q = 0; q < 4; q++) { /* s = A g */
#define I(i) g[i][q]
                        WG4_A(r6, I);
#undef I
                        for (int i = 0; i < 6; i++)
                            s[i][q] = r6[i];
                    }
                    float *mt = dm + o * ld + k * per_image + (int64_t)ti * tw + tj;
                    for (int i = 0; i < 6; i++) { /* dm = s A^T */
#define I(q) s[i][q]
                        WG4_A(r6, I);
#undef I
                        for (int j = 0; j < 6; j++)
                            mt[(6 * i + j) * plane] = r6[j];
                    }
                }
        }
}
