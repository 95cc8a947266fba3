/*
 * Internal: execution of each op of a validated program (not public API; included
 * once, by pr_model_run.c). Every function fills a primitive's parameter struct from
 * the op's words and the tensors' run-time rows and calls the primitive; its NumPy
 * twin is the function of the same name in pyreparam/quant/qmodel.py.
 */
#ifndef PR_MODEL_RUN_OPS_H
#define PR_MODEL_RUN_OPS_H

static pr_status pr_mr_conv1d(pr_mr *r, const pr_m_op *op)
{
    pr_m_tensor x, y;
    pr_conv1d_params p;
    pr_mr_tensor(r, pr_m_word(op, F_CONV_X), &x);
    pr_mr_tensor(r, pr_m_word(op, F_CONV_Y), &y);
    p.in_len = pr_mr_rows(r, &x);
    p.in_channels = (int32_t)x.cols;
    p.out_channels = (int32_t)y.cols;
    p.kernel = pr_m_word(op, F_CONV_K);
    p.stride = pr_m_word(op, F_CONV_STRIDE);
    p.padding = pr_m_word(op, F_CONV_PAD);
    p.in_zero_point = pr_m_word(op, F_CONV_INZP);
    p.out_zero_point = pr_m_word(op, F_CONV_ZP);
    p.act_min = pr_m_word(op, F_CONV_MIN);
    p.act_max = pr_m_word(op, F_CONV_MAX);
    return pr_conv1d_s8(&p, (const int8_t *)pr_mr_rd(r, &x), pr_mr_c8(r, pr_m_word(op, F_CONV_W)),
                        pr_mr_c32(r, pr_m_word(op, F_CONV_BIAS)),
                        pr_mr_c32(r, pr_m_word(op, F_CONV_MULT)),
                        pr_mr_c32(r, pr_m_word(op, F_CONV_SHIFT)), (int8_t *)pr_mr_wr(r, &y));
}

static pr_status pr_mr_linear(pr_mr *r, const pr_m_op *op)
{
    pr_m_tensor x, y;
    pr_linear_params p;
    const int8_t *w = pr_mr_c8(r, pr_m_word(op, F_LIN_W));
    const int32_t *bias = pr_mr_c32(r, pr_m_word(op, F_LIN_BIAS));
    const int32_t *mult = pr_mr_c32(r, pr_m_word(op, F_LIN_MULT));
    const int32_t *shift = pr_mr_c32(r, pr_m_word(op, F_LIN_SHIFT));
    pr_mr_tensor(r, pr_m_word(op, F_LIN_X), &x);
    pr_mr_tensor(r, pr_m_word(op, F_LIN_Y), &y);
    p.rows = pr_mr_step_rows(r, &y);
    p.in_features = (int32_t)x.cols;
    p.out_features = (int32_t)y.cols;
    p.out_zero_point = pr_m_word(op, F_LIN_ZP);
    p.act_min = pr_m_word(op, F_LIN_MIN);
    p.act_max = pr_m_word(op, F_LIN_MAX);
    if (y.dtype == PR_DT_S8) {
        return pr_linear_s8(&p, (const int8_t *)pr_mr_rd(r, &x), w, bias, mult, shift,
                            (int8_t *)pr_mr_wr(r, &y));
    }
    return pr_linear_s8_s16(&p, (const int8_t *)pr_mr_rd(r, &x), w, bias, mult, shift,
                            (int16_t *)pr_mr_wr(r, &y));
}

static pr_status pr_mr_add(pr_mr *r, const pr_m_op *op)
{
    pr_m_tensor a, b, y;
    pr_add_params p;
    pr_mr_tensor(r, pr_m_word(op, F_ADD_A), &a);
    pr_mr_tensor(r, pr_m_word(op, F_ADD_B), &b);
    pr_mr_tensor(r, pr_m_word(op, F_ADD_Y), &y);
    p.size = pr_mr_step_rows(r, &y) * (int32_t)y.cols;
    p.a_multiplier = pr_m_word(op, F_ADD_AM);
    p.a_shift = pr_m_word(op, F_ADD_AS);
    p.b_multiplier = pr_m_word(op, F_ADD_BM);
    p.b_shift = pr_m_word(op, F_ADD_BS);
    p.b_zero_point = pr_m_word(op, F_ADD_BZP);
    p.out_multiplier = pr_m_word(op, F_ADD_OM);
    p.out_shift = pr_m_word(op, F_ADD_OS);
    p.act_min = pr_m_word(op, F_ADD_MIN);
    p.act_max = pr_m_word(op, F_ADD_MAX);
    if (b.dtype == PR_DT_S16) {
        return pr_add_s16(&p, (const int16_t *)pr_mr_rd(r, &a), (const int16_t *)pr_mr_rd(r, &b),
                          (int16_t *)pr_mr_wr(r, &y));
    }
    return pr_add_s16_s8(&p, (const int16_t *)pr_mr_rd(r, &a), (const int8_t *)pr_mr_rd(r, &b),
                         (int16_t *)pr_mr_wr(r, &y));
}

