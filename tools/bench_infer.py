"""Latency of one 3 s utterance: C int8 runtime vs NumPy float vs ONNX Runtime fp32 / int8
vs LiteRT int8 (XNNPACK); TFLite-Micro's arena and host latency.

    python tools/bench_infer.py [--repeats 40] [--block 5] [--json PATH]
        [--only conformer:light] [--model convtransformer:light=ckpt.npz]
        [--calib manifest.csv] [--no-static] [--no-litert] [--no-tflm] [--simd LEVEL]
        [--keep DIR]

Everything runs on one thread: OPENBLAS/OMP/MKL/... _NUM_THREADS=1 are set before
NumPy is imported, ONNX Runtime sessions use intra_op_num_threads=1,
inter_op_num_threads=1 and sequential execution (all graph optimizations on), and the
C runner is single-threaded. For each of the six configs (three backbones, light and
large; random weights unless ``--model`` gives a checkpoint, which is merged when it
still has HRF factors) the script builds

* **C int8**: the .prq that ``pyreparam quantize`` writes (the same library calls:
  ``workflow.quantize_model`` with its defaults, MSE calibration, row blocks of 75 (lower.DEFAULT_BLOCK),
  T_max = 300), run by ``pyreparam.quant.runtime.PRQModel`` (cffi, ``pr_model_run``);
* **NumPy fp32**: ``Model.predict_logits`` of the merged float32 model;
* **ORT fp32**: the graph of ``tools/export_onnx.py`` (batch 1, 300 frames);
* **ORT int8**: ``onnxruntime.quantization.quantize_dynamic`` of that graph (int8
  weights, per tensor; activations quantized at run time);
* **ORT int8 QDQ** (extra, skip with --no-static): ``quantize_static`` in QDQ format,
  per-channel int8 weights, uint8 activations, MinMax ranges from the same
  calibration data as the C model. SpeechFormer's window-bias additions (0 / -inf)
  and the softmaxes after them stay float: a -inf in a calibrated range ruins it.
* **LiteRT int8** (skip with --no-litert): the full-integer int8 ``.tflite`` of
  ``tools/export_tflite.py`` (the PyTorch twin's deployment module -> litert_torch ->
  ai_edge_quantizer's static int8 recipe, calibrated on the same data as the C model;
  every operator, the input and the output int8), run by ``ai_edge_litert``'s
  Interpreter with one thread and its default XNNPACK delegate. Its input is the
  features quantized to its own input scale beforehand, as the C runner's is.
* **TFLite-Micro** (light configs, skip with --no-tflm): the same int8 model in the
  ``tflite-micro`` package's interpreter on the host: the smallest arena it runs in
  (found by bisection), its host latency (median of ``--tflm-calls`` calls, not
  interleaved: tens of ms) and its agreement with LiteRT, next to the C model's arena
  and the files' sizes. (The ConvTransformer's GELU has no TFLite-Micro kernel: its
  TFLite-Micro model writes GELU in its tanh form, tools/export_tflite.py.)

Calibration: ``--calib`` manifest (normalized as in training, cut to 300 frames,
``--n-calib`` utterances drawn as ``pyreparam quantize`` does), else ``--n-calib``
utterances of random normal features.

Two measurements per runtime, in the same rounds:

* features excluded: input = normalized log-mel frames (1, 300, M) float32 (the C
  runner gets them already quantized to int8: the runtime's own input);
* features included: input = a waveform at 16 kHz that gives exactly 300 frames
  (48,240 samples = 3.015 s; 3.000 s would give 298), then log-mel + normalization
  (NumPy/SciPy, the same code for every runtime) + input quantization for the C
  model + the model.

Timing: warm-up calls, then ``--repeats`` rounds; each round runs every runtime
``--block`` times in a row, in an order rotated from round to round, so that machine
noise hits all alike. The first call of a block follows another runtime (its weights
were pushed out of the caches: "cold"), the others follow itself ("warm"). The
headline figures are the medians of the warm calls' wall clock; the JSON also holds
the warm calls' thread CPU time ("cpu": a shared machine's preemptions excluded),
the cold calls ("cold", "cold_cpu") and the fastest warm calls ("min"). Printed with
the C extension's SIMD level (``pr_build_info``), the load average before and after
and the involuntary context switches per call.

Ratios: ratio_c_vs_ort = C int8 / ORT fp32, ratio_c_vs_ort_int8 = C int8 / ORT int8
(dynamic), ratio_c_vs_ort_int8_qdq = C int8 / ORT QDQ, ratio_c_vs_litert = C int8 /
LiteRT int8, the same with ``_feat`` for features included; every record also names
the C build's SIMD level (``simd``) and the CPU (``cpu``). The goals
(ratio_c_vs_ort_int8 < 1 and ratio_c_vs_litert < 1 everywhere; ratio_c_vs_ort <= 0.5
and ratio_c_vs_litert <= 0.7 on the light configs) are printed as met / MISSED for
each statistic. ONNX Runtime and LiteRT's XNNPACK pick their kernels from CPUID at
run time; to measure against an AVX2-only host on an AVX-512 machine, run this
script with ``--simd avx2`` (the C runtime built at that level, cached in
build/simd-cache/) under ``LD_PRELOAD`` of tools/emulate_avx2_host.c (the header line
shows the instruction sets the process sees). Not imported by the package.
"""
from __future__ import annotations

