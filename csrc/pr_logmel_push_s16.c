/*
 * pr_logmel_push_s16: the integer log-mel front end on a stream of samples pushed in
 * blocks of any length (framing in the caller's tail, then pr_logmel_frame_s16 per
 * frame). NumPy reference: pyreparam.quant.qfrontend.logmel_q8 of the whole stream
 * without trimming (frames of pyreparam.audio.features.frame_signal).
 */
#include <string.h>

#include "pyreparam.h"

static pr_status pr_lp_check(const pr_logmel_params *p, int32_t hop_length,
                             const int16_t *tail, const int32_t *tail_fill,
                             const int16_t *pcm, int32_t n, const int32_t *consumed,
                             const int16_t *features, int32_t max_frames,
                             const int32_t *frames, const int32_t *scratch)
{
    if (p == NULL || tail == NULL || tail_fill == NULL || (pcm == NULL && n != 0) ||
        consumed == NULL || features == NULL || frames == NULL || scratch == NULL) {
        return PR_ERR_NULL;
    }
    if (n < 0 || max_frames < 1 || p->win_length < 1 || hop_length < 1 ||
        hop_length > p->win_length || *tail_fill < 0 || *tail_fill >= p->win_length) {
        return PR_ERR_SHAPE;
    }
    return PR_OK;
}

pr_status pr_logmel_push_s16(const pr_logmel_params *p, int32_t hop_length, int16_t *tail,
                             int32_t *tail_fill, const int16_t *pcm, int32_t n,
                             int32_t *consumed, int16_t *features, int32_t max_frames,
                             int32_t *frames, int32_t *scratch, int64_t scratch_len)
{
    pr_status st = pr_lp_check(p, hop_length, tail, tail_fill, pcm, n, consumed, features,
                               max_frames, frames, scratch);
    int32_t fill, used = 0, done = 0;
    if (st != PR_OK) {
        return st;
    }
    fill = *tail_fill;
    while (used < n && done < max_frames) {
        int32_t take = p->win_length - fill;
        take = take < n - used ? take : n - used;
        memcpy(tail + fill, pcm + used, (size_t)take * sizeof *tail);
        fill += take;
        used += take;
        if (fill < p->win_length) {
            break;
        }
        st = pr_logmel_frame_s16(p, tail, features + (int64_t)done * p->n_mels, scratch,
                                 scratch_len);
        if (st != PR_OK) {
            /* only a first frame can fail (the checks do not depend on the samples):
             * leave the caller's tail as it was */
            return st;
        }
        ++done;
        fill = p->win_length - hop_length;                      /* keep the overlap */
        memmove(tail, tail + hop_length, (size_t)fill * sizeof *tail);
    }
    *tail_fill = fill;
    *consumed = used;
    *frames = done;
    return PR_OK;
}
