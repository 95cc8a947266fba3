"""Quantization workflow behind ``pyreparam quantize`` (and ``infer``'s loaders).

Library functions only (the CLI in :mod:`pyreparam.cli.quant` parses options and
prints): load a merged checkpoint with its front end, load and normalize the
calibration / evaluation utterances exactly as training did, calibrate and lower,
report the per-layer error and float vs int8 accuracy. Describing a .prq is
:mod:`pyreparam.quant.inspect`, writing firmware headers :mod:`pyreparam.quant.export`.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from pyreparam.audio.features import FeatureConfig
from pyreparam.data.cache import load_features
from pyreparam.data.manifest import read_manifest
from pyreparam.data.normalize import Normalizer
from pyreparam.infer import Frontend
from pyreparam.models import Model, load_checkpoint_with_meta
from pyreparam.quant.backbones import QuantizeError, build_graph, check_mergeable
from pyreparam.quant.calibrate import DEFAULT_METHOD, DEFAULT_PERCENTILE, calibrate
from pyreparam.quant.graph import Graph, run_float
from pyreparam.quant.lower import ARENA_BUDGET, DEFAULT_BLOCK, lower
from pyreparam.quant.program import Program
from pyreparam.quant.prq import FORMAT
from pyreparam.quant.qmodel import quantize_input, run_program
from pyreparam.train.batching import predict_logits
from pyreparam.train.metrics import classification_report


@dataclasses.dataclass
class LoadedModel:
    """A merged model, its front end and a note when the front end is a default."""

    model: Model
    frontend: Frontend
    note: str | None


def load_float(path) -> LoadedModel:
    """A checkpoint and its front end (FeatureConfig defaults and per-utterance
    normalization when the checkpoint has none, e.g. from ``pyreparam init``)."""
    model, meta, extra = load_checkpoint_with_meta(path)
    if "classes" in meta and "feature_config" in meta:
        return LoadedModel(model, Frontend.from_checkpoint(meta, extra, path,
                                                           model.config.n_mels), None)
    frontend = Frontend(FeatureConfig(n_mels=model.config.n_mels), Normalizer("utterance"),
                        [f"class{i}" for i in range(model.config.n_classes)])
    note = (f"{path} has no front end (not written by `pyreparam train`): using the "
            f"default features ({model.config.n_mels} mels) and per-utterance "
            "normalization; classes are named class0..")
    return LoadedModel(model, frontend, note)


def load_merged(path) -> LoadedModel:
    """:func:`load_float` of a merged model; QuantizeError for one with HRF factors."""
    loaded = load_float(path)
    check_mergeable(loaded.model)
    return loaded


def ensure_prior(loaded: LoadedModel, manifest, cache=None, on_error: str = "fail"
                 ) -> str | None:
    """Give the front end a causal-normalization prior when it has none (a checkpoint
    from ``pyreparam init`` or from before causal normalization existed): fitted on the
    unlabelled audio of the manifest's speakers (the calibration speakers, i.e.
    training speakers). Returns a note for the user, or None when nothing was done."""
    normalizer = loaded.frontend.normalizer
    if normalizer.has_prior:
        return None
    utterances = read_manifest(manifest)
    raw, kept, _ = load_features(utterances, loaded.frontend.feature_config, cache, on_error)
    if not raw:
        return None
    normalizer.fit_prior(loaded.frontend.network(raw), [u.speaker for u in kept])
    return (f"the model has no causal-normalization prior; fitted one on the "
            f"{len(raw)} calibration utterances of {len({u.speaker for u in kept})} "
            "speaker(s) (unlabelled audio)")


@dataclasses.dataclass
class Utterances:
    """Normalized features (cut to T_max frames), labels (class index or -1), paths;
    ``whole``: the same features uncut (what training and ``eval`` give the float
    model), ``frames``: each file's length in frames, ``raw``: the features before
    normalization, ``speakers``: each file's speaker."""

    features: list[np.ndarray]
    labels: np.ndarray
    paths: list[str]
    n_cut: int
    whole: list[np.ndarray] | None = None
    frames: list[int] | None = None
    raw: list[np.ndarray] | None = None
    speakers: list[str] | None = None

    def cut_files(self, t_max: int) -> list[tuple[str, int]]:
        """(path, frames) of every file longer than t_max frames."""
        return [(p, n) for p, n in zip(self.paths, self.frames or []) if n > t_max]


