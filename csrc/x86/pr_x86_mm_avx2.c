/*
 * pr_x86_avx2_mm_jk / _kj: the AVX2 products behind the variants pr_<op>_avx2.c
 * (internal, declared in pr_x86_common.h).
 *
 * AVX2 has no int8 dot product that is exact (vpmaddubsw saturates its int16 pair
 * sums), so both operands are sign-extended to int16, their zero points subtracted
 * (|a - za| <= 255), and vpmaddwd adds pairs of int16 products into int32 lanes:
 * |pair| <= 2 * 255^2 < 2^17, exact.
 *
 * B stored (j, k) (weights, keys): pr256_mm_jk, a dot product per output along the
 * depth, 2 rows x 4 columns of 8-lane accumulators at a time, reduced across lanes
 * at the end (lane 4 r + c of the result is output (r, c)).
 * B stored (k, j) (the values of A V): pr256_mm_kj, columns in the lanes: the int16
 * rows k and k + 1 of B interleaved, times the broadcast pair (a[i,k] - za,
 * a[i,k+1] - za), 4 rows x 16 columns at a time.
 * Bias (saturating add), MBQM, zero point and clamp repeat the reference's integer
 * steps on 8 lanes (pr256_requantize): results are bit-identical.
 */
#include <immintrin.h>

#include "pr_x86_common.h"

#define PR256_INLINE static inline __attribute__((always_inline)) PR_TARGET_AVX2

enum { PR256_KC = 256 }; /* depth per chunk of pr256_mm_kj's broadcast pairs */

/* ---- fixed point on 8 lanes (pr_q_internal.h's steps) -------------------------- */

/* sat32(a + b) */
PR256_INLINE __m256i pr256_add_sat(__m256i a, __m256i b)
{
    const __m256i s = _mm256_add_epi32(a, b);
    /* overflow iff a, b have one sign and s the other: (s ^ a) & (s ^ b) < 0 */
    const __m256i ovf = _mm256_srai_epi32(
        _mm256_and_si256(_mm256_xor_si256(s, a), _mm256_xor_si256(s, b)), 31);
    const __m256i sat = _mm256_xor_si256(_mm256_srai_epi32(a, 31),
                                         _mm256_set1_epi32(PR_Q_INT32_MAX));
    return _mm256_blendv_epi8(s, sat, ovf);
}

/* MBQM(x, m, e), left = max(e, 0), right = max(-e, 0), 0 <= m < 2^31 (see the
 * AVX-512 version in pr_x86_mm_avx512vnni.c for the steps). */
PR256_INLINE __m256i pr256_mbqm(__m256i x, __m256i m, __m256i left, __m256i right)
{
    const __m256i one = _mm256_set1_epi32(1);
    const __m256i imax = _mm256_set1_epi32(PR_Q_INT32_MAX);
    const __m256i imin = _mm256_set1_epi32(PR_Q_INT32_MIN);
    const __m256i nudge = _mm256_set1_epi64x((int64_t)1 << 30);
    __m256i s = _mm256_sllv_epi32(x, left);
    __m256i even, odd, h, mask, rem, thr, q;
    s = _mm256_blendv_epi8(s, imax, _mm256_cmpgt_epi32(x, _mm256_srav_epi32(imax, left)));
    s = _mm256_blendv_epi8(s, imin, _mm256_cmpgt_epi32(_mm256_srav_epi32(imin, left), x));
    even = _mm256_add_epi64(_mm256_mul_epi32(s, m), nudge);
    odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(s, 32),
                                            _mm256_srli_epi64(m, 32)), nudge);
    h = _mm256_blend_epi32(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), 0xAA);
    mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, right), one);
    rem = _mm256_and_si256(h, mask);
    thr = _mm256_add_epi32(_mm256_srai_epi32(mask, 1), _mm256_srli_epi32(h, 31));
    q = _mm256_srav_epi32(h, right);
    return _mm256_sub_epi32(q, _mm256_cmpgt_epi32(rem, thr)); /* true is -1 */
}

/* Requantization constants of 8 lanes. */
typedef struct {
    int32_t bias[8];
    int32_t mult[8];
    int32_t left[8];
    int32_t right[8];
} pr256_lanes;

/* Lane l gets column j0 + col_of_lane[l] (clamped to a valid column). */
static inline PR_TARGET_AVX2 void pr256_lanes_init(const pr_mm *m, int32_t j0,
                                                   const int32_t col_of_lane[8],
                                                   pr256_lanes *c)
{
    int32_t l;
    for (l = 0; l < 8; ++l) {
        const int32_t j = j0 + col_of_lane[l] < m->cols ? j0 + col_of_lane[l] : m->cols - 1;
        const int32_t jj = m->per_tensor ? 0 : j;
        const int32_t e = m->shift[jj];
        c->bias[l] = m->bias != NULL ? m->bias[j] : 0;
        c->mult[l] = m->multiplier[jj];
        c->left[l] = e > 0 ? e : 0;
        c->right[l] = e > 0 ? 0 : -e;
    }
}

