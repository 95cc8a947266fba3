/*
 * Internal: the argument checks of the int8 kernels (not public API), one function
 * per public kernel. The portable reference kernels of csrc/ and their variants
 * (csrc/x86/, csrc/arm/) all call these, so that every build returns the same status
 * for the same arguments: the checks run in the order PR_ERR_NULL, PR_ERR_SHAPE,
 * PR_ERR_OVERFLOW, PR_ERR_PARAM, PR_ERR_SCRATCH, and the first failing one gives the
 * status (tests/test_quant_simd.py and tools/mcu/kernel_test.c compare the variants'
 * statuses with the reference's). Each returns PR_OK when the kernel may run.
 */
#ifndef PR_CHECK_INTERNAL_H
#define PR_CHECK_INTERNAL_H

#include "pr_q_internal.h"

/*
 * The checks are always inlined (gcc, clang), so that the kernels compile as they did
 * with their checks written in place: gcc -O2 inlined a plain static inline check
 * only after optimizing the kernel, and the Cortex-M4 residual add and linear layer
 * came out up to 0.27 M instructions per inference slower (tools/mcu/run.sh).
 */
#if defined(__GNUC__)
#define PR_CHECK_INLINE static inline __attribute__((always_inline))
#else
#define PR_CHECK_INLINE static inline
#endif

/* ---- products -------------------------------------------------------------------- */

/* pr_linear_s8 / pr_linear_s8_s16 but its last check, the per-channel multipliers and
 * shifts (pr_linear_check; the Arm DSP variants fuse that one with a scan of their
 * own); out_lo / out_hi: the output type's range, zp_lo / zp_hi: the allowed output
 * zero points. */
PR_CHECK_INLINE pr_status pr_linear_check_args(const pr_linear_params *p, const int8_t *x,
                                               const int8_t *w, const int32_t *multiplier,
                                               const int32_t *shift, const void *y,
                                               int32_t out_lo, int32_t out_hi,
                                               int32_t zp_lo, int32_t zp_hi)
{
    if (p == NULL || x == NULL || w == NULL || multiplier == NULL || shift == NULL ||
        y == NULL) {
        return PR_ERR_NULL;
    }
    if (p->rows < 1 || p->in_features < 1 || p->in_features > PR_Q_MAX_DEPTH ||
        p->out_features < 1) {
        return PR_ERR_SHAPE;
    }
    if (!pr_q_count_ok(p->rows, p->in_features) ||
        !pr_q_count_ok(p->rows, p->out_features) ||
        !pr_q_count_ok(p->out_features, p->in_features)) {
        return PR_ERR_OVERFLOW;
    }
    if (!pr_q_out_range_ok(p->out_zero_point, p->act_min, p->act_max, out_lo, out_hi) ||
        p->out_zero_point < zp_lo || p->out_zero_point > zp_hi) {
        return PR_ERR_PARAM;
    }
    return PR_OK;
}

/* pr_linear_s8 / pr_linear_s8_s16 (the arguments as for pr_linear_check_args). */
PR_CHECK_INLINE pr_status pr_linear_check(const pr_linear_params *p, const int8_t *x,
                                          const int8_t *w, const int32_t *multiplier,
                                          const int32_t *shift, const void *y,
                                          int32_t out_lo, int32_t out_hi, int32_t zp_lo,
                                          int32_t zp_hi)
{
    const pr_status st = pr_linear_check_args(p, x, w, multiplier, shift, y, out_lo, out_hi,
                                              zp_lo, zp_hi);
    if (st != PR_OK) {
        return st;
    }
    return pr_q_multipliers_ok(p->out_features, multiplier, shift) ? PR_OK : PR_ERR_PARAM;
}

