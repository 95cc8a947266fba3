/*
 * pr_logmel_frame_s16, Arm DSP variant (Cortex-M4, M7): the reference's steps
 * (csrc/pr_logmel_frame_s16.c, pr_logmel_internal.h) with the same checks and
 * bit-identical results, two of them in fewer instructions:
 *
 * 1. The window's block exponent needs bitlen(u), u = OR_n (s[n] XOR (s[n] >> 15)).
 *    Every term t_n = s_n XOR (s_n >> 15) lies in [0, 2^15) (s_n for s_n >= 0, -s_n - 1
 *    for s_n < 0), and the bit length of an OR of non-negative numbers is the largest
 *    of their bit lengths, i.e. the bit length of their largest: bitlen(u) =
 *    bitlen(max_n t_n) = bitlen(max(max_n s_n, -min_n s_n - 1)) (the first term wins
 *    when no sample is negative, as -min - 1 < 0 then; the second when all are).
 *    The maxima and minima come two samples at a time (SSUB16 sets the GE flag of each
 *    16-bit lane, SEL picks the lanes): 2.5 instructions per sample instead of 6.
 *    The window product (s 2^g w + 2^31) >> 32, rounded half up, is SMMULR (the high
 *    word of a signed 32 x 32 product plus 2^31), |s 2^g| <= 2^22 fitting 32 bits.
 * 2. The mel sums over the uint32 words of P take two bins per iteration (LDRD, UMLAL;
 *    every sum is a uint64 sum mod 2^64, so the order of its terms changes nothing).
 * 3. The real split and the power spectrum in one block of instructions per bin pair.
 * 4. The log on the two 32-bit words of its argument (CLZ of one word).
 * The FFT is the reference's own inline steps (its 64-bit product sums are already
 * SMULL/SMLAL pairs). tools/mcu/kernel_test.c
 * compares this function with the reference on random frames and random tables
 * (int32 extremes included), output and power spectrum word for word, statuses too.
 */
#include <string.h>

#include "pr_logmel_internal.h"

#if !defined(__ARM_FEATURE_DSP) || !defined(__ARM_FEATURE_SIMD32)
#error "csrc/arm/ needs an Arm core with the DSP extension (e.g. -mcpu=cortex-m4)"
#endif

