/*
 * The statistics head's shared check (pr_head_count, pr_head_scratch_len,
 * pr_head_features_s16, pr_head_decide_s8).
 */
#ifndef PR_HEAD_INTERNAL_H
#define PR_HEAD_INTERNAL_H

#include "pyreparam.h"

/* D of a valid head, else a negative status; never reads past the head's arrays. */
static inline int32_t pr_head_check(const pr_head *h)
{
    int32_t D, j;
    if (h == NULL || h->dct == NULL || h->exponent == NULL || h->weight == NULL ||
        h->bias == NULL || h->multiplier == NULL || h->shift == NULL ||
        h->head_exp_table == NULL || h->net_exp_table == NULL) {
        return PR_ERR_NULL;
    }
    if (h->channels < 1 || h->channels > PR_FUNC_MAX_CHANNELS || h->bands < 1 ||
        h->bands > h->channels || h->bands > PR_FUNC_MAX_BANDS || h->cepstra < 1 ||
        h->cepstra > h->bands || h->classes < 1 || h->classes > PR_HEAD_MAX_CLASSES) {
        return PR_ERR_SHAPE;
    }
    if (h->logit_zero_point < -128 || h->logit_zero_point > 127 || h->mix < 0 ||
        h->mix > PR_HEAD_MIX_ONE || (h->pitch != 0 && h->pitch != 1)) {
        return PR_ERR_PARAM;
    }
    if (h->pitch && h->channels < h->bands + 2) {
        return PR_ERR_SHAPE;
    }
    D = pr_functionals_count(h->channels, h->cepstra);
    if (D < 0) {
        return D;
    }
    D += h->pitch ? PR_PROSODY_COUNT : 0;
    for (j = 0; j < D; ++j) {
        if (h->exponent[j] < PR_HEAD_MIN_EXPONENT || h->exponent[j] > PR_HEAD_MAX_EXPONENT) {
            return PR_ERR_PARAM;
        }
    }
    return D;
}

#endif /* PR_HEAD_INTERNAL_H */
