/*
 * pyreparam C runtime: public API.
 *
 * Conventions (see ../reference/ and the project's docs):
 *   - every public function returns a status (pr_status, PR_OK == 0) and never
 *     allocates; scratch memory comes from the caller;
 *   - matrices are row-major, weights stored (out, in) as everywhere in pyreparam;
 *   - dimension letters: B batch, T frames, C model width, F FFN width, K kernel.
 *
 * The block between the cffi markers is parsed by csrc/build_ffi.py: keep it free
 * of preprocessor directives.
 */
#ifndef PYREPARAM_H
#define PYREPARAM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* cffi-begin */

/* Status codes returned by every public function. */
enum pr_status_code {
    PR_OK = 0,
    PR_ERR_NULL = -1,     /* a required pointer is NULL */
    PR_ERR_SHAPE = -2,    /* a dimension is out of range or inconsistent */
    PR_ERR_SCRATCH = -3,  /* the caller's scratch buffer is too small */
    PR_ERR_OVERFLOW = -4, /* a size computation would overflow */
    PR_ERR_PARAM = -5     /* a quantization parameter (multiplier, shift, zero point,
                             clamp range, table entry) is out of its valid range */
};
typedef int32_t pr_status;

/* Most factors a chain may hold (HRFConfig allows k in 1..3; a little headroom). */
enum { PR_HRF_MAX_FACTORS = 8 };

/*
 * pr_hrf_fold_scratch_len: scratch elements pr_hrf_fold_{f32,f64} needs.
 *   F     rows of the linear layer, >= 1
 *   k     number of factors, 1 <= k <= PR_HRF_MAX_FACTORS
 *   dims  k + 1 widths, each >= 1: dims[0] = C (input width), dims[i] = r_i
 * Returns the number of elements (0 when k == 1), or a negative pr_status.
 */
int64_t pr_hrf_fold_scratch_len(int32_t F, int32_t k, const int32_t *dims);

/*
 * pr_hrf_fold_f64 / pr_hrf_fold_f32: fold a chain of HRF factors into the linear
 * layer that follows it (deHRF).
 *
 *   y = W1' (H_k (... (H_1 x + c_1) ...) + c_k) + b1  ==  W1 x + b
 *   W1 = W1' H_k ... H_1               (F, C)
 *   b  = b1 + sum_i (W1' H_k ... H_{i+1}) c_i
 *
 *   F        rows of W1', >= 1
 *   k        number of factors, 1..PR_HRF_MAX_FACTORS
 *   dims     k + 1 widths >= 1 (dims[0] = C, dims[i] = r_i)
 *   w1p      W1', (F, dims[k]) row-major
 *   b1       (F), or NULL for a zero bias
 *   H        k pointers; H[i - 1] is H_i, (dims[i], dims[i - 1]) row-major
 *   c        k pointers or NULL; c[i - 1] is c_i, (dims[i]), or NULL (no bias)
 *   w1_out   W1, (F, dims[0]); must not overlap any input
 *   b_out    b, (F); must not overlap any input
 *   scratch  scratch_len elements, scratch_len >= pr_hrf_fold_scratch_len(...)
 *
 * The product is evaluated left to right (W1' H_k first), with cache-blocked
 * loops; each output element sums over the inner index in increasing order.
 */
pr_status pr_hrf_fold_f64(int32_t F, int32_t k, const int32_t *dims,
                          const double *w1p, const double *b1,
                          const double *const *H, const double *const *c,
                          double *w1_out, double *b_out,
                          double *scratch, int64_t scratch_len);

pr_status pr_hrf_fold_f32(int32_t F, int32_t k, const int32_t *dims,
                          const float *w1p, const float *b1,
                          const float *const *H, const float *const *c,
                          float *w1_out, float *b_out,
                          float *scratch, int64_t scratch_len);

/* ==== int8 integer primitives (reference/int8.md; NumPy oracle pyreparam/quant) ====
 *
 * Quantization: real = scale * (q - zero_point). Weights int8 in [-127, 127],
 * zero point 0, one scale per output channel; activations int8 [-128, 127] with a
 * per-tensor zero point; the int16 residual stream has zero point 0.
 *
 * A real multiplier M is given as (multiplier, shift): M ~= multiplier * 2^(shift-31),
 * multiplier 0 or in [2^30, 2^31), shift in [PR_Q_SHIFT_MIN, PR_Q_SHIFT_MAX]
 * (shift > 0 multiplies by 2^shift first). Requantization of an int32 value x is
 *   MBQM(x) = RDBP(SRDHM(sat32(x * 2^max(shift,0)), multiplier), max(-shift,0))
 * then + zero point and clamp to [act_min, act_max] (see reference/int8.md).
 * Kernels reject a negative multiplier or a shift outside the range (PR_ERR_PARAM).
 *
 * Common rules: sizes are element counts >= 1; every array is dense row-major;
 * dot-product depths are <= PR_Q_MAX_DEPTH, so int32 accumulators never overflow;
 * each array holds at most PR_Q_MAX_ELEMS elements (else PR_ERR_OVERFLOW); inputs
 * and outputs must not overlap unless a function says so; scratch buffers are int32
 * and their length is checked (PR_ERR_SCRATCH). Errors are checked in this order:
 * NULL params/pointers, shapes, sizes, quantization parameters, scratch.
 */
enum {
    PR_Q_SHIFT_MIN = -31,
    PR_Q_SHIFT_MAX = 30,
    PR_Q_MAX_DEPTH = 32768,            /* longest dot product / pooled group */
    PR_Q_MAX_ELEMS = 2147483647,       /* largest element count of one array */
    PR_SOFTMAX_EXP_ONE = 65536,        /* exp table entry for d = 0 (Q16 1.0) */
    PR_SOFTMAX_MAX_COLS = 8192,        /* longest softmax row (keeps 2 sum < 2^31) */
    PR_LAYERNORM_MAX_CHANNELS = 4096,  /* widest LayerNorm row */
    PR_LAYERNORM_Z_FRAC_BITS = 24,     /* normalized value z in Q24 */
    PR_LAYERNORM_OUT_FRAC_BITS = 8,    /* per-channel value before the final rounding */
    PR_ADD_LEFT_SHIFT = 15             /* inputs of pr_add_* are scaled by 2^15 first */
};

/*
 * pr_requantize_s32: y[i] = MBQM(x[i], multiplier[i], shift[i]) (no zero point, no
 * clamp): the fixed-point core of every kernel, exposed for tests and tools.
 *   n >= 1; x, multiplier, shift, y: (n); y may alias x.
 */
pr_status pr_requantize_s32(int32_t n, const int32_t *x, const int32_t *multiplier,
                            const int32_t *shift, int32_t *y);

/* Fully connected layer (int8 in, weights (out, in)). */
typedef struct {
    int32_t rows;            /* T, >= 1 */
    int32_t in_features;     /* Cin, 1 .. PR_Q_MAX_DEPTH */
    int32_t out_features;    /* Cout, >= 1 */
    int32_t out_zero_point;  /* s8 output: -128..127; s16 output: must be 0 */
    int32_t act_min;         /* clamp range in the output type; ReLU: act_min = zp */
    int32_t act_max;
} pr_linear_params;

