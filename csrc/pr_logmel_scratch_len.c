/*
 * pr_logmel_scratch_len: int32 scratch of pr_logmel_frame_s16 (the FFT's n_fft values,
 * then the N + 1 powers as two words each).
 */
#include "pyreparam.h"

int32_t pr_logmel_scratch_len(int32_t n_fft)
{
    if (n_fft != 32 && n_fft != 128 && n_fft != 512) {
        return PR_ERR_SHAPE;
    }
    return 2 * n_fft + 2;
}
