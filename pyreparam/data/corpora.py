"""Corpus adapters: scan a corpus folder and read labels from its file-name coding.

Every adapter returns a list of :class:`~pyreparam.data.manifest.Utterance` with the
project's common English label names (:data:`LABELS`); :func:`scan_corpus` sorts it
by path. Files that do
not follow the corpus's coding (other files, macOS ``._`` resource forks, hidden
folders, other modalities) are ignored. Folders are searched recursively unless an
adapter says otherwise, so the root may be the corpus folder as distributed or any
folder above its audio files.
"""
from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

from pyreparam.data.manifest import Utterance

#: The common label names used across corpora.
LABELS = ("anger", "boredom", "disgust", "fear", "happiness", "sadness", "neutral",
          "calm", "surprise")


def _walk_files(root: Path) -> Iterator[Path]:
    """Every non-hidden file below ``root`` (hidden folders are not entered)."""
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(folder) / name


def _matching(root: Path, pattern: re.Pattern) -> Iterator[tuple[Path, re.Match]]:
    for path in _walk_files(root):
        match = pattern.fullmatch(path.name)
        if match:
            yield path, match


def _utterance(path: Path, label: str, speaker: str, session: str = "",
               gender: str = "") -> Utterance:
    return Utterance(os.path.normpath(path.absolute()), label, speaker, session, gender)


# --------------------------------------------------------------------------- EmoDB

EMODB_EMOTIONS = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear",
                  "F": "happiness", "T": "sadness", "N": "neutral"}
EMODB_GENDERS = {"03": "m", "10": "m", "11": "m", "12": "m", "15": "m",
                 "08": "f", "09": "f", "13": "f", "14": "f", "16": "f"}
_EMODB_NAME = re.compile(r"(\d{2})([ab]\d{2})([WLEAFTN])([a-z])\.wav", re.IGNORECASE)


def scan_emodb(root: Path) -> list[Utterance]:
    """Berlin EmoDB: ``SSTTTEV.wav``, 7 classes, 10 speakers.

    Coding (Burkhardt et al., "A Database of German Emotional Speech",
    Interspeech 2005; emodb.bilderbar.info; the copy's README): SS speaker id,
    TTT text id (a01-a07, b01-b03, b09, b10), E emotion by its German initial
    (W Wut anger, L Langeweile boredom, E Ekel disgust, A Angst fear, F Freude
    happiness, T Trauer sadness, N neutral), V version letter. Speakers 03 10 11 12 15
    are male, 08 09 13 14 16 female. Session: none.
    """
    utterances = []
    for path, match in _matching(root, _EMODB_NAME):
        speaker, _, emotion, _ = match.groups()
        utterances.append(_utterance(path, EMODB_EMOTIONS[emotion.upper()], speaker,
                                     gender=EMODB_GENDERS.get(speaker, "")))
    return utterances


# ------------------------------------------------------------------------- RAVDESS

RAVDESS_EMOTIONS = {"01": "neutral", "02": "calm", "03": "happiness", "04": "sadness",
                    "05": "anger", "06": "fear", "07": "disgust", "08": "surprise"}
_RAVDESS_NAME = re.compile(r"(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})\.wav",
                           re.IGNORECASE)


def scan_ravdess(root: Path) -> list[Utterance]:
    """RAVDESS speech: ``MM-VV-EE-II-SS-RR-AA.wav``, audio-only speech files only.

    Coding (Livingstone & Russo, PLoS ONE 13(5) e0196391, 2018; the Zenodo
    record 1188976): MM modality (01 audio-video, 02 video-only, 03 audio-only: kept),
    VV vocal channel (01 speech: kept, 02 song), EE emotion (01 neutral, 02 calm,
    03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised), II intensity
    (01 normal, 02 strong), SS statement, RR repetition, AA actor 01-24 (the
    speaker; odd = male, even = female). Session: none.
    """
    utterances = []
    for path, match in _matching(root, _RAVDESS_NAME):
        modality, channel, emotion, _, _, _, actor = match.groups()
        if modality != "03" or channel != "01" or emotion not in RAVDESS_EMOTIONS:
            continue
        gender = "m" if int(actor) % 2 == 1 else "f"
        utterances.append(_utterance(path, RAVDESS_EMOTIONS[emotion], actor,
                                     gender=gender))
    return utterances


