r"""The embedded synthetic emotional-speech corpus (no download, generated from a seed).

A source-filter voice model speaks random syllable strings in four emotions
(neutral, happiness, sadness, anger) with speaker-specific voices, so that the whole
pipeline runs on a machine that has no data. The synthesis model and every parameter
are written out in ``reference/synth.md``.

Model
-----
An utterance (1.5 to 3 s) is a string of syllables separated by unvoiced gaps. Each
syllable is an optional fricative onset (band-pass noise) followed by a vowel:

    flow(t)   = A_k g(phi(t) mod 1; OQ)                 Rosenberg pulse, period k
    phi(t)    = sum_{s <= t} F0(s) (1 + j_k) / fs        phase with jitter j_k
    A_k       = 1 + s_k                                  shimmer s_k
    e(t)      = T(d flow / dt) + b n(t) (0.4 + 0.6 flow)  tilt T, aspiration n, level b
    vowel_i   = V_i * (env_i(t) e(t))                    V_i: 4 cascaded resonators
    speech    = sum_i vowel_i + fricatives

with F0(t) = F0_level 2^((accents(t) + declination(t) + drift(t)) / 12); T is a
one-pole low-pass y[n] = (1 - a) x[n] + a y[n-1] (spectral tilt); each formant is a
Klatt resonator (unity gain at 0 Hz). Emotions move the F0 level, range, accent shapes
and declination, the speaking rate, loudness and its variability, tilt, open quotient,
breathiness, jitter, shimmer and (slightly) the formants; speakers set base F0,
vocal-tract length (formant scale) and voice quality. Each utterance draws its
parameters around its speaker's version of the emotion's means, so that emotions
overlap. Background noise 25 to 35 dB below the speaker's neutral level (so, like a
room's noise, it does not follow the emotion's loudness) and a random recording gain
complete it.

Determinism
-----------
Speaker ``i`` draws from ``SeedSequence(seed, spawn_key=(i,))`` and utterance ``k``
of emotion ``e`` from ``SeedSequence(seed, spawn_key=(i, e, k))`` (the children that
``SeedSequence.spawn`` would give), so a file depends only on (seed, i, e, k, sample
rate), never on generation order or on the corpus size.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf
from scipy import signal
from scipy.ndimage import uniform_filter1d

from pyreparam.atomic import atomic_write, make_folder
from pyreparam.data.manifest import Utterance, write_manifest

EMOTIONS = ("neutral", "happiness", "sadness", "anger")

# Vowel formants F1..F4 (Hz) of an adult male voice: Peterson & Barney (1952) means for
# F1-F3, F4 set near 3.5 kHz. Speakers scale them by their formant factor.
VOWELS = {
    "i": (270.0, 2290.0, 3010.0, 3600.0),
    "e": (530.0, 1840.0, 2480.0, 3500.0),
    "ae": (660.0, 1720.0, 2410.0, 3500.0),
    "a": (730.0, 1090.0, 2440.0, 3400.0),
    "o": (570.0, 840.0, 2410.0, 3400.0),
    "u": (300.0, 870.0, 2240.0, 3300.0),
    "er": (490.0, 1350.0, 1690.0, 3300.0),
}
FORMANT_BANDWIDTHS = (70.0, 100.0, 160.0, 250.0)    # Hz, modal voice
FRICATIVE_CENTRES = (1800.0, 2800.0, 4500.0, 6000.0)  # Hz, male; h-like .. s-like

REFERENCE_LEVEL_DBFS = -26.0   # RMS of the voiced parts of a neutral utterance
MIN_SAMPLE_RATE = 8000
PEAK_LIMIT = 0.98              # the output never exceeds this magnitude


@dataclass(frozen=True)
class EmotionStyle:
    """Mean prosody and voice quality of one emotion (relative to the speaker)."""

    pitch_shift_st: float          # F0 level above the speaker's base, semitones
    pitch_range_st: float          # accent excursion, semitones
    accent_shapes: tuple[float, float, float]  # probabilities of rise, fall, hat
    declination_st: float          # F0 change from start to end, semitones
    syllable_s: float              # mean vowel duration, s (speaking rate)
    gap_s: float                   # mean unvoiced gap between syllables, s
    level_db: float                # loudness relative to neutral, dB
    level_spread_db: float         # syllable-to-syllable loudness std, dB
    tilt: float                    # added to the speaker's tilt pole a
    open_quotient: float           # added to the speaker's open quotient
    breathiness: float             # factor on the speaker's aspiration level
    jitter: float                  # factor on the speaker's jitter
    shimmer: float                 # factor on the speaker's shimmer
    formant_shift: float           # factor on all formants (mouth opening, smiling)


EMOTION_STYLES = {
    "neutral": EmotionStyle(
        pitch_shift_st=0.0, pitch_range_st=2.5, accent_shapes=(0.25, 0.30, 0.45),
        declination_st=-2.0, syllable_s=0.20, gap_s=0.07, level_db=0.0,
        level_spread_db=1.5, tilt=0.0, open_quotient=0.0, breathiness=1.0,
        jitter=1.0, shimmer=1.0, formant_shift=1.0),
    "happiness": EmotionStyle(
        pitch_shift_st=4.0, pitch_range_st=7.0, accent_shapes=(0.60, 0.05, 0.35),
        declination_st=-1.0, syllable_s=0.18, gap_s=0.06, level_db=3.0,
        level_spread_db=3.0, tilt=-0.08, open_quotient=-0.03, breathiness=0.9,
        jitter=1.2, shimmer=1.2, formant_shift=1.04),
    "sadness": EmotionStyle(
        pitch_shift_st=-2.0, pitch_range_st=1.2, accent_shapes=(0.10, 0.50, 0.40),
        declination_st=-3.0, syllable_s=0.25, gap_s=0.11, level_db=-5.0,
        level_spread_db=1.0, tilt=0.15, open_quotient=0.08, breathiness=2.2,
        jitter=1.3, shimmer=1.3, formant_shift=0.98),
    "anger": EmotionStyle(
        pitch_shift_st=5.0, pitch_range_st=5.0, accent_shapes=(0.10, 0.70, 0.20),
        declination_st=-2.5, syllable_s=0.17, gap_s=0.06, level_db=7.0,
        level_spread_db=3.5, tilt=-0.25, open_quotient=-0.15, breathiness=0.6,
        jitter=1.5, shimmer=1.5, formant_shift=1.05),
}

# Utterance-to-utterance spread around the speaker's emotion means. Additive fields
# get N(0, sd); multiplicative fields get a factor exp(N(0, sd)). These set how much
# the emotions overlap (the corpus's difficulty; see reference/synth.md).
UTTERANCE_SPREAD = {
    "pitch_shift_st": 1.7, "pitch_range_st": 0.35, "declination_st": 1.0,
    "syllable_s": 0.15, "gap_s": 0.30, "level_db": 1.5, "level_spread_db": 0.3,
    "tilt": 0.07, "open_quotient": 0.04, "breathiness": 0.30, "jitter": 0.30,
    "shimmer": 0.30, "formant_shift": 0.025,
}
_MULTIPLICATIVE = ("pitch_range_st", "syllable_s", "gap_s", "level_spread_db",
                   "breathiness", "jitter", "shimmer", "formant_shift")


@dataclass(frozen=True)
class SpeakerVoice:
    """One synthetic speaker: identity and voice baseline."""

    speaker: str                   # "spk00", "spk01", ...
    female: bool
    f0_hz: float                   # base (neutral) F0 level
    formant_scale: float           # vocal-tract length: factor on all formants
    open_quotient: float           # glottal open quotient, modal
    tilt: float                    # one-pole tilt coefficient a in [0, 0.95)
    breathiness: float             # aspiration RMS relative to the voiced source
    jitter: float                  # period-to-period F0 std, relative
    shimmer: float                 # period-to-period amplitude std, relative
    rate: float                    # factor on syllable and gap durations
    level_db: float                # habitual loudness offset, dB
    expressiveness: float          # factor on every emotion's deviation from neutral


@dataclass(frozen=True)
class UtteranceParams:
    """Everything one utterance's synthesis needs besides its random generator."""

    duration_s: float
    f0_hz: float                   # F0 level (before accents and declination)
    pitch_range_st: float
    accent_shapes: tuple[float, float, float]
    declination_st: float
    syllable_s: float
    gap_s: float
    level_dbfs: float              # RMS of the voiced parts, dBFS
    level_spread_db: float
    tilt: float
    open_quotient: float
    breathiness: float
    jitter: float
    shimmer: float
    formant_scale: float
    noise_dbfs: float              # RMS of the background noise, dBFS


