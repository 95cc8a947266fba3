/*
 * Bare-metal harness: one model exported by `pyreparam export --name pr_model_blob`
 * (model.h, with its causal normalization constants) and a few utterances of one
 * speaker as int16 Q8 log-mel features (inputs.h, written by mcu.py prepare) go
 * through the deployed path, as a device hears them: the causal normalization state
 * starts empty; per utterance pr_norm_apply_s16_s8 (int8 model input), pr_model_run,
 * pr_norm_update_s16. The int8 logits and the state's CRC after each utterance are
 * printed over semihosting for mcu.py to compare with the host C runtime and the
 * NumPy integer reference.
 *
 * Output, one record per line:
 *   build <pr_build_info()> core <__ARM_ARCH_PROFILE/ISA summary>
 *   check status <s> arena <bytes> flash <bytes> ops <n>
 *   run <i> T <frames> status <s> ticks <SysTick ticks> stack <bytes> logits <N ints>
 *   norm <i> status <s> state <n heard> crc <state CRC-32, hex>
 *   done failures <n>
 * main returns 1 when a call did not return PR_OK, else 0 (qemu's exit status).
 *
 * Instruction counts: mcu_mark(k) is called right before and right after every
 * runtime call (check; then per utterance apply, run, update); the QEMU plugin
 * insn_count.c snapshots its counter of executed instructions of the runtime's
 * address range at each call. The SysTick ticks (of pr_model_run) are a cross-check:
 * under `qemu-system-arm -icount shift=0` one instruction advances the virtual clock
 * by 1 ns, and SysTick counts the 25 MHz system clock.
 */
#include <stdint.h>
#include <stdio.h>

#include "pyreparam.h"
#include "mcu_probe.h"
#include "model.h"
#include "inputs.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_RELOAD 0x00FFFFFFu

static uint8_t arena[PR_MODEL_BLOB_ARENA_BYTES] __attribute__((aligned(16)));
static uint8_t norm_state[PR_MODEL_BLOB_NORM_STATE_BYTES];
static int8_t model_input[PR_MODEL_BLOB_T_MAX * PR_MODEL_BLOB_NORM_BANDS];
static const pr_norm_params norm_params = PR_MODEL_BLOB_NORM_PARAMS;
static volatile uint32_t systick_wraps;

void mcu_systick_handler(void)
{
    systick_wraps = systick_wraps + 1;
}

/* Ticks since mcu_ticks_start(); the down-counter's wrap-arounds are counted by the
 * interrupt (every 2^24 ticks). */
static void mcu_ticks_start(void)
{
    systick_wraps = 0;
    SYST_RVR = SYST_RELOAD;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* enable, interrupt, processor clock */
}

static uint64_t mcu_ticks_read(void)
{
    uint32_t wraps, value;
    do {
        wraps = systick_wraps;
        value = SYST_CVR;
    } while (wraps != systick_wraps);
    return (uint64_t)wraps * (SYST_RELOAD + 1u) + (SYST_RELOAD - value);
}

static int32_t run_one(int32_t i)
{
    const int32_t T = mcu_input_frames[i];
    int8_t logits[PR_MODEL_BLOB_OUTPUT_COLS];
    uint32_t *sp = mcu_sp();
    uint64_t t0, t1;
    pr_status st, norm_st;
    int32_t c;
    mcu_stack_paint(sp);
    mcu_mark(6 * i + 2);
    norm_st = pr_norm_apply_s16_s8(&norm_params, pr_model_blob_norm_prior_mean,
                                   pr_model_blob_norm_prior_var, norm_state,
                                   (int32_t)sizeof norm_state, mcu_inputs[i], T,
                                   model_input);
    mcu_mark(6 * i + 3);
    mcu_mark(6 * i + 4);
    t0 = mcu_ticks_read();
    st = pr_model_run(pr_model_blob, PR_MODEL_BLOB_BYTES, model_input, T, logits, arena,
                      (int64_t)sizeof arena);
    t1 = mcu_ticks_read();
    mcu_mark(6 * i + 5);
    mcu_mark(6 * i + 6);
    if (norm_st == PR_OK) {
        norm_st = pr_norm_update_s16(norm_state, (int32_t)sizeof norm_state,
                                     PR_MODEL_BLOB_NORM_BANDS, mcu_inputs[i], T);
    }
    mcu_mark(6 * i + 7);
    printf("run %ld T %ld status %ld ticks %lu stack %lu logits", (long)i, (long)T,
           (long)st, (unsigned long)(t1 - t0), (unsigned long)mcu_stack_used(sp));
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
    printf("build %s cpu %s\n", pr_build_info(), MCU_CPU_NAME);
    mcu_ticks_start();
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
