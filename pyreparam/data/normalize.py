"""Feature normalization with statistics fitted on training data only.

Three modes, each a per-mel-band mean and standard deviation, ``y = (x - mean) / std``:

* ``utterance``: every utterance uses its own statistics (nothing is fitted).
* ``global``: one mean/std per band over all frames of the training utterances.
* ``speaker``: each speaker's mean/std over all frames of that speaker's utterances.
  This uses no labels, so computing it for a test speaker from the test speaker's own
  audio is legitimate in speaker-independent evaluation (method.md section 3). A
  speaker not seen by :meth:`Normalizer.fit` is handled **on the fly**:
  :meth:`Normalizer.apply` computes its statistics from the utterances of that
  speaker passed in the same call (so pass all of a test speaker's utterances
  together) and does not store them.

Statistics are weighted per frame (long utterances count more), accumulated in
float64, and the standard deviation is floored at ``min_std`` so that constant bands
(e.g. an empty mel filter) map to 0 instead of dividing by zero. Outputs keep the
input dtype.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

MODES = ("utterance", "global", "speaker")


def frame_stats(features: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and standard deviation over all frames of all utterances.

    Parameters
    ----------
    features : sequence of ndarray, each (T_i, M)

    Returns
    -------
    mean, std : ndarray, (M,), float64
        Population statistics (divide by the total frame count), two-pass.
    """
    if not features:
        raise ValueError("no utterances to compute statistics from")
    count = sum(x.shape[0] for x in features)
    mean = sum(x.sum(axis=0, dtype=np.float64) for x in features) / count  # (M,)
    squares = sum(((x - mean) ** 2).sum(axis=0) for x in features)  # (M,)
    return mean, np.sqrt(squares / count)


def _group_by_speaker(speakers: Sequence[str]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for index, speaker in enumerate(speakers):
        groups.setdefault(str(speaker), []).append(index)
    return groups


class Normalizer:
    """Per-band mean/std normalization (see the module doc for the three modes).

    Parameters
    ----------
    mode : {'utterance', 'global', 'speaker'}
    min_std : float
        Floor of the standard deviation.
    """

    def __init__(self, mode: str = "speaker", min_std: float = 1e-3) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown normalization mode {mode!r}; known: {MODES}")
        self.mode = mode
        self.min_std = float(min_std)
        self.mean: np.ndarray | None = None  # (M,) in 'global' mode
        self.std: np.ndarray | None = None  # (M,)
        self.speaker_stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def _floored(self, mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return mean, np.maximum(std, self.min_std)

    def fit(self, features: Sequence[np.ndarray],
            speakers: Sequence[str] | None = None) -> "Normalizer":
        """Fit the statistics on training utterances (a no-op in 'utterance' mode).

        Parameters
        ----------
        features : sequence of ndarray, each (T_i, M)
        speakers : sequence of str, one per utterance (needed in 'speaker' mode)

        Returns
        -------
        Normalizer
            self.
        """
        if self.mode == "global":
            self.mean, self.std = self._floored(*frame_stats(features))
        elif self.mode == "speaker":
            self.speaker_stats = self._speaker_stats(features, speakers)
        return self

    def _speaker_stats(self, features, speakers) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        if speakers is None or len(speakers) != len(features):
            raise ValueError("'speaker' mode needs one speaker id per utterance")
        return {speaker: self._floored(*frame_stats([features[i] for i in indices]))
                for speaker, indices in _group_by_speaker(speakers).items()}

    def apply(self, features: Sequence[np.ndarray],
              speakers: Sequence[str] | None = None) -> list[np.ndarray]:
        """Normalize utterances; returns new arrays with the input dtype.

        Parameters
        ----------
        features : sequence of ndarray, each (T_i, M)
        speakers : sequence of str, one per utterance (needed in 'speaker' mode;
            speakers unknown to :meth:`fit` are fitted on the fly from these
            utterances)

        Returns
        -------
        list of ndarray, each (T_i, M)
        """
        if self.mode == "utterance":
            stats = [self._floored(*frame_stats([x])) for x in features]
        elif self.mode == "global":
            if self.mean is None:
                raise RuntimeError("Normalizer('global') must be fitted before apply")
            stats = [(self.mean, self.std)] * len(features)
        else:
            stats = self._stats_for_speakers(features, speakers)
        return [((x - mean.astype(x.dtype)) / std.astype(x.dtype)).astype(x.dtype, copy=False)
                for x, (mean, std) in zip(features, stats)]

    def _stats_for_speakers(self, features, speakers) -> list[tuple[np.ndarray, np.ndarray]]:
        if speakers is None or len(speakers) != len(features):
            raise ValueError("'speaker' mode needs one speaker id per utterance")
        unknown = [i for i, s in enumerate(speakers) if str(s) not in self.speaker_stats]
        on_the_fly = self._speaker_stats([features[i] for i in unknown],
                                         [speakers[i] for i in unknown]) if unknown else {}
        return [self.speaker_stats.get(str(s)) or on_the_fly[str(s)] for s in speakers]

    def to_dict(self) -> dict[str, np.ndarray]:
        """The state as a dict of arrays (``np.savez`` friendly, no pickling)."""
        speakers = sorted(self.speaker_stats)
        empty = np.zeros((0,), dtype=np.float64)
        rows = [self.speaker_stats[s] for s in speakers]
        n_mels = rows[0][0].shape[0] if rows else 0
        return {
            "mode": np.array(self.mode),
            "min_std": np.array(self.min_std),
            "mean": empty if self.mean is None else self.mean,
            "std": empty if self.std is None else self.std,
            "speakers": np.array(speakers, dtype=str),
            "speaker_mean": np.array([m for m, _ in rows]).reshape(len(rows), n_mels),
            "speaker_std": np.array([s for _, s in rows]).reshape(len(rows), n_mels),
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, np.ndarray]) -> "Normalizer":
        """Rebuild a normalizer from :meth:`to_dict`'s output (or an ``np.load`` of it)."""
        normalizer = cls(str(state["mode"]), float(state["min_std"]))
        if state["mean"].size:
            normalizer.mean = np.asarray(state["mean"], dtype=np.float64)
            normalizer.std = np.asarray(state["std"], dtype=np.float64)
        normalizer.speaker_stats = {
            str(s): (np.asarray(m, dtype=np.float64), np.asarray(d, dtype=np.float64))
            for s, m, d in zip(state["speakers"], state["speaker_mean"],
                               state["speaker_std"])}
        return normalizer
