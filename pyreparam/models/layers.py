"""Model-level building blocks shared by the three backbones.

Parameters live in one flat dict with dotted names (``layers.0.ffn.fc1.w``); a block is
addressed by its prefix. Every block is a forward/backward pair like the ops: the
forward returns ``(y, cache)``, the backward takes ``(dy, cache, grads)``, writes the
gradients of the block's parameters into ``grads`` under the same names and returns
the gradient of the block's input.

HRF chains are found by name: the linear map ``name`` has the chain
``name.hrf.0 .. name.hrf.{k-1}`` in front of it when those parameters exist. The
forward code is therefore the same for the training form (with chains) and the merged
form (without), and :mod:`pyreparam.reparam` merges by folding every chain it finds.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from pyreparam.models.config import HRFConfig
from pyreparam.ops.activations import (
    gelu_backward, gelu_forward, relu_backward, relu_forward, swish_backward,
    swish_forward)
from pyreparam.ops.attention import (MHACache, packed_attention_backward,
                                     packed_attention_forward)
from pyreparam.ops.conv import conv1d_backward, conv1d_forward, conv1d_output_mask
from pyreparam.ops.dropout import dropout_backward, dropout_forward
from pyreparam.ops.pooling import (MaskedStatsCache, masked_mean_backward,
                                    masked_mean_forward, masked_stats_backward,
                                    masked_stats_forward)
from pyreparam.ops.linear import linear_backward, linear_forward
from pyreparam.ops.norm import layernorm_backward, layernorm_forward

Params = dict[str, np.ndarray]

ACTIVATIONS = {
    "gelu": (gelu_forward, gelu_backward),
    "relu": (relu_forward, relu_backward),
    "swish": (swish_forward, swish_backward),
}


class Context(NamedTuple):
    """Per-call settings threaded through the blocks."""

    train: bool
    rng: np.random.Generator | None
    dropout: float


# --------------------------------------------------------------------------- init

def xavier_uniform(rng: np.random.Generator, n_out: int, n_in: int, dtype) -> np.ndarray:
    """Glorot/Xavier uniform weights (n_out, n_in): U(-a, a), a = sqrt(6 / (n_in + n_out))."""
    a = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-a, a, size=(n_out, n_in)).astype(dtype)


def semi_orthogonal(rng: np.random.Generator, n_out: int, n_in: int, dtype) -> np.ndarray:
    """A random (n_out, n_in) matrix with orthonormal columns (n_out >= n_in): Q^T Q = I."""
    q, r = np.linalg.qr(rng.standard_normal((n_out, n_in)))
    return (q * np.sign(np.diag(r))).astype(dtype)


def init_linear(p: Params, name: str, n_in: int, n_out: int, rng: np.random.Generator,
                dtype, hrf: HRFConfig | None = None, bias: bool = True) -> None:
    """Create ``name.w`` (n_out, n_in) and ``name.b``, with an HRF chain when asked.

    With a chain of k factors of width r * n_in the layer itself becomes
    (n_out, r * n_in). Xavier init draws every factor and the layer independently.
    Identity-preserving init draws the layer as it would be without HRF (W) and
    semi-orthogonal factors H_i (H_i^T H_i = I, zero biases), then sets
    W' = W (H_k ... H_1)^T, so that W' H_k ... H_1 = W: training starts from exactly
    the function of the model without HRF, yet every factor entry gets gradient.
    """
    if hrf is None:
        p[f"{name}.w"] = xavier_uniform(rng, n_out, n_in, dtype)
    else:
        width = hrf.r * n_in
        dims = [n_in] + [width] * hrf.k
        for i in range(hrf.k):
            if hrf.init == "xavier":
                p[f"{name}.hrf.{i}.w"] = xavier_uniform(rng, dims[i + 1], dims[i], dtype)
            else:
                p[f"{name}.hrf.{i}.w"] = semi_orthogonal(rng, dims[i + 1], dims[i], dtype)
            if hrf.bias:
                p[f"{name}.hrf.{i}.b"] = np.zeros(dims[i + 1], dtype)
        if hrf.init == "xavier":
            p[f"{name}.w"] = xavier_uniform(rng, n_out, width, dtype)
        else:
            chain = np.eye(n_in)
            for i in range(hrf.k):
                chain = p[f"{name}.hrf.{i}.w"].astype(np.float64) @ chain   # (width, n_in)
            W = xavier_uniform(rng, n_out, n_in, np.float64)
            p[f"{name}.w"] = (W @ chain.T).astype(dtype)                     # (n_out, width)
    if bias:
        p[f"{name}.b"] = np.zeros(n_out, dtype)


def at_site(hrf: HRFConfig | None, site: str) -> HRFConfig | None:
    """The HRF settings if ``site`` is one of the configured sites, else None."""
    return hrf if hrf is not None and site in hrf.sites else None


def init_layernorm(p: Params, name: str, width: int, dtype) -> None:
    p[f"{name}.gamma"] = np.ones(width, dtype)
    p[f"{name}.beta"] = np.zeros(width, dtype)


def hrf_chain_names(p: Params, name: str) -> list[str]:
    """Prefixes of the HRF factors in front of linear ``name`` (empty when merged)."""
    names = []
    while f"{name}.hrf.{len(names)}.w" in p:
        names.append(f"{name}.hrf.{len(names)}")
    return names


# --------------------------------------------------------------------------- linear

class HRFLinearCache(NamedTuple):
    name: str
    chain: list[tuple[str, Any]]      # (factor prefix, LinearCache) in forward order
    linear: Any                       # LinearCache of the layer itself (collapsed: of M)
    collapsed: "CollapsedChain | None" = None


class CollapsedChain(NamedTuple):
    """A chain run as one matrix. h_i = A_i x + e_i for i = 0 .. k (A_0 = I and e_0 = 0,
    stored as None, as is e_i while no factor had a bias)."""

    factors: list[str]
    H: list[np.ndarray]               # the factors' weights, (d_i, d_(i-1))
    factor_bias: list[bool]           # whether factor i has a bias c_i
    W: np.ndarray                     # the layer's weight (out, d_k)
    has_bias: bool                    # whether the layer has its own bias b
    A: list[np.ndarray | None]        # (d_i, d_0)
    e: list[np.ndarray | None]        # (d_i,)


def _collapse_pays(rows: int, dims: list[int]) -> bool:
    """Whether running a chain d_0 -> d_1 -> ... -> d_out as one matrix costs fewer
    multiply-adds than running it factor by factor (rows x the chain, three times
    for forward and backward): the matrix products of the collapse cost about
    d_0 (sum of d_i d_(i+1)) each, four times over."""
    chain = sum(a * b for a, b in zip(dims, dims[1:]))
    return 3 * rows * dims[0] * dims[-1] + 4 * dims[0] * chain < 3 * rows * chain


def hrf_linear_forward(p: Params, name: str, x: np.ndarray,
                       collapse: bool | None = None) -> tuple[np.ndarray, HRFLinearCache]:
    """y = W (H_k (... (H_1 x + c_1) ...) + c_k) + b, or y = W x + b without a chain.

    With a chain and many rows the chain runs collapsed (``collapse`` None: when
    :func:`_collapse_pays`; True/False force it): one matrix M = W H_k ... H_1 and one
    bias, so forward and backward cost what the merged layer costs, and the factors'
    gradients come from G = dy^T x (see :func:`hrf_linear_backward`). The two ways
    are the same function; only the rounding differs."""
    factors = hrf_chain_names(p, name)
    if factors and collapse is None:
        dims = [x.shape[-1]] + [p[f"{f}.w"].shape[0] for f in factors] + [p[f"{name}.w"].shape[0]]
        collapse = _collapse_pays(x.size // max(x.shape[-1], 1), dims)
    if factors and collapse:
        return _collapsed_forward(p, name, factors, x)
    chain = []
    h = x
    for factor in factors:
        h, c = linear_forward(h, p[f"{factor}.w"], p.get(f"{factor}.b"))   # (..., r C)
        chain.append((factor, c))
    y, c = linear_forward(h, p[f"{name}.w"], p.get(f"{name}.b"))          # (..., out)
    return y, HRFLinearCache(name, chain, c)


def _collapsed_forward(p: Params, name: str, factors: list[str], x: np.ndarray):
    A, e = None, None                                       # h_0 = x
    As, es, Hs, cs = [A], [e], [], []
    for factor in factors:                                  # h_i = H_i h_(i-1) + c_i
        H, c = p[f"{factor}.w"], p.get(f"{factor}.b")
        A = H if A is None else H @ A                       # (d_i, d_0)
        e = None if e is None else H @ e
        if c is not None:
            e = c if e is None else e + c
        As.append(A)
        es.append(e)
        Hs.append(H)
        cs.append(c is not None)
    W, b = p[f"{name}.w"], p.get(f"{name}.b")
    bias = None if e is None else W @ e                     # y = W A_k x + W e_k + b
    if b is not None:
        bias = b if bias is None else bias + b
    y, c = linear_forward(x, W @ A, bias)
    return y, HRFLinearCache(name, [], c, CollapsedChain(factors, Hs, cs, W, b is not None,
                                                         As, es))


def _store(grads: Params, name: str, dw: np.ndarray, db: np.ndarray | None) -> None:
    grads[f"{name}.w"] = dw
    if db is not None:
        grads[f"{name}.b"] = db


def hrf_linear_backward(dy: np.ndarray, cache: HRFLinearCache, grads: Params) -> np.ndarray:
    if cache.collapsed is not None:
        return _collapsed_backward(dy, cache, grads)
    # y = W h + b, h = H_k (...) + c_k
    dh, dw, db = linear_backward(dy, cache.linear)
    _store(grads, cache.name, dw, db)
    for factor, c in reversed(cache.chain):
        dh, dw, db = linear_backward(dh, c)
        _store(grads, factor, dw, db)
    return dh


def _collapsed_backward(dy: np.ndarray, cache: HRFLinearCache, grads: Params) -> np.ndarray:
    """y = M x + bias with M = W A_k. With G = dy^T x (out, d_0), s = the sum of dy's
    rows and L_i = W H_k ... H_(i+1) (L_k = W):

        dx   = dy M
        dW   = dy^T h_k        = G A_k^T + s e_k^T,      db = s
        dH_i = L_i^T dy^T h_(i-1) = L_i^T (G A_(i-1)^T + s e_(i-1)^T)
        dc_i = L_i^T s
    """
    chain = cache.collapsed
    # y = x M^T + bias: dx = dy M, G = dy^T x, s = sum of dy (None: no bias anywhere)
    dx, G, s = linear_backward(dy, cache.linear)

    def dy_h(i: int) -> np.ndarray:                         # dy^T h_i, (out, d_i)
        A, e = chain.A[i], chain.e[i]
        g = G if A is None else G @ A.T
        return g if e is None else g + np.outer(s, e)

    _store(grads, cache.name, dy_h(len(chain.factors)), s if chain.has_bias else None)
    L = chain.W
    for i in range(len(chain.factors), 0, -1):
        factor = chain.factors[i - 1]
        grads[f"{factor}.w"] = L.T @ dy_h(i - 1)
        if chain.factor_bias[i - 1]:
            grads[f"{factor}.b"] = L.T @ s
        L = L @ chain.H[i - 1]                              # L_(i-1)
    return dx


# --------------------------------------------------------------------------- norm, dropout

class LayerNormBlockCache(NamedTuple):
    name: str
    norm: Any


def layernorm_block_forward(p: Params, name: str, x: np.ndarray):
    y, cache = layernorm_forward(x, p[f"{name}.gamma"], p[f"{name}.beta"])
    return y, LayerNormBlockCache(name, cache)


def layernorm_block_backward(dy: np.ndarray, cache: LayerNormBlockCache,
                             grads: Params) -> np.ndarray:
    name = cache.name
    dx, grads[f"{name}.gamma"], grads[f"{name}.beta"] = layernorm_backward(dy, cache.norm)
    return dx


def dropout_block_forward(x: np.ndarray, ctx: Context):
    """Dropout with the context's rate and generator; the identity in eval mode."""
    return dropout_forward(x, ctx.dropout, ctx.rng, train=ctx.train)


