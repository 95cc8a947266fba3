/*
 * Internal: the stream object's layout in the caller's memory and the steps shared by
 * pr_stream_*.c (not public API): the per-frame ones inline here, the larger ones
 * compiled once in pr_stream_steps.c. NumPy oracle: pyreparam/quant/qstream.py; the design
 * and its reasons in reference/stream.md.
 *
 * Memory (every region 8-byte aligned, offsets from the start of mem):
 *   head     pr_st_head: the configuration's sizes (checked on every call), counters,
 *            per-block activity and merge flags
 *   tail     int16 (win_length): samples no frame has finished with (pr_logmel_push_s16)
 *   coeffs   pr_st_coeff[M] (mean, inv, shift): the normalization of the current
 *            state (pr_norm_internal.h), recomputed when the state changes
 *   sums     int64 S2[blocks][M], then int32 S1[blocks][M]: per hop ("block") of the
 *            window, the sums of its frames' squared features and of its features (the
 *            state's update; |S1| <= 2^15 hop_frames < 2^31 as hop_frames <= 65535)
 *   window   int8 (window_frames, M): the model inputs of the frames held, oldest
 *            first; after a regular decision the oldest hop is dropped (the rows move)
 *   pitch    with cfg->pitch only (C = M + 2 columns and bands, reference/stream.md
 *            section 9): pr_st_pitch (counters, the decision's pitch sums), then
 *            int16 raw (window_frames, 2): each window row's raw log2 F0 and voicing;
 *            int16 (lag, M) log-mel rows and int16 (lag, 2) pitch frames waiting for
 *            the other track; int16 (20 d + 1) samples of the decimation filter; int32
 *            (w) the decimated samples from the next pitch frame's window start
 *   work     the model's arena; between model runs it holds the front end's scratch
 *            and the current frame's int16 features, at a decision with pitch the
 *            window's filled pitch (4 window_frames bytes), and at a merge the summed
 *            moments: max(arena_bytes, 4 scratch_len + 2 M, 16 C[, 4 window]) bytes
 */
#ifndef PR_STREAM_INTERNAL_H
#define PR_STREAM_INTERNAL_H

#include <string.h>

#include "pr_norm_internal.h"
#include "pr_pitch_internal.h"

#define PR_STREAM_MAGIC 0x53545250u       /* "PRTS" */
#define PR_STREAM_MAGIC_PITCH 0x50545250u /* "PRTP": a stream with the pitch channels */

enum {
    PR_ST_RUNNING = 0,
    PR_ST_FINISHED = 1,
    PR_ST_STOPPED = 2,              /* an error left the stream inconsistent */
    PR_ST_ALIGN = 8,
    PR_ST_MAX_BLOCKS = PR_STREAM_MAX_BLOCKS, /* blocks the head tracks */
    PR_ST_MAX_HOP = 65535           /* hop_frames: int32 S1 sums */
};

/* Frames a stream counts at most (348 years at 100 per second): keeps the frame
 * arithmetic of a damaged memory inside int64. */
#define PR_ST_MAX_FRAMES ((int64_t)1 << 40)

typedef struct {
    uint32_t magic;
    int32_t status;
    /* the configuration (compared with the caller's on every call) */
    int32_t win_length, hop_samples, n_fft, bands, classes;
    int32_t window_frames, hop_frames, blocks, arena_bytes;
    int32_t min_frames, gate_q8, gate_min_active;
    int64_t model_bytes;
    /* running */
    int32_t tail_fill;              /* valid samples of the tail */
    int32_t fill;                   /* frames held in the window */
    int64_t frames;                 /* frames since pr_stream_init */
    int64_t last_end;               /* end frame of the last window decided or gated */
    uint32_t coeff_crc;             /* the state's CRC the coefficients belong to */
    int32_t coeff_valid;
    int32_t block_active[PR_ST_MAX_BLOCKS];   /* active frames per block */
    int32_t block_merged[PR_ST_MAX_BLOCKS];   /* 1: merged into the state already */
} pr_st_head;

/* The pitch track's running part (cfg->pitch only). */
typedef struct {
    int64_t sum[2], sum_sq[2];      /* a decision's fresh pitch sums (before the run) */
    int32_t dec_fill;               /* filter samples held, from sample d j - 10 d */
    int32_t y_fill;                 /* decimated samples held, from the next pitch
                                       frame's window start */
    int32_t y_skip;                 /* decimated samples to drop before holding more */
    int32_t mel_count;              /* log-mel rows waiting for their pitch */
    int32_t pitch_count;            /* pitch frames waiting for their log-mel */
    int32_t lag;                    /* the queues' capacity (pr_st_pitch_lag) */
} pr_st_pitch;

