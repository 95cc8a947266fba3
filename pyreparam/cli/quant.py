"""Commands of the int8 path: ``quantize``, ``infer``, ``export`` and ``inspect``."""
from __future__ import annotations

import json
from pathlib import Path

import click

from pyreparam.audio.decode import AudioError
from pyreparam.cli.types import FiniteFloat
from pyreparam.data.cache import DEFAULT_CACHE
from pyreparam.data.manifest import ManifestError
from pyreparam.infer import InferenceError
from pyreparam.models import CheckpointError
from pyreparam.models.cost import FRAMES_PER_SECOND
from pyreparam.quant.backbones import QuantizeError
from pyreparam.quant.calibrate import DEFAULT_METHOD, DEFAULT_PERCENTILE, METHODS
from pyreparam.quant.lower import ARENA_BUDGET, DEFAULT_BLOCK
from pyreparam.quant.prq import PRQError

MODEL_ERRORS = (CheckpointError, QuantizeError, PRQError)


def _cache(cache_dir):
    return None if cache_dir in (None, "none") else cache_dir


# --------------------------------------------------------------------------- quantize

@click.command("quantize")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--calib", "calib_manifest", type=click.Path(dir_okay=False), required=True,
              help="Manifest of calibration utterances (training speakers).")
@click.option("--n", "n_calib", type=click.IntRange(1), default=200, show_default=True,
              help="Calibration utterances drawn from --calib.")
@click.option("--eval", "eval_manifest", type=click.Path(dir_okay=False), default=None,
              help="Manifest to report float vs int8 WA/UA on (test speakers).")
@click.option("--method", type=click.Choice(METHODS), default=DEFAULT_METHOD,
              show_default=True, help="Activation ranges: least squared error, or a "
                                      "percentile of the values.")
@click.option("--percentile", type=FiniteFloat(50, 100), default=DEFAULT_PERCENTILE,
              show_default=True, help="For --method percentile.")
@click.option("--max-seconds", type=FiniteFloat(0.05, 600), default=3.0,
              show_default=True, help="Longest input (T_max = 100 frames per second); "
                                      "the arena is planned for it.")
@click.option("--block", type=click.IntRange(1, 4096), default=DEFAULT_BLOCK,
              show_default=True,
              help="Rows per block of the C runner's row loops (fewer rows: a smaller "
                   "arena, more calls).")
@click.option("--arena-budget", type=click.IntRange(0), default=ARENA_BUDGET // 1024,
              show_default=True,
              help="KB the arena may grow to for faster attention schedules (more query "
                   "rows and heads per call); 0 = the smallest arena, for RAM-tight "
                   "microcontrollers. Results are identical either way.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
              help="Seed of the calibration draw.")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False), default=DEFAULT_CACHE,
              show_default=True, help="Feature cache folder ('none' to disable).")
@click.option("--on-error", type=click.Choice(["fail", "skip"]), default="fail",
              show_default=True, help="Bad audio files in the manifests.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("-o", "--out", "--output", "output", type=click.Path(dir_okay=False),
              required=True,
              help="Model file to write (.prq).")
