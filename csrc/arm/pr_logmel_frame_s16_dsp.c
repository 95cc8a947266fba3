/*
 * pr_logmel_frame_s16, Arm DSP variant (Cortex-M4, M7): the reference's steps
 * (csrc/pr_logmel_frame_s16.c, pr_logmel_internal.h) with the same checks and
 * bit-identical results, every step in fewer instructions (Cortex-M4, n_fft 512, 64
 * bands: 28.2 k per frame instead of the reference's 38.5 k; the arguments sit next to
 * each step's code):
 *
 * 1. The window's block exponent needs bitlen(u), u = OR_n (s[n] XOR (s[n] >> 15)).
 *    Every term t_n = s_n XOR (s_n >> 15) lies in [0, 2^15) (s_n for s_n >= 0, -s_n - 1
 *    for s_n < 0), and the bit length of an OR of non-negative numbers is the largest
 *    of their bit lengths, i.e. the bit length of their largest: bitlen(u) =
 *    bitlen(max_n t_n) = bitlen(max(max_n s_n, -min_n s_n - 1)) (the first term wins
 *    when no sample is negative, as -min - 1 < 0 then; the second when all are).
 *    The maxima and minima come two samples at a time (SSUB16 sets the GE flag of each
 *    16-bit lane, SEL picks the lanes): 2.5 instructions per sample instead of 6.
 *    The window product (s 2^g w + 2^31) >> 32, rounded half up, is SMLAWB / SMLAWT
 *    with the rounding addend and one shift (g <= 15, every speech frame) or SMMULR
 *    (the high word of a signed 32 x 32 product plus 2^31; quiet frames, g >= 16).
 * 2. The FFT's twiddled butterflies and its last stage as asm loops: LDRD / STRD of
 *    each complex point, every rot component in three instructions (SMULL, SMLAL and
 *    the rounding carry as ADD hi, hi, lo, LSR #31).
 * 3. The real split and the power spectrum: one asm loop over the bin pairs.
 * 4. and 5. Each band's mel sums (two bins per iteration: LDRD, UMLAL; every sum is a
 *    uint64 sum mod 2^64, so the order of its terms changes nothing), floor and log
 *    (on the two 32-bit words of its argument, CLZ of one word) in one asm block.
 * Past the window the data are 22- to 31-bit values whose products need exact 64-bit
 * sums, so the packed 16-bit instructions (SMLAD, QADD16, ...) have no place there;
 * they serve the int16 samples (SSUB16 / SEL, SMLAWB / SMLAWT in step 1).
 * tools/mcu/kernel_test.c compares this function with the reference on random frames
 * and random tables (int32 extremes included; empty bands and tiny floors), output
 * and power spectrum word for word, statuses too.
 */
