"""tools/train_jobs.sh: a list of train runs, each into runs/NAME, finished ones kept."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pyreparam.data.synth import write_synthetic_corpus

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "train_jobs.sh"


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("xargs") is None,
                    reason="needs bash and xargs")
def test_jobs_run_once_and_a_second_pass_keeps_them(tmp_path):
    manifest = write_synthetic_corpus(tmp_path / "corpus", speakers=3, per_class=1, seed=0)
    jobs = tmp_path / "j.jobs"
    jobs.write_text(f"# two runs\na {manifest} --cv fixed:spk00 --epochs 1 --cache none\n"
                    f"b {manifest} --cv fixed:spk00 --epochs 1 --cache none --dropout 0\n")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
                                 f"{os.environ.get('PATH', '')}"}
    run = lambda: subprocess.run(["bash", str(SCRIPT), str(jobs), "2"], cwd=tmp_path, env=env,
                                 capture_output=True, text=True, timeout=300)
    done = run()
    assert done.returncode == 0, done.stderr
    results = [tmp_path / "runs" / n / "results.json" for n in "ab"]
    assert all(r.is_file() for r in results)
    stamps = [r.stat().st_mtime_ns for r in results]
    assert run().returncode == 0
    assert [r.stat().st_mtime_ns for r in results] == stamps      # not trained again
    bad = subprocess.run(["bash", str(SCRIPT), str(tmp_path / "none.jobs")], cwd=tmp_path,
                         env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "usage" in bad.stderr


def test_the_repositorys_job_lists_are_valid_train_commands():
    """Every line of tools/sweeps/*.jobs parses as `pyreparam train` options (names,
    types and choices), so a list cannot fail hours in on a typo."""
    import shlex

    import click

    from pyreparam.cli.train import train_command
    lists = sorted((SCRIPT.parent / "sweeps").glob("*.jobs"))
    assert lists
    for path in lists:
        for line in path.read_text().splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            name, manifest, *options = shlex.split(line)
            try:
                train_command.make_context("train", [manifest, *options, "--out", name])
            except click.UsageError as error:
                raise AssertionError(f"{path.name}: {line!r}: {error}") from None
