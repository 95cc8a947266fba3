"""ConvTransformer: x4 Conv1d subsampling, sinusoidal positions, L pre-LN encoder layers.

    x (B, T, M) -> [Conv1d(k3, s2) ReLU] x 2 -> + positions -> dropout      (B, T/4, C)
      -> L x { x + drop(MHA(LN x)); x + drop(FFN(LN x)) }, FFN with GELU
      -> LN -> masked mean over valid frames -> Linear(C, N)              (B, N)
         (statistics pooling: [mean, std] over valid frames -> Linear(2C, N))

HRF (site "ffn") puts a chain between each FFN's LayerNorm and its first linear.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from pyreparam.models.config import ConvTransformerConfig
from pyreparam.models.layers import (
    Context, Params, dropout_block_backward, dropout_block_forward, hrf_linear_backward,
    hrf_linear_forward, init_layernorm, init_linear, init_preln_layer, init_subsample,
    layernorm_block_backward, layernorm_block_forward, pool_backward, pool_forward,
    preln_layer_backward, preln_layer_forward, subsample_backward, subsample_forward)
from pyreparam.ops.position import positional_encoding_backward, positional_encoding_forward


def init_params(cfg: ConvTransformerConfig, rng: np.random.Generator,
                dtype=np.float32) -> tuple[Params, Params]:
    """Fresh parameters (and no buffers) for a ConvTransformer."""
    p: Params = {}
    init_subsample(p, "subsample", cfg.n_mels, cfg.width, rng, dtype)
    for layer in range(cfg.layers):
        init_preln_layer(p, f"layers.{layer}", cfg.width, cfg.ffn, rng, dtype, cfg.hrf)
    init_layernorm(p, "final_norm", cfg.width, dtype)
    init_linear(p, "classifier", cfg.pooled_width, cfg.n_classes, rng, dtype)
    return p, {}


class ConvTransformerCache(NamedTuple):
    subsample: Any
    positions: Any
    drop: Any
    layers: list
    final_norm: Any
    pool: Any
    classifier: Any
    buffer_updates: Params


def forward(p: Params, buffers: Params, cfg: ConvTransformerConfig, x: np.ndarray,
            mask: np.ndarray | None, ctx: Context):
    """Logits (B, N) for log-mel frames x (B, T, M) with valid-frame mask (B, T)."""
    (h, m), sub = subsample_forward(p, "subsample", x, mask)      # (B, T/4, C)
    h, pos = positional_encoding_forward(h)
    h, drop = dropout_block_forward(h, ctx)
    layers = []
    for layer in range(cfg.layers):
        h, c = preln_layer_forward(p, f"layers.{layer}", h, m, cfg.heads, "gelu", ctx)
        layers.append(c)
    h, fn = layernorm_block_forward(p, "final_norm", h)
    pooled, pool = pool_forward(h, m, cfg.pooling)                 # (B, C) or (B, 2C)
    logits, cls = hrf_linear_forward(p, "classifier", pooled)      # (B, N)
    return logits, ConvTransformerCache(sub, pos, drop, layers, fn, pool, cls, {})


def backward(dlogits: np.ndarray, cache: ConvTransformerCache) -> Params:
    """Gradients of every parameter, by name, given dL/dlogits (B, N)."""
    grads: Params = {}
    dpooled = hrf_linear_backward(dlogits, cache.classifier, grads)
    dh = pool_backward(dpooled, cache.pool)
    dh = layernorm_block_backward(dh, cache.final_norm, grads)
    for layer in reversed(range(len(cache.layers))):
        dh = preln_layer_backward(dh, cache.layers[layer], grads)
    dh = dropout_block_backward(dh, cache.drop)
    dh = positional_encoding_backward(dh, cache.positions)
    subsample_backward(dh, cache.subsample, grads)
    return grads
