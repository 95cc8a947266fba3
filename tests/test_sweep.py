"""Sweeps: the spec, planning through train's parser, sweep.json, SIGKILL and resume,
Ray vs local processes (identical folds), and the fold task Ray runs."""
import concurrent.futures
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pyreparam.cli import main
from pyreparam.cli.sweep import plan_runs
from pyreparam.data.synth import write_synthetic_corpus
from pyreparam.sweep import executors
from pyreparam.sweep.runner import evaluations, metrics_of, run_sweep
from pyreparam.sweep.spec import SpecError, parse_sweep_spec, read_sweep_spec, run_name
from pyreparam.train import run as run_module

SPEC = """
[base]
manifest = "corpus/manifest.csv"
cv = "groupkfold:2"
epochs = 4
batch_size = 8
cache = "cache"
stats-head = 0

[grid]
hrf = [0, 2]
seed = [0, 1]
"""
RUNS = ["hrf=0,seed=0", "hrf=0,seed=1", "hrf=2,seed=0", "hrf=2,seed=1"]
ENV = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
CLI = [sys.executable, "-P", "-c", "from pyreparam.cli import main; main()"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A spec next to a tiny synthetic corpus (4 speakers x 4 emotions x 3)."""
    root = tmp_path_factory.mktemp("sweep")
    write_synthetic_corpus(root / "corpus", speakers=4, per_class=3, sample_rate=8000)
    (root / "spec.toml").write_text(SPEC)
    return root


def _sweep(workspace: Path, out: Path, *extra: str, check=True) -> subprocess.CompletedProcess:
    r = subprocess.run(CLI + ["sweep", str(workspace / "spec.toml"), "--out", str(out),
                              "--quiet", *extra], env=ENV, capture_output=True, text=True)
    assert not check or r.returncode == 0, r.stdout + r.stderr
    return r


def _run_in_process(workspace: Path, out: Path, pool) -> None:
    sweep = read_sweep_spec(workspace / "spec.toml")
    with pool:
        run_sweep(sweep.to_dict(), sweep.path, plan_runs(sweep), out, pool, quiet=True,
                  log=lambda message: None)


@pytest.fixture(scope="module")
def reference(workspace) -> Path:
    """An uninterrupted sweep, two local worker processes."""
    out = workspace / "reference"
    _run_in_process(workspace, out, executors.LocalExecutor(2))
    return out


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.fixture(scope="module")
def killed(workspace, reference) -> Path:
    """The same sweep, SIGKILLed while a fold is training (a copy is kept as it was)."""
    out = workspace / "killed"
    proc = subprocess.Popen(CLI + ["sweep", str(workspace / "spec.toml"), "--out", str(out),
                                   "--quiet", "--jobs", "2"], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list(out.glob("*/fold_*/state.npz")) and proc.poll() is None \
            and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)                                  # (a fold has 4 epochs)
    workers = _children(proc.pid) if Path("/proc").is_dir() else []
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 20                       # the workers follow their parent
    while any(Path(f"/proc/{p}").exists() for p in workers) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(Path(f"/proc/{p}").exists() for p in workers), "workers outlived the sweep"
    assert not (out / RUNS[-1]).exists(), "killed too late: the last run had started"
    shutil.copytree(out, workspace / "killed-copy", symlinks=True,
                    ignore=shutil.ignore_patterns(".sweep.lock"))
    return out


def _metrics(out: Path) -> dict:
    data = json.loads((out / "sweep.json").read_text())
    assert [r["status"] for r in data["runs"]] == ["done"] * len(RUNS)
    return {r["name"]: r["metrics"] for r in data["runs"]}


def _same_models(a: Path, b: Path) -> None:
    for path in sorted(a.glob("*/fold_*/model*.npz")):
        other = b / path.relative_to(a)
        assert path.read_bytes() == other.read_bytes(), path.relative_to(a)


# --------------------------------------------------------------------------- spec

def test_spec_grid_names_and_paths(tmp_path):
    spec = parse_sweep_spec(SPEC, tmp_path / "sub" / "spec.toml")
    assert [r.name for r in spec.runs] == RUNS
    assert spec.base["manifest"] == str(tmp_path / "sub" / "corpus" / "manifest.csv")
    assert spec.base["batch-size"] == 8 and "batch_size" not in spec.base
    assert spec.runs[3].options == {**spec.base, "hrf": 2, "seed": 1}
    assert spec.runs[3].grid == {"hrf": 2, "seed": 1}
    assert run_name({"cv": "groupkfold:5", "manifest": "/x/emodb.csv", "hrf-bias": False,
                     "lr": 5e-4}) == "cv=groupkfold-5,manifest=emodb,hrf-bias=false,lr=0.0005"
    assert [r.name for r in parse_sweep_spec('[base]\nmanifest="m.csv"', "s.toml").runs] == ["run"]


def test_the_example_spec_uses_train_options():
    """tools/sweeps/emodb_hrf.toml: 10 runs, options of train, manifest next to the repo."""
    from pyreparam.cli.sweep import train_options
    path = Path(__file__).parents[1] / "tools" / "sweeps" / "emodb_hrf.toml"
    spec = parse_sweep_spec(path.read_text(), path)
    assert len(spec.runs) == 10 and spec.runs[-1].name == "hrf=4,seed=4"
    assert set(spec.base) | set(spec.grid) <= set(train_options())
    assert spec.base["manifest"] == str(path.parents[2] / "emodb.csv")


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[1] / "tools" / "sweeps")
                                         .glob("*.toml")), ids=lambda p: p.name)
def test_every_committed_spec_is_a_valid_sweep(path, workspace):
    """Each spec of tools/sweeps parses, names only train options and gives every run
    a RunSpec through train's own parser (on the synthetic corpus instead of the
    spec's manifest, which CI does not have; teachers left out)."""
    from pyreparam.cli.sweep import run_spec, train_options
    options = train_options()
    spec = parse_sweep_spec(path.read_text(), path)
    assert set(spec.base) | set(spec.grid) <= set(options)
    for run in spec.runs:
        values = {k: v for k, v in run.options.items() if k not in ("teacher", "distill")}
        values["manifest"] = str(workspace / "corpus" / "manifest.csv")
        built = run_spec(values, options)
        if "ffn" in values:
            assert built.model_config["ffn"] == values["ffn"]


@pytest.mark.parametrize("text, message", [
    ("[grid]\nseed = 3", "must be a non-empty list"),
    ("[grid]\nseed = []", "must be a non-empty list"),
    ("[grid]\nseed = [1, 1]", "lists a value twice"),
    ("[base]\nseed = [1, 2]", "lists belong in [grid]"),
    ("[base]\nseed = 1\n[grid]\nseed = [2]", "in both [base] and [grid]"),
    ("[base]\nbatch-size = 1\nbatch_size = 2", "sets batch-size twice"),
    ("[runs]\nseed = 1", "unknown table"),
    ("[base\n", "not valid TOML"),
])
def test_spec_shape_errors(text, message):
    with pytest.raises(SpecError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_sweep_spec(text, "spec.toml")


@pytest.mark.parametrize("lines, message", [
    (['batchsize = 3'], "[base] batchsize: not an option of pyreparam train (did you mean "
                        "batch-size?)"),
    (['[grid]', 'size = ["light", "huge"]'], "[grid] size = \"huge\": Invalid value for "
                                             "'--size'"),
    (['[grid]', 'hrf = [0, 3]'], "[grid] hrf = 3: Invalid value for '--hrf'"),
    (['epochs = 0'], "[base] epochs = 0: Invalid value for '--epochs'"),
    (['cv = "kfold"'], "[base] cv = \"kfold\": unknown --cv scheme"),
    (['hrf-bias = 1'], "must be true or false"),
    (['jobs = 2'], "[base] jobs: set by the sweep command"),
])
def test_spec_option_errors_are_one_line(workspace, tmp_path, lines, message):
    spec = tmp_path / "bad.toml"
    head = [f'manifest = "{workspace / "corpus" / "manifest.csv"}"']
    spec.write_text("\n".join(["[base]", *head, *lines]) + "\n")
    r = CliRunner().invoke(main, ["sweep", str(spec), "--out", str(tmp_path / "out")])
    assert r.exit_code == 1, r.output
    assert r.output.startswith("Error: ") and r.output.count("\n") == 1, r.output
    assert message in r.output
    assert not (tmp_path / "out").exists()


def test_missing_manifest_and_spec(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('[base]\nmanifest = "nothere.csv"\n')
    r = CliRunner().invoke(main, ["sweep", str(spec), "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and "manifest not found" in r.output and r.output.count("\n") == 1
    r = CliRunner().invoke(main, ["sweep", str(tmp_path / "x.toml"), "--out", str(tmp_path)])
    assert r.exit_code == 1 and "cannot read the sweep spec" in r.output
    r = CliRunner().invoke(main, ["sweep", str(spec), "--out", str(tmp_path / "o"),
                                  "--cpus-per-fold", "2"])
    assert r.exit_code == 2 and "need --executor ray" in r.output


def _other_value(param):
    """A valid value of a train option other than its default."""
    if param.name in ("pitch", "pitch_head_only"):     # unset: on, for the head alone
        return False
    if param.is_flag:
        return not param.default
    if isinstance(param.type, click.Choice):
        return next(c for c in param.type.choices if c != param.default)
    default = {"cv": "loso", "hrf_sites": "ffn", "speeds": ""}.get(param.name, param.default)
    special = {"cv": "fixed", "hrf_sites": "ffn,attn_in", "speeds": "0.9,1.1",
               "cache_dir": "none", "n_validation": 2, "teachers": ["runs/teacher"],
               "ffn": 48, "n_mels": 40, "fmax": 7000.0, "sample_rate": 22050,
               "stats_head": 0.25}
    if param.name in special:
        return special[param.name]
    if isinstance(param.type, click.types.IntParamType):
        return default + 1
    if isinstance(param.type, click.types.FloatParamType):
        return 0.5 * default if default else 0.5
    raise AssertionError(f"no test value for {param.name}; add one")


def test_a_repeatable_option_takes_a_list_in_base(tmp_path):
    """teacher = [...] in [base]: every item, as paths relative to the spec; any other
    list in [base] is an error."""
    spec = tmp_path / "s.toml"
    text = ('[base]\nmanifest = "m.csv"\nteacher = ["runs/a", "runs/b"]\ndistill = 0.5\n'
            '[grid]\nseed = [0]\n')
    parsed = parse_sweep_spec(text, spec)
    assert parsed.base["teacher"] == [str(tmp_path / "runs/a"), str(tmp_path / "runs/b")]
    with pytest.raises(SpecError, match="single value"):
        parse_sweep_spec(text.replace('distill = 0.5', 'epochs = [1, 2]'), spec)


def test_every_train_option_reaches_the_run_spec(workspace):
    """Each option a spec may set changes the RunSpec: none is dropped on the way (a new
    train option that does not reach run_spec_from_options fails here)."""
    from pyreparam.cli.sweep import run_spec, train_options
    options = train_options()
    base = {"manifest": str(workspace / "corpus" / "manifest.csv"), "hrf": 4}
    reference = run_spec(base, options).to_dict()
    assert run_spec({**base, "hrf": 0}, options).to_dict() != reference
    for key, param in options.items():
        if key in ("manifest", "hrf"):
            continue
        needs = {"distill": {"teacher": ["runs/teacher"]},                 # valid alone
                 "stats-head-select": {"stats-head": 0.5}}.get(key, {})
        changed = run_spec({**base, **needs, key: _other_value(param)}, options).to_dict()
        assert changed != reference, key
        if needs:
            assert changed != run_spec({**base, **needs}, options).to_dict(), key


def test_runs_are_planned_exactly_as_train_builds_them(workspace, tmp_path):
    """The RunSpec of a sweep run is the one `pyreparam train` writes to run.json."""
    sweep = parse_sweep_spec(SPEC.replace("epochs = 4", "epochs = 1"),
                             workspace / "spec.toml")
    planned = plan_runs(sweep)
    assert [p.name for p in planned] == RUNS
    out = tmp_path / "train"
    r = CliRunner().invoke(main, [
        "train", str(workspace / "corpus" / "manifest.csv"), "--cv", "groupkfold:2",
        "--epochs", "1", "--batch-size", "8", "--cache", str(workspace / "cache"),
        "--hrf", "2", "--seed", "1", "--stats-head", "0", "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "run.json").read_text()) == \
        json.loads(json.dumps(planned[3].spec.to_dict()))
    assert planned[0].spec.model_config["hrf"] is None


# --------------------------------------------------------------------------- sweeps

def test_sweep_json_lists_runs_options_status_and_metrics(reference):
    data = json.loads((reference / "sweep.json").read_text())
    assert data["spec"]["grid"] == {"hrf": [0, 2], "seed": [0, 1]}
    for run in data["runs"]:
        results = json.loads((reference / run["name"] / "results.json").read_text())
        assert run["status"] == "done" and run["folds_done"] == run["folds"] == 2
        assert run["options"]["seed"] == run["grid"]["seed"] == results["seed"]
        assert run["metrics"] == metrics_of(results)
        assert run["metrics"]["pooled"]["ua"] == results["pooled"]["ua"]
        assert ("pooled_merged" in run["metrics"]) == (run["grid"]["hrf"] != 0)
        assert "confusion" not in run["metrics"]["pooled"]
    r = CliRunner().invoke(main, ["sweep", str(reference.parent / "spec.toml"),
                                  "--out", str(reference), "--quiet"])
    assert r.exit_code == 0 and "hrf=2,seed=1  done" in r.output       # nothing to do


def test_out_folder_of_another_sweep_or_other_files(workspace, reference, tmp_path):
    other = tmp_path / "other.toml"
    other.write_text(SPEC.replace("seed = [0, 1]", "seed = [0, 1, 2]").replace(
        "corpus/", f"{workspace}/corpus/").replace('"cache"', f'"{workspace}/cache"'))
    r = CliRunner().invoke(main, ["sweep", str(other), "--out", str(reference)])
    assert r.exit_code == 1 and r.output.count("\n") == 1
    assert "holds a different sweep ([grid] seed: [0, 1, 2] in the spec, [0, 1] in its " \
           "sweep.json)" in r.output
    r = CliRunner().invoke(main, ["sweep", str(other), "--out", str(workspace / "corpus")])
    assert r.exit_code == 1 and "not empty and holds no sweep.json" in r.output


def test_evaluations_are_read_generically():
    results = {"pooled": {"ua": 0.5, "wa": 0.6, "confusion": [[1]], "fold_mean": {"ua": 0.4}},
               "pooled_merged": {"ua": 0.5},
               "protocols": {"speaker": {"ua": 0.5, "macro_f1": 0.4},
                             "causal": {"ua": 0.3, "curve": [0.1, 0.2], "orders": 5}},
               "params": 10}
    assert list(evaluations(results)) == ["pooled", "pooled_merged", "protocols.speaker",
                                          "protocols.causal"]
    assert metrics_of(results)["protocols.causal"] == {"ua": 0.3, "orders": 5}
    assert metrics_of(results)["pooled"] == {"ua": 0.5, "wa": 0.6, "fold_mean": {"ua": 0.4}}


@pytest.mark.slow
def test_kill_9_then_resume_ends_like_an_uninterrupted_sweep(workspace, reference, killed):
    r = _sweep(workspace, killed, "--jobs", "2")
    assert "hrf=2,seed=1  done" in r.stdout
    assert _metrics(killed) == _metrics(reference)
    _same_models(reference, killed)


# --------------------------------------------------------------------------- Ray

def _remote_messages(corpus, arguments) -> list:
    return list(executors.train_fold_task_remotely(corpus, arguments, {}, 0.0))


def test_the_ray_task_ships_checkpoints_and_the_fold(workspace, reference, tmp_path):
    """The generator Ray runs, called here directly: with checkpoint_seconds=0 every
    epoch's state comes back, then every file of the fold; the fold is the reference's."""
    run = reference / "hrf=2,seed=1"
    spec = run_module.RunSpec(**json.loads((run / "run.json").read_text()))
    corpus = run_module.load_corpus(spec)
    fold = json.loads((run / "folds.json").read_text())["folds"][1]
    arguments = {"fold": fold, "spec": spec.to_dict(), "fold_dir": str(tmp_path / "fold_01"),
                 "label": "", "quiet": True}
    # in a worker process with one BLAS thread, as the sweep's folds train (a different
    # thread count sums in another order: other bits)
    with run_module._threads_per_worker(1), concurrent.futures.ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("spawn")) as pool:
        messages = pool.submit(_remote_messages, corpus, arguments).result()
    kinds = [m[0] for m in messages]
    assert kinds[-1] == "done" and kinds.count("checkpoint") >= 2
    assert all(set(m[1]) <= {"state.npz", "log.csv"} for m in messages[:-1])
    _, files, result = messages[-1]
    assert {"result.json", "model.npz", "model_merged.npz", "log.csv"} <= set(files)
    assert "state.npz" not in files
    assert files["model.npz"] == (run / "fold_01" / "model.npz").read_bytes()
    executors.write_files(tmp_path / "fold_01", {**messages[-2][1]})
    executors.write_files(tmp_path / "fold_01", files, stale=("state.npz",))
    assert not (tmp_path / "fold_01" / "state.npz").exists()
    assert json.loads((tmp_path / "fold_01" / "result.json").read_text())["test"] == \
        result["test"]


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray")
    executors.init_ray(ray, num_cpus=2, include_dashboard=False, logging_level="WARNING",
                       runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_executor_trains_the_same_folds_as_local_processes(workspace, reference, killed,
                                                               ray_instance):
    """The killed sweep (a fold with a state.npz, the other folds and runs not started)
    continued on a local 2-CPU Ray instance ends with the metrics and the weights of
    the sweep trained by local processes."""
    out = workspace / "killed-copy"
    assert list(out.glob("*/fold_*/state.npz")) and not (out / RUNS[-1]).exists()
    pool = executors.RayExecutor(cpus_per_fold=1, checkpoint_seconds=0.0)
    assert pool.slots == 2
    _run_in_process(workspace, out, pool)
    assert _metrics(out) == _metrics(reference)
    _same_models(reference, out)


# --------------------------------------------------------------------------- compare

def test_compare_a_sweep(reference, tmp_path):
    r = CliRunner().invoke(main, ["compare", str(reference), "--json", "--bootstrap", "500"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    (pair,) = report["pairs"]
    assert (pair["option"], pair["a"], pair["b"], pair["seeds"]) == ("hrf", "none", "r=2", [0, 1])
    assert pair["n_utterances"] == 48
    rows = {row["metric"]: row for row in pair["metrics"]}
    assert set(rows) == {"ua", "wa", "macro_f1", "recall.anger", "recall.happiness",
                         "recall.neutral", "recall.sadness"}
    results = {name: json.loads((reference / name / "results.json").read_text())["pooled"]
               for name in RUNS}
    per_seed = [100 * (results[f"hrf=2,seed={s}"]["ua"] - results[f"hrf=0,seed={s}"]["ua"])
                for s in (0, 1)]
    assert rows["ua"]["per_seed"] == pytest.approx(per_seed)
    lo, hi = rows["ua"]["seeds_ci"]
    assert lo < rows["ua"]["difference"] < hi
    lo, hi = rows["ua"]["bootstrap_ci"]
    assert lo <= rows["ua"]["difference"] <= hi
    text = CliRunner().invoke(main, ["compare", str(reference / "hrf=0,seed=0"),
                                     str(reference / "hrf=2,seed=0"), "--bootstrap", "200"])
    assert text.exit_code == 0 and "hrf: A = none, B = r=2" in text.output
    assert "over utterances (bootstrap)" in text.output


def test_compare_plot_and_errors(reference, tmp_path, monkeypatch):
    r = CliRunner().invoke(main, ["compare", str(tmp_path)])
    assert r.exit_code == 1 and "neither a sweep" in r.output
    r = CliRunner().invoke(main, ["compare", str(reference), "--evaluation", "protocols.x"])
    assert r.exit_code == 1 and "no evaluation 'protocols.x'" in r.output
    png = tmp_path / "pairs.png"
    if _has("matplotlib"):
        r = CliRunner().invoke(main, ["compare", str(reference), "--plot", str(png),
                                      "--bootstrap", "100"])
        assert r.exit_code == 0, r.output
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    monkeypatch.setitem(sys.modules, "matplotlib", None)           # as if not installed
    r = CliRunner().invoke(main, ["compare", str(reference), "--plot", str(tmp_path / "x.png")])
    assert r.exit_code == 1 and "pip install 'pyreparam[plot]'" in r.output


def _has(module: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(module) is not None


def test_ray_errors_are_one_line(workspace, tmp_path, monkeypatch):
    with pytest.raises(executors.ExecutorError, match="cannot reach Ray at 127.0.0.1:1"):
        executors._check_reachable("127.0.0.1:1")     # before ray.init would retry
    args = ["sweep", str(workspace / "spec.toml"), "--out", str(tmp_path / "o"),
            "--executor", "ray"]
    monkeypatch.setitem(sys.modules, "ray", None)                   # as if not installed
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 1 and "pip install 'pyreparam[cluster]'" in r.output
    assert not (tmp_path / "o").exists()
