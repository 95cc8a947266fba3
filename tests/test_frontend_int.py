"""Integer log-mel front end (pyreparam.quant.qfrontend, csrc/pr_logmel_frame_s16.c):
C bit-exact with the NumPy reference on drawn frames and for *any* table contents,
the table builders against their float definitions, the integer FFT against
numpy.fft, the integer log against ln, the features against the float front end
(stated bounds), the whole-signal framing, the C error statuses and the Cortex-M run."""
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

from pyreparam import native
from pyreparam.audio.features import (FeatureConfig, frame_signal, logmel, mel_filterbank,
                                      _window)
from pyreparam.data.synth import synthesize
from pyreparam.quant import qfrontend as qf
from pyreparam.quant.qcausal import quantize_features

ROOT = Path(__file__).resolve().parents[1]
seeds = st.integers(0, 2**32 - 1)
needs_c = pytest.mark.skipif(not native.available(), reason="C extension not built")

DEFAULT = FeatureConfig()
# every supported FFT size; the small ones need a low sample rate for the float
# filterbank's default 25 ms window to fit n_fft
CONFIGS = [DEFAULT, FeatureConfig(win_ms=32.0, n_mels=40),
           FeatureConfig(sample_rate=4000, n_mels=20, window="hann"),
           FeatureConfig(sample_rate=1000, n_mels=6, hop_ms=12.0)]
KINDS = ("random", "silence", "min", "max", "dc", "nyquist", "clip", "lsb", "impulses",
         "speech", "quiet_speech")
FLOOR_Q8 = int(quantize_features(np.log(np.float32(1e-6), dtype=np.float32)))  # -3537


def draw_frame(rng, kind: str, win: int) -> np.ndarray:
    """One int16 frame of a given kind (the extremes the integer path must survive)."""
    n = np.arange(win)
    if kind == "random":
        x = rng.integers(-32768, 32768, win)
    elif kind == "silence":
        x = np.zeros(win)
    elif kind == "min":
        x = np.full(win, -32768)
    elif kind == "max":
        x = np.full(win, 32767)
    elif kind == "dc":
        x = np.full(win, rng.integers(-32768, 32768))
    elif kind == "nyquist":  # a sine within 1 % of Nyquist, random amplitude and phase
        f = 0.5 - rng.uniform(0, 0.005)
        x = rng.uniform(1, 32767) * np.sin(2 * np.pi * f * n + rng.uniform(0, 6.3))
    elif kind == "clip":
        x = np.where(rng.random(win) < 0.5, -32768, 32767)
    elif kind == "lsb":
        x = rng.integers(-2, 3, win)
    elif kind == "impulses":
        x = np.zeros(win)
        idx = rng.integers(0, win, rng.integers(1, 4))
        x[idx] = rng.choice([-32768, 32767, 1, -1], idx.size)
    else:
        level = 10 ** (rng.uniform(-20, 0) / 20 if kind == "speech" else rng.uniform(-90, -50) / 20)
        x = 32767 * level * harmonics(rng, win)
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def harmonics(rng, n: int, fs: float = 16000.0) -> np.ndarray:
    """A voiced-speech-like signal in [-1, 1]: 30 harmonics of a wobbling f0 with a
    spectral tilt and breath noise 25 to 60 dB down."""
    t = np.arange(n) / fs
    f0 = rng.uniform(90, 300) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(1, 5) * t))
    phase = 2 * np.pi * np.cumsum(f0) / fs
    tilt = rng.uniform(0.5, 1.5)
    x = sum(h ** -tilt * np.sin(h * phase + rng.uniform(0, 6.3)) for h in range(1, 31))
    x = x / np.abs(x).max()
    return x + rng.normal(0, 10 ** (-rng.uniform(25, 60) / 20), n)


