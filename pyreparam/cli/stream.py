"""Streaming commands: ``listen`` (raw PCM from stdin, one line per decision) and the
timeline of ``infer --stream``; both go through the C stream API (pr_stream_*), as a
microcontroller does (:mod:`pyreparam.stream`)."""
from __future__ import annotations

import json
import sys

import click

from pyreparam.audio.decode import AudioError
from pyreparam.quant.prq import PRQError
from pyreparam.stream import StreamError


HEAD_NOTE = ("note: this model's statistics head needs a whole utterance: the stream "
             "decides with the network alone (`pyreparam infer MODEL FILE` without "
             "--stream decides with both)")


@click.command("listen")
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("source", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--state", "state_path", type=click.Path(dir_okay=False), default=None,
              help="The speaker's normalization state file (created when absent, "
                   "rewritten at the end): what the stream heard in earlier sessions.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per decision.")
def listen_command(model, source, state_path, as_json):
    """Recognize emotions in live audio: raw 16-bit little-endian mono PCM at the
    model's rate (16 kHz) from SOURCE ('-' for stdin), one line per decision until
    EOF or Ctrl-C:

        arecord -f S16_LE -r 16000 -c 1 | pyreparam listen model.prq -

    Every hop (1 s) the model decides the last window (3 s), or says there was no
    speech (energy gate); the same decisions as `pyreparam infer --stream` on the same
    samples and as the firmware of `pyreparam export`."""
    from pyreparam.stream import (StreamModel, format_record, listen, load_state,
                                  save_state)
    try:
        stream_model = StreamModel.from_file(model)
        state = load_state(state_path, stream_model)
    except (StreamError, PRQError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    if "head" in stream_model.meta:
        click.echo(HEAD_NOTE, err=True)

    def emit(rec: dict) -> None:
        click.echo(json.dumps(rec) if as_json else format_record(rec))
        sys.stdout.flush()

    if source == "-":
        final = listen(stream_model, sys.stdin.buffer, emit, state)
    else:
        try:
            with open(source, "rb") as f:
                final = listen(stream_model, f, emit, state)
        except OSError as exc:
            raise click.ClickException(f"{source}: {exc.strerror}") from None
    save_state(state_path, final)


def infer_stream(model: str, audio: list[str], state_path: str | None,
                 as_json: bool) -> None:
    """``pyreparam infer --stream``: a timeline per file (start, end, label,
    probabilities); with --state the files are one speaker, heard in order."""
    from pyreparam.stream import (StreamModel, format_record, load_state, read_pcm,
                                  save_state, stream_pcm)
    try:
        stream_model = StreamModel.from_file(model)
        state = load_state(state_path, stream_model)
    except (StreamError, PRQError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    if "head" in stream_model.meta:
        click.echo(HEAD_NOTE, err=True)
    out, failed = [], 0
    for path in audio:
        try:
            pcm = read_pcm(stream_model, path)
        except (AudioError, ValueError) as exc:
            click.echo(f"{path}: error: {exc}", err=True)
            failed += 1
            continue
        decisions, final = stream_pcm(stream_model, pcm, state)
        if state_path is not None:
            state = final
            save_state(state_path, final)
        records = [stream_model.record(d) for d in decisions]
        out.append({"file": path, "seconds": round(pcm.size / stream_model.sample_rate, 3),
                    "decisions": records})
        if not as_json:
            click.echo(f"{path}: {pcm.size / stream_model.sample_rate:.2f} s, "
                       f"{len(records)} decisions")
            for rec in records:
                click.echo("  " + format_record(rec))
    if as_json:
        click.echo(json.dumps(out, indent=1))
    if failed:
        raise click.ClickException(f"{failed} of {len(audio)} file(s) could not be read")
