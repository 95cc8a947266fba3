"""Fitting the statistics head (:mod:`pyreparam.models.stats_head`) after the network.

A multinomial logistic regression on z-scored utterance functionals, in NumPy with
SciPy's L-BFGS:

    minimize over W (N, D), b (N,):
        L = sum_i s_i CE(softmax(W z_i + b), y_i) + ||W||^2 / (2 C)
    with s_i = n / (K n_{y_i}) (balanced class weights, as the network's loss) and the
    bias not penalized (the objective of scikit-learn's LogisticRegression with
    class_weight='balanced', up to the factor C, so the same minimum; the tests use it
    as the oracle).

    gradient:  P = softmax(Z W^T + b),  G = s (P - onehot(y))      # (n, N)
               dL/dW = G^T Z + W / C,   dL/db = sum_i G_i

With fewer rows than functionals (the inner folds of a corpus of a few hundred
utterances, D about 1,400) the minimizer's W lies in the row space of Z, and the fit
runs there (:func:`row_space`): the same minimum, 2.3x faster for an EmoDB fold.

What it is trained on: the fit speakers' functionals z-scored as a device will see
them, :data:`DRAWS` causal draws per utterance (k uniform in 0..N of the speaker's other
utterances heard, blended with the prior exactly as the frames' rule; the network's
training draws frames the same way) plus each utterance z-scored with all of its
speaker's utterances (the transductive protocol). C is chosen from :data:`C_GRID` by
leave-one-speaker-out UA over the fit speakers (each held-out speaker z-scored with its
own statistics, the rest refitted); ties go to the smaller C (stronger penalty).

A head with the prosody block (``pitch``, :mod:`pyreparam.audio.functionals`) chooses
C together with a factor on the block's z-scores, :data:`PROSODY_WEIGHTS`, the same
way (ties: the smaller factor): fitted on z a (a on the block, 1 elsewhere), its W
is stored as W a, so the head applies it to plain z-scores. Seven prosody values among
about 1,400 spectral ones are otherwise held near zero by the L2 penalty (on EMOVO the
head alone scored 41 % UA with a factor of 1 and 45 % with 10, leave one speaker out,
results/probes/README.md).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.optimize

from pyreparam.audio.functionals import PITCH_STATS, utterance_functionals
from pyreparam.data.normalize import Normalizer
from pyreparam.models.stats_head import StatsHead, log_softmax, zscore_after, zscore_speaker
from pyreparam.train.metrics import class_weights, confusion_matrix, metrics_from_confusion

C_GRID = (1e-3, 1e-2, 1e-1, 1.0)
#: factors on the prosody block's z-scores in the fit (7 values among about 1,400: at
#: 1 the L2 penalty drowns them), chosen with C
PROSODY_WEIGHTS = (1.0, 10.0)
DRAWS = 3
MIN_STD = 1e-3
MAX_ITER = 3000


def logistic_objective(theta: np.ndarray, Z: np.ndarray, Y: np.ndarray, s: np.ndarray,
                       C: float) -> tuple[float, np.ndarray]:
    """L and dL/dtheta of the module's objective; theta = [W.ravel(), b], Y one-hot (n, N)."""
    n, D = Z.shape
    N = Y.shape[1]
    W, b = theta[:N * D].reshape(N, D), theta[N * D:]
    logp = log_softmax(Z @ W.T + b)                                            # (n, N)
    loss = -np.sum(s * np.sum(Y * logp, axis=1)) + 0.5 * np.sum(W * W) / C
    G = s[:, None] * (np.exp(logp) - Y)                                        # (n, N)
    dW = G.T @ Z + W / C                                                       # (N, D)
    return float(loss), np.concatenate([dW.ravel(), G.sum(axis=0)])


def row_space(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(Z Q, Q^T) for an orthonormal basis Q (D x n) of the row space of a matrix with
    fewer rows than columns, else None: Householder QR of Z^T = Q R, so Z Q = R^T
    (n x n). The L2 penalty puts the minimizer's W in that space (a component
    orthogonal to it changes only the penalty), so the module's objective on Z Q with
    weights W_r (||W_r|| = ||W_r Q^T||) is the same problem as on Z with W = W_r Q^T,
    on products n / D the size. (QR, not an SVD: LAPACK's divide-and-conquer SVD
    failed to converge on 4 of the 80 inner-fold matrices of one EmoDB run.)"""
    Z = np.asarray(Z, dtype=np.float64)
    if Z.shape[0] >= Z.shape[1]:
        return None
    Q, R = np.linalg.qr(Z.T)                                                   # (D, n), (n, n)
    return R.T, Q.T


def fit_logistic(Z: np.ndarray, y: np.ndarray, n_classes: int, C: float,
                 basis: tuple[np.ndarray, np.ndarray] | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(W (N, D), b (N,)) minimizing the module's objective from zero weights; with
    fewer rows than columns the fit runs in Z's row space (:func:`row_space`, or
    ``basis``: its value for Z, computed once for several C)."""
    Z = np.asarray(Z, dtype=np.float64)
    basis = row_space(Z) if basis is None else basis
    Zr, Vt = basis if basis is not None else (Z, None)
    Y = np.eye(n_classes)[np.asarray(y)]
    s = class_weights(np.asarray(y), n_classes)[np.asarray(y)]
    theta0 = np.zeros(n_classes * (Zr.shape[1] + 1))
    result = scipy.optimize.minimize(logistic_objective, theta0, args=(Zr, Y, s, C),
                                     jac=True, method="L-BFGS-B",
                                     options={"maxiter": MAX_ITER, "gtol": 1e-6})
    theta = result.x
    D = Zr.shape[1]
    W, b = theta[:n_classes * D].reshape(n_classes, D), theta[n_classes * D:]
    return (W if Vt is None else W @ Vt), b


