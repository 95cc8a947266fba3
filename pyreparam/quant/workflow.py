"""Quantization workflow behind ``pyreparam quantize / infer / export / inspect``.

Library functions only (the CLI in :mod:`pyreparam.cli.quant` parses options and
prints): load a merged checkpoint with its front end, load and normalize the
calibration / evaluation utterances exactly as training did, calibrate and lower,
report the per-layer error and float vs int8 accuracy, and describe a .prq.
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence

import numpy as np

from pyreparam.audio.features import FeatureConfig
from pyreparam.data.cache import load_features
from pyreparam.data.manifest import read_manifest
from pyreparam.data.normalize import Normalizer
from pyreparam.infer import Frontend
from pyreparam.models import Model, load_checkpoint_with_meta
from pyreparam.models.cost import FRAMES_PER_SECOND
from pyreparam.quant.backbones import QuantizeError, build_graph, check_mergeable
from pyreparam.quant.calibrate import DEFAULT_METHOD, DEFAULT_PERCENTILE, calibrate
from pyreparam.quant.graph import Graph, run_float
from pyreparam.quant.lower import ARENA_BUDGET, DEFAULT_BLOCK, lower
from pyreparam.quant.program import (
    DTYPES, KIND_ARENA, KIND_CONST, OP_CONV1D, OP_DWCONV, OP_LINEAR, OP_LOOP,
    OP_MHA, OP_NAMES, OP_TENSORS, Program, flash_bytes)
from pyreparam.quant.prq import FORMAT, write_prq
from pyreparam.quant.qmodel import quantize_input, run_program
from pyreparam.train.batching import predict_logits
from pyreparam.train.metrics import classification_report


@dataclasses.dataclass
class LoadedModel:
    """A merged model, its front end and a note when the front end is a default."""

    model: Model
    frontend: Frontend
    note: str | None


def load_float(path) -> LoadedModel:
    """A checkpoint and its front end (FeatureConfig defaults and per-utterance
    normalization when the checkpoint has none, e.g. from ``pyreparam init``)."""
    model, meta, extra = load_checkpoint_with_meta(path)
    if "classes" in meta and "feature_config" in meta:
        return LoadedModel(model, Frontend.from_checkpoint(meta, extra, path), None)
    frontend = Frontend(FeatureConfig(n_mels=model.config.n_mels), Normalizer("utterance"),
                        [f"class{i}" for i in range(model.config.n_classes)])
    note = (f"{path} has no front end (not written by `pyreparam train`): using the "
            f"default features ({model.config.n_mels} mels) and per-utterance "
            "normalization; classes are named class0..")
    return LoadedModel(model, frontend, note)


def load_merged(path) -> LoadedModel:
    """:func:`load_float` of a merged model; QuantizeError for one with HRF factors."""
    loaded = load_float(path)
    check_mergeable(loaded.model)
    return loaded


def ensure_prior(loaded: LoadedModel, manifest, cache=None, on_error: str = "fail"
                 ) -> str | None:
    """Give the front end a causal-normalization prior when it has none (a checkpoint
    from ``pyreparam init`` or from before causal normalization existed): fitted on the
    unlabelled audio of the manifest's speakers (the calibration speakers, i.e.
    training speakers). Returns a note for the user, or None when nothing was done."""
    normalizer = loaded.frontend.normalizer
    if normalizer.has_prior:
        return None
    utterances = read_manifest(manifest)
    raw, kept, _ = load_features(utterances, loaded.frontend.feature_config, cache, on_error)
    if not raw:
        return None
    normalizer.fit_prior(raw, [u.speaker for u in kept])
    return (f"the model has no causal-normalization prior; fitted one on the "
            f"{len(raw)} calibration utterances of {len({u.speaker for u in kept})} "
            "speaker(s) (unlabelled audio)")


@dataclasses.dataclass
class Utterances:
    """Normalized features (cut to T_max frames), labels (class index or -1), paths;
    ``whole``: the same features uncut (what training and ``eval`` give the float
    model), ``frames``: each file's length in frames."""

    features: list[np.ndarray]
    labels: np.ndarray
    paths: list[str]
    n_cut: int
    whole: list[np.ndarray] | None = None
    frames: list[int] | None = None

    def cut_files(self, t_max: int) -> list[tuple[str, int]]:
        """(path, frames) of every file longer than t_max frames."""
        return [(p, n) for p, n in zip(self.paths, self.frames or []) if n > t_max]


