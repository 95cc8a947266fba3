"""cffi out-of-line API build of the C runtime into ``pyreparam._native``.

Used by setup.py (``cffi_modules``); compiles every ``csrc/*.c`` with the host C
compiler. The declarations given to cffi are the block of ``pyreparam.h`` between
the ``cffi-begin`` and ``cffi-end`` markers, so the header stays the single source
of truth for the API.

SIMD variants (chosen at build time). ``csrc/<arch>/pr_<op>_<level>.c`` (arch: x86 or
aarch64) defines the same public function as the reference ``csrc/pr_<op>.c``, with
bit-identical results; a build with SIMD level L compiles, for each reference file,
its variant of the highest level <= L of L's architecture instead, plus the shared
kernels ``csrc/x86/pr_x86_*_<level>.c`` / ``csrc/aarch64/pr_a64_*_<level>.c`` of every
level <= L (``select_sources``). The level comes from the environment:

    PYREPARAM_SIMD=auto        (default) the best level that the build machine's
                               compiler builds and its CPU runs: a tiny probe is
                               compiled and executed; any doubt gives "none"
    PYREPARAM_SIMD=none        the portable C99 reference only (as on Cortex-M)
    PYREPARAM_SIMD=avx2        x86 AVX2 variants (no probe: the caller's choice)
    PYREPARAM_SIMD=avx512vnni  x86 AVX-512 VNNI variants, AVX2 where there is none
    PYREPARAM_SIMD=neon        aarch64 Advanced SIMD (NEON) variants (Armv8-A: every
                               64-bit Arm core, e.g. Cortex-A53 / A72 of the
                               Raspberry Pi 3 / 4)
    PYREPARAM_SIMD=neondot     aarch64 NEON with the dot-product instructions (SDOT,
                               Armv8.2-A FEAT_DotProd: Cortex-A55 / A76 of the
                               Raspberry Pi 5, Apple M1, Neoverse N1), NEON elsewhere

The x86 variants enable their instruction set per function (``target`` attributes),
so no global ``-m`` flag is passed and no other file can use AVX; likewise the
dot-product functions of the neondot level (NEON itself is part of every aarch64
target). A module built with "auto" runs only on CPUs like the build machine's:
build distributable wheels with PYREPARAM_SIMD=none (or avx2, neon): the extension
refuses to load, with a message, on a CPU without the level's instructions
(``pr_build_cpu_ok``). ``pr_build_info()`` returns the level that was compiled, e.g.
"simd=avx512vnni". Cross builds outside Python (tools/aarch64/) take their file lists
from ``select_sources`` too.
"""
from __future__ import annotations

import os
import platform
import re
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
# setup.py runs with the project root as working directory; cffi wants source
# paths relative to it.
ROOT = HERE.parent
# Per architecture: its folder of variants, the prefix of its shared kernels, its
# levels in increasing order (a level may use the variants of every level before it)
# and the platform.machine() names of the build machines that run it.
ARCHES = {
    "x86": ("pr_x86_", ("avx2", "avx512vnni"), ("x86_64", "amd64", "i386", "i686", "x86")),
    "aarch64": ("pr_a64_", ("neon", "neondot"), ("aarch64", "arm64")),
}
SIMD_LEVELS = ("none",) + tuple(lv for _, levels, _ in ARCHES.values() for lv in levels)

