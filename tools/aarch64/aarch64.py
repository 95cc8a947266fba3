"""Run the int8 kernels and models on emulated aarch64 cores and check them bit for bit.

    python tools/aarch64/aarch64.py [--variants ref,neon,neondot] [--json out.json]

Steps: the light model of each backbone, its inputs and expected logits
(tools/mcu/prepare.py: the same models, inputs and checks as the Cortex-M harness);
the runtime built for each variant (a64build.py: the portable reference, NEON, NEON +
dot product, each level's files chosen by csrc/build_ffi.py); the NEON kernels against
the reference kernels under qemu-aarch64 (kernel_test.c); each model's harness
(model_test.c) under qemu-aarch64 with the counting plugin: every logit and the causal
normalization state's CRC must equal the host C runtime's and the NumPy reference's;
the dot-product build must refuse to run on a core without the dot product; the
plugin's counts are verified against QEMU's instruction trace on a short input. Exit
status 0 only when everything matched. tools/aarch64/run.sh installs the tools and
calls this; see tools/aarch64/README.md.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tools" / "mcu"))

import a64build as ab  # noqa: E402
import firmware as fw  # noqa: E402  (tools/mcu: plugin build, output parsing)
import prepare  # noqa: E402       (tools/mcu: models, inputs, expected logits)
import report as mcu_report  # noqa: E402
from pyreparam.quant.prq import load_prq  # noqa: E402

DEFAULT_VARIANTS = "ref,neon,neondot"
VERIFY_FRAMES = 4
TOOLS = ("aarch64-linux-gnu-gcc", "aarch64-linux-gnu-ar", "aarch64-linux-gnu-nm",
         "aarch64-linux-gnu-readelf", "qemu-aarch64", "cc")
MARKS_PER_INPUT = 6      # model_test.c: before/after apply, run, update
MIN_KERNEL_TESTS = 15    # the lines kernel_test.c prints (kernels and lane arithmetic)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    prepare.add_common_options(p, ROOT / "build" / "aarch64")
    p.add_argument("--variants", default=DEFAULT_VARIANTS,
                   help=f"from {', '.join(ab.VARIANTS)} [{DEFAULT_VARIANTS}]")
    prepare.add_run_options(p)
    p.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = p.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    args.variants = [v for v in args.variants.split(",") if v]
    bad = [m for m in args.models if m not in prepare.BACKBONES] + \
          [v for v in args.variants if v not in ab.VARIANTS]
    if bad:
        p.error(f"unknown model or variant: {', '.join(bad)}")
    return args


# --------------------------------------------------------------------------- judging

def judge(variant: ab.Variant, record: dict, run: ab.Run) -> dict:
    """Logits and normalization CRCs against the host's, instructions per MAC."""
    parsed = fw.parse_stdout(run.stdout)
    n = len(record["inputs"])
    errors = [f"exit status {run.returncode}"] if run.returncode != 0 else []
    if parsed["check"] is None or parsed["check"]["status"] != 0:
        errors.append(f"pr_model_check: {parsed['check']}")
    if len(parsed["runs"]) != n or len(parsed["norms"]) != n:
        errors.append(f"{len(parsed['runs'])} runs, {len(parsed['norms'])} normalization "
                      f"records of {n} inputs")
    if len(run.marks) != 2 + MARKS_PER_INPUT * n:
        errors.append(f"{len(run.marks)} marker snapshots, expected "
                      f"{2 + MARKS_PER_INPUT * n} (did the plugin load?)")
    rows = []
    if not errors:
        for r, norm, inp, want, crc in zip(parsed["runs"], parsed["norms"],
                                           record["inputs"], record["expected"],
                                           record["expected_state_crc"]):
            m = run.marks[2 + MARKS_PER_INPUT * r["index"]:][:MARKS_PER_INPUT]
            count = m[3] - m[2]
            match = r["status"] == 0 and r["logits"] == want and norm["crc"] == crc
            rows.append({"frames": r["frames"], "macs": inp["macs"], "instructions": count,
                         "instructions_per_mac": round(count / max(inp["macs"], 1), 4),
                         "logits": r["logits"], "expected": want, "state_crc": norm["crc"],
                         "expected_state_crc": crc, "match": match})
            if not match:
                errors.append(f"input {r['index']} ({r['frames']} frames): logits "
                              f"{r['logits']} / CRC {norm['crc']:08x}, host C and NumPy "
                              f"{want} / {crc:08x} (status {r['status']})")
    return {"variant": variant.name, "level": variant.level, "cpu": variant.cpu,
            "kernels": parsed["build"], "ok": not errors, "errors": errors,
            "check_instructions": run.marks[1] - run.marks[0] if len(run.marks) > 1 else None,
            "runs": rows}


