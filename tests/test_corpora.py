"""Corpus adapters, CSV manifests and the `pyreparam data manifest` command."""
from __future__ import annotations

import io
import os
import tempfile
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from pyreparam.cli.data import data as data_cli
from pyreparam.data.corpora import CORPORA, LABELS, scan_corpus
from pyreparam.data.manifest import (ManifestError, ManifestWarning, Utterance, normalize_label,
                                     read_manifest, write_manifest)

EMODB_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "emodb"  # ../shared


def _tiny_wav_bytes() -> bytes:
    buffer = io.BytesIO()
    t = np.arange(1600) / 16000
    sf.write(buffer, 0.1 * np.sin(2 * np.pi * 200 * t), 16000, format="WAV",
             subtype="PCM_16")
    return buffer.getvalue()


TINY_WAV = _tiny_wav_bytes()


def make_tree(root: Path, names: list[str]) -> None:
    """Create every relative path in ``names`` as a tiny WAV (or a text file)."""
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() in (".wav", ".flac", ".ogg", ".aiff", ".aif"):
            path.write_bytes(TINY_WAV)
        else:
            path.write_text("not audio\n")


def by_name(utterances: list[Utterance]) -> dict[str, Utterance]:
    return {Path(u.path).name: u for u in utterances}


# --------------------------------------------------------------------------- EmoDB

def test_emodb_adapter(tmp_path):
    kept = ["wav/03a01Fa.wav", "wav/08b10Wb.wav", "wav/16a05Ld.wav", "wav/11b03Tc.wav",
            "wav/09a02Ea.wav", "wav/13a04Ab.wav", "wav/15b02Nc.wav"]
    ignored = ["wav/._03a01Fa.wav", "wav/03a01Xa.wav", "wav/3a01Fa.wav", "README.txt",
               "lablaut/03a01Fa.lab", ".hidden/03a01Wa.wav", "wav/03a01Fa.wav.bak"]
    make_tree(tmp_path, kept + ignored)
    utterances = scan_corpus(tmp_path, "emodb")
    assert [Path(u.path).name for u in utterances] == sorted(Path(k).name for k in kept)
    found = {name: (u.label, u.speaker, u.gender, u.session)
             for name, u in by_name(utterances).items()}
    assert found == {
        "03a01Fa.wav": ("happiness", "03", "m", ""), "08b10Wb.wav": ("anger", "08", "f", ""),
        "16a05Ld.wav": ("boredom", "16", "f", ""), "11b03Tc.wav": ("sadness", "11", "m", ""),
        "09a02Ea.wav": ("disgust", "09", "f", ""), "13a04Ab.wav": ("fear", "13", "f", ""),
        "15b02Nc.wav": ("neutral", "15", "m", "")}
    assert all(os.path.isabs(u.path) and os.path.isfile(u.path) for u in utterances)


@pytest.mark.skipif(not EMODB_DIR.is_dir(), reason="EmoDB copy not available")
def test_real_emodb_counts():
    utterances = scan_corpus(EMODB_DIR, "emodb")
    assert len(utterances) == 535
    assert Counter(u.label for u in utterances) == {
        "anger": 127, "boredom": 81, "neutral": 79, "happiness": 71, "fear": 69,
        "sadness": 62, "disgust": 46}  # W127 L81 N79 F71 A69 T62 E46
    assert Counter(u.speaker for u in utterances) == {
        "03": 49, "08": 58, "09": 43, "10": 38, "11": 55, "12": 35, "13": 61, "14": 69,
        "15": 56, "16": 71}
    assert Counter(u.gender for u in utterances) == {"m": 49 + 38 + 55 + 35 + 56,
                                                     "f": 58 + 43 + 61 + 69 + 71}


# ------------------------------------------------------------------------- RAVDESS

