/*
 * pr_functionals_count: outputs of pr_functionals_s16, 2 (6 channels + 12 cepstra).
 */
#include "pyreparam.h"

int32_t pr_functionals_count(int32_t channels, int32_t cepstra)
{
    if (channels < 1 || channels > PR_FUNC_MAX_CHANNELS || cepstra < 1 ||
        cepstra > PR_FUNC_MAX_BANDS) {
        return PR_ERR_SHAPE;
    }
    return 2 * (6 * channels + 12 * cepstra);
}
