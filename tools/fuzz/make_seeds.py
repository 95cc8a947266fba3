"""Write the fuzzers' seed corpora (committed under tools/fuzz/corpus/; rerun after a
format change). Deterministic: the same files every time.

    corpus/prq/      tiny int8 models of the three backbones, device copies, with the
                     C harness's control byte 0x43 (repair the CRC and the size, run at
                     T_max)
    corpus/python/   one seed per target of fuzz_loaders.py, its first byte the
                     target: a .prq with host metadata, its metadata JSON, a tiny
                     checkpoint (and one with a statistics head), its header.json, one of its parameters as .npy, a
                     manifest, a WAV and a FLAC

Usage: python tools/fuzz/make_seeds.py [OUT_DIR]   (default tools/fuzz/corpus)
"""
from __future__ import annotations

import io
import json
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from make_prq_samples import TINY, sample  # noqa: E402

from pyreparam.atomic import make_folder, write_bytes  # noqa: E402
from pyreparam.audio.functionals import n_functionals  # noqa: E402
from pyreparam.data.normalize import Normalizer  # noqa: E402
from pyreparam.models.stats_head import StatsHead  # noqa: E402
from pyreparam.models import build_model, make_config, save_checkpoint  # noqa: E402
from pyreparam.quant.prq import write_prq  # noqa: E402
from pyreparam.quant.qhead import quantize_head, to_meta  # noqa: E402

T_MAX = 24
N_MELS = 8


def c_seeds(out: Path) -> None:
    for backbone, overrides in TINY.items():
        program, meta = sample(backbone, overrides, T_MAX)
        blob = write_prq(program, meta, host=False)
        write_bytes(out / f"{backbone}.prq", b"\x43" + blob)


def front_end() -> tuple[list[str], dict, Normalizer]:
    rng = np.random.default_rng(0)
    normalizer = Normalizer("causal")
    feats = [rng.normal(size=(30, N_MELS)) for _ in range(4)]
    normalizer.fit(feats, ["a", "a", "b", "b"])
    if not normalizer.has_prior:
        normalizer.fit_prior(feats, ["a", "a", "b", "b"])
    classes = ["anger", "happiness", "neutral", "sadness"]
    features = {"n_mels": N_MELS, "sample_rate": 16000}
    return classes, features, normalizer


def stats_head(n_classes: int) -> StatsHead:
    """A statistics head (train --stats-head) for the tiny checkpoint's front end."""
    rng = np.random.default_rng(1)
    D = n_functionals(N_MELS, N_MELS)
    rows = [rng.normal(size=(1, D)) for _ in range(4)]
    normalizer = Normalizer("causal", min_std=1e-3).fit(rows, ["a", "a", "b", "b"])
    return StatsHead(rng.normal(size=(n_classes, D)), rng.normal(size=n_classes),
                     normalizer, 0.5, N_MELS, 0.1)


def python_seeds(out: Path) -> None:
    classes, features, normalizer = front_end()
    program, meta = sample("convtransformer", dict(TINY["convtransformer"], n_mels=N_MELS),
                           T_MAX)
    meta = dict(meta, format="pyreparam-prq", classes=classes, t_max=T_MAX,
                feature_config=dict(features, **{"n_fft": 512}),
                normalizer={k: np.asarray(v).tolist() for k, v in normalizer.to_dict().items()},
                model_config=make_config("convtransformer", "light", n_classes=4,
                                         **dict(TINY["convtransformer"], n_mels=N_MELS)).to_dict())
    blob = write_prq(program, meta)
    write_bytes(out / "0_model.prq", b"\x00" + blob)
    words = struct.unpack_from("<24I", blob)
    write_bytes(out / "1_meta.json", b"\x01" + blob[words[18]:words[18] + words[19]])
    rows = np.random.default_rng(2).normal(size=(6, n_functionals(N_MELS, N_MELS)))
    head = quantize_head(stats_head(len(classes)), rows, N_MELS, meta["output"]["scale"])
    write_bytes(out / "0_model_head.prq", b"\x00" + write_prq(program, dict(
        meta, head=to_meta(head))))

    model = build_model(make_config("convtransformer", "light", n_classes=4, width=8,
                                    heads=2, ffn=6, layers=1, n_mels=N_MELS), 0)
    extra = {f"normalizer.{k}": v for k, v in normalizer.to_dict().items()}
    tmp = out / ".checkpoint.npz"
    save_checkpoint(tmp, model, meta={"classes": classes, "feature_config": features,
                                      "fold": {"train": ["a"], "validation": ["b"],
                                               "test": ["c"]}}, extra=extra)
    data = tmp.read_bytes()
    tmp.unlink()
    write_bytes(out / "2_model.npz", b"\x02" + data)
    save_checkpoint(tmp, model, meta={"classes": classes, "feature_config": features},
                    extra={**extra, **stats_head(len(classes)).to_extra()})
    write_bytes(out / "2_model_head.npz", b"\x02" + tmp.read_bytes())
    tmp.unlink()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        header = str(np.load(io.BytesIO(z.read("header.json.npy"))))
        param = z.read(sorted(n for n in z.namelist() if n.startswith("param/"))[0])
    write_bytes(out / "3_header.json", b"\x03" + json.dumps(json.loads(header)).encode())
    write_bytes(out / "4_param.npy", b"\x04" + param)
    write_bytes(out / "5_manifest.csv", b"\x05" + b"path,label,speaker,session,gender\n"
                b"a/1.wav,anger,s1,,f\n/abs/2.flac,Neutral ,s2,x,m\n\"q,3.wav\",sad,s1,,\n")
    t = np.arange(1600) / 16000
    x = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    for i, (fmt, subtype) in enumerate((("WAV", "PCM_16"), ("FLAC", "PCM_16"))):
        buf = io.BytesIO()
        sf.write(buf, x[:800 * (i + 1)], 16000 if i == 0 else 8000, format=fmt,
                 subtype=subtype)
        write_bytes(out / f"6_audio{i}.{fmt.lower()}", b"\x06" + buf.getvalue())


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "corpus"
    c_seeds(make_folder(out / "prq"))
    python_seeds(make_folder(out / "python"))
    for folder in ("prq", "python"):
        files = sorted((out / folder).iterdir())
        print(f"{out / folder}: {len(files)} seeds, {sum(f.stat().st_size for f in files):,} "
              "bytes")


if __name__ == "__main__":
    main()