def test_ravdess_adapter_keeps_audio_only_speech(tmp_path):
    emotions = ["neutral", "calm", "happiness", "sadness", "anger", "fear", "disgust",
                "surprise"]
    kept = [f"Actor_{(e % 24) + 1:02d}/03-01-{e + 1:02d}-01-01-01-{(e % 24) + 1:02d}.wav"
            for e in range(8)]
    kept.append("Actor_24/03-01-05-02-02-02-24.wav")
    ignored = ["Actor_01/01-01-05-01-01-01-01.wav",  # audio-video
               "Actor_01/02-01-05-01-01-01-01.wav",  # video only
               "Actor_01/03-02-03-01-01-01-01.wav",  # song
               "Actor_01/03-01-09-01-01-01-01.wav",  # no such emotion
               "Actor_01/._03-01-05-01-01-01-01.wav", "Actor_01/03-01-05-01-01-01.wav"]
    make_tree(tmp_path, kept + ignored)
    found = by_name(scan_corpus(tmp_path, "ravdess"))
    assert sorted(found) == sorted(Path(k).name for k in kept)
    for e, name in enumerate(kept[:8]):
        u = found[Path(name).name]
        actor = (e % 24) + 1
        assert (u.label, u.speaker, u.gender) == (
            emotions[e], f"{actor:02d}", "m" if actor % 2 else "f")
    assert found["03-01-05-02-02-02-24.wav"][1:] == ("anger", "24", "", "f")


# ------------------------------------------------------------------------- IEMOCAP

def _iemocap_eval(lines: list[tuple[str, str]]) -> str:
    text = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
    for i, (utterance, code) in enumerate(lines):
        text += [f"[{i + 1.5:.4f} - {i + 2.25:.4f}]\t{utterance}\t{code}\t"
                 "[2.5000, 2.5000, 2.5000]",
                 "C-E2:\tNeutral;\t()", "A-E1:\tval 3; act 2; dom  2;\t()", ""]
    return "\n".join(text)


@pytest.mark.parametrize("from_parent", [True, False])
def test_iemocap_adapter_four_classes(tmp_path, from_parent):
    release = tmp_path / "IEMOCAP_full_release"
    labels = {
        "Session1": {"Ses01F_impro01": [("Ses01F_impro01_F000", "neu"),
                                        ("Ses01F_impro01_M001", "exc"),
                                        ("Ses01F_impro01_F002", "fru"),
                                        ("Ses01F_impro01_M003", "xxx"),
                                        ("Ses01F_impro01_F004", "ang"),
                                        ("Ses01F_impro01_F005", "sad")],
                     "Ses01M_script01_1": [("Ses01M_script01_1_F000", "hap"),
                                           ("Ses01M_script01_1_M001", "sad")]},
        "Session2": {"Ses02F_impro02": [("Ses02F_impro02_M000", "ang"),
                                        ("Ses02F_impro02_F001", "neu")]}}
    wavs = []
    for session, dialogs in labels.items():
        evaluation = release / session / "dialog" / "EmoEvaluation"
        evaluation.mkdir(parents=True)
        for dialog, lines in dialogs.items():
            (evaluation / f"{dialog}.txt").write_text(_iemocap_eval(lines))
            (evaluation / f"._{dialog}.txt").write_bytes(b"\x00\x05\x16\x07")
            wavs += [f"{session}/sentences/wav/{dialog}/{u}.wav" for u, _ in lines]
        (evaluation / "Categorical").mkdir()
        (evaluation / "Categorical" / "x_cat.txt").write_text(
            "Ses01F_impro01_F002 :Anger; ()\n")
    wavs.remove("Session2/sentences/wav/Ses02F_impro02/Ses02F_impro02_F001.wav")  # no wav
    make_tree(release, wavs + ["Session1/sentences/wav/Ses01F_impro01/unlabelled.wav",
                               "Documentation/readme.txt"])
    root = tmp_path if from_parent else release
    found = {Path(u.path).stem: (u.label, u.speaker, u.session, u.gender)
             for u in scan_corpus(root, "iemocap")}
    assert found == {
        "Ses01F_impro01_F000": ("neutral", "Session1_F", "Session1", "f"),
        "Ses01F_impro01_M001": ("happiness", "Session1_M", "Session1", "m"),
        "Ses01F_impro01_F004": ("anger", "Session1_F", "Session1", "f"),
        "Ses01F_impro01_F005": ("sadness", "Session1_F", "Session1", "f"),
        "Ses01M_script01_1_F000": ("happiness", "Session1_F", "Session1", "f"),
        "Ses01M_script01_1_M001": ("sadness", "Session1_M", "Session1", "m"),
        "Ses02F_impro02_M000": ("anger", "Session2_M", "Session2", "m")}


# --------------------------------------------------------------------------- EMOVO