/*
 * pr_linear_s8: y[t, c] = clamp(zp_out + MBQM(sat32(bias[c] + sum_k x[t,k] w[c,k]),
 *                                            multiplier[c], shift[c]))
 *   x          (rows, in_features) int8 activations (any zero point: folded in bias)
 *   w          (out_features, in_features) int8 weights
 *   bias       (out_features) int32 at scale s_in s_w[c], with the input zero point
 *              folded: bias' = bias - zp_in sum_k w[c,k]; NULL means 0
 *   multiplier, shift  (out_features): M[c] = s_in s_w[c] / s_out
 *   y          (rows, out_features) int8
 */
pr_status pr_linear_s8(const pr_linear_params *params, const int8_t *x, const int8_t *w,
                       const int32_t *bias, const int32_t *multiplier,
                       const int32_t *shift, int8_t *y);

/*
 * pr_linear_s8_s16: the same with an int16 output (zero point 0, clamp range within
 * int16), to write a branch output at the residual stream's precision.
 */
pr_status pr_linear_s8_s16(const pr_linear_params *params, const int8_t *x,
                           const int8_t *w, const int32_t *bias,
                           const int32_t *multiplier, const int32_t *shift,
                           int16_t *y);

/* Batched int8 x int8 matrix product with both zero points (attention). */
typedef struct {
    int32_t batches;           /* H, >= 1 */
    int32_t rows;              /* M, >= 1 */
    int32_t cols;              /* N, >= 1 */
    int32_t depth;             /* K, 1 .. PR_Q_MAX_DEPTH */
    int32_t a_batch_stride;    /* element offsets between batches / rows, >= 0 */
    int32_t a_row_stride;
    int32_t b_batch_stride;
    int32_t b_row_stride;
    int32_t out_batch_stride;
    int32_t out_row_stride;
    int32_t a_zero_point;      /* -128..127 */
    int32_t b_zero_point;      /* -128..127 */
    int32_t multiplier;        /* per tensor: M = s_a s_b / s_out */
    int32_t shift;
    int32_t out_zero_point;    /* -128..127 */
    int32_t act_min;
    int32_t act_max;
} pr_bmm_params;

/*
 * pr_bmm_nt_s8: out[h,i,j] = requant(sum_k (a[h,i,k] - za) (b[h,j,k] - zb)), i.e. A B^T
 * (Q K^T). Element (h, i, k) of a is a[h*a_batch_stride + i*a_row_stride + k]; b's
 * rows are its N keys of length K; out (h, i, j) at h*out_batch_stride +
 * i*out_row_stride + j. With heads interleaved in a (T, C) tensor: batch stride D,
 * row stride C. The largest offset must be < PR_Q_MAX_ELEMS.
 */
pr_status pr_bmm_nt_s8(const pr_bmm_params *params, const int8_t *a, const int8_t *b,
                       int8_t *out);

/*
 * pr_bmm_nn_s8: out[h,i,j] = requant(sum_k (a[h,i,k] - za) (b[h,k,j] - zb)), i.e. A B
 * (A V); b's rows are the K values of length N, at b_row_stride.
 *   scratch  int32, scratch_len >= cols (one row of accumulators)
 */
pr_status pr_bmm_nn_s8(const pr_bmm_params *params, const int8_t *a, const int8_t *b,
                       int8_t *out, int32_t *scratch, int64_t scratch_len);

/* Softmax over the last axis with masks. */
typedef struct {
    int32_t batches;  /* H, >= 1 */
    int32_t rows;     /* T queries, >= 1; row t is query position t */
    int32_t cols;     /* L keys, 1 .. PR_SOFTMAX_MAX_COLS */
    int32_t window;   /* 0: every key; odd w >= 1: keys j with |j - t| <= w / 2 */
} pr_softmax_params;

/*
 * pr_softmax_s8: int8 scores (batches, rows, cols) -> int8 probabilities at scale
 * 1/256, zero point -128. Over the allowed keys of a row (key_mask[j] != 0 and inside
 * the window): mx = max x; e_j = exp_table[mx - x_j];
 * S = sum e_j; y_j = clamp(floor((512 e_j + S) / (2 S)) - 128, -128, 127).
 * Other keys, and every key of a row with no allowed key, get -128.
 *   exp_table  (256) int32, exp_table[d] = round(65536 exp(-d s_in)) for the scores'
 *              scale s_in (softmax temperature folded in), entries in
 *              [0, PR_SOFTMAX_EXP_ONE] and exp_table[0] >= 1 (else PR_ERR_PARAM)
 *   key_mask   (cols) uint8, nonzero = valid key; NULL = all valid
 */
pr_status pr_softmax_s8(const pr_softmax_params *params, const int8_t *x,
                        const int32_t *exp_table, const uint8_t *key_mask, int8_t *y);

/* LayerNorm of the int16 residual stream to int8. */
typedef struct {
    int32_t rows;            /* T, >= 1 */
    int32_t channels;        /* C, 1 .. PR_LAYERNORM_MAX_CHANNELS */
    int64_t eps;             /* round(eps C^2 / s_x^2), 0 .. 2^60 */
    int32_t out_zero_point;  /* -128..127 */
    int32_t act_min;
    int32_t act_max;
} pr_layernorm_params;

/*
 * pr_layernorm_s16_s8: per row, with S1 = sum x, S2 = sum x^2 (exact integers),
 *   V = C S2 - S1^2 + eps (= C^2 (var + eps) / s_x^2), xc_i = C x_i - S1,
 *   z_i = xc_i / sqrt(V) in Q24 (integer square root and one reciprocal per row),
 *   u_i = MBQM(z_i, multiplier[i], shift[i]) (gamma_i / s_out in Q8),
 *   y_i = clamp(zp_out + RDBP(u_i + offset[i], 8)). reference/int8.md has the steps.
 *   x        (rows, channels) int16, zero point 0
 *   multiplier, shift  (channels): M_i = gamma_i / (s_out 2^16); multiplier may be
 *            negative (a negative gamma) but not INT32_MIN
 *   offset   (channels) int32: round(256 beta_i / s_out)
 *   y        (rows, channels) int8
 */
pr_status pr_layernorm_s16_s8(const pr_layernorm_params *params, const int16_t *x,
                              const int32_t *multiplier, const int32_t *shift,
                              const int32_t *offset, int8_t *y);

/*
 * pr_lut_s8: y[i] = table[x[i] + 128] (element-wise GELU, Swish, sigmoid, ...).
 *   n >= 1; x, y (n) int8, y may alias x; table (256) int8, entry q + 128 for input q.
 */
pr_status pr_lut_s8(int32_t n, const int8_t *x, const int8_t *table, int8_t *y);