def speaker_voice(seed: int, index: int) -> SpeakerVoice:
    """Draw speaker ``index``'s voice (even indices female, odd male).

    Parameters
    ----------
    seed : int
        Corpus seed (non-negative).
    index : int
        Speaker index (non-negative); the voice does not depend on the corpus size.

    Returns
    -------
    SpeakerVoice
    """
    if seed < 0 or index < 0:
        raise ValueError(f"seed and speaker index must be non-negative, got {seed}, {index}")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))
    female = index % 2 == 0
    return SpeakerVoice(
        speaker=f"spk{index:02d}",
        female=female,
        f0_hz=(200.0 if female else 110.0) * float(np.exp(rng.normal(0.0, 0.10))),
        formant_scale=(1.16 if female else 1.0) * float(np.exp(rng.normal(0.0, 0.03))),
        open_quotient=(0.65 if female else 0.55) + float(rng.normal(0.0, 0.04)),
        tilt=(0.55 if female else 0.45) + float(rng.normal(0.0, 0.08)),
        breathiness=(0.12 if female else 0.07) * float(np.exp(rng.normal(0.0, 0.3))),
        jitter=0.006 * float(np.exp(rng.normal(0.0, 0.25))),
        shimmer=0.04 * float(np.exp(rng.normal(0.0, 0.25))),
        rate=float(np.exp(rng.normal(0.0, 0.10))),
        level_db=float(rng.normal(0.0, 2.0)),
        expressiveness=float(np.exp(rng.normal(0.0, 0.25))),
    )


