/*
 * pr_logmel_frame_s16: int16 PCM frame -> int16 Q8 log-mel features (the integer
 * twin of pyreparam/audio/features.py). NumPy reference:
 * pyreparam.quant.qfrontend.logmel_frames_q8; steps in pr_logmel_internal.h and
 * reference/frontend_int.md.
 */
#include "pr_logmel_internal.h"

static pr_status pr_logmel_check(const pr_logmel_params *p, const int16_t *samples,
                                 const int16_t *out, const int32_t *scratch,
                                 int64_t scratch_len)
{
    const int32_t need = p == NULL ? 0 : pr_logmel_scratch_len(p->n_fft);
    int32_t m, bins, used = 0;
    if (p == NULL || samples == NULL || out == NULL || scratch == NULL ||
        p->window == NULL || p->fft_twiddles == NULL || p->rfft_twiddles == NULL ||
        p->fft_order == NULL || p->mel_first == NULL || p->mel_count == NULL ||
        p->mel_weights == NULL || p->log2_table == NULL) {
        return PR_ERR_NULL;
    }
    if (need < 0 || p->win_length < 1 || p->win_length > p->n_fft || p->n_mels < 1 ||
        p->n_mels > PR_LOGMEL_MAX_BANDS || p->n_weights < 0) {
        return PR_ERR_SHAPE;
    }
    if (p->floor_q62 < 1) {
        return PR_ERR_PARAM;
    }
    bins = p->n_fft / 2 + 1;
    for (m = 0; m < p->n_mels; ++m) {
        const int32_t first = p->mel_first[m];
        const int32_t count = p->mel_count[m];
        if (first + count > bins || count > p->n_weights - used) {
            return PR_ERR_PARAM;
        }
        used += count;
    }
    return scratch_len < need ? PR_ERR_SCRATCH : PR_OK;
}

pr_status pr_logmel_frame_s16(const pr_logmel_params *p, const int16_t *samples,
                              int16_t *out, int32_t *scratch, int64_t scratch_len)
{
    const pr_status st = pr_logmel_check(p, samples, out, scratch, scratch_len);
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
