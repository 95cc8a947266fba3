"""Feature cache, corpus feature loading, normalization and augmentation."""
from __future__ import annotations

import hashlib
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given
from hypothesis import strategies as st

import pyreparam.data.cache as cache_module
from pyreparam.audio import AudioError, FeatureConfig, load_audio, logmel
from pyreparam.data.augment import (add_noise, apply_gain, augment_waveform,
                                    change_speed, spec_augment)
from pyreparam.data.cache import CACHE_FORMAT, FeatureCache, load_features
from pyreparam.data.manifest import Utterance, write_manifest
from pyreparam.data.normalize import Normalizer, frame_stats

SR = 16000


def write_wav(path: Path, seconds: float = 0.5, freq: float = 300.0, rate: int = SR) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, 0.3 * np.sin(2 * np.pi * freq * t), rate, subtype="PCM_16")
    return path


def utterance(path: Path, speaker: str = "s1") -> Utterance:
    return Utterance(str(path), "anger", speaker)


# ---------------------------------------------------------------------- FeatureCache

def test_cache_stores_and_serves_features(tmp_path, monkeypatch):
    path = write_wav(tmp_path / "a.wav", rate=22050)
    cache = FeatureCache(tmp_path / "cache")
    config = FeatureConfig()
    first = cache.features(path, config)
    np.testing.assert_array_equal(first, logmel(load_audio(path), config))
    assert len(cache) == 1

    def no_compute(*args, **kwargs):
        raise AssertionError("a cache hit must not recompute")

    monkeypatch.setattr(cache_module, "compute_features", no_compute)
    second = cache.features(path, config)
    assert second.dtype == np.float32
    np.testing.assert_array_equal(second, first)
    renamed = shutil.copy(path, tmp_path / "renamed.wav")  # same bytes -> same entry
    np.testing.assert_array_equal(cache.features(renamed, config), first)


def test_cache_key_depends_on_bytes_config_and_audio_settings(tmp_path):
    path = write_wav(tmp_path / "a.wav")
    cache = FeatureCache(tmp_path / "cache")
    cache.features(path, FeatureConfig())
    cache.features(path, FeatureConfig(n_mels=32))
    cache.features(path, FeatureConfig(), max_seconds=10.0)
    assert len(cache) == 3
    write_wav(path, freq=440.0)  # new content under the same name
    fresh = cache.features(path, FeatureConfig())
    assert len(cache) == 4
    np.testing.assert_array_equal(fresh, logmel(load_audio(path)))
    with_pitch = cache.features(path, FeatureConfig(pitch=True))
    assert len(cache) == 5 and with_pitch.shape == (fresh.shape[0], 66)
    np.testing.assert_array_equal(with_pitch[:, :64], fresh)


def test_cache_keys_of_settings_from_before_an_option_existed_stay_valid():
    """The float front end and no pitch channels are left out of the key, so entries
    written before those options existed are still found."""
    data = b"some bytes"
    key = FeatureCache.key(data, FeatureConfig(), max_seconds=30.0, min_seconds=0.1)
    legacy = {k: v for k, v in FeatureConfig().to_dict().items()
              if k not in ("frontend", "pitch")}
    settings = json.dumps({"format": CACHE_FORMAT, "features": legacy, "max_seconds": 30.0,
                           "min_seconds": 0.1}, sort_keys=True)
    digest = hashlib.sha256(hashlib.sha256(data).digest())
    digest.update(settings.encode("utf-8"))
    assert key == digest.hexdigest()
    assert FeatureCache.key(data, FeatureConfig(pitch=True), max_seconds=30.0,
                            min_seconds=0.1) != key


def test_speed_perturbed_features_are_cached_apart(tmp_path):
    """speed s: the recording played s times faster (fewer frames for s > 1), trailing
    digital silence dropped first; each speed has its own cache entry."""
    path = write_wav(tmp_path / "a.wav", seconds=1.0)
    padded = tmp_path / "padded.wav"
    data, rate = sf.read(path)
    sf.write(padded, np.concatenate([data, np.zeros(rate)]), rate, subtype="PCM_16")
    cache = FeatureCache(tmp_path / "cache")
    plain = cache.features(path, FeatureConfig())
    fast = cache.features(path, FeatureConfig(), speed=1.25)
    slow = cache.features(path, FeatureConfig(), speed=0.8)
    assert len(cache) == 3
    assert fast.shape[0] == pytest.approx(plain.shape[0] / 1.25, abs=2)
    assert slow.shape[0] == pytest.approx(plain.shape[0] / 0.8, abs=2)
    # the padding of the second file is not stretched into the signal
    assert cache.features(padded, FeatureConfig(), speed=0.8).shape == slow.shape
    np.testing.assert_array_equal(cache.features(path, FeatureConfig(), speed=1.25), fast)


