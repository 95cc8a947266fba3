/*
 * pr_model_run: run one utterance through a .prq integer program over the caller's
 * arena. NumPy oracle: pyreparam/quant/qmodel.py (run_program); the program's
 * structure and the arena plan are written out in reference/int8_model.md.
 *
 * Every op calls the int8 primitives (pr_linear_s8, pr_softmax_s8, ...). Two
 * composites exist for memory's sake:
 *   - row loops: the body ops run once per block of rows; a tensor of the loop's
 *     length is addressed at the block's rows, a per-block temporary at row 0;
 *   - attention: Q, K and V are projected for all heads at once or one head at a
 *     time into the scratch; then, per head or for all heads at once, blocks of query
 *     rows get their scores over their keys (every key, or the union of the rows'
 *     local windows), their softmax and the weighted sum of the values. The op's
 *     schedule (q_block, head_batch, qkv_all) is chosen by the lowering
 *     (pyreparam/quant/lower.py) to fit the arena; one row and one head per call is
 *     the smallest (nothing of size T x T is stored), and format version 1 files run
 *     that way.
 * The blob is re-validated (without its CRC) on every call, so the pointers below
 * are all in bounds by construction.
 */
#include <string.h>

#include "pr_model_validate.h"

/* Optional timing hooks for profiling builds only (tools/bench_model_profile.py
 * compiles with -DPR_MODEL_PROFILE and defines the hook): phase 0 before and 1 after
 * each op (type 0: the re-validation; 100 + k: the parts of the attention op). Not
 * part of any library build. */
#ifdef PR_MODEL_PROFILE
void pr_model_profile_hook(int32_t what, int32_t phase);
#define PR_MR_PROF(what, phase) pr_model_profile_hook((what), (phase))
#else
#define PR_MR_PROF(what, phase) ((void)0)
#endif
#if defined(PR_MODEL_PROFILE) && PR_MODEL_PROFILE >= 2
#define PR_MR_PROF2(what, phase) pr_model_profile_hook((what), (phase))
#else
#define PR_MR_PROF2(what, phase) ((void)0)
#endif

/* Run state: the validated view, the caller's buffers, the run-time lengths and the
 * row window of the op being run (r0, nb inside a loop). */
typedef struct {
    pr_mv v;
    const uint8_t *input;
    uint8_t *logits;
    uint8_t *arena;
    int32_t len[PR_MODEL_MAX_LENGTHS];
    int32_t in_loop;
    int32_t loop_len;
    int32_t r0;
    int32_t nb;
} pr_mr;

static void pr_mr_tensor(const pr_mr *r, int32_t ref, pr_m_tensor *t)
{
    pr_m_read_tensor(r->v.blob, r->v.h[PR_H_TENS_OFF], ref, t);
}

/* First row of data operand t the current step touches: the block's start for a
 * tensor of the loop's length (or a constant data operand: the position table),
 * else 0. */
static int64_t pr_mr_row0(const pr_mr *r, const pr_m_tensor *t)
{
    if (r->in_loop && (t->len_id == r->loop_len || t->kind == PR_KIND_CONST)) {
        return r->r0;
    }
    return 0;
}

/* Rows of t at run time (outside loops). */
static int32_t pr_mr_rows(const pr_mr *r, const pr_m_tensor *t)
{
    return t->len_id >= 0 ? r->len[t->len_id] : (int32_t)t->rows;
}

/* Rows a row-wise op processes now, given its output. */
static int32_t pr_mr_step_rows(const pr_mr *r, const pr_m_tensor *y)
{
    return r->in_loop ? r->nb : pr_mr_rows(r, y);
}

static const void *pr_mr_rd(const pr_mr *r, const pr_m_tensor *t)
{
    const uint8_t *base;
    if (t->kind == PR_KIND_CONST) {
        base = r->v.blob + r->v.h[PR_H_DATA_OFF] + t->offset;
    } else if (t->kind == PR_KIND_ARENA) {
        base = r->arena + t->offset;
    } else if (t->kind == PR_KIND_INPUT) {
        base = r->input;
    } else {
        base = r->logits;
    }
    return base + pr_mr_row0(r, t) * t->cols * pr_m_dtype_size(t->dtype);
}

static void *pr_mr_wr(const pr_mr *r, const pr_m_tensor *t)
{
    uint8_t *base = t->kind == PR_KIND_ARENA ? r->arena + t->offset : r->logits;
    return base + pr_mr_row0(r, t) * t->cols * pr_m_dtype_size(t->dtype);
}

/* A parameter constant (weights, bias, multipliers, tables): never row-sliced. */
static const uint8_t *pr_mr_param(const pr_mr *r, int32_t ref)
{
    pr_m_tensor t;
    pr_mr_tensor(r, ref, &t);
    return r->v.blob + r->v.h[PR_H_DATA_OFF] + t.offset;
}

/* An int32 parameter array; NULL for ref -1 (an optional bias). */
static const int32_t *pr_mr_c32(const pr_mr *r, int32_t ref)
{
    return ref < 0 ? NULL : (const int32_t *)(const void *)pr_mr_param(r, ref);
}

static const int8_t *pr_mr_c8(const pr_mr *r, int32_t ref)
{
    return (const int8_t *)pr_mr_param(r, ref);
}

