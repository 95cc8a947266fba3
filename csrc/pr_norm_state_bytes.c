/*
 * pr_norm_state_bytes: size of the causal normalization state (pr_norm_internal.h).
 */
#include "pr_norm_internal.h"

int32_t pr_norm_state_bytes(int32_t bands)
{
    if (bands < 1 || bands > PR_NORM_MAX_BANDS) {
        return PR_ERR_SHAPE;
    }
    return PR_NORM_STATE_HEADER_BYTES + 8 * bands;
}
