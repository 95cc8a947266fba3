"""Audio front-end: decoding (any rate, any channel count), resampling to 16 kHz and
log-mel features."""
from pyreparam.audio.decode import AUDIO_EXTENSIONS, AudioError, load_audio
from pyreparam.audio.features import FeatureConfig, logmel, mel_filterbank
from pyreparam.audio.resample import resample, resample_ratio

__all__ = ["AUDIO_EXTENSIONS", "AudioError", "FeatureConfig", "load_audio", "logmel",
           "mel_filterbank", "resample", "resample_ratio"]
