"""Audio in, emotions out on emulated Cortex-M cores: the stream API bit for bit.

For each light model, recordings of the synthetic corpus (16 kHz int16 PCM) go through
the whole pipeline on the device (pipeline.c: pr_stream_init, pr_stream_push_s16 block
by block, pr_stream_finish: front end, causal normalization, energy gate, model), and
every decision (frames, gate, label, int8 logits) and the normalization state's CRC
after it must equal the host's C stream (cffi) and the NumPy reference
(pyreparam.quant.qstream), checked equal to each other first. The same runs give the
figures: RAM (stream memory = arena + PCM tail + int8 window + sums +
coefficients, the normalization state, the microphone block, the deepest stack, the
runtime's static RAM), flash (runtime + helpers + model + the export's tables), exact
instructions per second of audio (QEMU plugin) and the front end's share of them
(per-function profile).

Models: those of the model runs (prepare.py: pyreparam init + merge + quantize with its
defaults, or a given ``--prq``), exported with ``pyreparam export --name pr_model_blob``
(model, front-end tables, normalization constants, stream configuration).
"""
from __future__ import annotations

import bisect
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import firmware as fw  # noqa: E402
import prepare  # noqa: E402

#: name: (speaker, script, push block pattern in samples, what it is for)
RECORDINGS = {
    "speech": (0, ("anger", "happiness", "neutral", "sadness", "anger", "happiness",
                   "neutral", "sadness", "anger", "sadness"), (160,),
               "continuous speech: the model runs every hop (the budget's worst case)"),
    "pauses": (1, ("neutral", 2.0, "anger", "anger", 4.0, "sadness", "happiness", 3.0,
                   "neutral", 1.0, "sadness"), (160,),
               "speech and pauses of -70 dBFS noise: the gate skips the silent windows"),
    "short": (1, ("happiness",), (1, 7, 160, 97, 13, 160, 2),
              "one utterance shorter than a window, pushed in irregular blocks: decided "
              "by pr_stream_finish"),
}
MIC_SAMPLES = 160                  # the microphone (DMA) block: 10 ms
SAMPLE_RATE = 16000
DEFAULT_TARGETS = "m4-dsp,m3-ref,m7-dsp"
#: Cycles per instruction assumed to turn instructions into a clock rate (QEMU counts
#: instructions only): Cortex-M3/M4 issue one instruction per cycle, loads take 2 and
#: the DSP MACs 1 (flash with a zero-wait accelerator); the M7 dual-issues.
ASSUMED_CPI = {"m3": 1.25, "m4": 1.25, "m7": 0.8}
FRONTEND_FUNCTIONS = ("pr_logmel_frame_s16", "pr_logmel_push_s16")


# ---- recordings --------------------------------------------------------------------

def make_recordings(folder: Path) -> dict[str, np.ndarray]:
    """The recordings as int16 PCM (also written as .raw and .wav for people)."""
    import soundfile as sf
    from pyreparam.data.synth import synthesize_recording
    from pyreparam.quant.qfrontend import pcm16
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, (speaker, script, _, _) in RECORDINGS.items():
        pcm = pcm16(synthesize_recording(0, speaker, script, SAMPLE_RATE))
        (folder / f"{name}.raw").write_bytes(pcm.astype("<i2").tobytes())
        sf.write(folder / f"{name}.wav", pcm, SAMPLE_RATE, subtype="PCM_16")
        out[name] = pcm
    return out


