"""The statistics head on emulated Cortex-M cores: bit for bit, counted and sized.

    python tools/mcu/head.py [--targets m4-dsp,m3-ref,m7-dsp] [--json out.json]

Writes head.h: a head of the deployed shape (64 log-mel channels, 24 cepstra, D =
1,344 functionals, 7 classes) fitted by pyreparam's own fit
(pyreparam.train.stats_head.fit_logistic) to the synthetic corpus' 4 emotions (3 more
classes with random weights give EmoDB's shape), quantized as
`pyreparam quantize` does (pyreparam.quant.qhead.quantize_head); utterances of a
synthetic speaker as the device's front end hands them over (int16 Q8 log-mel, up to
T_max = 300 frames), int8 network logits for each, and every output of the NumPy
reference (the head's features g, the causal z, the decision p, the state's CRC after
each utterance), checked equal to the host C runtime's first. Builds
tools/mcu/head_test.c against the runtime of each target (build.sh head), runs it
under qemu-system-arm with the counting plugin and reports per target whether every
output matched, the instructions of each step, the stack, the runtime code of the head
and what the head adds to flash and RAM. Exit status 0 only when everything matched
and the code has no floating point.
Needs the tools of tools/mcu/run.sh (arm-none-eabi-gcc, qemu-system-arm, cc).
"""
from __future__ import annotations

import argparse
import json
import struct
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import firmware as fw  # noqa: E402
from frontend import code_bytes  # noqa: E402
from pyreparam.atomic import write_text  # noqa: E402
from pyreparam.audio.features import FeatureConfig, frame_features  # noqa: E402
from pyreparam.audio.functionals import utterance_functionals  # noqa: E402
from pyreparam.data.normalize import Normalizer  # noqa: E402
from pyreparam.data.synth import EMOTIONS, synthesize  # noqa: E402
from pyreparam.models.stats_head import StatsHead, zscore_speaker  # noqa: E402
from pyreparam.quant import qcausal, qhead  # noqa: E402

ROOT = HERE.parents[1]
DEFAULT_TARGETS = "m4-dsp,m3-ref,m7-dsp"
T_MAX = 300
N_CLASSES = 7
HEAD_OBJECTS = ("pr_head_features_s16.o", "pr_head_decide_s8.o", "pr_functionals_s16.o",
                "pr_prosody_s16.o",
                "pr_functionals_count.o", "pr_functionals_scratch_len.o",
                "pr_head_scratch_len.o")


def synthetic_case(n_utterances: int, seed: int = 0, n_classes: int = N_CLASSES,
                   net_output_scale: float = 0.08, pitch: bool = False):
    """(head constants, frames list (T, C) int16, network logits (n, N) int8): a head
    fitted on 4 synthetic speakers, the utterances of a fifth (classes beyond the
    corpus' 4 emotions get random weights); ``pitch``: frames with the two pitch
    channels (C = 66) and a head with the prosody block."""
    from pyreparam.train.stats_head import fit_logistic
    config = FeatureConfig(pitch=pitch)
    emotions = list(EMOTIONS)
    raw, labels, speakers = [], [], []
    for s in range(5):
        for k, emotion in enumerate(emotions):
            for j in range(3 if s < 4 else 1):
                raw.append(frame_features(synthesize(seed, s, emotion, j), config)[:T_MAX])
                labels.append(k)
                speakers.append(s)
    speakers, labels = np.array(speakers), np.array(labels)
    F = np.stack([utterance_functionals(x, config.n_mels, pitch) for x in raw])
    fit = speakers < 4
    normalizer = Normalizer("speaker")
    normalizer.fit_prior(list(F[fit][:, None, :]), list(speakers[fit]))
    Z = np.concatenate([zscore_speaker(F[speakers == s], 1e-3) for s in range(4)])
    W, b = fit_logistic(Z, np.concatenate([labels[speakers == s] for s in range(4)]),
                        len(emotions), 0.01)
    rng = np.random.default_rng(seed)            # EmoDB's 7 classes: 3 more, random
    W = np.concatenate([W, rng.normal(0, W.std(), (n_classes - len(W), W.shape[1]))])
    b = np.concatenate([b, np.full(n_classes - len(b), b.min())])
    head = StatsHead(W, b, normalizer, 0.5, config.n_mels, pitch=pitch)
    h = qhead.quantize_head(head, F[fit], config.channels, net_output_scale)
    test = [qcausal.quantize_features(x) for x in np.array(raw, dtype=object)[~fit]]
    net = rng.integers(-60, 60, (len(test), n_classes)).astype(np.int8)
    return h, test[:n_utterances], net[:n_utterances]


