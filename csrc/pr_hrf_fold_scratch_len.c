/* pr_hrf_fold_scratch_len: validate an HRF chain's shape and size its scratch. */
#include "pyreparam.h"

#include "pr_hrf_fold_shape.h"

int64_t pr_hrf_fold_scratch_len(int32_t F, int32_t k, const int32_t *dims)
{
    int64_t len = 0;
    pr_status st = pr_hrf_fold_check_shape(F, k, dims, &len);
    return st == PR_OK ? len : (int64_t)st;
}