dropout_block_backward = dropout_backward


# --------------------------------------------------------------------------- FFN

class FFNCache(NamedTuple):
    fc1: HRFLinearCache
    act: Any
    drop: Any
    fc2: HRFLinearCache
    activation: str


def ffn_forward(p: Params, name: str, x: np.ndarray, activation: str, ctx: Context):
    """FFN(x) = W2 drop(f(W1 x + b1)) + b2, with the HRF chain (if any) before W1."""
    act_fwd, _ = ACTIVATIONS[activation]
    h, c1 = hrf_linear_forward(p, f"{name}.fc1", x)       # (B, T, F)
    h, ca = act_fwd(h)
    h, cd = dropout_block_forward(h, ctx)
    y, c2 = hrf_linear_forward(p, f"{name}.fc2", h)       # (B, T, C)
    return y, FFNCache(c1, ca, cd, c2, activation)


def ffn_backward(dy: np.ndarray, cache: FFNCache, grads: Params) -> np.ndarray:
    _, act_bwd = ACTIVATIONS[cache.activation]
    dh = hrf_linear_backward(dy, cache.fc2, grads)        # y = W2 h + b2
    dh = dropout_block_backward(dh, cache.drop)
    dh = act_bwd(dh, cache.act)                           # h = f(W1 x + b1)
    return hrf_linear_backward(dh, cache.fc1, grads)


