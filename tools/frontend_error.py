"""Feature error of the device's integer front end against the float one, on a corpus.

    python tools/frontend_error.py MANIFEST [--limit N] [--json PATH]

For every file of the manifest (or the first N): the audio as training decodes it
(16 kHz mono), the float log-mel features of `pyreparam train` (FeatureConfig's
defaults, ``frontend="float"``) and the integer ones of ``--frontend int``
(pyreparam.quant.qfrontend, bit-exact with the C front end ``pr_logmel_frame_s16``,
which first rounds the samples to 16-bit PCM). The error is given in the integer
output's unit, 1/256 of a natural-log unit (Q8 LSB): q - 256 f, over every cell
(frame x band) of every file, against the float features of the same float samples
("as trained") and of the same samples rounded to 16-bit PCM (the front end's own
error, without the input rounding). Not imported by the package.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from pyreparam.atomic import write_text
from pyreparam.audio.decode import load_audio
from pyreparam.audio.features import FeatureConfig, logmel
from pyreparam.data.manifest import read_manifest
from pyreparam.quant.qfrontend import pcm16


def errors(path: str, config: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """(q - 256 f) against the float samples and against the PCM-rounded samples."""
    signal = load_audio(path, sample_rate=config.sample_rate)
    q = 256.0 * logmel(signal, FeatureConfig(**{**config.to_dict(), "frontend": "int"}))
    f = logmel(signal, config).astype(np.float64)
    f_pcm = logmel(pcm16(signal).astype(np.float32) / 32768.0, config).astype(np.float64)
    n = min(len(q), len(f), len(f_pcm))
    return (q[:n] - 256.0 * f[:n]).ravel(), (q[:n] - 256.0 * f_pcm[:n]).ravel()


def summary(d: np.ndarray) -> dict:
    a = np.abs(d)
    return {"mean_abs": float(a.mean()), "rms": float(np.sqrt(np.mean(d * d))),
            "p99_abs": float(np.percentile(a, 99)), "max_abs": float(a.max()),
            "within_half": float(np.mean(a <= 0.5)), "mean": float(d.mean())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest")
    parser.add_argument("--limit", type=int, default=0, help="first N files (0: all)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    config = FeatureConfig()
    utterances = read_manifest(args.manifest)
    if args.limit:
        utterances = utterances[:args.limit]
    trained, own = [], []
    for u in utterances:
        a, b = errors(u.path, config)
        trained.append(a)
        own.append(b)
    result = {"files": len(utterances), "cells": int(sum(len(a) for a in trained)),
              "as_trained": summary(np.concatenate(trained)),
              "front_end_only": summary(np.concatenate(own))}
    print(f"{args.manifest}: {result['files']} files, {result['cells']:,} cells "
          f"(frames x {config.n_mels} bands); q - 256 f in Q8 LSB (1/256 nat)")
    print(f"{'against':<34}{'mean |e|':>9}{'rms':>8}{'p99 |e|':>9}{'max |e|':>9}"
          f"{'|e| <= 0.5':>12}{'mean e':>9}")
    for name, key in (("float samples (as trained)", "as_trained"),
                      ("samples rounded to 16-bit PCM", "front_end_only")):
        s = result[key]
        print(f"{name:<34}{s['mean_abs']:9.3f}{s['rms']:8.3f}{s['p99_abs']:9.2f}"
              f"{s['max_abs']:9.2f}{100 * s['within_half']:11.1f}%{s['mean']:9.3f}")
    if args.json:
        write_text(args.json, json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
