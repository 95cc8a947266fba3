/*
 * Bit-exactness of the Arm DSP kernel variants (csrc/arm/) against the portable
 * reference kernels (csrc/), on the device: both are linked into one firmware, the
 * reference files compiled with their public names prefixed by ref_ (build.sh
 * ktest). Random shapes, strides, zero points, clamp ranges, multipliers, shifts
 * (every value in [-31, 30]), biases up to the int32 extremes and inputs with their
 * extremes; every tenth case corrupts one argument, and both must then return the
 * same status. Outputs are compared byte for byte over whole buffers (so a write out
 * of range is a mismatch too). Also the DSP requantization itself against
 * pr_q_requantize on corner and random values.
 *
 * Output: "kernel <name> cases <n> mismatches <m>" per kernel, then
 * "kernels failures <total>"; main returns 1 when any failed, else 0 (qemu's status).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pr_arm_common.h"

#define CASES 400
#define BUF 12288

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

static uint32_t rng_state = 2463534242u;
static int8_t in_a[BUF], in_b[BUF];
static int16_t in_s16[BUF], in2_s16[BUF];
static int32_t bias[BUF / 4], mult[BUF / 4], shift[BUF / 4], offset[BUF / 4];
static int32_t scratch[BUF / 4];
static uint8_t out_ref[2 * BUF], out_dsp[2 * BUF];

static uint32_t rnd(void)   /* xorshift32 */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static int32_t range(int32_t lo, int32_t hi)   /* uniform in [lo, hi] */
{
    return lo + (int32_t)(rnd() % (uint32_t)(hi - lo + 1));
}

/* A value with its extremes over-represented. */
static int32_t pick(int32_t lo, int32_t hi)
{
    const uint32_t r = rnd() % 16;
    return r == 0 ? lo : (r == 1 ? hi : (r == 2 ? 0 : range(lo, hi)));
}

static void fill8(int8_t *p, int32_t n, int32_t lo)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        p[i] = (int8_t)pick(lo, 127);
    }
}

static void fill16(int16_t *p, int32_t n, int32_t limit)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        p[i] = (int16_t)pick(-limit, limit);
    }
}

/* Multipliers and shifts: mostly like a model's (one shift for all channels, in
 * [-20, 1]), sometimes per channel over the whole valid range, sometimes extreme. */
static void fill_requant(int32_t n, int32_t negative_ok)
{
    const int32_t mode = range(0, 3);
    const int32_t common = range(-20, 1);
    int32_t i;
    for (i = 0; i < n; ++i) {
        mult[i] = mode == 3 ? pick(0, 2147483647) : range(1 << 30, 2147483647);
        shift[i] = mode == 0 || mode == 1 ? common : range(-31, 30);
        if (negative_ok && (rnd() & 1)) {
            mult[i] = -mult[i];
        }
    }
}

static void fill_bias(int32_t n, int32_t extreme)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        bias[i] = extreme ? (int32_t)rnd() : range(-100000, 100000);
    }
}

/* An output range within [lo, hi] and a zero point inside it (ReLU-like at times). */
static void out_range(int32_t lo, int32_t hi, int32_t zp_fixed, int32_t *zp, int32_t *amin,
                      int32_t *amax)
{
    *zp = zp_fixed ? 0 : range(lo, hi);
    *amin = (rnd() & 3) == 0 ? *zp : lo;
    *amax = (rnd() & 3) == 0 ? range(*amin, hi) : hi;
}

static void clear_outputs(void)
{
    memset(out_ref, 0x5A, sizeof out_ref);
    memset(out_dsp, 0x5A, sizeof out_dsp);
}

/* Compare statuses and both output buffers; print the first difference. */
static int32_t compare(const char *name, int32_t c, pr_status s_ref, pr_status s_dsp)
{
    int32_t i;
    if (s_ref != s_dsp) {
        printf("  %s case %ld: status ref %ld dsp %ld\n", name, (long)c, (long)s_ref,
               (long)s_dsp);
        return 1;
    }
    for (i = 0; i < (int32_t)sizeof out_ref; ++i) {
        if (out_ref[i] != out_dsp[i]) {
            printf("  %s case %ld: byte %ld ref %d dsp %d\n", name, (long)c, (long)i,
                   (int)out_ref[i], (int)out_dsp[i]);
            return 1;
        }
    }
    return 0;
}

