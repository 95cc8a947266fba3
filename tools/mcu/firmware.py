"""Build the Cortex-M firmware, run it under qemu-system-arm, read what it printed and
how many instructions the runtime executed.

Targets are (core, kernel variant) pairs: the MPS2 board QEMU emulates for the core,
and "ref" (the portable C99 kernels) or "dsp" (the csrc/arm/ variants, Cortex-M4/M7).

Instruction counts come from the QEMU plugin insn_count.c: every instruction in the
address range [__runtime_start, __helpers_end) of the ELF (the runtime and the
libgcc/libc routines it calls, see link.ld) increments a counter, and the harness's
marker function mcu_mark snapshots it before and after each runtime call. The exact
count of one call is the difference of two snapshots. :func:`trace_counts` gets the
same numbers from QEMU's instruction trace (-singlestep -d exec,nochain), much more
slowly; mcu.py compares both on a short input. Runs also pass ``-icount shift=0``, so
that the SysTick ticks the harness prints are a third, coarser measure (1 tick = 40
instructions: the MPS2 system clock is 25 MHz and each instruction takes 1 ns).
"""
from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
INSTRUCTIONS_PER_TICK = 40          # 1 ns per instruction, 25 MHz SysTick clock
RUN_TIMEOUT = 600                   # seconds per QEMU run


@dataclasses.dataclass(frozen=True)
class Target:
    name: str       # "m4-dsp"
    core: str       # build.sh target: m3, m4, m7
    variant: str    # "ref" or "dsp"
    machine: str    # QEMU board
    cpu: str        # QEMU cpu


TARGETS = {t.name: t for t in (
    Target("m3-ref", "m3", "ref", "mps2-an385", "cortex-m3"),
    Target("m4-ref", "m4", "ref", "mps2-an386", "cortex-m4"),
    Target("m4-dsp", "m4", "dsp", "mps2-an386", "cortex-m4"),
    Target("m7-ref", "m7", "ref", "mps2-an500", "cortex-m7"),
    Target("m7-dsp", "m7", "dsp", "mps2-an500", "cortex-m7"),
)}


def sh(cmd: list, timeout: float | None = None) -> str:
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({done.returncode}):\n"
                           f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


# --------------------------------------------------------------------------- builds

def build_plugin(out: Path) -> Path:
    """The instruction-counting plugin, built with the host's C compiler."""
    so = out / "insn_count.so"
    out.mkdir(parents=True, exist_ok=True)
    sh(["cc", "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-o", so,
        HERE / "insn_count.c"])
    return so


def build_lib(target: Target, out: Path) -> Path:
    lib = out / "lib" / target.name
    sh([HERE / "build.sh", "lib", target.core, target.variant, lib])
    return lib


def build_firmware(target: Target, lib: Path, model_dir: Path, elf: Path) -> Path:
    sh([HERE / "build.sh", "fw", target.core, lib, model_dir, elf])
    return elf


def build_kernel_test(target: Target, out: Path) -> Path:
    """The firmware of kernel_test.c: the dsp variants against the reference."""
    folder = out / "ktest" / target.core
    sh([HERE / "build.sh", "ktest", target.core, folder])
    return folder / "kernel_test.elf"


def symbols(elf: Path) -> dict[str, int]:
    """Defined symbols: name -> address (Thumb bit cleared)."""
    out = {}
    for line in sh(["arm-none-eabi-nm", "--defined-only", elf]).splitlines():
        parts = line.split()
        if len(parts) == 3:
            out[parts[2]] = int(parts[0], 16) & ~1
    return out


def function_table(elf: Path) -> list[tuple[int, int, str]]:
    """(start, size, name) of every function, sorted by address."""
    rows = []
    for line in sh(["arm-none-eabi-nm", "-n", "-S", "--defined-only", elf]).splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tT":
            rows.append((int(parts[0], 16) & ~1, int(parts[1], 16), parts[3]))
    return sorted(rows)


def section_sizes(elf: Path) -> dict[str, int]:
    """Section name -> bytes (arm-none-eabi-size -A)."""
    out = {}
    for line in sh(["arm-none-eabi-size", "-A", elf]).splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


# --------------------------------------------------------------------------- no floating point

SOFT_FLOAT = re.compile(r"^__(aeabi_[fd]|aeabi_[il]2[fd]|aeabi_ui2[fd]|aeabi_ul2[fd]|"
                        r"[a-z]+[sd]f[0-9]|fix|float|extendsfdf|truncdfsf)")
FP_ARITHMETIC = re.compile(r"^v(add|sub|n?mul|div|f?n?m[al][as]|sqrt|abs|neg|cmpe?|cvtr?|"
                           r"rint|sel|maxnm|minnm)")


def float_check(elf: Path) -> tuple[list[str], int]:
    """Floating point in the runtime's address range: (problems, FPU register moves).

    A problem is a floating-point arithmetic instruction or any soft-float routine
    linked into the ELF. On the hard-float builds (M4, M7) gcc may still use the FPU
    registers as spill space for integers (vmov, vldr, vstr, vpush, vpop): counted,
    not a problem; the Cortex-M3 build, which has no FPU, shows the code needs none.
    """
    sym = symbols(elf)
    lo, hi = sym["__runtime_start"], sym["__helpers_end"]
    text = sh(["arm-none-eabi-objdump", "-d", "--no-show-raw-insn",
               f"--start-address={lo}", f"--stop-address={hi}", elf])
    problems, moves = [], 0
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) < 2 or not parts[0].strip().endswith(":") or \
                not parts[1].startswith("v"):
            continue
        if FP_ARITHMETIC.match(parts[1]):
            problems.append(f"floating-point instruction: {line.strip()}")
        else:
            moves += 1
    problems += [f"soft-float routine linked: {name}" for name in sym
                 if SOFT_FLOAT.match(name)]
    return problems, moves