def test_cache_recovers_from_a_damaged_entry(tmp_path):
    path = write_wav(tmp_path / "a.wav")
    cache = FeatureCache(tmp_path / "cache")
    expected = cache.features(path, FeatureConfig())
    entry = next((tmp_path / "cache").glob("*/*.npy"))
    entry.write_bytes(entry.read_bytes()[:40])  # truncated
    np.testing.assert_array_equal(cache.features(path, FeatureConfig()), expected)
    np.testing.assert_array_equal(np.load(entry), expected)


def test_cache_does_not_store_failures(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"definitely not audio")
    cache = FeatureCache(tmp_path / "cache")
    with pytest.raises(AudioError, match="bad.wav"):
        cache.features(bad, FeatureConfig())
    assert len(cache) == 0


_FILL_SCRIPT = """
import sys
from pyreparam.audio.features import FeatureConfig
from pyreparam.data.cache import load_features
from pyreparam.data.manifest import read_manifest
utterances = read_manifest(sys.argv[1])
features, kept, skipped = load_features(utterances, FeatureConfig(), cache=sys.argv[2])
assert len(kept) == len(utterances) and not skipped
"""


def test_two_processes_fill_one_cache_at_once(tmp_path):
    utterances = [utterance(write_wav(tmp_path / f"u{i:02d}.wav", seconds=1.0,
                                      freq=200.0 + 37 * i, rate=22050))
                  for i in range(16)]
    manifest = write_manifest(utterances, tmp_path / "m.csv")
    cache_dir = tmp_path / "cache"
    workers = [subprocess.Popen([sys.executable, "-P", "-c", _FILL_SCRIPT, str(manifest),
                                 str(cache_dir)], stderr=subprocess.PIPE)
               for _ in range(2)]
    for worker in workers:
        _, errors = worker.communicate(timeout=120)
        assert worker.returncode == 0, errors.decode()
    cache = FeatureCache(cache_dir)
    assert len(cache) == 16
    assert list(cache_dir.glob("*/*.tmp")) == []
    for u in utterances:
        key = cache.key(Path(u.path).read_bytes(), FeatureConfig(), max_seconds=30.0,
                        min_seconds=0.1)
        # each entry is one whole, uncorrupted array of the right file; not bit-equal to
        # a recomputation here: float32 log-mel differed by one ulp in 24 of 6,272
        # values between processes once (a full test run under load, session 10)
        np.testing.assert_allclose(cache.get(key, 64), logmel(load_audio(u.path)),
                                   rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------- load_features

def _mixed_corpus(tmp_path: Path) -> list[Utterance]:
    good = [write_wav(tmp_path / f"good{i}.wav", freq=250.0 + 50 * i) for i in range(3)]
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF1234WAVEjunk")
    short = write_wav(tmp_path / "short.wav", seconds=0.02)
    return [utterance(good[0]), utterance(corrupt), utterance(good[1]),
            utterance(tmp_path / "missing.wav"), utterance(short), utterance(good[2])]


@pytest.mark.parametrize("use_cache", [False, True])
def test_load_features_skip_lists_bad_files(tmp_path, use_cache):
    utterances = _mixed_corpus(tmp_path)
    cache = str(tmp_path / "cache") if use_cache else None
    features, kept, skipped = load_features(utterances, FeatureConfig(), cache,
                                            on_error="skip")
    assert kept == [utterances[0], utterances[2], utterances[5]]
    assert [(u, reason.split(" ")[0]) for u, reason in skipped] == [
        (utterances[1], "unreadable"), (utterances[3], "file"), (utterances[4], "too")]
    for x, u in zip(features, kept):
        assert x.dtype == np.float32 and x.shape[1] == 64
        np.testing.assert_array_equal(x, logmel(load_audio(u.path)))


def test_load_features_fail_raises_naming_the_first_bad_file(tmp_path):
    utterances = _mixed_corpus(tmp_path)
    with pytest.raises(AudioError, match="corrupt.wav"):
        load_features(utterances, FeatureConfig(), on_error="fail")
    with pytest.raises(ValueError, match="on_error"):
        load_features(utterances, FeatureConfig(), on_error="ignore")


# ---------------------------------------------------------------------- Normalizer

def _random_corpus(rng: np.random.Generator, speakers: list[str], M: int = 6):
    """Utterances of random lengths whose statistics differ per speaker and band."""
    features, ids = [], []
    for s_index, speaker in enumerate(speakers):
        offset, scale = rng.normal(0, 3, M), rng.uniform(0.5, 3, M)
        for _ in range(int(rng.integers(1, 4))):
            T = int(rng.integers(1, 40))
            features.append((offset + scale * rng.standard_normal((T, M)) + s_index)
                            .astype(np.float32))
            ids.append(speaker)
    return features, ids


def _assert_standardized(features: list[np.ndarray]) -> None:
    frames = np.concatenate(features).astype(np.float64)  # (sum T, M)
    np.testing.assert_allclose(frames.mean(axis=0), 0.0, atol=1e-5)
    varying = frames.std(axis=0) > 0
    np.testing.assert_allclose(frames.std(axis=0)[varying], 1.0, atol=1e-4)


@given(st.integers(0, 2 ** 32 - 1))
def test_global_normalization_standardizes_training_frames(seed):
    features, speakers = _random_corpus(np.random.default_rng(seed), ["a", "b", "c"])
    normalizer = Normalizer("global").fit(features)
    out = normalizer.apply(features)
    assert [x.shape for x in out] == [x.shape for x in features]
    assert all(x.dtype == np.float32 for x in out)
    _assert_standardized(out)


def test_statistics_are_weighted_per_frame(rng):
    long = rng.standard_normal((90, 4)) + 1.0
    short = rng.standard_normal((10, 4)) - 5.0
    mean, std = frame_stats([long, short])
    frames = np.concatenate([long, short])
    np.testing.assert_allclose(mean, frames.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(std, frames.std(axis=0), rtol=1e-12)
    assert not np.allclose(mean, (long.mean(axis=0) + short.mean(axis=0)) / 2)


def test_utterance_normalization_uses_each_utterances_own_stats(rng):
    features, _ = _random_corpus(rng, ["a", "b"])
    features = [x for x in features if x.shape[0] > 1]
    for x in Normalizer("utterance").apply(features):
        _assert_standardized([x])


def test_speaker_normalization_per_speaker_and_on_the_fly(rng):
    features, speakers = _random_corpus(rng, ["a", "b", "c", "test"])
    train = [i for i, s in enumerate(speakers) if s != "test"]
    test = [i for i, s in enumerate(speakers) if s == "test"]
    normalizer = Normalizer("speaker").fit([features[i] for i in train],
                                           [speakers[i] for i in train])
    assert sorted(normalizer.speaker_stats) == ["a", "b", "c"]
    out = normalizer.apply(features, speakers)
    for speaker in ("a", "b", "c", "test"):  # 'test' was fitted on the fly
        _assert_standardized([out[i] for i, s in enumerate(speakers) if s == speaker])
    assert "test" not in normalizer.speaker_stats  # apply stores nothing
    alone = normalizer.apply([features[i] for i in test], ["test"] * len(test))
    for x, y in zip(alone, [out[i] for i in test]):
        np.testing.assert_array_equal(x, y)


def test_constant_band_maps_to_zero_and_input_is_untouched(rng):
    x = rng.standard_normal((20, 3)).astype(np.float32)
    x[:, 1] = -13.815511  # an empty mel filter sits at the log floor
    keep = x.copy()
    for mode in ("utterance", "global", "speaker"):
        y = Normalizer(mode).fit([x], ["s"]).apply([x], ["s"])[0]
        assert np.isfinite(y).all() and np.all(y[:, 1] == 0.0)
        np.testing.assert_array_equal(x, keep)


@pytest.mark.parametrize("mode", ["utterance", "global", "speaker"])
def test_normalizer_serializes_to_arrays(tmp_path, rng, mode):
    features, speakers = _random_corpus(rng, ["a", "b"])
    normalizer = Normalizer(mode, min_std=1e-2).fit(features, speakers)
    state = normalizer.to_dict()
    assert all(isinstance(value, np.ndarray) for value in state.values())
    np.savez(tmp_path / "state.npz", **state)
    with np.load(tmp_path / "state.npz", allow_pickle=False) as loaded:
        restored = Normalizer.from_dict(loaded)
    assert (restored.mode, restored.min_std) == (mode, 1e-2)
    for x, y in zip(restored.apply(features, speakers), normalizer.apply(features, speakers)):
        np.testing.assert_array_equal(x, y)


def test_normalizer_errors(rng):
    with pytest.raises(ValueError, match="unknown normalization mode"):
        Normalizer("batch")
    with pytest.raises(RuntimeError, match="fitted"):
        Normalizer("global").apply([np.zeros((2, 3), np.float32)])
    with pytest.raises(ValueError, match="speaker id"):
        Normalizer("speaker").fit([np.zeros((2, 3), np.float32)])


# ---------------------------------------------------------------------- augmentation

def _masked_runs(flags: np.ndarray) -> list[int]:
    """Lengths of the runs of True in a 1-D bool array."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1))


@given(st.integers(1, 120), st.integers(4, 80), st.integers(0, 3), st.integers(0, 30),
       st.integers(0, 3), st.integers(0, 12), st.integers(0, 2 ** 32 - 1))
def test_spec_augment_masks_stay_within_bounds(T, M, n_time, max_time, n_freq, max_freq,
                                               seed):
    x = np.random.default_rng(seed).standard_normal((T, M)).astype(np.float32) + 3.0
    y = spec_augment(x, np.random.default_rng(seed), n_time_masks=n_time,
                     max_time=max_time, n_freq_masks=n_freq, max_freq=max_freq)
    assert y.shape == x.shape and y.dtype == x.dtype
    changed = y != x  # (T, M); x has no cell equal to its mean (continuous values)
    fill = x.mean(dtype=np.float64).astype(np.float32)
    assert np.all(y[changed] == fill)
    rows, cols = changed.all(axis=1), changed.all(axis=0)  # (T,), (M,)
    if not (rows.all() or cols.all()):  # masks covering a whole axis hide the others
        assert np.all(changed == (rows[:, None] | cols[None, :]))
        assert len(_masked_runs(rows)) <= n_time and rows.sum() <= n_time * max_time
        assert len(_masked_runs(cols)) <= n_freq and cols.sum() <= n_freq * max_freq


def test_spec_augment_is_deterministic_given_the_generator(rng):
    x = rng.standard_normal((50, 16)).astype(np.float32)
    keep = x.copy()
    first = spec_augment(x, np.random.default_rng(7), n_time_masks=2, max_time=10,
                         n_freq_masks=2, max_freq=4)
    again = spec_augment(x, np.random.default_rng(7), n_time_masks=2, max_time=10,
                         n_freq_masks=2, max_freq=4)
    other = spec_augment(x, np.random.default_rng(8), n_time_masks=2, max_time=10,
                         n_freq_masks=2, max_freq=4)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    np.testing.assert_array_equal(x, keep)
    untouched = spec_augment(x, rng, n_time_masks=0, max_time=10, n_freq_masks=0,
                             max_freq=4)
    np.testing.assert_array_equal(untouched, x)


def test_gain_noise_and_speed(rng):
    t = np.arange(SR) / SR
    x = (0.3 * np.sin(2 * np.pi * 400 * t)).astype(np.float32)
    np.testing.assert_allclose(apply_gain(x, 20 * math.log10(2.0)), 2 * x, rtol=1e-6)
    assert apply_gain(x, 3.0).dtype == np.float32
    noisy = add_noise(x, np.random.default_rng(1), snr_db=10.0)
    measured = 10 * math.log10(np.mean(x.astype(np.float64) ** 2)
                               / np.mean((noisy - x).astype(np.float64) ** 2))
    assert abs(measured - 10.0) < 0.2 and noisy.dtype == np.float32
    np.testing.assert_array_equal(noisy, add_noise(x, np.random.default_rng(1), 10.0))
    np.testing.assert_array_equal(add_noise(np.zeros(10, np.float32), rng, 0.0), 0.0)
    fast = change_speed(x, 1.25)  # 5/4: 1 s -> 0.8 s, 400 Hz -> 500 Hz
    assert fast.shape == (12800,) and fast.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(fast * np.hanning(len(fast))))
    assert abs(spectrum.argmax() * SR / len(fast) - 500.0) <= 1.25


def test_waveform_augmentation_is_off_by_default_and_deterministic(rng):
    x = rng.standard_normal(4000).astype(np.float32)
    plain = augment_waveform(x, np.random.default_rng(0))
    np.testing.assert_array_equal(plain, x)
    assert plain is not x
    options = dict(speeds=(0.9, 1.1), max_gain_db=6.0, snr_db_range=(10.0, 20.0))
    first = augment_waveform(x, np.random.default_rng(3), **options)
    np.testing.assert_array_equal(first, augment_waveform(x, np.random.default_rng(3),
                                                          **options))
    assert first.dtype == np.float32 and len(first) in (3637, 4445)  # ceil(n / speed)
