"""TFLite export (tools/export_tflite.py): the full-integer int8 .tflite of the light
models that tools/bench_infer.py times in LiteRT and TFLite-Micro.

Skipped without torch, litert-torch, ai-edge-quantizer, ai-edge-litert or tflite-micro
(the bench extra). For the light ConvTransformer and SpeechFormer (random weights, 300
frames): the float32 .tflite equals the float model (LiteRT, reference kernels,
1e-4 relative); every operator, the input and the output of the int8 model are int8;
its dequantized logits are within 10 % of the float model's (int8 post-training
quantization of random weights, a sanity bound); SpeechFormer's window bias is finite
and below every score by more than 16; the TFLite-Micro model has no GELU and runs in
the tflite-micro interpreter, whose logits agree with LiteRT's within a few int8 steps.
"""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("litert_torch")
pytest.importorskip("ai_edge_quantizer")
litert = pytest.importorskip("ai_edge_litert.interpreter")
tflm = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")

from pyreparam.models import build_model, make_config  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "export_tflite", Path(__file__).resolve().parents[1] / "tools" / "export_tflite.py")
export_tflite = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(export_tflite)

FRAMES = 300                 # the benchmark's (at 64, a converter lowering leaves a float softmax)


def run_tflite(path, x, op_resolver=None):
    kwargs = {} if op_resolver is None else {"experimental_op_resolver_type": op_resolver}
    itp = litert.Interpreter(model_path=str(path), num_threads=1, **kwargs)
    itp.allocate_tensors()
    inp, out = itp.get_input_details()[0], itp.get_output_details()[0]
    itp.set_tensor(inp["index"], x)
    itp.invoke()
    return itp.get_tensor(out["index"]), inp, out


@pytest.fixture(scope="module", params=["convtransformer", "speechformer"])
def exported(request, tmp_path_factory):
    model = build_model(make_config(request.param, "light", n_classes=7), 0)
    rng = np.random.default_rng(1)
    calib = [rng.standard_normal((FRAMES, model.config.n_mels)).astype(np.float32)
             for _ in range(4)]
    doc = export_tflite.export_tflite(model.astype(np.float32), calib,
                                      tmp_path_factory.mktemp("tflite"), FRAMES)
    x = rng.standard_normal((1, FRAMES, model.config.n_mels)).astype(np.float32)
    return request.param, model, doc, x


def test_fp32_equals_the_float_model(exported):
    _, model, doc, x = exported
    ref = model.astype(np.float64).predict_logits(x.astype(np.float64))
    y, _, _ = run_tflite(doc["fp32"], x, litert.OpResolverType.BUILTIN_REF)
    assert np.abs(y - ref).max() <= 1e-4 * np.abs(ref).max()


def test_int8_model_is_full_integer(exported):
    _, model, doc, x = exported
    ops = doc["int8_ops"]
    assert ops["float_ops"] == [] and ops["input"]["dtype"] == "int8"
    assert ops["output"]["dtype"] == "int8"
    assert {"FULLY_CONNECTED", "BATCH_MATMUL", "SOFTMAX"} <= set(ops["ops"])
    scale, zp = ops["input"]["scale"], ops["input"]["zero_point"]
    xq = np.clip(np.round(x / scale) + zp, -128, 127).astype(np.int8)
    yq, _, out = run_tflite(doc["int8"], xq)
    y = out["quantization"][0] * (yq.astype(np.float64) - out["quantization"][1])
    ref = model.astype(np.float64).predict_logits(x.astype(np.float64))
    assert np.abs(y - ref).max() <= 0.1 * np.abs(ref).max()


def test_window_bias_is_finite_and_below_every_score(exported):
    backbone, _, doc, _ = exported
    if backbone == "speechformer":
        assert doc["window_bias"] is not None and doc["window_bias"] < -16
    else:
        assert doc["window_bias"] is None
    assert json.loads((Path(doc["int8"]).parent / "tflite.json").read_text()) == doc


def test_tflm_model_runs_in_tflite_micro(exported):
    backbone, _, doc, x = exported
    assert "GELU" not in export_tflite.op_summary(Path(doc["tflm"]))["ops"]
    assert (doc["tflm"] != doc["int8"]) == (backbone == "convtransformer")
    interp = tflm.Interpreter.from_file(doc["tflm"], arena_size=4 << 20)
    q = interp.get_input_details(0)["quantization_parameters"]
    xq = np.clip(np.round(x / q["scales"][0]) + q["zero_points"][0], -128, 127)
    interp.set_input(xq.astype(np.int8), 0)
    interp.invoke()
    y_micro = interp.get_output(0).astype(int)
    y_lite, _, _ = run_tflite(doc["int8"], xq.astype(np.int8))
    assert np.abs(y_micro - y_lite.astype(int)).max() <= 8
