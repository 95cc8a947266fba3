"""Every op against the PyTorch golden vectors in reference/golden/, without torch.

tools/make_golden.py computed each op's forward output and the gradients of the fake
loss L = sum(y * g) with torch autograd in float64 (an independent torch formulation,
see reference/golden/README.md). Here pyreparam's forward and hand-written backward
run on the stored inputs and cotangent and must agree with the stored results:

    |ours - golden| <= ATOL + RTOL |golden|,  RTOL = 1e-10, ATOL = 1e-12   (float64)

Boolean and integer results (masks) must be equal. Nothing here imports torch; the
last test (skipped without torch) regenerates the files in memory and checks that
they reproduce.

    python tests/test_golden.py     prints the largest deviation seen per op
"""
from __future__ import annotations

import datetime
import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pyreparam.ops import (
    adamw_init, adamw_step, attention_backward, attention_forward, avgpool_merge_backward,
    avgpool_merge_forward, batchnorm_backward, batchnorm_forward, batchnorm_update_running,
    clip_grad_norm, conv1d_backward, conv1d_forward, cross_entropy_backward,
    cross_entropy_forward, depthwise_conv1d_backward, depthwise_conv1d_forward,
    dropout_backward, dropout_forward, gelu_backward, gelu_forward, glu_backward, glu_forward,
    layernorm_backward, layernorm_forward, linear_backward, linear_forward,
    masked_mean_backward, masked_mean_forward, mha_backward, mha_forward,
    positional_encoding_backward, positional_encoding_forward, relu_backward, relu_forward,
    sigmoid_backward, sigmoid_forward, softmax_backward, softmax_forward, swish_backward,
    swish_forward, warmup_cosine_lr)

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "reference" / "golden"
GENERATOR = ROOT / "tools" / "make_golden.py"
RTOL, ATOL = 1e-10, 1e-12

# Every op of the foundation issue and the golden files (cases) that cover it.
REQUIRED: dict[str, list[str]] = {
    "linear": ["linear", "linear_nobias"],
    "layernorm": ["layernorm"],
    "batchnorm": ["batchnorm_train", "batchnorm_eval"],
    "dropout": ["dropout"],
    "relu": ["relu"],
    "gelu": ["gelu"],
    "swish": ["swish"],
    "sigmoid": ["sigmoid"],
    "glu": ["glu", "glu_axis1"],
    "softmax": ["softmax", "softmax_axis1"],
    "attention": ["attention_global", "attention_global_nomask", "attention_local"],
    "mha": ["mha_global", "mha_local"],
    "conv1d": ["conv1d_s2_p1", "conv1d_s3_p2_nobias"],
    "depthwise_conv1d": ["depthwise_conv1d", "depthwise_conv1d_k15"],
    "positional_encoding": ["positional_encoding", "positional_encoding_odd"],
    "avgpool_merge": ["avgpool_merge"],
    "masked_mean": ["masked_mean"],
    "cross_entropy": ["cross_entropy", "cross_entropy_plain"],
    "adamw": ["adamw"],
    "clip_grad_norm": ["clip_grad_norm", "clip_grad_norm_unclipped"],
    "warmup_cosine_lr": ["warmup_cosine_lr", "warmup_cosine_lr_nowarmup"],
}
ALL_CASES = [case for cases in REQUIRED.values() for case in cases]