#include <stddef.h>
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
    if (g <= 15) {
        /* y = (SMLAWB(w, s, 2^(15-g)) >> (16 - g)): SMLAWB / SMLAWT give
         * floor(w s / 2^16) + 2^(15-g) (the 48-bit product's top 32 bits, then the
         * addend; |w s| / 2^16 <= 2^30: no wrap), and for integers x and d >= 1,
         * floor((floor(x / 2^16) + m) / d) = floor((x / 2^16 + m) / d), so the shift
         * gives floor((s w + 2^(31-g)) / 2^(32-g)) = (s 2^g w + 2^31) >> 32, the
         * reference's y, whenever 16 - g >= 1. g >= 16 (|s| < 64 everywhere) takes the
         * SMMULR loop below. Four samples per iteration. */
        const int16_t *sp = s;
        const int32_t *wp = window;
        int32_t *yp = y;
        const int32_t *yend = y + (win & ~3);
        const int32_t round = (int32_t)1 << (15 - g);
        const int32_t shift = 16 - g;
        uint32_t x0, x1, w0, w1, w2, w3;
        n = win & ~3;
        if (n > 0) {
            __asm__ volatile(
                "1:\n\t"
                "ldr %[x0], [%[sp]], #8\n\t"
                "ldr %[x1], [%[sp], #-4]\n\t"
                "ldrd %[w0], %[w1], [%[wp]], #16\n\t"
                "ldrd %[w2], %[w3], [%[wp], #-8]\n\t"
                "smlawb %[w0], %[w0], %[x0], %[r]\n\t"
                "smlawt %[w1], %[w1], %[x0], %[r]\n\t"
                "smlawb %[w2], %[w2], %[x1], %[r]\n\t"
                "smlawt %[w3], %[w3], %[x1], %[r]\n\t"
                "asr %[w0], %[w0], %[sh]\n\t"
                "asr %[w1], %[w1], %[sh]\n\t"
                "asr %[w2], %[w2], %[sh]\n\t"
                "asr %[w3], %[w3], %[sh]\n\t"
                "strd %[w0], %[w1], [%[yp]], #16\n\t"
                "strd %[w2], %[w3], [%[yp], #-8]\n\t"
                "eor %[w0], %[w0], %[w0], asr #31\n\t"
                "eor %[w1], %[w1], %[w1], asr #31\n\t"
                "eor %[w2], %[w2], %[w2], asr #31\n\t"
                "eor %[w3], %[w3], %[w3], asr #31\n\t"
                "add %[S], %[S], %[w0]\n\t"
                "add %[S], %[S], %[w1]\n\t"
                "add %[S], %[S], %[w2]\n\t"
                "add %[S], %[S], %[w3]\n\t"
                "cmp %[yp], %[yend]\n\t"
                "bne 1b"
                : [S] "+r"(S), [sp] "+r"(sp), [wp] "+r"(wp), [yp] "+r"(yp),
                  [x0] "=&r"(x0), [x1] "=&r"(x1), [w0] "=&r"(w0), [w1] "=&r"(w1),
                  [w2] "=&r"(w2), [w3] "=&r"(w3)
                : [r] "r"(round), [sh] "r"(shift), [yend] "r"(yend)
                : "cc", "memory");
        }
    } else {
        n = win & ~1;
    }
    if (g > 15 && n > 0) {   /* y = SMMULR(s 2^g, w), S += y XOR (y >> 31), two samples a time */
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
    for (; n < win; ++n) {                          /* the last 1 to 3 samples */
        const int32_t v = pr_lmd_smmulr(s[n] * scale, window[n]);
        y[n] = v;
        S += (uint32_t)(v ^ (v >> 31));
    }
    memset(y + win, 0, (size_t)(n_fft - win) * sizeof *y);
    *k = pr_q_max32(0, pr_q_min32(PR_LM_L1_BITS - pr_lm_bit_length(S + (uint32_t)win),
                                  emax - g));
    return g + *k;
}

/* Step 2 of the reference (pr_lm_fft), the same arithmetic per butterfly in fewer
 * instructions: the twiddled butterflies (j >= 1 of the halving stages: 171 of their
 * 192 at n_fft 512) and the last stage (64 butterflies) are asm loops; the j = 0
 * butterflies (21) are the reference's own.
 *
 * A twiddled butterfly: a_m at p + (2 m - 3) H bytes (H = 4 q: the four points
 * q2 = 2 q int32 apart around p in their middle, so that every offset fits LDRD /
 * STRD's +-1020 up to q = 64); in the first stage inputs times 2^k (LSL: the
 * reference's int32 product by `scale`, bit for bit); b_p and y_p the reference's
 * int32 sums; y0 / 2 toward zero as (v + [v < 0]) >> 1 (ASR); and each component of
 * rot(u, W), (u_r c + u_i s + 2^31) >> 32, as SMULL + SMLAL (the exact 64-bit sum,
 * below 2^62 in magnitude by the bounds of pr_logmel_internal.h, as hi 2^32 + lo)
 * and ADD hi, hi, lo, LSR #31: adding 2^31 to the sum carries into its high word
 * exactly when lo >= 2^31, so hi + (lo >> 31) is the reference's (sum + 2^31) >> 32
 * (one instruction where the compiler spends ADDS + ADC or two MOVs). The second
 * component's -u_r is an RSB of the int32, as the reference's int32 negation. */
#define PR_LMD_TW_LOAD                                                                  \
    "ldrd %[x0], %[x1], [%[p], #-%c[h3]]\n\t"                   /* a0 */                \
    "ldrd %[x2], %[x3], [%[p], #%c[h1]]\n\t"                    /* a2 */                \
    "ldrd %[x4], %[x5], [%[p], #-%c[h1]]\n\t"                   /* a1 */                \
    "ldrd %[x6], %[x7], [%[p], #%c[h3]]\n\t"                    /* a3 */
