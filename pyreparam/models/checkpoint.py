"""Checkpoints: one .npz file holding a model, its JSON config and a format version.

Layout of the archive (no pickles; ``np.load(..., allow_pickle=False)`` reads it):

    header.json       0-d string array: {"format": "pyreparam-checkpoint",
                      "version": FORMAT_VERSION, "config": {...}, "merged_from": ...,
                      "meta": {...}}
    param/<name>      every trainable parameter
    buffer/<name>     every buffer (BatchNorm running statistics)
    extra/<name>      optional arrays saved alongside (e.g. normalization statistics)

Writes are atomic (:func:`pyreparam.atomic.atomic_write`), so an interrupted save
never leaves a half-written checkpoint behind. Reading validates the
header, the version, the config and every array (before reading it) against the
config, refuses NaN or infinite parameters, and reports any problem as a
:class:`CheckpointError` naming the file.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from pyreparam.atomic import atomic_write  # noqa: F401  (re-exported: older imports)
from pyreparam.models.archive import ArchiveError, read_npz
from pyreparam.models.config import config_from_dict
from pyreparam.models.model import Model, build_model
from pyreparam.models.stats_head import PREFIX as HEAD_PREFIX, StatsHead, StatsHeadError

FORMAT = "pyreparam-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, corrupt or of another format version."""


def save_checkpoint(path: str | os.PathLike, model: Model, *, meta: dict[str, Any] | None = None,
                    extra: dict[str, np.ndarray] | None = None) -> Path:
    """Write ``model`` (and optional JSON ``meta`` and arrays ``extra``) to ``path``."""
    header = {"format": FORMAT, "version": FORMAT_VERSION, "config": model.config.to_dict(),
              "merged_from": model.merged_from, "meta": meta or {}}
    arrays = {"header.json": np.array(json.dumps(header, sort_keys=True))}
    arrays.update({f"param/{k}": v for k, v in model.params.items()})
    arrays.update({f"buffer/{k}": v for k, v in model.buffers.items()})
    arrays.update({f"extra/{k}": np.asarray(v) for k, v in (extra or {}).items()})
    atomic_write(path, lambda f: np.savez(f, **arrays))
    return Path(path)


#: caps before anything is allocated (the largest preset with HRF r=8 k=3 stays well
#: below): the parameters a config may imply, one extra array, the header
MAX_PARAMS = 64_000_000
MAX_EXTRA_BYTES = 64 * 2**20
MAX_HEADER_BYTES = 4 * 2**20
PARAM_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def estimated_params(config) -> int:
    """An upper bound of the parameters a config implies, computed without building
    the model (a crafted config must not allocate gigabytes before it is refused)."""
    widths = config.stage_widths() if hasattr(config, "stage_widths") else [config.width]
    layers = config.layers if isinstance(config.layers, int) else sum(config.layers)
    W, F = max(widths), config.ffn
    hrf = config.hrf
    chain = 0 if hrf is None else len(hrf.sites) * 4 * (
        hrf.r * W * W + (hrf.k - 1) * (hrf.r * W) ** 2 + hrf.k * hrf.r * W)
    per_layer = 8 * W * W + 4 * W * F + getattr(config, "conv_kernel", 0) * W + 16 * W + chain
    front = 3 * (config.n_mels + W) * W * 3 + 4 * W * W
    return (layers + len(widths)) * per_layer + front + 2 * W * (config.n_classes + W)


def _config(path: Path, header: dict):
    """The model config of a header, refused when malformed or absurdly large."""
    d = header.get("config")
    if not isinstance(d, dict):
        raise CheckpointError(f"{path}: invalid model config: a {type(d).__name__}, not a "
                              "mapping")
    try:
        config = config_from_dict(d)
        n = estimated_params(config)
    except Exception as exc:  # noqa: BLE001 - wrong types surface as any error
        raise CheckpointError(f"{path}: invalid model config: {exc}") from None
    if n > MAX_PARAMS:
        raise CheckpointError(f"{path}: the model config implies about {n:,} parameters "
                              f"(more than {MAX_PARAMS:,} is no model of this project)")
    return config


