/*
 * Internal: per-op validation of a .prq file (not public API; included once, by
 * pr_model_validate.c, after the shared helpers it uses). Each function checks one op's tensor references (kind,
 * dtype, shape, row domain, aliasing) and parameters against what the kernel and
 * the runner (pr_model_run.c) will do with them, so that a file that passes can
 * never make the runner read or write outside the blob, the arena or the caller's
 * input and logits. Returns PR_ERR_MODEL_TENSOR, _OP or _ARENA on the first problem.
 */
#ifndef PR_MODEL_VALIDATE_OPS_H
#define PR_MODEL_VALIDATE_OPS_H

#define PR_MV_TRY(expr)             \
    do {                            \
        const pr_status st_ = (expr); \
        if (st_ != PR_OK) {         \
            return st_;             \
        }                           \
    } while (0)

#define PR_MV_REQUIRE(cond, code) \
    do {                          \
        if (!(cond)) {            \
            return (code);        \
        }                         \
    } while (0)

static pr_status pr_mv_conv1d(const pr_mv *v, const pr_m_op *op)
{
    const int32_t K = pr_m_word(op, F_CONV_K);
    const int32_t stride = pr_m_word(op, F_CONV_STRIDE);
    const int32_t pad = pr_m_word(op, F_CONV_PAD);
    pr_m_tensor x, y, w;
    pr_m_length l;
    PR_MV_TRY(pr_mv_data(v, pr_m_word(op, F_CONV_X), PR_MV_READ, PR_DT_S8, 0, &x));
    PR_MV_TRY(pr_mv_data(v, pr_m_word(op, F_CONV_Y), PR_MV_WRITE, PR_DT_S8, 0, &y));
    PR_MV_REQUIRE(pr_m_word(op, F_CONV_X) != pr_m_word(op, F_CONV_Y), PR_ERR_MODEL_TENSOR);
    PR_MV_REQUIRE(K >= 1 && stride >= 1 && pad >= 0 && pad < K &&
                  (int64_t)K * x.cols <= PR_Q_MAX_DEPTH, PR_ERR_MODEL_OP);
    /* y's rows must be the conv length rule of x's rows with the same K, stride, pad */
    PR_MV_REQUIRE(x.len_id >= 0 && y.len_id >= 0, PR_ERR_MODEL_TENSOR);
    pr_m_read_length(v->blob, v->h[PR_H_LEN_OFF], (int32_t)y.len_id, &l);
    PR_MV_REQUIRE(l.kind == PR_LEN_CONV && l.src == x.len_id && l.a == K && l.b == stride &&
                  l.c == pad, PR_ERR_MODEL_TENSOR);
    PR_MV_TRY(pr_mv_const(v, pr_m_word(op, F_CONV_W), PR_DT_S8, y.cols, K * x.cols, &w));
    PR_MV_TRY(pr_mv_requant(v, pr_m_word(op, F_CONV_BIAS), pr_m_word(op, F_CONV_MULT),
                            pr_m_word(op, F_CONV_SHIFT), y.cols, 0));
    PR_MV_REQUIRE(pr_mv_zp8_ok(pr_m_word(op, F_CONV_INZP)) &&
                  pr_mv_s8_range_ok(pr_m_word(op, F_CONV_ZP), pr_m_word(op, F_CONV_MIN),
                                    pr_m_word(op, F_CONV_MAX)), PR_ERR_MODEL_OP);
    return PR_OK;
}