/* pr_conv1d_s8; *T_out receives the number of output frames (when the shape is valid). */
PR_CHECK_INLINE pr_status pr_conv1d_check(const pr_conv1d_params *p, const int8_t *x,
                                          const int8_t *w, const int32_t *multiplier,
                                          const int32_t *shift, const int8_t *y,
                                          int64_t *T_out)
{
    int64_t depth;
    if (p == NULL || x == NULL || w == NULL || multiplier == NULL || shift == NULL ||
        y == NULL) {
        return PR_ERR_NULL;
    }
    if (p->in_len < 1 || p->in_channels < 1 || p->out_channels < 1 || p->kernel < 1 ||
        p->stride < 1 || p->padding < 0 || p->padding >= p->kernel ||
        (int64_t)p->kernel * p->in_channels > PR_Q_MAX_DEPTH ||
        (int64_t)p->in_len + 2 * (int64_t)p->padding < p->kernel) {
        return PR_ERR_SHAPE;
    }
    depth = (int64_t)p->kernel * p->in_channels;
    *T_out = ((int64_t)p->in_len + 2 * (int64_t)p->padding - p->kernel) / p->stride + 1;
    if (!pr_q_count_ok(p->in_len, p->in_channels) ||
        !pr_q_count_ok(*T_out, p->out_channels) || !pr_q_count_ok(p->out_channels, depth)) {
        return PR_ERR_OVERFLOW;
    }
    if (p->in_zero_point < -128 || p->in_zero_point > 127 ||
        !pr_q_out_range_ok(p->out_zero_point, p->act_min, p->act_max, -128, 127) ||
        !pr_q_multipliers_ok(p->out_channels, multiplier, shift)) {
        return PR_ERR_PARAM;
    }
    return PR_OK;
}

/*
 * The output frames [*t_lo, *t_hi) of a checked conv1d whose window lies inside x (no
 * padded frame): the variants compute them as the rows of one product, the others
 * one by one.
 */
PR_CHECK_INLINE void pr_conv1d_interior(const pr_conv1d_params *p, int64_t T_out,
                                        int64_t *t_lo, int64_t *t_hi)
{
    const int64_t last_start = (int64_t)p->in_len - p->kernel; /* start <= last_start */
    int64_t lo = (p->padding + p->stride - 1) / p->stride;     /* t stride >= padding */
    int64_t hi = last_start + p->padding < 0 ? 0 : (last_start + p->padding) / p->stride + 1;
    hi = hi < T_out ? hi : T_out;
    lo = lo < hi ? lo : hi;
    *t_lo = lo;
    *t_hi = hi;
}

/* Offset of the last element of a strided (batches, rows, cols) operand. */
PR_CHECK_INLINE int64_t pr_bmm_last(int32_t batches, int32_t batch_stride, int32_t rows,
                                    int32_t row_stride, int32_t cols)
{
    return (int64_t)(batches - 1) * batch_stride + (int64_t)(rows - 1) * row_stride +
           (cols - 1);
}

/*
 * The parameters of pr_bmm_nt_s8 / pr_bmm_nn_s8 (after the pointers); b_rows x b_cols
 * is b's logical shape per batch (N x K for A B^T, K x N for A B).
 */
PR_CHECK_INLINE pr_status pr_bmm_check_params(const pr_bmm_params *p, int32_t b_rows,
                                              int32_t b_cols)
{
    if (p->batches < 1 || p->rows < 1 || p->cols < 1 || p->depth < 1 ||
        p->depth > PR_Q_MAX_DEPTH || p->a_batch_stride < 0 || p->a_row_stride < 0 ||
        p->b_batch_stride < 0 || p->b_row_stride < 0 || p->out_batch_stride < 0 ||
        p->out_row_stride < 0) {
        return PR_ERR_SHAPE;
    }
    if (pr_bmm_last(p->batches, p->a_batch_stride, p->rows, p->a_row_stride, p->depth) >=
            PR_Q_MAX_ELEMS ||
        pr_bmm_last(p->batches, p->b_batch_stride, b_rows, p->b_row_stride, b_cols) >=
            PR_Q_MAX_ELEMS ||
        pr_bmm_last(p->batches, p->out_batch_stride, p->rows, p->out_row_stride,
                    p->cols) >= PR_Q_MAX_ELEMS) {
        return PR_ERR_OVERFLOW;
    }
    if (p->a_zero_point < -128 || p->a_zero_point > 127 || p->b_zero_point < -128 ||
        p->b_zero_point > 127 ||
        !pr_q_out_range_ok(p->out_zero_point, p->act_min, p->act_max, -128, 127) ||
        !pr_q_multiplier_ok(p->multiplier, p->shift)) {
        return PR_ERR_PARAM;
    }
    return PR_OK;
}

