"""Utterance functionals: fixed-size statistics of an utterance's log-mel frames.

The statistics head (:mod:`pyreparam.models.stats_head`) classifies these next to the
network. They are computed from the frames the network also gets, *before* the
per-band normalization (the head z-scores the functionals themselves, per speaker, by
the same protocol as the frames), so a device needs nothing but its log-mel front end.

For an utterance x (T, C) whose first M channels are log-mel bands (the rest, e.g.
the two pitch channels of ``--pitch``, get the per-channel statistics only), with
the cepstra c = DCT-II(x[:, :M]) (orthonormal, the first L = min(24, M) coefficients):

    per channel (C of them):   mean, standard deviation, 10/50/90th percentiles,
                               standard deviation of the frame-to-frame change
    per coefficient (L):       mean, standard deviation, 1/25/50/75/99th percentiles,
                               interquartile range, 1-99 range, slope of the
                               least-squares line over the frames, standard deviation
                               and mean absolute value of the frame-to-frame change

6 C + 12 L values in that order (672 for 64 bands; the ``logmel`` set of
tools/baselines/opensmile_svm.py, whose linear SVM alone reaches 79.9 % UA on EmoDB),
computed twice: over all frames, then over the *speech frames* alone, those whose
mean over the bands (the log of the geometric mean of the band powers) lies within
:data:`SPEECH_RANGE` (20 dB) of the utterance's loudest frame (all frames when fewer
than :data:`MIN_SPEECH_FRAMES` qualify). Recordings with leading and trailing silence
(EMOVO's full-length files) otherwise describe the silence as much as the speech:
on EMOVO the second half lifts the head alone from 34.4 to 38.4 % UA (transductive)
and from 33.2 to 37.2 % (causal), on EmoDB's 2 s clips from 78.4 to 79.1 and 76.5 to
76.7 % (leave one speaker out, the head of tools/sweeps/stats_head_*.toml without
the network; the speech half alone scored 40.0 on EMOVO but lost 2.2 points causal on
EmoDB). Percentiles interpolate linearly between order statistics (NumPy's default).
An utterance of one frame has zero change and zero slope.

Prosody (``pitch``, frames with the two pitch channels of ``--pitch`` right after the
bands: log2 F0 at channel M, voicing strength at M + 1): 7 more values at the end,
of the log2 F0 channel over the *voiced speech frames*, the speech frames whose voicing
is at least :data:`~pyreparam.audio.features.PITCH_VOICED` (all speech frames when
fewer than MIN_SPEECH_FRAMES are voiced):

    mean, standard deviation, 10/50/90th percentiles, standard deviation of the
    frame-to-frame change (between consecutive voiced speech frames), and the voiced
    share of the speech frames.

The pitch channel's statistics over all frames and all speech frames (above) mix in
the pitch interpolated across pauses and the background's periodicity (EMOVO's
silences read as "voiced" hum): on EMOVO an SVM on the track's functionals scores
35.7 % UA over all frames and 41.8 % over the voiced speech frames
(results/probes/README.md).
"""
from __future__ import annotations

import numpy as np
import scipy.fft

from pyreparam.audio.features import PITCH_VOICED

#: cepstral coefficients kept (at most; fewer when there are fewer bands)
CEPSTRA = 24
#: speech frames: within this many natural-log units of power (ln 100: 20 dB) of the
#: loudest frame, on the mean over the mel bands
SPEECH_RANGE = float(np.log(100.0))
MIN_SPEECH_FRAMES = 3
CHANNEL_STATS = ("mean", "std", "p10", "p50", "p90", "change_std")
CEPSTRUM_STATS = ("mean", "std", "p1", "p25", "p50", "p75", "p99", "iqr", "range_1_99",
                  "slope", "change_std", "change_mean_abs")
PITCH_STATS = ("mean", "std", "p10", "p50", "p90", "change_std", "voiced_share")


def n_functionals(channels: int, n_mels: int, pitch: bool = False) -> int:
    """The number of functionals of an utterance with ``channels`` channels per frame,
    the first ``n_mels`` of them log-mel bands (``pitch``: with the prosody block)."""
    return (2 * (len(CHANNEL_STATS) * channels + len(CEPSTRUM_STATS) * min(CEPSTRA, n_mels))
            + (len(PITCH_STATS) if pitch else 0))


