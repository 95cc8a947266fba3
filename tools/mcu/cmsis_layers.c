/*
 * Bare-metal harness of CMSIS-NN's s8 kernels on the layer shapes of our light models
 * (cmsis_nn.py; the CMSIS-NN comparison of tools/mcu/README.md).
 *
 * cmsis_shapes.h (written by cmsis_nn.py) lists one row per shape that
 * `mcu.py --layers` reported: {kind, a, b, c, d, e, f} (the kinds below). For each
 * row the harness sets up the CMSIS-NN call (dimensions, parameters, the context's
 * scratch buffer from the kernel's *_get_buffer_size() query, cleared with memset)
 * outside the counted span, then calls mcu_mark right before and right after the
 * kernel call alone, so that the QEMU plugin insn_count.c counts exactly that call, as
 * layers.c does for ours. The counted range is the CMSIS-NN library and the
 * libgcc / libc routines it calls (cmsis_nn.py links it where link.ld puts the runtime).
 *
 *   KIND_FC     rows a, in b, out c: arm_fully_connected_per_channel_s8 (rows as
 *               batches), then the same product as a 1 x 1 convolution over a
 *               1 x rows image (arm_convolve_wrapper_s8: arm_convolve_1x1_s8_fast)
 *   KIND_CONV   len a, cin b, cout c, kernel d, stride e, pad f: arm_convolve_wrapper_s8
 *               on a 1 x len image (H = 1), filter 1 x kernel
 *   KIND_BMM_NT batches a, rows b, cols c, depth d: arm_batch_matmul_s8 (A B^T: its
 *               RHS is the transposed operand, as ours)
 *   KIND_BMM_NN batches a, rows b, cols c, depth d: B (depth, cols) transposed by
 *               arm_transpose_s8 (counted on its own), then arm_batch_matmul_s8
 *   KIND_SOFTMAX rows a (batches x rows), cols b: arm_softmax_s8 over whole rows
 *   KIND_DW     len a, ch b, kernel c: arm_depthwise_conv_wrapper_s8 on a 1 x len
 *               image, padding kernel / 2 on both sides (ours: the same)
 *
 * Output, one record per counted call, in the order of the marks (2 j, 2 j + 1):
 *   call <j> shape <i> <function> status <s>
 * then "done <n calls>".
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "arm_nnfunctions.h"
#include "arm_nnsupportfunctions.h"
#include "cmsis_shapes.h"

enum { KIND_FC, KIND_CONV, KIND_BMM_NT, KIND_BMM_NN, KIND_SOFTMAX, KIND_DW };

#define BUF_BYTES (128 * 1024)
#define MAX_CHANNELS 4096

static int8_t in_a[BUF_BYTES], in_b[BUF_BYTES], in_t[BUF_BYTES], out8[BUF_BYTES];
static int32_t bias[MAX_CHANNELS], mult[MAX_CHANNELS], shift[MAX_CHANNELS];
static int8_t scratch[BUF_BYTES] __attribute__((aligned(8)));
static uint32_t seed = 12345;
static int32_t n_calls;

__attribute__((noinline, used)) void mcu_mark(int32_t k)
{
    __asm__ volatile("" : : "r"(k) : "memory");
}

void mcu_systick_handler(void)
{
}

static uint32_t rnd(void)
{
    seed ^= seed << 13;
    seed ^= seed >> 17;
    seed ^= seed << 5;
    return seed;
}

/* The scratch buffer a kernel asked for, cleared (the caller's job in CMSIS-NN). */
static int set_scratch(cmsis_nn_context *ctx, int32_t bytes)
{
    if (bytes < 0 || bytes > (int32_t)sizeof scratch) {
        printf("scratch %ld bytes: too large\n", (long)bytes);
        return 0;
    }
    memset(scratch, 0, sizeof scratch);
    ctx->buf = scratch;
    ctx->size = bytes;
    return 1;
}

static void report(int32_t shape, const char *function, arm_cmsis_nn_status st)
{
    printf("call %ld shape %ld %s status %ld\n", (long)n_calls++, (long)shape, function,
           (long)st);
}

