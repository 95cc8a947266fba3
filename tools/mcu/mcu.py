"""Run the int8 models on emulated Cortex-M cores and check them bit for bit.

    python tools/mcu/mcu.py [--targets m4-ref,m4-dsp,m3-ref,m7-dsp] [--json out.json]

Steps: prepare the light model of each backbone, its inputs and expected logits
(prepare.py); build the runtime for each target and a firmware per model
(build.sh); run each firmware under qemu-system-arm with the counting plugin
(firmware.py); check that every printed logit equals the host C runtime's and the
NumPy reference's, that the runtime's code has no floating point, and gather flash,
RAM and instruction figures (report.py). The instruction counts of the plugin are
verified against QEMU's instruction trace on a short input. Exit status 0 only when
every output matched and every check passed. tools/mcu/run.sh installs the tools and
calls this; see tools/mcu/README.md.
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
sys.path.insert(0, str(HERE))

import cmsis_nn  # noqa: E402
import firmware as fw  # noqa: E402
import layers  # noqa: E402
import pipeline  # noqa: E402
import prepare  # noqa: E402
import report  # noqa: E402
from pyreparam.quant.prq import load_prq  # noqa: E402

ROOT = HERE.parents[1]
DEFAULT_TARGETS = "m4-ref,m4-dsp,m3-ref,m7-dsp"
VERIFY_FRAMES = 4          # input length of the trace verification (trace ~70 B/insn)
TOOLS = ("arm-none-eabi-gcc", "arm-none-eabi-nm", "arm-none-eabi-size",
         "arm-none-eabi-objdump", "qemu-system-arm", "cc")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    prepare.add_common_options(p, ROOT / "build" / "mcu")
    p.add_argument("--targets", default=DEFAULT_TARGETS,
                   help=f"from {', '.join(fw.TARGETS)} [{DEFAULT_TARGETS}]")
    prepare.add_run_options(p)
    p.add_argument("--pipeline-targets", default=pipeline.DEFAULT_TARGETS,
                   help="targets of the pipeline runs (audio in, decisions out through "
                        f"the stream API), '' for none [{pipeline.DEFAULT_TARGETS}]")
    p.add_argument("--layers", action="store_true",
                   help="instructions per layer shape (layers.c) on each DSP target")
    p.add_argument("--compare-counts", type=Path, default=None, metavar="JSON",
                   help="another library's instructions on the same shapes (records "
                        "kernel, shape, instructions; README: CMSIS-NN), shown next to ours")
    p.add_argument("--cmsis-nn", type=Path, default=None, metavar="PATH",
                   help="a CMSIS-NN checkout (source tree or bare git dir): build its s8 "
                        "kernels and count them on the M4's layer shapes (cmsis_nn.py; "
                        "implies --layers, needs m4-dsp)")
    p.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = p.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    args.targets = [t for t in args.targets.split(",") if t]
    args.pipeline_targets = [t for t in args.pipeline_targets.split(",") if t]
    bad = [m for m in args.models if m not in prepare.BACKBONES] + \
          [t for t in args.targets + args.pipeline_targets if t not in fw.TARGETS]
    if bad:
        p.error(f"unknown model or target: {', '.join(bad)}")
    if args.cmsis_nn is not None:
        if args.compare_counts is not None:
            p.error("--cmsis-nn and --compare-counts: give one")
        if "m4-dsp" not in args.targets:
            p.error("--cmsis-nn compares on the Cortex-M4: add m4-dsp to --targets")
        try:
            cmsis_nn.source_tree(args.cmsis_nn, args.out / "cmsis-nn")
        except cmsis_nn.CmsisNNError as exc:
            p.error(str(exc))
        args.layers = True
    return args


def run_one(target: fw.Target, lib: Path, record: dict, args, plugin: Path):
    """Build, run and judge one (target, model) pair."""
    model_dir = args.out / record["backbone"]
    work = args.out / "runs" / target.name
    elf = fw.build_firmware(target, lib, model_dir, work / f"{record['backbone']}.elf")
    run = fw.run_counted(target, elf, plugin, work / f"{record['backbone']}.counts",
                         profile=args.profile)
    prepare.write_text(work / f"{record['backbone']}.out", run.stdout)
    result = report.judge(target, record, elf, run, fw.parse_stdout(run.stdout))
    if args.profile and result["runs"]:
        longest = max(range(len(result["runs"])), key=lambda i: result["runs"][i]["frames"])
        result["profile"] = report.profile_table(run.profiles[2 * longest + 3],
                                                 fw.function_table(elf))
    return result


def kernel_test(target: fw.Target, args) -> dict:
    """The dsp kernels against the reference kernels on the device."""
    elf = fw.build_kernel_test(target, args.out)
    text, status = fw.run_plain(target, elf)
    kernels = fw.parse_kernel_test(text)
    ok = status == 0 and len(kernels) >= 9 and \
        all(k["mismatches"] == 0 for k in kernels.values())
    print(f"{target.name:<8}{'kernels':<17}{'ok' if ok else 'FAILED':<8}"
          f"{len(kernels)} kernels, {sum(k['cases'] for k in kernels.values())} cases")
    if not ok:
        print(text)
    return {"target": target.name, "ok": ok, "kernels": kernels}


def verify_counts(target: fw.Target, lib: Path, record: dict, args, plugin: Path) -> dict:
    """Plugin and instruction trace on the same short input (the first input's first
    VERIFY_FRAMES frames): equal counts for pr_model_check and pr_model_run?"""
    folder = args.out / "verify"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.out / record["backbone"] / "model.h", folder / "model.h")
    _, meta, _ = load_prq(record["prq"])
    wav = args.out / "corpus" / "wav" / record["inputs"][0]["source"]
    x = prepare.input_features(meta, wav, VERIFY_FRAMES)
    prepare.write_inputs_h(folder / "inputs.h", [x], [f"{wav.name}, first frames"])
    elf = fw.build_firmware(target, lib, folder, folder / "verify.elf")
    run = fw.run_counted(target, elf, plugin, folder / "verify.counts")
    trace = fw.trace_counts(target, elf, folder / "exec.log")
    plugin_calls = [b - a for a, b in zip(run.marks[::2], run.marks[1::2])]
    trace_calls = [b - a for a, b in zip(trace[::2], trace[1::2])]
    calls = ["pr_model_check", "pr_norm_apply_s16_s8", "pr_model_run", "pr_norm_update_s16"]
    return {"target": target.name, "model": record["backbone"], "frames": int(x.shape[0]),
            "calls": calls, "plugin": plugin_calls, "trace": trace_calls,
            "equal": len(plugin_calls) == len(calls) and plugin_calls == trace_calls}


def layer_counts(target: fw.Target, lib: Path, records: list[dict], args,
                 plugin: Path) -> dict:
    """Every product / softmax / depthwise call of one inference (the first input) of
    each model, grouped by shape."""
    out = {}
    for record in records:
        res = layers.run(target, lib, args.out / record["backbone"],
                         args.out / "layers" / target.name / f"{record['backbone']}.elf",
                         plugin)
        out[record["backbone"]] = {"frames": res["frames"], "model_instructions": res["model"],
                                   "shapes": layers.group(res["calls"])}
    return out


def compare_layers(results: dict, other: dict | None, name: str) -> None:
    """Per model: the shape table (next to the other library's counts when given) and
    the whole-model sums, stored in results[model]["totals"]."""
    for model, res in results.items():
        groups = res["shapes"]
        res["totals"] = t = layers.totals(groups, other)
        print(layers.table(model, groups, other, name))
        if other is None or not t["macs"]:
            continue
        rest = res["model_instructions"] - t["ours"]
        res["totals"]["model_with_other"] = rest + t["other"]
        print(f"  {model} ({res['frames']} frames), the compared calls ({t['macs'] / 1e6:.2f} M "
              f"MACs): ours {t['ours'] / 1e6:.2f} M instructions ({t['ours'] / t['macs']:.2f} "
              f"/ MAC), {name} {t['other'] / 1e6:.2f} M ({t['other'] / t['macs']:.2f} / MAC); "
              f"the whole pr_model_run {res['model_instructions'] / 1e6:.2f} M, with {name}'s "
              f"kernels in place of ours {(rest + t['other']) / 1e6:.2f} M")


def other_counts(args, layer_results: dict, plugin: Path) -> dict | None:
    """The other library's --compare-counts document: read from --compare-counts, or
    measured now from the CMSIS-NN checkout of --cmsis-nn on the M4's shapes."""
    if args.compare_counts is not None:
        doc = json.loads(args.compare_counts.read_text())
    elif args.cmsis_nn is not None and "m4" in layer_results:
        work = args.out / "cmsis-nn"
        try:
            doc = cmsis_nn.measure(args.cmsis_nn,
                                   cmsis_nn.unique_shapes(layer_results["m4"]), work, plugin)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:   # CmsisNNError too
            print(f"CMSIS-NN comparison FAILED: {str(exc)[-2000:]}")
            return {"library": "CMSIS-NN", "error": str(exc)[-2000:], "records": []}
        prepare.write_text(work / "cmsis_nn.json", json.dumps(doc, indent=1) + "\n")
        print(cmsis_nn.detail_table(doc))
        print(f"CMSIS-NN {doc['commit']} ({doc['flags']}): {work / 'cmsis_nn.json'}\n")
    else:
        return None
    return doc


def run_one_safely(target: fw.Target, lib: Path, record: dict, args, plugin: Path) -> dict:
    """run_one, a failed build or a QEMU time-out becoming a failed result."""
    try:
        return run_one(target, lib, record, args, plugin)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        return {"target": target.name, "ok": False, "errors": [str(exc)[-2000:]],
                "runs": []}


def print_result(name: str, record: dict, res: dict, seconds: float) -> None:
    run = report.longest(res)
    figures = (f"{run['instructions'] / 1e6:.2f} M instructions, "
               f"{run['instructions_per_mac']:.2f} per MAC at {run['frames']} frames"
               if run else "")
    print(f"{name:<8}{record['backbone']:<17}{'ok' if res['ok'] else 'FAILED':<8}"
          f"{figures} ({seconds:.1f} s)", flush=True)
    for e in res["errors"]:
        print(f"    {e}")
    if "profile" in res:
        print(res["profile"])


def run_all(args) -> dict:
    records = prepare.prepared(args)
    plugin = fw.build_plugin(args.out)
    results: dict = {}
    kernels: dict = {}
    layer_results: dict = {}
    verification = None
    for name in args.targets:
        target = fw.TARGETS[name]
        if target.variant == "dsp" and target.core not in kernels:
            kernels[target.core] = kernel_test(target, args)
        lib = fw.build_lib(target, args.out)
        for record in records:
            t0 = time.perf_counter()
            res = run_one_safely(target, lib, record, args, plugin)
            results[(name, record["backbone"])] = res
            print_result(name, record, res, time.perf_counter() - t0)
        if verification is None and not args.no_verify_counts:
            verification = verify_counts(target, lib, records[0], args, plugin)
        if args.layers and target.variant == "dsp" and target.core not in layer_results:
            layer_results[target.core] = layer_counts(target, lib, records, args, plugin)
    compared = other_counts(args, layer_results, plugin) if layer_results else None
    other = None if compared is None else \
        {layers.shape_key(r["kernel"], r["shape"]): r["instructions"]
         for r in compared["records"]}
    for core, res in layer_results.items():
        # the other library's counts are the Cortex-M4's (cmsis_nn.py): next to the M4's
        print(f"\ninstructions per layer shape, {core} (DSP kernels):")
        compare_layers(res, other if core == "m4" else None,
                       compared.get("library", "other") if compared else "")
    piped = pipeline.run(records, args.pipeline_targets, args.out, plugin) \
        if args.pipeline_targets else []
    return {"records": records, "results": results, "verification": verification,
            "kernel_tests": list(kernels.values()), "layers": layer_results,
            "layers_compared": compared, "pipeline": piped}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        print(f"missing tools: {', '.join(missing)} (tools/mcu/run.sh installs them)")
        return 2
    out = run_all(args)
    results, verification = out["results"], out["verification"]
    print()
    print(report.model_table(out["records"], results, args.targets))
    print()
    print(report.target_table(results, args.targets))
    if verification is not None:
        print(f"\ncount verification ({verification['target']}, {verification['model']}, "
              f"{verification['frames']} frames; pr_model_check, pr_model_run): plugin "
              f"{verification['plugin']}, trace {verification['trace']}: "
              f"{'equal' if verification['equal'] else 'DIFFERENT'}")
    if out["pipeline"]:
        print()
        print(pipeline.table(out["pipeline"]))
    ok = all(r["ok"] for r in results.values()) and \
        all(k["ok"] for k in out["kernel_tests"]) and \
        (verification is None or verification["equal"]) and \
        "error" not in (out["layers_compared"] or {}) and \
        all(r["ok"] for r in out["pipeline"])
    if args.json is not None:
        doc = {"ok": ok, "targets": args.targets, "models": out["records"],
               "results": [r for r in results.values()], "kernel_tests": out["kernel_tests"],
               "count_verification": verification, "layers": out["layers"],
               "layers_compared": out["layers_compared"],
               "pipeline": out["pipeline"],
               "pipeline_recordings": {n: {"speaker": v[0], "script": list(v[1]),
                                           "push_blocks": list(v[2]), "what": v[3]}
                                       for n, v in pipeline.RECORDINGS.items()}}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        prepare.write_text(args.json, json.dumps(doc, indent=1) + "\n")
    print(f"\n{'all outputs matched' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
