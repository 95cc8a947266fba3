"""Cross builds of the C runtime for aarch64 Linux, and their runs under qemu-aarch64.

Variants are (name, SIMD level, QEMU cpu): the portable reference ("ref", level none),
the NEON variants ("neon") and NEON with the dot-product instructions ("neondot"),
each level's C files chosen by csrc/build_ffi.py's select_sources (the same choice as
a Python build on an aarch64 machine), compiled with the cffi build's flags plus
-Werror by Debian's aarch64-linux-gnu-gcc and linked statically, so that
``qemu-aarch64 -cpu CPU prog`` runs them (user mode: the Linux system calls of the
guest go to the host). The cpus: Cortex-A72 (Raspberry Pi 4: Armv8.0-A, NEON, no dot
product) for ref and neon, Cortex-A76 (Raspberry Pi 5: Armv8.2-A with the dot product)
for neondot.

Instruction counts: the QEMU plugin of tools/mcu (insn_count.c, API version 1 of QEMU
7.2, which qemu-user loads too) counts every executed instruction of the program's
.text (the runtime, the libc routines it calls and the harness) and snapshots the
count at each call of the harness's marker mcu_mark, which brackets each runtime call;
a call's count is the difference of two snapshots (it includes about a dozen
instructions of the harness around the call). :func:`trace_counts` gets the same
numbers from QEMU's instruction trace (-singlestep -d exec,nochain).
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CC = os.environ.get("CC_AARCH64", "aarch64-linux-gnu-gcc")
AR = os.environ.get("AR_AARCH64", "aarch64-linux-gnu-ar")
NM = "aarch64-linux-gnu-nm"
READELF = "aarch64-linux-gnu-readelf"
RUN_TIMEOUT = 600

_spec = importlib.util.spec_from_file_location("build_ffi", ROOT / "csrc" / "build_ffi.py")
build_ffi = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_ffi)


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str       # "neon"
    level: str      # csrc/build_ffi.py SIMD level
    cpu: str        # qemu-aarch64 -cpu


VARIANTS = {v.name: v for v in (
    Variant("ref", "none", "cortex-a72"),
    Variant("neon", "neon", "cortex-a72"),
    Variant("neondot", "neondot", "cortex-a76"),
)}
#: a core without the dot product, on which the neondot build must refuse to run
CPU_WITHOUT_DOT = "cortex-a72"


def sh(cmd: list, timeout: float | None = None) -> str:
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({done.returncode}):\n"
                           f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def compile_flags() -> list[str]:
    """The cffi build's flags (csrc/build_ffi.py), warnings as errors."""
    return ["-std=c99", "-O3", "-Wall", "-Wextra", "-Werror", "-fno-strict-aliasing",
            f"-I{ROOT / 'csrc'}", f"-I{ROOT / 'csrc' / 'aarch64'}"]


def build_lib(level: str, out: Path) -> Path:
    """out/libpyreparam.a: the C files of a build at `level`."""
    obj = out / "obj"
    obj.mkdir(parents=True, exist_ok=True)
    for stale in obj.glob("*.o"):
        stale.unlink()
    objects = []
    for src in build_ffi.select_sources(level):
        o = obj / f"{src.stem}.o"
        sh([CC, *compile_flags(), "-c", src, "-o", o])
        objects.append(o)
    lib = out / "libpyreparam.a"
    lib.unlink(missing_ok=True)
    sh([AR, "rcs", lib, *objects])
    return lib


def variant_ops(level: str) -> list[str]:
    """The public kernels a level replaces (the reference files it does not compile)."""
    ops = []
    for src in build_ffi.select_sources(level):
        if src.parent.name == "aarch64":
            stem = build_ffi._variant_of(src)[0]
            if not stem.startswith("pr_a64_") and stem not in ("pr_build_info",
                                                                "pr_cpu_check"):
                ops.append(stem)
    return sorted(ops)


def build_model_test(lib: Path, model_dir: Path, elf: Path) -> Path:
    """model_test.c with MODEL_DIR/model.h and inputs.h (tools/mcu/prepare.py)."""
    elf.parent.mkdir(parents=True, exist_ok=True)
    sh([CC, "-std=gnu99", "-O2", "-Wall", "-Wextra", "-Werror", "-static",
        f"-I{ROOT / 'csrc'}", f"-I{model_dir}", HERE / "model_test.c", lib, "-o", elf])
    return elf


