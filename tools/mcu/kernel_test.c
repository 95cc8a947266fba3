/*
 * Bit-exactness of the Arm DSP kernel variants (csrc/arm/) against the portable
 * reference kernels (csrc/), on the device: both are linked into one firmware, the
 * reference files compiled with their public names prefixed by ref_ (build.sh
 * ktest). Random shapes, strides, zero points, clamp ranges, multipliers, shifts
 * (every value in [-31, 30]), biases up to the int32 extremes and inputs with their
 * extremes; every tenth case corrupts one argument, and both must then return the
 * same status. Outputs are compared byte for byte over whole buffers (so a write out
 * of range is a mismatch too). Also the DSP requantization itself against
 * pr_q_requantize on corner and random values, and the log-mel front end on random
 * frames through random tables.
 *
 * Random values almost never hit an exact tie of a rounding shift, the one place where a
 * wrong tie rule shows; the *_ties tests construct such ties, for both signs and every
 * shift, in the fast requantization, LayerNorm's output and u roundings and the residual
 * add's three roundings, prove each tie with the reference's own helpers or outputs,
 * count them ("<what> ties: ...") and fail when a count is 0.
 *
 * Output: "kernel <name> cases <n> mismatches <m>" per kernel (the tie tests as
 * <name>_ties), then "kernels failures <total>"; main returns 1 when any failed, else 0
 * (qemu's status).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pr_arm_common.h"
#include "pr_layernorm_internal.h"

#define CASES 400
#define BUF 12288
#define WORDS (BUF / 4)

/* the reference kernels, renamed (build.sh ktest) */
pr_status ref_pr_linear_s8(const pr_linear_params *, const int8_t *, const int8_t *,
                           const int32_t *, const int32_t *, const int32_t *, int8_t *);
pr_status ref_pr_linear_s8_s16(const pr_linear_params *, const int8_t *, const int8_t *,
                               const int32_t *, const int32_t *, const int32_t *, int16_t *);
pr_status ref_pr_conv1d_s8(const pr_conv1d_params *, const int8_t *, const int8_t *,
                           const int32_t *, const int32_t *, const int32_t *, int8_t *);
pr_status ref_pr_bmm_nt_s8(const pr_bmm_params *, const int8_t *, const int8_t *, int8_t *);
pr_status ref_pr_bmm_nn_s8(const pr_bmm_params *, const int8_t *, const int8_t *, int8_t *,
                           int32_t *, int64_t);
pr_status ref_pr_layernorm_s16_s8(const pr_layernorm_params *, const int16_t *,
                                  const int32_t *, const int32_t *, const int32_t *, int8_t *);
pr_status ref_pr_add_s16(const pr_add_params *, const int16_t *, const int16_t *, int16_t *);
pr_status ref_pr_add_s16_s8(const pr_add_params *, const int16_t *, const int8_t *,
                            int16_t *);
pr_status ref_pr_logmel_frame_s16(const pr_logmel_params *, const int16_t *, int16_t *,
                                  int32_t *, int64_t);
pr_status ref_pr_depthwise_conv1d_s8(const pr_dwconv1d_params *, const int8_t *,
                                     const int8_t *, const int32_t *, const int32_t *,
                                     const int32_t *, int8_t *, int32_t *, int64_t);

#include "kernel_cases.h"

static int32_t test_linear(int32_t s16)
{
    const char *name = s16 ? "linear_s8_s16" : "linear_s8";
    int32_t c, bad = 0;
    for (c = 0; c < CASES; ++c) {
        pr_linear_params p;
        pr_status a, b;
        const int32_t *bp = (rnd() & 7) ? bias : NULL;
        p.rows = range(1, 9);
        p.in_features = (rnd() & 1) ? 4 * range(1, 17) : range(1, 70);   /* fast path: 4k */
        p.out_features = range(1, 9);
        out_range(s16 ? -32768 : -128, s16 ? 32767 : 127, s16, &p.out_zero_point,
                  &p.act_min, &p.act_max);
        fill8(in_a, p.rows * p.in_features, -128);
        fill8(in_b, p.out_features * p.in_features, -127);
        fill_bias(p.out_features, (rnd() & 7) == 0);
        fill_requant(p.out_features, 0);
        if (c % 10 == 9) {   /* a negative multiplier, or a bad shape */
            mult[range(0, p.out_features - 1)] = -1 - (int32_t)(rnd() & 7);
            p.rows = (rnd() & 1) ? p.rows : 0;
        }
        clear_outputs();
        if (s16) {
            a = ref_pr_linear_s8_s16(&p, in_a, in_b, bp, mult, shift, (int16_t *)(void *)out_ref);
            b = pr_linear_s8_s16(&p, in_a, in_b, bp, mult, shift, (int16_t *)(void *)out_var);
        } else {
            a = ref_pr_linear_s8(&p, in_a, in_b, bp, mult, shift, (int8_t *)out_ref);
            b = pr_linear_s8(&p, in_a, in_b, bp, mult, shift, (int8_t *)out_var);
        }
        bad += compare(name, c, a, b);
    }
    return report(name, CASES, bad);
}

static int32_t test_conv1d(void)
{
    int32_t c, bad = 0;
    for (c = 0; c < CASES; ++c) {
        pr_conv1d_params p;
        pr_status a, b;
        const int32_t *bp = (rnd() & 7) ? bias : NULL;
        p.kernel = range(1, 5);
        p.stride = range(1, 3);
        p.padding = range(0, p.kernel - 1);
        p.in_len = range(1, 20);
        p.in_channels = range(1, 12);
        p.out_channels = range(1, 7);
        p.in_zero_point = pick(-128, 127);
        out_range(-128, 127, 0, &p.out_zero_point, &p.act_min, &p.act_max);
        fill8(in_a, p.in_len * p.in_channels, -128);
        fill8(in_b, p.out_channels * p.kernel * p.in_channels, -127);
        fill_bias(p.out_channels, (rnd() & 7) == 0);
        fill_requant(p.out_channels, 0);
        if (c % 10 == 9) {   /* too short for the kernel, or a bad zero point */
            p.in_zero_point = (rnd() & 1) ? 128 : p.in_zero_point;
            p.padding = (rnd() & 1) ? p.kernel : p.padding;
        }
        clear_outputs();
        a = ref_pr_conv1d_s8(&p, in_a, in_b, bp, mult, shift, (int8_t *)out_ref);
        b = pr_conv1d_s8(&p, in_a, in_b, bp, mult, shift, (int8_t *)out_var);
        bad += compare("conv1d_s8", c, a, b);
    }
    return report("conv1d_s8", CASES, bad);
}

