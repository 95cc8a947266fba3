/*
 * Internal: the descriptor of one requantized matrix product, the common form of
 * linear, conv1d (interior frames) and the attention products, and the functions that
 * fill it from a checked kernel's parameters (not public API). The SIMD products of
 * csrc/x86/ (pr_x86_mm_*.c) and csrc/aarch64/ (pr_a64_mm_*.c) and the Arm DSP product
 * (csrc/arm/pr_arm_mm_dsp.c) take it, so each kernel variant describes its product
 * once, here:
 *
 *   y[i, j] = clamp(zp_out + MBQM(sat32(bias[j] + sum_k (A[i,k] - za)(B[j,k] - zb)),
 *                                 M_j))
 *
 * A row i is `depth` contiguous int8 at a + i * a_step (conv1d: overlapping rows).
 * B element (j, k) is b[j * b_step + k] when b_kn == 0 (weights (out, in), keys of
 * Q K^T) and b[k * b_step + j] when b_kn == 1 (the values of A V; x86 and aarch64, the Arm
 * product takes b_kn == 0). bias may be NULL (0); per_tensor: multiplier[0], shift[0]
 * for every j. y row i at y + i * y_step, element size y_bytes (1: int8, 2: int16).
 */
#ifndef PR_MM_INTERNAL_H
#define PR_MM_INTERNAL_H

#include <string.h>

#include "pr_check_internal.h"
#include "pr_q_internal.h"

typedef struct {
    int32_t rows;
    int32_t cols;
    int32_t depth;
    const int8_t *a;
    int64_t a_step;
    const int8_t *b;
    int64_t b_step;
    int32_t b_kn;
    int32_t a_zero_point;
    int32_t b_zero_point;
    const int32_t *bias;
    const int32_t *multiplier;
    const int32_t *shift;
    int32_t per_tensor;
    int32_t out_zero_point;
    int32_t act_min;
    int32_t act_max;
    void *y;
    int64_t y_step;
    int32_t y_bytes;
} pr_mm;

/* The product of a linear layer (rows of x times w^T, per-channel requantization).
 * Every field is set explicitly (no memset: on small cores the call and the struct
 * copy cost a few hundred instructions, as much as a small layer's products). */
static inline pr_mm pr_mm_linear(const pr_linear_params *p, const int8_t *x,
                                 const int8_t *w, const int32_t *bias,
                                 const int32_t *multiplier, const int32_t *shift, void *y,
                                 int32_t y_bytes)
{
    pr_mm m;
    m.rows = p->rows;
    m.cols = p->out_features;
    m.depth = p->in_features;
    m.a = x;
    m.a_step = p->in_features;
    m.b = w;
    m.b_step = p->in_features;
    m.b_kn = 0;
    m.a_zero_point = 0;
    m.b_zero_point = 0;
    m.bias = bias;
    m.multiplier = multiplier;
    m.shift = shift;
    m.per_tensor = 0;
    m.out_zero_point = p->out_zero_point;
    m.act_min = p->act_min;
    m.act_max = p->act_max;
    m.y = y;
    m.y_step = p->out_features;
    m.y_bytes = y_bytes;
    return m;
}

/* The product of conv1d's interior frames [t_lo, t_hi) (pr_conv1d_interior), y being
 * the whole output. */
static inline pr_mm pr_mm_conv1d(const pr_conv1d_params *p, const int8_t *x,
                                 const int8_t *w, const int32_t *bias,
                                 const int32_t *multiplier, const int32_t *shift, int8_t *y,
                                 int64_t t_lo, int64_t t_hi)
{
    pr_mm m;
    const int64_t depth = (int64_t)p->kernel * p->in_channels;
    m.rows = (int32_t)(t_hi - t_lo);
    m.cols = p->out_channels;
    m.depth = (int32_t)depth;
    /* the first row starts at frame t_lo stride - padding >= 0 when there are rows */
    m.a = t_hi > t_lo ? x + (t_lo * p->stride - p->padding) * p->in_channels : x;
    m.a_step = (int64_t)p->stride * p->in_channels;
    m.b = w;
    m.b_step = depth;
    m.b_kn = 0;
    m.a_zero_point = 0;
    m.b_zero_point = 0;
    m.bias = bias;
    m.multiplier = multiplier;
    m.shift = shift;
    m.per_tensor = 0;
    m.out_zero_point = p->out_zero_point;
    m.act_min = p->act_min;
    m.act_max = p->act_max;
    m.y = y + t_lo * p->out_channels;
    m.y_step = p->out_channels;
    m.y_bytes = 1;
    return m;
}

