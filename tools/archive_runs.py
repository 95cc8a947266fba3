"""Copy what the report scripts read from finished runs into the repository's results/.

Run folders (runs/...) hold checkpoints of several MB per fold and live outside the
repository; a machine that is lost takes them along. The report scripts
(tools/protocols_report.py, tools/hrf_table.py, tools/ablation_table.py,
tools/results_table.py, `pyreparam compare`) read only the small JSON files, so
those are archived here, with the folder structure kept, and the README's tables can
be regenerated from a clean clone:

    python tools/archive_runs.py runs/deployed_sf_t0 runs/hrf_table_t0 ...
    python tools/protocols_report.py results/runs/deployed_sf_t0/seed=?

Copied per run folder (any folder with run.json, at any depth below each argument):
run.json, folds.json, results.json, and per fold result.json and log.csv; a sweep's
sweep.json. Checkpoints (.npz) and unfinished folds' state.npz are never copied. A
run without results.json (unfinished) is skipped unless --partial. Paths below
--root (default: the current folder) keep their relative path under results/.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN_FILES = ("run.json", "folds.json", "results.json")
FOLD_FILES = ("result.json", "log.csv")


def _absolute(path: Path) -> Path:
    """Absolute and normalized, symlinks kept (runs/ is often a link to a data disk)."""
    return Path(os.path.abspath(path))


def archive(src: Path, dest_root: Path, base: Path, partial: bool) -> list[Path]:
    """Copy the report files of every run folder under ``src``; returns the runs copied."""
    copied = []
    sweep = src / "sweep.json"
    if sweep.exists():
        out = dest_root / _absolute(sweep).relative_to(base)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(sweep, out)
    for run_json in sorted(src.rglob("run.json")):
        run = run_json.parent
        if not (run / "results.json").exists() and not partial:
            continue
        out = dest_root / _absolute(run).relative_to(base)
        out.mkdir(parents=True, exist_ok=True)
        for name in RUN_FILES:
            if (run / name).exists():
                shutil.copy2(run / name, out / name)
        for fold in sorted(run.glob("fold_*")):
            for name in FOLD_FILES:
                if (fold / name).exists():
                    (out / fold.name).mkdir(exist_ok=True)
                    shutil.copy2(fold / name, out / fold.name / name)
        copied.append(run)
    return copied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="run or sweep folders")
    parser.add_argument("--root", type=Path, default=Path.cwd(),
                        help="paths are kept relative to this folder (default: cwd)")
    parser.add_argument("--into", type=Path, default=ROOT / "results",
                        help="destination (default: the repository's results/)")
    parser.add_argument("--partial", action="store_true",
                        help="also copy runs without results.json (their finished folds)")
    args = parser.parse_args(argv)
    base = _absolute(args.root)
    total = 0
    for folder in args.folders:
        if not folder.is_dir():
            print(f"error: {folder} is not a folder", file=sys.stderr)
            return 2
        try:
            _absolute(folder).relative_to(base)
        except ValueError:
            print(f"error: {folder} is not below --root {base}", file=sys.stderr)
            return 2
        runs = archive(folder, args.into, base, args.partial)
        print(f"{folder}: {len(runs)} run(s) -> {args.into}")
        total += len(runs)
    return 0 if total else 1


if __name__ == "__main__":
    sys.exit(main())
