"""Feature normalization with statistics fitted on training data only.

Four modes, each a per-mel-band mean and standard deviation, ``y = (x - mean) / std``:

* ``utterance``: every utterance uses its own statistics (nothing is fitted).
* ``global``: one mean/std per band over all frames of the training utterances.
* ``speaker``: each speaker's mean/std over all frames of that speaker's utterances.
  This uses no labels, so computing it for a test speaker from the test speaker's own
  audio is legitimate in speaker-independent evaluation (no labels involved). A
  speaker not seen by :meth:`Normalizer.fit` is handled **on the fly**:
  :meth:`Normalizer.apply` computes its statistics from the utterances of that
  speaker passed in the same call (so pass all of a test speaker's utterances
  together) and does not store them.
* ``causal``: what a device can do. Each speaker's statistics are built only from
  the utterances already heard (:class:`CausalStats`: frame count, mean and variance
  per band, merged utterance by utterance), blended with a *prior* fitted on the
  training speakers: after n utterances,

      w = n / (n + n0),   mean = w mean_run + (1 - w) mean_prior,
                          var  = w var_run  + (1 - w) var_prior

  so the first utterance of a new speaker (n = 0) is normalized with the prior alone
  and later ones converge to the speaker's own statistics. ``n0`` is
  ``prior_weight``. :meth:`Normalizer.apply` in this mode walks each speaker's
  utterances in the order given, normalizing each with what came before it.
  The prior is the mean over training speakers of each speaker's mean and variance
  (every speaker counts once); it is fitted in every mode, so a model trained with
  any mode can be evaluated causally. The integer twin of this rule is
  :mod:`pyreparam.quant.qcausal` (reference/causal_norm.md).

Statistics are weighted per frame (long utterances count more), accumulated in
float64, and the standard deviation is floored at ``min_std`` so that constant bands
(e.g. an empty mel filter) map to 0 instead of dividing by zero. Outputs keep the
input dtype.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

MODES = ("utterance", "global", "speaker", "causal")

#: Default n0 of the causal blend (prior weight, in utterances).
DEFAULT_PRIOR_WEIGHT = 2.0
#: The running statistics count at most this many frames (about 46 hours at 100
#: frames per second); beyond it older audio is down-weighted, as in the integer rule.
MAX_FRAMES = 1 << 24


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


def utterance_moments(x: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """Frame count T, per-band mean and (population) variance of one utterance (T, M)."""
    mean = x.mean(axis=0, dtype=np.float64)                         # (M,)
    var = np.mean((x - mean) ** 2, axis=0, dtype=np.float64)        # (M,)
    return x.shape[0], mean, var


def blend_with_prior(n: float, mean: np.ndarray | None, var: np.ndarray | None,
                     prior_mean: np.ndarray, prior_var: np.ndarray, n0: float
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance after ``n`` utterances: weight n / (n + n0) on the running
    statistics, the rest on the prior (the prior alone when n = 0)."""
    if n <= 0 or mean is None:
        return prior_mean, prior_var
    w = n / (n + n0)
    return prior_mean + w * (mean - prior_mean), prior_var + w * (var - prior_var)


@dataclasses.dataclass
class CausalStats:
    """One speaker's running statistics, merged utterance by utterance.

    Merging utterance b (T frames, mean m_b, variance v_b) into the state (F frames,
    m, v), with F capped at :data:`MAX_FRAMES` and w = T / (F + T):

        m' = m + w (m_b - m),   v' = v + w (v_b - v) + w (1 - w) (m_b - m)^2

    which is the exact frame-weighted mean and variance of everything merged (Chan
    et al.'s pairwise update) as long as F stays below the cap.
    """

    n_utterances: int = 0
    frames: int = 0
    mean: np.ndarray | None = None      # (M,) float64
    var: np.ndarray | None = None       # (M,) float64

    def update(self, x: np.ndarray) -> None:
        """Merge one utterance (T, M) into the statistics."""
        T, mean, var = utterance_moments(x)
        if self.frames == 0 or self.mean is None:
            self.mean, self.var, self.frames = mean, var, T
        else:
            frames = min(self.frames, MAX_FRAMES) + T
            w = T / frames
            d = mean - self.mean
            self.mean = self.mean + w * d
            self.var = self.var + w * (var - self.var) + w * (1.0 - w) * d * d
            self.frames = frames
        self.n_utterances += 1

    def to_dict(self) -> dict:
        """JSON-friendly state (for a device's state file)."""
        return {"n_utterances": self.n_utterances, "frames": self.frames,
                "mean": None if self.mean is None else self.mean.tolist(),
                "var": None if self.var is None else self.var.tolist()}

    @classmethod
    def from_dict(cls, d: Mapping) -> "CausalStats":
        as_array = lambda v: None if v is None else np.asarray(v, dtype=np.float64)
        return cls(int(d["n_utterances"]), int(d["frames"]), as_array(d["mean"]),
                   as_array(d["var"]))