/* The product of one batch h of pr_bmm_nt_s8 (b_kn 0) or pr_bmm_nn_s8 (b_kn 1). */
static inline pr_mm pr_mm_bmm(const pr_bmm_params *p, const int8_t *a, const int8_t *b,
                              int8_t *out, int64_t h, int32_t b_kn)
{
    pr_mm m;
    m.rows = p->rows;
    m.cols = p->cols;
    m.depth = p->depth;
    m.a = a + h * p->a_batch_stride;
    m.a_step = p->a_row_stride;
    m.b = b + h * p->b_batch_stride;
    m.b_step = p->b_row_stride;
    m.b_kn = b_kn;
    m.a_zero_point = p->a_zero_point;
    m.b_zero_point = p->b_zero_point;
    m.bias = NULL;
    m.multiplier = &p->multiplier;
    m.shift = &p->shift;
    m.per_tensor = 1;
    m.out_zero_point = p->out_zero_point;
    m.act_min = p->act_min;
    m.act_max = p->act_max;
    m.y = out + h * p->out_batch_stride;
    m.y_step = p->out_row_stride;
    m.y_bytes = 1;
    return m;
}

/* The reference's requantization of one value of a product (for edge frames). */
static inline void pr_mm_store_one(const pr_mm *m, int64_t i, int32_t j, int32_t acc)
{
    const int32_t jj = m->per_tensor ? 0 : j;
    const int32_t sum = m->bias != NULL ? pr_q_add_sat32(acc, m->bias[j]) : acc;
    const int32_t v = pr_q_requantize(sum, m->multiplier[jj], m->shift[jj],
                                      m->out_zero_point, m->act_min, m->act_max);
    if (m->y_bytes == 1) {
        ((int8_t *)m->y)[i * m->y_step + j] = (int8_t)v;
    } else {
        ((int16_t *)m->y)[i * m->y_step + j] = (int16_t)v;
    }
}

/* Output frame t of conv1d when its window has padded frames: the reference's sum. */
static inline void pr_mm_conv1d_edge_frame(const pr_conv1d_params *p, const int8_t *x,
                                           const int8_t *w, const pr_mm *m, int64_t t)
{
    const int32_t K = p->kernel;
    const int32_t Cin = p->in_channels;
    const int64_t start = t * p->stride - p->padding;
    int32_t c, k, i;
    for (c = 0; c < p->out_channels; ++c) {
        const int8_t *wc = w + (int64_t)c * K * Cin;
        int32_t acc = 0;
        for (k = 0; k < K; ++k) {
            const int64_t pos = start + k;
            const int8_t *wk = wc + (int64_t)k * Cin;
            for (i = 0; i < Cin; ++i) {
                const int32_t xv = (pos >= 0 && pos < p->in_len) ? x[pos * Cin + i]
                                                                 : p->in_zero_point;
                acc += xv * wk[i];
            }
        }
        pr_mm_store_one(m, t, c, acc);
    }
}

/*
 * conv1d's output frames t0 .. t1 - 1, all with padded taps (before t_lo, after t_hi):
 * copied with their padded taps, which hold in_zero_point exactly as in the
 * reference's sum, into a small buffer (on the stack) whose rows are another product (mm, the
 * variant's product of pr_mm), or, when they do not fit it, summed one by one as in the
 * reference.
 */
enum { PR_MM_EDGE_BYTES = 4096 };

static inline void pr_mm_conv1d_edges(const pr_conv1d_params *p, const int8_t *x,
                                      const int8_t *w, const int32_t *bias,
                                      const int32_t *multiplier, const int32_t *shift,
                                      int8_t *y, int64_t t0, int64_t t1,
                                      void (*mm)(const pr_mm *))
{
    int8_t buf[PR_MM_EDGE_BYTES];
    const int64_t depth = (int64_t)p->kernel * p->in_channels;
    int64_t t;
    int32_t k;
    pr_mm m = pr_mm_conv1d(p, x, w, bias, multiplier, shift, y, t0, t1);
    if (t1 <= t0) {
        return;
    }
    if ((t1 - t0) * depth > PR_MM_EDGE_BYTES) { /* the reference's sums, frame by frame */
        m = pr_mm_conv1d(p, x, w, bias, multiplier, shift, y, 0, 0); /* y from frame 0 */
        for (t = t0; t < t1; ++t) {
            pr_mm_conv1d_edge_frame(p, x, w, &m, t);
        }
        return;
    }
    for (t = t0; t < t1; ++t) {
        for (k = 0; k < p->kernel; ++k) {
            const int64_t pos = t * p->stride - p->padding + k;
            int8_t *dst = buf + (t - t0) * depth + (int64_t)k * p->in_channels;
            if (pos >= 0 && pos < p->in_len) {
                memcpy(dst, x + pos * p->in_channels, (size_t)p->in_channels);
            } else {
                memset(dst, p->in_zero_point, (size_t)p->in_channels);
            }
        }
    }
    m.a = buf;
    m.a_step = depth;
    mm(&m);
}

