"""Audio front-end: decoding and its errors, resampling, log-mel features."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given
from hypothesis import strategies as st
from scipy.signal import resample_poly

from pyreparam.audio import AudioError, FeatureConfig, load_audio, logmel, resample
from pyreparam.audio.features import (PITCH_VOICED, frame_features, pitch_track,
                                      empty_filters, mel_band_edges, mel_filterbank,
                                      num_frames)
from pyreparam.audio.resample import resample_ratio

SR = 16000


def tone(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def analytic_signal(rate: int, seconds: float = 1.0) -> np.ndarray:
    """A deterministic test sound defined in continuous time (so it can be sampled at
    any rate): three amplitude-modulated tones and a gliding tone, all below 7 kHz."""
    t = np.arange(int(round(seconds * rate))) / rate
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)
    x = (0.2 * envelope * np.sin(2 * np.pi * 220 * t)
         + 0.15 * np.sin(2 * np.pi * 1230 * t + 0.3)
         + 0.1 * (1 - envelope) * np.sin(2 * np.pi * 3100 * t)
         + 0.05 * np.sin(2 * np.pi * (500 * t + 2500 * t ** 2)))  # 500 -> 5500 Hz
    return x.astype(np.float32)


def naive_logmel(signal: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Frame-by-frame float64 reference written independently of the vectorized path."""
    win, hop = config.win_length, config.hop_length
    n = np.arange(win)
    window = 0.54 - 0.46 * np.cos(2 * np.pi * n / win)  # periodic Hamming
    fbank = mel_filterbank(config).astype(np.float64)
    x = np.asarray(signal, dtype=np.float64)
    rows = []
    for start in range(0, len(x) - win + 1, hop):
        spectrum = np.fft.rfft(x[start:start + win] * window, n=config.n_fft)
        rows.append(np.log(fbank @ np.abs(spectrum) ** 2 + config.log_floor))
    return np.array(rows)


# ------------------------------------------------------------------ FeatureConfig

def test_feature_config_defaults_and_json_round_trip():
    config = FeatureConfig()
    assert (config.win_length, config.hop_length, config.n_fft) == (400, 160, 512)
    assert config.fmax == 8000.0 and config.window == "hamming" and config.n_mels == 64
    text = json.dumps(config.to_dict())
    assert FeatureConfig.from_dict(json.loads(text)) == config
    assert FeatureConfig(sample_rate=8000).fmax == 4000.0
    assert FeatureConfig(win_ms=64.0).n_fft == 1024  # 1024 samples: already a power of 2


@pytest.mark.parametrize("bad", [dict(fmax=9000.0), dict(window="no-such-window"),
                                 dict(n_fft=256), dict(n_mels=0), dict(fmin=8000.0),
                                 dict(log_floor=0.0)])
def test_feature_config_rejects_invalid_settings(bad):
    with pytest.raises(ValueError):
        FeatureConfig(**bad)


# ---------------------------------------------------------------------- filterbank

def test_mel_filterbank_shape_peaks_and_empty_bands():
    config = FeatureConfig()
    fbank = mel_filterbank(config)
    assert fbank.shape == (64, 257) and fbank.dtype == np.float32
    assert fbank.min() >= 0.0 and fbank.max() <= 1.0
    assert empty_filters(config).size == 0
    peaks = mel_band_edges(config)[1:-1]
    bin_hz = SR / config.n_fft
    best_bins = fbank.argmax(axis=1)
    assert np.all(np.abs(best_bins * bin_hz - peaks) <= bin_hz)
    # the documented caveat: at 128 bands the lowest filter falls between FFT bins
    assert empty_filters(FeatureConfig(n_mels=128)).tolist() == [0]


@given(st.floats(min_value=150.0, max_value=7500.0))
def test_pure_tone_lands_in_expected_mel_band(freq):
    config = FeatureConfig()
    features = logmel(tone(freq, 0.5, SR), config)  # (T, M)
    expected = int(np.argmin(np.abs(mel_band_edges(config)[1:-1] - freq)))
    assert abs(int(features.mean(axis=0).argmax()) - expected) <= 1


# -------------------------------------------------------------------------- logmel

@given(st.integers(min_value=0, max_value=3000))
def test_frame_count_convention(n):
    config = FeatureConfig(trim_trailing_silence=False)
    signal = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    features = logmel(signal, config)
    expected = 1 + max(0, n - 400) // 160
    assert features.shape == (expected, 64) == (num_frames(n, config), 64)
    assert features.dtype == np.float32 and np.isfinite(features).all()


def test_logmel_matches_naive_frame_loop(rng):
    config = FeatureConfig()
    signal = (0.1 * rng.standard_normal(8000)).astype(np.float32) + analytic_signal(SR, 0.5)
    fast = logmel(signal, config)
    slow = naive_logmel(signal, config)
    assert fast.shape == slow.shape
    np.testing.assert_allclose(fast, slow, atol=1e-4, rtol=0)  # measured 2.4e-6


