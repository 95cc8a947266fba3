r"""Lower a calibrated float graph to the integer program (quantize the parameters).

For each node, with real = scale (q - zero point) everywhere:

* weights: int8 in [-127, 127], one scale per output channel, s_w[c] = max|W[c]| / 127
  (1 for an all-zero row); W_q = round(W / s_w);
* biases: int32 at scale s_in s_w[c], with the input zero point folded:
  bias' = round(b / (s_in s_w)) - zp_in sum_k W_q[c, k];
* requantization: M_c = s_in s_w[c] / s_out as Q31 multipliers with one shift
  per layer (:func:`shared_shift_multipliers`; per channel where that would cost
  precision); ReLU is the clamp act_min = zp_out;
* LayerNorm: :func:`pyreparam.quant.qnorm.layernorm_qparams` (eps, offsets) with
  the multipliers gamma / (s_out 2^16) as below; GELU / Swish / sigmoid:
  256-entry tables (:func:`pyreparam.quant.qelementwise.build_lut`); residual adds:
  :func:`pyreparam.quant.qelementwise.add_qparams`;
* attention: Q, K, V each per tensor; scores S = Q K^T / sqrt(D) with
  M_s = s_q s_k / (sqrt(D) s_S); the softmax's exp table from s_S; context
  M_o = s_v / (256 s_ctx) (probabilities at scale 1/256, zero point -128);
* positions: the sinusoidal table as an int8 constant at scale 1/127, added into
  the int16 stream (pr_add_s16_s8); an int8 input is first widened exactly,
  y = (x - zp) 2^7 at scale s_x / 128 (also how the Conformer's block output, an
  int8 LayerNorm output, becomes the next block's int16 stream).

Then buffers: a value produced and consumed inside one row loop lives in a block
buffer (``block`` rows); ``reuse`` makes a value share the buffer of one that dies
there; the arena is planned by :func:`pyreparam.quant.program.plan_arena`. Last,
every attention op gets a schedule (query rows, heads per kernel call, Q/K/V for all
heads at once) that fits the arena budget (:func:`schedule_attention`).
"""
from __future__ import annotations

import math

import numpy as np

from pyreparam.ops.position import sinusoidal_table
from pyreparam.quant.calibrate import P8
from pyreparam.quant.fixedpoint import (INT32_MAX, INT32_MIN, quantize_multiplier,
                                        quantize_multipliers, round_half_away)
from pyreparam.quant.graph import FUNCTIONS, ROW_WISE, Graph, Node
from pyreparam.quant.program import (
    DT_S16, DT_S32, DT_S8, KIND_ARENA, KIND_CONST, KIND_INPUT, KIND_OUTPUT, LEN_CEILDIV,
    LEN_CONV, LEN_INPUT, OP_ADD, OP_AVGPOOL, OP_CONV1D, OP_DWCONV, OP_LAYERNORM, OP_LINEAR,
    OP_LOOP, OP_LUT, OP_MHA, OP_MUL, OP_WIDEN, LengthRule, Op, Program, Tensor, check_arena,
    mha_scratch_bytes, plan_arena)
from pyreparam.quant.qelementwise import add_qparams, build_lut
from pyreparam.quant.qlinear import fold_zero_point_into_bias
from pyreparam.quant.qnorm import build_softmax_exp_table, layernorm_qparams
from pyreparam.quant.schedule import ARENA_GROWTH, MIN_SCHEDULE, schedule_attention

__all__ = ["ARENA_BUDGET", "ARENA_GROWTH", "DEFAULT_BLOCK", "lower"]

POSITION_SCALE = 1.0 / 127.0
WIDEN_SHIFT = 7
MIN_SHARED_MULTIPLIER = 2**22
#: rows per block of the row loops: the 75-row stages of a 3 s input (T_max = 300 after
#: two stride-2 convolutions) in one block, since the x86 product kernels repack the
#: weights on every call (16 -> 75: 5-14 % faster inferences on the host, light and
#: large; light arenas 34 / 43 / 53 KB for ConvTransformer / Conformer / SpeechFormer)
DEFAULT_BLOCK = 75
#: arena the attention schedules may use (the light models' target: 64 KB) ...
ARENA_BUDGET = 64 * 1024
#: ... or this factor above the least-memory arena when that is more (large models)