/*
 * Whole kernels over one product: the checks and the products of linear, conv1d and
 * the attention products, shared by the variants of csrc/x86/, csrc/aarch64/ and
 * csrc/arm/; each variant's file keeps its public function and passes its product mm.
 */
static inline pr_status pr_mm_run_linear(const pr_linear_params *p, const int8_t *x,
                                         const int8_t *w, const int32_t *bias,
                                         const int32_t *multiplier, const int32_t *shift,
                                         void *y, int32_t y_bytes,
                                         void (*mm)(const pr_mm *))
{
    pr_mm m;
    const pr_status st = y_bytes == 1
        ? pr_linear_check(p, x, w, multiplier, shift, y, -128, 127, -128, 127)
        : pr_linear_check(p, x, w, multiplier, shift, y, -32768, 32767, 0, 0);
    if (st != PR_OK) {
        return st;
    }
    m = pr_mm_linear(p, x, w, bias, multiplier, shift, y, y_bytes);
    mm(&m);
    return PR_OK;
}

/* The interior frames are the rows of one product (rows overlapping when stride <
 * kernel); the few frames with padded taps are another product or two. */
static inline pr_status pr_mm_run_conv1d(const pr_conv1d_params *p, const int8_t *x,
                                         const int8_t *w, const int32_t *bias,
                                         const int32_t *multiplier, const int32_t *shift,
                                         int8_t *y, void (*mm)(const pr_mm *))
{
    int64_t T_out, t_lo, t_hi;
    pr_mm m;
    const pr_status st = pr_conv1d_check(p, x, w, multiplier, shift, y, &T_out);
    if (st != PR_OK) {
        return st;
    }
    pr_conv1d_interior(p, T_out, &t_lo, &t_hi);
    pr_mm_conv1d_edges(p, x, w, bias, multiplier, shift, y, 0, t_lo, mm);
    pr_mm_conv1d_edges(p, x, w, bias, multiplier, shift, y, t_hi, T_out, mm);
    if (t_hi > t_lo) {
        m = pr_mm_conv1d(p, x, w, bias, multiplier, shift, y, t_lo, t_hi);
        mm(&m);
    }
    return PR_OK;
}

/* One product per batch (head); b_kn as in pr_mm_bmm (0: Q K^T, 1: A V). */
static inline void pr_mm_run_batches(const pr_bmm_params *p, const int8_t *a,
                                     const int8_t *b, int8_t *out, int32_t b_kn,
                                     void (*mm)(const pr_mm *))
{
    int64_t h;
    for (h = 0; h < p->batches; ++h) {
        const pr_mm m = pr_mm_bmm(p, a, b, out, h, b_kn);
        mm(&m);
    }
}

static inline pr_status pr_mm_run_bmm_nt(const pr_bmm_params *p, const int8_t *a,
                                         const int8_t *b, int8_t *out,
                                         void (*mm)(const pr_mm *))
{
    const pr_status st = pr_bmm_nt_check(p, a, b, out);
    if (st == PR_OK) {
        pr_mm_run_batches(p, a, b, out, 0, mm);
    }
    return st;
}

/* The scratch is checked as in the reference but not needed. */
static inline pr_status pr_mm_run_bmm_nn(const pr_bmm_params *p, const int8_t *a,
                                         const int8_t *b, int8_t *out,
                                         const int32_t *scratch, int64_t scratch_len,
                                         void (*mm)(const pr_mm *))
{
    const pr_status st = pr_bmm_nn_check(p, a, b, out, scratch, scratch_len);
    if (st == PR_OK) {
        pr_mm_run_batches(p, a, b, out, 1, mm);
    }
    return st;
}

#endif /* PR_MM_INTERNAL_H */