static int32_t test_bmm(int32_t nn)
{
    const char *name = nn ? "bmm_nn_s8" : "bmm_nt_s8";
    int32_t c, bad = 0;
    for (c = 0; c < CASES; ++c) {
        pr_bmm_params p;
        pr_status a, b;
        int64_t scratch_len;
        p.batches = range(1, 3);
        p.rows = range(1, 5);
        p.cols = (rnd() & 3) ? range(1, 40) : range(60, 70);   /* one or two chunks */
        p.depth = (rnd() & 1) ? 4 * range(1, 10) : range(1, 40);
        if (nn && c % 8 == 3) {   /* values past the transposed copy (2048 bytes) */
            p.batches = 1;
            p.rows = range(1, 3);
            p.cols = range(64, 70);
            p.depth = range(65, 80);
        } else if (nn && c % 8 == 5) {   /* deep enough for the transposed copy */
            p.batches = range(1, 2);
            p.depth = range(32, 100);
            p.cols = range(1, 40);
        }
        bmm_shape(&p, nn);
        scratch_len = p.cols;
        fill8(in_a, p.batches * p.a_batch_stride, -128);
        fill8(in_b, p.batches * p.b_batch_stride, -128);
        if (c % 10 == 9) {   /* a negative multiplier, or (nn) a short scratch */
            p.multiplier = (rnd() & 1) ? -5 : p.multiplier;
            scratch_len = p.cols - 1;
        }
        clear_outputs();
        if (nn) {
            a = ref_pr_bmm_nn_s8(&p, in_a, in_b, (int8_t *)out_ref, scratch, scratch_len);
            b = pr_bmm_nn_s8(&p, in_a, in_b, (int8_t *)out_var, scratch, scratch_len);
        } else {
            a = ref_pr_bmm_nt_s8(&p, in_a, in_b, (int8_t *)out_ref);
            b = pr_bmm_nt_s8(&p, in_a, in_b, (int8_t *)out_var);
        }
        bad += compare(name, c, a, b);
    }
    return report(name, CASES, bad);
}

static int32_t test_layernorm(void)
{
    int32_t c, i, large, bad = 0;
    for (c = 0; c < CASES; ++c) {
        pr_layernorm_params p;
        pr_status a, b;
        p.rows = range(1, 4);
        p.channels = range(1, 80);
        p.eps = (rnd() & 3) ? range(0, 1000000) : ((int64_t)rnd() << range(0, 28));
        out_range(-128, 127, 0, &p.out_zero_point, &p.act_min, &p.act_max);
        fill16(in_s16, p.rows * p.channels, (rnd() & 1) ? 32767 : range(0, 3000));
        if ((rnd() & 7) == 0) {   /* a constant row: variance 0 */
            for (i = 0; i < p.channels; ++i) {
                in_s16[i] = in_s16[0];
            }
        }
        fill_requant(p.channels, 1);
        large = (rnd() & 3) == 0;   /* offsets over 2^30 somewhere: not the fast path */
        for (i = 0; i < p.channels; ++i) {
            offset[i] = large && (rnd() & 7) == 0 ? (int32_t)rnd() : range(-40000, 40000);
        }
        if (c % 10 == 9) {   /* INT32_MIN multiplier, or eps out of range */
            mult[range(0, p.channels - 1)] = PR_Q_INT32_MIN;
            p.eps = (rnd() & 1) ? -1 : p.eps;
        }
        clear_outputs();
        a = ref_pr_layernorm_s16_s8(&p, in_s16, mult, shift, offset, (int8_t *)out_ref);
        b = pr_layernorm_s16_s8(&p, in_s16, mult, shift, offset, (int8_t *)out_var);
        bad += compare("layernorm_s16_s8", c, a, b);
    }
    return report("layernorm_s16_s8", CASES, bad);
}

static int32_t test_depthwise(void)
{
    int32_t c, bad = 0;
    for (c = 0; c < CASES; ++c) {
        pr_dwconv1d_params p;
        pr_status a, b;
        const int32_t *bp = (rnd() & 7) ? bias : NULL;
        int64_t scratch_len;
        p.in_len = range(1, 24);
        p.channels = (rnd() & 1) ? range(1, 12) : range(60, 70);   /* past one chunk */
        p.kernel = 2 * range(0, 8) + 1;
        p.in_zero_point = pick(-128, 127);
        out_range(-128, 127, 0, &p.out_zero_point, &p.act_min, &p.act_max);
        fill8(in_a, p.in_len * p.channels, -128);
        fill8(in_b, p.kernel * p.channels, -128);
        fill_bias(p.channels, (rnd() & 7) == 0);
        fill_requant(p.channels, 0);
        scratch_len = p.channels;
        if (c % 10 == 9) {   /* an even kernel, or a short scratch */
            p.kernel = (rnd() & 1) ? 2 : p.kernel;
            scratch_len = p.channels - 1;
        }
        clear_outputs();
        a = ref_pr_depthwise_conv1d_s8(&p, in_a, in_b, bp, mult, shift, (int8_t *)out_ref,
                                       scratch, scratch_len);
        b = pr_depthwise_conv1d_s8(&p, in_a, in_b, bp, mult, shift, (int8_t *)out_var,
                                   scratch, scratch_len);
        bad += compare("depthwise_conv1d_s8", c, a, b);
    }
    return report("depthwise_conv1d_s8", CASES, bad);
}

/* pr_arm_requantize == pr_q_requantize: every shift, corner and random values. */
/* The log-mel front end: random frames (extremes, silence, DC) through random tables
 * (any int32 content, sizes n_fft 32 / 128 / 512, any window length and bands), the
 * output and the power spectrum left in the scratch compared word for word; every
 * tenth case breaks a band's range or the floor (both must refuse it alike). */
static int32_t lm_window[512], lm_fft_tw[64 * 6], lm_rfft_tw[129 * 2], lm_weights[2048];
static int32_t lm_log2[129], lm_scratch_ref[1026], lm_scratch_dsp[1026];
static uint16_t lm_order[256], lm_first[64], lm_count[64];
static int16_t lm_frame[512], lm_out_ref[64], lm_out_var[64];

static void fill32(int32_t *p, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        p[i] = pick((int32_t)0x80000000u, 0x7FFFFFFF);
    }
}

