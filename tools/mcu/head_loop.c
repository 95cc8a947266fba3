/*
 * Bare-metal harness of a whole utterance with the statistics head, in one working
 * buffer (reference/stats_head.md, section 5): model.h (`pyreparam export --name ser`
 * of a .prq with a head) and loop.h (written by tools/mcu/head.py: one speaker's
 * utterances as int16 Q8 log-mel frames and the host's outputs). Per utterance:
 *
 *   work = [ int16 frames (T_max x C) | head scratch ]          the front end's output
 *   pr_head_features_s16        g, scratch after the frames
 *   the network's columns       C = SER_HEAD_CHANNELS > M = SER_INPUT_COLS (pitch
 *                               channels for the head alone): each frame's first M
 *                               values moved to the front, in place (T_max x M)
 *   sums of the frames          for the frames' state update (pr_norm_update_sums)
 *   pr_norm_apply_inplace_s16_s8  the frames become the int8 model input, in place
 *   work = [ int8 input (T_max x C) | model arena ... ]         the freed half reused
 *   pr_model_run                network logits
 *   pr_norm_apply_s16_s8        the head's z (D bands, 1 frame), into the arena
 *   pr_head_decide_s8           the decision
 *   pr_norm_update_sums, pr_norm_update_s16   both states hear the utterance
 *
 * Output: "ram work <bytes> other <bytes> state <bytes>", then per utterance
 * "utt <i> status <s> mismatches <n> class <c> stack <bytes>", then "done failures
 * <n>"; main returns 1 on a failure.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pyreparam.h"
#include "mcu_probe.h"
#include "model.h"
#include "loop.h"

#define FRAME_BYTES (SER_T_MAX * SER_HEAD_CHANNELS * 2)
#define HEAD_SCRATCH_BYTES (SER_HEAD_SCRATCH_LEN * 4)
#define INPUT_BYTES (SER_T_MAX * SER_INPUT_COLS)
#define MAX2(a, b) ((a) > (b) ? (a) : (b))
#define WORK_BYTES MAX2(FRAME_BYTES + HEAD_SCRATCH_BYTES, INPUT_BYTES + SER_ARENA_BYTES)

static uint8_t work[WORK_BYTES] __attribute__((aligned(16)));
static int16_t g[SER_HEAD_FEATURES];
static int64_t sum[SER_INPUT_COLS], sum_sq[SER_INPUT_COLS];
static int8_t logits[SER_OUTPUT_COLS];
static int32_t p[SER_HEAD_CLASSES];
static uint8_t frames_state[SER_NORM_STATE_BYTES];        /* persistent: the device's */
static uint8_t head_state[SER_HEAD_STATE_BYTES];

void mcu_systick_handler(void)
{
}

static uint32_t crc_word(const uint8_t *state)
{
    uint32_t crc;
    memcpy(&crc, state + 20, sizeof crc);
    return crc;
}

