/*
 * Sanitizer driver for the int8 kernels (built and run by tools/sanitize.sh with
 * -fsanitize=address,undefined). Every kernel runs on many shapes, including 1 and
 * sizes around multiples of 4/8/16, with random data and parameters pushed to the
 * ends of their valid ranges (INT32_MIN/MAX biases, shifts -31 and 30, extreme zero
 * points, int16 extremes). Each buffer is allocated with its exact size, so ASan
 * sees any out-of-bounds access; UBSan sees overflow, bad shifts and misalignment.
 * Error paths (NULL, bad shapes, short scratch) are exercised too. The log-mel front
 * end runs with tables of random contents (any value must be safe). Bit-exactness is
 * the business of tests/test_quant_ops.py; here only the status codes are checked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyreparam.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static int failures = 0;
static long calls = 0;

static uint32_t rnd(void) /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

/* uniform in [lo, hi] with 1 draw in 8 at an end of the range */
static int64_t pick(int64_t lo, int64_t hi)
{
    uint32_t r = rnd();
    if (r % 16 == 0) {
        return lo;
    }
    if (r % 16 == 1) {
        return hi;
    }
    return lo + (int64_t)(((uint64_t)rnd() << 32 | rnd()) % (uint64_t)(hi - lo + 1));
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n == 0 ? 1 : n);
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static int8_t *rand_s8(size_t n)
{
    int8_t *a = xmalloc(n);
    size_t i;
    for (i = 0; i < n; ++i) {
        a[i] = (int8_t)pick(-128, 127);
    }
    return a;
}

static int16_t *rand_s16(size_t n)
{
    int16_t *a = xmalloc(n * sizeof *a);
    size_t i;
    for (i = 0; i < n; ++i) {
        a[i] = (int16_t)pick(-32768, 32767);
    }
    return a;
}

static int32_t *rand_s32(size_t n, int64_t lo, int64_t hi)
{
    int32_t *a = xmalloc(n * sizeof *a);
    size_t i;
    for (i = 0; i < n; ++i) {
        a[i] = (int32_t)pick(lo, hi);
    }
    return a;
}

/* Q31 multipliers: 0, [2^30, 2^31); shifts [-31, 30] */
static int32_t *rand_mult(size_t n) { return rand_s32(n, 1 << 30, 2147483647); }
static int32_t *rand_shift(size_t n) { return rand_s32(n, -31, 30); }

static void expect(const char *what, pr_status got, pr_status want)
{
    ++calls;
    if (got != want) {
        fprintf(stderr, "FAIL %s: status %d, expected %d\n", what, (int)got, (int)want);
        ++failures;
    }
}

static const int32_t sizes[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33};
#define NSIZES ((int)(sizeof sizes / sizeof sizes[0]))

static void run_linear(int32_t T, int32_t Cin, int32_t Cout)
{
    pr_linear_params p;
    int8_t *x = rand_s8((size_t)T * Cin), *w = rand_s8((size_t)Cout * Cin);
    int32_t *bias = rand_s32(Cout, -2147483647 - 1, 2147483647);
    int32_t *m = rand_mult(Cout), *e = rand_shift(Cout);
    int8_t *y = xmalloc((size_t)T * Cout);
    int16_t *y16 = xmalloc((size_t)T * Cout * sizeof *y16);
    p.rows = T; p.in_features = Cin; p.out_features = Cout;
    p.out_zero_point = (int32_t)pick(-128, 127); p.act_min = -128; p.act_max = 127;
    expect("linear_s8", pr_linear_s8(&p, x, w, bias, m, e, y), PR_OK);
    expect("linear_s8 no bias", pr_linear_s8(&p, x, w, NULL, m, e, y), PR_OK);
    expect("linear_s8 NULL x", pr_linear_s8(&p, NULL, w, bias, m, e, y), PR_ERR_NULL);
    p.out_zero_point = 0; p.act_min = -32768; p.act_max = 32767;
    expect("linear_s8_s16", pr_linear_s8_s16(&p, x, w, bias, m, e, y16), PR_OK);
    p.in_features = 0;
    expect("linear_s8 bad dim", pr_linear_s8(&p, x, w, bias, m, e, y), PR_ERR_SHAPE);
    free(x); free(w); free(bias); free(m); free(e); free(y); free(y16);
}

