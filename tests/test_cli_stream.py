"""`pyreparam infer --stream` and `pyreparam listen` end to end: a timeline of a long
recording, the same decisions from raw PCM on stdin (through CliRunner and through a
real pipe, line by line before EOF), the state file, errors."""
import json
import subprocess
import sys
import threading

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from pyreparam import native
from pyreparam.cli import main
from pyreparam.data.synth import synthesize_recording, write_synthetic_corpus
from pyreparam.quant import qcausal
from pyreparam.quant.qfrontend import pcm16

pytestmark = pytest.mark.skipif(not native.available(), reason="C extension not built")
SCRIPT = ("anger", "neutral", 3.5, "sadness", "happiness")


def cli(*args, **kwargs):
    result = CliRunner().invoke(main, [str(a) for a in args], **kwargs)
    assert "Traceback" not in result.output
    return result


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A quantized light ConvTransformer (T_max 3 s: the default 3 s window and 1 s
    hop) and a 12 s recording with a pause, as WAV and as raw PCM."""
    tmp = tmp_path_factory.mktemp("cli_stream")
    manifest = write_synthetic_corpus(tmp / "corpus", speakers=2, per_class=1)
    ckpt, prq = tmp / "ct.npz", tmp / "ct.prq"
    assert cli("init", "--backbone", "convtransformer", "--classes", "4", "-o",
               ckpt).exit_code == 0
    result = cli("quantize", ckpt, "--calib", manifest, "--n", "8", "--cache", "none",
                 "-o", prq)
    assert result.exit_code == 0, result.output
    pcm = pcm16(synthesize_recording(0, 1, SCRIPT))
    wav, raw = tmp / "rec.wav", tmp / "rec.raw"
    sf.write(wav, pcm, 16000, subtype="PCM_16")
    raw.write_bytes(pcm.astype("<i2").tobytes())
    return tmp, prq, wav, raw, pcm


def test_infer_stream_prints_a_timeline(setup):
    from pyreparam.stream import StreamModel, stream_pcm
    tmp, prq, wav, _, pcm = setup
    result = cli("infer", "--stream", prq, wav)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{wav}: {pcm.size / 16000:.2f} s")
    assert "0.00 -     3.02 s  class" in lines[1] and "no speech" in result.output
    doc = json.loads(cli("infer", "--stream", "--json", prq, wav).output)
    model = StreamModel.from_file(prq)
    assert model.config.window_frames == 300 and model.config.hop_frames == 100
    decisions, _ = stream_pcm(model, pcm)
    assert doc[0]["decisions"] == [model.record(d) for d in decisions]
    assert len(lines) == 1 + len(decisions) >= 10
    for rec in doc[0]["decisions"]:
        assert rec["gated"] == (rec["emotion"] is None)
        if not rec["gated"]:
            assert abs(sum(rec["probabilities"].values()) - 1) < 1e-5


def test_listen_on_stdin_gives_the_same_decisions(setup):
    """listen (raw PCM on stdin, any read sizes) == infer --stream on the WAV."""
    _, prq, wav, raw, _ = setup
    want = json.loads(cli("infer", "--stream", "--json", prq, wav).output)[0]["decisions"]
    result = cli("listen", "--json", prq, "-", input=raw.read_bytes())
    assert result.exit_code == 0, result.output
    got = [json.loads(line) for line in result.output.splitlines()]
    assert got == want
    text = cli("listen", prq, raw).output.splitlines()   # a file name works as well
    timeline = cli("infer", "--stream", prq, wav).output.splitlines()[1:]
    assert text == [line[2:] for line in timeline]


def test_listen_through_a_pipe_prints_as_it_hears(setup):
    """A real pipe: the first decision is printed after 3 s of audio were written,
    before the writer closes the pipe; at EOF the rest, equal to infer --stream."""
    _, prq, wav, raw, pcm = setup
    cmd = [sys.executable, "-P", "-c", "from pyreparam.cli import main; main()", "listen",
           "--json", str(prq), "-"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    watchdog = threading.Timer(120, proc.kill)
    watchdog.start()
    try:
        data = raw.read_bytes()
        first = 2 * (400 + 160 * 299)                 # the first window's samples
        proc.stdin.write(data[:first + 3200])
        proc.stdin.flush()
        line = proc.stdout.readline()                 # before EOF
        assert json.loads(line)["frames"] == [0, 300]
        proc.stdin.write(data[first + 3200:])
        proc.stdin.close()
        rest = proc.stdout.read().decode().splitlines()
        assert proc.wait() == 0
    finally:
        watchdog.cancel()
    want = json.loads(cli("infer", "--stream", "--json", prq, wav).output)[0]["decisions"]
    assert [json.loads(line)] + [json.loads(r) for r in rest] == want


def test_state_file_carries_the_speaker_over(setup):
    tmp, prq, wav, raw, _ = setup
    state = tmp / "speaker.state"
    assert cli("listen", "--state", state, prq, raw).exit_code == 0
    n1 = qcausal.state_from_bytes(state.read_bytes()).n
    assert n1 > 0
    result = cli("infer", "--stream", "--state", state, "--json", prq, wav)
    assert result.exit_code == 0
    assert qcausal.state_from_bytes(state.read_bytes()).n == 2 * n1
    fresh = json.loads(cli("infer", "--stream", "--json", prq, wav).output)
    assert json.loads(result.output)[0]["decisions"] != fresh[0]["decisions"]
    state.write_bytes(b"garbage")
    bad = cli("listen", "--state", state, prq, raw)
    assert bad.exit_code != 0 and "state" in bad.output


def test_errors(setup, tmp_path):
    tmp, prq, wav, raw, _ = setup
    result = cli("listen", tmp / "ct.npz", raw)
    assert result.exit_code != 0 and ".prq" in result.output
    assert cli("infer", "--stream", "--same-speaker", prq, wav).exit_code != 0
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    result = cli("infer", "--stream", prq, bad, wav)
    assert result.exit_code != 0 and "1 of 2" in result.output and "decisions" in \
        result.output
    empty = cli("listen", prq, "-", input=b"")
    assert empty.exit_code == 0 and empty.output == ""
