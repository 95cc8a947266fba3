/*
 * pr_stream_finish: decide the frames after the last window at the end of a stream.
 * NumPy reference: pyreparam.quant.qstream.ReferenceStream.finish; reference/stream.md.
 */
#include "pr_stream_internal.h"

pr_status pr_stream_finish(const pr_stream_config *cfg, uint8_t *mem, int64_t mem_bytes,
                           uint8_t *state, int32_t state_bytes, pr_stream_decision *out,
                           int32_t *n_out)
{
    pr_st_layout L;
    pr_st_head *h;
    pr_status st;
    if (state == NULL || out == NULL || n_out == NULL) {
        return PR_ERR_NULL;
    }
    *n_out = 0;
    st = pr_st_open(cfg, mem, mem_bytes, &L, &h);
    if (st != PR_OK) {
        return st;
    }
    if (h->frames > h->last_end && h->fill >= h->min_frames) {
        st = pr_st_coeffs(cfg, h, mem, &L, state, state_bytes);
        if (st != PR_OK) {
            return st;                              /* a bad state: still open */
        }
        st = pr_st_decide(cfg, h, mem, &L, state, state_bytes, PR_STREAM_FINAL, out);
        if (st != PR_OK) {
            h->status = PR_ST_STOPPED;
            return st;
        }
        *n_out = 1;
    }
    h->status = PR_ST_FINISHED;
    return PR_OK;
}
