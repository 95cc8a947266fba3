/*
 * Internal: CRC-32 shared by the model file's validation and the normalization state
 * (not public API).
 */
#ifndef PR_CRC32_INTERNAL_H
#define PR_CRC32_INTERNAL_H

#include <stdint.h>

/* CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, as zlib), 4 bits at a time:
 * the CRC of p[0 .. n) continued from the CRC `crc` of the bytes before them (0 to
 * start), as zlib's crc32(crc, p, n). */
static inline uint32_t pr_crc32_continue(uint32_t crc, const uint8_t *p, int64_t n)
{
    static const uint32_t nibble[16] = {
        0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
        0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
        0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};
    int64_t i;
    crc ^= 0xFFFFFFFFu;
    for (i = 0; i < n; ++i) {
        crc ^= p[i];
        crc = (crc >> 4) ^ nibble[crc & 15u];
        crc = (crc >> 4) ^ nibble[crc & 15u];
    }
    return crc ^ 0xFFFFFFFFu;
}

/* The CRC-32 of p[0 .. n). */
static inline uint32_t pr_crc32(const uint8_t *p, int64_t n)
{
    return pr_crc32_continue(0u, p, n);
}

#endif /* PR_CRC32_INTERNAL_H */
