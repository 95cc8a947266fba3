/*
 * pr_depthwise_conv1d_s8, AVX-512 variant: same prototype, checks and results as
 * csrc/pr_depthwise_conv1d_s8.c (chosen at build time by csrc/build_ffi.py).
 *
 * 16 channels at a time (channel blocks outside, frames inside, so that each block's
 * requantization constants stay in registers): acc = sum_k xp[t + k, c] w[k, c] in
 * int32 lanes (|x w| <= 2^14, |acc| <= K 2^14 <= 2^29: exact), padded frames
 * holding in_zero_point, then bias (saturating add), MBQM, zero point and clamp
 * with the reference's integer steps. The scratch is checked as in the reference
 * but not needed.
 */
#include "pr_x86_q512.h"

static PR_TARGET_AVX512 void pr512_depthwise(const pr_dwconv1d_params *p, const int8_t *x,
                                             const int8_t *w, const int32_t *bias,
                                             const int32_t *multiplier,
                                             const int32_t *shift, int8_t *y)
{
    const int32_t C = p->channels;
    const int32_t pad = p->kernel / 2;
    const __m512i zp_in = _mm512_set1_epi32(p->in_zero_point);
    int64_t t, k;
    int32_t c;
    for (c = 0; c < C; c += 16) {
        const __mmask16 lanes = pr512_first(C - c);
        const pr512_mbqm_c q = pr512_mbqm_consts(
            _mm512_maskz_loadu_epi32(lanes, multiplier + c),
            _mm512_maskz_loadu_epi32(lanes, shift + c));
        const __m512i b = bias != NULL ? _mm512_maskz_loadu_epi32(lanes, bias + c)
                                       : _mm512_setzero_si512();
        for (t = 0; t < p->in_len; ++t) {
            __m512i acc = _mm512_setzero_si512();
            for (k = 0; k < p->kernel; ++k) {
                const int64_t pos = t + k - pad;
                const __m512i wk = _mm512_cvtepi8_epi32(
                    _mm_maskz_loadu_epi8(lanes, w + k * C + c));
                const __m512i xk =
                    pos >= 0 && pos < p->in_len
                        ? _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(lanes, x + pos * C + c))
                        : zp_in;
                acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(xk, wk));
            }
            acc = pr512_mbqm(&q, pr512_add_sat(acc, b));
            acc = pr512_clamp_zp(acc, p->out_zero_point, p->act_min, p->act_max);
            _mm_mask_storeu_epi8(y + t * C + c, lanes, _mm512_cvtepi32_epi8(acc));
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
    pr512_depthwise(p, x, w, bias, multiplier, shift, y);
    return PR_OK;
}
