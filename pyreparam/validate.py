"""Validation of a model's front end as read from a file (a checkpoint's metadata and
normalizer arrays, a .prq's host metadata), before anything uses it.

A file can be hand-edited or crafted: every field is checked for its type, its range
and its agreement with the model (class count, mel bands), and every number for NaN
and infinity. Each function raises :class:`FrontendError` with the file and the field.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from pyreparam.audio.features import FeatureConfig, pitch_for_head_only
from pyreparam.data.normalize import MODES, Normalizer


#: the numeric fields of a FeatureConfig (the others are names and a flag)
NUMERIC_FEATURES = ("sample_rate", "n_mels", "win_ms", "hop_ms", "n_fft", "fmin", "fmax",
                    "log_floor")


class FrontendError(ValueError):
    """A front end field that is missing, of the wrong type or out of range."""


def _number(value, where: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise FrontendError(f"{where} is {value!r}, not a number")
    number = float(value)
    if not math.isfinite(number) or (positive and number <= 0):
        raise FrontendError(f"{where} is {number!r}, not a finite "
                            f"{'positive ' if positive else ''}number")
    return number


def classes(value, n_classes: int, where: str) -> list[str]:
    """Class names: distinct strings, as many as the model has outputs."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(c, str) and c
                                                      for c in value):
        raise FrontendError(f"{where}: classes must be a list of names, got {value!r:.80}")
    if len(value) != n_classes or len(set(value)) != len(value):
        raise FrontendError(f"{where}: {len(value)} class names (distinct: "
                            f"{len(set(value))}) for a model of {n_classes} outputs")
    return list(value)


def feature_config(value, n_mels: int, where: str, head_pitch: bool = False
                   ) -> FeatureConfig:
    """Feature settings the model was trained with (``n_mels`` values per frame: the
    model's input width, mel bands plus any pitch channels; with ``head_pitch``, a
    statistics head with the prosody block, the network may read the mel bands alone,
    the pitch channels feeding the head: ``train --pitch-head-only``)."""
    if not isinstance(value, Mapping):
        raise FrontendError(f"{where}: feature_config must be a mapping, got {value!r:.80}")
    for key, v in value.items():
        if key in NUMERIC_FEATURES and v is not None:
            _number(v, f"{where}: feature_config.{key}")
        elif key in ("window", "frontend") and not isinstance(v, str):
            raise FrontendError(f"{where}: feature_config.{key} is {v!r:.40}, not a name")
        elif key in ("trim_trailing_silence", "pitch") and not isinstance(v, bool):
            raise FrontendError(f"{where}: feature_config.{key} is {v!r:.40}, not a boolean")
    try:
        config = FeatureConfig.from_dict(dict(value))
    except Exception as exc:  # noqa: BLE001 - wrong names or types
        raise FrontendError(f"{where}: invalid feature_config ({exc})") from None
    head_only = head_pitch and pitch_for_head_only(config, n_mels)
    if config.channels != n_mels and not head_only:
        raise FrontendError(f"{where}: feature_config gives {config.channels} values per "
                            f"frame, the model takes {n_mels}")
    if not 1000 <= config.sample_rate <= 384000 or config.n_fft > 65536:
        raise FrontendError(f"{where}: feature_config sample_rate {config.sample_rate} or "
                            f"n_fft {config.n_fft} out of range")
    return config


def _vector(state: Mapping, key: str, n_mels: int, where: str, *, positive: bool = False,
            optional: bool = False) -> np.ndarray:
    if key not in state:
        if optional:
            return np.zeros(0)
        raise FrontendError(f"{where}: normalizer.{key} is missing")
    try:
        v = np.asarray(state[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise FrontendError(f"{where}: normalizer.{key} is not an array of numbers") from None
    if v.shape not in ((0,), (n_mels,)):
        raise FrontendError(f"{where}: normalizer.{key} has shape {v.shape}, expected "
                            f"({n_mels},) or empty")
    if not np.isfinite(v).all() or (positive and (v <= 0).any()) or (v < 0).any() and \
            key.endswith(("std", "var")):
        raise FrontendError(f"{where}: normalizer.{key} holds NaN, infinite or negative "
                            "values")
    return v


def normalizer(state: Mapping, n_mels: int, where: str) -> Normalizer:
    """The normalizer of a stored state (:meth:`Normalizer.to_dict`'s keys)."""
    if not isinstance(state, Mapping):
        raise FrontendError(f"{where}: normalizer must be a mapping, got {state!r:.80}")
    mode = np.asarray(state.get("mode", "")).tolist()
    if mode not in MODES:
        raise FrontendError(f"{where}: normalizer.mode {mode!r} is not one of {MODES}")
    min_std = _number(np.asarray(state.get("min_std")).tolist(),
                      f"{where}: normalizer.min_std", positive=True)
    prior_weight = _number(np.asarray(state.get("prior_weight", 1.0)).tolist(),
                           f"{where}: normalizer.prior_weight", positive=True)
    mean = _vector(state, "mean", n_mels, where)
    std = _vector(state, "std", n_mels, where, positive=True)
    prior_mean = _vector(state, "prior_mean", n_mels, where, optional=True)
    prior_var = _vector(state, "prior_var", n_mels, where, optional=True)
    if mean.size != std.size or prior_mean.size != prior_var.size:
        raise FrontendError(f"{where}: normalizer mean/std or prior_mean/prior_var differ "
                            "in length")
    speakers = np.asarray(state.get("speakers", np.zeros(0, dtype=str)))
    if speakers.ndim != 1 or speakers.dtype.kind not in "U" and speakers.size:
        raise FrontendError(f"{where}: normalizer.speakers is not a list of names")
    rows = {}
    for key in ("speaker_mean", "speaker_std"):
        try:
            rows[key] = np.asarray(state.get(key, np.zeros((0, n_mels))), dtype=np.float64)
        except (TypeError, ValueError):
            raise FrontendError(f"{where}: normalizer.{key} is not numbers") from None
        if rows[key].size == 0 and speakers.size == 0:
            rows[key] = rows[key].reshape(0, n_mels)
        if rows[key].shape != (speakers.size, n_mels) or not np.isfinite(rows[key]).all():
            raise FrontendError(f"{where}: normalizer.{key} has shape {rows[key].shape} or "
                                f"non-finite values; expected ({speakers.size}, {n_mels})")
    if (rows["speaker_std"] <= 0).any():
        raise FrontendError(f"{where}: normalizer.speaker_std holds values <= 0")
    clean = {"mode": np.array(mode), "min_std": np.array(min_std),
             "prior_weight": np.array(prior_weight), "mean": mean, "std": std,
             "prior_mean": prior_mean, "prior_var": prior_var,
             "speakers": speakers.astype(str), **rows}
    return Normalizer.from_dict(clean)


def quantization(value, where: str, what: str) -> tuple[float, int]:
    """(scale, zero point) of an int8 value: a finite scale > 0, an int8 zero point."""
    if not isinstance(value, Mapping):
        raise FrontendError(f"{where}: {what} must be a mapping with scale and zero_point")
    scale = _number(value.get("scale"), f"{where}: {what}.scale", positive=True)
    zp = value.get("zero_point")
    if isinstance(zp, bool) or not isinstance(zp, int) or not -128 <= zp <= 127:
        raise FrontendError(f"{where}: {what}.zero_point is {zp!r}, not an int8")
    if not 1e-30 < scale < 1e30:
        raise FrontendError(f"{where}: {what}.scale {scale!r} is out of range")
    return scale, zp