def load_utterances(manifest, frontend: Frontend, t_max: int, cache=None,
                    on_error: str = "fail") -> Utterances:
    """Features of every utterance of a manifest, normalized as in training, each cut to
    its first t_max frames. Labels outside the model's classes become -1."""
    utterances = read_manifest(manifest)
    features, kept, _ = load_features(utterances, frontend.feature_config, cache, on_error)
    features = frontend.normalize(features, [u.speaker for u in kept])
    frames = [int(f.shape[0]) for f in features]
    n_cut = sum(n > t_max for n in frames)
    cut = [np.ascontiguousarray(f[:t_max]) for f in features]
    labels = np.array([frontend.classes.index(u.label) if u.label in frontend.classes else -1
                       for u in kept], dtype=np.int64)
    return Utterances(cut, labels, [u.path for u in kept], n_cut, features, frames)


def pick(utterances: Utterances, n: int, seed: int = 0) -> list[np.ndarray]:
    """n utterances drawn without replacement (all when there are fewer)."""
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(utterances.features))[:n]
    return [utterances.features[i] for i in sorted(idx)]


def quantize_model(model: Model, calib: list[np.ndarray], t_max: int,
                   method: str = DEFAULT_METHOD, percentile: float = DEFAULT_PERCENTILE,
                   block: int = DEFAULT_BLOCK, arena_budget: int = ARENA_BUDGET
                   ) -> tuple[Graph, dict, Program]:
    """(float graph, scales and zero points, integer program) of a merged model.

    ``arena_budget`` (bytes) bounds how much the attention schedules may grow the
    arena for speed; 0 keeps the least-memory schedules."""
    graph = build_graph(model)
    qparams = calibrate(graph, calib, method, percentile)
    bad = sorted(name for name, (scale, _) in qparams.items()
                 if not (math.isfinite(scale) and scale > 0))
    if bad:
        raise QuantizeError(f"calibration gave no finite range for {', '.join(bad[:5])} "
                            "(the model overflows on the calibration audio?)")
    return graph, qparams, lower(graph, qparams, t_max, block, arena_budget)


def host_meta(loaded: LoadedModel, qparams: dict, t_max: int, calibration: dict) -> dict:
    """The JSON metadata a .prq carries for the host."""
    fe = loaded.frontend
    normalizer = {k: np.asarray(v).tolist() for k, v in fe.normalizer.to_dict().items()}
    return {
        "format": FORMAT,
        "classes": list(fe.classes),
        "feature_config": fe.feature_config.to_dict(),
        "normalizer": normalizer,
        "input": {"scale": float(qparams["input"][0]), "zero_point": int(qparams["input"][1])},
        "output": {"scale": float(qparams["logits"][0]),
                   "zero_point": int(qparams["logits"][1])},
        "t_max": int(t_max),
        "model_config": loaded.model.config.to_dict(),
        "merged_from": loaded.model.merged_from,
        "calibration": calibration,
        "training_speakers": list(fe.training_speakers),
    }


def frontend_from_meta(meta: dict) -> Frontend:
    """The front end stored in a .prq's metadata."""
    state = {k: np.asarray(v) for k, v in meta["normalizer"].items()}
    return Frontend(FeatureConfig.from_dict(meta["feature_config"]),
                    Normalizer.from_dict(state), list(meta["classes"]),
                    tuple(meta.get("training_speakers", ())))


# --------------------------------------------------------------------------- reports

def _rel_rms(num: float, den: float) -> float:
    """sqrt(num / den), inf when either is not finite (never a NaN that compares as
    small), 0 for an all-zero reference."""
    if not (math.isfinite(num) and math.isfinite(den)):
        return math.inf
    return math.sqrt(num / den) if den > 0 else (0.0 if num == 0 else math.inf)


