/*
 * pr_head_scratch_len: int32 scratch of pr_head_features_s16 (the functionals, then
 * pr_functionals_s16's own scratch).
 */
#include "pr_head_internal.h"

int32_t pr_head_scratch_len(const pr_head *head, int32_t frames)
{
    const int32_t D = pr_head_check(head);
    const int32_t n = pr_functionals_scratch_len(frames);
    if (D < 0) {
        return D;
    }
    return n < 0 ? n : D + n;
}
