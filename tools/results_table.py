"""Results table over training runs: mean +- std over seeds, and paired differences.

    python tools/results_table.py RUN_DIR [RUN_DIR ...] [--markdown] [--json PATH]

Each RUN_DIR is a finished `pyreparam train` run (its results.json). Runs are grouped
into variants by everything that defines them except the seed (model, recipe, folds,
features, corpus), named by backbone, size and HRF settings plus the settings that tell
same-named variants apart; within a variant each run is one seed. With --protocols the
deployed model's UA under the speaker / causal / utterance protocols is added (causal
also for the first utterance of a speaker and after 8-15 utterances). For every variant the table gives the pooled UA, WA and macro-F1 (pooled over
the run's folds) as mean +- std over seeds (sample std, n-1), the parameter counts
(training form and deployed), the mean wall time per fold and per run. When two
variants share their seeds, folds and cross-validation scheme, their paired
difference (second minus first, per seed) is listed too: a difference inside the
seed-to-seed spread is not a finding.
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from pathlib import Path

from pyreparam.atomic import write_text
from pyreparam.models import config_from_dict
from pyreparam.train.fold import TrainConfig


def load_run(run_dir: Path) -> dict:
    path = run_dir / "results.json"
    if not path.exists():
        sys.exit(f"{run_dir}: no results.json (unfinished run? continue it with "
                 f"pyreparam train --resume {run_dir})")
    results = json.loads(path.read_text())
    results["late_val_ua"] = late_validation_ua(run_dir)
    # fields added since the run was made take their defaults, so that runs of one
    # recipe group together whatever version wrote them
    results["train_config"] = TrainConfig.from_dict(results["train_config"]).to_dict()
    results["model_config"] = config_from_dict(results["model_config"]).to_dict()
    return results


def late_validation_ua(run_dir: Path) -> float:
    """Validation UA averaged over the last quarter of the epochs and over the folds:
    a tuning criterion that never looks at test speakers and, unlike the best epoch's
    validation UA, is not inflated by picking a maximum."""
    values = []
    for log in sorted(run_dir.glob("fold_*/log.csv")):
        with log.open() as f:
            rows = list(csv.DictReader(f))
        tail = rows[-max(1, len(rows) // 4):]
        values.append(statistics.fmean(float(r["val_ua"]) for r in tail))
    return 100 * statistics.fmean(values)


def variant_name(results: dict) -> str:
    config = results["model_config"]
    hrf = config.get("hrf")
    name = f"{config['backbone']} {config['size']}"
    if hrf:
        name += f" + HRF r={hrf['r']}" + (f" k={hrf['k']}" if hrf["k"] != 1 else "")
        if hrf["sites"] != ["ffn"]:
            name += f" ({','.join(hrf['sites'])})"
    features = results.get("feature_config", {})
    if features.get("pitch"):
        head_only = config.get("n_mels") == features.get("n_mels")   # --pitch-head-only
        name += " + pitch (head only)" if head_only else " + pitch"
    train = results.get("train_config", {})
    if train.get("stats_head"):
        name += (" + stats head (weight chosen on validation)" if train.get("stats_head_select")
                 else f" + stats head {train['stats_head']:g}")
    return name


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def recipe_key(results: dict) -> str:
    """Everything that defines a variant except the seed (the corpus included)."""
    train = {k: v for k, v in results["train_config"].items() if k != "seed"}
    return json.dumps([results["model_config"], train, results["cv"],
                       results["feature_config"], results.get("manifest")], sort_keys=True)


def _settings(results: dict) -> dict:
    """The recipe settings that may tell two runs of one backbone apart."""
    model = {k: v for k, v in results["model_config"].items()
             if k not in ("backbone", "size", "hrf", "n_classes")}
    return {**{k: v for k, v in results["train_config"].items() if k != "seed"},
            **model, "cv": results["cv"],
            "corpus": Path(results.get("manifest") or "?").stem}


def group_runs(runs: list[dict]) -> dict[str, list[dict]]:
    """Runs grouped by recipe, named by backbone/size/HRF; recipes that share a name get
    the training settings that tell them apart."""
    groups: dict[str, list[dict]] = {}
    for r in runs:
        groups.setdefault(recipe_key(r), []).append(r)
    named: dict[str, list[dict]] = {}
    for rs in groups.values():
        name = variant_name(rs[0])
        twins = [g[0] for g in groups.values() if variant_name(g[0]) == name]
        if len(twins) > 1:
            mine = _settings(rs[0])
            differ = sorted(k for k in mine if any(_settings(t).get(k) != mine[k]
                                                   for t in twins))
            name += " (" + ", ".join(f"{k}={mine[k]}" for k in differ) + ")"
        while name in named:                     # same settings shown, other details
            name += "'"
        named[name] = rs
    return named


def summarize(runs: list[dict]) -> list[dict]:
    variants = group_runs(runs)
    rows = []
    for name, rs in variants.items():
        rs.sort(key=lambda r: r["seed"])
        row = {"variant": name, "seeds": [r["seed"] for r in rs], "cv": rs[0]["cv"],
               "folds": len(rs[0]["folds"]), "params": rs[0]["params"],
               "params_deployed": rs[0].get("params_merged", rs[0]["params"]),
               "wall_s_per_run": statistics.fmean(r["wall_seconds"] for r in rs)}
        row["wall_s_per_fold"] = row["wall_s_per_run"] / row["folds"]
        row["late_val_ua"] = mean_std([r["late_val_ua"] for r in rs])
        for metric in ("ua", "wa", "macro_f1"):
            row[metric] = mean_std([100 * r["pooled"][metric] for r in rs])
            row[metric + "_per_seed"] = [100 * r["pooled"][metric] for r in rs]
        for metric, get in PROTOCOL_METRICS.items():
            values = [get(r) for r in rs]
            if all(v is not None for v in values):
                row[metric] = mean_std([100 * v for v in values])
                row[metric + "_per_seed"] = [100 * v for v in values]
        rows.append(row)
    return rows


def _protocol(name: str, bucket: str | None = None):
    def get(results: dict) -> float | None:
        p = results.get("protocols", {}).get(name)
        if p is None:
            return None
        return p["ua"] if bucket is None else p.get("ua_by_prior", {}).get(bucket)
    return get


#: UA under the evaluation protocols of the deployed model (pyreparam.train.protocols).
PROTOCOL_METRICS = {"speaker_ua": _protocol("speaker"), "causal_ua": _protocol("causal"),
                    "utterance_ua": _protocol("utterance"),
                    "first_ua": _protocol("causal", "0"), "after8_ua": _protocol("causal", "8")}


def paired(rows: list[dict]) -> list[dict]:
    """Per-seed differences between every later variant and the first one."""
    out = []
    base = rows[0]
    for other in rows[1:]:
        seeds = sorted(set(base["seeds"]) & set(other["seeds"]))
        if not seeds or base["cv"] != other["cv"]:
            continue
        diff = {}
        for metric in ("ua", "wa", "macro_f1", "causal_ua"):
            if metric + "_per_seed" not in base or metric + "_per_seed" not in other:
                continue
            a = dict(zip(base["seeds"], base[metric + "_per_seed"]))
            b = dict(zip(other["seeds"], other[metric + "_per_seed"]))
            diff[metric] = mean_std([b[s] - a[s] for s in seeds])
        out.append({"first": base["variant"], "second": other["variant"], "seeds": seeds,
                    **diff})
    return out


def pm(v: tuple[float, float] | None, n: int = 2) -> str:
    """mean ± std, or the single value when there is one seed ('-' when missing)."""
    if v is None:
        return "-"
    return f"{v[0]:.1f}" if n < 2 else f"{v[0]:.1f} ± {v[1]:.1f}"


def format_markdown(rows: list[dict], diffs: list[dict], protocols: bool = False) -> str:
    head = ["variant", "seeds", "UA %", "WA %", "macro-F1 %",
            "validation UA % (last ¼ of epochs)"]
    if protocols:
        head += ["speaker UA %", "causal UA %", "causal UA %, 1st utterance",
                 "causal UA %, after 8-15", "utterance UA %"]
    head += ["params (train → deployed)", "wall time per fold"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        n = len(r["seeds"])
        cells = [r["variant"], str(n), pm(r["ua"], n), pm(r["wa"], n), pm(r["macro_f1"], n),
                 pm(r["late_val_ua"], n)]
        if protocols:
            cells += [pm(r.get(k), n) for k in ("speaker_ua", "causal_ua", "first_ua",
                                                 "after8_ua", "utterance_ua")]
        cells += [f"{r['params']:,} → {r['params_deployed']:,}",
                  f"{r['wall_s_per_fold']:.0f} s"]
        lines.append("| " + " | ".join(cells) + " |")
    for d in diffs:
        n = len(d["seeds"])
        lines.append("")
        lines.append(f"Paired difference ({d['second']}) − ({d['first']}), same folds and "
                     f"seeds {d['seeds']}: UA {pm(d['ua'], n)}, WA {pm(d['wa'], n)}, "
                     f"macro-F1 {pm(d['macro_f1'], n)}"
                     + (f", causal UA {pm(d['causal_ua'], n)}" if "causal_ua" in d else "")
                     + " points.")
    return "\n".join(lines)


def format_text(rows: list[dict], diffs: list[dict], protocols: bool = False) -> str:
    width = max(34, *(len(r["variant"]) + 2 for r in rows))
    extra = ["speaker", "causal", "1st", "utt."] if protocols else []
    lines = [f"{'variant':<{width}}{'seeds':>6}{'UA %':>14}{'WA %':>14}{'F1 %':>14}"
             f"{'val UA late':>14}" + "".join(f"{h:>14}" for h in extra) +
             f"{'params':>11}{'deployed':>10}{'s/fold':>8}"]
    for r in rows:
        n = len(r["seeds"])
        cells = "".join(f"{pm(r.get(k), n):>14}" for k in
                        ("speaker_ua", "causal_ua", "first_ua", "utterance_ua")) \
            if protocols else ""
        lines.append(f"{r['variant']:<{width}}{n:>6}{pm(r['ua'], n):>14}"
                     f"{pm(r['wa'], n):>14}{pm(r['macro_f1'], n):>14}"
                     f"{pm(r['late_val_ua'], n):>14}{cells}"
                     f"{r['params']:>11,}{r['params_deployed']:>10,}"
                     f"{r['wall_s_per_fold']:>8.0f}")
    for d in diffs:
        n = len(d["seeds"])
        lines.append(f"paired {d['second']} - {d['first']} (seeds {d['seeds']}): "
                     f"UA {pm(d['ua'], n)}, WA {pm(d['wa'], n)}, F1 {pm(d['macro_f1'], n)}"
                     + (f", causal UA {pm(d['causal_ua'], n)}" if "causal_ua" in d else ""))
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--protocols", action="store_true",
                        help="add the deployed model's UA under the evaluation protocols")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.json:   # its folder now, not after the whole run
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    rows = summarize([load_run(d) for d in args.runs])
    diffs = paired(rows)
    print(format_markdown(rows, diffs, args.protocols) if args.markdown
          else format_text(rows, diffs, args.protocols))
    if args.json:
        write_text(args.json, json.dumps({"variants": rows, "paired": diffs}, indent=1))


if __name__ == "__main__":
    main()
