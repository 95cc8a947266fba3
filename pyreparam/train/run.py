"""Speaker-independent cross-validation runs: folds, parallel fold training, results.

A run directory holds

    run.json          everything needed to reproduce or resume the run
    folds.json        the speaker lists of every fold (test / validation / train)
    fold_XX/          per fold: log.csv (per epoch), model.npz (selected epoch,
                      training form), model_merged.npz (with HRF), result.json,
                      state.npz while the fold is unfinished
    results.json      per-fold and pooled WA / UA / macro-F1 and confusion matrices,
                      parameter counts, seed, library versions, wall time
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from pyreparam import __version__
from pyreparam.audio.features import FeatureConfig
from pyreparam.data.cache import load_features
from pyreparam.data.manifest import read_manifest
from pyreparam.models import config_from_dict
from pyreparam.models.checkpoint import atomic_write
from pyreparam.train.distill import soft_targets
from pyreparam.train.fold import RESULT_FILE, TrainConfig, prepare_splits, train_fold
from pyreparam.train.metrics import metrics_from_confusion
from pyreparam.train.progress import FoldProgress
from pyreparam.train.protocols import PRIOR_BUCKETS, pool_protocols
from pyreparam.train.splits import Fold, make_folds
from pyreparam.train.workers import process_pool

RUN_FILE, FOLDS_FILE, RESULTS_FILE = "run.json", "folds.json", "results.json"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "BLIS_NUM_THREADS")


class RunError(RuntimeError):
    """A run cannot start or continue (bad options, missing run directory, ...)."""


@dataclasses.dataclass
class RunSpec:
    """The options of a training run, as stored in run.json."""

    manifest: str
    model_config: dict[str, Any]
    train_config: dict[str, Any]
    cv: str = "loso"
    feature_config: dict[str, Any] = dataclasses.field(default_factory=dict)
    cache_dir: str | None = None
    on_error: str = "fail"
    max_seconds: float = 30.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Corpus:
    """Features and labels of a manifest's usable utterances."""

    features: list[np.ndarray]
    labels: np.ndarray
    speakers: list[str]
    sessions: list[str]
    genders: list[str]
    paths: list[str]
    classes: list[str]
    skipped: list[tuple[str, str]]
    variants: dict[float, list[np.ndarray]] = dataclasses.field(default_factory=dict)


def load_corpus(spec: RunSpec, log=print) -> Corpus:
    """Decode (through the feature cache) every file of the manifest, and the speed
    perturbed versions the training recipe asks for."""
    utterances = read_manifest(spec.manifest)
    fc = FeatureConfig.from_dict(spec.feature_config)
    features, kept, skipped = load_features(utterances, fc, spec.cache_dir, spec.on_error,
                                            max_seconds=spec.max_seconds)
    variants = {speed: load_features(kept, fc, spec.cache_dir, "fail",
                                     max_seconds=spec.max_seconds, speed=speed)[0]
                for speed in TrainConfig.from_dict(spec.train_config).speeds}
    if skipped:
        log(f"skipped {len(skipped)} unusable file(s):")
        for utt, reason in skipped:
            log(f"  {utt.path}: {reason}")
    classes = sorted({u.label for u in kept})
    return Corpus(features, np.array([classes.index(u.label) for u in kept], dtype=np.int64),
                  [u.speaker for u in kept], [u.session for u in kept],
                  [u.gender for u in kept], [u.path for u in kept], classes, [(u.path, r) for u, r in skipped],
                  variants)


def library_versions() -> dict[str, str]:
    """The versions a run was made with; with the git commit of pyreparam's source when
    it runs from a checkout (an editable install), "+dirty" when that has changes."""
    import scipy
    found = {"pyreparam": __version__, "numpy": np.__version__, "scipy": scipy.__version__,
             "python": platform.python_version(), "platform": platform.platform()}
    commit = _source_commit()
    if commit:
        found["pyreparam_commit"] = commit
    return found


