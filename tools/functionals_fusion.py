"""Late fusion of a run's fold models with a linear classifier on utterance functionals.

    python tools/functionals_fusion.py RUN_DIR [RUN_DIR ...] [--weight 0.5] [--orders 5]
                                       [--json PATH]
    python tools/functionals_fusion.py --tables PATH.json [--select TEXT]

Needs the bench extra (scikit-learn). A probe of one question: how much does a light
model gain from utterance-level statistics of its own input, the ones
tools/baselines/opensmile_svm.py's ``logmel`` set computes (672 functionals of the 64
log-mel bands and 24 cepstra, no openSMILE), when both decide together?

For every fold of each run (the deployed model: fold_XX/model_merged.npz with HRF,
else model.npz), on the fold's test speakers:

* the model's class probabilities (softmax of its logits) under each protocol of
  pyreparam.train.protocols (speaker, utterance, causal with the curve over the
  utterances heard), exactly as `pyreparam train` scores it (the same random orders:
  the model's figures equal the run's results.json);
* a multinomial logistic regression (scikit-learn, balanced class weights) on the
  functionals, z-scored per speaker *by the same protocol*: speaker — with the mean and
  variance of all of the test speaker's utterances; causal — with those of the
  utterances heard before, blended with a prior (the mean over the fold's non-test
  speakers of each speaker's mean and variance) with weight n / (n + n0), n0 = 2, the
  rule of pyreparam.data.normalize for frames; utterance — with the prior alone.
  It is trained on the fold's non-test speakers (its training and validation
  speakers, as the SVM baseline): for the speaker protocol on each speaker's own
  z-scores, for the others on 3 causal draws per utterance (k uniform in 0 ... N of
  the speaker's other utterances heard, as causal training draws frames). Its C (1e-3
  ... 1) is chosen by inner leave-one-speaker-out UA over those speakers only, on
  their own z-scores;
* the fusion: p = (1 - weight) p_model + weight p_functionals, argmax (weight 0.5 by
  default, fixed in advance, not tuned).

Printed per run: UA of the model alone, the functionals alone and the fusion under
each protocol, and the fusion's causal curve; then tables of all runs (mean ± sd);
--json writes the pooled reports, and --tables prints the tables again from them.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent / "baselines"))
import opensmile_svm as baseline  # noqa: E402

from pyreparam.atomic import write_text  # noqa: E402
from pyreparam.data.cache import load_features  # noqa: E402
from pyreparam.data.manifest import read_manifest  # noqa: E402
from pyreparam.data.normalize import blend_with_prior  # noqa: E402
from pyreparam.infer import load_for_inference  # noqa: E402
from pyreparam.train.metrics import confusion_matrix, metrics_from_confusion  # noqa: E402
from pyreparam.train.protocols import (PRIOR_BUCKETS, FloatScorer,  # noqa: E402
                                       evaluate_protocols, pool_protocols)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from protocols_report import PROTOCOL_COLUMNS, cell  # noqa: E402

PRIOR_WEIGHT = 2.0          # n0, as the frames' causal rule
MIN_STD = 1e-3
C_GRID = (1e-3, 1e-2, 1e-1, 1.0)
DRAWS = 3


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class FunctionalStats:
    """Per-speaker statistics of functionals and their causal blend with a prior."""

    def __init__(self, prior_mean: np.ndarray, prior_var: np.ndarray) -> None:
        self.prior_mean, self.prior_var = prior_mean, prior_var

    @classmethod
    def fit(cls, F: np.ndarray, speakers: np.ndarray) -> "FunctionalStats":
        means = [F[speakers == s].mean(axis=0) for s in np.unique(speakers)]
        vars_ = [F[speakers == s].var(axis=0) for s in np.unique(speakers)]
        return cls(np.mean(means, axis=0), np.mean(vars_, axis=0))

    def zscore(self, f: np.ndarray, heard: np.ndarray) -> np.ndarray:
        """z-scores of rows f with the blend of the heard rows' statistics and the prior
        (pyreparam.data.normalize.blend_with_prior, the frames' rule)."""
        n = len(heard)
        mean, var = blend_with_prior(n, heard.mean(axis=0) if n else None,
                                     heard.var(axis=0) if n else None,
                                     self.prior_mean, self.prior_var, PRIOR_WEIGHT)
        return (f - mean) / np.maximum(np.sqrt(np.maximum(var, 0.0)), MIN_STD)


def speaker_z(F: np.ndarray, speakers: np.ndarray) -> np.ndarray:
    """Each speaker's rows z-scored with that speaker's own statistics."""
    return baseline.znormalize(F, speakers, F[:0], speakers[:0], "speaker")[0]


def logistic(C: float):
    from sklearn.linear_model import LogisticRegression
    return LogisticRegression(C=C, class_weight="balanced", max_iter=3000)


def choose_c(Z: np.ndarray, y: np.ndarray, speakers: np.ndarray, n_classes: int) -> float:
    """C of C_GRID with the best inner leave-one-speaker-out UA (ties: smaller C)."""
    scores = {}
    for C in C_GRID:
        pred = np.empty(y.size, dtype=np.int64)
        for s in np.unique(speakers):
            held = speakers == s
            pred[held] = logistic(C).fit(Z[~held], y[~held]).predict(Z[held])
        scores[C] = metrics_from_confusion(confusion_matrix(y, pred, n_classes))["ua"]
    best = max(scores.values())
    return min(C for C in C_GRID if scores[C] == best)


def causal_draws(F: np.ndarray, y: np.ndarray, speakers: np.ndarray,
                 stats: FunctionalStats, rng: np.random.Generator):
    """DRAWS causal z-scorings of every row: k uniform in 0..N other rows of its speaker."""
    Z, Y = [], []
    for i in range(len(F)):
        others = np.flatnonzero((speakers == speakers[i]) & (np.arange(len(F)) != i))
        for _ in range(DRAWS):
            k = int(rng.integers(0, len(others) + 1))
            heard = F[rng.choice(others, size=k, replace=False)] if k else F[:0]
            Z.append(stats.zscore(F[i], heard))
            Y.append(y[i])
    return np.array(Z), np.array(Y)


class MemoScorer:
    """A Scorer that answers a repeated call (same method, same arrays) from memory:
    the three parts of a fold ask the model the same questions."""

    def __init__(self, scorer) -> None:
        self.scorer, self.memo = scorer, {}

    def _ask(self, method: str, key: tuple, *args) -> np.ndarray:
        if (method, key) not in self.memo:
            self.memo[method, key] = getattr(self.scorer, method)(*args)
        return self.memo[method, key]

    def speaker(self, frames):
        return self._ask("speaker", tuple(map(id, frames)), frames)

    def utterance(self, frames):
        return self._ask("utterance", tuple(map(id, frames)), frames)

    def causal(self, frames):
        return self._ask("causal", tuple(map(id, frames)), frames)

    def after(self, heard, frames):
        key = (tuple(tuple(map(id, h)) for h in heard), tuple(map(id, frames)))
        return self._ask("after", key, heard, frames)


class FusionScorer:
    """A Scorer (pyreparam.train.protocols) over items (frames, functionals): the
    model's and the logistic regression's probabilities, mixed with ``weight``;
    ``part`` picks 'model', 'functionals' or 'fusion'."""

    def __init__(self, model_scorer: FloatScorer, stats: FunctionalStats, lr_speaker,
                 lr_causal, weight: float, part: str = "fusion") -> None:
        self.model_scorer, self.stats = model_scorer, stats
        self.lr_speaker, self.lr_causal = lr_speaker, lr_causal
        self.weight, self.part = weight, part

    def _mix(self, logits: np.ndarray, p_functionals: np.ndarray) -> np.ndarray:
        p_model = softmax(logits)
        p = {"model": p_model, "functionals": p_functionals,
             "fusion": (1 - self.weight) * p_model + self.weight * p_functionals}[self.part]
        return np.log(np.maximum(p, 1e-30))

    @staticmethod
    def _split(items):
        return [x for x, _ in items], np.array([f for _, f in items])

    def speaker(self, items):
        frames, F = self._split(items)              # one speaker's items
        Z = speaker_z(F, np.zeros(len(F)))          # as the regression was trained
        return self._mix(self.model_scorer.speaker(frames), self.lr_speaker.predict_proba(Z))

    def utterance(self, items):
        frames, F = self._split(items)
        Z = np.array([self.stats.zscore(f, F[:0]) for f in F])
        return self._mix(self.model_scorer.utterance(frames), self.lr_causal.predict_proba(Z))

    def causal(self, items):
        frames, F = self._split(items)
        Z = np.array([self.stats.zscore(F[t], F[:t]) for t in range(len(F))])
        return self._mix(self.model_scorer.causal(frames), self.lr_causal.predict_proba(Z))

    def after(self, heard, items):
        frames, F = self._split(items)
        Z = np.array([self.stats.zscore(f, np.array([g for _, g in h]).reshape(-1, F.shape[1]))
                      for f, h in zip(F, heard)])
        return self._mix(self.model_scorer.after([[x for x, _ in h] for h in heard], frames),
                         self.lr_causal.predict_proba(Z))


def fold_reports(run: Path, fold: dict, spec: dict, utts, F, y, speakers, n_classes,
                 weight: float, orders: int) -> dict[str, dict]:
    fold_dir = run / f"fold_{fold['index']:02d}"
    path = fold_dir / ("model_merged.npz" if (fold_dir / "model_merged.npz").exists()
                       else "model.npz")
    model, frontend = load_for_inference(path)
    test = np.flatnonzero(np.isin(speakers, fold["test"]))
    fit = np.flatnonzero(~np.isin(speakers, fold["test"]))
    raw, kept, _ = load_features([utts[i] for i in test], frontend.feature_config,
                                 spec.get("cache_dir"), max_seconds=spec.get("max_seconds", 30.0))
    if len(kept) != len(test):
        raise SystemExit(f"{run}: some test files could not be read")
    stats = FunctionalStats.fit(F[fit], speakers[fit])
    Zs = speaker_z(F[fit], speakers[fit])
    C = choose_c(Zs, y[fit], speakers[fit], n_classes)
    lr_speaker = logistic(C).fit(Zs, y[fit])
    Zc, Yc = causal_draws(F[fit], y[fit], speakers[fit], stats,
                          np.random.default_rng([fold["index"], 7]))
    lr_causal = logistic(C).fit(Zc, Yc)
    items = list(zip(raw, F[test]))
    scorer = MemoScorer(FloatScorer(model, frontend.normalizer))  # items keep raw alive
    out = {"C": C}
    for part in ("model", "functionals", "fusion"):
        fusion = FusionScorer(scorer, stats, lr_speaker, lr_causal, weight, part)
        out[part] = evaluate_protocols(fusion, items, y[test], list(speakers[test]),
                                       n_classes, n_orders=orders)   # train's orders
    return out


def fuse_run(run: Path, weight: float, orders: int) -> dict:
    spec = json.loads((run / "run.json").read_text())
    folds = json.loads((run / "folds.json").read_text())["folds"]
    utts = read_manifest(spec["manifest"])
    options = argparse.Namespace(features=["logmel"], cache=baseline.DEFAULT_CACHE,
                                 no_cache=False, max_seconds=spec.get("max_seconds", 30.0),
                                 on_error="fail")
    extracted, _, _ = baseline.extract_all(utts, options, lambda message: None)
    classes = sorted({u.label for u in utts})
    y = np.array([classes.index(u.label) for u in utts], dtype=np.int64)
    speakers = np.array([u.speaker for u in utts])
    F = np.stack([extracted["logmel"][u.path] for u in utts]).astype(np.float64)
    reports = [fold_reports(run, f, spec, utts, F, y, speakers, len(classes), weight, orders)
               for f in folds]
    return {"run": str(run), "weight": weight, "C": [r["C"] for r in reports],
            **{part: pool_protocols([r[part] for r in reports])
               for part in ("model", "functionals", "fusion")}}


PARTS = {"model": "the run's model alone", "functionals": "logistic regression on the functionals",
         "fusion": "fusion (mean of the two probabilities)"}
BUCKETS = tuple(map(str, PRIOR_BUCKETS))


def format_tables(results: list[dict]) -> str:
    """Markdown: UA per protocol and the causal curve of each part, mean ± sd over the
    runs given (e.g. the seeds of one recipe)."""
    lines = [f"{len(results)} run(s): " + ", ".join(r["run"] for r in results), "",
             "| decision | speaker UA % | causal UA % | utterance UA % |", "|---|---|---|---|"]
    for part, name in PARTS.items():
        lines.append(f"| {name} | " + " | ".join(
            cell([r[part][p]["ua"] for r in results]) for p in PROTOCOL_COLUMNS) + " |")
    lines += ["", "| causal UA % after k utterances heard | "
              + " | ".join(f"k = {k}" for k in BUCKETS) + " |",
              "|---" * (len(BUCKETS) + 1) + "|"]
    for part, name in PARTS.items():
        lines.append(f"| {name} | " + " | ".join(
            cell([r[part]["causal"]["ua_by_prior"][k] for r in results])
            if all(k in r[part]["causal"]["ua_by_prior"] for r in results) else "-"
            for k in BUCKETS) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", type=Path, help="finished run folders")
    parser.add_argument("--weight", type=float, default=0.5,
                        help="the functionals' share of the mixed probabilities (0.5)")
    parser.add_argument("--orders", type=int, default=5,
                        help="random orders per speaker of the causal protocol (5)")
    parser.add_argument("--json", type=Path, help="write the pooled reports here")
    parser.add_argument("--tables", type=Path, nargs="+", metavar="JSON",
                        help="print the tables of earlier --json files (runs selected by "
                             "--select) instead of computing")
    parser.add_argument("--select", default="",
                        help="with --tables: only runs whose path contains this text")
    args = parser.parse_args(argv)
    if args.tables:
        results = [r for path in args.tables for r in json.loads(path.read_text())
                   if args.select in r["run"]]
        if not results:
            sys.exit("no run matches --select")
        print(format_tables(results))
        return
    if not args.runs:
        parser.error("give RUN_DIR ... (or --tables JSON)")
    results = []
    for run in args.runs:
        if not (run / "results.json").exists():
            sys.exit(f"{run}: not a finished run (no results.json)")
        r = fuse_run(run, args.weight, args.orders)
        results.append(r)
        line = "  ".join(f"{part} " + " / ".join(
            f"{100 * r[part][p]['ua']:.1f}" for p in ("speaker", "causal", "utterance"))
            for part in ("model", "functionals", "fusion"))
        curve = r["fusion"]["causal"]["ua_by_prior"]
        print(f"{run}: UA % speaker / causal / utterance: {line}; fusion causal by k: "
              + ", ".join(f"{k}: {100 * v:.1f}" for k, v in curve.items()), flush=True)
    print()
    print(format_tables(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        write_text(args.json, json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
