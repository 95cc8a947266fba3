/*
 * Bare-metal harness of the whole pipeline, audio in and emotions out: recordings
 * (recordings.h from tools/mcu/pipeline.py: 16 kHz int16 PCM linked into flash,
 * section .audio) go through the stream API of the runtime (pr_stream_init, then
 * pr_stream_push_s16 block by block, pr_stream_finish) with the model of `pyreparam
 * export --name pr_model_blob` (model.h: the model, the front end's tables, the
 * normalization's constants, the stream's configuration). Each recording starts a
 * fresh stream and a fresh normalization state. Blocks are copied into a microphone
 * buffer of MCU_MIC_SAMPLES samples first, as a DMA buffer would deliver them.
 *
 * Output, one record per line (decisions are kept in memory and printed after the
 * recording, so that printing is not counted):
 *   build <pr_build_info()> cpu <core>
 *   memory stream <bytes> state <bytes> mic <bytes>
 *   decision <r> <i> start <frame> end <frame> flags <f> active <n> label <l>
 *       crc <state CRC-32 after it, hex> logits <N ints>
 *   recording <r> status <s> decisions <n> stack <bytes>
 *   done failures <n>
 * main returns 1 when a call did not return PR_OK, else 0 (qemu's exit status).
 *
 * Instruction counts: per recording mcu_mark is called before and after pr_stream_init,
 * before the first push, after every push call that made a decision, and after
 * pr_stream_finish (4 + the decisions made by pushes); the QEMU plugin insn_count.c
 * snapshots its counter of the runtime's executed instructions there, and with
 * profile=1 the per-address counts that tell the front end's share. Between the marks
 * after the first and the last regular decision lie whole hops: the steady state.
 */
#include <stdint.h>
#include <stdio.h>

#include "pyreparam.h"
#include "mcu_probe.h"
#include "model.h"
#include "recordings.h"

#define MAX_DECISIONS 128

static uint8_t stream_mem[PR_MODEL_BLOB_STREAM_BYTES] __attribute__((aligned(8)));
static uint8_t norm_state[PR_MODEL_BLOB_NORM_STATE_BYTES];
static int16_t mic[MCU_MIC_SAMPLES];
static const pr_stream_config pr_model_blob_stream = PR_MODEL_BLOB_STREAM_CONFIG;
static pr_stream_decision decided[MAX_DECISIONS];
static uint32_t decided_crc[MAX_DECISIONS];

void mcu_systick_handler(void)
{
}

/* The "DMA": copy a block into the microphone buffer (volatile: gcc must not turn the
 * loop into a memcpy call, which would run in the counted helpers' range). */
static void mic_fill(const int16_t *pcm, int32_t n)
{
    volatile int16_t *dst = mic;
    int32_t i;
    for (i = 0; i < n; ++i) {
        dst[i] = pcm[i];
    }
}

static uint32_t state_crc(void)
{
    return (uint32_t)norm_state[20] | (uint32_t)norm_state[21] << 8 |
           (uint32_t)norm_state[22] << 16 | (uint32_t)norm_state[23] << 24;
}

/* Push one block (all of it), keeping the decisions and the state's CRC after each. */
static pr_status push_block(int32_t n, int32_t *count)
{
    int32_t done = 0;
    pr_status st = PR_OK;
    while (st == PR_OK && done < n) {
        int32_t used = 0, n_out = 0, i;
        if (*count >= MAX_DECISIONS) {
            return PR_ERR_SHAPE;
        }
        st = pr_stream_push_s16(&pr_model_blob_stream, stream_mem, (int64_t)sizeof stream_mem,
                                norm_state, (int32_t)sizeof norm_state, mic + done, n - done,
                                &used, &decided[*count], MAX_DECISIONS - *count, &n_out);
        if (n_out > 0) {
            mcu_mark(-1);                            /* a decision was made */
        }
        for (i = 0; i < n_out; ++i) {
            decided_crc[*count + i] = state_crc();   /* <= 1 decision per block */
        }
        *count += n_out;
        done += used;
    }
    return st;
}

static void print_decisions(int32_t r, int32_t count)
{
    int32_t i, c;
    for (i = 0; i < count; ++i) {
        const pr_stream_decision *d = &decided[i];
        printf("decision %ld %ld start %ld end %ld flags %ld active %ld label %ld crc %08lx "
               "logits", (long)r, (long)i, (long)d->start_frame, (long)d->end_frame,
               (long)d->flags, (long)d->active_frames, (long)d->label,
               (unsigned long)decided_crc[i]);
        for (c = 0; c < d->n_logits; ++c) {
            printf(" %d", (int)d->logits[c]);
        }
        printf("\n");
    }
}

static int32_t run_recording(int32_t r)
{
    const int16_t *pcm = mcu_rec_pcm[r];
    const int32_t n = mcu_rec_samples[r];
    uint32_t *sp = mcu_sp();
    int32_t pos = 0, k = 0, count = 0, n_out = 0;
    pr_status st;
    mcu_stack_paint(sp);
    st = pr_norm_state_init(norm_state, (int32_t)sizeof norm_state,
                            PR_MODEL_BLOB_NORM_BANDS);
    mcu_mark(3 * r);
    if (st == PR_OK) {
        st = pr_stream_init(&pr_model_blob_stream, stream_mem, (int64_t)sizeof stream_mem);
    }
    mcu_mark(3 * r + 1);
    mcu_mark(3 * r + 2);
    while (st == PR_OK && pos < n) {
        int32_t len = mcu_rec_chunks[r][k % mcu_rec_n_chunks[r]];
        len = len < n - pos ? len : n - pos;
        mic_fill(pcm + pos, len);
        st = push_block(len, &count);
        pos += len;
        ++k;
    }
    if (st == PR_OK) {
        st = pr_stream_finish(&pr_model_blob_stream, stream_mem, (int64_t)sizeof stream_mem,
                              norm_state, (int32_t)sizeof norm_state, &decided[count], &n_out);
        if (n_out == 1) {
            decided_crc[count] = state_crc();
        }
        count += n_out;
    }
    mcu_mark(3 * r + 3);
    print_decisions(r, count);
    printf("recording %ld status %ld decisions %ld stack %lu\n", (long)r, (long)st,
           (long)count, (unsigned long)mcu_stack_used(sp));
    return st == PR_OK ? 0 : 1;
}

int main(void)
{
    int32_t r, failures = 0;
    printf("build %s cpu %s\n", pr_build_info(), MCU_CPU_NAME);
    printf("memory stream %lu state %lu mic %lu\n", (unsigned long)sizeof stream_mem,
           (unsigned long)sizeof norm_state, (unsigned long)sizeof mic);
    for (r = 0; r < MCU_N_RECORDINGS; ++r) {
        failures += run_recording(r);
    }
    printf("done failures %ld\n", (long)failures);
    return failures != 0;
}