def assert_bitexact(c, ref, what):
    assert c.shape == ref.shape and c.dtype == ref.dtype, f"{what}: {c.dtype}{c.shape} vs " \
                                                          f"{ref.dtype}{ref.shape}"
    bad = np.argwhere(c != ref)
    if bad.size:
        i = tuple(bad[0])
        raise AssertionError(f"{what}: {len(bad)} mismatches, first at {i}: C {c[i]} vs "
                             f"NumPy {ref[i]}; first indices {bad[:5].tolist()}")


# ==== C == NumPy, bit for bit ===========================================================

@needs_c
@given(seeds, st.sampled_from(range(len(CONFIGS))), st.lists(st.sampled_from(KINDS),
                                                            min_size=1, max_size=6))
def test_c_equals_numpy_on_drawn_frames(seed, which, kinds):
    from pyreparam.quant import ckernels
    rng = np.random.default_rng(seed)
    tables = qf.frontend_tables(CONFIGS[which])
    frames = np.stack([draw_frame(rng, k, tables.win_length) for k in kinds])
    out, power = ckernels.logmel_frames_s16(frames, tables, return_power=True)
    P, _ = qf.power_spectrum(frames, tables)
    assert_bitexact(power, P.astype(np.uint64), f"power spectrum {kinds}")
    assert_bitexact(out, qf.logmel_frames_q8(frames, tables), f"log-mel {kinds}")


@needs_c
def test_c_equals_numpy_on_speech():
    from pyreparam.quant import ckernels
    s = qf.pcm16(synthesize(0, 1, "anger", 0))
    for config in CONFIGS[:2]:
        frames = np.ascontiguousarray(frame_signal(s, config))
        assert_bitexact(ckernels.logmel_frames_s16(frames, qf.frontend_tables(config)),
                        qf.logmel_q8(s, config, trim_trailing_silence=False, use_c=False),
                        "speech")


def _garbage(tables: qf.FrontendTables, rng) -> qf.FrontendTables:
    """The same structure with random contents in every value table (int32 extremes
    over-represented), as a corrupted file or flash could hold."""
    def ints(shape, lo, hi, dtype):
        a = rng.integers(lo, hi, shape, dtype=np.int64, endpoint=True)
        a[rng.random(shape) < 0.2] = lo
        a[rng.random(shape) < 0.2] = hi
        return a.astype(dtype)
    i32 = (-(2**31), 2**31 - 1, np.int32)
    return tables._replace(
        window=ints(tables.window.shape, *i32),
        fft_twiddles=ints(tables.fft_twiddles.shape, *i32),
        rfft_twiddles=ints(tables.rfft_twiddles.shape, *i32),
        fft_order=ints(tables.fft_order.shape, 0, 65535, np.uint16),
        mel_weights=ints(tables.mel_weights.shape, *i32),
        log2_table=ints(tables.log2_table.shape, *i32),
        floor_q62=int(rng.integers(1, 2**63 - 1, dtype=np.int64)))


@needs_c
@given(seeds, st.sampled_from(range(len(CONFIGS))))
def test_c_equals_numpy_for_any_table_contents(seed, which):
    """No table content makes either side overflow: both compute the same integers
    (the sanitizer driver runs such tables under UBSan too)."""
    from pyreparam.quant import ckernels
    rng = np.random.default_rng(seed)
    tables = _garbage(qf.frontend_tables(CONFIGS[which]), rng)
    frames = np.stack([draw_frame(rng, k, tables.win_length) for k in KINDS])
    out, power = ckernels.logmel_frames_s16(frames, tables, return_power=True)
    P, _ = qf.power_spectrum(frames, tables)
    assert_bitexact(power, P.astype(np.uint64), "power, garbage tables")
    assert_bitexact(out, qf.logmel_frames_q8(frames, tables), "log-mel, garbage tables")


# ==== the tables against their float definitions ======================================

