/*
 * Internal: average pooling shared by pr_avgpool_s8 / pr_avgpool_s16 (not public
 * API). The including file defines PR_AVGPOOL_NAME, PR_AVGPOOL_T and
 * PR_AVGPOOL_MIN / _MAX (the type's range). NumPy reference:
 * pyreparam.quant.qelementwise.avgpool.
 */
#include "pr_q_internal.h"

/* num / den rounded to nearest, ties away from zero (den >= 1). */
static inline int32_t pr_avgpool_div(int32_t num, int32_t den)
{
    const int32_t mag = (num < 0 ? -num : num) + den / 2; /* |num| <= 2^31 - 2^15 */
    return num < 0 ? -(mag / den) : mag / den;
}

pr_status PR_AVGPOOL_NAME(const pr_avgpool_params *p, const PR_AVGPOOL_T *x,
                          PR_AVGPOOL_T *y, int32_t *scratch, int64_t scratch_len)
{
    int64_t u, t, T_out;
    int32_t c, C, zp;
    if (p == NULL || x == NULL || y == NULL) {
        return PR_ERR_NULL;
    }
    if (p->in_len < 1 || p->channels < 1 || p->group < 1 || p->group > PR_Q_MAX_DEPTH) {
        return PR_ERR_SHAPE;
    }
    if (!pr_q_count_ok(p->in_len, p->channels)) {
        return PR_ERR_OVERFLOW;
    }
    if (p->zero_point < PR_AVGPOOL_MIN || p->zero_point > PR_AVGPOOL_MAX) {
        return PR_ERR_PARAM;
    }
    if (scratch == NULL || scratch_len < p->channels) {
        return PR_ERR_SCRATCH;
    }
    /* locals: the compiler cannot prove that scratch does not alias *p */
    C = p->channels;
    zp = p->zero_point;
    T_out = ((int64_t)p->in_len + p->group - 1) / p->group;
    for (u = 0; u < T_out; ++u) {
        const int64_t t0 = u * p->group;
        const int64_t t1 = t0 + p->group < p->in_len ? t0 + p->group : p->in_len;
        PR_AVGPOOL_T *yu = y + u * C;
        for (c = 0; c < C; ++c) {
            scratch[c] = 0;
        }
        /* |x - zp| <= 2^16 - 1 and n <= 2^15 frames: the sums fit int32 */
        for (t = t0; t < t1; ++t) {
            const PR_AVGPOOL_T *xt = x + t * C;
            for (c = 0; c < C; ++c) {
                scratch[c] += (int32_t)xt[c] - zp;
            }
        }
        for (c = 0; c < C; ++c) {
            const int32_t mean = pr_avgpool_div(scratch[c], (int32_t)(t1 - t0));
            yu[c] = (PR_AVGPOOL_T)pr_q_clamp64((int64_t)mean + zp,
                                               PR_AVGPOOL_MIN, PR_AVGPOOL_MAX);
        }
    }
    return PR_OK;
}