def write_recordings_h(folder: Path, recordings: dict[str, np.ndarray]) -> None:
    """recordings.h: the PCM of each recording linked in by .incbin (section .audio),
    its length and its push pattern."""
    names = list(recordings)
    lines = ["/* Recordings for tools/mcu/pipeline.c, written by tools/mcu/pipeline.py. */",
             "#include <stdint.h>", "", f"#define MCU_N_RECORDINGS {len(names)}",
             f"#define MCU_MIC_SAMPLES {MIC_SAMPLES}", ""]
    for i, name in enumerate(names):
        raw = (folder / f"{name}.raw").resolve()
        lines += [f'__asm__(".section .audio,\\"a\\"\\n.balign 4\\n.global mcu_rec_{i}\\n'
                  f'mcu_rec_{i}:\\n.incbin \\"{raw}\\"\\n.previous");',
                  f"extern const int16_t mcu_rec_{i}[];  /* {name} */",
                  f"static const int32_t mcu_chunks_{i}[] = "
                  f"{{{', '.join(str(c) for c in RECORDINGS[name][2])}}};"]
    lines += ["", "static const int16_t *const mcu_rec_pcm[MCU_N_RECORDINGS] = {"
              + ", ".join(f"mcu_rec_{i}" for i in range(len(names))) + "};",
              "static const int32_t mcu_rec_samples[MCU_N_RECORDINGS] = {"
              + ", ".join(str(recordings[n].size) for n in names) + "};",
              "static const int32_t *const mcu_rec_chunks[MCU_N_RECORDINGS] = {"
              + ", ".join(f"mcu_chunks_{i}" for i in range(len(names))) + "};",
              "static const int32_t mcu_rec_n_chunks[MCU_N_RECORDINGS] = {"
              + ", ".join(str(len(RECORDINGS[n][2])) for n in names) + "};", ""]
    (folder / "recordings.h").write_text("\n".join(lines))


def blocks(pcm: np.ndarray, pattern) -> list[np.ndarray]:
    """The recording cut as the firmware pushes it."""
    out, pos, k = [], 0, 0
    while pos < pcm.size:
        n = min(pattern[k % len(pattern)], pcm.size - pos)
        out.append(pcm[pos:pos + n])
        pos, k = pos + n, k + 1
    return out


def decisions_with_crc(stream, pcm: np.ndarray, pattern) -> list[dict]:
    """Every decision and the state's CRC after it (blocks of <= 160 samples complete at
    most one frame, hence at most one decision each)."""
    out = []

    def keep(ds):
        for d in ds:
            out.append({"start": d.start_frame, "end": d.end_frame, "flags": d.flags,
                        "active": d.active_frames, "label": d.label,
                        "logits": list(d.logits),
                        "crc": int.from_bytes(stream.state[20:24], "little")})
    for block in blocks(pcm, pattern):
        ds = stream.push(block)
        assert len(ds) <= 1
        keep(ds)
    keep(stream.finish())
    return out


# ---- models ------------------------------------------------------------------------

def prepare_model(record: dict, out: Path, recordings: dict[str, np.ndarray],
                  log: list[str]) -> dict:
    """The model's export with its stream and the expected decisions of each recording."""
    from pyreparam.stream import StreamModel
    backbone = record["backbone"]
    folder = out / "pipeline" / backbone
    folder.mkdir(parents=True, exist_ok=True)
    prq = Path(record["prq"])
    prepare.pyreparam(["export", prq, "--c-header", folder / "model.h", "--name",
                       prepare.MODEL_NAME], log)
    if "_STREAM_CONFIG" not in (folder / "model.h").read_text():
        raise RuntimeError(f"{prq}: the export has no stream configuration (no prior, or "
                           "features the integer front end cannot compute)")
    model = StreamModel.from_file(prq)
    expected = {}
    for name, pcm in recordings.items():
        pattern = RECORDINGS[name][2]
        host = decisions_with_crc(model.open(use_c=True), pcm, pattern)
        ref = decisions_with_crc(model.open(use_c=False), pcm, pattern)
        if host != ref:
            raise RuntimeError(f"{prq}: recording {name}: host C and NumPy disagree")
        expected[name] = host
    doc = {"backbone": backbone, "prq": str(prq),
           "arena_bytes": model.program.arena_bytes, "config": model.config.to_dict(),
           "expected": expected}
    (folder / "expected.json").write_text(json.dumps(doc, indent=1) + "\n")
    return doc


# ---- the device's output -----------------------------------------------------------