def longest(result: dict) -> dict | None:
    runs = result.get("runs") or []
    return max(runs, key=lambda r: r["frames"]) if runs else None


# --------------------------------------------------------------------------- steps

def run_model(variant: ab.Variant, lib: Path, record: dict, args, plugin: Path) -> dict:
    work = args.out / "runs" / variant.name
    try:
        elf = ab.build_model_test(lib, args.out / record["backbone"],
                                  work / record["backbone"])
        run = ab.run_counted(variant.cpu, elf, plugin, work / f"{record['backbone']}.counts",
                             profile=args.profile, read_counts=fw.read_counts)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        return {"variant": variant.name, "ok": False, "errors": [str(exc)[-2000:]],
                "runs": []}
    (work / f"{record['backbone']}.out").write_text(run.stdout)
    result = judge(variant, record, run)
    if args.profile and result["runs"]:
        i = max(range(len(result["runs"])), key=lambda k: result["runs"][k]["frames"])
        result["profile"] = mcu_report.profile_table(
            {pc: n for pc, n in run.profiles[2 + MARKS_PER_INPUT * i + 3].items()},
            ab.function_table(elf))
    return result


def kernel_test(variant: ab.Variant, lib: Path, args) -> dict:
    """The variant's kernels against the reference kernels under qemu-aarch64."""
    elf = ab.build_kernel_test(variant.level, lib, args.out / "ktest" / variant.name)
    text, status = ab.run_plain(variant.cpu, elf)
    kernels = fw.parse_kernel_test(text)
    ok = status == 0 and len(kernels) >= MIN_KERNEL_TESTS and \
        all(k["mismatches"] == 0 for k in kernels.values())
    print(f"{variant.name:<9}{'kernels':<17}{'ok' if ok else 'FAILED':<8}"
          f"{len(kernels)} tests, {sum(k['cases'] for k in kernels.values())} cases "
          f"({variant.cpu})", flush=True)
    if not ok:
        print(text)
    return {"variant": variant.name, "cpu": variant.cpu, "ok": ok, "kernels": kernels}


def refusal_check(lib: Path, record: dict, args) -> dict:
    """The dot-product build on a core without it: pr_build_cpu_ok() = 0, the harness
    says so and exits with status 3 before any kernel runs (no illegal instruction)."""
    elf = ab.build_model_test(lib, args.out / record["backbone"],
                              args.out / "runs" / "refusal" / record["backbone"])
    text, status = ab.run_plain(ab.CPU_WITHOUT_DOT, elf)
    ok = status == 3 and "cpu refused" in text and "cpu_ok 0" in text
    print(f"{'neondot':<9}{'on ' + ab.CPU_WITHOUT_DOT:<17}{'ok' if ok else 'FAILED':<8}"
          f"refuses to run: {text.strip().splitlines()[-1] if text.strip() else '?'}")
    return {"cpu": ab.CPU_WITHOUT_DOT, "exit_status": status, "output": text.strip(),
            "ok": ok}


def verify_counts(variant: ab.Variant, lib: Path, record: dict, args, plugin: Path) -> dict:
    """Plugin and instruction trace on the same short input: equal counts?"""
    folder = args.out / "verify"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.out / record["backbone"] / "model.h", folder / "model.h")
    _, meta, _ = load_prq(record["prq"])
    wav = args.out / "corpus" / "wav" / record["inputs"][0]["source"]
    x = prepare.input_features(meta, wav, VERIFY_FRAMES)
    prepare.write_inputs_h(folder / "inputs.h", [x], [f"{wav.name}, first frames"])
    elf = ab.build_model_test(lib, folder, folder / "verify")
    run = ab.run_counted(variant.cpu, elf, plugin, folder / "verify.counts",
                         read_counts=fw.read_counts)
    trace = ab.trace_counts(variant.cpu, elf, folder / "exec.log")
    plugin_calls = [b - a for a, b in zip(run.marks[::2], run.marks[1::2])]
    trace_calls = [b - a for a, b in zip(trace[::2], trace[1::2])]
    calls = ["pr_model_check", "pr_norm_apply_s16_s8", "pr_model_run", "pr_norm_update_s16"]
    return {"variant": variant.name, "model": record["backbone"], "frames": int(x.shape[0]),
            "calls": calls, "plugin": plugin_calls, "trace": trace_calls,
            "equal": len(plugin_calls) == len(calls) and plugin_calls == trace_calls}