static void run_bmm(int32_t H, int32_t M, int32_t N, int32_t K)
{
    pr_bmm_params p;
    int8_t *a = rand_s8((size_t)H * M * K), *bt = rand_s8((size_t)H * N * K);
    int8_t *bn = rand_s8((size_t)H * K * N), *out = xmalloc((size_t)H * M * N);
    int32_t *scratch = xmalloc((size_t)N * sizeof *scratch);
    p.batches = H; p.rows = M; p.cols = N; p.depth = K;
    p.a_batch_stride = M * K; p.a_row_stride = K;
    p.b_batch_stride = N * K; p.b_row_stride = K;
    p.out_batch_stride = M * N; p.out_row_stride = N;
    p.a_zero_point = (int32_t)pick(-128, 127); p.b_zero_point = (int32_t)pick(-128, 127);
    p.multiplier = (int32_t)pick(1 << 30, 2147483647); p.shift = (int32_t)pick(-31, 30);
    p.out_zero_point = (int32_t)pick(-128, 127); p.act_min = -128; p.act_max = 127;
    expect("bmm_nt_s8", pr_bmm_nt_s8(&p, a, bt, out), PR_OK);
    p.b_row_stride = N;
    expect("bmm_nn_s8", pr_bmm_nn_s8(&p, a, bn, out, scratch, N), PR_OK);
    expect("bmm_nn_s8 short scratch", pr_bmm_nn_s8(&p, a, bn, out, scratch, N - 1),
           PR_ERR_SCRATCH);
    /* interleaved heads: a (M, H*K) row-major viewed as (H, M, K) */
    p.a_batch_stride = K; p.a_row_stride = H * K;
    expect("bmm_nn_s8 strided", pr_bmm_nn_s8(&p, a, bn, out, scratch, N), PR_OK);
    free(a); free(bt); free(bn); free(out); free(scratch);
}

static void run_softmax(int32_t H, int32_t T, int32_t L)
{
    pr_softmax_params p;
    int32_t table[256];
    int32_t d;
    int8_t *x = rand_s8((size_t)H * T * L), *y = xmalloc((size_t)H * T * L);
    uint8_t *mask = xmalloc((size_t)L);
    for (d = 0; d < 256; ++d) {
        table[d] = d == 0 ? 65536 : (int32_t)pick(0, 65536);
    }
    for (d = 0; d < L; ++d) {
        mask[d] = (uint8_t)(rnd() % 4 != 0);
    }
    p.batches = H; p.rows = T; p.cols = L; p.window = 0;
    expect("softmax_s8", pr_softmax_s8(&p, x, table, mask, y), PR_OK);
    p.window = (int32_t)(2 * (rnd() % 5) + 1);
    expect("softmax_s8 window", pr_softmax_s8(&p, x, table, NULL, y), PR_OK);
    memset(x, 127, (size_t)H * T * L);
    expect("softmax_s8 equal", pr_softmax_s8(&p, x, table, mask, y), PR_OK);
    free(x); free(y); free(mask);
}

static void run_layernorm(int32_t T, int32_t C)
{
    pr_layernorm_params p;
    int16_t *x = rand_s16((size_t)T * C);
    int32_t *m = rand_s32(C, -2147483647, 2147483647), *e = rand_shift(C);
    int32_t *off = rand_s32(C, -2147483647 - 1, 2147483647);
    int8_t *y = xmalloc((size_t)T * C);
    p.rows = T; p.channels = C; p.out_zero_point = (int32_t)pick(-128, 127);
    p.act_min = -128; p.act_max = 127;
    p.eps = pick(0, (int64_t)1 << 60);
    expect("layernorm", pr_layernorm_s16_s8(&p, x, m, e, off, y), PR_OK);
    p.eps = 0;
    memset(x, 0x80, (size_t)T * C * sizeof *x); /* constant rows of -32640 */
    expect("layernorm const", pr_layernorm_s16_s8(&p, x, m, e, off, y), PR_OK);
    free(x); free(m); free(e); free(off); free(y);
}

