"""Tests for the dense ops: linear, LayerNorm, masked BatchNorm, dropout, activations,
GLU and softmax (pyreparam/ops/{linear,norm,dropout,activations}.py).

Every differentiable input is checked against central finite differences
(tests/gradcheck.py) in float64 on hypothesis-drawn shapes that include size-1 dims;
float32 in gives float32 out; PyTorch autograd is the optional independent oracle.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import erf

from gradcheck import check_gradients
from pyreparam.ops.activations import (gelu_backward, gelu_forward, glu_backward,
                                       glu_forward, relu_backward, relu_forward,
                                       sigmoid_backward, sigmoid_forward, softmax_backward,
                                       softmax_forward, swish_backward, swish_forward)
from pyreparam.ops.dropout import dropout_backward, dropout_forward
from pyreparam.ops.linear import linear_backward, linear_forward
from pyreparam.ops.norm import (batchnorm_backward, batchnorm_forward,
                                batchnorm_update_running, layernorm_backward,
                                layernorm_forward)

seeds = st.integers(0, 2**32 - 1)
dims = st.integers(1, 4)
lead_shapes = st.lists(dims, min_size=0, max_size=3).map(tuple)

# LayerNorm/BatchNorm are smooth on the scale sqrt(var + eps); the finite-difference
# step 1e-5 must be small against it, so the drawn-shape checks use eps = 1e-2 (two
# nearly equal values in a row could otherwise make the truncation error exceed rtol).
NORM_EPS = 1e-2


def _padding_mask(lengths, T):
    """(B, T) bool, True on the first lengths[b] frames of row b."""
    return np.arange(T)[None, :] < np.asarray(lengths)[:, None]


@st.composite
def padded_batches(draw, min_valid=1):
    """(B, T, C, mask) with tails padded, some rows possibly fully padded."""
    B, T, C = draw(dims), draw(st.integers(1, 5)), draw(dims)
    lengths = draw(st.lists(st.integers(0, T), min_size=B, max_size=B)
                   .filter(lambda ls: sum(ls) >= min_valid))
    return B, T, C, _padding_mask(lengths, T)


# ----------------------------------------------------------------------------- linear

@given(lead=lead_shapes, cin=dims, cout=dims, bias=st.booleans(), seed=seeds)
def test_linear_gradients(lead, cin, cout, bias, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((*lead, cin))
    w = rng.standard_normal((cout, cin))
    b = rng.standard_normal(cout) if bias else None
    wrt = [0, 1, 2 if bias else None]
    check_gradients(linear_forward, linear_backward, [x, w, b], wrt, rng=rng)


def test_linear_matches_definition(rng):
    x = rng.standard_normal((2, 3, 5))
    w = rng.standard_normal((4, 5))
    b = rng.standard_normal(4)
    y, _ = linear_forward(x, w, b)
    assert y.shape == (2, 3, 4)
    expected = np.einsum("btc,oc->bto", x, w) + b
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    _, _, db = linear_backward(np.ones_like(y), linear_forward(x, w, None)[1])
    assert db is None


def test_linear_float32(rng):
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    w = rng.standard_normal((6, 5)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    y, cache = linear_forward(x, w, b)
    grads = linear_backward(np.ones_like(y), cache)
    assert y.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads)


# -------------------------------------------------------------------------- LayerNorm

@given(lead=lead_shapes, C=st.integers(1, 6), seed=seeds)
def test_layernorm_gradients(lead, C, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((*lead, C)) * 2 + 0.5
    gamma = rng.standard_normal(C)
    beta = rng.standard_normal(C)
    check_gradients(lambda x, g, b: layernorm_forward(x, g, b, eps=NORM_EPS),
                    layernorm_backward, [x, gamma, beta], [0, 1, 2], rng=rng)


def test_layernorm_default_eps_gradients(rng):
    x = rng.standard_normal((2, 3, 8))
    gamma = rng.standard_normal(8)
    beta = rng.standard_normal(8)
    check_gradients(layernorm_forward, layernorm_backward, [x, gamma, beta], [0, 1, 2],
                    rng=rng, n_samples=24)


def test_layernorm_normalizes(rng):
    x = rng.standard_normal((4, 16)) * 3 + 2
    y, _ = layernorm_forward(x, np.ones(16), np.zeros(16))
    np.testing.assert_allclose(y.mean(axis=-1), 0, atol=1e-12)
    # biased variance of xhat is var / (var + eps), just under 1
    var = x.var(axis=-1)
    np.testing.assert_allclose(y.var(axis=-1), var / (var + 1e-5), rtol=1e-12)


def test_layernorm_float32(rng):
    x = rng.standard_normal((3, 4, 8)).astype(np.float32)
    gamma = np.ones(8, np.float32)
    beta = np.zeros(8, np.float32)
    y, cache = layernorm_forward(x, gamma, beta)
    grads = layernorm_backward(np.ones_like(y), cache)
    assert y.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads)


# -------------------------------------------------------------------------- BatchNorm

def _bn_args(rng, B, T, C):
    x = rng.standard_normal((B, T, C)) * 1.5 + 0.3
    gamma = rng.standard_normal(C)
    beta = rng.standard_normal(C)
    running_mean = rng.standard_normal(C)
    running_var = rng.uniform(0.5, 2.0, C)
    return x, gamma, beta, running_mean, running_var


@given(batch=padded_batches(), seed=seeds)
def test_batchnorm_train_gradients_masked(batch, seed):
    B, T, C, mask = batch
    rng = np.random.default_rng(seed)
    x, gamma, beta, rm, rv = _bn_args(rng, B, T, C)

    def forward(x, gamma, beta):
        return batchnorm_forward(x, gamma, beta, rm, rv, mask, train=True, eps=NORM_EPS)
    # random cotangent on padded frames too: the backward must ignore it there
    check_gradients(forward, batchnorm_backward, [x, gamma, beta], [0, 1, 2], rng=rng)


@given(B=dims, T=dims, C=dims, seed=seeds)
def test_batchnorm_train_gradients_unmasked(B, T, C, seed):
    rng = np.random.default_rng(seed)
    x, gamma, beta, rm, rv = _bn_args(rng, B, T, C)

    def forward(x, gamma, beta):
        return batchnorm_forward(x, gamma, beta, rm, rv, None, train=True, eps=NORM_EPS)
    check_gradients(forward, batchnorm_backward, [x, gamma, beta], [0, 1, 2], rng=rng)


@given(batch=padded_batches(min_valid=0), seed=seeds)
def test_batchnorm_eval_gradients_masked(batch, seed):
    B, T, C, mask = batch
    rng = np.random.default_rng(seed)
    x, gamma, beta, rm, rv = _bn_args(rng, B, T, C)

    def forward(x, gamma, beta):
        return batchnorm_forward(x, gamma, beta, rm, rv, mask, train=False)
    check_gradients(forward, batchnorm_backward, [x, gamma, beta], [0, 1, 2], rng=rng)


def test_batchnorm_default_eps_gradients(rng):
    mask = _padding_mask([5, 2, 0], 5)
    x, gamma, beta, rm, rv = _bn_args(rng, 3, 5, 4)

    def forward(x, gamma, beta):
        return batchnorm_forward(x, gamma, beta, rm, rv, mask, train=True)
    check_gradients(forward, batchnorm_backward, [x, gamma, beta], [0, 1, 2], rng=rng,
                    n_samples=30)


@pytest.mark.parametrize("train", [True, False])
@given(batch=padded_batches(), seed=seeds)
def test_batchnorm_padding_is_inert(train, batch, seed):
    """Valid outputs ignore padded contents (bit for bit); padded frames output 0 and
    receive exactly 0 gradient."""
    B, T, C, mask = batch
    rng = np.random.default_rng(seed)
    x, gamma, beta, rm, rv = _bn_args(rng, B, T, C)
    y, cache = batchnorm_forward(x, gamma, beta, rm, rv, mask, train=train)
    x2 = x.copy()
    x2[~mask] = rng.standard_normal(x2[~mask].shape) * 1e3
    b_pad, t_pad = np.nonzero(~mask)
    if b_pad.size:                                # non-finite padding must not leak either
        x2[b_pad[0], t_pad[0], 0] = np.inf
        x2[b_pad[-1], t_pad[-1], -1] = np.nan
    y2, cache2 = batchnorm_forward(x2, gamma, beta, rm, rv, mask, train=train)
    np.testing.assert_array_equal(y2[mask], y[mask])
    assert np.all(y[~mask] == 0) and np.all(y2[~mask] == 0)
    dy = rng.standard_normal(y.shape)
    dx, dgamma, dbeta = batchnorm_backward(dy, cache)
    dx2, dgamma2, dbeta2 = batchnorm_backward(dy, cache2)
    assert np.all(dx[~mask] == 0)
    np.testing.assert_array_equal(dx2, dx)
    np.testing.assert_array_equal(dgamma2, dgamma)
    np.testing.assert_array_equal(dbeta2, dbeta)


def test_batchnorm_statistics_and_running_update(rng):
    mask = _padding_mask([4, 1, 0, 3], 4)
    x, gamma, beta, rm, rv = _bn_args(rng, 4, 4, 3)
    y, cache = batchnorm_forward(x, gamma, beta, rm, rv, mask, train=True)
    valid = x[mask]                                            # (n, C)
    assert cache.count == 8
    np.testing.assert_allclose(cache.mean, valid.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(cache.var, valid.var(axis=0), rtol=1e-12)
    new_mean, new_var = batchnorm_update_running(rm, rv, cache, momentum=0.2)
    np.testing.assert_allclose(new_mean, 0.8 * rm + 0.2 * valid.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(new_var, 0.8 * rv + 0.2 * valid.var(axis=0, ddof=1),
                               rtol=1e-12)
    assert new_mean is not rm and new_var is not rv


def test_batchnorm_eval_uses_running_statistics(rng):
    x, gamma, beta, rm, rv = _bn_args(rng, 2, 3, 4)
    y, _ = batchnorm_forward(x, gamma, beta, rm, rv, None, train=False)
    np.testing.assert_allclose(y, (x - rm) / np.sqrt(rv + 1e-5) * gamma + beta, rtol=1e-12)


def test_batchnorm_rejects_degenerate_batches(rng):
    x, gamma, beta, rm, rv = _bn_args(rng, 2, 3, 4)
    with pytest.raises(ValueError):
        batchnorm_forward(x, gamma, beta, rm, rv, np.zeros((2, 3), bool), train=True)
    _, cache = batchnorm_forward(x, gamma, beta, rm, rv, _padding_mask([1, 0], 3), train=True)
    with pytest.raises(ValueError):
        batchnorm_update_running(rm, rv, cache)
    _, cache = batchnorm_forward(x, gamma, beta, rm, rv, None, train=False)
    with pytest.raises(ValueError):
        batchnorm_update_running(rm, rv, cache)


@pytest.mark.parametrize("train", [True, False])
def test_batchnorm_float32(rng, train):
    mask = _padding_mask([3, 1], 3)
    x, gamma, beta, rm, rv = (a.astype(np.float32) for a in _bn_args(rng, 2, 3, 4))
    y, cache = batchnorm_forward(x, gamma, beta, rm, rv, mask, train=train)
    grads = batchnorm_backward(np.ones_like(y), cache)
    assert y.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads)
    if train:
        new = batchnorm_update_running(rm, rv, cache)
        assert all(a.dtype == np.float32 for a in new)


# ---------------------------------------------------------------------------- dropout

@given(shape=lead_shapes, p=st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]),
       train=st.booleans(), seed=seeds)
def test_dropout_gradients(shape, p, train, seed):
    rng = np.random.default_rng(seed)
    x = np.asarray(rng.standard_normal(shape))      # a 0-d array when shape is ()

    def forward(x):
        # a fresh generator with the same seed on every call: the same mask each time
        return dropout_forward(x, p, np.random.default_rng(seed + 1), train=train)
    check_gradients(forward, dropout_backward, [x], [0], rng=rng)


def test_dropout_mask_and_scale(rng):
    x = rng.standard_normal((200, 100)) + 5.0        # never 0
    y, cache = dropout_forward(x, 0.3, np.random.default_rng(7))
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / 0.7, rtol=1e-15)
    assert abs(kept.mean() - 0.7) < 0.02             # 20000 draws: std 0.003
    np.testing.assert_array_equal(dropout_backward(np.ones_like(x), cache), kept / 0.7)


def test_dropout_identity_and_extremes(rng):
    x = rng.standard_normal((3, 4))
    gen = np.random.default_rng(0)
    y, cache = dropout_forward(x, 0.5, gen, train=False)
    assert y is x and dropout_backward(x, cache) is x
    y, _ = dropout_forward(x, 0.0, gen)
    assert y is x
    assert gen.random() == np.random.default_rng(0).random()   # nothing was drawn
    y, cache = dropout_forward(x, 1.0, gen)
    assert np.all(y == 0) and np.all(dropout_backward(x, cache) == 0)
    with pytest.raises(ValueError):
        dropout_forward(x, 1.5, gen)


def test_dropout_float32_same_mask(rng):
    x = rng.standard_normal((5, 6)) + 5.0
    y64, _ = dropout_forward(x, 0.4, np.random.default_rng(3))
    y32, cache = dropout_forward(x.astype(np.float32), 0.4, np.random.default_rng(3))
    assert y32.dtype == np.float32
    assert dropout_backward(np.ones_like(y32), cache).dtype == np.float32
    np.testing.assert_array_equal(y32 != 0, y64 != 0)


# ------------------------------------------------------------------------ activations

ELEMENTWISE = {
    "gelu": (gelu_forward, gelu_backward),
    "swish": (swish_forward, swish_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@given(shape=lead_shapes, seed=seeds)
def test_elementwise_gradients(name, shape, seed):
    forward, backward = ELEMENTWISE[name]
    rng = np.random.default_rng(seed)
    x = np.asarray(rng.standard_normal(shape) * 3)  # a 0-d array when shape is ()
    check_gradients(forward, backward, [x], [0], rng=rng)


@given(shape=lead_shapes, seed=seeds)
def test_relu_gradients(shape, seed):
    rng = np.random.default_rng(seed)
    x = np.asarray(rng.standard_normal(shape))     # a 0-d array when shape is ()
    x += np.where(x >= 0, 1e-3, -1e-3)           # keep away from the kink at 0
    check_gradients(relu_forward, relu_backward, [x], [0], rng=rng)


@given(lead=lead_shapes, half=dims, axis_from_end=st.booleans(), seed=seeds)
def test_glu_gradients(lead, half, axis_from_end, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((*lead, 2 * half)) * 2
    axis = -1 if axis_from_end else len(lead)     # the same axis, named both ways
    check_gradients(lambda x: glu_forward(x, axis), glu_backward, [x], [0], rng=rng)


def test_glu_definition(rng):
    x = rng.standard_normal((2, 3, 8))
    y, _ = glu_forward(x)
    assert y.shape == (2, 3, 4)
    np.testing.assert_allclose(y, x[..., :4] / (1 + np.exp(-x[..., 4:])), rtol=1e-12)
    with pytest.raises(ValueError):
        glu_forward(x, axis=1)


@given(shape=st.lists(dims, min_size=1, max_size=3).map(tuple), seed=seeds, data=st.data())
def test_softmax_gradients(shape, seed, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 3
    check_gradients(lambda x: softmax_forward(x, axis), softmax_backward, [x], [0], rng=rng)


def test_softmax_is_stable_and_normalized(rng):
    x = rng.standard_normal((4, 7)) * 3
    y, _ = softmax_forward(x)
    np.testing.assert_allclose(y.sum(axis=-1), 1, rtol=1e-14)
    with np.errstate(over="raise", invalid="raise"):
        y_shift, _ = softmax_forward(x + 1e4)
    np.testing.assert_allclose(y_shift, y, rtol=1e-9)
    y0, _ = softmax_forward(x, axis=0)
    np.testing.assert_allclose(y0.sum(axis=0), 1, rtol=1e-14)


def test_sigmoid_swish_stable_for_large_inputs():
    x = np.array([-1e4, -800.0, -40.0, 0.0, 40.0, 800.0, 1e4])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow is fine
        s, _ = sigmoid_forward(x)
        y, _ = swish_forward(x)
    assert s[0] == 0 and s[-1] == 1 and s[3] == 0.5
    np.testing.assert_allclose(s[2], np.exp(-40.0), rtol=1e-14)
    assert y[-1] == 1e4 and y[0] == 0
    x32 = x.astype(np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow is fine
        s32, _ = sigmoid_forward(x32)
    assert np.all(np.isfinite(s32))


def test_gelu_known_values():
    x = np.array([-3.0, -1.0, 0.0, 1.0, 3.0])
    y, _ = gelu_forward(x)
    # x Phi(x), Phi from the standard normal table
    phi = np.array([0.0013498980316301, 0.15865525393145707, 0.5, 0.8413447460685429,
                    0.9986501019683699])
    np.testing.assert_allclose(y, x * phi, rtol=1e-13)


def test_gelu_float32_accuracy():
    """float32 GELU uses a rational erf: within 5e-7 (1 + |x|) of float64 GELU, the
    same order as torch's float32 GELU (about 2.7e-7 (1 + |x|) on this grid)."""
    x32 = np.linspace(-8, 8, 100001, dtype=np.float32)
    x64 = x32.astype(np.float64)
    y32, cache = gelu_forward(x32)
    y64, _ = gelu_forward(x64)
    assert np.all(np.abs(y32 - y64) <= 5e-7 * (1 + np.abs(x64)))
    erf32 = 2 * cache.cdf.astype(np.float64) - 1
    assert np.max(np.abs(erf32 - erf(x64 / np.sqrt(2)))) < 5e-7


