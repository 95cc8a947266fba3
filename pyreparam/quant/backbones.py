r"""Transcribe a merged model (no HRF) into the float :class:`~pyreparam.quant.graph.Graph`.

One builder per backbone, batch size 1 (T valid frames, no padding), eval mode
(dropout off, BatchNorm on its running statistics). Offline folds done here, all
exact in real arithmetic, by the named folds of :mod:`pyreparam.reparam`:

* the Conformer's half-step FFNs: the factor 1/2 goes into the second linear
  (``fold_scale_into_linear``);
* the Conformer's BatchNorm into the depthwise convolution before it
  (``fold_batchnorm_into_conv``);
* PyTorch-layout weights are kept (out, in); the lowering re-lays them for the kernels.

Integer types (see reference/int8_model.md): the pre-LN backbones carry the residual
stream in int16 and update it in place; SpeechFormer's post-LN stream is the int8
output of each LayerNorm, and only the sums x + branch entering a LayerNorm are int16.
Row loops (``loop`` attribute) group the row-wise steps that C runs block by block.
"""
from __future__ import annotations

import itertools

import numpy as np

from pyreparam.models.layers import SUBSAMPLE_KERNEL, SUBSAMPLE_PAD, SUBSAMPLE_STRIDE
from pyreparam.quant.graph import Graph, Length
from pyreparam.reparam import fold_batchnorm_into_conv, fold_scale_into_linear, hrf_chains

LN_EPS = 1e-5            # pyreparam.ops.norm.layernorm_forward's default
BN_EPS = 1e-5            # pyreparam.ops.norm.batchnorm_forward's default


class QuantizeError(ValueError):
    """The model cannot be quantized (for example it still has HRF factors)."""


class _Builder:
    """Small helper: a graph under construction, a parameter source and loop ids."""

    def __init__(self, model, input_cols: int):
        self.p = {k: np.asarray(v, np.float64) for k, v in model.params.items()}
        self.buffers = {k: np.asarray(v, np.float64) for k, v in model.buffers.items()}
        self.g = Graph({"T": Length("T", "input")}, {}, [], "input", "logits")
        self.g.add_value("input", "T", input_cols, "s8")
        self._loops = itertools.count()
        self.loop = None

    def begin_loop(self) -> None:
        self.loop = next(self._loops)

    def end_loop(self) -> None:
        self.loop = None

    def node(self, kind, name, inputs, rows, cols, role, params=None, **attrs):
        if self.loop is not None:
            attrs["loop"] = self.loop
        return self.g.add_node(kind, name, inputs, rows, cols, role, params, **attrs)

    def linear(self, name, x, rows, role, prefix=None, scale=1.0, relu=False, reuse=None):
        prefix = prefix or name
        w, b = fold_scale_into_linear(self.p[f"{prefix}.w"], self.p[f"{prefix}.b"], scale)
        extra = {"reuse": reuse} if reuse else {}
        return self.node("linear", name, [x], rows, w.shape[0], role, {"w": w, "b": b},
                         relu=relu, **extra)

    def layernorm(self, name, x, rows, prefix=None, reuse=None):
        prefix = prefix or name
        extra = {"reuse": reuse} if reuse else {}
        cols = self.p[f"{prefix}.gamma"].shape[0]
        return self.node("layernorm", name, [x], rows, cols, "s8",
                         {"gamma": self.p[f"{prefix}.gamma"], "beta": self.p[f"{prefix}.beta"]},
                         eps=LN_EPS, **extra)

    def mha(self, name, x, rows, heads, window=0):
        w = self.p[f"{name}.qkv.w"]
        C = w.shape[1]
        for part in ("q", "k", "v"):
            self.g.add_value(f"{name}.{part}", rows, C, "s8")
        self.g.add_value(f"{name}.scores", 1, 1, "s8")     # calibration only
        return self.node("mha", name, [x], rows, C, "s8",
                         {"w": w, "b": self.p[f"{name}.qkv.b"]}, heads=heads, window=window)


def check_mergeable(model) -> None:
    """Refuse a model that still has HRF factors (the deployed form is the merged one)."""
    if model.config.hrf is not None or hrf_chains(model.params):
        raise QuantizeError("the model still has HRF factors; merge first: "
                            "pyreparam merge IN OUT")


