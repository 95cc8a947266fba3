"""The .prq format is written twice, in Python (pyreparam/quant/program.py, prq.py) and
in C (csrc/pr_model_format.h, pr_model_validate.c): this test parses the C side and
compares every shared constant, op code, field order and the row-wise op set."""
import re
from pathlib import Path

from pyreparam.quant import prq
from pyreparam.quant import program as P

CSRC = Path(__file__).resolve().parents[1] / "csrc"
FORMAT_H = (CSRC / "pr_model_format.h").read_text()

#: the C field names abbreviate some Python names (enum F_<OP>_<NAME>)
ABBREVIATIONS = {
    "len_id": "len", "n_body": "n", "kernel": "k", "padding": "pad", "out_zp": "zp",
    "act_min": "min", "act_max": "max", "a_mult": "am", "a_shift": "as", "b_mult": "bm",
    "b_shift": "bs", "out_mult": "om", "out_shift": "os", "mult": "m", "shift": "s",
    "exp_table": "exp", "s_mult": "sm", "s_shift": "ss", "o_mult": "om", "o_shift": "os",
    "head_batch": "hbatch",
}
C_OP_PREFIX = {P.OP_LOOP: "LOOP", P.OP_CONV1D: "CONV", P.OP_LINEAR: "LIN", P.OP_ADD: "ADD",
               P.OP_LAYERNORM: "LN", P.OP_LUT: "LUT", P.OP_MUL: "MUL", P.OP_DWCONV: "DW",
               P.OP_AVGPOOL: "POOL", P.OP_WIDEN: "WIDEN", P.OP_MHA: "MHA"}


def enum_block(first: str) -> list[str]:
    """The names of the C enum that starts with ``first`` (in order)."""
    match = re.search(r"enum\s*\{([^}]*\b" + first + r"\b[^}]*)\}", FORMAT_H)
    assert match, first
    names = []
    for item in match.group(1).split(","):
        name = item.split("=")[0].strip()
        name = re.sub(r"/\*.*?\*/", "", name, flags=re.S).strip()
        if name:
            names.append(name)
    return names


def enum_value(name: str) -> int:
    match = re.search(r"\b" + name + r"\s*=\s*(\w+)", FORMAT_H)
    assert match, name
    return int(match.group(1), 0)


def test_header_sizes_and_magic():
    assert int(re.search(r"PR_MODEL_MAGIC (0x[0-9A-Fa-f]+)u", FORMAT_H).group(1), 16) == \
        prq.MAGIC
    assert enum_value("PR_MODEL_HEADER_BYTES") == prq.HEADER_BYTES
    assert enum_value("PR_MODEL_LENGTH_BYTES") == prq.LENGTH_BYTES
    assert enum_value("PR_MODEL_TENSOR_BYTES") == prq.TENSOR_BYTES


def test_op_codes_kinds_dtypes_and_length_rules():
    ops = enum_block("PR_OP_LOOP")
    assert enum_value("PR_OP_LOOP") == P.OP_LOOP == 1
    assert ops[-1] == "PR_OP_END"
    assert [f"PR_OP_{P.OP_NAMES[code].upper()}" for code in range(1, len(ops))] == ops[:-1]
    assert enum_block("PR_KIND_CONST") == ["PR_KIND_CONST", "PR_KIND_ARENA", "PR_KIND_INPUT",
                                           "PR_KIND_OUTPUT"]
    assert (P.KIND_CONST, P.KIND_ARENA, P.KIND_INPUT, P.KIND_OUTPUT) == (0, 1, 2, 3)
    assert enum_block("PR_LEN_INPUT") == ["PR_LEN_INPUT", "PR_LEN_CONV", "PR_LEN_CEILDIV"]
    assert (P.LEN_INPUT, P.LEN_CONV, P.LEN_CEILDIV) == (0, 1, 2)
    assert (enum_value("PR_DT_S8"), enum_value("PR_DT_S16"), enum_value("PR_DT_S32")) == \
        (P.DT_S8, P.DT_S16, P.DT_S32)


def test_every_op_field_in_the_same_order():
    for code, fields in P.OP_FIELDS.items():
        prefix = C_OP_PREFIX[code]
        names = enum_block(f"F_{prefix}_" + ("LEN" if code == P.OP_LOOP else "X" if prefix
                                            not in ("ADD", "MUL") else "A"))
        words = [n for n in names if not n.endswith("_WORDS") and "WORDS_V1" not in n]
        c_fields = [n[len(f"F_{prefix}_"):].lower() for n in words]
        assert len(c_fields) == len(fields), (prefix, c_fields, fields)
        for c, py in zip(c_fields, fields):
            assert c in (py, py.replace("_", ""), ABBREVIATIONS.get(py)), (prefix, c, py)
        assert f"F_{prefix}_WORDS" in names


def test_row_wise_ops_agree():
    validator = (CSRC / "pr_model_validate.c").read_text()
    body = re.search(r"pr_mv_row_wise\(int64_t type\)\s*\{(.*?)\}", validator, re.S).group(1)
    c_ops = set(re.findall(r"PR_OP_(\w+)", body))
    assert c_ops == {P.OP_NAMES[code].upper() for code in P.ROW_WISE_OPS}
