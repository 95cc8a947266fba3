"""Parameter and multiply-accumulate (MAC) counts of a model for a given input length.

MACs count the products of every matrix-like operation: linear layers (including HRF
factors in the training form), convolutions, and attention's Q K^T and A V
(T x window x C each for local attention). Element-wise work (norms, activations,
softmax, pooling) is not counted, as usual. Frames are 10 ms, so one second of audio
is 100 input frames.
"""
from __future__ import annotations

import numpy as np

from pyreparam.models.config import ModelConfig
from pyreparam.models.layers import SUBSAMPLE_KERNEL, SUBSAMPLE_PAD, SUBSAMPLE_STRIDE
from pyreparam.ops.conv import conv1d_output_length

FRAMES_PER_SECOND = 100


def _subsampled(T: int) -> tuple[int, int]:
    T1 = conv1d_output_length(T, SUBSAMPLE_KERNEL, SUBSAMPLE_STRIDE, SUBSAMPLE_PAD)
    return T1, conv1d_output_length(T1, SUBSAMPLE_KERNEL, SUBSAMPLE_STRIDE, SUBSAMPLE_PAD)


def _linear_macs(params: dict[str, np.ndarray], tokens) -> int:
    """Sum over 2-D weights ``name.w`` of tokens(name) * weight size."""
    total = 0
    for key, w in params.items():
        if key.endswith(".w") and w.ndim == 2 and ".dw." not in key:
            total += tokens(key) * w.size
    return total


def _attention_macs(T: int, C: int, window: int | None) -> int:
    keys = T if not window else min(window, T)
    return 2 * T * keys * C


def count_macs(config: ModelConfig, params: dict[str, np.ndarray], n_frames: int) -> int:
    """MACs of one forward pass over one utterance of ``n_frames`` input frames."""
    if config.backbone == "speechformer":
        return _speechformer_macs(config, params, n_frames)
    T1, T2 = _subsampled(n_frames)
    C, K = config.width, SUBSAMPLE_KERNEL
    macs = T1 * C * config.n_mels * K + T2 * C * C * K
    macs += _linear_macs(params, lambda key: 1 if key.startswith("classifier") else T2)
    macs += config.layers * _attention_macs(T2, C, None)
    if config.backbone == "conformer":
        macs += config.layers * T2 * C * config.conv_kernel      # depthwise convolution
    return macs


def _speechformer_macs(config, params, n_frames: int) -> int:
    tokens = [n_frames]
    for g in config.merges:
        tokens.append(-(-tokens[-1] // g))                       # ceil(T / g)
    widths = config.stage_widths()

    def tokens_at(key: str) -> int:
        if key.startswith("head."):
            return 1
        if key.startswith("input_proj"):
            return tokens[0]
        stage = int(key.split(".")[1])
        return tokens[stage + 1] if key.startswith("merges.") else tokens[stage]

    macs = _linear_macs(params, tokens_at)
    for s, n_layers in enumerate(config.layers):
        macs += n_layers * _attention_macs(tokens[s], widths[s], config.windows[s] or None)
    return macs


def macs_per_second(config: ModelConfig, params: dict[str, np.ndarray],
                    seconds: float = 3.0) -> int:
    """MACs per second of audio, over one utterance of ``seconds`` (attention is
    quadratic in length, so the figure grows slowly with the utterance's length)."""
    n_frames = int(round(seconds * FRAMES_PER_SECOND))
    return int(round(count_macs(config, params, n_frames) / seconds))
