/* pr_hrf_fold_f32: fold a chain of HRF factors into the following linear (float). */
#include "pyreparam.h"

#define PR_CAT_(a, b) a##b
#define PR_CAT(a, b) PR_CAT_(a, b)
#define PR_T float
#define PR_HRF_FOLD pr_hrf_fold_f32
#include "pr_hrf_fold_impl.h"
