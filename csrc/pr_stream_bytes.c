/*
 * pr_stream_bytes: size of the stream object for a configuration (layout in
 * pr_stream_internal.h, reasons in reference/stream.md).
 */
#include "pr_stream_internal.h"

int64_t pr_stream_bytes(const pr_stream_config *cfg)
{
    pr_st_layout L;
    const pr_status st = pr_st_layout_of(cfg, &L);
    return st != PR_OK ? st : L.total;
}
