"""Feature cache on disk and corpus-level feature loading.

Cache layout: ``DIR/ab/<key>.npy`` holding one utterance's (T, M) float32 log-mel
features, where ``key = sha256(sha256(file bytes) + settings)`` and settings is the
canonical JSON of the :class:`FeatureConfig`, the audio loader's settings and
:data:`CACHE_FORMAT`. Keys depend on content, never on paths or modification times:
a renamed file hits, an edited file misses.

Concurrency: an entry is written with :func:`pyreparam.atomic.atomic_write` (a unique
temporary file in its final folder, moved into place with ``os.replace``). Readers
see either no entry or a complete one; two processes that compute the same entry at
once both write identical bytes and the last rename wins. An entry that fails to
load (e.g. damaged on disk) is treated as a miss and rewritten.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from pyreparam.atomic import atomic_write, make_folder
from pyreparam.audio.decode import AudioError, load_audio_bytes, read_file_bytes
from pyreparam.audio.features import FeatureConfig, frame_features, trim_trailing_zeros
from pyreparam.data.augment import change_speed
from pyreparam.data.manifest import Utterance

#: Bump when the feature code changes in a way the settings do not capture.
CACHE_FORMAT = 1
#: The commands' default cache folder.
DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "pyreparam", "features")


def compute_features(data: bytes, name: str | os.PathLike, config: FeatureConfig, *,
                     max_seconds: float | None = 30.0,
                     min_seconds: float | None = 0.1, speed: float = 1.0) -> np.ndarray:
    """Decode a file's bytes and compute its features (log-mel, and the pitch channels
    when ``config.pitch``; ``speed`` != 1: of the
    recording played that many times faster, :func:`pyreparam.data.augment.change_speed`,
    for speed perturbation).

    Returns
    -------
    ndarray, (T, config.channels), float32

    Raises
    ------
    AudioError
        Any decoding or check failure (see :func:`pyreparam.audio.load_audio`).
    """
    signal = load_audio_bytes(data, name, sample_rate=config.sample_rate,
                              max_seconds=max_seconds, min_seconds=min_seconds)
    if speed != 1.0:
        if config.trim_trailing_silence:      # padding must not be stretched into sound
            signal = trim_trailing_zeros(signal)
        signal = change_speed(signal, speed)
    try:
        return frame_features(signal, config)  # (T, channels)
    except ValueError as error:
        raise AudioError(name, str(error)) from None


class FeatureCache:
    """Content-addressed on-disk cache of log-mel features (see the module doc).

    Parameters
    ----------
    directory : str or Path
        Cache folder, created if needed. Safe to share between processes.
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        make_folder(self.directory)

    @staticmethod
    def key(data: bytes, config: FeatureConfig, *, max_seconds: float | None,
            min_seconds: float | None, speed: float = 1.0) -> str:
        """The hex key of a file's bytes under the given settings."""
        features = config.to_dict()
        if features.get("frontend") == "float":    # (absent before it existed: same keys)
            del features["frontend"]
        if not features.get("pitch", True):         # (likewise)
            del features["pitch"]
        settings = {"format": CACHE_FORMAT, "features": features,
                    "max_seconds": max_seconds, "min_seconds": min_seconds}
        if speed != 1.0:                     # (absent at 1.0: earlier keys stay valid)
            settings["speed"] = speed
        settings = json.dumps(settings, sort_keys=True)
        digest = hashlib.sha256(hashlib.sha256(data).digest())
        digest.update(settings.encode("utf-8"))
        return digest.hexdigest()

    def entry_path(self, key: str) -> Path:
        """Where the entry of ``key`` lives."""
        return self.directory / key[:2] / f"{key}.npy"

    def get(self, key: str, n_mels: int) -> np.ndarray | None:
        """The stored (T, n_mels) float32 features, or None (absent or unusable);
        ``n_mels`` is the values per frame (FeatureConfig.channels)."""
        try:
            features = np.load(self.entry_path(key), allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        if features.dtype != np.float32 or features.ndim != 2 or features.shape[1] != n_mels:
            return None
        return features

    def put(self, key: str, features: np.ndarray) -> None:
        """Store features atomically (:func:`pyreparam.atomic.atomic_write`)."""
        atomic_write(self.entry_path(key), lambda handle: np.save(
            handle, np.ascontiguousarray(features, dtype=np.float32)))

    def features(self, path: str | os.PathLike, config: FeatureConfig, *,
                 max_seconds: float | None = 30.0,
                 min_seconds: float | None = 0.1, speed: float = 1.0) -> np.ndarray:
        """Features of one file: from the cache, or computed and stored.

        Raises
        ------
        AudioError
            When the file is bad (failures are not cached).
        """
        data = read_file_bytes(path)
        key = self.key(data, config, max_seconds=max_seconds, min_seconds=min_seconds,
                       speed=speed)
        features = self.get(key, config.channels)
        if features is None:
            features = compute_features(data, path, config, max_seconds=max_seconds,
                                        min_seconds=min_seconds, speed=speed)
            self.put(key, features)
        return features

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("*/*.npy"))


def load_features(utterances: Sequence[Utterance], config: FeatureConfig = FeatureConfig(),
                  cache: FeatureCache | str | os.PathLike | None = None,
                  on_error: Literal["fail", "skip"] = "fail", *,
                  max_seconds: float | None = 30.0, min_seconds: float | None = 0.1,
                  speed: float = 1.0
                  ) -> tuple[list[np.ndarray], list[Utterance], list[tuple[Utterance, str]]]:
    """Log-mel features of every utterance, through the cache when one is given.

    Parameters
    ----------
    utterances : sequence of Utterance
    config : FeatureConfig
    cache : FeatureCache, folder or None
        None computes everything; a folder is opened as a :class:`FeatureCache`.
    on_error : {'fail', 'skip'}
        'fail' raises the first :class:`AudioError` (it names the file); 'skip' leaves
        bad files out and lists them with the reason.
    max_seconds, min_seconds : float or None
        Passed to the audio loader.
    speed : float
        Speed perturbation factor (1.0: the recording as it is).

    Returns
    -------
    features : list of ndarray, each (T_i, M) float32
    kept : list of Utterance
        The utterances of ``features``, in input order.
    skipped : list of (Utterance, str)
        Bad files and why (empty with 'fail').
    """
    if on_error not in ("fail", "skip"):
        raise ValueError(f"on_error must be 'fail' or 'skip', got {on_error!r}")
    if cache is not None and not isinstance(cache, FeatureCache):
        cache = FeatureCache(cache)
    features, kept, skipped = [], [], []
    for utterance in utterances:
        try:
            if cache is None:
                data = read_file_bytes(utterance.path)
                item = compute_features(data, utterance.path, config,
                                        max_seconds=max_seconds, min_seconds=min_seconds,
                                        speed=speed)
            else:
                item = cache.features(utterance.path, config, max_seconds=max_seconds,
                                      min_seconds=min_seconds, speed=speed)
        except AudioError as error:
            if on_error == "fail":
                raise
            skipped.append((utterance, error.reason))
            continue
        features.append(item)
        kept.append(utterance)
    return features, kept, skipped