def error_table(graph: Graph, program: Program, qparams: dict,
                features: Sequence[np.ndarray]) -> list[dict]:
    """Per-value error of the int8 program against the float graph over utterances.

    Relative RMS = sqrt(sum (deq - float)^2 / sum float^2) pooled over all elements
    of all utterances; also the largest absolute error in units of the value's scale.
    """
    num: dict[str, float] = {}
    den: dict[str, float] = {}
    worst: dict[str, float] = {}
    for x in features:
        env = run_float(graph, x)
        _, values = run_program(program, quantize_input(x, *qparams["input"]), collect=True)
        for name, v in values.items():
            if name in env:
                d = v - env[name]
                num[name] = num.get(name, 0.0) + float(np.sum(d * d))
                den[name] = den.get(name, 0.0) + float(np.sum(env[name] ** 2))
                err = float(np.abs(d).max())          # NaN-safe: a NaN error is inf
                worst[name] = max(worst.get(name, 0.0), err if err == err else math.inf)
    rows = []
    order = [n.name for n in graph.nodes]
    for node in graph.nodes:
        if node.kind == "mha":
            order[order.index(node.name):order.index(node.name)] = \
                [f"{node.name}.{p}" for p in "qkv"]
    for name in order:
        if name not in num:
            continue
        scale, zp = qparams.get(name, (float("nan"), 0))
        value = graph.values[name]
        rows.append({"name": name, "dtype": "int16" if value.role == "s16" else "int8",
                     "scale": float(scale), "zero_point": int(zp),
                     "rel_rms": _rel_rms(num[name], den[name]),
                     "max_err_lsb": worst[name] / scale if scale > 0 else float("nan")})
    return rows


def int8_logits(program: Program, blob: bytes | None, features, qparams) -> np.ndarray:
    """int8 logits (n, N) of every utterance: the C runner when built, else NumPy."""
    from pyreparam import native
    if blob is not None and native.available():
        from pyreparam.quant.runtime import PRQModel
        runner = PRQModel(blob).run
    else:
        runner = lambda x: run_program(program, x)
    return np.stack([runner(quantize_input(x, *qparams["input"])) for x in features])


def evaluate(model: Model, program: Program, blob: bytes | None, qparams: dict,
             utterances: Utterances) -> dict:
    """WA / UA / macro-F1 of the float model and of the int8 program on the utterances
    with known labels, and how often their predictions agree.

    The one length policy: the float model sees each whole file, as in training and
    ``eval`` ("float"), the int8 program its first T_max frames ("int8"); with files
    longer than T_max, "float_cut" is the float model on the same cut files as int8
    (the agreement compares those two)."""
    keep = utterances.labels >= 0
    feats = [f for f, k in zip(utterances.features, keep) if k]
    labels = utterances.labels[keep]
    n_classes = model.config.n_classes
    cut_pred = np.argmax(predict_logits(model, feats), axis=1)
    int8_pred = np.argmax(int8_logits(program, blob, feats, qparams), axis=1)
    report = {"float": classification_report(labels, cut_pred, n_classes),
              "int8": classification_report(labels, int8_pred, n_classes),
              "agreement": float(np.mean(cut_pred == int8_pred)), "n": int(keep.sum())}
    if utterances.whole is not None and any(
            len(w) > len(f) for w, f, k in zip(utterances.whole, utterances.features, keep)
            if k):
        whole = [w for w, k in zip(utterances.whole, keep) if k]
        report["float_cut"] = report["float"]
        report["float"] = classification_report(
            labels, np.argmax(predict_logits(model, whole), axis=1), n_classes)
    return report


# --------------------------------------------------------------------------- inspect

def op_macs(program: Program, op, lens: list[int], loop_rows: int | None = None) -> int:
    """Multiply-accumulates of one op at the given run-time lengths (inside a row loop,
    a per-block buffer stands for all loop_rows rows)."""
    t = program.tensors
    f = op.fields

    def rows(i: int) -> int:
        if t[i].len_id >= 0:
            return lens[t[i].len_id]
        return loop_rows if loop_rows is not None else t[i].rows

    if op.type == OP_LINEAR:
        return rows(f["y"]) * t[f["w"]].rows * t[f["w"]].cols
    if op.type == OP_CONV1D:
        return rows(f["y"]) * t[f["w"]].rows * t[f["w"]].cols
    if op.type == OP_DWCONV:
        return rows(f["y"]) * t[f["w"]].rows * t[f["w"]].cols
    if op.type == OP_MHA:
        T, C = rows(f["x"]), t[f["x"]].cols
        keys = min(f["window"], T) if f["window"] else T
        return 3 * T * C * C + 2 * T * keys * C
    return 0


