/*
 * pr_lut_s8, aarch64 NEON variant: same prototype, checks and results as
 * csrc/pr_lut_s8.c (chosen at build time by csrc/build_ffi.py). The 256-byte table sits
 * in 16 registers; per 16 elements the index x + 128 (x ^ 0x80 as unsigned) looks up its
 * quarter of the table: TBL of the first 64 bytes (out-of-range indices give 0), then TBX
 * of the others with the index moved down by 64, 128, 192 (TBX leaves the lanes whose
 * index is out of its range as they were). The last size mod 16 elements go through a
 * copy.
 */
#include "pr_a64_common.h"

PR_A64_INLINE uint8x16_t pr_a64_lut16(const uint8x16x4_t t[4], int8x16_t x)
{
    const uint8x16_t i = veorq_u8(vreinterpretq_u8_s8(x), vdupq_n_u8(0x80));
    uint8x16_t y = vqtbl4q_u8(t[0], i);
    y = vqtbx4q_u8(y, t[1], vsubq_u8(i, vdupq_n_u8(64)));
    y = vqtbx4q_u8(y, t[2], vsubq_u8(i, vdupq_n_u8(128)));
    return vqtbx4q_u8(y, t[3], vsubq_u8(i, vdupq_n_u8(192)));
}

pr_status pr_lut_s8(int32_t n, const int8_t *x, const int8_t *table, int8_t *y)
{
    uint8x16x4_t t[4];
    int32_t i;
    const pr_status st = pr_lut_check(n, x, table, y);
    if (st != PR_OK) {
        return st;
    }
    for (i = 0; i < 4; ++i) {
        t[i] = vld1q_u8_x4((const uint8_t *)(const void *)table + 64 * i);
    }
    for (i = 0; i + 16 <= n; i += 16) {   /* y may alias x: the load comes first */
        vst1q_u8((uint8_t *)(void *)(y + i), pr_a64_lut16(t, vld1q_s8(x + i)));
    }
    if (i < n) {
        int8_t tx[16] = {0};
        uint8_t ty[16];
        memcpy(tx, x + i, (size_t)(n - i));
        vst1q_u8(ty, pr_a64_lut16(t, vld1q_s8(tx)));
        memcpy(y + i, ty, (size_t)(n - i));
    }
    return PR_OK;
}
