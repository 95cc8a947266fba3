/*
 * pr_norm_apply_inplace_s16_s8: pr_norm_apply_s16_s8 writing its int8 output over its
 * int16 input, so a device keeps one buffer for an utterance's frames (the statistics
 * head reads the int16 frames first; reference/stats_head.md, section 5). The band
 * coefficients go to the caller's scratch, then the frames are normalized in memory
 * order: output byte i is written after input element i (bytes 2i, 2i + 1 >= i) was
 * read, so nothing is overwritten before it is read. NumPy reference:
 * pyreparam.quant.qcausal.apply (the values are pr_norm_apply_s16_s8's).
 */
#include "pr_norm_internal.h"

pr_status pr_norm_apply_inplace_s16_s8(const pr_norm_params *p, const int32_t *prior_mean,
                                       const int32_t *prior_var, const uint8_t *state,
                                       int32_t state_bytes, int16_t *x, int32_t frames,
                                       int32_t *scratch, int32_t scratch_len)
{
    pr_status st;
    int64_t b, i;
    int32_t m, M;
    int8_t *y = (int8_t *)x;
    if (p == NULL || prior_mean == NULL || prior_var == NULL || x == NULL ||
        scratch == NULL) {
        return PR_ERR_NULL;
    }
    if (p->bands < 1 || p->bands > PR_NORM_MAX_BANDS || frames < 1 ||
        frames > PR_NORM_MAX_FRAMES) {
        return PR_ERR_SHAPE;
    }
    st = pr_ns_params_check(p, prior_var);
    if (st != PR_OK) {
        return st;
    }
    M = p->bands;
    if (scratch_len < 3 * M) {
        return PR_ERR_SCRATCH;
    }
    st = pr_ns_check(state, state_bytes, M);
    if (st != PR_OK) {
        return st;
    }
    b = pr_ns_blend_weight(pr_ns_word(state, PR_NS_N), p->prior_weight);   /* Q30 */
    for (m = 0; m < M; ++m) {
        uint32_t inv;
        int32_t shift;
        scratch[3 * m] = pr_ns_band_coeffs(state, M, m, prior_mean[m], prior_var[m],
                                           p->var_floor, b, &inv, &shift);
        scratch[3 * m + 1] = pr_ns_get_i32_u(inv);
        scratch[3 * m + 2] = shift;
    }
    for (i = 0, m = 0; i < (int64_t)frames * M; ++i) {
        const int32_t v = x[i];                         /* read element i, then byte i */
        y[i] = pr_ns_normalize(v, scratch[3 * m], (uint32_t)scratch[3 * m + 1],
                               scratch[3 * m + 2], p->out_multiplier, p->out_shift,
                               p->out_zero_point);
        m = m + 1 == M ? 0 : m + 1;
    }
    return PR_OK;
}