def load_utterances(manifest, frontend: Frontend, t_max: int, cache=None,
                    on_error: str = "fail") -> Utterances:
    """Features of every utterance of a manifest, normalized as in training, each cut to
    its first t_max frames. Labels outside the model's classes become -1."""
    utterances = read_manifest(manifest)
    raw, kept, _ = load_features(utterances, frontend.feature_config, cache, on_error)
    speakers = [u.speaker for u in kept]
    features = frontend.normalize(raw, speakers)
    frames = [int(f.shape[0]) for f in features]
    n_cut = sum(n > t_max for n in frames)
    cut = [np.ascontiguousarray(f[:t_max]) for f in features]
    labels = np.array([frontend.classes.index(u.label) if u.label in frontend.classes else -1
                       for u in kept], dtype=np.int64)
    return Utterances(cut, labels, [u.path for u in kept], n_cut, features, frames, raw,
                      speakers)


def pick(utterances: Utterances, n: int, seed: int = 0) -> list[np.ndarray]:
    """n utterances drawn without replacement (all when there are fewer)."""
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(utterances.features))[:n]
    return [utterances.features[i] for i in sorted(idx)]


def quantize_model(model: Model, calib: list[np.ndarray], t_max: int,
                   method: str = DEFAULT_METHOD, percentile: float = DEFAULT_PERCENTILE,
                   block: int = DEFAULT_BLOCK, arena_budget: int = ARENA_BUDGET
                   ) -> tuple[Graph, dict, Program]:
    """(float graph, scales and zero points, integer program) of a merged model.

    ``arena_budget`` (bytes) bounds how much the attention schedules may grow the
    arena for speed; 0 keeps the least-memory schedules."""
    graph = build_graph(model)
    qparams = calibrate(graph, calib, method, percentile)
    bad = sorted(name for name, (scale, _) in qparams.items()
                 if not (math.isfinite(scale) and scale > 0))
    if bad:
        raise QuantizeError(f"calibration gave no finite range for {', '.join(bad[:5])} "
                            "(the model overflows on the calibration audio?)")
    return graph, qparams, lower(graph, qparams, t_max, block, arena_budget)


def quantize_head(loaded: LoadedModel, raw: Sequence[np.ndarray], t_max: int,
                  output_scale: float):
    """Integer constants (:mod:`pyreparam.quant.qhead`) of the model's statistics head,
    calibrated on the float functionals of the raw frames ``raw`` (the calibration
    speakers' utterances, each cut to t_max frames as the device sees them)."""
    from pyreparam.quant.qhead import quantize_head as quantize_constants
    head = loaded.frontend.head
    F = np.stack([head.functionals(x[:t_max]) for x in raw])
    return quantize_constants(head, F, loaded.frontend.feature_config.channels, output_scale)


def host_meta(loaded: LoadedModel, qparams: dict, t_max: int, calibration: dict,
              head=None) -> dict:
    """The JSON metadata a .prq carries for the host (``head``: the statistics head's
    integer constants, :class:`pyreparam.quant.qhead.HeadConstants`)."""
    fe = loaded.frontend
    normalizer = {k: np.asarray(v).tolist() for k, v in fe.normalizer.to_dict().items()}
    meta = {
        "format": FORMAT,
        "classes": list(fe.classes),
        "feature_config": fe.feature_config.to_dict(),
        "normalizer": normalizer,
        "input": {"scale": float(qparams["input"][0]), "zero_point": int(qparams["input"][1])},
        "output": {"scale": float(qparams["logits"][0]),
                   "zero_point": int(qparams["logits"][1])},
        "t_max": int(t_max),
        "model_config": loaded.model.config.to_dict(),
        "merged_from": loaded.model.merged_from,
        "calibration": calibration,
        "training_speakers": list(fe.training_speakers),
    }
    if head is not None:
        from pyreparam.quant.qhead import to_meta
        meta["head"] = to_meta(head)
    from pyreparam.stream import stream_meta
    stream = stream_meta(meta)              # window, hop, gate (models with a prior)
    if stream is not None:
        meta["stream"] = stream
    return meta


