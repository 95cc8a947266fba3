/* pr_add_s16, Arm DSP variant: same prototype, checks and results as csrc/pr_add_s16.c. */
#include "pyreparam.h"

#define PR_ADD_NAME pr_add_s16
#define PR_ADD_B_T int16_t
#define PR_ADD_B_ZP_MIN 0
#define PR_ADD_B_ZP_MAX 0
#define PR_ARM_ADD_LOOP pr_arm_add_s16_loop
#include "pr_arm_add.h"
