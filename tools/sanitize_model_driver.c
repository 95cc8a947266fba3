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
 *   the stream    pr_stream_* over the file with random front-end tables (any int32
 *                 content), random normalization constants and configurations: random
 *                 and extreme PCM pushed in blocks of random sizes, max_out 1..3, then
 *                 finish; the stream memory, the state and the tables exactly sized;
 *                 then damaged copies of the stream memory (random bytes flipped) and
 *                 of the state: every call returns a status, nothing else happens.
 *                 Every other round runs the pitch channels too (the model's last two
 *                 input columns; random pitch tables within their documented ranges).
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

static int32_t *rand_words(int32_t n)
{
    int32_t *p = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    int32_t i;
    for (i = 0; i < n; ++i) {
        const uint32_t r = rnd() % 8;
        p[i] = r == 0 ? (int32_t)0x80000000u : (r == 1 ? 0x7FFFFFFF : (int32_t)rnd());
    }
    return p;
}

/* One stream over pcm (n samples) in random blocks; returns the first bad status. */
static pr_status stream_pcm(const pr_stream_config *cfg, uint8_t *mem, int64_t bytes,
                            uint8_t *state, int32_t state_bytes, const int16_t *pcm,
                            int32_t n)
{
    pr_stream_decision out[3];
    int32_t pos = 0, used, n_out;
    pr_status st = PR_OK;
    while (st == PR_OK && pos < n) {
        int32_t len = (int32_t)(rnd() % 700);
        len = len < n - pos ? len : n - pos;
        st = pr_stream_push_s16(cfg, mem, bytes, state, state_bytes, pcm + pos, len, &used,
                                out, 1 + (int32_t)(rnd() % 3), &n_out);
        ++runs;
        pos += used;
        if (st == PR_OK && used == 0 && len > 0 && n_out == 0) {
            return -99;                             /* no progress */
        }
    }
    if (st == PR_OK) {
        st = pr_stream_finish(cfg, mem, bytes, state, state_bytes, out, &n_out);
    }
    return st;
}

