"""The statistics head's integer path (pyreparam/quant/qhead.py, csrc/pr_head_*.c):
C bit-exact with the NumPy reference, the reference close to the float head, the .prq
metadata validated."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyreparam.audio.functionals import n_functionals, utterance_functionals
from pyreparam.data.normalize import Normalizer
from pyreparam.models.stats_head import StatsHead
from pyreparam.quant import qcausal, qfunctionals, qhead
from pyreparam.quant.qfunctionals import utterance_functionals_q

needs_c = pytest.mark.skipif(not __import__("pyreparam.native").native.available(),
                             reason="C extension not built")


def random_constants(rng, C: int, M: int, L: int, N: int,
                     pitch: bool = False) -> qhead.HeadConstants:
    """Constants anywhere in the ranges the kernels accept (not only a builder's)."""
    D = qfunctionals.count(C, L, pitch)
    norm = qcausal.NormParams(
        rng.integers(-2**23, 2**23, D).astype(np.int32),
        rng.integers(1, 2**24, D).astype(np.int32), int(rng.integers(1, 2**20)),
        int(rng.integers(1, 2**10)), int(rng.integers(2**30, 2**31)),
        int(rng.integers(-20, 5)), 0)
    return qhead.HeadConstants(
        channels=C, bands=M, dct=rng.integers(-32768, 32768, (L, M)).astype(np.int16),
        exponent=rng.integers(qhead.MIN_EXPONENT, qhead.MAX_EXPONENT + 1, D).astype(np.int8),
        norm=norm, weight=rng.integers(-128, 128, (N, D)).astype(np.int8),
        bias=rng.integers(-2**31, 2**31, N).astype(np.int32),
        multiplier=rng.integers(0, 2**31, N).astype(np.int32),
        shift=rng.integers(-31, 31, N).astype(np.int32),
        logit_zero_point=int(rng.integers(-128, 128)),
        head_exp_table=np.concatenate([[rng.integers(1, 2**16 + 1)],
                                       rng.integers(0, 2**16 + 1, 255)]).astype(np.int32),
        net_exp_table=np.concatenate([[rng.integers(1, 2**16 + 1)],
                                      rng.integers(0, 2**16 + 1, 255)]).astype(np.int32),
        mix=int(rng.integers(0, 2**15 + 1)), z_scale=0.0625, pitch=pitch)


# --------------------------------------------------------------------------- reference

def test_scaling_is_rounded_half_away_and_saturated():
    f = np.array([3 << 7, -(3 << 7), 1 << 7, -(1 << 7), 2**31 - 1, -2**31, 5, -5],
                 dtype=np.int32)
    e = np.array([-7, -7, -8, -8, 0, 0, -20, -23], dtype=np.int8)
    # s = 8 + e: 1, 1, 0, 0, 8, 8, -12, -15
    np.testing.assert_array_equal(qhead.scale_functionals(f, e),
                                  [192, -192, 128, -128, 32767, -32768, 20480, -32768])


def synthetic_head(rng, C=6, M=6, N=4, n_speakers=5, per=12, pitch=False):
    """A float head fitted to nothing in particular, its functionals and speakers
    (``pitch``: channels M, M + 1 are a log2 F0 and a voicing in [0, 1])."""
    raw = [rng.normal(-3.0, 1.5, (int(rng.integers(40, 90)), C)) + rng.normal(0, 1, C)
           for _ in range(n_speakers * per)]
    if pitch:
        for x in raw:
            x[:, M] = rng.normal(0.5, 0.3, len(x))
            x[:, M + 1] = rng.uniform(0, 1, len(x))
    speakers = [f"s{i // per}" for i in range(len(raw))]
    F = np.stack([utterance_functionals(x, M, pitch) for x in raw])
    normalizer = Normalizer("speaker")
    normalizer.fit_prior(list(F[:, None, :]), speakers)
    D = F.shape[1]
    head = StatsHead(rng.normal(0, 0.05, (N, D)), rng.normal(0, 0.3, N), normalizer,
                     0.5, M, pitch=pitch)
    return head, raw, F, speakers


def test_the_integer_head_follows_the_float_head(rng):
    """Causal z-scores within a few LSB of the float ones (below the int8 range's
    edge), and the integer decision agrees with the float one on nearly every
    utterance (ties of 1/256 probabilities aside)."""
    head, raw, F, speakers = synthetic_head(rng)
    h = qhead.quantize_head(head, F, raw[0].shape[1], 0.05)
    state, agree, n = qcausal.new_state(h.n_features), 0, 0
    for i in range(12):                                       # one speaker, in order
        g = qhead.features(h, qcausal.quantize_features(raw[i]))
        z = qhead.zscores(h, state, g)
        zf = head.zscore_after(F[:i], F[i])
        inside = np.abs(zf) < 7.5
        assert np.abs(z[inside] * h.z_scale - zf[inside]).max() < 4 * h.z_scale
        net = rng.integers(-40, 40, head.weight.shape[0]).astype(np.int8)
        p = qhead.decide(h, z, net)
        want = np.argmax(0.5 * _softmax(0.05 * net) + 0.5 * _softmax(head.logits(zf[None])[0]))
        agree += int(np.argmax(p) == want)
        n += 1
        state = qcausal.update(state, g[None, :])
    assert agree >= n - 1


def _softmax(v):
    e = np.exp(v - v.max())
    return e / e.sum()


def test_decision_mixes_the_two_probabilities():
    """mix 0: the network's softmax alone; mix 2^15: the head's alone."""
    rng = np.random.default_rng(3)
    h = random_constants(rng, 3, 3, 2, 5)
    z = rng.integers(-128, 128, h.n_features).astype(np.int8)
    net = np.array([5, -3, 100, 7, -100], dtype=np.int8)
    from pyreparam.quant.qnorm import softmax_s8
    p_net = softmax_s8(net[None, None], h.net_exp_table)[0, 0].astype(np.int64) + 128
    np.testing.assert_array_equal(qhead.decide(h._replace(mix=0), z, net), p_net << 15)
    alone = qhead.decide(h._replace(mix=1 << 15), z, net)
    assert (alone % (1 << 15) == 0).all() and alone.sum() >> 15 in range(250, 262)
    assert np.argmax(qhead.decision_logits(alone)) == np.argmax(alone)


@pytest.mark.parametrize("pitch", [False, True])
def test_meta_round_trip_and_refusals(rng, pitch):
    h = random_constants(rng, 6, 3, 2, 3, pitch)
    meta = qhead.to_meta(h)
    assert ("pitch" in meta) == pitch
    back = qhead.from_meta(meta, 3)
    for a, b in zip(h, back):
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b)
        elif isinstance(a, tuple):
            for x, y in zip(a, b):
                np.testing.assert_array_equal(x, y)
        else:
            assert a == b
    bad = [("weight", meta["weight"][:-1]), ("exponent", [99] * len(meta["exponent"])),
           ("mix", 40000), ("mix", 0.5), ("channels", 0), ("bands", 7), ("pitch", 2),
           ("pitch", True), ("pitch", int(not pitch)),
           ("z_scale", -1.0), ("prior_var", [0] * len(meta["prior_var"])),
           ("shift", [31] * 3), ("head_exp_table", [0] * 256), ("dct", "x")]
    for key, value in bad:
        with pytest.raises(qhead.HeadMetaError):
            qhead.from_meta({**meta, key: value}, 3)
    with pytest.raises(qhead.HeadMetaError, match="missing"):
        qhead.from_meta({k: v for k, v in meta.items() if k != "bias"}, 3)
    with pytest.raises(qhead.HeadMetaError):
        qhead.from_meta(meta, 4)                                 # another class count
    with pytest.raises(qhead.HeadMetaError):
        qhead.from_meta([1, 2], 3)
    if pitch:       # the prosody block needs the two pitch channels after the bands
        with pytest.raises(qhead.HeadMetaError, match="pitch channels"):
            qhead.from_meta({**meta, "bands": 5}, 3)


