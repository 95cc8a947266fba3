/*
 * pr_norm_state_check: validate causal normalization state bytes (e.g. read back
 * from a device's storage) before use.
 */
#include "pr_norm_internal.h"

pr_status pr_norm_state_check(const uint8_t *state, int32_t state_bytes, int32_t bands)
{
    return pr_ns_check(state, state_bytes, bands);
}
