"""The integer front end (log-mel and pitch track) on emulated Cortex-M cores: bit for
bit and counted.

    python tools/mcu/frontend.py [--targets m4-ref,m3-ref,m7-ref] [--json out.json]

Writes frontend.h (the tables of pyreparam.quant.qfrontend for the default
FeatureConfig, a few int16 frames and the features the NumPy reference computes for
them, checked equal to the host C runtime's first), builds tools/mcu/frontend_test.c
against the runtime for each core (build.sh lib ... ref, build.sh fe), runs it under
qemu-system-arm with the counting plugin and reports, per core, whether every frame
matched, the instructions of each pr_logmel_frame_s16 call, its stack, and the flash
of its code and tables. The frames: speech from the synthetic corpus (loud and quiet
parts), silence, DC at -32768, a full-scale tone at Nyquist and full-scale noise.
The pitch track (pyreparam.quant.qpitch) runs on the same core: pr_pitch_decimate_s16
on 0.5 s of the synthetic speech, pr_pitch_frame_s32 on windows of it and on extreme
windows (silence, +-2^17, full-scale alternation), pr_pitch_fill_s16 on the speech's
raw frames; each compared with the NumPy reference, each call counted.
Exit status 0 only when every frame matched and the code has no floating point.
Needs the tools of tools/mcu/run.sh (arm-none-eabi-gcc, qemu-system-arm, cc).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import firmware as fw  # noqa: E402
from pyreparam.atomic import write_text  # noqa: E402
from pyreparam.audio.features import FeatureConfig, frame_signal  # noqa: E402
from pyreparam.data.synth import synthesize  # noqa: E402
from pyreparam.quant import qfrontend as qf  # noqa: E402
from pyreparam.quant import qpitch  # noqa: E402

ROOT = HERE.parents[1]
DEFAULT_TARGETS = "m4-ref,m4-dsp,m3-ref,m7-ref,m7-dsp"
CODE_OBJECTS = ("pr_logmel_frame_s16.o", "pr_logmel_scratch_len.o")
PITCH_OBJECTS = ("pr_pitch_decimate_s16.o", "pr_pitch_frame_s32.o", "pr_pitch_fill_s16.o")
PITCH_SAMPLES = 8000                  # 0.5 s at 16 kHz


class PitchCase(NamedTuple):
    """The pitch track's test data: PCM, its decimation, windows and fill frames."""

    tables: qpitch.PitchTables
    signal: np.ndarray         # (n,) int16
    decimated: np.ndarray      # (ceil(n / d),) int32
    windows: np.ndarray        # (W, w) int32, with their mean
    raw: np.ndarray            # (W, 2) int16: octaves, voicing of each window
    frames: np.ndarray         # (T, 2) int16: every frame's raw pitch of the signal
    filled: np.ndarray         # (T, 2) int16: frames after the fill


def pitch_case(n_speech: int, seed: int = 0) -> PitchCase:
    config = FeatureConfig(pitch=True)
    tables = qpitch.pitch_tables(config.sample_rate)
    signal = qf.pcm16(synthesize(seed, 1, "anger", 0))[:PITCH_SAMPLES]
    y = qpitch.decimate(signal, tables)
    T = qpitch.num_frames(signal.size, config)
    all_windows = qpitch.frame_windows(y, T, config, tables, mean_free=False)
    w = tables.width
    special = np.stack([np.zeros(w), np.full(w, 1 << 17), np.full(w, -(1 << 17)),
                        np.where(np.arange(w) % 2 == 0, 1 << 17, -(1 << 17))])
    pick = np.linspace(0, T - 1, n_speech).round().astype(int)
    windows = np.concatenate([all_windows[pick], special]).astype(np.int32)
    raw = np.stack(qpitch.frame_pitch(qpitch.remove_mean(windows), tables), 1)
    frames = np.stack(qpitch.frame_pitch(qpitch.remove_mean(all_windows), tables), 1)
    filled = frames.copy()
    filled[:, 0] = qpitch.fill_unvoiced(frames[:, 0], frames[:, 1])
    return PitchCase(tables, signal, y, windows, raw.astype(np.int16),
                     frames.astype(np.int16), filled.astype(np.int16))


