/*
 * Internal: what the x86 SIMD variants of the int8 kernels share (not public API).
 *
 * The files in csrc/x86/ are *variants*: pr_<op>_<isa>.c defines the same public
 * function as the portable reference csrc/pr_<op>.c, with the same prototype, the
 * same argument checks (the reference's own, csrc/pr_check_internal.h) and
 * bit-identical results. csrc/build_ffi.py chooses at build time which one is
 * compiled (PYREPARAM_SIMD=auto|none|avx2|avx512vnni); any other build (Cortex-M,
 * tools/sanitize.sh) compiles only the .c files of csrc/ and gets the reference.
 * The product kernels (linear, conv1d, the attention products) check their
 * arguments and describe their work as one or more matrix products (pr_mm
 * below), computed by the shared kernels pr_x86_mm_<isa>.c, which a build of that
 * level compiles once; the element-wise and row kernels (softmax, LayerNorm, the
 * residual adds, depthwise conv1d) use the lane fixed point of pr_x86_q256.h (AVX2, 8
 * lanes) or pr_x86_q512.h (AVX-512, 16 lanes).
 *
 * Variants (both levels): linear_s8, linear_s8_s16, conv1d_s8, bmm_nt_s8, bmm_nn_s8,
 *            softmax_s8, layernorm_s16_s8, add_s16, add_s16_s8, depthwise_conv1d_s8,
 *            mul_s8, lut_s8
 *
 * The instruction set is enabled per function with __attribute__((target(...)))
 * (gcc >= 4.9, clang), so no global -m flag is needed and nothing outside these
 * files can pick up AVX instructions. Everything is exact integer arithmetic: the
 * dot products are exact int32 sums, and the requantization repeats the
 * reference's integer steps lane by lane (pr_q_internal.h, reference/int8.md).
 */
#ifndef PR_X86_COMMON_H
#define PR_X86_COMMON_H

#include <string.h>

#include "pr_check_internal.h"
#include "pr_mm_internal.h"

#if !(defined(__GNUC__) || defined(__clang__)) || !(defined(__x86_64__) || defined(__i386__))
#error "csrc/x86/ needs gcc or clang on x86; build with PYREPARAM_SIMD=none"
#endif

#define PR_TARGET_AVX2 __attribute__((target("avx2")))
#define PR_TARGET_AVX512 __attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512vnni")))

/* Unaligned 32-bit load of 4 bytes (memcpy: no alignment or aliasing assumption). */
static inline int32_t pr_x86_load32(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The first n < 4 bytes of p in the low bytes of a word, the other bytes `fill`. */
static inline int32_t pr_x86_load32_tail(const int8_t *p, int32_t n, int8_t fill)
{
    int8_t b[4];
    int32_t v;
    int32_t q;
    for (q = 0; q < 4; ++q) {
        b[q] = q < n ? p[q] : fill;
    }
    memcpy(&v, b, sizeof v);
    return v;
}

/* The product's descriptor pr_mm and its builders: pr_mm_internal.h. */

/* pr_x86_mm_avx512vnni.c: the product on AVX-512 VNNI (b_kn 0 or 1). */
void pr_x86_avx512_mm(const pr_mm *m);

/* pr_x86_mm_avx2.c: the product on AVX2 (b_kn 0 or 1). */
void pr_x86_avx2_mm(const pr_mm *m);

/* The reference's requantization of one value of a product (for edge frames). */
static inline void pr_x86_store_one(const pr_mm *m, int64_t i, int32_t j, int32_t acc)
{
    const int32_t jj = m->per_tensor ? 0 : j;
    const int32_t sum = m->bias != NULL ? pr_q_add_sat32(acc, m->bias[j]) : acc;
    const int32_t v = pr_q_requantize(sum, m->multiplier[jj], m->shift[jj],
                                      m->out_zero_point, m->act_min, m->act_max);
    if (m->y_bytes == 1) {
        ((int8_t *)m->y)[i * m->y_step + j] = (int8_t)v;
    } else {
        ((int16_t *)m->y)[i * m->y_step + j] = (int16_t)v;
    }
}

/* Output frame t of conv1d when its window has padded frames: the reference's sum. */
static inline void pr_x86_conv1d_edge_frame(const pr_conv1d_params *p, const int8_t *x,
                                            const int8_t *w, const pr_mm *m, int64_t t)
{
    const int32_t K = p->kernel;
    const int32_t Cin = p->in_channels;
    const int64_t start = t * p->stride - p->padding;
    int32_t c, k, i;
    for (c = 0; c < p->out_channels; ++c) {
        const int8_t *wc = w + (int64_t)c * K * Cin;
        int32_t acc = 0;
        for (k = 0; k < K; ++k) {
            const int64_t pos = start + k;
            const int8_t *wk = wc + (int64_t)k * Cin;
            for (i = 0; i < Cin; ++i) {
                const int32_t xv = (pos >= 0 && pos < p->in_len) ? x[pos * Cin + i]
                                                                 : p->in_zero_point;
                acc += xv * wk[i];
            }
        }
        pr_x86_store_one(m, t, c, acc);
    }
}

/*
 * conv1d's output frames t0 .. t1 - 1, all with padded taps (before t_lo, after t_hi):
 * copied with their padded taps, which hold in_zero_point exactly as in the
 * reference's sum, into a small buffer whose rows are another product (mm, a SIMD
 * product of pr_mm), or, when they do not fit it, summed one by one as in the
 * reference.
 */
enum { PR_X86_EDGE_BYTES = 4096 };

static inline void pr_x86_conv1d_edges(const pr_conv1d_params *p, const int8_t *x,
                                       const int8_t *w, const int32_t *bias,
                                       const int32_t *multiplier, const int32_t *shift,
                                       int8_t *y, int64_t t0, int64_t t1,
                                       void (*mm)(const pr_mm *))
{
    int8_t buf[PR_X86_EDGE_BYTES];
    const int64_t depth = (int64_t)p->kernel * p->in_channels;
    int64_t t;
    int32_t k;
    pr_mm m = pr_mm_conv1d(p, x, w, bias, multiplier, shift, y, t0, t1);
    if (t1 <= t0) {
        return;
    }
    if ((t1 - t0) * depth > PR_X86_EDGE_BYTES) { /* the reference's sums, frame by frame */
        m = pr_mm_conv1d(p, x, w, bias, multiplier, shift, y, 0, 0); /* y from frame 0 */
        for (t = t0; t < t1; ++t) {
            pr_x86_conv1d_edge_frame(p, x, w, &m, t);
        }
        return;
    }
    for (t = t0; t < t1; ++t) {
        for (k = 0; k < p->kernel; ++k) {
            const int64_t pos = t * p->stride - p->padding + k;
            int8_t *dst = buf + (t - t0) * depth + (int64_t)k * p->in_channels;
            if (pos >= 0 && pos < p->in_len) {
                memcpy(dst, x + pos * p->in_channels, (size_t)p->in_channels);
            } else {
                memset(dst, p->in_zero_point, (size_t)p->in_channels);
            }
        }
    }
    m.a = buf;
    m.a_step = depth;
    mm(&m);
}

#endif /* PR_X86_COMMON_H */
