/*
 * Internal: the causal normalization state's byte layout, its validation and the
 * integer steps shared by pr_norm_*.c (not public API). NumPy oracle:
 * pyreparam/quant/qcausal.py; arithmetic in reference/causal_norm.md.
 *
 * Layout (little-endian): u32 magic "PRNS", u32 version, u32 bands M, u32 n (utterances
 * heard, <= 65535), u32 F (frames merged), u32 CRC-32 of every other byte, then int32
 * mean[M] and var[M] (Q16).
 */
#ifndef PR_NORM_INTERNAL_H
#define PR_NORM_INTERNAL_H

#include "pr_crc32_internal.h"
#include "pr_layernorm_internal.h"
#include "pr_q_internal.h"

#define PR_NORM_MAGIC 0x534E5250u /* "PRNS" */
#define PR_NORM_VERSION 1u

enum {
    PR_NORM_FEATURE_FRAC_BITS = 8,
    PR_NORM_STAT_FRAC_BITS = 16,
    PR_NORM_WEIGHT_BITS = 30,
    PR_NORM_MAX_UTTERANCES = 65535,
    PR_NORM_FRAME_CAP = 16777216,     /* 2^24: frames the running statistics count */
    PR_NORM_MAX_MEAN = 8388608,       /* 2^23: |mean| of int16 Q8 data, in Q16 */
    PR_NORM_MAX_VAR = 1073741824      /* 2^30: variance of int16 Q8 data, in Q16 */
};

enum { PR_NS_MAGIC, PR_NS_VERSION, PR_NS_BANDS, PR_NS_N, PR_NS_FRAMES, PR_NS_CRC };

static inline uint32_t pr_ns_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/* A uint32 as the int32 of the same bits (two's complement, without relying on the
 * implementation-defined conversion). */
static inline int32_t pr_ns_get_i32_u(uint32_t u)
{
    return u <= 0x7FFFFFFFu ? (int32_t)u : (int32_t)(u - 0x80000000u) + PR_Q_INT32_MIN;
}

static inline int32_t pr_ns_get_i32(const uint8_t *p)
{
    return pr_ns_get_i32_u(pr_ns_get_u32(p));
}

static inline void pr_ns_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)((v >> 24) & 0xFFu);
}

static inline void pr_ns_put_i32(uint8_t *p, int32_t v)
{
    pr_ns_put_u32(p, v >= 0 ? (uint32_t)v : (uint32_t)(v - PR_Q_INT32_MIN) + 0x80000000u);
}

static inline uint32_t pr_ns_word(const uint8_t *state, int32_t i)
{
    return pr_ns_get_u32(state + 4 * i);
}

/* mean[m] and var[m] of a state with M bands. */
static inline int32_t pr_ns_mean(const uint8_t *state, int32_t M, int32_t m)
{
    (void)M;
    return pr_ns_get_i32(state + PR_NORM_STATE_HEADER_BYTES + 4 * m);
}

static inline int32_t pr_ns_var(const uint8_t *state, int32_t M, int32_t m)
{
    return pr_ns_get_i32(state + PR_NORM_STATE_HEADER_BYTES + 4 * (M + m));
}

/* CRC-32 of the state without its CRC field. */
static inline uint32_t pr_ns_crc(const uint8_t *state, int32_t bytes)
{
    const uint32_t head = pr_crc32(state, 4 * PR_NS_CRC);
    return pr_crc32_continue(head, state + PR_NORM_STATE_HEADER_BYTES,
                             bytes - PR_NORM_STATE_HEADER_BYTES);
}

/* num / den rounded half away from zero, den > 0, |num| < 2^62. */
static inline int64_t pr_ns_rdiv(int64_t num, int64_t den)
{
    const int64_t q = ((num < 0 ? -num : num) + den / 2) / den;
    return num < 0 ? -q : q;
}

