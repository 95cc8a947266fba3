/*
 * pr_softmax_s8: int8 softmax over the last axis, output scale 1/256, zero point
 * -128, with a key mask and a local window. NumPy reference:
 * pyreparam.quant.qnorm.softmax_s8; arithmetic in reference/int8.md.
 */
#include "pr_check_internal.h"

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
    const pr_status st = pr_softmax_check_shape(p, x, exp_table, y);
    if (st != PR_OK) {
        return st;
    }
    if (!pr_softmax_table_ok(exp_table)) {
        return PR_ERR_PARAM;
    }
    for (h = 0; h < p->batches; ++h) {
        for (t = 0; t < p->rows; ++t) {
            const int64_t off = (h * p->rows + t) * p->cols;
            int32_t lo, hi;
            pr_softmax_window(p, t, &lo, &hi);
            pr_softmax_row(p->cols, lo, hi, x + off, exp_table,
                           key_mask, y + off);
        }
    }
    return PR_OK;
}