static void run_elementwise(int32_t n)
{
    pr_add_params pa;
    pr_requant_params pq;
    pr_mul_params pm;
    int8_t *a8 = rand_s8(n), *b8 = rand_s8(n), *y8 = xmalloc(n), *table = rand_s8(256);
    int16_t *a16 = rand_s16(n), *b16 = rand_s16(n), *y16 = xmalloc(n * sizeof *y16);
    expect("lut_s8", pr_lut_s8(n, a8, table, y8), PR_OK);
    pa.size = n;
    pa.a_multiplier = (int32_t)pick(1 << 30, 2147483647); pa.a_shift = (int32_t)pick(-31, 30);
    pa.b_multiplier = (int32_t)pick(1 << 30, 2147483647); pa.b_shift = (int32_t)pick(-31, 30);
    pa.out_multiplier = (int32_t)pick(1 << 30, 2147483647);
    pa.out_shift = (int32_t)pick(-31, 30);
    pa.b_zero_point = 0; pa.act_min = -32768; pa.act_max = 32767;
    expect("add_s16", pr_add_s16(&pa, a16, b16, y16), PR_OK);
    expect("add_s16 in place", pr_add_s16(&pa, a16, b16, a16), PR_OK);
    pa.b_zero_point = (int32_t)pick(-128, 127);
    expect("add_s16_s8", pr_add_s16_s8(&pa, a16, b8, y16), PR_OK);
    pq.size = n; pq.in_zero_point = (int32_t)pick(-32768, 32767);
    pq.multiplier = (int32_t)pick(1 << 30, 2147483647); pq.shift = (int32_t)pick(-31, 30);
    pq.out_zero_point = (int32_t)pick(-128, 127); pq.act_min = -128; pq.act_max = 127;
    expect("requantize_s16_s8", pr_requantize_s16_s8(&pq, a16, y8), PR_OK);
    pm.size = n; pm.a_zero_point = (int32_t)pick(-128, 127);
    pm.b_zero_point = (int32_t)pick(-128, 127);
    pm.multiplier = (int32_t)pick(1 << 30, 2147483647); pm.shift = (int32_t)pick(-31, 30);
    pm.out_zero_point = (int32_t)pick(-128, 127); pm.act_min = -128; pm.act_max = 127;
    expect("mul_s8", pr_mul_s8(&pm, a8, b8, y8), PR_OK);
    free(a8); free(b8); free(y8); free(table); free(a16); free(b16); free(y16);
}

static void run_requantize_s32(int32_t n)
{
    int32_t *x = rand_s32(n, -2147483647 - 1, 2147483647), *y = xmalloc(n * sizeof *y);
    int32_t *m = rand_s32(n, 0, 2147483647), *e = rand_shift(n);
    expect("requantize_s32", pr_requantize_s32(n, x, m, e, y), PR_OK);
    free(x); free(y); free(m); free(e);
}