def pitch_header_lines(case: PitchCase) -> list[str]:
    t = case.tables
    row = lambda a: "{" + ", ".join(str(int(v)) for v in a) + "}"
    rows = lambda a: ["    " + row(r) + "," for r in a]
    return [f"static const int16_t pt_taps[{t.taps.size}] = {row(t.taps)};",
            "#define PT_PARAMS {" + f"{t.factor}, {t.width}, {t.lag_min}, {t.lag_max}, "
            f"{t.log2_rate_q16}, pt_taps, fe_logmel_log2_table" + "}",
            f"#define PT_SAMPLES {case.signal.size}",
            f"#define PT_DECIMATED {case.decimated.size}",
            f"#define PT_WIDTH {t.width}",
            f"#define PT_WINDOWS {case.windows.shape[0]}",
            f"#define PT_FRAMES {case.frames.shape[0]}",
            f"static const int16_t pt_signal[{case.signal.size}] = {row(case.signal)};",
            f"static const int32_t pt_decimated[{case.decimated.size}] = "
            f"{row(case.decimated)};",
            f"static const int32_t pt_windows[{case.windows.shape[0]}][{t.width}] = {{",
            *rows(case.windows), "};",
            f"static const int16_t pt_raw[{case.raw.shape[0]}][2] = {{", *rows(case.raw), "};",
            f"static const int16_t pt_frames[{case.frames.shape[0]}][2] = {{",
            *rows(case.frames), "};",
            f"static const int16_t pt_filled[{case.filled.shape[0]}][2] = {{",
            *rows(case.filled), "};"]


def test_frames(n_speech: int, seed: int = 0) -> np.ndarray:
    """(F, 400) int16: speech frames spread over an utterance, then the extremes."""
    config = FeatureConfig()
    speech = qf.pcm16(synthesize(seed, 1, "anger", 0))
    frames = frame_signal(speech, config)  # (T, 400)
    pick = np.linspace(0, frames.shape[0] - 1, n_speech).round().astype(int)
    rng = np.random.default_rng(seed)
    win = config.win_length
    special = np.stack([
        np.zeros(win),                                              # silence
        np.full(win, -32768),                                       # DC, full scale
        np.where(np.arange(win) % 2 == 0, 32767, -32768),           # Nyquist
        rng.integers(-32768, 32768, win),                           # full-scale noise
    ])
    return np.concatenate([frames[pick], special]).astype(np.int16)


def write_header(path: Path, frames: np.ndarray, expected: np.ndarray,
                 tables: qf.FrontendTables, pitch: PitchCase) -> None:
    F, M = expected.shape
    as_rows = lambda a: [("    {" + ", ".join(str(int(v)) for v in row) + "},")
                         for row in a]
    lines = ["/* Generated by tools/mcu/frontend.py: front-end tables, test frames and the",
             " * NumPy reference's features for them. */", "#ifndef FRONTEND_H",
             "#define FRONTEND_H", "", "#include <stdint.h>", ""]
    lines += qf.c_header_lines(tables, "fe")
    lines += ["", f"#define FE_FRAMES {F}",
              f"static const int16_t fe_frames[{F}][{frames.shape[1]}] = {{"]
    lines += as_rows(frames) + ["};", f"static const int16_t fe_expected[{F}][{M}] = {{"]
    lines += as_rows(expected) + ["};", ""] + pitch_header_lines(pitch) + ["", "#endif", ""]
    write_text(path, "\n".join(lines))


def code_bytes(lib: Path, objects=CODE_OBJECTS) -> int:
    """text + rodata of the front end's objects in the library."""
    total = 0
    for name in objects:
        out = fw.sh(["arm-none-eabi-size", lib / "obj" / name]).splitlines()[1].split()
        total += int(out[0]) + int(out[1])
    return total