static pr_status pr_mr_layernorm(pr_mr *r, const pr_m_op *op)
{
    pr_m_tensor x, y;
    pr_layernorm_params p;
    pr_mr_tensor(r, pr_m_word(op, F_LN_X), &x);
    pr_mr_tensor(r, pr_m_word(op, F_LN_Y), &y);
    p.rows = pr_mr_step_rows(r, &y);
    p.channels = (int32_t)x.cols;
    p.eps = (int64_t)pr_m_word(op, F_LN_EPS_HI) * ((int64_t)1 << 32) +
            (int64_t)(uint32_t)pr_m_word(op, F_LN_EPS_LO);
    p.out_zero_point = pr_m_word(op, F_LN_ZP);
    p.act_min = pr_m_word(op, F_LN_MIN);
    p.act_max = pr_m_word(op, F_LN_MAX);
    return pr_layernorm_s16_s8(&p, (const int16_t *)pr_mr_rd(r, &x),
                               pr_mr_c32(r, pr_m_word(op, F_LN_MULT)),
                               pr_mr_c32(r, pr_m_word(op, F_LN_SHIFT)),
                               pr_mr_c32(r, pr_m_word(op, F_LN_OFFSET)),
                               (int8_t *)pr_mr_wr(r, &y));
}

static pr_status pr_mr_lut(pr_mr *r, const pr_m_op *op)
{
    pr_m_tensor x, y;
    pr_mr_tensor(r, pr_m_word(op, F_LUT_X), &x);
    pr_mr_tensor(r, pr_m_word(op, F_LUT_Y), &y);
    return pr_lut_s8(pr_mr_step_rows(r, &y) * (int32_t)y.cols, (const int8_t *)pr_mr_rd(r, &x),
                     pr_mr_c8(r, pr_m_word(op, F_LUT_TABLE)), (int8_t *)pr_mr_wr(r, &y));
}

static pr_status pr_mr_mul(pr_mr *r, const pr_m_op *op)
{
    pr_m_tensor a, b, y;
    pr_mul_params p;
    pr_mr_tensor(r, pr_m_word(op, F_MUL_A), &a);
    pr_mr_tensor(r, pr_m_word(op, F_MUL_B), &b);
    pr_mr_tensor(r, pr_m_word(op, F_MUL_Y), &y);
    p.size = pr_mr_step_rows(r, &y) * (int32_t)y.cols;
    p.a_zero_point = pr_m_word(op, F_MUL_AZP);
    p.b_zero_point = pr_m_word(op, F_MUL_BZP);
    p.multiplier = pr_m_word(op, F_MUL_M);
    p.shift = pr_m_word(op, F_MUL_S);
    p.out_zero_point = pr_m_word(op, F_MUL_ZP);
    p.act_min = pr_m_word(op, F_MUL_MIN);
    p.act_max = pr_m_word(op, F_MUL_MAX);
    return pr_mul_s8(&p, (const int8_t *)pr_mr_rd(r, &a), (const int8_t *)pr_mr_rd(r, &b),
                     (int8_t *)pr_mr_wr(r, &y));
}