def test_logmel_float64_input_gives_float32_output(rng):
    signal = rng.standard_normal(4000)
    out = logmel(signal)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, logmel(signal.astype(np.float32)))


def test_trailing_exact_zeros_are_trimmed():
    speech = analytic_signal(SR, 0.8)
    padded = np.concatenate([speech, np.zeros(9000, np.float32)])
    np.testing.assert_array_equal(logmel(padded), logmel(speech))
    untrimmed = logmel(padded, FeatureConfig(trim_trailing_silence=False))
    assert untrimmed.shape[0] == num_frames(len(padded), FeatureConfig())
    assert untrimmed.shape[0] > logmel(speech).shape[0]
    np.testing.assert_allclose(untrimmed[-1], math.log(1e-6), rtol=1e-6)
    silent = logmel(np.zeros(5000, np.float32))  # all zeros: one floor frame
    assert silent.shape == (1, 64)


# ---------------------------------------------------------------------- pitch track

def voice(f0: float, seconds: float, rate: int, amplitude: float = 0.3) -> np.ndarray:
    """A pulse-train-like voiced sound: the first 12 harmonics of f0 below 3.5 kHz,
    falling 6 dB per octave."""
    t = np.arange(int(round(seconds * rate))) / rate
    x = sum(np.sin(2 * np.pi * k * f0 * t + 0.3 * k) / k
            for k in range(1, 13) if k * f0 < 3500)
    return (amplitude * x / np.abs(x).max()).astype(np.float32)


