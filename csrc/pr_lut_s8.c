/* pr_lut_s8: element-wise int8 -> int8 through a 256-entry table (GELU, Swish, ...). */
#include "pr_q_internal.h"

pr_status pr_lut_s8(int32_t n, const int8_t *x, const int8_t *table, int8_t *y)
{
    int32_t i;
    if (x == NULL || table == NULL || y == NULL) {
        return PR_ERR_NULL;
    }
    if (n < 1) {
        return PR_ERR_SHAPE;
    }
    for (i = 0; i < n; ++i) {
        y[i] = table[(int32_t)x[i] + 128];
    }
    return PR_OK;
}
