/*
 * Bare-metal harness of the integer log-mel front end (pr_logmel_frame_s16): the
 * frames of frontend.h (written by tools/mcu/frontend.py: the tables of
 * pyreparam.quant.qfrontend, int16 PCM frames and the features the host computed
 * for them) go through the C runtime one by one; each output is compared with the
 * host's, word for word.
 *
 * Output, one record per line:
 *   frame <i> status <s> stack <bytes> mismatches <n>
 *   done failures <n>
 * main returns 1 when a frame failed, else 0 (qemu's exit status).
 *
 * mcu_mark(k) is called right before and right after each pr_logmel_frame_s16 call:
 * the QEMU plugin insn_count.c snapshots its count of the runtime's executed
 * instructions there (tools/mcu/README.md).
 */
#include <stdint.h>
#include <stdio.h>

#include "pyreparam.h"
#include "frontend.h"

#define STACK_PAINT 0xA5A5A5A5u

extern uint32_t __stack_limit;

static int32_t scratch[FE_LOGMEL_SCRATCH];
static int16_t features[FE_LOGMEL_BANDS];

/* The plugin's marker: its first instruction is what it watches. */
__attribute__((noinline, used)) void mcu_mark(int32_t k)
{
    __asm__ volatile("" : : "r"(k) : "memory");
}

void mcu_systick_handler(void)
{
}

static uint32_t *mcu_sp(void)
{
    uint32_t *sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

static void mcu_stack_paint(uint32_t *sp)
{
    volatile uint32_t *p;
    for (p = &__stack_limit; p < sp - 64; ++p) {
        *p = STACK_PAINT;
    }
}

static uint32_t mcu_stack_used(uint32_t *sp)
{
    const volatile uint32_t *p = &__stack_limit;
    while (p < sp && *p == STACK_PAINT) {
        ++p;
    }
    return (uint32_t)((uintptr_t)sp - (uintptr_t)p);
}

int main(void)
{
    static const pr_logmel_params params = FE_LOGMEL_PARAMS;
    int32_t i, m, failures = 0;
    for (i = 0; i < FE_FRAMES; ++i) {
        uint32_t *sp = mcu_sp();
        int32_t bad = 0;
        pr_status st;
        mcu_stack_paint(sp);
        mcu_mark(2 * i);
        st = pr_logmel_frame_s16(&params, fe_frames[i], features, scratch,
                                 FE_LOGMEL_SCRATCH);
        mcu_mark(2 * i + 1);
        for (m = 0; m < FE_LOGMEL_BANDS; ++m) {
            bad += features[m] != fe_expected[i][m];
        }
        printf("frame %ld status %ld stack %lu mismatches %ld\n", (long)i, (long)st,
               (unsigned long)mcu_stack_used(sp), (long)bad);
        failures += st != PR_OK || bad != 0;
    }
    printf("done failures %ld\n", (long)failures);
    return failures != 0;
}