static int32_t test_logmel(void)
{
    static const int32_t ffts[3] = {32, 128, 512};
    int32_t c, bad = 0;
    for (c = 0; c < CASES; ++c) {
        const int32_t n_fft = ffts[range(0, 2)];
        const int32_t N = n_fft / 2;
        pr_logmel_params p;
        pr_status s_ref, s_dsp;
        int32_t i, used = 0, kind = range(0, 4);
        p.n_fft = n_fft;
        p.win_length = (rnd() & 1) ? n_fft * 25 / 32 : range(1, n_fft);
        p.n_mels = range(1, 64);
        p.floor_q62 = (int64_t)(((uint64_t)rnd() << 31) | rnd()) + 1;
        fill32(lm_window, p.win_length);
        fill32(lm_fft_tw, N / 4 * 6);
        fill32(lm_rfft_tw, (N / 2 + 1) * 2);
        fill32(lm_log2, 129);
        for (i = 0; i < N; ++i) {
            lm_order[i] = (uint16_t)rnd();
        }
        for (i = 0; i < p.n_mels; ++i) {
            lm_first[i] = (uint16_t)range(0, N + 1);
            lm_count[i] = (uint16_t)range(0, N + 1 - lm_first[i]);
            lm_count[i] = used + lm_count[i] > 2048 ? 0 : lm_count[i];
            if (c % 10 == 4 && (i & 1)) {        /* empty bands: mel = 0 */
                lm_count[i] = 0;
            }
            used += lm_count[i];
        }
        p.n_weights = used;
        if (c % 10 == 4) {                       /* a tiny floor: mel + F below 2^32, or 0 */
            p.floor_q62 = range(1, 1000);
        }
        fill32(lm_weights, used);
        if (c % 10 == 9) {                        /* a broken table: same status */
            if (rnd() & 1) {
                lm_count[0] = (uint16_t)(N + 2);
            } else {
                p.floor_q62 = 0;
            }
        }
        for (i = 0; i < p.win_length; ++i) {
            lm_frame[i] = kind == 0 ? 0 : (kind == 1 ? -32768 : (int16_t)pick(-32768, 32767));
            if (kind == 3) {
                lm_frame[i] = (int16_t)(lm_frame[i] >> range(0, 15));
            }
        }
        p.window = lm_window;
        p.fft_twiddles = lm_fft_tw;
        p.rfft_twiddles = lm_rfft_tw;
        p.fft_order = lm_order;
        p.mel_first = lm_first;
        p.mel_count = lm_count;
        p.mel_weights = lm_weights;
        p.log2_table = lm_log2;
        memset(lm_scratch_ref, 0x5A, sizeof lm_scratch_ref);
        memset(lm_scratch_dsp, 0x5A, sizeof lm_scratch_dsp);
        memset(lm_out_ref, 0x5A, sizeof lm_out_ref);
        memset(lm_out_var, 0x5A, sizeof lm_out_var);
        s_ref = ref_pr_logmel_frame_s16(&p, lm_frame, lm_out_ref, lm_scratch_ref, 1026);
        s_dsp = pr_logmel_frame_s16(&p, lm_frame, lm_out_var, lm_scratch_dsp, 1026);
        if (s_ref != s_dsp || memcmp(lm_out_ref, lm_out_var, sizeof lm_out_ref) != 0 ||
            memcmp(lm_scratch_ref + n_fft, lm_scratch_dsp + n_fft,
                   (size_t)(n_fft + 2) * sizeof(int32_t)) != 0) {
            printf("  logmel case %ld: status ref %ld dsp %ld, outputs differ\n", (long)c,
                   (long)s_ref, (long)s_dsp);
            ++bad;
        }
    }
    return report("logmel_frame_s16", CASES, bad);
}

static int32_t test_requantize(void)
{
    static const int32_t xs[] = {PR_Q_INT32_MIN, PR_Q_INT32_MIN + 1, -65536, -32768, -257,
                                 -256, -255, -129, -128, -127, -3, -2, -1, 0, 1, 2, 3, 127,
                                 128, 255, 256, 257, 32767, 65536, PR_Q_INT32_MAX - 1,
                                 PR_Q_INT32_MAX};
    static const int32_t ms[] = {0, 1, 2, 3, 1 << 30, (1 << 30) + 1, PR_Q_INT32_MAX,
                                 PR_Q_INT32_MAX - 1, -1, PR_Q_INT32_MIN + 1};
    int32_t sh, i, j, n = 0, bad = 0;
    for (sh = PR_Q_SHIFT_MIN; sh <= PR_Q_SHIFT_MAX; ++sh) {
        for (i = 0; i < (int32_t)(sizeof xs / sizeof xs[0]) + 60; ++i) {
            for (j = 0; j < (int32_t)(sizeof ms / sizeof ms[0]) + 6; ++j) {
                const int32_t x = i < (int32_t)(sizeof xs / sizeof xs[0]) ? xs[i]
                                                                          : (int32_t)rnd();
                const int32_t m = j < (int32_t)(sizeof ms / sizeof ms[0]) ? ms[j]
                                                                          : (int32_t)rnd();
                const int32_t zp = range(-200, 200);
                const int32_t want = pr_q_requantize(x, m, sh, zp, -40000, 40000);
                const int32_t got = m == PR_Q_INT32_MIN ? want :
                    pr_arm_requantize(x, m, sh, zp, -40000, 40000);
                n += 1;
                if (want != got && bad++ < 5) {
                    printf("  requantize x %ld m %ld shift %ld zp %ld: ref %ld dsp %ld\n",
                           (long)x, (long)m, (long)sh, (long)zp, (long)want, (long)got);
                }
            }
        }
    }
    return report("requantize", n, bad);
}

/* The fast requantization (pr_arm_fast_rq, pr_arm_fast_rq_signed, pr_arm_fast_rq0)
 * == pr_q_requantize before its clamp, inside its preconditions: every right shift
 * (and 0 for pr_arm_fast_rq0), corner and random values of x in [-2^30, 2^30),
 * multipliers and zero points. */