/* times 2^k: LSL by a register shifts by its bottom byte, k (cnt = count 2^8 + k) */
#define PR_LMD_TW_SCALE                                                                 \
    "lsl %[x0], %[x0], %[cnt]\n\t"                                                      \
    "lsl %[x1], %[x1], %[cnt]\n\t"                                                      \
    "lsl %[x2], %[x2], %[cnt]\n\t"                                                      \
    "lsl %[x3], %[x3], %[cnt]\n\t"                                                      \
    "lsl %[x4], %[x4], %[cnt]\n\t"                                                      \
    "lsl %[x5], %[x5], %[cnt]\n\t"                                                      \
    "lsl %[x6], %[x6], %[cnt]\n\t"                                                      \
    "lsl %[x7], %[x7], %[cnt]\n\t"
/* rot(UR, UI) by the twiddle pair (c, s) that TW addresses into a_p at p + AT; UR is
 * negated in place once the real part has used it; x6..x9 are clobbered */
#define PR_LMD_TW_ROT(UR, UI, TW, AT)                                                   \
    "ldrd %[x6], %[x7], " TW "\n\t"                             /* c, s */              \
    "smull %[x8], %[x9], %[" UR "], %[x6]\n\t"                                          \
    "smlal %[x8], %[x9], %[" UI "], %[x7]\n\t"                                          \
    "add %[x9], %[x9], %[x8], lsr #31\n\t"                      /* re */                \
    "rsb %[" UR "], %[" UR "], #0\n\t"                                                  \
    "smull %[x8], %[x6], %[" UI "], %[x6]\n\t"                                          \
    "smlal %[x8], %[x6], %[" UR "], %[x7]\n\t"                                          \
    "add %[x6], %[x6], %[x8], lsr #31\n\t"                      /* im */                \
    "strd %[x9], %[x6], [%[p], #" AT "]\n\t"
/* the butterfly proper; w enters at row j - 1 plus 8 bytes and leaves at row j plus 8
 * (pre-indexed LDRD: rows are %[tw] bytes apart) */
#define PR_LMD_TW_BODY                                                                  \
    "add %[x8], %[x0], %[x2]\n\t"                               /* b0r */               \
    "sub %[x0], %[x0], %[x2]\n\t"                               /* b1r */               \
    "add %[x2], %[x1], %[x3]\n\t"                               /* b0i */               \
    "sub %[x1], %[x1], %[x3]\n\t"                               /* b1i */               \
    "add %[x3], %[x4], %[x6]\n\t"                               /* b2r */               \
    "sub %[x4], %[x4], %[x6]\n\t"                               /* b3r */               \
    "add %[x6], %[x5], %[x7]\n\t"                               /* b2i */               \
    "sub %[x5], %[x5], %[x7]\n\t"                               /* b3i */               \
    "add %[x7], %[x8], %[x3]\n\t"                               /* y0r */               \
    "sub %[x3], %[x8], %[x3]\n\t"                               /* y2r */               \
    "add %[x7], %[x7], %[x7], lsr #31\n\t"                                              \
    "asr %[x7], %[x7], #1\n\t"                                                          \
    "add %[x8], %[x2], %[x6]\n\t"                               /* y0i */               \
    "sub %[x2], %[x2], %[x6]\n\t"                               /* y2i */               \
    "add %[x8], %[x8], %[x8], lsr #31\n\t"                                              \
    "asr %[x8], %[x8], #1\n\t"                                                          \
    "strd %[x7], %[x8], [%[p], #-%c[h3]]\n\t"                   /* a0 <- y0 / 2 */      \
    PR_LMD_TW_ROT("x3", "x2", "[%[w], %[tw]]!", "%c[h1]")       /* a2 <- rot(y2) */     \
    "add %[x2], %[x0], %[x5]\n\t"                               /* y1r = b1r + b3i */   \
    "sub %[x3], %[x1], %[x4]\n\t"                               /* y1i = b1i - b3r */   \
    "sub %[x0], %[x0], %[x5]\n\t"                               /* y3r = b1r - b3i */   \
    "add %[x1], %[x1], %[x4]\n\t"                               /* y3i = b1i + b3r */   \
    PR_LMD_TW_ROT("x2", "x3", "[%[w], #-8]", "-%c[h1]")         /* a1 <- rot(y1) */     \
    PR_LMD_TW_ROT("x0", "x1", "[%[w], #8]", "%c[h3]")           /* a3 <- rot(y3) */

