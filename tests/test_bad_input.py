"""Bad input, one case per way a user or a hostile tester can get it wrong (issue 12,
"Fail loudly, lose nothing"): for each, the exit code, a fragment of the one-line
message, no traceback, and no existing output file changed (nor a temporary file
left behind).

Most cases run the command line in this process (click's runner, the same error
handling as the installed command); the cases about processes, signals and resource
limits run the real command in a subprocess.
"""
from __future__ import annotations

import json
import os
import resource
import signal
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from pyreparam import native
from pyreparam.cli import main
from pyreparam.data.synth import write_synthetic_corpus

ENV = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
ENV.pop("PYREPARAM_DEBUG", None)
CLI = [sys.executable, "-P", "-c", "from pyreparam.cli import main; main()"]
SR = 16000
needs_c = pytest.mark.skipif(not native.available(), reason="C extension not built")
#: A folder no one can write into, not even root.
UNWRITABLE = Path("/sys/pyreparam-test") if Path("/sys/kernel").is_dir() else None
needs_unwritable = pytest.mark.skipif(UNWRITABLE is None, reason="no /sys")


# --------------------------------------------------------------------------- helpers

def snapshot(*paths: Path) -> dict:
    """Bytes and mode of every file under ``paths`` (to prove nothing changed)."""
    files = {}
    for root in paths:
        paths = [root] if root.is_file() else sorted(root.rglob("*")) if root.exists() else []
        for p in paths:
            if p.is_file():
                files[str(p)] = (p.read_bytes(), p.stat().st_mode)
    return files


