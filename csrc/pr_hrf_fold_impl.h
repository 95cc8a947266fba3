/*
 * Internal template for pr_hrf_fold_f32 / pr_hrf_fold_f64 (not public API).
 * The including file defines PR_T (the element type) and PR_HRF_FOLD (the name).
 *
 * Algorithm. Let P_k = W1' and P_{i-1} = P_i H_i, so that W1 = P_0. The bias of
 * factor i reaches the output through P_i, hence b = b1 + sum_{i=k..1} P_i c_i.
 * We walk i = k .. 1, adding P_i c_i to b and forming P_{i-1} with a blocked
 * row-major matrix product; P_{k-1} .. P_1 live in two scratch buffers used in turn.
 */
#include "pr_hrf_fold_shape.h"

/* Block sizes: a (BLOCK_M x BLOCK_N) panel of the right factor stays in L1/L2. */
#define PR_HRF_BLOCK_ROWS 32
#define PR_HRF_BLOCK_M 64
#define PR_HRF_BLOCK_N 256

/* out (F, n) = P (F, m) @ Hm (m, n), all row-major; out does not alias P or Hm. */
static void PR_CAT(PR_HRF_FOLD, _matmul)(int32_t F, int32_t m, int32_t n, const PR_T *P,
                                         const PR_T *Hm, PR_T *out)
{
    int64_t r0, m0, n0, r, mm, j;
    for (r = 0; r < (int64_t)F * n; ++r) {
        out[r] = (PR_T)0;
    }
    for (r0 = 0; r0 < F; r0 += PR_HRF_BLOCK_ROWS) {
        int64_t r1 = r0 + PR_HRF_BLOCK_ROWS < F ? r0 + PR_HRF_BLOCK_ROWS : F;
        for (n0 = 0; n0 < n; n0 += PR_HRF_BLOCK_N) {
            int64_t n1 = n0 + PR_HRF_BLOCK_N < n ? n0 + PR_HRF_BLOCK_N : n;
            for (m0 = 0; m0 < m; m0 += PR_HRF_BLOCK_M) {
                int64_t m1 = m0 + PR_HRF_BLOCK_M < m ? m0 + PR_HRF_BLOCK_M : m;
                for (r = r0; r < r1; ++r) {
                    PR_T *o = out + r * n;
                    for (mm = m0; mm < m1; ++mm) {
                        const PR_T a = P[r * m + mm];
                        const PR_T *h = Hm + mm * n;
                        for (j = n0; j < n1; ++j) {
                            o[j] += a * h[j];
                        }
                    }
                }
            }
        }
    }
}

pr_status PR_HRF_FOLD(int32_t F, int32_t k, const int32_t *dims, const PR_T *w1p,
                      const PR_T *b1, const PR_T *const *H, const PR_T *const *c,
                      PR_T *w1_out, PR_T *b_out, PR_T *scratch, int64_t scratch_len)
{
    int64_t need = 0;
    int32_t i;
    int64_t r, j;
    const PR_T *P;
    pr_status st = pr_hrf_fold_check_shape(F, k, dims, &need);
    if (st != PR_OK) {
        return st;
    }
    if (w1p == NULL || H == NULL || w1_out == NULL || b_out == NULL) {
        return PR_ERR_NULL;
    }
    for (i = 0; i < k; ++i) {
        if (H[i] == NULL) {
            return PR_ERR_NULL;
        }
    }
    if (need > 0 && (scratch == NULL || scratch_len < need)) {
        return PR_ERR_SCRATCH;
    }

    for (r = 0; r < F; ++r) {
        b_out[r] = b1 != NULL ? b1[r] : (PR_T)0;
    }
    P = w1p; /* P_i, (F, dims[i]) */
    for (i = k; i >= 1; --i) {
        const int32_t m = dims[i];
        const int32_t n = dims[i - 1];
        PR_T *next;
        if (c != NULL && c[i - 1] != NULL) { /* b += P_i c_i */
            const PR_T *ci = c[i - 1];
            for (r = 0; r < F; ++r) {
                PR_T acc = (PR_T)0;
                for (j = 0; j < m; ++j) {
                    acc += P[r * m + j] * ci[j];
                }
                b_out[r] += acc;
            }
        }
        /* P_{i-1} = P_i H_i: into the output on the last step, else into scratch. */
        if (i == 1) {
            next = w1_out;
        } else {
            next = scratch + ((k - i) % 2) * (need / 2);
        }
        PR_CAT(PR_HRF_FOLD, _matmul)(F, m, n, P, H[i - 1], next);
        P = next;
    }
    return PR_OK;
}