def load(case: str) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays of reference/golden/<case>.npz and its call parameters."""
    with np.load(GOLDEN / f"{case}.npz", allow_pickle=False) as f:
        arrays = {key: f[key] for key in f.files}
    return arrays, json.loads(str(arrays["meta_params"]))


def opt(arrays: dict, key: str):
    """arrays[key], or None when the case has no such input (a None bias)."""
    return arrays.get(key)


def results(y: dict[str, np.ndarray], names: tuple[str, ...], grads) -> dict:
    """{"out_*": ..., "grad_*": ...}; a None gradient (None bias) is left out."""
    grads = grads if isinstance(grads, tuple) else (grads,)
    out = {f"out_{k}": v for k, v in y.items()}
    out.update({f"grad_{n}": d for n, d in zip(names, grads, strict=True) if d is not None})
    return out


# ----------------------------------------------------------------------------------
# pyreparam on the stored inputs: one runner per op, -> {"out_*", "grad_*"} arrays
# ----------------------------------------------------------------------------------

def run_linear(a, p):
    y, cache = linear_forward(a["in_x"], a["in_w"], opt(a, "in_b"))
    return results({"y": y}, ("x", "w", "b"), linear_backward(a["g"], cache))


def run_layernorm(a, p):
    y, cache = layernorm_forward(a["in_x"], a["in_gamma"], a["in_beta"], eps=p["eps"])
    return results({"y": y}, ("x", "gamma", "beta"), layernorm_backward(a["g"], cache))


def run_batchnorm(a, p):
    rm, rv = a["in_running_mean"], a["in_running_var"]
    y, cache = batchnorm_forward(a["in_x"], a["in_gamma"], a["in_beta"], rm, rv,
                                 a["in_mask"], train=p["train"], eps=p["eps"])
    out = {"y": y}
    if p["train"]:
        out["running_mean"], out["running_var"] = batchnorm_update_running(
            rm, rv, cache, momentum=p["momentum"])
    return results(out, ("x", "gamma", "beta"), batchnorm_backward(a["g"], cache))


def run_dropout(a, p):
    rng = np.random.default_rng(p["mask_seed"])
    y, cache = dropout_forward(a["in_x"], p["p"], rng, train=p["train"])
    return results({"y": y}, ("x",), dropout_backward(a["g"], cache))


def elementwise(forward: Callable, backward: Callable) -> Callable:
    def run(a, p):
        kwargs = {"axis": p["axis"]} if "axis" in p else {}
        y, cache = forward(a["in_x"], **kwargs)
        return results({"y": y}, ("x",), backward(a["g"], cache))
    return run


def run_attention(a, p):
    y, cache = attention_forward(a["in_q"], a["in_k"], a["in_v"], opt(a, "in_mask"),
                                 p["window"])
    return results({"y": y}, ("q", "k", "v"), attention_backward(a["g"], cache))


def run_mha(a, p):
    y, cache = mha_forward(a["in_x"], a["in_w_qkv"], a["in_b_qkv"], a["in_w_o"], a["in_b_o"],
                           a["in_mask"], n_heads=p["n_heads"], window=p["window"])
    return results({"y": y}, ("x", "w_qkv", "b_qkv", "w_o", "b_o"), mha_backward(a["g"], cache))


def run_conv1d(a, p):
    y, cache = conv1d_forward(a["in_x"], a["in_w"], opt(a, "in_b"), stride=p["stride"],
                              padding=p["padding"])
    return results({"y": y}, ("x", "w", "b"), conv1d_backward(a["g"], cache))


def run_depthwise_conv1d(a, p):
    y, cache = depthwise_conv1d_forward(a["in_x"], a["in_w"], opt(a, "in_b"), p["padding"])
    return results({"y": y}, ("x", "w", "b"), depthwise_conv1d_backward(a["g"], cache))


def run_positional_encoding(a, p):
    y, cache = positional_encoding_forward(a["in_x"])
    return results({"y": y}, ("x",), positional_encoding_backward(a["g"], cache))


def run_avgpool_merge(a, p):
    (y, y_mask), cache = avgpool_merge_forward(a["in_x"], a["in_mask"], p["g"])
    return results({"y": y, "y_mask": y_mask}, ("x",), avgpool_merge_backward(a["g"], cache))


def run_masked_mean(a, p):
    y, cache = masked_mean_forward(a["in_x"], a["in_mask"])
    return results({"y": y}, ("x",), masked_mean_backward(a["g"], cache))


def run_cross_entropy(a, p):
    loss, cache = cross_entropy_forward(a["in_logits"], a["in_labels"],
                                        opt(a, "in_class_weights"), p["label_smoothing"])
    dlogits = cross_entropy_backward(float(a["g"]), cache)
    return results({"loss": np.array(loss)}, ("logits",), dlogits)


def run_adamw(a, p):
    names = ("w", "b", "h")
    params = {n: a[f"in_param_{n}"].copy() for n in names}
    state = adamw_init(params)
    groups = {n: tuple(v) for n, v in p["groups"].items()}
    history = {n: [] for n in names}
    for s in range(p["steps"]):
        grads = {n: a[f"in_grads_{n}"][s] for n in names}
        state = adamw_step(params, grads, state, float(a["in_lrs"][s]), betas=tuple(p["betas"]),
                           eps=p["eps"], weight_decay=p["weight_decay"], groups=groups)
        for n in names:
            history[n].append(params[n].copy())
    out = {f"out_param_{n}": np.stack(history[n]) for n in names}
    out.update({f"out_exp_avg_{n}": state.m[n] for n in names})
    out.update({f"out_exp_avg_sq_{n}": state.v[n] for n in names})
    return out


def run_clip_grad_norm(a, p):
    grads = {key[len("in_grad_"):]: a[key].copy() for key in a if key.startswith("in_grad_")}
    total = clip_grad_norm(grads, p["max_norm"])
    out = {f"out_grad_{n}": g for n, g in grads.items()}
    out["out_total_norm"] = np.array(total)
    return out


def run_warmup_cosine_lr(a, p):
    lrs = [warmup_cosine_lr(int(s), p["total_steps"], p["warmup_steps"], p["peak_lr"],
                            p["final_lr"]) for s in a["in_step"]]
    return {"out_lr": np.array(lrs)}


RUNNERS: dict[str, Callable] = {
    "linear": run_linear, "layernorm": run_layernorm, "batchnorm": run_batchnorm,
    "dropout": run_dropout,
    "relu": elementwise(relu_forward, relu_backward),
    "gelu": elementwise(gelu_forward, gelu_backward),
    "swish": elementwise(swish_forward, swish_backward),
    "sigmoid": elementwise(sigmoid_forward, sigmoid_backward),
    "glu": elementwise(glu_forward, glu_backward),
    "softmax": elementwise(softmax_forward, softmax_backward),
    "attention": run_attention, "mha": run_mha, "conv1d": run_conv1d,
    "depthwise_conv1d": run_depthwise_conv1d, "positional_encoding": run_positional_encoding,
    "avgpool_merge": run_avgpool_merge, "masked_mean": run_masked_mean,
    "cross_entropy": run_cross_entropy, "adamw": run_adamw,
    "clip_grad_norm": run_clip_grad_norm, "warmup_cosine_lr": run_warmup_cosine_lr,
}


def run_case(case: str) -> tuple[dict, dict]:
    """(pyreparam's results, the golden arrays) of one case."""
    arrays, params = load(case)
    return RUNNERS[str(arrays["meta_op"])](arrays, params), arrays


def deviation(ours: np.ndarray, golden: np.ndarray) -> tuple[float, float]:
    """(max |ours - golden|, max |ours - golden| / (ATOL + RTOL |golden|)); <= 1 passes."""
    diff = np.abs(np.asarray(ours, dtype=np.float64) - golden)
    if diff.size == 0:
        return 0.0, 0.0
    return float(diff.max()), float((diff / (ATOL + RTOL * np.abs(golden))).max())


# ----------------------------------------------------------------------------------
# tests
# ----------------------------------------------------------------------------------

@pytest.mark.parametrize("op", sorted(REQUIRED))
def test_every_op_has_golden_files(op):
    assert REQUIRED[op], f"no golden case listed for {op}"
    missing = [case for case in REQUIRED[op] if not (GOLDEN / f"{case}.npz").is_file()]
    assert not missing, (f"{op}: missing golden files {missing} in {GOLDEN}; "
                         "run `python tools/make_golden.py` (needs torch)")
    assert op in RUNNERS


def test_no_unchecked_golden_files():
    unchecked = {path.stem for path in GOLDEN.glob("*.npz")} - set(ALL_CASES)
    assert not unchecked, f"golden files that no test checks: {sorted(unchecked)}"


@pytest.mark.parametrize("case", ALL_CASES)
def test_metadata_is_present(case):
    arrays, params = load(case)
    assert str(arrays["meta_generator"]) == "tools/make_golden.py"
    assert str(arrays["meta_case"]) == case
    assert case in REQUIRED[str(arrays["meta_op"])]
    for key in ("meta_torch_version", "meta_numpy_version", "meta_python_version"):
        assert str(arrays[key]).strip(), f"{key} is empty"
    assert str(arrays["meta_torch_version"])[0].isdigit()
    datetime.datetime.strptime(str(arrays["meta_date"]), "%Y-%m-%dT%H:%M:%SZ")
    assert arrays["meta_seed"].dtype.kind in "iu" and arrays["meta_seed"].shape == ()
    assert isinstance(params, dict)
    for key, value in arrays.items():       # float64 data, loadable without pickle
        assert value.dtype != object, key
        if value.dtype.kind == "f":
            assert value.dtype == np.float64, key


@pytest.mark.parametrize("case", ALL_CASES)
def test_matches_golden(case):
    ours, golden = run_case(case)
    expected = {key for key in golden if key.startswith(("out_", "grad_"))}
    assert set(ours) == expected, "pyreparam's results and the golden file name different arrays"
    for key in sorted(expected):
        want, got = golden[key], np.asarray(ours[key])
        assert got.shape == want.shape, f"{key}: shape {got.shape}, golden {want.shape}"
        if want.dtype.kind == "f":
            assert got.dtype == np.float64, f"{key}: dtype {got.dtype}"
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=f"{case}: {key}")
        else:
            np.testing.assert_array_equal(got, want, err_msg=f"{case}: {key}")