static pr_status pr_mr_dwconv(pr_mr *r, const pr_m_op *op)
{
    pr_m_tensor x, y, w, s;
    pr_dwconv1d_params p;
    pr_mr_tensor(r, pr_m_word(op, F_DW_X), &x);
    pr_mr_tensor(r, pr_m_word(op, F_DW_Y), &y);
    pr_mr_tensor(r, pr_m_word(op, F_DW_W), &w);
    pr_mr_tensor(r, pr_m_word(op, F_DW_SCRATCH), &s);
    p.in_len = pr_mr_rows(r, &x);
    p.channels = (int32_t)x.cols;
    p.kernel = (int32_t)w.rows;
    p.in_zero_point = pr_m_word(op, F_DW_INZP);
    p.out_zero_point = pr_m_word(op, F_DW_ZP);
    p.act_min = pr_m_word(op, F_DW_MIN);
    p.act_max = pr_m_word(op, F_DW_MAX);
    return pr_depthwise_conv1d_s8(&p, (const int8_t *)pr_mr_rd(r, &x), pr_mr_c8(r, pr_m_word(op, F_DW_W)),
                                  pr_mr_c32(r, pr_m_word(op, F_DW_BIAS)),
                                  pr_mr_c32(r, pr_m_word(op, F_DW_MULT)),
                                  pr_mr_c32(r, pr_m_word(op, F_DW_SHIFT)),
                                  (int8_t *)pr_mr_wr(r, &y), (int32_t *)pr_mr_wr(r, &s),
                                  s.rows * s.cols);
}

static pr_status pr_mr_avgpool(pr_mr *r, const pr_m_op *op)
{
    pr_m_tensor x, y, s;
    pr_avgpool_params p;
    int32_t *scratch;
    pr_mr_tensor(r, pr_m_word(op, F_POOL_X), &x);
    pr_mr_tensor(r, pr_m_word(op, F_POOL_Y), &y);
    pr_mr_tensor(r, pr_m_word(op, F_POOL_SCRATCH), &s);
    scratch = (int32_t *)pr_mr_wr(r, &s);
    p.in_len = pr_mr_rows(r, &x);
    p.channels = (int32_t)x.cols;
    p.group = pr_m_word(op, F_POOL_GROUP) > 0 ? pr_m_word(op, F_POOL_GROUP) : p.in_len;
    p.zero_point = pr_m_word(op, F_POOL_ZP);
    if (x.dtype == PR_DT_S8) {
        return pr_avgpool_s8(&p, (const int8_t *)pr_mr_rd(r, &x), (int8_t *)pr_mr_wr(r, &y),
                             scratch, s.rows * s.cols);
    }
    return pr_avgpool_s16(&p, (const int16_t *)pr_mr_rd(r, &x), (int16_t *)pr_mr_wr(r, &y),
                          scratch, s.rows * s.cols);
}

/* int8 -> int16: y = (x - zp) 2^shift, exact (|x - zp| <= 255, shift <= 7). */
static pr_status pr_mr_widen(pr_mr *r, const pr_m_op *op)
{
    pr_m_tensor x, y;
    const int8_t *px;
    int16_t *py;
    const int32_t zp = pr_m_word(op, F_WIDEN_ZP);
    const int32_t scale = (int32_t)1 << pr_m_word(op, F_WIDEN_SHIFT);
    int64_t i, n;
    pr_mr_tensor(r, pr_m_word(op, F_WIDEN_X), &x);
    pr_mr_tensor(r, pr_m_word(op, F_WIDEN_Y), &y);
    px = (const int8_t *)pr_mr_rd(r, &x);
    py = (int16_t *)pr_mr_wr(r, &y);
    n = (int64_t)pr_mr_step_rows(r, &y) * y.cols;
    for (i = 0; i < n; ++i) {
        py[i] = (int16_t)(((int32_t)px[i] - zp) * scale);
    }
    return PR_OK;
}

/* ---- attention ---------------------------------------------------------------------- */

/* The attention op's operands and schedule, resolved once. Q, K and V hold the heads
 * of the current head group side by side: row stride qs = C (all heads projected at
 * once) or D (one head). */
typedef struct {
    const int8_t *x;
    int8_t *y;
    const int8_t *w;
    const int32_t *bias, *mult, *shift, *exp_table;
    int32_t T, C, D, heads, window;
    pr_m_mha_sched s;
    int32_t qs;
    int32_t *acc;           /* scratch: D int32 (one output row of P V) */
    int8_t *q, *k, *v;      /* scratch: (max rows, qs) each */
    int8_t *scores, *probs; /* scratch: pr_m_mha_score_bytes each */
} pr_mr_attn;

/* Q, K or V (part 0, 1, 2) of heads h0 .. h0 + n - 1: rows part C + h0 D .. of the
 * packed weights, one pr_linear_s8 call. */