def describe(program: Program, meta: dict, blob_bytes: int) -> dict:
    """What ``inspect`` prints: ops with shapes at T_max, flash (the bytes of the
    device copy: program, constants and the scales, no host metadata), arena, MACs/s."""
    lens = program.lengths_for(program.t_max)
    names = [r["name"] if r else None for r in meta.get("values", [None] * len(program.ops))]
    ops = []
    loop_rows, loop_end = None, -1
    for i, op in enumerate(program.ops):
        if i > loop_end:
            loop_rows = None
        if op.type == OP_LOOP:
            loop_rows, loop_end = lens[op.fields["len_id"]], i + op.fields["n_body"]
        shapes = {}
        for field in OP_TENSORS[op.type]:
            ref = op.fields[field]
            if ref < 0:
                continue
            tensor = program.tensors[ref]
            rows = lens[tensor.len_id] if tensor.len_id >= 0 else tensor.rows
            if loop_rows is not None and tensor.len_id < 0 and tensor.kind == KIND_ARENA:
                rows = loop_rows                  # a per-block buffer: all rows over time
            shapes[field] = [rows, tensor.cols, DTYPES[tensor.dtype].name]
        extra = {"n_body": op.fields["n_body"], "block": op.fields["block"]} \
            if op.type == OP_LOOP else {}
        ops.append({"index": i, "op": OP_NAMES[op.type],
                    "value": names[i] if i < len(names) else None, "tensors": shapes,
                    "macs": op_macs(program, op, lens, loop_rows), **extra})
    flash = flash_bytes(program)
    const = sum(t.nbytes for t in program.tensors if t.kind == KIND_CONST)
    macs = sum(o["macs"] for o in ops)
    seconds = program.t_max / FRAMES_PER_SECOND
    return {"t_max": program.t_max, "seconds": seconds, "n_ops": len(program.ops),
            "n_tensors": len(program.tensors), "arena_bytes": program.arena_bytes,
            "arena_tensors": sum(t.kind == KIND_ARENA for t in program.tensors),
            "const_bytes": const, "const_breakdown": flash,
            "file_bytes": blob_bytes, "flash_bytes": len(device_blob(program, meta)),
            "macs": macs, "macs_per_second": int(round(macs / seconds)),
            "classes": meta.get("classes"), "model_config": meta.get("model_config"),
            "ops": ops}


# --------------------------------------------------------------------------- export

def c_identifier(name: str) -> str:
    out = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)
    return out if out and not out[0].isdigit() else f"m_{out}"


def device_blob(program: Program, meta: dict) -> bytes:
    """The .prq a device stores: the same program with the host metadata reduced to
    the scales (the classes and feature settings go into the C header instead)."""
    return write_prq(program, {"format": FORMAT, "input": meta["input"],
                               "output": meta["output"]}, host=False)


def c_header(blob: bytes, meta: dict, name: str, arena_bytes: int, t_max: int,
             source: str) -> str:
    """A firmware header: the model as an aligned const byte array and its sizes."""
    N = name.upper()
    classes = meta.get("classes") or []
    lines = [f"/* {name}: int8 model generated by `pyreparam export` from {source}.",
             f" * {len(blob)} bytes; run it with pr_model_check / pr_model_run",
             " * (csrc/pyreparam.h) over an arena of "
             f"{N}_ARENA_BYTES bytes. real = scale (q - zero_point). */",
             f"#ifndef {N}_H", f"#define {N}_H", "", "#include <stdint.h>", "",
             f"#define {N}_BYTES {len(blob)}",
             f"#define {N}_ARENA_BYTES {arena_bytes}",
             f"#define {N}_T_MAX {t_max}",
             f"#define {N}_INPUT_COLS {meta['model_config']['n_mels']}",
             f"#define {N}_OUTPUT_COLS {meta['model_config']['n_classes']}",
             f"#define {N}_INPUT_SCALE {meta['input']['scale']!r}",
             f"#define {N}_INPUT_ZERO_POINT ({meta['input']['zero_point']})",
             f"#define {N}_OUTPUT_SCALE {meta['output']['scale']!r}",
             f"#define {N}_OUTPUT_ZERO_POINT ({meta['output']['zero_point']})", "",
             "#if defined(__GNUC__) || defined(__clang__)",
             f"#define {N}_ALIGN __attribute__((aligned(16)))", "#else",
             f"#define {N}_ALIGN /* align to 4 bytes at least with your compiler */",
             "#endif", ""]
    lines += _norm_header_lines(meta, name)
    if classes:
        quoted = ", ".join('"' + c.replace('"', "'") + '"' for c in classes)
        lines.append(f"static const char *const {name}_classes[{N}_OUTPUT_COLS] = "
                     f"{{{quoted}}};")
        lines.append("")
    lines.append(f"static const uint8_t {name}[{N}_BYTES] {N}_ALIGN = {{")
    for i in range(0, len(blob), 16):
        lines.append("    " + ", ".join(f"0x{b:02x}" for b in blob[i:i + 16]) + ",")
    lines += ["};", "", f"#endif /* {N}_H */", ""]
    return "\n".join(lines)


