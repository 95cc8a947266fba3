/*
 * pr_stream_push_s16: PCM in, decisions out (frames as the samples arrive, a decision
 * every hop once the window is full). NumPy reference:
 * pyreparam.quant.qstream.ReferenceStream.push; reference/stream.md.
 */
#include "pr_stream_internal.h"

pr_status pr_stream_push_s16(const pr_stream_config *cfg, uint8_t *mem, int64_t mem_bytes,
                             uint8_t *state, int32_t state_bytes, const int16_t *pcm,
                             int32_t n, int32_t *consumed, pr_stream_decision *out,
                             int32_t max_out, int32_t *n_out)
{
    pr_st_layout L;
    pr_st_head *h;
    pr_status st;
    int32_t used = 0, decided = 0, n_scratch;
    int32_t *scratch;
    int16_t *features;
    if (state == NULL || (pcm == NULL && n != 0) || consumed == NULL || out == NULL ||
        n_out == NULL) {
        return PR_ERR_NULL;
    }
    if (n < 0 || max_out < 1) {
        return PR_ERR_SHAPE;
    }
    *consumed = 0;
    *n_out = 0;
    st = pr_st_open(cfg, mem, mem_bytes, &L, &h);
    if (st != PR_OK) {
        return st;
    }
    st = pr_st_coeffs(cfg, h, mem, &L, state, state_bytes);
    if (st != PR_OK) {
        return st;                                  /* a bad state: nothing consumed */
    }
    n_scratch = pr_logmel_scratch_len(h->n_fft);
    scratch = (int32_t *)(void *)(mem + L.work);
    features = (int16_t *)(scratch + n_scratch);
    while (used < n && decided < max_out) {
        int32_t took, frames;
        st = pr_logmel_push_s16(cfg->frontend, h->hop_samples,
                                (int16_t *)(void *)(mem + L.tail), &h->tail_fill, pcm + used,
                                n - used, &took, features, 1, &frames, scratch, n_scratch);
        if (st != PR_OK) {
            break;
        }
        used += took;
        if (frames == 0) {
            break;                                  /* every sample is in the tail */
        }
        pr_st_add_frame(cfg, h, mem, &L, features);
        if (h->fill == h->window_frames) {
            st = pr_st_decide(cfg, h, mem, &L, state, state_bytes, 0, &out[decided]);
            if (st != PR_OK) {
                break;
            }
            ++decided;
            pr_st_drop_hop(h, mem, &L);
        }
    }
    *consumed = used;
    *n_out = decided;
    if (st != PR_OK) {
        h->status = PR_ST_STOPPED;
    }
    return st;
}
