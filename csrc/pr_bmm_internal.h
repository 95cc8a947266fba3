/* Internal: argument checks shared by pr_bmm_nt_s8 / pr_bmm_nn_s8 (not public API). */
#ifndef PR_BMM_INTERNAL_H
#define PR_BMM_INTERNAL_H

#include "pr_q_internal.h"

/* Offset of the last element of a strided (batches, rows, cols) operand. */
static inline int64_t pr_bmm_last(int32_t batches, int32_t batch_stride, int32_t rows,
                                  int32_t row_stride, int32_t cols)
{
    return (int64_t)(batches - 1) * batch_stride + (int64_t)(rows - 1) * row_stride +
           (cols - 1);
}

/*
 * Check the parameters; b_rows x b_cols is b's logical shape per batch (N x K for
 * A B^T, K x N for A B).
 */
static inline pr_status pr_bmm_check(const pr_bmm_params *p, int32_t b_rows,
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

#endif /* PR_BMM_INTERNAL_H */