import os

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "BLIS_NUM_THREADS")
for _name in THREAD_VARIABLES:          # before NumPy is imported, overriding the caller's
    os.environ[_name] = "1"

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnxruntime.quantization import (  # noqa: E402
    CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_dynamic,
    quantize_static)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_onnx  # noqa: E402

from pyreparam.atomic import write_bytes, write_text  # noqa: E402
from pyreparam import native  # noqa: E402
from pyreparam.audio.features import FeatureConfig, logmel  # noqa: E402
from pyreparam.data.normalize import Normalizer  # noqa: E402
from pyreparam.infer import Frontend  # noqa: E402
from pyreparam.models import BACKBONES, SIZES, build_model, make_config  # noqa: E402
from pyreparam.quant import workflow as wf  # noqa: E402
from pyreparam.quant.calibrate import DEFAULT_METHOD  # noqa: E402
from pyreparam.quant.prq import write_prq  # noqa: E402
from pyreparam.quant.runtime import PRQModel  # noqa: E402

FRAMES = 300                    # 3 s at 100 frames per second; also the .prq's T_max
N_CLASSES = 7                   # of the random-weight models (EmoDB's classes)
SPEAKER = "file:bench"          # an unseen speaker: normalized by its own statistics
ORT_NAMES = ("ort_fp32", "ort_int8", "ort_int8_qdq")
PEER_NAMES = ORT_NAMES + ("litert_int8",)
ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass
class Subject:
    """One config ready to time: its models, runtimes and inputs."""

    config: str
    weights: str                    # "random" or the checkpoint path
    model: object                   # merged float32 pyreparam Model
    frontend: Frontend
    prq: PRQModel
    sessions: dict                  # name -> ort.InferenceSession
    wave: np.ndarray                # (n,) float32, 16 kHz, FRAMES frames of features
    x: np.ndarray                   # (1, FRAMES, M) float32 normalized log-mel
    x_q: np.ndarray                 # (FRAMES, M) int8, the C model's input
    litert: object = None           # LiteRT runner (LiteRTModel) or None
    tflite: dict | None = None      # tools/export_tflite.py's facts


# --------------------------------------------------------------------------- models

def load_subject_model(config: str, checkpoint: str | None, seed: int):
    """(merged float32 model, front end, weights label) of 'backbone:size'."""
    if checkpoint is not None:
        loaded = wf.load_float(checkpoint)
        model = export_onnx.merged_model(loaded.model).astype(np.float32)
        return model, loaded.frontend, checkpoint
    backbone, size = config.split(":")
    model = build_model(make_config(backbone, size, n_classes=N_CLASSES), seed)
    frontend = Frontend(FeatureConfig(n_mels=model.config.n_mels), Normalizer("utterance"),
                        [f"class{i}" for i in range(N_CLASSES)])
    return model, frontend, "random"


def calibration_features(manifest: str | None, frontend: Frontend, n_mels: int, n: int,
                         seed: int) -> list[np.ndarray]:
    """n calibration utterances (T <= FRAMES, M) float32: a manifest's, or N(0, 1)."""
    if manifest is not None:
        utterances = wf.load_utterances(manifest, frontend, FRAMES)
        return [f.astype(np.float32) for f in wf.pick(utterances, n, seed)]
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((FRAMES, n_mels)).astype(np.float32) for _ in range(n)]


