/*
 * pr_depthwise_conv1d_s8, AVX2 variant: same prototype, checks and results as
 * csrc/pr_depthwise_conv1d_s8.c (chosen at build time by csrc/build_ffi.py).
 *
 * 8 channels at a time (channel blocks outside, frames inside, so that each block's
 * requantization constants stay in registers): acc = sum_k xp[t + k, c] w[k, c] in
 * int32 lanes (|x w| <= 2^14, |acc| <= K 2^14 <= 2^29: exact), padded frames holding
 * in_zero_point, then bias (saturating add), MBQM, zero point and clamp with the
 * reference's integer steps (pr_x86_q256.h). The last C mod 8 channels are computed
 * from zero-padded copies of their columns. The scratch is checked as in the
 * reference but not needed.
 */
#include "pr_x86_q256.h"

/* 8 int8 at p sign-extended to int32 */
PR256_INLINE __m256i pr256_load8(const int8_t *p)
{
    return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p));
}

/* 8 channels' per-channel constants, from zero-padded copies of n <= 8 of them */
typedef struct {
    pr256_mbqm_c q;
    __m256i bias;
} pr256_dw_c;

static inline PR_TARGET_AVX2 pr256_dw_c pr256_dw_consts(const int32_t *bias,
                                                        const int32_t *multiplier,
                                                        const int32_t *shift, int32_t c0,
                                                        int32_t n)
{
    int32_t b8[8] = {0}, m8[8] = {0}, e8[8] = {0};
    pr256_dw_c c;
    if (bias != NULL) {
        memcpy(b8, bias + c0, (size_t)n * sizeof *b8);
    }
    memcpy(m8, multiplier + c0, (size_t)n * sizeof *m8);
    memcpy(e8, shift + c0, (size_t)n * sizeof *e8);
    c.q = pr256_mbqm_consts(_mm256_loadu_si256((const __m256i *)(void *)m8),
                            _mm256_loadu_si256((const __m256i *)(void *)e8));
    c.bias = _mm256_loadu_si256((const __m256i *)(void *)b8);
    return c;
}

/*
 * Channels c0 .. c0 + 7 of every frame: x and w read with row steps xs and ws (C,
 * or 8 for the copies of a last partial block), y written with step ys.
 */
PR256_INLINE void pr256_dw_block(const pr_dwconv1d_params *p, const int8_t *x, int64_t xs,
                                 const int8_t *w, int64_t ws, const pr256_dw_c *c,
                                 int8_t *y, int64_t ys, int left)
{
    const int32_t pad = p->kernel / 2;
    const __m256i zp_in = _mm256_set1_epi32(p->in_zero_point);
    int64_t t, k;
    for (t = 0; t < p->in_len; ++t) {
        const int64_t k_lo = pad - t > 0 ? pad - t : 0;             /* t + k - pad >= 0 */
        const int64_t k_hi = p->in_len + pad - t < p->kernel ? p->in_len + pad - t
                                                             : p->kernel;
        __m256i acc = _mm256_setzero_si256();
        __m256i acc_pad = _mm256_setzero_si256();                   /* sum of padded w */
        for (k = 0; k < k_lo; ++k) {
            acc_pad = _mm256_add_epi32(acc_pad, pr256_load8(w + k * ws));
        }
        for (k = k_lo; k < k_hi; ++k) {
            acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(pr256_load8(x + (t + k - pad) * xs),
                                                           pr256_load8(w + k * ws)));
        }
        for (k = k_hi; k < p->kernel; ++k) {
            acc_pad = _mm256_add_epi32(acc_pad, pr256_load8(w + k * ws));
        }
        /* |zp_in sum w| <= K 2^14: the padded taps' exact contribution */
        acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(acc_pad, zp_in));
        acc = pr256_mbqm(&c->q, pr256_add_sat(acc, c->bias), left);
        acc = pr256_clamp_zp(acc, p->out_zero_point, p->act_min, p->act_max);
        _mm_storel_epi64((__m128i *)(void *)(y + t * ys), pr256_bytes8(acc));
    }
}

