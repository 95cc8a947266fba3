"""Tests of pyreparam.ops.conv, .position and .pooling.

Gradients: finite differences (tests/gradcheck.py) in float64 on hypothesis-drawn
shapes, strides, paddings, kernels and masks. Oracles: direct-loop references in this
file, and PyTorch (optional). Masking properties: a padded batch gives, at every valid
output frame, what each sequence gives alone; padded frames get exactly zero gradient.
"""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

from gradcheck import check_gradients
from pyreparam.ops.conv import (conv1d_backward, conv1d_forward, conv1d_output_length,
                                conv1d_output_mask, depthwise_conv1d_backward,
                                depthwise_conv1d_forward)
from pyreparam.ops.pooling import (avgpool_merge_backward, avgpool_merge_forward,
                                   masked_mean_backward, masked_mean_forward,
                                   masked_stats_backward, masked_stats_forward)
from pyreparam.ops.position import (positional_encoding_backward,
                                    positional_encoding_forward, sinusoidal_table)

seeds = st.integers(0, 2**32 - 1)


@st.composite
def masks(draw, B, T, allow_none=True):
    """None, or a (B, T) tail-padding mask with 1 <= length <= T per sequence."""
    if allow_none and draw(st.booleans()):
        return None
    lengths = draw(st.lists(st.integers(1, T), min_size=B, max_size=B))
    return np.arange(T)[None, :] < np.array(lengths)[:, None]


@st.composite
def padded_masks(draw, B, T):
    """A tail-padding mask with at least one padded frame (needs T >= 2)."""
    lengths = draw(st.lists(st.integers(1, T), min_size=B, max_size=B))
    lengths[draw(st.integers(0, B - 1))] = draw(st.integers(1, T - 1))
    return np.arange(T)[None, :] < np.array(lengths)[:, None]


def garbage_at_padding(rng, x, mask):
    """x with the padded frames replaced by large random values."""
    return np.where(mask[..., None], x, 1e3 * rng.standard_normal(x.shape))


# ----------------------------------------------------------------------------------
# direct-loop references
# ----------------------------------------------------------------------------------

def conv1d_loops(x, w, b, stride, padding):
    B, T, Cin = x.shape
    Cout, _, K = w.shape
    xp = np.pad(x, ((0, 0), (padding, padding), (0, 0)))
    T_out = (T + 2 * padding - K) // stride + 1
    y = np.zeros((B, T_out, Cout))
    for j in range(T_out):
        for k in range(K):
            y[:, j] += xp[:, j * stride + k] @ w[:, :, k].T
    return y if b is None else y + b


def depthwise_loops(x, w, b, padding):
    B, T, C = x.shape
    K = w.shape[1]
    xp = np.pad(x, ((0, 0), (padding, padding), (0, 0)))
    T_out = T + 2 * padding - K + 1
    y = np.zeros((B, T_out, C))
    for t in range(T_out):
        for k in range(K):
            y[:, t] += xp[:, t + k] * w[:, k]
    return y if b is None else y + b


# ----------------------------------------------------------------------------------
# conv1d
# ----------------------------------------------------------------------------------

@st.composite
def conv_cases(draw, max_T=10):
    B = draw(st.integers(1, 3))
    T = draw(st.integers(1, max_T))
    Cin, Cout = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    K, stride, padding = draw(st.integers(1, 5)), draw(st.integers(1, 3)), draw(st.integers(0, 3))
    assume(T + 2 * padding >= K)
    return B, T, Cin, Cout, K, stride, padding, draw(st.booleans()), draw(seeds)


@given(conv_cases())
def test_conv1d_gradients(case):
    B, T, Cin, Cout, K, stride, padding, bias, seed = case
    rng = np.random.default_rng(seed)
    args = [rng.standard_normal((B, T, Cin)), rng.standard_normal((Cout, Cin, K)),
            rng.standard_normal(Cout) if bias else None]
    check_gradients(lambda x, w, b: conv1d_forward(x, w, b, stride, padding),
                    conv1d_backward, args, [0, 1, 2 if bias else None], rng=rng, n_samples=10)


@given(conv_cases())
def test_conv1d_matches_loops_and_output_length(case):
    B, T, Cin, Cout, K, stride, padding, bias, seed = case
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal((B, T, Cin)), rng.standard_normal((Cout, Cin, K))
    b = rng.standard_normal(Cout) if bias else None
    y, cache = conv1d_forward(x, w, b, stride, padding)
    np.testing.assert_allclose(y, conv1d_loops(x, w, b, stride, padding), rtol=1e-12, atol=1e-12)
    assert y.shape[1] == conv1d_output_length(T, K, stride, padding)
    assert (conv1d_backward(y, cache)[2] is None) == (not bias)


