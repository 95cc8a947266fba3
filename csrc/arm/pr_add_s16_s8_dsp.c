/* pr_add_s16_s8, Arm DSP variant: same prototype, checks and results as
 * csrc/pr_add_s16_s8.c. */
#include "pyreparam.h"

#define PR_ADD_NAME pr_add_s16_s8
#define PR_ADD_B_T int8_t
#define PR_ADD_B_ZP_MIN (-128)
#define PR_ADD_B_ZP_MAX 127
#define PR_ARM_ADD_LOOP pr_arm_add_s16_s8_loop
#include "pr_arm_add.h"