static void run_conv(int32_t T, int32_t Cin, int32_t Cout, int32_t K)
{
    pr_conv1d_params p;
    pr_dwconv1d_params q;
    int32_t stride = (int32_t)(rnd() % 3) + 1, pad = (int32_t)(rnd() % K);
    int32_t T_out, Kd = 2 * (K / 2) + 1;
    int8_t *x = rand_s8((size_t)T * Cin), *w = rand_s8((size_t)Cout * K * Cin);
    int8_t *wd = rand_s8((size_t)Kd * Cin), *yd = xmalloc((size_t)T * Cin), *y;
    int32_t *bias = rand_s32(Cout, -2147483647 - 1, 2147483647);
    int32_t *m = rand_mult(Cout), *e = rand_shift(Cout);
    int32_t *scratch = xmalloc((size_t)Cin * sizeof *scratch);
    if (T + 2 * pad < K) {
        pad = K - 1;
    }
    T_out = T + 2 * pad >= K ? (T + 2 * pad - K) / stride + 1 : 1;
    y = xmalloc((size_t)T_out * Cout);
    p.in_len = T; p.in_channels = Cin; p.out_channels = Cout; p.kernel = K;
    p.stride = stride; p.padding = pad; p.in_zero_point = (int32_t)pick(-128, 127);
    p.out_zero_point = (int32_t)pick(-128, 127); p.act_min = -128; p.act_max = 127;
    expect("conv1d_s8", pr_conv1d_s8(&p, x, w, bias, m, e, y),
           T + 2 * pad >= K ? PR_OK : PR_ERR_SHAPE);
    q.in_len = T; q.channels = Cin; q.kernel = Kd; q.in_zero_point = p.in_zero_point;
    q.out_zero_point = p.out_zero_point; q.act_min = -128; q.act_max = 127;
    free(m); free(e); free(bias);
    m = rand_mult(Cin); e = rand_shift(Cin); bias = rand_s32(Cin, -2147483647 - 1, 2147483647);
    expect("depthwise_conv1d_s8",
           pr_depthwise_conv1d_s8(&q, x, wd, bias, m, e, yd, scratch, Cin), PR_OK);
    expect("depthwise_conv1d_s8 scratch",
           pr_depthwise_conv1d_s8(&q, x, wd, bias, m, e, yd, NULL, 0), PR_ERR_SCRATCH);
    free(x); free(w); free(wd); free(yd); free(y); free(bias); free(m); free(e);
    free(scratch);
}

static void run_pool(int32_t T, int32_t C, int32_t g)
{
    pr_avgpool_params p;
    int32_t T_out = (T + g - 1) / g;
    int8_t *x8 = rand_s8((size_t)T * C), *y8 = xmalloc((size_t)T_out * C);
    int16_t *x16 = rand_s16((size_t)T * C), *y16 = xmalloc((size_t)T_out * C * 2);
    int32_t *scratch = xmalloc((size_t)C * sizeof *scratch);
    p.in_len = T; p.channels = C; p.group = g; p.zero_point = (int32_t)pick(-128, 127);
    expect("avgpool_s8", pr_avgpool_s8(&p, x8, y8, scratch, C), PR_OK);
    p.zero_point = (int32_t)pick(-32768, 32767);
    expect("avgpool_s16", pr_avgpool_s16(&p, x16, y16, scratch, C), PR_OK);
    free(x8); free(y8); free(x16); free(y16); free(scratch);
}

/* Causal normalization: a fresh state, utterances of random and extreme values (the
 * whole int16 range, constant bands), every prior weight / floor / multiplier range,
 * then a corrupted copy of the state (every function must refuse it). */
