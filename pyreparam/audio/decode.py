"""Audio decoding: soundfile reading, sanity checks, downmix and resampling.

Every failure raises :class:`AudioError`, whose message names the file and the
reason, so that a corpus run can report (or skip) exactly the bad files.
"""
from __future__ import annotations

import io
import os
import re
import struct
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

from pyreparam.audio.resample import resample

#: Formats the loader is meant for (any other format libsndfile reads works too).
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".aiff", ".aif")

#: The longest file any command takes (train, eval, quantize, infer): one length policy.
MAX_SECONDS = 30.0

#: Largest |sample| accepted. Decoded PCM lies in [-1, 1); float files are meant to,
#: and even float files written in integer units (+-32768) stay below this. Larger
#: values are no recording's (and overflow the log-mel power to inf).
MAX_ABS_SAMPLE = 1e5

#: Sample rates accepted (a header's rate decides the resampling filter's length:
#: an absurd rate would make it gigabytes).
MIN_RATE, MAX_RATE = 1000, 384000

#: A file whose loudest 25 ms frame is quieter than this holds no speech (about the
#: noise floor of a quiet room recorded at a normal level).
NO_SPEECH_DBFS = -60.0


class AudioError(ValueError):
    """An audio file that cannot be used; the message names the file and the reason.

    Parameters
    ----------
    path : str or Path
        The offending file.
    reason : str
        What is wrong with it, in a few words.
    """

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # keep (path, reason) across pickling (multiprocessing)
        return (type(self), (self.path, self.reason))


class AudioWarning(UserWarning):
    """A file that decodes, but not as its header says (e.g. a truncated WAV)."""


def _clean(error: Exception) -> str:
    """libsndfile's message without the Python object it was given (no
    ``<_io.BytesIO object at 0x...>`` in a user's error)."""
    text = getattr(error, "error_string", None) or str(error)
    text = re.sub(r"Error opening <[^>]*>: ?", "", text)
    text = re.sub(r"<[^>]* object at 0x[0-9a-f]+>", "the file", text).strip()
    return text or "unknown error"