/* The last n < 8 channels c0 .. c0 + n - 1, through 8-column copies on the stack
 * (up to 256 frames and taps; beyond, the reference's scalar steps). */
static PR_TARGET_AVX2 void pr256_dw_tail(const pr_dwconv1d_params *p, const int8_t *x,
                                         const int8_t *w, const int32_t *bias,
                                         const int32_t *multiplier, const int32_t *shift,
                                         const pr256_dw_c *c, int8_t *y, int32_t c0,
                                         int32_t n)
{
    enum { PR256_DW_TAIL_ROWS = 256 };
    int8_t xb[PR256_DW_TAIL_ROWS * 8], wb[PR256_DW_TAIL_ROWS * 8], yb[PR256_DW_TAIL_ROWS * 8];
    const int32_t C = p->channels;
    int64_t t, k;
    int32_t l;
    if (p->in_len <= PR256_DW_TAIL_ROWS && p->kernel <= PR256_DW_TAIL_ROWS) {
        memset(xb, 0, sizeof xb);
        memset(wb, 0, sizeof wb);
        for (t = 0; t < p->in_len; ++t) {
            memcpy(xb + t * 8, x + t * C + c0, (size_t)n);
        }
        for (k = 0; k < p->kernel; ++k) {
            memcpy(wb + k * 8, w + k * C + c0, (size_t)n);
        }
        pr256_dw_block(p, xb, 8, wb, 8, c, yb, 8, 1);
        for (t = 0; t < p->in_len; ++t) {
            memcpy(y + t * C + c0, yb + t * 8, (size_t)n);
        }
        return;
    }
    for (l = 0; l < n; ++l) { /* long sequences or kernels: the reference's steps */
        const int32_t ch = c0 + l;
        const int32_t pad = p->kernel / 2;
        for (t = 0; t < p->in_len; ++t) {
            int32_t acc = 0;
            for (k = 0; k < p->kernel; ++k) {
                const int64_t pos = t + k - pad;
                const int32_t xv = pos >= 0 && pos < p->in_len ? x[pos * C + ch]
                                                               : p->in_zero_point;
                acc += xv * (int32_t)w[k * C + ch];
            }
            acc = bias != NULL ? pr_q_add_sat32(acc, bias[ch]) : acc;
            y[t * C + ch] = (int8_t)pr_q_requantize(acc, multiplier[ch], shift[ch],
                                                    p->out_zero_point, p->act_min,
                                                    p->act_max);
        }
    }
}

static PR_TARGET_AVX2 void pr256_depthwise(const pr_dwconv1d_params *p, const int8_t *x,
                                           const int8_t *w, const int32_t *bias,
                                           const int32_t *multiplier, const int32_t *shift,
                                           int8_t *y)
{
    const int32_t C = p->channels;
    int32_t c0;
    for (c0 = 0; c0 < C; c0 += 8) {
        const int32_t n = C - c0 < 8 ? C - c0 : 8;
        const pr256_dw_c c = pr256_dw_consts(bias, multiplier, shift, c0, n);
        if (n < 8) {
            pr256_dw_tail(p, x, w, bias, multiplier, shift, &c, y, c0, n);
        } else if (c.q.any_left) {
            pr256_dw_block(p, x + c0, C, w + c0, C, &c, y + c0, C, 1);
        } else {
            pr256_dw_block(p, x + c0, C, w + c0, C, &c, y + c0, C, 0);
        }
    }
}

pr_status pr_depthwise_conv1d_s8(const pr_dwconv1d_params *p, const int8_t *x,
                                 const int8_t *w, const int32_t *bias,
                                 const int32_t *multiplier, const int32_t *shift,
                                 int8_t *y, int32_t *scratch, int64_t scratch_len)
{
    const pr_status st = pr_dwconv1d_check(p, x, w, multiplier, shift, y, scratch,
                                           scratch_len);
    if (st != PR_OK) {
        return st;
    }
    pr256_depthwise(p, x, w, bias, multiplier, shift, y);
    return PR_OK;
}