static void run_norm(int32_t T, int32_t M)
{
    pr_norm_params p;
    const int32_t bytes = pr_norm_state_bytes(M);
    uint8_t *state = xmalloc((size_t)bytes), *bad = xmalloc((size_t)bytes);
    int16_t *x = rand_s16((size_t)T * M);
    int32_t *mean = rand_s32(M, -2147483647 - 1, 2147483647);
    int32_t *var = rand_s32(M, 1, 2147483647);
    int8_t *y = xmalloc((size_t)T * M);
    int16_t *in_place = xmalloc((size_t)T * M * sizeof *in_place);
    int32_t *scratch = xmalloc((size_t)3 * M * sizeof *scratch);
    int u;
    p.bands = M; p.prior_weight = (int32_t)pick(1, 2147483647);
    p.var_floor = (int32_t)pick(1, 2147483647);
    p.out_multiplier = (int32_t)pick((int64_t)1 << 30, 2147483647);
    p.out_shift = (int32_t)pick(-31, 30); p.out_zero_point = (int32_t)pick(-128, 127);
    expect("norm_state_init", pr_norm_state_init(state, bytes, M), PR_OK);
    for (u = 0; u < 4; ++u) {
        expect("norm_apply", pr_norm_apply_s16_s8(&p, mean, var, state, bytes, x, T, y), PR_OK);
        memcpy(in_place, x, (size_t)T * M * sizeof *x);
        expect("norm_apply_inplace", pr_norm_apply_inplace_s16_s8(
                   &p, mean, var, state, bytes, in_place, T, scratch, 3 * M), PR_OK);
        if (memcmp(in_place, y, (size_t)T * M) != 0) {
            fprintf(stderr, "FAIL norm_apply_inplace differs from norm_apply\n");
            ++failures;
        }
        expect("norm_update", pr_norm_update_s16(state, bytes, M, x, T), PR_OK);
        memset(x, u % 2 ? 0x7F : 0x80, (size_t)T * M * sizeof *x);   /* constant bands */
    }
    expect("norm_apply_inplace scratch", pr_norm_apply_inplace_s16_s8(
               &p, mean, var, state, bytes, in_place, T, scratch, 3 * M - 1), PR_ERR_SCRATCH);
    expect("norm_state_check", pr_norm_state_check(state, bytes, M), PR_OK);
    memcpy(bad, state, (size_t)bytes);
    bad[pick(0, bytes - 1)] ^= (uint8_t)(1u << pick(0, 7));
    expect("norm_state_check corrupt", pr_norm_state_check(bad, bytes, M), PR_ERR_STATE);
    expect("norm_update corrupt", pr_norm_update_s16(bad, bytes, M, x, T), PR_ERR_STATE);
    expect("norm_apply corrupt",
           pr_norm_apply_s16_s8(&p, mean, var, bad, bytes, x, T, y), PR_ERR_STATE);
    expect("norm_state_check short", pr_norm_state_check(state, bytes - 1, M), PR_ERR_STATE);
    free(state); free(bad); free(x); free(mean); free(var); free(y); free(in_place);
    free(scratch);
}

/* Log-mel front end: tables of random contents with their extremes over-represented
 * (any int32 twiddle, window, weight and log table entry: no overflow whatever they
 * hold), a random filterbank layout, frames of random, extreme and constant samples,
 * every buffer of its exact size; then the error statuses. */
/* pr_functionals_s16 on random frames and tables, or (extreme) on alternating
 * -32768 / 32767 frames with a basis of -32768: the bounds of its arithmetic. */
static void run_functionals(int32_t T, int32_t C, int32_t M, int32_t L, int extreme)
{
    int16_t *x = rand_s16((size_t)T * (size_t)C), *dct = rand_s16((size_t)L * (size_t)M);
    const int32_t n = pr_functionals_count(C, L), len = pr_functionals_scratch_len(T);
    int32_t *out = rand_s32((size_t)n, 0, 1), *scratch = rand_s32((size_t)len, 0, 1);
    int32_t i;
    if (extreme) {
        for (i = 0; i < T * C; ++i) {
            x[i] = (int16_t)((i / C) % 2 ? 32767 : -32768);
        }
        for (i = 0; i < L * M; ++i) {
            dct[i] = -32768;
        }
    }
    expect("functionals", pr_functionals_s16(x, T, C, M, dct, L, out, scratch, len), PR_OK);
    expect("functionals scratch",
           pr_functionals_s16(x, T, C, M, dct, L, out, scratch, len - 1), PR_ERR_SCRATCH);
    expect("functionals bands",
           pr_functionals_s16(x, T, C, C + 1, dct, L, out, scratch, len), PR_ERR_SHAPE);
    if (C >= M + 2) { /* the prosody block of the same frames (7 values fit in out) */
        expect("prosody", pr_prosody_s16(x, T, C, M, out, scratch, len), PR_OK);
        expect("prosody scratch", pr_prosody_s16(x, T, C, M, out, scratch, len - 1),
               PR_ERR_SCRATCH);
    }
    expect("prosody channels", pr_prosody_s16(x, T, M + 1, M, out, scratch, len),
           PR_ERR_SHAPE);
    free(x);
    free(dct);
    free(out);
    free(scratch);
}

/* The statistics head: features (functionals + per-functional scale, extreme
 * exponents; the prosody block when C >= M + 2, on every other call) and the decision
 * (linear, two softmaxes, the mix at its extremes). */