def parse(text: str) -> dict:
    out: dict = {"decisions": {}, "recordings": {}, "memory": None, "done": None,
                 "faults": [], "build": None}
    for line in text.splitlines():
        f = line.split()
        if not f:
            continue
        if f[0] == "decision" and len(f) >= 17:
            r = int(f[1])
            out["decisions"].setdefault(r, []).append({
                "start": int(f[4]), "end": int(f[6]), "flags": int(f[8]),
                "active": int(f[10]), "label": int(f[12]), "crc": int(f[14], 16),
                "logits": [int(v) for v in f[16:]]})
        elif f[0] == "recording" and len(f) == 8:
            out["recordings"][int(f[1])] = {"status": int(f[3]), "decisions": int(f[5]),
                                            "stack_bytes": int(f[7])}
        elif f[0] == "memory" and len(f) == 7:
            out["memory"] = {"stream": int(f[2]), "state": int(f[4]), "mic": int(f[6])}
        elif f[0] == "build":
            out["build"] = f[1]
        elif f[0] == "done":
            out["done"] = int(f[2])
        elif f[0] == "FAULT":
            out["faults"].append(line.strip())
    return out


def function_counts(profile: dict[int, int], functions) -> dict[str, int]:
    starts = [f[0] for f in functions]
    per: dict[str, int] = {}
    for pc, n in profile.items():
        i = bisect.bisect_right(starts, pc) - 1
        name = functions[i][2] if i >= 0 else "?"
        per[name] = per.get(name, 0) + n
    return per


def segments(run: fw.Run, parsed: dict, n: int) -> list[list[int]] | None:
    """Per recording, the indices of its marks: init start, init end, stream start, one
    after every push that made a decision, stream end (pipeline.c)."""
    out, i = [], 0
    for r in range(n):
        pushes = sum(1 for d in parsed["decisions"].get(r, []) if not d["flags"] & 4)
        out.append(list(range(i, i + 4 + pushes)))
        i += 4 + pushes
    return out if i == len(run.marks) else None


def span(run: fw.Run, functions, a: int, b: int) -> tuple[int, int]:
    """(instructions, front-end instructions) between marks a and b."""
    per: dict[str, int] = {}
    for k in range(a + 1, b + 1):
        for name, v in function_counts(run.profiles[k], functions).items():
            per[name] = per.get(name, 0) + v
    total = run.marks[b] - run.marks[a]
    if sum(per.values()) != total:
        raise RuntimeError(f"profile {sum(per.values())} != counter {total}")
    return total, sum(per.get(f, 0) for f in FRONTEND_FUNCTIONS)