/* Model input columns = state bands: the log-mel bands, + 2 with the pitch channels. */
static inline int32_t pr_st_cols(const pr_st_head *h)
{
    return h->bands + (h->magic == PR_STREAM_MAGIC_PITCH ? 2 : 0);
}

typedef struct {
    int64_t tail, coeffs, sums, window, work, work_bytes, total;
    int64_t pitch, raw, mel_queue, pitch_queue, dec, ybuf;   /* with cfg->pitch */
} pr_st_layout;

/* One band's normalization (pr_ns_band_coeffs). */
typedef struct {
    int32_t mean;
    uint32_t inv;
    int32_t shift;
} pr_st_coeff;

static inline int64_t pr_st_round(int64_t v)
{
    return (v + PR_ST_ALIGN - 1) / PR_ST_ALIGN * PR_ST_ALIGN;
}

/* Frames one track (log-mel, pitch) can be ahead of the other, at most: the queues'
 * capacity (qstream.pitch_lag_frames). */
static inline int32_t pr_st_pitch_lag(const pr_pitch_params *p, int32_t win, int32_t hop)
{
    int64_t v = (int64_t)p->width * p->factor - win + 19 * (int64_t)p->factor + 2;
    v = v < 0 ? -v : v;
    return (int32_t)((v + 2 * (int64_t)p->factor) / (2 * (int64_t)hop) + 3);
}

/* The first decimated sample of frame t's pitch window (qpitch.window_start). */
static inline int64_t pr_st_pitch_start(const pr_pitch_params *p, int64_t t, int32_t win,
                                        int32_t hop)
{
    return pr_pitch_div_floor(2 * t * hop + win - (int64_t)p->width * p->factor + p->factor,
                              2 * (int64_t)p->factor);
}

/* Check the configuration's sizes (not its pointers but cfg->frontend and cfg->pitch)
 * and lay the memory out. PR_ERR_NULL, PR_ERR_SHAPE, PR_ERR_PARAM or PR_OK.
 * pr_stream_steps.c. */
pr_status pr_st_layout_of(const pr_stream_config *cfg, pr_st_layout *L);

/* The stream in mem for this configuration, or PR_ERR_STREAM (PR_ERR_NULL,
 * PR_ERR_SHAPE, PR_ERR_SCRATCH for the arguments). pr_stream_steps.c. */
pr_status pr_st_open(const pr_stream_config *cfg, uint8_t *mem, int64_t mem_bytes,
                     pr_st_layout *L, pr_st_head **head);

/* The normalization's prior weight for the stream: n0 window / hop (Q16, at most
 * 2^31 - 1), so that n decided windows weigh as n hop / window utterances. */
static inline int32_t pr_st_prior_weight(const pr_stream_config *cfg)
{
    const int64_t w = pr_ns_rdiv((int64_t)cfg->norm->prior_weight * cfg->window_frames,
                                 cfg->hop_frames);
    return w > PR_Q_INT32_MAX ? PR_Q_INT32_MAX : (int32_t)w;
}

/* Recompute the per-band normalization when the state is not the one the coefficients
 * were made from (its CRC word differs; then it is checked completely first).
 * pr_stream_steps.c. */
pr_status pr_st_coeffs(const pr_stream_config *cfg, pr_st_head *h, uint8_t *mem,
                       const pr_st_layout *L, const uint8_t *state, int32_t state_bytes);

/* Add the frame x (M int16 log-mel; with pitch, raw = its raw log2 F0 and voicing) to
 * the window: normalize its log-mel, add it to its block's sums and activity. */
