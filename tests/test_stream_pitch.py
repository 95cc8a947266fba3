"""The stream with the pitch channels (a model trained with --pitch): the C stream
(csrc/pr_stream_*.c with cfg->pitch) against its NumPy reference
(pyreparam/quant/qstream.py) bit for bit, the reference's raw pitch against the batch
pitch track (pyreparam/quant/qpitch.py) at several rates and framings, a decision's
model input rebuilt from the batch definitions, sizes and error statuses, the CLI and
the exported example program. reference/stream.md section 9."""
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pyreparam import native
from pyreparam.audio.features import FeatureConfig, num_frames
from pyreparam.cli import main
from pyreparam.data.synth import write_synthetic_corpus
from pyreparam.quant import qcausal, qpitch, qstream
from pyreparam.quant import qfrontend as qf

from stream_helpers import CONFIG, check_chunking, recording, run

pytestmark = pytest.mark.skipif(not native.available(), reason="C extension not built")

ROOT = Path(__file__).resolve().parents[1]


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def prq(tmp_path_factory):
    """A light ConvTransformer over 64 mels + the 2 pitch channels (random weights,
    `init --pitch`), quantized with a fitted prior (T_max 60)."""
    tmp = tmp_path_factory.mktemp("pitch_stream")
    manifest = write_synthetic_corpus(tmp / "corpus", speakers=2, per_class=1)
    ckpt, out = tmp / "pitch.npz", tmp / "pitch.prq"
    result = cli("init", "--backbone", "convtransformer", "--classes", "4", "--pitch",
                 "-o", ckpt)
    assert result.exit_code == 0, result.output
    result = cli("quantize", ckpt, "--calib", manifest, "--n", "8", "--max-seconds", "0.6",
                 "--cache", "none", "-o", out)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def model(prq):
    from pyreparam.stream import StreamModel
    m = StreamModel.from_file(prq)
    assert m.pitch is not None and m.bands == 66 and m.tables.n_mels == 64
    m.config = CONFIG._replace(gate_q8=qstream.gate_q8(m.params.prior_mean[:64]))
    return m


def frames_with_pitch(n: int, fc: FeatureConfig, pitch: qpitch.PitchTables) -> int:
    """Frames of n samples whose log-mel and pitch windows are both complete."""
    T, d, w = num_frames(n, fc), pitch.factor, pitch.width
    t = np.arange(T)
    need = d * (qpitch.window_start(t, pitch, fc.win_length, fc.hop_length) + w - 1) \
        + 10 * d + 1
    return int(np.count_nonzero(need <= n))


def test_c_stream_equals_numpy_reference(model):
    """Every decision and the final state equal; windows are gated and decided, the
    state is updated, the last window ends at the last frame whose pitch window the
    stream heard whole."""
    pcm = recording()
    c, ref = model.open(use_c=True), model.open(use_c=False)
    got, want = run(c, pcm, [16000]), run(ref, pcm, [16000])
    assert got == want and c.state == ref.state
    assert any(d.gated for d in got) and sum(d.updated for d in got) >= 3
    assert got[-1].final and got[-1].end_frame == frames_with_pitch(
        pcm.size, model.feature_config, model.pitch)
    assert got[-1].end_frame < 1 + (pcm.size - 400) // 160       # one frame short
    state = qcausal.state_from_bytes(c.state)
    assert state.mean.size == 66 and state.n == sum(not d.gated for d in got)
    assert np.any(state.mean[64:] != 0)                          # the pitch bands merged


@pytest.mark.parametrize("sizes", [[1], [7], [160], [16000], "random"])
def test_decisions_do_not_depend_on_chunking(model, sizes, rng):
    """C, and the reference for blocks of 160 samples or more or of mixed sizes (it
    once dropped the samples before the first complete log-mel frame)."""
    check_chunking(model, sizes, rng, reference=sizes == "random" or min(sizes) >= 160)


FRAMINGS = [(8000, 25.0, 10.0), (16000, 25.0, 10.0), (22050, 20.0, 10.0),
            (44100, 11.6, 10.0), (16000, 32.0, 5.0), (16000, 10.0, 8.0)]


