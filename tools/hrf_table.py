"""The paper's table: does HRF pay, and is its gain more than extra capacity?

    python tools/hrf_table.py runs/hrf_table runs/hrf_wide_* [--evaluation pooled_merged]
                              [--markdown PATH] [--json PATH] [--plot PNG]

Reads sweep or run folders (tools/sweeps/hrf_table_emodb.toml, hrf_wide_<backbone>.toml,
a large-model sweep) and sorts every finished run into a cell: its backbone, and one
column of

    light        the light preset
    light+HRF    the light preset trained with HRF (any r, k, sites), evaluated merged
    widened      the light preset with wider FFNs (train --ffn): the capacity control,
                 as many parameters while training as light + HRF r = 4
    large        the large preset

Each cell is the UA of its runs (mean +- sample sd over seeds, in percent, the
evaluation given, by default the deployed merged model under the run's own test
protocol). Each backbone's paired differences, over the seeds both cells share with
the same folds, are HRF - light, HRF - widened and large - light, with the 95 %
t-interval of the per-seed differences: an interval that includes 0 is no finding.
(`pyreparam compare` adds a bootstrap over test utterances for pairs that differ in
one option.) Runs whose other options differ from their cell's first run are left
out with a note, so that a cell never mixes recipes.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from pyreparam.atomic import write_text
from pyreparam.models import make_config
from pyreparam.sweep.compare import CompareError, Run, load_finished
from pyreparam.sweep.stats import t_interval

COLUMNS = ("light", "light+HRF", "widened", "large")
DIFFERENCES = (("light+HRF", "light"), ("light+HRF", "widened"), ("large", "light"))
#: Options that define the column (the rest must agree within a cell).
COLUMN_OPTIONS = ("size", "hrf", "model.ffn")


def column(run: Run) -> str:
    """The column of a run (see the module doc)."""
    o = run.options
    if o["size"] == "large":
        return "large"
    if o["hrf"] != "none":
        return "light+HRF"
    if o.get("model.ffn") != make_config(o["backbone"], "light").ffn:
        return "widened"
    return "light"


def _recipe(run: Run) -> dict:
    return {k: v for k, v in run.options.items()
            if k not in COLUMN_OPTIONS and not k.startswith("model.")}


def cells(runs: list[Run], notes: list[str]) -> dict[tuple[str, str], dict[int, Run]]:
    """{(backbone, column): {seed: run}}; a run with another recipe than its cell's
    first, or a repeated seed, is left out with a note."""
    found: dict[tuple[str, str], dict[int, Run]] = {}
    for run in sorted(runs, key=lambda r: (r.path, r.seed)):
        key = (run.options["backbone"], column(run))
        cell = found.setdefault(key, {})
        first = next(iter(cell.values()), None)
        if first is not None and _recipe(run) != _recipe(first):
            differ = sorted(k for k in set(_recipe(run)) | set(_recipe(first))
                            if _recipe(run).get(k) != _recipe(first).get(k))
            notes.append(f"{run.path}: left out of {key[0]} / {key[1]}: other "
                         f"{', '.join(differ)} than {first.path}")
        elif run.seed in cell:
            notes.append(f"{run.path}: seed {run.seed} of {key[0]} / {key[1]} already "
                         f"given by {cell[run.seed].path}; left out")
        else:
            cell[run.seed] = run
    return found


def ua(run: Run, evaluation: str) -> float:
    found = run.evaluation(evaluation)
    if found is None:
        raise CompareError(f"{run.path}: no evaluation {evaluation!r}")
    return 100.0 * found["ua"]


def summarize(found: dict, evaluation: str) -> dict:
    """JSON-ready: per backbone, each column's UA statistics and the differences."""
    table: dict = {}
    for backbone in sorted({b for b, _ in found}):
        row: dict = {"cells": {}, "differences": {}}
        for col in COLUMNS:
            cell = found.get((backbone, col), {})
            values = [ua(cell[s], evaluation) for s in sorted(cell)]
            if values:
                row["cells"][col] = {
                    "seeds": sorted(cell), "ua": values, "mean": float(np.mean(values)),
                    "sd": float(np.std(values, ddof=1)) if len(values) > 1 else None,
                    "hrf": cell[min(cell)].options["hrf"],
                    "ffn": cell[min(cell)].options.get("model.ffn")}
        for b_col, a_col in DIFFERENCES:
            a, b = found.get((backbone, a_col), {}), found.get((backbone, b_col), {})
            seeds = [s for s in sorted(set(a) & set(b)) if a[s].folds() == b[s].folds()]
            if not seeds:
                continue
            per_seed = [ua(b[s], evaluation) - ua(a[s], evaluation) for s in seeds]
            mean, lo, hi = t_interval(per_seed)
            row["differences"][f"{b_col} - {a_col}"] = {
                "seeds": seeds, "per_seed": per_seed, "mean": mean,
                "ci95": None if math.isnan(lo) else [lo, hi]}
        table[backbone] = row
    return table


