/*
 * pr_logmel_frame_s16: int16 PCM frame -> int16 Q8 log-mel features (the integer
 * twin of pyreparam/audio/features.py). NumPy reference:
 * pyreparam.quant.qfrontend.logmel_frames_q8; steps in pr_logmel_internal.h and
 * reference/frontend_int.md. The Arm DSP variant (csrc/arm/pr_logmel_frame_s16_dsp.c)
 * computes the same steps with fewer instructions.
 */
#include "pr_logmel_internal.h"

pr_status pr_logmel_frame_s16(const pr_logmel_params *p, const int16_t *samples,
                              int16_t *out, int32_t *scratch, int64_t scratch_len)
{
    const pr_status st = pr_lm_check(p, samples, out, scratch, scratch_len);
    int32_t N, k, E, m, offset = 0;
    uint64_t F;
    uint32_t *P;
    if (st != PR_OK) {
        return st;
    }
    N = p->n_fft / 2;
    P = (uint32_t *)(scratch + p->n_fft);  /* an int32 object read as uint32: allowed */
    E = pr_lm_window(p->window, samples, p->win_length, p->n_fft, scratch, &k);
    pr_lm_fft(scratch, N, p->fft_twiddles, k);
    pr_lm_power(scratch, N, p->rfft_twiddles, p->fft_order, P);
    E = 2 * E + 30 - 2 * pr_lm_stages(N);                  /* P ~ 2^E |X_float|^2 */
    /* F = round(F_0 / 2^(62 - E)), half up (F_0 < 2^63: no wrap); 0 <= 62 - E <= 22 */
    F = ((uint64_t)p->floor_q62 + (((uint64_t)1 << (PR_LM_FLOOR_BITS - E)) >> 1)) >>
        (PR_LM_FLOOR_BITS - E);
    for (m = 0; m < p->n_mels; ++m) {
        const int32_t count = p->mel_count[m];
        const uint64_t mel = pr_lm_mel(P + 2 * p->mel_first[m], count,
                                       p->mel_weights + offset);
        out[m] = pr_lm_log_q8(mel + F, E, p->log2_table);
        offset += count;
    }
    return PR_OK;
}