# Compiled and run by the "auto" probe: exits 0 only when the compiler accepts the
# target attribute and the intrinsics, the CPU (and OS) run them and the answer is right.
_PROBES = {
    "avx2": r"""
#include <immintrin.h>
__attribute__((target("avx2"))) static int run(void)
{
    volatile short a = -300, b = 200;
    __m256i p = _mm256_madd_epi16(_mm256_set1_epi16(a), _mm256_set1_epi16(b));
    p = _mm256_sllv_epi32(p, _mm256_set1_epi32(1));
    return _mm256_extract_epi32(p, 7) == 2 * 2 * -300 * 200;
}
int main(void)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2")) return 1;
    return run() ? 0 : 2;
}
""",
    "avx512vnni": r"""
#include <immintrin.h>
__attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512vnni"))) static int run(void)
{
    volatile int a = 0x01020304, b = (int)0xFF7F0280u;
    const signed char bytes[2] = {-5, 7};
    __m512i acc = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi32(a),
                                      _mm512_set1_epi32(b));
    __m128i t = _mm_maskz_loadu_epi8(0x3, bytes);
    /* little-endian bytes of a (u8) 4 3 2 1 times those of b (s8) -128 2 127 -1 */
    return _mm512_reduce_add_epi32(acc) == 16 * (4 * -128 + 3 * 2 + 2 * 127 + 1 * -1) &&
           _mm_extract_epi8(t, 1) == 7;
}
int main(void)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
        !__builtin_cpu_supports("avx512vl") || !__builtin_cpu_supports("avx512vnni"))
        return 1;
    return run() ? 0 : 2;
}
""",
    "neon": r"""
#include <arm_neon.h>
int main(void)
{
    volatile signed char a = -128, b = 127;
    int16x8_t p = vmull_s8(vdup_n_s8(a), vdup_n_s8(b));
    int32x4_t s = vpaddlq_s16(p);
    return vgetq_lane_s32(vqrdmulhq_s32(s, vdupq_n_s32(1 << 30)), 3) == -128 * 127 ? 0 : 2;
}
""",
    "neondot": r"""
#include <arm_neon.h>
#if defined(__linux__)
#include <sys/auxv.h>
static int has_dot(void) { return (getauxval(AT_HWCAP) >> 20) & 1; }  /* HWCAP_ASIMDDP */
#elif defined(__APPLE__)
#include <sys/sysctl.h>
static int has_dot(void)
{
    int v = 0;
    size_t n = sizeof v;
    return sysctlbyname("hw.optional.arm.FEAT_DotProd", &v, &n, NULL, 0) == 0 && v;
}
#else
static int has_dot(void) { return 0; }
#endif
__attribute__((target("arch=armv8.2-a+dotprod"))) static int run(void)
{
    volatile signed char a = -128, b = -127;
    int32x4_t s = vdotq_s32(vdupq_n_s32(0), vdupq_n_s8(a), vdupq_n_s8(b));
    return vaddvq_s32(s) == 16 * -128 * -127;
}
int main(void)
{
    if (!has_dot()) return 1;
    return run() ? 0 : 2;
}
""",
}


def _cdef_from_header(header: Path) -> str:
    text = header.read_text()
    match = re.search(r"/\* cffi-begin \*/(.*?)/\* cffi-end \*/", text, re.S)
    if match is None:
        raise RuntimeError(f"{header}: cffi-begin/cffi-end markers not found")
    return match.group(1)


def arch_of(level: str) -> str | None:
    """The architecture of a SIMD level ("x86", "aarch64"), None for "none"."""
    for arch, (_, levels, _) in ARCHES.items():
        if level in levels:
            return arch
    if level == "none":
        return None
    raise ValueError(f"unknown SIMD level {level!r}; choose from {SIMD_LEVELS}")


def _variant_of(path: Path) -> tuple[str, str]:
    """``x86/pr_linear_s8_avx2.c`` -> ("pr_linear_s8", "avx2")."""
    levels = ARCHES[path.parent.name][1]
    for level in sorted(levels, key=len, reverse=True):   # "neondot" before "neon"
        suffix = "_" + level
        if path.stem.endswith(suffix):
            return path.stem[: -len(suffix)], level
    raise RuntimeError(f"{path}: a variant's name must end in one of "
                       f"{['_' + lv for lv in levels]}")


def select_sources(simd: str) -> list[Path]:
    """The C files of a build at SIMD level ``simd``: every ``csrc/*.c``, each
    replaced by its variant of the highest level <= ``simd`` (of that level's
    architecture) when there is one."""
    arch = arch_of(simd)
    chosen = {p.stem: p for p in HERE.glob("*.c")}
    if arch is None:
        return sorted(chosen.values())
    shared_prefix, levels, _ = ARCHES[arch]
    rank = levels.index(simd)
    best: dict[str, tuple[int, Path]] = {}
    for path in sorted((HERE / arch).glob("*.c")):
        stem, level = _variant_of(path)
        r = levels.index(level)
        if stem.startswith(shared_prefix):          # shared kernels of one level
            if r <= rank:
                chosen[path.stem] = path
            continue
        if stem not in chosen:
            raise RuntimeError(f"{path}: no reference csrc/{stem}.c for this variant")
        if r <= rank and r > best.get(stem, (-1, path))[0]:
            best[stem] = (r, path)
    for stem, (_, path) in best.items():
        chosen[stem] = path
    return sorted(chosen.values())