def _speaker_style(voice: SpeakerVoice, emotion: str) -> dict[str, float]:
    """The emotion's means as this speaker produces them (scaled by expressiveness)."""
    neutral, style = EMOTION_STYLES["neutral"], EMOTION_STYLES[emotion]
    x = voice.expressiveness
    means = {}
    for name in UTTERANCE_SPREAD:
        n, e = getattr(neutral, name), getattr(style, name)
        means[name] = n * (e / n) ** x if name in _MULTIPLICATIVE else n + x * (e - n)
    return means


def utterance_params(voice: SpeakerVoice, emotion: str,
                     rng: np.random.Generator) -> UtteranceParams:
    """Draw one utterance's parameters around the speaker's version of ``emotion``.

    Parameters
    ----------
    voice : SpeakerVoice
    emotion : str
        One of :data:`EMOTIONS`.
    rng : numpy.random.Generator

    Returns
    -------
    UtteranceParams
    """
    if emotion not in EMOTION_STYLES:
        raise ValueError(f"unknown emotion {emotion!r}; expected one of {EMOTIONS}")
    means = _speaker_style(voice, emotion)
    p = {}
    for name, sd in UTTERANCE_SPREAD.items():              # fixed draw order
        z = float(rng.normal(0.0, sd))
        p[name] = means[name] * math.exp(z) if name in _MULTIPLICATIVE else means[name] + z
    recording_gain_db = float(rng.uniform(-1.5, 1.5))
    return UtteranceParams(
        duration_s=float(rng.uniform(1.5, 3.0)),
        f0_hz=voice.f0_hz * 2.0 ** (p["pitch_shift_st"] / 12.0),
        pitch_range_st=p["pitch_range_st"],
        accent_shapes=EMOTION_STYLES[emotion].accent_shapes,
        declination_st=p["declination_st"],
        syllable_s=voice.rate * p["syllable_s"],
        gap_s=voice.rate * p["gap_s"],
        level_dbfs=(REFERENCE_LEVEL_DBFS + voice.level_db + p["level_db"]
                    + recording_gain_db),
        level_spread_db=p["level_spread_db"],
        tilt=float(np.clip(voice.tilt + p["tilt"], 0.0, 0.95)),
        open_quotient=float(np.clip(voice.open_quotient + p["open_quotient"], 0.3, 0.9)),
        breathiness=voice.breathiness * p["breathiness"],
        jitter=voice.jitter * p["jitter"],
        shimmer=voice.shimmer * p["shimmer"],
        formant_scale=voice.formant_scale * p["formant_shift"],
        noise_dbfs=(REFERENCE_LEVEL_DBFS + voice.level_db + recording_gain_db
                    - float(rng.uniform(25.0, 35.0))),   # SNR vs. neutral speech
    )