/* clamp(zp + MBQM(sat32(acc + bias)), act_min, act_max) on 8 lanes */
PR256_INLINE __m256i pr256_requantize(const pr_mm *m, const pr256_lanes *c, __m256i acc)
{
    const __m256i zp = _mm256_set1_epi32(m->out_zero_point);
    const __m256i lo = _mm256_set1_epi32(m->act_min - m->out_zero_point);
    const __m256i hi = _mm256_set1_epi32(m->act_max - m->out_zero_point);
    __m256i y = pr256_add_sat(acc, _mm256_loadu_si256((const __m256i *)c->bias));
    y = pr256_mbqm(y, _mm256_loadu_si256((const __m256i *)c->mult),
                   _mm256_loadu_si256((const __m256i *)c->left),
                   _mm256_loadu_si256((const __m256i *)c->right));
    y = _mm256_min_epi32(_mm256_max_epi32(y, lo), hi);
    return _mm256_add_epi32(y, zp);
}

/* Store output (i, j) = lane value (already in the output type's range). */
static inline void pr256_put(const pr_mm *m, int64_t i, int32_t j, int32_t v)
{
    if (m->y_bytes == 1) {
        ((int8_t *)m->y)[i * m->y_step + j] = (int8_t)v;
    } else {
        ((int16_t *)m->y)[i * m->y_step + j] = (int16_t)v;
    }
}

/* 16 int8 at p (n < 16: the first n, then `fill`) sign-extended to int16, minus z. */
PR256_INLINE __m256i pr256_load16(const int8_t *p, int32_t n, int8_t fill, __m256i z)
{
    __m128i v;
    if (n >= 16) {
        v = _mm_loadu_si128((const __m128i *)p);
    } else {
        int8_t buf[16];
        memset(buf, fill, sizeof buf);
        memcpy(buf, p, (size_t)n);
        v = _mm_loadu_si128((const __m128i *)buf);
    }
    return _mm256_sub_epi16(_mm256_cvtepi8_epi16(v), z);
}

/* ---- B stored (j, k): dot products along the depth ------------------------------ */

/* The 8 sums of acc[r][c] (r < 2, c < 4) in lane 4 r + c. */
PR256_INLINE __m256i pr256_reduce8(__m256i acc[2][4])
{
    const __m256i u0 = _mm256_hadd_epi32(_mm256_hadd_epi32(acc[0][0], acc[0][1]),
                                         _mm256_hadd_epi32(acc[0][2], acc[0][3]));
    const __m256i u1 = _mm256_hadd_epi32(_mm256_hadd_epi32(acc[1][0], acc[1][1]),
                                         _mm256_hadd_epi32(acc[1][2], acc[1][3]));
    /* u_r: per 128-bit half, the partial sums of columns 0..3 of row r */
    return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20),
                            _mm256_permute2x128_si256(u0, u1, 0x31));
}

/* The exact dot products of rows row[0..1] with columns col[0..3], lane 4 r + c. */
PR256_INLINE __m256i pr256_dots_2x4(const pr_mm *m, const int8_t *const row[2],
                                    const int8_t *const col[4])
{
    const __m256i za = _mm256_set1_epi16((int16_t)m->a_zero_point);
    const __m256i zb = _mm256_set1_epi16((int16_t)m->b_zero_point);
    __m256i acc[2][4];
    int32_t k, r, c;
    for (r = 0; r < 2; ++r) {
        for (c = 0; c < 4; ++c) {
            acc[r][c] = _mm256_setzero_si256();
        }
    }
    for (k = 0; k < m->depth; k += 16) {
        /* n >= 16: full loads; else the tail is padded with the zero points, so
         * that each padded product is (z - z) (...) = 0 */
        const int32_t n = m->depth - k;
        __m256i xv[2];
        for (r = 0; r < 2; ++r) {
            xv[r] = pr256_load16(row[r] + k, n, (int8_t)m->a_zero_point, za);
        }
        for (c = 0; c < 4; ++c) {
            const __m256i wv = pr256_load16(col[c] + k, n, (int8_t)m->b_zero_point, zb);
            for (r = 0; r < 2; ++r) {
                acc[r][c] = _mm256_add_epi32(acc[r][c], _mm256_madd_epi16(xv[r], wv));
            }
        }
    }
    return pr256_reduce8(acc);
}

PR_TARGET_AVX2 void pr_x86_avx2_mm_jk(const pr_mm *m)
{
    static const int32_t col_of_lane[8] = {0, 1, 2, 3, 0, 1, 2, 3};
    pr256_lanes lanes;
    int32_t out[8];
    int32_t j0, i0, r, c;
    for (j0 = 0; j0 < m->cols; j0 += 4) {
        const int32_t nc = m->cols - j0 < 4 ? m->cols - j0 : 4;
        const int8_t *col[4];
        for (c = 0; c < 4; ++c) { /* missing columns repeat the last one, never stored */
            col[c] = m->b + (int64_t)(j0 + (c < nc ? c : nc - 1)) * m->b_step;
        }
        pr256_lanes_init(m, j0, col_of_lane, &lanes);
        for (i0 = 0; i0 < m->rows; i0 += 2) {
            const int32_t nr = m->rows - i0 < 2 ? m->rows - i0 : 2;
            const int8_t *row[2];
            row[0] = m->a + (int64_t)i0 * m->a_step;
            row[1] = m->a + (int64_t)(i0 + nr - 1) * m->a_step;
            _mm256_storeu_si256((__m256i *)out,
                                pr256_requantize(m, &lanes, pr256_dots_2x4(m, row, col)));
            for (r = 0; r < nr; ++r) {
                for (c = 0; c < nc; ++c) {
                    pr256_put(m, i0 + r, j0 + c, out[4 * r + c]);
                }
            }
        }
    }
}