def _source_commit(source: Path | None = None) -> str | None:
    """HEAD of the git checkout whose top folder holds the package folder ``source``
    (default: this package's), or None (an installed wheel, no git, anything
    unexpected)."""
    import subprocess
    source = Path(source or Path(__file__).resolve().parents[1]).resolve()
    try:
        def git(*args):
            return subprocess.run(["git", "-C", str(source), *args], capture_output=True,
                                  text=True, timeout=10, check=True).stdout.strip()
        if Path(git("rev-parse", "--show-toplevel")).resolve() != source.parent:
            return None                       # another repository around an install
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".")
        return git("rev-parse", "HEAD") + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


# --------------------------------------------------------------------------- folds

def _fold_task(fold: dict, corpus: Corpus, spec: dict, fold_dir: str, label: str,
               quiet: bool) -> dict:
    """Train one fold (runs in a worker process when --jobs > 1)."""
    fold = Fold.from_dict(fold)
    tc = TrainConfig.from_dict(spec["train_config"])
    model_config = config_from_dict(spec["model_config"])
    splits, normalizer = prepare_splits(fold, corpus.features, corpus.labels, corpus.speakers,
                                        corpus.paths, tc, corpus.variants,
                                        n_in=model_config.n_mels)
    if tc.distill > 0:
        train = splits["train"]
        train.soft = soft_targets(tc.teachers, fold, train.raw, train.speakers, corpus.classes,
                                  spec["feature_config"], tc.temperature)
    meta = {"classes": corpus.classes, "feature_config": spec["feature_config"],
            "normalization": tc.normalization, "train_config": spec["train_config"]}
    extra = {f"normalizer.{k}": v for k, v in normalizer.to_dict().items()}
    progress = FoldProgress(label, tc.epochs, quiet=quiet)
    try:
        return train_fold(fold, splits, model_config, tc, Path(fold_dir), meta=meta,
                          extra=extra, normalizer=normalizer, progress=progress)
    finally:
        progress.close()


@contextlib.contextmanager
def _threads_per_worker(n: int):
    """Limit BLAS threads in worker processes spawned inside the block."""
    saved = {k: os.environ.get(k) for k in THREAD_VARIABLES}
    os.environ.update({k: str(n) for k in THREAD_VARIABLES})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_folds(tasks: list[tuple], jobs: int) -> list[dict]:
    """Run fold tasks, in ``jobs`` spawned processes when jobs > 1."""
    if jobs <= 1 or len(tasks) <= 1:
        return [_fold_task(*task) for task in tasks]
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with _threads_per_worker(threads), process_pool(jobs) as pool:   # workers die with us
        futures = [pool.submit(_fold_task, *task) for task in tasks]
        return [f.result() for f in futures]


# --------------------------------------------------------------------------- runs

