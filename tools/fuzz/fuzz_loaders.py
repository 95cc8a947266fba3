"""atheris harness of the Python loaders: every input must end in a result or in the
loader's own error (PRQError, CheckpointError, InferenceError, ManifestError,
AudioError), never in another exception, a hang or a huge allocation.

The first byte of an input picks the target; the rest is the data:

    0  a .prq file (CRC-32 repaired, so parsing goes past the checksum), opened as
       ``infer`` opens it (pyreparam.infer.load_runner)
    1  the JSON metadata of a .prq: spliced into the seed model (sizes, CRC fixed)
    2  a checkpoint .npz file, opened as ``infer`` and ``eval`` open it
    3  a checkpoint's header.json text, in an otherwise valid tiny checkpoint
    4  one .npy member (a parameter) of a tiny checkpoint
    5  a CSV manifest (pyreparam.data.manifest.read_manifest)
    6  an audio file (decoding, checks, log-mel: pyreparam.data.cache.compute_features)

Run (tools/fuzz/run.sh does this):
    python tools/fuzz/fuzz_loaders.py tools/fuzz/corpus/python -max_total_time=60
Replay a corpus without fuzzing (tools/fuzz/coverage.sh measures its coverage):
    python tools/fuzz/fuzz_loaders.py --replay DIR...
Seeds: python tools/fuzz/make_seeds.py (writes tools/fuzz/corpus/); inputs that once
failed are kept there as regression seeds (5_regression_*), and tests/test_fuzz_seeds.py
replays every seed (and deterministic mutations of them) without atheris.
"""
from __future__ import annotations

import contextlib
import io
import os
import struct
import sys
import tempfile
import warnings
import zipfile
import zlib
from pathlib import Path

REPLAY = __name__ == "__main__" and sys.argv[1:2] == ["--replay"]
try:
    if REPLAY:                   # replaying a corpus (tools/fuzz/coverage.sh): no fuzzing
        raise ImportError
    import atheris
except ImportError:              # tests/test_fuzz_seeds.py replays the seeds without it
    atheris = None

with atheris.instrument_imports() if atheris else contextlib.nullcontext():
    import numpy as np
    from pyreparam.audio.decode import AudioError
    from pyreparam.audio.features import FeatureConfig
    from pyreparam.data.cache import compute_features
    from pyreparam.data.manifest import ManifestError, read_manifest
    from pyreparam.infer import InferenceError, load_runner
    from pyreparam.models import CheckpointError
    from pyreparam.quant.prq import PRQError

HERE = Path(__file__).resolve().parent
EXPECTED = (PRQError, CheckpointError, InferenceError, ManifestError, AudioError)
SCRATCH = Path(tempfile.mkdtemp(prefix="pyreparam-fuzz-", dir="/dev/shm"
                                if os.path.isdir("/dev/shm") else None))
FEATURES = FeatureConfig(n_mels=8)


def _seed(name: str) -> bytes:
    """A seed model the splicing targets start from (control byte stripped)."""
    return (HERE / "corpus" / "python" / name).read_bytes()[1:]


SEED_PRQ = _seed("0_model.prq")
SEED_NPZ = _seed("2_model.npz")
with zipfile.ZipFile(io.BytesIO(SEED_NPZ)) as _z:
    SEED_MEMBERS = {n: _z.read(n) for n in _z.namelist()}
PARAM = sorted(n for n in SEED_MEMBERS if n.startswith("param/"))[0]


def repair_crc(blob: bytes) -> bytes:
    if len(blob) < 8:
        return blob
    return blob[:-4] + struct.pack("<I", zlib.crc32(blob[:-4]) & 0xFFFFFFFF)


def splice_meta(meta: bytes) -> bytes:
    """The seed .prq with its metadata section replaced by ``meta``."""
    words = list(struct.unpack_from("<24I", SEED_PRQ))
    off = words[18]
    body = bytearray(SEED_PRQ[:off] + meta)
    body.extend(b"\0" * (-len(body) % 4))
    words[3], words[19] = len(body) + 4, len(meta)
    body[:96] = struct.pack("<24I", *words)
    return repair_crc(bytes(body) + b"\0\0\0\0")


def npz_with(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for member, content in SEED_MEMBERS.items():
            z.writestr(member, data if member == name else content)
    return out.getvalue()


def header_npy(text: bytes) -> bytes:
    out = io.BytesIO()
    np.save(out, np.array(text.decode("utf-8", errors="replace")))
    return out.getvalue()


def open_model(blob: bytes, suffix: str) -> None:
    path = SCRATCH / f"model{suffix}"
    path.write_bytes(blob)
    load_runner(path)


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    target, body = data[0] % 7, data[1:]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if target == 0:
                open_model(repair_crc(body), ".prq")
            elif target == 1:
                open_model(splice_meta(body), ".prq")
            elif target == 2:
                open_model(body, ".npz")
            elif target == 3:
                open_model(npz_with("header.json.npy", header_npy(body)), ".npz")
            elif target == 4:
                open_model(npz_with(PARAM, body), ".npz")
            elif target == 5:
                path = SCRATCH / "manifest.csv"
                path.write_bytes(body)
                read_manifest(path, check_files=False)
            else:
                compute_features(body, "fuzz.wav", FEATURES)
    except EXPECTED:
        pass


def main() -> None:
    if REPLAY:
        files = [f for folder in sys.argv[2:] for f in sorted(Path(folder).iterdir())]
        for path in files:
            TestOneInput(path.read_bytes())
        print(f"replayed {len(files)} inputs: no unexpected exception")
        return
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