def temps(*folders: Path) -> list[str]:
    return [str(p) for f in folders if f.exists() for p in f.rglob(".*.tmp")]


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def expect(result, code: int, fragment: str, *, unchanged: dict | None = None) -> None:
    """Exit ``code``, ``fragment`` in the output, no traceback, one-line error."""
    text = result.output
    assert result.exit_code == code, text
    assert fragment in text, text
    assert "Traceback" not in text, text
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    if code:
        errors = [line for line in text.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1, text
    if unchanged is not None:
        assert snapshot(*map(Path, unchanged)) == unchanged, "an existing output changed"


def run(*args, env=None, limits=None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + [str(a) for a in args], env=env or ENV, capture_output=True,
                           text=True, timeout=300, preexec_fn=limits, **kwargs)


def wav(path: Path, x: np.ndarray, subtype: str = "PCM_16") -> Path:
    sf.write(path, np.asarray(x, dtype=np.float32), SR, subtype=subtype)
    return path


def manifest(path: Path, rows: list[tuple]) -> Path:
    path.write_text("path,label,speaker\n" + "".join(",".join(map(str, r)) + "\n"
                                                     for r in rows))
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A small synthetic corpus, a one-epoch run on it, its model as .npz and .prq."""
    tmp = tmp_path_factory.mktemp("bad_input")
    corpus = write_synthetic_corpus(tmp / "corpus", speakers=3, per_class=2, seed=1)
    r = cli("train", corpus, "--epochs", "1", "--cv", "fixed:spk00", "--out", tmp / "run",
            "--quiet", "--cache", "none", "--hrf", "2", "--normalization", "speaker",
            "--stats-head", "0")     # the network alone: quantize --eval's figure is its
    assert r.exit_code == 0, r.output
    model = tmp / "run" / "fold_00" / "model_merged.npz"
    prq = tmp / "model.prq"
    if native.available():
        r = cli("quantize", model, "--calib", corpus, "--n", "8", "--max-seconds", "1",
                "--cache", "none", "-o", prq)
        assert r.exit_code == 0, r.output
    rows = [line.split(",") for line in corpus.read_text().splitlines()[1:]]
    good = [tmp / "corpus" / r[0] for r in rows]
    return {"tmp": tmp, "corpus": corpus, "model": model, "prq": prq, "rows": rows,
            "wav": good[0], "run": tmp / "run"}


def models(work):
    return [work["model"]] + ([work["prq"]] if native.available() else [])


# --------------------------------------------------------------------------- audio

@pytest.mark.parametrize("peak", [1e20, 3e38])
def test_infer_refuses_samples_beyond_any_recording(work, tmp_path, peak):
    x = 0.1 * np.random.default_rng(0).standard_normal(SR)
    x[100] = peak
    bad = wav(tmp_path / "huge.wav", x, "FLOAT")
    for model in models(work):
        expect(cli("infer", model, bad), 1, "samples reach")


def test_train_refuses_a_file_with_huge_samples(work, tmp_path):
    x = 0.1 * np.random.default_rng(0).standard_normal(SR)
    x[5] = 1e20
    bad = wav(tmp_path / "huge.wav", x, "FLOAT")
    rows = [(work["tmp"] / "corpus" / r[0], r[1], r[2]) for r in work["rows"]]
    m = manifest(tmp_path / "m.csv", rows + [(bad, "anger", "spk01")])
    out = tmp_path / "run"
    expect(cli("train", m, "--epochs", "1", "--cv", "fixed:spk00", "--out", out,
               "--quiet", "--cache", "none"), 1, "huge.wav: samples reach 1e+20")
    assert not (out / "results.json").exists()


def test_infer_silence_is_no_speech(work, tmp_path):
    silent = wav(tmp_path / "silent.wav", np.zeros(SR))
    for model in models(work):
        r = cli("infer", model, silent, "--json")
        expect(r, 0, "no speech")
        record = json.loads(r.stdout)[0]
        assert record["emotion"] is None and record["no_speech"]


def test_truncated_wav_warns(work, tmp_path):
    data = work["wav"].read_bytes()
    short = tmp_path / "short.wav"
    short.write_bytes(data[:len(data) // 2])
    r = cli("infer", work["model"], short)
    expect(r, 0, "warning: ")
    assert "truncated WAV: the data chunk holds" in r.output
    assert r.output.count("truncated WAV") == 1


def test_corrupt_audio_message_leaks_no_internals(work, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    r = cli("infer", work["model"], bad)
    expect(r, 1, "bad.wav: unreadable or corrupt audio")
    assert "object at 0x" not in r.output and "BytesIO" not in r.output


def test_too_long_file_is_refused_the_same_way_everywhere(work, tmp_path):
    long = wav(tmp_path / "long.wav", 0.1 * np.ones(31 * SR))
    expect(cli("infer", work["model"], long), 1, "too long: 31.000 s > max 30.0 s")
    m = manifest(tmp_path / "m.csv", [(long, "anger", "spk00")])
    expect(cli("eval", work["model"], m), 1, "too long: 31.000 s > max 30.0 s")


# --------------------------------------------------------------------------- options

@pytest.mark.parametrize("option, value, fragment", [
    ("--lr", "nan", "not a finite number"),
    ("--lr", "-1", "not in the range"),
    ("--lr", "inf", "not a finite number"),
    ("--weight-decay", "nan", "not a finite number"),
    ("--epochs", "0", "not in the range"),
    ("--dropout", "nan", "not a finite number"),
    ("--max-seconds", "inf", "not a finite number"),
    ("--seed", "-1", "not in the range"),
])
def test_train_refuses_absurd_options(work, tmp_path, option, value, fragment):
    expect(cli("train", work["corpus"], "--out", tmp_path / "run", option, value), 2,
           fragment)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("options, fragment", [
    (["--sample-rate", "22050", "--frontend", "int"], "integer front end needs n_fft"),
    (["--fmax", "9000"], "need 0 <= fmin < fmax <= sample_rate / 2"),
])
def test_train_refuses_front_end_settings_it_cannot_run(work, tmp_path, options, fragment):
    """Feature settings the front end cannot honour: one line, before any folder."""
    expect(cli("train", work["corpus"], "--out", tmp_path / "run", *options), 1, fragment)
    assert not (tmp_path / "run").exists()


@needs_c
def test_quantize_and_merge_refuse_absurd_options(work, tmp_path):
    expect(cli("quantize", work["model"], "--calib", work["corpus"], "--percentile", "nan",
               "-o", tmp_path / "m.prq"), 2, "not a finite number")
    expect(cli("merge", work["model"], tmp_path / "m.npz", "--tol", "nan"), 2,
           "not a finite number")


# --------------------------------------------------------------------------- manifests

def test_labels_are_normalized_with_a_warning(work, tmp_path):
    rows = [(work["tmp"] / "corpus" / r[0], r[1], r[2]) for r in work["rows"]]
    rows[0] = (rows[0][0], "ANGER ", rows[0][2]) if rows[0][1] == "anger" else \
        (rows[0][0], rows[0][1].upper() + " ", rows[0][2])
    r = cli("eval", work["model"], manifest(tmp_path / "m.csv", rows))
    expect(r, 0, "label(s) written in another case or spacing were normalized")


@pytest.mark.parametrize("column, fragment", [(1, "two labels"), (2, "two speakers")])
def test_one_path_twice_with_other_label_or_speaker(work, tmp_path, column, fragment):
    rows = [[work["tmp"] / "corpus" / r[0], r[1], r[2]] for r in work["rows"]]
    twin = list(rows[0])
    twin[column] = "sadness" if column == 1 and twin[1] != "sadness" else \
        "anger" if column == 1 else "spk02" if twin[2] != "spk02" else "spk01"
    m = manifest(tmp_path / "m.csv", rows + [twin])
    expect(cli("eval", work["model"], m), 1, fragment)
    out = tmp_path / "run"
    expect(cli("train", m, "--epochs", "1", "--out", out, "--cache", "none"), 1, fragment)
    assert not out.exists()


def test_a_test_file_also_in_training_is_refused(work, tmp_path):
    """The same file under a training speaker and the test speaker (spk00)."""
    rows = [[work["tmp"] / "corpus" / r[0], r[1], r[2]] for r in work["rows"]]
    test_file = next(r for r in rows if r[2] == "spk00")
    m = manifest(tmp_path / "m.csv", rows + [[test_file[0], test_file[1], "spk01"]])
    expect(cli("train", m, "--epochs", "1", "--cv", "fixed:spk00", "--out", tmp_path / "r",
               "--cache", "none"), 1, "listed with two speakers")


def test_eval_warns_about_the_models_own_training_speakers(work):
    r = cli("eval", work["model"], work["corpus"], "--json")
    expect(r, 0, "warning: ")
    assert "trained or validated this model" in r.output
    assert json.loads(r.stdout)["training_speakers_in_manifest"] == ["spk01", "spk02"]


def test_rare_label_warns(work, tmp_path):
    rows = [(work["tmp"] / "corpus" / r[0], r[1], r[2]) for r in work["rows"]]
    rows[-1] = (rows[-1][0], "joy", rows[-1][2])
    r = cli("eval", work["model"], manifest(tmp_path / "m.csv", rows))
    expect(r, 1, "label(s) ['joy'] are not among the model's classes")
    assert "label 'joy' is on 1 row(s) only" in r.output


# --------------------------------------------------------------------------- models

def test_merge_keeps_the_front_end(work, tmp_path):
    """(done on main) a merged training checkpoint still infers with its classes."""
    out = tmp_path / "merged.npz"
    expect(cli("merge", work["run"] / "fold_00" / "model.npz", out), 0, "wrote")
    r = cli("infer", out, work["wav"], "--json")
    expect(r, 0, "")
    assert json.loads(r.stdout)[0]["emotion"] in ("anger", "happiness", "neutral", "sadness")


def test_demo_refuses_a_folder_of_other_settings(tmp_path):
    """(done on main) a demo folder made with other settings is not reused."""
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "settings.json").write_text(
        json.dumps({"speakers": 8, "per_class": 30, "seed": 5}))
    before = snapshot(tmp_path)
    expect(cli("demo", "--out", tmp_path, "--seed", "0"), 1, "other settings",
           unchanged=before)


def test_nan_model_is_refused_by_eval_infer_merge_and_quantize(work, tmp_path):
    from pyreparam.models import load_checkpoint_with_meta, save_checkpoint
    model, meta, extra = load_checkpoint_with_meta(work["model"])
    name = sorted(model.params)[0]
    model.params[name][...] = np.nan
    bad = save_checkpoint(tmp_path / "nan.npz", model, meta=meta, extra=extra)
    expect(cli("eval", bad, work["corpus"]), 1, f"parameter {name} has")
    expect(cli("infer", bad, work["wav"]), 1, "NaN or infinite")
    expect(cli("merge", bad, tmp_path / "m.npz"), 1, "NaN or infinite")
    expect(cli("quantize", bad, "--calib", work["corpus"], "-o", tmp_path / "q.prq"), 1,
           "NaN or infinite")
    assert not (tmp_path / "m.npz").exists() and not (tmp_path / "q.prq").exists()


def _npz(path: Path, members: dict[str, bytes], compress: bool = False) -> Path:
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def _npy_header(shape, descr="<f4") -> bytes:
    header = repr({"descr": descr, "fortran_order": False, "shape": tuple(shape)})
    header = header.encode() + b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


def _edit_header(members: dict[str, bytes], edit) -> dict[str, bytes]:
    import io
    h = json.loads(str(np.load(io.BytesIO(members["header.json.npy"]))))
    edit(h)
    buf = io.BytesIO()
    np.save(buf, np.array(json.dumps(h)))
    return {**members, "header.json.npy": buf.getvalue()}


def _crafted_npz(work, tmp: Path, case: str) -> Path:
    members = _members(work["model"])
    param = next(n for n in members if n.startswith("param/"))
    if case == "config type":
        members = _edit_header(members, lambda h: h.update(config=[1, 2, 3]))
    elif case == "config value type":
        members = _edit_header(members, lambda h: h["config"].update(width="64"))
    elif case == "huge config":
        members = _edit_header(members, lambda h: h["config"].update(width=2 ** 20, heads=1))
    elif case == "lying header":                       # 2^40 elements announced
        members[param] = _npy_header((2 ** 40,)) + members[param][-64:]
    elif case == "short data":
        members[param] = members[param][:-4]
    elif case == "object dtype":
        members[param] = _npy_header((2,), "|O") + b"\0" * 16
    elif case == "plain npy":
        path = tmp / f"{case}.npz"
        np.save(path.with_suffix(".npy"), np.zeros(3))
        path.write_bytes(path.with_suffix(".npy").read_bytes())
        return path
    elif case == "zip bomb":                           # 256 MiB of zeros in a few KB
        path = tmp / "bomb.npz"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in members.items():
                z.writestr(name, data)
            with z.open("extra/zeros.npy", "w", force_zip64=True) as f:
                f.write(_npy_header((2 ** 26,), "<f4"))
                chunk = bytes(2 ** 20)
                for _ in range(256):
                    f.write(chunk)
        return path
    return _npz(tmp / f"{case.replace(' ', '_')}.npz", members)


@pytest.mark.parametrize("case, fragment", [
    ("config type", "invalid model config"),
    ("config value type", "invalid model config"),
    ("huge config", "parameters (more than"),
    ("lying header", "larger than"),
    ("short data", "announces"),
    ("object dtype", "not numbers or text"),
    ("plain npy", "not a .npz archive"),
    ("zip bomb", "larger than the 67,108,864 bytes allowed"),
])
def test_crafted_checkpoints_are_refused_before_allocating(work, tmp_path, case, fragment):
    bad = _crafted_npz(work, tmp_path, case)
    for args in (("eval", bad, work["corpus"]), ("infer", bad, work["wav"]),
                 ("merge", bad, tmp_path / "out.npz")):
        expect(cli(*args), 1, fragment)


def test_crafted_checkpoint_allocates_nothing_big(work, tmp_path):
    """In a process limited to 1.5 GB of address space the lying header is refused by
    its check, not by running out of memory."""
    bad = _crafted_npz(work, tmp_path, "lying header")
    limit = lambda: resource.setrlimit(resource.RLIMIT_AS, (3 * 2 ** 30, 3 * 2 ** 30))
    r = run("infer", bad, work["wav"], limits=limit)
    assert r.returncode == 1 and "larger than" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def _prq_with(work, tmp: Path, edit) -> Path:
    from pyreparam.quant.prq import read_prq, write_prq
    program, meta = read_prq(work["prq"].read_bytes())
    meta = json.loads(json.dumps(meta))
    edit(meta)
    path = tmp / "edited.prq"
    path.write_bytes(write_prq(program, meta, host=False))   # CRC recomputed
    return path


@needs_c
@pytest.mark.parametrize("edit, fragment", [
    (lambda m: m.pop("classes"), "host metadata lacks classes"),
    (lambda m: m.update(classes="anger"), "classes must be a list"),
    (lambda m: m.update(classes=m["classes"][:1]), "class names"),
    (lambda m: m.update(normalizer=[]), "normalizer must be a mapping"),
    (lambda m: m["normalizer"].update(prior_mean=[1.0, 2.0]), "normalizer.prior_mean"),
    (lambda m: m["feature_config"].update(n_mels="64"), "feature_config.n_mels"),
    (lambda m: m.update(tensor_names=7), "tensor_names must be a list"),
    (lambda m: m.update(values=[1] * len(m["values"])), "not a named value"),
    (lambda m: m["input"].update(scale=0), "input.scale is 0.0"),
    (lambda m: m["output"].update(zero_point=1000), "output.zero_point"),
    (lambda m: m.update(model_config=None), "model_config"),
])
def test_edited_prq_metadata_is_refused(work, tmp_path, edit, fragment):
    bad = _prq_with(work, tmp_path, edit)
    for args in (("infer", bad, work["wav"]), ("inspect", bad),
                 ("export", bad, "--c-header", tmp_path / "h" / "m.h"),
                 ("eval", bad, work["corpus"])):
        expect(cli(*args), 1, fragment)
    assert not (tmp_path / "h").exists()


@needs_c
def test_prq_metadata_that_is_not_a_mapping(work, tmp_path):
    from pyreparam.quant.prq import MAGIC
    blob = bytearray(work["prq"].read_bytes())
    words = list(struct.unpack_from("<24I", blob))
    assert words[0] == MAGIC
    meta_off, meta_bytes = words[18], words[19]
    blob[meta_off:meta_off + meta_bytes] = b"[" + b" " * (meta_bytes - 2) + b"]"
    blob[-4:] = struct.pack("<I", zlib.crc32(bytes(blob[:-4])) & 0xFFFFFFFF)
    bad = tmp_path / "list.prq"
    bad.write_bytes(bytes(blob))
    expect(cli("infer", bad, work["wav"]), 1, "metadata is a list")


# --------------------------------------------------------------------------- outputs

@needs_unwritable
@pytest.mark.parametrize("command", ["train", "cache", "quantize", "export", "manifest",
                                     "merge", "init", "demo", "synth"])
def test_unwritable_outputs_are_one_line_errors(work, tmp_path, command):
    if command in ("quantize", "export") and not native.available():
        pytest.skip("C extension not built")
    where = UNWRITABLE / "out"
    args = {
        "train": ("train", work["corpus"], "--out", where, "--epochs", "1", "--cache", "none"),
        "cache": ("train", work["corpus"], "--out", tmp_path / "r", "--epochs", "1",
                  "--cache", where),
        "quantize": ("quantize", work["model"], "--calib", work["corpus"], "--n", "4",
                     "--max-seconds", "1", "--cache", "none", "-o", where / "m.prq"),
        "export": ("export", work["prq"], "--c-header", where / "m.h"),
        "manifest": ("data", "manifest", work["tmp"] / "corpus", "--corpus", "folders",
                     "-o", where / "m.csv"),
        "merge": (),
        "init": ("init", "--backbone", "convtransformer", "-o", where / "m.npz"),
        "demo": ("demo", "--out", where),
        "synth": ("data", "synth", where, "--speakers", "1", "--per-class", "1"),
    }[command]
    if command == "merge":
        hrf = tmp_path / "hrf.npz"
        assert cli("init", "--backbone", "convtransformer", "--hrf", "2", "-o",
                   hrf).exit_code == 0
        args = ("merge", hrf, where / "m.npz")
    expect(cli(*args), 1, str(UNWRITABLE))


def test_merge_into_a_file_path(work, tmp_path):
    r = cli("init", "--backbone", "convtransformer", "--hrf", "2", "-o", tmp_path / "h.npz")
    assert r.exit_code == 0
    blocker = tmp_path / "file"
    blocker.write_text("x")
    expect(cli("merge", tmp_path / "h.npz", blocker / "m.npz"), 1,
           "a file of that name is in the way")
    expect(cli("init", "--backbone", "conformer", "-o", blocker / "m.npz"), 1,
           "a file of that name is in the way")


@pytest.mark.parametrize("target", ["/proc/pyreparam-test.npz", "/proc/self/x/m.npz"])
def test_proc_outputs(target):
    expect(cli("init", "--backbone", "convtransformer", "-o", target), 1,
           "cannot write /proc/")


def test_disk_full_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    """A file-size limit (EFBIG) stands in for a full disk: the write fails in the
    middle, the existing checkpoint stays as it was, no temporary file stays behind."""
    target = tmp_path / "model.npz"
    assert cli("init", "--backbone", "convtransformer", "-o", target).exit_code == 0
    before = snapshot(target)
    limit = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
    r = run("init", "--backbone", "conformer", "-o", target, limits=limit)
    assert r.returncode == 1 and f"cannot write {target}: File too large" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert snapshot(target) == before and not temps(tmp_path)


def test_disk_full_in_process(tmp_path, monkeypatch):
    import errno
    from pyreparam import atomic
    target = tmp_path / "m.npz"
    assert cli("init", "--backbone", "convtransformer", "-o", target).exit_code == 0
    before = snapshot(target)

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(atomic.os, "fsync", full)
    expect(cli("init", "--backbone", "conformer", "-o", target), 1,
           "No space left on device", unchanged=before)
    assert not temps(tmp_path)


def test_outputs_are_readable_by_everyone(work, tmp_path):
    old = os.umask(0o022)
    try:
        r = cli("init", "--backbone", "convtransformer", "-o", tmp_path / "m.npz")
        assert r.exit_code == 0
        files = [tmp_path / "m.npz", work["run"] / "results.json", work["model"],
                 work["corpus"]] + ([work["prq"]] if native.available() else [])
    finally:
        os.umask(old)
    for f in files:
        assert f.stat().st_mode & 0o777 == 0o644, f


def test_temps_of_a_killed_run_are_removed_on_the_next_write(tmp_path):
    target = tmp_path / "m.npz"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = [tmp_path / f".m.npz.{dead.pid}.{i:08x}.tmp" for i in range(3)]
    for s in stale:
        s.write_bytes(b"half")
    live = tmp_path / f".m.npz.{os.getpid()}.0000000a.tmp"   # a live writer's: kept
    live.write_bytes(b"busy")
    assert cli("init", "--backbone", "convtransformer", "-o", target).exit_code == 0
    assert not any(s.exists() for s in stale) and live.exists()


def test_export_keeps_going_files_whole(work, tmp_path):
    """export writes header and main.c atomically: an existing header is replaced only
    by a complete one (and a failing export leaves both as they were)."""
    if not native.available():
        pytest.skip("C extension not built")
    header = tmp_path / "m.h"
    assert cli("export", work["prq"], "--c-header", header).exit_code == 0
    before = snapshot(tmp_path)
    bad = tmp_path / "bad.prq"
    bad.write_bytes(work["prq"].read_bytes()[:500])
    expect(cli("export", bad, "--c-header", header), 1, "bad.prq", unchanged=before)


# --------------------------------------------------------------------------- evaluation

@needs_c
def test_quantize_eval_float_figure_is_trainings(work, tmp_path):
    """quantize --eval cuts files for int8 only, says so, and its float figure is the
    one `eval` (like training) gives on whole files (a speaker-normalized model: both
    normalize each speaker's files together)."""
    r = cli("quantize", work["model"], "--calib", work["corpus"], "--eval", work["corpus"],
            "--n", "4", "--max-seconds", "0.5", "--cache", "none", "--json",
            "-o", tmp_path / "m.prq")
    expect(r, 0, "")
    ev = json.loads(r.stdout)["eval"]
    assert ev["cut"] == len(ev["cut_files"]) > 0 and "float_cut" in ev
    whole = json.loads(cli("eval", work["model"], work["corpus"], "--json").stdout)
    assert ev["float"]["wa"] == pytest.approx(whole["wa"])
    text = cli("quantize", work["model"], "--calib", work["corpus"], "--eval", work["corpus"],
               "--n", "4", "--max-seconds", "0.5", "--cache", "none", "-o", tmp_path / "n.prq")
    assert "evaluation files are longer than T_max" in text.output
    assert "would cover every file" in text.output


# --------------------------------------------------------------------------- processes

def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_train_jobs_workers_die_with_their_parent(work, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(CLI + ["train", str(work["corpus"]), "--cv", "loso", "--epochs",
                                   "50", "--jobs", "2", "--quiet", "--cache", "none",
                                   "--out", str(out)], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list(out.glob("fold_*/state.npz")) and proc.poll() is None \
            and time.time() < deadline:
        time.sleep(0.05)
    workers = [p for p in _children(proc.pid)
               if "spawn" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")]
    assert len(workers) == 2, "the folds did not start in two workers"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 30
    while any(Path(f"/proc/{p}").exists() for p in workers) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(Path(f"/proc/{p}").exists() for p in workers), "orphaned workers"
    assert not (out / "results.json").exists()


def test_real_command_prints_one_line_and_debug_gives_the_traceback(work, tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really")
    r = run("eval", bad, work["corpus"])
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("Error: ") and "bad.npz" in r.stderr
    r = run("eval", work["model"], work["corpus"], "--protocol", "nope")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = run("init", "--backbone", "convtransformer", "-o", "/proc/x.npz",
            env=dict(ENV, PYREPARAM_DEBUG="1"))
    assert r.returncode == 1 and "Traceback" in r.stderr