static pr_status utterance(int32_t i)
{
    static const pr_head head = SER_HEAD;
    static const pr_norm_params head_norm = SER_HEAD_NORM;
    static const pr_norm_params norm = SER_NORM_PARAMS;
    int16_t *frames = (int16_t *)work;
    int32_t *scratch = (int32_t *)(work + FRAME_BYTES);
    const int32_t T = lp_lengths[i];
    int32_t t, m;
    pr_status st;
    memcpy(frames, lp_frames[i], (size_t)T * SER_HEAD_CHANNELS * 2);   /* the front end */
    mcu_mark(6 * i);
    st = pr_head_features_s16(&head, frames, T, g, scratch, SER_HEAD_SCRATCH_LEN);
    mcu_mark(6 * i + 1);
    if (SER_HEAD_CHANNELS > SER_INPUT_COLS) { /* t M + m <= t C + m: forward is safe */
        for (t = 1; t < T; ++t) {
            memmove(frames + t * SER_INPUT_COLS, frames + t * SER_HEAD_CHANNELS,
                    SER_INPUT_COLS * 2);
        }
    }
    for (m = 0; m < SER_INPUT_COLS; ++m) {
        sum[m] = 0;
        sum_sq[m] = 0;
    }
    for (t = 0; t < T; ++t) {
        for (m = 0; m < SER_INPUT_COLS; ++m) {
            const int64_t v = frames[t * SER_INPUT_COLS + m];
            sum[m] += v;
            sum_sq[m] += v * v;
        }
    }
    mcu_mark(6 * i + 2);
    if (st == PR_OK) {
        st = pr_norm_apply_inplace_s16_s8(&norm, ser_norm_prior_mean, ser_norm_prior_var,
                                          frames_state, SER_NORM_STATE_BYTES, frames, T,
                                          scratch, SER_HEAD_SCRATCH_LEN);
    }
    if (st == PR_OK) {
        st = pr_model_run(ser, SER_BYTES, (const int8_t *)work, T, logits,
                          work + INPUT_BYTES, SER_ARENA_BYTES);
    }
    mcu_mark(6 * i + 3);
    mcu_mark(6 * i + 4);
    if (st == PR_OK) {                           /* z goes where the arena was */
        st = pr_norm_apply_s16_s8(&head_norm, ser_head_prior_mean, ser_head_prior_var,
                                  head_state, SER_HEAD_STATE_BYTES, g, 1,
                                  (int8_t *)(work + INPUT_BYTES));
    }
    if (st == PR_OK) {
        st = pr_head_decide_s8(&head, (const int8_t *)(work + INPUT_BYTES), logits, p);
    }
    if (st == PR_OK) {
        st = pr_norm_update_sums(frames_state, SER_NORM_STATE_BYTES, SER_INPUT_COLS, sum,
                                 sum_sq, T);
    }
    if (st == PR_OK) {
        st = pr_norm_update_s16(head_state, SER_HEAD_STATE_BYTES, SER_HEAD_FEATURES, g, 1);
    }
    mcu_mark(6 * i + 5);
    return st;
}

int main(void)
{
    int32_t i, c, failures = 0;
    pr_status st = pr_model_check(ser, SER_BYTES, NULL);
    if (st == PR_OK) {
        st = pr_norm_state_init(frames_state, SER_NORM_STATE_BYTES, SER_INPUT_COLS);
    }
    if (st == PR_OK) {
        st = pr_norm_state_init(head_state, SER_HEAD_STATE_BYTES, SER_HEAD_FEATURES);
    }
    printf("ram work %lu other %lu state %lu\n", (unsigned long)sizeof work,
           (unsigned long)(sizeof g + sizeof sum + sizeof sum_sq + sizeof logits + sizeof p),
           (unsigned long)(sizeof frames_state + sizeof head_state));
    for (i = 0; i < LP_UTTERANCES && st == PR_OK; ++i) {
        uint32_t *sp = mcu_sp();
        int32_t bad = 0, best = 0;
        mcu_stack_paint(sp);
        st = utterance(i);
        for (c = 0; c < SER_OUTPUT_COLS; ++c) {
            bad += logits[c] != lp_logits[i][c];
        }
        for (c = 0; c < SER_HEAD_CLASSES; ++c) {
            bad += p[c] != lp_p[i][c];
            best = p[c] > p[best] ? c : best;
        }
        bad += (crc_word(frames_state) != lp_frames_crc[i]) +
               (crc_word(head_state) != lp_head_crc[i]);
        printf("utt %ld status %ld mismatches %ld class %ld stack %lu\n", (long)i, (long)st,
               (long)bad, (long)best, (unsigned long)mcu_stack_used(sp));
        failures += st != PR_OK || bad != 0;
    }
    printf("done failures %ld\n", (long)(failures + (st != PR_OK)));
    return failures != 0 || st != PR_OK;
}
