/*
 * pyreparam C runtime: public API.
 *
 * Conventions (see ../reference/ and the project's docs):
 *   - every public function returns a status (pr_status, PR_OK == 0) and never
 *     allocates; scratch memory comes from the caller;
 *   - matrices are row-major, weights stored (out, in) as everywhere in pyreparam;
 *   - dimension letters: B batch, T frames, C model width, F FFN width, K kernel.
 *
 * The block between the cffi markers is parsed by csrc/build_ffi.py: keep it free
 * of preprocessor directives.
 */
#ifndef PYREPARAM_H
#define PYREPARAM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* cffi-begin */

/* Status codes returned by every public function. */
enum pr_status_code {
    PR_OK = 0,
    PR_ERR_NULL = -1,     /* a required pointer is NULL */
    PR_ERR_SHAPE = -2,    /* a dimension is out of range or inconsistent */
    PR_ERR_SCRATCH = -3,  /* the caller's scratch buffer is too small */
    PR_ERR_OVERFLOW = -4  /* a size computation would overflow */
};
typedef int32_t pr_status;

/* Most factors a chain may hold (method.md allows k in 1..3; a little headroom). */
enum { PR_HRF_MAX_FACTORS = 8 };

/*
 * pr_hrf_fold_scratch_len: scratch elements pr_hrf_fold_{f32,f64} needs.
 *   F     rows of the linear layer, >= 1
 *   k     number of factors, 1 <= k <= PR_HRF_MAX_FACTORS
 *   dims  k + 1 widths, each >= 1: dims[0] = C (input width), dims[i] = r_i
 * Returns the number of elements (0 when k == 1), or a negative pr_status.
 */
int64_t pr_hrf_fold_scratch_len(int32_t F, int32_t k, const int32_t *dims);

/*
 * pr_hrf_fold_f64 / pr_hrf_fold_f32: fold a chain of HRF factors into the linear
 * layer that follows it (deHRF).
 *
 *   y = W1' (H_k (... (H_1 x + c_1) ...) + c_k) + b1  ==  W1 x + b
 *   W1 = W1' H_k ... H_1               (F, C)
 *   b  = b1 + sum_i (W1' H_k ... H_{i+1}) c_i
 *
 *   F        rows of W1', >= 1
 *   k        number of factors, 1..PR_HRF_MAX_FACTORS
 *   dims     k + 1 widths >= 1 (dims[0] = C, dims[i] = r_i)
 *   w1p      W1', (F, dims[k]) row-major
 *   b1       (F), or NULL for a zero bias
 *   H        k pointers; H[i - 1] is H_i, (dims[i], dims[i - 1]) row-major
 *   c        k pointers or NULL; c[i - 1] is c_i, (dims[i]), or NULL (no bias)
 *   w1_out   W1, (F, dims[0]); must not overlap any input
 *   b_out    b, (F); must not overlap any input
 *   scratch  scratch_len elements, scratch_len >= pr_hrf_fold_scratch_len(...)
 *
 * The product is evaluated left to right (W1' H_k first), with cache-blocked
 * loops; each output element sums over the inner index in increasing order.
 */
pr_status pr_hrf_fold_f64(int32_t F, int32_t k, const int32_t *dims,
                          const double *w1p, const double *b1,
                          const double *const *H, const double *const *c,
                          double *w1_out, double *b_out,
                          double *scratch, int64_t scratch_len);

pr_status pr_hrf_fold_f32(int32_t F, int32_t k, const int32_t *dims,
                          const float *w1p, const float *b1,
                          const float *const *H, const float *const *c,
                          float *w1_out, float *b_out,
                          float *scratch, int64_t scratch_len);

/* cffi-end */

#ifdef __cplusplus
}
#endif

#endif /* PYREPARAM_H */
