"""Shared helpers of the stream tests (tests/test_stream.py, tests/test_stream_pitch.py):
the small test configuration, a recording with pauses, pushing in given block sizes,
and the chunking check both make."""
from __future__ import annotations

import numpy as np

from pyreparam.data.synth import synthesize_recording
from pyreparam.quant import qfrontend as qf
from pyreparam.quant import qstream

# a small window of 4 hops keeps the NumPy reference quick and exercises the blocks
CONFIG = qstream.StreamConfig(hop_samples=160, window_frames=40, hop_frames=10,
                              min_frames=15, gate_q8=0, gate_min_active=10)
SCRIPT = ("anger", 1.2, "sadness", 0.3, "happiness", 2.5, "neutral")


def recording(seconds_of_pause: float = 1.2, sample_rate: int = 16000) -> np.ndarray:
    """SCRIPT's speech and pauses (the 1.2 s pause set to ``seconds_of_pause``), int16."""
    script = tuple(seconds_of_pause if isinstance(s, float) and s == 1.2 else s
                   for s in SCRIPT)
    return qf.pcm16(synthesize_recording(0, 1, script, sample_rate=sample_rate))


def run(stream, pcm, sizes) -> list:
    """Every decision of pcm pushed in blocks of sizes (cycled), then finish."""
    out, i, k = [], 0, 0
    while i < pcm.size:
        n = sizes[k % len(sizes)]
        out += stream.push(pcm[i:i + n])
        i, k = i + n, k + 1
    return out + stream.finish()


def check_chunking(model, sizes, rng, reference: bool = False) -> None:
    """The C stream's decisions and state do not depend on how the samples are cut
    (``sizes``, or "random"); with ``reference`` the NumPy reference pushed the same
    way too (for block sizes it can take in reasonable time)."""
    pcm = recording(0.4)[:40000]
    whole = model.open(use_c=True)
    expected = whole.push(pcm) + whole.finish()
    sizes = [int(v) for v in rng.integers(0, 3000, 50)] if sizes == "random" else sizes
    streams = [model.open(use_c=True)] + ([model.open(use_c=False)] if reference else [])
    for stream in streams:
        assert run(stream, pcm, sizes) == expected and stream.state == whole.state
    assert len(expected) >= 5