static int32_t test_fast_requantize(void)
{
    static const int32_t xs[] = {-(1 << 30), -(1 << 30) + 1, -65537, -65536, -32769, -32768,
                                 -257, -256, -255, -129, -128, -127, -3, -2, -1, 0, 1, 2, 3,
                                 127, 128, 255, 256, 257, 32767, 32768, 65535, 65536,
                                 (1 << 29), (1 << 30) - 2, (1 << 30) - 1};
    static const int32_t ms[] = {0, 1, 2, 3, 1 << 30, (1 << 30) + 1, PR_Q_INT32_MAX,
                                 PR_Q_INT32_MAX - 1};
    const int32_t nx = (int32_t)(sizeof xs / sizeof xs[0]), nm = (int32_t)(sizeof ms / sizeof ms[0]);
    int32_t n, i, j, k = 0, bad = 0;
    for (n = 0; n <= -PR_Q_SHIFT_MIN; ++n) {
        for (i = 0; i < nx + 200; ++i) {
            for (j = 0; j < nm + 8; ++j) {
                const int32_t r = (int32_t)(rnd() >> 2) >> (rnd() % 31);   /* [0, 2^30) */
                const int32_t x = i < nx ? xs[i] : ((rnd() & 1) ? r : -r - 1);
                const int32_t m0 = j < nm ? ms[j] : (int32_t)(rnd() >> 1);
                const int32_t zp = (rnd() & 1) ? range(-128, 127) : range(-32768, 32767);
                const int32_t m = (rnd() & 1) ? m0 : -m0;   /* signed form only */
                int32_t c, want, got, want_s, got_s;
                want = pr_q_requantize(x, m0, -n, zp, PR_Q_INT32_MIN, PR_Q_INT32_MAX);
                if (n == 0) {   /* pr_arm_fast_rq0 only: c = zp, no sign term */
                    got = pr_arm_fast_rq0(x, m0, 0, zp, 0);
                    k += 1;
                    if (want != got && bad++ < 5) {
                        printf("  fast requantize x %ld m %ld n 0 zp %ld: ref %ld dsp %ld\n",
                               (long)x, (long)m0, (long)zp, (long)want, (long)got);
                    }
                    continue;
                }
                if (!pr_arm_fast_c(-n, zp, &c)) {
                    continue;
                }
                got = (rnd() & 1) ? pr_arm_fast_rq(x, m0, n, c) : pr_arm_fast_rq0(x, m0, n, c, -1);
                want_s = pr_q_requantize(x, m, -n, zp, PR_Q_INT32_MIN, PR_Q_INT32_MAX);
                got_s = x == -(1 << 30) ? want_s : pr_arm_fast_rq_signed(x, m, n, c);
                k += 2;
                if ((want != got || want_s != got_s) && bad++ < 5) {
                    printf("  fast requantize x %ld m %ld / %ld n %ld zp %ld: ref %ld %ld dsp "
                           "%ld %ld\n", (long)x, (long)m0, (long)m, (long)n, (long)zp,
                           (long)want, (long)want_s, (long)got, (long)got_s);
                }
            }
        }
    }
    return report("fast_requantize", k, bad);
}

/* ---- exact ties of the roundings --------------------------------------------------
 * Random values almost never land exactly on a tie of a rounding shift by n (a
 * remainder of exactly 2^(n-1): probability 2^-n), and a tie is the only place where a
 * wrong tie rule (a dropped or misplaced sign term) shows. The cases below construct
 * ties for both signs and every shift, verify each with the reference's own helpers
 * (pr_q_srdhm; for LayerNorm the reference kernel's outputs), count them and fail
 * when a count is 0. */

enum { TIE_NEG = 0, TIE_POS = 1, TIE_SHIFTS = 31 };

/* Whether r is an exact tie of RDBP(r, n), n >= 1: remainder r mod 2^n = 2^(n-1). */
static int32_t is_tie(int32_t r, int32_t n)
{
    const uint32_t mask = ((uint32_t)1 << n) - 1u;
    return n >= 1 && ((uint32_t)r & mask) == (uint32_t)1 << (n - 1);
}

/* The smallest m in [0, 2^31] at which pr_q_srdhm(x, m) has reached b (>= b for
 * x > 0, <= b for x < 0; 2^31: never). SRDHM(x, m) is monotone in m (increasing for
 * x > 0, decreasing for x < 0), so bisection finds it. */
static int64_t srdhm_first_m(int32_t x, int32_t b)
{
    int64_t lo = 0, hi = (int64_t)1 << 31;
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        const int32_t r = pr_q_srdhm(x, (int32_t)mid);
        if (x > 0 ? r >= b : r <= b) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return lo;
}

/* A multiplier m in [0, 2^31) with pr_q_srdhm(x, m) == target exactly (x != 0), or -1
 * when there is none. Those m form one interval (SRDHM is monotone in m and moves by at
 * most 1 per step of m, as |x| < 2^31). lowest: its smallest m, with which x m + 2^30 is
 * nearest the end of target's interval toward zero, so that x - sign(x) (one step
 * toward zero) most likely moves SRDHM one step toward zero too; else a random one. */
static int32_t srdhm_multiplier(int32_t x, int32_t target, int32_t lowest)
{
    const int64_t m_lo = srdhm_first_m(x, target);
    const int64_t m_hi = srdhm_first_m(x, x > 0 ? target + 1 : target - 1) - 1;
    int32_t m;
    if (x == 0 || m_lo > m_hi || m_lo >= ((int64_t)1 << 31)) {
        return -1;
    }
    m = lowest ? (int32_t)m_lo : (int32_t)(m_lo + (int64_t)(rnd() % (uint32_t)(m_hi - m_lo + 1)));
    return pr_q_srdhm(x, m) == target ? m : -1;
}

/* A tie of shift n of the given sign, +-(2k + 1) 2^(n-1), of magnitude at most |x| (so
 * reachable by SRDHM(x, m) with m < 2^31, when not too close to |x|) and at most cap;
 * high: in the upper half of that range (then m >= about 2^30); 0 when there is none. */
static int32_t tie_target(int32_t x, int32_t n, int32_t negative, int64_t cap, int32_t high)
{
    const int64_t ax = x < 0 ? -(int64_t)x : x, top = cap < PR_Q_INT32_MAX ? cap : PR_Q_INT32_MAX;
    const int64_t r = (ax < top ? ax : top) >> (n - 1);   /* odd multiples 2k + 1 <= r */
    const int64_t kn = (r + 1) / 2, k0 = high ? kn / 2 : 0;
    int64_t k;
    if (kn == 0) {
        return 0;
    }
    k = k0 + (int64_t)(rnd() % (uint32_t)(kn - k0));
    return (int32_t)((2 * k + 1) << (n - 1)) * (negative ? -1 : 1);
}

static int32_t min_count(const int32_t counts[TIE_SHIFTS][2], int32_t n_lo, int32_t n_hi)
{
    int32_t n, s, low = 0x7fffffff;
    for (n = n_lo; n <= n_hi; ++n) {
        for (s = 0; s < 2; ++s) {
            low = counts[n][s] < low ? counts[n][s] : low;
        }
    }
    return low;
}

static int32_t sum_count(const int32_t counts[TIE_SHIFTS][2], int32_t sign)
{
    int32_t n, total = 0;
    for (n = 0; n < TIE_SHIFTS; ++n) {
        total += counts[n][sign];
    }
    return total;
}