def subset_moments(counts: np.ndarray, sums: np.ndarray, squares: np.ndarray,
                   idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pooled frame-weighted mean and variance of the utterances ``idx`` from their
    per-utterance frame counts (n,), sums (n, M) and sums of squares (n, M)."""
    frames = counts[idx].sum()
    mean = sums[idx].sum(axis=0) / frames                          # (M,)
    var = np.maximum(squares[idx].sum(axis=0) / frames - mean * mean, 0.0)
    return mean, var


class Normalizer:
    """Per-band mean/std normalization (see the module doc for the four modes).

    Parameters
    ----------
    mode : {'utterance', 'global', 'speaker', 'causal'}
    min_std : float
        Floor of the standard deviation.
    prior_weight : float
        n0 of the causal blend (in utterances).
    """

    def __init__(self, mode: str = "speaker", min_std: float = 1e-3,
                 prior_weight: float = DEFAULT_PRIOR_WEIGHT) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown normalization mode {mode!r}; known: {MODES}")
        if not prior_weight > 0:
            raise ValueError(f"prior_weight must be positive, got {prior_weight}")
        self.mode = mode
        self.min_std = float(min_std)
        self.prior_weight = float(prior_weight)
        self.mean: np.ndarray | None = None  # (M,) in 'global' mode
        self.std: np.ndarray | None = None  # (M,)
        self.prior_mean: np.ndarray | None = None  # (M,) every mode, when fitted
        self.prior_var: np.ndarray | None = None  # (M,)
        self.speaker_stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        #: each training speaker's (mean, variance), from fit_prior (not saved)
        self.prior_speakers: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def _floored(self, mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return mean, np.maximum(std, self.min_std)

    def fit(self, features: Sequence[np.ndarray],
            speakers: Sequence[str] | None = None) -> "Normalizer":
        """Fit the statistics on training utterances, and the causal prior.

        Parameters
        ----------
        features : sequence of ndarray, each (T_i, M)
        speakers : sequence of str, one per utterance (needed in 'speaker' and
            'causal' mode; without them the prior is the pooled statistics)

        Returns
        -------
        Normalizer
            self.
        """
        if self.mode == "global":
            self.mean, self.std = self._floored(*frame_stats(features))
        elif self.mode == "speaker":
            self.speaker_stats = self._speaker_stats(features, speakers)
        elif speakers is None:
            if self.mode == "causal":
                raise ValueError("'causal' mode needs one speaker id per utterance")
        return self.fit_prior(features, speakers)

    def fit_prior(self, features: Sequence[np.ndarray],
                  speakers: Sequence[str] | None = None) -> "Normalizer":
        """Fit only the causal prior (the mean over speakers of each speaker's mean and
        variance; the pooled statistics without speakers); returns self."""
        if speakers is None:
            mean, std = frame_stats(features)
            self.prior_mean, self.prior_var = mean, std ** 2
            return self
        groups = _group_by_speaker(speakers)
        stats = [frame_stats([features[i] for i in idx]) for idx in groups.values()]
        self.prior_mean = np.mean([m for m, _ in stats], axis=0)
        self.prior_var = np.mean([s ** 2 for _, s in stats], axis=0)
        self.prior_speakers = {speaker: (m, s ** 2) for speaker, (m, s) in zip(groups, stats)}
        return self

    def held_out_prior(self, speaker: str) -> tuple[np.ndarray, np.ndarray]:
        """The prior (mean, variance) without ``speaker``: the mean over the *other*
        training speakers of their means and variances, what a speaker who was not
        among the training speakers meets. The whole prior when the speaker is
        unknown or is the only one."""
        others = [mv for other, mv in self.prior_speakers.items() if other != str(speaker)]
        if len(others) == len(self.prior_speakers) or not others:
            return self.prior_mean, self.prior_var
        return np.mean([m for m, _ in others], axis=0), np.mean([v for _, v in others], axis=0)

    def _speaker_stats(self, features, speakers) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        if speakers is None or len(speakers) != len(features):
            raise ValueError(f"'{self.mode}' mode needs one speaker id per utterance")
        return {speaker: self._floored(*frame_stats([features[i] for i in indices]))
                for speaker, indices in _group_by_speaker(speakers).items()}

    # ------------------------------------------------------------------ causal

    @property
    def has_prior(self) -> bool:
        return self.prior_mean is not None

    def blended(self, n: float, mean: np.ndarray | None, var: np.ndarray | None,
                prior: tuple[np.ndarray, np.ndarray] | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) of the causal rule after n utterances with running (mean, var),
        blended with the prior (or with ``prior``, a (mean, variance) in its place)."""
        if not self.has_prior:
            raise RuntimeError("this normalizer has no prior (fit it first; models "
                               "trained before causal normalization existed have none)")
        prior_mean, prior_var = prior if prior is not None else (self.prior_mean,
                                                                 self.prior_var)
        m, v = blend_with_prior(n, mean, var, prior_mean, prior_var, self.prior_weight)
        return m, np.maximum(np.sqrt(np.maximum(v, 0.0)), self.min_std)

    def causal_apply(self, x: np.ndarray, stats: CausalStats) -> np.ndarray:
        """Normalize one utterance with what ``stats`` has heard (stats unchanged)."""
        mean, std = self.blended(stats.n_utterances, stats.mean, stats.var)
        return _standardize(x, mean, std)

    # ------------------------------------------------------------------ apply

    def apply(self, features: Sequence[np.ndarray],
              speakers: Sequence[str] | None = None) -> list[np.ndarray]:
        """Normalize utterances; returns new arrays with the input dtype.

        Parameters
        ----------
        features : sequence of ndarray, each (T_i, M)
        speakers : sequence of str, one per utterance (needed in 'speaker' mode,
            where speakers unknown to :meth:`fit` are fitted on the fly from these
            utterances, and in 'causal' mode, where each speaker's utterances are
            taken in the order given, each normalized with the ones before it)

        Returns
        -------
        list of ndarray, each (T_i, M)
        """
        if self.mode == "causal":
            return self._apply_causal(features, speakers)
        if self.mode == "utterance":
            stats = [self._floored(*frame_stats([x])) for x in features]
        elif self.mode == "global":
            if self.mean is None:
                raise RuntimeError("Normalizer('global') must be fitted before apply")
            stats = [(self.mean, self.std)] * len(features)
        else:
            stats = self._stats_for_speakers(features, speakers)
        return [_standardize(x, mean, std) for x, (mean, std) in zip(features, stats)]

    def _apply_causal(self, features, speakers) -> list[np.ndarray]:
        if speakers is None or len(speakers) != len(features):
            raise ValueError("'causal' mode needs one speaker id per utterance")
        running: dict[str, CausalStats] = {}
        out = []
        for x, speaker in zip(features, speakers):
            stats = running.setdefault(str(speaker), CausalStats())
            out.append(self.causal_apply(x, stats))
            stats.update(x)
        return out

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
            "prior_weight": np.array(self.prior_weight),
            "mean": empty if self.mean is None else self.mean,
            "std": empty if self.std is None else self.std,
            "prior_mean": empty if self.prior_mean is None else self.prior_mean,
            "prior_var": empty if self.prior_var is None else self.prior_var,
            "speakers": np.array(speakers, dtype=str),
            "speaker_mean": np.array([m for m, _ in rows]).reshape(len(rows), n_mels),
            "speaker_std": np.array([s for _, s in rows]).reshape(len(rows), n_mels),
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, np.ndarray]) -> "Normalizer":
        """Rebuild a normalizer from :meth:`to_dict`'s output (or an ``np.load`` of it)."""
        prior_weight = float(state["prior_weight"]) if "prior_weight" in state \
            else DEFAULT_PRIOR_WEIGHT
        normalizer = cls(str(state["mode"]), float(state["min_std"]), prior_weight)
        as_f64 = lambda key: np.asarray(state[key], dtype=np.float64)
        if state["mean"].size:
            normalizer.mean, normalizer.std = as_f64("mean"), as_f64("std")
        if "prior_mean" in state and np.asarray(state["prior_mean"]).size:
            normalizer.prior_mean, normalizer.prior_var = as_f64("prior_mean"), \
                as_f64("prior_var")
        normalizer.speaker_stats = {     # absent: no stored speakers (as validate reads it)
            str(s): (np.asarray(m, dtype=np.float64), np.asarray(d, dtype=np.float64))
            for s, m, d in zip(state.get("speakers", ()), state.get("speaker_mean", ()),
                               state.get("speaker_std", ()))}
        return normalizer