/* Residual add into the int16 stream. */
typedef struct {
    int32_t size;            /* n elements, >= 1 */
    int32_t a_multiplier;    /* M_a = s_a / (2 max(s_a, s_b)) */
    int32_t a_shift;
    int32_t b_multiplier;    /* M_b = s_b / (2 max(s_a, s_b)) */
    int32_t b_shift;
    int32_t b_zero_point;    /* pr_add_s16: must be 0; pr_add_s16_s8: -128..127 */
    int32_t out_multiplier;  /* M_out = 2 max(s_a, s_b) / (2^15 s_out) */
    int32_t out_shift;
    int32_t act_min;         /* clamp range within int16 */
    int32_t act_max;
} pr_add_params;

/*
 * pr_add_s16: y = clamp(MBQM(sat32(MBQM(a 2^15, M_a) + MBQM((b - zb) 2^15, M_b)), M_out))
 *   a, b, y (size) int16, zero point 0 (b = a positional-encoding table is the
 *   constant-operand case); y may alias a or b.
 */
pr_status pr_add_s16(const pr_add_params *params, const int16_t *a, const int16_t *b,
                     int16_t *y);

/* pr_add_s16_s8: the same with an int8 branch b (zero point b_zero_point). */
pr_status pr_add_s16_s8(const pr_add_params *params, const int16_t *a, const int8_t *b,
                        int16_t *y);

/* Per-tensor requantization (int16 stream -> int8). */
typedef struct {
    int32_t size;            /* n elements, >= 1 */
    int32_t in_zero_point;   /* -32768..32767 */
    int32_t multiplier;      /* M = s_in / s_out */
    int32_t shift;
    int32_t out_zero_point;  /* -128..127 */
    int32_t act_min;
    int32_t act_max;
} pr_requant_params;

/* pr_requantize_s16_s8: y = clamp(zp_out + MBQM(x - zp_in, M)); x, y (size). */
pr_status pr_requantize_s16_s8(const pr_requant_params *params, const int16_t *x,
                               int8_t *y);

/* Element-wise product (GLU: a * sigmoid(b)). */
typedef struct {
    int32_t size;            /* n elements, >= 1 */
    int32_t a_zero_point;    /* -128..127 */
    int32_t b_zero_point;    /* -128..127 */
    int32_t multiplier;      /* M = s_a s_b / s_out */
    int32_t shift;
    int32_t out_zero_point;  /* -128..127 */
    int32_t act_min;
    int32_t act_max;
} pr_mul_params;

/* pr_mul_s8: y = clamp(zp_out + MBQM((a - za)(b - zb), M)); a, b, y (size), y may
 * alias a or b. */
pr_status pr_mul_s8(const pr_mul_params *params, const int8_t *a, const int8_t *b,
                    int8_t *y);

/* 1-D convolution over time, channels last. */
typedef struct {
    int32_t in_len;          /* T, >= 1 */
    int32_t in_channels;     /* Cin, >= 1 */
    int32_t out_channels;    /* Cout, >= 1 */
    int32_t kernel;          /* K >= 1, K * Cin <= PR_Q_MAX_DEPTH */
    int32_t stride;          /* >= 1 */
    int32_t padding;         /* frames added on each side, 0 .. K - 1 */
    int32_t in_zero_point;   /* value of the padded frames, -128..127 */
    int32_t out_zero_point;  /* -128..127 */
    int32_t act_min;         /* ReLU: act_min = out_zero_point */
    int32_t act_max;
} pr_conv1d_params;

/*
 * pr_conv1d_s8: y[t, c] = requant(bias[c] + sum_{k, i} xp[t*stride + k, i] w[c, k, i]),
 * xp = x padded with `padding` frames of in_zero_point on both sides.
 *   x      (in_len, in_channels) int8
 *   w      (out_channels, kernel, in_channels) int8 (PyTorch's (Cout, Cin, K)
 *          transposed so that the dot product over (k, i) is contiguous)
 *   bias   (out_channels) int32, zp_in folded: bias - zp_in sum_{k,i} w[c,k,i]; NULL = 0
 *   multiplier, shift  (out_channels)
 *   y      (T_out, out_channels), T_out = (in_len + 2 padding - kernel) / stride + 1
 *          (must be >= 1)
 */
pr_status pr_conv1d_s8(const pr_conv1d_params *params, const int8_t *x, const int8_t *w,
                       const int32_t *bias, const int32_t *multiplier,
                       const int32_t *shift, int8_t *y);

/* Depthwise 1-D convolution, stride 1, 'same' padding. */
typedef struct {
    int32_t in_len;          /* T, >= 1 */
    int32_t channels;        /* C, >= 1 */
    int32_t kernel;          /* K odd, 1 .. PR_Q_MAX_DEPTH; padding K / 2 each side */
    int32_t in_zero_point;   /* value of the padded frames, -128..127 */
    int32_t out_zero_point;  /* -128..127 */
    int32_t act_min;
    int32_t act_max;
} pr_dwconv1d_params;

/*
 * pr_depthwise_conv1d_s8: y[t, c] = requant(bias[c] + sum_k xp[t + k, c] w[k, c]),
 * xp = x padded with K / 2 frames of in_zero_point on both sides.
 *   x, y   (in_len, channels) int8
 *   w      (kernel, channels) int8 (PyTorch's (C, 1, K) transposed; BatchNorm folded)
 *   bias   (channels) int32, zp_in folded: bias - zp_in sum_k w[k, c]; NULL = 0
 *   multiplier, shift  (channels)
 *   scratch  int32, scratch_len >= channels
 */
pr_status pr_depthwise_conv1d_s8(const pr_dwconv1d_params *params, const int8_t *x,
                                 const int8_t *w, const int32_t *bias,
                                 const int32_t *multiplier, const int32_t *shift,
                                 int8_t *y, int32_t *scratch, int64_t scratch_len);

/* Average pooling of non-overlapping groups of frames. */
typedef struct {
    int32_t in_len;      /* T valid frames, >= 1 */
    int32_t channels;    /* C, >= 1 */
    int32_t group;       /* g, 1 .. PR_Q_MAX_DEPTH; g >= T: mean over all frames */
    int32_t zero_point;  /* of input and output (same scale) */
} pr_avgpool_params;

/*
 * pr_avgpool_s8 / pr_avgpool_s16: output frame u averages the n_u frames
 * u*g .. min((u+1)*g, T) - 1 (the last group may be shorter):
 *   y[u, c] = zp + round_half_away(sum (x[t, c] - zp) / n_u)
 *   x (in_len, channels); y (ceil(in_len / group), channels)
 *   scratch  int32, scratch_len >= channels
 */
pr_status pr_avgpool_s8(const pr_avgpool_params *params, const int8_t *x, int8_t *y,
                        int32_t *scratch, int64_t scratch_len);
pr_status pr_avgpool_s16(const pr_avgpool_params *params, const int16_t *x, int16_t *y,
                         int32_t *scratch, int64_t scratch_len);


