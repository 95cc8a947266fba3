"""SpeechFormer (Chen et al., Interspeech 2022): hierarchical stages with local attention.

    x (B, T, M) -> [Linear(M, C) when M != C] -> + positions -> LN          (B, T, C)
      -> stage "frame"    post-LN layers, attention window 5
      -> merge: average-pool groups of 5 valid tokens -> Linear(C, eC) -> LN
      -> stage "phoneme"  window 9          -> merge 5
      -> stage "word"     window 9          -> merge 4
      -> stage "utterance" global attention
      -> masked mean -> Linear(C, C/2) ReLU drop -> Linear(C/2, C/4) ReLU drop
         -> Linear(C/4, N)                                                 (B, N)

    post-LN layer:  x = LN(x + drop(MHA(x)));  y = LN(x + drop(FFN(x)))
    FFN: Linear(C, F) ReLU drop Linear(F, C), a bottleneck F = C / 2.

**[decision]** Each stage opens with a LayerNorm: the first after the positions, the
others at the end of the merge block. The input projection exists only when the mel
count differs from the width (the presets make them equal: 64 / 64 and 128 / 128).

HRF (site "ffn") sits directly before each FFN's first linear (post-LN: nothing lies
between the chain and W1).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from pyreparam.models.config import SpeechFormerConfig
from pyreparam.models.layers import (
    Context, Params, dropout_block_backward, dropout_block_forward, ffn_backward,
    ffn_forward, hrf_linear_backward, hrf_linear_forward, init_ffn, init_layernorm,
    init_linear, init_mha, layernorm_block_backward, layernorm_block_forward,
    mha_block_backward, mha_block_forward, pool_backward, pool_forward)
from pyreparam.ops.activations import relu_backward, relu_forward
from pyreparam.ops.pooling import avgpool_merge_backward, avgpool_merge_forward
from pyreparam.ops.position import positional_encoding_backward, positional_encoding_forward


def stage_ffn_widths(cfg: SpeechFormerConfig) -> list[int]:
    """FFN width of each stage: cfg.ffn scaled with the stage's width."""
    return [cfg.ffn * w // cfg.width for w in cfg.stage_widths()]


def init_params(cfg: SpeechFormerConfig, rng: np.random.Generator,
                dtype=np.float32) -> tuple[Params, Params]:
    """Fresh parameters (and no buffers) for a SpeechFormer."""
    p: Params = {}
    widths, ffns = cfg.stage_widths(), stage_ffn_widths(cfg)
    if cfg.n_mels != cfg.width:
        init_linear(p, "input_proj", cfg.n_mels, cfg.width, rng, dtype)
    init_layernorm(p, "stages.0.norm", cfg.width, dtype)
    for s, n_layers in enumerate(cfg.layers):
        for layer in range(n_layers):
            n = f"stages.{s}.layers.{layer}"
            init_mha(p, f"{n}.attn", widths[s], rng, dtype, cfg.hrf)
            init_layernorm(p, f"{n}.attn_norm", widths[s], dtype)
            init_ffn(p, f"{n}.ffn", widths[s], ffns[s], rng, dtype, cfg.hrf)
            init_layernorm(p, f"{n}.ffn_norm", widths[s], dtype)
        if s + 1 < len(cfg.layers):
            init_linear(p, f"merges.{s}.proj", widths[s], widths[s + 1], rng, dtype)
            init_layernorm(p, f"merges.{s}.norm", widths[s + 1], dtype)
    C = widths[-1]
    init_linear(p, "head.fc1", cfg.pooled_width, C // 2, rng, dtype)
    init_linear(p, "head.fc2", C // 2, C // 4, rng, dtype)
    init_linear(p, "head.fc3", C // 4, cfg.n_classes, rng, dtype)
    return p, {}


# --------------------------------------------------------------------------- post-LN layer

class PostLNLayerCache(NamedTuple):
    name: str
    attn: Any
    drop1: Any
    norm1: Any
    ffn: Any
    drop2: Any
    norm2: Any


def postln_layer_forward(p: Params, name: str, x: np.ndarray, mask: np.ndarray | None,
                         heads: int, window: int | None, ctx: Context):
    """x = LN(x + drop(MHA(x))); y = LN(x + drop(FFN(x)))."""
    a, att = mha_block_forward(p, f"{name}.attn", x, mask, heads, window)
    a, d1 = dropout_block_forward(a, ctx)
    x, n1 = layernorm_block_forward(p, f"{name}.attn_norm", x + a)
    f, ffn = ffn_forward(p, f"{name}.ffn", x, "relu", ctx)
    f, d2 = dropout_block_forward(f, ctx)
    y, n2 = layernorm_block_forward(p, f"{name}.ffn_norm", x + f)
    return y, PostLNLayerCache(name, att, d1, n1, ffn, d2, n2)


def postln_layer_backward(dy: np.ndarray, cache: PostLNLayerCache, grads: Params) -> np.ndarray:
    # y = LN(x + drop(FFN(x)))
    ds = layernorm_block_backward(dy, cache.norm2, grads)
    dx = ds + ffn_backward(dropout_block_backward(ds, cache.drop2), cache.ffn, grads)
    # x = LN(x + drop(MHA(x)))
    ds = layernorm_block_backward(dx, cache.norm1, grads)
    return ds + mha_block_backward(dropout_block_backward(ds, cache.drop1), cache.attn, grads)


# --------------------------------------------------------------------------- merge block

class MergeCache(NamedTuple):
    pool: Any
    proj: Any
    norm: Any


def merge_forward(p: Params, name: str, x: np.ndarray, mask: np.ndarray | None, group: int):
    """((y, mask'), cache): average-pool groups of valid tokens, Linear(C, eC), LN."""
    (h, m), pool = avgpool_merge_forward(x, mask, group)     # (B, ceil(T/g), C)
    h, proj = hrf_linear_forward(p, f"{name}.proj", h)       # (B, T', eC)
    y, norm = layernorm_block_forward(p, f"{name}.norm", h)
    return (y, m), MergeCache(pool, proj, norm)


def merge_backward(dy: np.ndarray, cache: MergeCache, grads: Params) -> np.ndarray:
    dh = layernorm_block_backward(dy, cache.norm, grads)
    dh = hrf_linear_backward(dh, cache.proj, grads)
    return avgpool_merge_backward(dh, cache.pool)


# --------------------------------------------------------------------------- head

class HeadCache(NamedTuple):
    pool: Any
    layers: list          # (linear cache, relu cache, dropout cache) for fc1, fc2
    fc3: Any


def head_forward(p: Params, x: np.ndarray, mask: np.ndarray | None, ctx: Context,
                 pooling: str = "mean"):
    """Masked mean (or statistics pooling), then Linear ReLU drop, Linear ReLU drop,
    Linear."""
    h, pool = pool_forward(x, mask, pooling)                 # (B, C) or (B, 2C)
    layers = []
    for fc in ("head.fc1", "head.fc2"):
        h, lc = hrf_linear_forward(p, fc, h)
        h, rc = relu_forward(h)
        h, dc = dropout_block_forward(h, ctx)
        layers.append((lc, rc, dc))
    logits, fc3 = hrf_linear_forward(p, "head.fc3", h)       # (B, N)
    return logits, HeadCache(pool, layers, fc3)


def head_backward(dlogits: np.ndarray, cache: HeadCache, grads: Params) -> np.ndarray:
    dh = hrf_linear_backward(dlogits, cache.fc3, grads)
    for lc, rc, dc in reversed(cache.layers):
        dh = dropout_block_backward(dh, dc)
        dh = relu_backward(dh, rc)
        dh = hrf_linear_backward(dh, lc, grads)
    return pool_backward(dh, cache.pool)


# --------------------------------------------------------------------------- model

class SpeechFormerCache(NamedTuple):
    input_proj: Any
    positions: Any
    norm: Any
    stages: list         # per stage: list of layer caches
    merges: list
    head: HeadCache
    buffer_updates: Params


def forward(p: Params, buffers: Params, cfg: SpeechFormerConfig, x: np.ndarray,
            mask: np.ndarray | None, ctx: Context):
    """Logits (B, N) for log-mel frames x (B, T, M) with valid-frame mask (B, T)."""
    proj = None
    if "input_proj.w" in p:
        x, proj = hrf_linear_forward(p, "input_proj", x)     # (B, T, C)
    h, pos = positional_encoding_forward(x)
    h, norm = layernorm_block_forward(p, "stages.0.norm", h)
    m = mask
    stages, merges = [], []
    for s, n_layers in enumerate(cfg.layers):
        window = cfg.windows[s] or None
        layers = []
        for layer in range(n_layers):
            h, c = postln_layer_forward(p, f"stages.{s}.layers.{layer}", h, m, cfg.heads,
                                        window, ctx)
            layers.append(c)
        stages.append(layers)
        if s + 1 < len(cfg.layers):
            (h, m), c = merge_forward(p, f"merges.{s}", h, m, cfg.merges[s])
            merges.append(c)
    logits, head = head_forward(p, h, m, ctx, cfg.pooling)
    return logits, SpeechFormerCache(proj, pos, norm, stages, merges, head, {})


def backward(dlogits: np.ndarray, cache: SpeechFormerCache) -> Params:
    """Gradients of every parameter, by name, given dL/dlogits (B, N)."""
    grads: Params = {}
    dh = head_backward(dlogits, cache.head, grads)
    for s in reversed(range(len(cache.stages))):
        if s < len(cache.merges):
            dh = merge_backward(dh, cache.merges[s], grads)
        for layer in reversed(range(len(cache.stages[s]))):
            dh = postln_layer_backward(dh, cache.stages[s][layer], grads)
    dh = layernorm_block_backward(dh, cache.norm, grads)
    dh = positional_encoding_backward(dh, cache.positions)
    if cache.input_proj is not None:
        hrf_linear_backward(dh, cache.input_proj, grads)
    return grads
