/*
 * Bit-exactness of the aarch64 NEON kernel variants (csrc/aarch64/) against the
 * portable reference kernels (csrc/), run under qemu-aarch64 (tools/aarch64/aarch64.py):
 * both are linked into one program, the reference files compiled with their public names
 * prefixed by ref_. Random shapes (around the variants' edges: 4-row blocks, 4-column
 * groups, 16-byte chunks, depth < 16, panels of several column groups, 64-row tiles,
 * depths past the panel, 8- and 16-element tails, rows of 16 keys), strides, zero
 * points, clamp ranges, multipliers, every shift in [-31, 30], biases up to the int32
 * extremes, inputs with their extremes (weights of -128 too, which the NEON product must
 * notice); every tenth case corrupts one argument, and both must then return the same
 * status. Outputs are compared byte for byte over whole buffers (a write out of range is
 * a mismatch too).
 *
 * Then the lane arithmetic itself (pr_a64_common.h) against the reference's scalar
 * helpers (pr_q_internal.h): RDBP, MBQM in its general and per-kind forms, and LayerNorm's
 * 64-bit rounding product, on corner and random values and on constructed exact ties of
 * every rounding shift, for both signs (random values almost never land on a tie, the
 * one place where a wrong tie rule shows); the tie counts must not be 0.
 *
 * Output: "kernel <name> cases <n> mismatches <m>" per test, then "kernels failures
 * <total>"; main returns 1 when any failed, else 0.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pr_a64_common.h"

#define CASES 300
#define BUF (1 << 17)
#define WORDS 4096

/* the reference kernels, renamed (aarch64.py) */
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
pr_status ref_pr_softmax_s8(const pr_softmax_params *, const int8_t *, const int32_t *,
                            const uint8_t *, int8_t *);
pr_status ref_pr_lut_s8(int32_t, const int8_t *, const int8_t *, int8_t *);
pr_status ref_pr_mul_s8(const pr_mul_params *, const int8_t *, const int8_t *, int8_t *);
pr_status ref_pr_depthwise_conv1d_s8(const pr_dwconv1d_params *, const int8_t *,
                                     const int8_t *, const int32_t *, const int32_t *,
                                     const int32_t *, int8_t *, int32_t *, int64_t);

static int32_t table32[256];
static uint8_t mask[BUF];

#include "kernel_cases.h"

/* A depth (or length) around the NEON chunks: small, 16 k - 1 .. 16 k + 1, or any. */
static int32_t depth_pick(int32_t most)
{
    switch (rnd() % 4) {
    case 0:
        return range(1, 17);
    case 1:
        return 16 * range(1, most / 16);
    case 2:
        return 16 * range(1, most / 16) + range(-1, 1);
    default:
        return range(1, most);
    }
}

/* ---- the product kernels --------------------------------------------------------- */

