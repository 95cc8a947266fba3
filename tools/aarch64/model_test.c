/*
 * Linux harness of the int8 models on aarch64 (run under qemu-aarch64 by
 * tools/aarch64/aarch64.py): the same deployed path and the same output records as
 * the Cortex-M firmware's tools/mcu/main.c, from the same model.h (`pyreparam export
 * --name pr_model_blob`) and inputs.h (tools/mcu/prepare.py): an empty causal
 * normalization state; per utterance pr_norm_apply_s16_s8 (the model's int8 input),
 * pr_model_run, pr_norm_update_s16.
 *
 * Output, one record per line:
 *   build <pr_build_info()> cpu_ok <pr_build_cpu_ok()>
 *   check status <s> arena <bytes> flash <bytes> ops <n>
 *   run <i> T <frames> status <s> ticks 0 stack 0 logits <N ints>
 *   norm <i> status <s> state <n heard> crc <state CRC-32, hex>
 *   done failures <n>
 * (the "ticks" and "stack" fields of main.c's records are 0: no SysTick here).
 * A build whose instructions this CPU lacks (pr_build_cpu_ok() == 0: the dot-product
 * build on a core without it) prints "cpu refused: ..." and exits with status 3
 * before any kernel runs. main returns 1 when a call did not return PR_OK, else 0.
 *
 * Instruction counts: mcu_mark(k) is called right before and right after every
 * runtime call, as in main.c (check; then per utterance apply, run, update); the
 * QEMU plugin tools/mcu/insn_count.c snapshots its counter at each call.
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

/* The plugin's marker: its first instruction is what it watches. */
__attribute__((noinline, used)) void mcu_mark(int32_t k)
{
    __asm__ volatile("" : : "r"(k) : "memory");
}

static int32_t run_one(int32_t i)
{
    const int32_t T = mcu_input_frames[i];
    int8_t logits[PR_MODEL_BLOB_OUTPUT_COLS];
    pr_status st, norm_st;
    int32_t c;
    mcu_mark(6 * i + 2);
    norm_st = pr_norm_apply_s16_s8(&norm_params, pr_model_blob_norm_prior_mean,
                                   pr_model_blob_norm_prior_var, norm_state,
                                   (int32_t)sizeof norm_state, mcu_inputs[i], T,
                                   model_input);
    mcu_mark(6 * i + 3);
    mcu_mark(6 * i + 4);
    st = pr_model_run(pr_model_blob, PR_MODEL_BLOB_BYTES, model_input, T, logits, arena,
                      (int64_t)sizeof arena);
    mcu_mark(6 * i + 5);
    mcu_mark(6 * i + 6);
    if (norm_st == PR_OK) {
        norm_st = pr_norm_update_s16(norm_state, (int32_t)sizeof norm_state,
                                     PR_MODEL_BLOB_NORM_BANDS, mcu_inputs[i], T);
    }
    mcu_mark(6 * i + 7);
    printf("run %ld T %ld status %ld ticks 0 stack 0 logits", (long)i, (long)T, (long)st);
    for (c = 0; c < PR_MODEL_BLOB_OUTPUT_COLS; ++c) {
        printf(" %d", st == PR_OK ? (int)logits[c] : 0);
    }
    printf("\n");
    /* the state's header words 3 (utterances heard) and 5 (CRC-32), little-endian */
    printf("norm %ld status %ld state %lu crc %08lx\n", (long)i, (long)norm_st,
           (unsigned long)(norm_state[12] | (uint32_t)norm_state[13] << 8),
           (unsigned long)((uint32_t)norm_state[20] | (uint32_t)norm_state[21] << 8 |
                           (uint32_t)norm_state[22] << 16 | (uint32_t)norm_state[23] << 24));
    return st == PR_OK && norm_st == PR_OK ? 0 : 1;
}

int main(void)
{
    pr_model_info info;
    pr_status st;
    int32_t i, failures = 0;
    printf("build %s cpu_ok %ld\n", pr_build_info(), (long)pr_build_cpu_ok());
    if (pr_build_cpu_ok() != 1) {
        printf("cpu refused: this build (%s) needs instructions this CPU lacks\n",
               pr_build_info());
        return 3;
    }
    mcu_mark(0);
    st = pr_model_check(pr_model_blob, PR_MODEL_BLOB_BYTES, &info);
    mcu_mark(1);
    if (st != PR_OK) {
        printf("check status %ld\n", (long)st);
        return 1;
    }
    printf("check status %ld arena %ld flash %ld ops %ld\n", (long)st,
           (long)info.arena_bytes, (long)info.flash_bytes, (long)info.n_ops);
    st = pr_norm_state_init(norm_state, (int32_t)sizeof norm_state,
                            PR_MODEL_BLOB_NORM_BANDS);
    if (st != PR_OK) {
        printf("norm init status %ld\n", (long)st);
        return 1;
    }
    for (i = 0; i < MCU_N_INPUTS; ++i) {
        failures += run_one(i);
    }
    printf("done failures %ld\n", (long)failures);
    return failures != 0;
}
