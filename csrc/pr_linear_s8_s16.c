/* pr_linear_s8_s16: int8 fully connected layer writing int16 (zero point 0). */
#include "pyreparam.h"

#define PR_LINEAR_NAME pr_linear_s8_s16
#define PR_LINEAR_OUT_T int16_t
#define PR_LINEAR_OUT_MIN (-32768)
#define PR_LINEAR_OUT_MAX 32767
#define PR_LINEAR_ZP_MIN 0
#define PR_LINEAR_ZP_MAX 0
#include "pr_linear_internal.h"