class _Timing(NamedTuple):
    """Vowel onsets/offsets and fricative onsets of one utterance, in samples."""

    n: int                         # utterance length
    on: np.ndarray                 # (S,) vowel starts, increasing
    off: np.ndarray                # (S,) vowel ends, on < off <= next on
    fric_on: np.ndarray            # (S,) fricative starts; == on when there is none


def _syllable_timing(params: UtteranceParams, rng: np.random.Generator,
                     sample_rate: int) -> _Timing:
    """Lay out syllables (gap, optional fricative, vowel) inside the duration.

    Draws 40 syllables (more than 3 s can hold) and keeps those that end before the
    trailing silence; the first one is always kept.
    """
    n_max = 40
    lead, trail = rng.uniform(0.05, 0.2, size=2)
    dur = np.clip(params.syllable_s * np.exp(rng.normal(0.0, 0.25, n_max)), 0.06, 0.5)
    gap = np.maximum(0.03, params.gap_s * np.exp(rng.normal(0.0, 0.4, n_max)))
    pause = (rng.random(n_max) < 0.12) * rng.uniform(0.15, 0.35, n_max)
    gap = gap + pause
    gap[0] = 0.04                                          # no phrase pause up front
    on = lead + np.cumsum(gap) + np.concatenate([[0.0], np.cumsum(dur)[:-1]])
    off = on + dur
    keep = off <= params.duration_s - trail
    keep[0] = True                                         # always one syllable
    fric_len = rng.uniform(0.03, 0.08, n_max) * (rng.random(n_max) < 0.5)
    fric_len = np.minimum(fric_len, gap - 0.01)            # stays inside the gap
    n = int(round(params.duration_s * sample_rate))

    def to_samples(t: np.ndarray) -> np.ndarray:
        return np.minimum(np.round(t[keep] * sample_rate).astype(np.int64), n)

    return _Timing(n, to_samples(on), to_samples(off), to_samples(on - fric_len))


