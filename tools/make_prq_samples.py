"""Write sample .prq model files for the C tests (tools/sanitize.sh, tools/build_c.sh).

Random-weight models of every backbone, quantized with random calibration data: a
tiny one of each backbone (every truncation of these is checked) and the light
presets at T_max = 300 (the real sizes). Not imported by the package.

Usage: python tools/make_prq_samples.py OUT_DIR [--no-light]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from pyreparam.models import build_model, make_config
from pyreparam.quant.backbones import build_graph
from pyreparam.quant.calibrate import calibrate
from pyreparam.quant.lower import lower
from pyreparam.quant.prq import save_prq

TINY = {
    "convtransformer": dict(width=8, heads=2, ffn=6, layers=2, n_mels=5),
    "conformer": dict(width=8, heads=2, ffn=6, layers=2, n_mels=8, conv_kernel=5),
    "speechformer": dict(width=8, heads=2, ffn=4, layers=(1, 1, 1), windows=(3, 5, 0),
                         merges=(3, 2), expand=(1, 2), n_mels=8),
}


def sample(backbone: str, overrides: dict, t_max: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    model = build_model(make_config(backbone, "light", n_classes=4, **overrides), seed,
                        dtype=np.float64)
    for name, p in model.params.items():
        if name.endswith(".b") or name.endswith(".beta"):
            model.params[name] = rng.normal(0.0, 0.2, p.shape)
    graph = build_graph(model)
    M = model.config.n_mels
    qparams = calibrate(graph, [rng.normal(size=(t_max, M)), rng.normal(size=(t_max // 3 + 1, M))])
    program = lower(graph, qparams, t_max, block=7)
    meta = {"input": {"scale": qparams["input"][0], "zero_point": qparams["input"][1]},
            "output": {"scale": qparams["logits"][0], "zero_point": qparams["logits"][1]}}
    return program, meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--no-light", action="store_true", help="tiny models only")
    args = parser.parse_args()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for backbone, overrides in TINY.items():
        save_prq(out / f"tiny_{backbone}.prq", *sample(backbone, overrides, 40))
        if not args.no_light:
            save_prq(out / f"light_{backbone}.prq", *sample(backbone, {}, 300))
    print(f"wrote {len(list(out.glob('*.prq')))} model files to {out}")


if __name__ == "__main__":
    main()