def test_emovo_adapter(tmp_path):
    kept = ["f1/dis-f1-b1.wav", "f2/gio-f2-l3.wav", "f3/neu-f3-n5.wav",
            "m1/pau-m1-d2.wav", "m2/rab-m2-b2.wav", "m3/sor-m3-l1.wav",
            "m3/tri-m3-n1.wav"]
    ignored = ["f1/xyz-f1-b1.wav", "f1/dis-f4-b1.wav", "f1/dis-f1-b1.mp3",
               "f1/._dis-f1-b1.wav", "documents/emovo.pdf"]
    make_tree(tmp_path, kept + ignored)
    found = {name: u[1:] for name, u in by_name(scan_corpus(tmp_path, "emovo")).items()}
    assert found == {
        "dis-f1-b1.wav": ("disgust", "f1", "", "f"),
        "gio-f2-l3.wav": ("happiness", "f2", "", "f"),
        "neu-f3-n5.wav": ("neutral", "f3", "", "f"),
        "pau-m1-d2.wav": ("fear", "m1", "", "m"),
        "rab-m2-b2.wav": ("anger", "m2", "", "m"),
        "sor-m3-l1.wav": ("surprise", "m3", "", "m"),
        "tri-m3-n1.wav": ("sadness", "m3", "", "m")}


# ---------------------------------------------------------------------------- TESS

def test_tess_adapter(tmp_path):
    kept = ["OAF_angry/OAF_back_angry.wav", "OAF_disgust/OAF_bath_disgust.wav",
            "OAF_Fear/OAF_bean_fear.wav", "YAF_happy/YAF_dog_happy.wav",
            "YAF_neutral/YAF_youth_neutral.wav",
            "YAF_pleasant_surprised/YAF_dog_ps.wav", "OAF_Sad/OAF_wire_sad.wav"]
    ignored = ["OAF_angry/OAF_back_bored.wav", "OAF_angry/ZAF_back_angry.wav",
               "OAF_angry/OAF_back_angry.txt", "OAF_angry/._OAF_back_angry.wav"]
    make_tree(tmp_path, kept + ignored)
    found = {name: u[1:] for name, u in by_name(scan_corpus(tmp_path, "tess")).items()}
    assert found == {
        "OAF_back_angry.wav": ("anger", "OAF", "", "f"),
        "OAF_bath_disgust.wav": ("disgust", "OAF", "", "f"),
        "OAF_bean_fear.wav": ("fear", "OAF", "", "f"),
        "YAF_dog_happy.wav": ("happiness", "YAF", "", "f"),
        "YAF_youth_neutral.wav": ("neutral", "YAF", "", "f"),
        "YAF_dog_ps.wav": ("surprise", "YAF", "", "f"),
        "OAF_wire_sad.wav": ("sadness", "OAF", "", "f")}


# ------------------------------------------------------------------------- CREMA-D

@pytest.mark.parametrize("with_demographics", [True, False])
def test_cremad_adapter(tmp_path, with_demographics):
    kept = ["AudioWAV/1001_DFA_ANG_XX.wav", "AudioWAV/1002_IEO_HAP_HI.wav",
            "AudioWAV/1001_TIE_DIS_LO.wav", "AudioWAV/1002_MTI_FEA_MD.wav",
            "AudioWAV/1091_TSI_NEU_XX.wav", "AudioWAV/1091_WSI_SAD_XX.wav"]
    ignored = ["AudioWAV/1001_DFA_XYZ_XX.wav", "AudioWAV/101_DFA_ANG_XX.wav",
               "AudioMP3/1001_DFA_ANG_XX.mp3", "AudioWAV/._1001_DFA_ANG_XX.wav"]
    make_tree(tmp_path, kept + ignored)
    if with_demographics:
        (tmp_path / "VideoDemographics.csv").write_text(
            "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n"
            "1002,21,Female,Caucasian,Not Hispanic\n")
    found = {name: u[1:] for name, u in by_name(scan_corpus(tmp_path, "cremad")).items()}
    male, female = ("m", "f") if with_demographics else ("", "")
    assert found == {
        "1001_DFA_ANG_XX.wav": ("anger", "1001", "", male),
        "1002_IEO_HAP_HI.wav": ("happiness", "1002", "", female),
        "1001_TIE_DIS_LO.wav": ("disgust", "1001", "", male),
        "1002_MTI_FEA_MD.wav": ("fear", "1002", "", female),
        "1091_TSI_NEU_XX.wav": ("neutral", "1091", "", ""),
        "1091_WSI_SAD_XX.wav": ("sadness", "1091", "", "")}


