/*
 * pr_layernorm_s16_s8, Arm DSP variant: same prototype, checks and results as
 * csrc/pr_layernorm_s16_s8.c (chosen at build time). The row sums take two channels
 * per step (SMLAD for sum x, SMLALD for sum x^2, exact); the inverse square root is
 * the reference's; per channel, the reference's 64-bit roundings are written with
 * the value ranges that make them cheaper:
 *   |xc| = |C x - S1| <= 2^28 fits int32, inv <= 2^31, so xc inv fits int64; inv =
 *   2^31 (r = 2^30) is replaced by 2^30 with s - 1: the rounded shift of an even
 *   value v = 2 v' by s equals that of v' by s - 1 (below, X = 2 v' + 2^(s-1) is even,
 *   so subtracting 1 or 2 floors alike);
 *   RDBP64(v, s) = (v + 2^(s-1) - [v < 0]) >> s (floor), for 1 <= s <= 62, which
 *   equals the reference's remainder / threshold form and cannot overflow here
 *   (|v| <= 2^60); z fits int32 (pr_arm_ln_channels);
 *   u + offset is added in 64 bits as in the reference.
 */
#include "pr_arm_common.h"
#include "pr_layernorm_internal.h"

/* RDBP on int64 for 1 <= s <= 62 and |v| <= 2^61 (see the file comment). */
PR_ARM_INLINE int64_t pr_arm_rdbp64(int64_t v, int32_t s)
{
    return (v + ((int64_t)1 << (s - 1)) - (v < 0 ? 1 : 0)) >> s;
}

/* S1 = sum x (exact int32: |S1| <= 2^27), S2 = sum x^2. */
static void pr_arm_ln_sums(int32_t C, const int16_t *x, int32_t *S1, int64_t *S2)
{
    int32_t s1 = 0;
    int64_t s2 = 0;
    int32_t i = 0;
    for (; i + 2 <= C; i += 2) {
        int32_t v;
        memcpy(&v, x + i, sizeof v);
        s1 = __smlad(v, 0x00010001, s1);
        s2 = __smlald(v, v, s2);
    }
    if (i < C) {
        s1 += x[i];
        s2 += (int64_t)x[i] * x[i];
    }
    *S1 = s1;
    *S2 = s2;
}

/* A row's normalization: z_i = RDBP64(xc_i inv, s) with inv < 2^31 (int32). */
typedef struct {
    int32_t S1;
    int32_t inv;
    int32_t s;
} pr_arm_ln_norm;

/* RDBP(u + offset, 8) as the reference computes it in 64 bits; in 32 bits when the sum
 * does not overflow (the usual case). */
PR_ARM_INLINE int32_t pr_arm_ln_round8(int32_t u, int32_t offset)
{
    int32_t w;
    if (__builtin_add_overflow(u, offset, &w)) {
        return (int32_t)pr_arm_rdbp64((int64_t)u + offset, PR_LAYERNORM_OUT_FRAC_BITS);
    }
    /* reference RDBP: remainder 0..255 above 127 + [w < 0] rounds up */
    return (w >> 8) + ((w & 255) > 127 + (int32_t)((uint32_t)w >> 31) ? 1 : 0);
}

/*
 * The channels of one row. z always fits int32 (the reference's clamp never acts):
 * sum_i xc_i^2 = C (C S2 - S1^2) <= C V, so |xc_i| <= sqrt(C V) and
 * |z_i| <= sqrt(C) 2^24 (1 + 2^-29) + 1 < 2^31 for C <= 4096. Hence z is the low word
 * of the 64-bit rounding shift (s >= 32: a shift of the high word). uniform: every
 * shift is the same value <= 0 (rounding constants once); full: the clamp range is
 * [-128, 127] (SSAT; |v + zp| < 2^25 cannot overflow).
 */
PR_ARM_INLINE void pr_arm_ln_channels(const pr_layernorm_params *p, const pr_arm_ln_norm *nm,
                                      const int16_t *x, const int32_t *multiplier,
                                      const int32_t *shift, const int32_t *offset,
                                      int8_t *y, int32_t uniform, int32_t full)
{
    const int32_t C = p->channels, S1 = nm->S1, inv = nm->inv, s = nm->s;
    const int32_t zp = p->out_zero_point, lo = p->act_min, hi = p->act_max;
    const int64_t half_s = (int64_t)1 << (s - 1);
    const int32_t right = -shift[0];
    const int32_t mask = (int32_t)(((uint32_t)1 << (right & 31)) - 1u), half = mask >> 1;
    int32_t i;
    for (i = 0; i < C; ++i) {
        const int32_t xc = C * x[i] - S1;                            /* |xc| <= 2^28 */
        const int64_t prod = (int64_t)xc * inv;
        const int64_t t = prod + half_s - (prod < 0 ? 1 : 0);
        const int32_t z = s >= 32 ? (int32_t)((int32_t)(t >> 32) >> (s - 32))
                                  : (int32_t)((uint32_t)t >> s | (uint32_t)(t >> 32) << (32 - s));
        const int32_t u = uniform ? pr_arm_mbqm_right(z, multiplier[i], right, mask, half)
                                  : pr_arm_mbqm(z, multiplier[i], shift[i]); /* Q8 */
        const int32_t q = pr_arm_ln_round8(u, offset[i]) + zp;      /* |v| <= 2^24 */
        y[i] = (int8_t)(full ? __ssat(q, 8) : (q < lo ? lo : (q > hi ? hi : q)));
    }
}

