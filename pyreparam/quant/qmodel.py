r"""NumPy integer reference of a whole model: runs a :class:`Program` op by op.

This is the oracle of the C runner (csrc/pr_model_run.c): for the same program and
the same int8 input both must return identical int8 logits. Every op calls the
primitive references (:mod:`pyreparam.quant.qlinear`, ``qnorm``, ``qelementwise``)
on whole tensors; row loops are ignored here, because every op allowed inside a loop
computes each row from the same row of its operands only, so running it block by
block (as C does, to save memory) gives the same integers.

Buffers are held in a dict tensor index -> array of the current rows; an op that
updates a buffer in place simply replaces the array (the residual stream).
"""
from __future__ import annotations

import math

import numpy as np

from pyreparam.quant import qelementwise as qe
from pyreparam.quant import qlinear as ql
from pyreparam.quant import qnorm as qn
from pyreparam.quant.fixedpoint import dequantize, quantize
from pyreparam.quant.program import (
    DTYPES, DT_S16, KIND_CONST, OP_ADD, OP_AVGPOOL, OP_CONV1D, OP_DWCONV, OP_LAYERNORM,
    OP_LINEAR, OP_LOOP, OP_LUT, OP_MHA, OP_MUL, OP_WIDEN, Op, Program)


class _State:
    """The program, the buffers and the run-time lengths of one run."""

    def __init__(self, program: Program, x: np.ndarray):
        self.p = program
        self.lens = program.lengths_for(x.shape[0])
        self.buf: dict[int, np.ndarray] = {program.input: x}
        self.internals: dict[str, np.ndarray] = {}

    def get(self, t: int) -> np.ndarray:
        tensor = self.p.tensors[t]
        return tensor.data if tensor.kind == KIND_CONST else self.buf[t]

    def vec(self, t: int, n: int | None = None) -> np.ndarray:
        """A const (1, n') tensor as a vector; its first n entries when n is given (a
        layer's shifts may be a longer run shared with other layers)."""
        return self.p.tensors[t].data.reshape(-1)[:n]

    def rows(self, t: int) -> int:
        tensor = self.p.tensors[t]
        return self.lens[tensor.len_id] if tensor.len_id >= 0 else tensor.rows

    def out_dtype(self, t: int) -> np.dtype:
        return DTYPES[self.p.tensors[t].dtype]


def _linear(s: _State, f: dict) -> np.ndarray:
    w = s.get(f["w"])
    args = (s.get(f["x"]), w, None if f["bias"] < 0 else s.vec(f["bias"]),
            s.vec(f["mult"]), s.vec(f["shift"], w.shape[0]))
    if s.out_dtype(f["y"]) == DTYPES[DT_S16]:
        return ql.linear_s8_s16(*args, f["act_min"], f["act_max"])
    return ql.linear_s8(*args, f["out_zp"], f["act_min"], f["act_max"])


