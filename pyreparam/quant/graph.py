r"""The float graph of a merged model: the integer program's structure, in float64.

The quantizer works in three steps:

1. :mod:`pyreparam.quant.backbones` transcribes a merged model into a :class:`Graph`
   of nodes (one per integer op to come) over named values, batch size 1;
2. :func:`run_float` executes the graph in float64, which gives the calibration
   statistics of every value and the float reference of the per-layer error report
   (it must equal ``Model.predict_logits``; tests/test_quant_model.py checks it);
3. :mod:`pyreparam.quant.lower` turns each node into integer ops with the
   calibrated scales.

Values
------
Every value is a 2-D array (rows, cols). Its rows are a *length*: the input frames
``T``, a length derived from another one (a convolution's output length, or
``ceil(L / g)`` for a merge), or a fixed count (1 after pooling). Its role fixes its
integer type: ``s8`` (int8, calibrated scale and zero point), ``s16`` (int16, zero
point 0: the residual stream and the branches added into it) or ``p8`` (int8 at the
fixed scale 1/256, zero point -128: a sigmoid gate).

Nodes
-----
==========  ===========================================================
kind        float semantics (x = inputs[0], y = output)
==========  ===========================================================
conv1d      y = [relu] conv1d(x, w, b, stride, padding)   w (Cout, Cin, K)
linear      y = [relu] (x w^T + b)                         w (Cout, Cin)
add_pos     y = x + pe[:rows]                              sinusoidal table
add         y = x + inputs[1]
layernorm   y = LN(x) gamma + beta, eps
mha         y = attention context (before the output projection); also
            publishes name.q, name.k, name.v and name.scores (the scaled
            scores of the allowed keys) for calibration
lut         y = fn(x), fn in gelu / swish / sigmoid
mul         y = x * inputs[1]
dwconv      y = depthwise conv1d(x, w, b), 'same' padding   w (C, K)
avgpool     y = mean of groups of g rows (the last may be shorter)
mean        y = mean over all rows (1, C)
widen       y = x (int8 -> int16 in the integer program)
==========  ===========================================================

Row loops: consecutive nodes with the same ``loop`` attribute run row block by
row block in C (only row-wise kinds: linear, add, add_pos, layernorm, lut, mul,
widen). ``reuse``: the output takes the buffer of a value that dies here.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from scipy.special import erf

from pyreparam.ops.position import sinusoidal_table

ROLES = ("s8", "s16", "p8")
ROW_WISE = ("linear", "add", "add_pos", "layernorm", "lut", "mul", "widen")
LUT_FUNCTIONS = ("gelu", "swish", "sigmoid")


@dataclasses.dataclass(frozen=True)
class Length:
    """A run-time row count: the input's T, or derived from another length."""

    name: str
    kind: str                 # "input", "conv" or "ceildiv"
    src: str | None = None
    kernel: int = 0           # conv
    stride: int = 0           # conv
    padding: int = 0          # conv
    group: int = 0            # ceildiv

    def evaluate(self, src_value: int) -> int:
        if self.kind == "conv":
            return (src_value + 2 * self.padding - self.kernel) // self.stride + 1
        if self.kind == "ceildiv":
            return -(-src_value // self.group)
        raise ValueError(f"length {self.name} of kind {self.kind} has no source")


@dataclasses.dataclass(frozen=True)
class Value:
    """A named 2-D tensor of the graph: rows (a length name or a fixed int), cols, role."""

    name: str
    rows: str | int
    cols: int
    role: str


@dataclasses.dataclass
class Node:
    """One operation; ``params`` holds float64 arrays, ``attrs`` small settings."""

    kind: str
    name: str                          # the output value
    inputs: tuple[str, ...]
    params: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    attrs: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Graph:
    """Lengths, values and nodes of one model; ``input`` and ``output`` name values."""

    lengths: dict[str, Length]
    values: dict[str, Value]
    nodes: list[Node]
    input: str
    output: str

    def add_value(self, name: str, rows: str | int, cols: int, role: str) -> str:
        if name in self.values:
            raise ValueError(f"value {name!r} defined twice")
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        self.values[name] = Value(name, rows, cols, role)
        return name

    def add_node(self, kind: str, name: str, inputs, rows, cols: int, role: str,
                 params=None, **attrs) -> str:
        """Append a node and define its output value; returns the output name."""
        for x in inputs:
            if x not in self.values:
                raise ValueError(f"node {name!r} reads undefined value {x!r}")
        self.add_value(name, rows, cols, role)
        params = {k: np.asarray(v, np.float64) for k, v in (params or {}).items()}
        self.nodes.append(Node(kind, name, tuple(inputs), params, attrs))
        return name

    def row_counts(self, T: int) -> dict[str, int]:
        """The value of every length for an input of T frames."""
        out = {}
        for name, length in self.lengths.items():
            out[name] = T if length.kind == "input" else length.evaluate(out[length.src])
        return out



# --------------------------------------------------------------------------- float ops

def gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU, x Phi(x) (erf form)."""
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def swish(x: np.ndarray) -> np.ndarray:
    return x * sigmoid(x)


FUNCTIONS = {"gelu": gelu, "swish": swish, "sigmoid": sigmoid}


def layernorm(x: np.ndarray, gamma, beta, eps: float) -> np.ndarray:
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def conv1d(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, padding: int):
    """x (T, Cin), w (Cout, Cin, K) -> (T_out, Cout) (torch Conv1d, zero padding)."""
    Cout, Cin, K = w.shape
    xp = np.pad(x, ((padding, padding), (0, 0)))                     # (T + 2p, Cin)
    T_out = (xp.shape[0] - K) // stride + 1
    idx = np.arange(T_out)[:, None] * stride + np.arange(K)[None, :]  # (T_out, K)
    cols = xp[idx].transpose(0, 2, 1).reshape(T_out, Cin * K)        # (T_out, Cin K)
    return cols @ w.reshape(Cout, Cin * K).T + b                     # (T_out, Cout)


def depthwise_conv1d(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x (T, C), w (C, K) odd K, 'same' zero padding -> (T, C)."""
    C, K = w.shape
    pad = K // 2
    xp = np.pad(x, ((pad, pad), (0, 0)))
    T = x.shape[0]
    return sum(xp[k:k + T] * w[:, k] for k in range(K)) + b         # (T, C)


def window_allowed(T: int, window: int) -> np.ndarray:
    """(T, T) bool: key j allowed for query t (every key when window == 0)."""
    if window == 0:
        return np.ones((T, T), dtype=bool)
    t = np.arange(T)
    return np.abs(t[None, :] - t[:, None]) <= window // 2


def mha(x: np.ndarray, w: np.ndarray, b: np.ndarray, heads: int, window: int):
    """Attention context and its internals: (ctx, q, k, v, scores of allowed keys)."""
    T, C = x.shape
    D = C // heads
    qkv = x @ w.T + b                                                # (T, 3C)
    q, k, v = qkv[:, :C], qkv[:, C:2 * C], qkv[:, 2 * C:]
    split = lambda a: a.reshape(T, heads, D).transpose(1, 0, 2)      # (H, T, D)
    S = split(q) @ split(k).transpose(0, 2, 1) / np.sqrt(D)          # (H, T, T)
    allowed = window_allowed(T, window)
    Sm = np.where(allowed, S, -np.inf)
    P = np.exp(Sm - Sm.max(axis=-1, keepdims=True))
    P /= P.sum(axis=-1, keepdims=True)
    ctx = (P @ split(v)).transpose(1, 0, 2).reshape(T, C)            # (T, C)
    return ctx, q, k, v, S[:, allowed]


def avgpool(x: np.ndarray, group: int) -> np.ndarray:
    T = x.shape[0]
    return np.stack([x[u:u + group].mean(axis=0) for u in range(0, T, group)])


# --------------------------------------------------------------------------- executor

def run_node(node: Node, env: dict[str, np.ndarray]) -> None:
    """Evaluate one node in float64; writes its output (and MHA internals) into env."""
    x = env[node.inputs[0]]
    p, a = node.params, node.attrs
    if node.kind == "conv1d":
        y = conv1d(x, p["w"], p["b"], a["stride"], a["padding"])
    elif node.kind == "linear":
        y = x @ p["w"].T + p["b"]
    elif node.kind == "add_pos":
        y = x + sinusoidal_table(x.shape[0], x.shape[1], np.float64)
    elif node.kind == "add":
        y = x + env[node.inputs[1]]
    elif node.kind == "layernorm":
        y = layernorm(x, p["gamma"], p["beta"], a["eps"])
    elif node.kind == "mha":
        y, q, k, v, scores = mha(x, p["w"], p["b"], a["heads"], a["window"])
        env.update({f"{node.name}.q": q, f"{node.name}.k": k, f"{node.name}.v": v,
                    f"{node.name}.scores": scores})
    elif node.kind == "lut":
        y = FUNCTIONS[a["fn"]](x)
    elif node.kind == "mul":
        y = x * env[node.inputs[1]]
    elif node.kind == "dwconv":
        y = depthwise_conv1d(x, p["w"], p["b"])
    elif node.kind == "avgpool":
        y = avgpool(x, a["group"])
    elif node.kind == "mean":
        y = x.mean(axis=0, keepdims=True)
    elif node.kind == "widen":
        y = x.copy()
    else:
        raise ValueError(f"unknown node kind {node.kind!r}")
    if a.get("relu"):
        y = np.maximum(y, 0.0)
    env[node.name] = y


def run_float(graph: Graph, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every value of the graph for one utterance x (T, M), in float64.

    Returns a dict name -> (rows, cols) array (MHA internals included: ``.q``,
    ``.k``, ``.v`` (T, C) and ``.scores`` (allowed scores, flat)).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != graph.values[graph.input].cols or x.shape[0] < 1:
        raise ValueError(f"input must be (T, {graph.values[graph.input].cols}) with T >= 1, "
                         f"got {x.shape}")
    env = {graph.input: x}
    for node in graph.nodes:
        run_node(node, env)
    return env