# --------------------------------------------------------------------------- runs

@dataclasses.dataclass
class Run:
    stdout: str
    returncode: int
    marks: list[int]                      # counter value at each mcu_mark call
    profiles: list[dict[int, int]]        # per mark: pc -> count since the previous


def qemu_command(target: Target, elf: Path) -> list:
    return ["qemu-system-arm", "-M", target.machine, "-cpu", target.cpu, "-nographic",
            "-monitor", "none", "-serial", "none",
            "-semihosting-config", "enable=on,target=native", "-kernel", elf]


def run_plain(target: Target, elf: Path) -> tuple[str, int]:
    """(output, exit status) of one run without instrumentation."""
    done = subprocess.run([str(c) for c in qemu_command(target, elf)], capture_output=True,
                          text=True, timeout=RUN_TIMEOUT)
    return done.stdout + done.stderr, done.returncode


def run_counted(target: Target, elf: Path, plugin: Path, counts: Path,
                profile: bool = False) -> Run:
    """One run with the counting plugin and -icount shift=0."""
    sym = symbols(elf)
    args = (f"{plugin},lo={sym['__runtime_start']:#x},hi={sym['__helpers_end']:#x},"
            f"mark={sym['mcu_mark']:#x},out={counts},profile={int(profile)}")
    cmd = qemu_command(target, elf) + ["-icount", "shift=0", "-plugin", args]
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT)
    marks, profiles = read_counts(counts)
    return Run(done.stdout + done.stderr, done.returncode, marks, profiles)


def read_counts(path: Path) -> tuple[list[int], list[dict[int, int]]]:
    marks: list[int] = []
    profiles: list[dict[int, int]] = []
    if not path.is_file():
        return marks, profiles
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts[0] == "mark":
            marks.append(int(parts[2]))
            profiles.append({})
        elif parts[0] == "pc" and profiles:
            profiles[-1][int(parts[1], 16)] = int(parts[2])
    return marks, profiles


def trace_counts(target: Target, elf: Path, log: Path) -> list[int]:
    """The marker snapshots from QEMU's instruction trace: one line per executed
    instruction with -singlestep, counted inside the runtime's range between marker
    executions (slow and ~70 bytes per instruction: short inputs only).

    A block that is left before it runs (an interrupt is pending when it starts) is
    logged again when it really runs: with one instruction per block and everything
    outside the range filtered out of the log, that shows as the same runtime address
    twice in a row, which is counted once (no runtime instruction branches to itself,
    so the repetition never happens otherwise)."""
    sym = symbols(elf)
    lo, hi, mark = sym["__runtime_start"], sym["__helpers_end"], sym["mcu_mark"]
    cmd = qemu_command(target, elf) + ["-singlestep", "-d", "exec,nochain", "-D", log,
                                       "-dfilter", f"{lo:#x}..{hi - 1:#x},{mark:#x}+2"]
    sh(cmd, timeout=RUN_TIMEOUT)
    pattern = re.compile(r"^Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")
    marks, total, previous = [], 0, -1
    with open(log) as f:
        for line in f:
            m = pattern.match(line)
            if m is None:
                continue
            pc = int(m.group(1), 16)
            if pc == mark:
                marks.append(total)
            elif lo <= pc < hi and pc != previous:
                total += 1
            previous = pc
    log.unlink()
    return marks


# --------------------------------------------------------------------------- output

RUN_LINE = re.compile(r"^run (\d+) T (\d+) status (-?\d+) ticks (\d+) stack (\d+) "
                      r"logits((?: -?\d+)*)$")


NORM_LINE = re.compile(r"^norm (\d+) status (-?\d+) state (\d+) crc ([0-9a-f]{8})$")


def parse_stdout(text: str) -> dict:
    """The harness's records (see main.c)."""
    out: dict = {"runs": [], "norms": [], "faults": [], "check": None, "build": None,
                 "done": None}
    for line in text.splitlines():
        n = NORM_LINE.match(line.strip())
        if n:
            out["norms"].append({"index": int(n.group(1)), "status": int(n.group(2)),
                                 "heard": int(n.group(3)), "crc": int(n.group(4), 16)})
            continue
        m = RUN_LINE.match(line.strip())
        if m:
            out["runs"].append({"index": int(m.group(1)), "frames": int(m.group(2)),
                                "status": int(m.group(3)), "ticks": int(m.group(4)),
                                "stack_bytes": int(m.group(5)),
                                "logits": [int(v) for v in m.group(6).split()]})
        elif line.startswith("check status"):
            f = line.split()
            out["check"] = {"status": int(f[2])}
            if len(f) == 9:
                out["check"].update(arena_bytes=int(f[4]), flash_bytes=int(f[6]),
                                    n_ops=int(f[8]))
        elif line.startswith("build "):
            out["build"] = line.split()[1]
        elif line.startswith("done failures"):
            out["done"] = int(line.split()[2])
        elif line.startswith("FAULT"):
            out["faults"].append(line.strip())
    return out


KERNEL_LINE = re.compile(r"^kernel (\S+) cases (\d+) mismatches (\d+)$")


def parse_kernel_test(text: str) -> dict[str, dict]:
    """kernel_test.c's records: name -> {cases, mismatches}."""
    out = {}
    for line in text.splitlines():
        m = KERNEL_LINE.match(line.strip())
        if m:
            out[m.group(1)] = {"cases": int(m.group(2)), "mismatches": int(m.group(3))}
    return out