static pr_status pr_mr_attn_project(const pr_mr_attn *a, const pr_m_op *op, int32_t part,
                                    int32_t h0, int32_t n, int8_t *out)
{
    static const int32_t zp_field[3] = {F_MHA_QZP, F_MHA_KZP, F_MHA_VZP};
    const int64_t row = (int64_t)part * a->C + (int64_t)h0 * a->D;
    pr_linear_params p;
    pr_status st;
    p.rows = a->T;
    p.in_features = a->C;
    p.out_features = n * a->D;
    p.out_zero_point = pr_m_word(op, zp_field[part]);
    p.act_min = -128;
    p.act_max = 127;
    PR_MR_PROF2(101, 0);
    st = pr_linear_s8(&p, a->x, a->w + row * a->C, a->bias != NULL ? a->bias + row : NULL,
                      a->mult + row, a->shift + row, out);
    PR_MR_PROF2(101, 1);
    return st;
}

/*
 * Query rows r0 .. r0 + nb - 1 of heads h0 .. h0 + nh - 1 (q, k, v point at head h0):
 * scores against keys k0 .. k0 + L - 1 (every key, or the union of the rows' windows),
 * softmax, P V into ctx. A block of several rows under a window gets `pad` = r0 - k0
 * leading score rows (zeroed, never used), so that the softmax's window, measured
 * from the row index, selects keys |key - query| <= w / 2; a single row gets exactly
 * its keys and no window. Keys outside a row's window get probability -128, which
 * adds nothing to P V (zero point -128): the integers equal the per-row computation.
 */
static pr_status pr_mr_attn_block(const pr_mr_attn *a, const pr_m_op *op, const int8_t *q,
                                  const int8_t *k, const int8_t *v, int32_t h0, int32_t nh,
                                  int32_t r0, int32_t nb)
{
    const int32_t half = a->window / 2;
    int32_t k0 = 0, k1 = a->T, pad = 0, soft_window = 0, L, rows_s, h;
    pr_bmm_params b = {1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -128, 127};
    pr_softmax_params sp;
    pr_status st;
    if (a->window > 0) {
        k0 = r0 - half > 0 ? r0 - half : 0;
        k1 = r0 + nb + half < a->T ? r0 + nb + half : a->T;
        if (nb > 1) {
            pad = r0 - k0;
            soft_window = a->window;
        }
    }
    L = k1 - k0;
    rows_s = pad + nb;
    for (h = 0; h < nh && pad > 0; ++h) {
        memset(a->scores + (int64_t)h * rows_s * L, 0, (size_t)pad * (size_t)L);
    }
    b.batches = nh;             /* Q K^T */
    b.rows = nb;
    b.cols = L;
    b.depth = a->D;
    b.a_batch_stride = a->D;
    b.a_row_stride = a->qs;
    b.b_batch_stride = a->D;
    b.b_row_stride = a->qs;
    b.out_batch_stride = rows_s * L;
    b.out_row_stride = L;
    b.a_zero_point = pr_m_word(op, F_MHA_QZP);
    b.b_zero_point = pr_m_word(op, F_MHA_KZP);
    b.multiplier = pr_m_word(op, F_MHA_SM);
    b.shift = pr_m_word(op, F_MHA_SS);
    b.out_zero_point = pr_m_word(op, F_MHA_SZP);
    PR_MR_PROF2(102, 0);
    st = pr_bmm_nt_s8(&b, q + (int64_t)r0 * a->qs, k + (int64_t)k0 * a->qs,
                      a->scores + (int64_t)pad * L);
    PR_MR_PROF2(102, 1);
    if (st != PR_OK) {
        return st;
    }
    sp.batches = nh;
    sp.rows = rows_s;
    sp.cols = L;
    sp.window = soft_window;
    PR_MR_PROF2(103, 0);
    st = pr_softmax_s8(&sp, a->scores, a->exp_table, NULL, a->probs);
    PR_MR_PROF2(103, 1);
    if (st != PR_OK) {
        return st;
    }
    b.cols = a->D;              /* P V: probabilities (zero point -128) times the values */
    b.depth = L;
    b.a_batch_stride = rows_s * L;
    b.a_row_stride = L;
    b.out_batch_stride = a->D;
    b.out_row_stride = a->C;
    b.a_zero_point = -128;
    b.b_zero_point = pr_m_word(op, F_MHA_VZP);
    b.multiplier = pr_m_word(op, F_MHA_OM);
    b.shift = pr_m_word(op, F_MHA_OS);
    b.out_zero_point = pr_m_word(op, F_MHA_OZP);
    PR_MR_PROF2(104, 0);
    st = pr_bmm_nn_s8(&b, a->probs + (int64_t)pad * L, v + (int64_t)k0 * a->qs,
                      a->y + (int64_t)r0 * a->C + (int64_t)h0 * a->D, a->acc, a->D);
    PR_MR_PROF2(104, 1);
    return st;
}

