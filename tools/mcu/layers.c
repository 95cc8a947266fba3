/*
 * Bare-metal harness of one model's layers: the instructions of every call of the
 * product, softmax and depthwise kernels inside one pr_model_run, with its shape
 * (mcu.py --layers; the CMSIS-NN comparison of tools/mcu/README.md).
 *
 * Linked with -Wl,--wrap for the kernels below (build.sh layers): the runner's calls
 * reach __wrap_pr_<kernel>, which calls mcu_mark right before and right after the real
 * kernel, so that the QEMU plugin insn_count.c snapshots its counter around each call,
 * and then prints the call's shape (outside the marked span). The model runs once on
 * the first input of inputs.h, normalized causally from an empty state as in main.c.
 *
 * Output, one record per line:
 *   build <pr_build_info()>
 *   call <i> <kernel> <shape fields, name value pairs>
 *   model status <s> calls <n>
 * Marks: 0 before pr_model_run, 2 i + 1 and 2 i + 2 around call i, the last after it.
 */
#include <stdint.h>
#include <stdio.h>

#include "pyreparam.h"
#include "model.h"
#include "inputs.h"

static uint8_t arena[PR_MODEL_BLOB_ARENA_BYTES] __attribute__((aligned(16)));
static uint8_t norm_state[PR_MODEL_BLOB_NORM_STATE_BYTES];
static int8_t model_input[PR_MODEL_BLOB_T_MAX * PR_MODEL_BLOB_NORM_BANDS];
static const pr_norm_params norm_params = PR_MODEL_BLOB_NORM_PARAMS;
static int32_t n_marks, n_calls;

__attribute__((noinline, used)) void mcu_mark(int32_t k)
{
    __asm__ volatile("" : : "r"(k) : "memory");
}

void mcu_systick_handler(void)
{
}

static void mark(void)
{
    mcu_mark(n_marks++);
}

/* ---- the wrapped kernels -------------------------------------------------------- */

pr_status __real_pr_linear_s8(const pr_linear_params *, const int8_t *, const int8_t *,
                              const int32_t *, const int32_t *, const int32_t *, int8_t *);
pr_status __real_pr_linear_s8_s16(const pr_linear_params *, const int8_t *, const int8_t *,
                                  const int32_t *, const int32_t *, const int32_t *,
                                  int16_t *);
pr_status __real_pr_conv1d_s8(const pr_conv1d_params *, const int8_t *, const int8_t *,
                              const int32_t *, const int32_t *, const int32_t *, int8_t *);
pr_status __real_pr_bmm_nt_s8(const pr_bmm_params *, const int8_t *, const int8_t *,
                              int8_t *);
pr_status __real_pr_bmm_nn_s8(const pr_bmm_params *, const int8_t *, const int8_t *,
                              int8_t *, int32_t *, int64_t);
pr_status __real_pr_softmax_s8(const pr_softmax_params *, const int8_t *, const int32_t *,
                               const uint8_t *, int8_t *);
pr_status __real_pr_depthwise_conv1d_s8(const pr_dwconv1d_params *, const int8_t *,
                                        const int8_t *, const int32_t *, const int32_t *,
                                        const int32_t *, int8_t *, int32_t *, int64_t);

pr_status __wrap_pr_linear_s8(const pr_linear_params *p, const int8_t *x, const int8_t *w,
                              const int32_t *bias, const int32_t *multiplier,
                              const int32_t *shift, int8_t *y)
{
    pr_status st;
    mark();
    st = __real_pr_linear_s8(p, x, w, bias, multiplier, shift, y);
    mark();
    printf("call %ld linear_s8 rows %ld in %ld out %ld\n", (long)n_calls++, (long)p->rows,
           (long)p->in_features, (long)p->out_features);
    return st;
}

pr_status __wrap_pr_linear_s8_s16(const pr_linear_params *p, const int8_t *x, const int8_t *w,
                                  const int32_t *bias, const int32_t *multiplier,
                                  const int32_t *shift, int16_t *y)
{
    pr_status st;
    mark();
    st = __real_pr_linear_s8_s16(p, x, w, bias, multiplier, shift, y);
    mark();
    printf("call %ld linear_s8_s16 rows %ld in %ld out %ld\n", (long)n_calls++,
           (long)p->rows, (long)p->in_features, (long)p->out_features);
    return st;
}