def _f0_contour(params: UtteranceParams, timing: _Timing, rng: np.random.Generator,
                sample_rate: int, samples: np.ndarray) -> np.ndarray:
    """F0 (Hz) at the given sample indices: level, accents, declination, drift.

    The contour is built on a 1 ms grid and interpolated to ``samples``.
    """
    S = len(timing.on)
    shapes = np.array([[0.0, 0.4, 1.0],                    # rise
                       [1.0, 0.6, 0.0],                    # fall
                       [0.1, 1.0, 0.2]])                   # hat
    kind = rng.choice(3, size=S, p=params.accent_shapes)
    accented = rng.random(S) < 0.6
    prominence = np.where(accented, rng.uniform(0.4, 1.0, S), rng.uniform(0.0, 0.2, S))
    knots_t = np.stack([timing.on, (timing.on + timing.off) / 2, timing.off], 1)  # (S, 3)
    knots_v = shapes[kind] * (params.pitch_range_st * prominence)[:, None]       # (S, 3)
    t = np.arange(0, timing.n + sample_rate // 1000, sample_rate / 1000.0)  # 1 ms grid
    accent = np.interp(t, knots_t.ravel(), knots_v.ravel())
    accent = uniform_filter1d(uniform_filter1d(accent, 30), 30)  # smooth the corners
    n_drift = int(params.duration_s * 10) + 2                   # 10 Hz drift knots
    drift = np.interp(t, np.linspace(0, timing.n, n_drift), rng.normal(0.0, 0.3, n_drift))
    decl = params.declination_st * (t / timing.n - 0.5)
    semitones = np.interp(samples, t, accent + decl + drift)
    return np.clip(params.f0_hz * 2.0 ** (semitones / 12.0), 50.0, 600.0)


def _rosenberg(phase: np.ndarray, open_quotient: float) -> np.ndarray:
    """Rosenberg glottal flow pulse at phase in [0, 1): opening 2/3, closing 1/3.

    g = (1 - cos(pi p / tp)) / 2 for p < tp, cos(pi (p - tp) / (2 tn)) for
    tp <= p < tp + tn, else 0, with tp = 2 OQ / 3 and tn = OQ / 3; evaluated through
    a 1024-interval table and linear interpolation.
    """
    L = 1024
    tp, tn = 2.0 * open_quotient / 3.0, open_quotient / 3.0
    p = np.arange(L + 1) / L
    opening = 0.5 * (1.0 - np.cos(np.pi * p / tp))
    closing = np.cos(0.5 * np.pi * np.clip(p - tp, 0.0, tn) / tn)
    table = np.where(p < tp, opening, np.where(p < tp + tn, closing, 0.0))
    u = np.clip(phase, 0.0, 1.0) * L
    i = np.minimum(u.astype(np.int64), L - 1)
    return table[i] + (u - i) * (table[i + 1] - table[i])


def _glottal_source(f0: np.ndarray, params: UtteranceParams, rng: np.random.Generator,
                    sample_rate: int) -> np.ndarray:
    """Voice source: tilted flow derivative with jitter, shimmer and aspiration.

    Computed on the voiced samples only, concatenated (the phase runs on across the
    unvoiced gaps that were cut out; the vowel envelopes are zero at the joins).
    """
    phase0 = np.cumsum(f0) / sample_rate
    K = int(phase0[-1]) + 2                                 # periods
    jitter = rng.normal(0.0, params.jitter, K)
    shimmer = np.maximum(0.3, 1.0 + rng.normal(0.0, params.shimmer, K))
    phase = np.cumsum(f0 * (1.0 + jitter[phase0.astype(np.int64)])) / sample_rate
    period = np.minimum(phase.astype(np.int64), K - 1)
    flow = _rosenberg(phase - period, params.open_quotient) * shimmer[period]
    dflow = np.diff(flow, prepend=0.0)                      # radiation: d/dt
    a = params.tilt
    pulses = signal.lfilter([1.0 - a], [1.0, -a], dflow)    # spectral tilt
    noise = signal.lfilter([1.0, -0.7], [1.0], rng.standard_normal(len(f0)))
    noise *= 0.4 + 0.6 * flow / max(float(flow.max()), 1e-9)  # pulsatile aspiration
    scale = params.breathiness * np.sqrt(np.mean(pulses**2) / np.mean(noise**2))
    return pulses + scale * noise


def _vowel_envelope(timing: _Timing, gains: np.ndarray, sample_rate: int) -> np.ndarray:
    """Per-sample amplitude: each vowel's gain with raised-cosine on/off ramps."""
    env = np.zeros(timing.n)
    ramp_on, ramp_off = int(0.02 * sample_rate), int(0.03 * sample_rate)
    for s in range(len(timing.on)):
        L = timing.off[s] - timing.on[s]
        k = np.arange(L)
        x = np.clip(np.minimum((k + 0.5) / ramp_on, (L - k - 0.5) / ramp_off), 0.0, 1.0)
        env[timing.on[s]:timing.off[s]] = gains[s] * (0.5 - 0.5 * np.cos(np.pi * x))
    return env


def _resonators(freqs: np.ndarray, bandwidths: np.ndarray, sample_rate: int) -> np.ndarray:
    """Cascade of Klatt resonators as second-order sections (unity gain at 0 Hz).

    y[n] = A x[n] + B y[n-1] + C y[n-2],  C = -r^2,  B = 2 r cos(2 pi f / fs),
    A = 1 - B - C,  r = exp(-pi bw / fs).  Returns sos of shape (R, 6).
    """
    r = np.exp(-np.pi * bandwidths / sample_rate)
    B, C = 2.0 * r * np.cos(2.0 * np.pi * freqs / sample_rate), -r**2
    A = 1.0 - B - C
    zeros = np.zeros_like(A)
    ones = np.ones_like(A)
    return np.stack([A, zeros, zeros, ones, -B, -C], axis=1)   # (R, 6)


def _vocal_tract(source: np.ndarray, timing: _Timing, params: UtteranceParams,
                 rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Filter each vowel's excitation through its own formant cascade, overlap-add."""
    names = list(VOWELS)
    table = np.array([VOWELS[v] for v in names])                  # (V, 4)
    S = len(timing.on)
    vowel = rng.integers(0, len(names), S)
    freqs = table[vowel] * params.formant_scale * np.exp(rng.normal(0.0, 0.03, (S, 4)))
    widen = 1.0 + 2.0 * params.breathiness                       # glottal losses
    bws = np.array(FORMANT_BANDWIDTHS) * np.exp(rng.normal(0.0, 0.15, (S, 4)))
    bws[:, 0] *= widen
    ring = int(0.04 * sample_rate)
    out = np.zeros(timing.n)
    for s in range(S):
        usable = freqs[s] < 0.45 * sample_rate
        sos = _resonators(freqs[s][usable], bws[s][usable], sample_rate)
        start, stop = timing.on[s], min(timing.off[s] + ring, timing.n)
        x = source[start:stop].copy()
        x[timing.off[s] - start:] = 0.0                           # only its own vowel
        out[start:stop] += signal.sosfilt(sos, x)
    return out


def _fricatives(timing: _Timing, params: UtteranceParams, rng: np.random.Generator,
                sample_rate: int) -> np.ndarray:
    """Band-pass noise bursts before the vowels that have a fricative onset.

    Each burst's RMS is U(0.1, 0.3), relative to the unit-RMS voiced speech.
    """
    out = np.zeros(timing.n)
    for s in np.flatnonzero(timing.fric_on < timing.on):
        start, stop = timing.fric_on[s], timing.on[s]
        fc = min(rng.choice(FRICATIVE_CENTRES) * params.formant_scale, 0.42 * sample_rate)
        sos = _resonators(np.array([fc]), np.array([0.4 * fc]), sample_rate)
        sos[:, :3] = [1.0, -1.0, 0.0]                             # zero at 0 Hz: band-pass
        burst = signal.sosfilt(sos, rng.standard_normal(stop - start))
        burst *= np.sin(np.linspace(0.0, np.pi, stop - start)) ** 2
        level = rng.uniform(0.1, 0.3) / max(np.sqrt(np.mean(burst**2)), 1e-12)
        out[start:stop] = level * burst
    return out


def synthesize_utterance(params: UtteranceParams, rng: np.random.Generator,
                         sample_rate: int = 16000) -> np.ndarray:
    """Synthesize one utterance.

    Parameters
    ----------
    params : UtteranceParams
    rng : numpy.random.Generator
        Source of all remaining randomness (timing, accents, vowels, noise).
    sample_rate : int
        Output rate in Hz, at least 8000 (formants above 0.45 fs are dropped).

    Returns
    -------
    ndarray, (round(duration_s * sample_rate),), float32
        Mono waveform, |x| <= 0.98.
    """
    if sample_rate < MIN_SAMPLE_RATE:
        raise ValueError(f"sample_rate must be >= {MIN_SAMPLE_RATE} Hz, got {sample_rate}")
    timing = _syllable_timing(params, rng, sample_rate)
    gains_db = rng.normal(0.0, params.level_spread_db, len(timing.on))
    env = _vowel_envelope(timing, 10.0 ** (gains_db / 20.0), sample_rate)
    voiced = np.flatnonzero(env > 0)                               # (V,)
    f0 = _f0_contour(params, timing, rng, sample_rate, voiced)     # (V,)
    excitation = np.zeros(timing.n)
    excitation[voiced] = env[voiced] * _glottal_source(f0, params, rng, sample_rate)
    speech = _vocal_tract(excitation, timing, params, rng, sample_rate)
    speech /= np.sqrt(np.mean(speech[voiced] ** 2))               # voiced RMS = 1
    speech += _fricatives(timing, params, rng, sample_rate)
    noise = signal.lfilter([1.0], [1.0, -0.9], rng.standard_normal(timing.n))
    noise *= 10.0 ** (params.noise_dbfs / 20.0) / np.sqrt(np.mean(noise**2))
    x = speech * 10.0 ** (params.level_dbfs / 20.0) + noise
    peak = float(np.max(np.abs(x)))
    if peak > PEAK_LIMIT:
        x *= PEAK_LIMIT / peak                                    # never clip
    return x.astype(np.float32)


def synthesize(seed: int, speaker: int, emotion: str, index: int,
               sample_rate: int = 16000) -> np.ndarray:
    """Utterance ``index`` of ``emotion`` by speaker ``speaker`` of the corpus ``seed``.

    Depends only on its arguments (see the module's Determinism notes); this is what
    :func:`write_synthetic_corpus` writes to ``spk<speaker>_<emotion>_<index>.wav``.

    Parameters
    ----------
    seed : int
        Corpus seed (non-negative).
    speaker : int
        Speaker index (non-negative; even female, odd male).
    emotion : str
        One of :data:`EMOTIONS`.
    index : int
        Utterance index within (speaker, emotion), non-negative.
    sample_rate : int
        Hz, at least 8000.

    Returns
    -------
    ndarray, (samples,), float32
        1.5 to 3 s of audio, |x| <= 0.98.
    """
    if emotion not in EMOTIONS:
        raise ValueError(f"unknown emotion {emotion!r}; expected one of {EMOTIONS}")
    if index < 0:
        raise ValueError(f"utterance index must be non-negative, got {index}")
    voice = speaker_voice(seed, speaker)
    key = (speaker, EMOTIONS.index(emotion), index)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))
    return synthesize_utterance(utterance_params(voice, emotion, rng), rng, sample_rate)


