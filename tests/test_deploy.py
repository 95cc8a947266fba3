"""The deployed path end to end: a model trained with causal normalization, quantized;
`eval --protocol` on the checkpoint and on the .prq (int8: the integer causal rule and
the C runtime), `infer --state` (a device's state: created, continued, atomic under
SIGKILL), and the int8 causal path agreeing with its NumPy reference."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pyreparam import native
from pyreparam.cli import main
from pyreparam.models import make_config
from pyreparam.quant import qcausal
from pyreparam.train.fold import TrainConfig
from pyreparam.train.run import RunSpec, start_run

from test_train import _write_corpus

pytestmark = pytest.mark.skipif(not native.available(), reason="C extension not built")


def cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """A tiny causal-normalization run, its fold-0 model and that model quantized."""
    tmp = tmp_path_factory.mktemp("deploy")
    manifest = _write_corpus(tmp / "corpus", speakers=5, per_class=3)
    config = make_config("convtransformer", "light", width=8, layers=1, heads=2, ffn=16,
                         n_mels=16, n_classes=4)
    tc = TrainConfig(epochs=2, batch_size=8, seed=0, normalization="causal")
    spec = RunSpec(manifest=str(manifest), model_config=config.to_dict(),
                   train_config=tc.to_dict(), cv="groupkfold:2",
                   feature_config={"n_mels": 16}, cache_dir=str(tmp / "cache"))
    start_run(spec, tmp / "run", quiet=True)
    model = tmp / "run" / "fold_00" / "model.npz"
    prq = tmp / "model.prq"
    result = cli("quantize", model, "--calib", manifest, "--n", "20", "--cache", "none",
                 "-o", prq)
    assert result.exit_code == 0, result.output
    wavs = sorted(str(p) for p in (tmp / "corpus" / "wav").glob("s0_*.wav"))
    return tmp, manifest, model, prq, wavs


@pytest.mark.parametrize("which", ["model", "prq"])
def test_eval_protocols_json(deployed, which):
    tmp, manifest, model, prq, _ = deployed
    path = model if which == "model" else prq
    reports = {}
    for protocol in ("speaker", "utterance", "causal"):
        result = cli("eval", path, manifest, "--protocol", protocol, "--orders", "2", "--json")
        assert result.exit_code == 0, result.output
        reports[protocol] = json.loads(result.stdout)   # a warning may be on stderr
        assert {"ua", "wa", "macro_f1"} <= set(reports[protocol])
    causal = reports["causal"]
    assert causal["n"] == 2 * reports["speaker"]["n"]            # two orders
    assert set(causal["ua_by_prior"]) == {"0", "1", "2", "4", "8"}   # 12 per speaker
    assert causal["kind"].startswith("int8" if which == "prq" else "float")
    text = cli("eval", path, manifest, "--protocol", "causal", "--orders", "2")
    assert "UA by utterances heard before: 0:" in text.output


def test_int8_causal_path_equals_its_numpy_reference(deployed):
    """The C path (pr_norm_* + pr_model_run) and the NumPy integer reference give the
    same logits, utterance by utterance, with the same state bytes."""
    from pyreparam.infer import load_runner, raw_features
    from pyreparam.quant.deploy import Int8Scorer
    from pyreparam.quant.prq import load_prq
    _, _, _, prq, wavs = deployed
    program, meta, blob = load_prq(prq)
    c, ref = Int8Scorer(program, meta, blob, use_c=True), \
        Int8Scorer(program, meta, blob, use_c=False)
    runner = load_runner(prq)
    sc, sr = c.new_state(), ref.new_state()
    for wav in wavs:
        x = raw_features(runner, wav)
        (lc, sc), (lr, sr) = c.step(sc, x), ref.step(sr, x)
        np.testing.assert_array_equal(lc, lr)
        assert sc == sr
    assert qcausal.state_from_bytes(sc).n == len(wavs)


@pytest.mark.parametrize("which", ["model", "prq"])
def test_infer_state_continues_where_it_stopped(deployed, tmp_path, which):
    tmp, _, model, prq, wavs = deployed
    path = model if which == "model" else prq
    state = tmp_path / "device.state"
    first = cli("infer", path, *wavs[:3], "--state", state, "--json")
    assert first.exit_code == 0, first.output
    assert [r["heard_before"] for r in json.loads(first.output)] == [0, 1, 2]
    second = json.loads(cli("infer", path, *wavs[3:5], "--state", state, "--json").output)
    assert [r["heard_before"] for r in second] == [3, 4]
    straight = tmp_path / "straight.state"
    once = json.loads(cli("infer", path, *wavs[:5], "--state", straight, "--json").output)
    assert [r["probabilities"] for r in once[3:]] == [r["probabilities"] for r in second]
    assert state.read_bytes() == straight.read_bytes()
    alone = cli("infer", path, wavs[0])
    assert alone.exit_code == 0 and "--state" in alone.output     # the note points at it
    other = prq if which == "model" else model                  # another model's state
    bad = cli("infer", other, wavs[0], "--state", state)
    assert bad.exit_code == 1 and "state" in bad.output
    state.write_bytes(b"garbage")
    bad = cli("infer", path, wavs[0], "--state", state)
    assert bad.exit_code == 1 and str(state) in bad.output


@pytest.mark.slow
def test_infer_state_is_atomic_under_sigkill(deployed, tmp_path):
    """Killed at random moments, the state file is always absent or a complete, valid
    state of some prefix of the files."""
    _, _, _, prq, wavs = deployed
    files = (wavs * 20)[:150]
    cli_cmd = [sys.executable, "-P", "-c", "from pyreparam.cli import main; main()",
               "infer", str(prq), *files]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    rng = np.random.default_rng(0)
    seen = set()
    for trial in range(6):
        state = tmp_path / f"s{trial}.state"
        proc = subprocess.Popen(cli_cmd + ["--state", str(state)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while not state.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.005)
        time.sleep(float(rng.uniform(0.0, 0.3)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if state.exists():
            n = qcausal.state_from_bytes(state.read_bytes(), 16).n   # valid, complete
            assert 0 < n <= len(files)
            seen.add(n)
    assert seen, "no run was killed after writing its state"