/*
 * The channels of one row on the fast path: every shift is the same right shift
 * n >= 1 (c_n = 2^(n-1), pr_arm_fast_c), C <= PR_ARM_LN_FAST_C, |offset| <= 2^30,
 * the clamp range is [-128, 127] (SSAT) and 1 <= s <= 31. Then, with P = xc inv (|P| < 2^59):
 *   z = RDBP64(P, s) = (P + 2^(s-1) - [P < 0]) >> s, computed as one SMLAL onto
 *       2^(s-1) - [xc < 0] >= 0 (P < 0 iff xc < 0, inv > 0) and the two words'
 *       shifts; z fits int32 (above), and |z| <= sqrt(C) 2^24 (1 + 2^-29) + 1 < 2^29;
 *   u = MBQM(z, m_i, -n) = pr_arm_fast_rq_signed (multipliers of either sign; the
 *       proof of pr_arm_common.h holds with [z m_i < 0] in place of [x < 0]);
 *       |u| <= 2^28;
 *   RDBP(u + offset, 8) + zp = (w + 128 + 256 zp - [w < 0]) >> 8, w = u + offset,
 *       |w| < 2^30 + 2^28: the reference's 64-bit sum fits int32.
 */
enum { PR_ARM_LN_FAST_C = 256 };

PR_ARM_INLINE void pr_arm_ln_channels_fast(const pr_layernorm_params *p,
                                           const pr_arm_ln_norm *nm, const int16_t *x,
                                           const int32_t *multiplier, int32_t n, int32_t cn,
                                           const int32_t *offset, int8_t *y)
{
    const int32_t C = p->channels, neg_S1 = -nm->S1, inv = nm->inv, s = nm->s;
    const int32_t ls = 32 - s, k8 = 128 + 256 * p->out_zero_point;
    const uint32_t half = (uint32_t)1 << (s - 1);
    int32_t i;
    for (i = 0; i < C; ++i) {
        const int32_t xc = C * x[i] + neg_S1;                        /* |xc| <= 2^28 */
        const int32_t m = multiplier[i];
        uint32_t l = half - ((uint32_t)xc >> 31);
        int32_t h = 0, z, u, w, v;
        __asm__("smlal %0, %1, %2, %3" : "+r"(l), "+r"(h) : "r"(xc), "r"(inv));
        z = (int32_t)((l >> s) | ((uint32_t)h << ls));
        u = pr_arm_fast_rq_signed(z, m, n, cn);
        w = u + offset[i];
        v = (w + k8 - (int32_t)((uint32_t)w >> 31)) >> 8;
        y[i] = (int8_t)__ssat(v, 8);
    }
}

static void pr_arm_ln_row(const pr_layernorm_params *p, const int16_t *x,
                          const int32_t *multiplier, const int32_t *shift,
                          const int32_t *offset, int8_t *y, int32_t uniform, int32_t fast,
                          int32_t cn)
{
    const int32_t C = p->channels;
    pr_arm_ln_norm nm;
    int64_t S2, V, inv;
    int32_t i, k = 0;
    pr_arm_ln_sums(C, x, &nm.S1, &S2);
    V = (int64_t)C * S2 - (int64_t)nm.S1 * nm.S1 + p->eps; /* C^2 (var + eps) / s_x^2 */
    if (V <= 0) {   /* V = 0: z = 0 for every channel, as in the reference */
        for (i = 0; i < C; ++i) {
            const int32_t u = pr_arm_mbqm(0, multiplier[i], shift[i]);
            const int32_t v = (int32_t)pr_arm_rdbp64((int64_t)u + offset[i],
                                                     PR_LAYERNORM_OUT_FRAC_BITS);
            const int32_t q = v + p->out_zero_point;
            y[i] = (int8_t)(q < p->act_min ? p->act_min : (q > p->act_max ? p->act_max : q));
        }
        return;
    }
    inv = pr_ln_inv_sqrt(V, &k);                 /* in (2^30, 2^31] */
    nm.s = 37 - k;                               /* in [7, 37] */
    nm.inv = (int32_t)inv;
    if (inv == ((int64_t)1 << 31)) {   /* xc 2^31 rounded at s = xc 2^30 rounded at s - 1 */
        nm.inv = (int32_t)1 << 30;
        nm.s -= 1;
    }
    if (fast && nm.s <= 31) {
        pr_arm_ln_channels_fast(p, &nm, x, multiplier, -shift[0], cn, offset, y);
        return;
    }
    if (uniform && p->act_min == -128 && p->act_max == 127) {
        pr_arm_ln_channels(p, &nm, x, multiplier, shift, offset, y, 1, 1);
    } else if (uniform) {
        pr_arm_ln_channels(p, &nm, x, multiplier, shift, offset, y, 1, 0);
    } else {
        pr_arm_ln_channels(p, &nm, x, multiplier, shift, offset, y, 0, 0);
    }
}

pr_status pr_layernorm_s16_s8(const pr_layernorm_params *p, const int16_t *x,
                              const int32_t *multiplier, const int32_t *shift,
                              const int32_t *offset, int8_t *y)
{
    int64_t t;
    int32_t i, uniform, fast, cn = 0;
    const pr_status st = pr_layernorm_check(p, x, multiplier, shift, offset, y);
    if (st != PR_OK) {
        return st;
    }
    uniform = shift[0] <= 0;
    for (i = 1; i < p->channels && uniform; ++i) {
        uniform = shift[i] == shift[0];
    }
    fast = uniform && p->channels <= PR_ARM_LN_FAST_C && p->act_min == -128 &&
           p->act_max == 127 && pr_arm_fast_c(shift[0], 0, &cn);
    for (i = 0; i < p->channels && fast; ++i) {
        fast = offset[i] >= -(1 << 30) && offset[i] <= (1 << 30);
    }
    for (t = 0; t < p->rows; ++t) {
        pr_arm_ln_row(p, x + t * p->channels, multiplier, shift, offset,
                      y + t * p->channels, uniform, fast, cn);
    }
    return PR_OK;
}