def reference(h, frames, net):
    """Per utterance: g, z, p, the state's CRC word after it (NumPy integer path)."""
    state = qcausal.new_state(h.n_features)
    out = []
    for X, q in zip(frames, net):
        g = qhead.features(h, X)
        z = qhead.zscores(h, state, g)
        p = qhead.decide(h, z, q)
        state = qcausal.update(state, g[None, :])
        crc = struct.unpack_from("<I", qcausal.state_to_bytes(state), 20)[0]
        out.append((g, z, p, crc))
    return out


def host_c_agrees(h, frames, net, expected) -> bool:
    from pyreparam import native
    if not native.available():
        return True
    from pyreparam.quant import ckernels
    state = ckernels.norm_state_init(h.n_features)
    for X, q, (g, z, p, crc) in zip(frames, net, expected):
        gc = ckernels.head_features_s16(h, X)
        zc = ckernels.norm_apply_s16_s8(h.norm, state, gc[None, :])[0]
        pc = ckernels.head_decide_s8(h, zc, q)
        state = ckernels.norm_update_s16(state, gc[None, :])
        if not (np.array_equal(gc, g) and np.array_equal(zc, z) and np.array_equal(pc, p)
                and struct.unpack_from("<I", state, 20)[0] == crc):
            return False
    return True


def write_header(path: Path, h, frames, net, expected) -> None:
    row = lambda a: "{" + ", ".join(str(int(v)) for v in np.ravel(a)) + "}"
    rows = lambda a: ["    " + row(r) + "," for r in a]
    n, N, D, C = len(frames), h.n_classes, h.n_features, h.channels
    padded = np.zeros((n, T_MAX, C), dtype=np.int16)
    for i, X in enumerate(frames):
        padded[i, :X.shape[0]] = X
    lines = ["/* Generated by tools/mcu/head.py: a statistics head's integer constants,",
             " * test utterances and the NumPy reference's outputs. */",
             "#ifndef HEAD_H", "#define HEAD_H", "", "#include <stdint.h>", "",
             *qhead.c_header_lines(h, "hd", T_MAX),
             f"#define HD_UTTERANCES {n}", f"#define HD_T_MAX {T_MAX}",
             f"static const int32_t hd_lengths[{n}] = {row([X.shape[0] for X in frames])};",
             f"static const int16_t hd_frames[{n}][{T_MAX * C}] = {{", *rows(padded), "};",
             f"static const int8_t hd_net_logits[{n}][{N}] = {{", *rows(net), "};",
             f"static const int16_t hd_g[{n}][{D}] = {{", *rows([e[0] for e in expected]),
             "};", f"static const int8_t hd_z[{n}][{D}] = {{",
             *rows([e[1] for e in expected]), "};",
             f"static const int32_t hd_p[{n}][{N}] = {{", *rows([e[2] for e in expected]),
             "};", f"static const uint32_t hd_state_crc[{n}] = "
             f"{row([e[3] for e in expected])};", "", "#endif", ""]
    write_text(path, "\n".join(lines))


def sizes(h) -> dict:
    """Bytes the head adds: constants in flash, working memory and state in RAM."""
    D = h.n_features
    return {"flash_constants_bytes": h.constant_bytes,
            "frames_bytes": T_MAX * h.channels * 2,
            "scratch_bytes": 4 * (D + 3 * T_MAX), "g_z_bytes": 3 * D,
            "state_bytes": qcausal.state_bytes(D)}


def build_and_run(kind: str, name: str, out: Path, header_dir: Path, plugin: Path):
    """Build the `kind` harness (build.sh head / loop) for target `name`, run it with
    the counting plugin: (library folder, elf, run, its "utt" records, the instructions
    between each pair of marks)."""
    target = fw.TARGETS[name]
    lib = fw.build_lib(target, out)
    stem = out / "runs" / f"{'head' if kind == 'head' else 'head_loop'}_{name}"
    elf = stem.with_suffix(".elf")
    fw.sh([HERE / "build.sh", kind, target.core, lib, header_dir, elf])
    run = fw.run_counted(target, elf, plugin, stem.with_suffix(".counts"))
    records = [line.split() for line in run.stdout.splitlines() if line.startswith("utt ")]
    counts = [b - a for a, b in zip(run.marks[::2], run.marks[1::2])]
    return lib, elf, run, records, counts