def test_conv1d_output_length_on_ints_and_arrays():
    assert conv1d_output_length(75, 3, 2, 1) == 38
    assert isinstance(conv1d_output_length(75, 3, 2, 1), int)
    assert conv1d_output_length(1, 5, 1, 0) == 0              # too short: no frame
    lengths = np.array([1, 2, 3, 4, 300])
    np.testing.assert_array_equal(conv1d_output_length(lengths, 3, 2, 1), [1, 1, 2, 2, 150])
    np.testing.assert_array_equal(conv1d_output_length(lengths, 3, 2, 0), [0, 0, 1, 1, 149])


@given(B=st.integers(1, 3), T=st.integers(2, 12), Cin=st.integers(1, 3), Cout=st.integers(1, 3),
       K=st.integers(1, 5), stride=st.integers(1, 3), padding=st.integers(0, 2),
       data=st.data(), seed=seeds)
def test_conv1d_padded_batch_equals_each_sequence_alone(B, T, Cin, Cout, K, stride, padding,
                                                        data, seed):
    """Zero the padded frames (as the models do), convolve: valid outputs are exactly
    what each sequence gives alone, and the output mask marks exactly them."""
    assume(T + 2 * padding >= K)
    rng = np.random.default_rng(seed)
    mask = data.draw(padded_masks(B, T))
    x = garbage_at_padding(rng, rng.standard_normal((B, T, Cin)), mask)
    w, b = rng.standard_normal((Cout, Cin, K)), rng.standard_normal(Cout)
    y, cache = conv1d_forward(np.where(mask[..., None], x, 0.0), w, b, stride, padding)
    y_mask = conv1d_output_mask(mask, K, stride, padding)
    assert y_mask.shape == y.shape[:2]
    for i, L in enumerate(mask.sum(axis=1)):
        L_out = conv1d_output_length(L, K, stride, padding)
        assert y_mask[i].sum() == L_out and np.all(y_mask[i, :L_out])
        if L_out > 0:
            alone, _ = conv1d_forward(x[i:i + 1, :L], w, b, stride, padding)
            np.testing.assert_allclose(y[i, :L_out], alone[0], rtol=1e-13, atol=1e-13)
    # cotangent zero at invalid outputs: the raw input gradient is zero from L + padding
    # on (nothing valid reads there), and after the zeroing step zero at all padding
    dy = np.where(y_mask[..., None], rng.standard_normal(y.shape), 0.0)
    dx = conv1d_backward(dy, cache)[0]
    beyond = np.arange(T)[None, :] >= mask.sum(axis=1, keepdims=True) + padding
    assert np.all(dx[beyond] == 0)
    assert np.all(np.where(mask[..., None], dx, 0.0)[~mask] == 0)


def test_conv1d_output_mask_passes_none_through():
    assert conv1d_output_mask(None, 3, 2, 1) is None


def test_conv1d_rejects_too_short_inputs(rng):
    with pytest.raises(ValueError):
        conv1d_forward(rng.standard_normal((1, 2, 3)), rng.standard_normal((4, 3, 5)), None)


# ----------------------------------------------------------------------------------
# depthwise conv1d
# ----------------------------------------------------------------------------------

@st.composite
def depthwise_cases(draw, max_T=10):
    B, T, C = draw(st.integers(1, 3)), draw(st.integers(1, max_T)), draw(st.integers(1, 4))
    K, padding = draw(st.integers(1, 7)), draw(st.integers(0, 4))
    assume(T + 2 * padding >= K)
    return B, T, C, K, padding, draw(st.booleans()), draw(seeds)


@given(depthwise_cases())
def test_depthwise_gradients(case):
    B, T, C, K, padding, bias, seed = case
    rng = np.random.default_rng(seed)
    args = [rng.standard_normal((B, T, C)), rng.standard_normal((C, K)),
            rng.standard_normal(C) if bias else None]
    check_gradients(lambda x, w, b: depthwise_conv1d_forward(x, w, b, padding),
                    depthwise_conv1d_backward, args, [0, 1, 2 if bias else None],
                    rng=rng, n_samples=10)


@given(depthwise_cases())
def test_depthwise_matches_loops(case):
    B, T, C, K, padding, bias, seed = case
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal((B, T, C)), rng.standard_normal((C, K))
    b = rng.standard_normal(C) if bias else None
    y, cache = depthwise_conv1d_forward(x, w, b, padding)
    np.testing.assert_allclose(y, depthwise_loops(x, w, b, padding), rtol=1e-12, atol=1e-12)
    assert (depthwise_conv1d_backward(y, cache)[2] is None) == (not bias)


