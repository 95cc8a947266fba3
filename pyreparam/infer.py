"""Inference and evaluation of trained models on audio files.

A checkpoint written by training carries its front end: the feature settings, the
class names and the normalization statistics (with the causal prior). :class:`Frontend`
rebuilds it, so evaluation and inference use exactly the features the model was
trained on. :func:`load_runner` opens either kind of model: a float checkpoint (.npz,
NumPy) or an int8 model file (.prq, the C runtime with the device's integer causal
normalization); :func:`evaluate_model` scores one under an evaluation protocol
(:mod:`pyreparam.train.protocols`).
"""
from __future__ import annotations

import dataclasses
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pyreparam.audio.decode import NO_SPEECH_DBFS, AudioError
from pyreparam.audio.features import FeatureConfig, network_input
from pyreparam.data.cache import load_features
from pyreparam.data.manifest import read_manifest
from pyreparam.data.normalize import Normalizer
from pyreparam.models import Model, load_checkpoint_with_meta
from pyreparam.models.stats_head import StatsHead
from pyreparam.ops.activations import softmax_forward
from pyreparam.train.metrics import classification_report
from pyreparam.train.protocols import (DEFAULT_ORDERS, PROTOCOLS, evaluate_protocols)


class InferenceError(ValueError):
    """The checkpoint or the data cannot be used for inference."""


class EvaluationWarning(UserWarning):
    """An evaluation whose figure does not mean what it seems (seen speakers, ...)."""


