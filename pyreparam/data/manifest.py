"""CSV manifests: one utterance per row, header ``path,label,speaker[,session,gender]``.

Relative paths in a manifest are relative to the manifest's own folder, so a corpus
folder with its manifest inside can be moved as a whole. Extra columns are ignored.
"""
from __future__ import annotations

import csv
import io
import os
import warnings
from collections import Counter
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


class ManifestWarning(UserWarning):
    """A manifest that is used, but not exactly as written (relabelled rows, ...)."""


#: A class with fewer rows than this, next to classes of many, is probably a typo.
RARE_CLASS_ROWS = 3


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
    if any("\0" in v for v in values.values()):
        raise ManifestError(f"{manifest}, line {line}: a NUL character in a field (a "
                            "binary file?)")
    try:
        audio = Path(values["path"]).expanduser()
    except RuntimeError:                       # "~user/..." of an unknown user
        raise ManifestError(f"{manifest}, line {line}: cannot expand the path "
                            f"{values['path']!r} (no such user's home)") from None
    if not audio.is_absolute():
        audio = manifest.parent / audio
    values["path"] = os.path.normpath(audio.absolute())
    return Utterance(**values)


def normalize_label(label: str) -> str:
    """A label as classes are named: lower case, single spaces ('ANGER ' -> 'anger')."""
    return " ".join(label.split()).lower()


def _normalize_labels(utterances: list[Utterance], manifest: Path) -> list[Utterance]:
    """Labels in canonical form, with one warning listing what changed."""
    changed = [(line, u.label) for line, u in enumerate(utterances, 2)
               if normalize_label(u.label) != u.label]
    if changed:
        shown = ", ".join(f"line {line}: {label!r} -> {normalize_label(label)!r}"
                          for line, label in changed[:3])
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        warnings.warn(ManifestWarning(f"{manifest}: {len(changed)} label(s) written in "
                                      f"another case or spacing were normalized ({shown}"
                                      f"{more})"), stacklevel=3)
    return [u._replace(label=normalize_label(u.label)) for u in utterances]


def _check_rare_labels(utterances: list[Utterance], manifest: Path) -> None:
    """Warn about a class of a row or two next to large classes (a typo, another
    corpus's label): it would become a class of its own."""
    counts = Counter(u.label for u in utterances)
    if len(counts) < 2:
        return
    for label, n in sorted(counts.items()):
        if n < RARE_CLASS_ROWS and max(counts.values()) >= 5 * n:
            lines = [str(i) for i, u in enumerate(utterances, 2) if u.label == label]
            warnings.warn(ManifestWarning(
                f"{manifest}: label {label!r} is on {n} row(s) only (line "
                f"{', '.join(lines)}), the other classes have up to {max(counts.values())}:"
                " a typo? it becomes a class of its own"), stacklevel=3)


def _check_paths(utterances: list[Utterance], manifest: Path) -> None:
    """One audio file is one utterance: a path listed with two labels or under two
    speakers is an error (a file of a test speaker could also be trained on); a row
    repeated exactly warns (it counts twice)."""
    first: dict[str, tuple[int, Utterance]] = {}
    for line, u in enumerate(utterances, 2):
        if u.path not in first:
            first[u.path] = (line, u)
            continue
        line0, u0 = first[u.path]
        for what, a, b in (("labels", u0.label, u.label), ("speakers", u0.speaker, u.speaker)):
            if a != b:
                raise ManifestError(f"{manifest}, lines {line0} and {line}: {u.path} is "
                                    f"listed with two {what} ({a!r}, {b!r}); one file is "
                                    "one utterance of one speaker")
        warnings.warn(ManifestWarning(f"{manifest}, lines {line0} and {line}: {u.path} is "
                                      "listed twice (it counts twice)"), stacklevel=3)


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
        path/label/speaker, no rows, one path with two labels or two speakers, or
        audio files that do not exist (listed).

    Labels are normalized (case, spacing; :func:`normalize_label`) with a
    :class:`ManifestWarning`, as are rare labels and repeated rows.
    """
    path = Path(path)
    _, rows = _read_rows(path)
    # line numbers count the header as line 1 (rows spanning lines are not expected)
    utterances = [_row_to_utterance(row, line, path) for line, row in enumerate(rows, 2)]
    if not utterances:
        raise ManifestError(f"{path}: manifest has a header but no rows")
    utterances = _normalize_labels(utterances, path)
    _check_paths(utterances, path)
    _check_rare_labels(utterances, path)
    if check_files:
        missing = [u.path for u in utterances if not os.path.isfile(u.path)]
        if missing:
            listed = ", ".join(missing[:_MAX_LISTED])
            more = f" and {len(missing) - _MAX_LISTED} more" \
                if len(missing) > _MAX_LISTED else ""
            raise ManifestError(f"{path}: {len(missing)} of {len(utterances)} audio files "
                                f"not found: {listed}{more}")
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


def _counts(values: list[str]) -> str:
    return ", ".join(f"{value} {count}" for value, count in sorted(Counter(values).items()))


def summarize_manifest(utterances: list[Utterance]) -> str:
    """A few lines: file count, class counts, speaker counts (and genders if known)."""
    labels = [u.label for u in utterances]
    speakers = [u.speaker for u in utterances]
    lines = [f"files: {len(utterances)}",
             f"classes ({len(set(labels))}): {_counts(labels)}",
             f"speakers ({len(set(speakers))}): {_counts(speakers)}"]
    genders = [u.gender for u in utterances if u.gender]
    if genders:
        lines.append(f"genders: {_counts(genders)}")
    return "\n".join(lines)
