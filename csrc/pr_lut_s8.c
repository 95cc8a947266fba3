/* pr_lut_s8: element-wise int8 -> int8 through a 256-entry table (GELU, Swish, ...). */
#include "pr_check_internal.h"

pr_status pr_lut_s8(int32_t n, const int8_t *x, const int8_t *table, int8_t *y)
{
    int32_t i;
    const pr_status st = pr_lut_check(n, x, table, y);
    if (st != PR_OK) {
        return st;
    }
    for (i = 0; i < n; ++i) {
        y[i] = table[(int32_t)x[i] + 128];
    }
    return PR_OK;
}