/* pr_bmm_nt_s8 (A B^T). */
PR_CHECK_INLINE pr_status pr_bmm_nt_check(const pr_bmm_params *p, const int8_t *a,
                                          const int8_t *b, const int8_t *out)
{
    if (p == NULL || a == NULL || b == NULL || out == NULL) {
        return PR_ERR_NULL;
    }
    return pr_bmm_check_params(p, p->cols, p->depth);
}

/* pr_bmm_nn_s8 (A B), with its scratch of p->cols int32. */
PR_CHECK_INLINE pr_status pr_bmm_nn_check(const pr_bmm_params *p, const int8_t *a,
                                          const int8_t *b, const int8_t *out,
                                          const int32_t *scratch, int64_t scratch_len)
{
    pr_status st;
    if (p == NULL || a == NULL || b == NULL || out == NULL) {
        return PR_ERR_NULL;
    }
    st = pr_bmm_check_params(p, p->depth, p->cols);
    if (st != PR_OK) {
        return st;
    }
    if (scratch == NULL || scratch_len < p->cols) {
        return PR_ERR_SCRATCH;
    }
    return PR_OK;
}

/* pr_depthwise_conv1d_s8, with its scratch of p->channels int32. */
PR_CHECK_INLINE pr_status pr_dwconv1d_check(const pr_dwconv1d_params *p, const int8_t *x,
                                            const int8_t *w, const int32_t *multiplier,
                                            const int32_t *shift, const int8_t *y,
                                            const int32_t *scratch, int64_t scratch_len)
{
    if (p == NULL || x == NULL || w == NULL || multiplier == NULL || shift == NULL ||
        y == NULL) {
        return PR_ERR_NULL;
    }
    if (p->in_len < 1 || p->channels < 1 || p->kernel < 1 || p->kernel % 2 == 0 ||
        p->kernel > PR_Q_MAX_DEPTH) {
        return PR_ERR_SHAPE;
    }
    if (!pr_q_count_ok(p->in_len, p->channels) || !pr_q_count_ok(p->kernel, p->channels)) {
        return PR_ERR_OVERFLOW;
    }
    if (p->in_zero_point < -128 || p->in_zero_point > 127 ||
        !pr_q_out_range_ok(p->out_zero_point, p->act_min, p->act_max, -128, 127) ||
        !pr_q_multipliers_ok(p->channels, multiplier, shift)) {
        return PR_ERR_PARAM;
    }
    if (scratch == NULL || scratch_len < p->channels) {
        return PR_ERR_SCRATCH;
    }
    return PR_OK;
}

/* ---- element-wise and row kernels ------------------------------------------------- */

/* pr_add_s16 / pr_add_s16_s8; b_zp_lo / b_zp_hi: the allowed zero points of b. */
PR_CHECK_INLINE pr_status pr_add_check(const pr_add_params *p, const int16_t *a,
                                       const void *b, const int16_t *y, int32_t b_zp_lo,
                                       int32_t b_zp_hi)
{
    if (p == NULL || a == NULL || b == NULL || y == NULL) {
        return PR_ERR_NULL;
    }
    if (p->size < 1) {
        return PR_ERR_SHAPE;
    }
    if (!pr_q_multiplier_ok(p->a_multiplier, p->a_shift) ||
        !pr_q_multiplier_ok(p->b_multiplier, p->b_shift) ||
        !pr_q_multiplier_ok(p->out_multiplier, p->out_shift) ||
        p->b_zero_point < b_zp_lo || p->b_zero_point > b_zp_hi ||
        !pr_q_out_range_ok(0, p->act_min, p->act_max, -32768, 32767)) {
        return PR_ERR_PARAM;
    }
    return PR_OK;
}

/* pr_mul_s8. */
PR_CHECK_INLINE pr_status pr_mul_check(const pr_mul_params *p, const int8_t *a,
                                       const int8_t *b, const int8_t *y)
{
    if (p == NULL || a == NULL || b == NULL || y == NULL) {
        return PR_ERR_NULL;
    }
    if (p->size < 1) {
        return PR_ERR_SHAPE;
    }
    if (p->a_zero_point < -128 || p->a_zero_point > 127 || p->b_zero_point < -128 ||
        p->b_zero_point > 127 || !pr_q_multiplier_ok(p->multiplier, p->shift) ||
        !pr_q_out_range_ok(p->out_zero_point, p->act_min, p->act_max, -128, 127)) {
        return PR_ERR_PARAM;
    }
    return PR_OK;
}

