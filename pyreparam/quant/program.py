r"""The integer program: tensors, lengths, ops and the arena plan (what a .prq holds).

A program is what the C runner (csrc/pr_model_run.c) and the NumPy reference
(:mod:`pyreparam.quant.qmodel`) both execute. It is built by
:mod:`pyreparam.quant.lower`, written and read by :mod:`pyreparam.quant.prq`.

Lengths
-------
Row counts known only at run time: rule 0 is the input's T; every other rule derives
from an earlier one: ``conv`` (L + 2 padding - K) // stride + 1, or ``ceildiv``
ceil(L / g). Each rule also stores its value at T_max (the arena is planned there).

Tensors
-------
Each tensor is a buffer: ``const`` (weights, biases, multipliers, tables, in the
file's data section), ``arena`` (in the caller's arena), ``input`` (the caller's int8
features (T, M)) or ``output`` (the caller's int8 logits (1, N)). Rows are either a
length rule (``len_id >= 0``, capacity ``rows`` = the rule's value at T_max) or fixed
(``len_id == -1``). Several values of the integer graph may share one buffer
(in-place updates: the residual stream).

Ops
---
Each op is a type and a fixed list of int32 fields (``OP_FIELDS``); its tensor fields
(``OP_TENSORS``) hold tensor indices (-1: none, for an optional bias). ``loop``
runs the next ``n_body`` ops once per block of ``block`` rows of length ``len_id``;
inside it, a tensor of that length is addressed at the block's rows, a tensor with
``block`` fixed rows at rows 0.. (a per-block temporary).

The attention op's last three fields are its schedule (format version 2; a version
1 file runs with the defaults ``V1_DEFAULTS``): ``q_block`` query rows per call,
``head_batch`` heads per call (1 or all), ``qkv_all`` (Q, K and V of all heads
projected at once, else one head at a time). They change the scratch size
(:func:`mha_scratch_bytes`) and the number of kernel calls, never the integers.

Arena plan
----------
Every arena tensor is live from the first to the last op that references it (an op
inside a loop counts as the whole loop). Tensors whose live ranges intersect must
not overlap in the arena; offsets are chosen greedily (largest first, lowest offset
that fits), 16-byte aligned. The C checker verifies the plan from the same rule.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

# op types (csrc/pr_model_format.h)
OP_LOOP, OP_CONV1D, OP_LINEAR, OP_ADD, OP_LAYERNORM, OP_LUT, OP_MUL, OP_DWCONV, \
    OP_AVGPOOL, OP_WIDEN, OP_MHA = range(1, 12)

OP_NAMES = {OP_LOOP: "loop", OP_CONV1D: "conv1d", OP_LINEAR: "linear", OP_ADD: "add",
            OP_LAYERNORM: "layernorm", OP_LUT: "lut", OP_MUL: "mul", OP_DWCONV: "dwconv",
            OP_AVGPOOL: "avgpool", OP_WIDEN: "widen", OP_MHA: "mha"}

OP_FIELDS: dict[int, tuple[str, ...]] = {
    OP_LOOP: ("len_id", "block", "n_body"),
    OP_CONV1D: ("x", "w", "bias", "mult", "shift", "y", "kernel", "stride", "padding",
                "in_zp", "out_zp", "act_min", "act_max"),
    OP_LINEAR: ("x", "w", "bias", "mult", "shift", "y", "out_zp", "act_min", "act_max"),
    OP_ADD: ("a", "b", "y", "b_zp", "a_mult", "a_shift", "b_mult", "b_shift", "out_mult",
             "out_shift", "act_min", "act_max"),
    OP_LAYERNORM: ("x", "y", "mult", "shift", "offset", "eps_lo", "eps_hi", "out_zp",
                   "act_min", "act_max"),
    OP_LUT: ("x", "table", "y"),
    OP_MUL: ("a", "b", "y", "a_zp", "b_zp", "mult", "shift", "out_zp", "act_min",
             "act_max"),
    OP_DWCONV: ("x", "w", "bias", "mult", "shift", "y", "scratch", "in_zp", "out_zp",
                "act_min", "act_max"),
    OP_AVGPOOL: ("x", "y", "scratch", "group", "zp"),
    OP_WIDEN: ("x", "y", "zp", "shift"),
    OP_MHA: ("x", "y", "scratch", "w", "bias", "mult", "shift", "exp_table", "heads",
             "window", "q_zp", "k_zp", "v_zp", "s_mult", "s_shift", "s_zp", "o_mult",
             "o_shift", "o_zp", "q_block", "head_batch", "qkv_all"),
}
#: fields an op of format version 1 lacks, with the values it runs with
V1_DEFAULTS: dict[int, dict[str, int]] = {
    OP_MHA: {"q_block": 1, "head_batch": 1, "qkv_all": 0},
}

#: the fields of each op that name tensors (the rest are int32 parameters)
OP_TENSORS: dict[int, tuple[str, ...]] = {
    OP_LOOP: (),
    OP_CONV1D: ("x", "w", "bias", "mult", "shift", "y"),
    OP_LINEAR: ("x", "w", "bias", "mult", "shift", "y"),
    OP_ADD: ("a", "b", "y"),
    OP_LAYERNORM: ("x", "y", "mult", "shift", "offset"),
    OP_LUT: ("x", "table", "y"),
    OP_MUL: ("a", "b", "y"),
    OP_DWCONV: ("x", "w", "bias", "mult", "shift", "y", "scratch"),
    OP_AVGPOOL: ("x", "y", "scratch"),
    OP_WIDEN: ("x", "y"),
    OP_MHA: ("x", "y", "scratch", "w", "bias", "mult", "shift", "exp_table"),
}
ROW_WISE_OPS = (OP_LINEAR, OP_ADD, OP_LAYERNORM, OP_LUT, OP_MUL, OP_WIDEN)

LEN_INPUT, LEN_CONV, LEN_CEILDIV = 0, 1, 2
KIND_CONST, KIND_ARENA, KIND_INPUT, KIND_OUTPUT = 0, 1, 2, 3
KIND_NAMES = {KIND_CONST: "const", KIND_ARENA: "arena", KIND_INPUT: "input",
              KIND_OUTPUT: "output"}
DT_S8, DT_S16, DT_S32 = 1, 2, 4
DTYPES = {DT_S8: np.dtype(np.int8), DT_S16: np.dtype(np.int16), DT_S32: np.dtype(np.int32)}
ARENA_ALIGN = 16


@dataclasses.dataclass
class LengthRule:
    """One run-time length: kind LEN_INPUT, LEN_CONV (a=K, b=stride, c=padding) or
    LEN_CEILDIV (a=g) of rule ``src``; ``max`` is its value at T_max."""

    kind: int
    src: int = -1
    a: int = 0
    b: int = 0
    c: int = 0
    max: int = 0

    def evaluate(self, src_value: int) -> int:
        if self.kind == LEN_CONV:
            return (src_value + 2 * self.c - self.a) // self.b + 1
        return -(-src_value // self.a)


@dataclasses.dataclass
class Tensor:
    """A buffer of the program; ``data`` is the array of a const tensor."""

    name: str
    kind: int
    dtype: int
    len_id: int
    rows: int
    cols: int
    data: np.ndarray | None = None
    offset: int = 0
    first: int = 0
    last: int = 0

    @property
    def nbytes(self) -> int:
        return self.rows * self.cols * DTYPES[self.dtype].itemsize


@dataclasses.dataclass
class Op:
    """An op: its type and int32 fields (in OP_FIELDS order); ``value`` names the
    integer-graph value it produces with its scale and zero point (for reports)."""

    type: int
    fields: dict[str, int]
    value: dict[str, Any] | None = None

    def tensors(self) -> list[tuple[str, int]]:
        return [(f, self.fields[f]) for f in OP_TENSORS[self.type] if self.fields[f] >= 0]


@dataclasses.dataclass
class Program:
    lengths: list[LengthRule]
    tensors: list[Tensor]
    ops: list[Op]
    input: int
    output: int
    t_max: int
    arena_bytes: int = 0

    def lengths_for(self, T: int) -> list[int]:
        """Every length rule's value for an input of T frames (1 <= T <= T_max)."""
        if not 1 <= T <= self.t_max:
            raise ValueError(f"T = {T} frames is outside [1, {self.t_max}]")
        out = []
        for rule in self.lengths:
            out.append(T if rule.kind == LEN_INPUT else rule.evaluate(out[rule.src]))
        return out

    def loop_spans(self) -> list[tuple[int, int]]:
        """For every op index, the op range its references count for (its loop's)."""
        spans = [(i, i) for i in range(len(self.ops))]
        for i, op in enumerate(self.ops):
            if op.type == OP_LOOP:
                end = i + op.fields["n_body"]
                for j in range(i, end + 1):
                    spans[j] = (i, end)
        return spans


