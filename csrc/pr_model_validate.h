/*
 * Internal: validation of a .prq model file (not public API), shared by
 * pr_model_check.c (with the CRC) and pr_model_run.c (structure only, every call).
 * The implementation is pr_model_validate.c (with the per-op checks of
 * pr_model_validate_ops.h, which only that file includes).
 */
#ifndef PR_MODEL_VALIDATE_H
#define PR_MODEL_VALIDATE_H

#include "pr_model_format.h"

/* Validation state: the blob, its header, the lengths' values at T_max and the
 * row-loop context of the op being checked. */
typedef struct {
    const uint8_t *blob;
    uint32_t h[PR_H_WORDS];
    int64_t len_max[PR_MODEL_MAX_LENGTHS];
    int32_t in_loop;
    int32_t loop_len;
    int32_t loop_block;
    int64_t loop_start;   /* index of the loop op; the body is loop_start + 1 .. end */
    int64_t loop_end;
    int64_t span_lo;      /* op range an arena tensor referenced now must be live over */
    int64_t span_hi;
} pr_mv;

/* Validate a whole model file (crc: also its CRC-32); fills info (may be NULL) on
 * success, and v with what the runner needs (header words, lengths' maxima). */
pr_status pr_model_validate(const uint8_t *blob, int64_t len, pr_model_info *info, int crc,
                            pr_mv *v);

/* Read the op header at byte pos of the ops section (bounds, type, word count). */
pr_status pr_mv_op_at(const pr_mv *v, int64_t pos, pr_m_op *op);

#endif /* PR_MODEL_VALIDATE_H */