/* pr_lut_s8. */
PR_CHECK_INLINE pr_status pr_lut_check(int32_t n, const int8_t *x, const int8_t *table,
                                       const int8_t *y)
{
    if (x == NULL || table == NULL || y == NULL) {
        return PR_ERR_NULL;
    }
    if (n < 1) {
        return PR_ERR_SHAPE;
    }
    return PR_OK;
}

/* LayerNorm's n per-channel pairs: any multiplier but INT32_MIN (a negative one carries
 * gamma's sign), shift in [-31, 30]. */
static inline int pr_layernorm_multipliers_ok(int32_t n, const int32_t *multiplier,
                                              const int32_t *shift)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        if (multiplier[i] == PR_Q_INT32_MIN || shift[i] < PR_Q_SHIFT_MIN ||
            shift[i] > PR_Q_SHIFT_MAX) {
            return 0;
        }
    }
    return 1;
}

/* pr_layernorm_s16_s8. */
PR_CHECK_INLINE pr_status pr_layernorm_check(const pr_layernorm_params *p,
                                             const int16_t *x, const int32_t *multiplier,
                                             const int32_t *shift, const int32_t *offset,
                                             const int8_t *y)
{
    if (p == NULL || x == NULL || multiplier == NULL || shift == NULL || offset == NULL ||
        y == NULL) {
        return PR_ERR_NULL;
    }
    if (p->rows < 1 || p->channels < 1 || p->channels > PR_LAYERNORM_MAX_CHANNELS) {
        return PR_ERR_SHAPE;
    }
    if (!pr_q_count_ok(p->rows, p->channels)) {
        return PR_ERR_OVERFLOW;
    }
    if (p->eps < 0 || p->eps > ((int64_t)1 << 60) ||
        !pr_q_out_range_ok(p->out_zero_point, p->act_min, p->act_max, -128, 127)) {
        return PR_ERR_PARAM;
    }
    if (!pr_layernorm_multipliers_ok(p->channels, multiplier, shift)) {
        return PR_ERR_PARAM;
    }
    return PR_OK;
}

/*
 * pr_softmax_s8 up to its table: the pointers and the shape. The table comes last
 * (PR_ERR_PARAM unless pr_softmax_table_ok); the AVX-512 variant checks it with its
 * own vector loop, with the same result.
 */
PR_CHECK_INLINE pr_status pr_softmax_check_shape(const pr_softmax_params *p,
                                                 const int8_t *x,
                                                 const int32_t *exp_table,
                                                 const int8_t *y)
{
    if (p == NULL || x == NULL || exp_table == NULL || y == NULL) {
        return PR_ERR_NULL;
    }
    if (p->batches < 1 || p->rows < 1 || p->cols < 1 || p->cols > PR_SOFTMAX_MAX_COLS ||
        p->window < 0 || (p->window > 0 && p->window % 2 == 0)) {
        return PR_ERR_SHAPE;
    }
    if (!pr_q_count_ok((int64_t)p->batches * p->rows, p->cols)) {
        return PR_ERR_OVERFLOW;
    }
    return PR_OK;
}

/* The keys lo .. hi - 1 that query position t may attend to: every key without a
 * window (p->window == 0), else the window's keys; lo == hi when it misses them all. */
PR_CHECK_INLINE void pr_softmax_window(const pr_softmax_params *p, int64_t t, int32_t *lo,
                                       int32_t *hi)
{
    int64_t first = 0;
    int64_t end = p->cols;
    if (p->window > 0) {
        first = t - p->window / 2 > 0 ? t - p->window / 2 : 0;
        end = t + p->window / 2 + 1 < end ? t + p->window / 2 + 1 : end;
        if (first > end) {
            first = end;
        }
    }
    *lo = (int32_t)first;
    *hi = (int32_t)end;
}

/* The softmax table must hold exp values in Q16 with a non-zero entry for d = 0. */
PR_CHECK_INLINE int pr_softmax_table_ok(const int32_t *exp_table)
{
    int32_t d;
    if (exp_table[0] < 1) {
        return 0;
    }
    for (d = 0; d < 256; ++d) {
        if (exp_table[d] < 0 || exp_table[d] > PR_SOFTMAX_EXP_ONE) {
            return 0;
        }
    }
    return 1;
}

#endif /* PR_CHECK_INTERNAL_H */