def mha_score_bytes(rows: int, window: int, q_block: int, head_batch: int) -> int:
    """Bytes of each of the attention op's score and probability buffers (rows: T_max
    of its input): one query row holds its keys (min(window, rows), or rows); a block
    of q_block > 1 rows holds q_block x rows scores (global), or, under a window w
    with half = w // 2, (half + q_block) x min(rows, q_block + 2 half): the keys of
    the block's windows plus ``half`` leading rows that align the softmax's window.
    Per head of a head batch. Mirrors pr_m_mha_score_bytes (csrc/pr_model_format.h)."""
    half = window // 2
    if q_block <= 1:
        per_head = window if 0 < window < rows else rows
    elif window > 0:
        per_head = (half + q_block) * min(rows, q_block + 2 * half)
    else:
        per_head = q_block * rows
    return head_batch * per_head


def mha_scratch_bytes(rows: int, C: int, heads: int, window: int, q_block: int = 1,
                      head_batch: int = 1, qkv_all: int = 0) -> int:
    """Bytes of the attention op's scratch: int32 accumulators (D), Q, K and V
    ((rows, C) each for all heads at once, else (rows, D)), scores and probabilities
    (:func:`mha_score_bytes` each). Mirrors pr_m_mha_scratch."""
    D = C // heads
    return (4 * D + 3 * rows * (C if qkv_all else D) +
            2 * mha_score_bytes(rows, window, q_block, head_batch))


