"""Tests for cross-entropy (pyreparam/ops/loss.py) and the optimizer pieces
(pyreparam/ops/optim.py): AdamW, gradient-norm clipping, the warmup + cosine schedule.

The loss gradient is checked against finite differences (tests/gradcheck.py) in
float64; PyTorch (optional) is the oracle for the loss, AdamW and clipping.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradcheck import check_gradients
from pyreparam.ops.loss import (cross_entropy_backward, cross_entropy_forward,
                                distill_backward, distill_forward)
from pyreparam.ops.optim import (adamw_init, adamw_step, clip_grad_norm,
                                 warmup_cosine_lr)

seeds = st.integers(0, 2**32 - 1)


def _ce_inputs(rng, B, N, weighted):
    logits = rng.standard_normal((B, N)) * 2
    labels = rng.integers(0, N, B)
    weights = rng.uniform(0.2, 3.0, N) if weighted else None
    return logits, labels, weights


# ------------------------------------------------------------------------ cross-entropy

@given(B=st.integers(1, 5), N=st.integers(1, 6), weighted=st.booleans(),
       smoothing=st.sampled_from([0.0, 0.1, 0.35, 1.0]), seed=seeds)
def test_cross_entropy_gradients(B, N, weighted, smoothing, seed):
    rng = np.random.default_rng(seed)
    logits, labels, weights = _ce_inputs(rng, B, N, weighted)

    def forward(logits):
        return cross_entropy_forward(logits, labels, weights, smoothing)
    check_gradients(forward, cross_entropy_backward, [logits], [0], rng=rng)


@given(B=st.integers(1, 5), N=st.integers(1, 6), weighted=st.booleans(),
       smoothing=st.floats(0.0, 1.0), seed=seeds)
def test_cross_entropy_of_uniform_logits(B, N, weighted, smoothing, seed):
    """Every p = 1/N, so each -log p = log N and the loss is log N times the total
    target weight sum_b ((1 - e) w_{y_b} + e mean(w)) over sum_b w_{y_b}: exactly log N
    without smoothing or without weights."""
    rng = np.random.default_rng(seed)
    _, labels, weights = _ce_inputs(rng, B, N, weighted)
    loss, cache = cross_entropy_forward(np.full((B, N), 0.7), labels, weights, smoothing)
    w = np.ones(N) if weights is None else weights
    ratio = ((1 - smoothing) * w[labels].sum() + smoothing * B * w.mean()) / w[labels].sum()
    np.testing.assert_allclose(loss, math.log(N) * ratio, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(cache.probs, 1 / N, rtol=1e-14)


def test_cross_entropy_matches_definition(rng):
    logits, labels, weights = _ce_inputs(rng, 6, 4, weighted=True)
    loss, cache = cross_entropy_forward(logits, labels, weights, 0.2)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    nll = -logp[np.arange(6), labels]
    expected = (0.8 * np.sum(weights[labels] * nll)
                + 0.2 / 4 * np.sum(-logp * weights)) / np.sum(weights[labels])
    np.testing.assert_allclose(loss, expected, rtol=1e-12)
    np.testing.assert_allclose(cache.probs, np.exp(logp), rtol=1e-12)
    dlogits = cross_entropy_backward(2.5, cache)
    np.testing.assert_allclose(dlogits, 2.5 * cross_entropy_backward(1.0, cache),
                               rtol=1e-14)


def test_cross_entropy_float32(rng):
    logits, labels, weights = _ce_inputs(rng, 4, 5, weighted=True)
    loss, cache = cross_entropy_forward(logits.astype(np.float32), labels, weights, 0.1)
    dlogits = cross_entropy_backward(1.0, cache)
    assert isinstance(loss, float)
    assert cache.probs.dtype == np.float32 and dlogits.dtype == np.float32


@given(B=st.integers(1, 5), N=st.integers(2, 7), T=st.sampled_from([0.5, 1.0, 2.0, 4.0]),
       seed=seeds)
def test_distillation_gradients(B, N, T, seed):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((B, N)) * 2
    targets = rng.dirichlet(np.ones(N), B)
    check_gradients(lambda z: distill_forward(z, targets, T), distill_backward, [logits], [0],
                    rng=rng)


def test_distillation_matches_kl_and_torch(rng):
    """loss = T^2 (KL(q || p_T) + H(q)) averaged over the batch; torch's KD recipe."""
    logits, targets, T = rng.standard_normal((4, 5)), rng.dirichlet(np.ones(5), 4), 2.0
    loss, _ = distill_forward(logits, targets, T)
    z = logits / T
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    kl = np.sum(targets * (np.log(targets) - logp)) / 4
    entropy = -np.sum(targets * np.log(targets)) / 4
    assert loss == pytest.approx(T * T * (kl + entropy), rel=1e-12)
    torch = pytest.importorskip("torch")
    zt = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(zt / T, torch.tensor(targets)) * T * T
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    _, cache = distill_forward(logits, targets, T)
    np.testing.assert_allclose(distill_backward(1.0, cache), zt.grad.numpy(), rtol=1e-10)
    with pytest.raises(ValueError):
        distill_forward(logits, targets[:2], T)