def init_ffn(p: Params, name: str, width: int, hidden: int, rng, dtype,
             hrf: HRFConfig | None) -> None:
    init_linear(p, f"{name}.fc1", width, hidden, rng, dtype, at_site(hrf, "ffn"))
    init_linear(p, f"{name}.fc2", hidden, width, rng, dtype)


# --------------------------------------------------------------------------- attention

def mha_block_forward(p: Params, name: str, x: np.ndarray, mask: np.ndarray | None,
                      heads: int, window: int | None = None):
    """Multi-head self-attention with optional HRF chains before Q/K/V and the output.

    ``name.qkv`` projects to [Q; K; V] (3C rows), ``name.out`` is the output projection.
    """
    qkv, cq = hrf_linear_forward(p, f"{name}.qkv", x)     # (B, T, 3C)
    ctx, ca = packed_attention_forward(qkv, heads, mask, window)   # (B, T, C)
    y, co = hrf_linear_forward(p, f"{name}.out", ctx)     # (B, T, C)
    return y, MHACache(cq, ca, co)


def mha_block_backward(dy: np.ndarray, cache: MHACache, grads: Params) -> np.ndarray:
    dctx = hrf_linear_backward(dy, cache.out, grads)      # y = W_o ctx + b_o
    dqkv = packed_attention_backward(dctx, cache.attn)    # ctx = attention(split(qkv))
    return hrf_linear_backward(dqkv, cache.qkv, grads)    # (B, T, C)


