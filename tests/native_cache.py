"""Builds of the C runtime per SIMD level for the tests (and tools/ benchmarks), kept
between runs in the git-ignored build/simd-cache/ under a digest of every build input.

    build_ffi = load_build_ffi()                  # csrc/build_ffi.py, imported by path
    module = cached_build("avx2")                 # .ffi, .lib; compiled only when stale
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "build" / "simd-cache"


def load_build_ffi():
    """csrc/build_ffi.py as a module (importing it runs no probe and builds nothing)."""
    spec = importlib.util.spec_from_file_location("build_ffi", ROOT / "csrc" / "build_ffi.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_ffi = load_build_ffi()


def build_key(level: str) -> str:
    """A digest of everything a build at ``level`` depends on: the csrc/ sources and
    build script, the compile arguments, the compiler, the Python ABI and cffi."""
    import cffi

    digest = hashlib.sha256()
    csrc = ROOT / "csrc"
    for path in sorted(csrc.rglob("*")):
        if path.is_file() and path.suffix in (".c", ".h", ".py"):
            digest.update(str(path.relative_to(csrc)).encode() + b"\0" + path.read_bytes())
    digest.update(repr((level, build_ffi._compile_args(), build_ffi._compiler(),
                        sysconfig.get_config_var("EXT_SUFFIX"), cffi.__version__)).encode())
    return digest.hexdigest()[:20]


def _built(folder: Path, name: str) -> list[Path]:
    return sorted(folder.glob(name + ".*.so")) + sorted(folder.glob(name + ".*.pyd"))


def cached_build(simd: str, cache: str | os.PathLike = CACHE):
    """:func:`build_ffi.build_module` at SIMD level ``simd``, one build per
    :func:`build_key` in ``cache``: a later call with unchanged inputs only imports it.
    A new build is published atomically (a racing build may win) and replaces the
    level's earlier ones."""
    level = build_ffi.resolve_simd(simd)
    name = f"_pyreparam_native_{level}"
    cache = Path(cache)
    target = cache / f"{level}-{build_key(level)}"
    if not _built(target, name):
        cache.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=cache))
        build_ffi.compile_module(level, work)
        try:
            os.replace(work, target)
        except OSError:
            shutil.rmtree(work, ignore_errors=True)
        for stale in cache.glob(f"{level}-*"):
            if stale != target:
                shutil.rmtree(stale, ignore_errors=True)
    return build_ffi._import_extension(name, _built(target, name)[0])
