"""Float vs int8 (C runtime) with the statistics head: the README's tables.

    python tools/head_int8_table.py RESULTS.json [RESULTS.json ...] [--label NAME]
                                   [--summary OUT.json]

Each RESULTS.json is what ``tools/quantize_run.py RUN --protocols
speaker,causal,utterance --json RESULTS.json`` wrote for one run of a statistics-head
sweep (one seed): the float model deciding with its head (``HeadScorer``) and the int8
.prq deciding with its int8 head (``Int8Scorer``: ``pr_head_*``, the causal states in
``pr_norm_*``) on the same test speakers, the same random orders. Prints, over the
runs (seeds), mean +- std of UA per protocol for float and int8 and of their paired
difference, and the causal curve (UA after k utterances heard); ``--summary`` writes
these figures (without the confusion matrices) as JSON, the archived form.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

PROTOCOLS = ("speaker", "causal", "utterance")
PRIORS = ("0", "1", "2", "4", "8", "16", "32")


def pm(values) -> str:
    v = 100 * np.asarray(values, dtype=np.float64)
    return f"{v.mean():.1f} ± {v.std(ddof=1) if v.size > 1 else 0.0:.1f}"


def load(paths: list[Path]) -> list[dict]:
    """{kind: {protocol: {ua, wa, ua_by_prior}}} of each run (seed)."""
    runs = []
    for path in paths:
        for result in json.loads(path.read_text()):
            runs.append({"run": result["run"], **{
                kind: {name: {k: result["protocols"][kind][name][k] for k in
                              ("ua", "wa", "macro_f1", "n", *(("ua_by_prior",)
                                                              if name == "causal" else ()))}
                       for name in PROTOCOLS if name in result["protocols"][kind]}
                for kind in ("float", "int8")}})
    return runs


def tables(runs: list[dict], label: str) -> str:
    names = [p for p in PROTOCOLS if all(p in r["float"] for r in runs)]
    lines = [f"| {label} | seeds | " + " | ".join(f"{p} UA %" for p in names) + " |",
             "|---|---|" + "---|" * len(names)]
    for kind in ("float", "int8"):
        lines.append(f"| {kind} | {len(runs)} | " + " | ".join(
            pm([r[kind][p]["ua"] for r in runs]) for p in names) + " |")
    lines.append(f"| int8 - float (paired) | {len(runs)} | " + " | ".join(
        pm([r["int8"][p]["ua"] - r["float"][p]["ua"] for r in runs]) for p in names) + " |")
    if "causal" in names:
        lines += ["", "| causal UA % after k utterances heard | " +
                  " | ".join(f"k = {k}" for k in PRIORS) + " |",
                  "|---|" + "---|" * len(PRIORS)]
        for kind in ("float", "int8"):
            lines.append(f"| {kind} | " + " | ".join(
                pm([r[kind]["causal"]["ua_by_prior"][k] for r in runs]) for k in PRIORS)
                + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--label", default="statistics head")
    parser.add_argument("--summary", type=Path)
    args = parser.parse_args(argv)
    runs = load(args.results)
    print(tables(runs, args.label))
    if args.summary:
        args.summary.parent.mkdir(parents=True, exist_ok=True)
        args.summary.write_text(json.dumps(runs, indent=1) + "\n")


if __name__ == "__main__":
    main()
