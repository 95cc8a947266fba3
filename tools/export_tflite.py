"""Convert a merged float pyreparam model to a full-integer int8 TFLite model (LiteRT).

    python tools/export_tflite.py MODEL.npz --calib calib.npz -o OUT_DIR [--frames 300]
    python tools/export_tflite.py --config conformer:light [--seed 0] --calib calib.npz -o OUT_DIR

Route: the PyTorch twin's batch-1 deployment module (tools/export_onnx.py's
``deploy_module``, the same graph the ONNX export traces) -> ``litert_torch.convert``
-> float32 ``fp32.tflite`` -> ``ai_edge_quantizer`` with its static int8 recipe
(``recipe.static_wi8_ai8()``: int8 weights, symmetric per channel; int8 activations,
asymmetric per tensor, min/max ranges from the calibration utterances; integer compute)
-> ``int8.tflite``, whose every operator, input and output is int8 (checked, listed in
``tflite.json``). Calibration: the utterances of ``--calib`` (an .npz of (T, M) float32
arrays, the normalized log-mel features the C model is calibrated on), each resized to
``--frames`` frames as the ONNX QDQ calibration does.

Two rewrites of the float graph, both needed by the int8 tools, neither changing the
float model's output beyond float rounding:

* SpeechFormer's local-window score bias (0 inside the window, -inf outside) becomes
  -B outside, B = 2 max |score| + 16 over the calibration utterances: an int8 tensor
  cannot hold -inf (its quantization scale becomes ~1e36, which LiteRT rejects), and
  with B so large every key outside a window weighs at most e^-16 of some key inside
  it in float, and exactly 0 after the int8 softmax (1/256 steps).
* ``int8_tflm.tflite`` (only when the model has GELU, i.e. the ConvTransformer): the
  same model with GELU written in its tanh form 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715
  x^3))) = x sigmoid(2 sqrt(2/pi) (...)) as MUL, ADD and LOGISTIC, because TFLite-Micro
  has no GELU kernel; used for TFLite-Micro's arena and host latency only (the erf
  form differs by < 1e-3).

This is a tools/ module (needs the bench extra: torch, litert-torch, ai-edge-quantizer,
ai-edge-litert); pyreparam never imports it.
"""
from __future__ import annotations

import argparse
import collections
import json
import math
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_onnx  # noqa: E402

DEFAULT_FRAMES = export_onnx.DEFAULT_FRAMES
WINDOW_MARGIN = 16.0        # B = 2 max |score| + WINDOW_MARGIN (score units)


class TanhGELU(nn.Module):
    """GELU's tanh form from elementary ops, written with the logistic function
    (0.5 (1 + tanh(y)) = sigmoid(2 y): MUL, ADD, LOGISTIC in TFLite; litert_torch turns
    the tanh spelling back into its GELU operator)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = 2.0 * math.sqrt(2.0 / math.pi)
        return x * torch.sigmoid(c * (x + 0.044715 * x * x * x))


def finite_window_bias(deploy: nn.Module, calib: list[np.ndarray]) -> float | None:
    """Replace -inf in the deployment module's window biases by -B (see the module doc);
    B, or None when the model has no window."""
    names = [n for n, _ in deploy.named_buffers() if n.startswith("window_bias")]
    if not names:
        return None
    largest = 0.0
    attention = export_onnx.attention

    def recording(attn, x, bias=None):          # export_onnx.attention, scores recorded
        nonlocal largest
        B, T, C = x.shape
        H = attn.heads
        D = attn.out.out_features // H
        q, k, _ = attn.qkv(x).view(B, T, 3, H, D).permute(2, 0, 3, 1, 4)
        scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(D))
        largest = max(largest, float(scores.abs().max()))
        return attention(attn, x, bias)

    export_onnx.attention = recording
    try:
        with torch.no_grad():
            for x in calib:
                deploy(torch.from_numpy(x)[None])
    finally:
        export_onnx.attention = attention
    bound = 2.0 * largest + WINDOW_MARGIN
    for name in names:
        bias = getattr(deploy, name)
        bias.copy_(torch.where(torch.isinf(bias), torch.full_like(bias, -bound), bias))
    return bound


def op_summary(path: Path) -> dict:
    """Operator counts and the dtypes of their tensors, and the model's input/output."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    itp = Interpreter(model_path=str(path),
                      experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    tensors = {t["index"]: t for t in itp.get_tensor_details()}
    ops: collections.Counter = collections.Counter()
    float_ops = set()
    for op in itp._get_ops_details():
        types = {tensors[i]["dtype"].__name__ for i in [*op["inputs"], *op["outputs"]]
                 if i >= 0}
        ops[op["op_name"]] += 1
        if types & {"float32", "float16"}:
            float_ops.add(op["op_name"])

    def io(d):
        return {"dtype": d["dtype"].__name__, "shape": [int(v) for v in d["shape"]],
                "scale": float(d["quantization"][0]),
                "zero_point": int(d["quantization"][1])}

    return {"ops": dict(sorted(ops.items())), "float_ops": sorted(float_ops),
            "input": io(itp.get_input_details()[0]),
            "output": io(itp.get_output_details()[0])}


