"""Running a sweep: one ``pyreparam train`` run per grid point, every fold on one executor.

A sweep folder holds

    sweep.json      the spec's two tables, the executor, and per run: its options and
                    grid values, status (pending, unfinished, running, done, failed,
                    interrupted), finished folds, wall time and the metrics of every
                    evaluation the trainer reports (results.json's "pooled",
                    "pooled_merged" and "protocols" entries, without matrices or curves)
    <run name>/     a ``pyreparam train`` run folder (run.json, folds.json, fold_XX/,
                    results.json), started with :func:`start_run`, continued with
                    :func:`resume_run`
    .sweep.lock     held while a sweep runs in the folder (a second one is refused)

Resuming is running the same sweep again: runs with results.json are kept, the others
continue exactly as ``pyreparam train --resume`` continues them (finished folds are
kept, unfinished ones resume from their state.npz). Runs are started in grid order
whenever the executor has a free place, so the folds of several runs train at once.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import time
from pathlib import Path
from typing import Any

from pyreparam.atomic import atomic_write
from pyreparam.sweep.executors import FoldExecutor
from pyreparam.sweep.spec import SweepRun
from pyreparam.train.fold import RESULT_FILE
from pyreparam.train.run import FOLDS_FILE, RESULTS_FILE, RUN_FILE, RunSpec, resume_run, \
    start_run

SWEEP_FILE = "sweep.json"
LOCK_FILE = ".sweep.lock"
#: Top-level results.json keys that hold evaluations (dicts with ua / wa / macro_f1).
EVALUATION_KEYS = ("pooled", "protocols")


class SweepError(RuntimeError):
    """A sweep cannot start in its folder (another sweep there, a busy folder)."""


@dataclasses.dataclass(frozen=True)
class PlannedRun(SweepRun):
    """One run of the sweep: folder name, options, grid values and its RunSpec."""

    spec: RunSpec


# --------------------------------------------------------------------------- metrics

def evaluations(results: dict) -> dict[str, dict]:
    """Every evaluation in a results.json, by dotted name: "pooled", "pooled_merged",
    "protocols.speaker", ... (the outermost dicts holding "ua" under a key starting
    with "pooled" or "protocols")."""
    found: dict[str, dict] = {}

    def visit(name: str, value: Any) -> None:
        if not isinstance(value, dict):
            return
        if "ua" in value:             # an evaluation (its fold_mean is not another one)
            found[name] = value
            return
        for key, sub in value.items():
            visit(f"{name}.{key}", sub)
    for key, value in results.items():
        if key.startswith(EVALUATION_KEYS):
            visit(key, value)
    return found


def _scalars(d: dict) -> dict:
    """Numbers of an evaluation, nested dicts of numbers kept, lists dropped."""
    out = {}
    for k, v in d.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[k] = v
        elif isinstance(v, dict) and (sub := _scalars(v)):
            out[k] = sub
    return out


def metrics_of(results: dict) -> dict[str, dict]:
    """The scalar metrics of every evaluation in a results.json (see evaluations)."""
    return {name: _scalars(value) for name, value in evaluations(results).items()}


# --------------------------------------------------------------------------- sweep.json

def _normalized(value: Any) -> Any:
    return json.loads(json.dumps(value))


def check_out_dir(out: Path, sweep: dict) -> dict | None:
    """The sweep.json stored in ``out`` when it holds this sweep, None for a new or
    empty folder; SweepError when it holds another sweep or other files."""
    path = out / SWEEP_FILE
    if path.exists():
        stored = json.loads(path.read_text())
        mine = _normalized(sweep)
        if stored.get("spec") != mine:
            raise SweepError(f"{out} holds a different sweep "
                             f"({_difference(stored.get('spec') or {}, mine)}); "
                             "choose another --out")
        return stored
    if out.is_dir() and any(p.name != LOCK_FILE for p in out.iterdir()):
        raise SweepError(f"{out} is not empty and holds no {SWEEP_FILE}; choose another "
                         "--out")
    return None


def _difference(stored: dict, mine: dict) -> str:
    for table in ("base", "grid"):
        a, b = stored.get(table, {}), mine.get(table, {})
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                shown = lambda d: json.dumps(d[key]) if key in d else "not set"
                return f"[{table}] {key}: {shown(b)} in the spec, {shown(a)} in its {SWEEP_FILE}"
    return "different spec"


class SweepRecord:
    """sweep.json, rewritten atomically after every change (runs update it from their
    own threads)."""

    def __init__(self, out: Path, sweep: dict, spec_file: str, runs: list[PlannedRun],
                 executor: dict, stored: dict | None):
        self.path = out / SWEEP_FILE
        self.lock = threading.Lock()
        self.interrupted = False
        before = {r["name"]: r for r in (stored or {}).get("runs", [])}
        self.data = {"format": 1, "spec_file": spec_file, "spec": _normalized(sweep),
                     "executor": executor, "runs": []}
        self.index = {}
        for run in runs:
            entry = {"name": run.name, "options": run.options, "grid": run.grid,
                     **_state_on_disk(out / run.name)}
            if entry["status"] != "done" and before.get(run.name, {}).get("error"):
                entry["error"] = before[run.name]["error"]
            self.index[run.name] = entry
            self.data["runs"].append(entry)
        self.write()

    def status(self, name: str) -> str:
        return self.index[name]["status"]

    def set(self, name: str, **fields) -> None:
        with self.lock:
            self.index[name].update(fields)
            self.write()

    def fold_done(self, name: str) -> None:
        with self.lock:
            self.index[name]["folds_done"] += 1
            self.write()

    def write(self) -> None:
        self.data["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        text = json.dumps(self.data, indent=1).encode()
        atomic_write(self.path, lambda f: f.write(text))


def _state_on_disk(run_dir: Path) -> dict:
    """Status, folds and metrics of a run folder as the disk has them."""
    if (run_dir / RESULTS_FILE).exists():
        results = json.loads((run_dir / RESULTS_FILE).read_text())
        n = len(results["folds"])
        return {"status": "done", "folds_done": n, "folds": n, "error": None,
                "wall_seconds": results.get("wall_seconds"), "metrics": metrics_of(results)}
    folds = None
    if (run_dir / FOLDS_FILE).exists():
        folds = len(json.loads((run_dir / FOLDS_FILE).read_text())["folds"])
    return {"status": "unfinished" if (run_dir / RUN_FILE).exists() else "pending",
            "folds_done": len(list(run_dir.glob(f"fold_*/{RESULT_FILE}"))), "folds": folds,
            "error": None, "wall_seconds": None, "metrics": {}}


@contextlib.contextmanager
def _exclusive(out: Path):
    """Hold DIR/.sweep.lock (released by the kernel even if the sweep is killed)."""
    try:
        import fcntl
    except ImportError:                           # pragma: no cover - not POSIX
        yield
        return
    with open(out / LOCK_FILE, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SweepError(f"another sweep is running in {out}") from None
        yield


# --------------------------------------------------------------------------- running

def check_folds(spec: RunSpec) -> None:
    """Raise ValueError now if the run's --cv cannot split its manifest's speakers
    (``pyreparam train`` finds out only after loading the audio)."""
    from pyreparam.data.manifest import read_manifest
    from pyreparam.train.splits import make_folds
    utterances = read_manifest(spec.manifest, check_files=False)
    tc = spec.train_config
    make_folds([u.speaker for u in utterances], spec.cv, seed=tc["seed"],
               sessions=[u.session for u in utterances],
               n_validation=tc.get("n_validation", 1))


def run_sweep(sweep: dict, spec_file: str, runs: list[PlannedRun], out_dir,
              executor: FoldExecutor, *, quiet: bool = False, log=print) -> dict:
    """Run (or continue) every run of a sweep in ``out_dir``; returns sweep.json's data.

    A run that fails is recorded as failed (with its error) and the others go on; a
    KeyboardInterrupt stops every fold task, records the interrupted runs and is
    raised again.
    """
    out = Path(out_dir)
    stored = check_out_dir(out, sweep)
    out.mkdir(parents=True, exist_ok=True)
    with _exclusive(out):
        record = SweepRecord(out, sweep, spec_file, runs, executor.describe(), stored)
        todo = [run for run in runs if record.status(run.name) != "done"]
        try:
            if executor.in_process:
                for run in todo:
                    _run_one(run, out, executor, record, quiet, log, threading.Event())
            else:
                _run_concurrently(todo, out, executor, record, quiet, log)
        except KeyboardInterrupt:
            record.interrupted = True
            executor.abort()
            for run in runs:
                if record.status(run.name) == "running":
                    record.set(run.name, status="interrupted")
            raise
        return record.data


def _run_concurrently(todo, out, executor, record, quiet, log) -> None:
    """Start each run in its own thread once the executor has a free place (and the
    previous run has handed its folds over); waits with timeouts, so that Ctrl-C
    reaches this thread."""
    threads = []
    for run in todo:
        while not executor.wait_for_free_slot(timeout=0.5):
            pass
        handed_over = threading.Event()
        thread = threading.Thread(target=_run_one, name=run.name, daemon=True,
                                  args=(run, out, executor, record, quiet, log, handed_over))
        thread.start()
        threads.append(thread)
        while not handed_over.wait(0.5):
            pass
    for thread in threads:
        while thread.is_alive():
            thread.join(0.5)


def _run_one(run: PlannedRun, out: Path, executor: FoldExecutor, record: SweepRecord,
             quiet: bool, log, handed_over: threading.Event) -> None:
    run_dir = out / run.name

    def fold_runner(tasks, jobs):
        folds = json.loads((run_dir / FOLDS_FILE).read_text())["folds"]
        record.set(run.name, folds=len(folds))
        return executor.run_folds(tasks, on_started=handed_over.set,
                                  on_fold=lambda result: record.fold_done(run.name))
    record.set(run.name, status="running")
    options = dict(quiet=quiet, log=lambda message: log(f"[{run.name}] {message}"),
                   label=run.name, fold_runner=fold_runner)
    try:
        if (run_dir / RUN_FILE).exists():
            summary = resume_run(run_dir, **options)
        else:
            summary = start_run(run.spec, run_dir, **options)
    except BaseException as exc:                  # noqa: BLE001 - recorded, sweep goes on
        interrupted = record.interrupted or isinstance(exc, KeyboardInterrupt)
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        record.set(run.name, status="interrupted" if interrupted else "failed",
                   error=None if interrupted else f"{type(exc).__name__}: {message}")
        if not interrupted:
            log(f"[{run.name}] failed: {message}")
        if not isinstance(exc, Exception) and threading.current_thread() is \
                threading.main_thread():
            raise                                 # Ctrl-C of a sweep without threads
        return
    finally:
        handed_over.set()
    record.set(run.name, status="done", error=None, folds_done=len(summary["folds"]),
               folds=len(summary["folds"]), wall_seconds=summary["wall_seconds"],
               metrics=metrics_of(summary))


# --------------------------------------------------------------------------- report

def format_sweep(data: dict) -> str:
    """One line per run: status, folds, pooled UA / WA / macro-F1, and the UA of every
    other evaluation the runs report."""
    names = []
    for run in data["runs"]:
        names += [n for n in run.get("metrics", {}) if n != "pooled" and n not in names]
    names.sort(key=lambda n: not n.startswith("pooled"))      # merged, then protocols
    width = max([len("run")] + [len(r["name"]) for r in data["runs"]]) + 2
    labels = ["UA % " + n.removeprefix("protocols.").replace("pooled_merged", "merged")
              for n in names]
    head = f"{'run':<{width}}{'status':<13}{'folds':>7}{'UA %':>8}{'WA %':>8}{'F1 %':>8}"
    head += "".join(f"{label:>{len(label) + 2}}" for label in labels)
    lines = [head]
    for run in data["runs"]:
        folds = f"{run['folds_done']}/{run['folds'] if run['folds'] is not None else '?'}"
        metrics = run.get("metrics", {})
        pooled = metrics.get("pooled", {})
        line = f"{run['name']:<{width}}{run['status']:<13}{folds:>7}"
        line += "".join(_pct(pooled.get(k), 8) for k in ("ua", "wa", "macro_f1"))
        line += "".join(_pct(metrics.get(n, {}).get("ua"), len(label) + 2)
                        for n, label in zip(names, labels))
        lines.append(line)
        if run.get("error") and run["status"] != "done":
            lines.append(f"{'':<{width}}{run['error']}")
    return "\n".join(lines)


def _pct(value, width: int) -> str:
    return f"{100 * value:>{width}.1f}" if isinstance(value, (int, float)) else f"{'-':>{width}}"
