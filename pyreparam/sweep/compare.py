"""Paired comparisons of training runs (``pyreparam compare``).

Runs are read from sweep folders (every finished run listed in sweep.json) and run
folders (results.json). A run's *options* are what ``pyreparam train`` was given:
backbone, size, HRF, dropout, the training recipe, cv, the manifest and the feature
settings (read from results.json, so runs from anywhere can be compared); runs with
equal options except the seed form a *variant*.

Two variants are compared when they differ in exactly one option (the model's widths
and depths count as part of backbone and size; a feature setting such as the front
end or the number of mels is an option too) and share the corpus (manifest) and the
cv scheme; only their common seeds are used, and for each such seed
the two runs must have the same folds (test, validation and training speakers). The
difference is B - A, where A is the variant whose value sorts first (no HRF first,
smaller numbers first). Statistics: :mod:`pyreparam.sweep.stats`.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np

from pyreparam.sweep.runner import SWEEP_FILE, evaluations
from pyreparam.sweep.stats import PairedSeed, class_recall, paired_bootstrap, \
    percentile_interval, t_interval
from pyreparam.train.fold import RESULT_FILE
from pyreparam.train.run import RESULTS_FILE

#: Options two compared variants must share (they define the test data and folds).
SHARED = ("manifest", "cv")
SHARED_PREFIXES: tuple[str, ...] = ()
#: Options implied by backbone and size (differences there do not count again).
DERIVED_PREFIX = "model."
METRICS = (("ua", "UA"), ("wa", "WA"), ("macro_f1", "macro-F1"))
#: Training options added after runs were first recorded, with the behaviour runs had
#: before the option existed: a results.json without the option is read with this value
#: (so an older run pairs with a newer one that differs in one option only). These are
#: the behaviours of the code before each option, not today's defaults (``select`` is
#: now ``smooth``; before the option a fold kept its best validation epoch).
LEGACY_TRAIN_OPTIONS = {"causal_draw": "uniform", "causal_prior": "pooled", "ema": 0.0, "mixup": 0.0,
                        "select": "best", "select_window": 5, "speeds": [],
                        "teachers": [], "distill": 0.0, "temperature": 2.0,
                        "stats_head": 0.0, "stats_head_select": False}
#: Options that only say how another option is applied: a difference in them does not
#: count again when that option differs too (the teachers of a distillation).
#: option -> the options that imply it (a pair differing in both is one lever): the
#: teachers come with distillation, the model's input width with the front end's mel
#: bands or its pitch channels.
IMPLIED_BY = {"teachers": ("distill",),
              DERIVED_PREFIX + "n_mels": ("features.n_mels", "features.pitch")}
LEGACY_MODEL_OPTIONS = {"pooling": "mean"}
#: Options that change how a fold's training speakers are split into train and
#: validation: a pair on one of them shares the folds' test speakers, not the split.
SPLIT_OPTIONS = ("n-validation",)
LEGACY_FEATURE_OPTIONS = {"frontend": "float", "pitch": False}


class CompareError(ValueError):
    """Nothing to compare (missing or unfinished runs, unknown evaluation)."""


@dataclasses.dataclass
class Run:
    """A finished run: where it is, its options (without the seed) and its results."""

    path: str
    options: dict[str, Any]
    seed: int
    results: dict
    predictions: list | None           # [path, true, predicted] of every fold, or None

    def folds(self, *, test_only: bool = False) -> list:
        """Each fold's speakers (test, validation, train), or only its test speakers."""
        folds = [r["fold"] for r in self.results["folds"]]
        return [f["test"] for f in folds] if test_only else folds

    def evaluation(self, name: str) -> dict | None:
        """An evaluation of results.json by dotted name (see runner.evaluations). A run
        without HRF has no "pooled_merged": its deployed model is the one trained, so
        "pooled" stands for it."""
        found = evaluations(self.results)
        if name == "pooled_merged" and name not in found and self.options["hrf"] == "none":
            name = "pooled"
        return found.get(name)


# --------------------------------------------------------------------------- loading

def load_runs(dirs: list[str | Path], notes: list[str] | None = None) -> list[Run]:
    """The finished runs of sweep folders and run folders (CompareError otherwise);
    a sweep's unfinished runs are left out with a line in ``notes``."""
    runs: dict[str, Run] = {}
    for d in map(Path, dirs):
        if (d / SWEEP_FILE).exists():
            sweep = json.loads((d / SWEEP_FILE).read_text())
            folders = [d / r["name"] for r in sweep["runs"] if r["status"] == "done"]
            if not folders:
                raise CompareError(f"{d}: no finished run in its {SWEEP_FILE}")
            unfinished = [r["name"] for r in sweep["runs"] if r["status"] != "done"]
            if unfinished and notes is not None:
                notes.append(f"{d}: {len(unfinished)} unfinished run(s) left out: "
                             f"{', '.join(unfinished)}")
        elif (d / RESULTS_FILE).exists():
            folders = [d]
        else:
            raise CompareError(f"{d}: neither a sweep ({SWEEP_FILE}) nor a finished run "
                               f"({RESULTS_FILE})")
        for folder in folders:
            key = str(folder.resolve())
            if key not in runs:
                runs[key] = load_run(folder)
    return list(runs.values())