static int32_t report(const char *name, int32_t cases, int32_t bad)
{
    printf("kernel %s cases %ld mismatches %ld\n", name, (long)cases, (long)bad);
    return bad;
}

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
            b = pr_linear_s8_s16(&p, in_a, in_b, bp, mult, shift, (int16_t *)(void *)out_dsp);
        } else {
            a = ref_pr_linear_s8(&p, in_a, in_b, bp, mult, shift, (int8_t *)out_ref);
            b = pr_linear_s8(&p, in_a, in_b, bp, mult, shift, (int8_t *)out_dsp);
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
        b = pr_conv1d_s8(&p, in_a, in_b, bp, mult, shift, (int8_t *)out_dsp);
        bad += compare("conv1d_s8", c, a, b);
    }
    return report("conv1d_s8", CASES, bad);
}

/* Random bmm shapes with strided operands (rows and batches apart by random gaps). */
static void bmm_shape(pr_bmm_params *p, int32_t nn)
{
    const int32_t a_cols = p->depth, b_cols = nn ? p->cols : p->depth;
    const int32_t b_rows = nn ? p->depth : p->cols;
    p->a_row_stride = a_cols + range(0, 3);
    p->a_batch_stride = p->rows * p->a_row_stride + range(0, 5);
    p->b_row_stride = b_cols + range(0, 3);
    p->b_batch_stride = b_rows * p->b_row_stride + range(0, 5);
    p->out_row_stride = p->cols + range(0, 3);
    p->out_batch_stride = p->rows * p->out_row_stride + range(0, 5);
    p->a_zero_point = pick(-128, 127);
    p->b_zero_point = pick(-128, 127);
    p->multiplier = pick(0, 2147483647);
    p->shift = (rnd() & 3) ? range(-20, 1) : range(-31, 30);
    out_range(-128, 127, 0, &p->out_zero_point, &p->act_min, &p->act_max);
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
            b = pr_bmm_nn_s8(&p, in_a, in_b, (int8_t *)out_dsp, scratch, scratch_len);
        } else {
            a = ref_pr_bmm_nt_s8(&p, in_a, in_b, (int8_t *)out_ref);
            b = pr_bmm_nt_s8(&p, in_a, in_b, (int8_t *)out_dsp);
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
        b = pr_layernorm_s16_s8(&p, in_s16, mult, shift, offset, (int8_t *)out_dsp);
        bad += compare("layernorm_s16_s8", c, a, b);
    }
    return report("layernorm_s16_s8", CASES, bad);
}

static int32_t test_add(int32_t s8)
{
    const char *name = s8 ? "add_s16_s8" : "add_s16";
    int32_t c, bad = 0;
    for (c = 0; c < CASES; ++c) {
        pr_add_params p;
        pr_status a, b;
        int32_t zp;
        p.size = range(1, 100);
        p.a_multiplier = range(1 << 30, 2147483647);
        p.b_multiplier = range(1 << 30, 2147483647);
        p.out_multiplier = pick(0, 2147483647);
        p.a_shift = (rnd() & 3) ? range(-3, 0) : range(-31, 30);
        p.b_shift = (rnd() & 3) ? range(-3, 0) : range(-31, 30);
        if (rnd() & 1) {   /* like a model's: the larger scale (b) gets shift 0 */
            p.a_shift = range(-3, -1);
            p.b_shift = 0;
        }
        p.out_shift = (rnd() & 3) ? range(-16, -10) : range(-31, 30);
        out_range(-32768, 32767, 1, &zp, &p.act_min, &p.act_max);
        p.b_zero_point = s8 ? pick(-128, 127) : 0;
        fill16(in_s16, p.size, 32767);
        fill16(in2_s16, p.size, 32767);
        fill8(in_a, p.size, -128);
        if (c % 10 == 9) {   /* a bad zero point or multiplier */
            p.b_zero_point = s8 ? 300 : 1;
            p.a_multiplier = (rnd() & 1) ? -1 : p.a_multiplier;
        }
        clear_outputs();
        if (s8) {
            a = ref_pr_add_s16_s8(&p, in_s16, in_a, (int16_t *)(void *)out_ref);
            b = pr_add_s16_s8(&p, in_s16, in_a, (int16_t *)(void *)out_dsp);
        } else {
            a = ref_pr_add_s16(&p, in_s16, in2_s16, (int16_t *)(void *)out_ref);
            b = pr_add_s16(&p, in_s16, in2_s16, (int16_t *)(void *)out_dsp);
        }
        bad += compare(name, c, a, b);
    }
    return report(name, CASES, bad);
}

/* pr_arm_requantize == pr_q_requantize: every shift, corner and random values. */
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
    printf("kernels failures %ld\n", (long)failures);
    return failures != 0;
}

void mcu_systick_handler(void)   /* start-up's vector table names it; unused here */
{
}