static int32_t test_linear(int32_t s16)
{
    const char *name = s16 ? "linear_s8_s16" : "linear_s8";
    int32_t c, bad = 0;
    for (c = 0; c < CASES; ++c) {
        pr_linear_params p;
        pr_status a, b;
        const int32_t *bp = (rnd() & 7) ? bias : NULL;
        const int32_t big = c % 25 == 0;   /* past the panel (4096), or many columns */
        p.rows = (rnd() & 3) ? range(1, 9) : range(60, 70);
        p.in_features = depth_pick(300);
        p.out_features = (rnd() & 3) ? range(1, 9) : range(10, 70);
        if (big && (rnd() & 1)) {
            p.rows = range(1, 3);
            p.in_features = range(4090, 4200);
            p.out_features = range(1, 6);
        } else if (big) {
            p.rows = range(1, 6);
            p.in_features = range(16, 80);
            p.out_features = range(250, 300);
        }
        out_range(s16 ? -32768 : -128, s16 ? 32767 : 127, s16, &p.out_zero_point,
                  &p.act_min, &p.act_max);
        fill8(in_a, p.rows * p.in_features, -128);
        fill8(in_b, p.out_features * p.in_features, (rnd() & 3) ? -127 : -128);
        if ((rnd() & 15) == 0) {   /* -128 x -128 everywhere: the int16 pair sums */
            memset(in_a, -128, (size_t)(p.rows * p.in_features));
            memset(in_b, -128, (size_t)(p.out_features * p.in_features));
        }
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
        p.in_len = range(1, 40);
        p.in_channels = (rnd() & 1) ? range(1, 12) : range(14, 70);
        p.out_channels = (rnd() & 1) ? range(1, 9) : range(10, 40);
        p.in_zero_point = pick(-128, 127);
        out_range(-128, 127, 0, &p.out_zero_point, &p.act_min, &p.act_max);
        fill8(in_a, p.in_len * p.in_channels, -128);
        fill8(in_b, p.out_channels * p.kernel * p.in_channels, (rnd() & 3) ? -127 : -128);
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
        p.rows = (rnd() & 3) ? range(1, 9) : range(60, 80);
        p.cols = (rnd() & 3) ? range(1, 40) : range(60, 80);
        p.depth = depth_pick(100);
        if (c % 40 == 0) {   /* deeper than a panel holds */
            p.batches = 1;
            p.rows = range(1, 3);
            p.cols = range(1, 5);
            p.depth = range(4090, 4200);
        }
        bmm_shape(&p, nn);
        scratch_len = p.cols;
        fill8(in_a, p.batches * p.a_batch_stride, -128);
        fill8(in_b, p.batches * p.b_batch_stride, (rnd() & 1) ? -128 : -127);
        if (nn && (rnd() & 1)) {   /* probabilities: mostly the zero point -128 */
            int32_t i;
            for (i = 0; i < p.batches * p.a_batch_stride; ++i) {
                in_a[i] = (rnd() & 3) ? -128 : in_a[i];
            }
            p.a_zero_point = -128;
        }
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

/* ---- row and element-wise kernels -------------------------------------------------- */

static int32_t test_layernorm(void)
{
    int32_t c, i, large, bad = 0;
    for (c = 0; c < CASES; ++c) {
        pr_layernorm_params p;
        pr_status a, b;
        p.rows = (rnd() & 3) ? range(1, 4) : range(15, 34);
        p.channels = (rnd() & 3) ? range(1, 80) : range(100, 300);
        p.eps = (rnd() & 3) ? range(0, 1000000) : ((int64_t)rnd() << range(0, 28));
        out_range(-128, 127, 0, &p.out_zero_point, &p.act_min, &p.act_max);
        fill16(in_s16, p.rows * p.channels, (rnd() & 1) ? 32767 : range(0, 3000));
        if ((rnd() & 7) == 0) {   /* a constant row: variance 0 */
            for (i = 0; i < p.channels; ++i) {
                in_s16[i] = in_s16[0];
            }
        }
        fill_requant(p.channels, 1);
        if (rnd() & 1) {   /* every shift a right shift (the fast channel loop) */
            for (i = 0; i < p.channels; ++i) {
                shift[i] = range(-20, -1);
            }
        }
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

static int32_t test_softmax(void)
{
    int32_t c, i, bad = 0;
    for (c = 0; c < CASES; ++c) {
        pr_softmax_params p;
        pr_status a, b;
        const uint8_t *km = (rnd() & 3) ? NULL : mask;
        p.batches = range(1, 3);
        p.rows = range(1, 20);
        p.cols = (rnd() & 1) ? range(1, 20) : range(14, 100);
        p.window = (rnd() & 1) ? 0 : 2 * range(0, 6) + 1;
        fill8(in_a, p.batches * p.rows * p.cols, -128);
        for (i = 0; i < p.cols; ++i) {
            mask[i] = (uint8_t)((rnd() & 3) ? 1 + (rnd() & 7) : 0);
        }
        if ((rnd() & 7) == 0) {
            memset(mask, 0, (size_t)p.cols);   /* no allowed key */
        }
        for (i = 0; i < 256; ++i) {   /* exp-like, or any entries in [0, 2^16] */
            table32[i] = (rnd() & 1) ? (int32_t)(65536u >> (i / 16)) - (int32_t)(rnd() & 15)
                                     : pick(0, PR_SOFTMAX_EXP_ONE);
            table32[i] = table32[i] < 0 ? 0 : table32[i];
        }
        table32[0] = range(1, PR_SOFTMAX_EXP_ONE);
        if (c % 20 == 7) {   /* 512 equal keys: S = 512 e, 512 e + S = 2 S, q = 1 exactly (an
                              * exact multiple, where a reciprocal one too small fails) */
            p.batches = 1;
            p.rows = range(1, 2);
            p.cols = 512;
            p.window = 0;
            memset(in_a, (int8_t)range(-128, 127), (size_t)(p.rows * p.cols));
            km = NULL;
        }
        if (c % 10 == 9) {   /* a table entry out of range, or an even window */
            table32[range(0, 255)] = (rnd() & 1) ? -1 : PR_SOFTMAX_EXP_ONE + 1;
            p.window = (rnd() & 1) ? 2 : p.window;
        }
        clear_outputs();
        a = ref_pr_softmax_s8(&p, in_a, table32, km, (int8_t *)out_ref);
        b = pr_softmax_s8(&p, in_a, table32, km, (int8_t *)out_var);
        bad += compare("softmax_s8", c, a, b);
    }
    return report("softmax_s8", CASES, bad);
}

static int32_t test_lut(void)
{
    int32_t c, bad = 0;
    for (c = 0; c < CASES; ++c) {
        const int32_t n = (rnd() & 1) ? range(1, 40) : range(40, 300);
        pr_status a, b;
        fill8(in_a, n, -128);
        fill8(in_b, 256, -128);
        clear_outputs();
        a = ref_pr_lut_s8(c % 10 == 9 ? 0 : n, in_a, in_b, (int8_t *)out_ref);
        b = pr_lut_s8(c % 10 == 9 ? 0 : n, in_a, in_b, (int8_t *)out_var);
        bad += compare("lut_s8", c, a, b);
    }
    return report("lut_s8", CASES, bad);
}

static int32_t test_mul(void)
{
    int32_t c, bad = 0;
    for (c = 0; c < CASES; ++c) {
        pr_mul_params p;
        pr_status a, b;
        p.size = (rnd() & 1) ? range(1, 40) : range(40, 300);
        p.a_zero_point = pick(-128, 127);
        p.b_zero_point = pick(-128, 127);
        p.multiplier = pick(0, 2147483647);
        p.shift = (rnd() & 3) ? range(-20, -1) : range(-31, 30);
        out_range(-128, 127, 0, &p.out_zero_point, &p.act_min, &p.act_max);
        fill8(in_a, p.size, -128);
        fill8(in_b, p.size, -128);
        if (c % 10 == 9) {
            p.a_zero_point = (rnd() & 1) ? 128 : p.a_zero_point;
            p.multiplier = (rnd() & 1) ? -3 : p.multiplier;
        }
        clear_outputs();
        a = ref_pr_mul_s8(&p, in_a, in_b, (int8_t *)out_ref);
        b = pr_mul_s8(&p, in_a, in_b, (int8_t *)out_var);
        bad += compare("mul_s8", c, a, b);
    }
    return report("mul_s8", CASES, bad);
}

static int32_t test_depthwise(void)
{
    int32_t c, bad = 0;
    for (c = 0; c < CASES; ++c) {
        pr_dwconv1d_params p;
        pr_status a, b;
        const int32_t *bp = (rnd() & 7) ? bias : NULL;
        int64_t scratch_len;
        p.in_len = range(1, 30);
        p.channels = (rnd() & 1) ? range(1, 20) : range(16, 70);
        p.kernel = 2 * range(0, 8) + 1;
        p.in_zero_point = pick(-128, 127);
        out_range(-128, 127, 0, &p.out_zero_point, &p.act_min, &p.act_max);
        fill8(in_a, p.in_len * p.channels, -128);
        fill8(in_b, p.kernel * p.channels, (rnd() & 3) ? -127 : -128);
        if ((rnd() & 7) == 0) {   /* -128 x -128 in pairs of taps: the int16 pair sum */
            memset(in_a, -128, (size_t)(p.in_len * p.channels));
            memset(in_b, -128, (size_t)(p.kernel * p.channels));
        }
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

/* ---- the lane arithmetic ------------------------------------------------------------ */

static int32_t lane0(int32x4_t v)
{
    return vgetq_lane_s32(v, 0);
}

static const int32_t xs[] = {PR_Q_INT32_MIN, PR_Q_INT32_MIN + 1, -(1 << 30) - 1, -(1 << 30),
                             -65536, -32768, -257, -256, -255, -129, -128, -127, -3, -2, -1,
                             0, 1, 2, 3, 127, 128, 255, 256, 257, 32767, 65536, 1 << 30,
                             PR_Q_INT32_MAX - 1, PR_Q_INT32_MAX};
#define N_XS ((int32_t)(sizeof xs / sizeof xs[0]))

/* RDBP: pr_a64_rdbp (any value) and pr_a64_rdbp_right (n >= 1, > INT32_MIN) against
 * pr_q_rdbp at every n, on corner and random values and on exact ties of both signs
 * (+-(2k + 1) 2^(n-1)) and their neighbours. */
static int32_t test_rdbp(void)
{
    int32_t n, i, d, cases = 0, bad = 0, ties[2] = {0, 0};
    for (n = 0; n <= 31; ++n) {
        const int32x4_t neg_n = vdupq_n_s32(-n);
        for (i = 0; i < N_XS + 400; ++i) {
            int32_t x = i < N_XS ? xs[i] : (int32_t)rnd();
            if (i >= N_XS + 200 && n >= 1) {   /* a tie, and its neighbours */
                const int64_t k = (int64_t)(rnd() >> (n < 2 ? 2 : n + 1));
                const int64_t t = (2 * k + 1) * ((int64_t)1 << (n - 1));
                x = (int32_t)((rnd() & 1) ? -t : t);
                ties[x < 0] += 1;
            }
            for (d = -1; d <= 1; ++d) {
                const int32_t v = (d < 0 && x == PR_Q_INT32_MIN) || (d > 0 && x == PR_Q_INT32_MAX)
                                      ? x : x + d;
                const int32_t want = pr_q_rdbp(v, n);
                const int32_t got = lane0(pr_a64_rdbp(vdupq_n_s32(v), neg_n));
                const int32_t got_r = n >= 1 && v != PR_Q_INT32_MIN
                                          ? lane0(pr_a64_rdbp_right(vdupq_n_s32(v), neg_n))
                                          : want;
                cases += 1;
                if ((want != got || want != got_r) && bad++ < 5) {
                    printf("  rdbp x %ld n %ld: ref %ld neon %ld %ld\n", (long)v, (long)n,
                           (long)want, (long)got, (long)got_r);
                }
            }
        }
    }
    printf("rdbp ties: %ld negative, %ld positive\n", (long)ties[1], (long)ties[0]);
    return report("rdbp", cases, bad + (ties[0] == 0) + (ties[1] == 0));
}

/*
 * MBQM: pr_a64_mbqm (any multiplier but the pair INT32_MIN, INT32_MIN, which saturates
 * alike) and pr_a64_mbqm1 (multiplier >= 0, each shift's kind, and the general form)
 * against pr_q_mbqm, every shift, corner and random values and multipliers, and exact
 * ties of the rounding shift: with m = 2^30, SRDHM(2 h, m) = floor(h + 1/2) = h, so x = 2 h
 * for a tie h of the shift.
 */
static int32_t test_mbqm(void)
{
    static const int32_t ms[] = {0, 1, 2, 3, 1 << 30, (1 << 30) + 1, PR_Q_INT32_MAX,
                                 PR_Q_INT32_MAX - 1, -1, -(1 << 30), PR_Q_INT32_MIN + 1,
                                 PR_Q_INT32_MIN};
    const int32_t nm = (int32_t)(sizeof ms / sizeof ms[0]);
    int32_t e, i, j, cases = 0, bad = 0, ties[2] = {0, 0};
    for (e = PR_Q_SHIFT_MIN; e <= PR_Q_SHIFT_MAX; ++e) {
        for (i = 0; i < N_XS + 120; ++i) {
            for (j = 0; j < nm + 6; ++j) {
                int32_t x = i < N_XS ? xs[i] : (int32_t)rnd() >> (rnd() % 31);
                int32_t m = j < nm ? ms[j] : (int32_t)rnd();
                pr_a64_mbqm_c q;
                pr_a64_mbqm1_c q1;
                int32_t want, got, got1, gota;
                if (i >= N_XS + 60 && e <= -1) {   /* x = 2 h, h a tie of the shift -e */
                    const int32_t n = -e;
                    const int64_t k = (int64_t)(rnd() >> (n + 2));
                    const int64_t h = (2 * k + 1) * ((int64_t)1 << (n - 1));
                    if (2 * h <= PR_Q_INT32_MAX) {
                        x = (int32_t)((rnd() & 1) ? -2 * h : 2 * h);
                        m = 1 << 30;
                        ties[x < 0] += 1;
                    }
                }
                if (x == PR_Q_INT32_MIN && m == PR_Q_INT32_MIN) {
                    continue;
                }
                q = pr_a64_mbqm_consts(vdupq_n_s32(m), vdupq_n_s32(e));
                want = pr_q_mbqm(x, m, e);
                got = lane0(pr_a64_mbqm(&q, vdupq_n_s32(x), 1));
                got1 = got;
                gota = got;
                if (m >= 0) {
                    q1 = pr_a64_mbqm1_consts(m, e);
                    got1 = lane0(pr_a64_mbqm1(&q1, vdupq_n_s32(x), q1.kind));
                    gota = lane0(pr_a64_mbqm1(&q1, vdupq_n_s32(x), -1));
                }
                if (e <= 0) {   /* the skipped SQSHL */
                    gota = gota == lane0(pr_a64_mbqm(&q, vdupq_n_s32(x), 0)) ? gota : ~want;
                }
                cases += 1;
                if ((want != got || want != got1 || want != gota) && bad++ < 5) {
                    printf("  mbqm x %ld m %ld e %ld: ref %ld neon %ld %ld %ld\n", (long)x,
                           (long)m, (long)e, (long)want, (long)got, (long)got1, (long)gota);
                }
            }
        }
    }
    printf("mbqm ties: %ld negative, %ld positive\n", (long)ties[1], (long)ties[0]);
    return report("mbqm", cases, bad + (ties[0] == 0) + (ties[1] == 0));
}

/* pr_a64_rdbp64_mul (LayerNorm's z) against pr_q_rdbp64(x v, n) where the result fits
 * int32, n = 1 .. 40; ties: x v = odd 2^(n-1) with v = 2^min(n-1, 31) and x = odd times
 * the rest. */
static int32_t test_rdbp64(void)
{
    int32_t n, i, cases = 0, bad = 0, ties[2] = {0, 0};
    for (n = 1; n <= 40; ++n) {
        const int64x2_t neg_n = vdupq_n_s64(-n);
        for (i = 0; i < 600; ++i) {
            int32_t x = (int32_t)rnd() >> (rnd() % 31);
            uint32_t v = rnd() >> (rnd() % 32);
            int64_t want;
            int32_t got;
            if (i < 200) {   /* a tie */
                const int32_t e2 = n - 1 < 31 ? n - 1 : 31;
                const int32_t e1 = n - 1 - e2;
                v = (uint32_t)1 << e2;
                x = (int32_t)((2 * (rnd() >> (e1 + 3)) + 1) << e1) * ((rnd() & 1) ? -1 : 1);
            }
            if ((uint64_t)(x < 0 ? -(int64_t)x : x) * v >= ((uint64_t)1 << 63) - 1) {
                continue;
            }
            want = pr_q_rdbp64((int64_t)x * (int64_t)v, n);
            if (want < PR_Q_INT32_MIN || want > PR_Q_INT32_MAX) {
                continue;
            }
            if (i < 200) {
                ties[x < 0] += 1;
            }
            got = lane0(pr_a64_rdbp64_mul(vdupq_n_s32(x), vdup_n_u32(v), neg_n));
            cases += 1;
            if (got != want && bad++ < 5) {
                printf("  rdbp64 x %ld v %lu n %ld: ref %lld neon %ld\n", (long)x,
                       (unsigned long)v, (long)n, (long long)want, (long)got);
            }
        }
    }
    printf("rdbp64 ties: %ld negative, %ld positive\n", (long)ties[1], (long)ties[0]);
    return report("rdbp64", cases, bad + (ties[0] == 0) + (ties[1] == 0));
}

int main(void)
{
    int32_t failures = 0;
    printf("build %s cpu_ok %ld\n", pr_build_info(), (long)pr_build_cpu_ok());
    if (pr_build_cpu_ok() != 1) {
        printf("cpu refused: this build (%s) needs instructions this CPU lacks\n",
               pr_build_info());
        return 3;
    }
    failures += test_rdbp();
    failures += test_mbqm();
    failures += test_rdbp64();
    failures += test_linear(0);
    failures += test_linear(1);
    failures += test_conv1d();
    failures += test_bmm(0);
    failures += test_bmm(1);
    failures += test_layernorm();
    failures += test_add(0);
    failures += test_add(1);
    failures += test_softmax();
    failures += test_lut();
    failures += test_mul();
    failures += test_depthwise();
    printf("kernels failures %ld\n", (long)failures);
    return failures != 0;
}
