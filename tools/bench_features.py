"""Benchmark the audio front-end on one core: log-mel, and decode + resample.

Prints throughput as a real-time factor (seconds of audio processed per second of
wall time), the median of several runs. The target is log-mel >= 1000x real time.
The integer front end (NumPy reference and C) is timed beside the float one.

    python tools/bench_features.py [--seconds 60] [--runs 7] [--emodb DIR]

Threads are limited to one (BLAS/OpenMP variables set before numpy is imported) and
the process is pinned to one CPU where the OS allows it.
"""
from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from pyreparam.audio import FeatureConfig, load_audio, logmel  # noqa: E402


def pin_to_one_cpu() -> str:
    """Pin this process to one allowed CPU; returns a note for the report."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity)"
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu}"


def median_seconds(work: Callable[[], object], runs: int) -> float:
    """Median wall time of ``runs`` calls, after one warm-up call."""
    work()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def synthetic_sound(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """Speech-like test material: tones with vibrato over pink-ish noise, (n,) float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 150 + 30 * np.sin(2 * np.pi * 0.5 * t)
    voiced = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / rate) / k for k in range(1, 20))
    noise = np.cumsum(rng.standard_normal(t.size)) * 1e-3
    noise -= np.convolve(noise, np.ones(101) / 101, mode="same")
    x = 0.05 * voiced + noise
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def bench_logmel(seconds: float, runs: int) -> None:
    config = FeatureConfig()
    signal = synthetic_sound(seconds, config.sample_rate)
    elapsed = median_seconds(lambda: logmel(signal, config), runs)
    frames = logmel(signal, config).shape[0]
    print(f"log-mel ({config.n_mels} bands, {frames} frames): "
          f"{elapsed * 1e3:8.2f} ms for {seconds:.0f} s  -> {seconds / elapsed:8.0f}x real time")
    big = FeatureConfig(n_mels=128)
    elapsed_big = median_seconds(lambda: logmel(signal, big), runs)
    print(f"log-mel (128 bands):               "
          f"{elapsed_big * 1e3:8.2f} ms for {seconds:.0f} s  -> "
          f"{seconds / elapsed_big:8.0f}x real time")
    verdict = "meets" if seconds / elapsed >= 1000 else "MISSES"
    print(f"  target >= 1000x real time: {verdict}")


def bench_logmel_int(seconds: float, runs: int) -> None:
    """The integer front end (pyreparam.quant.qfrontend): the NumPy reference over all
    frames at once, and the C runtime one frame per call (cffi, as training would)."""
    from pyreparam import native
    from pyreparam.audio.features import frame_signal
    from pyreparam.quant import qfrontend as qf
    config = FeatureConfig()
    pcm = qf.pcm16(synthetic_sound(seconds, config.sample_rate))
    elapsed = median_seconds(lambda: qf.logmel_q8(pcm, config), runs)
    print(f"integer log-mel, NumPy reference:  {elapsed * 1e3:8.2f} ms for {seconds:.0f} s"
          f"  -> {seconds / elapsed:8.0f}x real time")
    if native.available():
        from pyreparam.quant import ckernels
        frames = np.ascontiguousarray(frame_signal(pcm, config))
        tables = qf.frontend_tables(config)
        elapsed = median_seconds(lambda: ckernels.logmel_frames_s16(frames, tables), runs)
        print(f"integer log-mel, C (frame calls):  {elapsed * 1e3:8.2f} ms for "
              f"{seconds:.0f} s  -> {seconds / elapsed:8.0f}x real time "
              f"({elapsed / frames.shape[0] * 1e6:.1f} us per frame)")


def bench_decode(seconds: float, runs: int, folder: Path) -> None:
    cases = [(16000, 1, "PCM_16", "wav"), (22050, 1, "PCM_16", "wav"),
             (44100, 1, "PCM_16", "wav"), (44100, 2, "PCM_16", "wav"),
             (48000, 1, "PCM_16", "wav"), (44100, 1, "PCM_16", "flac")]
    for rate, channels, subtype, ext in cases:
        sound = synthetic_sound(seconds, rate)
        data = np.stack([sound] * channels, axis=1) if channels > 1 else sound
        path = folder / f"bench_{rate}_{channels}.{ext}"
        sf.write(path, data, rate, subtype=subtype)
        load = median_seconds(lambda: load_audio(path, max_seconds=None), runs)
        both = median_seconds(lambda: logmel(load_audio(path, max_seconds=None)), runs)
        label = f"{ext.upper()} {rate} Hz x{channels}"
        print(f"decode+resample {label:18s}: {seconds / load:7.0f}x real time;"
              f" with log-mel {seconds / both:7.0f}x")


def bench_corpus(folder: Path, runs: int) -> None:
    paths = sorted(folder.glob("*.wav"))
    if not paths:
        print(f"no .wav files in {folder}")
        return
    total = sum(sf.info(p).duration for p in paths)
    config = FeatureConfig()
    elapsed = median_seconds(lambda: [logmel(load_audio(p), config) for p in paths],
                             max(1, runs // 2))
    print(f"corpus {folder} ({len(paths)} files, {total:.0f} s): load + log-mel "
          f"{elapsed:.2f} s -> {total / elapsed:.0f}x real time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="length of the synthetic test signal")
    parser.add_argument("--runs", type=int, default=7, help="timed runs (median)")
    parser.add_argument("--emodb", type=Path, default=None,
                        help="also time a real corpus folder of WAV files")
    args = parser.parse_args()
    print(f"pyreparam feature benchmark: one thread, {pin_to_one_cpu()}, "
          f"median of {args.runs} runs")
    bench_logmel(args.seconds, args.runs)
    bench_logmel_int(args.seconds, args.runs)
    with tempfile.TemporaryDirectory() as folder:
        bench_decode(args.seconds, args.runs, Path(folder))
    if args.emodb is not None:
        bench_corpus(args.emodb, args.runs)


if __name__ == "__main__":
    main()
