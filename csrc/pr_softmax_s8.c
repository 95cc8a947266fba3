/*
 * pr_softmax_s8: int8 softmax over the last axis, output scale 1/256, zero point
 * -128, with a key mask and a local window. NumPy reference:
 * pyreparam.quant.qnorm.softmax_s8; arithmetic in reference/int8.md.
 */
#include "pr_q_internal.h"

/* The table must hold exp values in Q16 with a non-zero entry for d = 0. */
static int pr_softmax_table_ok(const int32_t *exp_table)
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

/* One row: keys lo .. hi - 1 may be allowed (window), key_mask refines that. */
static void pr_softmax_row(int32_t cols, int32_t lo, int32_t hi, const int8_t *x,
                           const int32_t *exp_table, const uint8_t *key_mask, int8_t *y)
{
    int32_t j;
    int32_t mx = -129;
    int32_t sum = 0;
    for (j = 0; j < cols; ++j) {
        y[j] = -128;
    }
    for (j = lo; j < hi; ++j) {
        if ((key_mask == NULL || key_mask[j] != 0) && x[j] > mx) {
            mx = x[j];
        }
    }
    if (mx == -129) { /* no allowed key: every probability is 0 (q = -128) */
        return;
    }
    for (j = lo; j < hi; ++j) { /* sum <= cols * 2^16 <= 2^29 */
        if (key_mask == NULL || key_mask[j] != 0) {
            sum += exp_table[mx - x[j]];
        }
    }
    for (j = lo; j < hi; ++j) {
        if (key_mask == NULL || key_mask[j] != 0) {
            /* round(256 e / sum), half up: e <= 2^16 so 512 e + sum < 2^31 */
            const int32_t q = (512 * exp_table[mx - x[j]] + sum) / (2 * sum);
            y[j] = (int8_t)pr_q_min32(q - 128, 127);
        }
    }
}

pr_status pr_softmax_s8(const pr_softmax_params *p, const int8_t *x,
                        const int32_t *exp_table, const uint8_t *key_mask, int8_t *y)
{
    int64_t h, t;
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
    if (!pr_softmax_table_ok(exp_table)) {
        return PR_ERR_PARAM;
    }
    for (h = 0; h < p->batches; ++h) {
        for (t = 0; t < p->rows; ++t) {
            const int64_t off = (h * p->rows + t) * p->cols;
            int64_t lo = 0;
            int64_t hi = p->cols;
            if (p->window > 0) {
                lo = t - p->window / 2 > 0 ? t - p->window / 2 : 0;
                hi = t + p->window / 2 + 1 < hi ? t + p->window / 2 + 1 : hi;
                if (lo > hi) {
                    lo = hi;
                }
            }
            pr_softmax_row(p->cols, (int32_t)lo, (int32_t)hi, x + off, exp_table,
                           key_mask, y + off);
        }
    }
    return PR_OK;
}