def test_cross_entropy_rejects_bad_labels(rng):
    logits = rng.standard_normal((3, 4))
    for labels in (np.array([0, 4, 1]), np.array([0, -1, 1]), np.array([0.0, 1.0, 2.0]),
                   np.array([0, 1])):
        with pytest.raises(ValueError):
            cross_entropy_forward(logits, labels)
    with pytest.raises(ValueError):                  # all target weights zero
        cross_entropy_forward(logits, np.array([0, 0, 1]), np.array([0.0, 0.0, 1.0, 1.0]))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.15])
def test_torch_parity_cross_entropy(weighted, smoothing, rng):
    torch = pytest.importorskip("torch")
    logits, labels, weights = _ce_inputs(rng, 7, 5, weighted)
    loss, cache = cross_entropy_forward(logits, labels, weights, smoothing)
    dlogits = cross_entropy_backward(1.0, cache)
    logits_t = torch.tensor(logits, requires_grad=True)
    loss_t = torch.nn.functional.cross_entropy(
        logits_t, torch.tensor(labels), weight=None if weights is None else torch.tensor(weights),
        reduction="mean", label_smoothing=smoothing)
    loss_t.backward()
    np.testing.assert_allclose(loss, loss_t.item(), rtol=1e-12)
    np.testing.assert_allclose(dlogits, logits_t.grad.numpy(), rtol=1e-10, atol=1e-14)


# -------------------------------------------------------------------------------- AdamW

def _params_and_grads(rng, dtype=np.float64):
    shapes = {"w1": (4, 3), "b1": (4,), "h": (3, 3), "scale": ()}
    params = {k: np.asarray(rng.standard_normal(s), dtype=dtype) for k, s in shapes.items()}
    grads = {k: np.asarray(rng.standard_normal(s), dtype=dtype) for k, s in shapes.items()}
    return params, grads


def test_adamw_first_step_closed_form(rng):
    """At t = 1 the bias-corrected moments are g and g^2, so the update is
    lr g / (|g| + eps) after the decay p (1 - lr wd)."""
    params, grads = _params_and_grads(rng)
    before = {k: p.copy() for k, p in params.items()}
    state = adamw_step(params, grads, adamw_init(params), 0.01, weight_decay=0.1, eps=1e-3)
    assert state.step == 1
    for k, p in params.items():
        g = grads[k]
        expected = before[k] * (1 - 0.01 * 0.1) - 0.01 * g / (np.abs(g) + 1e-3)
        np.testing.assert_allclose(p, expected, rtol=1e-12)
        np.testing.assert_allclose(state.m[k], 0.1 * g, rtol=1e-12)
        np.testing.assert_allclose(state.v[k], 0.001 * g * g, rtol=1e-12)


def test_adamw_is_in_place_and_keeps_float32(rng):
    params, grads = _params_and_grads(rng, np.float32)
    arrays = {k: p for k, p in params.items()}
    state = adamw_init(params)
    state = adamw_step(params, grads, state, 1e-3)
    state = adamw_step(params, grads, state, 1e-3)
    assert state.step == 2
    for k, p in params.items():
        assert p is arrays[k] and p.dtype == np.float32
        assert state.m[k].dtype == np.float32 and state.v[k].dtype == np.float32
    with pytest.raises(KeyError):
        adamw_step(params, {"w1": grads["w1"]}, state, 1e-3)


def test_adamw_groups_override_lr_and_decay(rng):
    params, grads = _params_and_grads(rng)
    twin = {k: p.copy() for k, p in params.items()}
    # h with multiplier 2 and no decay == h alone at lr 2 * base with weight_decay 0
    adamw_step(params, grads, adamw_init(params), 0.01, groups={"h": (2.0, 0.0)})
    adamw_step({"h": twin["h"]}, {"h": grads["h"]}, adamw_init({"h": twin["h"]}), 0.02,
               weight_decay=0.0)
    adamw_step({"w1": twin["w1"]}, {"w1": grads["w1"]}, adamw_init({"w1": twin["w1"]}), 0.01)
    np.testing.assert_array_equal(params["h"], twin["h"])
    np.testing.assert_array_equal(params["w1"], twin["w1"])