def _cell_text(cell: dict | None) -> str:
    if cell is None:
        return "-"
    sd = f" ± {cell['sd']:.1f}" if cell["sd"] is not None else ""
    return f"{cell['mean']:.1f}{sd} ({len(cell['seeds'])})"


def _difference_text(d: dict | None) -> str:
    if d is None:
        return "-"
    ci = f" [{d['ci95'][0]:+.1f}, {d['ci95'][1]:+.1f}]" if d["ci95"] else " (1 seed)"
    return f"{d['mean']:+.1f}{ci}"


def markdown(table: dict, evaluation: str) -> str:
    head = (["backbone"] + [f"{c} UA %" for c in COLUMNS]
            + [f"{b} − {a} (95 % CI)" for b, a in DIFFERENCES])
    lines = [f"UA % ({evaluation}): mean ± sd (seeds); differences paired by seed",
             "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for backbone, row in table.items():
        cells_ = [_cell_text(row["cells"].get(c)) for c in COLUMNS]
        diffs = [_difference_text(row["differences"].get(f"{b} - {a}"))
                 for b, a in DIFFERENCES]
        lines.append("| " + " | ".join([backbone] + cells_ + diffs) + " |")
    return "\n".join(lines)


def plot(table: dict, path: Path, evaluation: str) -> None:
    """Each backbone's columns as points with their seeds, mean and sd (needs the
    `plot` extra: matplotlib)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(table), figsize=(3.2 * len(table), 3.2), sharey=True,
                             squeeze=False)
    for ax, (backbone, row) in zip(axes[0], table.items()):
        for x, col in enumerate(COLUMNS):
            cell = row["cells"].get(col)
            if cell is None:
                continue
            ax.scatter([x] * len(cell["ua"]), cell["ua"], s=12, alpha=0.5)
            ax.errorbar([x], [cell["mean"]], yerr=[cell["sd"] or 0], fmt="o", color="k",
                        capsize=3)
        ax.set_xticks(range(len(COLUMNS)), COLUMNS, rotation=30)
        ax.set_title(backbone)
    axes[0][0].set_ylabel(f"UA % ({evaluation})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="sweep or run folders")
    parser.add_argument("--evaluation", default="pooled_merged",
                        help="results.json evaluation [pooled_merged: the deployed merged "
                             "model under the run's own protocol]")
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    parser.add_argument("--json", type=Path, help="also write the numbers as JSON")
    parser.add_argument("--plot", type=Path, help="draw the cells (matplotlib)")
    args = parser.parse_args(argv)
    notes: list[str] = []
    runs = load_finished(args.dirs, notes)    # unfinished ones are left out, said so
    if not runs:
        print("no finished run in " + ", ".join(map(str, args.dirs)), file=sys.stderr)
        return 1
    try:
        table = summarize(cells(runs, notes), args.evaluation)
    except CompareError as e:
        print(e, file=sys.stderr)
        return 1
    text = markdown(table, args.evaluation)
    print(text)
    for note in notes:
        print(f"note: {note}")
    if args.markdown:
        write_text(args.markdown, text + "\n")
    if args.json:
        write_text(args.json, json.dumps({"evaluation": args.evaluation, "table": table,
                                          "notes": notes}, indent=1) + "\n")
    if args.plot:
        plot(table, args.plot, args.evaluation)
    return 0


if __name__ == "__main__":
    sys.exit(main())
