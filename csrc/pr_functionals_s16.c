/*
 * pr_functionals_s16: the statistics head's utterance functionals of int16 Q8 log-mel
 * frames, bit-exact with pyreparam/quant/qfunctionals.py (formulas and bounds there).
 *
 * Every column (a channel, or a cepstral coefficient c = rdbp(x B^T, 14)) of a frame
 * set is gathered in time order into scratch, its moments, change and slope taken from
 * that, and a copy heap-sorted for the percentiles. Bounds (frames <= 2^14, bands <=
 * 64, any int16 table): |column| <= 2^22, |change| < 2^23, so |mean| < 2^31 (Q16) and
 * mean^2 < 2^62, every sum below 2^61, and 2^16 var < 2^62.
 */
#include "pyreparam.h"
#include "pr_q_internal.h"

enum { N_CHANNEL_STATS = 6, N_CEPSTRUM_STATS = 12, DCT_FRAC = 14 };

/* num / den rounded half away from zero, den > 0, |num| < 2^62. */
static int64_t fn_rdiv(int64_t num, int64_t den)
{
    const int64_t q = ((num < 0 ? -num : num) + den / 2) / den;
    return num < 0 ? -q : q;
}

/* floor(sqrt(v)), digit by digit. */
static uint64_t fn_isqrt(uint64_t v)
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

static int32_t fn_sat32(int64_t v)
{
    return (int32_t)(v > INT32_MAX ? INT32_MAX : (v < INT32_MIN ? INT32_MIN : v));
}

