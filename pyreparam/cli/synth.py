"""``pyreparam data synth``: write the embedded synthetic emotional-speech corpus."""
from __future__ import annotations

import time
from pathlib import Path

import click

from pyreparam.data.manifest import read_manifest, summarize_manifest as summarize
from pyreparam.data.synth import EMOTIONS, MIN_SAMPLE_RATE, write_synthetic_corpus


@click.command("synth")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--speakers", type=click.IntRange(min=1), default=8, show_default=True,
              help="Number of speakers (even indices female, odd male).")
@click.option("--per-class", type=click.IntRange(min=1), default=30, show_default=True,
              help="Utterances per emotion and speaker.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Corpus seed; the same seed writes byte-identical files.")
@click.option("--sample-rate", type=click.IntRange(min=MIN_SAMPLE_RATE), default=16000,
              show_default=True, help="Sample rate of the WAVs in Hz.")
def synth(out: Path, speakers: int, per_class: int, seed: int, sample_rate: int) -> None:
    """Synthesize an emotional-speech corpus into the folder OUT (no data needed).

    A source-filter voice model speaks random syllables in four emotions (neutral,
    happiness, sadness, anger) for --speakers speakers. Writes 16-bit PCM WAVs to
    OUT/wav/spkXX_<emotion>_NNN.wav and the manifest OUT/manifest.csv (path, label,
    speaker, gender), ready for speaker-independent training. Existing files of the
    same names are overwritten. The model is described in reference/synth.md.
    """
    start = time.perf_counter()
    manifest = write_synthetic_corpus(out, speakers=speakers, per_class=per_class,
                                      seed=seed, sample_rate=sample_rate)
    seconds = time.perf_counter() - start
    click.echo(f"wrote {speakers} speakers x {len(EMOTIONS)} emotions x {per_class} "
               f"utterances at {sample_rate} Hz in {seconds:.1f} s")
    click.echo(summarize(read_manifest(manifest)))
    click.echo(f"manifest: {manifest}")