@pytest.mark.parametrize("rate,win_ms,hop_ms", FRAMINGS)
def test_raw_pitch_is_the_batch_track_and_c_agrees(model, rate, win_ms, hop_ms, rng):
    """At several rates and framings: the reference's raw pitch frames, pushed in random
    blocks, are the batch track's (qpitch.frame_pitch of qpitch.frame_windows) but for
    the last frames, whose pitch windows reach past the end; the C stream (the same
    model over this front end) makes the reference's decisions, its queues never
    overflowing (they would stop it with PR_ERR_STREAM)."""
    fc = FeatureConfig(sample_rate=rate, win_ms=win_ms, hop_ms=hop_ms, n_fft=512,
                       fmax=rate / 2, pitch=True)
    tables, pitch = qf.frontend_tables(fc), qpitch.pitch_tables(rate)
    x = recording(0.3, rate)[:int(2.5 * rate)]
    cfg = qstream.StreamConfig(fc.hop_length, 40, 10, 15,
                               qstream.gate_q8(model.params.prior_mean[:64]), 10)
    ref = qstream.ReferenceStream(model.program, model.params, tables, cfg, pitch=pitch)
    got, i = [], 0
    while i < x.size:
        n = int(rng.integers(1, 5000))
        got.append(ref._pitch_frames(x[i:i + n]))
        i += n
    got = np.concatenate(got)
    z = qpitch.frame_windows(qpitch.decimate(x, pitch), num_frames(x.size, fc), fc, pitch)
    want = np.stack(qpitch.frame_pitch(z, pitch), axis=1)
    assert got.shape[0] == frames_with_pitch(x.size, fc, pitch) >= want.shape[0] - 3
    assert np.array_equal(got, want[:got.shape[0]])
    from pyreparam.quant.cstream import CStream
    c = CStream(model.blob, model.params, tables, cfg, model.program.arena_bytes,
                pitch=pitch)
    ref = qstream.ReferenceStream(model.program, model.params, tables, cfg, pitch=pitch)
    sizes = [int(v) for v in rng.integers(1, 2000, 40)]
    assert run(c, x, sizes) == run(ref, x, [x.size]) and c.state == ref.state


def test_first_decision_input_from_the_batch_definitions(model):
    """The first window's model input rebuilt independently: the batch log-mel and
    pitch track of the signal, the pitch filled over the window's 40 frames, every
    band normalized with the empty state; its logits are the first decision's."""
    from pyreparam.quant.qmodel import run_program
    pcm = recording()
    first = model.open(use_c=True).push(pcm[:16000])[0]
    assert (first.start_frame, first.end_frame, first.gated) == (0, 40, False)
    T = 40
    frames = pcm[160 * np.arange(T)[:, None] + np.arange(400)[None, :]]
    mels = qf.logmel_frames_q8(frames, model.tables).astype(np.int64)
    z = qpitch.frame_windows(qpitch.decimate(pcm, model.pitch), T, model.feature_config,
                             model.pitch)
    octaves, voicing = qpitch.frame_pitch(z, model.pitch)
    x = np.concatenate([mels, qpitch.fill_unvoiced(octaves, voicing)[:, None],
                        voicing[:, None]], axis=1)
    params = qstream.stream_params(model.params, model.config)
    inputs = qcausal.apply(qcausal.new_state(66), params, x)
    assert tuple(int(v) for v in run_program(model.program, inputs)) == first.logits