def run_target(name: str, out: Path, header_dir: Path, plugin: Path, n: int) -> dict:
    lib, elf, run, records, counts = build_and_run("head", name, out, header_dir, plugin)
    problems, _ = fw.float_check(elf)
    ok = (run.returncode == 0 and len(records) == n and len(counts) == 4 * n
          and all(r[3] == "0" and r[7] == "0" for r in records) and not problems)
    steps = {name: counts[k::4] for k, name in enumerate(("features", "apply", "decide",
                                                             "update"))}
    return {"target": name, "ok": ok, "instructions": steps,
            "stack_bytes": max((int(r[5]) for r in records), default=0),
            "code_bytes": code_bytes(lib, HEAD_OBJECTS),
            "float_problems": problems, "output": run.stdout[-2000:] if not ok else ""}


# ---- a whole utterance with the head, in one working buffer (head_loop.c) -----------

def loop_case(out: Path, n_utterances: int, pitch: bool = False):
    """A light ConvTransformer as tools/mcu/prepare.py makes it (init, merge, quantize
    on the synthetic corpus) with a head of its 4 classes added to its .prq, exported
    (model.h); its test utterances and the NumPy path's outputs. ``pitch``: the frames
    carry the two pitch channels, read by the head's prosody block alone, the network
    reading the mel bands (``train --pitch-head-only``). Returns (header folder,
    frames, expected: per utterance (logits, p, frames CRC, head CRC))."""
    import prepare
    from pyreparam.quant.deploy import norm_params_from_meta
    from pyreparam.quant.prq import load_prq, write_prq
    from pyreparam.quant.qmodel import run_program
    log: list[str] = []
    folder = out / "loop"
    prq = prepare.make_model("convtransformer", folder, prepare.synth_corpus(out, log),
                             T_MAX / 100, log)
    program, meta, _ = load_prq(prq)
    h, frames, _ = synthetic_case(n_utterances, n_classes=meta["model_config"]["n_classes"],
                                  net_output_scale=meta["output"]["scale"], pitch=pitch)
    features = dict(meta["feature_config"], pitch=pitch)
    with_head = folder / "model_head.prq"
    with_head.write_bytes(write_prq(program, dict(meta, head=qhead.to_meta(h),
                                                  feature_config=features)))
    header_dir = folder / "header"
    prepare.pyreparam(["export", with_head, "--c-header", header_dir / "model.h", "--name",
                       "ser"], log)
    params = norm_params_from_meta(meta)
    frames_state = qcausal.new_state(params.prior_mean.shape[0])
    head_state = qcausal.new_state(h.n_features)
    expected = []
    M = meta["model_config"]["n_mels"]            # the network's columns of the frames
    for X in frames:
        bands = np.ascontiguousarray(X[:, :M])
        q = run_program(program, qcausal.apply(frames_state, params, bands))
        g = qhead.features(h, X)
        p = qhead.decide(h, qhead.zscores(h, head_state, g), q)
        frames_state = qcausal.update(frames_state, bands)
        head_state = qcausal.update(head_state, g[None, :])
        crc = lambda st: struct.unpack_from("<I", qcausal.state_to_bytes(st), 20)[0]
        expected.append((q, p, crc(frames_state), crc(head_state)))
    row = lambda a: "{" + ", ".join(str(int(v)) for v in np.ravel(a)) + "}"
    rows = lambda a: ["    " + row(r) + "," for r in a]
    n, C = len(frames), h.channels
    padded = np.zeros((n, T_MAX * C), dtype=np.int16)
    for i, X in enumerate(frames):
        padded[i, :X.size] = X.ravel()
    write_text(header_dir / "loop.h", "\n".join([
        "/* Generated by tools/mcu/head.py: utterances and the NumPy path's outputs. */",
        "#ifndef LOOP_H", "#define LOOP_H", "", "#include <stdint.h>", "",
        f"#define LP_UTTERANCES {n}",
        f"static const int32_t lp_lengths[{n}] = {row([X.shape[0] for X in frames])};",
        f"static const int16_t lp_frames[{n}][{T_MAX * C}] = {{", *rows(padded), "};",
        f"static const int8_t lp_logits[{n}][{h.n_classes}] = {{",
        *rows([e[0] for e in expected]), "};",
        f"static const int32_t lp_p[{n}][{h.n_classes}] = {{",
        *rows([e[1] for e in expected]), "};",
        f"static const uint32_t lp_frames_crc[{n}] = {row([e[2] for e in expected])};",
        f"static const uint32_t lp_head_crc[{n}] = {row([e[3] for e in expected])};",
        "", "#endif", ""]))
    return header_dir, frames, meta


