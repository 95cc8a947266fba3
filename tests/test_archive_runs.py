"""tools/archive_runs.py: finished runs' report files into results/, never checkpoints."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("archive_runs", ROOT / "tools" / "archive_runs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(folder: Path, finished: bool) -> None:
    """A run folder as `pyreparam train` leaves it (two folds, the second unfinished
    unless ``finished``)."""
    folder.mkdir(parents=True)
    for name in ("run.json", "folds.json"):
        (folder / name).write_text("{}")
    for i in range(2):
        fold = folder / f"fold_{i:02d}"
        fold.mkdir()
        (fold / "log.csv").write_text("epoch\n1\n")
        (fold / "model.npz").write_bytes(b"checkpoint")
        if i == 0 or finished:
            (fold / "result.json").write_text(json.dumps({"fold": i}))
            (fold / "model_merged.npz").write_bytes(b"checkpoint")
        else:
            (fold / "state.npz").write_bytes(b"state")
    if finished:
        (folder / "results.json").write_text("{}")


def test_report_files_are_copied_and_checkpoints_are_not(tmp_path):
    tool = _tool()
    sweep = tmp_path / "runs" / "sweep"
    _run(sweep / "seed=0", finished=True)
    _run(sweep / "seed=1", finished=False)
    (sweep / "sweep.json").write_text("{}")
    dest = tmp_path / "results"
    assert tool.main([str(sweep), "--root", str(tmp_path), "--into", str(dest)]) == 0
    copied = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    assert copied == {
        "runs/sweep/sweep.json",
        "runs/sweep/seed=0/run.json", "runs/sweep/seed=0/folds.json",
        "runs/sweep/seed=0/results.json",
        "runs/sweep/seed=0/fold_00/result.json", "runs/sweep/seed=0/fold_00/log.csv",
        "runs/sweep/seed=0/fold_01/result.json", "runs/sweep/seed=0/fold_01/log.csv",
    }
    # --partial also takes the unfinished run's finished folds (still no checkpoints)
    assert tool.main([str(sweep / "seed=1"), "--root", str(tmp_path), "--into", str(dest),
                      "--partial"]) == 0
    partial = {p.name for p in (dest / "runs" / "sweep" / "seed=1").rglob("*") if p.is_file()}
    assert partial == {"run.json", "folds.json", "result.json", "log.csv"}
    assert not list(dest.rglob("*.npz"))


def test_bad_folders_are_refused(tmp_path):
    tool = _tool()
    assert tool.main([str(tmp_path / "absent"), "--root", str(tmp_path)]) == 2
    elsewhere = tmp_path / "a"
    _run(elsewhere / "r", finished=True)
    assert tool.main([str(elsewhere), "--root", str(tmp_path / "b"),
                      "--into", str(tmp_path / "out")]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert tool.main([str(empty), "--root", str(tmp_path), "--into", str(tmp_path / "o")]) == 1
