/*
 * pr_conv1d_s8, AVX-512 VNNI variant: same prototype, checks and results as
 * csrc/pr_conv1d_s8.c (chosen at build time by csrc/build_ffi.py). The output frames
 * whose window lies inside x are the rows of one product (pr_x86_mm_avx512vnni.c, rows
 * overlapping when stride < kernel); the few frames with padded taps (before t_lo,
 * after t_hi) are copied with their padded taps, which hold in_zero_point exactly as
 * in the reference's sum, into a small buffer whose rows are another product (or,
 * when they do not fit it, summed one by one as in the reference).
 */
#include "pr_x86_common.h"

enum { PR512_EDGE_BYTES = 4096 };

/* Output frames t0 .. t1 - 1 (all with padded taps). */
static void pr512_conv1d_edges(const pr_conv1d_params *p, const int8_t *x, const int8_t *w,
                               const int32_t *bias, const int32_t *multiplier,
                               const int32_t *shift, int8_t *y, int64_t t0, int64_t t1)
{
    int8_t buf[PR512_EDGE_BYTES];
    const int64_t depth = (int64_t)p->kernel * p->in_channels;
    int64_t t;
    int32_t k;
    pr_mm m = pr_mm_conv1d(p, x, w, bias, multiplier, shift, y, t0, t1);
    if (t1 <= t0) {
        return;
    }
    if ((t1 - t0) * depth > PR512_EDGE_BYTES) { /* the reference's sums, frame by frame */
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
    pr_x86_avx512_mm(&m);
}

pr_status pr_conv1d_s8(const pr_conv1d_params *p, const int8_t *x, const int8_t *w,
                       const int32_t *bias, const int32_t *multiplier,
                       const int32_t *shift, int8_t *y)
{
    int64_t T_out, t_lo, t_hi;
    pr_mm m;
    const pr_status st = pr_conv1d_check(p, x, w, multiplier, shift, y, &T_out);
    if (st != PR_OK) {
        return st;
    }
    pr_conv1d_interior(p, T_out, &t_lo, &t_hi);
    pr512_conv1d_edges(p, x, w, bias, multiplier, shift, y, 0, t_lo);
    pr512_conv1d_edges(p, x, w, bias, multiplier, shift, y, t_hi, T_out);
    if (t_hi > t_lo) {
        m = pr_mm_conv1d(p, x, w, bias, multiplier, shift, y, t_lo, t_hi);
        pr_x86_avx512_mm(&m);
    }
    return PR_OK;
}
