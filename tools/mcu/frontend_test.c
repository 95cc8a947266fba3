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
#include "mcu_probe.h"
#include "frontend.h"


static int32_t scratch[FE_LOGMEL_SCRATCH];
static int16_t features[FE_LOGMEL_BANDS];

void mcu_systick_handler(void)
{
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
