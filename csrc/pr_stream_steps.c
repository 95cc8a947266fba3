/*
 * The stream's steps that push and finish share, one copy each (internal; the layout
 * and the other steps are in pr_stream_internal.h): pr_st_coeffs (the normalization of
 * the current state) and pr_st_decide (the gate, the pitch columns, the model, the
 * merge). NumPy reference: pyreparam.quant.qstream.ReferenceStream; reference/stream.md.
 */
#include "pr_stream_internal.h"

/* Check the configuration's sizes (not its pointers but cfg->frontend and cfg->pitch)
 * and lay the memory out. PR_ERR_NULL, PR_ERR_SHAPE, PR_ERR_PARAM or PR_OK. */
pr_status pr_st_layout_of(const pr_stream_config *cfg, pr_st_layout *L)
{
    const pr_logmel_params *fe;
    int32_t scratch, M, C, blocks, lag = 0;
    int64_t work;
    if (cfg == NULL || cfg->frontend == NULL) {
        return PR_ERR_NULL;
    }
    fe = cfg->frontend;
    scratch = pr_logmel_scratch_len(fe->n_fft);
    M = fe->n_mels;
    if (scratch < 0 || fe->win_length < 1 || fe->win_length > fe->n_fft || M < 1 ||
        M > PR_NORM_MAX_BANDS || cfg->hop_samples < 1 ||
        cfg->hop_samples > fe->win_length || cfg->hop_frames < 1 ||
        cfg->hop_frames > PR_ST_MAX_HOP ||
        cfg->window_frames < cfg->hop_frames || cfg->window_frames > PR_MODEL_MAX_T ||
        cfg->window_frames % cfg->hop_frames != 0 ||
        cfg->window_frames / cfg->hop_frames > PR_ST_MAX_BLOCKS || cfg->min_frames < 1 ||
        cfg->min_frames > cfg->window_frames || cfg->gate_min_active < 0 ||
        cfg->gate_min_active > cfg->window_frames || cfg->arena_bytes < 0 ||
        cfg->arena_bytes > PR_MODEL_MAX_ARENA) {
        return PR_ERR_SHAPE;
    }
    C = M + (cfg->pitch != NULL ? 2 : 0);
    if (cfg->pitch != NULL) {
        if (pr_pitch_check_params(cfg->pitch) != PR_OK) {
            return PR_ERR_PARAM;
        }
        lag = pr_st_pitch_lag(cfg->pitch, fe->win_length, cfg->hop_samples);
        if (cfg->hop_frames <= lag || C > PR_NORM_MAX_BANDS ||
            -pr_st_pitch_start(cfg->pitch, 0, fe->win_length, cfg->hop_samples) >=
                cfg->pitch->width) {
            return PR_ERR_SHAPE;
        }
    }
    blocks = cfg->window_frames / cfg->hop_frames;
    work = (int64_t)cfg->arena_bytes;
    work = work > 4 * (int64_t)scratch + 2 * M ? work : 4 * (int64_t)scratch + 2 * M;
    work = work > 16 * (int64_t)C ? work : 16 * (int64_t)C;
    if (cfg->pitch != NULL) {
        work = work > 4 * (int64_t)cfg->window_frames ? work : 4 * (int64_t)cfg->window_frames;
    }
    L->tail = pr_st_round((int64_t)sizeof(pr_st_head));
    L->coeffs = L->tail + pr_st_round(2 * (int64_t)fe->win_length);
    L->sums = L->coeffs + pr_st_round(12 * (int64_t)C);
    L->window = L->sums + pr_st_round(12 * (int64_t)blocks * M);
    L->pitch = L->window + pr_st_round((int64_t)cfg->window_frames * C);
    L->raw = L->mel_queue = L->pitch_queue = L->dec = L->ybuf = L->work = L->pitch;
    if (cfg->pitch != NULL) {
        L->raw = L->pitch + pr_st_round((int64_t)sizeof(pr_st_pitch));
        L->mel_queue = L->raw + pr_st_round(4 * (int64_t)cfg->window_frames);
        L->pitch_queue = L->mel_queue + pr_st_round(2 * (int64_t)lag * M);
        L->dec = L->pitch_queue + pr_st_round(4 * (int64_t)lag);
        L->ybuf = L->dec + pr_st_round(2 * (20 * (int64_t)cfg->pitch->factor + 1));
        L->work = L->ybuf + pr_st_round(4 * (int64_t)cfg->pitch->width);
    }
    L->work_bytes = pr_st_round(work);
    L->total = L->work + L->work_bytes;                 /* < 2^31 + 2^30 + small */
    return PR_OK;
}

/* The stream in mem for this configuration, or PR_ERR_STREAM (PR_ERR_NULL,
 * PR_ERR_SHAPE, PR_ERR_SCRATCH for the arguments). */
