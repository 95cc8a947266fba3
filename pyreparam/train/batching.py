"""Padded batches of variable-length utterances, and batched eval-mode prediction."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pad_batch(features: Sequence[np.ndarray], dtype=np.float32
              ) -> tuple[np.ndarray, np.ndarray]:
    """Stack utterances (T_i, M) into x (B, T_max, M) padded with zeros, and mask (B, T_max)."""
    if not features:
        raise ValueError("an empty batch")
    lengths = np.array([f.shape[0] for f in features])
    M = features[0].shape[1]
    x = np.zeros((len(features), int(lengths.max()), M), dtype=dtype)   # (B, T, M)
    for b, f in enumerate(features):
        x[b, : f.shape[0]] = f
    mask = np.arange(x.shape[1])[None, :] < lengths[:, None]            # (B, T)
    return x, mask


def random_crop(x: np.ndarray, max_frames: int, rng: np.random.Generator) -> np.ndarray:
    """A random window of at most ``max_frames`` frames of one utterance (T, M)."""
    if x.shape[0] <= max_frames:
        return x
    start = int(rng.integers(0, x.shape[0] - max_frames + 1))
    return x[start:start + max_frames]


def predict_logits(model, features: Sequence[np.ndarray], batch_size: int = 64) -> np.ndarray:
    """Eval-mode logits (n, N) of every utterance, in input order.

    Utterances are grouped by length to keep padding small; by construction of the
    models (masking), an utterance's logits do not depend on its batch companions.
    """
    n = len(features)
    logits = np.zeros((n, model.config.n_classes), dtype=np.float64)
    order = np.argsort([f.shape[0] for f in features], kind="stable")
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        x, mask = pad_batch([features[i] for i in idx], dtype=model.dtype)
        logits[idx] = model.predict_logits(x, mask)
    return logits