static int run_fc(int32_t i, const int32_t *s)
{
    const int32_t rows = s[1], in = s[2], out = s[3];
    cmsis_nn_context ctx;
    cmsis_nn_per_channel_quant_params q = {mult, shift};
    cmsis_nn_fc_params fc = {-5, 0, -3, {-128, 127}};
    cmsis_nn_dims id = {rows, 1, 1, in}, fd = {in, 1, 1, out}, bd = {1, 1, 1, out},
                  od = {rows, 1, 1, out};
    cmsis_nn_conv_params cp = {-5, -3, {1, 1}, {0, 0}, {1, 1}, {-128, 127}};
    cmsis_nn_dims cid = {1, 1, rows, in}, cfd = {out, 1, 1, in}, cod = {1, 1, rows, out};
    arm_cmsis_nn_status st;
    if (!set_scratch(&ctx, arm_fully_connected_s8_get_buffer_size(&fd))) {
        return 0;
    }
    if (ctx.size > 0) {   /* kernel sums (MVE builds only; 0 bytes with DSP) */
        arm_vector_sum_s8((int32_t *)ctx.buf, in, out, in_b, fc.input_offset, 0, bias);
    }
    mcu_mark(2 * n_calls);
    st = arm_fully_connected_per_channel_s8(&ctx, &fc, &q, &id, in_a, &fd, in_b, &bd, bias,
                                            &od, out8);
    mcu_mark(2 * n_calls + 1);
    report(i, "arm_fully_connected_per_channel_s8", st);
    if (!set_scratch(&ctx, arm_convolve_wrapper_s8_get_buffer_size(&cp, &cid, &cfd, &cod))) {
        return 0;
    }
    mcu_mark(2 * n_calls);
    st = arm_convolve_wrapper_s8(&ctx, &cp, &q, &cid, in_a, &cfd, in_b, &bd, bias, &cod, out8);
    mcu_mark(2 * n_calls + 1);
    report(i, arm_nn_is_convolve_1x1(&cp, &cid, &cfd) && arm_nn_is_convolve_1x1_fast(&cp)
                  ? "arm_convolve_1x1_s8_fast" : "arm_convolve_wrapper_s8", st);
    return 1;
}

static int run_conv(int32_t i, const int32_t *s)
{
    const int32_t len = s[1], cin = s[2], cout = s[3], k = s[4], stride = s[5], pad = s[6];
    const int32_t t_out = (len + 2 * pad - k) / stride + 1;
    cmsis_nn_context ctx;
    cmsis_nn_per_channel_quant_params q = {mult, shift};
    cmsis_nn_conv_params cp = {-5, -3, {stride, 1}, {pad, 0}, {1, 1}, {-128, 127}};
    cmsis_nn_dims id = {1, 1, len, cin}, fd = {cout, 1, k, cin}, bd = {1, 1, 1, cout},
                  od = {1, 1, t_out, cout};
    const char *name = arm_nn_is_convolve_1x1(&cp, &id, &fd) ? "arm_convolve_1x1_s8"
                       : arm_nn_is_convolve_1_x_n(&cp, &id, &fd) ? "arm_convolve_1_x_n_s8"
                       : "arm_convolve_s8";
    arm_cmsis_nn_status st;
    if (!set_scratch(&ctx, arm_convolve_wrapper_s8_get_buffer_size(&cp, &id, &fd, &od))) {
        return 0;
    }
    mcu_mark(2 * n_calls);
    st = arm_convolve_wrapper_s8(&ctx, &cp, &q, &id, in_a, &fd, in_b, &bd, bias, &od, out8);
    mcu_mark(2 * n_calls + 1);
    report(i, name, st);
    return 1;
}

/* A (batches, rows, depth) times B^T, B (batches, cols, depth); per-tensor requantization,
   zero points on both operands (ours: the same). */