pr_status pr_st_open(const pr_stream_config *cfg, uint8_t *mem, int64_t mem_bytes,
                     pr_st_layout *L, pr_st_head **head)
{
    pr_st_head *h;
    pr_status st;
    if (cfg == NULL || mem == NULL || cfg->model == NULL || cfg->frontend == NULL ||
        cfg->norm == NULL || cfg->prior_mean == NULL || cfg->prior_var == NULL) {
        return PR_ERR_NULL;
    }
    st = pr_st_layout_of(cfg, L);
    if (st != PR_OK) {
        return st;
    }
    if (((uintptr_t)mem & (PR_ST_ALIGN - 1)) != 0) {
        return PR_ERR_MODEL_ALIGN;
    }
    if (mem_bytes < L->total) {
        return PR_ERR_SCRATCH;
    }
    h = (pr_st_head *)(void *)mem;
    if (h->magic != (cfg->pitch != NULL ? PR_STREAM_MAGIC_PITCH : PR_STREAM_MAGIC) ||
        h->status != PR_ST_RUNNING ||
        h->win_length != cfg->frontend->win_length || h->n_fft != cfg->frontend->n_fft ||
        h->bands != cfg->frontend->n_mels || h->hop_samples != cfg->hop_samples ||
        h->window_frames != cfg->window_frames || h->hop_frames != cfg->hop_frames ||
        h->arena_bytes != cfg->arena_bytes || h->min_frames != cfg->min_frames ||
        h->gate_q8 != cfg->gate_q8 || h->gate_min_active != cfg->gate_min_active ||
        h->model_bytes != cfg->model_bytes || h->blocks != cfg->window_frames /
        cfg->hop_frames || h->tail_fill < 0 || h->tail_fill >= h->win_length ||
        h->fill < 0 || h->fill >= h->window_frames || h->classes < 1 ||
        h->classes > PR_STREAM_MAX_CLASSES || h->frames < h->fill ||
        h->frames > PR_ST_MAX_FRAMES || h->last_end > h->frames) {
        return PR_ERR_STREAM;
    }
    if (cfg->pitch != NULL) {
        const pr_st_pitch *P = (const pr_st_pitch *)(const void *)(mem + L->pitch);
        if (P->lag != pr_st_pitch_lag(cfg->pitch, h->win_length, h->hop_samples) ||
            P->dec_fill < 0 || P->dec_fill > 20 * cfg->pitch->factor ||
            P->y_fill < 0 || P->y_fill >= cfg->pitch->width || P->y_skip < 0 ||
            P->y_skip > h->win_length + h->hop_samples || P->mel_count < 0 || P->mel_count > P->lag ||
            P->pitch_count < 0 || P->pitch_count > P->lag ||
            (P->mel_count > 0 && P->pitch_count > 0)) {
            return PR_ERR_STREAM;
        }
    }
    *head = h;
    return PR_OK;
}

/* Recompute the per-band normalization when the state is not the one the coefficients
 * were made from (its CRC word differs; then it is checked completely first). */
pr_status pr_st_coeffs(const pr_stream_config *cfg, pr_st_head *h, uint8_t *mem,
                       const pr_st_layout *L, const uint8_t *state, int32_t state_bytes)
{
    const int32_t M = pr_st_cols(h);                     /* every band of the state */
    pr_st_coeff *c = (pr_st_coeff *)(void *)(mem + L->coeffs);
    pr_status st;
    int64_t b;
    int32_t m;
    if (state == NULL) {
        return PR_ERR_NULL;
    }
    if (h->coeff_valid && state_bytes == PR_NORM_STATE_HEADER_BYTES + 8 * M &&
        pr_ns_word(state, PR_NS_CRC) == h->coeff_crc) {
        return PR_OK;
    }
    st = pr_ns_check(state, state_bytes, M);
    if (st == PR_OK && cfg->norm->bands != M) {
        st = PR_ERR_SHAPE;
    }
    if (st == PR_OK) {
        st = pr_ns_params_check(cfg->norm, cfg->prior_var);
    }
    if (st != PR_OK) {
        return st;
    }
    b = pr_ns_blend_weight(pr_ns_word(state, PR_NS_N), pr_st_prior_weight(cfg));
    for (m = 0; m < M; ++m) {
        c[m].mean = pr_ns_band_coeffs(state, M, m, cfg->prior_mean[m], cfg->prior_var[m],
                                      cfg->norm->var_floor, b, &c[m].inv, &c[m].shift);
    }
    h->coeff_crc = pr_ns_word(state, PR_NS_CRC);
    h->coeff_valid = 1;
    return PR_OK;
}

/* With pitch, before the model runs: the window's raw pitch filled across unvoiced
 * frames (into the work area), normalized into the window's last two columns with the
 * current coefficients, and the fresh blocks' sums of the filled values. */
