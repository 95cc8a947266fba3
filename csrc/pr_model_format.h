/*
 * Internal: the .prq layout (constants, field indices) and little-endian readers
 * shared by pr_model_check.c and pr_model_run.c (not public API). The Python writer
 * is pyreparam/quant/prq.py; the layout is written out in reference/int8_model.md.
 */
#ifndef PR_MODEL_FORMAT_H
#define PR_MODEL_FORMAT_H

#include "pr_q_internal.h"

#define PR_MODEL_MAGIC 0x4D515250u /* "PRQM" */

enum {
    PR_MODEL_HEADER_BYTES = 96,
    PR_MODEL_LENGTH_BYTES = 24,
    PR_MODEL_TENSOR_BYTES = 32,
    PR_MODEL_MAX_BLOCK = 4096,     /* rows per row-loop block */
    PR_MODEL_MAX_CONV = 32768      /* kernel, stride, group of a length rule */
};

/* header words */
enum {
    PR_H_MAGIC, PR_H_VERSION, PR_H_HEADER_BYTES, PR_H_FILE_BYTES, PR_H_FLAGS, PR_H_ARENA,
    PR_H_TMAX, PR_H_INPUT, PR_H_OUTPUT, PR_H_NLEN, PR_H_LEN_OFF, PR_H_NTENS, PR_H_TENS_OFF,
    PR_H_NOPS, PR_H_OPS_OFF, PR_H_OPS_BYTES, PR_H_DATA_OFF, PR_H_DATA_BYTES, PR_H_META_OFF,
    PR_H_META_BYTES, PR_H_RESERVED, PR_H_WORDS = 24
};

enum { PR_KIND_CONST, PR_KIND_ARENA, PR_KIND_INPUT, PR_KIND_OUTPUT };
enum { PR_LEN_INPUT, PR_LEN_CONV, PR_LEN_CEILDIV };
enum { PR_DT_S8 = 1, PR_DT_S16 = 2, PR_DT_S32 = 4 };

enum {
    PR_OP_LOOP = 1, PR_OP_CONV1D, PR_OP_LINEAR, PR_OP_ADD, PR_OP_LAYERNORM, PR_OP_LUT,
    PR_OP_MUL, PR_OP_DWCONV, PR_OP_AVGPOOL, PR_OP_WIDEN, PR_OP_MHA, PR_OP_END
};

/* Field indices of each op (pyreparam/quant/program.py OP_FIELDS, same order). */
enum { F_LOOP_LEN, F_LOOP_BLOCK, F_LOOP_N, F_LOOP_WORDS };
enum { F_CONV_X, F_CONV_W, F_CONV_BIAS, F_CONV_MULT, F_CONV_SHIFT, F_CONV_Y, F_CONV_K,
       F_CONV_STRIDE, F_CONV_PAD, F_CONV_INZP, F_CONV_ZP, F_CONV_MIN, F_CONV_MAX,
       F_CONV_WORDS };
enum { F_LIN_X, F_LIN_W, F_LIN_BIAS, F_LIN_MULT, F_LIN_SHIFT, F_LIN_Y, F_LIN_ZP, F_LIN_MIN,
       F_LIN_MAX, F_LIN_WORDS };
enum { F_ADD_A, F_ADD_B, F_ADD_Y, F_ADD_BZP, F_ADD_AM, F_ADD_AS, F_ADD_BM, F_ADD_BS,
       F_ADD_OM, F_ADD_OS, F_ADD_MIN, F_ADD_MAX, F_ADD_WORDS };
enum { F_LN_X, F_LN_Y, F_LN_MULT, F_LN_SHIFT, F_LN_OFFSET, F_LN_EPS_LO, F_LN_EPS_HI,
       F_LN_ZP, F_LN_MIN, F_LN_MAX, F_LN_WORDS };
enum { F_LUT_X, F_LUT_TABLE, F_LUT_Y, F_LUT_WORDS };
enum { F_MUL_A, F_MUL_B, F_MUL_Y, F_MUL_AZP, F_MUL_BZP, F_MUL_M, F_MUL_S, F_MUL_ZP,
       F_MUL_MIN, F_MUL_MAX, F_MUL_WORDS };
enum { F_DW_X, F_DW_W, F_DW_BIAS, F_DW_MULT, F_DW_SHIFT, F_DW_Y, F_DW_SCRATCH, F_DW_INZP,
       F_DW_ZP, F_DW_MIN, F_DW_MAX, F_DW_WORDS };
enum { F_POOL_X, F_POOL_Y, F_POOL_SCRATCH, F_POOL_GROUP, F_POOL_ZP, F_POOL_WORDS };
enum { F_WIDEN_X, F_WIDEN_Y, F_WIDEN_ZP, F_WIDEN_SHIFT, F_WIDEN_WORDS };
/* mha: the schedule fields (query rows per call, heads per call, Q/K/V of all heads
 * at once) exist from format version 2 on; a version-1 op ends at F_MHA_OZP and runs
 * with q_block 1, head_batch 1, qkv_all 0 (pr_m_mha_schedule). */
enum { F_MHA_X, F_MHA_Y, F_MHA_SCRATCH, F_MHA_W, F_MHA_BIAS, F_MHA_MULT, F_MHA_SHIFT,
       F_MHA_EXP, F_MHA_HEADS, F_MHA_WINDOW, F_MHA_QZP, F_MHA_KZP, F_MHA_VZP, F_MHA_SM,
       F_MHA_SS, F_MHA_SZP, F_MHA_OM, F_MHA_OS, F_MHA_OZP, F_MHA_WORDS_V1,
       F_MHA_QBLOCK = F_MHA_WORDS_V1, F_MHA_HBATCH, F_MHA_QKVALL, F_MHA_WORDS };