S16_RANGE = (-32768, 32767)
S8_RANGE = (-128, 127)


# --------------------------------------------------------------------------- parameters

def quantize_weight_rows(W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row symmetric int8 weights: (W_q int8 of W's shape, s_w (rows,) float64)."""
    W2 = W.reshape(W.shape[0], -1)
    s_w = np.abs(W2).max(axis=1) / 127.0
    s_w = np.where(s_w > 0, s_w, 1.0)
    Wq = np.clip(round_half_away(W2 / s_w[:, None]), -127, 127).astype(np.int8)
    return Wq.reshape(W.shape), s_w


def quantize_bias(b: np.ndarray, s_in: float, s_w: np.ndarray, Wq: np.ndarray,
                  zp_in: int) -> np.ndarray:
    """int32 bias at scale s_in s_w[c] with the input zero point folded in."""
    q = np.clip(round_half_away(b / (s_in * s_w)), INT32_MIN, INT32_MAX).astype(np.int32)
    return fold_zero_point_into_bias(q, Wq, zp_in)


def shared_shift_multipliers(M) -> tuple[np.ndarray, np.ndarray | int]:
    """Per-channel multipliers M_c as Q31 integers m_c with one shift e for the layer.

    e is the largest per-channel exponent, m_c = round(M_c 2^(31 - e)) in (0, 2^31):
    not renormalized to [2^30, 2^31), which the kernels accept (multiplier >= 0).
    MBQM's first rounding becomes at most 2^(e - e_c) times coarser, i.e. still
    below 2^-(r+1) output units with r = -e (r >= 8 in practice). The shift arrays
    become constant runs that every layer with the same e shares, which keeps the
    Conformer light under its flash budget. When a channel would keep fewer than 22
    significant bits (m_c < 2^22) the layer keeps per-channel normalized pairs.

    Returns (m (C,) int32, e int) or (m, e (C,) int32) for the per-channel fallback.
    """
    M = np.asarray(M, dtype=np.float64)
    m_c, e_c = quantize_multipliers(M)
    live = m_c > 0
    if not live.any():
        return m_c, e_c
    e = int(e_c[live].max())
    m = round_half_away(M * 2.0 ** (31 - e))
    if m[live].min() < MIN_SHARED_MULTIPLIER or m.max() >= 2**31:
        return m_c, e_c
    return m.astype(np.int32), e


def complete_qparams(graph: Graph, qparams: dict) -> dict:
    """Add the scales fixed by construction: pooling keeps its input's, widening is
    exact (s / 2^7, zero point 0), sigmoid gates are P8."""
    q = dict(qparams)
    for node in graph.nodes:
        if node.kind in ("avgpool", "mean"):
            q[node.name] = q[node.inputs[0]]
        elif node.kind == "widen":
            q[node.name] = (q[node.inputs[0]][0] / 2**WIDEN_SHIFT, 0)
        elif graph.values[node.name].role == "p8":
            q[node.name] = P8
    missing = [v for v in graph.values if v not in q and not v.endswith(".scores")]
    if missing:
        raise ValueError(f"no scale for value(s) {missing[:5]}")
    return q


# --------------------------------------------------------------------------- the lowering

class _Lowering:
    def __init__(self, graph: Graph, qparams: dict, t_max: int, block: int):
        self.g, self.q, self.t_max, self.block = graph, qparams, t_max, block
        self.len_ids: dict[str, int] = {}
        self.lengths: list[LengthRule] = []
        self.tensors: list[Tensor] = []
        self.buffer: dict[str, int] = {}             # value -> tensor index
        self.consts: dict[tuple, int] = {}
        self.shift_runs: dict[int, int] = {}
        self._shift_need = 0
        self.ops: list[Op] = []
        self._make_lengths()

    def _make_lengths(self) -> None:
        counts = self.g.row_counts(self.t_max)
        for name, length in self.g.lengths.items():
            self.len_ids[name] = len(self.lengths)
            if length.kind == "input":
                rule = LengthRule(LEN_INPUT)
            elif length.kind == "conv":
                rule = LengthRule(LEN_CONV, self.len_ids[length.src], length.kernel,
                                  length.stride, length.padding)
            else:
                rule = LengthRule(LEN_CEILDIV, self.len_ids[length.src], length.group)
            rule.max = counts[name]
            if rule.max < 1:
                raise ValueError(f"length {name} is {rule.max} at T_max = {self.t_max}")
            self.lengths.append(rule)

    # ---- tensors
    def const(self, name: str, data: np.ndarray) -> int:
        data = np.ascontiguousarray(data)
        if data.ndim == 1:
            data = data.reshape(1, -1)
        dtype = {np.dtype(np.int8): DT_S8, np.dtype(np.int16): DT_S16,
                 np.dtype(np.int32): DT_S32}[data.dtype]
        key = (dtype, data.shape, data.tobytes())
        if key not in self.consts:
            self.consts[key] = len(self.tensors)
            self.tensors.append(Tensor(name, KIND_CONST, dtype, -1, data.shape[0],
                                       data.shape[1], data))
        return self.consts[key]

    def shifts(self, name: str, e) -> int:
        """The shift tensor of a layer: a shared constant run of the common shift
        (long enough for every layer using it), or the per-channel array."""
        if not np.isscalar(e):
            return self.const(name, np.asarray(e, np.int32))
        n = self._shift_need
        t = self.shift_runs.get(int(e))
        if t is None:
            self.tensors.append(Tensor(f"shift_run{int(e)}", KIND_CONST, DT_S32, -1, 1, n,
                                       np.full((1, n), int(e), np.int32)))
            t = self.shift_runs[int(e)] = len(self.tensors) - 1
        elif self.tensors[t].cols < n:
            self.tensors[t].cols = n
            self.tensors[t].data = np.full((1, n), int(e), np.int32)
        return t

    def multipliers(self, name: str, M, sign=None) -> tuple[int, int]:
        """(multiplier tensor, shift tensor) of per-channel real multipliers M >= 0;
        ``sign`` (-1 / 1 per channel) negates multipliers (LayerNorm's gamma < 0)."""
        m, e = shared_shift_multipliers(M)
        if sign is not None:
            m = (m.astype(np.int64) * sign).astype(np.int32)
        self._shift_need = len(m)
        return self.const(f"{name}.mult", m), self.shifts(f"{name}.shift", e)

    def scratch(self, name: str, nbytes: int, dtype: int = DT_S8) -> int:
        size = {DT_S8: 1, DT_S32: 4}[dtype]
        self.tensors.append(Tensor(name, KIND_ARENA, dtype, -1, 1, -(-nbytes // size)))
        return len(self.tensors) - 1

    def _rows(self, value: str) -> tuple[int, int]:
        rows = self.g.values[value].rows
        if isinstance(rows, int):
            return -1, rows
        return self.len_ids[rows], self.lengths[self.len_ids[rows]].max

    def assign_buffers(self) -> None:
        v = self.g.values
        self.tensors.append(Tensor(self.g.input, KIND_INPUT, DT_S8, *self._rows(self.g.input),
                                   v[self.g.input].cols))
        self.buffer[self.g.input] = len(self.tensors) - 1
        users: dict[str, set] = {}
        for node in self.g.nodes:
            for x in node.inputs:
                users.setdefault(x, set()).add(node.attrs.get("loop"))
        for node in self.g.nodes:
            name, value = node.name, v[node.name]
            dtype = DT_S16 if value.role == "s16" else DT_S8
            loop = node.attrs.get("loop")
            block = loop is not None and users.get(name, set()) <= {loop} and \
                name != self.g.output
            if "reuse" in node.attrs:
                t = self.buffer[node.attrs["reuse"]]
                old = self.tensors[t]
                len_id, rows = (-1, self.block) if block else self._rows(name)
                if (old.dtype, old.cols, old.len_id, old.rows) != (dtype, value.cols, len_id,
                                                                     rows):
                    raise ValueError(f"{name} cannot reuse the buffer of "
                                     f"{node.attrs['reuse']}")
                self.buffer[name] = t
                continue
            if name == self.g.output:
                kind, (len_id, rows) = KIND_OUTPUT, self._rows(name)
            elif block:
                kind, len_id, rows = KIND_ARENA, -1, self.block
            else:
                kind, (len_id, rows) = KIND_ARENA, self._rows(name)
            self.tensors.append(Tensor(name, kind, dtype, len_id, rows, value.cols))
            self.buffer[name] = len(self.tensors) - 1

    # ---- ops
    def emit(self, op_type: int, node: Node, **fields) -> None:
        scale, zp = self.q[node.name]
        dtype = "int16" if self.g.values[node.name].role == "s16" else "int8"
        self.ops.append(Op(op_type, fields, {"name": node.name, "scale": float(scale),
                                              "zp": int(zp), "dtype": dtype}))

    def lower(self) -> Program:
        self.assign_buffers()
        nodes = self.g.nodes
        i = 0
        while i < len(nodes):
            loop = nodes[i].attrs.get("loop")
            if loop is None:
                self.lower_node(nodes[i])
                i += 1
                continue
            j = i
            while j < len(nodes) and nodes[j].attrs.get("loop") == loop:
                j += 1
            rows = self.g.values[nodes[i].inputs[0]].rows
            for node in nodes[i:j]:
                if node.kind not in ROW_WISE or self.g.values[node.name].rows != rows:
                    raise ValueError(f"{node.name}: only row-wise nodes over {rows} rows "
                                     "may share a row loop")
            loop = Op(OP_LOOP, {"len_id": self.len_ids[rows], "block": self.block,
                                "n_body": 0})
            self.ops.append(loop)
            start = len(self.ops)
            for node in nodes[i:j]:
                self.lower_node(node)
            loop.fields["n_body"] = len(self.ops) - start
            i = j
        program = Program(self.lengths, self.tensors, self.ops,
                          self.buffer[self.g.input], self.buffer[self.g.output], self.t_max)
        plan_arena(program)
        check_arena(program)
        return program

    def lower_node(self, node: Node) -> None:
        getattr(self, f"_{node.kind}")(node)

    def _qx(self, node: Node, i: int = 0) -> tuple[float, int]:
        return self.q[node.inputs[i]]

    def _out_range(self, node: Node, relu: bool = False) -> tuple[int, int, int]:
        """(zero point, act_min, act_max) of a node's output."""
        scale, zp = self.q[node.name]
        if self.g.values[node.name].role == "s16":
            return 0, (0 if relu else S16_RANGE[0]), S16_RANGE[1]
        return zp, (zp if relu else S8_RANGE[0]), S8_RANGE[1]

    def _requant_consts(self, node: Node, W: np.ndarray, b: np.ndarray, s_out_rows):
        """Quantized weights, folded bias, per-row multipliers for s_out_rows (Cout,)."""
        s_x, zp_x = self._qx(node)
        Wq, s_w = quantize_weight_rows(W)
        bias = quantize_bias(b, s_x, s_w, Wq.reshape(W.shape[0], -1), zp_x)
        n = node.name
        m, e = self.multipliers(n, s_x * s_w / np.asarray(s_out_rows, np.float64))
        return (self.const(f"{n}.w", Wq.reshape(W.shape[0], -1)), self.const(f"{n}.bias", bias),
                m, e)

    def _linear(self, node: Node) -> None:
        W, b = node.params["w"], node.params["b"]
        s_y = self.q[node.name][0]
        w, bias, m, e = self._requant_consts(node, W, b, np.full(W.shape[0], s_y))
        zp, lo, hi = self._out_range(node, node.attrs.get("relu", False))
        self.emit(OP_LINEAR, node, x=self.buffer[node.inputs[0]], w=w, bias=bias, mult=m,
                  shift=e, y=self.buffer[node.name], out_zp=zp, act_min=lo, act_max=hi)

    def _conv1d(self, node: Node) -> None:
        W = node.params["w"].transpose(0, 2, 1)                      # (Cout, K, Cin)
        s_y = self.q[node.name][0]
        w, bias, m, e = self._requant_consts(node, W, node.params["b"],
                                             np.full(W.shape[0], s_y))
        zp, lo, hi = self._out_range(node, node.attrs.get("relu", False))
        self.emit(OP_CONV1D, node, x=self.buffer[node.inputs[0]], w=w, bias=bias, mult=m,
                  shift=e, y=self.buffer[node.name], kernel=W.shape[1],
                  stride=node.attrs["stride"], padding=node.attrs["padding"],
                  in_zp=self._qx(node)[1], out_zp=zp, act_min=lo, act_max=hi)

    def _dwconv(self, node: Node) -> None:
        W = node.params["w"]                                         # (C, K)
        s_x, zp_x = self._qx(node)
        s_y, zp_y = self.q[node.name]
        Wq, s_w = quantize_weight_rows(W)
        bias = quantize_bias(node.params["b"], s_x, s_w, Wq, zp_x)
        n, C = node.name, W.shape[0]
        m, e = self.multipliers(n, s_x * s_w / s_y)
        self.emit(OP_DWCONV, node, x=self.buffer[node.inputs[0]],
                  w=self.const(f"{n}.w", np.ascontiguousarray(Wq.T)),
                  bias=self.const(f"{n}.bias", bias), mult=m, shift=e, y=self.buffer[n],
                  scratch=self.scratch(f"{n}.scratch", 4 * C, DT_S32), in_zp=zp_x,
                  out_zp=zp_y, act_min=-128, act_max=127)

    def _layernorm(self, node: Node) -> None:
        s_x, _ = self._qx(node)
        s_y, zp_y = self.q[node.name]
        lq = layernorm_qparams(node.params["gamma"], node.params["beta"], node.attrs["eps"],
                               s_x, s_y)
        n = node.name
        gamma = node.params["gamma"]
        m, e = self.multipliers(n, np.abs(gamma) / (s_y * 2.0**16),
                                np.where(gamma < 0, -1, 1))
        self.emit(OP_LAYERNORM, node, x=self.buffer[node.inputs[0]], y=self.buffer[n],
                  mult=m, shift=e,
                  offset=self.const(f"{n}.offset", lq.offset),
                  eps_lo=lq.eps & 0xFFFFFFFF, eps_hi=lq.eps >> 32, out_zp=zp_y,
                  act_min=-128, act_max=127)

    def _lut(self, node: Node) -> None:
        s_x, zp_x = self._qx(node)
        s_y, zp_y = self.q[node.name]
        table = build_lut(FUNCTIONS[node.attrs["fn"]], s_x, zp_x, s_y, zp_y)
        self.emit(OP_LUT, node, x=self.buffer[node.inputs[0]],
                  table=self.const(f"{node.name}.table", table), y=self.buffer[node.name])

    def _add_fields(self, a: tuple[float, int], b: tuple[float, int], node: Node) -> dict:
        qa = add_qparams(a[0], b[0], self.q[node.name][0])
        return dict(b_zp=b[1], a_mult=qa.a_multiplier, a_shift=qa.a_shift,
                    b_mult=qa.b_multiplier, b_shift=qa.b_shift, out_mult=qa.out_multiplier,
                    out_shift=qa.out_shift, act_min=S16_RANGE[0], act_max=S16_RANGE[1])

    def _add(self, node: Node) -> None:
        a, b = node.inputs
        if self.g.values[a].role != "s16":
            a, b = b, a                          # the int16 operand goes first
        if self.g.values[a].role != "s16":
            raise ValueError(f"add {node.name}: one operand must be int16")
        self.emit(OP_ADD, node, a=self.buffer[a], b=self.buffer[b], y=self.buffer[node.name],
                  **self._add_fields(self.q[a], self.q[b], node))

    def _add_pos(self, node: Node) -> None:
        """y = x + pe: an int8 x is first widened exactly into y's buffer (scale
        s_x / 2^7); then y += pe, the table int8 at scale 1/127 (pr_add_s16_s8)."""
        x = node.inputs[0]
        y = self.buffer[node.name]
        _, rows = self._rows(node.name)
        pe = sinusoidal_table(rows, self.g.values[node.name].cols, np.float64)
        table = np.clip(round_half_away(pe / POSITION_SCALE), -127, 127).astype(np.int8)
        a, q_a = self.buffer[x], self.q[x]
        if self.g.values[x].role != "s16":
            self.ops.append(Op(OP_WIDEN, {"x": a, "y": y, "zp": q_a[1], "shift": WIDEN_SHIFT}))
            a, q_a = y, (q_a[0] / 2**WIDEN_SHIFT, 0)
        self.emit(OP_ADD, node, a=a, b=self.const(f"{node.name}.table", table), y=y,
                  **self._add_fields(q_a, (POSITION_SCALE, 0), node))

    def _mul(self, node: Node) -> None:
        (s_a, zp_a), (s_b, zp_b) = self._qx(node, 0), self._qx(node, 1)
        s_y, zp_y = self.q[node.name]
        m, e = quantize_multiplier(s_a * s_b / s_y)
        self.emit(OP_MUL, node, a=self.buffer[node.inputs[0]], b=self.buffer[node.inputs[1]],
                  y=self.buffer[node.name], a_zp=zp_a, b_zp=zp_b, mult=m, shift=e,
                  out_zp=zp_y, act_min=-128, act_max=127)

    def _widen(self, node: Node) -> None:
        self.emit(OP_WIDEN, node, x=self.buffer[node.inputs[0]], y=self.buffer[node.name],
                  zp=self._qx(node)[1], shift=WIDEN_SHIFT)

    def _avgpool(self, node: Node) -> None:
        self._pool(node, node.attrs["group"])

    def _mean(self, node: Node) -> None:
        self._pool(node, 0)

    def _pool(self, node: Node, group: int) -> None:
        C = self.g.values[node.name].cols
        self.emit(OP_AVGPOOL, node, x=self.buffer[node.inputs[0]], y=self.buffer[node.name],
                  scratch=self.scratch(f"{node.name}.scratch", 4 * C, DT_S32), group=group,
                  zp=self._qx(node)[1])

    def _mha(self, node: Node) -> None:
        n, heads, window = node.name, node.attrs["heads"], node.attrs["window"]
        W, b = node.params["w"], node.params["b"]                    # (3C, C), (3C,)
        C = W.shape[1]
        D = C // heads
        (s_q, zp_q), (s_k, zp_k), (s_v, zp_v) = (self.q[f"{n}.{p}"] for p in "qkv")
        s_s, zp_s = self.q[f"{n}.scores"]
        s_o, zp_o = self.q[n]
        w, bias, m, e = self._requant_consts(node, W, b, np.repeat([s_q, s_k, s_v], C))
        ms, es = quantize_multiplier(s_q * s_k / (math.sqrt(D) * s_s))
        mo, eo = quantize_multiplier(s_v / (256.0 * s_o))
        _, rows = self._rows(n)
        scratch = self.scratch(f"{n}.scratch", mha_scratch_bytes(rows, C, heads, window,
                                                                 **MIN_SCHEDULE))
        self.emit(OP_MHA, node, x=self.buffer[node.inputs[0]], y=self.buffer[n],
                  scratch=scratch, w=w, bias=bias, mult=m, shift=e,
                  exp_table=self.const(f"{n}.exp", build_softmax_exp_table(s_s)),
                  heads=heads, window=window, q_zp=zp_q, k_zp=zp_k, v_zp=zp_v, s_mult=ms,
                  s_shift=es, s_zp=zp_s, o_mult=mo, o_shift=eo, o_zp=zp_o, **MIN_SCHEDULE)
        self.ops[-1].value["parts"] = {p: [float(s), int(z)] for p, (s, z) in
                                       (("q", (s_q, zp_q)), ("k", (s_k, zp_k)),
                                        ("v", (s_v, zp_v)))}


def lower(graph: Graph, qparams: dict, t_max: int, block: int = DEFAULT_BLOCK,
          arena_budget: int = ARENA_BUDGET) -> Program:
    """The integer program of a calibrated graph, with its arena planned for T_max.

    Parameters
    ----------
    graph : Graph, from :func:`pyreparam.quant.backbones.build_graph`
    qparams : dict value -> (scale, zero point), from
        :func:`pyreparam.quant.calibrate.calibrate`
    t_max : int, longest input (frames) the program accepts
    block : int, rows per block of the row loops
    arena_budget : int, bytes the attention schedules may grow the arena to (or
        ARENA_GROWTH x what the least-memory schedules need, when that is more: the
        large models); 0 keeps the least-memory schedules (one query row, one head
        per call)

    Notes
    -----
    The schedules change the number of kernel calls and the arena, never the
    integers: the NumPy reference (:mod:`pyreparam.quant.qmodel`) ignores them.
    """
    if t_max < 1 or block < 1:
        raise ValueError("t_max and block must be >= 1")
    if arena_budget < 0:
        raise ValueError("arena_budget must be >= 0")
    program = _Lowering(graph, complete_qparams(graph, qparams), t_max, block).lower()
    if arena_budget > 0:
        schedule_attention(program, arena_budget)
        check_arena(program)
    return program