/* ==== int8 model runner (reference/int8_model.md; NumPy oracle pyreparam/quant/qmodel.py) ====
 *
 * A .prq model file (written by `pyreparam quantize`, format in reference/int8_model.md
 * and pyreparam/quant/prq.py) holds an integer program: length rules, a tensor table,
 * an op list (each op one of the primitives above, or a composite built from them:
 * row loops, attention), constant data and host metadata, with a CRC-32.
 *
 * Requirements: a little-endian host (else PR_ERR_MODEL_HOST); the blob and the
 * arena 4-byte aligned (PR_ERR_MODEL_ALIGN); the blob, the input, the logits and the
 * arena must not overlap. Nothing is allocated and nothing global is written.
 */
enum pr_model_status_code {
    PR_ERR_MODEL_TRUNCATED = -10, /* the blob is shorter or longer than its header says */
    PR_ERR_MODEL_MAGIC = -11,     /* not a .prq file */
    PR_ERR_MODEL_VERSION = -12,   /* a format version this runtime does not read */
    PR_ERR_MODEL_CRC = -13,       /* CRC-32 mismatch: corrupt file */
    PR_ERR_MODEL_BOUNDS = -14,    /* a section, count, offset or size out of range */
    PR_ERR_MODEL_TENSOR = -15,    /* a bad tensor entry or tensor reference */
    PR_ERR_MODEL_OP = -16,        /* an unknown op or an op parameter out of range */
    PR_ERR_MODEL_ARENA = -17,     /* inconsistent arena plan, or the arena is too small */
    PR_ERR_MODEL_ALIGN = -18,     /* blob or arena not 4-byte aligned */
    PR_ERR_MODEL_LENGTH = -19,    /* T outside [1, T_max], or a derived length < 1 */
    PR_ERR_MODEL_HOST = -20       /* big-endian host: the file is little-endian */
};

enum {
    PR_MODEL_FORMAT_VERSION = 2,       /* newest written; version 1 files are read too */
    PR_MODEL_MAX_LENGTHS = 32,         /* length rules per file */
    PR_MODEL_MAX_TENSORS = 4096,
    PR_MODEL_MAX_OPS = 4096,
    PR_MODEL_MAX_T = 65536,            /* largest T_max */
    PR_MODEL_MAX_ARENA = 1073741824    /* largest arena a file may ask for (1 GiB) */
};

/* What pr_model_check reports about a valid model file. */
typedef struct {
    int32_t version;      /* format version */
    int32_t t_max;        /* longest input, frames */
    int32_t input_cols;   /* M: int8 features per frame */
    int32_t output_cols;  /* N: int8 logits */
    int32_t arena_bytes;  /* arena pr_model_run needs (planned at T_max) */
    int32_t n_ops;
    int32_t n_tensors;
    int32_t const_bytes;  /* constant data: weights, biases, multipliers, tables */
    int32_t flash_bytes;  /* everything a device stores: file minus host metadata */
    int32_t meta_offset;  /* the UTF-8 JSON host metadata: offset and size in bytes */
    int32_t meta_bytes;
} pr_model_info;

/*
 * pr_model_check: validate a model file completely before use: magic, version,
 * size, CRC-32, every section/count/offset/size, every tensor entry, every op's
 * tensor references (kind, type, shape, row domain, aliasing) and parameters
 * (multipliers, shifts, zero points, clamp ranges, tables, eps), the row loops and
 * the arena plan (no two tensors live at the same time overlap). Never reads outside
 * blob[0 .. len); runs in time linear in len plus quadratic in the tensor count.
 *   blob   the file's bytes, 4-byte aligned
 *   len    its length in bytes
 *   info   filled on success; may be NULL
 * Returns PR_OK or the first problem's PR_ERR_MODEL_* / PR_ERR_NULL code.
 */
pr_status pr_model_check(const uint8_t *blob, int64_t len, pr_model_info *info);

/*
 * pr_model_run: one utterance through the model.
 *   blob, len  a model file (re-validated structurally on every call, so a bad blob
 *              gives an error code, never an out-of-bounds access; the CRC is only
 *              verified by pr_model_check: call it once after loading)
 *   input      (T, M) int8 features, quantized with the file's input scale/zero point
 *   T          frames, 1 .. t_max
 *   logits     (N) int8 output, at the file's output scale/zero point
 *   arena      scratch memory, arena_len >= info.arena_bytes, 4-byte aligned
 * Returns PR_OK, a PR_ERR_MODEL_* code, or a kernel's status.
 */
pr_status pr_model_run(const uint8_t *blob, int64_t len, const int8_t *input, int32_t T,
                       int8_t *logits, uint8_t *arena, int64_t arena_len);

/* ==== causal speaker normalization (reference/causal_norm.md; NumPy oracle
 * pyreparam/quant/qcausal.py) ====
 *
 * A device normalizes each utterance's log-mel features with statistics of what it
 * has heard before (a state the caller owns), blended with a prior fitted on the
 * training speakers, and writes the model's int8 input. The state is a flat byte
 * array in a fixed little-endian layout (magic "PRNS", version, bands, utterances
 * heard, frames, CRC-32, then int32 mean[M] and variance[M] in Q16), so the bytes
 * themselves are what a device saves across reboots: pr_norm_state_check validates
 * bytes read back from storage. Features are int16 Q8 (round(256 x)).
 */
enum pr_norm_status_code {
    PR_ERR_STATE = -21            /* a normalization state that is corrupt (magic,
                                     version, CRC), of another size, or out of range */
};

enum {
    PR_NORM_MAX_BANDS = 2048,          /* the statistics head: D = 1,344 functionals */
    PR_NORM_MAX_FRAMES = 1048576,      /* frames of one utterance */
    PR_NORM_STATE_HEADER_BYTES = 24
};

/* Constants of the causal rule for one model (the arrays prior_mean, prior_var (M)
 * int32 Q16 are passed beside it; every prior_var >= 1). */
typedef struct {
    int32_t bands;          /* M, 1 .. PR_NORM_MAX_BANDS */
    int32_t prior_weight;   /* n0 of the blend n / (n + n0), Q16, >= 1 */
    int32_t var_floor;      /* smallest variance used, Q16, >= 1 */
    int32_t out_multiplier; /* Q31 multiplier and shift of 1 / (s_in 2^24) */
    int32_t out_shift;
    int32_t out_zero_point; /* the model's input zero point, -128 .. 127 */
} pr_norm_params;

/* pr_norm_state_bytes: bytes of the state for `bands` bands (24 + 8 M), or a
 * negative status (PR_ERR_SHAPE) for bands outside 1 .. PR_NORM_MAX_BANDS. */
int32_t pr_norm_state_bytes(int32_t bands);

/* pr_norm_state_init: write the state of a device that has heard nothing.
 * state_bytes must equal pr_norm_state_bytes(bands). */
pr_status pr_norm_state_init(uint8_t *state, int32_t state_bytes, int32_t bands);

/* pr_norm_state_check: PR_OK when the bytes are a valid state for `bands` bands
 * (magic, version, size, CRC-32, value ranges), else PR_ERR_STATE (or PR_ERR_NULL,
 * PR_ERR_SHAPE for bad arguments). Never reads outside state[0 .. state_bytes). */
pr_status pr_norm_state_check(const uint8_t *state, int32_t state_bytes, int32_t bands);