def _read_header(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        arrays = read_npz(path, max_array_bytes=MAX_HEADER_BYTES,
                          max_total_bytes=MAX_HEADER_BYTES,
                          only=lambda name: name == "header.json")
    except ArchiveError as exc:
        raise CheckpointError(str(exc)) from None
    if "header.json" not in arrays:
        raise CheckpointError(f"{path}: not a pyreparam checkpoint (no header.json)")
    try:
        header = json.loads(str(arrays["header.json"]))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{path}: corrupt checkpoint header: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a pyreparam checkpoint (format "
                              f"{header.get('format') if isinstance(header, dict) else None!r})")
    if header.get("version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {header.get('version')!r} "
                              f"is not supported (this pyreparam reads version "
                              f"{FORMAT_VERSION})")
    if not isinstance(header.get("meta", {}), dict):
        raise CheckpointError(f"{path}: corrupt checkpoint header: meta is not a mapping")
    return header


def _read_arrays(path: Path, ref: Model) -> dict[str, np.ndarray]:
    """The archive's arrays, each checked against the config's before it is read."""
    want = {**{f"param/{k}": v for k, v in ref.params.items()},
            **{f"buffer/{k}": v for k, v in ref.buffers.items()}}
    total = sum(v.size for v in want.values()) * 8 + MAX_EXTRA_BYTES + MAX_HEADER_BYTES

    def check(name: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
        if name in want:
            if shape != want[name].shape or dtype not in PARAM_DTYPES:
                kind, short = name.split("/", 1)
                raise CheckpointError(f"{path}: {kind} {short} has shape {shape} and dtype "
                                      f"{dtype}; the config implies {want[name].shape}, "
                                      "float32 or float64")
        elif not (name.startswith("extra/") or name == "header.json"):
            kind = name.split("/", 1)[0]
            if kind in ("param", "buffer"):
                raise CheckpointError(f"{path}: {kind}s do not match the config: "
                                      f"unexpected {name.split('/', 1)[1]}")
            raise CheckpointError(f"{path}: unexpected array {name} in a checkpoint")

    try:
        return read_npz(path, max_array_bytes=max(MAX_EXTRA_BYTES, max(
            (v.size * 8 for v in want.values()), default=0)), max_total_bytes=total,
            check=check)
    except ArchiveError as exc:
        raise CheckpointError(str(exc)) from None


def load_checkpoint_with_meta(path: str | os.PathLike
                              ) -> tuple[Model, dict[str, Any], dict[str, np.ndarray]]:
    """(model, meta, extra) from a checkpoint written by :func:`save_checkpoint`.

    Everything is validated before use: the header, the config (and the size it
    implies) before the model is built, every array's header against the config
    before its data is read (:func:`pyreparam.models.archive.read_npz`), and every
    parameter and buffer for NaN and infinity.
    """
    path = Path(path)
    header = _read_header(path)
    config = _config(path, header)
    ref = build_model(config, 0)
    arrays = _read_arrays(path, ref)

    def section(prefix):
        return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}

    params, buffers = section("param/"), section("buffer/")
    _check_against_config(path, ref, params, buffers)
    merged_from = header.get("merged_from")
    if merged_from is not None and not isinstance(merged_from, dict):
        raise CheckpointError(f"{path}: corrupt checkpoint header: merged_from is a "
                              f"{type(merged_from).__name__}")
    model = Model(config, params, buffers, merged_from=merged_from)
    meta, extra = header.get("meta", {}), section("extra/")
    _check_frontend(path, config, meta, extra)
    return model, meta, extra


def _check_frontend(path: Path, config, meta: dict, extra: dict[str, np.ndarray]) -> None:
    """The front end a training run stored (classes, features, normalizer, the fold's
    speakers), when present, is well formed and fits the model."""
    from pyreparam import validate
    try:
        if "classes" in meta:
            validate.classes(meta["classes"], config.n_classes, "classes")
        channels = config.n_mels           # the head's: the network's, or more
        if "feature_config" in meta:
            defaults = {"n_mels": config.n_mels}
            flag = np.asarray(extra.get(HEAD_PREFIX + "pitch", 0))  # checked by the head
            head_pitch = flag.size == 1 and flag.dtype.kind in "biuf" and flag.item() == 1
            features = validate.feature_config(
                {**defaults, **meta["feature_config"]}
                if isinstance(meta["feature_config"], dict) else meta["feature_config"],
                config.n_mels, "feature_config", head_pitch)
            channels = features.channels
        state = {k[len("normalizer."):]: v for k, v in extra.items()
                 if k.startswith("normalizer.")}
        if state:
            validate.normalizer(state, config.n_mels, "normalizer")
        StatsHead.from_extra(extra, config.n_classes, channels)
        fold = meta.get("fold", {})
        parts = [fold.get(k, []) for k in ("train", "validation", "test")] \
            if isinstance(fold, dict) else [None]
        if not all(isinstance(p, list) and all(isinstance(s, str) for s in p) for p in parts):
            raise validate.FrontendError("fold must list the speakers of each part")
    except (validate.FrontendError, StatsHeadError) as exc:
        raise CheckpointError(f"{path}: invalid front end: {exc}") from None


def load_checkpoint(path: str | os.PathLike) -> Model:
    """The model stored in a checkpoint (see :func:`load_checkpoint_with_meta`)."""
    return load_checkpoint_with_meta(path)[0]


def _check_against_config(path: Path, ref: Model, params, buffers) -> None:
    """Every parameter and buffer the config implies is present, of one float dtype,
    and finite."""
    dtypes = {arr.dtype for arr in list(params.values()) + list(buffers.values())}
    if len(dtypes) > 1:
        raise CheckpointError(f"{path}: parameters of mixed dtypes {sorted(map(str, dtypes))}")
    for kind, have, want in (("parameter", params, ref.params), ("buffer", buffers, ref.buffers)):
        missing = sorted(set(want) - set(have))
        unexpected = sorted(set(have) - set(want))
        if missing or unexpected:
            raise CheckpointError(f"{path}: {kind}s do not match the config: missing "
                                  f"{missing[:5]}, unexpected {unexpected[:5]}")
        for name, arr in have.items():
            bad = arr.size - int(np.isfinite(arr).sum())
            if bad:
                raise CheckpointError(f"{path}: {kind} {name} has {bad:,} NaN or infinite "
                                      "value(s): the model is broken (a diverged training?)")