def judge(target: fw.Target, doc: dict, elf: Path, run: fw.Run, parsed: dict) -> dict:
    """One (target, model) pipeline run: decisions against the host's, the figures."""
    names = list(RECORDINGS)
    errors = [f"qemu exit status {run.returncode}"] if run.returncode != 0 else []
    errors += parsed["faults"]
    marks = segments(run, parsed, len(names))
    if marks is None:
        errors.append(f"{len(run.marks)} marker snapshots do not fit the decisions printed")
    functions = fw.function_table(elf)
    cfg = doc["config"]
    hop_seconds = cfg["hop_frames"] * cfg["hop_samples"] / SAMPLE_RATE
    per_recording, match = {}, not errors
    for r, name in enumerate(names):
        got = parsed["decisions"].get(r, [])
        want = doc["expected"][name]
        status = parsed["recordings"].get(r, {}).get("status")
        same = got == want and status == 0
        match = match and same
        if not same:
            first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b),
                         min(len(got), len(want)))
            errors.append(f"{name}: status {status}, {len(got)} decisions vs {len(want)} "
                          f"expected, first difference at {first}")
        if marks is None:
            continue
        m = marks[r]
        seconds = doc["samples"][name] / SAMPLE_RATE
        total, frontend = span(run, functions, m[2], m[-1])
        rec = {"seconds": round(seconds, 4), "decisions": len(got),
               "decided": sum(1 for d in got if not d["flags"] & 1),
               "gated": sum(1 for d in got if d["flags"] & 1),
               "decisions_match": same, "init_instructions": run.marks[m[1]] - run.marks[m[0]],
               "instructions": total, "frontend_instructions": frontend,
               "instructions_per_audio_second": round(total / seconds),
               "frontend_share": round(frontend / total, 4) if total else None,
               "stack_bytes": parsed["recordings"].get(r, {}).get("stack_bytes")}
        hops = len(m) - 5                   # whole hops between the first and last decision
        if hops >= 1:
            steady, steady_fe = span(run, functions, m[3], m[-2])
            rec.update(steady_hops=hops,
                       steady_instructions_per_audio_second=round(
                           steady / (hops * hop_seconds)),
                       steady_frontend_share=round(steady_fe / steady, 4))
        per_recording[name] = rec
    problems, fp_moves = fw.float_check(elf)
    errors += problems
    size = fw.section_sizes(elf)
    sym = fw.symbols(elf)
    static = (sym["__runtime_data_end"] - sym["__runtime_data_start"]) + \
        (sym["__runtime_bss_end"] - sym["__runtime_bss_start"])
    mem = parsed["memory"] or {"stream": 0, "state": 0, "mic": 0}
    stack = max((v["stack_bytes"] or 0 for v in per_recording.values()), default=0)
    ram = {"stream": mem["stream"], "state": mem["state"], "mic_block": mem["mic"],
           "stack_peak": stack, "runtime_static": static}
    flash = {"runtime": size.get(".runtime", 0), "helpers": size.get(".helpers", 0),
             "model": size.get(".model", 0), "tables": size.get(".tables", 0)}
    budget = per_recording.get("speech", {})
    steady = budget.get("steady_instructions_per_audio_second")
    cpi = ASSUMED_CPI[target.core]
    return {"target": target.name, "cpu": target.cpu, "kernels": parsed["build"],
            "model": doc["backbone"], "config": cfg, "ok": not errors,
            "decisions_match": match, "errors": errors, "ram_bytes": ram,
            "ram_bytes_total": sum(ram.values()), "stream_layout": doc["stream_layout"],
            "flash_bytes": flash, "flash_bytes_total": sum(flash.values()),
            "instructions_per_audio_second": budget.get("instructions_per_audio_second"),
            "frontend_share": budget.get("frontend_share"),
            "steady_instructions_per_audio_second": steady,
            "steady_frontend_share": budget.get("steady_frontend_share"),
            "measures": "instructions_per_audio_second and frontend_share: the whole "
                        "'speech' recording (continuous speech) from the first push to "
                        "pr_stream_finish, over its duration; steady_*: between its first "
                        "and its last regular decision (whole hops, one model run each: "
                        "what a device must sustain)",
            "assumed_cpi": cpi,
            "mhz_at_assumed_cpi": round(steady * cpi / 1e6, 1) if steady else None,
            "fpu_register_moves": fp_moves, "recordings": per_recording}


# ---- driver ------------------------------------------------------------------------

def stream_layout(doc: dict) -> dict:
    """The stream memory's parts (csrc/pr_stream_internal.h) for the report."""
    from pyreparam.stream import StreamModel
    from pyreparam.quant import qstream
    model = StreamModel.from_file(doc["prq"])
    cfg, t = model.config, model.tables
    r8 = lambda v: (v + 7) // 8 * 8
    work = max(model.program.arena_bytes, 4 * (2 * t.n_fft + 2) + 2 * t.n_mels,
               16 * t.n_mels)
    parts = {"head": r8(qstream.HEAD_BYTES), "pcm_tail": r8(2 * t.win_length),
             "norm_coefficients": r8(12 * t.n_mels), "hop_sums": r8(12 * cfg.blocks * t.n_mels),
             "int8_window": r8(cfg.window_frames * t.n_mels),
             "arena_and_frontend_scratch": r8(work)}
    parts["total"] = sum(parts.values())
    assert parts["total"] == qstream.stream_bytes(cfg, t, model.program.arena_bytes)
    return parts


