"""Evaluation protocols of finished runs on their validation speakers, and a scan of
the causal prior weight n0 — the numbers a recipe is chosen by, never the test speakers.

    python tools/protocol_scan.py RUN_DIR [RUN_DIR ...] [--prior-weights 0.5,1,2,4,8]
                                  [--orders 5] [--json PATH]

For every fold of each run, the deployed model (fold_XX/model_merged.npz with HRF,
else model.npz) is scored under the speaker / utterance / causal protocols
(pyreparam.train.protocols) on the fold's *validation* speakers, with the causal
protocol repeated for each prior weight n0 (the model's own normalizer otherwise).
Pooled over folds (one confusion matrix), per run. The test speakers' figures are
printed next to them for information (``--test``); choose with the validation column.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from pyreparam.atomic import write_text
from pyreparam.data.cache import load_features
from pyreparam.data.manifest import read_manifest
from pyreparam.infer import load_for_inference
from pyreparam.train.protocols import FloatScorer, evaluate_protocols, pool_protocols


def fold_reports(run: Path, fold: dict, part: str, weights: list[float], orders: int,
                 spec: dict) -> dict:
    """{"protocols": {...}, "causal_by_n0": {n0: report}} of one fold's part."""
    fold_dir = run / f"fold_{fold['index']:02d}"
    path = fold_dir / ("model_merged.npz" if (fold_dir / "model_merged.npz").exists()
                       else "model.npz")
    model, frontend = load_for_inference(path)
    utts = [u for u in read_manifest(spec["manifest"]) if u.speaker in fold[part]]
    raw, kept, _ = load_features(utts, frontend.feature_config, spec.get("cache_dir"),
                                 max_seconds=spec.get("max_seconds", 30.0))
    labels = np.array([frontend.classes.index(u.label) for u in kept])
    speakers = [u.speaker for u in kept]
    n = len(frontend.classes)
    out = {"protocols": evaluate_protocols(FloatScorer(model, frontend.normalizer), raw,
                                           labels, speakers, n, n_orders=orders)}
    out["causal_by_n0"] = {}
    for w in weights:
        scorer = FloatScorer(model, _with_weight(frontend.normalizer, w))
        out["causal_by_n0"][str(w)] = evaluate_protocols(
            scorer, raw, labels, speakers, n, ["causal"], n_orders=orders)["causal"]
    return out


def _with_weight(normalizer, weight: float):
    from pyreparam.data.normalize import Normalizer
    copy = Normalizer.from_dict(normalizer.to_dict())
    copy.prior_weight = float(weight)
    return copy


def scan_run(run: Path, weights: list[float], orders: int, parts: list[str]) -> dict:
    spec = json.loads((run / "run.json").read_text())
    folds = json.loads((run / "folds.json").read_text())["folds"]
    result = {"run": str(run), "prior_weight": spec["train_config"].get("prior_weight"),
              "normalization": spec["train_config"].get("normalization")}
    for part in parts:
        reports = [fold_reports(run, f, part, weights, orders, spec) for f in folds]
        result[part] = {
            "protocols": pool_protocols([r["protocols"] for r in reports]),
            "causal_by_n0": {w: pool_protocols([{"causal": r["causal_by_n0"][w]}
                                                for r in reports])["causal"]
                             for w in map(str, weights)}}
    return result


def print_run(r: dict, parts: list[str]) -> None:
    print(f"{r['run']} (trained: normalization {r['normalization']}, n0 {r['prior_weight']})")
    for part in parts:
        p = r[part]["protocols"]
        print(f"  {part:<10} speaker UA {100 * p['speaker']['ua']:5.1f}  utterance UA "
              f"{100 * p['utterance']['ua']:5.1f}  causal UA {100 * p['causal']['ua']:5.1f} "
              f"(first utterance {100 * p['causal']['ua_by_prior'].get('0', np.nan):.1f})")
        print(f"  {'':<10} causal UA by n0: " + ", ".join(
            f"{w}: {100 * c['ua']:.1f} ({100 * c['ua_by_prior'].get('0', np.nan):.1f})"
            for w, c in r[part]["causal_by_n0"].items()))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--prior-weights", default="0.5,1,2,4,8",
                        type=lambda v: [float(x) for x in v.split(",") if x])
    parser.add_argument("--orders", type=int, default=5)
    parser.add_argument("--test", action="store_true",
                        help="also the test speakers (for information only)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    for run in args.runs:
        if not (run / "results.json").exists():
            sys.exit(f"{run}: not a finished run (no results.json)")
    parts = ["validation"] + (["test"] if args.test else [])
    results = []
    for run in args.runs:
        results.append(scan_run(run, args.prior_weights, args.orders, parts))
        print_run(results[-1], parts)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        write_text(args.json, json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
