"""Benchmark the int8 C kernels: the portable reference against the x86 SIMD variants.

One build holds one kernel path (csrc/build_ffi.py, PYREPARAM_SIMD), so this tool
compiles the runtime once per SIMD level (cached in build/simd-cache/) and calls the
same kernel of every build on the same arguments, at the light models' shapes
(3 s of audio: 300 frames, 150 and 75 after each stride-2 subsampling convolution;
width C = 64, H = 4 heads of D = 16, FFN 128 / 256). Every output is first checked to be
bit-identical across the builds; then each kernel is timed by calling the cffi
function directly (prebuilt arguments; the ~0.2 us call overhead is included),
runs interleaved across the builds, median of --runs.

    python tools/bench_kernels.py [--levels none,avx2,avx512vnni] [--runs 15] [--json PATH]
        [--baseline GITREF] [--no-models]

The row "kernel sum" adds up the kernel calls of one light ConvTransformer inference
at the shapes its runner uses (two subsampling convolutions, then per layer: 2
LayerNorms, Q/K/V per head, Q K^T, softmax and A V per head, output projection, FFN
with its GELU table, 2 residual adds; the classifier is left out). Linear layers and
convolutions share one shift per layer, as the lowering writes them ("1 shift"); the
"per-ch." rows give every channel its own shift. The pr_model_run rows time whole
inferences of the light models (random weights, T = 300, the lowering's defaults)
through the C model runner. GMAC/s counts multiply-accumulates of the products only.

With --baseline GITREF the csrc/ of that commit is built too (at the best level, as a
module of its own) and timed in the same interleaved runs: the columns before / after
and their ratio give the per-kernel change of this checkout.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from native_cache import build_ffi, cached_build  # noqa: E402  (build/simd-cache/)
T_IN, T1, T2, C, H, D = 300, 150, 75, 64, 4, 16


# ---- arguments of each case (NumPy arrays, shared by every build) -----------------

def _ints(rng, shape, lo, hi, dtype):
    return rng.integers(lo, hi + 1, size=shape).astype(dtype)


def _per_channel(rng, n, one_shift=True):
    """Multipliers and shifts: one shift for the layer (the lowering's choice) or one
    per channel."""
    m = _ints(rng, (n,), 2**30, 2**31 - 1, np.int32)
    e = np.full(n, -9, np.int32) if one_shift else _ints(rng, (n,), -12, -6, np.int32)
    return m, e


def linear_case(rng, T, Cin, Cout, out16=False, one_shift=True):
    m, e = _per_channel(rng, Cout, one_shift)
    return dict(kind="linear", out16=out16, x=_ints(rng, (T, Cin), -128, 127, np.int8),
                w=_ints(rng, (Cout, Cin), -127, 127, np.int8),
                bias=_ints(rng, (Cout,), -20000, 20000, np.int32), m=m, e=e,
                y=np.zeros((T, Cout), np.int16 if out16 else np.int8), macs=T * Cin * Cout)


def conv_case(rng, T, Cin, Cout, K=3, stride=2, pad=1):
    m, e = _per_channel(rng, Cout)
    T_out = (T + 2 * pad - K) // stride + 1
    return dict(kind="conv1d", x=_ints(rng, (T, Cin), -128, 127, np.int8),
                w=_ints(rng, (Cout, K, Cin), -127, 127, np.int8),
                bias=_ints(rng, (Cout,), -20000, 20000, np.int32), m=m, e=e, stride=stride,
                pad=pad, y=np.zeros((T_out, Cout), np.int8), macs=T_out * Cout * K * Cin)


def bmm_case(rng, kind, heads=H, rows=T2, keys=T2, width=D):
    """Q K^T or A V of `heads` heads, each head's Q / K / V a (rows or keys, width) block
    (the light models' per-head schedule: batch stride T D, row stride D); A V writes
    the heads interleaved in a (rows, heads width) output."""
    a = (_ints(rng, (heads, rows, width), -128, 127, np.int8) if kind == "bmm_nt"
         else _ints(rng, (heads, rows, keys), -128, 127, np.int8))   # Q, or probabilities
    b = _ints(rng, (heads, keys, width), -128, 127, np.int8)          # K or V
    out = np.zeros((heads, rows, keys) if kind == "bmm_nt" else (rows, heads * width), np.int8)
    return dict(kind=kind, a=a, b=b, out=out, heads=heads, rows=rows, keys=keys,
                width=width, macs=heads * rows * keys * width)


def softmax_case(rng, heads=H, rows=T2, cols=T2, window=0, s_in=0.05):
    from pyreparam.quant import qnorm
    return dict(kind="softmax", x=_ints(rng, (heads, rows, cols), -128, 127, np.int8),
                table=qnorm.build_softmax_exp_table(s_in), window=window,
                y=np.zeros((heads, rows, cols), np.int8), macs=0)


def mul_case(rng, n):
    return dict(kind="mul", a=_ints(rng, (n,), -128, 127, np.int8),
                b=_ints(rng, (n,), -128, 127, np.int8), y=np.zeros(n, np.int8), macs=0)


def lut_case(rng, n):
    return dict(kind="lut", x=_ints(rng, (n,), -128, 127, np.int8),
                table=_ints(rng, (256,), -128, 127, np.int8), y=np.zeros(n, np.int8),
                macs=0)


def add_case(rng, n):
    return dict(kind="add", a=_ints(rng, (n,), -20000, 20000, np.int16),
                b=_ints(rng, (n,), -20000, 20000, np.int16), y=np.zeros(n, np.int16),
                macs=0)


def layernorm_case(rng, rows=T2):
    m, e = _per_channel(rng, C, one_shift=False)
    return dict(kind="layernorm", x=_ints(rng, (rows, C), -3000, 3000, np.int16), m=m, e=e,
                offset=_ints(rng, (C,), -500, 500, np.int32), y=np.zeros((rows, C), np.int8),
                macs=0)


def depthwise_case(rng, K=15):
    m, e = _per_channel(rng, C)
    return dict(kind="depthwise", x=_ints(rng, (T2, C), -128, 127, np.int8),
                w=_ints(rng, (K, C), -127, 127, np.int8),
                bias=_ints(rng, (C,), -20000, 20000, np.int32), m=m, e=e,
                y=np.zeros((T2, C), np.int8), macs=T2 * C * K)


def cases(rng):
    """(label, case, calls per light ConvTransformer inference)."""
    return [
        ("conv1d 300x64 -> 150x64, K3 s2", conv_case(rng, T_IN, C, C), 1),
        ("conv1d 150x64 -> 75x64, K3 s2", conv_case(rng, T1, C, C), 1),
        ("linear_s8 75x64 -> 16 (Q, K, V of a head)", linear_case(rng, T2, C, D), 24),
        ("linear_s8 75x64 -> 64 (Q, K, V)", linear_case(rng, T2, C, C), 0),
        ("linear_s8 75x64 -> 64, per-ch. shifts", linear_case(rng, T2, C, C, one_shift=False),
         0),
        ("linear_s8 75x64 -> 128 (FFN 1)", linear_case(rng, T2, C, 128), 2),
        ("linear_s8 75x64 -> 256 (Conformer FFN 1)", linear_case(rng, T2, C, 256), 0),
        ("linear_s8 300x64 -> 64 (SpeechFormer)", linear_case(rng, T_IN, C, C), 0),
        ("linear_s8_s16 75x64 -> 64 (attn out)", linear_case(rng, T2, C, C, True), 2),
        ("linear_s8_s16 75x128 -> 64 (FFN 2)", linear_case(rng, T2, 128, C, True), 2),
        ("linear_s8 75x256 -> 1024 (large FFN 1)", linear_case(rng, T2, 256, 1024), 0),
        ("linear_s8_s16 75x1024 -> 256 (large FFN 2)",
         linear_case(rng, T2, 1024, 256, True), 0),
        ("bmm_nt_s8 75x75, D16 (Q K^T, a head)", bmm_case(rng, "bmm_nt", 1), 8),
        ("bmm_nn_s8 75x16, K75 (A V, a head)", bmm_case(rng, "bmm_nn", 1), 8),
        ("softmax_s8 75x75 (a head)", softmax_case(rng, 1), 8),
        ("softmax_s8 4x10x12, w5 (SpeechFormer)",
         softmax_case(rng, H, 10, 12, 5, 0.1), 0),
        ("layernorm_s16_s8 75x64", layernorm_case(rng), 5),
        ("layernorm_s16_s8 300x64 (SpeechFormer)", layernorm_case(rng, T_IN), 0),
        ("depthwise_conv1d_s8 75x64, K15", depthwise_case(rng), 0),
        ("add_s16 75x64 (residual)", add_case(rng, T2 * C), 4),
        ("lut_s8 75x128 (GELU)", lut_case(rng, T2 * 128), 2),
        ("mul_s8 75x64 (Conformer GLU)", mul_case(rng, T2 * C), 0),
        # the per-call shapes of SpeechFormer's windowed attention (8 query rows, 2
        # padding rows, 12 keys) and of the large ConvTransformer (width 256, 8 heads)
        ("bmm_nt_s8 8x12, D16 (SpeechFormer window)", bmm_case(rng, "bmm_nt", 1, 8, 12, 16),
         0),
        ("softmax_s8 10x12, w5 (SpeechFormer window)", softmax_case(rng, 1, 10, 12, 5, 0.1),
         0),
        ("bmm_nn_s8 8x16, K12 (SpeechFormer window)", bmm_case(rng, "bmm_nn", 1, 8, 12, 16),
         0),
        ("linear_s8 75x256 -> 32 (large Q, K, V of a head)", linear_case(rng, T2, 256, 32),
         0),
        ("bmm_nt_s8 75x75, D32 (large Q K^T, a head)", bmm_case(rng, "bmm_nt", 1, T2, T2, 32),
         0),
    ]


# ---- one build's call of a case ------------------------------------------------------

def _ptr(ffi, a):
    ctype = {np.int8: "int8_t", np.int16: "int16_t", np.int32: "int32_t"}[a.dtype.type]
    return ffi.cast(ctype + " *", ffi.from_buffer(a))


def _linear_call(ffi, lib, c):
    T, Cin = c["x"].shape
    Cout = c["w"].shape[0]
    p = ffi.new("pr_linear_params *", dict(
        rows=T, in_features=Cin, out_features=Cout, out_zero_point=0 if c["out16"] else 3,
        act_min=-32768 if c["out16"] else -128, act_max=32767 if c["out16"] else 127))
    fn = lib.pr_linear_s8_s16 if c["out16"] else lib.pr_linear_s8
    args = (p, *(_ptr(ffi, c[k]) for k in ("x", "w", "bias", "m", "e", "y")))
    return lambda: fn(*args), c["y"]


def _conv_call(ffi, lib, c):
    T, Cin = c["x"].shape
    Cout, K, _ = c["w"].shape
    p = ffi.new("pr_conv1d_params *", dict(
        in_len=T, in_channels=Cin, out_channels=Cout, kernel=K, stride=c["stride"],
        padding=c["pad"], in_zero_point=-5, out_zero_point=-128, act_min=-128, act_max=127))
    args = (p, *(_ptr(ffi, c[k]) for k in ("x", "w", "bias", "m", "e", "y")))
    return lambda: lib.pr_conv1d_s8(*args), c["y"]


def _bmm_call(ffi, lib, c):
    nt = c["kind"] == "bmm_nt"
    heads, M, N, W = c["heads"], c["rows"], c["keys"], c["width"]
    p = ffi.new("pr_bmm_params *", dict(
        batches=heads, rows=M, cols=N if nt else W, depth=W if nt else N,
        a_batch_stride=M * W if nt else M * N, a_row_stride=W if nt else N,
        b_batch_stride=N * W, b_row_stride=W, out_batch_stride=M * N if nt else W,
        out_row_stride=N if nt else heads * W, a_zero_point=3 if nt else -128,
        b_zero_point=-7, multiplier=1518500250, shift=-7, out_zero_point=-2, act_min=-128,
        act_max=127))
    a, b, out = (_ptr(ffi, c[k]) for k in ("a", "b", "out"))
    if nt:
        return lambda: lib.pr_bmm_nt_s8(p, a, b, out), c["out"]
    scratch = np.zeros(W, np.int32)
    s = _ptr(ffi, scratch)
    return lambda: lib.pr_bmm_nn_s8(p, a, b, out, s, W), c["out"]


def _softmax_call(ffi, lib, c):
    heads, rows, cols = c["x"].shape
    p = ffi.new("pr_softmax_params *", dict(batches=heads, rows=rows, cols=cols,
                                             window=c["window"]))
    x, table, y = (_ptr(ffi, c[k]) for k in ("x", "table", "y"))
    return lambda: lib.pr_softmax_s8(p, x, table, ffi.NULL, y), c["y"]


def _layernorm_call(ffi, lib, c):
    p = ffi.new("pr_layernorm_params *", dict(rows=c["x"].shape[0], channels=C, eps=100,
                                               out_zero_point=1, act_min=-128, act_max=127))
    args = (p, *(_ptr(ffi, c[k]) for k in ("x", "m", "e", "offset", "y")))
    return lambda: lib.pr_layernorm_s16_s8(*args), c["y"]


def _depthwise_call(ffi, lib, c):
    K = c["w"].shape[0]
    p = ffi.new("pr_dwconv1d_params *", dict(in_len=T2, channels=C, kernel=K, in_zero_point=4,
                                              out_zero_point=0, act_min=-128, act_max=127))
    scratch = np.zeros(C, np.int32)
    args = (p, *(_ptr(ffi, c[k]) for k in ("x", "w", "bias", "m", "e", "y")),
            _ptr(ffi, scratch), C)
    return lambda: lib.pr_depthwise_conv1d_s8(*args), c["y"]


def _mul_call(ffi, lib, c):
    p = ffi.new("pr_mul_params *", dict(size=c["a"].size, a_zero_point=3, b_zero_point=-128,
                                         multiplier=1518500250, shift=-9, out_zero_point=-5,
                                         act_min=-128, act_max=127))
    args = (p, *(_ptr(ffi, c[k]) for k in ("a", "b", "y")))
    return lambda: lib.pr_mul_s8(*args), c["y"]


def _lut_call(ffi, lib, c):
    args = (c["x"].size, *(_ptr(ffi, c[k]) for k in ("x", "table", "y")))
    return lambda: lib.pr_lut_s8(*args), c["y"]


def _add_call(ffi, lib, c):
    p = ffi.new("pr_add_params *", dict(size=c["a"].size, a_multiplier=2**30, a_shift=0,
                                         b_multiplier=1518500250, b_shift=-1,
                                         b_zero_point=0, out_multiplier=1288490189,
                                         out_shift=-12, act_min=-32768, act_max=32767))
    args = (p, *(_ptr(ffi, c[k]) for k in ("a", "b", "y")))
    return lambda: lib.pr_add_s16(*args), c["y"]


CALLS = {"linear": _linear_call, "conv1d": _conv_call, "bmm_nt": _bmm_call,
         "bmm_nn": _bmm_call, "softmax": _softmax_call, "layernorm": _layernorm_call,
         "depthwise": _depthwise_call, "mul": _mul_call, "lut": _lut_call,
         "add": _add_call}


def model_case(backbone, seconds=3.0):
    """A light model (random weights, calibrated on random frames) as a .prq program,
    run by pr_model_run on T = 100 * seconds frames."""
    from pyreparam.models import build_model, make_config
    from pyreparam.quant.backbones import build_graph
    from pyreparam.quant.calibrate import calibrate
    from pyreparam.quant.lower import lower
    from pyreparam.quant.prq import write_prq

    T = int(round(100 * seconds))
    config = make_config(backbone, "light")
    rng = np.random.default_rng(0)
    graph = build_graph(build_model(config, 0, dtype=np.float64))
    qparams = calibrate(graph, [rng.normal(0.0, 1.0, (T, config.n_mels)) for _ in range(2)])
    meta = {"input": {"scale": qparams["input"][0], "zero_point": qparams["input"][1]},
            "output": {"scale": qparams["logits"][0], "zero_point": qparams["logits"][1]}}
    blob = np.frombuffer(bytes(write_prq(lower(graph, qparams, T), meta)), np.uint8).copy()
    x = _ints(rng, (T, config.n_mels), -128, 127, np.int8)
    return dict(kind="model", blob=blob, x=x, T=T, macs=0)


def _model_call(ffi, lib, c):
    info = ffi.new("pr_model_info *")
    blob = ffi.from_buffer(c["blob"])
    if lib.pr_model_check(blob, len(c["blob"]), info) != 0:
        raise RuntimeError("pr_model_check rejected the benchmark model")
    arena = np.zeros(info.arena_bytes, np.uint8)
    logits = np.zeros(info.output_cols, np.int8)
    args = (blob, len(c["blob"]), ffi.from_buffer(c["x"]), c["T"], ffi.from_buffer(logits),
            ffi.from_buffer(arena), len(arena))
    return lambda: lib.pr_model_run(*args), logits


CALLS["model"] = _model_call


def checked_outputs(modules, case):
    """Run the case once per build; the outputs must be bit-identical."""
    outputs = {}
    for level, mod in modules.items():
        call, out = CALLS[case["kind"]](mod.ffi, mod.lib, case)
        out[...] = 0
        status = call()
        if status != 0:
            raise RuntimeError(f"{case['kind']} ({level}) returned status {status}")
        outputs[level] = out.copy()
    ref_level = next(iter(outputs))
    for level, out in outputs.items():
        if not np.array_equal(out, outputs[ref_level]):
            bad = np.argwhere(out != outputs[ref_level])
            raise AssertionError(f"{case['kind']}: {level} differs from {ref_level} at "
                                 f"{len(bad)} elements, first {bad[:5].tolist()}")


def _per_call_seconds(call, budget=0.004):
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            call()
        dt = time.perf_counter() - t0
        if dt >= budget or n >= 1 << 16:
            return n, dt / n
        n *= 2


def time_case(modules, case, runs):
    """Seconds per call of each build, runs interleaved across the builds: (median,
    min) over the runs (the minimum is the least disturbed by other processes)."""
    calls = {lv: CALLS[case["kind"]](m.ffi, m.lib, case)[0] for lv, m in modules.items()}
    reps = {lv: _per_call_seconds(call)[0] for lv, call in calls.items()}
    times = {lv: [] for lv in modules}
    for _ in range(runs):
        for lv, call in calls.items():
            t0 = time.perf_counter()
            for _ in range(reps[lv]):
                call()
            times[lv].append((time.perf_counter() - t0) / reps[lv])
    return {lv: (statistics.median(ts), min(ts)) for lv, ts in times.items()}


def build_modules(levels):
    """{level: module}, cached under a digest of the sources (as in the tests)."""
    modules = {}
    for lv in levels:
        modules[lv] = cached_build(lv)
        info = modules[lv].ffi.string(modules[lv].lib.pr_build_info()).decode()
        print(f"built {lv}: {info}", file=sys.stderr)
    return modules


def build_baseline(ref, level):
    """The runtime of git commit ``ref`` (its csrc/, archived into build/bench-baseline/)
    at SIMD level ``level``, as a cffi module of its own name; rebuilt only when
    missing."""
    import re
    import subprocess

    tag = re.sub(r"\W", "_", ref)
    tree = ROOT / "build" / "bench-baseline" / tag
    name = f"_pyreparam_native_base_{tag}_{level}"
    built = sorted((tree / "build").glob(name + ".*.so"))
    if not built:
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "csrc"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        spec = importlib.util.spec_from_file_location(f"build_ffi_{tag}",
                                                      tree / "csrc" / "build_ffi.py")
        old_ffi = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(old_ffi)
        builder, _ = old_ffi.make_ffibuilder(level, name, absolute_paths=True)
        built = [Path(builder.compile(tmpdir=str(tree / "build")))]
    spec = importlib.util.spec_from_file_location(name, built[0])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(modules, runs, models):
    """The table's rows: kernels, the kernel sum of one inference, whole models."""
    levels = list(modules)
    rows = []
    total = {lv: np.zeros(2) for lv in levels}                      # median, min
    for label, case, per_model in cases(np.random.default_rng(0)):
        checked_outputs(modules, case)
        t = time_case(modules, case, runs)
        rows.append(dict(label=label, macs=case["macs"],
                         us={lv: t[lv][0] * 1e6 for lv in levels},
                         us_min={lv: t[lv][1] * 1e6 for lv in levels}))
        for lv in levels:
            total[lv] += per_model * np.array(t[lv])
    rows.append(dict(label="light ConvTransformer, kernel sum", macs=None,
                     us={lv: float(total[lv][0]) * 1e6 for lv in levels},
                     us_min={lv: float(total[lv][1]) * 1e6 for lv in levels}))
    if models and all(hasattr(m.lib, "pr_model_run") for m in modules.values()):
        for backbone in ("convtransformer", "conformer", "speechformer"):
            case = model_case(backbone)
            checked_outputs(modules, case)
            t = time_case(modules, case, runs)
            rows.append(dict(label=f"pr_model_run light {backbone}, T=300", macs=None,
                             us={lv: t[lv][0] * 1e6 for lv in levels},
                             us_min={lv: t[lv][1] * 1e6 for lv in levels}))
    return rows


def print_table(rows, levels, best=None, base=None):
    """One line per kernel: microseconds per call of each module, the speed-up of the
    best level over the reference (and over the baseline's build when given)."""
    ref, best = levels[0], best or levels[-1]
    width = max(15, max(len(lv) for lv in levels) + 4)
    head = f"{'kernel (shape)':44s}" + "".join(f"{lv + ' us':>{width}s}" for lv in levels)
    head += f"{'speed-up':>10s}{'(min)':>8s}{'GMAC/s':>9s}"
    head += f"{'vs base':>9s}{'(min)':>8s}" if base else ""
    print(head)
    print("-" * len(head))
    for r in rows:
        line = f"{r['label']:44s}" + "".join(f"{r['us'][lv]:{width}.2f}" for lv in levels)
        line += f"{r['us'][ref] / r['us'][best]:9.1f}x"
        line += f"{r['us_min'][ref] / r['us_min'][best]:7.1f}x"
        line += f"{r['macs'] / (r['us'][best] * 1e3):9.1f}" if r["macs"] else " " * 9
        if base:
            line += f"{r['us'][base] / r['us'][best]:8.2f}x"
            line += f"{r['us_min'][base] / r['us_min'][best]:7.2f}x"
        print(line)
    print(f"us: median microseconds per call; speed-up: {ref} / {best} of the medians "
          f"(min: of the fastest runs); GMAC/s: {best}, median"
          + (f"; vs base: {base} / {best}" if base else ""))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", default=None,
                    help="comma-separated SIMD levels to compare, the reference first "
                         "(default: none and every level this machine builds and runs)")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--no-models", dest="models", action="store_false",
                    help="skip the whole-model rows (pr_model_run of the light models)")
    ap.add_argument("--baseline", default=None, metavar="GITREF",
                    help="also build and time the kernels of this commit at the best "
                         "level (before / after columns)")
    args = ap.parse_args(argv)
    if args.json:   # its folder now, not after the whole run
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    levels = (args.levels.split(",") if args.levels else
              [lv for lv in build_ffi.SIMD_LEVELS if build_ffi.probe(lv)])
    modules = build_modules(levels)
    best, base = levels[-1], None
    if args.baseline:
        base = f"{best}@{args.baseline}"
        modules = {**{lv: modules[lv] for lv in levels[:-1]},
                   base: build_baseline(args.baseline, best), best: modules[best]}
    rows = run(modules, args.runs, args.models)
    print_table(rows, list(modules), best, base)
    if args.json:
        from pyreparam.atomic import write_text
        write_text(args.json, json.dumps(dict(levels=list(modules), rows=rows),
                                              indent=1))


if __name__ == "__main__":
    main()