def plan_arena(program: Program) -> int:
    """Live ranges and offsets of the arena tensors; returns (and sets) arena_bytes."""
    spans = program.loop_spans()
    live: dict[int, list[int]] = {}
    for i, op in enumerate(program.ops):
        for _, t in op.tensors():
            if program.tensors[t].kind == KIND_ARENA:
                lo, hi = spans[i]
                r = live.setdefault(t, [lo, hi])
                r[0], r[1] = min(r[0], lo), max(r[1], hi)
    placed: list[Tensor] = []
    order = sorted(live, key=lambda t: (-program.tensors[t].nbytes, t))
    for t in order:
        tensor = program.tensors[t]
        tensor.first, tensor.last = live[t]
        busy = sorted((p.offset, p.offset + p.nbytes) for p in placed
                      if p.first <= tensor.last and tensor.first <= p.last)
        offset = 0
        for start, end in busy:
            if offset + tensor.nbytes <= start:
                break
            offset = max(offset, _align(end))
        tensor.offset = offset
        placed.append(tensor)
    program.arena_bytes = _align(max((p.offset + p.nbytes for p in placed), default=0))
    return program.arena_bytes


def _align(n: int, a: int = ARENA_ALIGN) -> int:
    return (n + a - 1) // a * a


def check_arena(program: Program) -> None:
    """Assert the plan: every arena tensor inside the arena, live overlaps disjoint."""
    arena = [t for t in program.tensors if t.kind == KIND_ARENA]
    for t in arena:
        assert t.offset % 4 == 0 and t.offset + t.nbytes <= program.arena_bytes, t.name
    for i, a in enumerate(arena):
        for b in arena[i + 1:]:
            if a.first <= b.last and b.first <= a.last:
                assert (a.offset + a.nbytes <= b.offset or b.offset + b.nbytes <= a.offset), \
                    f"arena tensors {a.name} and {b.name} overlap while both live"


def flash_bytes(program: Program) -> dict[str, int]:
    """Const data by kind (weights, biases/multipliers, tables), for reports."""
    out = {"weights": 0, "int32": 0, "int16": 0}
    for t in program.tensors:
        if t.kind == KIND_CONST:
            key = {DT_S8: "weights", DT_S16: "int16", DT_S32: "int32"}[t.dtype]
            out[key] += t.nbytes
    return out
