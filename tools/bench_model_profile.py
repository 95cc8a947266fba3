"""Where the int8 C runner spends its time: per op type, for the six configs.

Writes the .prq files of every backbone x size (random weights, as
tools/bench_int8_models.py: T_max = 300 frames = 3 s), compiles
tools/bench_model_run.c with the runtime's sources of one SIMD level
(csrc/build_ffi.select_sources) three times: plain (the latency), with
-DPR_MODEL_PROFILE=1 (a timing hook around every op and the re-validation) and =2
(also the parts of the attention op: projections, Q K^T, softmax, P V), runs each
on a 3 s utterance and prints, per config, the median latency and the mean time per
run of every op type (inclusive; the hooks themselves cost about 2 x 25 ns per
call, so the =2 figures of the per-row attention are inflated). Not imported by the
package.

Usage: python tools/bench_model_profile.py [--simd LEVEL] [--repeats 200]
       [--configs convtransformer/light,...] [--out DIR] [--json PATH]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
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


def write_models(out: Path, configs: list[str]) -> list[Path]:
    """The .prq files of the configs (backbone/size), random weights, T_max = 300."""
    from pyreparam.models import build_model, make_config
    from pyreparam.quant.prq import write_prq
    bench = _load("bench_int8_models", ROOT / "tools" / "bench_int8_models.py")
    paths = []
    out.mkdir(parents=True, exist_ok=True)
    for config in configs:
        backbone, size = config.split("/")
        model = build_model(make_config(backbone, size, n_classes=7), 0)
        program, meta = bench.quantize(model)
        path = out / f"{backbone}_{size}.prq"
        path.write_bytes(write_prq(program, meta, host=False))
        paths.append(path)
    return paths


def build(level: str, profile: int, exe: Path, cc: str = "gcc") -> None:
    sys.path.insert(0, str(ROOT / "csrc"))
    from build_ffi import select_sources
    flags = ["-std=c99", "-O3", "-fno-strict-aliasing", "-I" + str(ROOT / "csrc")]
    if profile:
        flags.append(f"-DPR_MODEL_PROFILE={profile}")
    srcs = [str(p) for p in select_sources(level)]
    subprocess.run([cc, *flags, str(ROOT / "tools" / "bench_model_run.c"), *srcs,
                    "-o", str(exe)], check=True)


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
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "csrc"))
    from build_ffi import resolve_simd
    level = resolve_simd(args.simd)
    work = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="prof_"))
    paths = write_models(work / "models", args.configs.split(","))
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
              f"(min {1e3 * plain['min_ms']:.1f}); profiled ops sum {total:.1f} us")
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
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1))


if __name__ == "__main__":
    main()
