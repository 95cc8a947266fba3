"""The .prq file against corruption: every truncation, random byte flips (with the
CRC left stale, and repaired so that the structural checks are what stands), wrong
magic / version, absurd counts and sizes, targeted bad tensor references, op
parameters and arena plans. Each must give an error code, never a crash; a mutated
file that still passes pr_model_check must run (or fail) cleanly."""
import struct
import zlib

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from pyreparam import native
from pyreparam.models import make_config
from pyreparam.quant.program import OP_FIELDS, OP_LINEAR, OP_LOOP, OP_MHA, mha_scratch_bytes
from pyreparam.quant.prq import HEADER_BYTES, TENSOR_BYTES, PRQError, read_prq, write_prq
from pyreparam.quant.qmodel import run_program

from quant_helpers import quantized, random_int8

pytestmark = pytest.mark.skipif(not native.available(), reason="C extension not built")
if native.available():
    _ffi, _lib = native.handle()
    from pyreparam.quant.runtime import PRQModel, aligned_buffer, check_blob

OK, NULL = 0, -1
TRUNCATED, MAGIC, VERSION, CRC, BOUNDS, TENSOR, OP, ARENA, ALIGN, LENGTH = \
    -10, -11, -12, -13, -14, -15, -16, -17, -18, -19


def _small(backbone: str = "conformer", **lower_options):
    config = make_config(backbone, "light", width=8, heads=2, ffn=4, layers=1, n_mels=6,
                         n_classes=3) if backbone != "speechformer" else make_config(
        "speechformer", "light", width=8, heads=2, ffn=4, layers=(1, 1), windows=(3, 0),
        merges=(2,), expand=(1,), n_mels=6, n_classes=3)
    return quantized(config, 0, 24, 4, **lower_options)[3:]


PROGRAMS = {}


def small_blob(backbone: str = "conformer") -> bytes:
    if backbone not in PROGRAMS:
        PROGRAMS[backbone] = _small(backbone)
    return PROGRAMS[backbone][1]


def check(blob: bytes, offset: int = 0) -> int:
    """pr_model_check on an exact-size, 4-byte aligned copy (offset: misalign it)."""
    buf = aligned_buffer(len(blob) + offset)
    buf[offset:] = np.frombuffer(blob, np.uint8)
    return int(_lib.pr_model_check(_ffi.cast("uint8_t *", buf.ctypes.data + offset),
                                   len(blob), _ffi.NULL))


def run(blob: bytes, x: np.ndarray, arena_bytes: int, logits_n: int = 8) -> int:
    buf = aligned_buffer(len(blob))
    buf[:] = np.frombuffer(blob, np.uint8)
    arena = aligned_buffer(max(arena_bytes, 4))
    logits = np.zeros(logits_n, np.int8)
    x = np.ascontiguousarray(x)
    return int(_lib.pr_model_run(_ffi.cast("uint8_t *", buf.ctypes.data), len(blob),
                                 _ffi.cast("int8_t *", x.ctypes.data), x.shape[0],
                                 _ffi.cast("int8_t *", logits.ctypes.data),
                                 _ffi.cast("uint8_t *", arena.ctypes.data), arena_bytes))


def with_crc(blob: bytes | bytearray) -> bytes:
    body = bytes(blob[:-4])
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


def header(blob: bytes) -> list[int]:
    return list(struct.unpack_from("<24I", blob))


def set_word(blob: bytes, offset: int, value: int) -> bytes:
    b = bytearray(blob)
    struct.pack_into("<I", b, offset, value & 0xFFFFFFFF)
    return with_crc(b)


def op_offsets(blob: bytes) -> list[tuple[int, int]]:
    """(byte offset of the op's first word, op type) of every op."""
    h = header(blob)
    pos, out = h[14], []
    for _ in range(h[13]):
        op_type, n = struct.unpack_from("<II", blob, pos)
        out.append((pos + 8, op_type))
        pos += 8 + 4 * n
    return out