def speaker_zscores(F: np.ndarray, speakers: np.ndarray, normalizer: Normalizer
                    ) -> np.ndarray:
    """Each row z-scored with its speaker's mean and standard deviation (all rows)."""
    Z = np.empty_like(F)
    for s in np.unique(speakers):
        rows = speakers == s
        Z[rows] = zscore_speaker(F[rows], normalizer.min_std)
    return Z


def training_rows(F: np.ndarray, y: np.ndarray, speakers: np.ndarray, normalizer: Normalizer,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The head's training rows: DRAWS causal draws and the speaker z-score of each row."""
    Z, Y = [speaker_zscores(F, speakers, normalizer)], [y]
    for _ in range(DRAWS):
        rows = []
        for i in range(len(F)):
            others = np.flatnonzero((speakers == speakers[i]) & (np.arange(len(F)) != i))
            k = int(rng.integers(0, len(others) + 1))
            rows.append(zscore_after(normalizer, F[rng.choice(others, size=k,
                                                               replace=False)], F[i]))
        Z.append(np.array(rows))
        Y.append(y)
    return np.concatenate(Z), np.concatenate(Y)


def column_scale(D: int, pitch: bool, prosody_weight: float) -> np.ndarray:
    """(D,) the factor of each z-scored functional in the fit: ``prosody_weight`` on
    the prosody block (the last len(PITCH_STATS) of a pitch head), 1 elsewhere."""
    scale = np.ones(D)
    if pitch:
        scale[D - len(PITCH_STATS):] = prosody_weight
    return scale


def choose_c(F: np.ndarray, y: np.ndarray, speakers: np.ndarray, n_classes: int,
             normalizer: Normalizer, pitch: bool = False
             ) -> tuple[float, float, dict[str, float]]:
    """(C, prosody weight) of C_GRID x PROSODY_WEIGHTS (the weights only for a pitch
    head) with the best leave-one-speaker-out UA (ties: the smaller C, then the
    smaller weight), and the UA of every pair (keys ``C`` or ``C,weight``)."""
    Z = speaker_zscores(F, speakers, normalizer)
    weights = PROSODY_WEIGHTS if pitch else (1.0,)
    pred = {(C, a): np.empty(len(y), dtype=np.int64) for C in C_GRID for a in weights}
    for a in weights:
        Za = Z * column_scale(Z.shape[1], pitch, a)
        for s in np.unique(speakers):
            held = speakers == s
            basis = row_space(Za[~held])                    # once for every C
            for C in C_GRID:
                W, b = fit_logistic(Za[~held], y[~held], n_classes, C, basis)
                pred[C, a][held] = np.argmax(Za[held] @ W.T + b, axis=1)
    scores = {k: metrics_from_confusion(confusion_matrix(y, p, n_classes))["ua"]
              for k, p in pred.items()}
    best = max(scores.values())
    C, a = min(k for k, v in scores.items() if v == best)
    return C, a, {(f"{c:g},{w:g}" if pitch else f"{c:g}"): v
                  for (c, w), v in scores.items()}


def fit_stats_head(raw: Sequence[np.ndarray], labels: np.ndarray, speakers: Sequence[str],
                   n_classes: int, n_mels: int, *, mix: float = 0.5, seed: int = 0,
                   prior_weight: float = 2.0, pitch: bool = False
                   ) -> tuple[StatsHead, dict]:
    """Fit a head on the raw frames of the fit speakers (one utterance each, no repeats);
    ``pitch``: the frames carry the pitch channels and the head their prosody block.

    Returns the head and a record: the chosen C (and prosody weight) and the inner UA
    of every choice.
    """
    if len({str(s) for s in speakers}) < 2:
        raise ValueError("the statistics head needs at least 2 speakers to choose its C")
    F = np.stack([utterance_functionals(x, n_mels, pitch) for x in raw])      # (n, D)
    y = np.asarray(labels, dtype=np.int64)
    spk = np.array([str(s) for s in speakers])
    normalizer = Normalizer("causal", min_std=MIN_STD, prior_weight=prior_weight).fit(
        [f[None, :] for f in F], list(spk))
    C, a, scores = choose_c(F, y, spk, n_classes, normalizer, pitch)
    Z, Y = training_rows(F, y, spk, normalizer, np.random.default_rng([seed, 7]))
    scale = column_scale(Z.shape[1], pitch, a)
    W, b = fit_logistic(Z * scale, Y, n_classes, C)
    record = {"C": C, "inner_ua": scores}
    if pitch:
        record["prosody_weight"] = a
    return StatsHead(W * scale, b, normalizer, float(mix), int(n_mels), C, pitch), record