/* pr_norm_update_s16: merge one heard utterance x (frames, bands) int16 Q8 into the
 * state (after it was classified) and rewrite the state's CRC. The state is checked
 * first (PR_ERR_STATE); frames 1 .. PR_NORM_MAX_FRAMES (PR_ERR_SHAPE). */
pr_status pr_norm_update_s16(uint8_t *state, int32_t state_bytes, int32_t bands,
                             const int16_t *x, int32_t frames);

/* pr_norm_update_sums: the same update from the utterance's per-band sums over its
 * frames, sum[m] = sum_t x[t, m] and sum_sq[m] = sum_t x[t, m]^2 (int64, (bands) each),
 * which is all pr_norm_update_s16 uses of x: for callers that keep running sums
 * instead of frames. Sums no int16 frames can have (|sum| > 2^15 frames, sum_sq < 0 or
 * > 2^30 frames) are PR_ERR_PARAM; otherwise as pr_norm_update_s16. */
pr_status pr_norm_update_sums(uint8_t *state, int32_t state_bytes, int32_t bands,
                              const int64_t *sum, const int64_t *sum_sq, int32_t frames);

/* pr_norm_apply_s16_s8: normalize utterance x (frames, bands) int16 Q8 with the
 * state's statistics blended with the prior, and quantize to the model's int8 input
 * y (frames, bands). The state is read only (validated first; PR_ERR_STATE). */
pr_status pr_norm_apply_s16_s8(const pr_norm_params *params, const int32_t *prior_mean,
                               const int32_t *prior_var, const uint8_t *state,
                               int32_t state_bytes, const int16_t *x, int32_t frames,
                               int8_t *y);

/* pr_norm_apply_inplace_s16_s8: the same values, written over the input: on return
 * the first frames * bands bytes at x hold the int8 output y (frames, bands), the rest
 * of the buffer is undefined. For a device that keeps one buffer per utterance (the
 * statistics head reads the int16 frames before the network needs its int8 input).
 * scratch: 3 bands int32 (the band coefficients; else PR_ERR_SCRATCH). */
pr_status pr_norm_apply_inplace_s16_s8(const pr_norm_params *params,
                                       const int32_t *prior_mean, const int32_t *prior_var,
                                       const uint8_t *state, int32_t state_bytes,
                                       int16_t *x, int32_t frames, int32_t *scratch,
                                       int32_t scratch_len);

/* ==== integer log-mel front end (reference/frontend_int.md; NumPy oracle
 * pyreparam/quant/qfrontend.py) ====
 *
 * One frame of int16 PCM (the microphone's samples) -> M int16 log-mel features in Q8,
 * round(256 ln(mel power + log_floor)) of the float front end
 * (pyreparam/audio/features.py) on x = s / 32768, within a stated error: what
 * pr_norm_apply_s16_s8 consumes. Window (Q31) -> per-frame block exponent -> radix-4
 * FFT of n_fft / 2 complex points (Q31 twiddles) -> real split -> power (uint64) ->
 * sparse mel sums (Q20 weights, exact) -> + floor -> integer log (bit length, table).
 * Every table is the caller's (flash, a generated header, a model file), built by
 * qfrontend.frontend_tables(config). No table content can make the function read or
 * write out of bounds or overflow a signed integer; only the builder's tables give
 * the documented features.
 */
enum {
    PR_LOGMEL_MIN_FFT = 32,         /* n_fft = 2 N, N = 4^j complex points: 32, 128, 512 */
    PR_LOGMEL_MAX_FFT = 512,
    PR_LOGMEL_MAX_BANDS = 1024,
    PR_LOGMEL_LOG2_SIZE = 128,      /* log2_table has PR_LOGMEL_LOG2_SIZE + 1 entries */
    PR_LOGMEL_OUT_FRAC_BITS = 8     /* output: Q8 natural log */
};

/* Constants of one front end (pyreparam.quant.qfrontend.FrontendTables); N = n_fft / 2,
 * M = n_mels. A generated header can hold one as a const initializer. */
typedef struct {
    int32_t win_length;              /* samples per frame, 1 .. n_fft */
    int32_t n_fft;                   /* 32, 128 or 512 */
    int32_t n_mels;                  /* M, 1 .. PR_LOGMEL_MAX_BANDS */
    int32_t n_weights;               /* entries of mel_weights, >= 0 */
    int64_t floor_q62;               /* round(log_floor 2^62), >= 1 */
    const int32_t *window;           /* (win_length) Q31 */
    const int32_t *fft_twiddles;     /* (N/4, 6): cos, sin of 2 pi j q / N, q = 1, 2, 3, Q31 */
    const int32_t *rfft_twiddles;    /* (N/2 + 1, 2): cos, sin of pi k / N, Q31 */
    const uint16_t *fft_order;       /* (N): base-4 digit reversal (taken mod N) */
    const uint16_t *mel_first;       /* (M): first bin of band m, <= N + 1 */
    const uint16_t *mel_count;       /* (M): bins of band m, first + count <= N + 1 */
    const int32_t *mel_weights;      /* (n_weights) Q20, the bands' weights one after the
                                        other; sum of count <= n_weights */
    const int32_t *log2_table;       /* (PR_LOGMEL_LOG2_SIZE + 1): round(2^16 log2(1 + i/128)) */
} pr_logmel_params;

/* pr_logmel_scratch_len: int32 scratch elements of pr_logmel_frame_s16 for this n_fft
 * (2 n_fft + 2), or PR_ERR_SHAPE for an unsupported n_fft. */
int32_t pr_logmel_scratch_len(int32_t n_fft);

/*
 * pr_logmel_frame_s16: log-mel features of one frame.
 *   samples  (win_length) int16 PCM, the frame's samples in time order
 *   out      (n_mels) int16, Q8 natural log of mel power + log_floor (float units)
 *   scratch  int32, scratch_len >= pr_logmel_scratch_len(n_fft); on return
 *            scratch[n_fft + 2k], scratch[n_fft + 2k + 1] hold the low and high 32 bits
 *            of the power P[k] ~= 2^E |rfft(x w)[k]|^2, k = 0 .. N (E: the frame's
 *            exponent, reference/frontend_int.md)
 * samples, out and scratch must not overlap. Checks on every call (in this order): NULL
 * pointers (PR_ERR_NULL), sizes (PR_ERR_SHAPE), floor_q62 and the filterbank's bin
 * ranges (PR_ERR_PARAM), scratch (PR_ERR_SCRATCH); nothing is written on an error.
 * About 38,600 instructions per frame on Cortex-M4 at -O2 (n_fft 512, 64 bands).
 */
pr_status pr_logmel_frame_s16(const pr_logmel_params *p, const int16_t *samples,
                              int16_t *out, int32_t *scratch, int64_t scratch_len);

