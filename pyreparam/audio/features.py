r"""Log-mel features.

Conventions (the project's decisions)
-----------------------------------------------------------------
* Frames: ``center=False``. Frame t covers samples [t * hop, t * hop + win); the
  last incomplete frame is dropped, so ``T = 1 + (n - win) // hop`` for
  ``n >= win``. A signal shorter than one window is zero-padded to one window, so
  every signal gives at least one frame.
* Window: a *periodic* window of ``win`` samples (``scipy.signal.get_window`` with
  ``fftbins=True``, as torch and librosa do), zero-padded on the right to ``n_fft``.
  No pre-emphasis, no dither, no per-frame DC removal.
* Power spectrum ``P = |rfft(frame * window, n_fft)|^2`` (no 1/n_fft scaling),
  computed in float32 with ``scipy.fft`` (about twice numpy.fft's speed here).
* Mel scale: **HTK**, ``mel(f) = 2595 log10(1 + f / 700)``. It is one formula over
  the whole range (Slaney's is linear below 1 kHz and log above), which keeps the
  band edges easy to state and to check; HTK, Kaldi and torchaudio's default use it.
  ``n_mels + 2`` points equally spaced in mel between ``fmin`` and ``fmax`` give the
  left edge, peak and right edge of each triangular filter; each triangle is
  evaluated at the FFT bin frequencies ``k * sample_rate / n_fft`` and has peak 1
  (no area normalization).
* Features ``log(P @ fbank.T + 1e-6)``, float32, shape (T, M).
* ``frontend="int"`` computes the same features with the device's integer front end
  (:mod:`pyreparam.quant.qfrontend`, bit-exact with ``pr_logmel_frame_s16``) from the
  signal rounded to 16-bit PCM: float32 q / 256 of its int16 Q8 output, so a model
  trained on them sees exactly what a microcontroller computes (within half an LSB
  of 1/256 of the float features, reference/frontend_int.md).

Pitch channels (``pitch=True``, :func:`pitch_track`): two more values per frame after
the M bands, for the prosody (pitch level, range and contour, voicing) that a mean
over log-mel frames blurs:

* the signal is decimated to about 4 kHz (``scipy.signal.resample_poly`` by the
  integer factor ``sample_rate // 4000``); frame t's analysis window is the 40 ms
  centred on the centre of log-mel frame t (zeros beyond the signal), its mean removed;
* the biased autocorrelation r(k) / r(0) of that window over the lags of 60 ... 500
  Hz; its maximum (refined by a parabola through the neighbouring lags) gives the
  period, and its height the voicing strength v in [0, 1] (0 for a silent window);
  the bias (a lag-k product has w - k terms) favours the true period over its
  multiples;
* channel M: log2(F0 / 100 Hz) (octaves) where v >= 0.5 (voiced), linearly
  interpolated across unvoiced frames from the voiced ones around them (held at the
  ends; 0 when no frame is voiced), so that normalization sees a speaker's pitch
  range rather than the noise of unvoiced frames; channel M + 1: v.

With ``frontend="int"`` the channels come from the integer pitch track
(:mod:`pyreparam.quant.qpitch`, int16 Q8 like the integer log-mel; within half a Q8
step of these on voices; its C functions pr_pitch_* are bit-exact with it). The device's
stream (pr_stream_* with a pitch configuration, reference/stream.md section 9) runs
them on the samples as they arrive; host inference computes them per utterance.

Caveat: with n_fft = 512 at 16 kHz (31.25 Hz per bin) the lowest HTK filters are
narrower than a bin once n_mels is large: at 128 bands the lowest filters catch no
bin at all and stay at the log floor (:func:`empty_filters` lists them). They are
constant bands that normalization maps to zero; at the default 64 bands every filter
catches at least one bin.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
import scipy.fft
import scipy.signal
from scipy.signal import get_window


#: Log-mel implementations: NumPy float32, or the device's integer front end.
FRONTENDS = ("float", "int")

#: The pitch track (``FeatureConfig.pitch``): its channels, the rate it is computed
#: at, its search range, analysis window and voicing threshold (module docstring).
PITCH_CHANNELS = 2
PITCH_RATE = 4000
PITCH_FMIN, PITCH_FMAX = 60.0, 500.0
PITCH_WIN_MS = 40.0
PITCH_VOICED = 0.5
PITCH_REF_HZ = 100.0


@dataclass(frozen=True)
class FeatureConfig:
    """Log-mel settings; JSON-serializable with :meth:`to_dict` / :meth:`from_dict`.

    ``n_fft`` None means the next power of two >= the window length; ``fmax`` None
    means ``sample_rate / 2``. Both are resolved at construction, so a config's dict
    always holds explicit numbers.
    """

    sample_rate: int = 16000
    n_mels: int = 64
    win_ms: float = 25.0
    hop_ms: float = 10.0
    window: str = "hamming"
    n_fft: int | None = None
    fmin: float = 0.0
    fmax: float | None = None
    log_floor: float = 1e-6
    trim_trailing_silence: bool = True
    frontend: str = "float"            # float (NumPy) or int (the device's integer one)
    pitch: bool = False                # two more channels per frame: log F0, voicing

    def __post_init__(self) -> None:
        if self.n_fft is None:
            object.__setattr__(self, "n_fft", 1 << (self.win_length - 1).bit_length())
        if self.fmax is None:
            object.__setattr__(self, "fmax", self.sample_rate / 2)
        object.__setattr__(self, "fmin", float(self.fmin))
        object.__setattr__(self, "fmax", float(self.fmax))
        self._validate()

    def _validate(self) -> None:
        if self.sample_rate <= 0 or self.n_mels <= 0:
            raise ValueError(f"sample_rate and n_mels must be positive: {self}")
        if self.win_length < 2 or self.hop_length < 1:
            raise ValueError(f"window and hop must span at least 2 and 1 samples: {self}")
        if self.n_fft < self.win_length:
            raise ValueError(f"n_fft {self.n_fft} < window length {self.win_length}")
        if not 0.0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError(f"need 0 <= fmin < fmax <= sample_rate / 2: {self}")
        if self.log_floor <= 0:
            raise ValueError(f"log_floor must be positive: {self}")
        if self.frontend not in FRONTENDS:
            raise ValueError(f"frontend must be one of {FRONTENDS}, got {self.frontend!r}")
        get_window(self.window, self.win_length)  # raises on an unknown window name
        if self.pitch and self.sample_rate < 2 * PITCH_RATE:
            raise ValueError(f"the pitch track needs a sample rate of at least "
                             f"{2 * PITCH_RATE} Hz, got {self.sample_rate}")

    @property
    def channels(self) -> int:
        """Values per frame: the mel bands, then 2 pitch channels when ``pitch``."""
        return self.n_mels + (PITCH_CHANNELS if self.pitch else 0)

    @property
    def win_length(self) -> int:
        """Window length in samples (400 at the defaults)."""
        return int(round(self.sample_rate * self.win_ms / 1000.0))

    @property
    def hop_length(self) -> int:
        """Hop in samples (160 at the defaults)."""
        return int(round(self.sample_rate * self.hop_ms / 1000.0))

    def to_dict(self) -> dict:
        """Plain dict of the fields (JSON-serializable)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "FeatureConfig":
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        return cls(**values)

    def to_json(self) -> str:
        """Canonical JSON text (sorted keys), e.g. for cache keys."""
        return json.dumps(self.to_dict(), sort_keys=True)


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """HTK mel scale: 2595 log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_band_edges(config: FeatureConfig) -> np.ndarray:
    """The n_mels + 2 filter corner frequencies in Hz (left, peaks..., right).

    Returns
    -------
    ndarray, (M + 2,), float64
        Band m (0-based) rises from edges[m] to its peak edges[m + 1] and falls to
        zero at edges[m + 2].
    """
    return _band_edges(config.fmin, config.fmax, config.n_mels)


def _band_edges(fmin: float, fmax: float, n_mels: int) -> np.ndarray:
    mels = np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2)
    return mel_to_hz(mels)  # (M + 2,)


def mel_filterbank(config: FeatureConfig) -> np.ndarray:
    """Triangular HTK mel filterbank, cached per config (treat as read-only).

    Returns
    -------
    ndarray, (M, n_fft // 2 + 1), float32
        Row m holds band m's weights on the rfft bins.
    """
    return _mel_filterbank(config.sample_rate, config.n_fft, config.n_mels,
                           config.fmin, config.fmax)


@lru_cache(maxsize=16)
def _mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float,
                    fmax: float) -> np.ndarray:
    edges = _band_edges(fmin, fmax, n_mels)  # (M + 2,)
    bins = np.arange(n_fft // 2 + 1) * (sample_rate / n_fft)  # (n_fft/2 + 1,)
    left, peak, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # (M, 1)
    rising = (bins - left) / (peak - left)  # (M, n_fft/2 + 1)
    falling = (right - bins) / (right - peak)  # (M, n_fft/2 + 1)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights = weights.astype(np.float32)
    weights.setflags(write=False)
    return weights


def empty_filters(config: FeatureConfig) -> np.ndarray:
    """Indices of mel bands that catch no FFT bin (constant at the log floor)."""
    return np.flatnonzero(mel_filterbank(config).sum(axis=1) == 0)


@lru_cache(maxsize=16)
def _window(name: str, length: int) -> np.ndarray:
    window = get_window(name, length, fftbins=True).astype(np.float32)  # (win,)
    window.setflags(write=False)
    return window


def network_input(frames: np.ndarray, n_in: int) -> np.ndarray:
    """The channels a network reads of frames (T, C): the first ``n_in`` (frames itself
    when C = n_in). A model trained with ``--pitch-head-only`` reads the mel bands
    alone; the pitch channels after them feed its statistics head."""
    return frames if frames.shape[-1] == n_in else frames[..., :n_in]


def pitch_for_head_only(config: FeatureConfig, n_in: int) -> bool:
    """Whether a network of input width ``n_in`` reads the mel bands alone of frames made
    with ``config`` while their pitch channels feed only its statistics head
    (``train --pitch-head-only``)."""
    return config.pitch and n_in == config.n_mels


def frame_features(signal: np.ndarray, config: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """A model's input frames: :func:`logmel`, then :func:`pitch_track` when ``pitch``.

    Returns
    -------
    ndarray, (T, config.channels), float32
    """
    features = logmel(signal, config)                              # (T, M)
    if not config.pitch:
        return features
    if config.frontend == "int":
        from pyreparam.quant.qpitch import pitch_int     # (quant imports this module)
        return np.concatenate([features, pitch_int(signal, config)], axis=1)
    return np.concatenate([features, pitch_track(signal, config)], axis=1)


def pitch_track(signal: np.ndarray, config: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """log2(F0 / 100 Hz) (interpolated across unvoiced frames) and voicing strength.

    Parameters
    ----------
    signal : ndarray, (n,), float
        Mono samples at ``config.sample_rate``.
    config : FeatureConfig
        Frames as :func:`logmel` (same count, trailing zeros trimmed the same way).

    Returns
    -------
    ndarray, (T, 2), float32
        See the module docstring ("Pitch channels").
    """
    signal = np.asarray(signal, dtype=np.float32)
    if signal.ndim != 1:
        raise ValueError(f"pitch_track expects a mono signal (n,), got shape {signal.shape}")
    if config.trim_trailing_silence:
        signal = trim_trailing_zeros(signal)
    n_frames = num_frames(signal.shape[0], config)
    factor = max(1, config.sample_rate // PITCH_RATE)
    rate = config.sample_rate / factor
    low = scipy.signal.resample_poly(signal.astype(np.float64), 1, factor) if factor > 1 \
        else signal.astype(np.float64)
    width = int(round(rate * PITCH_WIN_MS / 1000.0))
    centres = (np.arange(n_frames) * config.hop_length + config.win_length / 2) / factor
    starts = np.round(centres - width / 2).astype(np.int64)               # (T,)
    pad = width + 1
    padded = np.pad(low, (pad, pad + int(max(0, starts.max(initial=0) + width - low.size))))
    frames = padded[starts[:, None] + pad + np.arange(width)]            # (T, w)
    frames = frames - frames.mean(axis=1, keepdims=True)
    lag_min = int(np.floor(rate / PITCH_FMAX))
    lag_max = int(np.ceil(rate / PITCH_FMIN))
    spectrum = np.fft.rfft(frames, n=1 << int(2 * width - 1).bit_length(), axis=1)
    acf = np.fft.irfft(spectrum.real ** 2 + spectrum.imag ** 2, axis=1)[:, :lag_max + 2]
    energy = acf[:, 0]
    silent = energy <= 1e-10 * width
    r = acf / np.where(silent, 1.0, energy)[:, None]                       # (T, L)
    search = r[:, lag_min:lag_max + 1]
    k = np.argmax(search, axis=1) + lag_min                                # (T,)
    rows = np.arange(n_frames)
    left, mid, right = r[rows, k - 1], r[rows, k], r[rows, k + 1]
    curve = left - 2.0 * mid + right
    shift = np.where(curve < 0, 0.5 * (left - right) / np.where(curve < 0, curve, -1.0), 0.0)
    period = k + np.clip(shift, -0.5, 0.5)
    voicing = np.where(silent, 0.0, np.clip(mid, 0.0, 1.0))
    octaves = np.log2(rate / period / PITCH_REF_HZ)
    voiced = voicing >= PITCH_VOICED
    if voiced.any():
        octaves = np.interp(rows, rows[voiced], octaves[voiced])
    else:
        octaves = np.zeros(n_frames)
    return np.stack([octaves, voicing], axis=1).astype(np.float32)


def num_frames(n_samples: int, config: FeatureConfig) -> int:
    """Frame count for a signal of ``n_samples`` (after any trimming): see module doc."""
    win, hop = config.win_length, config.hop_length
    return 1 + max(0, n_samples - win) // hop


def trim_trailing_zeros(signal: np.ndarray) -> np.ndarray:
    """Drop the run of exact-zero samples at the end of a signal (a view)."""
    nonzero = np.flatnonzero(signal)
    return signal[:nonzero[-1] + 1] if nonzero.size else signal[:0]


def frame_signal(signal: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Strided frames of a mono signal (a read-only view when no padding is needed).

    Returns
    -------
    ndarray, (T, win), same dtype as ``signal``
    """
    win, hop = config.win_length, config.hop_length
    if signal.shape[0] < win:
        signal = np.pad(signal, (0, win - signal.shape[0]))  # (win,)
    return sliding_window_view(signal, win)[::hop]  # (T, win)


def logmel(signal: np.ndarray, config: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """Log-mel spectrogram of a mono signal at ``config.sample_rate``.

    Parameters
    ----------
    signal : ndarray, (n,), float
        Mono samples (any float dtype; computed in float32).
    config : FeatureConfig
        Settings; see the module docstring for every convention.

    Returns
    -------
    ndarray, (T, M), float32
        ``T = 1 + max(0, n' - win) // hop`` where n' is the length after optional
        trailing-zero trimming; M = ``config.n_mels``.

    Notes
    -----
    frames[t] = signal[t*hop : t*hop + win] * window,
    P = |rfft(frames, n_fft)|^2, features = log(P @ fbank.T + log_floor).
    """
    if config.frontend == "int":
        from pyreparam.quant.qfrontend import logmel_int    # (quant imports this module)
        return logmel_int(signal, config)
    signal = np.asarray(signal, dtype=np.float32)
    if signal.ndim != 1:
        raise ValueError(f"logmel expects a mono signal (n,), got shape {signal.shape}")
    if config.trim_trailing_silence:
        signal = trim_trailing_zeros(signal)
    frames = frame_signal(signal, config) * _window(config.window, config.win_length)  # (T, win)
    spectrum = scipy.fft.rfft(frames, n=config.n_fft, axis=1)  # (T, n_fft/2 + 1)
    power = spectrum.real ** 2 + spectrum.imag ** 2  # (T, n_fft/2 + 1)
    mel = power @ mel_filterbank(config).T  # (T, M)
    features = np.log(mel + np.float32(config.log_floor), dtype=np.float32)
    if not np.isfinite(features).all():
        raise ValueError("the log-mel features are not finite (samples far beyond full "
                         "scale?)")
    return features
