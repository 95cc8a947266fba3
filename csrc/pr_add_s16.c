/* pr_add_s16: int16 + int16 -> int16 residual add with requantization. */
#include "pyreparam.h"

#define PR_ADD_NAME pr_add_s16
#define PR_ADD_B_T int16_t
#define PR_ADD_B_ZP_MIN 0
#define PR_ADD_B_ZP_MAX 0
#include "pr_add_internal.h"
