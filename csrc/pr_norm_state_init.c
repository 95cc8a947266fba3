/*
 * pr_norm_state_init: the causal normalization state of a device that has heard
 * nothing (n = 0, F = 0, zero statistics), sealed with its CRC.
 */
#include "pr_norm_internal.h"

pr_status pr_norm_state_init(uint8_t *state, int32_t state_bytes, int32_t bands)
{
    int32_t i;
    if (state == NULL) {
        return PR_ERR_NULL;
    }
    if (bands < 1 || bands > PR_NORM_MAX_BANDS) {
        return PR_ERR_SHAPE;
    }
    if (state_bytes != PR_NORM_STATE_HEADER_BYTES + 8 * bands) {
        return PR_ERR_STATE;
    }
    for (i = 0; i < state_bytes; ++i) {
        state[i] = 0;
    }
    pr_ns_put_u32(state + 4 * PR_NS_MAGIC, PR_NORM_MAGIC);
    pr_ns_put_u32(state + 4 * PR_NS_VERSION, PR_NORM_VERSION);
    pr_ns_put_u32(state + 4 * PR_NS_BANDS, (uint32_t)bands);
    pr_ns_seal(state, state_bytes);
    return PR_OK;
}
