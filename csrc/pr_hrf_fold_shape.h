/* Internal: shape validation shared by the HRF fold kernels (not public API). */
#ifndef PR_HRF_FOLD_SHAPE_H
#define PR_HRF_FOLD_SHAPE_H

#include "pyreparam.h"

/* Largest element count we accept for any one matrix (keeps int64 products safe). */
#define PR_HRF_MAX_ELEMS ((int64_t)1 << 40)

/*
 * Check F, k and dims; on success store the scratch length in *len:
 * two ping-pong buffers of F * max(dims[1 .. k-1]) elements (0 when k == 1),
 * holding the partial products P_i = W1' H_k ... H_{i+1} for i = k-1 .. 1.
 */
static inline pr_status pr_hrf_fold_check_shape(int32_t F, int32_t k, const int32_t *dims,
                                                int64_t *len)
{
    int64_t widest = 0;
    int32_t i;
    if (dims == NULL) {
        return PR_ERR_NULL;
    }
    if (F < 1 || k < 1 || k > PR_HRF_MAX_FACTORS) {
        return PR_ERR_SHAPE;
    }
    for (i = 0; i <= k; ++i) {
        if (dims[i] < 1) {
            return PR_ERR_SHAPE;
        }
        if ((int64_t)F * dims[i] > PR_HRF_MAX_ELEMS) {
            return PR_ERR_OVERFLOW;
        }
        if (i > 0 && (int64_t)dims[i] * dims[i - 1] > PR_HRF_MAX_ELEMS) {
            return PR_ERR_OVERFLOW;
        }
        if (i >= 1 && i <= k - 1 && dims[i] > widest) {
            widest = dims[i];
        }
    }
    *len = 2 * (int64_t)F * widest;
    return PR_OK;
}

#endif /* PR_HRF_FOLD_SHAPE_H */
