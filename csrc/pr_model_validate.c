/*
 * Internal: complete validation of a .prq model file (not public API; declared in
 * pr_model_validate.h), used by pr_model_check (with the CRC) and by pr_model_run
 * (structure only, every call). Compiled once here, so the two share one copy.
 * Every read is preceded by a bounds check, so any byte string is safe to pass.
 *
 * Order: framing (size, alignment, host, magic, version, CRC), header counts and
 * sections, length rules, tensor table, ops (each op's tensor references and
 * parameters, row loops, live ranges), then the arena plan (no two tensors live at
 * the same op overlap). The first problem found is returned.
 */
#include "pr_crc32_internal.h"
#include "pr_model_validate.h"

static int pr_mv_is_little_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* ---- framing, header and sections ---------------------------------------------- */

static pr_status pr_mv_frame(pr_mv *v, const uint8_t *blob, int64_t len, int crc)
{
    int32_t i;
    if (blob == NULL) {
        return PR_ERR_NULL;
    }
    if (!pr_mv_is_little_endian()) {
        return PR_ERR_MODEL_HOST;
    }
    if (((uintptr_t)blob & 3u) != 0) {
        return PR_ERR_MODEL_ALIGN;
    }
    if (len < PR_MODEL_HEADER_BYTES + 4) {
        return PR_ERR_MODEL_TRUNCATED;
    }
    v->blob = blob;
    for (i = 0; i < PR_H_WORDS; ++i) {
        v->h[i] = pr_m_u32(blob + 4 * i);
    }
    if (v->h[PR_H_MAGIC] != PR_MODEL_MAGIC) {
        return PR_ERR_MODEL_MAGIC;
    }
    if (v->h[PR_H_VERSION] < PR_MODEL_OLDEST_VERSION ||
        v->h[PR_H_VERSION] > (uint32_t)PR_MODEL_FORMAT_VERSION) {
        return PR_ERR_MODEL_VERSION;
    }
    if ((int64_t)v->h[PR_H_FILE_BYTES] != len) {
        return PR_ERR_MODEL_TRUNCATED;
    }
    if (crc && pr_crc32(blob, len - 4) != pr_m_u32(blob + len - 4)) {
        return PR_ERR_MODEL_CRC;
    }
    return PR_OK;
}

/* A section [off, off + size) inside the body (after the header, before the CRC). */
static int pr_mv_section_ok(const pr_mv *v, uint32_t off, int64_t size)
{
    return off % 16u == 0 && off >= (uint32_t)PR_MODEL_HEADER_BYTES &&
           (int64_t)off + size <= (int64_t)v->h[PR_H_FILE_BYTES] - 4;
}

static pr_status pr_mv_sections(const pr_mv *v)
{
    const uint32_t *h = v->h;
    int64_t off[5], size[5];
    int32_t i, j;
    if (h[PR_H_HEADER_BYTES] != (uint32_t)PR_MODEL_HEADER_BYTES || h[PR_H_FLAGS] != 0 ||
        h[PR_H_RESERVED] != 0 || h[PR_H_RESERVED + 1] != 0 || h[PR_H_RESERVED + 2] != 0 ||
        h[PR_H_RESERVED + 3] != 0) {
        return PR_ERR_MODEL_BOUNDS;
    }
    if (h[PR_H_NLEN] < 1 || h[PR_H_NLEN] > (uint32_t)PR_MODEL_MAX_LENGTHS ||
        h[PR_H_NTENS] < 1 || h[PR_H_NTENS] > (uint32_t)PR_MODEL_MAX_TENSORS ||
        h[PR_H_NOPS] < 1 || h[PR_H_NOPS] > (uint32_t)PR_MODEL_MAX_OPS ||
        h[PR_H_TMAX] < 1 || h[PR_H_TMAX] > (uint32_t)PR_MODEL_MAX_T ||
        h[PR_H_ARENA] > (uint32_t)PR_MODEL_MAX_ARENA || h[PR_H_ARENA] % 4u != 0) {
        return PR_ERR_MODEL_BOUNDS;
    }
    off[0] = h[PR_H_LEN_OFF];
    size[0] = (int64_t)h[PR_H_NLEN] * PR_MODEL_LENGTH_BYTES;
    off[1] = h[PR_H_TENS_OFF];
    size[1] = (int64_t)h[PR_H_NTENS] * PR_MODEL_TENSOR_BYTES;
    off[2] = h[PR_H_OPS_OFF];
    size[2] = h[PR_H_OPS_BYTES];
    off[3] = h[PR_H_DATA_OFF];
    size[3] = h[PR_H_DATA_BYTES];
    off[4] = h[PR_H_META_OFF];
    size[4] = h[PR_H_META_BYTES];
    for (i = 0; i < 5; ++i) {
        if (!pr_mv_section_ok(v, (uint32_t)off[i], size[i])) {
            return PR_ERR_MODEL_BOUNDS;
        }
        for (j = 0; j < i; ++j) {
            if (size[i] > 0 && size[j] > 0 && off[i] < off[j] + size[j] &&
                off[j] < off[i] + size[i]) {
                return PR_ERR_MODEL_BOUNDS;
            }
        }
    }
    return PR_OK;
}

