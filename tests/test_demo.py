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


class _Recorder:
    """A non-terminal stream that records what reaches the OS at each flush."""

    def __init__(self):
        self.pending, self.chunks = "", []

    def isatty(self):
        return False

    def write(self, text):
        self.pending += text

    def flush(self):
        if self.pending:
            self.chunks.append(self.pending)
        self.pending = ""


def test_progress_lines_reach_the_os_whole_and_alone():
    """Each epoch's line is flushed on its own (one write, under PIPE_BUF), after
    anything half-written before it, so parallel processes cannot mix within a line."""
    from types import SimpleNamespace

    from pyreparam.train.progress import FoldProgress
    stream = _Recorder()
    progress = FoldProgress("light fold  1/1 (test: spk01)", 2, stream=stream)
    stream.write("a log line\n")
    state = SimpleNamespace(epoch=1, best_val_ua=0.5, best_epoch=1)
    progress(state, {"train_loss": 1.0, "val_ua": 0.5})
    assert stream.chunks[0] == "a log line\n"
    line = stream.chunks[1]
    assert line.startswith("light fold  1/1 (test: spk01) [") and line.endswith("\n")
    assert line.count("\n") == 1 and len(line.encode()) < 512


@pytest.mark.slow
def test_parallel_demo_prints_whole_lines_naming_the_test_speakers(tmp_path):
    """`pyreparam demo --jobs 2`: both variants' progress lines, each whole and naming
    the test fold's speakers."""
    import re
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-P", "-c", "from pyreparam.demo import run_demo; "
         f"run_demo({str(tmp_path / 'demo')!r}, epochs=2, speakers=4, per_class=3, jobs=2)"],
        capture_output=True, text=True, timeout=600, check=True).stdout.splitlines()
    progress = re.compile(r"^(light|light\+HRF) fold  1/1 \(test: [\w,]+\) \[[#.]{20}\] "
                          r"+\d/2 loss \d+\.\d{3}  val UA +\d+\.\d%  best +\d+\.\d% @\d$")
    bars = [line for line in out if progress.match(line)]
    assert len(bars) == 4 and {b.split()[0] for b in bars} == {"light", "light+HRF"}, out
    assert all(progress.match(line) or line.startswith("synthesizing") for line in out), out
