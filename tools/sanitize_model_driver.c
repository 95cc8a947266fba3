/*
 * Sanitizer driver for the model runner (built and run by tools/sanitize.sh with
 * -fsanitize=address,undefined): pr_model_check and pr_model_run on real .prq files
 * and on damaged copies of them. Every buffer (blob, input, logits, arena) is
 * allocated with its exact size, so ASan sees any access outside it.
 *
 *   valid files   check == PR_OK; runs at T = 1, 2, 3, t_max / 2, t_max and random T
 *                 return PR_OK; T = 0 and t_max + 1, a short arena and a misaligned
 *                 blob return their error codes;
 *   truncations   every length below the file's (files up to 64 KB; larger ones:
 *                 every length below 4096 and 300 random ones) is rejected;
 *   corruptions   1-3 bytes overwritten and the CRC recomputed (so that only the
 *                 structural validation stands), mostly in the header, tables and
 *                 ops: check returns a status; when it accepts, run must return a
 *                 status too (any), with buffers of exactly the sizes the file states.
 *
 * Usage: sanitize_model_driver FILE.prq...   (exit 0 only when nothing failed)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyreparam.h"

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static int failures = 0;
static long runs = 0, checks = 0, accepted = 0;

static uint32_t rnd(void) /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n == 0 ? 1 : n);
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

/* CRC-32 (zlib), bit by bit: independent of the runtime's table version. */
static uint32_t crc32_bitwise(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    size_t i;
    int k;
    for (i = 0; i < n; ++i) {
        crc ^= p[i];
        for (k = 0; k < 8; ++k) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return crc ^ 0xFFFFFFFFu;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void fail(const char *file, const char *what, long a, long b)
{
    fprintf(stderr, "FAIL %s: %s (%ld, %ld)\n", file, what, a, b);
    failures += 1;
}

/* One run with exact-size input, logits and arena; returns the status. */
static pr_status run_exact(const uint8_t *blob, size_t len, const pr_model_info *info,
                           int32_t T, int64_t arena_len)
{
    const size_t n_in = (size_t)(T > 0 ? T : 1) * (size_t)info->input_cols;
    int8_t *input = xmalloc(n_in);
    int8_t *logits = xmalloc((size_t)info->output_cols);
    uint8_t *arena = xmalloc((size_t)(arena_len > 0 ? arena_len : 1));
    pr_status st;
    size_t i;
    for (i = 0; i < n_in; ++i) {
        input[i] = (int8_t)(rnd() & 0xFFu);
    }
    st = pr_model_run(blob, (int64_t)len, input, T, logits, arena, arena_len);
    runs += 1;
    free(input);
    free(logits);
    free(arena);
    return st;
}

static void test_valid(const char *file, const uint8_t *blob, size_t len,
                       const pr_model_info *info)
{
    const int32_t Ts[6] = {1, 2, 3, info->t_max / 2, info->t_max,
                           1 + (int32_t)(rnd() % (uint32_t)info->t_max)};
    uint8_t *shifted;
    int i;
    for (i = 0; i < 6; ++i) {
        if (Ts[i] >= 1) {
            pr_status st = run_exact(blob, len, info, Ts[i], info->arena_bytes);
            if (st != PR_OK) {
                fail(file, "valid run", Ts[i], st);
            }
        }
    }
    if (run_exact(blob, len, info, 0, info->arena_bytes) != PR_ERR_MODEL_LENGTH ||
        run_exact(blob, len, info, info->t_max + 1, info->arena_bytes) != PR_ERR_MODEL_LENGTH) {
        fail(file, "T outside [1, t_max] accepted", 0, 0);
    }
    if (info->arena_bytes >= 4 &&
        run_exact(blob, len, info, 1, info->arena_bytes - 4) != PR_ERR_MODEL_ARENA) {
        fail(file, "short arena accepted", info->arena_bytes, 0);
    }
    shifted = xmalloc(len + 1);
    memcpy(shifted + 1, blob, len);
    if (pr_model_check(shifted + 1, (int64_t)len, NULL) != PR_ERR_MODEL_ALIGN) {
        fail(file, "misaligned blob accepted", 0, 0);
    }
    free(shifted);
}

static void test_truncations(const char *file, const uint8_t *blob, size_t len)
{
    size_t n, k;
    const size_t all = len <= 65536 ? len : 4096;
    for (k = 0; k < all + (len > 65536 ? 300 : 0); ++k) {
        uint8_t *copy;
        n = k < all ? k : (size_t)(rnd() % (uint32_t)len);
        copy = xmalloc(n);
        memcpy(copy, blob, n);
        checks += 1;
        if (pr_model_check(copy, (int64_t)n, NULL) == PR_OK) {
            fail(file, "truncated file accepted", (long)n, (long)len);
        }
        free(copy);
    }
}

/* A position biased towards the structure: header, tables and ops (first 8 KB). */
static size_t pick_position(size_t len)
{
    const size_t body = len - 4;
    const size_t structure = body < 8192 ? body : 8192;
    return (rnd() % 5 != 0) ? rnd() % (uint32_t)structure : rnd() % (uint32_t)body;
}

static void test_corruptions(const char *file, const uint8_t *blob, size_t len, int rounds)
{
    uint8_t *copy = xmalloc(len);
    int r, e;
    for (r = 0; r < rounds; ++r) {
        pr_model_info info;
        pr_status st;
        const int edits = 1 + (int)(rnd() % 3);
        memcpy(copy, blob, len);
        for (e = 0; e < edits; ++e) {
            copy[pick_position(len)] = (uint8_t)rnd();
        }
        put_u32(copy + len - 4, crc32_bitwise(copy, len - 4));
        checks += 1;
        st = pr_model_check(copy, (int64_t)len, &info);
        if (st > 0) {
            fail(file, "positive status", r, st);
        }
        if (st != PR_OK) {
            continue;
        }
        accepted += 1;
        if (info.arena_bytes > (1 << 24)) {
            continue; /* valid but asks for more than 16 MB: nothing to learn here */
        }
        st = run_exact(copy, len, &info, 1 + (int32_t)(rnd() % (uint32_t)info.t_max),
                       info.arena_bytes);
        if (st > 0) {
            fail(file, "positive run status", r, st);
        }
    }
    free(copy);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long size;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    buf = xmalloc((size_t)size);
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "short read %s\n", path);
        exit(2);
    }
    fclose(f);
    *len = (size_t)size;
    return buf;
}

int main(int argc, char **argv)
{
    int i;
    for (i = 1; i < argc; ++i) {
        size_t len;
        uint8_t *blob = read_file(argv[i], &len);
        pr_model_info info;
        const pr_status st = pr_model_check(blob, (int64_t)len, &info);
        if (st != PR_OK) {
            fail(argv[i], "valid file rejected", st, 0);
            free(blob);
            continue;
        }
        test_valid(argv[i], blob, len, &info);
        test_truncations(argv[i], blob, len);
        test_corruptions(argv[i], blob, len, len <= 65536 ? 3000 : 300);
        free(blob);
    }
    printf("sanitize_model_driver: %d files, %ld checks, %ld runs, %ld corrupted files "
           "accepted and run, %d failures\n", argc - 1, checks, runs, accepted, failures);
    return failures != 0;
}