def naive_pitch(signal: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Frame by frame, autocorrelation by direct sums (no FFT): the oracle of
    pitch_track, written from the module docstring."""
    from scipy.signal import resample_poly as rp
    factor = config.sample_rate // 4000
    rate = config.sample_rate / factor
    low = rp(np.asarray(signal, np.float64), 1, factor)
    width = round(rate * 0.040)
    out = []
    for t in range(num_frames(len(signal), config)):
        centre = (t * config.hop_length + config.win_length / 2) / factor
        start = int(np.round(centre - width / 2))
        frame = np.array([low[i] if 0 <= i < low.size else 0.0
                          for i in range(start, start + width)])
        frame = frame - frame.mean()
        r0 = frame @ frame
        if r0 <= 1e-10 * width:
            out.append((math.nan, 0.0))
            continue
        lags = range(int(np.floor(rate / 500)), int(np.ceil(rate / 60)) + 1)
        r = {k: frame[:width - k] @ frame[k:] / r0 for k in range(lags.start - 1, lags.stop + 1)}
        k = max(lags, key=lambda lag: (r[lag], -lag))
        a, b, c = r[k - 1], r[k], r[k + 1]
        shift = min(0.5, max(-0.5, 0.5 * (a - c) / (a - 2 * b + c))) if a - 2 * b + c < 0 else 0
        out.append((math.log2(rate / (k + shift) / 100.0), min(1.0, max(0.0, b))))
    return np.array(out)


@pytest.mark.parametrize("rate", [16000, 22050])
@pytest.mark.parametrize("f0", [75.0, 110.0, 185.0, 290.0, 450.0])
def test_pitch_track_finds_the_fundamental_of_a_voice(rate, f0):
    config = FeatureConfig(sample_rate=rate, pitch=True)
    track = pitch_track(voice(f0, 0.5, rate), config)
    assert track.shape == (logmel(voice(f0, 0.5, rate), config).shape[0], 2)
    inner = track[3:-3]                                       # whole windows only
    assert (inner[:, 1] >= PITCH_VOICED).all()
    np.testing.assert_allclose(100.0 * 2.0 ** inner[:, 0], f0, rtol=0.01)


def test_pitch_track_matches_a_direct_sum_oracle(rng):
    """The vectorized FFT path against frame-by-frame direct sums, on a voice with
    noise bursts and a silent gap (voiced frames: same F0 and voicing; unvoiced ones:
    same voicing)."""
    config = FeatureConfig(pitch=True)
    x = np.concatenate([voice(130.0, 0.3, SR), 0.2 * rng.standard_normal(3000),
                        np.zeros(2000), voice(210.0, 0.3, SR)]).astype(np.float32)
    fast = pitch_track(x, config).astype(np.float64)
    slow = naive_pitch(x, config)
    np.testing.assert_allclose(fast[:, 1], slow[:, 1], atol=1e-4)
    voiced = slow[:, 1] >= PITCH_VOICED
    assert 20 < voiced.sum() < len(voiced) - 10
    np.testing.assert_allclose(fast[voiced, 0], slow[voiced, 0], atol=1e-4)
    assert (fast[slow[:, 1] == 0.0, 1] == 0.0).all()          # the silent gap


def test_pitch_is_interpolated_across_unvoiced_frames(rng):
    """Between a 120 Hz and a 240 Hz stretch, noise: the F0 channel runs straight from
    one octave to the other there, and holds at the ends; no voiced frame: zeros."""
    config = FeatureConfig(pitch=True)
    x = np.concatenate([0.3 * rng.standard_normal(1600), voice(120.0, 0.3, SR),
                        0.3 * rng.standard_normal(4800), voice(240.0, 0.3, SR)])
    track = pitch_track(x.astype(np.float32), config)
    octaves, voicing = track[:, 0], track[:, 1]
    unvoiced = np.flatnonzero(voicing < PITCH_VOICED)
    gap = unvoiced[(unvoiced > 20) & (unvoiced < 70)]
    assert gap.size > 20
    assert (np.diff(octaves[gap]) >= -1e-6).all()               # a straight line up
    assert np.log2(1.2) - 0.02 < octaves[gap].min() <= octaves[gap].max() < np.log2(2.4) + 0.02
    first_voiced = np.flatnonzero(voicing >= PITCH_VOICED)[0]
    assert (octaves[:first_voiced] == octaves[first_voiced]).all()  # held at the start
    noise = pitch_track(0.3 * rng.standard_normal(8000).astype(np.float32), config)
    assert np.median(noise[:, 1]) < PITCH_VOICED
    if (noise[:, 1] < PITCH_VOICED).all():
        assert (noise[:, 0] == 0).all()
    silent = pitch_track(np.zeros(4000, np.float32), config)
    assert (silent == 0).all() and silent.shape == (1, 2)      # trimmed to nothing


def test_frame_features_append_the_pitch_channels():
    x = voice(150.0, 0.4, SR)
    plain, config = FeatureConfig(), FeatureConfig(pitch=True)
    assert (plain.channels, config.channels) == (64, 66)
    out = frame_features(x, config)
    np.testing.assert_array_equal(out[:, :64], logmel(x, plain))
    np.testing.assert_array_equal(out[:, 64:], pitch_track(x, config))
    np.testing.assert_array_equal(frame_features(x, plain), logmel(x, plain))
    with pytest.raises(ValueError, match="sample rate"):
        FeatureConfig(pitch=True, sample_rate=6000)


# ---------------------------------------------------------------------- resampling

@pytest.mark.parametrize("rates, ratio", [((22050, 16000), (320, 441)),
                                          ((44100, 16000), (160, 441)),
                                          ((48000, 16000), (1, 3)),
                                          ((8000, 16000), (2, 1)),
                                          ((16000, 16000), (1, 1))])
def test_resample_ratio_is_exact_and_reduced(rates, ratio):
    assert resample_ratio(*rates) == ratio


@pytest.mark.parametrize("rates", [(0, 16000), (22050.5, 16000), (16000, -1)])
def test_resample_ratio_rejects_bad_rates(rates):
    with pytest.raises(ValueError):
        resample_ratio(*rates)


@pytest.mark.parametrize("rates", [(22050, 16000), (44100, 16000), (8000, 16000)])
def test_cached_filter_reproduces_scipy_default_exactly(rng, rates):
    x = rng.standard_normal(5000).astype(np.float32)
    up, down = resample_ratio(*rates)
    np.testing.assert_array_equal(resample(x, *rates), resample_poly(x, up, down))


@given(st.sampled_from([8000, 11025, 22050, 32000, 44100, 48000]),
       st.floats(min_value=100.0, max_value=3900.0))
def test_resampling_keeps_a_tones_frequency(rate, freq):
    x = tone(freq, 1.0, rate)
    y = resample(x, rate, SR)
    up, down = resample_ratio(rate, SR)
    assert y.dtype == np.float32 and len(y) == math.ceil(len(x) * up / down)
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    peak_hz = spectrum.argmax() * SR / len(y)  # 1 Hz per bin
    assert abs(peak_hz - freq) <= 1.0


def test_resampling_keeps_amplitude_and_time_origin():
    x = tone(440.0, 1.0, 44100)
    y = resample(x, 44100, SR)
    reference = tone(440.0, 1.0, SR)
    middle = slice(1000, 15000)  # away from the filter's edge transients
    np.testing.assert_allclose(y[middle], reference[middle], atol=2e-3)


# ------------------------------------------------------------------------- loading

def test_same_signal_at_any_rate_or_as_stereo_gives_nearly_the_same_features(tmp_path):
    """Tolerance: on the cells more than 40 dB above the log floor (a third of them),
    the mean |difference| of log-mel values is < 0.005 and the largest < 0.05
    (natural-log units, i.e. 0.02 dB and 0.2 dB; measured 0.0009 and 0.006)."""
    reference_path = tmp_path / "mono16k.wav"
    sf.write(reference_path, analytic_signal(SR), SR, subtype="PCM_16")
    reference = logmel(load_audio(reference_path))
    left_minus_right = 0.05 * np.sin(2 * np.pi * 700 * np.arange(SR) / SR)
    stereo = analytic_signal(SR)[:, None] + np.stack([left_minus_right,
                                                      -left_minus_right], axis=1)
    sf.write(tmp_path / "stereo16k.wav", stereo, SR, subtype="PCM_16")
    for rate in (22050, 44100):
        sf.write(tmp_path / f"mono{rate}.wav", analytic_signal(rate), rate,
                 subtype="PCM_16")
    loud = reference > math.log(1e-6) + math.log(1e4)
    for name in ("stereo16k.wav", "mono22050.wav", "mono44100.wav"):
        other = logmel(load_audio(tmp_path / name))
        assert other.shape == reference.shape
        diff = np.abs(other - reference)[loud]
        assert diff.mean() < 0.005, (name, diff.mean())
        assert diff.max() < 0.05, (name, diff.max())


def test_downmix_averages_channels(tmp_path):
    rng = np.random.default_rng(0)
    channels = (0.3 * rng.standard_normal((4000, 3))).astype(np.float32)
    path = tmp_path / "three.wav"
    sf.write(path, channels, SR, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(path), channels.mean(axis=1), atol=1e-7)


def test_load_audio_resamples_to_requested_rate(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, tone(440.0, 0.5, 22050), 22050, subtype="PCM_16")
    signal = load_audio(path)
    assert signal.dtype == np.float32 and signal.shape == (8000,)
    assert load_audio(path, sample_rate=8000).shape == (4000,)


@pytest.mark.parametrize("fmt, subtype, ext", [("FLAC", "PCM_16", "flac"),
                                               ("AIFF", "PCM_16", "aiff"),
                                               ("WAV", "PCM_24", "wav")])
def test_lossless_formats_round_trip_exactly(tmp_path, fmt, subtype, ext):
    x = analytic_signal(SR, 0.5)
    path = tmp_path / f"x.{ext}"
    sf.write(path, x, SR, format=fmt, subtype=subtype)
    bits = {"PCM_16": 16, "PCM_24": 24}[subtype]
    loaded = load_audio(path)
    assert loaded.shape == x.shape
    np.testing.assert_allclose(loaded, x, atol=2.0 ** (1 - bits))


def test_ogg_vorbis_round_trip_keeps_the_sound(tmp_path):
    x = tone(1000.0, 1.0, 44100, amplitude=0.4)
    path = tmp_path / "x.ogg"
    sf.write(path, x, 44100, format="OGG", subtype="VORBIS")
    y = load_audio(path)
    assert abs(len(y) - SR) <= 160  # Vorbis may add or drop a few samples
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    assert abs(spectrum.argmax() * SR / len(y) - 1000.0) <= 1.0
    rms = np.sqrt(np.mean(y[2000:-2000] ** 2))
    assert abs(rms - 0.4 / math.sqrt(2)) < 0.03


# ----------------------------------------------------------------------- AudioError

def _write_bad(tmp_path, case):
    path = tmp_path / f"bad_{case}.wav"
    if case == "corrupt":
        path.write_bytes(b"RIFF\x00\x01\x02\x03WAVEfmt garbage" * 20)
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "no_samples":
        sf.write(path, np.zeros((0,), np.float32), SR, subtype="PCM_16")
    elif case in ("nan", "inf"):
        x = tone(300.0, 0.5, SR)
        x[100] = np.nan if case == "nan" else np.inf
        sf.write(path, x, SR, subtype="FLOAT")
    elif case == "too_short":
        sf.write(path, tone(300.0, 0.05, SR), SR, subtype="PCM_16")
    elif case == "too_long":
        sf.write(path, np.full(SR * 3, 0.1, np.float32), SR, subtype="PCM_16")
    return path


@pytest.mark.parametrize("case, reason", [
    ("missing", "not found"), ("corrupt", "unreadable or corrupt"),
    ("empty", "empty file"), ("no_samples", "no audio samples"), ("nan", "NaN"),
    ("inf", "infinite"), ("too_short", "too short"), ("too_long", "too long")])
def test_audio_errors_name_the_file_and_the_reason(tmp_path, case, reason):
    path = tmp_path / "bad_missing.wav" if case == "missing" else _write_bad(tmp_path, case)
    with pytest.raises(AudioError, match=reason) as info:
        load_audio(path, max_seconds=2.0, min_seconds=0.1)
    assert str(path) in str(info.value) and info.value.path == str(path)
    assert isinstance(info.value, ValueError) and reason in info.value.reason


def test_duration_bounds_can_be_disabled(tmp_path):
    path = _write_bad(tmp_path, "too_short")
    assert load_audio(path, min_seconds=None).shape == (800,)
