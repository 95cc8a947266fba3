"""The int8 commands end to end on a small synthetic corpus: quantize (with and
without --eval, refusing an HRF model), infer (.prq and .npz, bad audio, bad model
file, audio longer than T_max), export (compiled and run with the host's C
compiler: same logits as the Python runner) and inspect."""
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from pyreparam import native
from pyreparam.cli import main

pytestmark = pytest.mark.skipif(not native.available(), reason="C extension not built")
ROOT = Path(__file__).resolve().parents[1]
SR = 16000


def cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


def write_corpus(folder: Path, n: int = 8, seconds: float = 0.6) -> Path:
    """Tones and noise of two 'emotions' by two speakers, and their manifest (labels
    class0 / class1: the names a checkpoint from `pyreparam init` gets)."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["path,label,speaker"]
    t = np.arange(int(SR * seconds)) / SR
    for i in range(n):
        label = ("class0", "class1")[i % 2]
        f0 = 150 + 40 * i if label == "class0" else 400 + 60 * i
        x = (0.05 if label == "class0" else 0.3) * np.sin(2 * np.pi * f0 * t)
        x = x + 0.01 * rng.standard_normal(t.size)
        path = folder / f"u{i}.wav"
        sf.write(path, x.astype(np.float32), SR, subtype="PCM_16")
        rows.append(f"{path},{label},spk{i % 2}")
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("quant_cli")
    manifest = write_corpus(tmp / "corpus")
    ckpt = tmp / "ct.npz"
    result = cli("init", "--backbone", "convtransformer", "--classes", "2", "-o", ckpt)
    assert result.exit_code == 0, result.output
    prq = tmp / "ct.prq"
    result = cli("quantize", ckpt, "--calib", manifest, "--n", "6", "--max-seconds", "0.5",
                 "--cache", "none", "-o", prq)
    assert result.exit_code == 0, result.output
    return tmp, manifest, ckpt, prq, result.output


def test_quantize_prints_error_table_and_notes_default_frontend(setup):
    _, _, _, prq, output = setup
    assert "no front end" in output and "per-utterance normalization" in output
    assert "per-layer error" in output and "layers.1.ffn.fc2" in output and "logits" in output
    assert prq.is_file() and "C check: ok" in output


def test_quantize_eval_json(setup):
    tmp, manifest, ckpt, _, _ = setup
    result = cli("quantize", ckpt, "--calib", manifest, "--eval", manifest, "--n", "4",
                 "--max-seconds", "0.3", "--method", "percentile", "--cache", "none",
                 "--json", "-o", tmp / "eval.prq")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["eval"]["n"] == 8 and report["eval"]["cut"] == 8   # 0.6 s > 0.3 s
    for kind in ("float", "int8"):
        assert 0.0 <= report["eval"][kind]["ua"] <= 1.0
    assert report["t_max"] == 30 and report["arena_bytes"] > 0
    assert {r["name"] for r in report["errors"]} >= {"subsample.conv1", "logits"}


def test_quantize_refuses_hrf_and_bad_inputs(setup, tmp_path):
    _, manifest, ckpt, _, _ = setup
    hrf = tmp_path / "hrf.npz"
    assert cli("init", "--backbone", "conformer", "--hrf", "2", "-o", hrf).exit_code == 0
    result = cli("quantize", hrf, "--calib", manifest, "-o", tmp_path / "x.prq")
    assert result.exit_code != 0 and "merge first: pyreparam merge IN OUT" in result.output
    result = cli("quantize", tmp_path / "missing.npz", "--calib", manifest, "-o",
                 tmp_path / "x.prq")
    assert result.exit_code != 0 and "no such checkpoint" in result.output


def test_infer_prq_and_npz(setup):
    tmp, _, ckpt, prq, _ = setup
    wavs = sorted((tmp / "corpus").glob("u*.wav"))[:2]
    result = cli("infer", prq, *wavs, "--json")
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    assert [r["file"] for r in records] == [str(w) for w in wavs]
    for r in records:
        assert r["emotion"] in ("class0", "class1")
        assert abs(sum(r["probabilities"].values()) - 1) < 1e-4
        assert r["latency_ms"] >= 0 and r["frames"] == 50
        assert "cut to the model's T_max" in r["note"]        # 0.6 s audio, 0.5 s T_max
    text = cli("infer", ckpt, wavs[0])
    assert text.exit_code == 0 and "float (NumPy)" in text.output


def test_infer_bad_audio_and_bad_model(setup, tmp_path):
    tmp, _, _, prq, _ = setup
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really a wav file")
    good = sorted((tmp / "corpus").glob("u*.wav"))[0]
    result = cli("infer", prq, good, bad)
    assert result.exit_code != 0 and "1 of 2 file(s) could not be read" in result.output
    corrupt = tmp_path / "corrupt.prq"
    blob = bytearray(prq.read_bytes())
    blob[200] ^= 0x55
    corrupt.write_bytes(bytes(blob))
    result = cli("infer", corrupt, good)
    assert result.exit_code != 0 and "CRC" in result.output
    result = cli("infer", tmp_path / "none.prq", good)
    assert result.exit_code != 0 and "no such model file" in result.output


def test_inspect(setup):
    _, _, _, prq, _ = setup
    result = cli("inspect", prq, "--json")
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert d["t_max"] == 50 and d["c_check"] == "ok"
    assert d["flash_bytes"] < d["file_bytes"] and d["arena_bytes"] > 0
    assert d["macs_per_second"] > 0 and any(op["op"] == "mha" for op in d["ops"])
    text = cli("inspect", prq)
    assert text.exit_code == 0 and "MACs per second" in text.output


@pytest.mark.skipif(shutil.which("gcc") is None, reason="no host C compiler")
def test_export_with_causal_normalization_compiles_and_matches_python(setup, tmp_path):
    """quantize fits a prior for a model without one; export writes the causal
    normalization's constants, the front end's tables and the stream's configuration;
    the example main.c (audio on stdin in, one line per decision out) prints exactly
    the decisions of the host's stream (pyreparam.stream, the same C API via cffi)."""
    from pyreparam.data.synth import synthesize_recording
    from pyreparam.quant.qfrontend import pcm16
    from pyreparam.stream import StreamModel, stream_pcm
    _, _, _, prq, output = setup
    assert "fitted one on the 8 calibration utterances" in output
    header = tmp_path / "fw" / "model.h"
    assert cli("export", prq, "--c-header", header, "--name", "ser").exit_code == 0
    text = header.read_text()
    for item in ("#define SER_NORM_PARAMS", "aligned(16)", "#define SER_STREAM_CONFIG",
                 "#define SER_LOGMEL_PARAMS", "ser_logmel_mel_weights", "SER_STREAM_BYTES"):
        assert item in text, item
    exe = tmp_path / "demo"
    sources = sorted(str(p) for p in (ROOT / "csrc").glob("*.c"))
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O1",
                    f"-I{ROOT / 'csrc'}", f"-I{header.parent}", str(header.parent / "main.c"),
                    *sources, "-o", str(exe)], check=True, capture_output=True)
    pcm = pcm16(synthesize_recording(0, 0, ("anger", 1.5, "sadness")))
    out = subprocess.run([str(exe)], input=pcm.astype("<i2").tobytes(), check=True,
                         capture_output=True).stdout.decode()
    lines = [line for line in out.splitlines() if " ms: " in line]
    model = StreamModel.from_file(prq)
    decisions, _ = stream_pcm(model, pcm)
    assert len(lines) == len(decisions) >= 5 and any(d.gated for d in decisions)
    for line, d in zip(lines, decisions):
        hop, sr = model.config.hop_samples, model.sample_rate
        start = d.start_frame * hop * 1000 // sr
        end = ((d.end_frame - 1) * hop + model.tables.win_length) * 1000 // sr
        assert line.startswith(f"{start}-{end} ms: ")
        if d.gated:
            assert "no speech" in line
        else:
            logits = [int(v) for v in line.split("logits")[1].split("(")[0].split()]
            assert logits == list(d.logits) and line.split(": ")[1].startswith(
                model.classes[d.label])
    assert out.splitlines()[-1].startswith("stream ")