def load_finished(dirs: list[str | Path], notes: list[str]) -> list[Run]:
    """The finished runs of each folder; a folder without any (an unfinished run, a
    sweep that has not finished one) is left out with a line in ``notes`` instead of
    failing, for reports over sweeps that are still running."""
    runs: list[Run] = []
    for d in dirs:
        try:
            runs += load_runs([d], notes)
        except CompareError as e:
            notes.append(f"left out: {e}")
    return runs


def load_run(folder: Path) -> Run:
    results = json.loads((folder / RESULTS_FILE).read_text())
    predictions = []
    for fold in results["folds"]:
        path = folder / f"fold_{fold['fold']['index']:02d}" / RESULT_FILE
        found = json.loads(path.read_text()).get("predictions") if path.exists() else None
        if found is None:
            predictions = None
            break
        predictions += found
    return Run(str(folder), run_options(results), int(results["seed"]), results, predictions)


def run_options(results: dict) -> dict[str, Any]:
    """A run's options, flattened: backbone, size, hrf, dropout, model.* (derived from
    backbone and size), the train_config's options by their long names, cv, manifest,
    features.*; not the seed."""
    model = {**LEGACY_MODEL_OPTIONS, **results["model_config"]}
    options = {"backbone": model.pop("backbone"), "size": model.pop("size"),
               "hrf": hrf_text(model.pop("hrf", None)), "dropout": model.pop("dropout")}
    options.update({DERIVED_PREFIX + k: v for k, v in model.items()})
    train_config = {**LEGACY_TRAIN_OPTIONS, **results["train_config"]}
    options.update({k.replace("_", "-"): v for k, v in train_config.items() if k != "seed"})
    options.update({"cv": results["cv"], "manifest": _same_file(results["manifest"])})
    features = {**LEGACY_FEATURE_OPTIONS, **results.get("feature_config", {})}
    options.update({f"features.{k}": v for k, v in features.items()})
    return options


def _same_file(path: str) -> str:
    """The manifest's real path when it exists (one file reached through a symlink
    is one corpus), else the path as recorded."""
    real = Path(path).resolve()
    return str(real) if real.exists() else path


def hrf_text(hrf: dict | None) -> str:
    """HRF settings in a few characters: "none", "r=4", "r=4,k=2,init=identity"."""
    if not hrf:
        return "none"
    text = f"r={hrf['r']}"
    if hrf.get("k", 1) != 1:
        text += f",k={hrf['k']}"
    if hrf.get("init", "xavier") != "xavier":
        text += f",init={hrf['init']}"
    if not hrf.get("bias", True):
        text += ",no-bias"
    if list(hrf.get("sites", ["ffn"])) != ["ffn"]:
        text += f",sites={'+'.join(hrf['sites'])}"
    return text


# --------------------------------------------------------------------------- pairing

def _key(options: dict) -> str:
    return json.dumps(options, sort_keys=True)