def _norm_header_lines(meta: dict, name: str) -> list[str]:
    """The causal normalization's constants (pr_norm_apply_s16_s8), when the model has
    a prior: NAME_NORM_PARAMS initializes a pr_norm_params."""
    from pyreparam.quant.deploy import DeployError, norm_params_from_meta
    from pyreparam.quant.qcausal import FEATURE_FRAC_BITS, state_bytes
    try:
        p = norm_params_from_meta(meta)
    except (DeployError, KeyError):
        return []
    N, M = name.upper(), len(p.prior_mean)
    as_list = lambda a: ", ".join(str(int(v)) for v in a)
    return [
        "/* Causal speaker normalization (pr_norm_*): features are int16 log-mel in Q"
        f"{FEATURE_FRAC_BITS}",
        f" * (round(256 x)); the device keeps a state of {N}_NORM_STATE_BYTES bytes. */",
        f"#define {N}_NORM_BANDS {M}",
        f"#define {N}_NORM_STATE_BYTES {state_bytes(M)}",
        f"#define {N}_NORM_PARAMS {{{M}, {p.prior_weight}, {p.var_floor}, {p.multiplier}, "
        f"{p.shift}, {p.zero_point}}}",
        f"static const int32_t {name}_norm_prior_mean[{M}] = {{{as_list(p.prior_mean)}}};",
        f"static const int32_t {name}_norm_prior_var[{M}] = {{{as_list(p.prior_var)}}};", ""]


def c_example_main(name: str, header_file: str, has_classes: bool,
                   causal: bool = False) -> str:
    """A small host/firmware program running inferences through the runtime: one on a
    constant input, or (``causal``) three utterances of one speaker through the causal
    normalization state, as a device hears them."""
    if causal:
        return _c_example_causal(name, header_file, has_classes)
    N = name.upper()
    classes_expr = f'" ", {name}_classes[best]' if has_classes else '"", ""'
    return f"""/* One inference of {name} through the pyreparam C runtime (example).
 * Build on the host: gcc -std=c99 -O2 -I<pyreparam>/csrc main.c plus every .c file of
 * <pyreparam>/csrc (or link the libpyreparam.a of tools/build_c.sh). Input: frames of
 * int8 features at {N}_INPUT_SCALE / {N}_INPUT_ZERO_POINT; here every frame is the
 * real value 0. */
#include <stdio.h>

#include "pyreparam.h"
#include "{header_file}"

static uint8_t arena[{N}_ARENA_BYTES + 4] {N}_ALIGN;
static int8_t input[{N}_T_MAX * {N}_INPUT_COLS];

int main(void)
{{
    pr_model_info info;
    int8_t logits[{N}_OUTPUT_COLS];
    int32_t i, best = 0;
    pr_status st = pr_model_check({name}, {N}_BYTES, &info);
    if (st != PR_OK) {{
        printf("model check failed: status %d\\n", (int)st);
        return 1;
    }}
    for (i = 0; i < {N}_T_MAX * {N}_INPUT_COLS; ++i) {{
        input[i] = (int8_t){N}_INPUT_ZERO_POINT;
    }}
    st = pr_model_run({name}, {N}_BYTES, input, {N}_T_MAX, logits, arena, sizeof arena);
    if (st != PR_OK) {{
        printf("model run failed: status %d\\n", (int)st);
        return 1;
    }}
    printf("arena %d bytes, flash %d bytes\\nlogits:", (int)info.arena_bytes,
           (int)info.flash_bytes);
    for (i = 0; i < {N}_OUTPUT_COLS; ++i) {{
        printf(" %d", (int)logits[i]);
        if (logits[i] > logits[best]) {{
            best = i;
        }}
    }}
    printf("\\nclass %d%s%s\\n", (int)best, {classes_expr});
    return 0;
}}
"""


#: The example's synthetic log-mel frame t of utterance u, band m, in Q8 around the
#: prior mean (the same formula in Python: :func:`example_features`).
EXAMPLE_FRAMES = 120


