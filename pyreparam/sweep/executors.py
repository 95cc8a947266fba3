"""Where a sweep's folds are trained: local processes, or the tasks of a Ray cluster.

An executor trains *fold tasks*: the arguments of :func:`pyreparam.train.run._fold_task`,
exactly as a run builds them, so a fold trains bit for bit as in ``pyreparam train``
(same seeds, same per-fold generator; the generator is seeded from the run's seed and
the fold's index, never from where or when the fold runs). Folds of all the sweep's
runs share one pool of ``slots`` places:

    LocalExecutor   --jobs N spawned worker processes (in the calling process when
                    N = 1), each with cpu_count / N BLAS threads, as ``train --jobs``.
                    A worker exits when the sweep's process dies (even by SIGKILL), so
                    a resumed sweep never races a leftover worker.
    RayExecutor     every fold is one Ray task asking for --cpus-per-fold CPUs (and as
                    many BLAS threads). The task trains in a temporary folder of the
                    machine it lands on and sends back, as task results, a copy of the
                    fold's training state every ``checkpoint_seconds`` and at the end
                    all the fold's files and its result; the driver writes them into
                    the fold folder. A worker needs pyreparam installed but no data:
                    the driver reads the audio and ships the features.

Resuming works the same under both: a fold whose result.json exists is finished;
otherwise its state.npz (on the driver's disk) is where it continues.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import inspect
import os
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

from pyreparam.atomic import atomic_write
from pyreparam.train import run as run_module
from pyreparam.train.fold import LOG_FILE, RESULT_FILE, STATE_FILE
from pyreparam.train.workers import process_pool

FoldCallback = Callable[[dict], None]


class ExecutorError(RuntimeError):
    """The executor cannot start (e.g. Ray missing or unreachable)."""


class FoldExecutor:
    """A pool of ``slots`` places for fold tasks, shared by the runs of a sweep.

    ``run_folds(tasks, on_started, on_fold)`` trains one run's unfinished folds and
    returns their results (as ``run_folds`` of :mod:`pyreparam.train.run`); it waits
    for every task of the call, then raises the first fold error, if any. The sweep
    starts another run whenever fewer than ``slots`` fold tasks are unfinished.
    """

    in_process = False

    def __init__(self, slots: int):
        self.slots = max(1, int(slots))
        self._unfinished = 0
        self._changed = threading.Condition()

    def describe(self) -> dict:
        return {"executor": type(self).__name__, "slots": self.slots}

    def wait_for_free_slot(self, timeout: float | None = None) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._unfinished < self.slots, timeout)

    def _count(self, n: int) -> None:
        with self._changed:
            self._unfinished += n
            self._changed.notify_all()

    def run_folds(self, tasks: list[tuple], on_started: Callable[[], None] = lambda: None,
                  on_fold: FoldCallback = lambda result: None) -> list[dict]:
        self._count(len(tasks))
        done = 0

        def finished(result: dict) -> None:
            nonlocal done
            done += 1
            self._count(-1)
            on_fold(result)
        try:
            return self._run(tasks, on_started, finished)
        finally:
            self._count(done - len(tasks))
            on_started()

    def _run(self, tasks, on_started, finished) -> list[dict]:
        raise NotImplementedError

    def abort(self) -> None:
        """Stop every fold task now (Ctrl-C); their last saved state is kept."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _wait_all(futures, finished: FoldCallback) -> list[dict]:
    """Results of all futures; the first error is raised after every task ended."""
    results, errors = [], []
    for future in concurrent.futures.as_completed(futures):
        try:
            result = future.result()
        except BaseException as exc:              # noqa: BLE001 - re-raised below (a
            errors.append(exc)                    # worker's Ctrl-C too)
            continue
        results.append(result)
        finished(result)
    if errors:
        raise errors[0]
    return results


# --------------------------------------------------------------------------- local

