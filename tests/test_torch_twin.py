"""Parity of the three backbones with an independent PyTorch twin (tools/torch_twin.py).

Skipped when torch is absent. For every backbone, tiny and light configs, with and
without HRF chains (several site combinations, k up to 3, bias on and off), random
non-trivial weights and random padded batches:

* eval mode: logits agree, |a - b| <= 1e-5 max(1, max |b|) in float32 (1e-12 in float64);
* train mode, dropout 0, BatchNorm on batch statistics, loss = sum(logits * g): every
  parameter gradient agrees norm-wise, ||a - b|| / max(||b||, 1e-3 G) <= 1e-4 in
  float32 and 1e-9 in float64, G being the norm of the whole reference gradient; the
  one gradient that is zero in exact arithmetic (the depthwise convolution's bias
  right before train-mode BatchNorm) is held to ||a - b|| / G;
* the BatchNorm running statistics after that step agree (relative 1e-5 / 1e-12).
"""
import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

torch = pytest.importorskip("torch")

from pyreparam.models import (  # noqa: E402
    BACKBONES, HRF_SITES, HRFConfig, build_model, make_config)

_spec = importlib.util.spec_from_file_location(
    "torch_twin", Path(__file__).resolve().parents[1] / "tools" / "torch_twin.py")
twin_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(twin_mod)

TORCH_DTYPES = {np.float32: torch.float32, np.float64: torch.float64}
LOGIT_TOL = {np.float32: 1e-5, np.float64: 1e-12}
GRAD_TOL = {np.float32: 1e-4, np.float64: 1e-9}
STAT_TOL = {np.float32: 1e-5, np.float64: 1e-12}

TINY = {
    "convtransformer": dict(width=8, layers=2, heads=2, ffn=12, n_mels=5),
    "conformer": dict(width=8, layers=2, heads=2, ffn=12, n_mels=5, conv_kernel=5),
    "speechformer": dict(width=8, layers=(1, 2, 1, 1), heads=2, ffn=4, n_mels=6,
                         windows=(3, 5, 3, 0), merges=(2, 3, 2), expand=(1, 2, 1)),
}

# (r, k, bias, sites); sites a backbone lacks (conv_pw outside the Conformer) are dropped
HRF_VARIANTS = {
    "none": None,
    "ffn-r2-k1": (2, 1, True, ("ffn",)),
    "attn-r4-k2-nobias": (4, 2, False, ("attn_in", "attn_out")),
    "all-r2-k3": (2, 3, True, HRF_SITES),
    "pw-ffn-r1-k3-nobias": (1, 3, False, ("ffn", "conv_pw")),
}
LIGHT_VARIANTS = ("none", "ffn-r2-k1", "all-r2-k3")


def valid_sites(backbone, sites):
    return tuple(s for s in sites if s != "conv_pw" or backbone == "conformer")


def make_hrf(backbone, variant):
    if HRF_VARIANTS[variant] is None:
        return None
    r, k, bias, sites = HRF_VARIANTS[variant]
    return HRFConfig(r=r, k=k, bias=bias, sites=valid_sites(backbone, sites))


def randomize(model, rng):
    """Non-trivial weights: every parameter perturbed on the scale of its init
    (0.5 / sqrt(fan-in) for weights, 0.2 for vectors: non-zero biases, non-unit
    gains), random BatchNorm running statistics (variance in [0.5, 2])."""
    for name, v in model.params.items():
        scale = 0.5 / np.sqrt(np.prod(v.shape[1:])) if v.ndim > 1 else 0.2
        model.params[name] = (v + scale * rng.standard_normal(v.shape)).astype(v.dtype)
    for name, v in model.buffers.items():
        if name.endswith("running_var"):
            model.buffers[name] = rng.uniform(0.5, 2.0, v.shape).astype(v.dtype)
        else:
            model.buffers[name] = (0.3 * rng.standard_normal(v.shape)).astype(v.dtype)
    return model


def padded_batch(rng, B, T, M, dtype):
    """Random frames and a mask with random tails: one full, one length 1 when B > 2."""
    x = rng.standard_normal((B, T, M)).astype(dtype)
    lengths = rng.integers(1, T + 1, size=B)
    lengths[0] = T
    if B > 2:
        lengths[-1] = 1
    return x, np.arange(T)[None, :] < lengths[:, None]


def pair(config, dtype, rng):
    """A randomized pyreparam model and its twin holding the same weights."""
    model = randomize(build_model(config, rng, dtype=dtype), rng)
    twin = twin_mod.build_twin(config, TORCH_DTYPES[dtype])
    twin_mod.load_from_numpy(twin, model.params, model.buffers)
    return model, twin


def run_twin(twin, x, mask):
    return twin(torch.from_numpy(x), torch.from_numpy(mask))


def assert_logits_close(a, b, dtype):
    err = np.max(np.abs(a - b))
    tol = LOGIT_TOL[dtype] * max(1.0, float(np.max(np.abs(b))))
    assert err <= tol, f"logits differ by {err:.3e} > {tol:.3e}"


def zero_in_exact_arithmetic(name):
    """The depthwise bias right before train-mode BatchNorm: the batch mean removes it,
    so its gradient is 0 and both sides hold only rounding noise."""
    return name.endswith(".conv.dw.b")


def assert_grads_close(ours, theirs, dtype):
    """Per parameter ||a - b|| / max(||b||, 1e-3 G) <= tol, G the whole gradient's norm;
    a gradient that is 0 in exact arithmetic is measured against G alone."""
    assert set(ours) == set(theirs)
    G = np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in theirs.values()))
    worst, where = 0.0, None
    for name, b in theirs.items():
        a = ours[name]
        assert a.shape == b.shape, f"{name}: {a.shape} vs {b.shape}"
        scale = G if zero_in_exact_arithmetic(name) else max(np.linalg.norm(b), 1e-3 * G)
        rel = np.linalg.norm(a - b) / scale
        if rel > worst:
            worst, where = rel, name
    assert worst <= GRAD_TOL[dtype], f"gradient of {where} differs by {worst:.3e} (relative)"


