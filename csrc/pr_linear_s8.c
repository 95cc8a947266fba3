/* pr_linear_s8: int8 fully connected layer, per-channel requantization to int8. */
#include "pyreparam.h"

#define PR_LINEAR_NAME pr_linear_s8
#define PR_LINEAR_OUT_T int8_t
#define PR_LINEAR_OUT_MIN (-128)
#define PR_LINEAR_OUT_MAX 127
#define PR_LINEAR_ZP_MIN (-128)
#define PR_LINEAR_ZP_MAX 127
#include "pr_linear_internal.h"
