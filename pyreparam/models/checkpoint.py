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
header, the version and every parameter's name and shape against the config, and
reports any problem as a :class:`CheckpointError` naming the file.
"""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from pyreparam.atomic import atomic_write  # noqa: F401  (re-exported: older imports)
from pyreparam.models.config import config_from_dict
from pyreparam.models.model import Model, build_model

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


def _read_archive(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: not a readable pyreparam checkpoint (truncated or "
                              f"corrupt .npz): {exc}") from None


def load_checkpoint_with_meta(path: str | os.PathLike
                              ) -> tuple[Model, dict[str, Any], dict[str, np.ndarray]]:
    """(model, meta, extra) from a checkpoint written by :func:`save_checkpoint`."""
    path = Path(path)
    arrays = _read_archive(path)
    if "header.json" not in arrays:
        raise CheckpointError(f"{path}: not a pyreparam checkpoint (no header.json)")
    try:
        header = json.loads(str(arrays.pop("header.json")))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: corrupt checkpoint header: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a pyreparam checkpoint (format "
                              f"{header.get('format') if isinstance(header, dict) else None!r})")
    if header.get("version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {header.get('version')!r} "
                              f"is not supported (this pyreparam reads version "
                              f"{FORMAT_VERSION})")
    try:
        config = config_from_dict(header["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: invalid model config: {exc}") from None

    def section(prefix):
        return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}

    params, buffers = section("param/"), section("buffer/")
    _check_against_config(path, config, params, buffers)
    model = Model(config, params, buffers, merged_from=header.get("merged_from"))
    return model, header.get("meta", {}), section("extra/")


def load_checkpoint(path: str | os.PathLike) -> Model:
    """The model stored in a checkpoint (see :func:`load_checkpoint_with_meta`)."""
    return load_checkpoint_with_meta(path)[0]


def _check_against_config(path: Path, config, params, buffers) -> None:
    """Every parameter and buffer the config implies is present with the right shape."""
    ref = build_model(config, 0)
    for kind, have, want in (("parameter", params, ref.params), ("buffer", buffers, ref.buffers)):
        missing = sorted(set(want) - set(have))
        unexpected = sorted(set(have) - set(want))
        if missing or unexpected:
            raise CheckpointError(f"{path}: {kind}s do not match the config: missing "
                                  f"{missing[:5]}, unexpected {unexpected[:5]}")
        for name, arr in have.items():
            if arr.shape != want[name].shape or arr.dtype.kind != "f":
                raise CheckpointError(f"{path}: {kind} {name} has shape {arr.shape} and dtype "
                                      f"{arr.dtype}; the config implies {want[name].shape}, float")
