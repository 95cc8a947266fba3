/*
 * Shared steps of the utterance functionals (pr_functionals_s16, pr_prosody_s16):
 * rounding, moments, sorting, percentiles and the speech frames, exactly as
 * pyreparam/quant/qfunctionals.py computes them.
 */
#ifndef PR_FUNCTIONALS_INTERNAL_H
#define PR_FUNCTIONALS_INTERNAL_H

#include "pyreparam.h"
#include "pr_q_internal.h"

/* num / den rounded half away from zero, den > 0, |num| < 2^62. */
static inline int64_t fn_rdiv(int64_t num, int64_t den)
{
    const int64_t q = ((num < 0 ? -num : num) + den / 2) / den;
    return num < 0 ? -q : q;
}

/* floor(sqrt(v)), digit by digit. */
static inline uint64_t fn_isqrt(uint64_t v)
{
    uint64_t root = 0, bit = (uint64_t)1 << 62;
    while (bit > v) {
        bit >>= 2;
    }
    while (bit != 0) {
        if (v >= root + bit) {
            v -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    return root;
}

static inline int32_t fn_sat32(int64_t v)
{
    return (int32_t)(v > INT32_MAX ? INT32_MAX : (v < INT32_MIN ? INT32_MIN : v));
}

/* Mean and std (Q16) of v[0..n) (Q8); step 1 reads v, step 2 the changes of v. */
static inline void fn_mean_std(const int32_t *v, int32_t n, int32_t change, int64_t *mean,
                        int64_t *std)
{
    int64_t s1 = 0, s2 = 0, m, var;
    int32_t t, count = change ? n - 1 : n;
    for (t = 0; t < count; ++t) {
        const int64_t a = change ? (int64_t)v[t + 1] - v[t] : (int64_t)v[t];
        s1 += a;
        s2 += a * a;
    }
    m = fn_rdiv(s1 * 256, count);
    var = fn_rdiv(s2, count) - pr_q_rdbp64(m * m, 16);
    *mean = m;
    *std = var > 0 ? (int64_t)fn_isqrt((uint64_t)var << 16) : 0;
}

static inline void fn_sift(int32_t *a, int32_t root, int32_t end)
{
    while (2 * root + 1 < end) {
        int32_t child = 2 * root + 1, tmp;
        if (child + 1 < end && a[child + 1] > a[child]) {
            ++child;
        }
        if (a[root] >= a[child]) {
            return;
        }
        tmp = a[root];
        a[root] = a[child];
        a[child] = tmp;
        root = child;
    }
}

static inline void fn_heapsort(int32_t *a, int32_t n)
{
    int32_t i, tmp;
    for (i = n / 2 - 1; i >= 0; --i) {
        fn_sift(a, i, n);
    }
    for (i = n - 1; i > 0; --i) {
        tmp = a[0];
        a[0] = a[i];
        a[i] = tmp;
        fn_sift(a, 0, i);
    }
}

/* The q-th percentile (Q16) of sorted s[0..n): NumPy's linear interpolation, exact. */
static inline int64_t fn_percentile(const int32_t *s, int32_t n, int32_t q)
{
    const int32_t pos = q * (n - 1), i = pos / 100, f = pos % 100;
    const int64_t lo = s[i], hi = s[i + 1 < n ? i + 1 : n - 1];
    return fn_rdiv((100 * lo + f * (hi - lo)) * 256, 100);
}

/* The speech frames' indices into idx (level: scratch for each frame's band sum,
 * |sum| <= 2^22); returns their count (all frames when too few). */
static inline int32_t fn_speech(const int16_t *x, int32_t frames, int32_t channels,
                         int32_t bands, int32_t *idx, int32_t *level)
{
    int32_t t, m, n = 0, loudest = INT32_MIN;
    for (t = 0; t < frames; ++t) {
        int32_t sum = 0;
        for (m = 0; m < bands; ++m) {
            sum += x[(int64_t)t * channels + m];
        }
        level[t] = sum;
        loudest = sum > loudest ? sum : loudest;
    }
    for (t = 0; t < frames; ++t) {
        if (level[t] >= loudest - bands * PR_FUNC_SPEECH_RANGE_Q8) {
            idx[n++] = t;
        }
    }
    if (n < PR_FUNC_MIN_SPEECH_FRAMES) {
        for (t = 0; t < frames; ++t) {
            idx[t] = t;
        }
        n = frames;
    }
    return n;
}

#endif /* PR_FUNCTIONALS_INTERNAL_H */