def init_mha(p: Params, name: str, width: int, rng, dtype, hrf: HRFConfig | None) -> None:
    init_linear(p, f"{name}.qkv", width, 3 * width, rng, dtype, at_site(hrf, "attn_in"))
    init_linear(p, f"{name}.out", width, width, rng, dtype, at_site(hrf, "attn_out"))


# --------------------------------------------------------------------------- front end

SUBSAMPLE_KERNEL, SUBSAMPLE_STRIDE, SUBSAMPLE_PAD = 3, 2, 1


class SubsampleCache(NamedTuple):
    name: str
    conv1: Any
    relu1: Any              # ReLU of the valid frames (padded frames zeroed in its y)
    conv2: Any
    relu2: Any


def init_subsample(p: Params, name: str, n_mels: int, width: int, rng, dtype) -> None:
    """Two Conv1d layers over time (kernel 3, stride 2, mel bins as channels): x4 fewer frames."""
    K = SUBSAMPLE_KERNEL
    for conv, n_in in ((f"{name}.conv1", n_mels), (f"{name}.conv2", width)):
        w = xavier_uniform(rng, width, n_in * K, np.float64).reshape(width, n_in, K)
        p[f"{conv}.w"] = w.astype(dtype)                   # (C, Cin, K)
        p[f"{conv}.b"] = np.zeros(width, dtype)