@dataclasses.dataclass
class Frontend:
    """Features, normalization and class names that go with a trained model.

    In 'speaker' normalization, speakers seen in training use their stored statistics;
    other speakers are normalized with statistics from their own utterances passed in
    the same call (no labels involved), and a single file of an unknown speaker is
    normalized by its own statistics.
    """

    feature_config: FeatureConfig
    normalizer: Normalizer
    classes: list[str]
    #: the speakers the model was trained or validated on (a fold model's), if known
    training_speakers: tuple[str, ...] = ()
    #: the statistics head that decides with the network (``train --stats-head``)
    head: StatsHead | None = None
    #: values per frame the network reads, the first of the features' channels (None:
    #: all; the mel bands alone when the pitch channels feed the head only)
    n_in: int | None = None

    @classmethod
    def from_checkpoint(cls, meta: dict, extra: dict[str, np.ndarray], path,
                        n_in: int | None = None) -> "Frontend":
        if "classes" not in meta or "feature_config" not in meta:
            raise InferenceError(f"{path}: the checkpoint has no front end (feature settings "
                                 "and class names); it was not written by `pyreparam train`")
        state = {k[len("normalizer."):]: v for k, v in extra.items()
                 if k.startswith("normalizer.")}
        normalizer = Normalizer.from_dict(state) if state else Normalizer("utterance")
        fold = meta.get("fold") or {}
        seen = tuple(fold.get("train", ())) + tuple(fold.get("validation", ()))
        features = FeatureConfig.from_dict(meta["feature_config"])
        head = StatsHead.from_extra(extra, len(meta["classes"]), features.channels)
        return cls(features, normalizer, list(meta["classes"]), seen, head, n_in)

    def network(self, features: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The network's channels of each utterance's features."""
        return [x if self.n_in is None else network_input(x, self.n_in) for x in features]

    def normalize(self, features: list[np.ndarray], speakers: Sequence[str]) -> list[np.ndarray]:
        """The network's input: its channels of the features, normalized."""
        features = self.network(features)
        if self.normalizer.mode == "utterance":
            return self.normalizer.apply(features)
        return self.normalizer.apply(features, list(speakers))


def load_for_inference(path: str | os.PathLike) -> tuple[Model, Frontend]:
    model, meta, extra = load_checkpoint_with_meta(path)
    return model, Frontend.from_checkpoint(meta, extra, path, model.config.n_mels)


@dataclasses.dataclass
class Runner:
    """A model ready for inference: its scorer (normalization + model), front end,
    what kind it is, and the longest input it takes (None: any)."""

    scorer: object
    frontend: Frontend
    kind: str
    t_max: int | None
    merged: bool = False
    note: str | None = None


def load_runner(path: str | os.PathLike) -> Runner:
    """A .prq (int8, C runtime) or a float checkpoint (.npz) with its front end.

    Raises
    ------
    InferenceError, CheckpointError, PRQError
        When the file is missing, corrupt or has no front end.
    """
    if str(path).endswith(".prq"):
        from pyreparam.quant.deploy import DeployError, Int8Scorer
        from pyreparam.quant.prq import load_prq
        from pyreparam.quant.workflow import frontend_from_meta
        program, meta, blob = load_prq(path)
        try:
            frontend = frontend_from_meta(meta)
            scorer = Int8Scorer(program, meta, blob)
        except (KeyError, TypeError, ValueError, DeployError) as exc:
            raise InferenceError(f"{path}: no usable host metadata (a device copy from "
                                 f"`pyreparam export`?): {exc}") from None
        return Runner(scorer, frontend, "int8 (C runtime)" if scorer.use_c
                      else "int8 (NumPy reference)", program.t_max, True)
    from pyreparam.quant.workflow import load_float
    from pyreparam.train.protocols import FloatScorer, HeadScorer
    loaded = load_float(path)
    model, frontend = loaded.model, loaded.frontend
    merged = model.config.hrf is None and model.merged_from is not None
    scorer = FloatScorer(model, frontend.normalizer)
    kind = "float (NumPy)"
    if frontend.head is not None:
        scorer, kind = HeadScorer(scorer, frontend.head), "float (NumPy) + statistics head"
    return Runner(scorer, frontend, kind, None, merged, loaded.note)


#: ``eval --protocol``: the evaluation protocols, and "model" for the normalization the
#: model was trained with.
EVAL_PROTOCOLS = ("model",) + PROTOCOLS


def evaluate_model(model_path: str | os.PathLike, manifest_path: str | os.PathLike, *,
                   protocol: str = "model", n_orders: int = DEFAULT_ORDERS, seed: int = 0,
                   cache_dir=None, on_error: str = "fail") -> dict:
    """WA, UA, macro-F1 and the confusion matrix of a model (.npz or .prq) on a
    manifest under an evaluation protocol (causal: also ``ua_by_prior``)."""
    if protocol not in EVAL_PROTOCOLS:
        raise InferenceError(f"unknown protocol {protocol!r}; choose from {EVAL_PROTOCOLS}")
    runner = load_runner(model_path)
    frontend = runner.frontend
    utterances = read_manifest(manifest_path)
    seen = sorted(set(frontend.training_speakers) & {u.speaker for u in utterances})
    if seen:
        warnings.warn(EvaluationWarning(
            f"{manifest_path}: {len(seen)} speaker(s) of the manifest trained or validated "
            f"this model ({', '.join(seen[:5])}{', ...' if len(seen) > 5 else ''}): their "
            "scores are not speaker-independent; evaluate a fold model on its test "
            "speakers (folds.json)"), stacklevel=2)
    unknown = sorted({u.label for u in utterances} - set(frontend.classes))
    if unknown:
        raise InferenceError(f"{manifest_path}: label(s) {unknown} are not among the model's "
                             f"classes {frontend.classes}")
    raw, kept, skipped = load_features(utterances, frontend.feature_config, cache_dir,
                                       on_error)
    labels = np.array([frontend.classes.index(u.label) for u in kept])
    report = score_features(runner, raw, labels, [u.speaker for u in kept], protocol,
                            n_orders=n_orders, seed=seed)
    cut = 0 if runner.t_max is None else sum(x.shape[0] > runner.t_max for x in raw)
    report.update(classes=frontend.classes, model=str(model_path),
                  manifest=str(manifest_path), kind=runner.kind, merged=runner.merged,
                  skipped=[[u.path, r] for u, r in skipped], cut_to_t_max=int(cut),
                  training_speakers_in_manifest=seen)
    return report


def score_features(runner: Runner, raw: Sequence[np.ndarray], labels: np.ndarray,
                   speakers: Sequence[str], protocol: str = "model", *,
                   n_orders: int = DEFAULT_ORDERS, seed: int = 0) -> dict:
    """WA, UA, macro-F1 and the confusion matrix of a runner's decisions on features
    already computed (``raw``, before normalization) under one protocol ("model": the
    normalization the model was trained with); ``protocol`` in the report says which."""
    frontend = runner.frontend
    used = frontend.normalizer.mode if protocol == "model" else protocol
    if used in PROTOCOLS:
        report = evaluate_protocols(runner.scorer, raw, labels, speakers,
                                    len(frontend.classes), [used], n_orders=n_orders,
                                    seed=seed)[used]
    else:                                   # 'global': the model's fixed statistics
        logits = runner.scorer.normalized(frontend.normalize(raw, speakers))
        report = classification_report(labels, np.argmax(logits, axis=1),
                                        len(frontend.classes))
    report["protocol"] = used
    return report


# --------------------------------------------------------------------------- infer

#: What `infer` tells users whose files were normalized without a speaker history.
ALONE_NOTE = ("each file was normalized without knowing its speaker (the training "
              "speakers' prior alone); a device that keeps a state gets better with every "
              "utterance it hears: pass --state FILE (one per speaker or device), or "
              "--same-speaker for several files of one speaker at once")
OWN_STATS_NOTE = ("this model was trained with per-speaker normalization and has no "
                  "prior; each file is normalized by its own statistics, which is much "
                  "less accurate: give several files of one speaker with --same-speaker, "
                  "or retrain with this version to use --state")


class NoSpeech(ValueError):
    """A file without speech energy: answered "no speech", never with an emotion."""

    def __init__(self, path: str, level_dbfs: float) -> None:
        super().__init__(f"{path}: no speech (loudest 25 ms at {level_dbfs:.0f} dBFS, "
                         f"below {NO_SPEECH_DBFS:.0f} dBFS)")
        self.level_dbfs = level_dbfs


def raw_features(runner: Runner, path: str) -> np.ndarray:
    """Features of one file (log-mel, pitch channels if the model has them), before
    normalization (NoSpeech for silence)."""
    from pyreparam.audio.decode import MAX_SECONDS, load_audio, loudest_frame_dbfs
    from pyreparam.audio.features import frame_features
    fc = runner.frontend.feature_config
    signal = load_audio(path, sample_rate=fc.sample_rate, max_seconds=MAX_SECONDS)
    level = loudest_frame_dbfs(signal, fc.sample_rate)
    if level < NO_SPEECH_DBFS:
        raise NoSpeech(path, level)
    return frame_features(signal, fc)


def infer_files(runner: Runner, paths: Sequence[str], *, same_speaker: bool = False,
                state_path: str | os.PathLike | None = None) -> tuple[list[dict], str | None]:
    """Predict every file; returns (one record per path, a note for the user or None).

    ``state_path``: the files are one speaker heard in this order by a device whose
    normalization state lives in that file (created when absent); each file is
    normalized with the state, then the state is updated and rewritten atomically.
    ``same_speaker``: all files normalized together with their pooled statistics.
    Otherwise each file alone: with the training prior when the model has one.
    """
    from pyreparam.models.checkpoint import atomic_write
    scorer, normalizer = runner.scorer, runner.frontend.normalizer
    records: dict[str, dict] = {}
    raw: dict[str, np.ndarray] = {}
    for path in paths:
        try:
            raw[path] = raw_features(runner, path)
        except NoSpeech as exc:
            records[path] = {"file": path, "emotion": None, "no_speech": True,
                             "level_dbfs": exc.level_dbfs if np.isfinite(exc.level_dbfs)
                             else None, "note": str(exc)}
        except (AudioError, ValueError) as exc:
            records[path] = {"file": path, "error": str(exc)}
    note = None
    logits: dict[str, np.ndarray] = {}
    ms: dict[str, float] = {}
    if state_path is not None:
        state = _load_state(runner, state_path)
        for path, x in raw.items():
            heard = _heard(state)
            (logits[path], state), ms[path] = _timed(scorer.step, state, x)
            atomic_write(Path(state_path), lambda f: f.write(scorer.state_to_bytes(state)))
            records[path] = {"heard_before": heard}
    elif same_speaker and raw:
        if normalizer.mode in ("speaker", "causal"):
            out, total = _timed(scorer.speaker, list(raw.values()))
        else:
            out, total = _timed(scorer.normalized, runner.frontend.normalize(
                list(raw.values()), ["--same-speaker"] * len(raw)))
        logits = dict(zip(raw, out))
        ms = {path: total / len(raw) for path in raw}
    elif raw and normalizer.has_prior:
        fresh = scorer.new_state()
        for path, x in raw.items():
            (logits[path], _), ms[path] = _timed(scorer.step, fresh, x)
        note = ALONE_NOTE
    elif raw:
        for path, features in zip(raw, runner.frontend.normalize(
                list(raw.values()), [f"file:{p}" for p in raw])):
            out, ms[path] = _timed(scorer.normalized, [features])
            logits[path] = out[0]
        note = OWN_STATS_NOTE if normalizer.mode == "speaker" else None
    classes = runner.frontend.classes
    for path, z in logits.items():
        probs = softmax_forward(np.asarray(z, dtype=np.float64))[0]
        record = {"file": path, "emotion": classes[int(np.argmax(probs))],
                  "probabilities": {c: round(float(p), 6) for c, p in zip(classes, probs)},
                  "frames": int(raw[path].shape[0] if runner.t_max is None
                                else min(raw[path].shape[0], runner.t_max)),
                  "model": runner.kind,
                  "latency_ms": round(ms[path], 3),
                  **records.get(path, {})}
        if runner.t_max is not None and raw[path].shape[0] > runner.t_max:
            record["note"] = (f"cut to the model's T_max: the first {runner.t_max} of "
                              f"{raw[path].shape[0]} frames")
        records[path] = record
    return [records[p] for p in paths], note


def _timed(fn, *args):
    """(result, milliseconds) of one call (normalization and model, no decoding)."""
    t0 = time.perf_counter()
    out = fn(*args)
    return out, 1e3 * (time.perf_counter() - t0)


def _load_state(runner: Runner, path: str | os.PathLike):
    """A stored state (validated), or a fresh one when the file does not exist."""
    path = Path(path)
    if not runner.frontend.normalizer.has_prior:
        raise InferenceError("this model has no normalization prior (trained before causal "
                             "normalization existed); --state needs a model trained with "
                             "this version")
    if not path.exists():
        return runner.scorer.new_state()
    try:
        return runner.scorer.state_from_bytes(path.read_bytes())
    except OSError as exc:
        raise InferenceError(f"{path}: cannot read the state ({exc.strerror})") from None
    except ValueError as exc:
        raise InferenceError(f"{path}: {exc}") from None


def _heard(state) -> int:
    """Utterances a state has heard (float or int8 state; with a statistics head, a
    pair of the frames' and the functionals' statistics)."""
    if isinstance(state, tuple):
        state = state[0]
    if isinstance(state, (bytes, bytearray)):    # int8: the frames' state comes first
        import struct

        from pyreparam.quant.qcausal import state_bytes, state_from_bytes
        bands = struct.unpack_from("<I", state, 8)[0]
        return state_from_bytes(bytes(state[:state_bytes(bands)])).n
    return state.n_utterances