/* Heads h0 .. h0 + nh - 1 (Q, K, V already projected), in blocks of q_block rows. */
static pr_status pr_mr_attn_heads(const pr_mr_attn *a, const pr_m_op *op, int32_t h0,
                                  int32_t nh)
{
    const int64_t col = a->s.qkv_all ? (int64_t)h0 * a->D : 0;
    int32_t r0;
    for (r0 = 0; r0 < a->T; r0 += a->s.q_block) {
        const int32_t nb = a->T - r0 < a->s.q_block ? a->T - r0 : a->s.q_block;
        const pr_status st = pr_mr_attn_block(a, op, a->q + col, a->k + col, a->v + col, h0,
                                              nh, r0, nb);
        if (st != PR_OK) {
            return st;
        }
    }
    return PR_OK;
}

static pr_status pr_mr_mha(pr_mr *r, const pr_m_op *op)
{
    pr_m_tensor x, y, s;
    pr_mr_attn a;
    int32_t h, part;
    int64_t rows_max;
    uint8_t *scratch;
    pr_mr_tensor(r, pr_m_word(op, F_MHA_X), &x);
    pr_mr_tensor(r, pr_m_word(op, F_MHA_Y), &y);
    pr_mr_tensor(r, pr_m_word(op, F_MHA_SCRATCH), &s);
    pr_m_mha_schedule(op, &a.s);
    a.x = (const int8_t *)pr_mr_rd(r, &x);
    a.y = (int8_t *)pr_mr_wr(r, &y);
    a.w = pr_mr_c8(r, pr_m_word(op, F_MHA_W));
    a.bias = pr_mr_c32(r, pr_m_word(op, F_MHA_BIAS));
    a.mult = pr_mr_c32(r, pr_m_word(op, F_MHA_MULT));
    a.shift = pr_mr_c32(r, pr_m_word(op, F_MHA_SHIFT));
    a.exp_table = pr_mr_c32(r, pr_m_word(op, F_MHA_EXP));
    a.T = pr_mr_rows(r, &x);
    a.C = (int32_t)x.cols;
    a.heads = pr_m_word(op, F_MHA_HEADS);
    a.D = a.C / a.heads;
    a.window = pr_m_word(op, F_MHA_WINDOW);
    a.qs = a.s.qkv_all ? a.C : a.D;
    /* scratch layout, sized at the maximum rows (pr_m_mha_scratch) */
    rows_max = x.len_id >= 0 ? r->v.len_max[x.len_id] : x.rows;
    scratch = (uint8_t *)pr_mr_wr(r, &s);
    a.acc = (int32_t *)(void *)scratch;
    a.q = (int8_t *)(scratch + 4 * (int64_t)a.D);
    a.k = a.q + rows_max * a.qs;
    a.v = a.k + rows_max * a.qs;
    a.scores = a.v + rows_max * a.qs;
    a.probs = a.scores + pr_m_mha_score_bytes(rows_max, a.window, a.s.q_block,
                                              a.s.head_batch);
    for (h = 0; h < a.heads; h += a.s.head_batch) {
        pr_status st = PR_OK;
        if (!a.s.qkv_all || h == 0) {   /* this head's Q, K, V, or every head's once */
            const int32_t n = a.s.qkv_all ? a.heads : 1;
            for (part = 0; part < 3 && st == PR_OK; ++part) {
                st = pr_mr_attn_project(&a, op, part, h, n,
                                        part == 0 ? a.q : (part == 1 ? a.k : a.v));
            }
        }
        if (st == PR_OK) {
            st = pr_mr_attn_heads(&a, op, h, a.s.head_batch);
        }
        if (st != PR_OK) {
            return st;
        }
    }
    return PR_OK;
}

#endif /* PR_MODEL_RUN_OPS_H */