# ------------------------------------------------------------------------- IEMOCAP

IEMOCAP_EMOTIONS = {"ang": "anger", "hap": "happiness", "exc": "happiness",
                    "neu": "neutral", "sad": "sadness"}
_IEMOCAP_LINE = re.compile(r"\[\s*[\d.]+\s*-\s*[\d.]+\s*\]\s+(Ses\w+)\s+(\w+)\s+\[")
_IEMOCAP_SPEAKER = re.compile(r"_([FM])\d+$")


def _iemocap_labels(session_dir: Path) -> dict[str, str]:
    """Utterance id -> category code from SessionN/dialog/EmoEvaluation/*.txt."""
    labels = {}
    for path in sorted((session_dir / "dialog" / "EmoEvaluation").glob("*.txt")):
        if path.name.startswith("."):
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            match = _IEMOCAP_LINE.match(line)
            if match:
                labels[match.group(1)] = match.group(2)
    return labels


def scan_iemocap(root: Path) -> list[Utterance]:
    """IEMOCAP: the standard 4 classes from the evaluators' consensus labels.

    Layout (Busso et al., "IEMOCAP", Language Resources and Evaluation 42, 2008;
    the release's README): ``IEMOCAP_full_release/SessionN/sentences/wav/<dialog>/
    <utterance>.wav`` and ``SessionN/dialog/EmoEvaluation/<dialog>.txt`` whose lines
    ``[start - end]<TAB>utterance<TAB>code<TAB>[V, A, D]`` give the consensus
    category: ang anger, hap happiness, exc excited (merged into happiness), neu
    neutral, sad sadness; every other code (fru, sur, fea, dis, oth, xxx) is dropped,
    the usual 4-class setting. The utterance id ends in ``_F000`` or ``_M000``: the
    gender of the actor speaking (not the ``Ses01F`` prefix, which names the actor
    wearing the markers). Each session has one female and one male actor, so
    speaker = session + gender, e.g. ``Session1_F``; session = ``Session1``.
    ``root`` may be the IEMOCAP_full_release folder or its parent.
    """
    if (root / "IEMOCAP_full_release").is_dir():
        root = root / "IEMOCAP_full_release"
    utterances = []
    for session_dir in sorted(root.glob("Session[0-9]*")):
        match = re.fullmatch(r"Session(\d+)", session_dir.name)
        if not match or not session_dir.is_dir():
            continue
        session = f"Session{int(match.group(1))}"
        for utterance_id, code in _iemocap_labels(session_dir).items():
            speaker = _IEMOCAP_SPEAKER.search(utterance_id)
            if code not in IEMOCAP_EMOTIONS or not speaker:
                continue
            dialog = utterance_id[:speaker.start()]
            wav = session_dir / "sentences" / "wav" / dialog / f"{utterance_id}.wav"
            if wav.is_file():
                gender = speaker.group(1)
                utterances.append(_utterance(wav, IEMOCAP_EMOTIONS[code],
                                             f"{session}_{gender}", session,
                                             gender.lower()))
    return utterances


# --------------------------------------------------------------------------- EMOVO

EMOVO_EMOTIONS = {"dis": "disgust", "gio": "happiness", "neu": "neutral", "pau": "fear",
                  "rab": "anger", "sor": "surprise", "tri": "sadness"}
_EMOVO_NAME = re.compile(r"(dis|gio|neu|pau|rab|sor|tri)-([fm][1-3])-([a-z]+\d*)\.wav",
                         re.IGNORECASE)


