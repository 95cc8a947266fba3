/*
 * pr_stream_init: check a stream's configuration completely and start the stream in
 * the caller's memory. NumPy reference: pyreparam.quant.qstream.ReferenceStream.
 */
#include "pr_stream_internal.h"

/* Everything pr_st_layout_of does not check: the model, the constants, the tables. */
static pr_status pr_si_check(const pr_stream_config *cfg, uint8_t *mem,
                             const pr_st_layout *L, pr_model_info *info)
{
    const int32_t M = cfg->frontend->n_mels;
    const int32_t C = M + (cfg->pitch != NULL ? 2 : 0);   /* input cols, state bands */
    int16_t *samples = (int16_t *)(void *)(mem + L->tail);
    int32_t *scratch = (int32_t *)(void *)(mem + L->work);
    const int32_t n_scratch = pr_logmel_scratch_len(cfg->frontend->n_fft);
    int16_t *features = (int16_t *)(scratch + n_scratch);
    pr_status st;
    int32_t i;
    if (cfg->norm->bands != C) {
        return PR_ERR_SHAPE;
    }
    if (cfg->pitch != NULL && (cfg->pitch->taps == NULL || cfg->pitch->log2_table == NULL)) {
        return PR_ERR_NULL;
    }
    st = pr_ns_params_check(cfg->norm, cfg->prior_var);
    if (st != PR_OK) {
        return st;
    }
    for (i = 0; i < cfg->frontend->win_length; ++i) {
        samples[i] = 0;
    }
    st = pr_logmel_frame_s16(cfg->frontend, samples, features, scratch, n_scratch);
    if (st != PR_OK) {
        return st;                                  /* the tables are unusable */
    }
    st = pr_model_check(cfg->model, cfg->model_bytes, info);
    if (st != PR_OK) {
        return st;
    }
    if (info->input_cols != C || info->t_max < cfg->window_frames || info->output_cols < 1 ||
        info->output_cols > PR_STREAM_MAX_CLASSES) {
        return PR_ERR_SHAPE;
    }
    return info->arena_bytes > cfg->arena_bytes ? PR_ERR_MODEL_ARENA : PR_OK;
}

pr_status pr_stream_init(const pr_stream_config *cfg, uint8_t *mem, int64_t mem_bytes)
{
    pr_st_layout L;
    pr_model_info info;
    pr_st_head *h;
    pr_status st;
    int64_t i;
    if (cfg == NULL || mem == NULL || cfg->model == NULL || cfg->frontend == NULL ||
        cfg->norm == NULL || cfg->prior_mean == NULL || cfg->prior_var == NULL) {
        return PR_ERR_NULL;
    }
    st = pr_st_layout_of(cfg, &L);
    if (st != PR_OK) {
        return st;
    }
    if (((uintptr_t)mem & (PR_ST_ALIGN - 1)) != 0) {
        return PR_ERR_MODEL_ALIGN;
    }
    if (mem_bytes < L.total) {
        return PR_ERR_SCRATCH;
    }
    h = (pr_st_head *)(void *)mem;
    h->magic = 0;                                   /* not a stream until the end */
    st = pr_si_check(cfg, mem, &L, &info);
    if (st != PR_OK) {
        return st;
    }
    for (i = 0; i < L.total; ++i) {
        mem[i] = 0;
    }
    h->status = PR_ST_RUNNING;
    h->win_length = cfg->frontend->win_length;
    h->hop_samples = cfg->hop_samples;
    h->n_fft = cfg->frontend->n_fft;
    h->bands = cfg->frontend->n_mels;
    h->classes = info.output_cols;
    h->window_frames = cfg->window_frames;
    h->hop_frames = cfg->hop_frames;
    h->blocks = cfg->window_frames / cfg->hop_frames;
    h->arena_bytes = cfg->arena_bytes;
    h->min_frames = cfg->min_frames;
    h->gate_q8 = cfg->gate_q8;
    h->gate_min_active = cfg->gate_min_active;
    h->model_bytes = cfg->model_bytes;
    if (cfg->pitch != NULL) {       /* zeros before the stream's first sample */
        pr_st_pitch *P = (pr_st_pitch *)(void *)(mem + L.pitch);
        const int64_t start = pr_st_pitch_start(cfg->pitch, 0, h->win_length,
                                                h->hop_samples);
        P->lag = pr_st_pitch_lag(cfg->pitch, h->win_length, h->hop_samples);
        P->dec_fill = 10 * cfg->pitch->factor;
        P->y_fill = start < 0 ? (int32_t)-start : 0;
        P->y_skip = start > 0 ? (int32_t)start : 0;
    }
    h->magic = cfg->pitch != NULL ? PR_STREAM_MAGIC_PITCH : PR_STREAM_MAGIC;
    return PR_OK;
}