static inline void pr_st_add_frame(const pr_stream_config *cfg, pr_st_head *h, uint8_t *mem,
                                   const pr_st_layout *L, const int16_t *x,
                                   const int16_t *raw)
{
    const int32_t M = h->bands;
    const int32_t b = h->fill / h->hop_frames;
    const pr_st_coeff *c = (const pr_st_coeff *)(const void *)(mem + L->coeffs);
    int64_t *S2 = (int64_t *)(void *)(mem + L->sums) + (int64_t)b * M;
    int32_t *S1 = (int32_t *)(void *)(mem + L->sums + 8 * (int64_t)h->blocks * M) +
                  (int64_t)b * M;
    int8_t *y = (int8_t *)(mem + L->window) + (int64_t)h->fill * pr_st_cols(h);
    const int32_t multiplier = cfg->norm->out_multiplier;   /* locals: the int8 stores */
    const int32_t out_shift = cfg->norm->out_shift;         /* below may alias anything */
    const int32_t zp = cfg->norm->out_zero_point;
    int32_t energy = 0;                                     /* |.| <= 2^15 M <= 2^25 */
    int32_t m;
    for (m = 0; m < M; ++m) {
        /* the coefficients are pr_st_coeffs' (2^30 < inv <= 2^31, 15 <= shift <= 30);
         * the clamps only keep a damaged stream memory from undefined behaviour */
        const uint32_t inv = c[m].inv <= 0x80000000u ? c[m].inv : 0x80000000u;
        const int32_t shift = 15 + ((c[m].shift - 15) & 15);
        const int32_t v = x[m];
        y[m] = pr_ns_normalize(v, c[m].mean, inv, shift, multiplier, out_shift, zp);
        S1[m] = pr_ns_get_i32_u((uint32_t)S1[m] + (uint32_t)v);   /* exact: |S1| < 2^31 */
        S2[m] = (int64_t)((uint64_t)S2[m] + (uint64_t)(v * v));  /* exact: v^2 <= 2^30 */
        energy += v;
    }
    if (raw != NULL) {
        int16_t *r = (int16_t *)(void *)(mem + L->raw) + 2 * (int64_t)h->fill;
        r[0] = raw[0];
        r[1] = raw[1];
    }
    h->block_active[b] = pr_ns_get_i32_u((uint32_t)h->block_active[b] +
                                         ((int64_t)energy >= (int64_t)h->gate_q8 * M));
    h->fill += 1;
    h->frames += 1;
}

/* Decide the window of the h->fill frames held (blocks 0 .. nb - 1, the last one
 * possibly partial): the gate, then (with pitch) the window's pitch columns, the model
 * and the merge of the blocks not merged before. `flags` is 0 or PR_STREAM_FINAL.
 * pr_stream_steps.c: one copy shared by push and finish. */
pr_status pr_st_decide(const pr_stream_config *cfg, pr_st_head *h, uint8_t *mem,
                       const pr_st_layout *L, uint8_t *state, int32_t state_bytes,
                       int32_t flags, pr_stream_decision *d);

/* After a regular decision (fill == window): drop the oldest hop of frames. */
static inline void pr_st_drop_hop(pr_st_head *h, uint8_t *mem, const pr_st_layout *L)
{
    const int64_t M = h->bands;
    const int64_t keep = (int64_t)(h->window_frames - h->hop_frames) * pr_st_cols(h);
    int8_t *y = (int8_t *)(mem + L->window);
    int64_t *S2 = (int64_t *)(void *)(mem + L->sums);
    int32_t *S1 = (int32_t *)(void *)(mem + L->sums + 8 * (int64_t)h->blocks * M);
    const int64_t rest = (int64_t)(h->blocks - 1) * M;
    int32_t b;
    memmove(y, y + (int64_t)h->hop_frames * pr_st_cols(h), (size_t)keep);
    if (L->raw != L->pitch) {                       /* with pitch: the raw pitch rows */
        int16_t *r = (int16_t *)(void *)(mem + L->raw);
        memmove(r, r + 2 * (int64_t)h->hop_frames,
                4 * (size_t)(h->window_frames - h->hop_frames));
    }
    memmove(S1, S1 + M, (size_t)rest * sizeof *S1);
    memmove(S2, S2 + M, (size_t)rest * sizeof *S2);
    memset(S1 + rest, 0, (size_t)M * sizeof *S1);
    memset(S2 + rest, 0, (size_t)M * sizeof *S2);
    for (b = 0; b + 1 < h->blocks; ++b) {
        h->block_active[b] = h->block_active[b + 1];
        h->block_merged[b] = h->block_merged[b + 1];
    }
    h->block_active[h->blocks - 1] = 0;
    h->block_merged[h->blocks - 1] = 0;
    h->fill -= h->hop_frames;
}

#endif /* PR_STREAM_INTERNAL_H */
