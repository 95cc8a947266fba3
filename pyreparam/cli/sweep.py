"""Commands ``sweep`` (a grid of train runs, on local processes or Ray) and ``compare``."""
from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

import click

from pyreparam.cli.train import run_spec_from_options, train_command
from pyreparam.cli.types import FiniteFloat
from pyreparam.data.manifest import ManifestError
from pyreparam.sweep.spec import SpecError, SweepSpec, read_sweep_spec

#: train's options that the sweep sets itself (or that make no sense in a spec).
SET_BY_SWEEP = ("out", "resume", "jobs", "quiet")


@click.command("sweep")
@click.argument("spec_file", metavar="SPEC.toml", type=click.Path(dir_okay=False))
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Sweep folder: one run folder per grid point and sweep.json. Run the "
                   "same command again to continue an interrupted sweep.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local",
              show_default=True, help="Where folds train: local processes, or Ray tasks.")
@click.option("--jobs", type=click.IntRange(1), default=None,
              help="Folds trained at the same time (of any runs) [default: 1 locally; "
                   "with Ray, the cluster's CPUs / --cpus-per-fold].")
@click.option("--ray-address", default=None,
              help="Ray cluster to use: auto (the cluster this machine joined with `ray "
                   "start`) or HOST:PORT of its head [default: start a local Ray].")
@click.option("--cpus-per-fold", type=FiniteFloat(0, min_open=True), default=None,
              help="CPUs (and BLAS threads) each Ray fold task asks for [default: 1].")
@click.option("--checkpoint-seconds", type=FiniteFloat(0), default=30.0,
              show_default=True, help="With Ray: how often a fold's training state is "
                                      "copied to the sweep folder (a killed sweep resumes "
                                      "from it).")