def wav_shortfall(data: bytes) -> tuple[int, int] | None:
    """(declared, present) bytes of a RIFF WAV's data chunk when the file holds fewer
    bytes than its header announces (a truncated file); None otherwise (complete, not
    a WAV, or a streamed WAV whose sizes are 0 or 0xFFFFFFFF)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos = 12
    while pos + 8 <= len(data):
        chunk, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if chunk == b"data":
            present = len(data) - (pos + 8)
            if size in (0, 0xFFFFFFFF) or present >= size:
                return None
            return size, present
        pos += 8 + size + (size & 1)
    return None


def downmix(samples: np.ndarray) -> np.ndarray:
    """Average the channels of a (n, channels) block into one mono channel.

    Parameters
    ----------
    samples : ndarray, (n, channels) or (n,)
        Decoded samples; a 1-D array is already mono.

    Returns
    -------
    ndarray, (n,), same dtype
        The mean over channels.
    """
    if samples.ndim == 1:
        return samples
    mono = samples[:, 0].copy()  # (n,)
    for channel in range(1, samples.shape[1]):  # column sums: 10x faster than .mean(1)
        mono += samples[:, channel]
    if samples.shape[1] > 1:
        mono /= samples.dtype.type(samples.shape[1])
    return mono


def decode(source: str | os.PathLike | bytes, name: str | os.PathLike | None = None,
           *, max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """Decode a whole file into float32 samples with soundfile.

    Parameters
    ----------
    source : path or bytes
        The file, or its bytes (as read by the feature cache, which hashes them).
    name : path, optional
        The name used in error messages (defaults to ``source`` when it is a path).
    max_seconds : float, optional
        Refuse, from the header and before decoding, files longer than this.

    Returns
    -------
    samples : ndarray, (n, channels), float32
    sample_rate : int

    Raises
    ------
    AudioError
        When libsndfile cannot read the data (unknown format, corrupt header), or the
        header announces more than ``max_seconds``.
    """
    name = str(source if name is None else name)
    handle = io.BytesIO(source) if isinstance(source, bytes) else source
    if isinstance(source, bytes) and (short := wav_shortfall(source)) is not None:
        warnings.warn(AudioWarning(f"{name}: truncated WAV: the data chunk holds "
                                   f"{short[1]:,} of the {short[0]:,} bytes its header "
                                   "announces; using what is there"), stacklevel=2)
    try:
        with sf.SoundFile(handle) as sound:
            rate = int(sound.samplerate)
            if not MIN_RATE <= rate <= MAX_RATE:
                raise AudioError(name, f"sample rate {rate} Hz is no recording's "
                                       f"(accepted: {MIN_RATE} to {MAX_RATE} Hz)")
            if max_seconds is not None and sound.frames > max_seconds * rate:
                raise AudioError(name, f"too long: {sound.frames / rate:.3f} s > "
                                       f"max {max_seconds} s")
            samples = sound.read(dtype="float32", always_2d=True)  # (n, channels)
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioError(name, f"unreadable or corrupt audio ({_clean(error)})") from None
    return samples, rate


def check_samples(samples: np.ndarray, rate: int, name: str, *,
                  min_seconds: float | None, max_seconds: float | None) -> None:
    """Raise :class:`AudioError` for empty, non-finite, too short or too long audio.

    Parameters
    ----------
    samples : ndarray, (n, channels) or (n,)
        Decoded samples at their native rate.
    rate : int
        Their sample rate in Hz.
    name : str
        File name for the message.
    min_seconds, max_seconds : float or None
        Allowed duration range (None: no bound).
    """
    n = samples.shape[0]
    if n == 0:
        raise AudioError(name, "no audio samples (empty file)")
    finite = np.isfinite(samples)
    if not finite.all():
        raise AudioError(name, f"{int((~finite).sum()):,} NaN or infinite sample(s)")
    peak = float(np.abs(samples).max())
    if peak > MAX_ABS_SAMPLE:
        raise AudioError(name, f"samples reach {peak:.3g}, no recording's scale (full "
                               f"scale is 1; accepted up to {MAX_ABS_SAMPLE:.0e}): not "
                               "audio, or a damaged float file")
    seconds = n / rate
    if min_seconds is not None and seconds < min_seconds:
        raise AudioError(name, f"too short: {seconds:.3f} s < min {min_seconds} s")
    if max_seconds is not None and seconds > max_seconds:
        raise AudioError(name, f"too long: {seconds:.3f} s > max {max_seconds} s")


def loudest_frame_dbfs(signal: np.ndarray, rate: int, frame_seconds: float = 0.025) -> float:
    """The RMS level of the loudest frame, in dB relative to full scale (-inf for
    digital silence).

    Parameters
    ----------
    signal : ndarray, (n,)
        Mono samples, full scale 1.
    rate : int
        Sample rate in Hz.
    """
    size = max(1, int(round(frame_seconds * rate)))
    n = len(signal) // size * size
    frames = signal[:n].reshape(-1, size) if n else signal.reshape(1, -1)   # (T, size)
    rms = float(np.sqrt(np.max(np.mean(np.square(frames, dtype=np.float64), axis=1))))
    return 20 * np.log10(rms) if rms > 0 else float("-inf")


def load_audio_bytes(data: bytes, name: str | os.PathLike, *, sample_rate: int = 16000,
                     max_seconds: float | None = 30.0,
                     min_seconds: float | None = 0.1) -> np.ndarray:
    """:func:`load_audio` on a file's bytes already in memory (see there)."""
    if len(data) == 0:
        raise AudioError(name, "empty file (0 bytes)")
    samples, rate = decode(data, name, max_seconds=max_seconds)
    check_samples(samples, rate, str(name), min_seconds=min_seconds,
                  max_seconds=max_seconds)
    mono = downmix(samples)  # (n,)
    return resample(mono, rate, sample_rate)


def load_audio(path: str | os.PathLike, *, sample_rate: int = 16000,
               max_seconds: float | None = 30.0,
               min_seconds: float | None = 0.1) -> np.ndarray:
    """Load an audio file as a float32 mono signal at ``sample_rate``.

    Any format libsndfile reads (WAV, FLAC, OGG/Vorbis, AIFF, ...), any sample rate
    and channel count: channels are averaged, the rate is converted by polyphase
    resampling with the exact rational ratio of the two rates
    (:func:`pyreparam.audio.resample.resample`).

    Parameters
    ----------
    path : str or Path
        The audio file.
    sample_rate : int
        Output rate in Hz.
    max_seconds, min_seconds : float or None
        Allowed duration of the file (at its native rate); None disables a bound.

    Returns
    -------
    ndarray, (n,), float32
        Samples in the file's own scale (PCM is mapped to [-1, 1)).

    Raises
    ------
    AudioError
        Missing file, unreadable or corrupt file, empty file, NaN/inf samples, shorter
        than ``min_seconds``, longer than ``max_seconds``. The message names the file.
    """
    data = read_file_bytes(path)
    return load_audio_bytes(data, path, sample_rate=sample_rate,
                            max_seconds=max_seconds, min_seconds=min_seconds)


def read_file_bytes(path: str | os.PathLike) -> bytes:
    """A file's bytes, or :class:`AudioError` when it is missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "file not found" if not path.exists() else "not a file")
    try:
        return path.read_bytes()
    except OSError as error:
        raise AudioError(path, f"cannot read file ({error})") from error
