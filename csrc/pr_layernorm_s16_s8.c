/*
 * pr_layernorm_s16_s8: integer LayerNorm of int16 rows (the residual stream) to
 * int8, gamma and beta folded into per-channel multipliers and offsets. NumPy
 * reference: pyreparam.quant.qnorm.layernorm_s16_s8; steps in reference/int8.md.
 */
#include "pr_check_internal.h"
#include "pr_layernorm_internal.h"

static void pr_ln_row(const pr_layernorm_params *p, const int16_t *x,
                      const int32_t *multiplier, const int32_t *shift,
                      const int32_t *offset, int8_t *y)
{
    const int32_t C = p->channels;
    int64_t S1 = 0;
    int64_t S2 = 0;
    int64_t V, inv = 0;
    int32_t i, k = 0;
    for (i = 0; i < C; ++i) {
        S1 += x[i];
        S2 += (int64_t)x[i] * x[i];
    }
    V = (int64_t)C * S2 - S1 * S1 + p->eps; /* C^2 (var + eps) / s_x^2, < 2^61 */
    if (V > 0) {
        inv = pr_ln_inv_sqrt(V, &k);
    }
    for (i = 0; i < C; ++i) {
        const int64_t xc = (int64_t)C * x[i] - S1;                  /* |xc| <= 2^28 */
        const int64_t z64 = V > 0 ? pr_q_rdbp64(xc * inv, 37 - k) : 0; /* Q24 */
        const int32_t z = pr_q_clamp64(z64, PR_Q_INT32_MIN, PR_Q_INT32_MAX);
        const int32_t u = pr_q_mbqm(z, multiplier[i], shift[i]);     /* Q8 output */
        const int64_t v = pr_q_rdbp64((int64_t)u + offset[i], PR_LAYERNORM_OUT_FRAC_BITS);
        y[i] = (int8_t)pr_q_clamp64(v + p->out_zero_point, p->act_min, p->act_max);
    }
}

pr_status pr_layernorm_s16_s8(const pr_layernorm_params *p, const int16_t *x,
                              const int32_t *multiplier, const int32_t *shift,
                              const int32_t *offset, int8_t *y)
{
    int64_t t;
    const pr_status st = pr_layernorm_check(p, x, multiplier, shift, offset, y);
    if (st != PR_OK) {
        return st;
    }
    for (t = 0; t < p->rows; ++t) {
        pr_ln_row(p, x + t * p->channels, multiplier, shift, offset,
                  y + t * p->channels);
    }
    return PR_OK;
}
