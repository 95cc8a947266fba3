"""Largest merge error over many random HRF models: merged(x) vs training form(x).

    python tools/merge_error_scan.py [--models 200] [--seed 0] [--json PATH]

Draws random small configurations of all three backbones the way
tests/test_models.py does (widths, heads, layers, r in {1, 2, 4, 8}, k in {1, 2, 3},
bias on/off, Xavier or identity init, any non-empty set of HRF sites), perturbs every
parameter (non-zero biases, non-identity factors, random BatchNorm statistics), merges
with the C kernel, and evaluates both forms in float64 eval mode on random padded
batches. Prints the largest relative logit difference max|a - b| / max|a| per
backbone and overall (the property tests demand <= 1e-10).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from pyreparam.atomic import write_text
from pyreparam.models import BACKBONES, HRF_SITES, HRFConfig, build_model, make_config
from pyreparam.reparam import merge


def random_model(rng: np.random.Generator):
    backbone = str(rng.choice(BACKBONES))
    heads = int(rng.integers(1, 3))
    width = heads * int(rng.integers(4 // heads, 5))
    arch = {"width": width, "heads": heads}
    if backbone == "speechformer":
        arch.update(layers=(1, 1, 1, 1), ffn=int(rng.integers(2, 7)),
                    n_mels=int(rng.choice([width, width + 3])), windows=(3, 5, 3, 0),
                    merges=(2, 3, 2))
    else:
        arch.update(layers=int(rng.integers(1, 3)), ffn=int(rng.integers(3, 13)), n_mels=5)
        if backbone == "conformer":
            arch["conv_kernel"] = 5
    sites = [s for s in HRF_SITES if s != "conv_pw" or backbone == "conformer"]
    chosen = [s for s in sites if rng.random() < 0.5] or [str(rng.choice(sites))]
    hrf = HRFConfig(r=int(rng.choice([1, 2, 4, 8])), k=int(rng.integers(1, 4)),
                    bias=bool(rng.random() < 0.5),
                    init=str(rng.choice(["xavier", "identity"])), sites=tuple(chosen))
    model = build_model(make_config(backbone, "light", hrf=hrf, **arch), rng, np.float64)
    for k, v in model.params.items():
        model.params[k] = v + 0.3 * rng.standard_normal(v.shape)
    for k, v in model.buffers.items():
        model.buffers[k] = np.abs(v + 0.3 * rng.standard_normal(v.shape)) + 0.1
    return model


def merge_error(model, rng: np.random.Generator) -> float:
    merged = merge(model)
    T = int(rng.integers(1, 60))
    x = rng.standard_normal((3, T, model.config.n_mels))
    lengths = rng.integers(1, T + 1, size=3)
    lengths[0] = T
    mask = np.arange(T)[None, :] < lengths[:, None]
    a, b = model.predict_logits(x, mask), merged.predict_logits(x, mask)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("inf")                   # NaN-safe: a broken merge is never small
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-300))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.json:   # its folder now, not after the whole run
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    worst: dict[str, float] = {b: 0.0 for b in BACKBONES}
    counts = {b: 0 for b in BACKBONES}
    for _ in range(args.models):
        model = random_model(rng)
        b = model.config.backbone
        worst[b] = max(worst[b], merge_error(model, rng))
        counts[b] += 1
    for b in BACKBONES:
        print(f"{b:<16} {counts[b]:>4} models  largest relative logit difference "
              f"{worst[b]:.2e}")
    overall = max(worst.values())
    print(f"{'all':<16} {args.models:>4} models  largest relative logit difference {overall:.2e}"
          f"  ({'within' if overall <= 1e-10 else 'ABOVE'} the tests' 1e-10)")
    if args.json:
        write_text(args.json, json.dumps({"models": counts, "worst": worst,
                                         "overall": overall}, indent=1))


if __name__ == "__main__":
    main()