static pr_status pr_st_pitch_columns(const pr_stream_config *cfg, pr_st_head *h,
                                            uint8_t *mem, const pr_st_layout *L)
{
    const int32_t M = h->bands, C = pr_st_cols(h), T = h->fill;
    const pr_st_coeff *c = (const pr_st_coeff *)(const void *)(mem + L->coeffs);
    pr_st_pitch *P = (pr_st_pitch *)(void *)(mem + L->pitch);
    int16_t *pv = (int16_t *)(void *)(mem + L->work);
    int8_t *y = (int8_t *)(mem + L->window);
    const int32_t multiplier = cfg->norm->out_multiplier;
    const int32_t out_shift = cfg->norm->out_shift;
    const int32_t zp = cfg->norm->out_zero_point;
    pr_status st;
    int32_t t, j;
    memcpy(pv, mem + L->raw, 4 * (size_t)T);
    st = pr_pitch_fill_s16(pv, T, 2, 0);
    if (st != PR_OK) {
        return st;
    }
    for (j = 0; j < 2; ++j) {
        const uint32_t inv = c[M + j].inv <= 0x80000000u ? c[M + j].inv : 0x80000000u;
        const int32_t shift = 15 + ((c[M + j].shift - 15) & 15);
        P->sum[j] = 0;
        P->sum_sq[j] = 0;
        for (t = 0; t < T; ++t) {
            const int32_t v = pv[2 * t + j];
            y[(int64_t)t * C + M + j] = pr_ns_normalize(v, c[M + j].mean, inv, shift,
                                                        multiplier, out_shift, zp);
            if (!h->block_merged[t / h->hop_frames]) {
                P->sum[j] += v;
                P->sum_sq[j] += (int64_t)v * v;
            }
        }
    }
    return PR_OK;
}

/* Decide the window of the h->fill frames held (blocks 0 .. nb - 1, the last one
 * possibly partial): the gate, then the model and the merge of the blocks not merged
 * before. `flags` is 0 or PR_STREAM_FINAL. */
pr_status pr_st_decide(const pr_stream_config *cfg, pr_st_head *h, uint8_t *mem,
                       const pr_st_layout *L, uint8_t *state, int32_t state_bytes,
                       int32_t flags, pr_stream_decision *d)
{
    const int32_t M = h->bands;
    const int32_t T = h->fill;
    const int32_t nb = (T + h->hop_frames - 1) / h->hop_frames;
    const int64_t *S2 = (const int64_t *)(const void *)(mem + L->sums);
    const int32_t *S1 = (const int32_t *)(const void *)(mem + L->sums +
                                                        8 * (int64_t)h->blocks * M);
    int64_t active64 = 0;
    int32_t b, m, active, fresh = 0;
    pr_status st;
    for (b = 0; b < nb; ++b) {
        active64 += h->block_active[b];             /* in [0, T] unless damaged */
    }
    active = pr_q_clamp64(active64, 0, T);
    d->start_frame = h->frames - T;
    d->end_frame = h->frames;
    d->active_frames = active;
    d->n_logits = h->classes;
    d->label = -1;
    for (m = 0; m < PR_STREAM_MAX_CLASSES; ++m) {
        d->logits[m] = 0;
    }
    h->last_end = h->frames;
    if ((int64_t)active * h->window_frames < (int64_t)h->gate_min_active * T) {
        d->flags = flags | PR_STREAM_GATED;
        return PR_OK;
    }
    d->flags = flags;
    if (cfg->pitch != NULL) {
        st = pr_st_pitch_columns(cfg, h, mem, L);
        if (st != PR_OK) {
            return st;
        }
    }
    st = pr_model_run(cfg->model, cfg->model_bytes, (const int8_t *)(mem + L->window), T,
                      d->logits, mem + L->work, L->work_bytes);
    if (st != PR_OK) {
        return st;
    }
    d->label = 0;
    for (m = 1; m < h->classes; ++m) {
        d->label = d->logits[m] > d->logits[d->label] ? m : d->label;
    }
    {   /* merge the blocks no decided window merged before, as one utterance */
        const int32_t C = pr_st_cols(h);
        int64_t *sum = (int64_t *)(void *)(mem + L->work);
        int64_t *sum_sq = sum + C;
        for (m = 0; m < 2 * C; ++m) {
            sum[m] = 0;
        }
        if (cfg->pitch != NULL) {
            const pr_st_pitch *P = (const pr_st_pitch *)(const void *)(mem + L->pitch);
            for (m = 0; m < 2; ++m) {
                sum[M + m] = P->sum[m];
                sum_sq[M + m] = P->sum_sq[m];
            }
        }
        for (b = 0; b < nb; ++b) {
            if (h->block_merged[b]) {
                continue;
            }
            for (m = 0; m < M; ++m) {       /* <= 32 blocks of int32 sums: exact */
                sum[m] += S1[(int64_t)b * M + m];
                sum_sq[m] = (int64_t)((uint64_t)sum_sq[m] + (uint64_t)S2[(int64_t)b * M + m]);
            }
            fresh += b < nb - 1 ? h->hop_frames : T - (nb - 1) * h->hop_frames;
            h->block_merged[b] = 1;
        }
        if (fresh == 0) {
            return PR_OK;
        }
        st = pr_norm_update_sums(state, state_bytes, C, sum, sum_sq, fresh);
        if (st != PR_OK) {
            return st;
        }
    }
    d->flags |= PR_STREAM_UPDATED;
    return pr_st_coeffs(cfg, h, mem, L, state, state_bytes);
}

