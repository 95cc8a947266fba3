"""Shared helpers of the whole-model int8 tests: random small configs with
non-trivial float parameters, quantized into programs and .prq bytes."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from pyreparam.models import build_model, make_config
from pyreparam.quant.backbones import build_graph
from pyreparam.quant.calibrate import calibrate
from pyreparam.quant.lower import lower
from pyreparam.quant.prq import write_prq


def perturb(model, rng: np.random.Generator):
    """Non-trivial parameters: random biases, LayerNorm gamma (some negative) and beta,
    BatchNorm running statistics; returns the model (modified in place)."""
    for name, p in model.params.items():
        if name.endswith(".b") or name.endswith(".beta"):
            model.params[name] = rng.normal(0.0, 0.3, p.shape)
        elif name.endswith(".gamma"):
            model.params[name] = rng.normal(1.0, 0.4, p.shape)
        elif name.endswith(".w"):
            model.params[name] = p * rng.uniform(0.5, 2.0)
    for name, b in model.buffers.items():
        if name.endswith("running_var"):
            model.buffers[name] = rng.uniform(0.3, 2.0, b.shape)
        else:
            model.buffers[name] = rng.normal(0.0, 0.5, b.shape)
    return model


def small_config(backbone: str, data) -> object:
    """A random small config of a backbone, drawn from a hypothesis ``data`` object."""
    heads = data.draw(st.sampled_from([1, 2, 4]), label="heads")
    width = heads * data.draw(st.integers(2, 6), label="head width")
    if width < 4:
        width = 4 * heads
    n_mels = data.draw(st.sampled_from([width, 3, 10]), label="mels")
    common = dict(width=width, heads=heads, n_mels=n_mels, n_classes=data.draw(
        st.integers(2, 5), label="classes"))
    if backbone == "speechformer":
        n = data.draw(st.integers(2, 4), label="stages")
        windows = [data.draw(st.sampled_from([0, 1, 3, 5]), label="window") for _ in range(n)]
        merges = [data.draw(st.integers(2, 5), label="merge") for _ in range(n - 1)]
        expand = [data.draw(st.sampled_from([1, 2]), label="expand") for _ in range(n - 1)]
        return make_config("speechformer", "light", layers=tuple([1] * n),
                           windows=tuple(windows), merges=tuple(merges),
                           expand=tuple(expand), ffn=data.draw(st.integers(2, 12)),
                           **common)
    extra = {"conv_kernel": data.draw(st.sampled_from([1, 3, 5]))} \
        if backbone == "conformer" else {}
    return make_config(backbone, "light", layers=data.draw(st.integers(1, 2)),
                       ffn=data.draw(st.integers(2, 24)), **common, **extra)


def quantized(config, seed: int, t_max: int, block: int, method: str = "percentile",
              n_calib: int = 2, percentile: float = 99.9, **lower_options):
    """(float model, graph, qparams, program, .prq bytes) of a random model;
    ``lower_options`` go to :func:`pyreparam.quant.lower.lower` (arena_budget)."""
    rng = np.random.default_rng(seed)
    model = perturb(build_model(config, seed, dtype=np.float64), rng)
    graph = build_graph(model)
    calib = [rng.normal(0.0, rng.uniform(0.5, 2.0), (int(rng.integers(1, t_max + 1)),
                                                      config.n_mels))
             for _ in range(n_calib)]
    qparams = calibrate(graph, calib, method, percentile)
    program = lower(graph, qparams, t_max, block, **lower_options)
    meta = {"input": {"scale": qparams["input"][0], "zero_point": qparams["input"][1]},
            "output": {"scale": qparams["logits"][0], "zero_point": qparams["logits"][1]}}
    return model, graph, qparams, program, write_prq(program, meta)


def random_int8(rng: np.random.Generator, T: int, M: int) -> np.ndarray:
    """int8 features with a share of exact -128 / 127."""
    x = rng.integers(-128, 128, size=(T, M))
    pick = rng.random((T, M))
    x = np.where(pick < 0.05, -128, np.where(pick > 0.95, 127, x))
    return x.astype(np.int8)


def assert_bitexact(c: np.ndarray, ref: np.ndarray, what: str) -> None:
    assert c.dtype == ref.dtype and c.shape == ref.shape, \
        f"{what}: {c.dtype} {c.shape} vs {ref.dtype} {ref.shape}"
    bad = np.flatnonzero(c != ref)
    if bad.size:
        raise AssertionError(f"{what}: {bad.size} mismatches, first at {bad[:5].tolist()}: "
                             f"C {c.ravel()[bad[:5]].tolist()} vs NumPy "
                             f"{ref.ravel()[bad[:5]].tolist()}")


# ---- random kernel arguments (tests/test_quant_ops.py, tests/test_quant_simd.py) ----

def ints(rng, shape, lo, hi, dtype, p_extreme=0.15):
    """Uniform integers in [lo, hi] with a share of exact lo / hi (saturation cases)."""
    a = rng.integers(lo, hi + 1, size=shape)
    pick = rng.random(shape)
    a = np.where(pick < p_extreme / 2, lo, np.where(pick > 1 - p_extreme / 2, hi, a))
    return a.astype(dtype)


def per_channel(rng, n, shift_lo=-31, shift_hi=30, p_extreme=0.1):
    """Q31 multipliers and shifts, a few channels at the extremes of their ranges."""
    m = rng.integers(2**30, 2**31, size=n)
    e = rng.integers(shift_lo, shift_hi + 1, size=n)
    wild = rng.random(n) < p_extreme
    m = np.where(wild, rng.choice([0, 2**30, 2**31 - 1], size=n), m)
    e = np.where(wild, rng.choice([-31, -1, 0, 1, 30], size=n), e)
    return m.astype(np.int32), e.astype(np.int32)


def clamp_range(rng, zp, lo=-128, hi=127):
    """(act_min, act_max): the full range, ReLU at the zero point, or a random one."""
    kind = rng.integers(3)
    if kind == 0:
        return lo, hi
    if kind == 1:
        return int(zp), hi
    a, b = sorted(rng.integers(lo, hi + 1, size=2).tolist())
    return a, b
