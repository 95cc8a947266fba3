/* pr_bmm_nt_s8: batched A B^T of int8 operands with zero points (Q K^T). */
#include "pr_check_internal.h"

/* sum_k (a[k] - za) (b[k] - zb); |each term| <= 255^2, depth <= 2^15: no overflow. */
static int32_t pr_bmm_dot_zp(int32_t n, const int8_t *a, int32_t za, const int8_t *b,
                             int32_t zb)
{
    int32_t acc = 0;
    int32_t k;
    for (k = 0; k < n; ++k) {
        acc += ((int32_t)a[k] - za) * ((int32_t)b[k] - zb);
    }
    return acc;
}

pr_status pr_bmm_nt_s8(const pr_bmm_params *p, const int8_t *a, const int8_t *b,
                       int8_t *out)
{
    int64_t h, i, j;
    const pr_status st = pr_bmm_nt_check(p, a, b, out);
    if (st != PR_OK) {
        return st;
    }
    for (h = 0; h < p->batches; ++h) {
        for (i = 0; i < p->rows; ++i) {
            const int8_t *ai = a + h * p->a_batch_stride + i * p->a_row_stride;
            int8_t *oi = out + h * p->out_batch_stride + i * p->out_row_stride;
            for (j = 0; j < p->cols; ++j) {
                const int8_t *bj = b + h * p->b_batch_stride + j * p->b_row_stride;
                const int32_t acc = pr_bmm_dot_zp(p->depth, ai, p->a_zero_point, bj,
                                                  p->b_zero_point);
                oi[j] = (int8_t)pr_q_requantize(acc, p->multiplier, p->shift,
                                                p->out_zero_point, p->act_min, p->act_max);
            }
        }
    }
    return PR_OK;
}
