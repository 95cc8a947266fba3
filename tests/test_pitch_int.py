"""The integer pitch track (pyreparam.quant.qpitch) against the float definition."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import firwin, resample_poly

from pyreparam import native
from pyreparam.audio.features import PITCH_VOICED, FeatureConfig, pitch_track
from pyreparam.quant import ckernels, qpitch
from pyreparam.quant.qfrontend import pcm16

STEP = 1.0 / 256                    # one Q8 step


def voice(f0: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    x = sum(np.sin(2 * np.pi * k * f0 * t + 0.3 * k) / k for k in range(1, 13) if k * f0 < 3500)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


@pytest.mark.parametrize("rate", [16000, 22050])
@pytest.mark.parametrize("f0", [75.0, 130.0, 220.0, 410.0])
def test_integer_track_is_the_float_one_within_half_a_q8_step_on_voices(rate, f0):
    config = FeatureConfig(sample_rate=rate, pitch=True)
    x = voice(f0, 0.5, rate)
    exact = pitch_track(x, config).astype(np.float64)
    integer = qpitch.pitch_int(x, config).astype(np.float64)
    assert integer.shape == exact.shape
    np.testing.assert_array_less(np.abs(integer - exact), STEP / 2 + 1e-3 * STEP)


def test_decimation_is_resample_polys_filter_in_q15():
    tables = qpitch.pitch_tables(16000)
    s = pcm16(0.5 * np.random.default_rng(1).standard_normal(4001).clip(-1.9, 1.9) / 2)
    y = qpitch.decimate(s, tables)
    exact = resample_poly(s.astype(np.float64), 1, tables.factor)
    assert y.dtype == np.int32 and y.shape == exact.shape
    h = firwin(tables.taps.size, 1.0 / tables.factor, window=("kaiser", 5.0))
    # the taps' rounding times the largest sample, plus the output's rounding
    bound = np.abs(tables.taps / 2.0**15 - h).sum() * np.abs(s.astype(np.int64)).max() + 0.5
    assert np.abs(y - exact).max() <= bound
    assert np.abs(y - exact).mean() < 1.0


def test_silence_and_no_voiced_frame_give_zeros_and_interpolation_is_exact_integers():
    config = FeatureConfig(pitch=True)
    assert (qpitch.pitch_q8(np.zeros(3000, np.int16), config, False) == 0).all()
    octaves = np.array([0, 0, 100, 0, 0, 0, 130, 0], dtype=np.int64)
    voicing = np.array([0, 0, 200, 3, 0, 100, 180, 0], dtype=np.int64)
    filled = qpitch.fill_unvoiced(octaves, voicing)
    # between 100 (frame 2) and 130 (frame 6): 100 + round(30 * k / 4)
    np.testing.assert_array_equal(filled, [100, 100, 100, 108, 115, 123, 130, 130])
    assert (qpitch.fill_unvoiced(octaves, np.zeros(8, np.int64)) == 0).all()


def test_log2_q16_is_the_log_within_two_steps():
    """The 7-bit table's linear interpolation (at most 0.72 Q16 steps off the curve)
    plus the table's and the interpolation's rounding: under 2 steps."""
    v = np.unique(np.geomspace(1, 2**30, 4000).astype(np.int64))
    exact = np.log2(v.astype(np.float64)) * 2**16
    assert np.abs(qpitch.log2_q16(v) - exact).max() < 2.0
    assert (qpitch.log2_q16(2 ** np.arange(31)) == 65536 * np.arange(31)).all()


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([16000, 22050]),
       st.integers(400, 6000), st.floats(0.0, 0.9))
def test_any_pcm_gives_q8_channels_in_range_and_agrees_with_float_where_clearly_voiced(
        seed, rate, n, level):
    """Random PCM (noise mixed with a voice): the voicing stays in 0 .. 256 Q8, and on
    frames the float track calls clearly voiced or clearly not, the integer track
    agrees; the F0 of clearly voiced frames agrees within a few Q8 steps."""
    rng = np.random.default_rng(seed)
    config = FeatureConfig(sample_rate=rate, pitch=True)
    f0 = float(rng.uniform(70, 480))
    x = (level * voice(f0, n / rate, rate)[:n]
         + (1 - level) * 0.2 * rng.standard_normal(n)).astype(np.float32)
    q = qpitch.pitch_q8(pcm16(x), config)
    assert q.dtype == np.int16 and q.shape == pitch_track(x, config).shape
    assert ((q[:, 1] >= 0) & (q[:, 1] <= 256)).all()
    exact = pitch_track(pcm16(x).astype(np.float32) / 32768, config).astype(np.float64)
    clear = np.abs(exact[:, 1] - PITCH_VOICED) > 0.02
    np.testing.assert_array_equal((q[clear, 1] >= qpitch.VOICED_Q8),
                                  exact[clear, 1] >= PITCH_VOICED)
    voiced = clear & (exact[:, 1] >= PITCH_VOICED + 0.1)
    if voiced.any():
        assert np.abs(q[voiced, 0] / 256 - exact[voiced, 0]).max() < 4 * STEP + math.ulp(1)


# ---------------------------------------------------------------- C, bit for bit

needs_c = pytest.mark.skipif(not native.available(), reason="C extension not built")


def _pcm(seed: int, n: int, rate: int, level: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    f0 = float(rng.uniform(65, 490))
    x = level * voice(f0, n / rate + 0.01, rate)[:n] + (1 - level) * 0.3 * rng.standard_normal(n)
    x[rng.integers(0, n, 3)] = rng.choice([-1.0, 0.999], 3)      # full-scale samples
    if rng.random() < 0.3:
        x[: n // 3] = 0.0                                          # digital silence
    return pcm16(x)


@needs_c
@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([8000, 16000, 22050, 44100]),
       st.integers(0, 9000), st.floats(0.0, 1.0))
def test_c_pitch_track_is_the_numpy_reference_bit_for_bit(seed, rate, n, level):
    config = FeatureConfig(sample_rate=rate, pitch=True)
    s = _pcm(seed, n, rate, level) if n else np.zeros(0, np.int16)
    tables = qpitch.pitch_tables(rate)
    y = qpitch.decimate(s, tables)
    np.testing.assert_array_equal(ckernels.pitch_decimate_s16(s, tables), y)
    frames = qpitch.num_frames(s.size, config)
    windows = qpitch.frame_windows(y, frames, config, tables, mean_free=False)
    octaves, voicing = qpitch.frame_pitch(
        qpitch.frame_windows(y, frames, config, tables), tables)
    raw = ckernels.pitch_frames_s32(windows.astype(np.int32), tables)
    np.testing.assert_array_equal(raw[:, 0], octaves)
    np.testing.assert_array_equal(raw[:, 1], voicing)
    np.testing.assert_array_equal(
        qpitch.pitch_q8(s, config, False, use_c=True), qpitch.pitch_q8(s, config, False,
                                                                       use_c=False))


@needs_c
@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-300, 700), st.integers(0, 256)), max_size=40),
       st.integers(2, 5), st.integers(0, 3))
def test_c_fill_is_the_numpy_reference_bit_for_bit(rows, stride, col):
    col = min(col, stride - 2)
    frames = np.zeros((len(rows), stride), np.int16)
    if rows:
        frames[:, col:col + 2] = np.array(rows, dtype=np.int16)
    expected = frames.copy()
    expected[:, col] = qpitch.fill_unvoiced(frames[:, col].astype(np.int64),
                                            frames[:, col + 1].astype(np.int64))
    np.testing.assert_array_equal(ckernels.pitch_fill_s16(frames, col), expected)


@needs_c
def test_c_pitch_functions_refuse_bad_arguments():
    tables = qpitch.pitch_tables(16000)
    ffi, lib = native.ffi(), native.lib()
    p, keep = ckernels.pitch_params(tables)
    window = np.zeros(tables.width, np.int32)
    out = np.zeros(2, np.int16)
    ptr = lambda a: ffi.cast(("int32_t *" if a.dtype == np.int32 else "int16_t *"),
                             ffi.from_buffer(a))
    assert lib.pr_pitch_frame_s32(ffi.NULL, ptr(window), ptr(out)) == lib.PR_ERR_NULL
    window[3] = (1 << 17) + 1
    assert lib.pr_pitch_frame_s32(p, ptr(window), ptr(out)) == lib.PR_ERR_SHAPE
    bad = ffi.new("pr_pitch_params *", dict(factor=4, width=160, lag_min=8, lag_max=159,
                                            log2_rate_q16=0, taps=p.taps,
                                            log2_table=p.log2_table))
    assert lib.pr_pitch_frame_s32(bad, ptr(np.zeros(160, np.int32)), ptr(out)) == \
        lib.PR_ERR_PARAM
    y = np.zeros(4, np.int32)
    assert lib.pr_pitch_decimate_s16(p, ffi.NULL, 5, 0, 4, ptr(y)) == lib.PR_ERR_NULL
    assert lib.pr_pitch_decimate_s16(p, ffi.NULL, 0, 0, -1, ptr(y)) == lib.PR_ERR_SHAPE
    frames = np.zeros((3, 2), np.int16)
    assert lib.pr_pitch_fill_s16(ptr(frames), 3, 2, 1) == lib.PR_ERR_SHAPE
    del keep


@needs_c
@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([8000, 16000, 22050]),
       st.integers(0, 17), st.integers(-50, 50))
def test_c_frame_step_is_the_numpy_reference_on_any_window(seed, rate, bits, offset):
    """Windows of any scale (quiet ones make every rounding of the mean and the ratios
    show) with any offset, periodic or not."""
    tables = qpitch.pitch_tables(rate)
    rng = np.random.default_rng(seed)
    scale = 2 ** bits
    period = int(rng.integers(tables.lag_min, tables.lag_max + 1))
    shape = rng.integers(-scale, scale + 1, period)
    windows = np.stack([
        np.resize(shape, tables.width) + rng.integers(-(scale // 4) - 1, scale // 4 + 2,
                                                      tables.width),
        rng.integers(-scale, scale + 1, tables.width)]) + offset
    windows = np.clip(windows, -(1 << 17), 1 << 17).astype(np.int32)
    mean_free = windows.astype(np.int64) - \
        (2 * windows.sum(axis=1, keepdims=True) + tables.width) // (2 * tables.width)
    octaves, voicing = qpitch.frame_pitch(mean_free, tables)
    raw = ckernels.pitch_frames_s32(windows, tables)
    np.testing.assert_array_equal(raw[:, 0], octaves)
    np.testing.assert_array_equal(raw[:, 1], voicing)


@needs_c
@settings(max_examples=120, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(4, 80), st.data())
def test_c_frame_step_is_the_numpy_reference_for_any_lag_range(seed, width, data):
    """Any window width and lag range (2 <= lag_min <= lag_max <= width - 2), so that
    the C step's lags in pairs meet every parity and the last lag width - 1 alone;
    windows up to the +-2^17 limit with any offset."""
    base = qpitch.pitch_tables(16000)
    lag_min = data.draw(st.integers(2, width - 2))
    lag_max = data.draw(st.integers(lag_min, width - 2))
    tables = base._replace(width=width, lag_min=lag_min, lag_max=lag_max)
    rng = np.random.default_rng(seed)
    scale = 2 ** int(rng.integers(0, 18))
    offset = int(rng.integers(-scale, scale + 1))
    windows = np.clip(rng.integers(-scale, scale + 1, (3, width)) + offset,
                      -(1 << 17), 1 << 17).astype(np.int32)
    octaves, voicing = qpitch.frame_pitch(qpitch.remove_mean(windows), tables)
    raw = ckernels.pitch_frames_s32(windows, tables)
    np.testing.assert_array_equal(raw[:, 0], octaves)
    np.testing.assert_array_equal(raw[:, 1], voicing)