def quantize_command(model, calib_manifest, n_calib, eval_manifest, method, percentile,
                     max_seconds, block, arena_budget, seed, cache_dir, on_error, as_json,
                     output):
    """Quantize a merged MODEL (.npz) to int8 and write the C runner's .prq file.

    Calibrates activation ranges on --calib (normalized as in training, cut to
    --max-seconds), prints the per-layer error (float vs dequantized int8) and, with
    --eval, WA/UA of the float and the int8 model on the same utterances. A model
    trained with --stats-head takes its statistics head along, in integers
    (reference/stats_head.md), calibrated on all of --calib's utterances: `eval` and
    `infer` on the .prq decide with it.
    """
    from pyreparam.quant import workflow as wf
    from pyreparam.quant.inspect import describe
    from pyreparam.quant.prq import save_prq
    from pyreparam.quant.runtime import check_with_c

    t_max = int(round(max_seconds * FRAMES_PER_SECOND))
    log = (lambda *a, **k: None) if as_json else click.echo
    try:
        loaded = wf.load_merged(model)
        if loaded.note:
            log(f"note: {loaded.note}")
        cache = _cache(cache_dir)
        prior_note = wf.ensure_prior(loaded, calib_manifest, cache, on_error)
        if prior_note:
            log(f"note: {prior_note}")
        calib = wf.load_utterances(calib_manifest, loaded.frontend, t_max, cache, on_error)
        if not calib.features:
            raise click.ClickException(f"{calib_manifest}: no usable utterance")
        evaluation = wf.load_utterances(eval_manifest, loaded.frontend, t_max, cache,
                                        on_error) if eval_manifest else None
    except MODEL_ERRORS + (ManifestError, AudioError) as exc:
        raise click.ClickException(str(exc)) from None
    picked = wf.pick(calib, n_calib, seed)
    log(f"calibrating on {len(picked)} of {len(calib.features)} utterances ({method}), "
        f"T_max = {t_max} frames")
    graph, qparams, program = wf.quantize_model(loaded.model, picked, t_max, method,
                                                percentile, block, arena_budget * 1024)
    head = None
    if loaded.frontend.head is not None:
        head = wf.quantize_head(loaded, calib.raw, t_max, float(qparams["logits"][0]))
        log(f"statistics head: {head.n_features} functionals, int8 weights "
            f"({head.n_classes} x {head.n_features}), calibrated on {len(calib.raw)} "
            "utterances; "
            "the .prq decides with it (`pyreparam eval` / `infer` on the .prq"
            + ("; the evaluation below is the network alone, then with the head)"
               if eval_manifest else ")"))
    meta = wf.host_meta(loaded, qparams, t_max, {
        "method": method, "percentile": percentile if method == "percentile" else None,
        "n": len(picked), "manifest": str(calib_manifest), "seed": seed}, head)
    blob = save_prq(output, program, meta)
    report = {"output": str(output), "file_bytes": len(blob),
              "arena_bytes": program.arena_bytes, "t_max": t_max,
              "flash_bytes": describe(program, meta, len(blob))["flash_bytes"]}
    report["c_check"] = check_with_c(blob)
    ref = evaluation.features if evaluation else picked
    report["errors"] = wf.error_table(graph, program, qparams, ref[:50])
    report["errors_on"] = ("--eval" if evaluation else "calibration") + \
        f" utterances ({min(len(ref), 50)})"
    if evaluation is not None:
        if (evaluation.labels < 0).all():
            raise click.ClickException(f"{eval_manifest}: no utterance has one of the "
                                       f"model's classes {loaded.frontend.classes}")
        report["eval"] = wf.evaluate(loaded.model, program, blob, qparams, evaluation)
        report["eval"]["cut"] = evaluation.n_cut
        report["eval"]["cut_files"] = [[p, n] for p, n in evaluation.cut_files(t_max)]
        if head is not None:
            report["eval"]["with_head"] = _eval_with_head(model, output, evaluation)
    if as_json:
        click.echo(json.dumps(report, indent=1))
        return
    _print_quantize_report(report)


def _eval_with_head(model, prq, evaluation) -> dict:
    """The decisions a user gets from `eval` on the float model and on the .prq (network
    and statistics head, the model's own normalization) on the --eval utterances with
    one of the model's classes: WA, UA, macro-F1 of each."""
    import numpy as np
    from pyreparam.infer import load_runner, score_features
    keep = np.flatnonzero(evaluation.labels >= 0)
    raw = [evaluation.raw[i] for i in keep]
    speakers = [evaluation.speakers[i] for i in keep]
    out = {}
    for kind, path in (("float", model), ("int8", prq)):
        r = score_features(load_runner(path), raw, evaluation.labels[keep], speakers)
        out[kind] = {k: r[k] for k in ("wa", "ua", "macro_f1", "n", "protocol")}
    return out