@click.option("--quiet", is_flag=True, help="No progress bars; only the final table.")
def sweep_command(spec_file, out_dir, executor, jobs, ray_address, cpus_per_fold,
                  checkpoint_seconds, quiet):
    """Train a grid of `pyreparam train` runs described by SPEC.toml.

    \b
    [base]                        # train options by their long names
    manifest = "emodb.csv"        # relative to SPEC.toml
    backbone = "convtransformer"
    size = "light"
    cv = "loso"
    [grid]                        # lists; the sweep runs their product
    hrf = [0, 4]                  # 0: no HRF
    seed = [0, 1, 2]

    Every run gets a folder of DIR named after its grid values (hrf=4,seed=1) and is
    an ordinary train run folder; DIR/sweep.json lists every run with its options,
    status and pooled metrics (every evaluation the trainer reports). The folds of all
    runs share the executor: --jobs local processes, or Ray tasks of --cpus-per-fold
    CPUs each (results are written by this process, so the workers may be other
    machines that have pyreparam but no data). Folds train bit for bit as with
    `pyreparam train`. An interrupted sweep continues when the same command is run
    again: finished runs and folds are kept, unfinished folds resume.
    """
    from pyreparam.sweep.executors import ExecutorError, LocalExecutor, RayExecutor
    from pyreparam.sweep.runner import SweepError, check_out_dir, format_sweep, run_sweep
    if executor == "local" and (ray_address or cpus_per_fold):
        raise click.UsageError("--ray-address and --cpus-per-fold need --executor ray")
    try:
        sweep = read_sweep_spec(spec_file)
        runs = plan_runs(sweep)
        check_out_dir(Path(out_dir), sweep.to_dict())
    except (SpecError, SweepError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        if executor == "ray":
            pool = RayExecutor(ray_address, cpus_per_fold=cpus_per_fold or 1, jobs=jobs,
                               checkpoint_seconds=checkpoint_seconds)
        else:
            pool = LocalExecutor(jobs or 1)
    except ExecutorError as exc:
        raise click.ClickException(str(exc)) from None
    described = ", ".join(f"{k} {v}" for k, v in pool.describe().items() if k != "executor")
    click.echo(f"sweep {spec_file}: {len(runs)} run(s) into {out_dir} "
               f"({executor}: {described})")
    try:
        with pool:
            data = run_sweep(sweep.to_dict(), os.path.abspath(spec_file), runs, out_dir,
                             pool, quiet=quiet, log=click.echo)
    except SweepError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        raise click.ClickException("interrupted; run the same command again to "
                                   "continue") from None
    click.echo("")
    click.echo(format_sweep(data))
    click.echo(f"\n{os.path.join(out_dir, 'sweep.json')}")
    failed = [r["name"] for r in data["runs"] if r["status"] != "done"]
    if failed:
        raise click.ClickException(f"{len(failed)} run(s) did not finish: "
                                   f"{', '.join(failed)}; run the same command again to "
                                   "retry them")


# --------------------------------------------------------------------------- spec -> runs

def plan_runs(sweep: SweepSpec) -> list:
    """Every run of the spec with its RunSpec, built by `pyreparam train`'s own option
    parser (names, types, ranges, choices) and ``run_spec_from_options``, its --cv
    checked against the manifest's speakers; SpecError otherwise."""
    from pyreparam.sweep.runner import PlannedRun, check_folds
    options = train_options()
    for table, keys in (("base", sweep.base), ("grid", sweep.grid)):
        for key in keys:
            if key in SET_BY_SWEEP:
                raise SpecError(f"{sweep.path}: [{table}] {key}: set by the sweep command "
                                f"(--{key}), not in a spec")
            if key not in options:
                close = difflib.get_close_matches(key, list(options), n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise SpecError(f"{sweep.path}: [{table}] {key}: not an option of "
                                f"pyreparam train{hint}")
    if "manifest" not in sweep.base and "manifest" not in sweep.grid:
        raise SpecError(f"{sweep.path}: no manifest (set manifest = \"corpus.csv\" in [base])")
    planned = []
    for run in sweep.runs:
        try:
            spec = run_spec(run.options, options)
        except click.ClickException as exc:
            raise SpecError(f"{sweep.path}: {_where(exc, run, sweep, options)}"
                            f"{exc.format_message()}") from None
        except ManifestError as exc:
            raise SpecError(f"{sweep.path}: {_key(run, sweep, 'manifest')}{exc}") from None
        except ValueError as exc:
            raise SpecError(f"{sweep.path}: run {run.name}: {exc}") from None
        try:
            check_folds(spec)
        except ValueError as exc:
            raise SpecError(f"{sweep.path}: {_key(run, sweep, 'cv')}{exc}") from None
        planned.append(PlannedRun(run.name, run.options, run.grid, spec))
    return planned


def train_options() -> dict[str, click.Parameter]:
    """train's parameters by the names a spec uses: long option names without the
    dashes, and ``manifest``."""
    options = {}
    for param in train_command.params:
        if any(opt[2:] in SET_BY_SWEEP for opt in param.opts):
            continue
        if isinstance(param, click.Argument):
            options[param.name] = param
        for opt in param.opts:
            if opt.startswith("--"):
                options[opt[2:]] = param
    return options


def run_spec(values: dict, options: dict[str, click.Parameter]):
    """The RunSpec `pyreparam train` builds from these spec options: they become train's
    command line, parsed by train's parser and turned into a RunSpec by train's
    ``run_spec_from_options``."""
    argv, positional = [], []
    for key, value in values.items():
        param = options[key]
        if isinstance(param, click.Argument):
            positional.append(str(value))
        elif key == "hrf" and value in (0, "0", "none"):
            continue                                    # hrf = 0: no HRF
        elif getattr(param, "is_flag", False):
            if not isinstance(value, bool):
                raise click.BadParameter(f"must be true or false, got {value!r}",
                                         param=param)
            if value or param.secondary_opts:
                argv.append(f"--{key}" if value else param.secondary_opts[0])
        elif isinstance(value, bool):
            raise click.BadParameter(f"takes a value, not {str(value).lower()}", param=param)
        elif getattr(param, "multiple", False):            # e.g. teacher = ["a", "b"]
            for item in value if isinstance(value, list) else [value]:
                argv += [f"--{key}", str(item)]
        else:
            argv += [f"--{key}", repr(value) if isinstance(value, float) else str(value)]
    ctx = train_command.make_context("train", argv + ["--"] + positional)
    return run_spec_from_options(ctx.params)


def _where(exc: click.ClickException, run, sweep: SweepSpec, options) -> str:
    """Which spec key a train option error comes from: '[grid] size = "huge": '."""
    param = getattr(exc, "param", None)
    keys = [key for key in run.options if param is not None and options[key] is param]
    return _key(run, sweep, keys[0] if keys else None)


def _key(run, sweep: SweepSpec, key: str | None) -> str:
    if key not in run.options:
        return f"run {run.name}: "
    table = "grid" if key in sweep.grid else "base"
    return f"[{table}] {key} = {json.dumps(run.options[key])}: "



@click.command("compare")
@click.argument("dirs", nargs=-1, required=True, metavar="DIR...",
                type=click.Path(exists=True, file_okay=False))
@click.option("--evaluation", default="pooled", show_default=True,
              help="Which evaluation of results.json: pooled, pooled_merged (the deployed "
                   "model; a run without HRF counts with its pooled), or a protocol (e.g. "
                   "protocols.causal) when the runs report it.")
@click.option("--bootstrap", "replicates", type=click.IntRange(0), default=2000,
              show_default=True, help="Bootstrap replicates (0: no utterance bootstrap).")
@click.option("--bootstrap-seed", type=int, default=0, show_default=True,
              help="Seed of the bootstrap draws (the output is reproducible).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="Draw the paired differences into this image (PNG; needs matplotlib, "
                   "the 'plot' extra).")
def compare_command(dirs, evaluation, replicates, bootstrap_seed, as_json, plot_path):
    """Paired differences between runs that differ in exactly one option.

    DIR is a sweep folder (its finished runs) or a `pyreparam train` run folder. Runs
    with the same options except the seed are one variant; two variants are paired
    when they differ in exactly one option (backbone, size, hrf, dropout, a training
    option, a feature setting) and share the manifest and cv, on their common seeds whose
    folds are identical. For each pair, B - A (A: the smaller value, or no HRF) of
    UA, WA, macro-F1 and each class's recall, in percentage points, pooled over the
    folds, as the mean over seeds of the per-seed paired differences d_s, with two 95 %
    intervals:

    
    over seeds: mean(d_s) +- t(0.975, S-1) sd(d_s) / sqrt(S), the spread of
      retraining with other seeds (needs 2 seeds or more);
    over utterances: paired percentile bootstrap; each replicate draws the test
      utterances with replacement (the same draw for A and B and for every seed),
      recomputes the pooled metrics from the folds' per-utterance predictions and
      takes the mean over seeds of B - A (the pooled evaluation only).

    Utterances of one speaker are correlated, so the utterance interval is
    optimistic; no correction is made for comparing many pairs.
    """
    from pyreparam.sweep.compare import CompareError, compare_runs, format_report, load_runs
    from pyreparam.sweep.plot import PlotError, plot_report
    try:
        notes: list[str] = []
        report = compare_runs(load_runs(list(dirs), notes), evaluation=evaluation,
                              replicates=replicates, seed=bootstrap_seed, notes=notes)
        if plot_path:
            plot_report(report, plot_path)
    except (CompareError, PlotError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(report, indent=1) if as_json else format_report(report))
    if plot_path and not as_json:
        click.echo(f"\nplot: {plot_path}")