# --------------------------------------------------------------------------- C twin

@needs_c
@settings(max_examples=40, deadline=None)
@given(st.integers(1, 50), st.integers(1, 8), st.integers(1, 9), st.data())
def test_c_head_is_bit_exact_for_any_constants(T, C, N, data):
    """pr_head_features_s16 and pr_head_decide_s8 == the NumPy reference, bit for bit,
    for full-range frames and any constants the kernels accept."""
    from pyreparam.quant.ckernels import head_decide_s8, head_features_s16
    M = data.draw(st.integers(1, C))
    L = data.draw(st.integers(1, M))
    pitch = C >= M + 2 and data.draw(st.booleans())
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    h = random_constants(rng, C, M, L, N, pitch)
    X = rng.integers(-32768, 32768, (T, C)).astype(np.int16)
    if pitch and data.draw(st.booleans()):                    # voicing near 0.5
        X[:, M + 1] = rng.integers(100, 160, T)
    np.testing.assert_array_equal(head_features_s16(h, X), qhead.features(h, X))
    z = rng.integers(-128, 128, h.n_features).astype(np.int8)
    net = rng.integers(-128, 128, N).astype(np.int8)
    np.testing.assert_array_equal(head_decide_s8(h, z, net), qhead.decide(h, z, net))


@needs_c
@pytest.mark.parametrize("pitch", [False, True])
def test_c_head_on_a_fitted_head_with_its_causal_state(rng, pitch):
    """The whole device step (features, pr_norm apply with D bands, decide, update) in C
    == NumPy over one speaker's utterances, state bytes included."""
    from pyreparam.quant import ckernels
    head, raw, F, _ = synthetic_head(rng, C=8, M=6 if pitch else 8, pitch=pitch)
    h = qhead.quantize_head(head, F, 8, 0.1)
    assert h.pitch == pitch
    D = h.n_features
    state_c = ckernels.norm_state_init(D)
    state_np = qcausal.new_state(D)
    for x in raw[:10]:
        X = qcausal.quantize_features(x)
        g = ckernels.head_features_s16(h, X)
        np.testing.assert_array_equal(g, qhead.features(h, X))
        z = ckernels.norm_apply_s16_s8(h.norm, state_c, g[None, :])[0]
        np.testing.assert_array_equal(z, qhead.zscores(h, state_np, g))
        net = rng.integers(-128, 128, h.n_classes).astype(np.int8)
        np.testing.assert_array_equal(ckernels.head_decide_s8(h, z, net),
                                      qhead.decide(h, z, net))
        state_c = ckernels.norm_update_s16(state_c, g[None, :])
        state_np = qcausal.update(state_np, g[None, :])
        assert state_c == qcausal.state_to_bytes(state_np)