def build_kernel_test(level: str, lib: Path, out: Path) -> Path:
    """kernel_test.c against the level's library and the reference kernels it replaces,
    compiled with their public names prefixed by ref_."""
    ref = out / "ref"
    ref.mkdir(parents=True, exist_ok=True)
    objects = []
    for op in variant_ops(level):
        o = ref / f"{op}.o"
        sh([CC, *compile_flags(), f"-D{op}=ref_{op}", "-c", ROOT / "csrc" / f"{op}.c",
            "-o", o])
        objects.append(o)
    elf = out / "kernel_test"
    sh([CC, "-std=gnu99", "-O2", "-Wall", "-Wextra", "-Werror", "-fno-strict-aliasing",
        "-static", f"-I{ROOT / 'csrc'}", f"-I{ROOT / 'csrc' / 'aarch64'}",
        f"-I{ROOT / 'tools' / 'mcu'}",          # kernel_cases.h, shared with the M-profile test
        HERE / "kernel_test.c", *objects, lib, "-o", elf])
    return elf


# --------------------------------------------------------------------------- runs

def symbols(elf: Path) -> dict[str, int]:
    out = {}
    for line in sh([NM, "--defined-only", elf]).splitlines():
        parts = line.split()
        if len(parts) == 3:
            out[parts[2]] = int(parts[0], 16)
    return out


def function_table(elf: Path) -> list[tuple[int, int, str]]:
    rows = []
    for line in sh([NM, "-n", "-S", "--defined-only", elf]).splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tTwW":
            rows.append((int(parts[0], 16), int(parts[1], 16), parts[3]))
    return sorted(rows)


def text_range(elf: Path) -> tuple[int, int]:
    """[start, end) of the ELF's .text section."""
    for line in sh([READELF, "-SW", elf]).splitlines():
        m = re.search(r"\]\s+\.text\s+PROGBITS\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", line)
        if m:
            start = int(m.group(1), 16)
            return start, start + int(m.group(2), 16)
    raise RuntimeError(f"{elf}: no .text section")


def run_plain(cpu: str, elf: Path) -> tuple[str, int]:
    done = subprocess.run(["qemu-aarch64", "-cpu", cpu, str(elf)], capture_output=True,
                          text=True, timeout=RUN_TIMEOUT)
    return done.stdout + done.stderr, done.returncode


@dataclasses.dataclass
class Run:
    stdout: str
    returncode: int
    marks: list[int]
    profiles: list[dict[int, int]]


def run_counted(cpu: str, elf: Path, plugin: Path, counts: Path, profile: bool = False,
                read_counts=None) -> Run:
    """One run with the counting plugin over the program's .text."""
    lo, hi = text_range(elf)
    mark = symbols(elf)["mcu_mark"]
    args = (f"{plugin},lo={lo:#x},hi={hi:#x},mark={mark:#x},out={counts},"
            f"profile={int(profile)}")
    done = subprocess.run(["qemu-aarch64", "-cpu", cpu, "-plugin", args, str(elf)],
                          capture_output=True, text=True, timeout=RUN_TIMEOUT)
    marks, profiles = read_counts(counts)
    return Run(done.stdout + done.stderr, done.returncode, marks, profiles)


def trace_counts(cpu: str, elf: Path, log: Path) -> list[int]:
    """The marker snapshots from QEMU's instruction trace: one line per executed
    instruction (-singlestep), counted inside .text between executions of the marker's
    first instruction (the plugin's definition; slow, ~100 bytes of log per
    instruction: short inputs only). User mode has no interrupts, so no block is logged
    twice."""
    lo, hi = text_range(elf)
    mark = symbols(elf)["mcu_mark"]
    sh(["qemu-aarch64", "-cpu", cpu, "-singlestep", "-d", "exec,nochain", "-D", log,
        "-dfilter", f"{lo:#x}..{hi - 1:#x}", elf], timeout=RUN_TIMEOUT)
    pattern = re.compile(r"^Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")
    marks, total = [], 0
    with open(log) as f:
        for line in f:
            m = pattern.match(line)
            if m is None:
                continue
            pc = int(m.group(1), 16)
            if pc == mark:
                marks.append(total)
            if lo <= pc < hi:
                total += 1
    log.unlink()
    return marks
