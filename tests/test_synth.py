"""The synthetic emotional-speech corpus: determinism, manifest, ranges, emotion effects, CLI."""
from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from pyreparam.cli.synth import synth as synth_command
from pyreparam.data.manifest import read_manifest
from pyreparam.data.synth import (EMOTIONS, PEAK_LIMIT, speaker_voice, synthesize,
                                  to_pcm16, utterance_params, write_synthetic_corpus)

NAME = re.compile(r"(spk\d\d)_([a-z]+)_(\d\d\d)\.wav")


def median_f0(x: np.ndarray, sample_rate: int) -> float:
    """Median F0 (Hz) of the voiced frames, by normalized autocorrelation.

    40 ms frames, hop 10 ms; a frame is voiced when it is within 20 dB of the loudest
    frame and its autocorrelation peak in the 60-500 Hz lag range exceeds 0.5.
    """
    L, hop = int(0.04 * sample_rate), int(0.01 * sample_rate)
    n = 1 + (len(x) - L) // hop
    frames = x[np.arange(L)[None] + hop * np.arange(n)[:, None]].astype(np.float64)
    frames -= frames.mean(1, keepdims=True)
    spec = np.fft.rfft(frames, 2 * L)
    acf = np.fft.irfft(np.abs(spec) ** 2)[:, :L]                     # (n, L)
    lo, hi = int(sample_rate / 500), int(sample_rate / 60)
    lag = lo + np.argmax(acf[:, lo:hi], axis=1)
    peak = acf[np.arange(n), lag] / np.maximum(acf[:, 0], 1e-12)
    energy = acf[:, 0]
    voiced = (peak > 0.5) & (energy > energy.max() * 1e-2)
    assert voiced.sum() >= 5, "too few voiced frames to estimate F0"
    return float(np.median(sample_rate / lag[voiced]))


def rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x.astype(np.float64) ** 2)))


# ---------------------------------------------------------------- determinism

def test_same_seed_gives_identical_arrays():
    a = synthesize(3, 1, "anger", 2)
    b = synthesize(3, 1, "anger", 2)
    assert a.dtype == np.float32
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("other", [(4, 1, "anger", 2), (3, 0, "anger", 2),
                                   (3, 1, "sadness", 2), (3, 1, "anger", 3)])
def test_different_seed_speaker_emotion_or_index_differ(other):
    a = synthesize(3, 1, "anger", 2)
    b = synthesize(*other)
    assert a.shape != b.shape or not np.array_equal(a, b)


def test_speaker_voice_is_deterministic_and_independent_of_corpus_size():
    assert speaker_voice(7, 3) == speaker_voice(7, 3)
    assert speaker_voice(7, 3) != speaker_voice(8, 3)
    assert [speaker_voice(0, i).female for i in range(4)] == [True, False, True, False]


def _bytes_by_name(folder):
    return {p.name: p.read_bytes() for p in sorted((folder / "wav").glob("*.wav"))}


def test_same_seed_writes_byte_identical_corpus(tmp_path):
    m1 = write_synthetic_corpus(tmp_path / "a", speakers=2, per_class=2, seed=5)
    m2 = write_synthetic_corpus(tmp_path / "b", speakers=2, per_class=2, seed=5)
    assert m1.read_bytes() == m2.read_bytes()
    a, b = _bytes_by_name(tmp_path / "a"), _bytes_by_name(tmp_path / "b")
    assert len(a) == 16
    assert a == b


def test_files_do_not_depend_on_corpus_size_or_order(tmp_path):
    write_synthetic_corpus(tmp_path / "small", speakers=1, per_class=2, seed=1)
    write_synthetic_corpus(tmp_path / "large", speakers=3, per_class=3, seed=1)
    small, large = _bytes_by_name(tmp_path / "small"), _bytes_by_name(tmp_path / "large")
    assert len(small) == 8 and len(large) == 36
    for name, data in small.items():
        assert large[name] == data, name


def test_different_seed_writes_different_files(tmp_path):
    write_synthetic_corpus(tmp_path / "a", speakers=1, per_class=1, seed=0)
    write_synthetic_corpus(tmp_path / "b", speakers=1, per_class=1, seed=1)
    a, b = _bytes_by_name(tmp_path / "a"), _bytes_by_name(tmp_path / "b")
    assert a.keys() == b.keys()
    assert all(a[name] != b[name] for name in a)


# ---------------------------------------------------------------- corpus and manifest

@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    manifest = write_synthetic_corpus(out, speakers=3, per_class=2, seed=0)
    return out, manifest


def test_manifest_lists_every_file_with_label_speaker_and_gender(corpus):
    out, manifest = corpus
    assert manifest == out / "manifest.csv"
    assert manifest.read_text().splitlines()[0] == "path,label,speaker,gender"
    utterances = read_manifest(manifest)
    assert len(utterances) == 3 * len(EMOTIONS) * 2
    listed = {u.path for u in utterances}
    on_disk = {str(p.resolve()) for p in (out / "wav").glob("*.wav")}
    assert listed == on_disk
    for u in utterances:
        speaker, label, _ = NAME.fullmatch(u.path.rsplit("/", 1)[1]).groups()
        assert (u.label, u.speaker) == (label, speaker)
        assert u.gender == ("f" if int(speaker[3:]) % 2 == 0 else "m")
    counts = {(s, e): 0 for s in ("spk00", "spk01", "spk02") for e in EMOTIONS}
    for u in utterances:
        counts[u.speaker, u.label] += 1
    assert set(counts.values()) == {2}