/* Mean and std (Q16) of v[0..n) (Q8); step 1 reads v, step 2 the changes of v. */
static void fn_mean_std(const int32_t *v, int32_t n, int32_t change, int64_t *mean,
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

static void fn_sift(int32_t *a, int32_t root, int32_t end)
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

static void fn_heapsort(int32_t *a, int32_t n)
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
static int64_t fn_percentile(const int32_t *s, int32_t n, int32_t q)
{
    const int32_t pos = q * (n - 1), i = pos / 100, f = pos % 100;
    const int64_t lo = s[i], hi = s[i + 1 < n ? i + 1 : n - 1];
    return fn_rdiv((100 * lo + f * (hi - lo)) * 256, 100);
}

/* Slope of the least-squares line over t (Q16): rdiv(2^9 sum u v, sum u^2). */
static int64_t fn_slope(const int32_t *v, int32_t n)
{
    int64_t num = 0, den = 0;
    int32_t t;
    if (n < 2) {
        return 0;
    }
    for (t = 0; t < n; ++t) {
        const int64_t u = 2 * (int64_t)t - (n - 1);
        num += u * v[t];
        den += u * u;
    }
    return fn_rdiv(num * 512, den);
}

/* Mean |change| (Q16). */
static int64_t fn_change_abs(const int32_t *v, int32_t n)
{
    int64_t s = 0;
    int32_t t;
    if (n < 2) {
        return 0;
    }
    for (t = 0; t + 1 < n; ++t) {
        const int64_t d = (int64_t)v[t + 1] - v[t];
        s += d < 0 ? -d : d;
    }
    return fn_rdiv(s * 256, n - 1);
}

/* Column j of the frame set: a channel (j < channels) or cepstrum j - channels. */
static void fn_column(const int16_t *x, int32_t channels, int32_t bands,
                      const int16_t *dct, const int32_t *idx, int32_t n, int32_t j,
                      int32_t *col)
{
    int32_t t, m;
    for (t = 0; t < n; ++t) {
        const int16_t *row = x + (int64_t)idx[t] * channels;
        if (j < channels) {
            col[t] = row[j];
        } else {
            const int16_t *b = dct + (int64_t)(j - channels) * bands;
            int64_t acc = 0;
            for (m = 0; m < bands; ++m) {
                acc += (int64_t)row[m] * b[m];
            }
            col[t] = (int32_t)pr_q_rdbp64(acc, DCT_FRAC);
        }
    }
}

/* The statistics of one column (time order in col, sorted copy in sorted) into out,
 * one value every `stride` entries. */
static void fn_stats(int32_t *col, int32_t *sorted, int32_t n, int32_t cepstrum,
                     int32_t *out, int32_t stride)
{
    int64_t mean, std, cmean, cstd, v[N_CEPSTRUM_STATS];
    int32_t k;
    fn_mean_std(col, n, 0, &mean, &std);
    for (k = 0; k < n; ++k) {
        sorted[k] = col[k];
    }
    fn_heapsort(sorted, n);
    if (n > 1) {
        fn_mean_std(col, n, 1, &cmean, &cstd);
    } else {
        cstd = 0;
    }
    if (!cepstrum) {
        v[0] = mean;
        v[1] = std;
        v[2] = fn_percentile(sorted, n, 10);
        v[3] = fn_percentile(sorted, n, 50);
        v[4] = fn_percentile(sorted, n, 90);
        v[5] = cstd;
        for (k = 0; k < N_CHANNEL_STATS; ++k) {
            out[k * stride] = fn_sat32(v[k]);
        }
        return;
    }
    v[0] = mean;
    v[1] = std;
    v[2] = fn_percentile(sorted, n, 1);
    v[3] = fn_percentile(sorted, n, 25);
    v[4] = fn_percentile(sorted, n, 50);
    v[5] = fn_percentile(sorted, n, 75);
    v[6] = fn_percentile(sorted, n, 99);
    v[7] = v[5] - v[3];
    v[8] = v[6] - v[2];
    v[9] = fn_slope(col, n);
    v[10] = cstd;
    v[11] = fn_change_abs(col, n);
    for (k = 0; k < N_CEPSTRUM_STATS; ++k) {
        out[k * stride] = fn_sat32(v[k]);
    }
}

/* All functionals of the frames idx[0..n) into out (6 C + 12 L values). */
static void fn_set(const int16_t *x, int32_t channels, int32_t bands, const int16_t *dct,
                   int32_t cepstra, const int32_t *idx, int32_t n, int32_t *col,
                   int32_t *sorted, int32_t *out)
{
    int32_t j;
    for (j = 0; j < channels; ++j) {
        fn_column(x, channels, bands, dct, idx, n, j, col);
        fn_stats(col, sorted, n, 0, out + j, channels);
    }
    for (j = 0; j < cepstra; ++j) {
        fn_column(x, channels, bands, dct, idx, n, channels + j, col);
        fn_stats(col, sorted, n, 1, out + N_CHANNEL_STATS * channels + j, cepstra);
    }
}

/* The speech frames' indices into idx (level: scratch for each frame's band sum,
 * |sum| <= 2^22); returns their count (all frames when too few). */
static int32_t fn_speech(const int16_t *x, int32_t frames, int32_t channels,
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

pr_status pr_functionals_s16(const int16_t *x, int32_t frames, int32_t channels,
                             int32_t bands, const int16_t *dct, int32_t cepstra,
                             int32_t *out, int32_t *scratch, int32_t scratch_len)
{
    int32_t *idx, *col, *sorted, half, n, t;
    if (x == NULL || dct == NULL || out == NULL || scratch == NULL) {
        return PR_ERR_NULL;
    }
    if (frames < 1 || frames > PR_FUNC_MAX_FRAMES || channels < 1 ||
        channels > PR_FUNC_MAX_CHANNELS || bands < 1 || bands > channels ||
        bands > PR_FUNC_MAX_BANDS || cepstra < 1 || cepstra > bands) {
        return PR_ERR_SHAPE;
    }
    if (scratch_len < pr_functionals_scratch_len(frames)) {
        return PR_ERR_SCRATCH;
    }
    idx = scratch;
    col = scratch + frames;
    sorted = scratch + 2 * frames;
    half = N_CHANNEL_STATS * channels + N_CEPSTRUM_STATS * cepstra;
    for (t = 0; t < frames; ++t) {
        idx[t] = t;
    }
    fn_set(x, channels, bands, dct, cepstra, idx, frames, col, sorted, out);
    n = fn_speech(x, frames, channels, bands, idx, col);
    fn_set(x, channels, bands, dct, cepstra, idx, n, col, sorted, out + half);
    return PR_OK;
}