/* One halving stage with q = Q (groups of 4 Q points), twiddle row j STRIDE for
 * butterfly j: per group the reference's j = 0 butterfly, then one asm loop over
 * j = 1 .. Q - 1 (p 8 bytes, w 24 STRIDE bytes further each time; cnt = (Q - 2 - i)
 * 2^8 + k after i of them, so that SUBS leaves a negative value after the last).
 * SCALE: PR_LMD_TW_SCALE in the first stage (inputs times 2^k), else nothing (k = 0). */
#define PR_LMD_DEFINE_STAGE(NAME, Q, STRIDE, SCALE)                                     \
    static void NAME(int32_t *z, int32_t N, const int32_t *twiddles, int32_t k)         \
    {                                                                                   \
        int32_t g;                                                                      \
        for (g = 0; g < N; g += 4 * (Q)) {                                              \
            int32_t *p = z + 2 * g + 2 + 3 * (Q);                                       \
            const int32_t *w = twiddles + 2;                                            \
            uint32_t cnt = ((uint32_t)((Q) - 2) << 8) | (uint32_t)k;                    \
            int32_t x0, x1, x2, x3, x4, x5, x6, x7, x8, x9;                             \
            pr_lm_butterfly(z + 2 * g, 2 * (Q), NULL, (int32_t)1 << k, 1);              \
            __asm__ volatile("1:\n\t" PR_LMD_TW_LOAD SCALE PR_LMD_TW_BODY               \
                             "add %[p], %[p], #8\n\t"                                   \
                             "subs %[cnt], %[cnt], #256\n\t"                            \
                             "bpl 1b"                                                   \
                             : [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2),          \
                               [x3] "=&r"(x3), [x4] "=&r"(x4), [x5] "=&r"(x5),          \
                               [x6] "=&r"(x6), [x7] "=&r"(x7), [x8] "=&r"(x8),          \
                               [x9] "=&r"(x9), [p] "+r"(p), [w] "+r"(w), [cnt] "+r"(cnt) \
                             : [h1] "i"(4 * (Q)), [h3] "i"(12 * (Q)),                   \
                               [tw] "i"(24 * (STRIDE))                                  \
                             : "cc", "memory");                                         \
        }                                                                               \
    }
PR_LMD_DEFINE_STAGE(pr_lmd_stage_64_1, 64, 1, PR_LMD_TW_SCALE)
PR_LMD_DEFINE_STAGE(pr_lmd_stage_16_4, 16, 4, "")
PR_LMD_DEFINE_STAGE(pr_lmd_stage_4_16, 4, 16, "")
PR_LMD_DEFINE_STAGE(pr_lmd_stage_16_1, 16, 1, PR_LMD_TW_SCALE)
PR_LMD_DEFINE_STAGE(pr_lmd_stage_4_4, 4, 4, "")
PR_LMD_DEFINE_STAGE(pr_lmd_stage_4_1, 4, 1, PR_LMD_TW_SCALE)

/* The last stage (len 4, no twiddles, no halving), the reference's sums: four points
 * 8 bytes apart, one LDRD / STRD each. */
