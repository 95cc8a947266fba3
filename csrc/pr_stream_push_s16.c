/*
 * pr_stream_push_s16: PCM in, decisions out (frames as the samples arrive, a decision
 * every hop once the window is full). NumPy reference:
 * pyreparam.quant.qstream.ReferenceStream.push; reference/stream.md.
 */
#include "pr_stream_internal.h"

/* Add one frame to the window and decide it when it is full (both of push's paths:
 * log-mel only, and the frames paired with their pitch). */
static pr_status pr_sp_add(const pr_stream_config *cfg, pr_st_head *h, uint8_t *mem,
                           const pr_st_layout *L, uint8_t *state, int32_t state_bytes,
                           const int16_t *x, const int16_t *raw, pr_stream_decision *out,
                           int32_t *decided)
{
    pr_st_add_frame(cfg, h, mem, L, x, raw);
    if (h->fill == h->window_frames) {
        const pr_status st = pr_st_decide(cfg, h, mem, L, state, state_bytes, 0,
                                          &out[*decided]);
        if (st != PR_OK) {
            return st;
        }
        *decided += 1;
        pr_st_drop_hop(h, mem, L);
    }
    return PR_OK;
}

/* The pitch track over the samples s[0 .. n) that the log-mel framing just took: each
 * through the decimation filter's window; every d-th completes a decimated sample,
 * held from the next pitch frame's window start; a full window gives that frame's raw
 * pitch, queued until its log-mel frame is there (reference/stream.md section 9). */
static pr_status pr_sp_pitch_feed(const pr_stream_config *cfg, pr_st_head *h, uint8_t *mem,
                                  const pr_st_layout *L, const int16_t *s, int32_t n)
{
    const pr_pitch_params *p = cfg->pitch;
    const int32_t d = p->factor, n_taps = 20 * p->factor + 1, w = p->width;
    pr_st_pitch *P = (pr_st_pitch *)(void *)(mem + L->pitch);
    int16_t *dec = (int16_t *)(void *)(mem + L->dec);
    int32_t *ybuf = (int32_t *)(void *)(mem + L->ybuf);
    int16_t *queue = (int16_t *)(void *)(mem + L->pitch_queue);
    pr_status st;
    int32_t i, y;
    for (i = 0; i < n; ++i) {
        dec[P->dec_fill++] = s[i];
        if (P->dec_fill < n_taps) {
            continue;
        }
        /* centre d 10 + 10 d = 20 d: y[j] = sum_k taps[k] dec[20 d - k] */
        st = pr_pitch_decimate_s16(p, dec, n_taps, 10, 1, &y);
        if (st != PR_OK) {
            return st;
        }
        memmove(dec, dec + d, (size_t)(n_taps - d) * sizeof *dec);
        P->dec_fill = n_taps - d;
        if (P->y_skip > 0) {
            P->y_skip -= 1;
            continue;
        }
        ybuf[P->y_fill++] = y;
        while (P->y_fill >= w) {
            const int64_t t = h->frames + P->pitch_count;   /* its frame: after the
                                                               entered and queued ones */
            int64_t adv;
            if (P->pitch_count >= P->lag) {
                return PR_ERR_STREAM;               /* cannot happen (pr_st_pitch_lag) */
            }
            st = pr_pitch_frame_s32(p, ybuf, queue + 2 * (int64_t)P->pitch_count);
            if (st != PR_OK) {
                return st;
            }
            P->pitch_count += 1;
            adv = pr_st_pitch_start(p, t + 1, h->win_length, h->hop_samples) -
                  pr_st_pitch_start(p, t, h->win_length, h->hop_samples);
            if (adv <= P->y_fill) {
                memmove(ybuf, ybuf + adv, (size_t)(P->y_fill - adv) * sizeof *ybuf);
                P->y_fill -= (int32_t)adv;
            } else {
                P->y_skip = (int32_t)(adv - P->y_fill);
                P->y_fill = 0;
            }
        }
    }
    return PR_OK;
}

/* Add the frames whose log-mel and pitch are both known; decide when the window is
 * full (at most one decision: hop_frames > lag >= the frames paired here). */
static pr_status pr_sp_pitch_pair(const pr_stream_config *cfg, pr_st_head *h, uint8_t *mem,
                                  const pr_st_layout *L, uint8_t *state, int32_t state_bytes,
                                  pr_stream_decision *out, int32_t *decided)
{
    pr_st_pitch *P = (pr_st_pitch *)(void *)(mem + L->pitch);
    int16_t *mels = (int16_t *)(void *)(mem + L->mel_queue);
    int16_t *pitch = (int16_t *)(void *)(mem + L->pitch_queue);
    const int32_t M = h->bands;
    int32_t k = P->mel_count < P->pitch_count ? P->mel_count : P->pitch_count, i;
    for (i = 0; i < k; ++i) {
        const pr_status st = pr_sp_add(cfg, h, mem, L, state, state_bytes,
                                       mels + (int64_t)i * M, pitch + 2 * (int64_t)i, out,
                                       decided);
        if (st != PR_OK) {
            return st;
        }
    }
    memmove(mels, mels + (int64_t)k * M, (size_t)(P->mel_count - k) * M * sizeof *mels);
    memmove(pitch, pitch + 2 * (int64_t)k, (size_t)(P->pitch_count - k) * 2 * sizeof *pitch);
    P->mel_count -= k;
    P->pitch_count -= k;
    return PR_OK;
}

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
        if (cfg->pitch != NULL) {
            pr_st_pitch *P = (pr_st_pitch *)(void *)(mem + L.pitch);
            st = pr_sp_pitch_feed(cfg, h, mem, &L, pcm + used, took);
            if (st == PR_OK && frames == 1) {
                if (P->mel_count >= P->lag) {
                    st = PR_ERR_STREAM;             /* cannot happen (pr_st_pitch_lag) */
                } else {
                    memcpy((int16_t *)(void *)(mem + L.mel_queue) +
                           (int64_t)P->mel_count * h->bands, features,
                           (size_t)h->bands * sizeof *features);
                    P->mel_count += 1;
                }
            }
            if (st == PR_OK) {
                st = pr_sp_pitch_pair(cfg, h, mem, &L, state, state_bytes, out, &decided);
            }
            used += took;
            if (st != PR_OK || frames == 0) {
                break;
            }
            continue;
        }
        used += took;
        if (frames == 0) {
            break;                                  /* every sample is in the tail */
        }
        st = pr_sp_add(cfg, h, mem, &L, state, state_bytes, features, NULL, out, &decided);
        if (st != PR_OK) {
            break;
        }
    }
    *consumed = used;
    *n_out = decided;
    if (st != PR_OK) {
        h->status = PR_ST_STOPPED;
    }
    return st;
}