/*
 * The fast requantization at exact ties of its rounding shift: for every right shift
 * n in [1, 30] (n = 31 is never on a fast path: pr_arm_fast_c rejects it, and
 * |SRDHM| < 2^30 has no tie there) and both signs, x in [-2^30, 2^30) and m chosen
 * (srdhm_multiplier) so that r = SRDHM(x, m) = +-(2k + 1) 2^(n-1); pr_arm_fast_rq,
 * pr_arm_fast_rq0 and pr_arm_fast_rq_signed (with (x, m) and (-x, -m), the same
 * product) against pr_q_requantize. Each counted tie is re-checked with pr_q_srdhm.
 */
static int32_t test_fast_requantize_ties(void)
{
    static int32_t ties[TIE_SHIFTS][2];
    int32_t n, j, k = 0, bad = 0, low;
    for (n = 1; n <= 30; ++n) {
        for (j = 0; j < 96; ++j) {
            const int32_t neg = j & 1;
            const uint32_t span = ((uint32_t)1 << 30) - ((uint32_t)1 << (n - 1)) - 1u;
            const int32_t ax = (int32_t)(((uint32_t)1 << (n - 1)) + 1u + rnd() % span);
            const int32_t x = neg ? -ax : ax;   /* |x| < 2^30 */
            const int32_t t = tie_target(x, n, neg, (int64_t)1 << 31, 0);
            const int32_t m = t == 0 ? -1 : srdhm_multiplier(x, t, rnd() & 1);
            int32_t zp = (rnd() & 1) ? range(-128, 127) : range(-32768, 32767);
            int32_t c, want, got[4], i;
            if (m < 0) {
                continue;
            }
            if (!pr_arm_fast_c(-n, zp, &c)) {
                zp = 0;
                (void)pr_arm_fast_c(-n, zp, &c);   /* c = 2^(n-1) < 2^30 */
            }
            want = pr_q_requantize(x, m, -n, zp, PR_Q_INT32_MIN, PR_Q_INT32_MAX);
            got[0] = pr_arm_fast_rq(x, m, n, c);
            got[1] = pr_arm_fast_rq0(x, m, n, c, -1);
            got[2] = pr_arm_fast_rq_signed(x, m, n, c);
            got[3] = pr_arm_fast_rq_signed(-x, -m, n, c);
            ties[n][neg] += is_tie(pr_q_srdhm(x, m), n) && pr_q_srdhm(x, m) == t &&
                            pr_q_srdhm(-x, -m) == t;
            for (i = 0; i < 4; ++i) {
                k += 1;
                if (got[i] != want && bad++ < 5) {
                    printf("  fast requantize tie x %ld m %ld n %ld zp %ld form %ld: ref %ld "
                           "dsp %ld\n", (long)x, (long)m, (long)n, (long)zp, (long)i,
                           (long)want, (long)got[i]);
                }
            }
        }
    }
    low = min_count((const int32_t (*)[2])ties, 1, 30);
    printf("fast_requantize ties: %ld negative, %ld positive; at least %ld of each sign "
           "for every shift 1..30\n", (long)sum_count((const int32_t (*)[2])ties, TIE_NEG),
           (long)sum_count((const int32_t (*)[2])ties, TIE_POS), (long)low);
    return report("fast_requantize_ties", k, bad + (low == 0));
}

/*
 * The reference LayerNorm's normalized values z of one row (csrc/pr_layernorm_s16_s8.c,
 * pr_ln_row, line by line with the reference's own inline helpers), and the shift s
 * the DSP variant uses for the row (37 - k, one less when inv = 2^31; 0 when V <= 0).
 */
static int32_t ln_reference_z(const pr_layernorm_params *p, const int16_t *x, int32_t *z)
{
    const int32_t C = p->channels;
    int64_t S1 = 0, S2 = 0, V, inv = 0;
    int32_t i, k = 0;
    for (i = 0; i < C; ++i) {
        S1 += x[i];
        S2 += (int64_t)x[i] * x[i];
    }
    V = (int64_t)C * S2 - S1 * S1 + p->eps;
    if (V > 0) {
        inv = pr_ln_inv_sqrt(V, &k);
    }
    for (i = 0; i < C; ++i) {
        const int64_t xc = (int64_t)C * x[i] - S1;
        const int64_t z64 = V > 0 ? pr_q_rdbp64(xc * inv, 37 - k) : 0;
        z[i] = pr_q_clamp64(z64, PR_Q_INT32_MIN, PR_Q_INT32_MAX);
    }
    return V > 0 ? 37 - k - (inv == ((int64_t)1 << 31)) : 0;
}

/* Whether the DSP variant runs row 0 in pr_arm_ln_channels_fast (its dispatch in
 * pr_layernorm_s16_s8_dsp.c, repeated here only to count the ties per loop). */
static int32_t ln_fast_row(const pr_layernorm_params *p, const int32_t *shift_, int32_t s)
{
    int32_t i, c, fast = shift_[0] <= -1 && p->channels <= 256 && p->act_min == -128 &&
                         p->act_max == 127 && pr_arm_fast_c(shift_[0], 0, &c) && s >= 1 &&
                         s <= 31;
    for (i = 0; i < p->channels && fast; ++i) {
        fast = shift_[i] == shift_[0] && offset[i] >= -(1 << 30) && offset[i] <= (1 << 30);
    }
    return fast;
}

/* Channel i of a LayerNorm tie case: the requantization's multiplier (a tie of the
 * rounding shift n of the given sign when one is reachable, else random) and u. */
static int32_t ln_tie_u(int32_t zi, int32_t i, int32_t n, int32_t negative, int32_t *utie)
{
    const int32_t t = n >= 1 && zi != 0 && zi != PR_Q_INT32_MIN && (rnd() & 3) ?
                      tie_target(zi, n, negative, (int64_t)1 << 31, 0) : 0;
    /* the sign of the product is the target's: SRDHM(z, -m) = SRDHM(-z, m) */
    const int32_t flip = t != 0 && (t < 0) != (zi < 0);
    const int32_t m = t == 0 ? -1 : srdhm_multiplier(flip ? -zi : zi, t, 0);
    *utie = 0;
    if (m >= 0) {
        mult[i] = flip ? -m : m;
        *utie = is_tie(pr_q_srdhm(zi, mult[i]), n);
    }
    return pr_q_mbqm(zi, mult[i], shift[i]);
}

/* A level P for a tie w = 256 P + 128 of the given sign (P <= -1: negative, P >= 0:
 * positive; the other sign when that one is not possible) with P + zp and P + 1 + zp
 * inside (act_min, act_max] so that neither output is clamped; 0 when none. */