/* ---- B stored (k, j): columns in the lanes --------------------------------------- */

/* pairs[p] = (a[2p] - za, a[2p+1] - za) as two int16, p < ceil(n / 2); a beyond n is za */
static inline PR_TARGET_AVX2 void pr256_pairs(const int8_t *a, int32_t n, int32_t za,
                                              int32_t *pairs)
{
    const __m256i z = _mm256_set1_epi16((int16_t)za);
    int32_t k;
    for (k = 0; k < n; k += 16) {
        _mm256_storeu_si256((__m256i *)(pairs + k / 2),
                            pr256_load16(a + k, n - k, (int8_t)za, z));
    }
}

/* Accumulate rows row[0..3] x columns j0 .. j0 + nc - 1 (nc <= 16) over one chunk. */
PR256_INLINE void pr256_kj_chunk(const pr_mm *m, const int32_t pairs[4][PR256_KC / 2],
                                 int32_t j0, int32_t nc, int32_t k0, int32_t nk,
                                 __m256i acc[4][2])
{
    const __m256i zb = _mm256_set1_epi16((int16_t)m->b_zero_point);
    int32_t p, r;
    for (p = 0; 2 * p < nk; ++p) {
        const int8_t *b0 = m->b + (int64_t)(k0 + 2 * p) * m->b_step + j0;
        const __m256i v0 = pr256_load16(b0, nc, 0, zb);
        const __m256i v1 = 2 * p + 1 < nk ? pr256_load16(b0 + m->b_step, nc, 0, zb)
                                          : _mm256_setzero_si256();
        /* lo: pairs of columns 0-3 and 8-11, hi: 4-7 and 12-15 */
        const __m256i lo = _mm256_unpacklo_epi16(v0, v1);
        const __m256i hi = _mm256_unpackhi_epi16(v0, v1);
        for (r = 0; r < 4; ++r) {
            const __m256i av = _mm256_set1_epi32(pairs[r][p]);
            acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(lo, av));
            acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(hi, av));
        }
    }
}

PR_TARGET_AVX2 void pr_x86_avx2_mm_kj(const pr_mm *m)
{
    static const int32_t first8[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    static const int32_t next8[8] = {8, 9, 10, 11, 12, 13, 14, 15};
    int32_t pairs[4][PR256_KC / 2];
    pr256_lanes lanes_lo, lanes_hi;
    int32_t out[16];
    int32_t i0, j0, k0, r, j;
    for (j0 = 0; j0 < m->cols; j0 += 16) {
        const int32_t nc = m->cols - j0 < 16 ? m->cols - j0 : 16;
        pr256_lanes_init(m, j0, first8, &lanes_lo);
        pr256_lanes_init(m, j0, next8, &lanes_hi);
        for (i0 = 0; i0 < m->rows; i0 += 4) {
            const int32_t nr = m->rows - i0 < 4 ? m->rows - i0 : 4;
            __m256i acc[4][2];
            for (r = 0; r < 4; ++r) {
                acc[r][0] = _mm256_setzero_si256();
                acc[r][1] = _mm256_setzero_si256();
            }
            for (k0 = 0; k0 < m->depth; k0 += PR256_KC) {
                const int32_t nk = m->depth - k0 < PR256_KC ? m->depth - k0 : PR256_KC;
                for (r = 0; r < 4; ++r) { /* missing rows repeat the last one */
                    const int64_t i = i0 + (r < nr ? r : nr - 1);
                    pr256_pairs(m->a + i * m->a_step + k0, nk, m->a_zero_point, pairs[r]);
                }
                pr256_kj_chunk(m, (const int32_t(*)[PR256_KC / 2])pairs, j0, nc, k0, nk,
                               acc);
            }
            for (r = 0; r < nr; ++r) { /* back to column order 0-7, 8-15 */
                const __m256i c0 = _mm256_permute2x128_si256(acc[r][0], acc[r][1], 0x20);
                const __m256i c1 = _mm256_permute2x128_si256(acc[r][0], acc[r][1], 0x31);
                _mm256_storeu_si256((__m256i *)out, pr256_requantize(m, &lanes_lo, c0));
                _mm256_storeu_si256((__m256i *)(out + 8),
                                    pr256_requantize(m, &lanes_hi, c1));
                for (j = 0; j < nc; ++j) {
                    pr256_put(m, i0 + r, j0 + j, out[j]);
                }
            }
        }
    }
}

