"""Deployed accuracy: the evaluation protocols side by side, and the causal curve.

    python tools/protocols_report.py RUN_DIR [RUN_DIR ...] [--global RUN_DIR ...]
                                     [--recompute] [--parts] [--plot PNG] [--json PATH]

RUN_DIRs are finished `pyreparam train` runs, grouped into variants as
tools/results_table.py groups them (everything but the seed). For each variant, the
deployed model's pooled UA under the three protocols (pyreparam.train.protocols) as
mean ± std over seeds:

    speaker    all of a test speaker's utterances normalized together (a lab figure)
    causal     one utterance at a time, normalized with what was heard before + prior
    utterance  each file alone, by its own statistics

and the causal UA after k = 0, 1, 2, 4, 8, 16, 32 heard utterances (a table, and a
line plot with --plot, which needs matplotlib: the `plot` extra). ``--global`` adds
runs trained with `--normalization global` as one more column (their own fixed
statistics, the pooled UA). ``--recompute`` scores the protocols again from each
fold's model (runs made before the protocols' current definition). ``--parts``: runs
with a statistics head (`train --stats-head`) get two more rows, the network alone
and the head alone (results.json["protocols_parts"]).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from protocol_scan import scan_run  # noqa: E402
from results_table import group_runs, load_run  # noqa: E402

PROTOCOL_COLUMNS = ("speaker", "causal", "utterance")


def protocols_of(run: Path, results: dict, recompute: bool) -> dict:
    if recompute or "protocols" not in results:
        return scan_run(run, [], 5, ["test"])["test"]["protocols"]
    return results["protocols"]


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def cell(values: list[float]) -> str:
    if not values:
        return "-"
    m, s = mean_std([100 * v for v in values])
    return f"{m:.1f}" if len(values) < 2 else f"{m:.1f} ± {s:.1f}"


def summarize(runs: list[Path], recompute: bool, parts: bool = False) -> list[dict]:
    """One row per variant; with ``parts``, runs with a statistics head (train
    --stats-head) also get a row for the network alone and one for the head alone."""
    loaded = []
    for run in runs:
        results = load_run(run)
        results["_protocols"] = protocols_of(run, results, recompute)
        loaded.append(results)
    rows = []
    for name, rs in group_runs(loaded).items():
        rs.sort(key=lambda r: r["seed"])
        rows.append(variant_row(name, rs, [r["_protocols"] for r in rs]))
        if parts and all("protocols_parts" in r for r in rs):
            for part in rs[0]["protocols_parts"]:
                rows.append(variant_row(f"{name} [{part} alone]", rs,
                                        [r["protocols_parts"][part] for r in rs]))
    return rows


def variant_row(name: str, rs: list[dict], protocols: list[dict]) -> dict:
    """A table row: the runs' UA under each protocol and their causal curves."""
    row = {"variant": name, "seeds": [r["seed"] for r in rs], "model": model_key(rs[0])}
    for p in PROTOCOL_COLUMNS:
        row[p] = [q[p]["ua"] for q in protocols]
    curves = [q["causal"]["ua_by_prior"] for q in protocols]
    keys = sorted({k for c in curves for k in c}, key=int)
    row["curve"] = {k: [c[k] for c in curves if k in c] for k in keys}
    return row


def model_key(results: dict) -> tuple:
    """Backbone, size, HRF and input channels of a run: a global-normalization run's UA
    goes in the row of the same model on the same features."""
    config = results["model_config"]
    hrf = config.get("hrf") or {}
    return (config["backbone"], config.get("size"), hrf.get("r"), hrf.get("k", 1),
            config.get("n_mels"), bool(results.get("feature_config", {}).get("pitch")))


def format_tables(rows: list[dict], global_ua: dict[tuple, list[float]]) -> str:
    head = ["variant", "seeds", "speaker UA %", "causal UA %", "utterance UA %"]
    if global_ua:
        head.append("global-normalization model UA %")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["variant"], str(len(r["seeds"]))] + [cell(r[p]) for p in PROTOCOL_COLUMNS]
        if global_ua:
            cells.append(cell(global_ua.get(r["model"], [])))
        lines.append("| " + " | ".join(cells) + " |")
    keys = sorted({k for r in rows for k in r["curve"]}, key=int)
    lines += ["", "| causal UA % after k utterances heard | " +
              " | ".join(f"k = {k}" for k in keys) + " |", "|" + "---|" * (len(keys) + 1)]
    for r in rows:
        lines.append(f"| {r['variant']} | " +
                     " | ".join(cell(r["curve"].get(k, [])) for k in keys) + " |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path, title: str) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("--plot needs matplotlib: pip install \".[plot]\"")
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for r in rows:
        keys = list(r["curve"])
        xs = [int(k) for k in keys]
        m = [100 * statistics.fmean(r["curve"][k]) for k in keys]
        s = [100 * (statistics.stdev(r["curve"][k]) if len(r["curve"][k]) > 1 else 0.0)
             for k in keys]
        line, = ax.plot(xs, m, marker="o", label=f"{r['variant']} (causal)")
        ax.fill_between(xs, [a - b for a, b in zip(m, s)], [a + b for a, b in zip(m, s)],
                        color=line.get_color(), alpha=0.15)
        sp = 100 * statistics.fmean(r["speaker"])
        ax.axhline(sp, color=line.get_color(), linestyle="--", linewidth=1,
                   label=f"{r['variant']}: speaker protocol {sp:.1f}")
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xticks([0, 1, 2, 4, 8, 16, 32])
    ax.set_xticklabels(["0", "1", "2", "4", "8", "16", "32"])
    ax.set_xlabel("utterances of the speaker heard before")
    ax.set_ylabel("UA %")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.set_xlim(-0.3, 40)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--global", dest="global_runs", nargs="*", type=Path, default=[],
                        help="runs trained with --normalization global")
    parser.add_argument("--recompute", action="store_true")
    parser.add_argument("--parts", action="store_true",
                        help="runs with a statistics head: rows for the network alone "
                             "and the head alone too")
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--title", default="Causal normalization: UA by utterances heard")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    rows = summarize(args.runs, args.recompute, args.parts)
    global_ua: dict[tuple, list[float]] = {}
    for run in args.global_runs:
        results = load_run(run)
        global_ua.setdefault(model_key(results), []).append(results["pooled"]["ua"])
    print(format_tables(rows, global_ua))
    if args.plot:
        plot(rows, args.plot, args.title)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        from pyreparam.atomic import write_text
        write_text(args.json, json.dumps({"variants": rows, "global_ua": [
            {"model": list(k), "ua": v} for k, v in global_ua.items()]}, indent=1))


if __name__ == "__main__":
    main()
