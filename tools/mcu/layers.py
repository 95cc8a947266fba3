"""Instructions per layer shape: every product, softmax and depthwise call of one
inference of a light model on the device (layers.c, counted by the QEMU plugin), grouped
by kernel and shape, with instructions per MAC; optionally next to another kernel
library's counts on the same shapes (a JSON of records {"kernel", "shape",
"instructions"}: the CMSIS-NN comparison of README.md).

    python tools/mcu/mcu.py --targets m4-dsp --layers [--compare-counts FILE]
"""
from __future__ import annotations

import re
from pathlib import Path

import firmware as fw

CALL_LINE = re.compile(r"^call (\d+) (\S+)((?: \S+ -?\d+)*)$")
MODEL_LINE = re.compile(r"^model status (-?\d+) calls (\d+) frames (\d+)$")


def macs(kernel: str, s: dict) -> int | None:
    """Multiply-accumulates of one call (None for softmax: it has none)."""
    if kernel.startswith("linear"):
        return s["rows"] * s["in"] * s["out"]
    if kernel == "conv1d_s8":
        t_out = (s["len"] + 2 * s["pad"] - s["kernel"]) // s["stride"] + 1
        return t_out * s["cout"] * s["kernel"] * s["cin"]
    if kernel.startswith("bmm"):
        return s["batches"] * s["rows"] * s["cols"] * s["depth"]
    if kernel == "depthwise_conv1d_s8":
        return s["len"] * s["ch"] * s["kernel"]
    return None


def elements(kernel: str, s: dict) -> int:
    """Outputs of one call (softmax: its scores)."""
    if kernel == "softmax_s8":
        return s["batches"] * s["rows"] * s["cols"]
    return 0


def parse(text: str, marks: list[int]) -> dict:
    """The calls of layers.c's output with their counts: {"calls": [...], "model":
    instructions of the whole pr_model_run, "frames"}."""
    calls = []
    model = None
    for line in text.splitlines():
        m = CALL_LINE.match(line.strip())
        if m:
            fields = m.group(3).split()
            shape = {fields[i]: int(fields[i + 1]) for i in range(0, len(fields), 2)}
            i = int(m.group(1))
            calls.append({"kernel": m.group(2), "shape": shape,
                          "instructions": marks[2 * i + 2] - marks[2 * i + 1]})
        m = MODEL_LINE.match(line.strip())
        if m:
            model = {"status": int(m.group(1)), "calls": int(m.group(2)),
                     "frames": int(m.group(3))}
    if model is None or model["status"] != 0 or model["calls"] != len(calls) or \
            len(marks) != 2 * len(calls) + 2:
        raise RuntimeError(f"layers run incomplete: {model}, {len(calls)} calls, "
                           f"{len(marks)} marks\n{text[-2000:]}")
    return {"calls": calls, "model": marks[-1] - marks[0], "frames": model["frames"]}


def shape_key(kernel: str, shape: dict) -> str:
    return kernel + " " + " ".join(f"{k} {v}" for k, v in shape.items())


def group(calls: list[dict]) -> list[dict]:
    """Calls of equal kernel and shape together: count, instructions per call (mean)."""
    out: dict[str, dict] = {}
    for c in calls:
        key = shape_key(c["kernel"], c["shape"])
        g = out.setdefault(key, {"kernel": c["kernel"], "shape": c["shape"], "calls": 0,
                                 "instructions": 0})
        g["calls"] += 1
        g["instructions"] += c["instructions"]
    for g in out.values():
        g["instructions_per_call"] = g["instructions"] / g["calls"]
        g["macs_per_call"] = macs(g["kernel"], g["shape"])
        g["elements_per_call"] = elements(g["kernel"], g["shape"])
    return list(out.values())


def run(target: fw.Target, lib: Path, model_dir: Path, elf: Path, plugin: Path) -> dict:
    """Build and run layers.c for one model; the parsed calls."""
    fw.sh([fw.HERE / "build.sh", "layers", target.core, lib, model_dir, elf])
    run_ = fw.run_counted(target, elf, plugin, elf.with_suffix(".counts"))
    if run_.returncode != 0:
        raise RuntimeError(f"{elf}: exit status {run_.returncode}\n{run_.stdout[-2000:]}")
    return parse(run_.stdout, run_.marks)


def _per(n: float, d: int | None) -> str:
    return "-" if not d else f"{n / d:.2f}"


def table(model: str, groups: list[dict], other: dict[str, float] | None,
          other_name: str = "CMSIS-NN") -> str:
    """Markdown: per shape, calls, MACs, our instructions per call and per MAC (per
    score for softmax), and the other library's when given (keyed by shape_key)."""
    head = ["model", "kernel", "shape", "calls", "MACs per call", "ours: instructions (per MAC)"]
    if other is not None:
        head += [f"{other_name}: instructions (per MAC)", "ours / " + other_name]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for g in sorted(groups, key=lambda g: -g["instructions"]):
        d = g["macs_per_call"] or g["elements_per_call"]
        unit = "" if g["macs_per_call"] else " per score"
        shape = ", ".join(f"{k} {v}" for k, v in g["shape"].items())
        cells = [model, g["kernel"], shape, str(g["calls"]),
                 f"{g['macs_per_call']:,}" if g["macs_per_call"] else "-",
                 f"{g['instructions_per_call']:,.0f} ({_per(g['instructions_per_call'], d)}{unit})"]
        if other is not None:
            theirs = other.get(shape_key(g["kernel"], g["shape"]))
            cells += [f"{theirs:,.0f} ({_per(theirs, d)}{unit})" if theirs is not None else "-",
                      f"{g['instructions_per_call'] / theirs:.2f}" if theirs else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def totals(groups: list[dict], other: dict[str, float] | None) -> dict:
    """Whole-model sums over the compared calls (every shape the other library has):
    ours, theirs, MACs."""
    ours = theirs = n_macs = 0.0
    for g in groups:
        key = shape_key(g["kernel"], g["shape"])
        if other is not None and key not in other:
            continue
        ours += g["instructions"]
        n_macs += (g["macs_per_call"] or 0) * g["calls"]
        if other is not None:
            theirs += other[key] * g["calls"]
    return {"ours": ours, "other": theirs if other is not None else None, "macs": n_macs}