def _print_quantize_report(report: dict) -> None:
    click.echo(f"per-layer error, float vs dequantized int8, on {report['errors_on']}:")
    click.echo(f"  {'value':<34}{'type':<7}{'scale':>11}{'zp':>6}{'rel. RMS':>10}"
               f"{'max |err|':>11}")
    for r in report["errors"]:
        click.echo(f"  {r['name']:<34}{r['dtype']:<7}{r['scale']:>11.3e}{r['zero_point']:>6}"
                   f"{100 * r['rel_rms']:>9.2f}%{r['max_err_lsb']:>8.1f} lsb")
    if "eval" in report:
        ev = report["eval"]
        click.echo(f"evaluation on {ev['n']} utterances"
                   + (f" ({ev['cut']} cut to T_max)" if ev["cut"] else "")
                   + (", the network alone" if "with_head" in ev else "") + ":")
        names = {"float": "float, whole files (as training and eval)" if "float_cut" in ev
                 else "float", "float_cut": "float, cut to T_max",
                 "int8": "int8, cut to T_max" if "float_cut" in ev else "int8"}
        width = max(len(names[k]) for k in names if k in ev)
        for kind in ("float", "float_cut", "int8"):
            if kind in ev:
                r = ev[kind]
                click.echo(f"  {names[kind]:<{width}}  WA {100 * r['wa']:.1f} %  UA "
                           f"{100 * r['ua']:.1f} %  macro-F1 {100 * r['macro_f1']:.1f} %")
        click.echo(f"  int8 and float predictions agree on {100 * ev['agreement']:.1f} %"
                   + (" (both cut)" if "float_cut" in ev else ""))
        if "with_head" in ev:
            h = ev["with_head"]
            click.echo(f"with the statistics head (as `eval` decides; {h['float']['protocol']} "
                       "normalization, whole files):")
            for kind in ("float", "int8"):
                r = h[kind]
                click.echo(f"  {kind:<{width}}  WA {100 * r['wa']:.1f} %  UA "
                           f"{100 * r['ua']:.1f} %  macro-F1 {100 * r['macro_f1']:.1f} %")
        if ev["cut"]:
            longest = max(n for _, n in ev["cut_files"])
            click.echo(f"note: {ev['cut']} of {ev['n']} evaluation files are longer than "
                       f"T_max ({report['t_max']} frames) and the int8 model saw only their "
                       f"start (e.g. {ev['cut_files'][0][0]}: {ev['cut_files'][0][1]} "
                       f"frames; --json lists them all); --max-seconds "
                       f"{longest / FRAMES_PER_SECOND:.2f} would cover every file",
                       err=True)
    click.echo(f"wrote {report['output']}: {report['file_bytes']:,} bytes (flash "
               f"{report['flash_bytes']:,} without host metadata), arena "
               f"{report['arena_bytes']:,} bytes for T_max = {report['t_max']} frames; "
               f"C check: {report['c_check']}")


# --------------------------------------------------------------------------- infer

@click.command("infer")
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("audio", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--state", "state_path", type=click.Path(dir_okay=False), default=None,
              help="A device's normalization state file (created when absent): the AUDIO "
                   "files are one speaker heard in this order; each is normalized with "
                   "what the state has heard before (causal normalization), then the "
                   "state is updated and rewritten atomically.")
@click.option("--same-speaker", is_flag=True,
              help="All AUDIO files are one speaker: normalize them with statistics "
                   "from all of them at once (batch use; no state kept).")
@click.option("--stream", "stream", is_flag=True,
              help="Each AUDIO file is a long recording: print a timeline of decisions "
                   "(start, end, emotion, probabilities; every hop over the last window, "
                   "silence gated) through the C stream API, as `pyreparam listen` and "
                   "the exported firmware do (a .prq only). With --state the files are "
                   "one speaker heard in order.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON records.")
def infer_command(model, audio, state_path, same_speaker, stream, as_json):
    """Predict the emotion of each AUDIO file with MODEL: a .prq (int8, C runtime) or a
    float checkpoint .npz (NumPy), with the front end it was trained with (features,
    normalization, class names).

    Without --state or --same-speaker each file is taken alone: normalized with the
    training speakers' prior (models trained before causal normalization existed: with
    the file's own statistics)."""
    from pyreparam.infer import infer_files, load_runner
    if state_path and same_speaker:
        raise click.UsageError("--state and --same-speaker exclude each other")
    if stream:
        if same_speaker:
            raise click.UsageError("--stream and --same-speaker exclude each other")
        from pyreparam.cli.stream import infer_stream
        infer_stream(model, list(audio), state_path, as_json)
        return
    try:
        runner = load_runner(model)
        if runner.note and not as_json:
            click.echo(f"note: {runner.note}", err=True)
        records, note = infer_files(runner, list(audio), same_speaker=same_speaker,
                                    state_path=state_path)
    except MODEL_ERRORS + (InferenceError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    _report(records, note, as_json)


def _report(records: list[dict], note: str | None, as_json: bool) -> None:
    failed = [r for r in records if "error" in r]
    if as_json:
        click.echo(json.dumps(records, indent=1))
    else:
        for rec in records:
            if "error" in rec:
                click.echo(f"{rec['file']}: error: {rec['error']}", err=True)
                continue
            if rec.get("no_speech"):
                click.echo(rec["note"])
                continue
            top = ", ".join(f"{c} {p:.2f}" for c, p in sorted(
                rec["probabilities"].items(), key=lambda kv: -kv[1]))
            heard = f", {rec['heard_before']} heard before" if "heard_before" in rec else ""
            click.echo(f"{rec['file']}: {rec['emotion']}  [{top}]  {rec['latency_ms']:.2f} ms "
                       f"({rec['model']}, {rec['frames']} frames{heard})")
            if "note" in rec:
                click.echo(f"  note: {rec['note']}")
    if note and not as_json:
        click.echo(f"note: {note}", err=True)
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(records)} file(s) could not be read")