static int32_t ln_tie_level(const pr_layernorm_params *p, int32_t negative, int32_t *P)
{
    const int32_t lo = p->act_min + 1 - p->out_zero_point;
    const int32_t hi = p->act_max - 1 - p->out_zero_point;
    const int32_t neg_hi = hi < -1 ? hi : -1, pos_lo = lo > 0 ? lo : 0;
    if (lo > hi) {
        return 0;
    }
    if (negative ? lo <= neg_hi : pos_lo > hi) {
        *P = range(lo, neg_hi);
    } else {
        *P = range(pos_lo, hi);
    }
    return 1;
}

/*
 * LayerNorm at exact ties of its output rounding RDBP(u + offset, 8). For row 0 of
 * each case the test computes the reference's u per channel (ln_reference_z, then
 * pr_q_mbqm) and sets offset[i] = 256 P + 128 - u, so that w = u + offset is the tie
 * 256 P + 128: negative for P <= -1 (rounds to P), positive for P >= 0 (rounds to
 * P + 1). Each tie is then proved from the reference kernel's own outputs, not from the
 * test's arithmetic: with all offsets - 1 and + 1 the channel gives P + zp and P + 1 + zp
 * (w - 1 rounds to P, w + 1 to P + 1; neither clamped, ln_tie_level), and at the tie
 * P + 1 + zp for P >= 0, P + zp for P <= -1: values rounding to P + 1 start at
 * 256 P + 128 for P >= 0 and at 256 P + 129 for P <= -1, so in both cases
 * w = 256 P + 128. A channel where the proof fails counts as a failure. Where every
 * shift is the same right shift n, 3 in 4 multipliers are chosen (ln_tie_u) so that
 * u's own rounding SRDHM(z, m) / 2^n is a tie too, of w's sign, so that rounding it
 * the other way changes the output (pr_arm_fast_rq_signed's sign term). Most rows take
 * the DSP fast loop (pr_arm_ln_channels_fast), the others pr_arm_ln_channels
 * (pr_arm_ln_round8) or V <= 0; DSP and reference outputs at the ties are compared
 * byte for byte.
 */
static int32_t test_layernorm_ties(void)
{
    static int8_t out_lo[BUF], out_hi[BUF];
    static int32_t level[BUF / 4], utie[BUF / 4], tied[BUF / 4];
    int32_t ties[2][2] = {{0, 0}, {0, 0}};   /* [fast loop][sign] */
    int32_t c, i, bad = 0, unproved = 0, uties = 0;
    for (c = 0; c < CASES; ++c) {
        pr_layernorm_params p;
        pr_status a, b;
        int32_t s, fast, n = 0;
        p.rows = range(1, 2);
        p.channels = (rnd() & 7) ? range(1, 80) : range(81, 300);
        p.eps = (rnd() & 3) ? range(0, 1000000) : ((int64_t)rnd() << range(0, 28));
        p.out_zero_point = range(-128, 127);
        p.act_min = -128;
        p.act_max = 127;
        if ((rnd() & 3) == 0) {
            out_range(-128, 127, 0, &p.out_zero_point, &p.act_min, &p.act_max);
        }
        fill16(in_s16, p.rows * p.channels, (rnd() & 1) ? 32767 : range(0, 3000));
        if ((rnd() & 7) == 0) {   /* a constant row: V = eps, maybe 0 */
            for (i = 0; i < p.channels; ++i) {
                in_s16[i] = in_s16[0];
            }
        }
        fill_requant(p.channels, 1);
        if (rnd() & 3) {   /* one right shift for all channels (fast loop) */
            n = range(1, 24);
            for (i = 0; i < p.channels; ++i) {
                shift[i] = -n;
            }
        }
        s = ln_reference_z(&p, in_s16, scratch);
        for (i = 0; i < p.channels; ++i) {
            const int32_t neg = (int32_t)(rnd() & 1);
            const int32_t u = ln_tie_u(scratch[i], i, n, neg, &utie[i]);
            int64_t o = 0;
            tied[i] = ln_tie_level(&p, neg, &level[i]);
            if (tied[i]) {
                o = 256 * (int64_t)level[i] + 128 - u;
                tied[i] = o > PR_Q_INT32_MIN && o < PR_Q_INT32_MAX;
            }
            offset[i] = tied[i] ? (int32_t)o : range(-40000, 40000);
        }
        clear_outputs();
        a = ref_pr_layernorm_s16_s8(&p, in_s16, mult, shift, offset, (int8_t *)out_ref);
        b = pr_layernorm_s16_s8(&p, in_s16, mult, shift, offset, (int8_t *)out_var);
        bad += compare("layernorm_s16_s8 ties", c, a, b);
        fast = ln_fast_row(&p, shift, s);
        for (i = 0; i < p.channels; ++i) {
            offset[i] -= 1;
        }
        (void)ref_pr_layernorm_s16_s8(&p, in_s16, mult, shift, offset, out_lo);
        for (i = 0; i < p.channels; ++i) {
            offset[i] += 2;
        }
        (void)ref_pr_layernorm_s16_s8(&p, in_s16, mult, shift, offset, out_hi);
        for (i = 0; i < p.channels; ++i) {
            const int32_t P = level[i], zp = p.out_zero_point;
            const int32_t at = (int8_t)out_ref[i];
            if (!tied[i]) {
                continue;
            }
            if (out_lo[i] != P + zp || out_hi[i] != P + 1 + zp || at != (P >= 0 ? P + 1 : P) + zp) {
                if (unproved++ < 5) {
                    printf("  layernorm tie case %ld channel %ld: P %ld zp %ld, reference gives "
                           "%d %ld %d at offset - 1, offset, + 1\n", (long)c, (long)i, (long)P,
                           (long)zp, (int)out_lo[i], (long)at, (int)out_hi[i]);
                }
                continue;
            }
            ties[fast][P >= 0] += 1;
            uties += utie[i] && (pr_q_srdhm(scratch[i], mult[i]) < 0) == (P < 0);
        }
    }
    printf("layernorm ties: %ld negative, %ld positive (fast loop %ld / %ld, other paths "
           "%ld / %ld; %ld also a tie of u's rounding); %ld unproved\n",
           (long)(ties[0][0] + ties[1][0]), (long)(ties[0][1] + ties[1][1]),
           (long)ties[1][0], (long)ties[1][1], (long)ties[0][0], (long)ties[0][1],
           (long)uties, (long)unproved);
    return report("layernorm_s16_s8_ties", CASES,
                  bad + unproved + (ties[0][0] == 0 || ties[0][1] == 0 || ties[1][0] == 0 ||
                                    ties[1][1] == 0 || uties == 0));
}