def print_result(record: dict, res: dict, seconds: float) -> None:
    run = longest(res)
    figures = (f"{run['instructions'] / 1e6:.2f} M instructions, "
               f"{run['instructions_per_mac']:.3f} per MAC at {run['frames']} frames"
               if run else "")
    print(f"{res['variant']:<9}{record['backbone']:<17}{'ok' if res['ok'] else 'FAILED':<8}"
          f"{figures} ({seconds:.1f} s)", flush=True)
    for e in res["errors"]:
        print(f"    {e}")
    if "profile" in res:
        print(res["profile"])


def model_table(records: list[dict], results: dict, variants: list[str]) -> str:
    """Markdown, one row per model: the longest input's MACs and, per variant, the
    instructions of one inference (per MAC)."""
    head = ["light model", "frames", "MACs"] + \
        [f"{v} ({ab.VARIANTS[v].cpu}): instructions (per MAC)" for v in variants]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for rec in records:
        res = [results.get((v, rec["backbone"])) for v in variants]
        first = next((longest(r) for r in res if r is not None and longest(r)), None)
        if first is None:
            continue
        cells = [rec["backbone"], str(first["frames"]), f"{first['macs'] / 1e6:.2f} M"]
        for r in res:
            best = longest(r) if r else None
            cells.append(f"{best['instructions'] / 1e6:.2f} M ({best['instructions_per_mac']:.3f})"
                         if best else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_all(args) -> dict:
    records = prepare.prepared(args)
    plugin = fw.build_plugin(args.out)
    results: dict = {}
    kernels, refusal, verification = [], None, None
    for name in args.variants:
        variant = ab.VARIANTS[name]
        lib = ab.build_lib(variant.level, args.out / "lib" / name)
        if variant.level != "none":
            kernels.append(kernel_test(variant, lib, args))
        if variant.level == "neondot":
            refusal = refusal_check(lib, records[0], args)
        for record in records:
            t0 = time.perf_counter()
            res = run_model(variant, lib, record, args, plugin)
            results[(name, record["backbone"])] = res
            print_result(record, res, time.perf_counter() - t0)
        if verification is None and not args.no_verify_counts:
            verification = verify_counts(variant, lib, records[0], args, plugin)
    return {"records": records, "results": results, "kernel_tests": kernels,
            "refusal": refusal, "verification": verification}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        print(f"missing tools: {', '.join(missing)} (tools/aarch64/run.sh installs them)")
        return 2
    out = run_all(args)
    results, verification, refusal = out["results"], out["verification"], out["refusal"]
    print()
    print(model_table(out["records"], results, args.variants))
    if verification is not None:
        print(f"\ncount verification ({verification['variant']}, {verification['model']}, "
              f"{verification['frames']} frames; pr_model_check, pr_norm_apply, "
              f"pr_model_run, pr_norm_update): plugin {verification['plugin']}, trace "
              f"{verification['trace']}: "
              f"{'equal' if verification['equal'] else 'DIFFERENT'}")
    ok = all(r["ok"] for r in results.values()) and all(k["ok"] for k in out["kernel_tests"]) \
        and (verification is None or verification["equal"]) \
        and (refusal is None or refusal["ok"])
    if args.json is not None:
        per_mac = {rec["backbone"]: {v: longest(results[(v, rec["backbone"])])
                                     ["instructions_per_mac"]
                                     if longest(results[(v, rec["backbone"])]) else None
                                     for v in args.variants}
                   for rec in out["records"]}
        doc = {"ok": ok, "variants": {v: {"level": ab.VARIANTS[v].level,
                                          "cpu": ab.VARIANTS[v].cpu} for v in args.variants},
               "instructions_per_mac": per_mac, "models": out["records"],
               "results": [dict(r, model=m) for (_, m), r in results.items()],
               "kernel_tests": out["kernel_tests"], "dot_refusal": refusal,
               "count_verification": verification}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"\n{'all outputs matched' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