def _standardize(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return ((x - mean.astype(x.dtype)) / std.astype(x.dtype)).astype(x.dtype, copy=False)


#: How the training sampler draws k, the number of utterances "heard before":
#: uniform    k uniform in 0..N, as the causal protocol's positions are distributed
#: harmonic   P(k) proportional to 1 / (k + 1): more training on a speaker's first
#:            utterances, where the prior dominates
CAUSAL_DRAWS = ("uniform", "harmonic")
#: Which prior a causal training draw is blended with:
#: pooled     the prior of every training speaker, the draw's own speaker included
#: held-out   the prior of the other training speakers, as a new speaker meets it at
#:            test time (the deployed prior never contains the speaker)
CAUSAL_PRIORS = ("pooled", "held-out")


class CausalSampler:
    """Training-time causal normalization: each draw normalizes an utterance the way
    deployment will, with the statistics of a random number k (in 0..N, N = the
    speaker's other utterances; see :data:`CAUSAL_DRAWS`) of the same speaker's *other*
    utterances, blended with the prior with weight k / (k + n0) exactly as
    :meth:`Normalizer.blended`.

    Per-utterance frame counts, sums and sums of squares are computed once, so a draw
    costs O(k M) plus the normalization itself.
    """

    def __init__(self, normalizer: Normalizer, features: Sequence[np.ndarray],
                 speakers: Sequence[str], draw: str = "uniform", prior: str = "pooled",
                 prior_speakers: Sequence[str] | None = None) -> None:
        if not normalizer.has_prior:
            raise ValueError("the causal sampler needs a fitted normalizer (its prior)")
        if draw not in CAUSAL_DRAWS:
            raise ValueError(f"unknown causal draw {draw!r}; known: {CAUSAL_DRAWS}")
        if prior not in CAUSAL_PRIORS:
            raise ValueError(f"unknown causal prior {prior!r}; known: {CAUSAL_PRIORS}")
        self.draw_kind = draw
        # the prior of each utterance's draws (held-out: without its training speaker,
        # named by prior_speakers when the sampler's speaker ids are not the normalizer's,
        # e.g. speed-perturbed copies)
        self.priors: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(features)
        if prior == "held-out":
            owners = list(prior_speakers if prior_speakers is not None else speakers)
            held = {s: normalizer.held_out_prior(s) for s in set(owners)}
            self.priors = [held[s] for s in owners]
        self.normalizer = normalizer
        self.features = list(features)
        self.counts = np.array([x.shape[0] for x in self.features], dtype=np.float64)
        self.sums = np.stack([x.sum(axis=0, dtype=np.float64) for x in self.features])
        self.squares = np.stack([np.square(x, dtype=np.float64).sum(axis=0)
                                 for x in self.features])
        groups = _group_by_speaker(speakers)
        self.others = [np.array([j for j in groups[str(s)] if j != i], dtype=np.int64)
                       for i, s in enumerate(speakers)]

    def heard(self, n_others: int, rng: np.random.Generator) -> int:
        """k, the number of other utterances a draw has heard (0..n_others)."""
        if self.draw_kind == "harmonic":
            p = 1.0 / np.arange(1, n_others + 2)
            return int(rng.choice(n_others + 1, p=p / p.sum()))
        return int(rng.integers(0, n_others + 1))

    def draw(self, i: int, rng: np.random.Generator) -> np.ndarray:
        """Utterance i normalized with k random other utterances of its speaker."""
        others = self.others[i]
        k = self.heard(len(others), rng)
        if k == 0:
            mean, std = self.normalizer.blended(0, None, None, self.priors[i])
        else:
            chosen = rng.choice(others, size=k, replace=False)
            mean, std = self.normalizer.blended(
                k, *subset_moments(self.counts, self.sums, self.squares, chosen),
                self.priors[i])
        return _standardize(self.features[i], mean, std)