/*
 * pr_logmel_push_s16: the front end on a stream of samples. Appends pcm[0 .. n) to the
 * caller's tail (the last samples of the stream that no frame has finished with) and,
 * each time the tail holds win_length samples, computes that frame's features into
 * features[frames * n_mels ..] and drops the tail's first hop_length samples: frame t
 * covers samples [t hop, t hop + win) of the stream, whatever the blocks pushed
 * (pushing 1, 7, 160 or 16,000 samples at a time gives the same frames).
 *   hop_length  samples between frames, 1 .. win_length
 *   tail        (win_length) int16, the caller's; *tail_fill samples of it are valid
 *               (0 to start a stream; 0 .. win_length - 1 between calls)
 *   consumed    samples of pcm used; it stops early, after the max_frames-th frame
 *   features    (max_frames, n_mels) int16 Q8; *frames receives the count
 *   scratch     as pr_logmel_frame_s16's
 * Checks (in this order): NULL pointers (PR_ERR_NULL; pcm may be NULL when n is 0),
 * n < 0, max_frames < 1, hop_length or *tail_fill out of range (PR_ERR_SHAPE), then
 * pr_logmel_frame_s16's; the tail is not changed on an error.
 */
pr_status pr_logmel_push_s16(const pr_logmel_params *p, int32_t hop_length, int16_t *tail,
                             int32_t *tail_fill, const int16_t *pcm, int32_t n,
                             int32_t *consumed, int16_t *features, int32_t max_frames,
                             int32_t *frames, int32_t *scratch, int64_t scratch_len);

/* ==== the pitch track (reference/frontend_int.md section 8; NumPy oracle
 * pyreparam/quant/qpitch.py) ====
 *
 * Two more int16 Q8 channels per frame: log2(F0 / 100 Hz) and the voicing strength, in
 * three steps the caller chains: pr_pitch_decimate_s16 (the signal at about 4 kHz),
 * pr_pitch_frame_s32 (one frame's window of decimated samples -> its raw log2 F0 and
 * voicing) and pr_pitch_fill_s16 (log2 F0 of the unvoiced frames from the voiced ones
 * around them, once the utterance's frames are there).
 */
enum {
    PR_PITCH_MAX_FACTOR = 16,       /* decimation factor d, 2 .. 16 */
    PR_PITCH_MAX_WIDTH = 1024,      /* window, decimated samples */
    PR_PITCH_VOICED_Q8 = 128        /* voicing >= 0.5: voiced */
};

/* Constants of one sample rate (pyreparam.quant.qpitch.PitchTables). */
typedef struct {
    int32_t factor;                  /* d, 2 .. PR_PITCH_MAX_FACTOR */
    int32_t width;                   /* w, 4 .. PR_PITCH_MAX_WIDTH */
    int32_t lag_min, lag_max;        /* 2 <= lag_min <= lag_max <= w - 2 */
    int32_t log2_rate_q16;           /* round(2^16 log2(rate / 100 Hz)) */
    const int16_t *taps;             /* (20 d + 1) Q15 decimation filter */
    const int32_t *log2_table;       /* (PR_LOGMEL_LOG2_SIZE + 1), as pr_logmel_params' */
} pr_pitch_params;

/*
 * pr_pitch_decimate_s16: y[i] = (sum_k taps[k] s[d (j0 + i) + 10 d - k] + 2^14) >> 15 for
 * i = 0 .. count - 1, samples of s outside 0 .. n - 1 read as 0 (|y| < 2^16).
 * Checks: NULL pointers (PR_ERR_NULL; s may be NULL when n is 0), n < 0, count < 0
 * (PR_ERR_SHAPE), factor (PR_ERR_PARAM).
 */
pr_status pr_pitch_decimate_s16(const pr_pitch_params *p, const int16_t *s, int32_t n,
                                int32_t j0, int32_t count, int32_t *y);

/*
 * pr_pitch_frame_s32: one frame from its window (width decimated samples): out[0] =
 * round(256 (log2(rate / 100) - log2(period))), the period from the autocorrelation's
 * first highest lag of lag_min .. lag_max refined by a parabola, out[1] = voicing =
 * round(256 R[lag] / R[0]) in 0 .. 256 (0 for a window whose mean square is below 1).
 * Window entries must be within +-2^17 (decimated int16 PCM is). Checks: NULL
 * (PR_ERR_NULL), the parameters (PR_ERR_PARAM), a window value out of range
 * (PR_ERR_SHAPE).
 */
pr_status pr_pitch_frame_s32(const pr_pitch_params *p, const int32_t *window, int16_t *out);

/*
 * pr_pitch_fill_s16: frames (T, stride) int16 hold log2 F0 at column col and voicing at
 * col + 1; each frame whose voicing is below PR_PITCH_VOICED_Q8 gets the log2 F0
 * interpolated between the voiced frames around it (rounded half away from zero), the
 * nearest voiced frame's at the ends, 0 when no frame is voiced. Checks: NULL
 * (PR_ERR_NULL; frames may be NULL when T is 0), T < 0, col < 0 or col + 2 > stride
 * (PR_ERR_SHAPE).
 */
pr_status pr_pitch_fill_s16(int16_t *frames, int32_t T, int32_t stride, int32_t col);

/* ==== streaming: audio in, decisions out (reference/stream.md; NumPy oracle
 * pyreparam/quant/qstream.py) ====
 *
 * A stream object in the caller's memory (pr_stream_bytes tells its size) turns PCM
 * pushed in blocks of any length into decisions: frames are computed as the samples
 * arrive (pr_logmel_push_s16), normalized at once with the causal normalization state
 * (the caller's, as for pr_norm_*) into a window of int8 model inputs; every hop_frames
 * frames, once window_frames frames are there, the window is decided: an energy gate
 * (a frame is active when its mean log-mel is at least gate_q8; the window needs
 * gate_min_active active frames) either skips it (PR_STREAM_GATED: the model does not
 * run, the state does not change) or the model runs over it and the state merges the
 * window's frames that no decided window merged before (pr_norm_update_sums; the
 * blend's n then counts decided windows, and the prior weight n0 is scaled by
 * window_frames / hop_frames so that the blend follows the training rule's
 * utterances). pr_stream_finish decides the frames after the last window at the end.
 * The stream memory holds no pointers: the same configuration is passed to every call
 * and checked against the sizes stored by pr_stream_init.
 * With `pitch` (a model trained with the pitch channels: input and normalization state
 * have n_mels + 2 bands) the stream also runs the pitch track (pr_pitch_decimate_s16,
 * pr_pitch_frame_s32) on the samples; a frame enters the window once its log-mel and
 * its raw pitch are both known, and at each decision the window's pitch is filled
 * across unvoiced frames (pr_pitch_fill_s16) and normalized with the state as it is
 * then (reference/stream.md section 9).
 */
enum pr_stream_status_code {
    PR_ERR_STREAM = -22           /* the memory is not a stream of this configuration
                                     (not initialized, another configuration, corrupt,
                                     finished, or stopped by an earlier error) */
};

enum {
    PR_STREAM_MAX_CLASSES = 32,   /* logits per decision */
    PR_STREAM_MAX_BLOCKS = 32,    /* window_frames / hop_frames */
    PR_STREAM_GATED = 1,          /* decision flags: no speech, the model did not run */
    PR_STREAM_UPDATED = 2,        /* the normalization state changed (store it) */
    PR_STREAM_FINAL = 4           /* made by pr_stream_finish */
};

