/* pr_avgpool_s16: average of non-overlapping groups of int16 frames. */
#include "pyreparam.h"

#define PR_AVGPOOL_NAME pr_avgpool_s16
#define PR_AVGPOOL_T int16_t
#define PR_AVGPOOL_MIN (-32768)
#define PR_AVGPOOL_MAX 32767
#include "pr_avgpool_internal.h"