def frontend_from_meta(meta: dict) -> Frontend:
    """The front end stored in a .prq's metadata."""
    state = {k: np.asarray(v) for k, v in meta["normalizer"].items()}
    return Frontend(FeatureConfig.from_dict(meta["feature_config"]),
                    Normalizer.from_dict(state), list(meta["classes"]),
                    tuple(meta.get("training_speakers", ())),
                    n_in=int(meta["model_config"]["n_mels"]))


# --------------------------------------------------------------------------- reports

def _rel_rms(num: float, den: float) -> float:
    """sqrt(num / den), inf when either is not finite (never a NaN that compares as
    small), 0 for an all-zero reference."""
    if not (math.isfinite(num) and math.isfinite(den)):
        return math.inf
    return math.sqrt(num / den) if den > 0 else (0.0 if num == 0 else math.inf)


def error_table(graph: Graph, program: Program, qparams: dict,
                features: Sequence[np.ndarray]) -> list[dict]:
    """Per-value error of the int8 program against the float graph over utterances.

    Relative RMS = sqrt(sum (deq - float)^2 / sum float^2) pooled over all elements
    of all utterances; also the largest absolute error in units of the value's scale.
    """
    num: dict[str, float] = {}
    den: dict[str, float] = {}
    worst: dict[str, float] = {}
    for x in features:
        env = run_float(graph, x)
        _, values = run_program(program, quantize_input(x, *qparams["input"]), collect=True)
        for name, v in values.items():
            if name in env:
                d = v - env[name]
                num[name] = num.get(name, 0.0) + float(np.sum(d * d))
                den[name] = den.get(name, 0.0) + float(np.sum(env[name] ** 2))
                err = float(np.abs(d).max())          # NaN-safe: a NaN error is inf
                worst[name] = max(worst.get(name, 0.0), err if err == err else math.inf)
    rows = []
    order = [n.name for n in graph.nodes]
    for node in graph.nodes:
        if node.kind == "mha":
            order[order.index(node.name):order.index(node.name)] = \
                [f"{node.name}.{p}" for p in "qkv"]
    for name in order:
        if name not in num:
            continue
        scale, zp = qparams.get(name, (float("nan"), 0))
        value = graph.values[name]
        rows.append({"name": name, "dtype": "int16" if value.role == "s16" else "int8",
                     "scale": float(scale), "zero_point": int(zp),
                     "rel_rms": _rel_rms(num[name], den[name]),
                     "max_err_lsb": worst[name] / scale if scale > 0 else float("nan")})
    return rows


def int8_logits(program: Program, blob: bytes | None, features, qparams) -> np.ndarray:
    """int8 logits (n, N) of every utterance: the C runner when built, else NumPy."""
    from pyreparam import native
    if blob is not None and native.available():
        from pyreparam.quant.runtime import PRQModel
        runner = PRQModel(blob).run
    else:
        runner = lambda x: run_program(program, x)
    return np.stack([runner(quantize_input(x, *qparams["input"])) for x in features])


def evaluate(model: Model, program: Program, blob: bytes | None, qparams: dict,
             utterances: Utterances) -> dict:
    """WA / UA / macro-F1 of the float model and of the int8 program on the utterances
    with known labels, and how often their predictions agree.

    The one length policy: the float model sees each whole file, as in training and
    ``eval`` ("float"), the int8 program its first T_max frames ("int8"); with files
    longer than T_max, "float_cut" is the float model on the same cut files as int8
    (the agreement compares those two)."""
    keep = utterances.labels >= 0
    feats = [f for f, k in zip(utterances.features, keep) if k]
    labels = utterances.labels[keep]
    n_classes = model.config.n_classes
    cut_pred = np.argmax(predict_logits(model, feats), axis=1)
    int8_pred = np.argmax(int8_logits(program, blob, feats, qparams), axis=1)
    report = {"float": classification_report(labels, cut_pred, n_classes),
              "int8": classification_report(labels, int8_pred, n_classes),
              "agreement": float(np.mean(cut_pred == int8_pred)), "n": int(keep.sum())}
    if utterances.whole is not None and any(
            len(w) > len(f) for w, f, k in zip(utterances.whole, utterances.features, keep)
            if k):
        whole = [w for w, k in zip(utterances.whole, keep) if k]
        report["float_cut"] = report["float"]
        report["float"] = classification_report(
            labels, np.argmax(predict_logits(model, whole), axis=1), n_classes)
    return report