static pr_status pr_mv_linear(const pr_mv *v, const pr_m_op *op)
{
    const int32_t zp = pr_m_word(op, F_LIN_ZP);
    const int32_t lo = pr_m_word(op, F_LIN_MIN);
    const int32_t hi = pr_m_word(op, F_LIN_MAX);
    pr_m_tensor x, y, w;
    PR_MV_TRY(pr_mv_data(v, pr_m_word(op, F_LIN_X), PR_MV_READ, PR_DT_S8, 0, &x));
    PR_MV_TRY(pr_mv_data(v, pr_m_word(op, F_LIN_Y), PR_MV_WRITE, 0, 0, &y));
    PR_MV_REQUIRE(pr_m_word(op, F_LIN_X) != pr_m_word(op, F_LIN_Y), PR_ERR_MODEL_TENSOR);
    PR_MV_TRY(pr_mv_same_rows(v, &y, &y));
    PR_MV_TRY(pr_mv_same_rows(v, &y, &x));
    PR_MV_REQUIRE(x.cols <= PR_Q_MAX_DEPTH, PR_ERR_MODEL_OP);
    PR_MV_TRY(pr_mv_const(v, pr_m_word(op, F_LIN_W), PR_DT_S8, y.cols, x.cols, &w));
    PR_MV_TRY(pr_mv_requant(v, pr_m_word(op, F_LIN_BIAS), pr_m_word(op, F_LIN_MULT),
                            pr_m_word(op, F_LIN_SHIFT), y.cols, 0));
    if (y.dtype == PR_DT_S8) {
        PR_MV_REQUIRE(pr_mv_s8_range_ok(zp, lo, hi), PR_ERR_MODEL_OP);
    } else {
        PR_MV_REQUIRE(zp == 0 && pr_q_out_range_ok(0, lo, hi, -32768, 32767),
                      PR_ERR_MODEL_OP);
    }
    return PR_OK;
}

static pr_status pr_mv_add(const pr_mv *v, const pr_m_op *op)
{
    const int32_t ra = pr_m_word(op, F_ADD_A);
    const int32_t rb = pr_m_word(op, F_ADD_B);
    const int32_t bzp = pr_m_word(op, F_ADD_BZP);
    pr_m_tensor a, b, y;
    PR_MV_TRY(pr_mv_data(v, pr_m_word(op, F_ADD_Y), PR_MV_WRITE, PR_DT_S16, 0, &y));
    PR_MV_TRY(pr_mv_data(v, ra, PR_MV_READ_CONST, PR_DT_S16, y.cols, &a));
    PR_MV_TRY(pr_mv_data(v, rb, PR_MV_READ_CONST, 0, y.cols, &b));
    PR_MV_TRY(pr_mv_same_rows(v, &y, &y));
    PR_MV_TRY(pr_mv_same_rows(v, &y, &a));
    PR_MV_TRY(pr_mv_same_rows(v, &y, &b));
    PR_MV_REQUIRE(b.dtype == PR_DT_S16 ? bzp == 0 : pr_mv_zp8_ok(bzp), PR_ERR_MODEL_OP);
    PR_MV_REQUIRE(pr_q_multiplier_ok(pr_m_word(op, F_ADD_AM), pr_m_word(op, F_ADD_AS)) &&
                  pr_q_multiplier_ok(pr_m_word(op, F_ADD_BM), pr_m_word(op, F_ADD_BS)) &&
                  pr_q_multiplier_ok(pr_m_word(op, F_ADD_OM), pr_m_word(op, F_ADD_OS)) &&
                  pr_q_out_range_ok(0, pr_m_word(op, F_ADD_MIN), pr_m_word(op, F_ADD_MAX),
                                    -32768, 32767), PR_ERR_MODEL_OP);
    return PR_OK;
}

static pr_status pr_mv_layernorm(const pr_mv *v, const pr_m_op *op)
{
    const int64_t eps_lo = (int64_t)(uint32_t)pr_m_word(op, F_LN_EPS_LO);
    const int64_t eps_hi = pr_m_word(op, F_LN_EPS_HI);
    pr_m_tensor x, y, off;
    PR_MV_TRY(pr_mv_data(v, pr_m_word(op, F_LN_X), PR_MV_READ, PR_DT_S16, 0, &x));
    PR_MV_TRY(pr_mv_data(v, pr_m_word(op, F_LN_Y), PR_MV_WRITE, PR_DT_S8, x.cols, &y));
    PR_MV_TRY(pr_mv_same_rows(v, &y, &y));
    PR_MV_TRY(pr_mv_same_rows(v, &y, &x));
    PR_MV_REQUIRE(x.cols <= PR_LAYERNORM_MAX_CHANNELS, PR_ERR_MODEL_OP);
    PR_MV_TRY(pr_mv_requant(v, -1, pr_m_word(op, F_LN_MULT), pr_m_word(op, F_LN_SHIFT),
                            x.cols, 1));
    PR_MV_TRY(pr_mv_const(v, pr_m_word(op, F_LN_OFFSET), PR_DT_S32, 1, x.cols, &off));
    PR_MV_REQUIRE(eps_hi >= 0 && eps_hi <= ((int64_t)1 << 28) &&
                  eps_hi * ((int64_t)1 << 32) + eps_lo <= ((int64_t)1 << 60) &&
                  pr_mv_s8_range_ok(pr_m_word(op, F_LN_ZP), pr_m_word(op, F_LN_MIN),
                                    pr_m_word(op, F_LN_MAX)), PR_ERR_MODEL_OP);
    return PR_OK;
}