def group_variants(runs: list[Run]) -> list[list[Run]]:
    """Runs with equal options, each group sorted by seed."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(_key(run.options), []).append(run)
    return [sorted(g, key=lambda r: r.seed) for g in groups.values()]


def differing_options(a: dict, b: dict) -> list[str]:
    """Options whose values differ; model.* only when backbone and size agree; the FFT
    size, and the top band edge when each run has it at half its rate, only when the
    sample rates agree (they follow the rate)."""
    keys = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    keys = [k for k in keys if not set(IMPLIED_BY.get(k, ())) & set(keys)]
    if any(k in ("backbone", "size") for k in keys):
        keys = [k for k in keys if not k.startswith(DERIVED_PREFIX)]
    if "features.sample_rate" in keys:
        nyquist = all(o.get("features.fmax") == o.get("features.sample_rate", 0) / 2
                      for o in (a, b))
        keys = [k for k in keys if k != "features.n_fft"
                and not (k == "features.fmax" and nyquist)]
    return keys


def _shared(option: str) -> bool:
    return option in SHARED or option.startswith(SHARED_PREFIXES)


def _order(value: Any) -> tuple:
    if value is None or value == "none" or value == []:       # "off" comes first
        return (0, 0, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (1, value, "")
    return (2, 0, str(value))


def _a_first(option: str, x: Any, y: Any) -> bool:
    """Whether x is the A side (the reference) against y: the behaviour before the
    option existed (LEGACY_*), else off / the smaller value."""
    legacy = {**{k.replace("_", "-"): v for k, v in LEGACY_TRAIN_OPTIONS.items()},
              **{f"model.{k}": v for k, v in LEGACY_MODEL_OPTIONS.items()},
              **{f"features.{k}": v for k, v in LEGACY_FEATURE_OPTIONS.items()}}
    if option in legacy and legacy[option] in (x, y):
        return x == legacy[option]
    return _order(x) < _order(y)


def find_pairs(variants: list[list[Run]]) -> list[tuple[str, list[Run], list[Run]]]:
    """(option, A, B) for every two variants that differ in exactly one option that
    is not part of the corpus or the cv scheme."""
    pairs = []
    for va, vb in itertools.combinations(variants, 2):
        differ = differing_options(va[0].options, vb[0].options)
        if len(differ) != 1 or _shared(differ[0]):
            continue
        option = differ[0]
        if _a_first(option, vb[0].options.get(option), va[0].options.get(option)):
            va, vb = vb, va
        pairs.append((option, va, vb))
    return pairs


def varying_options(variants: list[list[Run]]) -> list[str]:
    """Options that take more than one value among the variants (shown as context)."""
    keys = sorted({k for v in variants for k in v[0].options})
    varying = [k for k in keys if len({json.dumps(v[0].options.get(k)) for v in variants}) > 1]
    if any(k in ("backbone", "size") for k in varying):
        varying = [k for k in varying if not k.startswith(DERIVED_PREFIX)]
    return varying


# --------------------------------------------------------------------------- statistics

def compare_runs(runs: list[Run], *, evaluation: str = "pooled", replicates: int = 2000,
                 seed: int = 0, level: float = 0.95, notes: list[str] | None = None) -> dict:
    """Every pair of variants, with paired differences of UA, WA, macro-F1 and each
    class's recall (percentage points) and their intervals over seeds and over test
    utterances. Returns a JSON-ready report (see :func:`format_report`); ``notes``
    (e.g. from :func:`load_runs`) are passed on in it."""
    for run in runs:
        if run.evaluation(evaluation) is None:
            raise CompareError(f"{run.path}: no evaluation {evaluation!r} in its "
                               f"{RESULTS_FILE} (it has: "
                               f"{', '.join(evaluations(run.results))})")
    variants = group_variants(runs)
    varying = varying_options(variants)
    report = {"evaluation": evaluation, "level": level, "replicates": replicates,
              "bootstrap_seed": seed, "runs": len(runs), "variants": len(variants),
              "pairs": [], "notes": list(notes or [])}
    for option, va, vb in find_pairs(variants):
        pair = _compare_pair(option, va, vb, evaluation, replicates, seed, level,
                             report["notes"])
        if pair is not None:
            pair["context"] = {k: va[0].options.get(k) for k in varying
                               if k != option and option not in IMPLIED_BY.get(k, ())}
            report["pairs"].append(pair)
    report["notes"] = list(dict.fromkeys(report["notes"]))      # once each
    return report


def _by_seed(variant: list[Run], notes: list[str]) -> dict[int, Run]:
    found: dict[int, Run] = {}
    for run in variant:
        if run.seed in found:
            notes.append(f"{run.path} repeats seed {run.seed} of {found[run.seed].path} "
                         "(same options); it is left out")
            continue
        found[run.seed] = run
    return found


def _compare_pair(option, va, vb, evaluation, replicates, seed, level, notes) -> dict | None:
    a_by_seed, b_by_seed = _by_seed(va, notes), _by_seed(vb, notes)
    title = f"{option}: {_text(va[0].options.get(option))} -> {_text(vb[0].options.get(option))}"
    seeds = []
    for s in sorted(set(a_by_seed) & set(b_by_seed)):
        test_only = option in SPLIT_OPTIONS
        if a_by_seed[s].folds(test_only=test_only) == b_by_seed[s].folds(test_only=test_only):
            seeds.append(s)
        else:
            notes.append(f"{title}: seed {s} left out, the two runs have different folds")
    if not seeds:
        notes.append(f"{title}: no common seed with the same folds")
        return None
    a_runs, b_runs = [a_by_seed[s] for s in seeds], [b_by_seed[s] for s in seeds]
    classes = a_runs[0].results["classes"]
    metrics = []
    for key, label in METRICS:
        values = [[100 * r.evaluation(evaluation)[key] for r in rs] for rs in (a_runs, b_runs)]
        metrics.append(_row(key, label, *values, level))
    recalls = [[_recall(r, evaluation) for r in rs] for rs in (a_runs, b_runs)]
    if all(x is not None for rs in recalls for x in rs):
        for c, name in enumerate(classes):
            metrics.append(_row(f"recall.{name}", f"recall {name}",
                                [100 * x[c] for x in recalls[0]],
                                [100 * x[c] for x in recalls[1]], level))
    pair = {"option": option, "a": va[0].options.get(option), "b": vb[0].options.get(option),
            "seeds": seeds, "runs_a": [r.path for r in a_runs],
            "runs_b": [r.path for r in b_runs], "classes": classes, "metrics": metrics}
    boot = _bootstrap(a_runs, b_runs, len(classes), evaluation, replicates, seed, level)
    if isinstance(boot, str):
        notes.append(f"{title}: no utterance bootstrap ({boot})")
    else:
        pair["n_utterances"], intervals = boot
        for row in metrics:
            row["bootstrap_ci"] = intervals.get(row["metric"])
    return pair


def _row(key, label, a: list[float], b: list[float], level) -> dict:
    per_seed = [y - x for x, y in zip(a, b)]
    mean, lo, hi = t_interval(per_seed, level)
    return {"metric": key, "label": label, "a": float(np.mean(a)), "b": float(np.mean(b)),
            "difference": mean, "per_seed": per_seed,
            "seeds_ci": None if np.isnan(lo) else [lo, hi], "bootstrap_ci": None}


def _recall(run: Run, evaluation: str) -> np.ndarray | None:
    confusion = run.evaluation(evaluation).get("confusion")
    if confusion is None:
        return None
    return np.nan_to_num(class_recall(np.array(confusion)))


def _bootstrap(a_runs, b_runs, n_classes, evaluation, replicates, seed, level):
    """(utterances, {metric: [lo, hi]}) or the reason there is none."""
    if evaluation != "pooled":
        return "per-utterance predictions exist for the 'pooled' evaluation only"
    if replicates <= 0:
        return "--bootstrap 0"
    if any(r.predictions is None for r in a_runs + b_runs):
        return "a fold result.json without predictions"
    paths = sorted({p for r in a_runs + b_runs for p, _, _ in r.predictions})
    where = {p: i for i, p in enumerate(paths)}
    seeds = []
    for ra, rb in zip(a_runs, b_runs):
        pa, pb = sorted(ra.predictions), sorted(rb.predictions)
        if [(p, t) for p, t, _ in pa] != [(p, t) for p, t, _ in pb]:
            return f"seed {ra.seed}: the runs' test utterances differ"
        seeds.append(PairedSeed(np.array([where[p] for p, _, _ in pa]),
                                np.array([t for _, t, _ in pa]),
                                np.array([y for _, _, y in pa]),
                                np.array([y for _, _, y in pb])))
    draws = paired_bootstrap(seeds, len(paths), n_classes, replicates=replicates,
                             rng=np.random.default_rng(seed))
    intervals = {k: (100 * percentile_interval(draws[k], level)).tolist()
                 for k, _ in METRICS}
    recall = 100 * percentile_interval(draws["recall"], level)           # (2, N)
    classes = a_runs[0].results["classes"]
    intervals.update({f"recall.{name}": recall[:, c].tolist() for c, name in enumerate(classes)})
    return len(paths), intervals


# --------------------------------------------------------------------------- report

def _text(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def _interval(ci) -> str:
    if ci is None or any(np.isnan(ci)):
        return "-"
    return f"[{ci[0]:+.1f}, {ci[1]:+.1f}]"


def format_report(report: dict) -> str:
    """The pairs as text tables (percentage points)."""
    pct = round(100 * report["level"])
    lines = [f"{report['runs']} runs, {report['variants']} variants, "
             f"{len(report['pairs'])} pair(s) differing in one option; evaluation "
             f"{report['evaluation']!r}; B - A in percentage points, {pct} % intervals"]
    for pair in report["pairs"]:
        context = ", ".join(f"{k}={_text(v)}" for k, v in pair["context"].items())
        n = f"; {pair['n_utterances']} test utterances" if "n_utterances" in pair else ""
        lines += ["", f"{pair['option']}: A = {_text(pair['a'])}, B = {_text(pair['b'])}"
                      + (f"  ({context})" if context else ""),
                  f"  seeds {', '.join(map(str, pair['seeds']))}{n}",
                  f"  {'':<20}{'A %':>7}{'B %':>7}{'B - A':>8}   "
                  f"{'over seeds (t)':<18}{'over utterances (bootstrap)'}"]
        for row in pair["metrics"]:
            lines.append(f"  {row['label'][:20]:<20}{row['a']:>7.1f}{row['b']:>7.1f}"
                         f"{row['difference']:>+8.1f}   {_interval(row['seeds_ci']):<18}"
                         f"{_interval(row['bootstrap_ci'])}")
    if not report["pairs"]:
        lines.append("no two variants differ in exactly one option (with the same corpus, "
                     "cv, folds and a common seed)")
    lines += [f"note: {n}" for n in report["notes"]]
    return "\n".join(lines)
