"""The statistics head: a linear classifier on utterance functionals, next to the network.

The light networks, trained on a few hundred utterances, leave information in their
own input unused: a linear classifier on statistics of the raw log-mel frames
(:mod:`pyreparam.audio.functionals`) alone scores 77-80 % UA on EmoDB where the light
models score 71-74 %, and the two decide better together than either alone. The head:

    f  = functionals(x_raw)                                        # (D,)
    z  = (f - mean_s) / std_s                                      # per speaker s
    p_head = softmax(W z + b)                                      # (N,)
    p  = (1 - mix) softmax(network logits) + mix p_head            # the decision

The z-score of the functionals follows the same protocol as the frames' normalization
(:mod:`pyreparam.data.normalize`): with all of a speaker's utterances (speaker), or
with the utterances heard before blended with a prior of the training speakers by
n / (n + n0) (causal; the prior alone for a first utterance), each utterance counting
once. ``normalizer`` is a :class:`~pyreparam.data.normalize.Normalizer` over
functionals (each utterance one "frame"), so the rule is the frames' rule, code and all.

W (N, D) and b (N,) are fitted after the network by :mod:`pyreparam.train.stats_head`
(multinomial logistic regression, L2, class-balanced). The decision's "logits" are
log p, so a softmax of them gives p back.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from pyreparam.audio.functionals import check_pitch, n_functionals, utterance_functionals
from pyreparam.data.normalize import Normalizer

PREFIX = "head."


class StatsHeadError(ValueError):
    """Stored head arrays that do not make a head (shapes, values)."""


@dataclasses.dataclass
class StatsHead:
    """W (N, D), b (N,), the functionals' normalizer (its causal prior), the decision's
    weight on the head (``mix`` in [0, 1]), the number of log-mel bands among the
    channels, the L2 strength C it was fitted with (a record), and whether the
    functionals end with the prosody block of the pitch channels (``pitch``)."""

    weight: np.ndarray
    bias: np.ndarray
    normalizer: Normalizer
    mix: float
    n_mels: int
    C: float = float("nan")
    pitch: bool = False

    def functionals(self, x: np.ndarray) -> np.ndarray:
        """The head's functionals (D,) of raw frames x (T, C)."""
        return utterance_functionals(x, self.n_mels, self.pitch)

    def logits(self, z: np.ndarray) -> np.ndarray:
        """Head logits (n, N) of z-scored functionals z (n, D)."""
        return z @ self.weight.T + self.bias                                   # (n, N)

    def zscore_after(self, heard: np.ndarray, f: np.ndarray) -> np.ndarray:
        """f (D,) z-scored after the rows ``heard`` (k, D) of its speaker, blended with
        the prior: the frames' causal rule, each utterance one sample."""
        return zscore_after(self.normalizer, heard, f)

    def to_extra(self) -> dict[str, np.ndarray]:
        """Arrays for a checkpoint's ``extra/`` (prefixed ``head.``)."""
        out = {"weight": self.weight, "bias": self.bias, "mix": np.array(self.mix),
               "n_mels": np.array(self.n_mels), "C": np.array(self.C)}
        if self.pitch:      # absent: a head without the prosody block (older files too)
            out["pitch"] = np.array(1)
        out.update({f"normalizer.{k}": v for k, v in self.normalizer.to_dict().items()})
        return {PREFIX + k: v for k, v in out.items()}

    @classmethod
    def from_extra(cls, extra: Mapping[str, np.ndarray], n_classes: int,
                   channels: int) -> "StatsHead | None":
        """The head stored in a checkpoint's extra arrays, None when there is none.

        Raises
        ------
        StatsHeadError
            When the arrays do not fit a model of ``n_classes`` classes and ``channels``
            input channels, or hold non-finite values.
        """
        part = {k[len(PREFIX):]: v for k, v in extra.items() if k.startswith(PREFIX)}
        if not part:
            return None
        try:
            n_mels = int(part["n_mels"])
            mix = float(part["mix"])
            weight = np.asarray(part["weight"], dtype=np.float64)
            bias = np.asarray(part["bias"], dtype=np.float64)
            normalizer = Normalizer.from_dict(
                {k[len("normalizer."):]: v for k, v in part.items()
                 if k.startswith("normalizer.")})
            C = float(part.get("C", np.nan))
            pitch = int(part.get("pitch", 0))
        except (KeyError, TypeError, ValueError, IndexError, AttributeError,
                OverflowError) as exc:
            raise StatsHeadError(f"the statistics head is incomplete or malformed: "
                                 f"{exc}") from None
        if not 1 <= n_mels <= channels:
            raise StatsHeadError(f"the statistics head names {n_mels} mel bands of "
                                 f"{channels} channels")
        if pitch not in (0, 1):
            raise StatsHeadError(f"the statistics head's pitch flag is {pitch}, not 0 or 1")
        try:
            check_pitch(channels, n_mels, bool(pitch))
        except ValueError as exc:
            raise StatsHeadError(f"the statistics head: {exc}") from None
        D = n_functionals(channels, n_mels, bool(pitch))
        if weight.shape != (n_classes, D) or bias.shape != (n_classes,):
            raise StatsHeadError(f"the statistics head has weights {weight.shape} and bias "
                                 f"{bias.shape}, expected ({n_classes}, {D}) and "
                                 f"({n_classes},)")
        if normalizer.prior_mean is None or normalizer.prior_mean.shape != (D,) \
                or normalizer.prior_var.shape != (D,):
            raise StatsHeadError(f"the statistics head's prior does not hold {D} values")
        if not (np.isfinite(weight).all() and np.isfinite(bias).all() and 0 <= mix <= 1
                and np.isfinite(normalizer.prior_mean).all()
                and (np.isfinite(normalizer.prior_var) & (normalizer.prior_var >= 0)).all()):
            raise StatsHeadError("the statistics head holds non-finite or out-of-range "
                                 "values")
        return cls(weight, bias, normalizer, mix, n_mels, C, bool(pitch))


def zscore_after(normalizer: Normalizer, heard: np.ndarray, f: np.ndarray) -> np.ndarray:
    """f z-scored with ``normalizer``'s causal rule after the rows ``heard`` (k, D)."""
    k = len(heard)
    mean, std = normalizer.blended(k, heard.mean(axis=0) if k else None,
                                   heard.var(axis=0) if k else None)
    return (f - mean) / std


def zscore_speaker(F: np.ndarray, min_std: float) -> np.ndarray:
    """Rows F (n, D) of one speaker z-scored with their own mean and std."""
    return (F - F.mean(axis=0)) / np.maximum(F.std(axis=0), min_std)


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def mix_logits(network_logits: np.ndarray, head_logits: np.ndarray, mix: float) -> np.ndarray:
    """log((1 - mix) softmax(network) + mix softmax(head)), row by row (n, N)."""
    p = (1.0 - mix) * np.exp(log_softmax(np.asarray(network_logits, dtype=np.float64))) \
        + mix * np.exp(log_softmax(head_logits))
    return np.log(np.maximum(p, np.finfo(np.float64).tiny))