/* Arguments and the whole state (the checks of pr_norm_state_check). */
static inline pr_status pr_ns_check(const uint8_t *state, int32_t bytes, int32_t bands)
{
    uint32_t n, frames;
    int32_t m;
    int any = 0;
    if (state == NULL) {
        return PR_ERR_NULL;
    }
    if (bands < 1 || bands > PR_NORM_MAX_BANDS) {
        return PR_ERR_SHAPE;
    }
    if (bytes != PR_NORM_STATE_HEADER_BYTES + 8 * bands) {
        return PR_ERR_STATE;
    }
    if (pr_ns_word(state, PR_NS_MAGIC) != PR_NORM_MAGIC ||
        pr_ns_word(state, PR_NS_VERSION) != PR_NORM_VERSION ||
        pr_ns_word(state, PR_NS_BANDS) != (uint32_t)bands ||
        pr_ns_crc(state, bytes) != pr_ns_word(state, PR_NS_CRC)) {
        return PR_ERR_STATE;
    }
    n = pr_ns_word(state, PR_NS_N);
    frames = pr_ns_word(state, PR_NS_FRAMES);
    if (n > PR_NORM_MAX_UTTERANCES ||
        frames > (uint32_t)PR_NORM_FRAME_CAP + (uint32_t)PR_NORM_MAX_FRAMES ||
        (n == 0) != (frames == 0)) {
        return PR_ERR_STATE;
    }
    for (m = 0; m < bands; ++m) {
        const int32_t mean = pr_ns_mean(state, bands, m);
        const int32_t var = pr_ns_var(state, bands, m);
        if (mean < -PR_NORM_MAX_MEAN || mean > PR_NORM_MAX_MEAN || var < 0 ||
            var > PR_NORM_MAX_VAR) {
            return PR_ERR_STATE;
        }
        any |= pr_ns_mean(state, bands, m) != 0 || pr_ns_var(state, bands, m) != 0;
    }
    return n == 0 && any ? PR_ERR_STATE : PR_OK;
}

/* Rewrite the CRC after a change. */
static inline void pr_ns_seal(uint8_t *state, int32_t bytes)
{
    pr_ns_put_u32(state + 4 * PR_NS_CRC, pr_ns_crc(state, bytes));
}

/* ---- update (pr_norm_update_s16, pr_norm_update_sums) ------------------------------ */

/* Utterance moments of one band from its sums over T frames (S1 = sum x, S2 = sum x^2,
 * |S1| <= 2^15 T, 0 <= S2 <= 2^30 T): m_u = rdiv(S1 2^8, T) (|m_u| <= 2^23),
 * v_u = max(0, rdiv(S2, T) - rdbp(m_u^2, 16)) (<= 2^30), both Q16. */
static inline void pr_ns_moments(int64_t S1, int64_t S2, int32_t T, int64_t *mean,
                                 int64_t *var)
{
    int64_t v;
    *mean = pr_ns_rdiv(S1 * ((int64_t)1 << PR_NORM_FEATURE_FRAC_BITS), T);
    v = pr_ns_rdiv(S2, T) - pr_q_rdbp64(*mean * *mean, PR_NORM_STAT_FRAC_BITS);
    *var = v < 0 ? 0 : v;
}

/* The weight w (Q30) of T new frames merged into a state that has merged F frames
 * (F capped at 2^24 first), and the frame count after the merge (*F_new). w is 0 for
 * the first utterance (F = 0), whose moments replace the zero statistics. */
static inline int64_t pr_ns_update_weight(uint32_t F, int32_t T, uint32_t *F_new)
{
    int64_t Fa;
    if (F == 0) {
        *F_new = (uint32_t)T;
        return 0;
    }
    Fa = F < (uint32_t)PR_NORM_FRAME_CAP ? (int64_t)F : PR_NORM_FRAME_CAP;
    *F_new = (uint32_t)(Fa + T);
    return pr_ns_rdiv((int64_t)T << PR_NORM_WEIGHT_BITS, Fa + T);
}

/* Merge band m's utterance moments (mu, vu) into a state that has heard n utterances,
 * with weight w (Chan et al.'s pairwise update, reference/causal_norm.md):
 *   m' = m + rdbp(d w, 30), v' = clamp(v + rdbp((v_u - v) w, 30)
 *        + rdbp(rdbp(dd w, 30) (2^30 - w), 30), 0, 2^30),  d = m_u - m, dd = rdbp(d^2, 16). */