def functional_names(channels: int, n_mels: int, pitch: bool = False) -> list[str]:
    """One name per functional, in order (``band3.p50``, ``cep0.slope``, then the same
    of the speech frames: ``speech.band3.p50``, ..., then ``voiced.f0.mean``, ...)."""
    band = [f"band{j}" if j < n_mels else f"extra{j - n_mels}" for j in range(channels)]
    names = ([f"{b}.{s}" for s in CHANNEL_STATS for b in band]
             + [f"cep{j}.{s}" for s in CEPSTRUM_STATS for j in range(min(CEPSTRA, n_mels))])
    prosody = [f"voiced.f0.{s}" for s in PITCH_STATS] if pitch else []
    return names + [f"speech.{name}" for name in names] + prosody


def check_pitch(channels: int, n_mels: int, pitch: bool) -> None:
    """ValueError unless frames of ``channels`` channels can carry the pitch channels
    after ``n_mels`` bands (when ``pitch``)."""
    if pitch and channels < n_mels + 2:
        raise ValueError(f"the prosody functionals need the two pitch channels after the "
                         f"{n_mels} bands: the frames have {channels} channels")


def speech_frames(x: np.ndarray, n_mels: int) -> np.ndarray:
    """The frames of x (T, C) within SPEECH_RANGE of the loudest (all when too few)."""
    level = x[:, :n_mels].mean(axis=1)                                         # (T,)
    keep = level >= level.max() - SPEECH_RANGE
    return x[keep] if keep.sum() >= MIN_SPEECH_FRAMES else x


def utterance_functionals(x: np.ndarray, n_mels: int | None = None,
                          pitch: bool = False) -> np.ndarray:
    """The functionals of one utterance (see the module doc).

    Parameters
    ----------
    x : ndarray, (T, C)
        Raw (un-normalized) frames, T >= 1.
    n_mels : int, optional
        How many of the C channels are log-mel bands (default: all).
    pitch : bool
        Append the prosody block (channels M and M + 1 are log2 F0 and voicing).

    Returns
    -------
    ndarray, (n_functionals(C, n_mels, pitch),) float64
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"expected frames (T >= 1, C), got shape {x.shape}")
    M = x.shape[1] if n_mels is None else int(n_mels)
    if not 1 <= M <= x.shape[1]:
        raise ValueError(f"n_mels must be in 1..{x.shape[1]}, got {M}")
    check_pitch(x.shape[1], M, pitch)
    speech = speech_frames(x, M)
    parts = [frame_functionals(x, M), frame_functionals(speech, M)]
    if pitch:
        parts.append(prosody_functionals(speech, M))
    return np.concatenate(parts)


def prosody_functionals(speech: np.ndarray, M: int) -> np.ndarray:
    """The 7 prosody values (PITCH_STATS) of speech frames (n, C) whose channels M and
    M + 1 are log2 F0 and voicing."""
    voiced = speech[:, M + 1] >= PITCH_VOICED
    f0 = speech[voiced, M] if voiced.sum() >= MIN_SPEECH_FRAMES else speech[:, M]
    d = np.diff(f0) if f0.size > 1 else np.zeros(1)
    p10, p50, p90 = np.percentile(f0, [10, 50, 90])
    return np.array([f0.mean(), f0.std(), p10, p50, p90, d.std(),
                     voiced.sum() / speech.shape[0]])


def frame_functionals(x: np.ndarray, M: int) -> np.ndarray:
    """The 6 C + 12 L functionals of frames x (T, C) float64, the first M channels bands."""
    T = x.shape[0]
    c = scipy.fft.dct(x[:, :M], type=2, norm="ortho", axis=1)[:, :CEPSTRA]    # (T, L)
    dx = np.diff(x, axis=0) if T > 1 else np.zeros((1, x.shape[1]))            # (T-1, C)
    dc = np.diff(c, axis=0) if T > 1 else np.zeros((1, c.shape[1]))            # (T-1, L)
    p10, p50, p90 = np.percentile(x, [10, 50, 90], axis=0)                     # (C,) each
    channel = [x.mean(0), x.std(0), p10, p50, p90, dx.std(0)]
    q1, q25, q50, q75, q99 = np.percentile(c, [1, 25, 50, 75, 99], axis=0)     # (L,) each
    t = np.arange(T) - (T - 1) / 2.0                                           # (T,)
    slope = t @ c / (t @ t) if T > 1 else np.zeros(c.shape[1])
    cepstrum = [c.mean(0), c.std(0), q1, q25, q50, q75, q99, q75 - q25, q99 - q1,
                slope, dc.std(0), np.abs(dc).mean(0)]
    return np.concatenate(channel + cepstrum)