/* Everything a stream needs; pyreparam export writes NAME_STREAM_CONFIG. */
typedef struct {
    int32_t hop_samples;            /* samples between frames, 1 .. frontend->win_length */
    int32_t window_frames;          /* frames per decision, hop_frames * blocks, <= T_max */
    int32_t hop_frames;             /* frames between decisions, 1 .. 65535 */
    int32_t min_frames;             /* pr_stream_finish decides >= this many, 1 .. window */
    int32_t gate_q8;                /* active frame: sum_m x[m] >= n_mels gate_q8 (Q8) */
    int32_t gate_min_active;        /* decided window: >= this many active frames (a
                                       shorter final window: in proportion), 0 .. window */
    int32_t arena_bytes;            /* >= the model's arena (pr_model_info.arena_bytes) */
    int64_t model_bytes;            /* the model blob (4-byte aligned) */
    const uint8_t *model;
    const pr_logmel_params *frontend;
    const pr_norm_params *norm;     /* bands = frontend->n_mels (+ 2 with pitch) = the
                                       model's input cols */
    const int32_t *prior_mean;      /* (bands) Q16, as for pr_norm_apply_s16_s8 */
    const int32_t *prior_var;
    const pr_pitch_params *pitch;   /* NULL, or the pitch track's constants at the front
                                       end's rate; then bands = n_mels + 2, hop_frames >
                                       the tracks' lag (a few frames) */
} pr_stream_config;

/* One decided (or gated) window. Frames are counted from pr_stream_init; frame t covers
 * samples [t hop_samples, t hop_samples + win_length). */
typedef struct {
    int64_t start_frame;            /* the window's first frame */
    int64_t end_frame;              /* one past its last frame */
    int32_t flags;                  /* PR_STREAM_GATED | PR_STREAM_UPDATED | PR_STREAM_FINAL */
    int32_t active_frames;          /* frames of the window above the gate */
    int32_t label;                  /* argmax of the logits (the first on ties), -1 gated */
    int32_t n_logits;               /* the model's classes */
    int8_t logits[PR_STREAM_MAX_CLASSES]; /* at the model's output scale (0 when gated) */
} pr_stream_decision;

/* pr_stream_bytes: bytes of stream memory for this configuration (its sizes only: no
 * pointer is read but cfg->frontend), or a negative status (PR_ERR_NULL, PR_ERR_SHAPE
 * for sizes out of range, PR_ERR_OVERFLOW). */
int64_t pr_stream_bytes(const pr_stream_config *cfg);

/* pr_stream_init: check the configuration completely (pr_model_check of the model, its
 * input width and T_max against the window, its arena, classes <= PR_STREAM_MAX_CLASSES,
 * the front end's and the normalization's constants) and start a stream in mem
 * (mem_bytes >= pr_stream_bytes(cfg), 8-byte aligned: else PR_ERR_SCRATCH,
 * PR_ERR_MODEL_ALIGN). Returns PR_OK, PR_ERR_NULL, PR_ERR_SHAPE, PR_ERR_PARAM or the
 * model check's status. */
pr_status pr_stream_init(const pr_stream_config *cfg, uint8_t *mem, int64_t mem_bytes);

/*
 * pr_stream_push_s16: push pcm[0 .. n) (n >= 0) through the stream: every complete
 * frame is computed, normalized with `state` (the causal normalization state,
 * pr_norm_state_bytes(bands) bytes, valid) and added to the window; every decided or
 * gated window is written to out[*n_out] (max_out >= 1). Stops early, right after the
 * max_out-th decision: *consumed tells how many samples were used (push the rest
 * again). The state changes only at decisions with PR_STREAM_UPDATED. After an error
 * the stream refuses further calls (PR_ERR_STREAM) until pr_stream_init; a state that
 * fails its check (PR_ERR_STATE) is refused before any sample is used. mem, state, pcm
 * and out must not overlap.
 */
pr_status pr_stream_push_s16(const pr_stream_config *cfg, uint8_t *mem, int64_t mem_bytes,
                             uint8_t *state, int32_t state_bytes, const int16_t *pcm,
                             int32_t n, int32_t *consumed, pr_stream_decision *out,
                             int32_t max_out, int32_t *n_out);

/*
 * pr_stream_finish: the end of the stream: when frames arrived after the last window
 * and at least min_frames are held, decides one last window over the frames held
 * (the last whole hops and the partial one: fewer than window_frames) into *out,
 * *n_out = 1 (else 0). The stream is finished afterwards (pr_stream_init to reuse it).
 */
pr_status pr_stream_finish(const pr_stream_config *cfg, uint8_t *mem, int64_t mem_bytes,
                           uint8_t *state, int32_t state_bytes, pr_stream_decision *out,
                           int32_t *n_out);

/* pr_status_str: what a status code means, e.g. "CRC mismatch: the file is corrupt"
 * (a constant string; "unknown status" for a code no function returns). */
const char *pr_status_str(pr_status status);

/* ==== statistics head: utterance functionals (reference/stats_head.md; NumPy oracle
 * pyreparam/quant/qfunctionals.py) ====
 *
 * x (frames, channels) int16 Q8 log-mel frames, the first `bands` channels mel bands;
 * dct (cepstra, bands) int16 Q14 (qfunctionals.dct_basis_q14, or any int16 table).
 * out: pr_functionals_count(channels, cepstra) int32 Q16 values (saturated): the
 * statistics of every channel and cepstral coefficient over all frames, then over
 * the speech frames (within 1179 / 2^8 natural-log units of the loudest frame's mean
 * over the bands; all frames when fewer than 3). scratch: pr_functionals_scratch_len
 * (frames) int32. Limits: 1 <= frames <= PR_FUNC_MAX_FRAMES, 1 <= bands <=
 * min(channels, PR_FUNC_MAX_BANDS), channels <= PR_FUNC_MAX_CHANNELS, 1 <= cepstra <=
 * bands (else PR_ERR_SHAPE); no table content can overflow a signed integer.
 */
enum {
    PR_FUNC_MAX_FRAMES = 16384,
    PR_FUNC_MAX_CHANNELS = 1024,
    PR_FUNC_MAX_BANDS = 64,
    PR_FUNC_SPEECH_RANGE_Q8 = 1179,  /* round(2^8 ln 100): 20 dB */
    PR_FUNC_MIN_SPEECH_FRAMES = 3
};

/* pr_functionals_count: the number of outputs, 2 (6 channels + 12 cepstra), or
 * PR_ERR_SHAPE for counts out of range. */
int32_t pr_functionals_count(int32_t channels, int32_t cepstra);

/* pr_functionals_scratch_len: int32 scratch of pr_functionals_s16 (3 frames), or
 * PR_ERR_SHAPE. */
int32_t pr_functionals_scratch_len(int32_t frames);

pr_status pr_functionals_s16(const int16_t *x, int32_t frames, int32_t channels,
                             int32_t bands, const int16_t *dct, int32_t cepstra,
                             int32_t *out, int32_t *scratch, int32_t scratch_len);