@given(B=st.integers(1, 3), T=st.integers(2, 12), C=st.integers(1, 3),
       K=st.sampled_from([1, 3, 5, 15]), data=st.data(), seed=seeds)
def test_depthwise_same_padding_padded_batch_equals_each_sequence_alone(B, T, C, K, data, seed):
    rng = np.random.default_rng(seed)
    padding = (K - 1) // 2                                 # the Conformer's "same" padding
    mask = data.draw(padded_masks(B, T))
    x = garbage_at_padding(rng, rng.standard_normal((B, T, C)), mask)
    w, b = rng.standard_normal((C, K)), rng.standard_normal(C)
    y, cache = depthwise_conv1d_forward(np.where(mask[..., None], x, 0.0), w, b, padding)
    assert y.shape == x.shape
    np.testing.assert_array_equal(conv1d_output_mask(mask, K, 1, padding), mask)
    for i, L in enumerate(mask.sum(axis=1)):
        alone, _ = depthwise_conv1d_forward(x[i:i + 1, :L], w, b, padding)
        np.testing.assert_allclose(y[i, :L], alone[0], rtol=1e-13, atol=1e-13)
    dy = np.where(mask[..., None], rng.standard_normal(y.shape), 0.0)
    dx = depthwise_conv1d_backward(dy, cache)[0]
    beyond = np.arange(T)[None, :] >= mask.sum(axis=1, keepdims=True) + padding
    assert np.all(dx[beyond] == 0)
    assert np.all(np.where(mask[..., None], dx, 0.0)[~mask] == 0)


# ----------------------------------------------------------------------------------
# conv dtypes and the torch oracle
# ----------------------------------------------------------------------------------

def test_convs_keep_float32(rng):
    x = rng.standard_normal((2, 9, 3)).astype(np.float32)
    w, b = rng.standard_normal((4, 3, 3)).astype(np.float32), np.ones(4, np.float32)
    y, cache = conv1d_forward(x, w, b, stride=2, padding=1)
    assert y.dtype == np.float32
    assert all(g.dtype == np.float32 for g in conv1d_backward(np.ones_like(y), cache))
    wd, bd = rng.standard_normal((3, 5)).astype(np.float32), np.ones(3, np.float32)
    y, cache = depthwise_conv1d_forward(x, wd, bd, padding=2)
    assert y.dtype == np.float32
    assert all(g.dtype == np.float32 for g in depthwise_conv1d_backward(np.ones_like(y), cache))