def quantize_int8(fp32: Path, out: Path, calib: list[np.ndarray]) -> Path:
    """ai-edge-quantizer's static int8 recipe, calibrated on `calib` (each (1, T, M))."""
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import quantizer, recipe
    from ai_edge_quantizer.utils import tfl_interpreter_utils

    name = list(Interpreter(model_path=str(fp32)).get_signature_runner()
                .get_input_details())[0]
    qt = quantizer.Quantizer(str(fp32))
    qt.load_quantization_recipe(recipe.static_wi8_ai8())
    samples = [{name: x[None].astype(np.float32)} for x in calib]
    result = qt.quantize(qt.calibrate({tfl_interpreter_utils.DEFAULT_SIGNATURE_KEY: samples}))
    out.write_bytes(bytes(result.quantized_model))
    return out


def convert(deploy: nn.Module, frames: int, n_mels: int, path: Path) -> Path:
    import litert_torch

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        edge = litert_torch.convert(deploy, (torch.zeros(1, frames, n_mels),))
    edge.export(str(path))
    return path


def export_tflite(model, calib: list[np.ndarray], folder, frames: int = DEFAULT_FRAMES) -> dict:
    """fp32.tflite, int8.tflite (and int8_tflm.tflite when the model has GELU) of a
    pyreparam model in `folder`; returns the paths and facts (also in tflite.json)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n_mels = model.config.n_mels
    calib = [np.resize(x, (frames, n_mels)).astype(np.float32) for x in calib]
    deploy = export_onnx.deploy_module(model, frames)
    bound = finite_window_bias(deploy, calib)
    doc = {"route": "PyTorch twin -> litert_torch.convert -> ai_edge_quantizer "
                    "static_wi8_ai8 (full-integer int8)",
           "window_bias": None if bound is None else -bound, "calibration": len(calib)}
    fp32 = convert(deploy, frames, n_mels, folder / "fp32.tflite")
    int8 = quantize_int8(fp32, folder / "int8.tflite", calib)
    doc["fp32"], doc["int8"] = str(fp32), str(int8)
    doc["int8_ops"] = op_summary(int8)
    gelus = [n for n, m in deploy.named_modules() if isinstance(m, nn.GELU)]
    doc["tflm"] = str(int8)
    if gelus:
        for name in gelus:
            parent, _, leaf = name.rpartition(".")
            setattr(deploy.get_submodule(parent) if parent else deploy, leaf, TanhGELU())
        fp32_t = convert(deploy, frames, n_mels, folder / "fp32_tflm.tflite")
        doc["tflm"] = str(quantize_int8(fp32_t, folder / "int8_tflm.tflite", calib))
        doc["tflm_note"] = f"GELU in its tanh form ({len(gelus)} modules): no TFLM kernel"
    (folder / "tflite.json").write_text(json.dumps(doc, indent=1) + "\n")
    return doc


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("checkpoint", nargs="?", help="a pyreparam checkpoint (.npz)")
    source.add_argument("--config", help="BACKBONE:SIZE with random weights")
    parser.add_argument("--seed", type=int, default=0, help="weights of --config")
    parser.add_argument("--n-classes", type=int, default=7, help="classes of --config")
    parser.add_argument("--calib", required=True,
                        help=".npz of (T, M) float32 calibration features")
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES)
    parser.add_argument("-o", "--output", required=True, help="folder to write into")
    args = parser.parse_args(argv)
    model = export_onnx.model_from_args(args.checkpoint, args.config, args.seed,
                                        args.n_classes)
    with np.load(args.calib) as data:
        calib = [data[k] for k in sorted(data.files, key=lambda k: int(k.split("_")[-1]))]
    doc = export_tflite(model.astype(np.float32), calib, args.output, args.frames)
    print(json.dumps({k: doc[k] for k in ("int8", "tflm", "window_bias")}))


if __name__ == "__main__":
    main()