/* Whether the DSP residual add takes its fast loop (pr_arm_add_fast_ok, repeated here
 * only to count the ties per loop). */
static int32_t add_fast(const pr_add_params *p, int32_t s8)
{
    const int64_t zb = p->b_zero_point, xa = (int64_t)1 << 30;
    const int64_t xb = s8 ? (128 + (zb < 0 ? -zb : zb)) << 15 : xa;
    int32_t c;
    if (p->act_min != -32768 || p->act_max != 32767 || p->a_shift > 0 || p->b_shift > 0 ||
        p->a_shift < -30 || p->b_shift < -30 || !pr_arm_fast_c(p->out_shift, 0, &c)) {
        return 0;
    }
    return (xa >> -p->a_shift) + (xb >> -p->b_shift) + 2 < ((int64_t)1 << 30);
}

/* The reference add of one element (pr_add_internal.h) with sa or sb moved by da, db. */
static int32_t add_element(const pr_add_params *p, int32_t a, int32_t b, int32_t da,
                           int32_t db)
{
    const int32_t sa = pr_q_mbqm(a * (1 << PR_ADD_LEFT_SHIFT), p->a_multiplier, p->a_shift);
    const int32_t sb = pr_q_mbqm((b - p->b_zero_point) * (1 << PR_ADD_LEFT_SHIFT),
                                 p->b_multiplier, p->b_shift);
    return pr_q_requantize(pr_q_add_sat32(sa + da, sb + db), p->out_multiplier, p->out_shift,
                           0, p->act_min, p->act_max);
}

/* Count the exact ties of one element's three roundings that are visible: the output
 * changes when the tie is rounded the other way (toward zero instead of away). */
static void add_count_ties(const pr_add_params *p, int32_t a, int32_t b,
                           int32_t ties[3][TIE_SHIFTS][2])
{
    const int32_t x[2] = {a * (1 << PR_ADD_LEFT_SHIFT),
                          (b - p->b_zero_point) * (1 << PR_ADD_LEFT_SHIFT)};
    const int32_t m[2] = {p->a_multiplier, p->b_multiplier}, n[2] = {-p->a_shift, -p->b_shift};
    const int32_t y = add_element(p, a, b, 0, 0);
    int32_t k, r, sum;
    for (k = 0; k < 2; ++k) {
        r = pr_q_srdhm(x[k], m[k]);
        if (is_tie(r, n[k])) {
            const int32_t d = r < 0 ? 1 : -1;
            ties[k][n[k]][r >= 0] += add_element(p, a, b, k == 0 ? d : 0, k == 1 ? d : 0) != y;
        }
    }
    sum = pr_q_add_sat32(pr_q_mbqm(x[0], m[0], p->a_shift), pr_q_mbqm(x[1], m[1], p->b_shift));
    r = pr_q_srdhm(sum, p->out_multiplier);
    if (is_tie(r, -p->out_shift)) {
        const int32_t q = pr_q_rdbp(r, -p->out_shift) + (r < 0 ? 1 : -1);
        ties[2][-p->out_shift][r >= 0] += (q < p->act_min ? p->act_min :
                                           (q > p->act_max ? p->act_max : q)) != y;
    }
}

/* A multiplier making SRDHM(x, m) a tie of shift n with x's sign, of magnitude at most
 * cap (high, lowest: see tie_target, srdhm_multiplier), else a random one in
 * [2^30, 2^31). */
static int32_t add_tie_multiplier(int32_t x, int32_t n, int64_t cap, int32_t lowest)
{
    const int32_t t = x != 0 && n >= 1 ? tie_target(x, n, x < 0, cap, lowest) : 0;
    const int32_t m = t != 0 ? srdhm_multiplier(x, t, lowest) : -1;
    return m >= 0 ? m : range(1 << 30, 2147483647);
}

/* One input value of the given sign (b - zb's sign for int8 b; b = zb when none). */
static int32_t add_tie_value(int32_t s8, int32_t zb, int32_t negative, int32_t large)
{
    int32_t v;
    if (s8) {
        if (negative ? zb == -128 : zb == 127) {
            return zb;
        }
        v = (rnd() & 1) ? (negative ? -128 : 127) : (negative ? range(-128, zb - 1)
                                                              : range(zb + 1, 127));
        return v;
    }
    v = large ? range(16384, 32767) : range(1, 32767);
    return negative ? ((rnd() & 7) == 0 ? -32768 : -v) : v;
}

/*
 * The residual add at exact ties of its three roundings (the inputs' shifts na, nb and
 * the output's no), for both signs and every shift: each case focuses on one of them
 * (a, b, output in turn; the shift and sign sweep over the cases). Values a*, b* of the
 * case's sign; the focused multiplier is chosen (add_tie_multiplier) so that a*'s (or
 * b*'s) SRDHM is a tie, then the output multiplier so that the sum's SRDHM is one too,
 * with the smallest such multiplier for an input focus (the product nearest zero), so
 * that rounding the input's tie the other way (sum +- 1) changes the output. a*, b* at
 * random positions among random elements, mostly on the DSP fast loop (one in eight
 * cases with a narrower clamp). Counted per element by add_count_ties: only ties whose
 * other rounding would change the output (reference helpers).
 */