PR_LM_INLINE void pr_lmd_last_stage(int32_t *z, int32_t N)
{
    int32_t *p = z;
    const int32_t *end = z + 2 * N;
    int32_t x0, x1, x2, x3, x4, x5, x6, x7, x8;
    __asm__ volatile(
        "1:\n\t"
        "ldrd %[x0], %[x1], [%[p]], #32\n\t"                    /* a0 */
        "ldrd %[x2], %[x3], [%[p], #-16]\n\t"                   /* a2 */
        "ldrd %[x4], %[x5], [%[p], #-24]\n\t"                   /* a1 */
        "ldrd %[x6], %[x7], [%[p], #-8]\n\t"                    /* a3 */
        "add %[x8], %[x0], %[x2]\n\t"                           /* b0r */
        "sub %[x0], %[x0], %[x2]\n\t"                           /* b1r */
        "add %[x2], %[x1], %[x3]\n\t"                           /* b0i */
        "sub %[x1], %[x1], %[x3]\n\t"                           /* b1i */
        "add %[x3], %[x4], %[x6]\n\t"                           /* b2r */
        "sub %[x4], %[x4], %[x6]\n\t"                           /* b3r */
        "add %[x6], %[x5], %[x7]\n\t"                           /* b2i */
        "sub %[x5], %[x5], %[x7]\n\t"                           /* b3i */
        "add %[x7], %[x8], %[x3]\n\t"                           /* y0r */
        "sub %[x8], %[x8], %[x3]\n\t"                           /* y2r */
        "add %[x3], %[x2], %[x6]\n\t"                           /* y0i */
        "sub %[x2], %[x2], %[x6]\n\t"                           /* y2i */
        "strd %[x7], %[x3], [%[p], #-32]\n\t"
        "strd %[x8], %[x2], [%[p], #-16]\n\t"
        "add %[x6], %[x0], %[x5]\n\t"                           /* y1r = b1r + b3i */
        "sub %[x7], %[x1], %[x4]\n\t"                           /* y1i = b1i - b3r */
        "sub %[x0], %[x0], %[x5]\n\t"                           /* y3r = b1r - b3i */
        "add %[x1], %[x1], %[x4]\n\t"                           /* y3i = b1i + b3r */
        "strd %[x6], %[x7], [%[p], #-24]\n\t"
        "strd %[x0], %[x1], [%[p], #-8]\n\t"
        "cmp %[p], %[end]\n\t"
        "bne 1b"
        : [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2), [x3] "=&r"(x3), [x4] "=&r"(x4),
          [x5] "=&r"(x5), [x6] "=&r"(x6), [x7] "=&r"(x7), [x8] "=&r"(x8), [p] "+r"(p)
        : [end] "r"(end)
        : "cc", "memory");
}

/* Step 2: the reference's stages (pr_lm_fft) in the order and with the twiddle rows
 * it uses. */
PR_LM_INLINE void pr_lmd_fft(int32_t *z, int32_t N, const int32_t *twiddles, int32_t k)
{
    if (N == 256) {
        pr_lmd_stage_64_1(z, 256, twiddles, k);
        pr_lmd_stage_16_4(z, 256, twiddles, 0);
        pr_lmd_stage_4_16(z, 256, twiddles, 0);
    } else if (N == 64) {
        pr_lmd_stage_16_1(z, 64, twiddles, k);
        pr_lmd_stage_4_4(z, 64, twiddles, 0);
    } else {
        pr_lmd_stage_4_1(z, 16, twiddles, k);
    }
    pr_lmd_last_stage(z, N);
}

/* Step 3 of the reference (pr_lm_power), the same arithmetic per k: the two rotated
 * components (u_r c + u_i s + 2^31) >> 32 and (u_i c - u_r s + 2^31) >> 32 as SMULL +
 * SMLAL + ADD hi, lo, LSR #31 (as in the FFT's butterflies), the halvings toward zero
 * as (v + [v < 0]) >> 1, the powers by SMULL + SMLAL (exact: P < 2^63), stored with
 * STRD at P[k] (ascending) and then P[N - k] (descending: at k = N/2 the second store
 * wins, as in the reference). zk, zm enter as the addresses of Z[k], Z[N - k] and are
 * reused for A_r / 2, A_i / 2. */
