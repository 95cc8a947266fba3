"""Float vs int8 accuracy of every fold of a training run (post-training quantization).

    python tools/quantize_run.py RUN_DIR [RUN_DIR ...] [--n-calib 200] [--max-seconds 3]
                                 [--method mse|percentile] [--protocols speaker,causal]
                                 [--json PATH]

For each fold of a finished `pyreparam train` run: take the deployed model
(fold_XX/model_merged.npz when the run used HRF, else fold_XX/model.npz), calibrate
on utterances of the fold's *training* speakers only, quantize exactly as
`pyreparam quantize` does, and evaluate the float model and the int8 program (the C
runtime) on the fold's *test* speakers, all cut to --max-seconds. Prints per-fold and
pooled WA / UA / macro-F1 (pooled = one confusion matrix over all folds) for float
and int8, and how often their predictions agree.

With --protocols, the same float and int8 models are also scored under the evaluation
protocols (pyreparam.train.protocols): int8 ``causal`` is the device's path, the
integer causal normalization (C) feeding the C runtime, utterance by utterance.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from pyreparam.atomic import write_text
from pyreparam.data.cache import load_features
from pyreparam.data.manifest import read_manifest
from pyreparam.models.cost import FRAMES_PER_SECOND
from pyreparam.quant import workflow as wf
from pyreparam.quant.deploy import Int8Scorer
from pyreparam.quant.prq import read_prq, write_prq
from pyreparam.train.metrics import metrics_from_confusion
from pyreparam.train.protocols import (FloatScorer, HeadScorer, evaluate_protocols,
                                      pool_protocols)


def subset(utts: wf.Utterances, keep: np.ndarray) -> wf.Utterances:
    idx = np.flatnonzero(keep)
    return wf.Utterances([utts.features[i] for i in idx], utts.labels[idx],
                         [utts.paths[i] for i in idx], 0,
                         [utts.whole[i] for i in idx] if utts.whole else None,
                         [utts.frames[i] for i in idx] if utts.frames else None)


def quantize_fold(fold_dir: Path, fold: dict, manifest: str, cache, args) -> dict:
    path = fold_dir / ("model_merged.npz" if (fold_dir / "model_merged.npz").exists()
                       else "model.npz")
    loaded = wf.load_merged(path)
    t_max = int(round(args.max_seconds * FRAMES_PER_SECOND))
    utts = wf.load_utterances(manifest, loaded.frontend, t_max, cache)
    speaker_of = {u.path: u.speaker for u in read_manifest(manifest)}
    speakers = np.array([speaker_of[p] for p in utts.paths])
    calib = subset(utts, np.isin(speakers, fold["train"]))
    test = subset(utts, np.isin(speakers, fold["test"]))
    picked = wf.pick(calib, args.n_calib, args.seed)
    _, qparams, program = wf.quantize_model(loaded.model, picked, t_max, args.method)
    head = None
    if loaded.frontend.head is not None:            # the statistics head, int8 too
        utts_train = [u for u in read_manifest(manifest) if u.speaker in fold["train"]]
        raw, _, _ = load_features(utts_train, loaded.frontend.feature_config, cache)
        head = wf.quantize_head(loaded, raw, t_max, float(qparams["logits"][0]))
    meta = wf.host_meta(loaded, qparams, t_max, {"method": args.method, "n": len(picked)},
                        head)
    blob = write_prq(program, meta)
    report = wf.evaluate(loaded.model, program, blob, qparams, test)
    report.update(model=str(path), arena_bytes=program.arena_bytes)
    if args.protocols:
        report["protocols"] = fold_protocols(loaded, blob, manifest, fold, cache, args)
    return report


def fold_protocols(loaded, blob: bytes, manifest: str, fold: dict, cache, args) -> dict:
    """{"float": {protocol: report}, "int8": {...}} on the fold's test speakers."""
    frontend = loaded.frontend
    utts = [u for u in read_manifest(manifest) if u.speaker in fold["test"]]
    raw, kept, _ = load_features(utts, frontend.feature_config, cache)
    labels = np.array([frontend.classes.index(u.label) for u in kept])
    speakers = [u.speaker for u in kept]
    program, meta = read_prq(blob)
    scorers = {"float": FloatScorer(loaded.model, frontend.normalizer),
               "int8": Int8Scorer(program, meta, blob)}
    if frontend.head is not None:                   # both decide with their head
        scorers["float"] = HeadScorer(scorers["float"], frontend.head)
    return {kind: evaluate_protocols(scorer, raw, labels, speakers, len(frontend.classes),
                                     args.protocols)
            for kind, scorer in scorers.items()}


def pooled(reports: list[dict], key: str) -> dict:
    cm = np.sum([np.array(r[key]["confusion"]) for r in reports], axis=0)
    return {**metrics_from_confusion(cm), "confusion": cm.tolist()}


def quantize_run(run_dir: Path, args) -> dict:
    spec = json.loads((run_dir / "run.json").read_text())
    folds = json.loads((run_dir / "folds.json").read_text())["folds"]
    reports = []
    for fold in folds:
        fold_dir = run_dir / f"fold_{fold['index']:02d}"
        r = quantize_fold(fold_dir, fold, spec["manifest"], spec.get("cache_dir"), args)
        reports.append(r)
        print(f"{run_dir.name} fold {fold['index'] + 1:>2} ({','.join(fold['test'])}): "
              f"float UA {100 * r['float']['ua']:5.1f}  int8 UA {100 * r['int8']['ua']:5.1f}  "
              f"agreement {100 * r['agreement']:5.1f} %", flush=True)
    result = {"run": str(run_dir), "folds": reports, "float": pooled(reports, "float"),
              "int8": pooled(reports, "int8"),
              "agreement": float(np.average([r["agreement"] for r in reports],
                                            weights=[r["n"] for r in reports]))}
    if args.protocols:
        result["protocols"] = {kind: pool_protocols([r["protocols"][kind] for r in reports])
                               for kind in ("float", "int8")}
        for name in args.protocols:
            f, q = (result["protocols"][k][name] for k in ("float", "int8"))
            print(f"{run_dir.name} {name:<9} float UA {100 * f['ua']:.1f} | int8 UA "
                  f"{100 * q['ua']:.1f} (WA {100 * f['wa']:.1f} | {100 * q['wa']:.1f})")
    f, q = result["float"], result["int8"]
    print(f"{run_dir.name} pooled: float WA {100 * f['wa']:.1f} UA {100 * f['ua']:.1f} "
          f"F1 {100 * f['macro_f1']:.1f} | int8 WA {100 * q['wa']:.1f} UA {100 * q['ua']:.1f} "
          f"F1 {100 * q['macro_f1']:.1f} | predictions agree on "
          f"{100 * result['agreement']:.1f} %")
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--n-calib", type=int, default=200)
    parser.add_argument("--max-seconds", type=float, default=3.0)
    parser.add_argument("--method", default=wf.DEFAULT_METHOD)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--protocols", default="",
                        type=lambda v: [p for p in v.split(",") if p],
                        help="also score these evaluation protocols, e.g. speaker,causal")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.json:   # its folder now, not after the whole run
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    results = [quantize_run(run, args) for run in args.runs]
    if args.json:
        write_text(args.json, json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
