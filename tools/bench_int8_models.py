"""Arena, flash, MACs per second and host latency of the int8 C runner, all six configs.

Every backbone x size, merged form, quantized for T_max = 300 frames (3 s) with random
weights and random calibration data (sizes do not depend on the values, and the
latency hardly does), then: arena bytes (pr_model_check; also the arena the
least-memory attention schedules would need), flash (the device copy:
program + constants + scales, no host metadata), MACs per second of audio, and the
median latency of pr_model_run on a 3 s utterance over --repeats runs (after two
warm-up runs). Optionally trained checkpoints replace the random light models
(--model BACKBONE=PATH). Not imported by the package.

Usage: python tools/bench_int8_models.py [--repeats 50] [--model conformer=ckpt.npz] [--json]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from pyreparam import native
from pyreparam.models import BACKBONES, SIZES, build_model, load_checkpoint, make_config
from pyreparam.quant.inspect import describe
from pyreparam.quant.backbones import build_graph
from pyreparam.quant.calibrate import calibrate
from pyreparam.quant.lower import lower
from pyreparam.quant.prq import write_prq
from pyreparam.quant.runtime import PRQModel

T_MAX = 300
KB = 1024


def calibrated(model, seed: int = 0):
    """(graph, qparams) of a model calibrated on random features."""
    rng = np.random.default_rng(seed)
    graph = build_graph(model)
    M = model.config.n_mels
    return graph, calibrate(graph, [rng.normal(size=(T_MAX, M)), rng.normal(size=(120, M))])


def quantize(model, seed: int = 0, arena_budget: int | None = None, calib=None):
    """(program, meta) of a model calibrated on random features (or ``calib``, a
    (graph, qparams) pair); ``arena_budget`` as in :func:`pyreparam.quant.lower.lower`
    (None: its default; 0: the least-memory attention schedules)."""
    graph, qparams = calib if calib is not None else calibrated(model, seed)
    options = {} if arena_budget is None else {"arena_budget": arena_budget}
    program = lower(graph, qparams, T_MAX, **options)
    meta = {"input": {"scale": qparams["input"][0], "zero_point": qparams["input"][1]},
            "output": {"scale": qparams["logits"][0], "zero_point": qparams["logits"][1]},
            "model_config": model.config.to_dict()}
    return program, meta


def latency_ms(runner: PRQModel, repeats: int, seed: int = 0) -> float:
    x = np.random.default_rng(seed).integers(-128, 128, (T_MAX, runner.info["input_cols"]))
    x = x.astype(np.int8)
    for _ in range(2):
        runner.run(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        runner.run(x)
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--model", action="append", default=[],
                        help="BACKBONE=PATH: a trained merged light checkpoint to use")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    trained = dict(item.split("=", 1) for item in args.model)
    rows = []
    for backbone in BACKBONES:
        for size in SIZES:
            if size == "light" and backbone in trained:
                model, source = load_checkpoint(trained[backbone]), "trained"
            else:
                model, source = build_model(make_config(backbone, size, n_classes=7), 0), \
                    "random"
            calib = calibrated(model)
            program, meta = quantize(model, calib=calib)
            least = quantize(model, arena_budget=0, calib=calib)[0].arena_bytes
            blob = write_prq(program, meta)
            runner = PRQModel(blob)
            d = describe(program, meta, len(blob))
            rows.append({"backbone": backbone, "size": size, "weights": source,
                         "params": model.n_params(), "arena_bytes": runner.info["arena_bytes"],
                         "arena_least_memory_bytes": least,
                         "flash_bytes": d["flash_bytes"],
                         "macs_per_second": d["macs_per_second"],
                         "latency_ms": round(latency_ms(runner, args.repeats), 3)})
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    ffi, lib = native.handle()
    build = ffi.string(lib.pr_build_info()).decode() if hasattr(lib, "pr_build_info") \
        else "unknown"
    print(f"int8 C runner, T_max = {T_MAX} frames (3 s), median of {args.repeats} runs "
          f"({build})")
    print("(arena KB: with the attention schedules the lowering chose; least: with the "
          "one-row, one-head schedules)")
    print(f"{'backbone':<16}{'size':<7}{'weights':<9}{'params':>10}{'arena KB':>10}"
          f"{'least KB':>10}{'flash KB':>10}{'MMAC/s':>9}{'latency ms':>12}")
    for r in rows:
        print(f"{r['backbone']:<16}{r['size']:<7}{r['weights']:<9}{r['params']:>10,}"
              f"{r['arena_bytes'] / KB:>10.1f}{r['arena_least_memory_bytes'] / KB:>10.1f}"
              f"{r['flash_bytes'] / KB:>10.1f}"
              f"{r['macs_per_second'] / 1e6:>9.2f}{r['latency_ms']:>12.2f}")


if __name__ == "__main__":
    main()
