/* pr_avgpool_s8: average of non-overlapping groups of int8 frames. */
#include "pyreparam.h"

#define PR_AVGPOOL_NAME pr_avgpool_s8
#define PR_AVGPOOL_T int8_t
#define PR_AVGPOOL_MIN (-128)
#define PR_AVGPOOL_MAX 127
#include "pr_avgpool_internal.h"
