/*
 * Host latency of pr_model_run, standalone (no Python): for each .prq file, one
 * utterance of T_max frames of random int8 features, 2 warm-up runs, then the
 * median (and min) wall time of N runs and their median thread CPU time (POSIX
 * clock_gettime; the CPU time leaves out a shared machine's preemptions).
 *
 *   tools/build_c.sh build/c                      (portable C99 library, -O2)
 *   gcc -O2 -Ibuild/c tools/bench_model_run.c build/c/libpyreparam.a -o bench
 *   ./bench 100 model1.prq model2.prq ...
 *
 * Profiling build (tools/bench_model_profile.py drives it): compiled with
 * -DPR_MODEL_PROFILE=1 (or 2: also the parts of the attention op) together with the
 * runtime's sources, the runner calls pr_model_profile_hook around every op; this file
 * then also prints, per op type, the calls and the median over the runs of the
 * inclusive time per run ("prof <id> <calls per run> <us per run>" lines; id 0 = the
 * re-validation).
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "pyreparam.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

/* this thread's CPU time: what a shared machine's preemptions do not inflate */
static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

#ifdef PR_MODEL_PROFILE
enum { PROF_IDS = 128, PROF_DEPTH = 16, PROF_RUNS = 4096 };
static double prof_run_us[PROF_IDS];     /* the current run's time per id */
static long prof_calls[PROF_IDS];
static float prof_hist[PROF_IDS][PROF_RUNS];
static double prof_start[PROF_DEPTH];
static int prof_top;
static int prof_on;

void pr_model_profile_hook(int32_t what, int32_t phase);
void pr_model_profile_hook(int32_t what, int32_t phase)
{
    if (!prof_on || what < 0 || what >= PROF_IDS) {
        return;
    }
    if (phase == 0) {
        if (prof_top < PROF_DEPTH) {
            prof_start[prof_top] = now_ms();
        }
        ++prof_top;
    } else {
        --prof_top;
        if (prof_top < PROF_DEPTH) {
            prof_run_us[what] += 1e3 * (now_ms() - prof_start[prof_top]);
            prof_calls[what] += 1;
        }
    }
}

static void prof_end_run(int run)
{
    int k;
    for (k = 0; k < PROF_IDS && run < PROF_RUNS; ++k) {
        prof_hist[k][run] = (float)prof_run_us[k];
        prof_run_us[k] = 0.0;
    }
}

static int cmp_float(const void *a, const void *b)
{
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* per id: calls per run and the median over the runs of its time per run */
static void prof_report(int repeats)
{
    int k;
    const int n = repeats < PROF_RUNS ? repeats : PROF_RUNS;
    for (k = 0; k < PROF_IDS; ++k) {
        if (prof_calls[k] > 0) {
            qsort(prof_hist[k], (size_t)n, sizeof(float), cmp_float);
            printf("prof %d %.1f %.2f\n", k, (double)prof_calls[k] / repeats,
                   (double)prof_hist[k][n / 2]);
        }
        prof_calls[k] = 0;
    }
}
#endif

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int bench(const char *path, int repeats)
{
    FILE *f = fopen(path, "rb");
    long size;
    uint8_t *blob, *arena;
    int8_t *input, logits[256];
    double *times, *cpu;
    pr_model_info info;
    int i;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) <= 0) {
        fprintf(stderr, "cannot read %s\n", path);
        return 1;
    }
    rewind(f);
    blob = malloc((size_t)size);
    if (blob == NULL || fread(blob, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "cannot read %s\n", path);
        return 1;
    }
    fclose(f);
    if (pr_model_check(blob, size, &info) != PR_OK || info.output_cols > 256) {
        fprintf(stderr, "%s: invalid model\n", path);
        return 1;
    }
    arena = malloc((size_t)info.arena_bytes + 4);
    input = malloc((size_t)info.t_max * (size_t)info.input_cols);
    times = malloc(sizeof(double) * (size_t)repeats);
    cpu = malloc(sizeof(double) * (size_t)repeats);
    if (arena == NULL || input == NULL || times == NULL || cpu == NULL) {
        return 1;
    }
    srand(1);
    for (i = 0; i < info.t_max * info.input_cols; ++i) {
        input[i] = (int8_t)(rand() % 256 - 128);
    }
    for (i = -2; i < repeats; ++i) {
        double t0, c0;
#ifdef PR_MODEL_PROFILE
        prof_on = i >= 0;
#endif
        c0 = cpu_ms();
        t0 = now_ms();
        if (pr_model_run(blob, size, input, info.t_max, logits, arena, info.arena_bytes) !=
            PR_OK) {
            fprintf(stderr, "%s: run failed\n", path);
            return 1;
        }
        if (i >= 0) {
            times[i] = now_ms() - t0;
            cpu[i] = cpu_ms() - c0;
#ifdef PR_MODEL_PROFILE
            prof_end_run(i);
#endif
        }
    }
    qsort(times, (size_t)repeats, sizeof(double), cmp_double);
    qsort(cpu, (size_t)repeats, sizeof(double), cmp_double);
    printf("%-40s T=%d  arena %d B  flash %d B  median %.3f ms  (min %.3f)  cpu %.3f ms\n",
           path, (int)info.t_max, (int)info.arena_bytes, (int)info.flash_bytes,
           times[repeats / 2], times[0], cpu[repeats / 2]);
#ifdef PR_MODEL_PROFILE
    prof_report(repeats);
#endif
    free(blob);
    free(arena);
    free(input);
    free(times);
    free(cpu);
    return 0;
}

int main(int argc, char **argv)
{
    int i, status = 0;
    const int repeats = argc > 1 ? atoi(argv[1]) : 0;
    if (argc < 3 || repeats < 1) {
        fprintf(stderr, "usage: %s REPEATS MODEL.prq...\n", argv[0]);
        return 2;
    }
    for (i = 2; i < argc; ++i) {
        status |= bench(argv[i], repeats);
    }
    return status;
}