def test_dropout_mask_is_the_stored_keep_mask():
    """The golden dropout semantics: pyreparam's mask from default_rng(mask_seed) is
    the stored numpy keep-mask, kept elements are scaled by 1 / (1 - p), dropped are 0."""
    arrays, p = load("dropout")
    keep = arrays["in_keep"]
    y, cache = dropout_forward(arrays["in_x"], p["p"], np.random.default_rng(p["mask_seed"]))
    np.testing.assert_array_equal(cache.scaled_keep != 0, keep)
    np.testing.assert_array_equal(y[~keep], 0.0)
    np.testing.assert_allclose(y[keep], arrays["in_x"][keep] / (1 - p["p"]), rtol=RTOL, atol=0)
    assert 0 < keep.sum() < keep.size


def test_masked_cases_have_a_fully_padded_tail():
    """Masked ops are checked on a batch where one short sequence is followed by a
    tail of padding only, and padded frames carry large values."""
    for case in ("batchnorm_train", "batchnorm_eval", "attention_global", "attention_local",
                 "mha_global", "mha_local", "avgpool_merge", "masked_mean"):
        arrays, _ = load(case)
        lengths = arrays["in_mask"].sum(axis=1)
        assert lengths.min() <= 1 and lengths.max() == arrays["in_mask"].shape[1], case


