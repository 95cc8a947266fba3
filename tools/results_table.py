"""Results table over training runs: mean +- std over seeds, and paired differences.

    python tools/results_table.py RUN_DIR [RUN_DIR ...] [--markdown] [--json PATH]

Each RUN_DIR is a finished `pyreparam train` run (its results.json). Runs are grouped
into variants by backbone, size and HRF settings; within a variant each run is one
seed. For every variant the table gives the pooled UA, WA and macro-F1 (pooled over
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


def load_run(run_dir: Path) -> dict:
    path = run_dir / "results.json"
    if not path.exists():
        sys.exit(f"{run_dir}: no results.json (unfinished run? continue it with "
                 f"pyreparam train --resume {run_dir})")
    results = json.loads(path.read_text())
    results["late_val_ua"] = late_validation_ua(run_dir)
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
    return name


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def recipe_key(results: dict) -> str:
    """Everything that defines a variant except the seed."""
    train = {k: v for k, v in results["train_config"].items() if k != "seed"}
    return json.dumps([results["model_config"], train, results["cv"],
                       results["feature_config"]], sort_keys=True)


def _settings(results: dict) -> dict:
    """The recipe settings that may tell two runs of one backbone apart."""
    return {**{k: v for k, v in results["train_config"].items() if k != "seed"},
            "dropout": results["model_config"]["dropout"], "cv": results["cv"]}


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
        rows.append(row)
    return rows


def paired(rows: list[dict]) -> list[dict]:
    """Per-seed differences between every later variant and the first one."""
    out = []
    base = rows[0]
    for other in rows[1:]:
        seeds = sorted(set(base["seeds"]) & set(other["seeds"]))
        if not seeds or base["cv"] != other["cv"]:
            continue
        diff = {}
        for metric in ("ua", "wa", "macro_f1"):
            a = dict(zip(base["seeds"], base[metric + "_per_seed"]))
            b = dict(zip(other["seeds"], other[metric + "_per_seed"]))
            diff[metric] = mean_std([b[s] - a[s] for s in seeds])
        out.append({"first": base["variant"], "second": other["variant"], "seeds": seeds,
                    **diff})
    return out


def pm(v: tuple[float, float]) -> str:
    return f"{v[0]:.1f} ± {v[1]:.1f}"


def format_markdown(rows: list[dict], diffs: list[dict]) -> str:
    lines = ["| variant | seeds | UA % | WA % | macro-F1 % | validation UA % (last ¼ of "
             "epochs) | params (train → deployed) | wall time per fold |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['variant']} | {len(r['seeds'])} | {pm(r['ua'])} | {pm(r['wa'])} | "
                     f"{pm(r['macro_f1'])} | {pm(r['late_val_ua'])} | "
                     f"{r['params']:,} → {r['params_deployed']:,} | "
                     f"{r['wall_s_per_fold']:.0f} s |")
    for d in diffs:
        lines.append("")
        lines.append(f"Paired difference ({d['second']}) − ({d['first']}), same folds and "
                     f"seeds {d['seeds']}: UA {pm(d['ua'])}, WA {pm(d['wa'])}, "
                     f"macro-F1 {pm(d['macro_f1'])} points.")
    return "\n".join(lines)


def format_text(rows: list[dict], diffs: list[dict]) -> str:
    width = max(34, *(len(r["variant"]) + 2 for r in rows))
    lines = [f"{'variant':<{width}}{'seeds':>6}{'UA %':>14}{'WA %':>14}{'F1 %':>14}"
             f"{'val UA late':>14}{'params':>11}{'deployed':>10}{'s/fold':>8}"]
    for r in rows:
        lines.append(f"{r['variant']:<{width}}{len(r['seeds']):>6}{pm(r['ua']):>14}"
                     f"{pm(r['wa']):>14}{pm(r['macro_f1']):>14}{pm(r['late_val_ua']):>14}"
                     f"{r['params']:>11,}{r['params_deployed']:>10,}"
                     f"{r['wall_s_per_fold']:>8.0f}")
    for d in diffs:
        lines.append(f"paired {d['second']} - {d['first']} (seeds {d['seeds']}): "
                     f"UA {pm(d['ua'])}, WA {pm(d['wa'])}, F1 {pm(d['macro_f1'])}")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.json:   # its folder now, not after the whole run
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    rows = summarize([load_run(d) for d in args.runs])
    diffs = paired(rows)
    print(format_markdown(rows, diffs) if args.markdown else format_text(rows, diffs))
    if args.json:
        args.json.write_text(json.dumps({"variants": rows, "paired": diffs}, indent=1))


if __name__ == "__main__":
    main()
