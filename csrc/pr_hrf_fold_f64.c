/* pr_hrf_fold_f64: fold a chain of HRF factors into the following linear (double). */
#include "pyreparam.h"

#define PR_CAT_(a, b) a##b
#define PR_CAT(a, b) PR_CAT_(a, b)
#define PR_T double
#define PR_HRF_FOLD pr_hrf_fold_f64
#include "pr_hrf_fold_impl.h"
