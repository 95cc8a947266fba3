/*
 * Internal: the causal normalization state's byte layout, its validation and the
 * integer steps shared by pr_norm_*.c (not public API). NumPy oracle:
 * pyreparam/quant/qcausal.py; arithmetic in reference/causal_norm.md.
 *
 * Layout (little-endian): u32 magic "PRNS", u32 version, u32 bands M, u32 n (utterances
 * heard, <= 65535), u32 F (frames merged), u32 CRC-32 of every other byte, then int32
 * mean[M] and var[M] (Q16).
 */
#ifndef PR_NORM_INTERNAL_H
#define PR_NORM_INTERNAL_H

#include "pr_crc32_internal.h"
#include "pr_q_internal.h"

#define PR_NORM_MAGIC 0x534E5250u /* "PRNS" */
#define PR_NORM_VERSION 1u

enum {
    PR_NORM_FEATURE_FRAC_BITS = 8,
    PR_NORM_STAT_FRAC_BITS = 16,
    PR_NORM_WEIGHT_BITS = 30,
    PR_NORM_MAX_UTTERANCES = 65535,
    PR_NORM_FRAME_CAP = 16777216,     /* 2^24: frames the running statistics count */
    PR_NORM_MAX_MEAN = 8388608,       /* 2^23: |mean| of int16 Q8 data, in Q16 */
    PR_NORM_MAX_VAR = 1073741824      /* 2^30: variance of int16 Q8 data, in Q16 */
};

enum { PR_NS_MAGIC, PR_NS_VERSION, PR_NS_BANDS, PR_NS_N, PR_NS_FRAMES, PR_NS_CRC };

static inline uint32_t pr_ns_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static inline int32_t pr_ns_get_i32(const uint8_t *p)
{
    const uint32_t u = pr_ns_get_u32(p);
    return u <= 0x7FFFFFFFu ? (int32_t)u : (int32_t)(u - 0x80000000u) + PR_Q_INT32_MIN;
}

static inline void pr_ns_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)((v >> 24) & 0xFFu);
}

static inline void pr_ns_put_i32(uint8_t *p, int32_t v)
{
    pr_ns_put_u32(p, v >= 0 ? (uint32_t)v : (uint32_t)(v - PR_Q_INT32_MIN) + 0x80000000u);
}

static inline uint32_t pr_ns_word(const uint8_t *state, int32_t i)
{
    return pr_ns_get_u32(state + 4 * i);
}

/* mean[m] and var[m] of a state with M bands. */
static inline int32_t pr_ns_mean(const uint8_t *state, int32_t M, int32_t m)
{
    (void)M;
    return pr_ns_get_i32(state + PR_NORM_STATE_HEADER_BYTES + 4 * m);
}

static inline int32_t pr_ns_var(const uint8_t *state, int32_t M, int32_t m)
{
    return pr_ns_get_i32(state + PR_NORM_STATE_HEADER_BYTES + 4 * (M + m));
}

/* CRC-32 of the state without its CRC field. */
static inline uint32_t pr_ns_crc(const uint8_t *state, int32_t bytes)
{
    const uint32_t head = pr_crc32(state, 4 * PR_NS_CRC);
    return pr_crc32_continue(head, state + PR_NORM_STATE_HEADER_BYTES,
                             bytes - PR_NORM_STATE_HEADER_BYTES);
}

/* num / den rounded half away from zero, den > 0, |num| < 2^62. */
static inline int64_t pr_ns_rdiv(int64_t num, int64_t den)
{
    const int64_t q = ((num < 0 ? -num : num) + den / 2) / den;
    return num < 0 ? -q : q;
}

/* Arguments and the whole state (the checks of pr_norm_state_check). */
static inline pr_status pr_ns_check(const uint8_t *state, int32_t bytes, int32_t bands)
{
    uint32_t n, frames;
    int32_t m;
    int any = 0;
    if (state == NULL) {
        return PR_ERR_NULL;
    }
    if (bands < 1 || bands > PR_NORM_MAX_BANDS) {
        return PR_ERR_SHAPE;
    }
    if (bytes != PR_NORM_STATE_HEADER_BYTES + 8 * bands) {
        return PR_ERR_STATE;
    }
    if (pr_ns_word(state, PR_NS_MAGIC) != PR_NORM_MAGIC ||
        pr_ns_word(state, PR_NS_VERSION) != PR_NORM_VERSION ||
        pr_ns_word(state, PR_NS_BANDS) != (uint32_t)bands ||
        pr_ns_crc(state, bytes) != pr_ns_word(state, PR_NS_CRC)) {
        return PR_ERR_STATE;
    }
    n = pr_ns_word(state, PR_NS_N);
    frames = pr_ns_word(state, PR_NS_FRAMES);
    if (n > PR_NORM_MAX_UTTERANCES ||
        frames > (uint32_t)PR_NORM_FRAME_CAP + (uint32_t)PR_NORM_MAX_FRAMES ||
        (n == 0) != (frames == 0)) {
        return PR_ERR_STATE;
    }
    for (m = 0; m < bands; ++m) {
        const int32_t mean = pr_ns_mean(state, bands, m);
        const int32_t var = pr_ns_var(state, bands, m);
        if (mean < -PR_NORM_MAX_MEAN || mean > PR_NORM_MAX_MEAN || var < 0 ||
            var > PR_NORM_MAX_VAR) {
            return PR_ERR_STATE;
        }
        any |= pr_ns_mean(state, bands, m) != 0 || pr_ns_var(state, bands, m) != 0;
    }
    return n == 0 && any ? PR_ERR_STATE : PR_OK;
}

/* Rewrite the CRC after a change. */
static inline void pr_ns_seal(uint8_t *state, int32_t bytes)
{
    pr_ns_put_u32(state + 4 * PR_NS_CRC, pr_ns_crc(state, bytes));
}

#endif /* PR_NORM_INTERNAL_H */