# ------------------------------------------------------------------------- folders

@pytest.mark.parametrize("regex, speakers", [
    (None, ["unknown"] * 4),
    (r"spk(\d+)", ["1", "2", "2", "unknown"]),
    (r"(?P<take>t\d)_spk(?P<speaker>\d+)", ["1", "2", "unknown", "unknown"])])
def test_folders_adapter(tmp_path, regex, speakers):
    kept = ["anger/t1_spk1_a.wav", "neutral/t2_spk2_b.FLAC", "neutral/spk2_c.ogg",
            "sadness/other.aiff"]
    ignored = ["neutral/notes.txt", "stray_spk3.wav", ".hidden/t1_spk9.wav",
               "anger/.t1_spk1_hidden.wav", "anger/deeper/t1_spk1_deep.wav"]
    make_tree(tmp_path, kept + ignored)
    utterances = scan_corpus(tmp_path, "folders", speaker_regex=regex)
    found = {Path(u.path).name: (u.label, u.speaker) for u in utterances}
    expected_labels = ["anger", "neutral", "neutral", "sadness"]
    assert found == {Path(k).name: (label, speaker)
                     for k, label, speaker in zip(kept, expected_labels, speakers)}


# ------------------------------------------------------------------ scan_corpus API

def test_scan_corpus_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown corpus 'nope'.*emodb"):
        scan_corpus(tmp_path, "nope")
    with pytest.raises(FileNotFoundError, match="corpus folder not found"):
        scan_corpus(tmp_path / "absent", "emodb")
    with pytest.raises(ValueError, match="'folders' corpus only"):
        scan_corpus(tmp_path, "emodb", speaker_regex="x")
    assert scan_corpus(tmp_path, "tess") == []


def test_adapters_use_common_labels_and_sort_by_path(tmp_path):
    make_tree(tmp_path, ["b/16a05Ld.wav", "a/z/03a01Fa.wav", "a/08b10Wb.wav"])
    utterances = scan_corpus(tmp_path, "emodb")
    assert [u.path for u in utterances] == sorted(u.path for u in utterances)
    assert {u.label for u in utterances} <= set(LABELS)
    assert set(CORPORA) == {"emodb", "ravdess", "iemocap", "emovo", "tess", "cremad",
                            "folders"}


# ------------------------------------------------------------------------ manifests

def _utterances(folder: Path) -> list[Utterance]:
    make_tree(folder, ["audio/a.wav", "audio/b.wav"])
    return [Utterance(str(folder / "audio" / "a.wav"), "anger", "s1", "Session1", "f"),
            Utterance(str(folder / "audio" / "b.wav"), "neutral", "s2")]


def test_manifest_round_trip_with_relative_and_absolute_paths(tmp_path):
    inside = _utterances(tmp_path / "corpus")
    outside = Utterance(str(tmp_path / "elsewhere.wav"), "fear", "s3")
    make_tree(tmp_path, ["elsewhere.wav"])
    manifest = write_manifest(inside + [outside], tmp_path / "corpus" / "manifest.csv")
    lines = manifest.read_text().splitlines()
    assert lines[0] == "path,label,speaker,session,gender"
    assert lines[1] == "audio/a.wav,anger,s1,Session1,f"
    assert lines[3].startswith(str(tmp_path / "elsewhere.wav"))
    assert read_manifest(manifest) == inside + [outside]
    assert [p.name for p in manifest.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_manifest_without_optional_columns(tmp_path):
    utterances = [u._replace(session="", gender="") for u in _utterances(tmp_path)]
    manifest = write_manifest(utterances, tmp_path / "m.csv")
    assert manifest.read_text().splitlines()[0] == "path,label,speaker"
    assert read_manifest(manifest) == utterances


def test_manifest_reading_tolerates_bom_spaces_extra_columns(tmp_path):
    _utterances(tmp_path)
    (tmp_path / "m.csv").write_text("\ufeffpath , label,speaker,extra\n"
                                    "audio/a.wav, anger ,s1,x\n", encoding="utf-8")
    assert read_manifest(tmp_path / "m.csv") == [
        Utterance(str(tmp_path / "audio" / "a.wav"), "anger", "s1")]


@pytest.mark.parametrize("text, message", [
    ("", "empty manifest"),
    ("path,label,speaker\n", "no rows"),
    ("path,speaker\naudio/a.wav,s1\n", "missing column.*label"),
    ("path,label,speaker\naudio/a.wav,,s1\n", "line 2: empty label"),
])
def test_manifest_errors(tmp_path, text, message):
    _utterances(tmp_path)
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(ManifestError, match=message) as info:
        read_manifest(tmp_path / "m.csv")
    assert str(tmp_path / "m.csv") in str(info.value)


def test_manifest_lists_missing_audio_files(tmp_path):
    rows = "".join(f"missing{i:02d}.wav,anger,s1\n" for i in range(12))
    (tmp_path / "m.csv").write_text("path,label,speaker\n" + rows)
    with pytest.raises(ManifestError) as info:
        read_manifest(tmp_path / "m.csv")
    message = str(info.value)
    assert "12 of 12 audio files not found" in message
    assert str(tmp_path / "missing00.wav") in message and "and 2 more" in message
    assert len(read_manifest(tmp_path / "m.csv", check_files=False)) == 12
    with pytest.raises(ManifestError, match="manifest not found"):
        read_manifest(tmp_path / "absent.csv")


def test_manifest_write_is_atomic(tmp_path, monkeypatch):
    utterances = _utterances(tmp_path)
    manifest = write_manifest(utterances[:1], tmp_path / "m.csv")
    before = manifest.read_bytes()

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write_manifest(utterances, manifest)
    assert manifest.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audio", "m.csv"]


_field = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp")),
                 min_size=1, max_size=12)