static void test_stream(const char *file, const uint8_t *blob, size_t len,
                        const pr_model_info *info, int rounds)
{
    int r;
    for (r = 0; r < rounds; ++r) {
        static const int32_t ffts[3] = {32, 128, 512};
        /* every other round with the pitch channels (the last two input columns) */
        const int with_pitch = (r & 1) && info->input_cols > 2;
        const int32_t C = info->input_cols, M = C - (with_pitch ? 2 : 0);
        const int32_t n_fft = with_pitch ? 512 : ffts[rnd() % 3], N = n_fft / 2;
        pr_logmel_params fe;
        pr_norm_params norm;
        pr_pitch_params pp;
        pr_stream_config cfg;
        int16_t *taps = NULL;
        int32_t *pitch_log2 = NULL;
        uint16_t *first = xmalloc((size_t)M * sizeof *first);
        uint16_t *count = xmalloc((size_t)M * sizeof *count);
        uint16_t *order = xmalloc((size_t)N * sizeof *order);
        int32_t *prior_mean = rand_words(C), *prior_var = rand_words(C);
        const int32_t state_bytes = pr_norm_state_bytes(C);
        uint8_t *state = xmalloc((size_t)state_bytes), *mem, *copy;
        const int32_t n = 400 + (int32_t)(rnd() % 20000);
        int16_t *pcm = xmalloc((size_t)n * sizeof *pcm);
        int32_t m, total = 0, hop, blocks;
        int64_t bytes;
        pr_status st = PR_OK;
        for (m = 0; m < M; ++m) {
            first[m] = (uint16_t)(rnd() % (uint32_t)(N + 2));
            count[m] = (uint16_t)(rnd() % (uint32_t)(N + 2 - first[m]));
            total += count[m];
        }
        for (m = 0; m < C; ++m) {
            prior_var[m] = prior_var[m] < 1 ? 1 : prior_var[m];
        }
        for (m = 0; m < N; ++m) {
            order[m] = (uint16_t)rnd();
        }
        fe.win_length = with_pitch ? 256 + (int32_t)(rnd() % 257)    /* a lag of few */
                                   : 1 + (int32_t)(rnd() % (uint32_t)n_fft); /* frames */
        fe.n_fft = n_fft;
        fe.n_mels = M; fe.n_weights = total;
        fe.floor_q62 = 1 + (int64_t)((((uint64_t)rnd() << 32) | rnd()) >> 2);
        fe.window = rand_words(fe.win_length); fe.fft_twiddles = rand_words(6 * (N / 4));
        fe.rfft_twiddles = rand_words(2 * (N / 2 + 1)); fe.fft_order = order;
        fe.mel_first = first; fe.mel_count = count; fe.mel_weights = rand_words(total);
        fe.log2_table = rand_words(PR_LOGMEL_LOG2_SIZE + 1);
        norm.bands = C; norm.prior_weight = 1 + (int32_t)(rnd() % 0x7FFFFFFEu);
        norm.var_floor = 1 + (int32_t)(rnd() % 0x7FFFFFFEu);
        norm.out_multiplier = (int32_t)(0x40000000u + rnd() % 0x40000000u);
        norm.out_shift = -31 + (int32_t)(rnd() % 62); norm.out_zero_point = -128 + (int32_t)(rnd() % 256);
        hop = 1 + (int32_t)(rnd() % (uint32_t)(info->t_max < 40 ? info->t_max : 40));
        cfg.hop_samples = 1 + (int32_t)(rnd() % (uint32_t)fe.win_length);
        cfg.pitch = NULL;
        if (with_pitch) {           /* random tables within the documented ranges */
            const int32_t n_taps = 20 * (pp.factor = 2 + (int32_t)(rnd() % 7)) + 1;
            pp.width = 4 + (int32_t)(rnd() % (uint32_t)(2 * fe.win_length / pp.factor - 4));
            pp.lag_min = 2 + (int32_t)(rnd() % (uint32_t)(pp.width - 3));   /* w = 4 too */
            pp.lag_max = pp.lag_min + (int32_t)(rnd() % (uint32_t)(pp.width - 1 - pp.lag_min));
            pp.log2_rate_q16 = (int32_t)(rnd() % 0x80000u);
            taps = xmalloc((size_t)n_taps * sizeof *taps);
            for (m = 0; m < n_taps; ++m) {          /* sum |taps| < 2^16 */
                taps[m] = (int16_t)((int32_t)(rnd() % (uint32_t)(2 * (65535 / n_taps) + 1)) -
                                    65535 / n_taps);
            }
            pitch_log2 = rand_words(PR_LOGMEL_LOG2_SIZE + 1);
            pp.taps = taps;
            pp.log2_table = pitch_log2;
            cfg.pitch = &pp;
            /* hops of a window: with win >= 256, w d <= 2 win and d <= 8 the tracks'
             * lag is 3 frames (pr_st_pitch_lag), so 4 or more frames per hop */
            cfg.hop_samples = fe.win_length;
            hop = 4 + (int32_t)(rnd() % 8);
        }
        blocks = 1 + (int32_t)(rnd() % (uint32_t)(info->t_max / hop < 6 ? info->t_max / hop : 6));
        cfg.window_frames = hop * blocks; cfg.hop_frames = hop;
        cfg.min_frames = 1 + (int32_t)(rnd() % (uint32_t)cfg.window_frames);
        cfg.gate_q8 = (rnd() & 1) ? -(int32_t)(rnd() % 8000) : (int32_t)rnd();
        cfg.gate_min_active = (int32_t)(rnd() % (uint32_t)(cfg.window_frames + 1));
        cfg.arena_bytes = info->arena_bytes; cfg.model_bytes = (int64_t)len; cfg.model = blob;
        cfg.frontend = &fe; cfg.norm = &norm; cfg.prior_mean = prior_mean;
        cfg.prior_var = prior_var;
        for (m = 0; m < n; ++m) {
            const uint32_t k = rnd() % 8;
            pcm[m] = k == 0 ? -32768 : (k == 1 ? 32767 : (int16_t)(rnd() >> (rnd() % 16)));
        }
        bytes = pr_stream_bytes(&cfg);
        mem = xmalloc((size_t)bytes);
        copy = xmalloc((size_t)bytes);
        if (bytes < 0 || pr_norm_state_init(state, state_bytes, C) != PR_OK ||
            (st = pr_stream_init(&cfg, mem, bytes)) != PR_OK) {
            fail(file, "stream init", (long)bytes, st);
        } else {
            memcpy(copy, mem, (size_t)bytes);
            st = stream_pcm(&cfg, mem, bytes, state, state_bytes, pcm, n);
            if (st != PR_OK) {
                fail(file, "stream", n, st);
            }
            /* a damaged copy of the stream memory: statuses only */
            for (m = 0; m < 8; ++m) {
                copy[rnd() % (uint32_t)bytes] ^= (uint8_t)(1u << (rnd() % 8));
            }
            (void)stream_pcm(&cfg, copy, bytes, state, state_bytes, pcm, n);
            state[rnd() % (uint32_t)state_bytes] ^= 0x10;
            if (pr_stream_init(&cfg, mem, bytes) != PR_OK ||
                stream_pcm(&cfg, mem, bytes, state, state_bytes, pcm, n) == PR_OK) {
                fail(file, "a damaged state was accepted", 0, 0);
            }
            ++checks;
        }
        free(first); free(count); free(order); free(prior_mean); free(prior_var);
        free(state); free(mem); free(copy); free(pcm);
        free((void *)fe.window); free((void *)fe.fft_twiddles);
        free((void *)fe.rfft_twiddles); free((void *)fe.mel_weights);
        free((void *)fe.log2_table);
        free(taps); free(pitch_log2);
    }
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
        test_stream(argv[i], blob, len, &info, 12);
        free(blob);
    }
    printf("sanitize_model_driver: %d files, %ld checks, %ld runs, %ld corrupted files "
           "accepted and run, %d failures\n", argc - 1, checks, runs, accepted, failures);
    return failures != 0;
}