/* ---- length rules ----------------------------------------------------------------- */

static pr_status pr_mv_lengths(pr_mv *v)
{
    int32_t i;
    pr_m_length l;
    for (i = 0; i < (int32_t)v->h[PR_H_NLEN]; ++i) {
        int64_t value;
        pr_m_read_length(v->blob, v->h[PR_H_LEN_OFF], i, &l);
        if (i == 0) {
            if (l.kind != PR_LEN_INPUT || l.src != -1 || l.a != 0 || l.b != 0 || l.c != 0 ||
                l.max != (int64_t)v->h[PR_H_TMAX]) {
                return PR_ERR_MODEL_BOUNDS;
            }
            v->len_max[0] = l.max;
            continue;
        }
        if (l.src < 0 || l.src >= i) {
            return PR_ERR_MODEL_BOUNDS;
        }
        if (l.kind == PR_LEN_CONV) {
            if (l.a < 1 || l.a > PR_MODEL_MAX_CONV || l.b < 1 || l.b > PR_MODEL_MAX_CONV ||
                l.c < 0 || l.c >= l.a) {
                return PR_ERR_MODEL_BOUNDS;
            }
        } else if (l.kind != PR_LEN_CEILDIV || l.a < 1 || l.a > PR_MODEL_MAX_CONV ||
                   l.b != 0 || l.c != 0) {
            return PR_ERR_MODEL_BOUNDS;
        }
        value = pr_m_length_eval(&l, v->len_max[l.src]);
        if (value < 1 || value != l.max) {
            return PR_ERR_MODEL_BOUNDS;
        }
        v->len_max[i] = value;
    }
    return PR_OK;
}

/* ---- tensor table ------------------------------------------------------------------ */

static pr_status pr_mv_tensor_entry(const pr_mv *v, int32_t i, const pr_m_tensor *t)
{
    const int64_t size = pr_m_dtype_size(t->dtype);
    if (size == 0 || t->kind > PR_KIND_OUTPUT || t->reserved != 0 || t->len_id < -1 ||
        t->len_id >= (int64_t)v->h[PR_H_NLEN] || t->rows < 1 || t->cols < 1 ||
        t->rows > PR_Q_MAX_ELEMS || t->cols > PR_Q_MAX_ELEMS ||
        t->rows * t->cols > PR_Q_MAX_ELEMS || t->rows * t->cols * size != t->nbytes ||
        (t->len_id >= 0 && t->rows != v->len_max[t->len_id])) {
        return PR_ERR_MODEL_TENSOR;
    }
    if (t->kind != PR_KIND_ARENA && (t->first != 0 || t->last != 0)) {
        return PR_ERR_MODEL_TENSOR;       /* live ranges belong to arena tensors only */
    }
    if (t->kind == PR_KIND_CONST) {
        if (t->len_id != -1 || t->offset % 4 != 0 ||
            t->offset + t->nbytes > (int64_t)v->h[PR_H_DATA_BYTES]) {
            return PR_ERR_MODEL_TENSOR;
        }
    } else if (t->kind == PR_KIND_ARENA) {
        if (t->offset % 4 != 0 || t->offset + t->nbytes > (int64_t)v->h[PR_H_ARENA] ||
            t->first > t->last || t->last >= (int64_t)v->h[PR_H_NOPS]) {
            return PR_ERR_MODEL_ARENA;
        }
    } else if (t->kind == PR_KIND_INPUT) {
        if (i != (int32_t)v->h[PR_H_INPUT] || t->dtype != PR_DT_S8 || t->len_id != 0 ||
            t->offset != 0) {
            return PR_ERR_MODEL_TENSOR;
        }
    } else if (i != (int32_t)v->h[PR_H_OUTPUT] || t->dtype != PR_DT_S8 || t->len_id != -1 ||
               t->rows != 1 || t->offset != 0) {
        return PR_ERR_MODEL_TENSOR;
    }
    return PR_OK;
}

