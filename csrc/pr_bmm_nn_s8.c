/* pr_bmm_nn_s8: batched A B of int8 operands with zero points (A V). */
#include "pr_check_internal.h"

pr_status pr_bmm_nn_s8(const pr_bmm_params *p, const int8_t *a, const int8_t *b,
                       int8_t *out, int32_t *scratch, int64_t scratch_len)
{
    int64_t h, i, k;
    int32_t j;
    const pr_status st = pr_bmm_nn_check(p, a, b, out, scratch, scratch_len);
    if (st != PR_OK) {
        return st;
    }
    /* locals: the compiler cannot prove that scratch does not alias *p */
    const int32_t N = p->cols;
    const int32_t za = p->a_zero_point;
    const int32_t zb = p->b_zero_point;
    for (h = 0; h < p->batches; ++h) {
        for (i = 0; i < p->rows; ++i) {
            const int8_t *ai = a + h * p->a_batch_stride + i * p->a_row_stride;
            int8_t *oi = out + h * p->out_batch_stride + i * p->out_row_stride;
            for (j = 0; j < N; ++j) {
                scratch[j] = 0;
            }
            /* acc[j] += (a[i,k] - za) (b[k,j] - zb), row by row of b: contiguous in j */
            for (k = 0; k < p->depth; ++k) {
                const int32_t aik = (int32_t)ai[k] - za;
                const int8_t *bk = b + h * p->b_batch_stride + k * p->b_row_stride;
                for (j = 0; j < N; ++j) {
                    scratch[j] += aik * ((int32_t)bk[j] - zb);
                }
            }
            for (j = 0; j < N; ++j) {
                oi[j] = (int8_t)pr_q_requantize(scratch[j], p->multiplier, p->shift,
                                                p->out_zero_point, p->act_min, p->act_max);
            }
        }
    }
    return PR_OK;
}