# --------------------------------------------------------------------------- export

@click.command("export")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--c-header", "header", type=click.Path(dir_okay=False), required=True,
              help="C header to write (the model as a const byte array).")
@click.option("--name", default=None, help="C identifier of the array [default: the "
                                           "header's file name].")
def export_command(model, header, name):
    """Write MODEL.prq as a firmware-ready C header (aligned const array, sizes,
    scales, class names; for a model with a causal-normalization prior also the
    normalization's constants, the integer front end's tables and the stream's
    configuration and memory size) and an example main.c next to it: the whole
    audio-in, emotion-out loop through the stream API (pr_stream_*), or one inference
    (pr_model_check, pr_model_run) for a model without a prior."""
    from pyreparam.quant import export as ex
    from pyreparam.quant.prq import load_prq
    from pyreparam.quant.runtime import check_file_with_c, check_with_c
    try:
        check_file_with_c(model)
        program, meta, _ = load_prq(model)
        if "model_config" not in meta or "input" not in meta:
            raise PRQError(f"{model}: no host metadata (already a device copy?)")
        blob = ex.device_blob(program, meta)
        check_with_c(blob)
    except MODEL_ERRORS as exc:
        raise click.ClickException(str(exc)) from None
    header, main = ex.write_c_files(header, name, blob, meta, program, Path(model).name)
    click.echo(f"wrote {header} ({len(blob):,} bytes of model, arena "
               f"{program.arena_bytes:,} bytes) and {main}")
    if "head" in meta:
        ident = ex.c_identifier(name or Path(header).stem).upper()
        click.echo(f"note: {header} also holds the statistics head ({ident}_HEAD, "
                   f"{ident}_HEAD_NORM: pr_head_* and pr_norm_* per utterance, "
                   "reference/stats_head.md); the example main.c decides with the "
                   "network alone", err=True)


# --------------------------------------------------------------------------- inspect

@click.command("inspect")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def inspect_command(model, as_json):
    """Layers (ops with shapes at T_max), flash, arena and MACs per second of a .prq."""
    from pyreparam.quant.inspect import describe
    from pyreparam.quant.prq import load_prq
    from pyreparam.quant.runtime import check_file_with_c, check_with_c
    try:
        check_file_with_c(model)
        program, meta, blob = load_prq(model)
        c_check = check_with_c(blob)
    except MODEL_ERRORS as exc:
        raise click.ClickException(str(exc)) from None
    d = describe(program, meta, len(blob))
    d["c_check"] = c_check
    if as_json:
        click.echo(json.dumps(d, indent=1))
        return
    cfg = d["model_config"] or {}
    click.echo(f"{model}: {cfg.get('backbone', '?')} {cfg.get('size', '')}, "
               f"classes {d['classes']}")
    click.echo(f"T_max {d['t_max']} frames ({d['seconds']:.2f} s); {d['n_ops']} ops, "
               f"{d['n_tensors']} tensors; C check: {d['c_check']}")
    b = d["const_breakdown"]
    click.echo(f"flash {d['flash_bytes']:,} bytes (int8 weights and tables {b['weights']:,}, "
               f"int32 biases/multipliers/shifts/exp tables {b['int32']:,}, int16 "
               f"{b['int16']:,}, program and tables of contents the rest); file "
               f"{d['file_bytes']:,} bytes with host metadata")
    click.echo(f"arena {d['arena_bytes']:,} bytes; {d['macs_per_second'] / 1e6:.2f} M MACs "
               f"per second of audio ({d['macs'] / 1e6:.2f} M over {d['seconds']:.2f} s)")
    if d["head"]:
        h = d["head"]
        click.echo(f"statistics head: {h['functionals']:,} functionals x {h['classes']} "
                   f"classes, weight {h['mix']:g}; {h['constant_bytes']:,} bytes of "
                   "constants in the host metadata (eval, infer; `export` writes them "
                   "into the firmware header)")
    click.echo(f"  {'#':>3} {'op':<10}{'value':<34}{'output':<18}{'MACs':>12}")
    for op in d["ops"]:
        out = op["tensors"].get("y")
        shape = f"{out[0]}x{out[1]} {out[2]}" if out else \
            f"{op['n_body']} ops x {op['block']} rows"
        click.echo(f"  {op['index']:>3} {op['op']:<10}{(op['value'] or ''):<34}{shape:<18}"
                   f"{op['macs']:>12,}")