def c_int8_model(model, frontend: Frontend, calib: list[np.ndarray], path: Path) -> PRQModel:
    """The .prq of ``pyreparam quantize`` (same calls and defaults), written to
    ``path`` and loaded in C."""
    _, qparams, program = wf.quantize_model(model, calib, FRAMES)
    loaded = wf.LoadedModel(model, frontend, None)
    meta = wf.host_meta(loaded, qparams, FRAMES, {"method": DEFAULT_METHOD, "n": len(calib)})
    write_bytes(path, write_prq(program, meta))
    return PRQModel.from_file(path)


class _Reader(CalibrationDataReader):
    """The calibration utterances as ONNX inputs; shorter ones repeated to FRAMES
    frames (the graph's input length is fixed)."""

    def __init__(self, calib: list[np.ndarray]):
        self._items = iter([{export_onnx.INPUT_NAME: np.resize(x, (FRAMES, x.shape[1]))[None]}
                            for x in calib])

    def get_next(self):
        return next(self._items, None)


def window_bias_nodes(path: Path) -> list[str]:
    """Nodes that add a window bias (0 / -inf), and their consumers (the softmaxes)."""
    graph = onnx.load(str(path)).graph
    adds = [n for n in graph.node if any(i.startswith("window_bias") for i in n.input)]
    outputs = {o for n in adds for o in n.output}
    return [n.name for n in adds] + [n.name for n in graph.node
                                     if any(i in outputs for i in n.input)]


def ort_models(model, calib: list[np.ndarray], folder: Path, static: bool) -> dict:
    """{name: .onnx path}: the fp32 export, its dynamic int8 and (static) QDQ int8."""
    paths = {"ort_fp32": export_onnx.export_onnx(model, folder / "fp32.onnx", FRAMES)}
    paths["ort_int8"] = folder / "int8_dynamic.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_dynamic(paths["ort_fp32"], paths["ort_int8"], weight_type=QuantType.QInt8)
        if static:
            paths["ort_int8_qdq"] = folder / "int8_qdq.onnx"
            quantize_static(paths["ort_fp32"], paths["ort_int8_qdq"], _Reader(calib),
                            quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax,
                            nodes_to_exclude=window_bias_nodes(paths["ort_fp32"]))
    return paths


def ort_session(path: Path) -> ort.InferenceSession:
    """One intra-op thread, one inter-op thread, sequential, all graph optimizations."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class LiteRTModel:
    """A full-integer .tflite in ai_edge_litert's Interpreter: one thread, the default
    op resolver (XNNPACK delegate); int8 in, int8 out."""

    def __init__(self, path: Path):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(path), num_threads=1)
        self.interpreter.allocate_tensors()
        self.inp = self.interpreter.get_input_details()[0]
        self.out = self.interpreter.get_output_details()[0]

    def quantize_input(self, feats: np.ndarray) -> np.ndarray:
        """(T, M) float features -> (1, T, M) int8 at the model's input scale."""
        scale, zp = self.inp["quantization"]
        return np.clip(np.round(feats / scale) + zp, -128, 127).astype(np.int8)[None]

    def run(self, x_q: np.ndarray) -> np.ndarray:
        self.interpreter.set_tensor(self.inp["index"], x_q)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.out["index"])

    def dequantize(self, y: np.ndarray) -> np.ndarray:
        scale, zp = self.out["quantization"]
        return scale * (y.astype(np.float64) - zp)


def tflite_models(config: str, checkpoint: str | None, calib: list[np.ndarray], seed: int,
                  folder: Path) -> dict:
    """tools/export_tflite.py in a child process (litert_torch and ai_edge_quantizer
    stay out of the timing process); its facts (tflite.json)."""
    np.savez(folder / "calib.npz", *calib)
    source = [checkpoint] if checkpoint is not None else \
        ["--config", config, "--seed", str(seed), "--n-classes", str(N_CLASSES)]
    cmd = [sys.executable, str(ROOT / "tools" / "export_tflite.py"), *source, "--calib",
           str(folder / "calib.npz"), "--frames", str(FRAMES), "-o", str(folder / "tflite")]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{config}: export_tflite failed:\n{done.stderr[-3000:]}")
    return json.loads((folder / "tflite" / "tflite.json").read_text())


