"""The stream API (csrc/pr_stream_*.c, pr_logmel_push_s16, pr_norm_update_sums)
against its NumPy reference (pyreparam/quant/qstream.py), bit for bit: framing across
any block sizes, the merge from sums, decisions and state however the audio is pushed,
the energy gate, the last window, sizes and error statuses. reference/stream.md."""
import numpy as np
import pytest
from click.testing import CliRunner

from pyreparam import native
from pyreparam.audio.features import FeatureConfig, frame_signal
from pyreparam.cli import main
from pyreparam.data.synth import synthesize_recording, write_synthetic_corpus
from pyreparam.quant import qcausal, qstream
from pyreparam.quant import qfrontend as qf

from stream_helpers import CONFIG, check_chunking, recording, run

pytestmark = pytest.mark.skipif(not native.available(), reason="C extension not built")

@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A light ConvTransformer (random weights, merged, quantized with T_max 60) and
    its stream pieces; the gate relative to its prior."""
    from pyreparam.stream import StreamModel
    tmp = tmp_path_factory.mktemp("stream")
    manifest = write_synthetic_corpus(tmp / "corpus", speakers=2, per_class=1)
    ckpt, prq = tmp / "ct.npz", tmp / "ct.prq"
    for args in (["init", "--backbone", "convtransformer", "--classes", "4", "-o", ckpt],
                 ["quantize", ckpt, "--calib", manifest, "--n", "8", "--max-seconds", "0.6",
                  "--cache", "none", "-o", prq]):
        result = CliRunner().invoke(main, [str(a) for a in args])
        assert result.exit_code == 0, result.output
    m = StreamModel.from_file(prq)
    m.config = CONFIG._replace(gate_q8=qstream.gate_q8(m.params.prior_mean))
    return m


# ---- the front end on a stream -------------------------------------------------------

@pytest.mark.parametrize("block", [1, 7, 160, 16000, "random"])
def test_framing_does_not_depend_on_block_sizes(block, rng):
    """pr_logmel_push_s16 fed 1, 7, 160, 16000 or random numbers of samples at a time
    gives the frames of frame_signal, i.e. the whole signal's features, bit for bit
    (and the NumPy reference's on the same frames)."""
    from pyreparam.quant import ckernels
    tables = qf.frontend_tables(FeatureConfig())
    pcm = qf.pcm16(synthesize_recording(0, 0, ("anger",)))[:9000]
    sizes = list(rng.integers(0, 500, 200)) if block == "random" else [block]
    tail, fill, got, i, k = np.zeros(400, np.int16), 0, [], 0, 0
    while i < pcm.size:
        n = int(sizes[k % len(sizes)])
        feats, used, fill = ckernels.logmel_push_s16(tables, 160, tail, fill, pcm[i:i + n], 1000)
        assert used == min(n, pcm.size - i) and 0 <= fill < 400
        got.append(feats)
        i, k = i + used, k + 1
    got = np.concatenate(got)
    whole = qf.logmel_q8(pcm, FeatureConfig(), trim_trailing_silence=False)
    assert got.shape == whole.shape == (1 + (pcm.size - 400) // 160, 64)
    assert np.array_equal(got, whole)
    frames = np.ascontiguousarray(frame_signal(pcm, FeatureConfig())[::9])
    assert np.array_equal(got[::9], qf.logmel_frames_q8(frames, tables))


def test_framing_stops_after_max_frames_and_checks_its_arguments():
    from pyreparam.quant import ckernels
    from pyreparam.native import NativeError
    tables = qf.frontend_tables(FeatureConfig())
    pcm = np.arange(2000, dtype=np.int16)
    tail = np.zeros(400, np.int16)
    feats, used, fill = ckernels.logmel_push_s16(tables, 160, tail, 0, pcm, 2)
    assert feats.shape == (2, 64) and used == 560 and fill == 240
    assert np.array_equal(tail[:240], pcm[320:560])
    feats, used, fill = ckernels.logmel_push_s16(tables, 160, tail, 240, pcm[560:], 100)
    assert feats.shape[0] == 1 + (2000 - 400) // 160 - 2 and used == 1440
    for hop, fill0, frames in ((0, 0, 1), (401, 0, 1), (160, 400, 1), (160, -1, 1),
                               (160, 0, 0)):
        with pytest.raises(NativeError) as err:
            ckernels.logmel_push_s16(tables, hop, np.zeros(400, np.int16), fill0, pcm, frames)
        assert err.value.status == -2


# ---- the merge from sums -------------------------------------------------------------

def test_update_from_sums_equals_update_from_frames(rng):
    """pr_norm_update_sums == qcausal.update_sums == pr_norm_update_s16 on the frames,
    over a sequence of utterances; sums no int16 frames have are refused."""
    from pyreparam.quant import ckernels
    from pyreparam.native import NativeError
    M = 16
    s_frames = s_sums = ckernels.norm_state_init(M)
    ref = qcausal.new_state(M)
    for T in (7, 1, 120, 33):
        x = rng.integers(-32768, 32768, (T, M)).astype(np.int16)
        x[:, 0] = -32768                                           # the extremes
        S1, S2 = x.astype(np.int64).sum(0), (x.astype(np.int64) ** 2).sum(0)
        s_frames = ckernels.norm_update_s16(s_frames, x)
        s_sums = ckernels.norm_update_sums(s_sums, S1, S2, T)
        ref = qcausal.update_sums(ref, S1, S2, T)
        assert s_sums == s_frames == qcausal.state_to_bytes(ref)
    S1, S2 = np.zeros(M, np.int64), np.zeros(M, np.int64)
    for bad in ((S1 - 32769 * 5, S2, 5), (S1, S2 - 1, 5), (S1, S2 + (1 << 30) * 5 + 1, 5)):
        with pytest.raises(NativeError) as err:
            ckernels.norm_update_sums(s_sums, *bad)
        assert err.value.status == -5
    with pytest.raises(NativeError) as err:
        ckernels.norm_update_sums(s_sums, S1, S2, 0)
    assert err.value.status == -2


# ---- the stream ----------------------------------------------------------------------

def test_c_stream_equals_numpy_reference(model):
    """A recording with pauses: every decision (frames, flags, active frames, label,
    logits) and the final state equal; some windows are gated, the state is updated,
    the last window is decided by finish."""
    pcm = recording()
    c, ref = model.open(use_c=True), model.open(use_c=False)
    got, want = run(c, pcm, [16000]), run(ref, pcm, [16000])
    assert got == want and c.state == ref.state
    flags = [d.flags for d in got]
    assert any(d.gated for d in got) and sum(d.updated for d in got) >= 3
    assert got[-1].final and got[-1].end_frame == 1 + (pcm.size - 400) // 160
    starts = [d.start_frame for d in got if not d.final]
    assert starts == list(range(0, 10 * len(starts), 10))          # every hop
    n_decided = sum(not d.gated for d in got)
    assert qcausal.state_from_bytes(c.state).n == n_decided, flags
    for d in got:
        assert (d.label == -1) == d.gated and len(d.logits) == 4


@pytest.mark.parametrize("sizes", [[1], [7], [160], [16000], "random"])
def test_decisions_do_not_depend_on_chunking(model, sizes, rng):
    check_chunking(model, sizes, rng)


def test_push_stops_after_max_decisions(model):
    """max_out = 1: pushing 2.5 s at once returns after the first decision with the
    samples it used; the rest pushed again gives the same decisions as in one go."""
    _ffi, _lib = native.handle()
    pcm = np.ascontiguousarray(recording()[:40000])
    s = model.open(use_c=True)
    n, used = _ffi.new("int32_t *"), _ffi.new("int32_t *")
    got, i = [], 0
    while i < pcm.size:
        rest = pcm[i:]
        st = _lib.pr_stream_push_s16(s._cfg, s._ptr(s._mem), s.memory_bytes,
                                     s._ptr(s._state), s._state.size,
                                     _ffi.cast("int16_t *", rest.ctypes.data), rest.size,
                                     used, s._out, 1, n)
        assert st == 0 and n[0] <= 1 and (n[0] == 1 or i + used[0] == pcm.size)
        got += s._decisions(n[0])
        i += used[0]
    ref = model.open(use_c=True)
    assert got == ref.push(pcm) and len(got) >= 10


def test_gate_skips_silence_and_leaves_the_state(model):
    """Silence (digital or -70 dBFS noise) is gated window after window: no model run,
    the state stays as it was."""
    for noise in (None, -70.0):
        pcm = qf.pcm16(synthesize_recording(0, 0, (2.0,), noise_dbfs=noise))
        for use_c in (True, False):
            s = model.open(use_c=use_c)
            before = s.state
            ds = s.push(pcm) + s.finish()
            assert ds and all(d.gated and d.active_frames == 0 for d in ds)
            assert s.state == before


def test_last_window_and_min_frames(model):
    """Audio shorter than a window is decided once by finish (if it has min_frames
    frames); shorter than that: no decision."""
    pcm = qf.pcm16(synthesize_recording(0, 0, ("anger",)))
    for frames, expect in ((14, 0), (15, 1), (39, 1)):
        n = 400 + 160 * (frames - 1)
        for use_c in (True, False):
            s = model.open(use_c=use_c)
            ds = s.push(pcm[:n]) + s.finish()
            assert len(ds) == expect
            if expect:
                assert ds[0].final and (ds[0].start_frame, ds[0].end_frame) == (0, frames)


def test_stream_starts_from_a_stored_state(model):
    pcm = recording()[:30000]
    first = model.open(use_c=True)
    first.push(pcm)
    first.finish()
    stored = first.state
    c, ref = model.open(stored, use_c=True), model.open(stored, use_c=False)
    assert run(c, pcm, [5000]) == run(ref, pcm, [5000]) and c.state == ref.state
    assert qcausal.state_from_bytes(c.state).n > qcausal.state_from_bytes(stored).n


def test_sizes_and_error_statuses(model):
    """pr_stream_bytes == qstream.stream_bytes; init refuses a window beyond T_max, a
    small arena, misaligned or short memory; a stream refuses another configuration,
    a corrupt state (consuming nothing) and any call after finish."""
    from pyreparam.native import NativeError
    _ffi, _lib = native.handle()
    from pyreparam.quant.cstream import CStream
    s = model.open(use_c=True)
    arena = model.program.arena_bytes
    assert s.memory_bytes == qstream.stream_bytes(model.config, model.tables, arena)
    args = (model.blob, model.params, model.tables)
    for cfg, arena_bytes, status in (
            (model.config._replace(window_frames=70, hop_frames=10), arena, -2),
            (model.config._replace(window_frames=45), arena, -2),
            (model.config._replace(hop_samples=0), arena, -2),
            (model.config._replace(gate_min_active=41), arena, -2),
            (model.config, arena - 4, -17)):
        with pytest.raises(NativeError) as err:
            CStream(*args, cfg, arena_bytes)
        assert err.value.status == status, cfg
    mem = np.zeros(s.memory_bytes + 16, np.uint8)
    base = -mem.ctypes.data % 16
    ptr = lambda k: _ffi.cast("uint8_t *", mem.ctypes.data + base + k)
    assert _lib.pr_stream_init(s._cfg, ptr(4), s.memory_bytes) == -18
    assert _lib.pr_stream_init(s._cfg, ptr(0), s.memory_bytes - 1) == -3
    # another configuration on the same memory
    s._cfg.gate_q8 += 1
    with pytest.raises(NativeError) as err:
        s.push(np.zeros(500, np.int16))
    assert err.value.status == -22
    s._cfg.gate_q8 -= 1
    # a corrupt state: nothing consumed, the stream goes on once the state is good
    pcm = recording()[:8000]
    good = s.state
    s._state[30] ^= 1
    with pytest.raises(NativeError) as err:
        s.push(pcm)
    assert err.value.status == -21
    s._state[:] = np.frombuffer(good, np.uint8)
    ref = model.open(use_c=True)
    assert s.push(pcm) == ref.push(pcm)
    s.finish()
    with pytest.raises(NativeError) as err:
        s.push(pcm)
    assert err.value.status == -22
    with pytest.raises(NativeError) as err:
        s.finish()
    assert err.value.status == -22


def test_default_configuration():
    """3 s windows every second at 100 frames per second; cut to T_max and to whole
    hops; the gate 15 dB below the prior's mean log-mel."""
    prior = np.full(64, -5 * 65536, dtype=np.int32)                 # -5 nats
    cfg = qstream.default_config(300, 160, 16000, prior)
    assert (cfg.window_frames, cfg.hop_frames, cfg.min_frames, cfg.gate_min_active) == \
        (300, 100, 100, 75)
    assert cfg.gate_q8 == -5 * 256 - round(1.5 * np.log(10) * 256)
    assert qstream.default_config(250, 160, 16000, prior)[1:3] == (200, 100)
    assert qstream.default_config(60, 160, 16000, prior)[1:3] == (60, 60)


def test_null_arguments(model):
    """Every required pointer of the stream functions, one at a time: PR_ERR_NULL."""
    _ffi, _lib = native.handle()
    s = model.open(use_c=True)
    pcm = np.zeros(10, np.int16)
    n, used = _ffi.new("int32_t *"), _ffi.new("int32_t *")
    mem, state = s._ptr(s._mem), s._ptr(s._state)
    p16 = _ffi.cast("int16_t *", pcm.ctypes.data)
    push = [s._cfg, mem, s.memory_bytes, state, s._state.size, p16, 10, used, s._out, 1, n]
    for i in (0, 1, 3, 5, 7, 8, 10):
        args = list(push)
        args[i] = _ffi.NULL
        assert _lib.pr_stream_push_s16(*args) == -1, i
    fin = [s._cfg, mem, s.memory_bytes, state, s._state.size, s._out, n]
    for i in (0, 1, 3, 5, 6):
        args = list(fin)
        args[i] = _ffi.NULL
        assert _lib.pr_stream_finish(*args) == -1, i
    for field in ("model", "frontend", "norm", "prior_mean", "prior_var"):
        keep = getattr(s._cfg, field)
        setattr(s._cfg, field, _ffi.NULL)
        assert _lib.pr_stream_init(s._cfg, mem, s.memory_bytes) == -1, field
        setattr(s._cfg, field, keep)
    assert _lib.pr_stream_init(_ffi.NULL, mem, s.memory_bytes) == -1
    assert _lib.pr_stream_init(s._cfg, _ffi.NULL, s.memory_bytes) == -1
    assert _lib.pr_stream_bytes(_ffi.NULL) == -1
    assert _lib.pr_stream_push_s16(*push[:6], -1, *push[7:]) == -2       # n < 0
    assert _lib.pr_stream_push_s16(*push[:9], 0, n) == -2                # max_out < 1
    # an empty push is fine, pcm may then be NULL
    assert _lib.pr_stream_push_s16(*push[:5], _ffi.NULL, 0, *push[7:]) == 0
    S = np.zeros(64, np.int64)
    pS = _ffi.cast("int64_t *", S.ctypes.data)
    for i in (0, 3, 4):
        args = [state, s._state.size, 64, pS, pS, 10]
        args[i] = _ffi.NULL
        assert _lib.pr_norm_update_sums(*args) == -1
    tail = np.zeros(400, np.int16)
    fill = _ffi.new("int32_t *")
    frames = _ffi.new("int32_t *")
    feats = np.zeros(64, np.int16)
    scratch = np.zeros(1026, np.int32)
    lm = [s._frontend, 160, _ffi.cast("int16_t *", tail.ctypes.data), fill, p16, 10, used,
          _ffi.cast("int16_t *", feats.ctypes.data), 1, frames,
          _ffi.cast("int32_t *", scratch.ctypes.data), 1026]
    assert _lib.pr_logmel_push_s16(*lm) == 0
    for i in (0, 2, 3, 4, 6, 7, 9, 10):
        args = list(lm)
        args[i] = _ffi.NULL
        assert _lib.pr_logmel_push_s16(*args) == -1, i
