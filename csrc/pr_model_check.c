/*
 * pr_model_check: complete validation of a .prq model file, CRC-32 included.
 * The checks are in pr_model_validate.h (shared with pr_model_run); the format is
 * written out in reference/int8_model.md.
 */
#include "pr_model_validate.h"

pr_status pr_model_check(const uint8_t *blob, int64_t len, pr_model_info *info)
{
    pr_mv v;
    return pr_model_validate(blob, len, info, 1, &v);
}