static pr_status pr_mv_tensors(const pr_mv *v)
{
    int32_t i;
    pr_m_tensor t;
    if (v->h[PR_H_INPUT] >= v->h[PR_H_NTENS] || v->h[PR_H_OUTPUT] >= v->h[PR_H_NTENS]) {
        return PR_ERR_MODEL_TENSOR;
    }
    for (i = 0; i < (int32_t)v->h[PR_H_NTENS]; ++i) {
        pr_status st;
        pr_m_read_tensor(v->blob, v->h[PR_H_TENS_OFF], i, &t);
        st = pr_mv_tensor_entry(v, i, &t);
        if (st != PR_OK) {
            return st;
        }
    }
    pr_m_read_tensor(v->blob, v->h[PR_H_TENS_OFF], (int32_t)v->h[PR_H_INPUT], &t);
    if (t.kind != PR_KIND_INPUT) {
        return PR_ERR_MODEL_TENSOR;
    }
    pr_m_read_tensor(v->blob, v->h[PR_H_TENS_OFF], (int32_t)v->h[PR_H_OUTPUT], &t);
    return t.kind == PR_KIND_OUTPUT ? PR_OK : PR_ERR_MODEL_TENSOR;
}

/* The kind byte of tensor entry i (bounds checked by pr_mv_sections). */
static uint8_t pr_mv_tensor_kind(const pr_mv *v, int32_t i)
{
    return v->blob[v->h[PR_H_TENS_OFF] + (int64_t)i * PR_MODEL_TENSOR_BYTES];
}

/* No two arena tensors whose live ranges intersect share a byte (quadratic in the
 * arena tensors; entries of other kinds are skipped by their kind byte). */
static pr_status pr_mv_arena_plan(const pr_mv *v)
{
    int32_t i, j;
    pr_m_tensor a, b;
    for (i = 0; i < (int32_t)v->h[PR_H_NTENS]; ++i) {
        if (pr_mv_tensor_kind(v, i) != PR_KIND_ARENA) {
            continue;
        }
        pr_m_read_tensor(v->blob, v->h[PR_H_TENS_OFF], i, &a);
        for (j = i + 1; j < (int32_t)v->h[PR_H_NTENS]; ++j) {
            const uint8_t *p =
                v->blob + v->h[PR_H_TENS_OFF] + (int64_t)j * PR_MODEL_TENSOR_BYTES;
            if (p[0] != PR_KIND_ARENA) {
                continue;
            }
            b.offset = pr_m_u32(p + 16);     /* the fields the test needs */
            b.nbytes = pr_m_u32(p + 20);
            b.first = pr_m_u32(p + 24);
            b.last = pr_m_u32(p + 28);
            if (a.first <= b.last && b.first <= a.last &&
                a.offset < b.offset + b.nbytes && b.offset < a.offset + a.nbytes) {
                return PR_ERR_MODEL_ARENA;
            }
        }
    }
    return PR_OK;
}

/* ---- operand helpers ---------------------------------------------------------------- */

enum { PR_MV_READ, PR_MV_READ_CONST, PR_MV_WRITE };

static int64_t pr_mv_max_rows(const pr_mv *v, const pr_m_tensor *t)
{
    return t->len_id >= 0 ? v->len_max[t->len_id] : t->rows;
}