def synthesize_recording(seed: int, speaker: int, script, sample_rate: int = 16000,
                         noise_dbfs: float | None = -70.0) -> np.ndarray:
    """A long recording of one speaker: utterances and pauses in the order of ``script``.

    Parameters
    ----------
    seed, speaker, sample_rate : as :func:`synthesize`
    script : sequence of str or float
        An emotion name: the speaker's next utterance of that emotion (indices 0, 1, ..
        per emotion, so the utterances are the corpus's own); a number: a pause of that
        many seconds.
    noise_dbfs : float or None
        Level (RMS, dBFS) of the white noise that fills the pauses (a quiet room);
        None: digital silence. The noise depends only on the arguments.

    Returns
    -------
    ndarray, (samples,), float32
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(speaker, 1 << 20)))
    used = {e: 0 for e in EMOTIONS}
    parts = []
    for item in script:
        if isinstance(item, str):
            parts.append(synthesize(seed, speaker, item, used.get(item, 0), sample_rate))
            used[item] += 1
            continue
        n = int(round(float(item) * sample_rate))
        if n < 0:
            raise ValueError(f"a pause must last >= 0 s, got {item}")
        noise = np.zeros(n) if noise_dbfs is None else \
            rng.standard_normal(n) * 10.0 ** (noise_dbfs / 20.0)
        parts.append(noise.astype(np.float32))
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


def to_pcm16(x: np.ndarray) -> np.ndarray:
    """Float waveform in [-1, 1] to 16-bit PCM: round(32767 x), half to even.

    Parameters
    ----------
    x : ndarray, any shape, float
        Samples in [-1, 1].

    Returns
    -------
    ndarray, same shape, int16
    """
    return np.round(np.asarray(x, dtype=np.float64) * 32767.0).astype(np.int16)


def write_synthetic_corpus(out_dir: str | os.PathLike, *, speakers: int = 8,
                           per_class: int = 30, seed: int = 0,
                           sample_rate: int = 16000) -> Path:
    """Write the synthetic corpus: 16-bit PCM WAVs and a CSV manifest.

    Parameters
    ----------
    out_dir : str or Path
        Created if needed. WAVs go to ``out_dir/wav/spkXX_<emotion>_NNN.wav``.
    speakers : int
        Number of speakers (even indices female, odd male), at least 1.
    per_class : int
        Utterances per emotion and speaker, at least 1.
    seed : int
        Corpus seed (non-negative); the same seed gives byte-identical files.
    sample_rate : int
        Hz, at least 8000.

    Returns
    -------
    Path
        ``out_dir/manifest.csv`` (columns path,label,speaker,gender; paths relative
        to ``out_dir``), one row per file, ordered by speaker, emotion, index.
    """
    if speakers < 1 or per_class < 1:
        raise ValueError(f"speakers and per_class must be >= 1, got {speakers}, {per_class}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    if sample_rate < MIN_SAMPLE_RATE:
        raise ValueError(f"sample_rate must be >= {MIN_SAMPLE_RATE} Hz, got {sample_rate}")
    out = Path(out_dir)
    make_folder(out / "wav")
    utterances = []
    for i in range(speakers):
        voice = speaker_voice(seed, i)
        for emotion in EMOTIONS:
            for k in range(per_class):
                path = out / "wav" / f"{voice.speaker}_{emotion}_{k:03d}.wav"
                x = synthesize(seed, i, emotion, k, sample_rate)
                atomic_write(path, lambda f, x=x: sf.write(f, to_pcm16(x), sample_rate,
                                                            format="WAV", subtype="PCM_16"))
                utterances.append(Utterance(str(path), emotion, voice.speaker,
                                            gender="f" if voice.female else "m"))
    return write_manifest(utterances, out / "manifest.csv")