def _zero_padded(x: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    return x if mask is None else x * mask[..., None]


def _relu_zero_padded(x: np.ndarray, mask: np.ndarray | None):
    """(y, cache): y = max(x, 0) with padded frames zeroed, in one new array. The ReLU
    cache holds this y, so y > 0 only on valid frames with x > 0 and relu_backward
    alone gives dx = dy [x > 0] m (no separate masking of the gradient)."""
    y, cache = relu_forward(x)
    if mask is not None:
        y *= mask[..., None]                               # y is the cache's own array
    return y, cache


def subsample_forward(p: Params, name: str, x: np.ndarray, mask: np.ndarray | None):
    """((h, mask'), cache): conv-ReLU twice, padded frames zeroed before each conv.

    Zeroing makes a valid output frame see only valid frames and zeros, exactly as if
    its utterance were alone and unpadded.
    """
    K, s, pad = SUBSAMPLE_KERNEL, SUBSAMPLE_STRIDE, SUBSAMPLE_PAD
    x = _zero_padded(x, mask)
    h, c1 = conv1d_forward(x, p[f"{name}.conv1.w"], p[f"{name}.conv1.b"], s, pad)  # (B, T/2, C)
    m1 = conv1d_output_mask(mask, K, s, pad)
    h, r1 = _relu_zero_padded(h, m1)
    h, c2 = conv1d_forward(h, p[f"{name}.conv2.w"], p[f"{name}.conv2.b"], s, pad)  # (B, T/4, C)
    m2 = conv1d_output_mask(m1, K, s, pad)
    h, r2 = _relu_zero_padded(h, m2)
    return (h, m2), SubsampleCache(name, c1, r1, c2, r2)


def subsample_backward(dh: np.ndarray, cache: SubsampleCache, grads: Params) -> None:
    """Backward of :func:`subsample_forward` (the features get no gradient: None)."""
    name = cache.name
    dh = relu_backward(dh, cache.relu2)                    # h = relu(h) m2
    dh, grads[f"{name}.conv2.w"], grads[f"{name}.conv2.b"] = conv1d_backward(dh, cache.conv2)
    dh = relu_backward(dh, cache.relu1)                    # h = relu(h) m1
    # the features need no gradient: skip the costliest part of the backward
    _, grads[f"{name}.conv1.w"], grads[f"{name}.conv1.b"] = conv1d_backward(
        dh, cache.conv1, need_dx=False)


# --------------------------------------------------------------------------- pre-LN encoder layer

class PreLNLayerCache(NamedTuple):
    name: str
    norm1: Any
    attn: MHACache
    drop1: Any
    norm2: Any
    ffn: FFNCache
    drop2: Any


def init_preln_layer(p: Params, name: str, width: int, hidden: int, rng, dtype,
                     hrf: HRFConfig | None) -> None:
    init_layernorm(p, f"{name}.attn_norm", width, dtype)
    init_mha(p, f"{name}.attn", width, rng, dtype, hrf)
    init_layernorm(p, f"{name}.ffn_norm", width, dtype)
    init_ffn(p, f"{name}.ffn", width, hidden, rng, dtype, hrf)


def preln_layer_forward(p: Params, name: str, x: np.ndarray, mask: np.ndarray | None,
                        heads: int, activation: str, ctx: Context):
    """x = x + drop(MHA(LN(x))); y = x + drop(FFN(LN(x))), the HRF chain after the LN."""
    h, n1 = layernorm_block_forward(p, f"{name}.attn_norm", x)
    a, att = mha_block_forward(p, f"{name}.attn", h, mask, heads)
    a, d1 = dropout_block_forward(a, ctx)
    x = x + a                                              # (B, T, C)
    h, n2 = layernorm_block_forward(p, f"{name}.ffn_norm", x)
    f, ffn = ffn_forward(p, f"{name}.ffn", h, activation, ctx)
    f, d2 = dropout_block_forward(f, ctx)
    return x + f, PreLNLayerCache(name, n1, att, d1, n2, ffn, d2)


def preln_layer_backward(dy: np.ndarray, cache: PreLNLayerCache, grads: Params) -> np.ndarray:
    # y = x + drop(FFN(LN(x)))
    df = dropout_block_backward(dy, cache.drop2)
    dh = ffn_backward(df, cache.ffn, grads)
    dx = dy + layernorm_block_backward(dh, cache.norm2, grads)
    # x = x + drop(MHA(LN(x)))
    da = dropout_block_backward(dx, cache.drop1)
    dh = mha_block_backward(da, cache.attn, grads)
    return dx + layernorm_block_backward(dh, cache.norm1, grads)


def pool_forward(h: np.ndarray, mask: np.ndarray | None, pooling: str):
    """The utterance vector: masked mean (B, C) or statistics pooling (B, 2 C)."""
    if pooling == "stats":
        return masked_stats_forward(h, mask)
    return masked_mean_forward(h, mask)


def pool_backward(dy: np.ndarray, cache) -> np.ndarray:
    """Backward of :func:`pool_forward` (the cache tells which pooling ran)."""
    if isinstance(cache, MaskedStatsCache):
        return masked_stats_backward(dy, cache)
    return masked_mean_backward(dy, cache)