static pr_status pr_mv_lut(const pr_mv *v, const pr_m_op *op)
{
    pr_m_tensor x, y, table;
    PR_MV_TRY(pr_mv_data(v, pr_m_word(op, F_LUT_Y), PR_MV_WRITE, PR_DT_S8, 0, &y));
    PR_MV_TRY(pr_mv_data(v, pr_m_word(op, F_LUT_X), PR_MV_READ, PR_DT_S8, y.cols, &x));
    PR_MV_TRY(pr_mv_same_rows(v, &y, &y));
    PR_MV_TRY(pr_mv_same_rows(v, &y, &x));
    return pr_mv_const(v, pr_m_word(op, F_LUT_TABLE), PR_DT_S8, 1, 256, &table);
}

static pr_status pr_mv_mul(const pr_mv *v, const pr_m_op *op)
{
    pr_m_tensor a, b, y;
    PR_MV_TRY(pr_mv_data(v, pr_m_word(op, F_MUL_Y), PR_MV_WRITE, PR_DT_S8, 0, &y));
    PR_MV_TRY(pr_mv_data(v, pr_m_word(op, F_MUL_A), PR_MV_READ, PR_DT_S8, y.cols, &a));
    PR_MV_TRY(pr_mv_data(v, pr_m_word(op, F_MUL_B), PR_MV_READ, PR_DT_S8, y.cols, &b));
    PR_MV_TRY(pr_mv_same_rows(v, &y, &y));
    PR_MV_TRY(pr_mv_same_rows(v, &y, &a));
    PR_MV_TRY(pr_mv_same_rows(v, &y, &b));
    PR_MV_REQUIRE(pr_mv_zp8_ok(pr_m_word(op, F_MUL_AZP)) &&
                  pr_mv_zp8_ok(pr_m_word(op, F_MUL_BZP)) &&
                  pr_q_multiplier_ok(pr_m_word(op, F_MUL_M), pr_m_word(op, F_MUL_S)) &&
                  pr_mv_s8_range_ok(pr_m_word(op, F_MUL_ZP), pr_m_word(op, F_MUL_MIN),
                                    pr_m_word(op, F_MUL_MAX)), PR_ERR_MODEL_OP);
    return PR_OK;
}

/* An int32 scratch arena tensor of at least n elements, distinct from x and y. */
static pr_status pr_mv_scratch32(const pr_mv *v, int32_t ref, int32_t rx, int32_t ry,
                                        int64_t n)
{
    pr_m_tensor s;
    PR_MV_TRY(pr_mv_ref(v, ref, &s));
    PR_MV_REQUIRE(s.kind == PR_KIND_ARENA && s.dtype == PR_DT_S32 && s.len_id == -1 &&
                  s.rows * s.cols >= n && ref != rx && ref != ry, PR_ERR_MODEL_TENSOR);
    return PR_OK;
}