def build_graph(model) -> Graph:
    """The float graph of a merged model (any of the three backbones)."""
    check_mergeable(model)
    if model.config.pooling != "mean":
        raise QuantizeError(f"{model.config.pooling} pooling has no int8 kernel yet; the "
                            "int8 runtime pools with the mean")
    builders = {"convtransformer": _convtransformer, "conformer": _conformer,
                "speechformer": _speechformer}
    return builders[model.config.backbone](model)


# --------------------------------------------------------------------------- pre-LN

def _subsample(b: _Builder, cfg) -> str:
    """Two conv-ReLU (kernel 3, stride 2, padding 1), then the positions: int16 stream."""
    K, s, pad = SUBSAMPLE_KERNEL, SUBSAMPLE_STRIDE, SUBSAMPLE_PAD
    b.g.lengths["T1"] = Length("T1", "conv", "T", K, s, pad)
    b.g.lengths["T2"] = Length("T2", "conv", "T1", K, s, pad)
    h = "input"
    for conv, rows in (("subsample.conv1", "T1"), ("subsample.conv2", "T2")):
        w = b.p[f"{conv}.w"]
        h = b.node("conv1d", conv, [h], rows, w.shape[0], "s8",
                   {"w": w, "b": b.p[f"{conv}.b"]}, stride=s, padding=pad, relu=True)
    return b.node("add_pos", "positions", [h], "T2", cfg.width, "s16")


def _ffn_preln(b: _Builder, n: str, stream: str, act: str, scale: float) -> str:
    """One row loop: LN, fc1, activation table, fc2 (int16), stream += branch."""
    b.begin_loop()
    h = b.layernorm(f"{n}_norm", stream, "T2")
    h = b.linear(f"{n}.fc1", h, "T2", "s8")
    h = b.node("lut", f"{n}.act", [h], "T2", b.g.values[h].cols, "s8", fn=act, reuse=h)
    h = b.linear(f"{n}.fc2", h, "T2", "s16", scale=scale)
    out = b.node("add", f"{n}.res", [stream, h], "T2", b.g.values[stream].cols, "s16",
                 reuse=stream)
    b.end_loop()
    return out


def _attention_preln(b: _Builder, n: str, stream: str, heads: int) -> str:
    h = b.layernorm(f"{n}_norm", stream, "T2")
    ctx = b.mha(n, h, "T2", heads)
    b.begin_loop()
    a = b.linear(f"{n}.out", ctx, "T2", "s16")
    out = b.node("add", f"{n}.res", [stream, a], "T2", b.g.values[stream].cols, "s16",
                 reuse=stream)
    b.end_loop()
    return out


def _convtransformer(model) -> Graph:
    cfg = model.config
    b = _Builder(model, cfg.n_mels)
    stream = _subsample(b, cfg)
    for layer in range(cfg.layers):
        n = f"layers.{layer}"
        stream = _attention_preln(b, f"{n}.attn", stream, cfg.heads)
        stream = _ffn_preln(b, f"{n}.ffn", stream, "gelu", 1.0)
    h = b.layernorm("final_norm", stream, "T2")
    h = b.node("mean", "pool", [h], 1, cfg.width, "s8")
    b.linear("logits", h, 1, "s8", prefix="classifier")
    return b.g


def _conv_module(b: _Builder, n: str, stream: str, C: int) -> str:
    """LN, PW1 halves, GLU (sigmoid table, product), depthwise (BN folded), Swish, PW2."""
    b.begin_loop()
    h = b.layernorm(f"{n}_norm", stream, "T2")
    w1, b1 = b.p[f"{n}.pw1.w"], b.p[f"{n}.pw1.b"]
    a = b.node("linear", f"{n}.glu_a", [h], "T2", C, "s8", {"w": w1[:C], "b": b1[:C]})
    g = b.node("linear", f"{n}.glu_b", [h], "T2", C, "s8", {"w": w1[C:], "b": b1[C:]})
    g = b.node("lut", f"{n}.glu_gate", [g], "T2", C, "p8", fn="sigmoid", reuse=g)
    glu = b.node("mul", f"{n}.glu", [a, g], "T2", C, "s8")
    b.end_loop()
    w, bias = fold_batchnorm_into_conv(                               # (C, K), (C,)
        b.p[f"{n}.dw.w"], b.p[f"{n}.dw.b"], b.p[f"{n}.bn.gamma"], b.p[f"{n}.bn.beta"],
        b.buffers[f"{n}.bn.running_mean"], b.buffers[f"{n}.bn.running_var"], BN_EPS)
    d = b.node("dwconv", f"{n}.dw", [glu], "T2", C, "s8", {"w": w, "b": bias})
    b.begin_loop()
    h = b.node("lut", f"{n}.swish", [d], "T2", C, "s8", fn="swish")
    h = b.linear(f"{n}.pw2", h, "T2", "s16")
    out = b.node("add", f"{n}.res", [stream, h], "T2", C, "s16", reuse=stream)
    b.end_loop()
    return out


