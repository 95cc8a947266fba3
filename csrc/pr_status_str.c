/*
 * pr_status_str: the meaning of a status code, as a constant string (the one place the
 * texts live; pyreparam.native shows them in its error messages).
 */
#include "pyreparam.h"

const char *pr_status_str(pr_status status)
{
    switch (status) {
    case PR_OK: return "ok";
    case PR_ERR_NULL: return "a required pointer is NULL";
    case PR_ERR_SHAPE: return "a dimension is out of range or inconsistent";
    case PR_ERR_SCRATCH: return "the scratch buffer is too small";
    case PR_ERR_OVERFLOW: return "a size computation would overflow";
    case PR_ERR_PARAM: return "a quantization parameter is out of its valid range";
    case PR_ERR_MODEL_TRUNCATED:
        return "truncated: the file is shorter or longer than its header says";
    case PR_ERR_MODEL_MAGIC: return "not a .prq model file (bad magic)";
    case PR_ERR_MODEL_VERSION: return "unsupported format version";
    case PR_ERR_MODEL_CRC: return "CRC mismatch: the file is corrupt";
    case PR_ERR_MODEL_BOUNDS: return "a section, count, offset or size is out of range";
    case PR_ERR_MODEL_TENSOR: return "a bad tensor entry or tensor reference";
    case PR_ERR_MODEL_OP: return "an unknown op or an op parameter out of range";
    case PR_ERR_MODEL_ARENA: return "inconsistent arena plan, or the arena is too small";
    case PR_ERR_MODEL_ALIGN: return "blob or arena not 4-byte aligned";
    case PR_ERR_MODEL_LENGTH: return "input length outside [1, T_max]";
    case PR_ERR_MODEL_HOST: return "big-endian host (the format is little-endian)";
    case PR_ERR_STATE:
        return "invalid normalization state (corrupt, another size, or out of range)";
    default: return "unknown status";
    }
}