static int32_t test_add_ties(int32_t s8)
{
    static int32_t ties[3][TIE_SHIFTS][2];
    const char *name = s8 ? "add_s16_s8_ties" : "add_s16_ties";
    const int32_t cases = 900, nb_max = s8 ? 23 : 30;
    int32_t c, j, bad = 0, other = 0, low;
    memset(ties, 0, sizeof ties);
    for (c = 0; c < cases; ++c) {
        static int32_t spare[3][TIE_SHIFTS][2];
        const int32_t focus = c % 3, idx = c / 3, neg = idx & 1;
        const int32_t n = 1 + (idx / 2) % (focus == 1 ? nb_max : 30);
        const int64_t big = (int64_t)1 << 31;
        int32_t na, nb, a0, b0, xa, xb, j0, sum, bits, no;
        pr_add_params p;
        pr_status a, b;
        na = focus == 0 ? n : (focus == 1 ? range(1, 3) : range(1, 2));
        nb = focus == 1 ? n : (s8 ? range(0, 2) : (na == 1 ? range(2, 3) : range(1, 3)));
        if (!s8 && focus == 1 && nb == 1) {
            na = range(2, 3);
        }
        p.size = range(1, 64);
        p.a_shift = -na;
        p.b_shift = -nb;
        p.b_zero_point = s8 ? pick(-128, 127) : 0;
        p.act_min = -32768;
        p.act_max = 32767;
        if ((rnd() & 7) == 0) {
            int32_t zp;
            out_range(-32768, 32767, 1, &zp, &p.act_min, &p.act_max);
        }
        if (s8 && focus == 1 && n >= 16) {   /* |b - zb| >= 2^(n-16): zb at the other end */
            p.b_zero_point = neg ? 127 - range(0, 15) : -128 + range(0, 15);
        }
        a0 = add_tie_value(0, 0, neg, focus == 2 || (focus == 0 && n >= 16));
        b0 = add_tie_value(s8, p.b_zero_point, neg, focus == 2 || (focus == 1 && n >= 16));
        if (focus == 2 && n >= 28) {   /* |sum| > 2^29 reachable: extremes, m near 2^31 */
            p.b_zero_point = s8 ? (neg ? 127 : -128) : 0;
            a0 = neg ? -32768 : 32767;
            b0 = s8 ? -p.b_zero_point - 1 : a0;
        }
        xa = a0 * (1 << PR_ADD_LEFT_SHIFT);
        xb = (b0 - p.b_zero_point) * (1 << PR_ADD_LEFT_SHIFT);
        if (focus == 2 && n >= 28) {
            p.a_multiplier = PR_Q_INT32_MAX - range(0, 1 << 22);
            p.b_multiplier = PR_Q_INT32_MAX - range(0, 1 << 22);
        } else {
            p.a_multiplier = focus == 0 || (rnd() & 1) ? add_tie_multiplier(xa, na, big, 0)
                                                       : range(1 << 30, PR_Q_INT32_MAX);
            p.b_multiplier = focus == 1 || (rnd() & 1) ? add_tie_multiplier(xb, nb, big, 0)
                                                       : range(1 << 30, PR_Q_INT32_MAX);
        }
        sum = pr_q_add_sat32(pr_q_mbqm(xa, p.a_multiplier, -na),
                             pr_q_mbqm(xb, p.b_multiplier, -nb));
        for (bits = 0; bits < 30 && (sum >> (bits + 1)) != 0 && (sum >> (bits + 1)) != -1;
             ++bits) {
        }
        /* an input focus: |sum| 2^-no < 2^14, the output is not clamped */
        no = focus == 2 ? n : range(bits > 14 ? bits - 13 : 1, bits > 1 ? bits : 1);
        p.out_shift = -no;
        p.out_multiplier = add_tie_multiplier(sum, no, (int64_t)32767 << no, focus != 2);
        fill16(in_s16, p.size, 32767);
        fill16(in2_s16, p.size, 32767);
        fill8(in_a, p.size, -128);
        j0 = range(0, p.size - 1);
        for (j = 0; j < p.size; ++j) {
            if (j == j0 || (rnd() & 3) == 0) {
                in_s16[j] = (int16_t)a0;
                in2_s16[j] = (int16_t)b0;
                in_a[j] = (int8_t)(s8 ? b0 : 0);
            }
        }
        clear_outputs();
        if (s8) {
            a = ref_pr_add_s16_s8(&p, in_s16, in_a, (int16_t *)(void *)out_ref);
            b = pr_add_s16_s8(&p, in_s16, in_a, (int16_t *)(void *)out_var);
        } else {
            a = ref_pr_add_s16(&p, in_s16, in2_s16, (int16_t *)(void *)out_ref);
            b = pr_add_s16(&p, in_s16, in2_s16, (int16_t *)(void *)out_var);
        }
        bad += compare(name, c, a, b);
        memset(spare, 0, sizeof spare);
        for (j = 0; j < p.size; ++j) {
            add_count_ties(&p, in_s16[j], s8 ? in_a[j] : in2_s16[j],
                           add_fast(&p, s8) ? ties : spare);
        }
        for (j = 0; j < 3 * TIE_SHIFTS * 2; ++j) {
            other += (&spare[0][0][0])[j];
        }
    }
    low = min_count((const int32_t (*)[2])ties[0], 1, 30);
    low = min_count((const int32_t (*)[2])ties[1], 1, nb_max) < low ?
          min_count((const int32_t (*)[2])ties[1], 1, nb_max) : low;
    low = min_count((const int32_t (*)[2])ties[2], 1, 30) < low ?
          min_count((const int32_t (*)[2])ties[2], 1, 30) : low;
    printf("%s ties (visible in the output), fast loop: a %ld negative / %ld positive, "
           "b %ld / %ld, output %ld / %ld; at least %ld of each sign for every shift "
           "(a, output 1..30, b 1..%ld); other loops %ld\n", name,
           (long)sum_count((const int32_t (*)[2])ties[0], TIE_NEG),
           (long)sum_count((const int32_t (*)[2])ties[0], TIE_POS),
           (long)sum_count((const int32_t (*)[2])ties[1], TIE_NEG),
           (long)sum_count((const int32_t (*)[2])ties[1], TIE_POS),
           (long)sum_count((const int32_t (*)[2])ties[2], TIE_NEG),
           (long)sum_count((const int32_t (*)[2])ties[2], TIE_POS), (long)low, (long)nb_max,
           (long)other);
    for (c = 0; c < 3 && low == 0; ++c) {
        for (j = 1; j <= (c == 1 ? nb_max : 30); ++j) {
            if (ties[c][j][TIE_NEG] == 0 || ties[c][j][TIE_POS] == 0) {
                printf("  %s: no tie of %s at shift %ld (%ld negative, %ld positive)\n", name,
                       c == 0 ? "a" : (c == 1 ? "b" : "the output"), (long)j,
                       (long)ties[c][j][TIE_NEG], (long)ties[c][j][TIE_POS]);
            }
        }
    }
    return report(name, cases, bad + (low == 0));
}

int main(void)
{
    int32_t failures = 0;
    printf("build %s\n", pr_build_info());
    failures += test_requantize();
    failures += test_fast_requantize();
    failures += test_linear(0);
    failures += test_linear(1);
    failures += test_conv1d();
    failures += test_bmm(0);
    failures += test_bmm(1);
    failures += test_layernorm();
    failures += test_add(0);
    failures += test_add(1);
    failures += test_logmel();
    failures += test_depthwise();
    failures += test_fast_requantize_ties();
    failures += test_layernorm_ties();
    failures += test_add_ties(0);
    failures += test_add_ties(1);
    printf("kernels failures %ld\n", (long)failures);
    return failures != 0;
}

void mcu_systick_handler(void)   /* start-up's vector table names it; unused here */
{
}
