"""Conformer (Gulati et al. 2020): macaron FFNs around attention and a convolution module.

    x (B, T, M) -> [Conv1d(k3, s2) ReLU] x 2 -> + positions -> dropout      (B, T/4, C)
      -> L x block:
           x = x + 1/2 drop(FFN1(LN x))                 FFN with Swish
           x = x + drop(MHA(LN x))
           x = x + drop(Conv(LN x))
           x = x + 1/2 drop(FFN2(LN x))
           x = LN x
      -> masked mean over valid frames -> Linear(C, N)                    (B, N)

    Conv(h) = PW2 Swish(BN(DW(GLU(PW1 h))))   PW1: C -> 2C, DW: depthwise kernel K,
                                              BN over valid frames, PW2: C -> C

**[decision]** Positions are the sinusoidal code added after subsampling (as in the
ConvTransformer), not Conformer's relative positional encoding: one attention kernel
for all backbones and for the int8 runtime.

HRF: site "ffn" puts a chain before the first linear of both FFNs; "conv_pw" before
both pointwise convolutions. Padded frames are zeroed before the depthwise convolution
and BatchNorm ignores them, so a valid frame never sees padding contents.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from pyreparam.models.config import ConformerConfig
from pyreparam.models.layers import (
    Context, Params, at_site, dropout_block_backward, dropout_block_forward, ffn_backward,
    ffn_forward, hrf_linear_backward, hrf_linear_forward, init_ffn, init_layernorm,
    init_linear, init_mha, init_subsample, layernorm_block_backward,
    layernorm_block_forward, mha_block_backward, mha_block_forward, pool_backward,
    pool_forward, subsample_backward, subsample_forward)
from pyreparam.ops.activations import glu_backward, glu_forward, swish_backward, swish_forward
from pyreparam.ops.conv import depthwise_conv1d_backward, depthwise_conv1d_forward
from pyreparam.ops.norm import batchnorm_backward, batchnorm_forward, batchnorm_update_running
from pyreparam.ops.position import positional_encoding_backward, positional_encoding_forward

BN_MOMENTUM = 0.1


def init_params(cfg: ConformerConfig, rng: np.random.Generator,
                dtype=np.float32) -> tuple[Params, Params]:
    """Fresh parameters and BatchNorm buffers for a Conformer."""
    p: Params = {}
    buffers: Params = {}
    C, K = cfg.width, cfg.conv_kernel
    init_subsample(p, "subsample", cfg.n_mels, C, rng, dtype)
    for block in range(cfg.layers):
        n = f"blocks.{block}"
        for ffn in ("ffn1", "ffn2"):
            init_layernorm(p, f"{n}.{ffn}_norm", C, dtype)
            init_ffn(p, f"{n}.{ffn}", C, cfg.ffn, rng, dtype, cfg.hrf)
        init_layernorm(p, f"{n}.attn_norm", C, dtype)
        init_mha(p, f"{n}.attn", C, rng, dtype, cfg.hrf)
        init_layernorm(p, f"{n}.conv_norm", C, dtype)
        init_linear(p, f"{n}.conv.pw1", C, 2 * C, rng, dtype, at_site(cfg.hrf, "conv_pw"))
        p[f"{n}.conv.dw.w"] = (rng.uniform(-1, 1, (C, K)) / np.sqrt(K)).astype(dtype)
        p[f"{n}.conv.dw.b"] = np.zeros(C, dtype)
        init_layernorm(p, f"{n}.conv.bn", C, dtype)                  # gamma = 1, beta = 0
        buffers[f"{n}.conv.bn.running_mean"] = np.zeros(C, dtype)
        buffers[f"{n}.conv.bn.running_var"] = np.ones(C, dtype)
        init_linear(p, f"{n}.conv.pw2", C, C, rng, dtype, at_site(cfg.hrf, "conv_pw"))
        init_layernorm(p, f"{n}.final_norm", C, dtype)
    init_linear(p, "classifier", cfg.pooled_width, cfg.n_classes, rng, dtype)
    return p, buffers


# --------------------------------------------------------------------------- conv module

class ConvModuleCache(NamedTuple):
    name: str
    pw1: Any
    glu: Any
    mask: np.ndarray | None
    dw: Any
    bn: Any
    swish: Any
    pw2: Any


def conv_module_forward(p: Params, buffers: Params, name: str, x: np.ndarray,
                        mask: np.ndarray | None, kernel: int, ctx: Context,
                        updates: Params):
    """PW2 Swish(BN(DW(GLU(PW1 x)))); BatchNorm's new running stats go to ``updates``."""
    h, pw1 = hrf_linear_forward(p, f"{name}.pw1", x)                  # (B, T, 2C)
    h, glu = glu_forward(h)                                           # (B, T, C)
    if mask is not None:
        h = h * mask[..., None]                                       # zero padded frames
    h, dw = depthwise_conv1d_forward(h, p[f"{name}.dw.w"], p[f"{name}.dw.b"],
                                     (kernel - 1) // 2)              # (B, T, C)
    rm, rv = buffers[f"{name}.bn.running_mean"], buffers[f"{name}.bn.running_var"]
    h, bn = batchnorm_forward(h, p[f"{name}.bn.gamma"], p[f"{name}.bn.beta"], rm, rv,
                              mask, train=ctx.train)
    if ctx.train and bn.count >= 2:            # the unbiased variance needs two frames
        new_mean, new_var = batchnorm_update_running(rm, rv, bn, BN_MOMENTUM)
        updates[f"{name}.bn.running_mean"] = new_mean
        updates[f"{name}.bn.running_var"] = new_var
    h, sw = swish_forward(h)
    y, pw2 = hrf_linear_forward(p, f"{name}.pw2", h)                  # (B, T, C)
    return y, ConvModuleCache(name, pw1, glu, mask, dw, bn, sw, pw2)


def conv_module_backward(dy: np.ndarray, cache: ConvModuleCache, grads: Params) -> np.ndarray:
    name = cache.name
    dh = hrf_linear_backward(dy, cache.pw2, grads)                    # y = PW2 h
    dh = swish_backward(dh, cache.swish)
    dh, grads[f"{name}.bn.gamma"], grads[f"{name}.bn.beta"] = batchnorm_backward(dh, cache.bn)
    dh, grads[f"{name}.dw.w"], grads[f"{name}.dw.b"] = depthwise_conv1d_backward(dh, cache.dw)
    if cache.mask is not None:
        dh = dh * cache.mask[..., None]                               # h = h * mask
    dh = glu_backward(dh, cache.glu)
    return hrf_linear_backward(dh, cache.pw1, grads)


# --------------------------------------------------------------------------- block

class BlockCache(NamedTuple):
    name: str
    steps: list          # (kind, norm cache, module cache, dropout cache) per residual step
    final_norm: Any


#: (kind, norm name, module name, residual weight) of a block's four residual steps.
RESIDUAL_STEPS = (("ffn", "ffn1_norm", "ffn1", 0.5), ("attn", "attn_norm", "attn", 1.0),
                  ("conv", "conv_norm", "conv", 1.0), ("ffn", "ffn2_norm", "ffn2", 0.5))


def block_forward(p: Params, buffers: Params, name: str, x: np.ndarray,
                  mask: np.ndarray | None, cfg: ConformerConfig, ctx: Context,
                  updates: Params):
    steps = []
    for kind, norm, module, weight in RESIDUAL_STEPS:
        h, nc = layernorm_block_forward(p, f"{name}.{norm}", x)
        if kind == "ffn":
            h, mc = ffn_forward(p, f"{name}.{module}", h, "swish", ctx)
        elif kind == "attn":
            h, mc = mha_block_forward(p, f"{name}.{module}", h, mask, cfg.heads)
        else:
            h, mc = conv_module_forward(p, buffers, f"{name}.{module}", h, mask,
                                        cfg.conv_kernel, ctx, updates)
        h, dc = dropout_block_forward(h, ctx)
        x = x + (weight * h if weight != 1.0 else h)              # (B, T, C)
        steps.append((nc, mc, dc))
    y, fn = layernorm_block_forward(p, f"{name}.final_norm", x)
    return y, BlockCache(name, steps, fn)


def block_backward(dy: np.ndarray, cache: BlockCache, grads: Params) -> np.ndarray:
    dx = layernorm_block_backward(dy, cache.final_norm, grads)
    for (kind, norm, module, weight), (nc, mc, dc) in zip(
            reversed(RESIDUAL_STEPS), reversed(cache.steps)):
        # x = x + weight * drop(module(LN x))
        dh = dropout_block_backward(dx * weight if weight != 1.0 else dx, dc)
        if kind == "ffn":
            dh = ffn_backward(dh, mc, grads)
        elif kind == "attn":
            dh = mha_block_backward(dh, mc, grads)
        else:
            dh = conv_module_backward(dh, mc, grads)
        dx = dx + layernorm_block_backward(dh, nc, grads)
    return dx


# --------------------------------------------------------------------------- model

class ConformerCache(NamedTuple):
    subsample: Any
    positions: Any
    drop: Any
    blocks: list
    pool: Any
    classifier: Any
    buffer_updates: Params


def forward(p: Params, buffers: Params, cfg: ConformerConfig, x: np.ndarray,
            mask: np.ndarray | None, ctx: Context):
    """Logits (B, N) for log-mel frames x (B, T, M) with valid-frame mask (B, T)."""
    updates: Params = {}
    (h, m), sub = subsample_forward(p, "subsample", x, mask)          # (B, T/4, C)
    h, pos = positional_encoding_forward(h)
    h, drop = dropout_block_forward(h, ctx)
    blocks = []
    for block in range(cfg.layers):
        h, c = block_forward(p, buffers, f"blocks.{block}", h, m, cfg, ctx, updates)
        blocks.append(c)
    pooled, pool = pool_forward(h, m, cfg.pooling)                     # (B, C) or (B, 2C)
    logits, cls = hrf_linear_forward(p, "classifier", pooled)          # (B, N)
    return logits, ConformerCache(sub, pos, drop, blocks, pool, cls, updates)


def backward(dlogits: np.ndarray, cache: ConformerCache) -> Params:
    """Gradients of every parameter, by name, given dL/dlogits (B, N)."""
    grads: Params = {}
    dpooled = hrf_linear_backward(dlogits, cache.classifier, grads)
    dh = pool_backward(dpooled, cache.pool)
    for block in reversed(range(len(cache.blocks))):
        dh = block_backward(dh, cache.blocks[block], grads)
    dh = dropout_block_backward(dh, cache.drop)
    dh = positional_encoding_backward(dh, cache.positions)
    subsample_backward(dh, cache.subsample, grads)
    return grads