def tflm_figures(path: Path, feats: np.ndarray, calls: int) -> dict:
    """TFLite-Micro on the host: the smallest arena (bytes) it allocates and runs in
    (bisection to 16 bytes, its own error messages silenced), the median latency of
    `calls` calls at that arena plus 1 KB, and its int8 output for `feats` (T, M)."""
    from tflite_micro.python.tflite_micro import runtime as tflm

    data = path.read_bytes()
    q = tflm.Interpreter.from_bytes(data, arena_size=64 << 20).get_input_details(0)
    scale, zp = q["quantization_parameters"]["scales"][0], q["quantization_parameters"]["zero_points"][0]
    x_q = np.clip(np.round(feats / scale) + zp, -128, 127).astype(np.int8)[None]

    def interpreter(size: int):
        return tflm.Interpreter.from_bytes(data, arena_size=size)

    def runs(size: int) -> bool:
        try:
            it = interpreter(size)
            it.set_input(x_q, 0)
            it.invoke()
            return True
        except (RuntimeError, ValueError):
            return False

    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)                     # TFLM prints each failed allocation
    try:
        lo, hi = 1024, 64 << 20
        ok = runs(hi)
        while ok and hi - lo > 16:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if runs(mid) else (mid, hi)
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)
    if not ok:
        return {"tflm_error": "does not run"}
    it = interpreter(hi + 1024)
    times = []
    for i in range(calls + 1):
        t0 = time.perf_counter()
        it.set_input(x_q, 0)
        it.invoke()
        y = it.get_output(0)
        if i:
            times.append(time.perf_counter() - t0)
    return {"tflm_arena_bytes": hi, "tflm_s": float(np.median(times)),
            "tflm_calls": calls, "tflm_output": y.reshape(-1).tolist()}


def use_simd(level: str) -> str:
    """Run the C models through a build of `level` (csrc/build_ffi.py, cached in
    build/simd-cache/ by tests/native_cache.py) instead of the installed extension;
    its pr_build_info."""
    sys.path.insert(0, str(ROOT / "tests"))
    from native_cache import cached_build

    # the compiler must not inherit an LD_PRELOAD such as tools/emulate_avx2_host.c's
    # (gcc's cc1 crashes under it); this process keeps what it has loaded
    preload = os.environ.pop("LD_PRELOAD", None)
    try:
        module = cached_build(level)
    finally:
        if preload is not None:
            os.environ["LD_PRELOAD"] = preload
    if module.lib.pr_build_cpu_ok() != 1:
        raise SystemExit(f"--simd {level}: this CPU cannot run that build")
    native.bind(module)
    return module.ffi.string(module.lib.pr_build_info()).decode()


# --------------------------------------------------------------------------- inputs

def waveform_samples(fc: FeatureConfig, frames: int = FRAMES) -> int:
    """Samples that give exactly ``frames`` log-mel frames (center=False framing)."""
    return fc.win_length + (frames - 1) * fc.hop_length


def features_of(frontend: Frontend, wave: np.ndarray) -> np.ndarray:
    """Normalized log-mel frames (T, M) float32 of a waveform, as inference does."""
    feats = logmel(wave, frontend.feature_config)                         # (T, M)
    return frontend.normalize([feats], [SPEAKER])[0]


def prepare(config: str, checkpoint: str | None, args, folder: Path) -> Subject:
    model, frontend, weights = load_subject_model(config, checkpoint, args.seed)
    calib = calibration_features(args.calib, frontend, model.config.n_mels, args.n_calib,
                                 args.seed)
    prq = c_int8_model(model, frontend, calib, folder / "c_int8.prq")
    paths = ort_models(model, calib, folder, not args.no_static)
    sessions = {name: ort_session(p) for name, p in paths.items()}
    tflite = litert = None
    if not args.no_litert:
        tflite = tflite_models(config, checkpoint, calib, args.seed, folder)
        litert = LiteRTModel(Path(tflite["int8"]))
    rng = np.random.default_rng(args.seed + 1)
    n_samples = waveform_samples(frontend.feature_config)
    wave = (0.1 * rng.standard_normal(n_samples)).astype(np.float32)
    feats = features_of(frontend, wave)                                  # (T, M)
    if feats.shape[0] != FRAMES:
        raise RuntimeError(f"{config}: {feats.shape[0]} frames, expected {FRAMES}")
    return Subject(config, weights, model, frontend, prq, sessions, wave,
                   np.ascontiguousarray(feats[None], dtype=np.float32),
                   prq.quantize_input(feats), litert, tflite)