def _compiler() -> list[str]:
    """The C compiler command setuptools would use (CC overrides, as there)."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return shlex.split(cc)


def probe(level: str) -> bool:
    """True when a probe of ``level`` compiles with the build compiler and runs
    correctly on this machine; False on any failure (never raises)."""
    if level == "none":
        return True
    if level not in SIMD_LEVELS or platform.machine().lower() not in ARCHES[arch_of(level)][2]:
        return False
    try:
        with tempfile.TemporaryDirectory() as tmp:
            src, exe = Path(tmp) / "probe.c", Path(tmp) / "probe"
            src.write_text(_PROBES[level])
            subprocess.run([*_compiler(), "-O1", str(src), "-o", str(exe)], check=True,
                           capture_output=True, timeout=120)
            run = subprocess.run([str(exe)], capture_output=True, timeout=30)
            return run.returncode == 0
    except (OSError, subprocess.SubprocessError, KeyError):
        return False


def resolve_simd(request: str | None = None) -> str:
    """The SIMD level of a build: ``request`` (default: $PYREPARAM_SIMD or "auto");
    "auto" probes from the best level down."""
    request = (request or os.environ.get("PYREPARAM_SIMD") or "auto").strip().lower()
    if request == "auto":   # the best level of this machine's architecture
        return next(lv for lv in reversed(SIMD_LEVELS) if probe(lv))
    if request not in SIMD_LEVELS:
        raise ValueError(f"PYREPARAM_SIMD={request!r}: choose auto or one of {SIMD_LEVELS}")
    return request


def _compile_args() -> list[str]:
    args = ["-std=c99", "-O3", "-Wall", "-Wextra", "-fno-strict-aliasing"]
    # Opt-in extras for local builds, e.g. PYREPARAM_CFLAGS="-march=native".
    args += os.environ.get("PYREPARAM_CFLAGS", "").split()
    return args


def make_ffibuilder(simd: str | None = None, module_name: str = "pyreparam._native",
                    absolute_paths: bool = False) -> tuple[FFI, str]:
    """An FFI builder of the runtime at SIMD level ``simd`` (resolved as in
    :func:`resolve_simd`) and that level. setup.py needs paths relative to the project
    root; a build from another directory (tests: ``builder.compile(tmpdir=...)``)
    passes ``absolute_paths=True``."""
    level = resolve_simd(simd)
    sources = select_sources(level)
    include = HERE
    if not absolute_paths:
        sources = [Path(os.path.relpath(p, ROOT)) for p in sources]
        include = Path(os.path.relpath(HERE, ROOT))
    builder = FFI()
    builder.cdef(_cdef_from_header(HERE / "pyreparam.h"))
    builder.set_source(
        module_name,
        '#include "pyreparam.h"',
        sources=[str(p) for p in sources],
        include_dirs=[str(include)],
        extra_compile_args=_compile_args(),
    )
    return builder, level


def _import_extension(name: str, path: Path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compile_module(simd: str, tmpdir: str | os.PathLike) -> Path:
    """Compile the runtime at SIMD level ``simd`` in ``tmpdir`` as a separate cffi
    module named ``_pyreparam_native_<level>``; the path of the built extension."""
    level = resolve_simd(simd)
    Path(tmpdir).mkdir(parents=True, exist_ok=True)
    builder, _ = make_ffibuilder(level, f"_pyreparam_native_{level}", absolute_paths=True)
    return Path(builder.compile(tmpdir=str(tmpdir)))


def build_module(simd: str, tmpdir: str | os.PathLike):
    """:func:`compile_module`, imported: tests and tools compare the levels side by
    side, one build holding one level (tests/native_cache.py keeps the builds between
    runs). Returns the module (``.ffi``, ``.lib``)."""
    path = compile_module(simd, tmpdir)
    return _import_extension(path.name.split(".")[0], path)


def ffibuilder() -> FFI:
    """The FFI builder of ``pyreparam._native`` for setup.py (``cffi_modules``): the
    SIMD level is decided here, when the build asks for it (importing this file runs
    no probe and compiles nothing).

    The extension is an abi3 module (``_native.abi3.so``): cffi's API mode uses only
    the limited C API and marks the extension ``py_limited_api`` itself, and setup.py
    tags the wheel ``cp310-abi3``, so one build serves every CPython >= 3.10 (the
    SIMD level, not the Python version, is what ties a build to a machine). A
    free-threaded or debug CPython gets a regular, version-specific module instead
    (cffi's choice)."""
    builder, level = make_ffibuilder()
    print(f"pyreparam: C kernels built with SIMD level {level!r} "
          f"(PYREPARAM_SIMD={os.environ.get('PYREPARAM_SIMD', 'auto')})", file=sys.stderr)
    return builder


if __name__ == "__main__":
    builder, level = make_ffibuilder()
    print(f"SIMD level: {level}")
    builder.compile(verbose=True)