def test_torch_parity_adamw(rng):
    """Five steps with weight decay, two parameter groups (one with its own lr and
    decay), a changing learning rate and fresh gradients each step."""
    torch = pytest.importorskip("torch")
    params, _ = _params_and_grads(rng)
    tensors = {k: torch.tensor(p.copy(), requires_grad=True) for k, p in params.items()}
    groups = {"h": (3.0, 0.0)}
    base_lr, wd, betas = 0.02, 0.05, (0.8, 0.95)
    opt = torch.optim.AdamW(
        [{"params": [t for k, t in tensors.items() if k != "h"]},
         {"params": [tensors["h"]], "lr": base_lr * 3.0, "weight_decay": 0.0}],
        lr=base_lr, betas=betas, eps=1e-6, weight_decay=wd)
    state = adamw_init(params)
    for step in range(5):
        lr_scale = 1.0 / (1 + step)
        grads = {k: rng.standard_normal(p.shape) for k, p in params.items()}
        state = adamw_step(params, grads, state, base_lr * lr_scale, betas=betas, eps=1e-6,
                           weight_decay=wd, groups=groups)
        for group, group_lr in zip(opt.param_groups, (base_lr, base_lr * 3.0)):
            group["lr"] = group_lr * lr_scale
        for k, t in tensors.items():
            t.grad = torch.tensor(grads[k])
        opt.step()
    for k, p in params.items():
        np.testing.assert_allclose(p, tensors[k].detach().numpy(), rtol=1e-10, atol=1e-13)
        torch_state = opt.state[tensors[k]]
        np.testing.assert_allclose(state.m[k], torch_state["exp_avg"].numpy(), rtol=1e-10)
        np.testing.assert_allclose(state.v[k], torch_state["exp_avg_sq"].numpy(), rtol=1e-10)


# ------------------------------------------------------------------------ clipping

@given(max_norm=st.floats(0.01, 10.0), scale=st.floats(0.01, 10.0), seed=seeds)
def test_clip_grad_norm(max_norm, scale, seed):
    rng = np.random.default_rng(seed)
    _, grads = _params_and_grads(rng)
    grads = {k: np.asarray(g * scale) for k, g in grads.items()}
    before = {k: g.copy() for k, g in grads.items()}
    arrays = dict(grads)
    expected = math.sqrt(sum(float(np.sum(g * g)) for g in before.values()))
    total = clip_grad_norm(grads, max_norm)
    np.testing.assert_allclose(total, expected, rtol=1e-12)
    coef = max_norm / (total + 1e-6)
    for k, g in grads.items():
        assert g is arrays[k]
        np.testing.assert_allclose(g, before[k] * min(coef, 1.0), rtol=1e-14)
    new_total = math.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))
    assert new_total <= max_norm * (1 + 1e-12)


def test_clip_grad_norm_float32(rng):
    grads = {"a": rng.standard_normal((5, 5)).astype(np.float32)}
    total = clip_grad_norm(grads, 0.5)
    assert isinstance(total, float) and grads["a"].dtype == np.float32


def test_torch_parity_clip_grad_norm(rng):
    torch = pytest.importorskip("torch")
    _, grads = _params_and_grads(rng)
    tensors = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True)
               for g in grads.values()]
    for t, g in zip(tensors, grads.values()):
        t.grad = torch.tensor(g.copy())
    total_t = torch.nn.utils.clip_grad_norm_(tensors, 0.7)
    total = clip_grad_norm(grads, 0.7)
    np.testing.assert_allclose(total, total_t.item(), rtol=1e-12)
    for t, g in zip(tensors, grads.values()):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-12)


# ------------------------------------------------------------------------ schedule

def test_warmup_cosine_lr_key_points():
    lr = lambda s: warmup_cosine_lr(s, total_steps=110, warmup_steps=10,  # noqa: E731
                                    peak_lr=1e-3, final_lr=1e-5)
    assert lr(0) == 0.0
    assert lr(5) == pytest.approx(5e-4, rel=1e-15)
    assert lr(10) == pytest.approx(1e-3, rel=1e-15)
    assert lr(60) == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.5, rel=1e-14)
    assert lr(110) == 1e-5 and lr(500) == 1e-5
    assert lr(109) == pytest.approx(
        1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + math.cos(math.pi * 99 / 100)), rel=1e-14)
    assert warmup_cosine_lr(0, 10, 0, 2.0) == 2.0
    for bad in [(-1, 10, 2), (0, 10, -1), (0, 5, 6)]:
        with pytest.raises(ValueError):
            warmup_cosine_lr(*bad, peak_lr=1.0)


@given(total=st.integers(1, 300), warmup_fraction=st.floats(0.0, 1.0),
       peak=st.floats(1e-6, 1.0), final_fraction=st.floats(0.0, 1.0))
def test_warmup_cosine_lr_shape(total, warmup_fraction, peak, final_fraction):
    """Rises monotonically to the peak (reached at step W when W < S), then falls
    monotonically to final_lr, reached at S and kept after."""
    warmup = int(warmup_fraction * total)
    final = peak * final_fraction
    lrs = np.array([warmup_cosine_lr(s, total, warmup, peak, final)
                    for s in range(total + 3)])
    tol = 1e-12 * peak
    rise_end = warmup + 1 if warmup < total else warmup   # W == S: no cosine part
    assert np.all(np.diff(lrs[:rise_end]) >= -tol)
    if warmup < total:
        assert lrs[warmup] == pytest.approx(peak, rel=1e-15)
    assert np.all(np.diff(lrs[warmup:]) <= tol)
    assert lrs.max() <= peak + tol and lrs[warmup:].min() >= final - tol
    assert np.all(lrs[total:] == final)