# --------------------------------------------------------------------------- timing

def runners(s: Subject) -> dict[str, Callable[[], object]]:
    """name -> a call of one inference (``_feat``: from the waveform)."""
    inp = export_onnx.INPUT_NAME

    def feats() -> np.ndarray:
        return features_of(s.frontend, s.wave)                            # (T, M)

    fns = {
        "c_int8": lambda: s.prq.run(s.x_q),
        "numpy_fp32": lambda: s.model.predict_logits(s.x),
        "features": feats,
        "c_int8_feat": lambda: s.prq.run(s.prq.quantize_input(feats())),
        "numpy_fp32_feat": lambda: s.model.predict_logits(feats()[None]),
    }
    for name, session in s.sessions.items():
        fns[name] = lambda session=session: session.run(None, {inp: s.x})
        fns[f"{name}_feat"] = lambda session=session: session.run(None, {inp: feats()[None]})
    if s.litert is not None:
        x_lite = s.litert.quantize_input(s.x[0])
        fns["litert_int8"] = lambda: s.litert.run(x_lite)
        fns["litert_int8_feat"] = lambda: s.litert.run(s.litert.quantize_input(feats()))
    return fns


def interleaved_times(fns: dict[str, Callable[[], object]], repeats: int, block: int,
                      warmup: int = 3) -> dict[str, dict[str, np.ndarray]]:
    """Seconds per call, by clock and cache state, over ``repeats`` rounds.

    A round runs every function ``block`` times in a row, the functions' order rotated
    from round to round. The first call of a block comes right after another runtime
    ("cold": its weights and buffers were pushed out of the caches), the others after
    itself ("warm"). Returns {"wall" | "cpu" | "cold" | "cold_cpu": {name: samples}};
    cpu = the calling thread's CPU time (time spent preempted excluded).
    """
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    out = {kind: {name: [] for name in names} for kind in ("wall", "cpu", "cold", "cold_cpu")}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            for i in range(block):
                t0, c0 = time.perf_counter(), time.thread_time()
                fns[name]()
                c1, t1 = time.thread_time(), time.perf_counter()
                prefix = "cold" if i == 0 else ""
                out[prefix or "wall"][name].append(t1 - t0)
                out[f"{prefix}_cpu" if prefix else "cpu"][name].append(c1 - c0)
    return {kind: {n: np.array(t) for n, t in d.items()} for kind, d in out.items()}


def relative_errors(s: Subject) -> dict[str, float]:
    """max |logits - NumPy float64 logits| / max |NumPy float64 logits| per runtime,
    on the benchmark input (a check that all of them compute the same model)."""
    ref = s.model.astype(np.float64).predict_logits(s.x.astype(np.float64))[0]
    outs = {"numpy_fp32": s.model.predict_logits(s.x)[0],
            "c_int8": s.prq.dequantize_logits(s.prq.run(s.x_q))}
    for name, session in s.sessions.items():
        outs[name] = session.run(None, {export_onnx.INPUT_NAME: s.x})[0][0]
    if s.litert is not None:
        outs["litert_int8"] = s.litert.dequantize(s.litert.run(s.litert.quantize_input(s.x[0])))[0]
    scale = float(np.abs(ref).max())
    return {f"err_{k}": float(np.abs(np.asarray(v, np.float64) - ref).max()) / scale
            for k, v in outs.items()}


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a / b


def summary(t: dict[str, float]) -> dict:
    """The record's figures from one statistic per runner (seconds)."""
    out = {}
    for feat in ("", "_feat"):
        for name in ("c_int8", "numpy_fp32") + PEER_NAMES:
            out[f"{name}{feat}_s"] = t.get(name + feat)
        c = t["c_int8" + feat]
        out[f"ratio_c_vs_ort{feat}"] = ratio(c, t["ort_fp32" + feat])
        out[f"ratio_c_vs_ort_int8{feat}"] = ratio(c, t["ort_int8" + feat])
        out[f"ratio_c_vs_ort_int8_qdq{feat}"] = ratio(c, t.get("ort_int8_qdq" + feat))
        out[f"ratio_c_vs_litert{feat}"] = ratio(c, t.get("litert_int8" + feat))
    out["features_s"] = t["features"]
    return out


