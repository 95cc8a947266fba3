/*
 * Bare-metal harness of the integer log-mel front end (pr_logmel_frame_s16): the
 * frames of frontend.h (written by tools/mcu/frontend.py: the tables of
 * pyreparam.quant.qfrontend, int16 PCM frames and the features the host computed
 * for them) go through the C runtime one by one; each output is compared with the
 * host's, word for word.
 *
 * Then the pitch track: pr_pitch_decimate_s16 on frontend.h's PCM, pr_pitch_frame_s32
 * on each of its windows, pr_pitch_fill_s16 on its frames, each compared likewise.
 *
 * Output, one record per line:
 *   frame <i> status <s> stack <bytes> mismatches <n>
 *   pitch <i> status <s> stack <bytes> mismatches <n>   (i: decimate, windows, fill)
 *   done failures <n>
 * main returns 1 when a frame failed, else 0 (qemu's exit status).
 *
 * mcu_mark(k) is called right before and right after each runtime call:
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
static int32_t decimated[PT_DECIMATED];
static int16_t pitch_frames[PT_FRAMES][2];

static void pitch_record(int32_t i, pr_status st, uint32_t *sp, int32_t bad,
                         int32_t *failures)
{
    printf("pitch %ld status %ld stack %lu mismatches %ld\n", (long)i, (long)st,
           (unsigned long)mcu_stack_used(sp), (long)bad);
    *failures += st != PR_OK || bad != 0;
}

/* The pitch track's three calls, marks 2 mark0 .. */
static void run_pitch(int32_t mark0, int32_t *failures)
{
    static const pr_pitch_params params = PT_PARAMS;
    int32_t i, j, bad = 0;
    int16_t out[2];
    uint32_t *sp = mcu_sp();
    pr_status st;
    mcu_stack_paint(sp);
    mcu_mark(mark0);
    st = pr_pitch_decimate_s16(&params, pt_signal, PT_SAMPLES, 0, PT_DECIMATED, decimated);
    mcu_mark(mark0 + 1);
    for (j = 0; j < PT_DECIMATED; ++j) {
        bad += decimated[j] != pt_decimated[j];
    }
    pitch_record(0, st, sp, bad, failures);
    for (i = 0; i < PT_WINDOWS; ++i) {
        sp = mcu_sp();
        mcu_stack_paint(sp);
        mcu_mark(mark0 + 2 + 2 * i);
        st = pr_pitch_frame_s32(&params, pt_windows[i], out);
        mcu_mark(mark0 + 3 + 2 * i);
        pitch_record(1 + i, st, sp, (out[0] != pt_raw[i][0]) + (out[1] != pt_raw[i][1]),
                     failures);
    }
    for (i = 0; i < PT_FRAMES; ++i) {
        pitch_frames[i][0] = pt_frames[i][0];
        pitch_frames[i][1] = pt_frames[i][1];
    }
    sp = mcu_sp();
    mcu_stack_paint(sp);
    mcu_mark(mark0 + 2 + 2 * PT_WINDOWS);
    st = pr_pitch_fill_s16(&pitch_frames[0][0], PT_FRAMES, 2, 0);
    mcu_mark(mark0 + 3 + 2 * PT_WINDOWS);
    for (bad = 0, i = 0; i < PT_FRAMES; ++i) {
        bad += (pitch_frames[i][0] != pt_filled[i][0]) + (pitch_frames[i][1] != pt_filled[i][1]);
    }
    pitch_record(1 + PT_WINDOWS, st, sp, bad, failures);
}

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
    run_pitch(2 * FE_FRAMES, &failures);
    printf("done failures %ld\n", (long)failures);
    return failures != 0;
}
