"""What limits the causal curve after k utterances: oracle and label-free estimators.

After k = 8 utterances of a new speaker the deployed model is still several points
below the transductive figure (README, "Deployed accuracy"). This script asks why, on
a finished run's fold models: every utterance of each fold's validation and test
speakers is normalized with statistics estimated from k *other* utterances of its
speaker (--draws random draws per utterance; the prior blend of the model's
normalizer, weight k / (k + n0)), by several estimators, and classified by the
merged fold model (float). Pooled UA per estimator and role:

    frame          the deployed rule (frame-weighted mean and variance of the k)
    all            every other utterance of the speaker (n = all): the ceiling
    oracle-emotions   the k drawn to cover as many emotions as possible (uses labels)
    oracle-mean    mean from all others, variance from the k
    oracle-var     mean from the k, variance from all others
    oracle-shape   the band profile of all others' mean, the level (band average) of the k's
    oracle-level   the band profile of the k's mean, the level of all others'
    utterance-weighted   each of the k counts once (not by frames)
    median         per-band median of the k utterance means
    shape-n0=X     the band profile blended with weight k / (k + X), the level as deployed
    dct-L          the deviation from the prior's mean kept to its first L DCT terms

The oracle rows use what a device cannot have (other utterances, labels): they
locate the loss, they are not candidates. Label-free rows are candidates, to be
judged on the validation speakers only. Analysis, not part of the package.

    python tools/causal_stats_oracle.py runs/deployed_sf_t0/seed=0 [--k 8] [--draws 3]
        [--estimators frame,all,...] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import scipy.fft

from pyreparam.data.normalize import blend_with_prior
from pyreparam.infer import load_for_inference
from pyreparam.train.protocols import FloatScorer
from pyreparam.train.run import RunSpec, load_corpus

ESTIMATORS = ("frame", "all", "oracle-emotions", "oracle-mean", "oracle-var",
              "oracle-shape", "oracle-level", "utterance-weighted", "median",
              "shape-n0=4", "shape-n0=8", "dct-8", "dct-16")


class Moments:
    """Per-utterance frame counts, sums, sums of squares, means and variances (float64)."""

    def __init__(self, features):
        self.count = np.array([len(x) for x in features], dtype=np.float64)     # (n,)
        self.sums = np.stack([x.astype(np.float64).sum(0) for x in features])   # (n, M)
        self.squares = np.stack([(x.astype(np.float64) ** 2).sum(0) for x in features])
        self.means = self.sums / self.count[:, None]
        self.vars = np.maximum(self.squares / self.count[:, None] - self.means ** 2, 0.0)

    def pooled(self, idx) -> tuple[np.ndarray, np.ndarray]:
        """Frame-weighted mean and variance of the utterances idx."""
        frames = self.count[idx].sum()
        mean = self.sums[idx].sum(0) / frames
        return mean, np.maximum(self.squares[idx].sum(0) / frames - mean ** 2, 0.0)


def estimate(kind: str, mom: Moments, pick, others, prior) -> tuple[np.ndarray, np.ndarray]:
    """Normalization mean and variance of estimator ``kind`` from the utterances ``pick``
    (``others``: all other utterances of the speaker, for the oracle rows)."""
    pm, pv, n0 = prior
    n, n_all = len(pick), len(others)
    blend = lambda count, m, v: blend_with_prior(count, m, v, pm, pv, n0)
    m, v = mom.pooled(pick)
    if kind in ("frame", "oracle-emotions"):
        return blend(n, m, v)
    m_all, v_all = mom.pooled(others)
    if kind == "all":
        return blend(n_all, m_all, v_all)
    if kind == "oracle-mean":
        return blend(n_all, m_all, v_all)[0], blend(n, m, v)[1]
    if kind == "oracle-var":
        return blend(n, m, v)[0], blend(n_all, m_all, v_all)[1]
    if kind in ("oracle-shape", "oracle-level"):
        shape_from, level_from = (m_all, m) if kind == "oracle-shape" else (m, m_all)
        return blend(n, shape_from - shape_from.mean() + level_from.mean(), v)
    if kind in ("utterance-weighted", "median"):
        means, variances = mom.means[pick], mom.vars[pick]
        centre = means.mean(0) if kind == "utterance-weighted" else np.median(means, 0)
        return blend(n, centre, (variances + (means - centre) ** 2).mean(0))
    mean, var = blend(n, m, v)
    d = mean - pm
    if kind.startswith("shape-n0="):
        x = float(kind.split("=")[1])
        level = d.mean()
        return pm + level + (d - level) * ((n / (n + x)) / (n / (n + n0))), var
    if kind.startswith("dct-"):
        coeffs = scipy.fft.dct(d, norm="ortho")
        coeffs[int(kind[4:]):] = 0
        return pm + scipy.fft.idct(coeffs, norm="ortho"), var
    raise ValueError(f"unknown estimator {kind!r}")


def covering_emotions(rng, others, labels, k: int) -> np.ndarray:
    """k of ``others`` taken one emotion at a time, emotions in random order (oracle)."""
    pools = [list(rng.permutation(others[labels[others] == c])) for c in rng.permutation(labels.max() + 1)]
    pick = []
    while len(pick) < min(k, len(others)):
        for pool in pools:
            if pool and len(pick) < k:
                pick.append(pool.pop())
    return np.array(pick)


def analyse(run: Path, k: int, draws: int, kinds) -> dict:
    spec = RunSpec(**json.loads((run / "run.json").read_text()))
    corpus = load_corpus(spec, log=lambda *a: None)
    folds = json.loads((run / "folds.json").read_text())["folds"]
    labels, speakers = corpus.labels, np.array(corpus.speakers)
    mom = Moments(corpus.features)
    n_classes = len(corpus.classes)
    confusion = {role: {kind: np.zeros((n_classes, n_classes), np.int64) for kind in kinds}
                 for role in ("validation", "test")}
    for fold in folds:
        model, frontend = load_for_inference(run / f"fold_{fold['index']:02d}" / "model_merged.npz")
        nz = frontend.normalizer
        prior = (nz.prior_mean, nz.prior_var, nz.prior_weight)
        scorer = FloatScorer(model, nz)
        for role in ("validation", "test"):
            for speaker in fold[role]:
                ids = np.flatnonzero(speakers == speaker)
                for kind in kinds:
                    rng = np.random.default_rng([fold["index"], len(ids), k])   # same draws per kind
                    xs, ys = [], []
                    for i in ids:
                        others = ids[ids != i]
                        for _ in range(1 if kind == "all" else draws):
                            if kind == "oracle-emotions":
                                pick = covering_emotions(rng, others, labels, k)
                            else:
                                pick = rng.choice(others, size=min(k, len(others)), replace=False)
                            mean, var = estimate(kind, mom, pick, others, prior)
                            std = np.maximum(np.sqrt(var), nz.min_std)
                            xs.append(((corpus.features[i] - mean) / std).astype(np.float32))
                            ys.append(labels[i])
                    for y, p in zip(ys, scorer.normalized(xs).argmax(1)):
                        confusion[role][kind][y, p] += 1
    ua = lambda cm: float(np.mean(np.diag(cm) / np.maximum(cm.sum(1), 1)))
    return {role: {kind: ua(cm) for kind, cm in by.items()} for role, by in confusion.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--k", type=int, default=8, help="utterances heard before [8]")
    parser.add_argument("--draws", type=int, default=3, help="random draws per utterance [3]")
    parser.add_argument("--estimators", default=",".join(ESTIMATORS))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    kinds = args.estimators.split(",")
    results = {}
    for run in args.runs:
        results[str(run)] = analyse(run, args.k, args.draws, kinds)
        print(f"{run}: done", file=sys.stderr, flush=True)
    print(f"UA % after k = {args.k} utterances heard ({args.draws} draws per utterance), "
          "pooled over folds; mean over runs" + (f" ({len(results)})" if len(results) > 1 else ""))
    print(f"| estimator | validation speakers | test speakers |\n|---|---|---|")
    for kind in kinds:
        cells = []
        for role in ("validation", "test"):
            values = [100 * r[role][kind] for r in results.values()]
            cells.append(f"{np.mean(values):.1f}" + (f" ± {np.std(values, ddof=1):.1f}"
                                                     if len(values) > 1 else ""))
        print(f"| {kind} | {cells[0]} | {cells[1]} |")
    if args.json:
        args.json.write_text(json.dumps({"k": args.k, "draws": args.draws, "runs": results},
                                        indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