def test_inspect_export_infer_on_damaged_or_device_files(setup, tmp_path):
    """A corrupt file, or a device copy without host metadata: clean errors."""
    from pyreparam.quant.export import device_blob
    from pyreparam.quant.prq import read_prq
    _, _, _, prq, _ = setup
    corrupt = tmp_path / "corrupt.prq"
    blob = bytearray(prq.read_bytes())
    blob[100] ^= 1
    corrupt.write_bytes(bytes(blob))
    for args in (("inspect", corrupt), ("export", corrupt, "--c-header", tmp_path / "m.h")):
        result = cli(*args)
        assert result.exit_code != 0 and "CRC" in result.output
    program, meta = read_prq(prq.read_bytes())
    device = tmp_path / "device.prq"
    device.write_bytes(device_blob(program, meta))
    wav = sorted(prq.parent.glob("corpus/u*.wav"))[0]
    result = cli("infer", device, wav)
    assert result.exit_code != 0 and "no usable host metadata" in result.output
    assert cli("inspect", device).exit_code == 0


def test_arena_budget_trades_memory_not_results(setup):
    """--arena-budget 0 keeps the least-memory attention schedules: a smaller (or equal)
    arena, and the same logits."""
    tmp, manifest, ckpt, prq, _ = setup
    small = tmp / "small.prq"
    result = cli("quantize", ckpt, "--calib", manifest, "--n", "6", "--max-seconds", "0.5",
                 "--cache", "none", "--arena-budget", "0", "--json", "-o", small)
    assert result.exit_code == 0, result.output
    from pyreparam.quant.runtime import PRQModel
    fast, lean = PRQModel.from_file(prq), PRQModel.from_file(small)
    assert lean.info["arena_bytes"] <= fast.info["arena_bytes"]
    x = np.random.default_rng(1).integers(-128, 128, size=(50, 64)).astype(np.int8)
    np.testing.assert_array_equal(lean.run(x), fast.run(x))
