"""CSV manifests: one utterance per row, header ``path,label,speaker[,session,gender]``.

Relative paths in a manifest are relative to the manifest's own folder, so a corpus
folder with its manifest inside can be moved as a whole. Extra columns are ignored.
"""
from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from pyreparam.atomic import write_text

REQUIRED_COLUMNS = ("path", "label", "speaker")
OPTIONAL_COLUMNS = ("session", "gender")

#: How many missing audio files an error message lists before "... and N more".
_MAX_LISTED = 10


class ManifestError(ValueError):
    """A manifest that cannot be used; the message names the manifest file."""


class Utterance(NamedTuple):
    """One labelled audio file.

    path : absolute path of the audio file (str)
    label : emotion class name, e.g. 'anger'
    speaker : speaker id (the grouping unit of speaker-independent splits)
    session : recording session or other group ('' when the corpus has none)
    gender : 'f', 'm' or '' (unknown)
    """

    path: str
    label: str
    speaker: str
    session: str = ""
    gender: str = ""


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ManifestError(f"{path}: manifest not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(f"{path}: cannot read manifest ({error})") from error
    if not text.strip():
        raise ManifestError(f"{path}: empty manifest (expected a header "
                            f"{','.join(REQUIRED_COLUMNS)})")
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or []]
    reader.fieldnames = header
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise ManifestError(f"{path}: missing column(s) {', '.join(missing)}; header is "
                            f"{','.join(header)!r}, expected {','.join(REQUIRED_COLUMNS)}"
                            f" (+ optional {','.join(OPTIONAL_COLUMNS)})")
    return header, list(reader)


def _row_to_utterance(row: dict[str, str], line: int, manifest: Path) -> Utterance:
    values = {key: (row.get(key) or "").strip() for key in REQUIRED_COLUMNS + OPTIONAL_COLUMNS}
    blank = [key for key in REQUIRED_COLUMNS if not values[key]]
    if blank:
        raise ManifestError(f"{manifest}, line {line}: empty {', '.join(blank)}")
    audio = Path(values["path"]).expanduser()
    if not audio.is_absolute():
        audio = manifest.parent / audio
    values["path"] = os.path.normpath(audio.absolute())
    return Utterance(**values)


def read_manifest(path: str | os.PathLike, *, check_files: bool = True) -> list[Utterance]:
    """Read a CSV manifest.

    Parameters
    ----------
    path : str or Path
        The manifest file.
    check_files : bool
        Check that every audio file exists (default True).

    Returns
    -------
    list of Utterance
        In file order, with absolute paths.

    Raises
    ------
    ManifestError
        Missing or empty file, missing required column, a row with an empty
        path/label/speaker, no rows, or audio files that do not exist (listed).
    """
    path = Path(path)
    _, rows = _read_rows(path)
    # line numbers count the header as line 1 (rows spanning lines are not expected)
    utterances = [_row_to_utterance(row, line, path) for line, row in enumerate(rows, 2)]
    if not utterances:
        raise ManifestError(f"{path}: manifest has a header but no rows")
    if check_files:
        missing = [u.path for u in utterances if not os.path.isfile(u.path)]
        if missing:
            listed = "\n  ".join(missing[:_MAX_LISTED])
            more = f"\n  ... and {len(missing) - _MAX_LISTED} more" \
                if len(missing) > _MAX_LISTED else ""
            raise ManifestError(f"{path}: {len(missing)} of {len(utterances)} audio files "
                                f"not found:\n  {listed}{more}")
    return utterances


def _manifest_path_text(audio: str, folder: Path) -> str:
    """The path as written: relative to the manifest folder when inside it."""
    audio_path = Path(os.path.abspath(audio))
    try:
        return audio_path.relative_to(folder).as_posix()
    except ValueError:
        return str(audio_path)


def write_manifest(utterances: Iterable[Utterance], path: str | os.PathLike) -> Path:
    """Write a CSV manifest atomically (:func:`pyreparam.atomic.atomic_write`).

    Files inside the manifest's folder are written with relative paths, others with
    absolute ones. The columns session and gender are written only when some
    utterance has one.

    Parameters
    ----------
    utterances : iterable of Utterance
    path : str or Path
        Destination; its folder is created if needed.

    Returns
    -------
    Path
        The manifest path.
    """
    path = Path(path)
    utterances = list(utterances)
    folder = Path(os.path.abspath(path.parent))
    columns = list(REQUIRED_COLUMNS) + [
        name for name in OPTIONAL_COLUMNS if any(getattr(u, name) for u in utterances)]
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    for u in utterances:
        row = u._replace(path=_manifest_path_text(u.path, folder))._asdict()
        writer.writerow([row[name] for name in columns])
    write_text(path, text.getvalue())
    return path
