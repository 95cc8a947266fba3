/*
 * pr_bmm_nn_s8, Arm DSP variant: same prototype, checks and results as
 * csrc/pr_bmm_nn_s8.c (chosen at build time). Output row i, columns j .. j + 3 in
 * four registers: for each k, the word b[k, j .. j + 3] is split by SXTB16 into
 * lanes (j, j + 2) and (j + 1, j + 3), each multiplied by a[i, k] - za with SMLABB /
 * SMLATB (bottom / top lane times the bottom half). The b zero point comes from
 *   sum_k (a_k - za)(b_kj - zb) = sum_k (a_k - za) b_kj - zb sum_k (a_k - za),
 * exact in int32 (|a_k - za| <= 255, depth <= 2^15). The scratch is not needed but
 * its size is checked as in the reference.
 *
 * When the depth is at least PR_ARM_NN_T_DEPTH (global attention, not a window's few
 * keys) and one batch's values fit PR_ARM_NN_T_BYTES, they are transposed into a stack
 * buffer (cols x depth) and the product is that of pr_bmm_nt_s8 (pr_arm_mm_dsp.c: the
 * 4-row path, or 2 x 2 blocks): fewer instructions per multiply-accumulate than the
 * column loop below, which remains for short depths (where the copy does not pay and
 * the depth trimming does) and for larger values.
 */
#include "pr_arm_common.h"

/* Columns j .. j + 3 of one output row: the four sums sum_k a'_k b[k, j + c]. */
static void pr_arm_bmm_nn_cols4(int32_t K, const int8_t *ai, int32_t za, const int8_t *bj,
                                int64_t b_row_stride, int32_t s[4])
{
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int32_t k;
    for (k = 0; k < K; ++k) {
        const int32_t ak = (int32_t)ai[k] - za;      /* bottom half: int16 a'_k */
        const int32_t w = pr_arm_load32(bj + k * b_row_stride);
        const int32_t we = pr_arm_even(w), wo = pr_arm_odd(w);
        s0 = __smlabb(we, ak, s0);
        s2 = __smlatb(we, ak, s2);
        s1 = __smlabb(wo, ak, s1);
        s3 = __smlatb(wo, ak, s3);
    }
    s[0] = s0;
    s[1] = s1;
    s[2] = s2;
    s[3] = s3;
}

/* The requantization: pr_arm_fast_rq when q->fast (its precondition holds: |acc| <=
 * depth 255^2 < 2^30, checked by the caller), else pr_arm_rq_apply. */
typedef struct {
    pr_arm_rq rq;
    int32_t fast, n, c;
} pr_arm_bmm_nn_q;

PR_ARM_INLINE int32_t pr_arm_bmm_nn_rq(const pr_arm_bmm_nn_q *q, int32_t acc)
{
    int32_t v;
    if (!q->fast) {
        return pr_arm_rq_apply(&q->rq, acc);
    }
    v = pr_arm_fast_rq(acc, q->rq.multiplier, q->n, q->c);
    return v < q->rq.act_min ? q->rq.act_min : (v > q->rq.act_max ? q->rq.act_max : v);
}

/* One output row: out[j] = requant(sum_k (a_k - za)(b[k, j] - zb)). Terms with
 * a_k = za are exactly 0 (in the correction too), so the depth is trimmed to the
 * first and last k with a_k != za: attention's probabilities are za = -128 outside
 * a query's window. */
static void pr_arm_bmm_nn_row(const pr_bmm_params *p, const pr_arm_bmm_nn_q *q, const int8_t *ai,
                              const int8_t *b, int8_t *oi)
{
    const int32_t N = p->cols, za = p->a_zero_point, zb = p->b_zero_point;
    int32_t k0 = 0, K = p->depth;
    uint32_t corr;
    int32_t j = 0, k, c;
    int32_t s[4];
    while (K > 0 && ai[K - 1] == za) {
        --K;
    }
    while (k0 < K && ai[k0] == za) {
        ++k0;
    }
    ai += k0;
    b += (int64_t)k0 * p->b_row_stride;
    K -= k0;
    corr = (uint32_t)zb * (uint32_t)(pr_arm_sum_s8(K, ai) - K * za);
    for (; j + 4 <= N; j += 4) {
        pr_arm_bmm_nn_cols4(K, ai, za, b + j, p->b_row_stride, s);
        for (c = 0; c < 4; ++c) {
            oi[j + c] = (int8_t)pr_arm_bmm_nn_rq(q, (int32_t)((uint32_t)s[c] - corr));
        }
    }
    for (; j < N; ++j) {
        int32_t acc = 0;
        for (k = 0; k < K; ++k) {
            acc += ((int32_t)ai[k] - za) * ((int32_t)b[(int64_t)k * p->b_row_stride + j] - zb);
        }
        oi[j] = (int8_t)pr_arm_bmm_nn_rq(q, acc);
    }
}

enum { PR_ARM_NN_T_BYTES = 2048, PR_ARM_NN_T_DEPTH = 32 };

/* Every batch through a transposed copy of its values and the product of Q K^T; 0 when
 * the depth is short or the values do not fit the copy. */
static int32_t pr_arm_bmm_nn_transposed(const pr_bmm_params *p, const int8_t *a,
                                        const int8_t *b, int8_t *out)
{
    int8_t bt[PR_ARM_NN_T_BYTES];
    const int32_t N = p->cols, K = p->depth;
    int64_t h;
    int32_t j, k;
    if (K < PR_ARM_NN_T_DEPTH || (int64_t)N * K > PR_ARM_NN_T_BYTES) {
        return 0;
    }
    for (h = 0; h < p->batches; ++h) {
        pr_mm m = pr_mm_bmm(p, a, b, out, h, 0);
        for (k = 0; k < K; ++k) {          /* bt[j, k] = b[h, k, j] */
            const int8_t *row = m.b + (int64_t)k * p->b_row_stride;
            for (j = 0; j < N; ++j) {
                bt[j * K + k] = row[j];
            }
        }
        m.b = bt;
        m.b_step = K;
        pr_arm_mm_nt(&m);
    }
    return 1;
}

pr_status pr_bmm_nn_s8(const pr_bmm_params *p, const int8_t *a, const int8_t *b,
                       int8_t *out, int32_t *scratch, int64_t scratch_len)
{
    int64_t h, i;
    pr_arm_bmm_nn_q q;
    const pr_status st = pr_bmm_nn_check(p, a, b, out, scratch, scratch_len);
    if (st != PR_OK) {
        return st;
    }
    if (pr_arm_bmm_nn_transposed(p, a, b, out)) {
        return PR_OK;
    }
    q.rq = pr_arm_rq_make(p->multiplier, p->shift, p->out_zero_point, p->act_min,
                          p->act_max);
    q.c = 0;
    q.fast = (int64_t)p->depth * 255 * 255 < ((int64_t)1 << 30) &&
             pr_arm_fast_c(p->shift, p->out_zero_point, &q.c);
    q.n = -p->shift;
    for (h = 0; h < p->batches; ++h) {
        for (i = 0; i < p->rows; ++i) {
            pr_arm_bmm_nn_row(p, &q, a + h * p->a_batch_stride + i * p->a_row_stride,
                              b + h * p->b_batch_stride,
                              out + h * p->out_batch_stride + i * p->out_row_stride);
        }
    }
    return PR_OK;
}