@needs_c
def test_c_head_refuses_bad_heads():
    from pyreparam import native
    ffi, lib = native.ffi(), native.lib()
    rng = np.random.default_rng(0)
    h = random_constants(rng, 3, 2, 2, 4)
    from pyreparam.quant.ckernels import _head
    head, keep = _head(h)
    D = int(lib.pr_head_count(head))
    assert D == 2 * (6 * 3 + 12 * 2)
    assert lib.pr_head_scratch_len(head, 10) == D + 30
    assert lib.pr_head_count(ffi.NULL) == -1
    for field, value, status in (("classes", 65, -2), ("classes", 0, -2), ("bands", 4, -2),
                                 ("cepstra", 3, -2), ("mix", 32769, -5), ("mix", -1, -5),
                                 ("logit_zero_point", 128, -5), ("weight", ffi.NULL, -1),
                                 ("pitch", 2, -5), ("pitch", 1, -2)):  # 3 channels, 2 bands
        old = getattr(head, field)
        setattr(head, field, value)
        assert lib.pr_head_count(head) == status, field
        setattr(head, field, old)
    exponents = np.array(keep["exponent"])
    keep["exponent"][5] = 24                                        # out of range
    assert lib.pr_head_count(head) == -5
    keep["exponent"][:] = exponents
    x = ffi.new("int16_t[]", 10 * 3)
    g = ffi.new("int16_t[]", D)
    scratch = ffi.new("int32_t[]", D + 30)
    assert lib.pr_head_features_s16(head, x, 10, g, scratch, D + 30) == 0
    assert lib.pr_head_features_s16(head, x, 10, g, scratch, D + 29) == -3
    assert lib.pr_head_features_s16(head, x, 0, g, scratch, D + 30) == -2
    assert lib.pr_head_features_s16(head, ffi.NULL, 10, g, scratch, D + 30) == -1
    z, net, p = ffi.new("int8_t[]", D), ffi.new("int8_t[]", 4), ffi.new("int32_t[]", 4)
    assert lib.pr_head_decide_s8(head, z, net, p) == 0
    assert lib.pr_head_decide_s8(head, z, ffi.NULL, p) == -1
    keep["shift"][0] = 31                                          # pr_linear_s8 refuses
    assert lib.pr_head_decide_s8(head, z, net, p) == -5