@pytest.mark.parametrize("config", CONFIGS)
def test_tables_match_their_float_definitions(config):
    t = qf.frontend_tables(config)
    N = config.n_fft // 2
    w = _window(config.window, config.win_length).astype(np.float64)
    assert np.abs(t.window / 2.0**31 - w).max() <= 2.0**-31
    j = np.arange(N // 4)[:, None] * np.arange(1, 4)
    tw = t.fft_twiddles.reshape(N // 4, 3, 2) / 2.0**31
    assert np.abs(tw[..., 0] - np.cos(2 * np.pi * j / N)).max() <= 2.0**-31
    assert np.abs(tw[..., 1] - np.sin(2 * np.pi * j / N)).max() <= 2.0**-31
    k = np.arange(N // 2 + 1)
    assert np.abs(t.rfft_twiddles[:, 0] / 2.0**31 - np.cos(np.pi * k / N)).max() <= 2.0**-31
    assert np.abs(t.rfft_twiddles[:, 1] / 2.0**31 - np.sin(np.pi * k / N)).max() <= 2.0**-31
    order = t.fft_order.astype(np.int64)
    assert sorted(order) == list(range(N)) and (order[order] == np.arange(N)).all()
    dense = np.zeros((config.n_mels, N + 1))
    offset = 0
    for m, (f, c) in enumerate(zip(t.mel_first, t.mel_count)):
        dense[m, f:f + c] = t.mel_weights[offset:offset + c] / 2.0**qf.WEIGHT_BITS
        offset += c
    assert offset == t.mel_weights.size
    assert np.abs(dense - mel_filterbank(config)).max() <= 2.0**-21
    i = np.arange(129)
    assert np.abs(t.log2_table / 2.0**16 - np.log2(1 + i / 128)).max() <= 2.0**-17
    assert t.floor_q62 == round(config.log_floor * 2.0**62)


def test_c_header_holds_every_table():
    t = qf.frontend_tables()
    text = "\n".join(qf.c_header_lines(t, "dev"))
    for field in ("window", "fft_twiddles", "rfft_twiddles", "fft_order", "mel_first",
                  "mel_count", "mel_weights", "log2_table"):
        assert f"dev_logmel_{field}[" in text
    assert f"#define DEV_LOGMEL_PARAMS {{400, 512, 64, {t.mel_weights.size}, " \
           f"{t.floor_q62}LL, dev_logmel_window, " in text
    assert "#define DEV_LOGMEL_SCRATCH 1026" in text
    assert qf.table_bytes(t) == 400 * 4 + 64 * 24 + 129 * 8 + 256 * 2 + 64 * 4 + \
        t.mel_weights.size * 4 + 129 * 4


@pytest.mark.parametrize("bad", [dict(n_fft=1024), dict(n_fft=256, win_ms=10.0),
                                 dict(log_floor=3.0), dict(n_mels=1025)])
def test_unsupported_configs_are_refused(bad):
    with pytest.raises(ValueError):
        qf.frontend_tables(FeatureConfig(**bad))


# ==== the integer steps against floating point ==========================================

@given(seeds, st.sampled_from([16, 64, 256]))
def test_integer_fft_is_the_dft_scaled(seed, N):
    """fft_radix4 equals numpy.fft.fft / 2^(L-1) up to its roundings (a few units)."""
    rng = np.random.default_rng(seed)
    config = {16: CONFIGS[3], 64: CONFIGS[2], 256: DEFAULT}[N]
    tables = qf.frontend_tables(config)
    re, im = (rng.integers(-(2**24), 2**24, (3, N)) for _ in range(2))
    Zr, Zi = qf.fft_radix4(re, im, tables)
    order = tables.fft_order.astype(np.int64)
    Z = (Zr + 1j * Zi)[:, order]
    ref = np.fft.fft(re + 1j * im, axis=1) / 2 ** (qf.fft_stages(N) - 1)
    assert np.abs(Z - ref).max() <= 4 * qf.fft_stages(N)


def test_power_spectrum_is_the_float_power_spectrum():
    """P 2^-E equals |rfft(x w)|^2 of the float front end within 1e-6 of each frame's
    largest bin (relative) on speech-like frames."""
    rng = np.random.default_rng(3)
    frames = np.stack([draw_frame(rng, "speech", 400) for _ in range(8)])
    P, e = qf.power_spectrum(frames, qf.frontend_tables())
    x = frames / 32768.0 * _window("hamming", 400).astype(np.float64)
    ref = np.abs(np.fft.rfft(x, 512, axis=1)) ** 2
    got = P / 2.0 ** qf.power_exponent(e, qf.frontend_tables())[:, None]
    assert (np.abs(got - ref) <= 1e-6 * ref.max(axis=1, keepdims=True)).all()


@given(seeds)
def test_integer_log_is_ln_within_half_an_lsb(seed):
    """log_q8 = round(256 ln((mel + F) / 2^E)) up to the table's interpolation: within
    0.5 + 0.01 LSB of the exact value for any mel and exponent."""
    rng = np.random.default_rng(seed)
    tables = qf.frontend_tables()
    e = rng.integers(7, 21, 50)
    mel = (rng.random((50, 64)) * 2.0 ** rng.integers(0, 62, (50, 64))).astype(np.uint64)
    mel[rng.random(mel.shape) < 0.1] = 0
    got = qf.log_q8(mel, e, tables).astype(np.float64)
    E = qf.power_exponent(e, tables)[:, None]
    F = np.round(tables.floor_q62 / 2.0 ** (62 - E))
    exact = 256 * np.log((mel.astype(np.float64) + F) / 2.0**E)
    assert np.abs(got - exact).max() <= 0.51


# ==== features against the float front end =============================================

def _error_q8(signal: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """q - 256 f of the integer and float front ends on the same PCM samples."""
    s = qf.pcm16(signal)
    q = qf.logmel_q8(s, config).astype(np.float64)
    f = logmel(s.astype(np.float32) / 32768, config).astype(np.float64)
    assert q.shape == f.shape
    return q - 256 * f


def test_features_follow_the_float_front_end_on_speech_like_signals():
    """On speech (the synthetic corpus) and speech-like harmonic signals from 0 to -70
    dBFS with noise, and on noise, nothing excluded (floor cells included):
    |q - 256 f| <= 0.75 (q is round(256 f) or, within 0.25 of a tie, its neighbour),
    mean <= 0.26 (0.25 is rounding alone) and q == round(256 f) for 99 % of cells."""
    rng = np.random.default_rng(0)
    config = FeatureConfig(trim_trailing_silence=False)
    signals = [synthesize(1, spk, emo, 1)[:16000] for spk, emo in
               ((0, "neutral"), (1, "anger"), (2, "sadness"), (3, "happiness"))]
    signals += [harmonics(rng, 12000) * 10 ** (db / 20) for db in (0, -20, -40, -70)]
    signals += [rng.normal(0, 0.3, 8000).clip(-1, 1), rng.normal(0, 1e-3, 8000)]
    err = np.concatenate([_error_q8(x, config).ravel() for x in signals])
    assert np.abs(err).max() <= 0.75
    assert np.abs(err).mean() <= 0.26
    assert (np.abs(err) < 0.5).mean() >= 0.99


def test_features_on_full_scale_tones():
    """Pure full-scale tones (50 Hz, 1 kHz, 7.9 kHz) put bands 65 to 100 dB below the
    frame's peak, where the integer path's dynamic range ends (inputs of 22 bits: their
    rounding and the FFT's are about 155 dB below the peak, float32's about 170): within
    2 LSB there, within 0.75 LSB for bands less than 15 nats (65 dB) below the peak."""
    n = np.arange(12000)
    config = FeatureConfig(trim_trailing_silence=False)
    for f0 in (50.0, 1000.0, 7900.0):
        x = 0.99 * np.sin(2 * np.pi * f0 * n / 16000)
        err = np.abs(_error_q8(x, config))
        f = logmel(qf.pcm16(x).astype(np.float32) / 32768, config)
        deep = f < f.max(axis=1, keepdims=True) - 15.0
        assert err.max() <= 2.0
        assert err[~deep].max() <= 0.75


def test_silence_is_the_floor():
    out = qf.logmel_q8(np.zeros(1600, np.int16), trim_trailing_silence=False)
    assert out.shape == (8, 64) and (out == FLOOR_Q8).all() and FLOOR_Q8 == -3537


@pytest.mark.parametrize("n", [0, 1, 399, 400, 401, 559, 560, 4000])
@pytest.mark.parametrize("trim", [True, False])
def test_whole_signal_frames_like_the_float_front_end(n, trim):
    """Same frame count as features.logmel (trailing-zero trimming, the short-signal
    padding), and logmel_int is q / 256 as float32 within 0.75 / 256 of logmel."""
    rng = np.random.default_rng(n)
    x = (rng.integers(-3000, 3000, n) / 32768).astype(np.float32)
    x[-min(n, 200):] = 0.0  # trailing silence to trim
    config = FeatureConfig(trim_trailing_silence=trim)
    f = logmel(x, config)
    q = qf.logmel_q8(qf.pcm16(x), config, use_c=False)
    assert q.shape == f.shape and q.dtype == np.int16
    if native.available():
        assert_bitexact(qf.logmel_q8(qf.pcm16(x), config, use_c=True), q, "C, whole signal")
    x_int = qf.logmel_int(x, config)
    assert x_int.dtype == np.float32 and np.array_equal(x_int * 256, q)
    assert np.abs(x_int - f).max() <= 0.75 / 256


def test_pcm16_round_trips_decoded_pcm():
    s = np.arange(-32768, 32768, 7, dtype=np.int16)
    assert np.array_equal(qf.pcm16(s.astype(np.float32) / 32768), s)
    assert qf.pcm16(np.array([1.0, -1.5, 2e-5])).tolist() == [32767, -32768, 1]


# ==== C error statuses ===================================================================

PR_OK, PR_ERR_NULL, PR_ERR_SHAPE, PR_ERR_SCRATCH, PR_ERR_PARAM = 0, -1, -2, -3, -5
POINTERS = ("window", "fft_twiddles", "rfft_twiddles", "fft_order", "mel_first",
            "mel_count", "mel_weights", "log2_table")


@needs_c
def test_scratch_len_query():
    _lib = native.lib()
    assert [_lib.pr_logmel_scratch_len(n) for n in (32, 128, 512)] == [66, 258, 1026]
    assert all(_lib.pr_logmel_scratch_len(n) == PR_ERR_SHAPE for n in (0, 64, 256, 1024))


@needs_c
def test_error_statuses():
    """Valid arguments give PR_OK; each NULL pointer, bad size, bad filterbank range,
    bad floor and short scratch gives its own status, one at a time, and nothing is
    written on an error."""
    _ffi, _lib = native.handle()
    from pyreparam.quant import ckernels
    tables = qf.frontend_tables()
    samples = np.zeros(400, np.int16)
    scratch = np.zeros(1026, np.int32)

    def call(mutate=None, scratch_len=1026):
        p, keep = ckernels.logmel_params(tables)
        out = np.full(64, 7, np.int16)
        args = [p, ckernels._ptr(samples), ckernels._ptr(out), ckernels._ptr(scratch), scratch_len]
        first = _ffi.new("uint16_t[]", tables.mel_first.tolist())
        if mutate is not None:
            mutate(p, args, first)
        status = _lib.pr_logmel_frame_s16(*args)
        assert status == PR_OK or (out == 7).all(), "output written on an error"
        del keep
        return status

    assert call() == PR_OK
    for i in range(4):
        assert call(lambda p, a, f, i=i: a.__setitem__(i, _ffi.NULL)) == PR_ERR_NULL
    for name in POINTERS:
        assert call(lambda p, a, f, n=name: setattr(p, n, _ffi.NULL)) == PR_ERR_NULL, name
    for field, value in (("n_fft", 256), ("n_fft", 1024), ("n_fft", 0), ("win_length", 0),
                         ("win_length", 513), ("n_mels", 0), ("n_mels", 1025),
                         ("n_weights", -1)):
        assert call(lambda p, a, f, k=field, v=value: setattr(p, k, v)) == PR_ERR_SHAPE, \
            (field, value)

    def first_bin(m, value):
        def mutate(p, a, f):
            f[m] = value
            p.mel_first = f
        return mutate
    assert call(first_bin(63, 257 - tables.mel_count[63] + 1)) == PR_ERR_PARAM
    assert call(first_bin(0, 300)) == PR_ERR_PARAM
    assert call(lambda p, a, f: setattr(p, "n_weights", tables.mel_weights.size - 1)) == \
        PR_ERR_PARAM
    assert call(lambda p, a, f: setattr(p, "floor_q62", 0)) == PR_ERR_PARAM
    assert call(scratch_len=1025) == PR_ERR_SCRATCH


# ==== Cortex-M ============================================================================

MCU_TOOLS = [t for t in ("arm-none-eabi-gcc", "qemu-system-arm", "cc") if shutil.which(t) is None]


@pytest.mark.slow
@needs_c
@pytest.mark.skipif(bool(MCU_TOOLS), reason=f"{', '.join(MCU_TOOLS)} not installed "
                                            "(tools/mcu/run.sh installs them)")
def test_cortex_m4_frames_equal_the_host(tmp_path):
    """tools/mcu/frontend.py on the Cortex-M4, portable and DSP variant: every frame's
    features, and the pitch track's decimation, windows and fill, equal the NumPy
    reference's; the figures land in its JSON; the DSP variant takes fewer
    instructions."""
    import json
    out = tmp_path / "fe.json"
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "mcu" / "frontend.py"),
                           "--targets", "m4-ref,m4-dsp", "--out", str(tmp_path), "--json",
                           str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    doc = json.loads(out.read_text())
    ref, dsp = doc["results"]
    for result in (ref, dsp):
        assert result["ok"] and len(result["instructions"]) == doc["frames"]
        assert max(result["instructions"]) < 45000 and result["stack_bytes"] < 1024
        assert result["pitch_stack_bytes"] < 1024 and result["pitch_decimate_instructions"] > 0
    assert max(dsp["instructions"]) < min(ref["instructions"])


def test_feature_config_selects_the_integer_front_end(tmp_path):
    """FeatureConfig(frontend="int"): logmel is the integer front end's q / 256, the cache
    keeps the two apart, and the float front end's cache keys are those of before."""
    import json
    from pyreparam.audio.features import FeatureConfig, logmel
    from pyreparam.data.cache import CACHE_FORMAT, FeatureCache
    from pyreparam.quant.qfrontend import logmel_q8, pcm16
    rng = np.random.default_rng(3)
    x = (0.2 * np.sin(np.arange(8000) * 0.05) + 0.01 * rng.standard_normal(8000))
    x = (pcm16(x) / 32768.0).astype(np.float32)
    fc_int = FeatureConfig(frontend="int")
    q = logmel_q8(pcm16(x), fc_int)
    np.testing.assert_array_equal(logmel(x, fc_int), q.astype(np.float32) / 256)
    assert np.abs(logmel(x, fc_int) - logmel(x, FeatureConfig())).max() < 1 / 256
    with pytest.raises(ValueError, match="frontend"):
        FeatureConfig(frontend="fixed")
    key = FeatureCache.key(b"abc", FeatureConfig(), max_seconds=30.0, min_seconds=0.1)
    old = json.dumps({"format": CACHE_FORMAT, "features": {
        k: v for k, v in FeatureConfig().to_dict().items() if k not in ("frontend", "pitch")},
        "max_seconds": 30.0, "min_seconds": 0.1}, sort_keys=True)
    import hashlib
    digest = hashlib.sha256(hashlib.sha256(b"abc").digest())
    digest.update(old.encode())
    assert key == digest.hexdigest()
    assert FeatureCache.key(b"abc", fc_int, max_seconds=30.0, min_seconds=0.1) != key
