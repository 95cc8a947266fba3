"""Inference and evaluation of trained checkpoints on audio files.

A checkpoint written by training carries its front end: the feature settings, the
class names and the normalization statistics. :class:`Frontend` rebuilds it, so
evaluation and inference use exactly the features the model was trained on.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import numpy as np

from pyreparam.audio.features import FeatureConfig
from pyreparam.data.cache import load_features
from pyreparam.data.manifest import Utterance, read_manifest
from pyreparam.data.normalize import Normalizer
from pyreparam.models import Model, load_checkpoint_with_meta
from pyreparam.train.batching import predict_logits
from pyreparam.train.metrics import classification_report


class InferenceError(ValueError):
    """The checkpoint or the data cannot be used for inference."""


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

    @classmethod
    def from_checkpoint(cls, meta: dict, extra: dict[str, np.ndarray], path) -> "Frontend":
        if "classes" not in meta or "feature_config" not in meta:
            raise InferenceError(f"{path}: the checkpoint has no front end (feature settings "
                                 "and class names); it was not written by `pyreparam train`")
        state = {k[len("normalizer."):]: v for k, v in extra.items()
                 if k.startswith("normalizer.")}
        normalizer = Normalizer.from_dict(state) if state else Normalizer("utterance")
        return cls(FeatureConfig.from_dict(meta["feature_config"]), normalizer,
                   list(meta["classes"]))

    def normalize(self, features: list[np.ndarray], speakers: Sequence[str]) -> list[np.ndarray]:
        if self.normalizer.mode == "utterance":
            return self.normalizer.apply(features)
        return self.normalizer.apply(features, list(speakers))


def load_for_inference(path: str | os.PathLike) -> tuple[Model, Frontend]:
    model, meta, extra = load_checkpoint_with_meta(path)
    return model, Frontend.from_checkpoint(meta, extra, path)


def evaluate_checkpoint(model_path: str | os.PathLike, manifest_path: str | os.PathLike, *,
                        cache_dir=None, on_error: str = "fail", batch_size: int = 64) -> dict:
    """WA, UA, macro-F1 and the confusion matrix of a checkpoint on a manifest."""
    model, frontend = load_for_inference(model_path)
    utterances = read_manifest(manifest_path)
    unknown = sorted({u.label for u in utterances} - set(frontend.classes))
    if unknown:
        raise InferenceError(f"{manifest_path}: label(s) {unknown} are not among the model's "
                             f"classes {frontend.classes}")
    features, kept, skipped = load_features(utterances, frontend.feature_config, cache_dir,
                                            on_error)
    features = frontend.normalize(features, [u.speaker for u in kept])
    pred = np.argmax(predict_logits(model, features, batch_size), axis=1)
    labels = np.array([frontend.classes.index(u.label) for u in kept])
    report = classification_report(labels, pred, len(frontend.classes))
    report.update(classes=frontend.classes, skipped=[[u.path, r] for u, r in skipped],
                  model=str(model_path), manifest=str(manifest_path),
                  merged=model.config.hrf is None and model.merged_from is not None)
    return report


def predict_utterances(model: Model, frontend: Frontend, utterances: Sequence[Utterance]
                       ) -> np.ndarray:
    """Class probabilities (n, N) of utterances (their labels are not used)."""
    features, _, _ = load_features(utterances, frontend.feature_config, None, "fail")
    features = frontend.normalize(features, [u.speaker for u in utterances])
    logits = predict_logits(model, features)
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)
