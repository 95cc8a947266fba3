"""The lever ablation table: every pair of runs that differ in one training option,
with the paired difference of UA under each evaluation protocol.

    python tools/ablation_table.py RUN_OR_SWEEP_DIR ... [--evaluation pooled]
        [--evaluation protocols.speaker] [--skip OPTION] [--json PATH]

Runs are paired exactly as ``pyreparam compare`` pairs them (pyreparam.sweep.compare:
same corpus, folds and seeds, exactly one option different). For each pair and each
evaluation the table gives the UA of A and B (mean over the common seeds) and B - A as
mean ± standard deviation over seeds of the per-seed paired differences (the spread
of retraining; "±  -" with one seed). Unfinished runs and sweeps are left out (a
note says which). ``pooled`` is each run's own test figure: for a
run trained with causal normalization, the causal protocol (each test speaker's
utterances in 5 random orders, each normalized with only the ones before it);
``protocols.speaker`` the transductive figure (every test speaker normalized with all
of their utterances). Not imported by the package.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

from pyreparam.atomic import write_text
from pyreparam.sweep.compare import IMPLIED_BY, compare_runs, load_finished

NAMES = {"pooled": "own test protocol", "protocols.speaker": "speaker",
         "protocols.causal": "causal", "protocols.utterance": "utterance"}


def _text(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        return "[" + ", ".join(Path(str(v)).name if "/" in str(v) else str(v)
                               for v in value) + "]"
    return str(value)


def _ua(pair: dict) -> dict:
    return next(m for m in pair["metrics"] if m["metric"] == "ua")


def pair_rows(runs, evaluations: list[str], skip: tuple[str, ...] = ()) -> list[dict]:
    """One row per pair (but pairs on the options in ``skip``): option, A, B, context,
    seeds, and per evaluation the UA of A and B and the per-seed differences."""
    rows: dict[str, dict] = {}
    for evaluation in evaluations:
        usable = [r for r in runs if r.evaluation(evaluation) is not None]
        for pair in compare_runs(usable, evaluation=evaluation, replicates=0)["pairs"]:
            if pair["option"] in skip:
                continue
            pair["context"] = {k: v for k, v in pair["context"].items()
                               if k not in IMPLIED_BY}
            key = json.dumps([pair["option"], pair["a"], pair["b"], pair["context"],
                              pair["seeds"]], sort_keys=True, default=str)
            row = rows.setdefault(key, {"option": pair["option"], "a": pair["a"],
                                        "b": pair["b"], "context": pair["context"],
                                        "seeds": pair["seeds"], "by": {}})
            ua = _ua(pair)
            row["by"][evaluation] = {"a": ua["a"], "b": ua["b"],
                                     "per_seed": ua["per_seed"]}
    return sorted(rows.values(), key=lambda r: (r["option"], json.dumps(r["context"],
                                                                         default=str)))


def _difference(cell: dict | None) -> str:
    if cell is None:
        return "-"
    d = np.array(cell["per_seed"])
    spread = f"{d.std(ddof=1):.1f}" if len(d) > 1 else " -"
    return f"{cell['a']:.1f} → {cell['b']:.1f}: **{d.mean():+.1f}** ± {spread}"


def _usual(rows: list[dict]) -> dict[str, str]:
    """Each context option's most frequent value over the rows (the usual setting)."""
    counts: dict[str, Counter] = {}
    for r in rows:
        for k, v in r["context"].items():
            counts.setdefault(k, Counter())[_text(v)] += 1
    return {k: c.most_common(1)[0][0] for k, c in counts.items()}


def markdown(rows: list[dict], evaluations: list[str]) -> str:
    """The table; a row's context names only the options it has at other than their
    usual setting (the first line says what is usual)."""
    usual = _usual(rows)
    head = ["lever", "A → B", "context (other than usual)", "seeds"] + [
        f"UA % ({NAMES.get(e, e)}): A → B: B − A ± sd" for e in evaluations]
    lines = ["usual: " + (", ".join(f"{k}={v}" for k, v in sorted(usual.items())) or "-"),
             "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        context = ", ".join(f"{k}={_text(v)}" for k, v in r["context"].items()
                            if _text(v) != usual.get(k)) or "-"
        cells = [r["option"], f"{_text(r['a'])} → {_text(r['b'])}", context,
                 ", ".join(map(str, r["seeds"]))]
        cells += [_difference(r["by"].get(e)) for e in evaluations]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="run or sweep folders")
    parser.add_argument("--evaluation", action="append", default=None,
                        help="results.json evaluation (repeatable) "
                             "[pooled, protocols.speaker]")
    parser.add_argument("--skip", action="append", default=[],
                        help="an option whose pairs are left out (repeatable), e.g. "
                             "normalization: runs with another normalization have "
                             "another own test protocol")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    evaluations = args.evaluation or ["pooled", "protocols.speaker"]
    notes: list[str] = []
    runs = load_finished(args.dirs, notes)    # unfinished ones are left out, said so
    rows = pair_rows(runs, evaluations, tuple(args.skip))
    print(markdown(rows, evaluations))
    for note in dict.fromkeys(notes):
        print(f"note: {note}")
    if args.json:
        write_text(args.json, json.dumps(rows, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
