"""The main job: `pyreparam demo` on a tiny synthetic corpus, and its refusal to print
old results for new settings."""
import json

import pytest

from pyreparam.demo import DemoError, format_demo, run_demo


def test_demo_runs_and_refuses_a_folder_made_with_other_settings(tmp_path):
    out = tmp_path / "demo"
    rows = run_demo(out, epochs=1, speakers=4, per_class=3, jobs=1, quiet=True,
                    log=lambda *a: None)
    assert [r["variant"] for r in rows] == ["light", "light+HRF"]
    assert rows[1]["merge_max_rel"] < 1e-5 and "light+HRF" in format_demo(rows)
    again = run_demo(out, epochs=1, speakers=4, per_class=3, jobs=1, quiet=True,
                     log=lambda *a: None)
    assert [r["ua"] for r in again] == [r["ua"] for r in rows]     # the same runs, reused
    with pytest.raises(DemoError, match="epochs 1 -> 2"):
        run_demo(out, epochs=2, speakers=4, per_class=3, jobs=1, quiet=True,
                 log=lambda *a: None)
    with pytest.raises(DemoError, match="corpus made with other settings"):
        run_demo(out, seed=1, epochs=1, speakers=4, per_class=3, jobs=1, quiet=True,
                 log=lambda *a: None)
    assert json.loads((out / "demo.json").read_text())[0]["ua"] == rows[0]["ua"]