#define PR_LMD_BIN                                                                      \
    "ldrd %[a0], %[a1], [%[zk]]\n\t"                                                    \
    "ldrd %[b0], %[b1], [%[zm]]\n\t"                                                    \
    "add %[zk], %[a0], %[b0]\n\t"                               /* A_r */               \
    "sub %[a0], %[a0], %[b0]\n\t"                               /* u_r */               \
    "sub %[zm], %[a1], %[b1]\n\t"                               /* A_i */               \
    "add %[a1], %[a1], %[b1]\n\t"                               /* u_i */               \
    "add %[zk], %[zk], %[zk], lsr #31\n\t"                                              \
    "asr %[zk], %[zk], #1\n\t"                                  /* A_r / 2 */           \
    "add %[zm], %[zm], %[zm], lsr #31\n\t"                                              \
    "asr %[zm], %[zm], #1\n\t"                                  /* A_i / 2 */           \
    "ldrd %[b0], %[b1], [%[tw]], #8\n\t"                        /* c, s */              \
    "smull %[lo], %[hi], %[a0], %[b0]\n\t"                                              \
    "smlal %[lo], %[hi], %[a1], %[b1]\n\t"                                              \
    "add %[hi], %[hi], %[lo], lsr #31\n\t"                      /* C_r */               \
    "rsb %[a0], %[a0], #0\n\t"                                                          \
    "smull %[lo], %[b0], %[a1], %[b0]\n\t"                                              \
    "smlal %[lo], %[b0], %[a0], %[b1]\n\t"                                              \
    "add %[b0], %[b0], %[lo], lsr #31\n\t"                      /* C_i */               \
    "add %[a0], %[zk], %[b0]\n\t"                               /* X'[k] */             \
    "sub %[a1], %[zm], %[hi]\n\t"                                                       \
    "smull %[lo], %[b1], %[a0], %[a0]\n\t"                                              \
    "smlal %[lo], %[b1], %[a1], %[a1]\n\t"                                              \
    "strd %[lo], %[b1], [%[Pk]], #8\n\t"                                                \
    "sub %[a0], %[zk], %[b0]\n\t"                               /* X'[N - k] */         \
    "add %[a1], %[zm], %[hi]\n\t"                                                       \
    "smull %[lo], %[b1], %[a0], %[a0]\n\t"                                              \
    "smlal %[lo], %[b1], %[a1], %[a1]\n\t"                                              \
    "strd %[lo], %[b1], [%[Pm]], #-8\n\t"
#define PR_LMD_BIN_TEMPS                                                                \
    [a0] "=&r"(a0), [a1] "=&r"(a1), [b0] "=&r"(b0), [b1] "=&r"(b1), [lo] "=&r"(lo),     \
    [hi] "=&r"(hi), [zk] "+&r"(zk), [zm] "+&r"(zm), [tw] "+&r"(tw), [Pk] "+&r"(Pk),     \
    [Pm] "+&r"(Pm)
/* k = 1 .. N/2 in one loop (LOGN = log2 N): Z[k]'s address from order[k] (LDRH
 * post-indexed) and Z[N - k]'s from order[N - k] (pre-decremented), each read mod N
 * (UBFX) as the reference; it runs while the bin pair has not crossed (Pk <= Pm). */
#define PR_LMD_POWER_LOOP(LOGN)                                                         \
    __asm__ volatile("1:\n\t"                                                           \
                     "ldrh %[zk], [%[ok]], #2\n\t"                                      \
                     "ldrh %[zm], [%[om], #-2]!\n\t"                                    \
                     "ubfx %[zk], %[zk], #0, %[logn]\n\t"                               \
                     "ubfx %[zm], %[zm], #0, %[logn]\n\t"                               \
                     "add %[zk], %[z], %[zk], lsl #3\n\t"                               \
                     "add %[zm], %[z], %[zm], lsl #3\n\t"                               \
                     PR_LMD_BIN                                                         \
                     "cmp %[Pk], %[Pm]\n\t"                                             \
                     "bls 1b"                                                           \
                     : PR_LMD_BIN_TEMPS, [ok] "+&r"(ok), [om] "+&r"(om)                 \
                     : [z] "r"(z), [logn] "i"(LOGN)                                     \
                     : "cc", "memory")

PR_LM_INLINE void pr_lmd_power(const int32_t *z, int32_t N, const int32_t *twiddles,
                               const uint16_t *order, uint32_t *P)
{
    uint32_t *Pk = P;
    uint32_t *Pm = P + 2 * N;
    const int32_t *tw = twiddles;
    const uint16_t *ok = order + 1;
    const uint16_t *om = order + N;
    int32_t a0, a1, b0, b1, lo, hi;
    /* k = 0: Z[0] with itself (N - 0 is 0 mod N), P[0] and P[N] */
    int32_t zk = (int32_t)(intptr_t)(z + 2 * (order[0] & (N - 1)));
    int32_t zm = zk;
    __asm__ volatile(PR_LMD_BIN : PR_LMD_BIN_TEMPS : : "memory");
    if (N == 256) {
        PR_LMD_POWER_LOOP(8);
    } else if (N == 64) {
        PR_LMD_POWER_LOOP(6);
    } else {
        PR_LMD_POWER_LOOP(4);
    }
}

