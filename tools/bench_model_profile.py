"""Where the int8 C runner spends its time: per op type, for the six configs.

Writes the .prq files of every backbone x size (random weights, as
tools/bench_int8_models.py: T_max = 300 frames = 3 s), compiles
tools/bench_model_run.c with the runtime's sources of one SIMD level
(csrc/build_ffi.select_sources) three times: plain (the latency), with
-DPR_MODEL_PROFILE=1 (a timing hook around every op and the re-validation) and =2
(also the parts of the attention op: projections, Q K^T, softmax, P V), runs each
on a 3 s utterance and prints, per config, the median latency and, per op type, the
median over the runs of its time per run (inclusive; the hooks themselves cost about
2 x 25 ns per call, so the =2 figures of many small calls are inflated). Not imported by the
package.

With --baseline GITREF it also builds the runtime of that commit and times it on the
same models with the least-memory attention schedules (format version 1, which an
older runtime reads) against this checkout's, in alternating rounds (before/after).

Usage: python tools/bench_model_profile.py [--simd LEVEL] [--repeats 200]
       [--configs convtransformer/light,...] [--out DIR] [--json PATH]
       [--baseline GITREF]
"""
from __future__ import annotations

import argparse
import importlib.util
import json

import numpy as np
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAMES = {0: "validate", 1: "loop", 2: "conv1d", 3: "linear", 4: "add", 5: "layernorm",
         6: "lut", 7: "mul", 8: "dwconv", 9: "avgpool", 10: "widen", 11: "mha",
         101: "  mha: Q/K/V projections", 102: "  mha: Q K^T", 103: "  mha: softmax",
         104: "  mha: P V"}


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_models(out: Path, configs: list[str], least_memory: bool = False) -> list[Path]:
    """The .prq files of the configs (backbone/size), random weights, T_max = 300; with
    ``least_memory`` every attention op keeps the one-row, one-head schedule and the
    file is written as format version 1."""
    from pyreparam.atomic import write_bytes
    from pyreparam.models import build_model, make_config
    from pyreparam.quant.prq import write_prq
    bench = _load("bench_int8_models", ROOT / "tools" / "bench_int8_models.py")
    paths = []
    out.mkdir(parents=True, exist_ok=True)
    for config in configs:
        backbone, size = config.split("/")
        model = build_model(make_config(backbone, size, n_classes=7), 0)
        program, meta = bench.quantize(model, arena_budget=0 if least_memory else None)
        path = out / f"{backbone}_{size}.prq"
        write_bytes(path, write_prq(program, meta, host=False,
                                   version=1 if least_memory else 2))
        paths.append(path)
    return paths


def build(level: str, profile: int, exe: Path, cc: str = "gcc", root: Path = ROOT) -> None:
    """bench_model_run.c (always this checkout's) against the runtime of ``root``."""
    ffi = _load(f"build_ffi_{abs(hash(str(root)))}", root / "csrc" / "build_ffi.py")
    flags = ["-std=c99", "-O3", "-fno-strict-aliasing", "-I" + str(root / "csrc")]
    if profile:
        flags.append(f"-DPR_MODEL_PROFILE={profile}")
    srcs = [str(p) for p in ffi.select_sources(level)]
    subprocess.run([cc, *flags, str(ROOT / "tools" / "bench_model_run.c"), *srcs,
                    "-o", str(exe)], check=True)