class LocalExecutor(FoldExecutor):
    """Folds in ``jobs`` spawned worker processes (jobs = 1: in this process)."""

    def __init__(self, jobs: int = 1):
        super().__init__(jobs)
        self.in_process = jobs <= 1
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._threads = contextlib.ExitStack()

    def describe(self) -> dict:
        return {"executor": "local", "jobs": self.slots}

    def _get_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            threads = max(1, (os.cpu_count() or 1) // self.slots)
            # workers are spawned lazily while tasks arrive: keep the thread limits set
            self._threads.enter_context(run_module._threads_per_worker(threads))
            self._pool = process_pool(self.slots)
        return self._pool

    def _run(self, tasks, on_started, finished) -> list[dict]:
        if self.in_process:
            on_started()
            results = []
            for task in tasks:
                results.append(run_module._fold_task(*task))
                finished(results[-1])
            return results
        futures = [self._get_pool().submit(run_module._fold_task, *task) for task in tasks]
        on_started()
        return _wait_all(futures, finished)

    def abort(self) -> None:
        if self._pool is not None:
            if hasattr(self._pool, "kill_workers"):              # Python 3.14
                self._pool.kill_workers()
            else:
                for process in list((self._pool._processes or {}).values()):
                    process.kill()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._threads.close()


# --------------------------------------------------------------------------- Ray

class RayExecutor(FoldExecutor):
    """Folds as Ray tasks of ``cpus_per_fold`` CPUs; results are written by the driver.

    ``address``: None starts a local Ray instance (with ``jobs * cpus_per_fold`` CPUs,
    or all of this machine's), "auto" joins the cluster this machine belongs to,
    "HOST:PORT" the cluster of that head node. ``jobs``: most folds at a time
    (default: the cluster's CPUs / cpus_per_fold).
    """

    def __init__(self, address: str | None = None, *, cpus_per_fold: float = 1,
                 jobs: int | None = None, checkpoint_seconds: float = 30.0):
        try:
            import ray
        except ImportError:
            raise ExecutorError("--executor ray needs the ray package: pip install "
                                "'pyreparam[cluster]'") from None
        self._ray = ray
        self.cpus_per_fold, self.checkpoint_seconds = cpus_per_fold, checkpoint_seconds
        self._started_ray = False
        if not ray.is_initialized():
            if address:
                _check_reachable(address)
            options = {"address": address} if address else \
                {"num_cpus": int(jobs * cpus_per_fold) if jobs else None}
            try:
                init_ray(ray, **options, include_dashboard=False, logging_level="WARNING")
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ExecutorError(f"cannot start or reach Ray"
                                    f"{' at ' + address if address else ''}: "
                                    f"{str(exc).splitlines()[0]}") from None
            self._started_ray = True
        cpus = ray.cluster_resources().get("CPU", 0)
        if cpus < cpus_per_fold:
            raise ExecutorError(f"the Ray cluster has {cpus:g} CPUs; a fold asks for "
                                f"{cpus_per_fold:g} (--cpus-per-fold)")
        super().__init__(jobs or int(cpus // cpus_per_fold))
        threads = str(max(1, int(cpus_per_fold)))
        self._remote = ray.remote(train_fold_task_remotely).options(
            num_cpus=cpus_per_fold,
            runtime_env={"env_vars": {k: threads for k in run_module.THREAD_VARIABLES}})
        self._generators: set = set()

    def describe(self) -> dict:
        return {"executor": "ray", "slots": self.slots, "cpus_per_fold": self.cpus_per_fold,
                "cluster_cpus": self._ray.cluster_resources().get("CPU", 0)}

    def _run(self, tasks, on_started, finished) -> list[dict]:
        ray = self._ray
        shared: dict[int, object] = {}           # one object-store copy of each corpus
        running = {}
        for task in tasks:
            arguments = inspect.signature(run_module._fold_task).bind(*task).arguments
            corpus = arguments.pop("corpus")
            if id(corpus) not in shared:
                shared[id(corpus)] = ray.put(corpus)
            fold_dir = Path(arguments["fold_dir"])
            generator = self._remote.remote(shared[id(corpus)], arguments,
                                            read_files(fold_dir), self.checkpoint_seconds)
            running[generator] = fold_dir
        self._generators.update(running)
        on_started()
        try:
            return self._collect(running, finished)
        finally:
            self._generators.difference_update(running)

    def _collect(self, running: dict, finished: FoldCallback) -> list[dict]:
        ray = self._ray
        results, errors = [], []
        pending = list(running)
        while pending:
            ready, _ = ray.wait(pending, num_returns=1)
            generator = ready[0]
            try:
                message = ray.get(next(generator))
            except StopIteration:
                pending.remove(generator)
                continue
            except Exception as exc:             # noqa: BLE001 - re-raised below
                pending.remove(generator)
                errors.append(getattr(exc, "cause", None) or exc)
                continue
            kind, files, *result = message
            write_files(running[generator], files, stale=(STATE_FILE,) if kind == "done" else ())
            if kind == "done":
                results.append(result[0])
                finished(result[0])
        if errors:
            raise errors[0]
        return results

    def abort(self) -> None:
        for generator in list(self._generators):
            with contextlib.suppress(Exception):
                self._ray.cancel(generator, force=True)

    def close(self) -> None:
        if self._started_ray:
            self._ray.shutdown()
            self._started_ray = False


def init_ray(ray, **options) -> None:
    """``ray.init`` from a neutral folder: Ray puts the driver's current folder on its
    workers' ``sys.path``, so a sweep started from a clone of this repository (the
    README's commands are) would make the workers import the uninstalled source tree,
    which has no compiled extension, instead of the installed package."""
    here = os.getcwd()
    os.chdir(tempfile.gettempdir())
    try:
        ray.init(**options)
    finally:
        os.chdir(here)


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a HOST:PORT nobody listens on (ray.init would retry for minutes)."""
    host, _, port = address.rpartition(":")
    if address == "auto" or "://" in address or not port.isdigit():
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ExecutorError(f"cannot reach Ray at {address}: {exc.strerror or exc}") from None


def train_fold_task_remotely(corpus, arguments: dict, files: dict[str, bytes],
                             checkpoint_seconds: float) -> Iterator[tuple]:
    """The Ray task of one fold (a generator: Ray streams what it yields).

    Trains ``_fold_task(corpus=corpus, **arguments)`` in a temporary copy of the fold
    folder (``files``: the driver's state.npz and log.csv, if any) and yields
    ``("checkpoint", files)`` whenever a newer training state exists and
    ``checkpoint_seconds`` have passed since the last one, then ``("done", files,
    result)`` with every file of the finished fold.
    """
    with tempfile.TemporaryDirectory(prefix="pyreparam-fold-") as tmp:
        fold_dir = Path(tmp) / Path(arguments["fold_dir"]).name
        write_files(fold_dir, files)
        outcome: dict = {}

        def train():
            try:
                outcome["result"] = run_module._fold_task(
                    **{**arguments, "corpus": corpus, "fold_dir": str(fold_dir)})
            except BaseException as exc:         # noqa: BLE001 - re-raised by the task
                outcome["error"] = exc
        thread = threading.Thread(target=train, name="fold", daemon=True)
        thread.start()
        sent, last = _stamp(fold_dir / STATE_FILE), time.monotonic()
        poll = min(0.5, max(0.01, checkpoint_seconds))
        while thread.is_alive():
            thread.join(timeout=poll)
            stamp = _stamp(fold_dir / STATE_FILE)
            if stamp != sent and time.monotonic() - last >= checkpoint_seconds:
                snapshot = read_files(fold_dir, names=(STATE_FILE, LOG_FILE))
                if STATE_FILE in snapshot:       # gone once the fold has finished
                    yield "checkpoint", snapshot
                sent, last = stamp, time.monotonic()
        if "error" in outcome:
            raise outcome["error"]
        yield "done", read_files(fold_dir), outcome["result"]


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size


# --------------------------------------------------------------------------- files

def read_files(folder: Path, names: tuple[str, ...] | None = None) -> dict[str, bytes]:
    """The files of a fold folder (or only ``names``), by relative path; temporary
    files of an atomic write in progress (hidden names) are left out."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    found = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if not path.is_file() or any(part.startswith(".") for part in relative.split("/")):
            continue
        if names is None or relative in names:
            found[relative] = path.read_bytes()
    return found


def write_files(folder: Path, files: dict[str, bytes], *, stale: tuple[str, ...] = ()) -> None:
    """Write ``files`` atomically into ``folder``, result.json last (a fold is finished
    when it exists), then remove the ``stale`` names that ``files`` does not hold."""
    folder = Path(folder)
    for name in sorted(files, key=lambda n: n == RESULT_FILE):
        data = files[name]
        atomic_write(folder / name, lambda f, data=data: f.write(data))
    for name in set(stale) - set(files):
        (folder / name).unlink(missing_ok=True)