def measure(s: Subject, repeats: int, block: int, environment: dict) -> dict:
    """The record of one config: medians of the warm calls' wall clock (the top-level
    figures); the same on the thread CPU time ("cpu"), of the cold calls ("cold",
    "cold_cpu"), and the fastest warm calls ("min")."""
    load_before = os.getloadavg()[0]
    switches = resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw
    times = interleaved_times(runners(s), repeats, block)
    switches = resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw - switches
    rec = {"config": s.config, "weights": s.weights, "params": s.model.n_params(),
           "simd": environment["c_build"], "cpu": environment["cpu"]}
    rec.update(summary({n: float(np.median(t)) for n, t in times["wall"].items()}))
    for kind in ("cpu", "cold", "cold_cpu"):
        rec[kind] = summary({n: float(np.median(t)) for n, t in times[kind].items()})
    rec["min"] = summary({n: float(t.min()) for n, t in times["wall"].items()})
    rec.update(relative_errors(s))
    if s.tflite is not None:
        rec["litert_model"] = {"route": s.tflite["route"], "ops": s.tflite["int8_ops"]["ops"],
                               "float_ops": s.tflite["int8_ops"]["float_ops"],
                               "window_bias": s.tflite["window_bias"],
                               "bytes": Path(s.tflite["int8"]).stat().st_size}
    rec.update(repeats=repeats, block=block, calls=repeats * block * len(times["wall"]),
               preemptions=switches, load_before=load_before,
               load_after=os.getloadavg()[0], environment=environment)
    return rec


# --------------------------------------------------------------------------- report

def environment(build: str | None = None) -> dict:
    """What the figures depend on: SIMD level of the C build (`build`, default the
    installed extension's), CPU, versions."""
    if build is None:
        build = native.ffi().string(native.lib().pr_build_info()).decode() \
            if native.available() else "C extension not built"
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:  # what CPUID tells this process (tools/emulate_avx2_host.c can hide AVX-512)
        from numpy._core._multiarray_umath import __cpu_features__ as features
        seen = ", ".join(f for f in ("AVX2", "AVX512F", "AVX512_ICL") if features.get(f))
    except ImportError:
        seen = "unknown"
    try:
        from importlib.metadata import version
        litert = version("ai-edge-litert")
    except Exception:  # noqa: BLE001 - not installed
        litert = None
    return {"c_build": build, "cpu": cpu, "cpus": os.cpu_count(), "isa_seen": seen,
            "numpy": np.__version__, "onnxruntime": ort.__version__,
            "ai_edge_litert": litert, "python": platform.python_version()}


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{1e3 * v:.3f}"