def baseline(ref: str, work: Path, level: str, configs: list[str], repeats: int,
             new_exe: Path, new_paths: list[Path], rounds: int = 5) -> dict:
    """The runtime of git commit ``ref`` (csrc/ only) on the same models lowered with
    the least-memory attention schedules and written as format version 1 (what a
    runtime before the schedules reads), against this checkout's runtime, in
    alternating rounds: {model: {"before", "after"}: (median wall, median cpu) ms,
    the medians over the rounds, and the arenas}."""
    tree = work / "baseline"
    tree.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "csrc"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    old_exe = work / "bench_baseline"
    build(level, 0, old_exe, root=tree)
    old_paths = write_models(work / "models_v1", configs, least_memory=True)
    runs: dict[str, dict[str, list]] = {}
    for _ in range(rounds):
        for key, exe, paths in (("before", old_exe, old_paths), ("after", new_exe, new_paths)):
            for name, r in run(exe, max(1, repeats // rounds), paths).items():
                runs.setdefault(name, {}).setdefault(key, []).append(r)
    out = {}
    for name, by in runs.items():
        out[name] = {k: {"wall_ms": float(np.median([r["median_ms"] for r in v])),
                         "cpu_ms": float(np.median([r["cpu_ms"] for r in v])),
                         "arena": v[0]["arena"]} for k, v in by.items()}
    return out


def run(exe: Path, repeats: int, paths: list[Path]) -> dict[str, dict]:
    """{model name: {"median_ms", "min_ms", "ops": {id: (calls, us)}}}"""
    text = subprocess.run([str(exe), str(repeats), *map(str, paths)], check=True,
                          capture_output=True, text=True).stdout
    out: dict[str, dict] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("prof "):
            _, k, calls, us = line.split()
            out[current]["ops"][int(k)] = (float(calls), float(us))
        else:
            current = Path(line.split()[0]).stem
            words = line.split()
            out[current] = {"median_ms": float(words[words.index("median") + 1]),
                            "min_ms": float(words[words.index("(min") + 1].rstrip(")")),
                            "cpu_ms": float(words[words.index("cpu") + 1]),
                            "arena": int(words[words.index("arena") + 1]),
                            "ops": {}}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simd", default=None, help="none|avx2|avx512vnni (default: "
                        "the best the machine runs, as PYREPARAM_SIMD=auto)")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--configs", default="convtransformer/light,conformer/light,"
                        "speechformer/light,convtransformer/large,conformer/large,"
                        "speechformer/large")
    parser.add_argument("--out", default=None, help="keep the .prq files and binaries here")
    parser.add_argument("--json", default=None)
    parser.add_argument("--least-memory", action="store_true",
                        help="profile the models with the one-row, one-head attention "
                             "schedules (format version 1: the runner's old behaviour)")
    parser.add_argument("--baseline", default=None, metavar="GITREF",
                        help="also time the runtime of this commit (e.g. 34b6b49, before "
                             "the attention schedules) against this checkout's")
    args = parser.parse_args()
    if args.json:   # its folder now, not after the whole run
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT / "csrc"))
    from build_ffi import resolve_simd
    level = resolve_simd(args.simd)
    work = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="prof_"))
    paths = write_models(work / "models", args.configs.split(","), args.least_memory)
    results = {}
    for profile in (0, 1, 2):
        exe = work / f"bench_p{profile}"
        build(level, profile, exe)
        results[profile] = run(exe, args.repeats, paths)
    print(f"int8 C runner per op type, simd={level}, T = 300 frames, "
          f"{args.repeats} runs each (times per run, us)")
    records = []
    for name in results[0]:
        plain, p1, p2 = results[0][name], results[1][name], results[2][name]
        total = sum(us for k, (_, us) in p1["ops"].items() if k < 100)
        print(f"\n{name}: median {1e3 * plain['median_ms']:.1f} us "
              f"(min {1e3 * plain['min_ms']:.1f}); sum of the ops' medians {total:.1f} us")
        rows = {k: v for k, v in p1["ops"].items()}
        rows.update({k: v for k, v in p2["ops"].items() if k >= 100})
        for k in sorted(rows, key=lambda k: (k if k < 100 else 11 + k / 1000)):
            calls, us = rows[k]
            share = 100 * us / total if total else 0
            print(f"  {NAMES.get(k, str(k)):<28}{calls:>9.1f} calls{us:>10.1f} us"
                  f"{share:>7.1f} %")
        records.append({"model": name, "simd": level, "median_us": 1e3 * plain["median_ms"],
                        "ops": {NAMES.get(k, str(k)).strip(): {"calls": c, "us": u}
                                for k, (c, u) in rows.items()}})
    if args.baseline:
        cmp = baseline(args.baseline, work, level, args.configs.split(","), args.repeats,
                       work / "bench_p0", paths)
        print(f"\nbefore ({args.baseline}, least-memory schedules, format 1) / after "
              "(this checkout), medians over alternating rounds")
        print(f"  {'model':<24}{'arena B':>16}{'wall ms':>18}{'cpu ms':>18}")
        for name, c in cmp.items():
            b, a = c["before"], c["after"]
            print(f"  {name:<24}{b['arena']:>8}/{a['arena']:<8}"
                  f"{b['wall_ms']:>8.3f}/{a['wall_ms']:<8.3f}{b['cpu_ms']:>9.3f}/"
                  f"{a['cpu_ms']:<8.3f}")
        for r in records:
            r["baseline"] = cmp[r["model"]]
    if args.json:
        from pyreparam.atomic import write_text
        write_text(args.json, json.dumps(records, indent=1))


if __name__ == "__main__":
    main()