/* Oldest format version this runtime reads (PR_MODEL_FORMAT_VERSION is the newest). */
#define PR_MODEL_OLDEST_VERSION 1u

enum { PR_WIDEN_MAX_SHIFT = 7 };

/* ---- little-endian readers (byte by byte: any alignment, any host order) ---- */

static inline uint32_t pr_m_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/* Two's complement reinterpretation without implementation-defined conversion. */
static inline int32_t pr_m_i32(const uint8_t *p)
{
    const uint32_t u = pr_m_u32(p);
    return u <= 0x7FFFFFFFu ? (int32_t)u : (int32_t)(u - 0x80000000u) + PR_Q_INT32_MIN;
}

/* A parsed length rule / tensor entry; int64 fields hold any uint32 value exactly. */
typedef struct {
    int64_t kind, src, a, b, c, max;
} pr_m_length;

typedef struct {
    int64_t kind, dtype, reserved, len_id, rows, cols, offset, nbytes, first, last;
} pr_m_tensor;

/* One op as stored: type, word count and a pointer to its words. */
typedef struct {
    int64_t type;
    int64_t n_words;
    const uint8_t *words;
} pr_m_op;

static inline int32_t pr_m_word(const pr_m_op *op, int32_t k)
{
    return pr_m_i32(op->words + 4 * k);
}

static inline int64_t pr_m_dtype_size(int64_t dtype)
{
    return dtype == PR_DT_S8 ? 1 : (dtype == PR_DT_S16 ? 2 : (dtype == PR_DT_S32 ? 4 : 0));
}

static inline void pr_m_read_length(const uint8_t *blob, uint32_t offset, int32_t i,
                                    pr_m_length *l)
{
    const uint8_t *p = blob + offset + (int64_t)i * PR_MODEL_LENGTH_BYTES;
    l->kind = pr_m_i32(p);
    l->src = pr_m_i32(p + 4);
    l->a = pr_m_i32(p + 8);
    l->b = pr_m_i32(p + 12);
    l->c = pr_m_i32(p + 16);
    l->max = pr_m_i32(p + 20);
}

static inline void pr_m_read_tensor(const uint8_t *blob, uint32_t offset, int32_t i,
                                    pr_m_tensor *t)
{
    const uint8_t *p = blob + offset + (int64_t)i * PR_MODEL_TENSOR_BYTES;
    t->kind = p[0];
    t->dtype = p[1];
    t->reserved = (int64_t)p[2] | ((int64_t)p[3] << 8);
    t->len_id = pr_m_i32(p + 4);
    t->rows = pr_m_u32(p + 8);
    t->cols = pr_m_u32(p + 12);
    t->offset = pr_m_u32(p + 16);
    t->nbytes = pr_m_u32(p + 20);
    t->first = pr_m_u32(p + 24);
    t->last = pr_m_u32(p + 28);
}

/* An attention op's schedule: query rows per call, heads per call, and whether Q, K
 * and V are projected for all heads at once (version 1: one row, one head, per head). */
typedef struct {
    int32_t q_block;
    int32_t head_batch;
    int32_t qkv_all;
} pr_m_mha_sched;

static inline void pr_m_mha_schedule(const pr_m_op *op, pr_m_mha_sched *s)
{
    const int v2 = op->n_words >= F_MHA_WORDS;
    s->q_block = v2 ? pr_m_word(op, F_MHA_QBLOCK) : 1;
    s->head_batch = v2 ? pr_m_word(op, F_MHA_HBATCH) : 1;
    s->qkv_all = v2 ? pr_m_word(op, F_MHA_QKVALL) : 0;
}

/* Bytes of each of the attention op's score and probability buffers for a schedule
 * (rows: T_max of x): a block of q_block query rows against its keys, per head of a
 * head batch. Global attention: q_block x rows. Window w (half = w / 2): the block's
 * keys span q_block + 2 half rows, and the scores get `half` leading rows so that the
 * softmax's window (relative to the row index) lines up with the keys; a one-row
 * block holds exactly its keys (keys = min(w, rows)). */
static inline int64_t pr_m_mha_score_bytes(int64_t rows, int64_t window, int64_t q_block,
                                           int64_t head_batch)
{
    const int64_t half = window / 2;
    int64_t per_head;
    if (q_block <= 1) {
        per_head = window > 0 && window < rows ? window : rows;
    } else if (window > 0) {
        per_head = (half + q_block) * (q_block + 2 * half < rows ? q_block + 2 * half : rows);
    } else {
        per_head = q_block * rows;
    }
    return head_batch * per_head;
}

/* Scratch bytes of the attention op (the runner lays it out in this order): int32
 * accumulators (D), Q, K, V ((rows, C) for all heads, or (rows, D) for one head),
 * scores and probabilities. */
static inline int64_t pr_m_mha_scratch(int64_t rows, int64_t C, int64_t D, int64_t window,
                                       const pr_m_mha_sched *s)
{
    return 4 * D + 3 * rows * (s->qkv_all ? C : D) +
           2 * pr_m_mha_score_bytes(rows, window, s->q_block, s->head_batch);
}

/* Value of length rule l for a source value src (conv: C division as in Python's //
 * for the non-negative numerators the checker admits). */
static inline int64_t pr_m_length_eval(const pr_m_length *l, int64_t src)
{
    if (l->kind == PR_LEN_CONV) {
        const int64_t num = src + 2 * l->c - l->a;
        return num < 0 ? 0 : num / l->b + 1;
    }
    return (src + l->a - 1) / l->a;
}

#endif /* PR_MODEL_FORMAT_H */