static inline void pr_ns_update_band(uint8_t *state, int32_t M, int32_t m, uint32_t n,
                                     int64_t w, int64_t mu, int64_t vu)
{
    const int64_t one = (int64_t)1 << PR_NORM_WEIGHT_BITS;
    int64_t mean = mu;
    int64_t var = vu;
    if (n != 0) {
        const int64_t ma = pr_ns_mean(state, M, m);
        const int64_t va = pr_ns_var(state, M, m);
        const int64_t d = mu - ma;                                     /* |d| <= 2^24 */
        const int64_t dd = pr_q_rdbp64(d * d, PR_NORM_STAT_FRAC_BITS);  /* <= 2^32 */
        const int64_t spread = pr_q_rdbp64(
            pr_q_rdbp64(dd * w, PR_NORM_WEIGHT_BITS) * (one - w), PR_NORM_WEIGHT_BITS);
        mean = ma + pr_q_rdbp64(d * w, PR_NORM_WEIGHT_BITS);
        var = va + pr_q_rdbp64((vu - va) * w, PR_NORM_WEIGHT_BITS) + spread;
    }
    /* the mean is a convex combination of means (|.| <= 2^23); the variance can exceed
     * 2^30 only by the spread term, and is clamped like the reference's */
    pr_ns_put_i32(state + PR_NORM_STATE_HEADER_BYTES + 4 * m, (int32_t)mean);
    pr_ns_put_i32(state + PR_NORM_STATE_HEADER_BYTES + 4 * (M + m),
                  pr_q_clamp64(var, 0, PR_NORM_MAX_VAR));
}

/* After every band: n + 1 (saturating at 65535), the new frame count, the CRC. */
static inline void pr_ns_update_close(uint8_t *state, int32_t bytes, uint32_t n,
                                      uint32_t F_new)
{
    pr_ns_put_u32(state + 4 * PR_NS_N, n < PR_NORM_MAX_UTTERANCES ? n + 1 : n);
    pr_ns_put_u32(state + 4 * PR_NS_FRAMES, F_new);
    pr_ns_seal(state, bytes);
}

/* ---- apply (pr_norm_apply_s16_s8, the stream's per-frame normalization) ------------ */

/* The blend weight b = rdiv(n 2^46, n 2^16 + n0) in Q30 (0 when n = 0). */
static inline int64_t pr_ns_blend_weight(uint32_t n, int32_t prior_weight)
{
    const int64_t nn = n;
    return pr_ns_rdiv(nn << (PR_NORM_STAT_FRAC_BITS + PR_NORM_WEIGHT_BITS),
                      (nn << PR_NORM_STAT_FRAC_BITS) + prior_weight);
}

/* Band m's normalization from the state blended with the prior (weight b, Q30):
 *   mean = p_m + rdbp((m - p_m) b, 30),  V = max(p_v + rdbp((v - p_v) b, 30), floor)
 *   1/sqrt(V) ~= inv 2^(k - 61)  (pr_ln_inv_sqrt; 2^30 < inv <= 2^31)
 * returns mean (Q16, between p_m and m: an int32) and sets *inv and *shift = 45 - k. */
static inline int32_t pr_ns_band_coeffs(const uint8_t *state, int32_t M, int32_t m,
                                        int32_t prior_mean, int32_t prior_var,
                                        int32_t var_floor, int64_t b, uint32_t *inv,
                                        int32_t *shift)
{
    const int64_t pm = prior_mean;
    const int64_t pv = prior_var;
    const int64_t mean =
        pm + pr_q_rdbp64((pr_ns_mean(state, M, m) - pm) * b, PR_NORM_WEIGHT_BITS);
    int64_t V = pv + pr_q_rdbp64((pr_ns_var(state, M, m) - pv) * b, PR_NORM_WEIGHT_BITS);
    int32_t k = 0;
    V = V < var_floor ? var_floor : V;                              /* [1, 2^31) */
    *inv = (uint32_t)pr_ln_inv_sqrt(V, &k);
    *shift = 45 - k;
    return (int32_t)mean;
}

