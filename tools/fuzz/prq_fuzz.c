/*
 * libFuzzer harness of the C model loader: pr_model_check, then pr_model_run on what
 * it accepts. Built with clang -fsanitize=fuzzer,address,undefined by
 * tools/fuzz/run.sh; every buffer (blob, input, logits, arena) is allocated with its
 * exact size, so ASan sees any access outside it.
 *
 * Input: one control byte, then the model file.
 *   bit 0  repair the file's CRC-32 (otherwise nearly every mutation stops at the
 *          CRC check and the structural validation behind it is never reached)
 *   bit 1  set the header's file size to the actual length
 *   bits 2-7  which T to run: 1, T_max, or a length in between
 * The seeds (tools/fuzz/corpus/prq) are tiny models of every backbone with the
 * control byte 0x03. A crash, a sanitizer report, a run of a checked model that
 * reads past a buffer, or check accepting a file that run then refuses with a
 * structural error (PR_ERR_MODEL_*, other than a too-small arena or a length that
 * the rules derive below 1) aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pyreparam.h"
#include "pr_crc32_internal.h"

enum { MAX_ARENA = 16 << 20, MAX_RUN_BYTES = 4 << 20 };

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void run_once(const uint8_t *blob, size_t len, const pr_model_info *info, int32_t T)
{
    const size_t n_in = (size_t)T * (size_t)info->input_cols;
    int8_t *input = malloc(n_in ? n_in : 1);
    int8_t *logits = malloc((size_t)info->output_cols ? (size_t)info->output_cols : 1);
    uint8_t *arena = malloc((size_t)info->arena_bytes ? (size_t)info->arena_bytes : 1);
    pr_status status;
    size_t i;
    if (input == NULL || logits == NULL || arena == NULL) {
        abort();
    }
    for (i = 0; i < n_in; ++i) {
        input[i] = (int8_t)(blob[i % len] ^ (uint8_t)(i * 31u));
    }
    status = pr_model_run(blob, (int64_t)len, input, T, logits, arena, info->arena_bytes);
    /* a checked model may still refuse a length its rules shrink below 1 */
    if (status != PR_OK && status != PR_ERR_MODEL_LENGTH && status > PR_ERR_PARAM) {
        abort();                              /* a kernel argument error after check */
    }
    free(input);
    free(logits);
    free(arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pr_model_info info;
    uint8_t control;
    uint8_t *blob;
    size_t len;
    int32_t T;
    if (size < 1) {
        return 0;
    }
    control = data[0];
    len = size - 1;
    blob = malloc(len ? len : 1);             /* malloc: aligned for any type */
    if (blob == NULL) {
        return 0;
    }
    memcpy(blob, data + 1, len);
    if ((control & 2u) && len >= 96) {
        put_u32(blob + 12, (uint32_t)len);
    }
    if ((control & 1u) && len >= 8) {
        put_u32(blob + len - 4, pr_crc32(blob, (int64_t)len - 4));
    }
    if (pr_model_check(blob, (int64_t)len, &info) == PR_OK && info.arena_bytes <= MAX_ARENA
            && (int64_t)info.t_max * info.input_cols <= MAX_RUN_BYTES) {
        switch (control >> 6) {
        case 0:  T = 1; break;
        case 1:  T = info.t_max; break;
        default: T = 1 + (int32_t)((control >> 2) & 15u) * info.t_max / 16; break;
        }
        if (T > info.t_max) {
            T = info.t_max;
        }
        run_once(blob, len, &info, T);
    }
    free(blob);
    return 0;
}