def run_loop(name: str, out: Path, header_dir: Path, plugin: Path, n: int) -> dict:
    _, _, run, records, counts = build_and_run("loop", name, out, header_dir, plugin)
    ram = next((line.split() for line in run.stdout.splitlines()
                if line.startswith("ram ")), None)
    ok = (run.returncode == 0 and len(records) == n and ram is not None
          and all(r[3] == "0" and r[5] == "0" for r in records) and len(counts) == 3 * n)
    steps = {k: counts[j::3] for j, k in enumerate(("head_features", "network",
                                                    "head_decision_and_updates"))}
    return {"target": name, "ok": ok, "instructions": steps,
            "work_bytes": int(ram[2]) if ram else None,
            "other_bytes": int(ram[4]) if ram else None,
            "state_bytes": int(ram[6]) if ram else None,
            "stack_bytes": max((int(r[9]) for r in records), default=0),
            "output": run.stdout[-2000:] if not ok else ""}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--targets", default=DEFAULT_TARGETS)
    p.add_argument("--utterances", type=int, default=4)
    p.add_argument("--pitch", action=argparse.BooleanOptionalAction, default=True,
                   help="the head runs on frames with the pitch channels, with its prosody "
                        "block; in the whole-utterance loop the network reads the mel "
                        "bands alone (train --pitch-head-only) [on]")
    p.add_argument("--loop-targets", default="m4-dsp",
                   help="targets of the whole-utterance run (model + head in one working "
                        "buffer, head_loop.c); '' for none [m4-dsp]")
    p.add_argument("--out", type=Path, default=ROOT / "build" / "mcu-head")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    h, frames, net = synthetic_case(args.utterances, pitch=args.pitch)
    expected = reference(h, frames, net)
    if not host_c_agrees(h, frames, net, expected):
        print("host C and NumPy reference differ: fix that first")
        return 1
    header_dir = args.out / "header"
    header_dir.mkdir(parents=True, exist_ok=True)
    write_header(header_dir / "head.h", h, frames, net, expected)
    plugin = fw.build_plugin(args.out)
    results = [run_target(t, args.out, header_dir, plugin, len(frames))
               for t in args.targets.split(",") if t]
    size = sizes(h)
    print(f"head: {h.n_features} functionals ({h.channels} channels"
          f"{', prosody block' if h.pitch else ''}), {h.n_classes} classes, utterances of "
          f"{', '.join(str(x.shape[0]) for x in frames)} frames; flash (constants) "
          f"{size['flash_constants_bytes']:,} B; RAM: frames {size['frames_bytes']:,} B at "
          f"T_max {T_MAX}, scratch {size['scratch_bytes']:,} B, g + z "
          f"{size['g_z_bytes']:,} B, state {size['state_bytes']:,} B")
    for r in results:
        mean = {k: float(np.mean(v)) if v else 0.0 for k, v in r["instructions"].items()}
        print(f"{r['target']:<8} {'ok' if r['ok'] else 'FAILED':<7} instructions per "
              f"utterance: features {mean['features']:,.0f}, causal z {mean['apply']:,.0f}, "
              f"decision {mean['decide']:,.0f}, state update {mean['update']:,.0f}; stack "
              f"{r['stack_bytes']} B, code {r['code_bytes']:,} B")
        if not r["ok"]:
            print(r["output"], *r["float_problems"], sep="\n")
    loops = []
    if args.loop_targets:
        loop_dir, loop_frames, meta = loop_case(args.out, args.utterances, args.pitch)
        loops = [dict(run_loop(t, args.out, loop_dir, plugin, len(loop_frames)),
                      head_channels=int(loop_frames[0].shape[1]),
                      network_columns=int(meta["model_config"]["n_mels"]))
                 for t in args.loop_targets.split(",") if t]
        for r in loops:
            work, other = r["work_bytes"] or 0, r["other_bytes"] or 0
            mean = {k: float(np.mean(v)) if v else 0.0 for k, v in r["instructions"].items()}
            print(f"{r['target']:<8} {'ok' if r['ok'] else 'FAILED':<7} a whole utterance "
                  f"with the head (light ConvTransformer, {meta['model_config']['n_classes']}"
                  f" classes): working RAM {work + other:,} B (one buffer {work:,} B: "
                  f"int16 frames, then int8 input + arena; other {other:,} B), state "
                  f"{r['state_bytes']:,} B; instructions: head features "
                  f"{mean['head_features']:,.0f}, normalization + network "
                  f"{mean['network']:,.0f}, head decision + updates "
                  f"{mean['head_decision_and_updates']:,.0f}; stack {r['stack_bytes']} B")
            if not r["ok"]:
                print(r["output"])
    ok = bool(results) and all(r["ok"] for r in results + loops)
    if args.json is not None:
        write_text(args.json, json.dumps({
            "ok": ok, "functionals": h.n_features, "prosody_block": h.pitch,
            "classes": h.n_classes,
            "frames": [int(x.shape[0]) for x in frames], **size, "results": results,
            "loop": loops}, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