/* pr_prosody_s16: the prosody block of a head on frames with the two pitch channels
 * after the bands (log2 F0 at channel `bands`, voicing at `bands` + 1, Q8):
 * PR_PROSODY_COUNT int32 Q16 values of the pitch channel over the voiced speech frames
 * (the speech frames above whose voicing is >= PR_PROSODY_VOICED_Q8, in time order;
 * all speech frames when fewer than 3 are voiced): mean, std, 10/50/90th percentiles,
 * std of the frame-to-frame change, and the voiced share of the speech frames.
 * scratch: pr_functionals_scratch_len(frames) int32. PR_ERR_SHAPE unless
 * channels >= bands + 2 and the limits of pr_functionals_s16 hold. */
enum {
    PR_PROSODY_COUNT = 7,
    PR_PROSODY_VOICED_Q8 = 128       /* voicing 0.5 */
};

pr_status pr_prosody_s16(const int16_t *x, int32_t frames, int32_t channels, int32_t bands,
                         int32_t *out, int32_t *scratch, int32_t scratch_len);

/* ==== the statistics head (reference/stats_head.md, section 5; NumPy oracle
 * pyreparam/quant/qhead.py) ====
 *
 * A linear classifier on the utterance's functionals, deciding with the network. For
 * each heard utterance x (frames, channels) int16 Q8, after the network ran:
 *   pr_head_features_s16   g (D) int16: the functionals, each in Q8 of f 2^-e[j]
 *   pr_norm_apply_s16_s8   bands = D, frames = 1: z (D) int8, g z-scored with the
 *                          head's own causal state (a pr_norm state of D bands) and prior
 *   pr_head_decide_s8      p (N) int32 = (2^15 - w) (softmax(network logits) + 128)
 *                                         + w (softmax(W z + b) + 128)   (Q23 of p);
 *                          the class is the first c with the largest p[c]
 *   pr_norm_update_s16     bands = D, frames = 1: the state hears g
 * Every array is the caller's (flash: a generated header or a model's host metadata).
 */
enum {
    PR_HEAD_MAX_CLASSES = 64,
    PR_HEAD_MIX_ONE = 32768,          /* w = PR_HEAD_MIX_ONE: the head alone */
    PR_HEAD_MIN_EXPONENT = -23,
    PR_HEAD_MAX_EXPONENT = 23
};

typedef struct {
    int32_t channels;              /* C of the frames, 1 .. PR_FUNC_MAX_CHANNELS */
    int32_t bands;                 /* M mel bands first, 1 .. min(C, PR_FUNC_MAX_BANDS) */
    int32_t cepstra;               /* L, 1 .. M */
    int32_t classes;               /* N, 1 .. PR_HEAD_MAX_CLASSES */
    int32_t logit_zero_point;      /* of the head's int8 logits, -128 .. 127 */
    int32_t mix;                   /* w, the head's weight in Q15, 0 .. PR_HEAD_MIX_ONE */
    const int16_t *dct;            /* (L, M) Q14 (pr_functionals_s16) */
    const int8_t *exponent;        /* (D) e[j] in PR_HEAD_MIN_EXPONENT .. _MAX_EXPONENT */
    const int8_t *weight;          /* (N, D) int8 */
    const int32_t *bias;           /* (N) at s_z s_w[c] */
    const int32_t *multiplier;     /* (N) M[c] = s_z s_w[c] / s_l, as pr_linear_s8 */
    const int32_t *shift;          /* (N) */
    const int32_t *head_exp_table; /* (256) pr_softmax_s8 table of the head's logits */
    const int32_t *net_exp_table;  /* (256) the same for the network's logits */
    int32_t pitch;                 /* 1: the functionals end with pr_prosody_s16's block
                                    * (channels >= bands + 2); 0: none */
} pr_head;

/* pr_head_count: D = pr_functionals_count(channels, cepstra) (+ PR_PROSODY_COUNT with
 * pitch) of a valid head, or a
 * negative status (PR_ERR_NULL, PR_ERR_SHAPE, PR_ERR_PARAM for a field or an exponent
 * out of range). */
int32_t pr_head_count(const pr_head *head);

/* pr_head_scratch_len: int32 scratch of pr_head_features_s16 for `frames` frames
 * (D + pr_functionals_scratch_len(frames)), or a negative status. */
int32_t pr_head_scratch_len(const pr_head *head, int32_t frames);

/* pr_head_features_s16: f = pr_functionals_s16(x) (Q16), followed with pitch by
 * pr_prosody_s16(x), then for each j, with
 * s = 8 + e[j]: g[j] = sat16(rdbp(f[j], s)) when s >= 0, else sat16(f[j] 2^-s).
 *   x (frames, channels) int16 Q8; g (D) int16. */
pr_status pr_head_features_s16(const pr_head *head, const int16_t *x, int32_t frames,
                               int16_t *g, int32_t *scratch, int32_t scratch_len);

/* pr_head_decide_s8: l = pr_linear_s8(z) with the head's weights (int8, zero point
 * logit_zero_point), p_head = pr_softmax_s8(l), p_net = pr_softmax_s8(net_logits) (one
 * row each), p[c] = (PR_HEAD_MIX_ONE - w) (p_net[c] + 128) + w (p_head[c] + 128).
 *   z (D) int8 (pr_norm_apply_s16_s8's output); net_logits (N) int8; p (N) int32. */
pr_status pr_head_decide_s8(const pr_head *head, const int8_t *z, const int8_t *net_logits,
                            int32_t *p);

/* ==== build information (SIMD variants; csrc/x86/, csrc/aarch64/, csrc/build_ffi.py) ====
 *
 * pr_build_info: a constant string naming the kernels this build compiled:
 * "simd=none" (the portable reference, every target), "simd=avx2" or
 * "simd=avx512vnni" (x86 variants of some int8 kernels, csrc/x86/), "simd=neon" or
 * "simd=neondot" (aarch64 NEON variants, csrc/aarch64/, the latter with the
 * dot-product instructions), "simd=arm-dsp" (Cortex-M DSP variants, csrc/arm/), all
 * with the same prototypes and bit-identical results, chosen at build time
 * (PYREPARAM_SIMD=auto|none|avx2|avx512vnni|neon|neondot; tools/mcu/build.sh).
 */
const char *pr_build_info(void);

/*
 * pr_build_cpu_ok: 1 when this CPU (and OS) runs the instructions this build compiled,
 * else 0: an x86 SIMD build checks the CPU's features (csrc/x86/pr_cpu_check_*.c), the
 * aarch64 dot-product build asks the OS whether the cores have it
 * (csrc/aarch64/pr_cpu_check_neondot.c), the portable and NEON builds return 1.
 * Calling a SIMD kernel where this returns 0 would stop the process (illegal
 * instruction); pyreparam.native refuses such a build.
 */
int32_t pr_build_cpu_ok(void);

/* cffi-end */

#ifdef __cplusplus
}
#endif

#endif /* PYREPARAM_H */