pr_status __wrap_pr_conv1d_s8(const pr_conv1d_params *p, const int8_t *x, const int8_t *w,
                              const int32_t *bias, const int32_t *multiplier,
                              const int32_t *shift, int8_t *y)
{
    pr_status st;
    mark();
    st = __real_pr_conv1d_s8(p, x, w, bias, multiplier, shift, y);
    mark();
    printf("call %ld conv1d_s8 len %ld cin %ld cout %ld kernel %ld stride %ld pad %ld\n",
           (long)n_calls++, (long)p->in_len, (long)p->in_channels, (long)p->out_channels,
           (long)p->kernel, (long)p->stride, (long)p->padding);
    return st;
}

pr_status __wrap_pr_bmm_nt_s8(const pr_bmm_params *p, const int8_t *a, const int8_t *b,
                              int8_t *out)
{
    pr_status st;
    mark();
    st = __real_pr_bmm_nt_s8(p, a, b, out);
    mark();
    printf("call %ld bmm_nt_s8 batches %ld rows %ld cols %ld depth %ld\n", (long)n_calls++,
           (long)p->batches, (long)p->rows, (long)p->cols, (long)p->depth);
    return st;
}

pr_status __wrap_pr_bmm_nn_s8(const pr_bmm_params *p, const int8_t *a, const int8_t *b,
                              int8_t *out, int32_t *scratch, int64_t scratch_len)
{
    pr_status st;
    mark();
    st = __real_pr_bmm_nn_s8(p, a, b, out, scratch, scratch_len);
    mark();
    printf("call %ld bmm_nn_s8 batches %ld rows %ld cols %ld depth %ld\n", (long)n_calls++,
           (long)p->batches, (long)p->rows, (long)p->cols, (long)p->depth);
    return st;
}

pr_status __wrap_pr_softmax_s8(const pr_softmax_params *p, const int8_t *x,
                               const int32_t *exp_table, const uint8_t *key_mask, int8_t *y)
{
    pr_status st;
    mark();
    st = __real_pr_softmax_s8(p, x, exp_table, key_mask, y);
    mark();
    printf("call %ld softmax_s8 batches %ld rows %ld cols %ld window %ld\n", (long)n_calls++,
           (long)p->batches, (long)p->rows, (long)p->cols, (long)p->window);
    return st;
}

pr_status __wrap_pr_depthwise_conv1d_s8(const pr_dwconv1d_params *p, const int8_t *x,
                                        const int8_t *w, const int32_t *bias,
                                        const int32_t *multiplier, const int32_t *shift,
                                        int8_t *y, int32_t *scratch, int64_t scratch_len)
{
    pr_status st;
    mark();
    st = __real_pr_depthwise_conv1d_s8(p, x, w, bias, multiplier, shift, y, scratch,
                                       scratch_len);
    mark();
    printf("call %ld depthwise_conv1d_s8 len %ld ch %ld kernel %ld\n", (long)n_calls++,
           (long)p->in_len, (long)p->channels, (long)p->kernel);
    return st;
}

int main(void)
{
    pr_model_info info;
    int8_t logits[PR_MODEL_BLOB_OUTPUT_COLS];
    pr_status st;
    printf("build %s\n", pr_build_info());
    st = pr_model_check(pr_model_blob, PR_MODEL_BLOB_BYTES, &info);
    if (st == PR_OK) {
        st = pr_norm_state_init(norm_state, (int32_t)sizeof norm_state,
                                PR_MODEL_BLOB_NORM_BANDS);
    }
    if (st == PR_OK) {
        st = pr_norm_apply_s16_s8(&norm_params, pr_model_blob_norm_prior_mean,
                                  pr_model_blob_norm_prior_var, norm_state,
                                  (int32_t)sizeof norm_state, mcu_inputs[0],
                                  mcu_input_frames[0], model_input);
    }
    if (st != PR_OK) {
        printf("setup status %ld\n", (long)st);
        return 1;
    }
    mark();
    st = pr_model_run(pr_model_blob, PR_MODEL_BLOB_BYTES, model_input, mcu_input_frames[0],
                      logits, arena, (int64_t)sizeof arena);
    mark();
    printf("model status %ld calls %ld frames %ld\n", (long)st, (long)n_calls,
           (long)mcu_input_frames[0]);
    return st != PR_OK;
}
