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
#include "pr_functionals_internal.h"

enum { N_CHANNEL_STATS = 6, N_CEPSTRUM_STATS = 12, DCT_FRAC = 14 };

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
