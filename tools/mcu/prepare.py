"""Models and inputs for the Cortex-M harness, with the logits they must produce.

For each light backbone, the documented command-line workflow (the commands are
also written to OUT/commands.txt):

    pyreparam data synth OUT/corpus --speakers 2 --per-class 4
    pyreparam init --backbone B --hrf 4 --classes 4 -o OUT/B/init.npz
    pyreparam merge OUT/B/init.npz OUT/B/merged.npz
    pyreparam quantize OUT/B/merged.npz --calib OUT/corpus/manifest.csv --n 32 -o OUT/B/model.prq
    pyreparam export OUT/B/model.prq --c-header OUT/B/model.h --name pr_model_blob

i.e. randomly initialized weights in the training form (HRF factors r = 4 before each
FFN), folded (deHRF) and quantized with MSE calibration on the features of 32
synthetic utterances. A trained .prq can replace any of them (``--prq B=PATH``).

(``pyreparam quantize`` fits the causal normalization's prior on the calibration
speakers' audio, as it does for any model that has none.)

Inputs: utterances of the synthetic corpus of different lengths (the longest, cut
to T_max, then shorter ones), as the device's front end delivers them: log-mel frames
in int16 Q8, written to OUT/B/inputs.h. The device normalizes them causally (the state
starts empty; the inputs are one speaker's utterances in this order). The expected
int8 logits and the state's CRC after each utterance come from the host C runtime
(cffi: pr_norm_* and pr_model_run) and from the NumPy integer reference; both must
agree before anything runs on a device. OUT/B/expected.json holds them with the MACs
of each input.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from pyreparam.atomic import write_text
from pyreparam.audio.decode import load_audio
from pyreparam.audio.features import frame_features
from pyreparam.data.manifest import read_manifest
from pyreparam.quant import workflow as wf
from pyreparam.quant.inspect import op_macs
from pyreparam.quant.program import OP_LOOP
from pyreparam.quant.deploy import Int8Scorer
from pyreparam.quant.prq import load_prq
from pyreparam.quant.qcausal import quantize_features

BACKBONES = ("convtransformer", "conformer", "speechformer")
MODEL_NAME = "pr_model_blob"   # C identifier of the exported array (link.ld's .model)


def add_common_options(p, out: Path) -> None:
    """The options tools/mcu/mcu.py and tools/aarch64/aarch64.py share (argparse)."""
    p.add_argument("--out", type=Path, default=out,
                   help=f"work folder (models, builds, logs) [build/{out.name}]")
    p.add_argument("--models", default=",".join(BACKBONES),
                   help="backbones, comma-separated [all three]")


def add_run_options(p) -> None:
    """The shared options after the harness's own target/variant option."""
    p.add_argument("--inputs", type=int, default=3, help="inputs per model [3]")
    p.add_argument("--max-seconds", type=float, default=3.0,
                   help="T_max of the models, seconds [3.0]")
    p.add_argument("--prq", action="append", default=[], metavar="BACKBONE=PATH",
                   help="use this (trained) .prq instead of a fresh one")
    p.add_argument("--pitch", default="", metavar="BACKBONES",
                   help="backbones (comma-separated) whose fresh model has the two pitch "
                        "channels (pyreparam init --pitch): the inputs and the stream then "
                        "carry the integer pitch track")
    p.add_argument("--reuse", action="store_true",
                   help="keep the models and inputs of an earlier run in --out")
    p.add_argument("--no-verify-counts", action="store_true",
                   help="skip the plugin-vs-trace verification of the counts")
    p.add_argument("--profile", action="store_true",
                   help="print instructions per function for the longest input")


