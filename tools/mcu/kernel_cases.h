/*
 * The scaffolding of the two kernel tests, tools/mcu/kernel_test.c (the Cortex-M DSP
 * kernels) and tools/aarch64/kernel_test.c (the NEON kernels): the inputs, a xorshift
 * generator with the extremes over-represented, requantization parameters, biases and
 * output ranges drawn as models have them and past them, and the byte-for-byte
 * comparison of the reference's and the variant's statuses and whole output buffers.
 * Each test draws its own shapes (around its own variants' edges).
 *
 * Also the cases both tests draw alike: bmm strides, and the residual adds (test_add).
 * Include once, from the test's .c file, after defining CASES (cases per test), BUF
 * (elements of each input buffer) and WORDS (entries of the per-channel arrays), and
 * after the kernel headers and the ref_ prototypes of the reference kernels.
 */
#ifndef KERNEL_CASES_H
#define KERNEL_CASES_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint32_t rng_state = 2463534242u;
static int8_t in_a[BUF], in_b[BUF];
static int16_t in_s16[BUF], in2_s16[BUF];
static int32_t bias[WORDS], mult[WORDS], shift[WORDS], offset[WORDS];
static int32_t scratch[WORDS];
static uint8_t out_ref[2 * BUF], out_var[2 * BUF];

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

/* Multipliers and shifts: mostly like a model's (one shift for all channels in [-20,
 * 1]), sometimes per channel over the whole valid range, sometimes extreme. */
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
    memset(out_var, 0x5A, sizeof out_var);
}

/* Compare statuses and both output buffers; print the first difference. */
static int32_t compare(const char *name, int32_t c, pr_status s_ref, pr_status s_var)
{
    int32_t i;
    if (s_ref != s_var) {
        printf("  %s case %ld: status ref %ld variant %ld\n", name, (long)c, (long)s_ref,
               (long)s_var);
        return 1;
    }
    if (memcmp(out_ref, out_var, sizeof out_ref) == 0) {
        return 0;
    }
    for (i = 0; i < (int32_t)sizeof out_ref; ++i) {
        if (out_ref[i] != out_var[i]) {
            printf("  %s case %ld: byte %ld ref %d variant %d\n", name, (long)c, (long)i,
                   (int)out_ref[i], (int)out_var[i]);
            break;
        }
    }
    return 1;
}

static int32_t report(const char *name, int32_t cases, int32_t bad)
{
    printf("kernel %s cases %ld mismatches %ld\n", name, (long)cases, (long)bad);
    return bad;
}

/* ---- what both tests draw alike ----------------------------------------------------- */

/* Random bmm strides (rows and batches apart by random gaps) and parameters. */
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
            b = pr_add_s16_s8(&p, in_s16, in_a, (int16_t *)(void *)out_var);
        } else {
            a = ref_pr_add_s16(&p, in_s16, in2_s16, (int16_t *)(void *)out_ref);
            b = pr_add_s16(&p, in_s16, in2_s16, (int16_t *)(void *)out_var);
        }
        bad += compare(name, c, a, b);
    }
    return report(name, CASES, bad);
}

#endif /* KERNEL_CASES_H */