/* Two int16 samples from any (2-byte aligned) address: unaligned LDR is allowed. */
PR_LM_INLINE uint32_t pr_lmd_load2(const int16_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Lane-wise signed maximum and minimum of the 16-bit lanes of x into *mx, *mn. */
PR_LM_INLINE void pr_lmd_maxmin(uint32_t x, uint32_t *mx, uint32_t *mn)
{
    uint32_t t;
    __asm__("ssub16 %[t], %[x], %[mx]\n\t"
            "sel %[mx], %[x], %[mx]\n\t"
            "ssub16 %[t], %[mn], %[x]\n\t"
            "sel %[mn], %[x], %[mn]"
            : [t] "=&r"(t), [mx] "+r"(*mx), [mn] "+r"(*mn)
            : [x] "r"(x)
            : "cc");
}

/* (a b + 2^31) >> 32 (signed): SMMULR. */
PR_LM_INLINE int32_t pr_lmd_smmulr(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
/* The loops below load a sample pair with LDR from any 2-byte aligned address
 * (Armv7-M allows unaligned LDR for normal memory), the window and y (int32 arrays)
 * in pairs with LDRD / STRD (word alignment suffices). */

/* Step 1 of pr_lm_window, the same results: the windowed frame y, *k, and e = g + k. */
PR_LM_INLINE int32_t pr_lmd_window(const int32_t *window, const int16_t *s, int32_t win,
                                   int32_t n_fft, int32_t *y, int32_t *k)
{
    const int32_t emax = 16 + pr_lm_stages(n_fft / 2);
    uint32_t mx = 0x80008000u;                      /* -32768 in both lanes */
    uint32_t mn = 0x7FFF7FFFu;                      /* 32767 in both lanes */
    uint32_t S = 0;
    int32_t top, bottom, u, g, scale, n = 0;
    for (; n + 4 <= win; n += 4) {
        pr_lmd_maxmin(pr_lmd_load2(s + n), &mx, &mn);
        pr_lmd_maxmin(pr_lmd_load2(s + n + 2), &mx, &mn);
    }
    for (; n + 2 <= win; n += 2) {
        pr_lmd_maxmin(pr_lmd_load2(s + n), &mx, &mn);
    }
    top = (int16_t)(mx & 0xFFFFu) > (int16_t)(mx >> 16) ? (int16_t)(mx & 0xFFFFu)
                                                          : (int16_t)(mx >> 16);
    bottom = (int16_t)(mn & 0xFFFFu) < (int16_t)(mn >> 16) ? (int16_t)(mn & 0xFFFFu)
                                                             : (int16_t)(mn >> 16);
    if (n < win) {                                  /* an odd window length */
        top = s[n] > top ? s[n] : top;
        bottom = s[n] < bottom ? s[n] : bottom;
    }
    u = top > -bottom - 1 ? top : -bottom - 1;      /* max_n t_n, in [0, 2^15) */
    g = pr_q_min32(PR_LM_SCALED_BITS - pr_lm_bit_length((uint64_t)u), emax);
    scale = (int32_t)1 << g;
    n = win & ~1;
    if (n > 0) {   /* y = SMMULR(s 2^g, w), S += y XOR (y >> 31), two samples a time */
        const int16_t *sp = s;
        const int32_t *wp = window;
        int32_t *yp = y;
        const int32_t *yend = y + n;
        uint32_t x, w0, w1, a, b;
        __asm__ volatile(
            "1:\n\t"
            "ldr %[x], [%[sp]], #4\n\t"
            "ldrd %[w0], %[w1], [%[wp]], #8\n\t"
            "sxth %[a], %[x]\n\t"
            "asr %[b], %[x], #16\n\t"
            "lsl %[a], %[a], %[g]\n\t"
            "lsl %[b], %[b], %[g]\n\t"
            "smmulr %[a], %[a], %[w0]\n\t"
            "smmulr %[b], %[b], %[w1]\n\t"
            "strd %[a], %[b], [%[yp]], #8\n\t"
            "eor %[a], %[a], %[a], asr #31\n\t"
            "eor %[b], %[b], %[b], asr #31\n\t"
            "add %[S], %[S], %[a]\n\t"
            "add %[S], %[S], %[b]\n\t"
            "cmp %[yp], %[yend]\n\t"
            "bne 1b"
            : [S] "+r"(S), [sp] "+r"(sp), [wp] "+r"(wp), [yp] "+r"(yp), [x] "=&r"(x),
              [w0] "=&r"(w0), [w1] "=&r"(w1), [a] "=&r"(a), [b] "=&r"(b)
            : [g] "r"(g), [yend] "r"(yend)
            : "cc", "memory");
    }
    if (n < win) {
        const int32_t v = pr_lmd_smmulr(s[n] * scale, window[n]);
        y[n] = v;
        S += (uint32_t)(v ^ (v >> 31));
    }
    memset(y + win, 0, (size_t)(n_fft - win) * sizeof *y);
    *k = pr_q_max32(0, pr_q_min32(PR_LM_L1_BITS - pr_lm_bit_length(S + (uint32_t)win),
                                  emax - g));
    return g + *k;
}

/* Step 3 of the reference (pr_lm_power), the same arithmetic per k: the two rotated
 * components as 2^31 + u_r c + u_i s and 2^31 + u_i c - u_r s accumulated by SMLAL
 * from the constant 2^31 (the reference's product sum plus 2^31, high word), the
 * halvings toward zero as (v + [v < 0]) >> 1, the powers by SMULL + SMLAL, stored with
 * STRD at P[k] (ascending) and P[N - k] (descending). */
PR_LM_INLINE void pr_lmd_power(const int32_t *z, int32_t N, const int32_t *twiddles,
                               const uint16_t *order, uint32_t *P)
{
    const uint32_t mask = (uint32_t)N - 1u;
    uint32_t *Pk = P;
    uint32_t *Pm = P + 2 * N;
    const int32_t *tw = twiddles;
    int32_t k;
    for (k = 0; k <= N / 2; ++k) {
        /* zk, zm: the addresses of Z[k], Z[N - k]; the block reuses their registers for
         * A_r / 2 and A_i / 2 once it has loaded them */
        int32_t zk = (int32_t)(intptr_t)(z + 2 * (order[k] & mask));
        int32_t zm = (int32_t)(intptr_t)(z + 2 * (order[((uint32_t)N - (uint32_t)k) & mask] &
                                                  mask));
        int32_t a0, a1, b0, b1, lo, hi, hi2;
        __asm__ volatile(
            "ldrd %[a0], %[a1], [%[zk]]\n\t"
            "ldrd %[b0], %[b1], [%[zm]]\n\t"
            "add %[zk], %[a0], %[b0]\n\t"             /* A_r */
            "sub %[a0], %[a0], %[b0]\n\t"             /* u_r */
            "sub %[zm], %[a1], %[b1]\n\t"             /* A_i */
            "add %[a1], %[a1], %[b1]\n\t"             /* u_i */
            "add %[zk], %[zk], %[zk], lsr #31\n\t"
            "asr %[zk], %[zk], #1\n\t"                /* A_r / 2 */
            "add %[zm], %[zm], %[zm], lsr #31\n\t"
            "asr %[zm], %[zm], #1\n\t"                /* A_i / 2 */
            "ldrd %[b0], %[b1], [%[tw]], #8\n\t"      /* c, s */
            "mov %[lo], #0x80000000\n\t"
            "mov %[hi], #0\n\t"
            "smlal %[lo], %[hi], %[a0], %[b0]\n\t"
            "smlal %[lo], %[hi], %[a1], %[b1]\n\t"    /* hi = C_r */
            "rsb %[a0], %[a0], #0\n\t"
            "mov %[lo], #0x80000000\n\t"
            "mov %[hi2], #0\n\t"
            "smlal %[lo], %[hi2], %[a1], %[b0]\n\t"
            "smlal %[lo], %[hi2], %[a0], %[b1]\n\t"   /* hi2 = C_i */
            "add %[a0], %[zk], %[hi2]\n\t"            /* X'[k] */
            "sub %[a1], %[zm], %[hi]\n\t"
            "smull %[b0], %[b1], %[a0], %[a0]\n\t"
            "smlal %[b0], %[b1], %[a1], %[a1]\n\t"
            "strd %[b0], %[b1], [%[Pk]], #8\n\t"
            "sub %[a0], %[zk], %[hi2]\n\t"            /* X'[N - k] */
            "add %[a1], %[zm], %[hi]\n\t"
            "smull %[b0], %[b1], %[a0], %[a0]\n\t"
            "smlal %[b0], %[b1], %[a1], %[a1]\n\t"
            "strd %[b0], %[b1], [%[Pm]], #-8"
            : [a0] "=&r"(a0), [a1] "=&r"(a1), [b0] "=&r"(b0), [b1] "=&r"(b1),
              [lo] "=&r"(lo), [hi] "=&r"(hi), [hi2] "=&r"(hi2), [zk] "+&r"(zk),
              [zm] "+&r"(zm), [tw] "+&r"(tw), [Pk] "+&r"(Pk), [Pm] "+&r"(Pm)
            :
            : "memory");
    }
}

/* Step 4 of the reference (pr_lm_mel), two bins per iteration: LDRD of two P words
 * and of two weights, four UMLAL into the two uint64 sums (mod 2^64, as in C). */
PR_LM_INLINE uint64_t pr_lmd_mel(const uint32_t *P, int32_t count, const int32_t *w)
{
    const int32_t *end2 = w + (count & ~1);
    uint32_t al = 0, ah = 0, bl = 0, bh = 0;
    uint64_t acc_l, acc_h;
    if (w < end2) {
        uint32_t p0, p1, p2, p3, w0, w1;
        __asm__ volatile(
            "1:\n\t"
            "ldrd %[p0], %[p1], [%[P]], #8\n\t"
            "ldrd %[p2], %[p3], [%[P]], #8\n\t"
            "ldrd %[w0], %[w1], [%[w]], #8\n\t"
            "umlal %[al], %[ah], %[p0], %[w0]\n\t"
            "umlal %[bl], %[bh], %[p1], %[w0]\n\t"
            "umlal %[al], %[ah], %[p2], %[w1]\n\t"
            "umlal %[bl], %[bh], %[p3], %[w1]\n\t"
            "cmp %[w], %[end]\n\t"
            "bne 1b"
            : [al] "+r"(al), [ah] "+r"(ah), [bl] "+r"(bl), [bh] "+r"(bh), [P] "+r"(P),
              [w] "+r"(w), [p0] "=&r"(p0), [p1] "=&r"(p1), [p2] "=&r"(p2),
              [p3] "=&r"(p3), [w0] "=&r"(w0), [w1] "=&r"(w1)
            : [end] "r"(end2)
            : "cc", "memory");
    }
    acc_l = ((uint64_t)ah << 32) | al;
    acc_h = ((uint64_t)bh << 32) | bl;
    if (count & 1) {
        acc_l += (uint64_t)P[0] * (uint32_t)*w;
        acc_h += (uint64_t)P[1] * (uint32_t)*w;
    }
    return (acc_h << (32 - PR_LM_WEIGHT_BITS)) + (acc_l >> PR_LM_WEIGHT_BITS);
}

/* Step 5 of the reference (pr_lm_log_q8) on the two words of v = hi 2^32 + lo: the
 * leading one by CLZ of one word, and top (v's 32 bits from its leading one) as
 * (hi << z) | (lo >> (32 - z)) or lo << z: the reference's v >> (n - 31) or
 * v << (31 - n) without 64-bit shifts; v = 0 counts as 1, as there. */
PR_LM_INLINE int16_t pr_lmd_log_q8(uint64_t v, int32_t E, const int32_t *t)
{
    const uint32_t mask = (1u << (PR_LM_LOG2_FRAC + 1)) - 1u;
    uint32_t hi = (uint32_t)(v >> 32);
    uint32_t lo = (uint32_t)v;
    uint32_t top;
    int32_t n, z, t0, t1, L;
    if (hi != 0) {
        z = __builtin_clz(hi);
        n = 63 - z;
        top = z == 0 ? hi : (hi << z) | (lo >> (32 - z));
    } else {
        lo = lo == 0 ? 1u : lo;
        z = __builtin_clz(lo);
        n = 31 - z;
        top = lo << z;
    }
    t0 = (int32_t)((uint32_t)t[top >> 24 & 0x7Fu] & mask);
    t1 = (int32_t)((uint32_t)t[(top >> 24 & 0x7Fu) + 1] & mask);
    L = (n - E) * (1 << PR_LM_LOG2_FRAC) + t0 +
        (((t1 - t0) * (int32_t)(top >> 10 & 0x3FFFu) + (1 << (PR_LM_INTERP_BITS - 1))) >>
         PR_LM_INTERP_BITS);
    return (int16_t)(((int64_t)L * PR_LM_LN2_Q31 + ((int64_t)1 << 38)) >> 39);
}

pr_status pr_logmel_frame_s16(const pr_logmel_params *p, const int16_t *samples,
                              int16_t *out, int32_t *scratch, int64_t scratch_len)
{
    const pr_status st = pr_lm_check(p, samples, out, scratch, scratch_len);
    int32_t N, k, E;
    uint64_t F;
    uint32_t *P;
    if (st != PR_OK) {
        return st;
    }
    N = p->n_fft / 2;
    P = (uint32_t *)(scratch + p->n_fft);
    E = pr_lmd_window(p->window, samples, p->win_length, p->n_fft, scratch, &k);
    pr_lm_fft(scratch, N, p->fft_twiddles, k);
    pr_lmd_power(scratch, N, p->rfft_twiddles, p->fft_order, P);
    E = 2 * E + 30 - 2 * pr_lm_stages(N);
    F = ((uint64_t)p->floor_q62 + (((uint64_t)1 << (PR_LM_FLOOR_BITS - E)) >> 1)) >>
        (PR_LM_FLOOR_BITS - E);
    {   /* pointers walked instead of indices: fewer live values around the mel loop */
        const uint16_t *first = p->mel_first;
        const uint16_t *counts = p->mel_count;
        const uint16_t *end = counts + p->n_mels;
        const int32_t *w = p->mel_weights;
        const int32_t *t = p->log2_table;
        for (; counts < end; ++counts, ++first, ++out) {
            const int32_t count = *counts;
            *out = pr_lmd_log_q8(pr_lmd_mel(P + 2 * *first, count, w) + F, E, t);
            w += count;
        }
    }
    return PR_OK;
}