ALL_ACTIVATIONS = {**ELEMENTWISE, "relu": (relu_forward, relu_backward),
                   "glu": (glu_forward, glu_backward),
                   "softmax": (softmax_forward, softmax_backward)}


@pytest.mark.parametrize("name", sorted(ALL_ACTIVATIONS))
def test_activations_float32(name, rng):
    forward, backward = ALL_ACTIVATIONS[name]
    x = (rng.standard_normal((3, 4, 6)) * 3).astype(np.float32)
    y, cache = forward(x)
    dx = backward(np.ones_like(y), cache)
    assert y.dtype == np.float32 and dx.dtype == np.float32
    assert dx.shape == x.shape


# ---------------------------------------------------------------- PyTorch as an oracle

def _torch_run(fn, arrays, g):
    """Forward fn on float64 torch leaves; return (y, grads of sum(y * g))."""
    torch = pytest.importorskip("torch")
    leaves = [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]
    y = fn(*leaves)
    (y * torch.tensor(g)).sum().backward()
    return y.detach().numpy(), [None if t is None else t.grad.numpy() for t in leaves]


def _assert_close(ours, theirs):
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


def test_torch_parity_linear_layernorm(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rng.standard_normal((2, 5, 6))
    w, b = rng.standard_normal((4, 6)), rng.standard_normal(4)
    y, cache = linear_forward(x, w, b)
    g = rng.standard_normal(y.shape)
    y_t, grads_t = _torch_run(F.linear, [x, w, b], g)
    _assert_close(y, y_t)
    for ours, theirs in zip(linear_backward(g, cache), grads_t):
        _assert_close(ours, theirs)

    gamma, beta = rng.standard_normal(6), rng.standard_normal(6)
    y, cache = layernorm_forward(x, gamma, beta)
    g = rng.standard_normal(y.shape)
    y_t, grads_t = _torch_run(lambda x, gm, bt: F.layer_norm(x, (6,), gm, bt, 1e-5),
                              [x, gamma, beta], g)
    _assert_close(y, y_t)
    for ours, theirs in zip(layernorm_backward(g, cache), grads_t):
        _assert_close(ours, theirs)


@pytest.mark.parametrize("train", [True, False])
def test_torch_parity_batchnorm(train, rng):
    """Ours on a padded batch == torch's batch_norm on the valid frames alone."""
    torch = pytest.importorskip("torch")
    mask = _padding_mask([5, 2, 0, 4], 5)
    x, gamma, beta, rm, rv = _bn_args(rng, 4, 5, 3)
    y, cache = batchnorm_forward(x, gamma, beta, rm, rv, mask, train=train)
    g = rng.standard_normal(y.shape)
    dx, dgamma, dbeta = batchnorm_backward(g, cache)

    rm_t, rv_t = torch.tensor(rm), torch.tensor(rv)

    def torch_bn(xv, gm, bt):
        return torch.nn.functional.batch_norm(xv, rm_t, rv_t, gm, bt, training=train,
                                              momentum=0.1, eps=1e-5)
    y_t, (dx_t, dgamma_t, dbeta_t) = _torch_run(torch_bn, [x[mask], gamma, beta], g[mask])
    _assert_close(y[mask], y_t)
    _assert_close(dx[mask], dx_t)
    _assert_close(dgamma, dgamma_t)
    _assert_close(dbeta, dbeta_t)
    if train:                                       # torch updated rm_t, rv_t in place
        new_mean, new_var = batchnorm_update_running(rm, rv, cache, momentum=0.1)
        _assert_close(new_mean, rm_t.numpy())
        _assert_close(new_var, rv_t.numpy())


def test_torch_parity_activations(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rng.standard_normal((3, 4, 6)) * 3
    x += np.where(x >= 0, 1e-3, -1e-3)
    cases = [(relu_forward, relu_backward, F.relu),
             (gelu_forward, gelu_backward, F.gelu),
             (swish_forward, swish_backward, F.silu),
             (sigmoid_forward, sigmoid_backward, torch.sigmoid),
             (glu_forward, glu_backward, F.glu),
             (lambda x: glu_forward(x, 1), glu_backward, lambda t: F.glu(t, 1)),
             (softmax_forward, softmax_backward, lambda t: torch.softmax(t, -1)),
             (lambda x: softmax_forward(x, 0), softmax_backward,
              lambda t: torch.softmax(t, 0))]
    for forward, backward, torch_fn in cases:
        y, cache = forward(x)
        g = rng.standard_normal(y.shape)
        y_t, (dx_t,) = _torch_run(torch_fn, [x], g)
        _assert_close(y, y_t)
        _assert_close(backward(g, cache), dx_t)