def _conformer(model) -> Graph:
    cfg = model.config
    b = _Builder(model, cfg.n_mels)
    stream = _subsample(b, cfg)
    for block in range(cfg.layers):
        n = f"blocks.{block}"
        stream = _ffn_preln(b, f"{n}.ffn1", stream, "swish", 0.5)
        stream = _attention_preln(b, f"{n}.attn", stream, cfg.heads)
        stream = _conv_module(b, f"{n}.conv", stream, cfg.width)
        stream = _ffn_preln(b, f"{n}.ffn2", stream, "swish", 0.5)
        if block + 1 < cfg.layers:     # the block's LN output is the next stream
            b.begin_loop()
            h = b.layernorm(f"{n}.final_norm", stream, "T2")
            stream = b.node("widen", f"{n}.out", [h], "T2", cfg.width, "s16", reuse=stream)
            b.end_loop()
        else:
            stream = b.layernorm(f"{n}.final_norm", stream, "T2")
    h = b.node("mean", "pool", [stream], 1, cfg.width, "s8")
    b.linear("logits", h, 1, "s8", prefix="classifier")
    return b.g


# --------------------------------------------------------------------------- post-LN

def _postln_layer(b: _Builder, n: str, x: str, rows: str, heads: int, window: int) -> str:
    """x = LN(x + MHA(x)); x = LN(x + FFN(x)): int8 stream, int16 sums, in place."""
    C = b.g.values[x].cols
    ctx = b.mha(f"{n}.attn", x, rows, heads, window)
    b.begin_loop()
    a = b.linear(f"{n}.attn.out", ctx, rows, "s16")
    s = b.node("add", f"{n}.attn.sum", [a, x], rows, C, "s16", reuse=a)
    x = b.layernorm(f"{n}.attn_norm", s, rows, reuse=x)
    b.end_loop()
    b.begin_loop()
    h = b.linear(f"{n}.ffn.fc1", x, rows, "s8", relu=True)
    h = b.linear(f"{n}.ffn.fc2", h, rows, "s16")
    s = b.node("add", f"{n}.ffn.sum", [h, x], rows, C, "s16", reuse=h)
    x = b.layernorm(f"{n}.ffn_norm", s, rows, reuse=x)
    b.end_loop()
    return x


def _speechformer(model) -> Graph:
    cfg = model.config
    b = _Builder(model, cfg.n_mels)
    b.begin_loop()
    h = "input"
    if "input_proj.w" in b.p:
        h = b.linear("input_proj", h, "T", "s16")
    h = b.node("add_pos", "positions", [h], "T", cfg.width, "s16",
               **({"reuse": h} if h != "input" else {}))
    x = b.layernorm("stages.0.norm", h, "T")
    b.end_loop()
    rows = "T"
    for s, n_layers in enumerate(cfg.layers):
        for layer in range(n_layers):
            x = _postln_layer(b, f"stages.{s}.layers.{layer}", x, rows, cfg.heads,
                              cfg.windows[s])
        if s + 1 < len(cfg.layers):
            g, new_rows = cfg.merges[s], f"S{s + 1}"
            b.g.lengths[new_rows] = Length(new_rows, "ceildiv", rows, group=g)
            p = b.node("avgpool", f"merges.{s}.pool", [x], new_rows, b.g.values[x].cols,
                       "s8", group=g)
            b.begin_loop()
            h = b.linear(f"merges.{s}.proj", p, new_rows, "s16")
            x = b.layernorm(f"merges.{s}.norm", h, new_rows)
            b.end_loop()
            rows = new_rows
    h = b.node("mean", "head.pool", [x], 1, b.g.values[x].cols, "s8")
    h = b.linear("head.fc1", h, 1, "s8", relu=True)
    h = b.linear("head.fc2", h, 1, "s8", relu=True)
    b.linear("logits", h, 1, "s8", prefix="head.fc3")
    return b.g