/* pr_q_requantize(z, multiplier, shift, zp, -128, 127) for multiplier >= 0, in fewer
 * steps: with a = sat32(z 2^left), SRDHM(a, m) = (a m + nudge) / 2^31 toward zero
 * equals floor((a m + 2^30) / 2^31) for both signs of a m (for a m < 0 the truncation
 * is a ceiling: ceil((N + 1 - 2^30) / 2^31) = floor((N + 2^30) / 2^31); m >= 0 rules
 * out the one saturating case a = m = INT32_MIN), and RDBP(t, n) for n >= 1 is
 * (t + 2^(n-1) - [t < 0]) >> n (as in pr_ns_normalize); the result is clamped to
 * [-256, 255] before the zero point (|zp| <= 128) is added, which changes nothing
 * after the final clamp. */
static inline int8_t pr_ns_requantize_s8(int32_t z, int32_t multiplier, int32_t shift,
                                         int32_t zp)
{
    int64_t a = z;
    int64_t t;
    if (shift > 0) {
        a = pr_q_clamp64(a * ((int64_t)1 << shift), PR_Q_INT32_MIN, PR_Q_INT32_MAX);
    }
    t = (a * multiplier + ((int64_t)1 << 30)) >> 31;              /* |t| < 2^31 */
    if (shift < 0) {
        t = (t + ((int64_t)1 << (-shift - 1)) - (t < 0 ? 1 : 0)) >> -shift;
    }
    return (int8_t)pr_q_clamp64(pr_q_clamp64(t, -256, 255) + zp, -128, 127);
}

/* One feature x (int16 Q8) normalized with its band's (mean, inv, shift) and quantized
 * to the model's input (multiplier, out_shift, zp: the pr_norm_params' out_*):
 *   z = sat32(rdbp((x 2^8 - mean) inv, shift)) (Q24),  y = sat8(zp + MBQM(z, M_in, e_in)).
 * Written for 15 <= shift <= 30 (the only shifts pr_ns_band_coeffs gives): with
 * v = (x 2^8 - mean) inv, |v| < (2^23 + 2^31) 2^31 < 2^62.1, the rounding shift is
 * (v + 2^(shift-1) - [v < 0]) >> shift (= pr_q_rdbp64(v, shift): the remainder
 * exceeds the threshold exactly when adding 2^(shift-1) - [v < 0] carries), taken on
 * the two 32-bit words, and the result saturates to int32 when its high word is not
 * the low word's sign. */
static inline int8_t pr_ns_normalize(int32_t x, int32_t mean, uint32_t inv, int32_t shift,
                                     int32_t multiplier, int32_t out_shift, int32_t zp)
{
    const int64_t xc = (int64_t)x * ((int64_t)1 << PR_NORM_FEATURE_FRAC_BITS) - mean;
    const int64_t v = xc * (int64_t)inv;
    const uint64_t u = (uint64_t)(v + ((((int64_t)1 << (shift - 1))) - (v < 0 ? 1 : 0)));
    const uint32_t lo = (uint32_t)u;
    const uint32_t hi = (uint32_t)(u >> 32);
    const uint32_t q = (lo >> shift) | (hi << (32 - shift));   /* low word of u >> shift */
    const int32_t q_hi = pr_ns_get_i32_u(hi) >> shift;         /* high word (arithmetic) */
    const int32_t z_lo = pr_ns_get_i32_u(q);
    const int32_t z = q_hi == (z_lo < 0 ? -1 : 0) ? z_lo
                      : (q_hi < 0 ? PR_Q_INT32_MIN : PR_Q_INT32_MAX);  /* Q24, saturated */
    return pr_ns_requantize_s8(z, multiplier, out_shift, zp);
}

/* The checks of pr_norm_apply_s16_s8's constants (after its NULL and shape checks). */
static inline pr_status pr_ns_params_check(const pr_norm_params *p, const int32_t *prior_var)
{
    int32_t m;
    if (p->prior_weight < 1 || p->var_floor < 1 ||
        !pr_q_multiplier_ok(p->out_multiplier, p->out_shift) ||
        p->out_zero_point < -128 || p->out_zero_point > 127) {
        return PR_ERR_PARAM;
    }
    for (m = 0; m < p->bands; ++m) {
        if (prior_var[m] < 1) {
            return PR_ERR_PARAM;
        }
    }
    return PR_OK;
}

#endif /* PR_NORM_INTERNAL_H */