static void run_head(int32_t T, int32_t C, int32_t M, int32_t L, int32_t N, int extreme)
{
    static int32_t calls = 0;
    pr_head h;
    const int32_t pitch = C >= M + 2 && (++calls % 2 == 0 || extreme);
    const int32_t D = pr_functionals_count(C, L) + (pitch ? PR_PROSODY_COUNT : 0);
    int16_t *x = rand_s16((size_t)T * (size_t)C), *dct = rand_s16((size_t)L * (size_t)M);
    int16_t *g = rand_s16((size_t)D);
    int8_t *exponent = rand_s8((size_t)D), *weight = rand_s8((size_t)N * (size_t)D);
    int8_t *z = rand_s8((size_t)D), *net = rand_s8((size_t)N);
    int32_t *bias = rand_s32((size_t)N, INT32_MIN, INT32_MAX), *mult = rand_mult((size_t)N);
    int32_t *shift = rand_shift((size_t)N), *p = rand_s32((size_t)N, 0, 1);
    int32_t *table_h = rand_s32(256, 0, 65536), *table_n = rand_s32(256, 0, 65536);
    int32_t len, *scratch, j;
    for (j = 0; j < D; ++j) {
        exponent[j] = (int8_t)(extreme ? (j % 2 ? PR_HEAD_MAX_EXPONENT : PR_HEAD_MIN_EXPONENT)
                                       : pick(PR_HEAD_MIN_EXPONENT, PR_HEAD_MAX_EXPONENT));
    }
    table_h[0] = table_n[0] = 65536;
    h.channels = C; h.bands = M; h.cepstra = L; h.classes = N;
    h.logit_zero_point = (int32_t)pick(-128, 127);
    h.mix = extreme ? PR_HEAD_MIX_ONE : (int32_t)pick(0, PR_HEAD_MIX_ONE);
    h.dct = dct; h.exponent = exponent; h.weight = weight; h.bias = bias;
    h.multiplier = mult; h.shift = shift; h.head_exp_table = table_h;
    h.net_exp_table = table_n;
    h.pitch = pitch;
    len = pr_head_scratch_len(&h, T);
    scratch = rand_s32((size_t)len, 0, 1);
    if (extreme) {
        for (j = 0; j < T * C; ++j) {
            x[j] = (int16_t)((j / C) % 2 ? 32767 : -32768);
        }
    }
    expect("head count", pr_head_count(&h), D);
    expect("head features", pr_head_features_s16(&h, x, T, g, scratch, len), PR_OK);
    expect("head features scratch",
           pr_head_features_s16(&h, x, T, g, scratch, len - 1), PR_ERR_SCRATCH);
    expect("head decide", pr_head_decide_s8(&h, z, net, p), PR_OK);
    h.mix = 0;
    expect("head decide, network alone", pr_head_decide_s8(&h, z, net, p), PR_OK);
    h.classes = PR_HEAD_MAX_CLASSES + 1;
    expect("head classes", pr_head_decide_s8(&h, z, net, p), PR_ERR_SHAPE);
    free(x); free(dct); free(g); free(exponent); free(weight); free(z); free(net);
    free(bias); free(mult); free(shift); free(p); free(table_h); free(table_n);
    free(scratch);
}