@given(st.lists(st.tuples(_field, _field, _field, st.sampled_from(["", "f", "m"])),
                min_size=1, max_size=6))
def test_manifest_round_trip_any_text(rows):
    with tempfile.TemporaryDirectory() as folder:
        utterances = [Utterance(os.path.join(folder, f"{i}.wav"), label, speaker,
                                session, gender)
                      for i, (label, speaker, session, gender) in enumerate(rows)]
        manifest = write_manifest(utterances, Path(folder) / "m.csv")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ManifestWarning)   # relabelled: tested elsewhere
            back = read_manifest(manifest, check_files=False)
        assert back == [u._replace(label=normalize_label(u.label)) for u in utterances]


# ------------------------------------------------------------------------------ CLI

def test_cli_manifest_writes_and_summarizes(tmp_path):
    make_tree(tmp_path / "emodb", ["03a01Fa.wav", "03a02Wb.wav", "08b10Wb.wav"])
    out = tmp_path / "out" / "manifest.csv"
    result = CliRunner().invoke(data_cli, ["manifest", str(tmp_path / "emodb"),
                                           "--corpus", "emodb", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "files: 3" in result.output
    assert "classes (2): anger 2, happiness 1" in result.output
    assert "speakers (2): 03 2, 08 1" in result.output
    assert [u.label for u in read_manifest(out)] == ["happiness", "anger", "anger"]


def test_cli_manifest_folders_with_speaker_regex(tmp_path):
    make_tree(tmp_path / "c", ["happy/spk1_a.wav", "sad/spk2_b.wav"])
    out = tmp_path / "m.csv"
    result = CliRunner().invoke(data_cli, ["manifest", str(tmp_path / "c"), "--corpus",
                                           "folders", "--speaker-regex", r"spk(\d)",
                                           "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert [(u.label, u.speaker) for u in read_manifest(out)] == [("happy", "1"),
                                                                   ("sad", "2")]


@pytest.mark.parametrize("args, message", [
    (["--corpus", "tess"], "no tess utterances found"),
    (["--corpus", "nope"], "'nope' is not one of"),
    (["--corpus", "emodb", "--speaker-regex", "x"], "folders only"),
    (["--corpus", "folders", "--speaker-regex", "("], "invalid regex")])
def test_cli_manifest_errors(tmp_path, args, message):
    make_tree(tmp_path, ["03a01Fa.wav"])
    result = CliRunner().invoke(data_cli, ["manifest", str(tmp_path), "-o",
                                           str(tmp_path / "m.csv")] + args)
    assert result.exit_code != 0 and message in result.output
    assert not (tmp_path / "m.csv").exists()


def test_cli_manifest_help_explains_every_layout():
    result = CliRunner().invoke(data_cli, ["manifest", "--help"])
    assert result.exit_code == 0
    for name in CORPORA:
        assert f"  {name} " in result.output
    assert "03-01-EE-II-SS-RR-AA.wav" in result.output and "EmoEvaluation" in result.output