static pr_status pr_mv_dwconv(const pr_mv *v, const pr_m_op *op)
{
    const int32_t rx = pr_m_word(op, F_DW_X);
    const int32_t ry = pr_m_word(op, F_DW_Y);
    pr_m_tensor x, y, w;
    PR_MV_TRY(pr_mv_data(v, rx, PR_MV_READ, PR_DT_S8, 0, &x));
    PR_MV_TRY(pr_mv_data(v, ry, PR_MV_WRITE, PR_DT_S8, x.cols, &y));
    PR_MV_REQUIRE(rx != ry, PR_ERR_MODEL_TENSOR);
    PR_MV_TRY(pr_mv_same_rows(v, &y, &x));
    PR_MV_TRY(pr_mv_ref(v, pr_m_word(op, F_DW_W), &w));
    PR_MV_REQUIRE(w.kind == PR_KIND_CONST && w.dtype == PR_DT_S8 && w.cols == x.cols &&
                  w.rows % 2 == 1 && w.rows <= PR_Q_MAX_DEPTH, PR_ERR_MODEL_TENSOR);
    PR_MV_TRY(pr_mv_requant(v, pr_m_word(op, F_DW_BIAS), pr_m_word(op, F_DW_MULT),
                            pr_m_word(op, F_DW_SHIFT), x.cols, 0));
    PR_MV_TRY(pr_mv_scratch32(v, pr_m_word(op, F_DW_SCRATCH), rx, ry, x.cols));
    PR_MV_REQUIRE(pr_mv_zp8_ok(pr_m_word(op, F_DW_INZP)) &&
                  pr_mv_s8_range_ok(pr_m_word(op, F_DW_ZP), pr_m_word(op, F_DW_MIN),
                                    pr_m_word(op, F_DW_MAX)), PR_ERR_MODEL_OP);
    return PR_OK;
}

static pr_status pr_mv_avgpool(const pr_mv *v, const pr_m_op *op)
{
    const int32_t rx = pr_m_word(op, F_POOL_X);
    const int32_t ry = pr_m_word(op, F_POOL_Y);
    const int32_t group = pr_m_word(op, F_POOL_GROUP);
    const int32_t zp = pr_m_word(op, F_POOL_ZP);
    pr_m_tensor x, y;
    pr_m_length l;
    PR_MV_TRY(pr_mv_data(v, rx, PR_MV_READ, 0, 0, &x));
    PR_MV_TRY(pr_mv_data(v, ry, PR_MV_WRITE, x.dtype, x.cols, &y));
    PR_MV_REQUIRE(rx != ry, PR_ERR_MODEL_TENSOR);
    PR_MV_REQUIRE(group >= 0 && group <= PR_Q_MAX_DEPTH, PR_ERR_MODEL_OP);
    if (group == 0) { /* mean over all rows: (1, C) */
        PR_MV_REQUIRE(y.len_id == -1 && y.rows == 1 && pr_mv_max_rows(v, &x) <= PR_Q_MAX_DEPTH,
                      PR_ERR_MODEL_TENSOR);
    } else {
        PR_MV_REQUIRE(x.len_id >= 0 && y.len_id >= 0, PR_ERR_MODEL_TENSOR);
        pr_m_read_length(v->blob, v->h[PR_H_LEN_OFF], (int32_t)y.len_id, &l);
        PR_MV_REQUIRE(l.kind == PR_LEN_CEILDIV && l.src == x.len_id && l.a == group,
                      PR_ERR_MODEL_TENSOR);
    }
    PR_MV_REQUIRE(x.dtype == PR_DT_S8 ? pr_mv_zp8_ok(zp) : (zp >= -32768 && zp <= 32767),
                  PR_ERR_MODEL_OP);
    return pr_mv_scratch32(v, pr_m_word(op, F_POOL_SCRATCH), rx, ry, x.cols);
}

static pr_status pr_mv_widen(const pr_mv *v, const pr_m_op *op)
{
    const int32_t shift = pr_m_word(op, F_WIDEN_SHIFT);
    pr_m_tensor x, y;
    PR_MV_TRY(pr_mv_data(v, pr_m_word(op, F_WIDEN_Y), PR_MV_WRITE, PR_DT_S16, 0, &y));
    PR_MV_TRY(pr_mv_data(v, pr_m_word(op, F_WIDEN_X), PR_MV_READ, PR_DT_S8, y.cols, &x));
    PR_MV_TRY(pr_mv_same_rows(v, &y, &y));
    PR_MV_TRY(pr_mv_same_rows(v, &y, &x));
    PR_MV_REQUIRE(pr_mv_zp8_ok(pr_m_word(op, F_WIDEN_ZP)) && shift >= 0 &&
                  shift <= PR_WIDEN_MAX_SHIFT, PR_ERR_MODEL_OP);
    return PR_OK;
}