static void run_logmel(int32_t n_fft, int32_t win, int32_t M)
{
    const int32_t N = n_fft / 2, bins = N + 1;
    const int32_t need = pr_logmel_scratch_len(n_fft);
    pr_logmel_params p;
    uint16_t *first = xmalloc((size_t)M * sizeof *first);
    uint16_t *count = xmalloc((size_t)M * sizeof *count);
    uint16_t *order = xmalloc((size_t)N * sizeof *order);
    int32_t *scratch = xmalloc((size_t)need * sizeof *scratch);
    int16_t *out = xmalloc((size_t)M * sizeof *out);
    int32_t m, total = 0, f;
    for (m = 0; m < M; ++m) {
        first[m] = (uint16_t)pick(0, bins);
        count[m] = (uint16_t)pick(0, bins - first[m]);
        total += count[m];
    }
    for (m = 0; m < N; ++m) {
        order[m] = (uint16_t)pick(0, 65535);
    }
    p.win_length = win; p.n_fft = n_fft; p.n_mels = M; p.n_weights = total;
    p.floor_q62 = pick(1, INT64_MAX);
    p.window = rand_s32(win, -2147483647 - 1, 2147483647);
    p.fft_twiddles = rand_s32(6 * (N / 4), -2147483647 - 1, 2147483647);
    p.rfft_twiddles = rand_s32(2 * (N / 2 + 1), -2147483647 - 1, 2147483647);
    p.fft_order = order; p.mel_first = first; p.mel_count = count;
    p.mel_weights = rand_s32(total, -2147483647 - 1, 2147483647);
    p.log2_table = rand_s32(PR_LOGMEL_LOG2_SIZE + 1, -2147483647 - 1, 2147483647);
    for (f = 0; f < 6; ++f) {
        int16_t *x = rand_s16((size_t)win);
        if (f >= 3) {
            const int16_t v = f == 3 ? -32768 : (f == 4 ? 32767 : 0);
            for (m = 0; m < win; ++m) {
                x[m] = v;
            }
        }
        expect("logmel", pr_logmel_frame_s16(&p, x, out, scratch, need), PR_OK);
        free(x);
    }
    expect("logmel scratch", pr_logmel_frame_s16(&p, out, out, scratch, need - 1),
           PR_ERR_SCRATCH);
    p.n_fft = 256;
    expect("logmel n_fft", pr_logmel_frame_s16(&p, out, out, scratch, need), PR_ERR_SHAPE);
    p.n_fft = n_fft;
    p.n_weights = total - 1;
    expect("logmel weights", pr_logmel_frame_s16(&p, out, out, scratch, need),
           total > 0 ? PR_ERR_PARAM : PR_ERR_SHAPE);
    free(first); free(count); free(order); free(scratch); free(out);
    free((void *)p.window); free((void *)p.fft_twiddles); free((void *)p.rfft_twiddles);
    free((void *)p.mel_weights); free((void *)p.log2_table);
}

/* Pitch track: random parameters within their limits, taps and log table of any
 * contents, signals and windows of random, extreme and constant samples (windows up
 * to the +-2^17 limit), frames to fill of any contents; then the error statuses. */
static void run_pitch(int32_t factor, int32_t width, int32_t n)
{
    const int32_t n_taps = 20 * factor + 1;
    pr_pitch_params p;
    int16_t *taps = rand_s16((size_t)n_taps);
    int16_t *s = rand_s16((size_t)n);
    int32_t *y = xmalloc((size_t)(n / factor + 2) * sizeof *y);
    int32_t *w = rand_s32(width, -(1 << 17), 1 << 17);
    int16_t out[2], *frames;
    int32_t i, T = (int32_t)pick(0, 50), stride = (int32_t)pick(2, 5);
    p.factor = factor; p.width = width;
    p.lag_min = (int32_t)pick(2, width - 2);
    p.lag_max = (int32_t)pick(p.lag_min, width - 2);
    p.log2_rate_q16 = (int32_t)pick(-2147483647 - 1, 2147483647);
    p.taps = taps;
    p.log2_table = rand_s32(PR_LOGMEL_LOG2_SIZE + 1, -2147483647 - 1, 2147483647);
    expect("pitch decimate", pr_pitch_decimate_s16(&p, s, n, (int32_t)pick(-5, 5),
                                                   n / factor + 2, y), PR_OK);
    for (i = 0; i < 4; ++i) {
        if (i > 0) {
            const int32_t v = i == 1 ? -(1 << 17) : (i == 2 ? (1 << 17) : 0);
            int32_t j;
            for (j = 0; j < width; ++j) {
                w[j] = v;
            }
        }
        expect("pitch frame", pr_pitch_frame_s32(&p, w, out), PR_OK);
    }
    frames = rand_s16((size_t)T * (size_t)stride);
    expect("pitch fill", pr_pitch_fill_s16(frames, T, stride, (int32_t)pick(0, stride - 2)),
           PR_OK);
    w[0] = (1 << 17) + 1;
    expect("pitch window", pr_pitch_frame_s32(&p, w, out), PR_ERR_SHAPE);
    p.lag_max = width - 1;
    expect("pitch lags", pr_pitch_frame_s32(&p, w, out), PR_ERR_PARAM);
    expect("pitch fill col", pr_pitch_fill_s16(frames, T, stride, stride - 1), PR_ERR_SHAPE);
    free(taps); free(s); free(y); free(w); free(frames); free((void *)p.log2_table);
}