def run(records: list[dict], targets: list[str], out: Path, plugin: Path,
        log: list[str] | None = None) -> list[dict]:
    """Prepare, build, run and judge every (target, model) pair; the pipeline list."""
    log = [] if log is None else log
    folder = out / "pipeline"
    recordings = make_recordings(folder / "recordings")
    write_recordings_h(folder / "recordings", recordings)
    docs = []
    for record in records:
        doc = prepare_model(record, out, recordings, log)
        doc["samples"] = {n: int(p.size) for n, p in recordings.items()}
        doc["stream_layout"] = stream_layout(doc)
        docs.append(doc)
    results = []
    for name in targets:
        target = fw.TARGETS[name]
        lib = fw.build_lib(target, out)
        for doc in docs:
            work = folder / "runs" / name
            elf = work / f"{doc['backbone']}.elf"
            try:
                fw.sh([HERE / "build.sh", "pipe", target.core, lib,
                       folder / doc["backbone"], folder / "recordings", elf])
                run_ = fw.run_counted(target, elf, plugin, work / f"{doc['backbone']}.counts",
                                      profile=True)
                (work / f"{doc['backbone']}.out").write_text(run_.stdout)
                result = judge(target, doc, elf, run_, parse(run_.stdout))
            except Exception as exc:      # a failed build or a time-out: a failed result
                result = {"target": name, "model": doc["backbone"], "ok": False,
                          "decisions_match": False, "errors": [str(exc)[-2000:]]}
            print_result(result)
            results.append(result)
    return results


def print_result(r: dict) -> None:
    if "ram_bytes_total" not in r:
        print(f"{r['target']:<8}{r['model']:<17}pipeline FAILED: {r['errors']}", flush=True)
        return
    print(f"{r['target']:<8}{r['model']:<17}pipeline {'ok' if r['ok'] else 'FAILED':<7}"
          f"RAM {r['ram_bytes_total']:,} B, flash {r['flash_bytes_total']:,} B, "
          f"{(r['steady_instructions_per_audio_second'] or 0) / 1e6:.2f} M instructions "
          f"per audio second (steady), front end {100 * (r['steady_frontend_share'] or 0):.1f}"
          f" %", flush=True)
    for e in r["errors"]:
        print(f"    {e}")


def table(results: list[dict]) -> str:
    """Markdown: one row per (target, model)."""
    head = ["target", "model", "decisions match", "RAM total (stream + state + mic + "
            "stack + static)", "flash total (runtime + helpers + model + tables)",
            "instructions / audio s: speech, whole (front end)", "steady (front end)",
            "pauses, whole (front end)", "MHz at CPI (steady)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        if "ram_bytes_total" not in r:
            lines.append(f"| {r['target']} | {r['model']} | FAILED |" + " |" * 6)
            continue
        ram, fl = r["ram_bytes"], r["flash_bytes"]
        pauses = r["recordings"].get("pauses", {})
        lines.append(
            f"| {r['target']} | {r['model']} | {'yes' if r['decisions_match'] else 'NO'} | "
            f"{r['ram_bytes_total']:,} B ({ram['stream']:,} + {ram['state']} + "
            f"{ram['mic_block']} + {ram['stack_peak']:,} + {ram['runtime_static']}) | "
            f"{r['flash_bytes_total']:,} B ({fl['runtime']:,} + {fl['helpers']:,} + "
            f"{fl['model']:,} + {fl['tables']:,}) | "
            f"{r['instructions_per_audio_second'] / 1e6:.2f} M "
            f"({100 * r['frontend_share']:.1f} %) | "
            f"{r['steady_instructions_per_audio_second'] / 1e6:.2f} M "
            f"({100 * r['steady_frontend_share']:.1f} %) | "
            f"{pauses.get('instructions_per_audio_second', 0) / 1e6:.2f} M "
            f"({100 * (pauses.get('frontend_share') or 0):.1f} %) | "
            f"{r['mhz_at_assumed_cpi']} at {r['assumed_cpi']} |")
    return "\n".join(lines)