/* A tensor reference: in range; an arena tensor must be live over the current span. */
static pr_status pr_mv_ref(const pr_mv *v, int32_t ref, pr_m_tensor *t)
{
    if (ref < 0 || ref >= (int32_t)v->h[PR_H_NTENS]) {
        return PR_ERR_MODEL_TENSOR;
    }
    pr_m_read_tensor(v->blob, v->h[PR_H_TENS_OFF], ref, t);
    if (t->kind == PR_KIND_ARENA && (t->first > v->span_lo || t->last < v->span_hi)) {
        return PR_ERR_MODEL_ARENA;
    }
    return PR_OK;
}

/* A data operand of a role, dtype (0: int8 or int16) and column count (0: any). */
static pr_status pr_mv_data(const pr_mv *v, int32_t ref, int role, int64_t dtype,
                                   int64_t cols, pr_m_tensor *t)
{
    pr_status st = pr_mv_ref(v, ref, t);
    int kind_ok;
    if (st != PR_OK) {
        return st;
    }
    if (role == PR_MV_WRITE) {
        kind_ok = t->kind == PR_KIND_ARENA || t->kind == PR_KIND_OUTPUT;
    } else {
        kind_ok = t->kind == PR_KIND_ARENA || t->kind == PR_KIND_INPUT ||
                  (role == PR_MV_READ_CONST && t->kind == PR_KIND_CONST);
    }
    if (!kind_ok || (dtype != 0 && t->dtype != dtype) ||
        (dtype == 0 && t->dtype != PR_DT_S8 && t->dtype != PR_DT_S16) ||
        (cols != 0 && t->cols != cols)) {
        return PR_ERR_MODEL_TENSOR;
    }
    return PR_OK;
}

/* A constant of exact dtype and shape. */
static pr_status pr_mv_const(const pr_mv *v, int32_t ref, int64_t dtype, int64_t rows,
                                    int64_t cols, pr_m_tensor *t)
{
    pr_status st = pr_mv_ref(v, ref, t);
    if (st != PR_OK) {
        return st;
    }
    if (t->kind != PR_KIND_CONST || t->dtype != dtype || t->rows != rows || t->cols != cols) {
        return PR_ERR_MODEL_TENSOR;
    }
    return PR_OK;
}

/* int32 element k of a constant (bounds guaranteed by pr_mv_const). */
static int32_t pr_mv_const_i32(const pr_mv *v, const pr_m_tensor *t, int64_t k)
{
    return pr_m_i32(v->blob + v->h[PR_H_DATA_OFF] + t->offset + 4 * k);
}

/* Per-channel multipliers (1, n) and shifts (1, >= n: a layer's shifts may be the
 * first n entries of a constant run shared by several layers); a negative multiplier
 * only when allowed (LayerNorm: the sign of gamma), never INT32_MIN. Optional bias
 * (1, n). */
static pr_status pr_mv_requant(const pr_mv *v, int32_t bias, int32_t mult,
                                      int32_t shift, int64_t n, int allow_negative)
{
    pr_m_tensor tm, ts, tb;
    int64_t k;
    pr_status st;
    if (bias != -1 && (st = pr_mv_const(v, bias, PR_DT_S32, 1, n, &tb)) != PR_OK) {
        return st;
    }
    if ((st = pr_mv_const(v, mult, PR_DT_S32, 1, n, &tm)) != PR_OK ||
        (st = pr_mv_ref(v, shift, &ts)) != PR_OK) {
        return st;
    }
    if (ts.kind != PR_KIND_CONST || ts.dtype != PR_DT_S32 || ts.rows != 1 || ts.cols < n) {
        return PR_ERR_MODEL_TENSOR;
    }
    {
        /* read in place, as the kernels will (4-aligned constants, little-endian host:
         * both checked before): one branch-free pass that compilers vectorize */
        const int32_t *m = (const int32_t *)(const void *)(v->blob + v->h[PR_H_DATA_OFF] +
                                                            tm.offset);
        const int32_t *e = (const int32_t *)(const void *)(v->blob + v->h[PR_H_DATA_OFF] +
                                                            ts.offset);
        const int32_t m_min = allow_negative ? PR_Q_INT32_MIN + 1 : 0;
        int32_t bad = 0;
        for (k = 0; k < n; ++k) {
            bad |= (m[k] < m_min) | (e[k] < PR_Q_SHIFT_MIN) | (e[k] > PR_Q_SHIFT_MAX);
        }
        return bad ? PR_ERR_MODEL_OP : PR_OK;
    }
}