def scan_emovo(root: Path) -> list[Utterance]:
    """EMOVO (Italian): ``emotion-speaker-sentence.wav``, e.g. ``rab-f1-b1.wav``.

    Coding (Costantini et al., "EMOVO Corpus: an Italian Emotional Speech Database",
    LREC 2014): emotion dis disgusto disgust, gio gioia happiness, neu neutral,
    pau paura fear, rab rabbia anger, sor sorpresa surprise, tri tristezza sadness;
    speakers f1-f3 (female) and m1-m3 (male); sentence codes b1-b3, l1-l4, n1-n5,
    d1-d2. Session: none.
    """
    utterances = []
    for path, match in _matching(root, _EMOVO_NAME):
        emotion, speaker, _ = (group.lower() for group in match.groups())
        utterances.append(_utterance(path, EMOVO_EMOTIONS[emotion], speaker,
                                     gender=speaker[0]))
    return utterances


# ---------------------------------------------------------------------------- TESS

TESS_EMOTIONS = {"angry": "anger", "disgust": "disgust", "fear": "fear",
                 "happy": "happiness", "neutral": "neutral", "ps": "surprise",
                 "sad": "sadness"}
_TESS_NAME = re.compile(r"(OAF|YAF)_(\w+)_([a-z]+)\.wav", re.IGNORECASE)


def scan_tess(root: Path) -> list[Utterance]:
    """TESS (Toronto emotional speech set): ``OAF_word_emotion.wav``.

    Coding (Dupuis & Pichora-Fuller, University of Toronto, 2010; Borealis
    dataverse doi:10.5683/SP2/E8H2MF): speaker OAF (older actress, 64) or YAF
    (younger actress, 26), both female; the target word; the emotion word last:
    angry, disgust, fear, happy, neutral, ps (pleasant surprise), sad. Session: none.
    """
    utterances = []
    for path, match in _matching(root, _TESS_NAME):
        speaker, _, emotion = match.groups()
        if emotion.lower() in TESS_EMOTIONS:
            utterances.append(_utterance(path, TESS_EMOTIONS[emotion.lower()],
                                         speaker.upper(), gender="f"))
    return utterances


# ------------------------------------------------------------------------- CREMA-D

CREMAD_EMOTIONS = {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happiness",
                   "NEU": "neutral", "SAD": "sadness"}
_CREMAD_NAME = re.compile(r"(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})\.wav")


def _cremad_genders(root: Path) -> dict[str, str]:
    """ActorID -> 'm'/'f' from VideoDemographics.csv (in root or its parent), if any."""
    for folder in (root, root.parent):
        table = folder / "VideoDemographics.csv"
        if table.is_file():
            with open(table, encoding="utf-8-sig", newline="") as handle:
                return {row["ActorID"].strip(): row["Sex"].strip()[:1].lower()
                        for row in csv.DictReader(handle)
                        if row.get("ActorID") and row.get("Sex")}
    return {}


def scan_cremad(root: Path) -> list[Utterance]:
    """CREMA-D: ``ActorID_Sentence_EMO_Level.wav``, e.g. ``1001_DFA_ANG_XX.wav``.

    Coding (Cao et al., "CREMA-D", IEEE Trans. Affective Computing 5(4), 2014; the
    CheyneyComputerScience/CREMA-D repository): ActorID 1001-1091 (the speaker),
    one of 12 sentence codes, emotion ANG anger, DIS disgust, FEA fear, HAP
    happiness, NEU neutral, SAD sadness, intensity level LO, MD, HI or XX
    (unspecified). Gender from VideoDemographics.csv (column Sex) when it is found
    in the root or its parent, else ''. Session: none.
    """
    genders = _cremad_genders(root)
    utterances = []
    for path, match in _matching(root, _CREMAD_NAME):
        actor, _, emotion, _ = match.groups()
        if emotion in CREMAD_EMOTIONS:
            utterances.append(_utterance(path, CREMAD_EMOTIONS[emotion], actor,
                                         gender=genders.get(actor, "")))
    return utterances


# ------------------------------------------------------------------------- folders

FOLDER_EXTENSIONS = (".wav", ".flac", ".ogg", ".aiff", ".aif")