def _x(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def print_table(figures: list[tuple[str, dict]], what: str) -> None:
    """Latency tables (features excluded / included) of (config, summary) pairs."""
    static = any(f["ort_int8_qdq_s"] is not None for _, f in figures)
    lite = any(f["litert_int8_s"] is not None for _, f in figures)
    names = ["c_int8", "numpy_fp32", "ort_fp32", "ort_int8"] + (["ort_int8_qdq"] if static
                                                                 else []) + \
        (["litert_int8"] if lite else [])
    cols = ["C int8", "NumPy fp32", "ORT fp32", "ORT int8"] + (["ORT QDQ"] if static else []) \
        + (["LiteRT i8"] if lite else [])
    for feat, title in (("", "features excluded (input: normalized log-mel frames)"),
                        ("_feat", "features included (input: 3 s waveform at 16 kHz)")):
        print(f"\n{title}; {what}, ms")
        print(f"{'config':<22}" + "".join(f"{c:>11}" for c in cols)
              + f"{'C/ORT':>8}{'C/ORT8':>8}" + (f"{'C/QDQ':>8}" if static else "")
              + (f"{'C/LRT':>8}" if lite else ""))
        for config, f in figures:
            line = f"{config:<22}" + "".join(f"{_ms(f[f'{n}{feat}_s']):>11}" for n in names)
            line += f"{_x(f[f'ratio_c_vs_ort{feat}']):>8}{_x(f[f'ratio_c_vs_ort_int8{feat}']):>8}"
            if static:
                line += f"{_x(f[f'ratio_c_vs_ort_int8_qdq{feat}']):>8}"
            if lite:
                line += f"{_x(f[f'ratio_c_vs_litert{feat}']):>8}"
            print(line)


def print_goals(figures: list[tuple[str, dict]], what: str) -> None:
    """The issue's goals: C faster than ORT int8 and LiteRT int8 everywhere; on the
    light configs <= 0.5 ORT fp32 and <= 0.7 LiteRT int8."""
    print(f"\ngoals, features excluded, on the {what}:")

    def goal(name: str, v: float | None, limit: float, strict: bool) -> str:
        if v is None:
            return ""
        ok = v < limit if strict else v <= limit
        return f"  {name} {v:.2f} {'met' if ok else 'MISSED'} ({'<' if strict else '<='} " \
               f"{limit:g})"

    for config, f in figures:
        line = f"  {config:<22}" + goal("C/ORT-int8", f["ratio_c_vs_ort_int8"], 1, True) + \
            goal("C/LiteRT-int8", f["ratio_c_vs_litert"], 1, True)
        if config.endswith(":light"):
            line += goal("C/ORT-fp32", f["ratio_c_vs_ort"], 0.5, False) + \
                goal("C/LiteRT-int8", f["ratio_c_vs_litert"], 0.7, False)
        print(line)


def print_tflm(records: list[dict]) -> None:
    """TFLite-Micro's arena and host latency next to the C runtime's."""
    rows = [r for r in records if "tflm_arena_bytes" in r]
    if not rows:
        return
    print("\nTFLite-Micro (the same int8 model, its interpreter on the host) vs the C runtime:")
    print(f"{'config':<22}{'TFLM arena':>12}{'C arena':>10}{'TFLM file':>11}{'C flash':>10}"
          f"{'TFLM ms':>9}{'C ms':>8}{'C/TFLM':>8}  TFLM vs LiteRT logits")
    for r in rows:
        print(f"{r['config']:<22}{r['tflm_arena_bytes']:>12,}{r['c_arena_bytes']:>10,}"
              f"{r['tflm_model_bytes']:>11,}{r['c_flash_bytes']:>10,}"
              f"{_ms(r['tflm_s']):>9}{_ms(r['c_int8_s']):>8}"
              f"{_x(ratio(r['c_int8_s'], r['tflm_s'])):>8}  max |diff| "
              f"{r.get('tflm_vs_litert_max_diff', '-')} (int8 steps)"
              + (f"; {r['tflm_note']}" if r.get("tflm_note") else ""))


def print_errors(records: list[dict]) -> None:
    keys = [k for k in records[0] if k.startswith("err_")]
    print("\nmax |logits - NumPy float64| / max |NumPy float64| on the benchmark input:")
    print(f"{'config':<22}" + "".join(f"{k[4:]:>14}" for k in keys))
    for r in records:
        print(f"{r['config']:<22}" + "".join(f"{r[k]:>14.2e}" for k in keys))


def print_report(records: list[dict]) -> None:
    wall = [(r["config"], r) for r in records]
    cpu = [(r["config"], r["cpu"]) for r in records]
    cold = [(r["config"], r["cold"]) for r in records]
    print_table(wall, "warm calls, median wall clock")
    print_table(cpu, "warm calls, median thread CPU time (time preempted excluded)")
    print_table(cold, "cold calls (first after another runtime), median wall clock")
    print("\nfeatures alone (log-mel + normalization), median wall ms: " + ", ".join(
        f"{r['config']} {_ms(r['features_s'])}" for r in records))
    print("load average (1 min) before/after, involuntary context switches per call: "
          + ", ".join(f"{r['config']} {r['load_before']:.2f}/{r['load_after']:.2f} "
                      f"{r['preemptions'] / r['calls']:.2f}" for r in records))
    print_goals(wall, "warm calls' median wall clock")
    print_goals(cpu, "warm calls' median thread CPU time")
    print_goals(cold, "cold calls' median wall clock")
    print_tflm(records)
    lite = [r for r in records if "litert_model" in r]
    if lite:
        print("\nLiteRT int8 models (" + lite[0]["litert_model"]["route"] + "): " + "; ".join(
            f"{r['config']} {r['litert_model']['bytes']:,} B, "
            + ("every op int8" if not r["litert_model"]["float_ops"]
               else "FLOAT ops " + ", ".join(r["litert_model"]["float_ops"]))
            + (f", window bias {r['litert_model']['window_bias']:.1f}"
               if r["litert_model"]["window_bias"] is not None else "")
            for r in lite))
    print_errors(records)


# --------------------------------------------------------------------------- main

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=40, help="timing rounds per config")
    parser.add_argument("--block", type=int, default=5,
                        help="consecutive calls of a runtime in a round (>= 2: the first "
                             "is timed as cold, the others as warm)")
    parser.add_argument("--json", help="write the records to this JSON file")
    parser.add_argument("--only", action="append", default=[],
                        help="BACKBONE:SIZE to run (repeatable; default: all six)")
    parser.add_argument("--model", action="append", default=[],
                        help="BACKBONE:SIZE=CHECKPOINT: a trained model for that config")
    parser.add_argument("--calib", help="calibration manifest (default: random normal "
                                        "features)")
    parser.add_argument("--n-calib", type=int, default=8, help="calibration utterances")
    parser.add_argument("--no-static", action="store_true",
                        help="skip ORT's static QDQ int8 model")
    parser.add_argument("--no-litert", action="store_true",
                        help="skip LiteRT int8 (and TFLite-Micro)")
    parser.add_argument("--no-tflm", action="store_true", help="skip TFLite-Micro")
    parser.add_argument("--tflm-calls", type=int, default=10,
                        help="TFLite-Micro calls timed per light config")
    parser.add_argument("--simd", default=None,
                        help="run the C models through a build of this SIMD level "
                             "(none, avx2, avx512vnni; default: the installed extension)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", help="folder to keep the .prq and .onnx files in")
    args = parser.parse_args(argv)
    if args.json:   # its folder now, not after the whole run
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.block < 2:
        raise SystemExit("--block must be at least 2 (one cold call, then warm ones)")
    configs = args.only or [f"{b}:{s}" for s in SIZES for b in BACKBONES]
    checkpoints = dict(item.split("=", 1) for item in args.model)
    env = environment(use_simd(args.simd) if args.simd else None)
    print(f"C extension: {env['c_build']}; CPU: {env['cpu']} ({env['cpus']} logical; "
          f"CPUID as this process sees it: {env['isa_seen']}); "
          f"onnxruntime {env['onnxruntime']}, ai-edge-litert {env['ai_edge_litert']}, "
          f"numpy {env['numpy']}; one thread everywhere; "
          f"{args.repeats} interleaved rounds of {args.block} calls each; load average {os.getloadavg()[0]:.2f}")
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for config in configs:
            folder = Path(args.keep or tmp) / config.replace(":", "_")
            folder.mkdir(parents=True, exist_ok=True)
            subject = prepare(config, checkpoints.get(config), args, folder)
            records.append(measure(subject, args.repeats, args.block, env))
            r = records[-1]
            r["c_arena_bytes"] = subject.prq.info["arena_bytes"]
            r["c_flash_bytes"] = subject.prq.info["flash_bytes"]
            if subject.tflite is not None and not args.no_tflm and config.endswith(":light"):
                tflm_path = Path(subject.tflite["tflm"])
                r.update(tflm_figures(tflm_path, subject.x[0], args.tflm_calls))
                r["tflm_model_bytes"] = tflm_path.stat().st_size
                r["tflm_note"] = subject.tflite.get("tflm_note")
                if "tflm_output" in r:
                    lite = subject.litert.run(subject.litert.quantize_input(subject.x[0]))
                    r["tflm_vs_litert_max_diff"] = int(np.abs(
                        np.asarray(r["tflm_output"]) - lite.reshape(-1).astype(int)).max())
            print(f"  {config}: C {_ms(r['c_int8_s'])} ms, ORT fp32 {_ms(r['ort_fp32_s'])} "
                  f"ms, ORT int8 {_ms(r['ort_int8_s'])} ms, LiteRT int8 "
                  f"{_ms(r['litert_int8_s'])} ms", flush=True)
    print_report(records)
    if args.json:
        write_text(args.json, json.dumps(records, indent=1))
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