#include "pr_model_run_ops.h"

/* ---- driver ------------------------------------------------------------------------ */

static pr_status pr_mr_lengths(pr_mr *r, int32_t T)
{
    int32_t i;
    pr_m_length l;
    if (T < 1 || T > (int32_t)r->v.h[PR_H_TMAX]) {
        return PR_ERR_MODEL_LENGTH;
    }
    r->len[0] = T;
    for (i = 1; i < (int32_t)r->v.h[PR_H_NLEN]; ++i) {
        int64_t value;
        pr_m_read_length(r->v.blob, r->v.h[PR_H_LEN_OFF], i, &l);
        value = pr_m_length_eval(&l, r->len[l.src]);
        if (value < 1 || value > r->v.len_max[i]) {
            return PR_ERR_MODEL_LENGTH;
        }
        r->len[i] = (int32_t)value;
    }
    return PR_OK;
}

static pr_status pr_mr_op_body(pr_mr *r, const pr_m_op *op)
{
    switch (op->type) {
    case PR_OP_CONV1D: return pr_mr_conv1d(r, op);
    case PR_OP_LINEAR: return pr_mr_linear(r, op);
    case PR_OP_ADD: return pr_mr_add(r, op);
    case PR_OP_LAYERNORM: return pr_mr_layernorm(r, op);
    case PR_OP_LUT: return pr_mr_lut(r, op);
    case PR_OP_MUL: return pr_mr_mul(r, op);
    case PR_OP_DWCONV: return pr_mr_dwconv(r, op);
    case PR_OP_AVGPOOL: return pr_mr_avgpool(r, op);
    case PR_OP_WIDEN: return pr_mr_widen(r, op);
    case PR_OP_MHA: return pr_mr_mha(r, op);
    default: return PR_ERR_MODEL_OP;     /* the validation lets no other type through */
    }
}

static pr_status pr_mr_op(pr_mr *r, const pr_m_op *op)
{
    pr_status st;
    PR_MR_PROF((int32_t)op->type, 0);
    st = pr_mr_op_body(r, op);
    PR_MR_PROF((int32_t)op->type, 1);
    return st;
}

/* The n body ops after the loop op (at byte position body), once per row block;
 * *end receives the position after the body. */
static pr_status pr_mr_loop(pr_mr *r, const pr_m_op *loop, int64_t body, int64_t *end)
{
    const int32_t len_id = pr_m_word(loop, F_LOOP_LEN);
    const int32_t block = pr_m_word(loop, F_LOOP_BLOCK);
    const int32_t n = pr_m_word(loop, F_LOOP_N);
    const int32_t rows = r->len[len_id];
    int32_t k;
    int64_t pos = body;
    pr_m_op op;
    r->in_loop = 1;
    r->loop_len = len_id;
    for (r->r0 = 0; r->r0 < rows; r->r0 += block) {
        r->nb = rows - r->r0 < block ? rows - r->r0 : block;
        pos = body;
        for (k = 0; k < n; ++k) {
            pr_status st = pr_mv_op_at(&r->v, pos, &op);
            if (st == PR_OK) {
                st = pr_mr_op(r, &op);
            }
            if (st != PR_OK) {
                r->in_loop = 0;
                return st;
            }
            pos += 8 + 4 * op.n_words;
        }
    }
    r->in_loop = 0;
    *end = pos;
    return PR_OK;
}

pr_status pr_model_run(const uint8_t *blob, int64_t len, const int8_t *input, int32_t T,
                       int8_t *logits, uint8_t *arena, int64_t arena_len)
{
    pr_mr r;
    pr_m_op op;
    pr_status st;
    int64_t i, pos;
    if (blob == NULL || input == NULL || logits == NULL || arena == NULL) {
        return PR_ERR_NULL;
    }
    PR_MR_PROF(0, 0);
    st = pr_model_validate(blob, len, NULL, 0, &r.v);
    PR_MR_PROF(0, 1);
    if (st != PR_OK) {
        return st;
    }
    if (((uintptr_t)arena & 3u) != 0) {
        return PR_ERR_MODEL_ALIGN;
    }
    if (arena_len < (int64_t)r.v.h[PR_H_ARENA]) {
        return PR_ERR_MODEL_ARENA;
    }
    st = pr_mr_lengths(&r, T);
    if (st != PR_OK) {
        return st;
    }
    r.input = (const uint8_t *)input;
    r.logits = (uint8_t *)logits;
    r.arena = arena;
    r.in_loop = 0;
    pos = r.v.h[PR_H_OPS_OFF];
    for (i = 0; i < (int64_t)r.v.h[PR_H_NOPS]; ++i) {
        st = pr_mv_op_at(&r.v, pos, &op);
        if (st != PR_OK) {
            return st;
        }
        pos += 8 + 4 * op.n_words;
        if (op.type == PR_OP_LOOP) {
            st = pr_mr_loop(&r, &op, pos, &pos);
            i += pr_m_word(&op, F_LOOP_N);
        } else {
            st = pr_mr_op(&r, &op);
        }
        if (st != PR_OK) {
            return st;
        }
    }
    return PR_OK;
}
