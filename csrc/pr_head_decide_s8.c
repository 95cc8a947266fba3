/*
 * pr_head_decide_s8: the head's logits and the decision mixing the two softmaxes
 * (pyreparam.quant.qhead.decide), from pr_linear_s8 and pr_softmax_s8.
 */
#include "pr_head_internal.h"

pr_status pr_head_decide_s8(const pr_head *head, const int8_t *z, const int8_t *net_logits,
                            int32_t *p)
{
    int8_t logits[PR_HEAD_MAX_CLASSES], p_head[PR_HEAD_MAX_CLASSES],
        p_net[PR_HEAD_MAX_CLASSES];
    const int32_t D = pr_head_check(head);
    pr_linear_params lin;
    pr_softmax_params sm;
    pr_status st;
    int32_t c;
    if (D < 0) {
        return D;
    }
    if (z == NULL || net_logits == NULL || p == NULL) {
        return PR_ERR_NULL;
    }
    lin.rows = 1;
    lin.in_features = D;
    lin.out_features = head->classes;
    lin.out_zero_point = head->logit_zero_point;
    lin.act_min = -128;
    lin.act_max = 127;
    st = pr_linear_s8(&lin, z, head->weight, head->bias, head->multiplier, head->shift,
                      logits);
    if (st != PR_OK) {
        return st;
    }
    sm.batches = 1;
    sm.rows = 1;
    sm.cols = head->classes;
    sm.window = 0;
    st = pr_softmax_s8(&sm, logits, head->head_exp_table, NULL, p_head);
    if (st == PR_OK) {
        st = pr_softmax_s8(&sm, net_logits, head->net_exp_table, NULL, p_net);
    }
    if (st != PR_OK) {
        return st;
    }
    for (c = 0; c < head->classes; ++c) {
        p[c] = (PR_HEAD_MIX_ONE - head->mix) * ((int32_t)p_net[c] + 128) +
               head->mix * ((int32_t)p_head[c] + 128);
    }
    return PR_OK;
}
