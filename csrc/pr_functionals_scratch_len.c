/*
 * pr_functionals_scratch_len: int32 scratch of pr_functionals_s16 (the speech frames'
 * indices, one column in time order, the same column sorted).
 */
#include "pyreparam.h"

int32_t pr_functionals_scratch_len(int32_t frames)
{
    if (frames < 1 || frames > PR_FUNC_MAX_FRAMES) {
        return PR_ERR_SHAPE;
    }
    return 3 * frames;
}