/* Operand t of a row-wise op covers the same rows as its output y (reference/
 * int8_model.md, "row domains"); a constant (the position table) needs enough rows. */
static pr_status pr_mv_same_rows(const pr_mv *v, const pr_m_tensor *y,
                                        const pr_m_tensor *t)
{
    if (v->in_loop) {
        if (t->kind == PR_KIND_CONST) {
            return t->rows >= v->len_max[v->loop_len] ? PR_OK : PR_ERR_MODEL_TENSOR;
        }
        if (t->len_id == v->loop_len ||
            (t->kind == PR_KIND_ARENA && t->len_id == -1 && t->rows == v->loop_block)) {
            return PR_OK;
        }
        return PR_ERR_MODEL_TENSOR;
    }
    if (t->kind == PR_KIND_CONST) {
        return t->rows >= pr_mv_max_rows(v, y) ? PR_OK : PR_ERR_MODEL_TENSOR;
    }
    return t->len_id == y->len_id && (t->len_id >= 0 || t->rows == y->rows)
               ? PR_OK : PR_ERR_MODEL_TENSOR;
}

static int pr_mv_s8_range_ok(int32_t zp, int32_t lo, int32_t hi)
{
    return pr_q_out_range_ok(zp, lo, hi, -128, 127);
}

static int pr_mv_zp8_ok(int32_t zp)
{
    return zp >= -128 && zp <= 127;
}

#include "pr_model_validate_ops.h"

/* ---- the op list ---------------------------------------------------------------- */

static const int32_t pr_mv_words[PR_OP_END] = {
    0, F_LOOP_WORDS, F_CONV_WORDS, F_LIN_WORDS, F_ADD_WORDS, F_LN_WORDS, F_LUT_WORDS,
    F_MUL_WORDS, F_DW_WORDS, F_POOL_WORDS, F_WIDEN_WORDS, F_MHA_WORDS};

static int pr_mv_row_wise(int64_t type)
{
    return type == PR_OP_LINEAR || type == PR_OP_ADD || type == PR_OP_LAYERNORM ||
           type == PR_OP_LUT || type == PR_OP_MUL || type == PR_OP_WIDEN;
}

/* Read op header at byte pos of the ops section; bounds-checked. */
pr_status pr_mv_op_at(const pr_mv *v, int64_t pos, pr_m_op *op)
{
    const int64_t end = (int64_t)v->h[PR_H_OPS_OFF] + v->h[PR_H_OPS_BYTES];
    if (pos + 8 > end) {
        return PR_ERR_MODEL_BOUNDS;
    }
    op->type = pr_m_u32(v->blob + pos);
    op->n_words = pr_m_u32(v->blob + pos + 4);
    if (op->type < 1 || op->type >= PR_OP_END) {
        return PR_ERR_MODEL_OP;
    }
    if (op->n_words != (op->type == PR_OP_MHA && v->h[PR_H_VERSION] < 2u
                            ? (int64_t)F_MHA_WORDS_V1 : (int64_t)pr_mv_words[op->type])) {
        return PR_ERR_MODEL_OP;
    }
    if (pos + 8 + 4 * op->n_words > end) {
        return PR_ERR_MODEL_BOUNDS;
    }
    op->words = v->blob + pos + 8;
    return PR_OK;
}

static pr_status pr_mv_loop(pr_mv *v, int64_t i, const pr_m_op *op)
{
    const int32_t len_id = pr_m_word(op, F_LOOP_LEN);
    const int32_t block = pr_m_word(op, F_LOOP_BLOCK);
    const int32_t n = pr_m_word(op, F_LOOP_N);
    if (v->in_loop || len_id < 0 || len_id >= (int32_t)v->h[PR_H_NLEN] || block < 1 ||
        block > PR_MODEL_MAX_BLOCK || n < 1 || i + n >= (int64_t)v->h[PR_H_NOPS]) {
        return PR_ERR_MODEL_OP;
    }
    v->in_loop = 1;
    v->loop_len = len_id;
    v->loop_block = block;
    v->loop_start = i;
    v->loop_end = i + n;
    return PR_OK;
}