def test_sizes_and_error_statuses(model):
    """pr_stream_bytes == qstream.stream_bytes with the pitch regions; a hop not longer
    than the tracks' lag, a state of the log-mel bands only, or the memory of a pitch
    stream used without pitch are refused."""
    from pyreparam.native import NativeError
    from pyreparam.quant.cstream import CStream
    s = model.open(use_c=True)
    arena = model.program.arena_bytes
    assert s.memory_bytes == qstream.stream_bytes(model.config, model.tables, arena,
                                                  model.pitch)
    assert s.memory_bytes > qstream.stream_bytes(model.config, model.tables, arena)
    lag = qstream.pitch_lag_frames(model.pitch, model.tables, 160)
    short = model.config._replace(window_frames=4 * lag, hop_frames=lag, min_frames=lag)
    with pytest.raises(ValueError, match="lag"):
        qstream.check_config(short, model.tables, 60, model.pitch)
    with pytest.raises(NativeError) as err:
        CStream(model.blob, model.params, model.tables, short, arena, pitch=model.pitch)
    assert err.value.status == -2                                   # PR_ERR_SHAPE
    mels_only = model.params._replace(prior_mean=model.params.prior_mean[:64],
                                      prior_var=model.params.prior_var[:64])
    with pytest.raises(NativeError) as err:           # the model's input is 66 wide
        CStream(model.blob, mels_only, model.tables, model.config, arena)
    assert err.value.status == -2
    ffi, lib = native.handle()
    plain = ffi.new("pr_stream_config *", s._cfg[0])
    plain.pitch = ffi.NULL
    out, n, used = ffi.new("pr_stream_decision[2]"), ffi.new("int32_t *"), \
        ffi.new("int32_t *")
    pcm = np.zeros(10, np.int16)
    status = lib.pr_stream_push_s16(plain, s._ptr(s._mem), s.memory_bytes,
                                    s._ptr(s._state), s._state.size,
                                    ffi.cast("int16_t *", pcm.ctypes.data), 10, used, out, 2, n)
    assert status == -22                                           # PR_ERR_STREAM
    small_state = qcausal.state_to_bytes(qcausal.new_state(64))
    from pyreparam.stream import StreamError
    with pytest.raises(StreamError):
        model.open(small_state)


def test_cli_infer_stream_with_pitch(prq, tmp_path):
    """`infer --stream` runs a pitch model: a timeline of decisions, with a state."""
    import json
    import soundfile as sf
    wav = tmp_path / "talk.wav"
    sf.write(wav, recording() / 32768.0, 16000, subtype="PCM_16")
    result = cli("infer", "--stream", "--json", "--state", tmp_path / "state.bin", prq, wav)
    assert result.exit_code == 0, result.output
    decisions = json.loads(result.output)[0]["decisions"]
    assert len(decisions) >= 2 and any(d["emotion"] for d in decisions)
    assert (tmp_path / "state.bin").stat().st_size == qcausal.state_bytes(66)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="no host C compiler")
def test_exported_example_runs_the_pitch_stream(prq, tmp_path):
    """export writes the pitch track's constants into the stream configuration; the
    example main.c, compiled with the host's gcc, prints the host stream's decisions."""
    from pyreparam.stream import StreamModel, stream_pcm
    header = tmp_path / "fw" / "model.h"
    assert cli("export", prq, "--c-header", header, "--name", "ser").exit_code == 0
    text = header.read_text()
    for item in ("#define SER_PITCH_PARAMS", "ser_pitch_taps", ".pitch = &ser_pitch",
                 "#define SER_NORM_BANDS 66"):
        assert item in text, item
    exe = tmp_path / "demo"
    sources = sorted(str(p) for p in (ROOT / "csrc").glob("*.c"))
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O1",
                    f"-I{ROOT / 'csrc'}", f"-I{header.parent}", str(header.parent / "main.c"),
                    *sources, "-o", str(exe)], check=True, capture_output=True)
    pcm = recording(1.5)
    out = subprocess.run([str(exe)], input=pcm.astype("<i2").tobytes(), check=True,
                         capture_output=True).stdout.decode()
    lines = [line for line in out.splitlines() if " ms: " in line]
    decisions, _ = stream_pcm(StreamModel.from_file(prq), pcm)
    assert len(lines) == len(decisions) >= 3
    for line, d in zip(lines, decisions):
        if not d.gated:
            logits = [int(v) for v in line.split("logits")[1].split("(")[0].split()]
            assert logits == list(d.logits)
