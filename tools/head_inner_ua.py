"""The statistics head's own validation figure, paired: each fold's best inner
leave-one-speaker-out UA over its fit speakers (training and validation, never the
test speaker; `result.json["stats_head"]["inner_ua"]`, the criterion that chose its C)
for two sets of runs on the same folds, e.g. the head without and with the prosody
block:

    python tools/head_inner_ua.py 'results/runs/stats_head_emovo_t0/seed=?' \
        'results/runs/stats_head_pitch_head_only_emovo_t0/seed=?'

Runs pair by their sorted order (the same seeds); folds by index.
"""
from __future__ import annotations

import argparse
import glob
import json
import sys
from pathlib import Path

import numpy as np


def inner_ua(run: Path) -> list[float]:
    """The best inner UA of each fold of a run (in fold order)."""
    folds = sorted(run.glob("fold_*/result.json"))
    if not folds:
        raise SystemExit(f"{run}: no fold results")
    best = []
    for path in folds:
        head = json.loads(path.read_text()).get("stats_head")
        if not head or not head.get("inner_ua"):
            raise SystemExit(f"{path}: no statistics head with inner UA figures")
        best.append(max(head["inner_ua"].values()))
    return best


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", help="glob of the reference runs (quote it)")
    ap.add_argument("b", help="glob of the runs compared with them, same seeds")
    args = ap.parse_args(argv)
    runs_a, runs_b = (sorted(Path(p) for p in glob.glob(g)) for g in (args.a, args.b))
    if not runs_a or len(runs_a) != len(runs_b):
        sys.exit(f"need the same number of runs on each side: {len(runs_a)} and "
                 f"{len(runs_b)}")
    print("| run A | run B | folds | inner UA A % | inner UA B % | B - A | folds B > A |")
    print("|---|---|---|---|---|---|---|")
    diffs = []
    for ra, rb in zip(runs_a, runs_b):
        a, b = np.array(inner_ua(ra)), np.array(inner_ua(rb))
        if a.size != b.size:
            sys.exit(f"{ra} and {rb} have {a.size} and {b.size} folds")
        diffs.append(100 * (b - a).mean())
        print(f"| {ra.parent.name}/{ra.name} | {rb.parent.name}/{rb.name} | {a.size} | "
              f"{100 * a.mean():.1f} | {100 * b.mean():.1f} | {diffs[-1]:+.1f} | "
              f"{int((b > a).sum())}/{a.size} |")
    d = np.array(diffs)
    print(f"\nB - A over {d.size} run pair(s): {d.mean():+.1f} +- "
          f"{d.std(ddof=1) if d.size > 1 else 0.0:.1f} points")


if __name__ == "__main__":
    main()