def example_features(prior_mean_q16: np.ndarray, utterance: int, t_max: int) -> np.ndarray:
    """int16 (min(EXAMPLE_FRAMES, t_max), M) features the causal example main.c feeds
    its model."""
    M = len(prior_mean_q16)
    t = np.arange(min(EXAMPLE_FRAMES, t_max))[:, None]
    m = np.arange(M)[None, :]
    wobble = ((t * (7 + utterance) + m * 13 + 31 * utterance) % 401) - 200   # +-0.8 in Q8
    base = np.asarray(prior_mean_q16, dtype=np.int64)[None, :] >> 8
    return np.clip(base + wobble + 64 * utterance, -32768, 32767).astype(np.int16)


def _c_example_causal(name: str, header_file: str, has_classes: bool) -> str:
    N = name.upper()
    classes_expr = f'" ", {name}_classes[best]' if has_classes else '"", ""'
    return f"""/* Three utterances of one speaker through {name}, as a device hears them
 * (example): causal speaker normalization (pr_norm_*: the state starts empty, so the
 * first utterance is normalized with the training prior alone, later ones with what
 * the device has heard), then the model (pr_model_run), then the state update.
 * Build on the host: gcc -std=c99 -O2 -I<pyreparam>/csrc main.c plus every .c file of
 * <pyreparam>/csrc (or link the libpyreparam.a of tools/build_c.sh). A real device
 * computes the int16 Q8 log-mel features from its microphone and keeps the state's
 * bytes in non-volatile memory across reboots (pr_norm_state_check after reading). */
#include <stdio.h>

#include "pyreparam.h"
#include "{header_file}"

#define FRAMES ({N}_T_MAX < {EXAMPLE_FRAMES} ? {N}_T_MAX : {EXAMPLE_FRAMES})

static uint8_t arena[{N}_ARENA_BYTES + 4] {N}_ALIGN;
static uint8_t state[{N}_NORM_STATE_BYTES];
static int16_t features[FRAMES * {N}_NORM_BANDS];
static int8_t input[FRAMES * {N}_NORM_BANDS];

/* synthetic log-mel frames around the prior mean (a microphone's would go here) */
static void make_features(int32_t u)
{{
    int32_t t, m;
    for (t = 0; t < FRAMES; ++t) {{
        for (m = 0; m < {N}_NORM_BANDS; ++m) {{
            int32_t v = ({name}_norm_prior_mean[m] >> 8) +
                        ((t * (7 + u) + m * 13 + 31 * u) % 401) - 200 + 64 * u;
            v = v < -32768 ? -32768 : (v > 32767 ? 32767 : v);
            features[t * {N}_NORM_BANDS + m] = (int16_t)v;
        }}
    }}
}}

int main(void)
{{
    static const pr_norm_params norm = {N}_NORM_PARAMS;
    pr_model_info info;
    int8_t logits[{N}_OUTPUT_COLS];
    int32_t u, i, best;
    pr_status st = pr_model_check({name}, {N}_BYTES, &info);
    if (st == PR_OK) {{
        st = pr_norm_state_init(state, sizeof state, {N}_NORM_BANDS);
    }}
    for (u = 0; u < 3 && st == PR_OK; ++u) {{
        make_features(u);
        st = pr_norm_apply_s16_s8(&norm, {name}_norm_prior_mean, {name}_norm_prior_var,
                                  state, sizeof state, features, FRAMES, input);
        if (st == PR_OK) {{
            st = pr_model_run({name}, {N}_BYTES, input, FRAMES, logits, arena,
                              sizeof arena);
        }}
        if (st == PR_OK) {{
            st = pr_norm_update_s16(state, sizeof state, {N}_NORM_BANDS, features, FRAMES);
        }}
        if (st != PR_OK) {{
            break;
        }}
        best = 0;
        printf("utterance %d logits:", (int)u);
        for (i = 0; i < {N}_OUTPUT_COLS; ++i) {{
            printf(" %d", (int)logits[i]);
            best = logits[i] > logits[best] ? i : best;
        }}
        printf("  class %d%s%s\\n", (int)best, {classes_expr});
    }}
    if (st != PR_OK) {{
        printf("failed: status %d\\n", (int)st);
        return 1;
    }}
    printf("arena %d bytes, flash %d bytes, state %d bytes\\n", (int)info.arena_bytes,
           (int)info.flash_bytes, (int)sizeof state);
    return 0;
}}
"""


def timed(fn, *args):
    """(result, milliseconds) of one call."""
    t0 = time.perf_counter()
    out = fn(*args)
    return out, 1e3 * (time.perf_counter() - t0)