def test_valid_file_checks_and_runs():
    blob = small_blob()
    model = PRQModel(blob)
    assert model.info["t_max"] == 24 and model.info["input_cols"] == 6
    assert model.run(np.zeros((5, 6), np.int8)).shape == (3,)


@pytest.mark.parametrize("backbone", ["convtransformer", "conformer", "speechformer"])
def test_every_truncation_is_rejected(backbone):
    blob = small_blob(backbone)
    statuses = {check(blob[:n]) for n in range(len(blob))}
    assert OK not in statuses
    assert statuses <= {TRUNCATED, MAGIC}   # the header is read only when complete
    with pytest.raises(PRQError):
        read_prq(blob[:len(blob) // 2])


@given(flips=st.lists(st.tuples(st.integers(0, 10**9), st.integers(1, 255)), min_size=1,
                      max_size=4))
def test_random_flips_fail_the_crc(flips):
    original = small_blob()
    blob = bytearray(original)
    for pos, xor in flips:
        blob[pos % len(blob)] ^= xor
    assume(bytes(blob) != original)          # two flips of one byte may cancel
    assert check(bytes(blob)) != OK


SECTIONS = ["header", "lengths", "tensors", "ops", "data", "any"]


def _target(blob: bytes, section: str, pos: int) -> int:
    h = header(blob)
    spans = {"header": (0, HEADER_BYTES), "lengths": (h[10], h[9] * 24),
             "tensors": (h[12], h[11] * TENSOR_BYTES), "ops": (h[14], h[15]),
             "data": (h[16], h[17]), "any": (0, len(blob) - 4)}
    start, size = spans[section]
    return start + pos % max(size, 1)


@settings(max_examples=150)
@given(edits=st.lists(st.tuples(st.sampled_from(SECTIONS), st.integers(0, 10**9),
                                st.integers(0, 255)), min_size=1, max_size=3),
       backbone=st.sampled_from(["conformer", "speechformer"]),
       T=st.integers(1, 24), seed=st.integers(0, 1000))
def test_structural_corruption_never_crashes(edits, backbone, T, seed):
    """Bytes overwritten and the CRC repaired: pr_model_check either rejects the file
    or accepts it, and then pr_model_run returns a status (bounded by validation)."""
    original = small_blob(backbone)
    blob = bytearray(original)
    for section, pos, value in edits:
        blob[_target(original, section, pos)] = value
    blob = with_crc(blob)
    status = check(blob)
    assert status <= 0
    if status == OK:
        info = check_blob(blob)             # the host metadata may be the damaged part
        M = info["input_cols"]
        T = min(T, info["t_max"])
        x = random_int8(np.random.default_rng(seed), T, M)
        assert run(blob, x, info["arena_bytes"], info["output_cols"]) <= 0


def test_magic_version_and_crc():
    blob = small_blob()
    assert check(b"XXXX" + blob[4:]) == MAGIC
    assert check(set_word(blob, 4, 3)) == VERSION        # newer than this runtime
    assert check(set_word(blob, 4, 0)) == VERSION
    assert check(set_word(blob, 4, 1)) == OP             # version 1: shorter attention ops
    bad = bytearray(blob)
    bad[-1] ^= 1
    assert check(bytes(bad)) == CRC
    assert check(blob + b"\0\0\0\0") == TRUNCATED
    assert check(b"") == TRUNCATED
    assert check(blob, offset=1) == ALIGN
    assert _lib.pr_model_check(_ffi.NULL, 100, _ffi.NULL) == NULL


@pytest.mark.parametrize("word,value,status", [
    (4, 1, BOUNDS),                  # unknown flags
    (5, 2**31, BOUNDS),              # absurd arena
    (5, 4, ARENA),                   # arena smaller than the plan
    (6, 0, BOUNDS),                  # T_max 0
    (6, 2**20, BOUNDS),              # T_max beyond PR_MODEL_MAX_T
    (7, 10**6, TENSOR),              # input tensor out of range
    (9, 2**31, BOUNDS),              # absurd counts
    (11, 2**30, BOUNDS),
    (13, 2**28, BOUNDS),
    (10, 2**31, BOUNDS),             # offsets beyond the file
    (12, 8, BOUNDS),                 # inside the header
    (14, 2**32 - 16, BOUNDS),
    (15, 2**31, BOUNDS),             # sizes beyond the file
    (17, 2**32 - 1, BOUNDS),
    (19, 7, BOUNDS),                 # meta shorter: ops/data fine, file size no longer adds up?
])
def test_absurd_header_fields(word, value, status):
    blob = small_blob()
    got = check(set_word(blob, 4 * word, value))
    if word == 19:
        assert got in (OK, BOUNDS)   # a shorter metadata section is still in bounds
    else:
        assert got == status


def test_bad_tensor_entries():
    blob = small_blob()
    t0 = header(blob)[12]
    n_tensors = header(blob)[11]
    for i in range(n_tensors):
        entry = t0 + i * TENSOR_BYTES
        kind, dtype = blob[entry], blob[entry + 1]
        b = bytearray(blob)
        b[entry + 1] = 3                                     # unknown dtype
        assert check(with_crc(b)) == TENSOR
        assert check(set_word(blob, entry + 12, 0)) in (TENSOR, ARENA)    # cols 0
        if kind in (0, 1):
            # offset far beyond its section / the arena
            assert check(set_word(blob, entry + 16, 2**31)) in (TENSOR, ARENA)
        if kind == 1:
            assert check(set_word(blob, entry + 28, 2**20)) == ARENA      # last op absurd
            assert check(set_word(blob, entry + 24, 2**20)) == ARENA      # first > last


def test_overlapping_live_tensors_are_rejected():
    """Move an arena tensor onto another one live at the same time."""
    blob = small_blob()
    program, _ = read_prq(blob)
    arena = [(i, t) for i, t in enumerate(program.tensors) if t.kind == 1]
    t0 = header(blob)[12]
    for i, a in arena:
        for j, b in arena:
            if i != j and a.first <= b.last and b.first <= a.last and a.offset != b.offset \
                    and b.offset + a.nbytes <= program.arena_bytes and b.offset % 4 == 0:
                assert check(set_word(blob, t0 + i * TENSOR_BYTES + 16, b.offset)) == ARENA
                return
    pytest.fail("no pair of co-live arena tensors found")


def test_bad_op_fields():
    blob = small_blob()
    ops = op_offsets(blob)
    first_linear = next(p for p, t in ops if t == OP_LINEAR)
    first_loop = next(p for p, t in ops if t == OP_LOOP)
    first_mha = next(p for p, t in ops if t == OP_MHA)
    f = lambda op, name: 4 * OP_FIELDS[op].index(name)
    cases = [
        (first_linear - 8, 99, OP),                                   # unknown op type
        (first_linear - 4, 3, OP),                                    # wrong word count
        (first_linear + f(OP_LINEAR, "x"), 10**6, TENSOR),            # tensor out of range
        (first_linear + f(OP_LINEAR, "w"), header(blob)[7], TENSOR),  # input as weights
        (first_linear + f(OP_LINEAR, "out_zp"), 300, OP),             # zero point
        (first_linear + f(OP_LINEAR, "act_min"), 127, None),          # min > max or fine
        (first_loop + f(OP_LOOP, "n_body"), 10**6, OP),               # loop beyond the ops
        (first_loop + f(OP_LOOP, "block"), 0, OP),
        (first_loop + f(OP_LOOP, "len_id"), 31, OP),
        (first_mha + f(OP_MHA, "heads"), 3, OP),                      # does not divide C
        (first_mha + f(OP_MHA, "window"), 2, OP),                     # even window
        (first_mha + f(OP_MHA, "s_shift"), 31, OP),                   # shift out of range
        (first_mha + f(OP_MHA, "o_mult"), 2**32 - 5, OP),             # negative multiplier
    ]
    for offset, value, status in cases:
        got = check(set_word(blob, offset, value))
        if status is None:
            assert got in (OK, OP)
        else:
            assert got == status, (offset, value, got)


def test_bad_attention_schedule_fields():
    """The schedule words of an attention op (format version 2): query block in
    [1, rows], head batch 1 or all heads (only with all heads' Q/K/V), qkv_all 0/1,
    and a scratch large enough for the schedule."""
    program, blob = _small(arena_budget=0)             # least-memory schedules
    mha = next(op for op in program.ops if op.type == OP_MHA)
    rows = program.tensors[mha.fields["x"]].rows
    heads = mha.fields["heads"]
    at = next(p for p, t in op_offsets(blob) if t == OP_MHA)
    f = lambda name: at + 4 * OP_FIELDS[OP_MHA].index(name)
    for name, value in [("q_block", 0), ("q_block", rows + 1), ("qkv_all", 2),
                        ("qkv_all", 2**32 - 1), ("head_batch", 0),
                        ("head_batch", heads + 1)]:
        assert check(set_word(blob, f(name), value)) == OP, (name, value)
    assert check(set_word(blob, f("head_batch"), heads)) == OP      # needs qkv_all 1
    # the largest schedule needs more scratch than the file planned
    big = set_word(set_word(set_word(blob, f("q_block"), rows), f("head_batch"), heads),
                   f("qkv_all"), 1)
    assert program.tensors[mha.fields["scratch"]].nbytes < mha_scratch_bytes(
        rows, program.tensors[mha.fields["x"]].cols, heads, mha.fields["window"], rows,
        heads, 1)
    assert check(big) == TENSOR


def test_version_1_files_still_run():
    """A program with the least-memory attention schedules written as format version 1
    (attention ops without their schedule words) reads back with the defaults and
    runs identically; a faster schedule cannot be written as version 1."""
    config = make_config("speechformer", "light", width=8, heads=2, ffn=4, layers=(1, 1),
                         windows=(3, 0), merges=(2,), expand=(1,), n_mels=6, n_classes=3)
    program = quantized(config, 0, 24, 4)[3]
    assert any(op.fields["q_block"] > 1 for op in program.ops if op.type == OP_MHA)
    with pytest.raises(ValueError, match="version 2"):
        write_prq(program, {}, version=1)
    slow = quantized(config, 0, 24, 4, arena_budget=0)[3]
    v1, v2 = write_prq(slow, {}, version=1), write_prq(slow, {})
    assert header(v1)[1] == 1 and header(v2)[1] == 2 and len(v1) < len(v2)
    back, _ = read_prq(v1)
    assert [op.fields for op in back.ops] == [op.fields for op in slow.ops]
    rng = np.random.default_rng(3)
    for T in (1, 11, 24):
        x = random_int8(rng, T, 6)
        want = run_program(program, x)
        for blob in (v1, v2, write_prq(program, {})):
            assert np.array_equal(PRQModel(blob).run(x), want)


def test_run_errors():
    blob = small_blob()
    info = PRQModel(blob).info
    x = np.zeros((info["t_max"] + 1, info["input_cols"]), np.int8)
    assert run(blob, x[:0 + 1], info["arena_bytes"]) == OK
    assert run(blob, x, info["arena_bytes"]) == LENGTH
    assert run(blob, x[:5], info["arena_bytes"] - 4) == ARENA
    logits = np.zeros(8, np.int8)
    assert _lib.pr_model_run(_ffi.NULL, len(blob), _ffi.cast("int8_t *", x.ctypes.data), 1,
                             _ffi.cast("int8_t *", logits.ctypes.data), _ffi.NULL, 0) == NULL
    with pytest.raises(ValueError, match="outside"):
        PRQModel(blob).run(x)