def pyreparam(args: list, log: list[str]) -> str:
    """Run one `pyreparam` command in a fresh interpreter; its stdout."""
    log.append("pyreparam " + " ".join(str(a) for a in args))
    cmd = [sys.executable, "-P", "-c", "from pyreparam.cli import main; main()", *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{log[-1]} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def synth_corpus(out: Path, log: list[str]) -> Path:
    manifest = out / "corpus" / "manifest.csv"
    if not manifest.is_file():
        pyreparam(["data", "synth", out / "corpus", "--speakers", 2, "--per-class", 4,
                   "--seed", 0], log)
    return manifest


def make_model(backbone: str, folder: Path, manifest: Path, max_seconds: float,
               log: list[str], pitch: bool = False) -> Path:
    """init (HRF r = 4, with --pitch the pitch channels) -> merge -> quantize; the .prq
    path."""
    folder.mkdir(parents=True, exist_ok=True)
    pyreparam(["init", "--backbone", backbone, "--hrf", 4, "--classes", 4, "--seed", 0,
               *(["--pitch"] if pitch else []), "-o", folder / "init.npz"], log)
    pyreparam(["merge", folder / "init.npz", folder / "merged.npz"], log)
    prq = folder / "model.prq"
    pyreparam(["quantize", folder / "merged.npz", "--calib", manifest, "--n", 32,
               "--max-seconds", max_seconds, "--cache", "none", "--json", "-o", prq], log)
    return prq


def pick_utterances(manifest: Path, n: int) -> list[Path]:
    """n utterances spread over the corpus's durations, the longest first."""
    paths = [Path(u.path) for u in read_manifest(manifest)]
    sizes = np.array([p.stat().st_size for p in paths])
    order = np.argsort(-sizes, kind="stable")
    picks = np.unique(np.round(np.linspace(0, len(order) - 1, n)).astype(int))
    return [paths[order[i]] for i in picks]


def input_features(meta: dict, wav: Path, t_max: int) -> np.ndarray:
    """int16 Q8 (T, M) log-mel features of one file (cut to t_max frames; with the
    model's pitch channels after them), before normalization: what the device's front
    end hands to pr_norm_apply_s16_s8."""
    fc = wf.frontend_from_meta(meta).feature_config
    feats = frame_features(load_audio(wav, sample_rate=fc.sample_rate), fc)[:t_max]
    return quantize_features(feats)


def macs_at(program, T: int) -> int:
    """Multiply-accumulates of one inference of T frames."""
    lens = program.lengths_for(T)
    total, loop_rows, loop_end = 0, None, -1
    for i, op in enumerate(program.ops):
        if i > loop_end:
            loop_rows = None
        if op.type == OP_LOOP:
            loop_rows, loop_end = lens[op.fields["len_id"]], i + op.fields["n_body"]
        total += op_macs(program, op, lens, loop_rows)
    return total


def expected_outputs(prq: Path, inputs: list[np.ndarray]) -> tuple[list, list]:
    """The host C path's int8 logits and state CRCs (causal normalization from an empty
    state, then the model, per input in order), checked equal to the NumPy
    reference's."""
    program, meta, blob = load_prq(prq)
    host = Int8Scorer(program, meta, blob, use_c=True)
    ref = Int8Scorer(program, meta, blob, use_c=False)
    logits, crcs = [], []
    s_host, s_ref = host.new_state(), ref.new_state()
    for i, x in enumerate(inputs):
        raw = x.astype(np.float64) / 256.0               # quantize_features gives x back
        (l_host, s_host), (l_ref, s_ref) = host.step(s_host, raw), ref.step(s_ref, raw)
        if not np.array_equal(l_host, l_ref) or s_host != s_ref:
            raise RuntimeError(f"{prq}: input {i}: host C and NumPy disagree")
        q = np.round(l_host / host.output_scale + host.output_zero_point).astype(int)
        logits.append(q.tolist())
        crcs.append(int.from_bytes(s_host[20:24], "little"))
    return logits, crcs


def c_array(name: str, x: np.ndarray) -> list[str]:
    flat = x.reshape(-1)
    lines = [f"static const int16_t {name}[{flat.size}] = {{"]
    for i in range(0, flat.size, 24):
        lines.append("    " + ", ".join(str(int(v)) for v in flat[i:i + 24]) + ",")
    return lines + ["};", ""]


def write_inputs_h(path: Path, inputs: list[np.ndarray], sources: list[str]) -> None:
    n = len(inputs)
    lines = ["/* Input features for tools/mcu/main.c, written by tools/mcu/prepare.py:",
             *[f" *   {i}: {s}, {x.shape[0]} frames" for i, (s, x) in
               enumerate(zip(sources, inputs))], " */",
             "#include <stdint.h>", "", f"#define MCU_N_INPUTS {n}", "",
             f"static const int32_t mcu_input_frames[MCU_N_INPUTS] = "
             f"{{{', '.join(str(x.shape[0]) for x in inputs)}}};", ""]
    for i, x in enumerate(inputs):
        lines += c_array(f"mcu_input_{i}", x)
    lines.append("static const int16_t *const mcu_inputs[MCU_N_INPUTS] = {"
                 + ", ".join(f"mcu_input_{i}" for i in range(n)) + "};")
    write_text(path, "\n".join(lines) + "\n")


def prepare_model(backbone: str, out: Path, manifest: Path, n_inputs: int,
                  max_seconds: float, prq: Path | None, log: list[str],
                  pitch: bool = False) -> dict:
    """Model, export, inputs and expected logits of one backbone in OUT/backbone."""
    folder = out / backbone
    folder.mkdir(parents=True, exist_ok=True)
    weights = f"given: {prq}" if prq is not None else \
        ("pyreparam init (HRF r=4" + (", pitch channels" if pitch else "")
         + ") + merge; MSE calibration on 32 synthetic utterances")
    if prq is None:
        prq = make_model(backbone, folder, manifest, max_seconds, log, pitch)
    elif prq.resolve() != (folder / "model.prq").resolve():
        shutil.copyfile(prq, folder / "model.prq")
        prq = folder / "model.prq"
    pyreparam(["export", prq, "--c-header", folder / "model.h", "--name", MODEL_NAME], log)
    if "_NORM_PARAMS" not in (folder / "model.h").read_text():
        raise RuntimeError(f"{prq} has no causal-normalization prior (quantized by an "
                           "older version): quantize it again")
    program, meta, _ = load_prq(prq)
    wavs = pick_utterances(manifest, n_inputs)
    inputs = [input_features(meta, w, program.t_max) for w in wavs]
    write_inputs_h(folder / "inputs.h", inputs, [w.name for w in wavs])
    record = {"backbone": backbone, "prq": str(prq), "t_max": program.t_max,
              "weights": weights, "pitch": bool(meta["feature_config"].get("pitch", False)),
              "inputs": [{"source": w.name, "frames": int(x.shape[0]),
                          "macs": macs_at(program, x.shape[0])}
                         for w, x in zip(wavs, inputs)],
              }
    record["expected"], record["expected_state_crc"] = expected_outputs(prq, inputs)
    write_text(folder / "expected.json", json.dumps(record, indent=1) + "\n")
    return record


def prepare(out: Path, backbones: list[str], n_inputs: int = 3, max_seconds: float = 3.0,
            given: dict[str, Path] | None = None, pitch: frozenset = frozenset()
            ) -> list[dict]:
    """Everything the firmware builds need, for each backbone (fresh models of those in
    ``pitch`` with the pitch channels); the records."""
    out.mkdir(parents=True, exist_ok=True)
    log: list[str] = []
    manifest = synth_corpus(out, log)
    records = []
    for backbone in backbones:
        records.append(prepare_model(backbone, out, manifest, n_inputs, max_seconds,
                                     (given or {}).get(backbone), log, backbone in pitch))
    write_text(out / "commands.txt", "\n".join(log) + "\n")
    return records


def prepared(args) -> list[dict]:
    """The records of a harness's parsed options (out, models, inputs, max_seconds, prq,
    pitch, reuse): those of an earlier run with --reuse when all exist (fresh models
    with the pitch channels asked for), else prepare()."""
    pitch = frozenset(b for b in args.pitch.split(",") if b)
    unknown = pitch - set(BACKBONES)
    if unknown:
        raise SystemExit(f"--pitch: unknown backbone(s) {', '.join(sorted(unknown))}")
    given = {}
    for item in args.prq:
        backbone, _, path = item.partition("=")
        given[backbone] = Path(path)
    files = [args.out / m / "expected.json" for m in args.models]
    if args.reuse and all(f.is_file() for f in files):
        records = [json.loads(f.read_text()) for f in files]
        if all(r.get("pitch", False) == (r["backbone"] in pitch) or r["backbone"] in given
               for r in records):
            return records
    return prepare(args.out, args.models, args.inputs, args.max_seconds, given, pitch)