/* What every band's step 4 and 5 share (read by the asm block from memory). */
typedef struct {
    uint64_t F;                 /* the floor in the units of P */
    const int32_t *t;           /* log2_table */
    int32_t K;                  /* 63 - E */
    int32_t ln2;                /* PR_LM_LN2_Q31 */
} pr_lmd_band_consts;
/* the asm block's offsets: F at 0, t and K at 8 and 12 (one LDRD), ln2 at 16 */
typedef char pr_lmd_band_consts_layout[(offsetof(pr_lmd_band_consts, t) == 8 &&
                                        offsetof(pr_lmd_band_consts, K) == 12 &&
                                        offsetof(pr_lmd_band_consts, ln2) == 16) ? 1 : -1];

/* Steps 4 and 5 of the reference (pr_lm_mel, pr_lm_log_q8) for one band of count bins
 * from P (two words a bin) and weights w, in one asm block; returns the feature.
 * - Mel sums: acc_l = sum w P_lo and acc_h = sum w P_hi as uint64 (mod 2^64, so the
 *   order of the terms is free): an odd count's first bin by UMULL (the sums'
 *   start), then two bins per iteration (LDRD, UMLAL); LSRS of count puts count & 1
 *   in the carry and count / 2 == 0 in Z for both branches.
 * - mel + F = (acc_h << 12) + (acc_l >> 20) + F mod 2^64 on 32-bit words (ADDS/ADC).
 * - The log of v = y 2^32 + x: y != 0: z = CLZ(y), n = 63 - z, top = (y << z) |
 *   (x >> (32 - z)) (a register shift by 32 gives 0 on Arm: z = 0 is y itself), the
 *   reference's v >> (n - 31); y == 0: v = max(x, 1) as the reference's v = 0 -> 1,
 *   n = 31 - z, top = x << z. Then the reference's table reads (one LDRD of t[idx],
 *   t[idx + 1], each mod 2^17 by UBFX), its int32 interpolation and
 *   (L round(ln 2 2^31) + 2^38) >> 39 by SMLAL from 2^38 (high word 64), ASR #7. */
