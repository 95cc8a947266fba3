/* pr_add_s16_s8: int16 stream + int8 branch -> int16 residual add. */
#include "pyreparam.h"

#define PR_ADD_NAME pr_add_s16_s8
#define PR_ADD_B_T int8_t
#define PR_ADD_B_ZP_MIN (-128)
#define PR_ADD_B_ZP_MAX 127
#include "pr_add_internal.h"
