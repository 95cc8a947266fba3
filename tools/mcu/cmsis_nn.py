"""CMSIS-NN's instructions on our layer shapes (Cortex-M4, DSP): the JSON that
`mcu.py --compare-counts` reads, from a CMSIS-NN source checkout given by its path.

    python tools/mcu/cmsis_nn.py CMSIS_NN --layers-json build/mcu/mcu.json \
        [--out build/mcu/cmsis-nn] [--json build/mcu/cmsis-nn/cmsis_nn.json]
    python tools/mcu/mcu.py --targets m4-dsp --cmsis-nn CMSIS_NN    # the same, in one run

CMSIS_NN is a source tree (Include/arm_nnfunctions.h, Source/) or a bare git directory
(its HEAD is extracted with `git archive`). Nothing of CMSIS-NN is copied into this
repository. Steps: every integer source (Source/**/*.c but *_f16, *_f32) compiled for the Cortex-M4 with the compiler
flags of our DSP build (`build.sh cflags m4`: the same -mcpu, float ABI, -O level,
-fno-strict-aliasing; gcc defines __ARM_FEATURE_DSP, so CMSIS-NN defines ARM_MATH_DSP);
cmsis_layers.c run on every shape of the --layers records under qemu-system-arm with
the counting plugin (insn_count.c), only the kernel call between the marks.

Mapping (cmsis_layers.c; README.md, "Against CMSIS-NN"):
  linear_s8, linear_s8_s16  arm_fully_connected_per_channel_s8 and, the same product,
                            arm_convolve_1x1_s8_fast over 1 x rows; the smaller count is
                            CMSIS-NN's figure (CMSIS-NN has no int16-output product:
                            linear_s8_s16 is compared with the int8-output kernels)
  conv1d_s8                 arm_convolve_wrapper_s8 on a 1 x len image (1 x kernel filter)
  bmm_nt_s8                 arm_batch_matmul_s8 (its RHS is already the transposed one)
  bmm_nn_s8                 arm_batch_matmul_s8 with V transposed beforehand by
                            arm_transpose_s8: the transpose is counted apart
                            ("transpose_instructions"), not in "instructions"
  softmax_s8                arm_softmax_s8 over batches x rows rows of cols scores (whole
                            rows: it has no window or key mask)
  depthwise_conv1d_s8       arm_depthwise_conv_wrapper_s8 (arm_depthwise_conv_s8_opt),
                            1 x len image, padding kernel / 2
Our LayerNorm (int16 in), residual adds, average pooling and requantizations have no
counterpart here; they are not in the comparison.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tarfile
import io
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import firmware as fw  # noqa: E402
import layers  # noqa: E402

ROOT = HERE.parents[1]
TARGET = "m4-dsp"
BUF_BYTES = 128 * 1024      # cmsis_layers.c's operand buffers
MAX_CHANNELS = 4096
KINDS = {"fc": 0, "conv": 1, "bmm_nt": 2, "bmm_nn": 3, "softmax": 4, "dw": 5}
CALL_LINE = re.compile(r"^call (\d+) shape (\d+) (\S+) status (-?\d+)$")


class CmsisNNError(RuntimeError):
    """A wrong CMSIS-NN path, a failed build or run."""


# --------------------------------------------------------------------------- shapes

def harness_row(kernel: str, s: dict) -> list[int]:
    """cmsis_layers.c's row {kind, a, b, c, d, e, f} for one of our calls' shape."""
    if kernel in ("linear_s8", "linear_s8_s16"):
        return [KINDS["fc"], s["rows"], s["in"], s["out"], 0, 0, 0]
    if kernel == "conv1d_s8":
        return [KINDS["conv"], s["len"], s["cin"], s["cout"], s["kernel"], s["stride"],
                s["pad"]]
    if kernel in ("bmm_nt_s8", "bmm_nn_s8"):
        kind = KINDS["bmm_nt"] if kernel == "bmm_nt_s8" else KINDS["bmm_nn"]
        return [kind, s["batches"], s["rows"], s["cols"], s["depth"], 0, 0]
    if kernel == "softmax_s8":
        return [KINDS["softmax"], s["batches"] * s["rows"], s["cols"], 0, 0, 0, 0]
    if kernel == "depthwise_conv1d_s8":
        return [KINDS["dw"], s["len"], s["ch"], s["kernel"], 0, 0, 0]
    raise ValueError(f"no CMSIS-NN mapping for kernel {kernel!r}")


def operand_bytes(row: list[int]) -> int:
    """The largest operand or output of a row, in bytes (must fit the harness's buffers)."""
    kind, a, b, c, d, e, f = row
    if kind == KINDS["fc"]:
        return max(a * b, b * c, a * c)
    if kind == KINDS["conv"]:
        return max(a * b, c * d * b, ((a + 2 * f - d) // e + 1) * c)
    if kind in (KINDS["bmm_nt"], KINDS["bmm_nn"]):
        return a * max(b * d, c * d, b * c)
    if kind == KINDS["softmax"]:
        return a * b
    return max(a * b, c * b)


def out_channels(row: list[int]) -> int:
    """Output channels of a row (per-channel bias and requantization arrays)."""
    kind = row[0]
    if kind in (KINDS["fc"], KINDS["conv"]):
        return row[3]
    return row[2] if kind == KINDS["dw"] else 0


def unique_shapes(layer_results: dict) -> list[dict]:
    """Every (kernel, shape) of the --layers results ({model: {"shapes": groups}}), once."""
    out: dict[str, dict] = {}
    for res in layer_results.values():
        for g in res["shapes"]:
            out.setdefault(layers.shape_key(g["kernel"], g["shape"]),
                           {"kernel": g["kernel"], "shape": dict(g["shape"])})
    return list(out.values())


def shapes_header(rows: list[list[int]]) -> str:
    body = "".join("    {" + ", ".join(str(v) for v in r) + "},\n" for r in rows)
    return ("/* written by tools/mcu/cmsis_nn.py: {kind, a, b, c, d, e, f} per shape */\n"
            f"#define CMSIS_N_SHAPES {len(rows)}\n"
            f"static const int32_t cmsis_shapes[CMSIS_N_SHAPES][7] = {{\n{body}}};\n")


def records(shapes: list[dict], calls: list[dict]) -> list[dict]:
    """--compare-counts records from the harness's calls (in shape order): per shape the
    kernel, shape, CMSIS-NN's instructions and which function gave them, plus each
    counted function's own count."""
    by_shape: dict[int, list[dict]] = {}
    for c in calls:
        by_shape.setdefault(c["shape"], []).append(c)
    out = []
    for i, sh in enumerate(shapes):
        got = by_shape.get(i, [])
        if not got:
            raise CmsisNNError(f"no count for shape {i}: {sh}")
        counts = {c["function"]: c["instructions"] for c in got}
        rec = {"kernel": sh["kernel"], "shape": sh["shape"], "counts": counts}
        if "arm_transpose_s8" in counts:
            rec["transpose_instructions"] = counts["arm_transpose_s8"]
        products = {f: n for f, n in counts.items() if f != "arm_transpose_s8"}
        rec["function"] = min(products, key=products.get)
        rec["instructions"] = products[rec["function"]]
        out.append(rec)
    return out


def parse_calls(text: str, marks: list[int]) -> list[dict]:
    calls = []
    for line in text.splitlines():
        m = CALL_LINE.match(line.strip())
        if m is None:
            continue
        j = int(m.group(1))
        if int(m.group(4)) != 0:
            raise CmsisNNError(f"{m.group(3)} returned status {m.group(4)} on shape "
                               f"{m.group(2)}")
        if len(marks) < 2 * j + 2:
            raise CmsisNNError(f"marks missing for call {j} ({len(marks)} marks)")
        calls.append({"shape": int(m.group(2)), "function": m.group(3),
                      "instructions": marks[2 * j + 1] - marks[2 * j]})
    if f"done {len(calls)}" not in text:
        raise CmsisNNError(f"harness incomplete:\n{text[-2000:]}")
    return calls


# --------------------------------------------------------------------------- source, build

def source_tree(path: Path, work: Path) -> tuple[Path, str]:
    """(the CMSIS-NN source tree, its commit or "unknown"); a bare git directory is
    extracted (HEAD) into work/src."""
    path = Path(path)
    if not path.exists():
        raise CmsisNNError(f"CMSIS-NN path {path} does not exist")
    if (path / "Include" / "arm_nnfunctions.h").is_file() and (path / "Source").is_dir():
        commit = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"],
                                capture_output=True, text=True)
        return path, commit.stdout.strip() if commit.returncode == 0 else "unknown"
    if (path / "HEAD").is_file() and (path / "objects").is_dir():
        commit = fw.sh(["git", f"--git-dir={path}", "rev-parse", "HEAD"]).strip()
        src = work / "src"
        stamp = src / ".commit"
        if not (stamp.is_file() and stamp.read_text() == commit):
            shutil.rmtree(src, ignore_errors=True)
            src.mkdir(parents=True)
            data = subprocess.run(["git", f"--git-dir={path}", "archive", commit],
                                  capture_output=True, check=True).stdout
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                tar.extractall(src, filter="data")
            stamp.write_text(commit)
        if not (src / "Include" / "arm_nnfunctions.h").is_file():
            raise CmsisNNError(f"{path} is a git directory but not CMSIS-NN's "
                               "(no Include/arm_nnfunctions.h)")
        return src, commit
    raise CmsisNNError(f"{path} is not a CMSIS-NN source tree (Include/arm_nnfunctions.h "
                       "and Source/ expected) nor a bare git directory of one")


def cflags(core: str) -> list[str]:
    """Our DSP build's code generation flags (build.sh cflags)."""
    return fw.sh([HERE / "build.sh", "cflags", core]).split()


def build_library(src: Path, work: Path, flags: list[str]) -> Path:
    """Every CMSIS-NN source as work/lib/libcmsis-nn.a (rebuilt when the flags or the
    tree changed)."""
    lib = work / "lib"
    stamp = lib / ".flags"
    sources = sorted(s for s in (src / "Source").rglob("*.c")
                     if not s.stem.endswith(("_f16", "_f32")))   # the integer kernels
    key = "\n".join([" ".join(flags), str(src.resolve()), str(len(sources)),
                     str(max(s.stat().st_mtime_ns for s in sources))])
    archive = lib / "libcmsis-nn.a"
    if stamp.is_file() and stamp.read_text() == key and archive.is_file():
        return archive
    shutil.rmtree(lib, ignore_errors=True)
    (lib / "obj").mkdir(parents=True)
    objs = []
    for i, s in enumerate(sources):
        obj = lib / "obj" / f"{i:03d}_{s.stem}.o"
        fw.sh(["arm-none-eabi-gcc", "-std=c11", *flags, "-ffunction-sections",
               "-fdata-sections", f"-I{src / 'Include'}", "-c", s, "-o", obj])
        objs.append(obj)
    fw.sh(["arm-none-eabi-ar", "rcs", archive, *objs])
    stamp.write_text(key)
    return archive


def build_harness(src: Path, work: Path, archive: Path, flags: list[str]) -> Path:
    """cmsis_layers.elf; link.ld with libcmsis-nn.a where libpyreparam.a was, so that
    the counted range is CMSIS-NN and the helpers it calls."""
    script = work / "link_cmsis.ld"
    script.write_text((HERE / "link.ld").read_text().replace("libpyreparam.a",
                                                             "libcmsis-nn.a"))
    elf = work / "cmsis_layers.elf"
    fw.sh(["arm-none-eabi-gcc", "-std=gnu11", "-Wall", "-Wextra", *flags,
           "-ffunction-sections", "-fdata-sections", f"-I{src / 'Include'}", f"-I{work}",
           HERE / "startup.c", HERE / "cmsis_layers.c", "--specs=nano.specs",
           "--specs=rdimon.specs", "-nostartfiles", "-T", script, "-Wl,--gc-sections",
           f"-L{archive.parent}", "-lcmsis-nn", "-o", elf])
    return elf


# --------------------------------------------------------------------------- driver

def measure(cmsis: Path, shapes: list[dict], work: Path, plugin: Path | None = None) -> dict:
    """Build and run CMSIS-NN on `shapes` ([{kernel, shape}]); the --compare-counts
    document {"library", "commit", "target", "flags", "records", "notes"}."""
    work.mkdir(parents=True, exist_ok=True)
    src, commit = source_tree(cmsis, work)
    rows = [harness_row(s["kernel"], s["shape"]) for s in shapes]
    too_big = [s for s, r in zip(shapes, rows)
               if operand_bytes(r) > BUF_BYTES or out_channels(r) > MAX_CHANNELS]
    if too_big:
        raise CmsisNNError(f"shapes larger than cmsis_layers.c's buffers: {too_big}")
    (work / "cmsis_shapes.h").write_text(shapes_header(rows))
    target = fw.TARGETS[TARGET]
    flags = cflags(target.core)
    archive = build_library(src, work, flags)
    elf = build_harness(src, work, archive, flags)
    plugin = plugin or fw.build_plugin(work)
    run = fw.run_counted(target, elf, plugin, work / "cmsis_layers.counts")
    (work / "cmsis_layers.out").write_text(run.stdout)
    if run.returncode != 0:
        raise CmsisNNError(f"{elf}: exit status {run.returncode}\n{run.stdout[-2000:]}")
    calls = parse_calls(run.stdout, run.marks)
    return {"library": "CMSIS-NN", "commit": commit, "target": TARGET,
            "flags": " ".join(flags), "records": records(shapes, calls),
            "notes": __doc__.split("Mapping")[1].strip()}


def detail_table(doc: dict) -> str:
    """Markdown: per shape, the CMSIS-NN function(s) counted and their instructions."""
    lines = ["| kernel (ours) | shape | CMSIS-NN function: instructions | used |",
             "|---|---|---|---|"]
    for r in doc["records"]:
        shape = ", ".join(f"{k} {v}" for k, v in r["shape"].items())
        counts = "; ".join(f"{f} {n:,}" for f, n in r["counts"].items())
        lines.append(f"| {r['kernel']} | {shape} | {counts} | {r['function']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cmsis_nn", type=Path, help="CMSIS-NN source tree or bare git dir")
    p.add_argument("--layers-json", type=Path, required=True,
                   help="mcu.py --layers --json output (its layers.m4 shapes)")
    p.add_argument("--out", type=Path, default=ROOT / "build" / "mcu" / "cmsis-nn",
                   help="work folder [build/mcu/cmsis-nn]")
    p.add_argument("--json", type=Path, default=None,
                   help="write the --compare-counts JSON here [OUT/cmsis_nn.json]")
    args = p.parse_args(argv)
    layer_results = json.loads(args.layers_json.read_text()).get("layers", {}).get("m4")
    if not layer_results:
        p.error(f"{args.layers_json} has no Cortex-M4 layer counts (mcu.py --targets "
                "m4-dsp --layers --json PATH)")
    try:
        doc = measure(args.cmsis_nn, unique_shapes(layer_results), args.out)
    except CmsisNNError as exc:
        print(f"cmsis_nn: {exc}", file=sys.stderr)
        return 2
    out = args.json or args.out / "cmsis_nn.json"
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(detail_table(doc))
    print(f"\nCMSIS-NN {doc['commit']}: {len(doc['records'])} shapes -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