def test_wavs_are_mono_pcm16_in_duration_range_without_clipping(corpus):
    out, manifest = corpus
    for u in read_manifest(manifest):
        info = sf.info(u.path)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert 1.5 <= info.duration <= 3.0
        x, _ = sf.read(u.path, dtype="int16")
        assert np.abs(x.astype(np.int32)).max() <= round(PEAK_LIMIT * 32767)
        assert np.abs(x.astype(np.int32)).max() > 100                  # not silent


def test_write_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="per_class"):
        write_synthetic_corpus(tmp_path, speakers=1, per_class=0)
    with pytest.raises(ValueError, match="seed"):
        write_synthetic_corpus(tmp_path, speakers=1, per_class=1, seed=-1)
    with pytest.raises(ValueError, match="sample_rate"):
        write_synthetic_corpus(tmp_path, speakers=1, per_class=1, sample_rate=4000)
    with pytest.raises(ValueError, match="emotion"):
        synthesize(0, 0, "boredom", 0)


def test_to_pcm16_rounds_and_scales():
    x = np.array([0.0, 1.0, -1.0, 0.5, 1.4 / 32767, -1.6 / 32767], dtype=np.float32)
    np.testing.assert_array_equal(to_pcm16(x), np.array([0, 32767, -32767, 16384, 1, -2],
                                                        dtype=np.int16))


# ---------------------------------------------------------------- any utterance

@given(seed=st.integers(0, 2**32 - 1), speaker=st.integers(0, 50),
       emotion=st.sampled_from(EMOTIONS), index=st.integers(0, 999),
       sample_rate=st.sampled_from([8000, 16000, 22050]))
def test_any_utterance_is_finite_bounded_and_in_range(seed, speaker, emotion, index,
                                                      sample_rate):
    x = synthesize(seed, speaker, emotion, index, sample_rate)
    assert x.dtype == np.float32 and x.ndim == 1
    assert 1.5 * sample_rate - 1 <= len(x) <= 3.0 * sample_rate + 1
    assert np.all(np.isfinite(x))
    assert np.max(np.abs(x)) <= PEAK_LIMIT
    assert -60.0 < rms_db(x) < -3.0


# ---------------------------------------------------------------- measurable effects

def _mean_over(speaker, emotion, measure, n=4):
    return np.mean([measure(synthesize(0, speaker, emotion, k)) for k in range(n)])


@pytest.mark.parametrize("speaker", [0, 1])           # one female, one male
def test_anger_is_higher_and_louder_than_sadness(speaker):
    f0 = {e: _mean_over(speaker, e, lambda x: median_f0(x, 16000))
          for e in ("anger", "sadness")}
    assert f0["anger"] > 1.2 * f0["sadness"]
    level = {e: _mean_over(speaker, e, rms_db) for e in ("anger", "sadness")}
    assert level["anger"] > level["sadness"] + 6.0


@pytest.mark.parametrize("speaker", [0, 1, 2, 3])
def test_measured_f0_matches_the_drawn_f0_level(speaker):
    """The autocorrelation F0 of neutral speech is near the utterance's F0 level."""
    seed, k = 0, 0
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(speaker, 0, k)))
    params = utterance_params(speaker_voice(seed, speaker), "neutral", rng)
    measured = median_f0(synthesize(seed, speaker, "neutral", k), 16000)
    assert 0.8 * params.f0_hz < measured < 1.4 * params.f0_hz    # accents only go up


def test_female_voices_are_higher_than_male_voices():
    female = [_mean_over(i, "neutral", lambda x: median_f0(x, 16000), 2) for i in (0, 2)]
    male = [_mean_over(i, "neutral", lambda x: median_f0(x, 16000), 2) for i in (1, 3)]
    assert min(female) > 1.3 * max(male)


# ---------------------------------------------------------------- CLI

def test_cli_writes_the_corpus(tmp_path):
    out = tmp_path / "corpus"
    result = CliRunner().invoke(synth_command, [str(out), "--speakers", "2",
                                                "--per-class", "1", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "files: 8" in result.output
    utterances = read_manifest(out / "manifest.csv")
    assert sorted({u.speaker for u in utterances}) == ["spk00", "spk01"]
    assert sorted(u.label for u in utterances) == sorted(EMOTIONS * 2)
    x, sr = sf.read(out / "wav" / "spk01_anger_000.wav", dtype="int16")
    assert sr == 16000
    np.testing.assert_array_equal(x, to_pcm16(synthesize(3, 1, "anger", 0)))


def test_cli_rejects_bad_options(tmp_path):
    result = CliRunner().invoke(synth_command, [str(tmp_path), "--speakers", "0"])
    assert result.exit_code != 0
    assert "--speakers" in result.output
    result = CliRunner().invoke(synth_command, [str(tmp_path), "--sample-rate", "4000"])
    assert result.exit_code != 0
