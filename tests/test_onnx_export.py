"""ONNX export (tools/export_onnx.py): ONNX Runtime fp32 logits equal pyreparam's.

Skipped without torch, onnx or onnxruntime. Every preset (three backbones, light and
large) with random non-trivial parameters (perturbed weights, non-zero biases,
non-unit gains, random BatchNorm statistics) at the default 300 frames, and small
configs with HRF factors (merged by the exporter) at frame counts that leave short
merge groups and clipped attention windows: ORT fp32 on the exported graph vs
``Model.predict_logits`` in float32,

    max |ort - numpy| <= 1e-4 max |numpy|.
"""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from pyreparam.models import (  # noqa: E402
    BACKBONES, SIZES, HRFConfig, build_model, make_config, save_checkpoint)

_spec = importlib.util.spec_from_file_location(
    "export_onnx", Path(__file__).resolve().parents[1] / "tools" / "export_onnx.py")
export_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(export_mod)

REL_TOL = 1e-4

TINY = {
    "convtransformer": dict(width=8, layers=2, heads=2, ffn=12, n_mels=5),
    "conformer": dict(width=8, layers=2, heads=2, ffn=12, n_mels=5, conv_kernel=5),
    "speechformer": dict(width=8, layers=(1, 2, 1, 1), heads=2, ffn=4, n_mels=6,
                         windows=(3, 5, 3, 0), merges=(2, 3, 2), expand=(1, 2, 1)),
}


def randomize(model, rng):
    """Perturb every parameter on the scale of its init; random BatchNorm statistics."""
    for name, v in model.params.items():
        scale = 0.5 / np.sqrt(np.prod(v.shape[1:])) if v.ndim > 1 else 0.2
        model.params[name] = (v + scale * rng.standard_normal(v.shape)).astype(v.dtype)
    for name, v in model.buffers.items():
        if name.endswith("running_var"):
            model.buffers[name] = rng.uniform(0.5, 2.0, v.shape).astype(v.dtype)
        else:
            model.buffers[name] = (0.3 * rng.standard_normal(v.shape)).astype(v.dtype)
    return model


def ort_logits(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {export_mod.INPUT_NAME: x})[0]


def assert_close(ort_out, numpy_out):
    err = np.abs(ort_out - numpy_out).max()
    scale = np.abs(numpy_out).max()
    assert scale > 0.01, "degenerate logits: the comparison would be vacuous"
    assert err <= REL_TOL * scale, f"max |ort - numpy| = {err:.3g}, max |numpy| = {scale:.3g}"


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("backbone", BACKBONES)
def test_presets_match_numpy(backbone, size, tmp_path):
    rng = np.random.default_rng(7)
    model = randomize(build_model(make_config(backbone, size, n_classes=7), 3), rng)
    path = export_mod.export_onnx(model, tmp_path / "m.onnx")
    x = rng.standard_normal((1, export_mod.DEFAULT_FRAMES, model.config.n_mels))
    x = x.astype(np.float32)
    assert_close(ort_logits(path, x), model.predict_logits(x))


@settings(max_examples=6)
@given(backbone=st.sampled_from(BACKBONES), frames=st.integers(1, 70),
       hrf=st.booleans(), seed=st.integers(0, 2**16))
def test_small_configs_with_hrf_match_numpy(backbone, frames, hrf, seed, tmp_path_factory):
    """Any frame count (short last merge groups, windows clipped at the edges); a
    model with HRF factors is exported in its merged form, same function."""
    rng = np.random.default_rng(seed)
    config = make_config(backbone, "light", n_classes=3, **TINY[backbone],
                         hrf=HRFConfig(r=2, k=2) if hrf else None)
    model = randomize(build_model(config, seed), rng)
    path = export_mod.export_onnx(model, tmp_path_factory.mktemp("onnx") / "m.onnx", frames)
    x = rng.standard_normal((1, frames, config.n_mels)).astype(np.float32)
    assert_close(ort_logits(path, x), model.predict_logits(x))


def test_graph_is_batch1_fixed_frames_and_valid(tmp_path):
    model = build_model(make_config("conformer", "light", n_classes=5), 0)
    path = export_mod.export_onnx(model, tmp_path / "m.onnx", frames=123)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)

    def dims(value):
        return [d.dim_value for d in value.type.tensor_type.shape.dim]

    assert [i.name for i in proto.graph.input] == [export_mod.INPUT_NAME]
    assert dims(proto.graph.input[0]) == [1, 123, 64]
    assert dims(proto.graph.output[0]) == [1, 5]
    # a clean deployment graph: no masking or boolean indexing left
    ops = {n.op_type for n in proto.graph.node}
    assert not ops & {"Where", "NonZero", "ScatterND", "GatherND", "Shape"}, ops
    assert "BatchNormalization" in ops or "Conv" in ops


def test_command_line(tmp_path, capsys):
    """From a checkpoint with HRF factors (merged on export), and from --config."""
    rng = np.random.default_rng(1)
    config = make_config("speechformer", "light", n_classes=3, **TINY["speechformer"],
                         hrf=HRFConfig())
    model = randomize(build_model(config, 1), rng)
    save_checkpoint(tmp_path / "sf.npz", model)
    export_mod.main([str(tmp_path / "sf.npz"), "--frames", "45", "-o", str(tmp_path / "sf.onnx")])
    x = rng.standard_normal((1, 45, config.n_mels)).astype(np.float32)
    assert_close(ort_logits(tmp_path / "sf.onnx", x), model.predict_logits(x))

    export_mod.main(["--config", "convtransformer:light", "--frames", "40", "-o",
                     str(tmp_path / "ct.onnx")])
    assert capsys.readouterr().out.count("wrote") == 2
    x = rng.standard_normal((1, 40, 64)).astype(np.float32)
    model = build_model(make_config("convtransformer", "light", n_classes=7), 0)
    assert_close(ort_logits(tmp_path / "ct.onnx", x), model.predict_logits(x))