def run_target(name: str, out: Path, header_dir: Path, plugin: Path, n_frames: int,
               n_windows: int) -> dict:
    target = fw.TARGETS[name]
    lib = fw.build_lib(target, out)
    elf = out / "runs" / f"frontend_{name}.elf"
    fw.sh([HERE / "build.sh", "fe", target.core, lib, header_dir, elf])
    run = fw.run_counted(target, elf, plugin, out / "runs" / f"frontend_{name}.counts")
    lines = run.stdout.splitlines()
    records = [line.split() for line in lines if line.startswith("frame ")]
    pitch = [line.split() for line in lines if line.startswith("pitch ")]
    counts = [b - a for a, b in zip(run.marks[::2], run.marks[1::2])]
    problems, _ = fw.float_check(elf)
    ok = (run.returncode == 0 and len(records) == n_frames and len(pitch) == n_windows + 2
          and len(counts) == n_frames + n_windows + 2
          and all(r[3] == "0" and r[7] == "0" for r in records + pitch) and not problems)
    return {"target": name, "ok": ok, "instructions": counts[:n_frames],
            "pitch_decimate_instructions": counts[n_frames] if ok else None,
            "pitch_frame_instructions": counts[n_frames + 1:n_frames + 1 + n_windows],
            "pitch_fill_instructions": counts[-1] if ok else None,
            "stack_bytes": max((int(r[5]) for r in records), default=0),
            "pitch_stack_bytes": max((int(r[5]) for r in pitch), default=0),
            "code_bytes": code_bytes(lib), "pitch_code_bytes": code_bytes(lib, PITCH_OBJECTS),
            "float_problems": problems, "output": run.stdout[-2000:] if not ok else ""}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--targets", default=DEFAULT_TARGETS)
    p.add_argument("--speech-frames", type=int, default=8)
    p.add_argument("--out", type=Path, default=ROOT / "build" / "mcu-frontend")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    from pyreparam import native
    from pyreparam.quant import ckernels
    tables = qf.frontend_tables(FeatureConfig())
    frames = test_frames(args.speech_frames)
    expected = qf.logmel_frames_q8(frames, tables)
    pitch = pitch_case(args.speech_frames)
    if native.available() and not (
            np.array_equal(ckernels.logmel_frames_s16(frames, tables), expected)
            and np.array_equal(ckernels.pitch_decimate_s16(pitch.signal, pitch.tables),
                               pitch.decimated)
            and np.array_equal(ckernels.pitch_frames_s32(pitch.windows, pitch.tables),
                               pitch.raw)
            and np.array_equal(ckernels.pitch_fill_s16(pitch.frames), pitch.filled)):
        print("host C and NumPy reference differ: fix that first")
        return 1
    header_dir = args.out / "header"
    header_dir.mkdir(parents=True, exist_ok=True)
    write_header(header_dir / "frontend.h", frames, expected, tables, pitch)
    plugin = fw.build_plugin(args.out)
    results = [run_target(t, args.out, header_dir, plugin, len(frames), len(pitch.windows))
               for t in args.targets.split(",") if t]
    speech = slice(0, args.speech_frames)
    print(f"tables: {qf.table_bytes(tables)} B of flash "
          f"(n_fft {tables.n_fft}, {tables.n_mels} bands, {len(tables.mel_weights)} weights)")
    for r in results:
        ins = np.array(r["instructions"] or [0])
        print(f"{r['target']:<8} {'ok' if r['ok'] else 'FAILED':<7} instructions per frame: "
              f"speech mean {ins[speech].mean():,.0f} (min {ins[speech].min():,}, max "
              f"{ins[speech].max():,}), all frames max {ins.max():,}; stack "
              f"{r['stack_bytes']} B, code {r['code_bytes']} B")
        if r["ok"]:
            pf = np.array(r["pitch_frame_instructions"][:args.speech_frames])
            print(f"{'':<16} pitch: decimating {PITCH_SAMPLES} samples "
                  f"{r['pitch_decimate_instructions']:,} instructions "
                  f"({r['pitch_decimate_instructions'] / PITCH_SAMPLES * 160:,.0f} per 160-sample "
                  f"hop), a frame's window {pf.mean():,.0f}, the fill of "
                  f"{len(pitch.frames)} frames {r['pitch_fill_instructions']:,}; stack "
                  f"{r['pitch_stack_bytes']} B, code {r['pitch_code_bytes']} B")
        if not r["ok"]:
            print(r["output"], *r["float_problems"], sep="\n")
    ok = bool(results) and all(r["ok"] for r in results)
    if args.json is not None:
        write_text(args.json, json.dumps({
            "ok": ok, "table_bytes": qf.table_bytes(tables),
            "scratch_bytes": 4 * (2 * tables.n_fft + 2), "frames": len(frames),
            "speech_frames": args.speech_frames, "results": results}, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
