"""Sweep specifications: a grid of ``pyreparam train`` runs written as a small TOML file.

    [base]                          options shared by every run, by train's long names
    manifest = "emodb.csv"          relative paths are relative to the spec file
    backbone = "convtransformer"
    size = "light"
    cv = "loso"

    [grid]                          every key maps to a list; the sweep runs the product
    hrf = [0, 4]                    hrf = 0: no HRF
    seed = [0, 1, 2]

Option names may be written with hyphens or underscores (``batch-size``,
``batch_size``); they are stored with hyphens. This module only checks the file's
shape (tables, lists, scalar values, no key twice); whether a name is a train option
and a value valid for it is checked by the command line, through ``pyreparam train``'s
own option parser.

Every run of the grid gets a folder named after its grid values, in grid order:
``hrf=4,seed=1`` (a run without grid keys is ``run``). Characters other than letters,
digits and ``. _ + -`` become ``-``, and a manifest is named by its file stem.
"""
from __future__ import annotations

import dataclasses
import itertools
import os
import re
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:         # Python 3.10
    import tomli as tomllib

#: Options whose values are paths, resolved against the spec file's folder.
PATH_OPTIONS = ("manifest", "cache", "teacher")
#: Values of PATH_OPTIONS that are not paths.
NOT_PATHS = ("none",)


class SpecError(ValueError):
    """A sweep spec that cannot be run (the message names the file and the key)."""


@dataclasses.dataclass(frozen=True)
class SweepRun:
    """One run of the grid: its folder name, all its options, and its grid values."""

    name: str
    options: dict[str, Any]
    grid: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """A parsed spec: base options, grid lists (paths resolved) and the runs."""

    path: str
    base: dict[str, Any]
    grid: dict[str, list[Any]]
    runs: tuple[SweepRun, ...]

    def to_dict(self) -> dict[str, Any]:
        """What identifies the sweep (stored in sweep.json): the two tables."""
        return {"base": self.base, "grid": self.grid}


def read_sweep_spec(path: str | os.PathLike) -> SweepSpec:
    """Parse a sweep spec file; raises SpecError with a one-line message."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"{path}: cannot read the sweep spec ({exc.strerror})") from None
    return parse_sweep_spec(text, path)


def parse_sweep_spec(text: str, path: str | os.PathLike) -> SweepSpec:
    """Parse the TOML ``text`` of the spec file ``path`` (paths resolve against its
    folder)."""
    path = Path(path)
    try:
        tables = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(tables) - {"base", "grid"})
    if unknown:
        raise SpecError(f"{path}: unknown table(s) or key(s) {unknown}; a sweep spec has "
                        "a [base] table of options and a [grid] table of lists")
    base = _options(tables.get("base", {}), path, "base")
    grid = _options(tables.get("grid", {}), path, "grid")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise SpecError(f"{path}: [grid] {key} must be a non-empty list of values")
        for value in values:
            _check_scalar(value, path, f"[grid] {key}")
        if len(set(map(repr, values))) != len(values):
            raise SpecError(f"{path}: [grid] {key} lists a value twice: {values}")
    for key, value in base.items():
        if isinstance(value, list) and key in REPEATABLE:     # e.g. teacher = ["a", "b"]
            for item in value:
                _check_scalar(item, path, f"[base] {key}")
            continue
        _check_scalar(value, path, f"[base] {key}")
    both = sorted(set(base) & set(grid))
    if both:
        raise SpecError(f"{path}: {both} in both [base] and [grid]; keep each option in one")
    folder = path.resolve().parent
    base = {k: _resolve(k, v, folder) for k, v in base.items()}
    grid = {k: [_resolve(k, v, folder) for v in vs] for k, vs in grid.items()}
    return SweepSpec(str(path), base, grid, tuple(_expand(base, grid)))


def _options(table: Any, path: Path, name: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise SpecError(f"{path}: [{name}] must be a table")
    options: dict[str, Any] = {}
    for key, value in table.items():
        canonical = key.replace("_", "-")
        if canonical in options:
            raise SpecError(f"{path}: [{name}] sets {canonical} twice")
        options[canonical] = value
    return options


#: train options given more than once (a list in [base]: every item, in order)
REPEATABLE = ("teacher",)


def _check_scalar(value: Any, path: Path, where: str) -> None:
    if isinstance(value, (list, dict)):
        raise SpecError(f"{path}: {where} must be a single value (a string, number or "
                        "boolean); lists belong in [grid] (only "
                        f"{', '.join(REPEATABLE)} takes a list in [base])")
    if not isinstance(value, (str, int, float, bool)):
        raise SpecError(f"{path}: {where}: unsupported value {value!r}")


def _resolve(key: str, value: Any, folder: Path) -> Any:
    if isinstance(value, list):
        return [_resolve(key, item, folder) for item in value]
    if key in PATH_OPTIONS and isinstance(value, str) and value not in NOT_PATHS:
        return os.path.normpath(folder / os.path.expanduser(value))
    return value


def _expand(base: dict, grid: dict) -> list[SweepRun]:
    runs, names = [], set()
    for values in itertools.product(*grid.values()):
        point = dict(zip(grid, values))
        name = run_name(point)
        unique, n = name, 2
        while unique in names:           # two values that read alike after cleaning
            unique, n = f"{name}-{n}", n + 1
        names.add(unique)
        runs.append(SweepRun(unique, {**base, **point}, point))
    return runs


def run_name(point: dict[str, Any]) -> str:
    """The folder name of a grid point, e.g. ``hrf=4,seed=1``."""
    if not point:
        return "run"
    parts = []
    for key, value in point.items():
        if key in PATH_OPTIONS and isinstance(value, str) and value not in NOT_PATHS:
            value = Path(value).stem
        elif isinstance(value, bool):
            value = str(value).lower()
        parts.append(f"{key}={re.sub(r'[^A-Za-z0-9._+-]', '-', str(value))}")
    return ",".join(parts)
