"""Statistics of a paired comparison of two variants A and B trained on the same folds.

For every seed s both variants are trained on the same folds (same test, validation
and training speakers, same corpus), so their pooled metrics m_A(s), m_B(s) (UA, WA,
macro-F1, the recall of each class; pooled = one confusion matrix over all folds)
can be subtracted seed by seed. The estimate is the mean paired difference

    d = (1/S) sum_s d_s,        d_s = m_B(s) - m_A(s)

and it gets two 95 % intervals that answer different questions:

Over seeds (t-interval): how much d moves when the training is repeated with other
seeds (initialization, batch order, augmentation draws, validation speakers) on the
same test utterances:

    d +- t_{0.975, S-1} * sd(d_s) / sqrt(S)          (sd with S - 1; needs S >= 2)

Over utterances (paired bootstrap): how much d moves when other test utterances are
drawn from the same population. One replicate draws |U| utterances with replacement
from U, the union of the seeds' test utterances (with LOSO every utterance of the
corpus), recomputes every seed's pooled confusion matrices of A and B on the drawn
utterances (an utterance drawn k times counts k times, for A and B alike: paired),
and takes the mean over seeds of m_B - m_A. The interval is the 2.5 and 97.5
percentiles of the replicates (percentile bootstrap). A class that a replicate does
not draw has no recall there; its recall differences are taken over the replicates
that have it.

Caveats: utterances of one speaker are not independent (the folds are speakers), so
the utterance bootstrap is narrower than a speaker-level one would be; the seed
interval with 3-5 seeds is wide because t_{0.975, S-1} is large (4.30 for S = 3,
2.78 for S = 5). Neither corrects for comparing many pairs at once.
"""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
from scipy import stats as scipy_stats

from pyreparam.train.metrics import metrics_from_confusion


def t_interval(differences, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of paired differences and its two-sided t-interval (nan bounds for n < 2)."""
    d = np.asarray(differences, dtype=np.float64)
    mean = float(d.mean())
    if d.size < 2:
        return mean, float("nan"), float("nan")
    half = scipy_stats.t.ppf(0.5 + level / 2, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
    return mean, float(mean - half), float(mean + half)


def class_recall(cm: np.ndarray) -> np.ndarray:
    """Recall of each class of confusion matrices (..., N, N); nan for a class without
    references."""
    cm = np.asarray(cm, dtype=np.float64)
    support = cm.sum(axis=-1)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, tp / support, np.nan)


def batch_metrics(cm: np.ndarray) -> dict[str, np.ndarray]:
    """WA, UA, macro-F1 (by :func:`pyreparam.train.metrics.metrics_from_confusion`,
    the trainer's own definitions) and per-class recall of confusion matrices
    (R, N, N)."""
    cm = np.asarray(cm)
    rows = [metrics_from_confusion(m) for m in cm]
    out = {k: np.array([r[k] for r in rows]) for k in ("wa", "ua", "macro_f1")}
    out["recall"] = class_recall(cm)
    return out


@dataclasses.dataclass(frozen=True)
class PairedSeed:
    """One seed of a pair: its test utterances (indices into the pair's utterance
    list U), their true classes, and the predictions of A and of B."""

    index: np.ndarray
    labels: np.ndarray
    pred_a: np.ndarray
    pred_b: np.ndarray


def _one_hot(labels: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(n, N*N): row i has a 1 at the confusion-matrix cell of utterance i."""
    out = np.zeros((labels.size, n_classes * n_classes))
    out[np.arange(labels.size), labels * n_classes + pred] = 1.0
    return out


def paired_bootstrap(seeds: list[PairedSeed], n_utterances: int, n_classes: int, *,
                     replicates: int = 2000, rng: np.random.Generator,
                     block: int = 200) -> dict[str, np.ndarray]:
    """Replicates of the mean over seeds of metric(B) - metric(A) (see the module doc).

    Returns "wa", "ua", "macro_f1" of shape (replicates,) and "recall" of shape
    (replicates, N), as fractions (not percent).
    """
    cells = [(s.index, _one_hot(s.labels, s.pred_a, n_classes),
              _one_hot(s.labels, s.pred_b, n_classes)) for s in seeds]
    out: dict[str, list] = {"wa": [], "ua": [], "macro_f1": [], "recall": []}
    uniform = np.full(n_utterances, 1.0 / n_utterances)
    for start in range(0, replicates, block):
        count = min(block, replicates - start)
        weights = rng.multinomial(n_utterances, uniform, size=count).astype(np.float64)
        sums = {k: 0.0 for k in out}
        for index, cells_a, cells_b in cells:
            w = weights[:, index]                                   # (R, n_s)
            shape = (count, n_classes, n_classes)
            a = batch_metrics(np.rint(w @ cells_a).reshape(shape).astype(np.int64))
            b = batch_metrics(np.rint(w @ cells_b).reshape(shape).astype(np.int64))
            for k in out:
                sums[k] = sums[k] + (b[k] - a[k])
        for k in out:
            out[k].append(sums[k] / len(cells))
    return {k: np.concatenate(v) for k, v in out.items()}


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> np.ndarray:
    """Percentile interval of bootstrap replicates along axis 0 (nan replicates are
    left out; all-nan gives nan)."""
    q = [50 * (1 - level), 50 * (1 + level)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)            # all-nan columns
        return np.nanpercentile(replicates, q, axis=0)