def torch_conv_check(torch, rng, ours_fwd, ours_bwd, x, w, b, torch_w, **conv_kwargs):
    """Compare y and (dx, dw, db) with torch.nn.functional.conv1d (float64)."""
    y, cache = ours_fwd(x, w, b)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = ours_bwd(dy, cache)
    tx = torch.tensor(x.transpose(0, 2, 1).copy(), requires_grad=True)      # (B, Cin, T)
    tw = torch.tensor(torch_w(w), requires_grad=True)
    tb = torch.tensor(b, requires_grad=True)
    ty = torch.nn.functional.conv1d(tx, tw, tb, **conv_kwargs)             # (B, Cout, T')
    ty.backward(torch.tensor(dy.transpose(0, 2, 1).copy()))
    np.testing.assert_allclose(y, ty.detach().numpy().transpose(0, 2, 1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, tx.grad.numpy().transpose(0, 2, 1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dw, tw.grad.numpy().reshape(dw.shape), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(db, tb.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("K, stride, padding", [(3, 2, 1), (3, 2, 0), (5, 1, 2), (1, 1, 0),
                                                (4, 3, 3)])
def test_conv1d_matches_torch(rng, K, stride, padding):
    torch = pytest.importorskip("torch")
    x, w, b = rng.standard_normal((3, 17, 5)), rng.standard_normal((6, 5, K)), rng.standard_normal(6)
    torch_conv_check(torch, rng,
                     lambda x, w, b: conv1d_forward(x, w, b, stride, padding), conv1d_backward,
                     x, w, b, lambda w: w, stride=stride, padding=padding)


@pytest.mark.parametrize("K, padding", [(15, 7), (3, 1), (4, 0), (1, 2)])
def test_depthwise_matches_torch_grouped_conv(rng, K, padding):
    torch = pytest.importorskip("torch")
    C = 6
    x, w, b = rng.standard_normal((3, 20, C)), rng.standard_normal((C, K)), rng.standard_normal(C)
    torch_conv_check(torch, rng,
                     lambda x, w, b: depthwise_conv1d_forward(x, w, b, padding),
                     depthwise_conv1d_backward,
                     x, w, b, lambda w: w[:, None, :], padding=padding, groups=C)


# ----------------------------------------------------------------------------------
# positional encoding
# ----------------------------------------------------------------------------------

@pytest.mark.parametrize("T, C", [(1, 1), (5, 4), (7, 5), (50, 64)])
def test_sinusoidal_table_formula(T, C):
    pe = sinusoidal_table(T, C, dtype=np.float64)
    assert pe.shape == (T, C) and not pe.flags.writeable
    for t in range(T):
        for c in range(C):
            angle = t / 10000 ** ((c - c % 2) / C)
            assert pe[t, c] == pytest.approx(np.sin(angle) if c % 2 == 0 else np.cos(angle),
                                             rel=1e-13, abs=1e-13)
    pe32 = sinusoidal_table(T, C)
    assert pe32.dtype == np.float32
    np.testing.assert_array_equal(pe32, pe.astype(np.float32))


@given(B=st.integers(1, 3), T=st.integers(1, 20), C=st.integers(1, 9), seed=seeds)
def test_positional_encoding_forward_and_gradient(B, T, C, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, C))
    y, cache = positional_encoding_forward(x)
    np.testing.assert_array_equal(y, x + sinusoidal_table(T, C, np.float64)[None])
    check_gradients(positional_encoding_forward, positional_encoding_backward, [x], [0],
                    rng=rng)
    dy = rng.standard_normal(y.shape)
    assert positional_encoding_backward(dy, cache) is dy


def test_positional_encoding_keeps_float32(rng):
    x = rng.standard_normal((2, 6, 5)).astype(np.float32)
    y, cache = positional_encoding_forward(x)
    assert y.dtype == np.float32
    assert positional_encoding_backward(np.ones_like(y), cache).dtype == np.float32


# ----------------------------------------------------------------------------------
# SpeechFormer merge (group average) and masked mean
# ----------------------------------------------------------------------------------

def avgpool_loops(x, mask, g):
    B, T, C = x.shape
    T_out = -(-T // g)
    y, y_mask = np.zeros((B, T_out, C)), np.zeros((B, T_out), bool)
    for b in range(B):
        for j in range(T_out):
            frames = [t for t in range(j * g, min(j * g + g, T)) if mask is None or mask[b, t]]
            if frames:
                y[b, j] = x[b, frames].mean(axis=0)
                y_mask[b, j] = True
    return y, y_mask


@given(B=st.integers(1, 3), T=st.integers(1, 13), C=st.integers(1, 4), g=st.integers(1, 6),
       data=st.data(), seed=seeds)
def test_avgpool_merge_against_loops_and_gradients(B, T, C, g, data, seed):
    rng = np.random.default_rng(seed)
    mask = data.draw(masks(B, T))
    x = rng.standard_normal((B, T, C))
    (y, y_mask), _ = avgpool_merge_forward(x, mask, g)
    y_ref, y_mask_ref = avgpool_loops(x, mask, g)
    np.testing.assert_allclose(y, y_ref, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(y_mask, y_mask_ref)
    assert np.all(y[~y_mask] == 0)
    check_gradients(lambda x: avgpool_merge_forward(x, mask, g), avgpool_merge_backward,
                    [x], [0], rng=rng, select=lambda out: out[0])


@given(B=st.integers(1, 3), T=st.integers(2, 13), C=st.integers(1, 4), g=st.integers(1, 6),
       data=st.data(), seed=seeds)
def test_avgpool_merge_ignores_padding_and_sends_it_no_gradient(B, T, C, g, data, seed):
    rng = np.random.default_rng(seed)
    mask = data.draw(padded_masks(B, T))
    x = rng.standard_normal((B, T, C))
    x_bad = np.where(mask[..., None], x, np.inf)           # even inf at padding cannot leak
    x_bad[~mask & (np.arange(T) % 2 == 0)] = np.nan
    (y, y_mask), cache = avgpool_merge_forward(x, mask, g)
    (y2, y_mask2), _ = avgpool_merge_forward(x_bad, mask, g)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(y_mask, y_mask2)
    # group j has a valid frame iff its first frame j g is valid (padding is a tail)
    np.testing.assert_array_equal(y_mask, np.arange(y.shape[1]) * g < mask.sum(axis=1)[:, None])
    dy = np.where(y_mask[..., None], rng.standard_normal(y.shape), 0.0)
    dx = avgpool_merge_backward(dy, cache)
    assert dx.shape == x.shape and np.all(dx[~mask] == 0)


@given(B=st.integers(1, 3), T=st.integers(1, 13), C=st.integers(1, 4), data=st.data(),
       seed=seeds)
def test_masked_mean_against_loops_and_gradients(B, T, C, data, seed):
    rng = np.random.default_rng(seed)
    mask = data.draw(masks(B, T))
    x = rng.standard_normal((B, T, C))
    y, _ = masked_mean_forward(x, mask)
    valid = np.ones((B, T), bool) if mask is None else mask
    y_ref = np.stack([x[b, valid[b]].mean(axis=0) for b in range(B)])
    np.testing.assert_allclose(y, y_ref, rtol=1e-13, atol=1e-15)
    check_gradients(lambda x: masked_mean_forward(x, mask), masked_mean_backward, [x], [0],
                    rng=rng)


@given(B=st.integers(1, 3), T=st.integers(2, 13), C=st.integers(1, 4), data=st.data(),
       seed=seeds)
def test_masked_mean_ignores_padding_and_sends_it_no_gradient(B, T, C, data, seed):
    rng = np.random.default_rng(seed)
    mask = data.draw(padded_masks(B, T))
    x = rng.standard_normal((B, T, C))
    y, cache = masked_mean_forward(x, mask)
    y2, _ = masked_mean_forward(np.where(mask[..., None], x, np.nan), mask)
    np.testing.assert_array_equal(y, y2)
    dx = masked_mean_backward(rng.standard_normal(y.shape), cache)
    assert dx.shape == x.shape and np.all(dx[~mask] == 0)


@given(B=st.integers(1, 3), T=st.integers(1, 13), C=st.integers(1, 4), data=st.data(),
       seed=seeds)
def test_masked_stats_against_loops_and_gradients(B, T, C, data, seed):
    rng = np.random.default_rng(seed)
    mask = data.draw(masks(B, T))
    x = rng.standard_normal((B, T, C))
    y, _ = masked_stats_forward(x, mask)
    valid = np.ones((B, T), bool) if mask is None else mask
    mean = np.stack([x[b, valid[b]].mean(axis=0) for b in range(B)])
    std = np.stack([np.sqrt(x[b, valid[b]].var(axis=0) + 1e-5) for b in range(B)])
    np.testing.assert_allclose(y, np.concatenate([mean, std], axis=1), rtol=1e-12,
                               atol=1e-14)
    check_gradients(lambda x: masked_stats_forward(x, mask), masked_stats_backward, [x],
                    [0], rng=rng)


@given(B=st.integers(1, 3), T=st.integers(2, 13), C=st.integers(1, 4), data=st.data(),
       seed=seeds)
def test_masked_stats_ignores_padding_and_sends_it_no_gradient(B, T, C, data, seed):
    rng = np.random.default_rng(seed)
    mask = data.draw(padded_masks(B, T))
    x = rng.standard_normal((B, T, C))
    y, cache = masked_stats_forward(x, mask)
    y2, _ = masked_stats_forward(np.where(mask[..., None], x, np.nan), mask)
    np.testing.assert_array_equal(y, y2)
    dx = masked_stats_backward(rng.standard_normal(y.shape), cache)
    assert dx.shape == x.shape and np.all(dx[~mask] == 0)


def test_masked_stats_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 9, 3))
    mask = np.arange(9)[None, :] < np.array([[9], [5]])
    y, cache = masked_stats_forward(x, mask)
    g = rng.standard_normal(y.shape)
    xt = torch.tensor(x, requires_grad=True)
    m = torch.tensor(mask, dtype=torch.float64)[..., None]
    n = m.sum(dim=1)
    mean = (xt * m).sum(dim=1) / n
    std = torch.sqrt((((xt - mean[:, None]) * m) ** 2).sum(dim=1) / n + 1e-5)
    yt = torch.cat([mean, std], dim=1)
    (yt * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(masked_stats_backward(g, cache), xt.grad.numpy(), rtol=1e-10,
                               atol=1e-12)


def test_pooling_keeps_float32(rng):
    x = rng.standard_normal((2, 11, 3)).astype(np.float32)
    mask = np.arange(11)[None, :] < np.array([[11], [4]])
    (y, _), cache = avgpool_merge_forward(x, mask, 5)
    assert y.dtype == np.float32
    assert avgpool_merge_backward(np.ones_like(y), cache).dtype == np.float32
    y, cache = masked_mean_forward(x, mask)
    assert y.dtype == np.float32
    assert masked_mean_backward(np.ones_like(y), cache).dtype == np.float32
    y, cache = masked_stats_forward(x, mask)
    assert y.dtype == np.float32
    assert masked_stats_backward(np.ones_like(y), cache).dtype == np.float32