int main(void)
{
    int i, j, k;
    for (i = 0; i < NSIZES; ++i) {
        for (j = 0; j < NSIZES; ++j) {
            const int32_t a = sizes[i], b = sizes[j], c = sizes[(i + j) % NSIZES];
            run_linear(a, b, c);
            run_bmm(1 + (int32_t)(rnd() % 4), a, b, c);
            run_softmax(1 + (int32_t)(rnd() % 3), a, b);
            run_layernorm(a, b);
            run_elementwise(a * b);
            run_requantize_s32(a * b);
            for (k = 1; k <= 5; k += 2) {
                run_conv(a, b, c, k);
                run_conv(a, b, c, k + 1);
            }
            run_pool(a, b, 1 + (int32_t)(rnd() % 6));
            run_pool(a, b, 40);
            run_norm(a, b);
        }
    }
    for (i = 0; i < 40; ++i) {
        const int32_t n_fft = i % 3 == 0 ? 32 : (i % 3 == 1 ? 128 : 512);
        run_logmel(n_fft, (int32_t)pick(1, n_fft), (int32_t)pick(1, 80));
    }
    run_logmel(512, 400, PR_LOGMEL_MAX_BANDS);
    for (i = 0; i < 40; ++i) {
        run_pitch((int32_t)pick(2, PR_PITCH_MAX_FACTOR), (int32_t)pick(4, 300),
                  (int32_t)pick(1, 3000));
    }
    run_pitch(PR_PITCH_MAX_FACTOR, PR_PITCH_MAX_WIDTH, 20000);
    run_pitch(4, 160, 48000);
    run_norm(1000, 1);
    run_norm(3, PR_NORM_MAX_BANDS);
    for (i = 0; i < 30; ++i) {
        const int32_t C = (int32_t)pick(1, 80), M = (int32_t)pick(1, C < 64 ? C : 64);
        run_functionals((int32_t)pick(1, 400), C, M, (int32_t)pick(1, M), 0);
    }
    run_functionals(2, 64, 64, 64, 1);
    run_functionals(PR_FUNC_MAX_FRAMES, 66, 64, 24, 1);
    for (i = 0; i < 20; ++i) {
        const int32_t C = (int32_t)pick(1, 70), M = (int32_t)pick(1, C < 64 ? C : 64);
        run_head((int32_t)pick(1, 300), C, M, (int32_t)pick(1, M),
                 (int32_t)pick(1, PR_HEAD_MAX_CLASSES), 0);
    }
    run_head(300, 64, 64, 24, 7, 1);
    run_head(PR_FUNC_MAX_FRAMES, 66, 64, 24, PR_HEAD_MAX_CLASSES, 1);
    run_layernorm(3, 4096);
    run_softmax(1, 2, 8192);
    /* beyond the small sizes: depths of several 256-deep chunks, tiles of rows, the
     * light models' shapes, softmax rows in groups, long depthwise sequences and
     * kernels with channels past a multiple of 8 */
    run_linear(70, 300, 37);
    run_linear(5, 520, 17);
    run_linear(300, 64, 16);
    run_bmm(2, 75, 75, 16);
    run_bmm(1, 133, 20, 300);
    run_softmax(2, 9, 75);
    run_softmax(1, 40, 300);
    run_softmax(1, 5, 2017);
    run_layernorm(20, 4095);
    run_elementwise(4807);
    run_conv(300, 13, 20, 3);
    run_conv(20, 100, 9, 5);
    run_conv(6, 11, 5, 5);
    run_conv(5, 11, 3, 301);
    printf("sanitize_driver: %ld calls, %d failures\n", calls, failures);
    return failures == 0 ? 0 : 1;
}