static pr_status pr_mv_exp_table(const pr_mv *v, int32_t ref)
{
    pr_m_tensor t;
    int64_t d;
    PR_MV_TRY(pr_mv_const(v, ref, PR_DT_S32, 1, 256, &t));
    PR_MV_REQUIRE(pr_mv_const_i32(v, &t, 0) >= 1, PR_ERR_MODEL_OP);
    for (d = 0; d < 256; ++d) {
        const int32_t e = pr_mv_const_i32(v, &t, d);
        PR_MV_REQUIRE(e >= 0 && e <= PR_SOFTMAX_EXP_ONE, PR_ERR_MODEL_OP);
    }
    return PR_OK;
}

static pr_status pr_mv_mha(const pr_mv *v, const pr_m_op *op)
{
    const int32_t rx = pr_m_word(op, F_MHA_X);
    const int32_t ry = pr_m_word(op, F_MHA_Y);
    const int32_t rs = pr_m_word(op, F_MHA_SCRATCH);
    const int32_t heads = pr_m_word(op, F_MHA_HEADS);
    const int32_t window = pr_m_word(op, F_MHA_WINDOW);
    pr_m_tensor x, y, s, w;
    pr_m_mha_sched sched;
    int64_t rows, C;
    pr_m_mha_schedule(op, &sched);
    PR_MV_TRY(pr_mv_data(v, rx, PR_MV_READ, PR_DT_S8, 0, &x));
    PR_MV_TRY(pr_mv_data(v, ry, PR_MV_WRITE, PR_DT_S8, x.cols, &y));
    PR_MV_TRY(pr_mv_same_rows(v, &y, &x));
    C = x.cols;
    rows = pr_mv_max_rows(v, &x);
    PR_MV_REQUIRE(heads >= 1 && C % heads == 0 && C <= PR_Q_MAX_DEPTH &&
                  rows <= PR_SOFTMAX_MAX_COLS && window >= 0 &&
                  (window == 0 || window % 2 == 1), PR_ERR_MODEL_OP);
    /* schedule: 1 <= q_block <= rows; one head per call, or all heads at once (which
     * needs Q, K and V of all heads); qkv_all 0 or 1 */
    PR_MV_REQUIRE(sched.q_block >= 1 && sched.q_block <= rows &&
                  (sched.qkv_all == 0 || sched.qkv_all == 1) &&
                  (sched.head_batch == 1 || (sched.head_batch == heads && sched.qkv_all)),
                  PR_ERR_MODEL_OP);
    PR_MV_TRY(pr_mv_ref(v, rs, &s));
    PR_MV_REQUIRE(s.kind == PR_KIND_ARENA && s.dtype == PR_DT_S8 && s.len_id == -1 &&
                  s.nbytes >= pr_m_mha_scratch(rows, C, C / heads, window, &sched) &&
                  rx != ry &&
                  rs != rx && rs != ry, PR_ERR_MODEL_TENSOR);
    PR_MV_TRY(pr_mv_const(v, pr_m_word(op, F_MHA_W), PR_DT_S8, 3 * C, C, &w));
    PR_MV_TRY(pr_mv_requant(v, pr_m_word(op, F_MHA_BIAS), pr_m_word(op, F_MHA_MULT),
                            pr_m_word(op, F_MHA_SHIFT), 3 * C, 0));
    PR_MV_TRY(pr_mv_exp_table(v, pr_m_word(op, F_MHA_EXP)));
    PR_MV_REQUIRE(pr_mv_zp8_ok(pr_m_word(op, F_MHA_QZP)) &&
                  pr_mv_zp8_ok(pr_m_word(op, F_MHA_KZP)) &&
                  pr_mv_zp8_ok(pr_m_word(op, F_MHA_VZP)) &&
                  pr_mv_zp8_ok(pr_m_word(op, F_MHA_SZP)) &&
                  pr_mv_zp8_ok(pr_m_word(op, F_MHA_OZP)) &&
                  pr_q_multiplier_ok(pr_m_word(op, F_MHA_SM), pr_m_word(op, F_MHA_SS)) &&
                  pr_q_multiplier_ok(pr_m_word(op, F_MHA_OM), pr_m_word(op, F_MHA_OS)),
                  PR_ERR_MODEL_OP);
    return PR_OK;
}

#endif /* PR_MODEL_VALIDATE_OPS_H */