PR_LM_INLINE int32_t pr_lmd_band(const uint32_t *P, int32_t count, const int32_t *w,
                                 const pr_lmd_band_consts *c)
{
    uint32_t al, ah, bl, bh, p0, p1, w0, w1;
    uint32_t n2 = (uint32_t)count;
    __asm__ volatile(
        "lsrs %[n2], %[n2], #1\n\t"
        "bcs 4f\n\t"
        "mov %[al], #0\n\t"
        "mov %[ah], #0\n\t"
        "mov %[bl], #0\n\t"
        "mov %[bh], #0\n\t"
        "b 5f\n"
        "4:\n\t"                                                /* an odd count */
        "ldrd %[p0], %[p1], [%[P]], #8\n\t"
        "ldr %[w0], [%[w]], #4\n\t"
        "umull %[al], %[ah], %[p0], %[w0]\n\t"
        "umull %[bl], %[bh], %[p1], %[w0]\n"
        "5:\n\t"
        "beq 3f\n"                                              /* no bin pair */
        "1:\n\t"
        "ldrd %[p0], %[p1], [%[P]], #8\n\t"
        "ldrd %[w0], %[w1], [%[w]], #8\n\t"
        "umlal %[al], %[ah], %[p0], %[w0]\n\t"
        "umlal %[bl], %[bh], %[p1], %[w0]\n\t"
        "ldrd %[p0], %[p1], [%[P]], #8\n\t"
        "umlal %[al], %[ah], %[p0], %[w1]\n\t"
        "umlal %[bl], %[bh], %[p1], %[w1]\n\t"
        "subs %[n2], %[n2], #1\n\t"
        "bne 1b\n"
        "3:\n\t"                                                /* v = p1 2^32 + p0 */
        "lsr %[p0], %[al], #20\n\t"
        "orr %[p0], %[p0], %[ah], lsl #12\n\t"
        "lsl %[p1], %[bh], #12\n\t"
        "orr %[p1], %[p1], %[bl], lsr #20\n\t"
        "adds %[p0], %[p0], %[bl], lsl #12\n\t"
        "adc %[p1], %[p1], %[ah], lsr #20\n\t"
        "ldrd %[w0], %[w1], [%[c]]\n\t"                         /* F */
        "adds %[p0], %[p0], %[w0]\n\t"
        "adc %[p1], %[p1], %[w1]\n\t"
        "ldrd %[w0], %[w1], [%[c], #8]\n\t"                     /* t, K */
        "cmp %[p1], #0\n\t"
        "beq 6f\n\t"
        "clz %[al], %[p1]\n\t"
        "rsb %[ah], %[al], #32\n\t"
        "lsl %[p1], %[p1], %[al]\n\t"
        "lsr %[p0], %[p0], %[ah]\n\t"
        "orr %[p1], %[p1], %[p0]\n\t"                           /* top */
        "sub %[al], %[w1], %[al]\n\t"                           /* n - E */
        "7:\n\t"
        "ubfx %[p0], %[p1], #24, #7\n\t"                        /* idx */
        "add %[p0], %[w0], %[p0], lsl #2\n\t"
        "ldrd %[w0], %[w1], [%[p0]]\n\t"                        /* t[idx], t[idx + 1] */
        "ubfx %[w0], %[w0], #0, #17\n\t"
        "ubfx %[w1], %[w1], #0, #17\n\t"
        "ubfx %[p0], %[p1], #10, #14\n\t"                       /* frac */
        "sub %[w1], %[w1], %[w0]\n\t"
        "mul %[w1], %[w1], %[p0]\n\t"
        "add %[w1], %[w1], #8192\n\t"
        "add %[w0], %[w0], %[al], lsl #16\n\t"
        "add %[w0], %[w0], %[w1], asr #14\n\t"                  /* L */
        "ldr %[w1], [%[c], #16]\n\t"                            /* round(ln 2 2^31) */
        "mov %[p0], #0\n\t"
        "mov %[p1], #64\n\t"
        "smlal %[p0], %[p1], %[w0], %[w1]\n\t"
        "asr %[bh], %[p1], #7\n\t"
        "b 8f\n"
        "6:\n\t"                                                /* v < 2^32 */
        "cmp %[p0], #0\n\t"
        "it eq\n\t"
        "moveq %[p0], #1\n\t"
        "clz %[al], %[p0]\n\t"
        "lsl %[p1], %[p0], %[al]\n\t"                           /* top */
        "sub %[w1], %[w1], #32\n\t"
        "sub %[al], %[w1], %[al]\n\t"                           /* n - E = 31 - z - E */
        "b 7b\n"
        "8:"
        : [al] "=&r"(al), [ah] "=&r"(ah), [bl] "=&r"(bl), [bh] "=&r"(bh), [p0] "=&r"(p0),
          [p1] "=&r"(p1), [w0] "=&r"(w0), [w1] "=&r"(w1), [P] "+&r"(P), [w] "+&r"(w),
          [n2] "+&r"(n2)
        : [c] "r"(c)
        : "cc", "memory");
    return (int32_t)bh;
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
    pr_lmd_fft(scratch, N, p->fft_twiddles, k);
    pr_lmd_power(scratch, N, p->rfft_twiddles, p->fft_order, P);
    E = 2 * E + 30 - 2 * pr_lm_stages(N);
    F = ((uint64_t)p->floor_q62 + (((uint64_t)1 << (PR_LM_FLOOR_BITS - E)) >> 1)) >>
        (PR_LM_FLOOR_BITS - E);
    {   /* pointers walked instead of indices: fewer live values around the band */
        const uint16_t *first = p->mel_first;
        const uint16_t *counts = p->mel_count;
        const uint16_t *end = counts + p->n_mels;
        const int32_t *w = p->mel_weights;
        pr_lmd_band_consts c;
        c.F = F;
        c.t = p->log2_table;
        c.K = 63 - E;
        c.ln2 = PR_LM_LN2_Q31;
        for (; counts < end; ++counts, ++first, ++out) {
            const int32_t count = *counts;
            *out = (int16_t)pr_lmd_band(P + 2 * *first, count, w, &c);
            w += count;
        }
    }
    return PR_OK;
}
