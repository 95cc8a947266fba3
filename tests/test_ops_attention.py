"""Tests of pyreparam.ops.attention: split/merge heads, global and local attention, MHA.

Gradients: finite differences (tests/gradcheck.py) in float64 on hypothesis-drawn
shapes, windows and masks. Properties: band semantics against a dense reference,
invariance to padded frames, exact-zero gradients at padding, no NaN for queries with
no allowed key, float32 stays float32. Optional oracle: PyTorch autograd.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from gradcheck import check_gradients
from pyreparam.ops.attention import (attention_backward, attention_forward,
                                     merge_heads, mha_backward, mha_forward,
                                     split_heads)

WINDOWS = [None, 1, 3, 5, 9]


# ----------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------

@st.composite
def masks(draw, B, T, allow_none=True):
    """None, or a (B, T) tail-padding mask with 1 <= length <= T per sequence."""
    if allow_none and draw(st.booleans()):
        return None
    lengths = draw(st.lists(st.integers(1, T), min_size=B, max_size=B))
    return np.arange(T)[None, :] < np.array(lengths)[:, None]


@st.composite
def windows(draw, T):
    """None, a small odd window, or one larger than the sequence (2T + 1 or more)."""
    w = draw(st.sampled_from(WINDOWS + ["large"]))
    return 2 * T + 1 + 2 * draw(st.integers(0, 2)) if w == "large" else w


@st.composite
def attention_cases(draw, max_T=9):
    B = draw(st.integers(1, 3))
    H = draw(st.integers(1, 3))
    T = draw(st.integers(1, max_T))
    D = draw(st.integers(1, 4))
    return B, H, T, D, draw(masks(B, T)), draw(windows(T)), draw(st.integers(0, 2**32 - 1))


def qkv(rng, B, H, T, D, dtype=np.float64):
    return tuple(rng.standard_normal((B, H, T, D)).astype(dtype) for _ in range(3))


def mha_params(rng, C, bias=True, dtype=np.float64):
    w_qkv = (rng.standard_normal((3 * C, C)) / np.sqrt(C)).astype(dtype)
    w_o = (rng.standard_normal((C, C)) / np.sqrt(C)).astype(dtype)
    b_qkv = rng.standard_normal(3 * C).astype(dtype) if bias else None
    b_o = rng.standard_normal(C).astype(dtype) if bias else None
    return w_qkv, b_qkv, w_o, b_o


def allowed_dense(mask, B, T, window):
    """allowed[b, t, j]: query t may attend key j (dense (B, T, T) reference)."""
    t = np.arange(T)
    band = np.ones((T, T), bool) if window is None else \
        np.abs(t[None, :] - t[:, None]) <= window // 2                 # (T, T)
    valid = np.ones((B, T), bool) if mask is None else mask
    return band[None] & valid[:, None, :]                                # (B, T, T)


def dense_reference(q, k, v, allowed):
    """Plain dense attention with an explicit (B, T, T) allowed matrix (the oracle)."""
    D = q.shape[-1]
    S = q @ k.swapaxes(-1, -2) / np.sqrt(D)                              # (B, H, T, T)
    S = np.where(allowed[:, None], S, -np.inf)
    has_key = allowed.any(axis=-1)[:, None, :, None]                     # (B, 1, T, 1)
    S = np.where(has_key, S, 0.0)
    P = np.exp(S - S.max(axis=-1, keepdims=True))
    P = P / P.sum(axis=-1, keepdims=True)
    return np.where(has_key, P, 0.0) @ v


# ----------------------------------------------------------------------------------
# split_heads / merge_heads
# ----------------------------------------------------------------------------------

@given(B=st.integers(1, 3), T=st.integers(1, 6), H=st.integers(1, 4), D=st.integers(1, 4))
def test_split_merge_heads_roundtrip_and_layout(B, T, H, D):
    x = np.arange(B * T * H * D, dtype=np.float64).reshape(B, T, H * D)
    xs = split_heads(x, H)
    assert xs.shape == (B, H, T, D)
    assert np.shares_memory(xs, x)                       # a view, no copy
    b, h, t, d = B - 1, H - 1, T // 2, D // 2
    assert xs[b, h, t, d] == x[b, t, h * D + d]
    assert np.array_equal(merge_heads(xs), x)


def test_split_heads_rejects_non_divisible_width():
    with pytest.raises(ValueError):
        split_heads(np.zeros((1, 2, 6)), 4)


# ----------------------------------------------------------------------------------
# gradients (finite differences, float64)
# ----------------------------------------------------------------------------------

@given(attention_cases())
def test_attention_gradients(case):
    B, H, T, D, mask, window, seed = case
    rng = np.random.default_rng(seed)
    args = list(qkv(rng, B, H, T, D))
    check_gradients(lambda q, k, v: attention_forward(q, k, v, mask, window),
                    attention_backward, args, [0, 1, 2], rng=rng, n_samples=10)


@given(B=st.integers(1, 2), T=st.integers(1, 8), H=st.integers(1, 3),
       D=st.integers(1, 3), bias=st.booleans(), data=st.data(),
       seed=st.integers(0, 2**32 - 1))
def test_mha_gradients(B, T, H, D, bias, data, seed):
    rng = np.random.default_rng(seed)
    mask, window = data.draw(masks(B, T)), data.draw(windows(T))
    C = H * D
    x = rng.standard_normal((B, T, C))
    w_qkv, b_qkv, w_o, b_o = mha_params(rng, C, bias)
    wrt = [0, 1, 2, 3, 4] if bias else [0, 1, None, 3, None]
    check_gradients(lambda *a: mha_forward(*a, mask=mask, n_heads=H, window=window),
                    mha_backward, [x, w_qkv, b_qkv, w_o, b_o], wrt, rng=rng, n_samples=8)
    if not bias:
        _, cache = mha_forward(x, w_qkv, None, w_o, None, mask, H, window)
        grads = mha_backward(np.ones((B, T, C)), cache)
        assert grads[2] is None and grads[4] is None


# ----------------------------------------------------------------------------------
# band semantics
# ----------------------------------------------------------------------------------

@given(attention_cases(max_T=12))
def test_attention_equals_dense_reference_with_band_mask(case):
    B, H, T, D, mask, window, seed = case
    rng = np.random.default_rng(seed)
    q, k, v = qkv(rng, B, H, T, D)
    ctx, _ = attention_forward(q, k, v, mask, window)
    expected = dense_reference(q, k, v, allowed_dense(mask, B, T, window))
    np.testing.assert_allclose(ctx, expected, rtol=1e-12, atol=1e-12)


@given(attention_cases(max_T=10))
def test_probabilities_are_exactly_zero_outside_the_band(case):
    # With v[j] = e_j (D = T) the context row of query t is its probability row.
    B, H, T, _, mask, window, seed = case
    rng = np.random.default_rng(seed)
    q, k, _ = qkv(rng, B, H, T, T)
    v = np.broadcast_to(np.eye(T), (B, H, T, T)).copy()
    P, _ = attention_forward(q, k, v, mask, window)                      # (B, H, T, T)
    allowed = allowed_dense(mask, B, T, window)[:, None]                 # (B, 1, T, T)
    assert np.all(P[np.broadcast_to(~allowed, P.shape)] == 0)
    has_key = np.broadcast_to(allowed.any(axis=-1), P.shape[:-1])        # (B, H, T)
    np.testing.assert_allclose(P.sum(axis=-1)[has_key], 1.0, rtol=1e-12)
    assert np.all(P[~has_key] == 0)


@given(attention_cases(max_T=8))
def test_window_covering_everything_equals_global(case):
    B, H, T, D, mask, _, seed = case
    rng = np.random.default_rng(seed)
    q, k, v = qkv(rng, B, H, T, D)
    dctx = rng.standard_normal((B, H, T, D))
    ctx_g, cache_g = attention_forward(q, k, v, mask, None)
    ctx_l, cache_l = attention_forward(q, k, v, mask, 2 * T - 1)
    np.testing.assert_allclose(ctx_l, ctx_g, rtol=1e-12, atol=1e-13)
    for g_l, g_g in zip(attention_backward(dctx, cache_l), attention_backward(dctx, cache_g)):
        np.testing.assert_allclose(g_l, g_g, rtol=1e-11, atol=1e-12)


# ----------------------------------------------------------------------------------
# masking
# ----------------------------------------------------------------------------------

def padded_lengths_mask(draw, B, T):
    """A tail-padding mask with at least one padded frame (needs T >= 2)."""
    lengths = draw(st.lists(st.integers(1, T), min_size=B, max_size=B))
    lengths[draw(st.integers(0, B - 1))] = draw(st.integers(1, T - 1))
    return np.arange(T)[None, :] < np.array(lengths)[:, None]


@given(B=st.integers(1, 3), H=st.integers(1, 3), T=st.integers(2, 10), D=st.integers(1, 3),
       data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_attention_ignores_padded_keys_and_sends_them_no_gradient(B, H, T, D, data, seed):
    rng = np.random.default_rng(seed)
    mask, window = padded_lengths_mask(data.draw, B, T), data.draw(windows(T))
    q, k, v = qkv(rng, B, H, T, D)
    pad = ~mask[:, None, :, None]                                        # (B, 1, T, 1)
    k2 = np.where(pad, 1e3 * rng.standard_normal(k.shape), k)
    v2 = np.where(pad, 1e3 * rng.standard_normal(v.shape), v)
    ctx, cache = attention_forward(q, k, v, mask, window)
    ctx2, _ = attention_forward(q, k2, v2, mask, window)
    assert np.array_equal(ctx, ctx2)
    # cotangent zero at padded queries: nothing reaches any padded frame
    dctx = np.where(pad, 0.0, rng.standard_normal(ctx.shape))
    dq, dk, dv = attention_backward(dctx, cache)
    for grad in (dq, dk, dv):
        assert np.all(grad[np.broadcast_to(pad, grad.shape)] == 0)


@given(B=st.integers(1, 3), H=st.integers(1, 3), T=st.integers(2, 9), D=st.integers(1, 3),
       data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_mha_valid_outputs_ignore_padding_and_padding_gets_zero_gradient(B, H, T, D, data, seed):
    rng = np.random.default_rng(seed)
    mask, window = padded_lengths_mask(data.draw, B, T), data.draw(windows(T))
    C = H * D
    x = rng.standard_normal((B, T, C))
    params = mha_params(rng, C)
    x2 = np.where(mask[..., None], x, 1e3 * rng.standard_normal(x.shape))
    y, cache = mha_forward(x, *params, mask=mask, n_heads=H, window=window)
    y2, _ = mha_forward(x2, *params, mask=mask, n_heads=H, window=window)
    assert np.array_equal(y[mask], y2[mask])
    dy = np.where(mask[..., None], rng.standard_normal(y.shape), 0.0)
    dx = mha_backward(dy, cache)[0]
    assert np.all(dx[~mask] == 0)


def test_queries_without_any_allowed_key_give_zero_not_nan(rng):
    B, H, T, D = 3, 2, 12, 4
    q, k, v = qkv(rng, B, H, T, D)
    q *= 50.0                                              # large scores: no overflow either
    mask = np.ones((B, T), bool)
    mask[1, 1:] = False                                    # queries 3.. see no valid key with w=5
    mask[2, :] = False                                     # a fully padded sequence
    for window in (None, 1, 5):
        ctx, cache = attention_forward(q, k, v, mask, window)
        assert np.all(np.isfinite(ctx))
        assert np.all(ctx[2] == 0)
        if window == 5:
            assert np.all(ctx[1, :, 3:] == 0)
        grads = attention_backward(rng.standard_normal(ctx.shape), cache)
        assert all(np.all(np.isfinite(g)) for g in grads)
        assert all(np.all(g[2] == 0) for g in grads)


def test_mha_without_any_valid_key_is_finite(rng):
    B, T, H, D = 2, 6, 2, 3
    x = rng.standard_normal((B, T, H * D))
    params = mha_params(rng, H * D)
    mask = np.zeros((B, T), bool)
    for window in (None, 3):
        y, cache = mha_forward(x, *params, mask=mask, n_heads=H, window=window)
        np.testing.assert_array_equal(y, np.broadcast_to(params[3], y.shape))  # = b_o
        grads = mha_backward(rng.standard_normal(y.shape), cache)
        assert all(np.all(np.isfinite(g)) for g in grads)


# ----------------------------------------------------------------------------------
# dtype and argument checks
# ----------------------------------------------------------------------------------

@pytest.mark.parametrize("window", WINDOWS)
def test_float32_in_float32_out(rng, window):
    B, H, T, D = 2, 2, 7, 4
    mask = np.arange(T)[None, :] < np.array([[T], [3]])
    q, k, v = qkv(rng, B, H, T, D, np.float32)
    ctx, cache = attention_forward(q, k, v, mask, window)
    assert ctx.dtype == np.float32
    assert all(g.dtype == np.float32 for g in attention_backward(np.ones_like(ctx), cache))
    x = rng.standard_normal((B, T, H * D)).astype(np.float32)
    params = mha_params(rng, H * D, dtype=np.float32)
    y, cache = mha_forward(x, *params, mask=mask, n_heads=H, window=window)
    assert y.dtype == np.float32
    assert all(g.dtype == np.float32 for g in mha_backward(np.ones_like(y), cache))
    # and float32 agrees with float64 to float32 precision
    y64, _ = mha_forward(x.astype(np.float64), *(p.astype(np.float64) for p in params),
                         mask=mask, n_heads=H, window=window)
    np.testing.assert_allclose(y, y64, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("window", [0, 2, -1, 4, 3.5, True])
def test_bad_windows_are_rejected(rng, window):
    q, k, v = qkv(rng, 1, 1, 4, 2)
    with pytest.raises(ValueError):
        attention_forward(q, k, v, None, window)


# ----------------------------------------------------------------------------------
# optional oracle: PyTorch autograd
# ----------------------------------------------------------------------------------

def torch_mha_reference(torch, x, w_qkv, b_qkv, w_o, b_o, allowed, H):
    """Functional MHA in torch with an explicit (B, T, T) allowed matrix."""
    F = torch.nn.functional
    B, T, C = x.shape
    D = C // H
    qkv_ = F.linear(x, w_qkv, b_qkv)                                     # (B, T, 3C)
    q, k, v = (t.reshape(B, T, H, D).transpose(1, 2) for t in qkv_.split(C, dim=-1))
    has_key = allowed.any(dim=-1)                                        # (B, T)
    # rows with no allowed key: let them see everything, then zero their output
    allowed = allowed | ~has_key[..., None]
    S = (q @ k.transpose(-1, -2)) / D ** 0.5                             # (B, H, T, T)
    S = S.masked_fill(~allowed[:, None], float("-inf"))
    ctx = torch.softmax(S, dim=-1) @ v * has_key[:, None, :, None]
    return F.linear(ctx.transpose(1, 2).reshape(B, T, C), w_o, b_o)


@pytest.mark.parametrize("window", WINDOWS + [21])
def test_mha_matches_torch_autograd(rng, window):
    torch = pytest.importorskip("torch")
    B, T, H, D = 3, 10, 2, 4
    C = H * D
    mask = np.arange(T)[None, :] < np.array([[T], [6], [1]])
    x = rng.standard_normal((B, T, C))
    params = mha_params(rng, C)
    dy = rng.standard_normal((B, T, C))
    y, cache = mha_forward(x, *params, mask=mask, n_heads=H, window=window)
    grads = mha_backward(dy, cache)

    tx, *tparams = (torch.tensor(a, requires_grad=True) for a in (x, *params))
    allowed = torch.tensor(allowed_dense(mask, B, T, window))
    ty = torch_mha_reference(torch, tx, *tparams, allowed, H)
    ty.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    for g, t in zip(grads, (tx, *tparams)):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-9, atol=1e-11)


def test_mha_weight_layout_matches_torch_multihead_attention(rng):
    torch = pytest.importorskip("torch")
    B, T, H, C = 2, 7, 4, 8
    mask = np.arange(T)[None, :] < np.array([[T], [4]])
    x = rng.standard_normal((B, T, C))
    mha = torch.nn.MultiheadAttention(C, H, batch_first=True, dtype=torch.float64)
    params = [p.detach().numpy().copy() for p in (mha.in_proj_weight, mha.in_proj_bias,
                                                  mha.out_proj.weight, mha.out_proj.bias)]
    y, _ = mha_forward(x, *params, mask=mask, n_heads=H)
    tx = torch.tensor(x)
    ty, _ = mha(tx, tx, tx, key_padding_mask=torch.tensor(~mask), need_weights=False)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