static pr_status pr_mv_op(pr_mv *v, const pr_m_op *op)
{
    switch (op->type) {
    case PR_OP_CONV1D: return pr_mv_conv1d(v, op);
    case PR_OP_LINEAR: return pr_mv_linear(v, op);
    case PR_OP_ADD: return pr_mv_add(v, op);
    case PR_OP_LAYERNORM: return pr_mv_layernorm(v, op);
    case PR_OP_LUT: return pr_mv_lut(v, op);
    case PR_OP_MUL: return pr_mv_mul(v, op);
    case PR_OP_DWCONV: return pr_mv_dwconv(v, op);
    case PR_OP_AVGPOOL: return pr_mv_avgpool(v, op);
    case PR_OP_WIDEN: return pr_mv_widen(v, op);
    default: return pr_mv_mha(v, op);
    }
}

static pr_status pr_mv_ops(pr_mv *v)
{
    int64_t i;
    int64_t pos = v->h[PR_H_OPS_OFF];
    pr_m_op op;
    v->in_loop = 0;
    for (i = 0; i < (int64_t)v->h[PR_H_NOPS]; ++i) {
        pr_status st = pr_mv_op_at(v, pos, &op);
        if (st != PR_OK) {
            return st;
        }
        if (v->in_loop && i > v->loop_end) {
            v->in_loop = 0;
        }
        if (op.type == PR_OP_LOOP) {
            st = pr_mv_loop(v, i, &op);
        } else {
            if (v->in_loop && !pr_mv_row_wise(op.type)) {
                return PR_ERR_MODEL_OP;
            }
            v->span_lo = v->in_loop ? v->loop_start : i;
            v->span_hi = v->in_loop ? v->loop_end : i;
            st = pr_mv_op(v, &op);
        }
        if (st != PR_OK) {
            return st;
        }
        pos += 8 + 4 * op.n_words;
    }
    return pos == (int64_t)v->h[PR_H_OPS_OFF] + v->h[PR_H_OPS_BYTES] ? PR_OK
                                                                      : PR_ERR_MODEL_BOUNDS;
}

/* Everything, in order; fills info (may be NULL) on success. */
pr_status pr_model_validate(const uint8_t *blob, int64_t len, pr_model_info *info, int crc,
                            pr_mv *v)
{
    pr_status st = pr_mv_frame(v, blob, len, crc);
    pr_m_tensor t;
    if (st == PR_OK) st = pr_mv_sections(v);
    if (st == PR_OK) st = pr_mv_lengths(v);
    if (st == PR_OK) st = pr_mv_tensors(v);
    if (st == PR_OK) st = pr_mv_ops(v);
    if (st == PR_OK) st = pr_mv_arena_plan(v);
    if (st != PR_OK || info == NULL) {
        return st;
    }
    info->version = (int32_t)v->h[PR_H_VERSION];
    info->t_max = (int32_t)v->h[PR_H_TMAX];
    pr_m_read_tensor(blob, v->h[PR_H_TENS_OFF], (int32_t)v->h[PR_H_INPUT], &t);
    info->input_cols = (int32_t)t.cols;
    pr_m_read_tensor(blob, v->h[PR_H_TENS_OFF], (int32_t)v->h[PR_H_OUTPUT], &t);
    info->output_cols = (int32_t)t.cols;
    info->arena_bytes = (int32_t)v->h[PR_H_ARENA];
    info->n_ops = (int32_t)v->h[PR_H_NOPS];
    info->n_tensors = (int32_t)v->h[PR_H_NTENS];
    info->const_bytes = (int32_t)v->h[PR_H_DATA_BYTES];
    info->flash_bytes = (int32_t)(len - (int64_t)v->h[PR_H_META_BYTES]);
    info->meta_offset = (int32_t)v->h[PR_H_META_OFF];
    info->meta_bytes = (int32_t)v->h[PR_H_META_BYTES];
    return PR_OK;
}