def _conv1d(s: _State, f: dict) -> np.ndarray:
    w = s.get(f["w"])
    K = f["kernel"]
    w = w.reshape(w.shape[0], K, w.shape[1] // K)                   # (Cout, K, Cin)
    return ql.conv1d_s8(s.get(f["x"]), w, None if f["bias"] < 0 else s.vec(f["bias"]),
                        s.vec(f["mult"]), s.vec(f["shift"], w.shape[0]), f["stride"],
                        f["padding"],
                        f["in_zp"], f["out_zp"], f["act_min"], f["act_max"])


def _operand(s: _State, t: int, rows: int) -> np.ndarray:
    """A data operand; a const one (the position table) contributes its first rows."""
    return s.get(t)[:rows]


def _add(s: _State, f: dict) -> np.ndarray:
    rows = s.rows(f["y"]) if s.p.tensors[f["y"]].len_id >= 0 else None
    if rows is None:               # a block buffer: as many rows as the data operands
        rows = min(s.get(t).shape[0] for t in (f["a"], f["b"])
                   if s.p.tensors[t].kind != KIND_CONST)
    return qe.add_s16(_operand(s, f["a"], rows), _operand(s, f["b"], rows), f["b_zp"],
                      f["a_mult"], f["a_shift"], f["b_mult"], f["b_shift"], f["out_mult"],
                      f["out_shift"], f["act_min"], f["act_max"])


def _layernorm(s: _State, f: dict) -> np.ndarray:
    eps = (f["eps_lo"] & 0xFFFFFFFF) | (f["eps_hi"] << 32)
    x = s.get(f["x"])
    return qn.layernorm_s16_s8(x, eps, s.vec(f["mult"]), s.vec(f["shift"], x.shape[1]),
                               s.vec(f["offset"]), f["out_zp"], f["act_min"], f["act_max"])


def _lut(s: _State, f: dict) -> np.ndarray:
    return qe.lut_s8(s.get(f["x"]), s.vec(f["table"]))


def _mul(s: _State, f: dict) -> np.ndarray:
    return qe.mul_s8(s.get(f["a"]), s.get(f["b"]), f["a_zp"], f["b_zp"], f["mult"],
                     f["shift"], f["out_zp"], f["act_min"], f["act_max"])


def _dwconv(s: _State, f: dict) -> np.ndarray:
    x = s.get(f["x"])
    return ql.depthwise_conv1d_s8(x, s.get(f["w"]),
                                  None if f["bias"] < 0 else s.vec(f["bias"]),
                                  s.vec(f["mult"]), s.vec(f["shift"], x.shape[1]), f["in_zp"],
                                  f["out_zp"], f["act_min"], f["act_max"])


def _avgpool(s: _State, f: dict) -> np.ndarray:
    x = s.get(f["x"])
    return qe.avgpool(x, f["group"] or x.shape[0], f["zp"])


def _widen(s: _State, f: dict) -> np.ndarray:
    x = s.get(f["x"]).astype(np.int64)
    return ((x - f["zp"]) * 2**f["shift"]).astype(np.int16)


def _mha(s: _State, f: dict, op: Op) -> np.ndarray:
    """Q, K, V (per-channel linear), S = Q K^T (requantized, 1/sqrt(D) folded),
    int8 softmax (window), context = P V; heads interleaved in the channels."""
    x = s.get(f["x"])
    T, C = x.shape
    H = f["heads"]
    D = C // H
    W, bias, m, e = (s.get(f["w"]), s.vec(f["bias"]), s.vec(f["mult"]),
                     s.vec(f["shift"], 3 * C))
    zps = (f["q_zp"], f["k_zp"], f["v_zp"])
    q, k, v = (ql.linear_s8(x, W[i * C:(i + 1) * C], bias[i * C:(i + 1) * C],
                            m[i * C:(i + 1) * C], e[i * C:(i + 1) * C], zps[i])
               for i in range(3))                                    # each (T, C)
    heads = lambda a: a.reshape(T, H, D).transpose(1, 0, 2)          # (H, T, D)
    scores = ql.bmm_nt_s8(heads(q), heads(k), f["q_zp"], f["k_zp"], f["s_mult"],
                          f["s_shift"], f["s_zp"])                   # (H, T, T)
    probs = qn.softmax_s8(scores, s.vec(f["exp_table"]), None, f["window"])
    ctx = ql.bmm_nn_s8(probs, heads(v), -128, f["v_zp"], f["o_mult"], f["o_shift"],
                       f["o_zp"])                                    # (H, T, D)
    if op.value and "parts" in op.value:
        for part, a in zip("qkv", (q, k, v)):
            scale, zp = op.value["parts"][part]
            s.internals[f"{op.value['name']}.{part}"] = dequantize(a, scale, zp)
    return ctx.transpose(1, 0, 2).reshape(T, C)


_RUN = {OP_LINEAR: _linear, OP_CONV1D: _conv1d, OP_ADD: _add, OP_LAYERNORM: _layernorm,
        OP_LUT: _lut, OP_MUL: _mul, OP_DWCONV: _dwconv, OP_AVGPOOL: _avgpool,
        OP_WIDEN: _widen}


def run_program(program: Program, x: np.ndarray, collect: bool = False):
    """Run the integer program on one utterance.

    Parameters
    ----------
    program : Program
    x : ndarray (T, M) int8, 1 <= T <= program.t_max, quantized with the input's
        scale and zero point
    collect : bool
        Also return every named value, dequantized (float64), for error reports.

    Returns
    -------
    logits : ndarray (N,) int8
    values : dict name -> ndarray (only with ``collect``)
    """
    x = np.asarray(x)
    if x.dtype != np.int8 or x.ndim != 2 or x.shape[1] != program.tensors[program.input].cols:
        raise ValueError(f"input must be int8 (T, {program.tensors[program.input].cols}), "
                         f"got {x.dtype} {x.shape}")
    state = _State(program, x)
    values = {}
    for op in program.ops:
        if op.type == OP_LOOP:
            continue
        f = op.fields
        y = _mha(state, f, op) if op.type == OP_MHA else _RUN[op.type](state, f)
        state.buf[f["y"]] = y.astype(state.out_dtype(f["y"]), copy=False)
        if collect and op.value:
            values[op.value["name"]] = dequantize(y, op.value["scale"], op.value["zp"])
    logits = state.buf[program.output].reshape(-1).copy()
    if collect:
        values.update(state.internals)
        return logits, values
    return logits


def quantize_input(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Float features (T, M) to the program's int8 input."""
    return quantize(x, scale, zero_point, np.int8)


def relative_rms(ref: np.ndarray, approx: np.ndarray) -> float:
    """sqrt(mean((approx - ref)^2) / mean(ref^2)) (0 when both are 0)."""
    num = float(np.mean((np.asarray(approx) - ref) ** 2))
    den = float(np.mean(np.asarray(ref) ** 2))
    return math.sqrt(num / den) if den > 0 else math.sqrt(num)
