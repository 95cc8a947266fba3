"""The extension's CPU and staleness checks, and the model runner in every build.

pr_build_cpu_ok says whether this CPU runs what a build compiled (1 for the portable
build; the x86 SIMD builds ask the CPU), and pyreparam.native refuses a build it
cannot run with NativeUnavailableError instead of dying of an illegal instruction.
The model runner (with its attention schedules: query blocks, head batches, Q/K/V of
all heads) must give the NumPy reference's integers through the portable build and
every SIMD build this machine runs (builds cached in build/simd-cache/, shared with
tests/test_quant_simd.py).
"""
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from pyreparam import native
from pyreparam.models import make_config
from pyreparam.quant.program import OP_MHA, check_arena, mha_scratch_bytes, plan_arena
from pyreparam.quant.prq import write_prq
from pyreparam.quant.qmodel import run_program

from native_cache import build_ffi, cached_build
from quant_helpers import quantized, random_int8


needs_c = pytest.mark.skipif(not native.available(), reason="C extension not built")
LEVELS = ["none"] + [lv for lv in build_ffi.SIMD_LEVELS[1:] if build_ffi.probe(lv)]


@pytest.fixture(scope="module")
def builds():
    """{level: cffi module} for the portable build and every level this machine runs."""
    return {lv: cached_build(lv) for lv in LEVELS}


@needs_c
def test_installed_build_runs_here():
    ffi, lib = native.handle()
    assert lib.pr_build_cpu_ok() == 1
    assert native._cpu_problem(lib, ffi) is None


def _fake_lib(ok: int, build: bytes):
    lib = SimpleNamespace(pr_build_cpu_ok=lambda: ok, pr_build_info=lambda: build)
    ffi = SimpleNamespace(string=lambda b: b)
    return lib, ffi


def test_cpu_problem_names_the_build_and_the_fix():
    assert native._cpu_problem(*_fake_lib(1, b"simd=avx512vnni")) is None
    assert native._cpu_problem(None, None) is None
    text = native._cpu_problem(*_fake_lib(0, b"simd=avx512vnni"))
    assert "simd=avx512vnni" in text and "does not support" in text
    assert "PYREPARAM_SIMD=none" in text


def test_refuses_a_build_this_cpu_cannot_run(monkeypatch):
    """With the check failing, the wrappers raise NativeUnavailableError (an
    ImportError) with the reason, and available() is False."""
    text = native._cpu_problem(*_fake_lib(0, b"simd=avx512vnni"))
    monkeypatch.setattr(native, "_lib", None)
    monkeypatch.setattr(native, "_CPU_PROBLEM", text)
    assert not native.available()
    with pytest.raises(native.NativeUnavailableError, match="does not support"):
        native.lib()
    w = np.ones((2, 3))
    with pytest.raises(ImportError, match="simd=avx512vnni"):
        native.hrf_fold(w, None, [(np.ones((3, 4)), None)])
    from pyreparam.quant.runtime import PRQModel
    with pytest.raises(native.NativeUnavailableError):
        PRQModel(b"PRQM")


def test_stale_sources_in_a_source_checkout(tmp_path):
    """An editable install's extension is older than an edited C source: that source
    is named (not the Cortex-M variants of csrc/arm/, never in a host build); an
    extension newer than every source, or one outside a source checkout (no
    csrc/build_ffi.py beside the package), gives nothing."""
    package, csrc = tmp_path / "pyreparam", tmp_path / "csrc"
    package.mkdir()
    (csrc / "arm").mkdir(parents=True)
    so = package / "_native.abi3.so"
    files = [csrc / "build_ffi.py", csrc / "pr_add.c", csrc / "pr_mm_internal.h",
             csrc / "arm" / "pr_add_s16_dsp.c", csrc / "notes.txt", so]
    for i, path in enumerate(files):
        path.write_text("")
        os.utime(path, (1000 + i, 1000 + i))
    assert native._stale_sources(str(so)) == []
    os.utime(csrc / "pr_mm_internal.h", (2000, 2000))
    os.utime(csrc / "arm" / "pr_add_s16_dsp.c", (2000, 2000))   # a Cortex-M variant
    os.utime(csrc / "notes.txt", (2000, 2000))          # not a C source
    assert native._stale_sources(str(so)) == [csrc / "pr_mm_internal.h"]
    (csrc / "build_ffi.py").unlink()
    assert native._stale_sources(str(so)) == []


@needs_c
def test_cpu_check_of_every_build(builds):
    """Every level this machine builds and runs says so; the portable build always."""
    for level, module in builds.items():
        assert module.lib.pr_build_cpu_ok() == 1, level
        assert module.ffi.string(module.lib.pr_build_info()).decode() == f"simd={level}"
        chosen = {p.name for p in build_ffi.select_sources(level)}
        want = "pr_cpu_check.c" if level == "none" else f"pr_cpu_check_{level}.c"
        assert want in chosen


def _run(module, blob: bytes, x: np.ndarray, arena_bytes: int, n_out: int) -> np.ndarray:
    ffi, lib = module.ffi, module.lib
    buf = np.frombuffer(blob, np.uint8).copy()          # numpy data is 16-byte aligned
    arena = np.zeros(max(arena_bytes, 4) + 16, np.uint8)
    start = -arena.ctypes.data % 16
    arena = arena[start:start + max(arena_bytes, 4)]
    logits = np.zeros(n_out, np.int8)
    x = np.ascontiguousarray(x)
    status = lib.pr_model_run(ffi.cast("uint8_t *", buf.ctypes.data), len(blob),
                              ffi.cast("int8_t *", x.ctypes.data), x.shape[0],
                              ffi.cast("int8_t *", logits.ctypes.data),
                              ffi.cast("uint8_t *", arena.ctypes.data), len(arena))
    assert status == 0, status
    return logits


@needs_c
@pytest.mark.parametrize("backbone", ["convtransformer", "speechformer"])
def test_model_runner_every_build_bitexact(builds, backbone):
    """Small models under several attention schedules (with block tails, one head and
    all heads per call) through each build equal the NumPy reference."""
    if backbone == "speechformer":
        config = make_config("speechformer", "light", width=16, heads=4, ffn=8, n_mels=7,
                             layers=(1, 1, 1), windows=(5, 3, 0), merges=(3, 2),
                             expand=(1, 2), n_classes=4)
    else:
        config = make_config("convtransformer", "light", width=16, heads=2, ffn=12,
                             layers=2, n_mels=6, n_classes=4)
    _, _, _, program, _ = quantized(config, 9, 70, 5, arena_budget=0)
    rng = np.random.default_rng(9)
    xs = [random_int8(rng, T, config.n_mels) for T in (1, 9, 37, 70)]
    want = [run_program(program, x) for x in xs]
    for q_block, all_heads in [(1, 0), (3, 1), (6, 0), (100, 1)]:
        for op in program.ops:
            if op.type == OP_MHA:
                f = op.fields
                x = program.tensors[f["x"]]
                f.update(q_block=min(q_block, x.rows), qkv_all=all_heads,
                         head_batch=f["heads"] if all_heads else 1)
                program.tensors[f["scratch"]].cols = mha_scratch_bytes(
                    x.rows, x.cols, f["heads"], f["window"], f["q_block"], f["head_batch"],
                    f["qkv_all"])
        plan_arena(program)
        check_arena(program)
        blob = write_prq(program, {})
        for level, module in builds.items():
            for x, w in zip(xs, want):
                got = _run(module, blob, x, program.arena_bytes, w.size)
                assert np.array_equal(got, w), (level, q_block, all_heads, x.shape[0])
