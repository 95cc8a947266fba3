"""The integer pitch track (pyreparam.quant.qpitch) against the float definition."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import firwin, resample_poly

from pyreparam.audio.features import PITCH_VOICED, FeatureConfig, pitch_track
from pyreparam.quant import qpitch
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