static void bmm(int32_t i, const int32_t *s, const int8_t *b, int32_t lhs_offset)
{
    const int32_t batches = s[1], rows = s[2], cols = s[3], depth = s[4];
    cmsis_nn_context ctx = {NULL, 0};
    cmsis_nn_bmm_params bp = {false, false, {lhs_offset, -7, -3, {-128, 127}}};
    cmsis_nn_per_tensor_quant_params pq = {1 << 30, -9};
    cmsis_nn_dims ld = {1, batches, rows, depth}, rd = {1, batches, cols, depth},
                  od = {1, batches, rows, cols};
    arm_cmsis_nn_status st;
    mcu_mark(2 * n_calls);
    st = arm_batch_matmul_s8(&ctx, &bp, &pq, &ld, in_a, &rd, b, &od, out8);
    mcu_mark(2 * n_calls + 1);
    report(i, "arm_batch_matmul_s8", st);
}

static int run_bmm_nn(int32_t i, const int32_t *s)
{
    const int32_t batches = s[1], cols = s[3], depth = s[4];
    const uint32_t perm[4] = {0, 1, 3, 2};
    const cmsis_nn_transpose_params tp = {4, perm};
    cmsis_nn_dims vd = {1, batches, depth, cols}, td = {1, batches, cols, depth};
    arm_cmsis_nn_status st;
    mcu_mark(2 * n_calls);
    st = arm_transpose_s8(in_b, in_t, &vd, &td, &tp);
    mcu_mark(2 * n_calls + 1);
    report(i, "arm_transpose_s8", st);
    bmm(i, s, in_t, 128);   /* the probabilities' zero point is -128 */
    return 1;
}

static int run_softmax(int32_t i, const int32_t *s)
{
    /* TFLite's scaling for beta 1 and an input scale of 0.1 (5 integer bits): multiplier
       0.8 2^31, left shift 23, diff_min -248 */
    mcu_mark(2 * n_calls);
    arm_softmax_s8(in_a, s[1], s[2], 1717986918, 23, -248, out8);
    mcu_mark(2 * n_calls + 1);
    report(i, "arm_softmax_s8", ARM_CMSIS_NN_SUCCESS);
    return 1;
}

static int run_dw(int32_t i, const int32_t *s)
{
    const int32_t len = s[1], ch = s[2], k = s[3];
    cmsis_nn_context ctx;
    cmsis_nn_per_channel_quant_params q = {mult, shift};
    cmsis_nn_dw_conv_params dp = {-5, -3, 1, {1, 1}, {k / 2, 0}, {1, 1}, {-128, 127}};
    cmsis_nn_dims id = {1, 1, len, ch}, fd = {1, 1, k, ch}, bd = {1, 1, 1, ch},
                  od = {1, 1, len, ch};
    arm_cmsis_nn_status st;
    if (!set_scratch(&ctx, arm_depthwise_conv_wrapper_s8_get_buffer_size(&dp, &id, &fd, &od))) {
        return 0;
    }
    mcu_mark(2 * n_calls);
    st = arm_depthwise_conv_wrapper_s8(&ctx, &dp, &q, &id, in_a, &fd, in_b, &bd, bias, &od,
                                       out8);
    mcu_mark(2 * n_calls + 1);
    report(i, "arm_depthwise_conv_s8_opt", st);
    return 1;
}

int main(void)
{
    int32_t i, ok = 1;
    for (i = 0; i < BUF_BYTES; ++i) {
        in_a[i] = (int8_t)rnd();
        in_b[i] = (int8_t)((int32_t)(rnd() % 255) - 127);
    }
    for (i = 0; i < MAX_CHANNELS; ++i) {
        bias[i] = (int32_t)(rnd() % 20001) - 10000;
        mult[i] = (1 << 30) + (int32_t)(rnd() >> 2);
        shift[i] = -9;
    }
    for (i = 0; i < CMSIS_N_SHAPES && ok; ++i) {
        const int32_t *s = cmsis_shapes[i];
        switch (s[0]) {
        case KIND_FC: ok = run_fc(i, s); break;
        case KIND_CONV: ok = run_conv(i, s); break;
        case KIND_BMM_NT: bmm(i, s, in_b, -5); break;
        case KIND_BMM_NN: ok = run_bmm_nn(i, s); break;
        case KIND_SOFTMAX: ok = run_softmax(i, s); break;
        case KIND_DW: ok = run_dw(i, s); break;
        default: printf("unknown kind %ld\n", (long)s[0]); ok = 0; break;
        }
    }
    printf("done %ld\n", (long)n_calls);
    return ok ? 0 : 1;
}
