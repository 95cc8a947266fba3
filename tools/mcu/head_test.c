/*
 * Bare-metal harness of the statistics head (reference/stats_head.md, section 5): the
 * utterances of head.h (written by tools/mcu/head.py: a fitted head's integer
 * constants, int16 Q8 log-mel frames of synthetic speech, the network's int8 logits
 * for them and everything the NumPy reference computed) go through the device's
 * steps, one speaker heard in order, each output compared with the host's:
 *
 *   pr_head_features_s16  g      (D int16)
 *   pr_norm_apply_s16_s8  z      (D int8, the head's causal state, bands = D)
 *   pr_head_decide_s8     p      (N int32, the decision)
 *   pr_norm_update_s16    state  (its CRC-32 word)
 *
 * Output, one record per utterance, then a summary:
 *   utt <i> status <s> stack <bytes> mismatches <n> class <c>
 *   done failures <n>
 * main returns 1 when an utterance failed, else 0 (qemu's exit status).
 * mcu_mark(4 i + k) brackets the steps (k = 0: features start ... the plugin counts
 * the runtime's instructions between marks; tools/mcu/README.md).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pyreparam.h"
#include "mcu_probe.h"
#include "head.h"

static int32_t scratch[HD_HEAD_SCRATCH_LEN];
static int16_t g[HD_HEAD_FEATURES];
static int8_t z[HD_HEAD_FEATURES];
static int32_t p[HD_HEAD_CLASSES];
static uint8_t state[HD_HEAD_STATE_BYTES];

void mcu_systick_handler(void)
{
}

static int32_t count_mismatches(int32_t i)
{
    int32_t j, bad = 0;
    uint32_t crc;
    for (j = 0; j < HD_HEAD_FEATURES; ++j) {
        bad += (g[j] != hd_g[i][j]) + (z[j] != hd_z[i][j]);
    }
    for (j = 0; j < HD_HEAD_CLASSES; ++j) {
        bad += p[j] != hd_p[i][j];
    }
    memcpy(&crc, state + 20, sizeof crc);                 /* the state's CRC-32 word */
    return bad + (crc != hd_state_crc[i]);
}

int main(void)
{
    static const pr_head head = HD_HEAD;
    static const pr_norm_params norm = HD_HEAD_NORM;
    int32_t i, failures = 0;
    pr_status st = pr_norm_state_init(state, HD_HEAD_STATE_BYTES, HD_HEAD_FEATURES);
    for (i = 0; i < HD_UTTERANCES && st == PR_OK; ++i) {
        uint32_t *sp = mcu_sp();
        int32_t bad, c, best = 0;
        mcu_stack_paint(sp);
        mcu_mark(8 * i);
        st = pr_head_features_s16(&head, hd_frames[i], hd_lengths[i], g, scratch,
                                  HD_HEAD_SCRATCH_LEN);
        mcu_mark(8 * i + 1);
        if (st == PR_OK) {
            mcu_mark(8 * i + 2);
            st = pr_norm_apply_s16_s8(&norm, hd_head_prior_mean, hd_head_prior_var, state,
                                      HD_HEAD_STATE_BYTES, g, 1, z);
            mcu_mark(8 * i + 3);
        }
        if (st == PR_OK) {
            mcu_mark(8 * i + 4);
            st = pr_head_decide_s8(&head, z, hd_net_logits[i], p);
            mcu_mark(8 * i + 5);
        }
        if (st == PR_OK) {
            mcu_mark(8 * i + 6);
            st = pr_norm_update_s16(state, HD_HEAD_STATE_BYTES, HD_HEAD_FEATURES, g, 1);
            mcu_mark(8 * i + 7);
        }
        bad = count_mismatches(i);
        for (c = 1; c < HD_HEAD_CLASSES; ++c) {
            best = p[c] > p[best] ? c : best;
        }
        printf("utt %ld status %ld stack %lu mismatches %ld class %ld\n", (long)i, (long)st,
               (unsigned long)mcu_stack_used(sp), (long)bad, (long)best);
        failures += st != PR_OK || bad != 0;
    }
    printf("done failures %ld\n", (long)failures);
    return failures != 0;
}