def start_run(spec: RunSpec, out_dir: str | os.PathLike, *, jobs: int = 1,
              quiet: bool = False, log=print, label: str = "", fold_runner=None) -> dict:
    """Start a new run in ``out_dir`` (which must not hold another run).

    ``fold_runner(tasks, jobs) -> results`` trains the unfinished folds (each task is
    the arguments of ``_fold_task``); None means :func:`run_folds`; a sweep passes
    its own executor's.
    """
    out = Path(out_dir)
    if (out / RUN_FILE).exists():
        raise RunError(f"{out} already holds a run; continue it with --resume {out} or "
                       "choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / RUN_FILE, lambda f: f.write(json.dumps(spec.to_dict(), indent=1).encode()))
    return _execute(spec, out, jobs=jobs, quiet=quiet, log=log, label=label,
                    fold_runner=fold_runner)


def resume_run(out_dir: str | os.PathLike, *, jobs: int = 1, quiet: bool = False,
               log=print, label: str = "", fold_runner=None) -> dict:
    """Continue an interrupted run: finished folds are kept, unfinished ones resume."""
    out = Path(out_dir)
    if not (out / RUN_FILE).exists():
        raise RunError(f"{out}: no run to resume (no {RUN_FILE})")
    spec = RunSpec(**json.loads((out / RUN_FILE).read_text()))
    return _execute(spec, out, jobs=jobs, quiet=quiet, log=log, label=label,
                    fold_runner=fold_runner)


def _execute(spec: RunSpec, out: Path, *, jobs: int, quiet: bool, log, label: str,
             fold_runner=None) -> dict:
    started = time.time()
    corpus = load_corpus(spec, log)
    config = dict(spec.model_config)
    if config.get("n_classes") != len(corpus.classes):
        raise RunError(f"the model has {config.get('n_classes')} classes but the manifest "
                       f"has {len(corpus.classes)}: {corpus.classes}")
    tc = TrainConfig.from_dict(spec.train_config)
    folds_path = out / FOLDS_FILE
    if folds_path.exists():
        folds = [Fold.from_dict(f) for f in json.loads(folds_path.read_text())["folds"]]
    else:
        folds = make_folds(corpus.speakers, spec.cv, seed=tc.seed, sessions=corpus.sessions,
                           n_validation=tc.n_validation, genders=corpus.genders)
        atomic_write(folds_path, lambda f: f.write(json.dumps(
            {"cv": spec.cv, "seed": tc.seed, "folds": [x.to_dict() for x in folds]},
            indent=1).encode()))
    results: dict[int, dict] = {}
    tasks = []
    for fold in folds:
        fold_dir = out / f"fold_{fold.index:02d}"
        if (fold_dir / RESULT_FILE).exists():
            results[fold.index] = json.loads((fold_dir / RESULT_FILE).read_text())
        else:
            name = f"{label + ' ' if label else ''}fold {fold.index + 1:>2}/{len(folds)} " \
                   f"(test: {','.join(fold.test)})"
            tasks.append((fold.to_dict(), corpus, spec.to_dict(), str(fold_dir), name, quiet))
    for result in (fold_runner or run_folds)(tasks, jobs):
        results[result["fold"]["index"]] = result
    summary = summarize(spec, corpus, [results[f.index] for f in folds],
                        wall_seconds=time.time() - started, out=out)
    atomic_write(out / RESULTS_FILE, lambda f: f.write(json.dumps(summary, indent=1).encode()))
    return summary


def summarize(spec: RunSpec, corpus: Corpus, fold_results: list[dict], *,
              wall_seconds: float, out: Path) -> dict:
    """Per-fold and pooled metrics (pooled = one confusion matrix over all folds)."""
    summary: dict[str, Any] = {
        "classes": corpus.classes, "cv": spec.cv, "seed": spec.train_config["seed"],
        "model_config": spec.model_config, "train_config": spec.train_config,
        "feature_config": spec.feature_config, "manifest": spec.manifest,
        "n_utterances": len(corpus.labels), "skipped": corpus.skipped,
        "versions": library_versions(), "wall_seconds": wall_seconds,
        "folds": [{k: v for k, v in r.items() if k != "predictions"} for r in fold_results],
    }
    previous = out / RESULTS_FILE
    if previous.exists():        # a resumed run: wall time accumulates over sessions
        summary["wall_seconds"] += json.loads(previous.read_text()).get("wall_seconds", 0.0)
    for key in ("test", "test_merged"):
        if all(key in r for r in fold_results):
            cm = np.sum([np.array(r[key]["confusion"]) for r in fold_results], axis=0)
            per_fold = {m: [r[key][m] for r in fold_results] for m in ("wa", "ua", "macro_f1")}
            summary["pooled" if key == "test" else "pooled_merged"] = {
                **metrics_from_confusion(cm), "confusion": cm.tolist(),
                "fold_mean": {m: float(np.mean(v)) for m, v in per_fold.items()},
                "fold_std": {m: float(np.std(v)) for m, v in per_fold.items()}}
    if all("protocols" in r for r in fold_results):
        summary["protocols"] = pool_protocols([r["protocols"] for r in fold_results])
    if all("protocols_parts" in r for r in fold_results):
        summary["protocols_parts"] = {
            part: pool_protocols([r["protocols_parts"][part] for r in fold_results])
            for part in fold_results[0]["protocols_parts"]}
    summary["params"] = fold_results[0]["params"]
    if "params_merged" in fold_results[0]:
        summary["params_merged"] = fold_results[0]["params_merged"]
    return summary


# --------------------------------------------------------------------------- report

def format_summary(summary: dict) -> str:
    """The end-of-run table (per fold and pooled) and the pooled confusion matrix.

    Pooled = one confusion matrix over all folds' test utterances (every class counts
    once in UA); the fold mean averages per-fold figures, each over its classes."""
    lines = [f"{'fold':<6}{'test speakers':<24}{'n':>5}{'epoch':>7}{'WA %':>8}{'UA %':>8}"
             f"{'F1 %':>8}"]
    absent = 0
    for r in summary["folds"]:
        t = r["test"]
        missing = t.get("classes_absent", 0)
        absent += missing > 0
        lines.append(f"{r['fold']['index'] + 1:<6}{','.join(r['fold']['test'])[:22]:<24}"
                     f"{t['n']:>5}{r['best_epoch']:>7}{100 * t['wa']:>8.1f}{100 * t['ua']:>8.1f}"
                     f"{100 * t['macro_f1']:>8.1f}"
                     + (f"  ({missing} class(es) absent from this fold)" if missing else ""))
    p = summary["pooled"]
    lines.append(f"{'pooled':<30}{p['n']:>5}{'':>7}{100 * p['wa']:>8.1f}{100 * p['ua']:>8.1f}"
                 f"{100 * p['macro_f1']:>8.1f}")
    m, s = p["fold_mean"], p["fold_std"]
    lines.append("fold mean +- std: " + ", ".join(
        f"{name} {100 * m[k]:.1f} +- {100 * s[k]:.1f}"
        for name, k in (("WA", "wa"), ("UA", "ua"), ("F1", "macro_f1")))
        + ("" if not absent else f"  (each fold's UA averages the classes present in it; "
           f"{absent} fold(s) lack a class: the pooled UA is the figure to quote)"))
    if "pooled_merged" in summary:
        pm = summary["pooled_merged"]
        lines.append(f"{'pooled, merged model (deHRF)':<35}{'':>7}{100 * pm['wa']:>8.1f}"
                     f"{100 * pm['ua']:>8.1f}{100 * pm['macro_f1']:>8.1f}")
    lines += format_protocols(summary.get("protocols", {}))
    for part, protocols in summary.get("protocols_parts", {}).items():
        lines += format_protocols(protocols, f"the {part} alone")
    params = f"parameters: {summary['params']:,}"
    if "params_merged" in summary:
        params += f" (training form) -> {summary['params_merged']:,} (merged)"
    lines += [params, f"wall time: {summary['wall_seconds']:.1f} s", "",
              "pooled confusion matrix (rows: true, columns: predicted)"]
    lines += format_confusion(np.array(p["confusion"]), summary["classes"])
    return "\n".join(lines)


def format_protocols(protocols: dict, title: str | None = None) -> list[str]:
    """Pooled UA / WA / F1 of each evaluation protocol and the causal UA-by-prior curve."""
    if not protocols:
        return []
    lines = ["", f"{title}:" if title else
             "deployed model under the evaluation protocols (pooled; speaker: all of a "
             "test speaker's utterances at once; utterance: each file alone; causal: "
             "only the utterances heard before)"]
    for name, p in protocols.items():
        lines.append(f"  {name:<10}WA {100 * p['wa']:5.1f}  UA {100 * p['ua']:5.1f}  "
                     f"F1 {100 * p['macro_f1']:5.1f}")
    curve = protocols.get("causal", {}).get("ua_by_prior")
    if curve:
        lines.append("  causal UA by utterances heard before: " + ", ".join(
            f"{k}{'+' if k == str(PRIOR_BUCKETS[-1]) else ''}: {100 * v:.1f}"
            for k, v in curve.items()))
    return lines


def format_confusion(cm: np.ndarray, classes: list[str]) -> list[str]:
    short = [c[:7] for c in classes]
    lines = [" " * 10 + "".join(f"{c:>8}" for c in short)]
    for c, row in zip(short, cm):
        lines.append(f"{c:<10}" + "".join(f"{v:>8d}" for v in row))
    return lines