def test_golden_comparison_needs_no_torch():
    """Rerun every comparison in a fresh interpreter in which importing torch fails."""
    code = (
        "import sys, importlib.util\n"
        "sys.modules['torch'] = None\n"                 # import torch -> ImportError
        f"spec = importlib.util.spec_from_file_location('golden', {str(Path(__file__))!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "for case in m.ALL_CASES: m.test_matches_golden(case)\n"
        "assert 'torch' not in [k for k, v in sys.modules.items() if v is not None]\n"
        "print('ok')\n")
    done = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def load_generator():
    spec = importlib.util.spec_from_file_location("make_golden", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generator_reproduces_the_stored_files():
    """With torch installed: regenerate every case in memory; the files must match."""
    pytest.importorskip("torch")
    generator = load_generator()
    assert set(generator.CASES) == set(ALL_CASES)
    assert all(op == str(load(case)[0]["meta_op"])
               for case, (op, _) in generator.CASES.items())
    problems = generator.compare_with_files(generator.build_all(), GOLDEN)
    assert not problems, "\n".join(problems)


def report() -> None:
    """Print the largest deviation from the golden vectors per op and per case."""
    print(f"{'op':20s} {'case':28s} {'max |diff|':>11s} {'/ tol':>8s}")
    for op, cases in REQUIRED.items():
        for case in cases:
            ours, golden = run_case(case)
            devs = [deviation(ours[k], golden[k]) for k in ours if golden[k].dtype.kind == "f"]
            worst_abs = max(d[0] for d in devs)
            worst_ratio = max(d[1] for d in devs)
            print(f"{op:20s} {case:28s} {worst_abs:11.2e} {worst_ratio:8.4f}")


if __name__ == "__main__":
    report()