def _speaker_from_name(name: str, speaker_regex: re.Pattern | None) -> str:
    match = speaker_regex.search(name) if speaker_regex else None
    if not match:
        return "unknown"
    if "speaker" in speaker_regex.groupindex:
        return match.group("speaker")
    return match.group(1) if speaker_regex.groups else match.group(0)


def scan_folders(root: Path, speaker_regex: str | None = None) -> list[Utterance]:
    """One folder per class: ``root/<label>/*.{wav,flac,ogg,aiff,aif}``.

    The label is the folder's name, as written. Only files directly in a label folder
    count (extension case ignored, hidden files and folders skipped). The speaker is
    taken from the file name with ``speaker_regex`` (``re.search``; the group named
    ``speaker``, else group 1, else the whole match); files it does not match, and all
    files when no regex is given, get speaker ``unknown``. Session and gender: none.
    """
    pattern = re.compile(speaker_regex) if speaker_regex else None
    utterances = []
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        for path in sorted(folder.iterdir()):
            if (path.is_file() and not path.name.startswith(".")
                    and path.suffix.lower() in FOLDER_EXTENSIONS):
                speaker = _speaker_from_name(path.name, pattern)
                utterances.append(_utterance(path, folder.name, speaker))
    return utterances


# ------------------------------------------------------------------------ registry

class Corpus(NamedTuple):
    """An adapter and a one-line description of the layout it expects."""

    scan: Callable[..., list[Utterance]]
    layout: str


CORPORA: dict[str, Corpus] = {
    "emodb": Corpus(scan_emodb, "SSTTTEV.wav anywhere below DIR, e.g. 03a01Fa.wav "
                                "(speaker, text, emotion initial W L E A F T N, version)"),
    "ravdess": Corpus(scan_ravdess, "03-01-EE-II-SS-RR-AA.wav below DIR (Actor_XX/); "
                                    "audio-only speech files, other modalities ignored"),
    "iemocap": Corpus(scan_iemocap, "DIR = IEMOCAP_full_release (or its parent) with "
                                    "SessionN/sentences/wav/ and "
                                    "SessionN/dialog/EmoEvaluation/*.txt; 4 classes"),
    "emovo": Corpus(scan_emovo, "emotion-speaker-sentence.wav below DIR, e.g. "
                                "rab-f1-b1.wav (speakers f1-f3, m1-m3)"),
    "tess": Corpus(scan_tess, "OAF_word_emotion.wav / YAF_word_emotion.wav below DIR "
                              "(ps = pleasant surprise)"),
    "cremad": Corpus(scan_cremad, "ActorID_Sentence_EMO_Level.wav below DIR, e.g. "
                                  "1001_DFA_ANG_XX.wav; VideoDemographics.csv optional"),
    "folders": Corpus(scan_folders, "DIR/<label>/*.{wav,flac,ogg,aiff}; speaker from "
                                    "--speaker-regex on the file name, else 'unknown'"),
}


def scan_corpus(root: str | os.PathLike, corpus: str, *,
                speaker_regex: str | None = None) -> list[Utterance]:
    """Scan a corpus folder with the adapter named ``corpus``.

    Parameters
    ----------
    root : str or Path
        The corpus folder.
    corpus : str
        One of :data:`CORPORA`: emodb, ravdess, iemocap, emovo, tess, cremad, folders.
    speaker_regex : str, optional
        Only for ``folders``: how to read the speaker from a file name.

    Returns
    -------
    list of Utterance
        Sorted by path; possibly empty.
    """
    if corpus not in CORPORA:
        raise ValueError(f"unknown corpus {corpus!r}; known: {', '.join(CORPORA)}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: corpus folder not found")
    if corpus == "folders":
        utterances = scan_folders(root, speaker_regex)
    elif speaker_regex is not None:
        raise ValueError(f"speaker_regex applies to the 'folders' corpus only, "
                         f"not {corpus!r}")
    else:
        utterances = CORPORA[corpus].scan(root)
    return sorted(utterances, key=lambda u: u.path)
