"""``pyreparam data``: corpus manifests and the synthetic corpus (``data synth``)."""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import click

from pyreparam.data.corpora import CORPORA, scan_corpus
from pyreparam.cli.synth import synth
from pyreparam.data.manifest import summarize_manifest as summarize
from pyreparam.data.manifest import write_manifest


@click.group("data")
def data() -> None:
    """Corpora: write manifests from a corpus folder's file-name coding."""


def _layouts() -> str:
    """The corpus layouts as an unwrapped (\\b) help block with hanging indents."""
    lines = [textwrap.fill(corpus.layout, width=78, initial_indent=f"  {name:9s}",
                           subsequent_indent=" " * 11)
             for name, corpus in CORPORA.items()]
    return "\b\nExpected layout per corpus:\n" + "\n".join(lines)


_MANIFEST_HELP = f"""Scan the corpus folder DIR and write a CSV manifest.

The manifest has the header path,label,speaker (+ session,gender when known), one row
per utterance, with paths relative to the manifest's folder when the audio is inside
it. Labels use common English names (anger, boredom, disgust, fear, happiness,
sadness, neutral, calm, surprise). A summary (files, classes, speakers) is printed.

{_layouts()}
"""


@data.command("manifest", help=_MANIFEST_HELP)
@click.argument("directory", metavar="DIR",
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--corpus", required=True, type=click.Choice(list(CORPORA)),
              help="Which file-name coding to read (layouts below).")
@click.option("-o", "--out", "--output", "output", required=True,
              type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Manifest file to write (CSV).")
@click.option("--speaker-regex", default=None, metavar="REGEX",
              help="folders only: regex on the file name giving the speaker (group "
                   "'speaker', else group 1, else the whole match).")
def manifest(directory: Path, corpus: str, output: Path, speaker_regex: str | None) -> None:
    if speaker_regex is not None:
        if corpus != "folders":
            raise click.BadParameter("applies to --corpus folders only",
                                     param_hint="--speaker-regex")
        try:
            re.compile(speaker_regex)
        except re.error as error:
            raise click.BadParameter(f"invalid regex ({error})",
                                     param_hint="--speaker-regex") from error
    utterances = scan_corpus(directory, corpus, speaker_regex=speaker_regex)
    if not utterances:
        raise click.ClickException(
            f"no {corpus} utterances found in {directory}; expected: "
            f"{CORPORA[corpus].layout}")
    write_manifest(utterances, output)
    click.echo(f"wrote {output}")
    click.echo(summarize(utterances))


data.add_command(synth)
