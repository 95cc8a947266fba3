"""tools/head_inner_ua.py: each fold's best inner UA, paired by run and fold."""
import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "head_inner_ua.py"
spec = importlib.util.spec_from_file_location("head_inner_ua", SCRIPT)
head_inner_ua = importlib.util.module_from_spec(spec)
spec.loader.exec_module(head_inner_ua)


def _run(folder: Path, folds: list[dict]) -> None:
    for i, inner in enumerate(folds):
        (folder / f"fold_{i:02d}").mkdir(parents=True)
        (folder / f"fold_{i:02d}" / "result.json").write_text(
            json.dumps({"stats_head": {"C": 0.01, "inner_ua": inner}}))


def test_pairs_each_folds_best_inner_ua(tmp_path, capsys):
    _run(tmp_path / "a" / "seed=0", [{"0.01": 0.5, "0.1": 0.6}, {"0.01": 0.7}])
    _run(tmp_path / "b" / "seed=0", [{"0.01,1": 0.65, "0.01,10": 0.4}, {"0.01,1": 0.6}])
    head_inner_ua.main([str(tmp_path / "a" / "seed=?"), str(tmp_path / "b" / "seed=?")])
    out = capsys.readouterr().out
    assert "| 2 | 65.0 | 62.5 | -2.5 | 1/2 |" in out       # (0.6 + 0.7) / 2, (0.65 + 0.6) / 2
    assert "over 1 run pair(s): -2.5 +- 0.0 points" in out


def test_refuses_runs_without_a_head_or_unpaired(tmp_path):
    (tmp_path / "a" / "fold_00").mkdir(parents=True)
    (tmp_path / "a" / "fold_00" / "result.json").write_text("{}")
    with pytest.raises(SystemExit, match="no statistics head"):
        head_inner_ua.inner_ua(tmp_path / "a")
    with pytest.raises(SystemExit, match="same number of runs"):
        head_inner_ua.main([str(tmp_path / "a"), str(tmp_path / "none*")])