def check_eval(config, dtype, rng, B, T):
    model, twin = pair(config, dtype, rng)
    x, mask = padded_batch(rng, B, T, config.n_mels, dtype)
    twin.eval()
    with torch.no_grad():
        theirs = run_twin(twin, x, mask).numpy()
    assert_logits_close(model.predict_logits(x, mask), theirs, dtype)


def check_train(config, dtype, rng, B, T):
    """One train-mode step with loss = sum(logits * g): logits, gradients, BN stats."""
    config = dataclasses.replace(config, dropout=0.0)         # no RNG needs to match
    model, twin = pair(config, dtype, rng)
    x, mask = padded_batch(rng, B, T, config.n_mels, dtype)
    g = rng.standard_normal((B, config.n_classes)).astype(dtype)
    logits, cache = model.forward(x, mask, train=True)
    ours = model.backward(g, cache)
    twin.train()
    theirs_logits = run_twin(twin, x, mask)
    (theirs_logits * torch.from_numpy(g)).sum().backward()
    assert_logits_close(logits, theirs_logits.detach().numpy(), dtype)
    assert_grads_close(ours, twin_mod.grads_by_name(twin, list(ours)), dtype)
    stats = twin_mod.running_stats(twin)
    assert set(stats) == set(model.buffers)
    for name, b in stats.items():
        err = np.max(np.abs(model.buffers[name] - b))
        assert err <= STAT_TOL[dtype] * np.max(np.abs(b)), f"{name} differs by {err:.3e}"


def tiny_config(backbone, variant):
    return make_config(backbone, "light", hrf=make_hrf(backbone, variant), **TINY[backbone])


def light_config(backbone, variant):
    return make_config(backbone, "light", hrf=make_hrf(backbone, variant))


CASES = ([("tiny", b, v) for b in BACKBONES for v in HRF_VARIANTS]
         + [("light", b, v) for b in BACKBONES for v in LIGHT_VARIANTS])


def case_config(size, backbone, variant):
    return (tiny_config if size == "tiny" else light_config)(backbone, variant)


def case_shape(size):
    return (4, 37) if size == "tiny" else (3, 100)


def case_seed(size, backbone, variant):
    return sum(map(ord, f"{size}/{backbone}/{variant}"))


# --------------------------------------------------------------------------- tests

@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny ops: one torch thread avoids fighting NumPy's BLAS threads for the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("size,backbone,variant", CASES)
def test_eval_logits_agree(size, backbone, variant):
    rng = np.random.default_rng(case_seed(size, backbone, variant))
    for dtype in (np.float32, np.float64):
        check_eval(case_config(size, backbone, variant), dtype, rng, *case_shape(size))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("size,backbone,variant", CASES)
def test_train_gradients_and_running_stats_agree(size, backbone, variant, dtype):
    rng = np.random.default_rng(case_seed(size, backbone, variant) + 1)
    check_train(case_config(size, backbone, variant), dtype, rng, *case_shape(size))


@st.composite
def tiny_cases(draw):
    backbone = draw(st.sampled_from(BACKBONES))
    sites = draw(st.lists(st.sampled_from(valid_sites(backbone, HRF_SITES)), unique=True))
    hrf = None if not sites else HRFConfig(
        r=draw(st.sampled_from([1, 2, 4])), k=draw(st.integers(1, 3)),
        bias=draw(st.booleans()), sites=tuple(sites))
    config = make_config(backbone, "light", hrf=hrf, **TINY[backbone])
    B, T = draw(st.integers(1, 5)), draw(st.integers(1, 50))
    return config, B, T, draw(st.integers(0, 2**32 - 1))


@given(tiny_cases())
def test_float64_parity_on_random_tiny_models(case):
    config, B, T, seed = case
    rng = np.random.default_rng(seed)
    if config.backbone == "conformer":
        T = max(T, 5)          # train-mode BatchNorm needs >= 2 valid frames after x4
    check_eval(config, np.float64, rng, B, T)
    check_train(config, np.float64, rng, B, T)


def test_name_map_is_a_bijection_and_shapes_fit():
    for backbone in BACKBONES:
        config = light_config(backbone, "all-r2-k3")
        model = build_model(config, 0)
        twin = twin_mod.build_twin(config)
        mapping = twin_mod.name_map(twin, list(model.params) + list(model.buffers))
        assert len(set(mapping.values())) == len(mapping)
        assert sorted(twin_mod.pyreparam_names(twin)) == sorted(model.params)
        assert twin_mod.n_params(twin) == model.n_params()
        with pytest.raises(KeyError, match="not covered"):
            twin_mod.name_map(twin, list(model.params)[1:])
        wrong = dict(model.params)
        name = next(n for n in wrong if n.endswith(".w"))
        wrong[name] = wrong[name][:-1]
        with pytest.raises(ValueError, match="does not fit"):
            twin_mod.load_from_numpy(twin, wrong, model.buffers)


def test_no_mask_means_every_frame_valid():
    rng = np.random.default_rng(7)
    for backbone in BACKBONES:
        model, twin = pair(tiny_config(backbone, "ffn-r2-k1"), np.float64, rng)
        x = rng.standard_normal((2, 23, model.config.n_mels))
        twin.eval()
        with torch.no_grad():
            theirs = twin(torch.from_numpy(x)).numpy()
        assert_logits_close(model.predict_logits(x), theirs, np.float64)