def test_functionals_of_the_reference_are_the_kernels_input():
    """features() is utterance_functionals_q then the scaling (no other input path)."""
    rng = np.random.default_rng(1)
    h = random_constants(rng, 5, 4, 3, 2)
    X = rng.integers(-3000, 3000, (30, 5)).astype(np.int16)
    np.testing.assert_array_equal(
        qhead.features(h, X),
        qhead.scale_functionals(utterance_functionals_q(X, 4, h.dct), h.exponent))
    with pytest.raises(ValueError):
        qhead.features(h, X[:, :4])


# --------------------------------------------------------------------------- end to end

from test_train import _spec, corpus  # noqa: E402,F401  (the tiny corpus fixture)


def test_a_quantized_model_decides_with_its_head(corpus, tmp_path):  # noqa: F811
    """`quantize` of a run's model with a head writes the head into the .prq; eval
    and infer --state use it; C and the NumPy reference agree on every causal logit;
    the int8 decisions mostly agree with the float model's."""
    import json

    from click.testing import CliRunner

    from pyreparam.cli import main
    from pyreparam.quant.deploy import Int8Scorer
    from pyreparam.quant.prq import load_prq
    from pyreparam.train.run import start_run
    out = tmp_path / "run"
    start_run(_spec(corpus, tmp_path, epochs=2, cv="fixed", stats_head=0.5), out,
              quiet=True)
    prq = tmp_path / "model.prq"
    r = CliRunner().invoke(main, ["quantize", str(out / "fold_00/model.npz"), "--calib",
                                  str(corpus), "-o", str(prq)])
    assert r.exit_code == 0, r.output
    assert "statistics head: " in r.output
    program, meta, blob = load_prq(prq)
    assert meta["head"]["mix"] == 1 << 14
    r = CliRunner().invoke(main, ["inspect", str(prq), "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["head"]["functionals"] == \
        n_functionals(16, 16)
    from pyreparam.data.cache import load_features
    from pyreparam.data.manifest import read_manifest
    from pyreparam.infer import load_runner
    runner = load_runner(prq)
    raw, kept, _ = load_features(read_manifest(corpus)[:12], runner.frontend.feature_config,
                                 tmp_path / "cache")
    scorer_c = runner.scorer
    if scorer_c.use_c:
        scorer_np = Int8Scorer(program, meta, blob, use_c=False)
        np.testing.assert_array_equal(scorer_c.causal(raw), scorer_np.causal(raw))
    assert scorer_c.head is not None
    for protocol in ("speaker", "utterance", "causal"):
        r = CliRunner().invoke(main, ["eval", str(prq), str(corpus), "--protocol", protocol,
                                      "--json"])
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["kind"].startswith("int8")
    state = tmp_path / "device.state"
    wavs = [str(corpus.parent / u.path) if not u.path.startswith("/") else u.path
            for u in read_manifest(corpus)[:3]]
    for wav in wavs:
        r = CliRunner().invoke(main, ["infer", str(prq), wav, "--state", str(state),
                                      "--json"])
        assert r.exit_code == 0, r.output
    data = state.read_bytes()
    n_frames = qcausal.state_bytes(16)
    assert len(data) == n_frames + qcausal.state_bytes(scorer_c.head.n_features)
    assert qcausal.state_from_bytes(data[n_frames:]).n == 3
    with pytest.raises(ValueError):
        scorer_c.state_from_bytes(data[:n_frames])          # the head's part missing


# --------------------------------------------------------------------------- Cortex-M

def _mcu_missing() -> list[str]:
    import shutil
    return [t for t in ("arm-none-eabi-gcc", "qemu-system-arm", "cc")
            if shutil.which(t) is None]


@pytest.mark.slow
@needs_c
@pytest.mark.skipif(bool(_mcu_missing()), reason="the Arm toolchain or qemu-system-arm is "
                                                 "not installed (tools/mcu/run.sh installs them)")
def test_cortex_m4_head_equals_the_host(tmp_path):
    """tools/mcu/head.py on the Cortex-M4 (DSP build): features (with the pitch
    channels and the prosody block), causal z, decision and state CRC of every
    utterance equal the NumPy reference's; then a light model and
    its head on whole utterances in one working buffer (head_loop.c; the frames' pitch
    channels for the head alone, as --pitch-head-only): logits, decision and both
    states equal the host's; figures in its JSON."""
    import json
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "head.json"
    done = subprocess.run([sys.executable, str(root / "tools" / "mcu" / "head.py"),
                           "--targets", "m4-dsp", "--utterances", "2", "--out",
                           str(tmp_path), "--json", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    doc = json.loads(out.read_text())
    (m4,) = doc["results"]
    # the default head reads the pitch channels: 1,344 functionals + the prosody block
    assert m4["ok"] and doc["prosody_block"] and doc["functionals"] == 1344 + 31
    assert len(m4["instructions"]["features"]) == 2
    assert all(n > 0 for step in m4["instructions"].values() for n in step)
    # a whole utterance, model and head, in one working buffer: bit-exact, and its
    # working memory within the microcontroller budget (the states are persistent);
    # the pitch channels feed the head alone, the network reads the mel bands
    (loop,) = doc["loop"]
    assert loop["ok"] and loop["work_bytes"] + loop["other_bytes"] <= 64 * 1024
    assert (loop["head_channels"], loop["network_columns"]) == (66, 64)


HEAD_MAIN = r"""
#include <stdio.h>
#include <stdlib.h>
#include "model.h"

int main(void)
{
    static const pr_head head = SER_HEAD;
    static const pr_norm_params norm = SER_HEAD_NORM;
    static int16_t x[SER_T_MAX * SER_INPUT_COLS], g[SER_HEAD_FEATURES];
    static int8_t z[SER_HEAD_FEATURES], net[SER_HEAD_CLASSES];
    static int32_t scratch[SER_HEAD_SCRATCH_LEN], p[SER_HEAD_CLASSES];
    static uint8_t state[SER_HEAD_STATE_BYTES];
    int32_t T, c, u;
    pr_status st = pr_norm_state_init(state, SER_HEAD_STATE_BYTES, SER_HEAD_FEATURES);
    for (u = 0; st == PR_OK && fread(&T, 4, 1, stdin) == 1; ++u) {
        if (T < 1 || T > SER_T_MAX ||
            fread(x, 2, (size_t)(T * SER_INPUT_COLS), stdin) != (size_t)(T * SER_INPUT_COLS) ||
            fread(net, 1, SER_HEAD_CLASSES, stdin) != SER_HEAD_CLASSES) {
            return 2;
        }
        st = pr_head_features_s16(&head, x, T, g, scratch, SER_HEAD_SCRATCH_LEN);
        if (st == PR_OK) {
            st = pr_norm_apply_s16_s8(&norm, ser_head_prior_mean, ser_head_prior_var, state,
                                      SER_HEAD_STATE_BYTES, g, 1, z);
        }
        if (st == PR_OK) {
            st = pr_head_decide_s8(&head, z, net, p);
        }
        if (st == PR_OK) {
            st = pr_norm_update_s16(state, SER_HEAD_STATE_BYTES, SER_HEAD_FEATURES, g, 1);
        }
        for (c = 0; c < SER_HEAD_CLASSES; ++c) {
            printf("%ld ", (long)p[c]);
        }
        printf("\n");
    }
    return st != PR_OK;
}
"""


def test_the_exported_header_runs_the_head(corpus, tmp_path):  # noqa: F811
    """`export` of a .prq with a head writes SER_HEAD / SER_HEAD_NORM and the head's
    arrays; a firmware-like program compiled against it (host gcc) decides as the NumPy
    reference does, utterance after utterance with the head's causal state."""
    import shutil
    import subprocess
    from pathlib import Path

    from click.testing import CliRunner

    from pyreparam.audio.features import FeatureConfig
    from pyreparam.cli import main
    from pyreparam.data.cache import load_features
    from pyreparam.data.manifest import read_manifest
    from pyreparam.quant.prq import load_prq
    from pyreparam.train.run import start_run
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    out = tmp_path / "run"
    start_run(_spec(corpus, tmp_path, epochs=1, cv="fixed", stats_head=0.5), out, quiet=True)
    prq = tmp_path / "model.prq"
    assert CliRunner().invoke(main, ["quantize", str(out / "fold_00/model.npz"), "--calib",
                                     str(corpus), "-o", str(prq)]).exit_code == 0
    header = tmp_path / "fw" / "model.h"
    r = CliRunner().invoke(main, ["export", str(prq), "--c-header", str(header), "--name",
                                  "ser"])
    assert r.exit_code == 0, r.output
    assert "SER_HEAD" in r.output and "#define SER_HEAD_NORM" in header.read_text()
    (header.parent / "head_main.c").write_text(HEAD_MAIN)
    root = Path(__file__).resolve().parents[1]
    exe = tmp_path / "head_demo"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O1",
                    f"-I{root / 'csrc'}", f"-I{header.parent}",
                    str(header.parent / "head_main.c"),
                    *sorted(str(p) for p in (root / "csrc").glob("*.c")), "-o", str(exe)],
                   check=True, capture_output=True)
    program, meta, _ = load_prq(prq)
    h = qhead.from_meta(meta["head"], len(meta["classes"]))
    raw, _, _ = load_features(read_manifest(corpus)[:4],
                              FeatureConfig.from_dict(meta["feature_config"]),
                              tmp_path / "cache")
    rng = np.random.default_rng(0)
    stdin, want, state = b"", [], qcausal.new_state(h.n_features)
    for x in raw:
        X = qcausal.quantize_features(x[:program.t_max])
        net = rng.integers(-128, 128, h.n_classes).astype(np.int8)
        stdin += np.int32(X.shape[0]).tobytes() + X.astype("<i2").tobytes() + net.tobytes()
        g = qhead.features(h, X)
        want.append(qhead.decide(h, qhead.zscores(h, state, g), net).tolist())
        state = qcausal.update(state, g[None, :])
    done = subprocess.run([str(exe)], input=stdin, capture_output=True, check=True)
    got = [[int(v) for v in line.split()] for line in done.stdout.decode().splitlines()]
    assert got == want
