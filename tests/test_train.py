"""Training: metrics, speaker-independent folds, runs, resume after interruption, eval."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from hypothesis import given, strategies as st

from pyreparam.cli import main
from pyreparam.models import load_checkpoint, make_config
from pyreparam.train import fold as fold_module
from pyreparam.train.fold import TrainConfig
from pyreparam.train.metrics import classification_report, confusion_matrix, \
    metrics_from_confusion
from pyreparam.train.run import RunError, RunSpec, resume_run, start_run
from pyreparam.train.splits import make_folds

CLASSES = ("anger", "happiness", "neutral", "sadness")


# --------------------------------------------------------------------------- metrics

def test_metrics_on_a_known_confusion():
    y_true = [0, 0, 0, 0, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 0, 0, 1, 1, 2, 2, 2, 2, 0]
    cm = confusion_matrix(y_true, y_pred, 3)
    np.testing.assert_array_equal(cm, [[3, 1, 0], [0, 1, 1], [1, 0, 3]])
    m = metrics_from_confusion(cm)
    assert m["wa"] == pytest.approx(0.7)
    assert m["ua"] == pytest.approx((3 / 4 + 1 / 2 + 3 / 4) / 3)
    f1 = [2 * p * r / (p + r) for p, r in ((3 / 4, 3 / 4), (1 / 2, 1 / 2), (3 / 4, 3 / 4))]
    assert m["macro_f1"] == pytest.approx(np.mean(f1))


def test_absent_classes_are_left_out_of_ua():
    report = classification_report([0, 0, 1], [0, 1, 1], 4)
    assert report["ua"] == pytest.approx((1 / 2 + 1) / 2)
    assert np.array(report["confusion"]).shape == (4, 4)


# --------------------------------------------------------------------------- folds

@given(st.integers(4, 12), st.integers(0, 1000),
       st.sampled_from(["loso", "groupkfold:2", "groupkfold:3", "fixed"]))
def test_folds_are_speaker_independent(n_speakers, seed, scheme):
    rng = np.random.default_rng(seed)
    speakers = [f"s{int(i)}" for i in rng.integers(0, n_speakers, size=80)]
    if len(set(speakers)) < 4:
        return
    folds = make_folds(speakers, scheme, seed=seed)
    everyone = set(speakers)
    for f in folds:
        parts = [set(f.test), set(f.validation), set(f.train)]
        assert parts[0] and parts[1] and parts[2]
        assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
        assert parts[0] | parts[1] | parts[2] == everyone
    if scheme == "loso":
        assert sorted(t for f in folds for t in f.test) == sorted(everyone)
    if scheme.startswith("groupkfold"):
        tested = [t for f in folds for t in f.test]
        assert sorted(tested) == sorted(everyone)       # every speaker tested exactly once
    assert make_folds(speakers, scheme, seed=seed) == folds    # deterministic


@given(st.integers(0, 1000), st.integers(2, 4))
def test_several_validation_speakers_are_balanced_by_gender(seed, n_validation):
    speakers = [f"f{i}" for i in range(5)] + [f"m{i}" for i in range(4)]
    genders = [s[0] for s in speakers]
    for fold in make_folds(speakers, "loso", seed=seed, n_validation=n_validation,
                           genders=genders):
        f = sum(s.startswith("f") for s in fold.validation)
        assert len(fold.validation) == n_validation
        assert abs(f - (n_validation - f)) <= 1
    # one validation speaker: the draw (and old fold lists) unchanged by genders
    assert make_folds(speakers, "loso", seed=seed, genders=genders) == \
        make_folds(speakers, "loso", seed=seed)


def test_selection_rules():
    log = [{"val_ua": v} for v in (0.2, 0.5, 0.4, 0.5, 0.5)]
    best, smooth, last = (TrainConfig(select=r, select_window=2)
                          for r in ("best", "smooth", "last"))
    chosen = {}
    for tc in (best, smooth, last):
        top, pick = -1.0, 0
        for e in range(1, len(log) + 1):
            value = fold_module.selection_value(log[:e], tc)
            if fold_module.improves(value, top, tc):
                top, pick = value, e
        chosen[tc.select] = pick
    # best keeps the first maximum; smooth the latest maximum of the 2-epoch mean
    # (0.35, 0.45, 0.45, 0.5 -> epoch 5); last takes the last epoch
    assert chosen == {"best": 2, "smooth": 5, "last": 5}
    with pytest.raises(ValueError, match="selection rule"):
        TrainConfig(select="median")
    with pytest.raises(ValueError, match="speed"):
        TrainConfig(speeds=(1.0,))


def test_session_folds_and_bad_schemes():
    speakers = ["1F", "1M", "2F", "2M", "3F", "3M"]
    sessions = ["1", "1", "2", "2", "3", "3"]
    folds = make_folds(speakers, "loso:session", sessions=sessions)
    assert [f.test for f in folds] == [("1F", "1M"), ("2F", "2M"), ("3F", "3M")]
    with pytest.raises(ValueError, match="unknown --cv"):
        make_folds(speakers, "kfold")
    with pytest.raises(ValueError, match="at least 3 speakers"):
        make_folds(["a", "b"], "loso")


# --------------------------------------------------------------------------- runs

def _write_corpus(root: Path, speakers=6, per_class=3, seed=0) -> Path:
    """A tiny corpus: class-dependent tone mixtures, speaker-dependent pitch."""
    rng = np.random.default_rng(seed)
    rows = ["path,label,speaker"]
    sr = 16000
    t = np.arange(int(0.4 * sr)) / sr
    for s in range(speakers):
        base = 120 + 25 * s
        for c, label in enumerate(CLASSES):
            for i in range(per_class):
                f0 = base * (1 + 0.3 * c) * (1 + 0.03 * rng.standard_normal())
                y = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 6))
                y = 0.2 * y / np.max(np.abs(y)) + 0.01 * rng.standard_normal(t.size)
                name = f"wav/s{s}_{label}_{i}.wav"
                (root / "wav").mkdir(parents=True, exist_ok=True)
                sf.write(root / name, y.astype(np.float32), sr, subtype="PCM_16")
                rows.append(f"{name},{label},s{s}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root / "manifest.csv"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return _write_corpus(tmp_path_factory.mktemp("corpus"))


TINY_MODEL = make_config("convtransformer", "light", width=8, layers=1, heads=2, ffn=16,
                         n_mels=16, n_classes=4)


def _spec(manifest, tmp_path, hrf=None, epochs=3, cv="groupkfold:2", **train):
    config = TINY_MODEL if hrf is None else \
        make_config("convtransformer", "light", width=8, layers=1, heads=2, ffn=16,
                    n_mels=16, n_classes=4, hrf=hrf)
    tc = TrainConfig(epochs=epochs, batch_size=8, seed=1, **train)
    return RunSpec(manifest=str(manifest), model_config=config.to_dict(),
                   train_config=tc.to_dict(), cv=cv, feature_config={"n_mels": 16},
                   cache_dir=str(tmp_path / "cache"))


def test_run_writes_everything(corpus, tmp_path):
    from pyreparam.models import HRFConfig
    out = tmp_path / "run"
    summary = start_run(_spec(corpus, tmp_path, hrf=HRFConfig(r=2)), out, quiet=True)
    assert (out / "run.json").exists() and (out / "folds.json").exists()
    results = json.loads((out / "results.json").read_text())
    assert results == json.loads(json.dumps(summary))
    assert len(results["folds"]) == 2
    for key in ("wa", "ua", "macro_f1", "confusion", "fold_mean", "fold_std"):
        assert key in results["pooled"]
    # causal normalization (the default): every test utterance in 5 random orders
    assert results["pooled"]["n"] == 6 * 4 * 3 * 5
    assert results["protocols"]["speaker"]["n"] == 6 * 4 * 3
    assert results["params_merged"] < results["params"]
    assert {"numpy", "scipy", "pyreparam"} <= set(results["versions"])
    assert set(results["protocols"]) == {"speaker", "utterance", "causal"}
    assert set(results["protocols"]["causal"]["ua_by_prior"]) >= {"0", "1", "2"}
    for f in range(2):
        fold_dir = out / f"fold_{f:02d}"
        for name in ("log.csv", "model.npz", "model_merged.npz", "result.json"):
            assert (fold_dir / name).exists(), name
        assert not (fold_dir / "state.npz").exists()
        log = (fold_dir / "log.csv").read_text().splitlines()
        assert log[0].startswith("epoch,train_loss") and len(log) == 1 + 3
        # the merged checkpoint predicts what the training form predicts
        r = json.loads((fold_dir / "result.json").read_text())
        assert r["merged_prediction_changes"] == 0
    with pytest.raises(RunError, match="already holds a run"):
        start_run(_spec(corpus, tmp_path), out, quiet=True)


@pytest.mark.parametrize("normalization", ["speaker", "causal"])
def test_test_speakers_never_drive_selection(corpus, tmp_path, monkeypatch, normalization):
    """The validation step only ever sees validation speakers; the test speakers come
    once, after training (causal: through the causal protocol, not evaluate_split)."""
    seen = []
    real = fold_module.evaluate_split

    def spy(model, split, n_classes):
        seen.append(set(split.speakers))
        return real(model, split, n_classes)
    monkeypatch.setattr(fold_module, "evaluate_split", spy)
    out = tmp_path / "run"
    start_run(_spec(corpus, tmp_path, epochs=2, cv="fixed", normalization=normalization),
              out, quiet=True)
    fold = json.loads((out / "folds.json").read_text())["folds"][0]
    assert seen[:2] == [set(fold["validation"])] * 2      # one check per epoch
    assert seen[2:] == ([set(fold["test"])] if normalization == "speaker" else [])


def _params(path):
    return load_checkpoint(path).params


def _assert_same_run(a: Path, b: Path, n_folds=2):
    ra, rb = (json.loads((d / "results.json").read_text()) for d in (a, b))
    assert ra["pooled"] == rb["pooled"]
    for f in range(n_folds):
        pa, pb = _params(a / f"fold_{f:02d}/model.npz"), _params(b / f"fold_{f:02d}/model.npz")
        for k in pa:
            np.testing.assert_array_equal(pa[k], pb[k], err_msg=k)


LEVERS = dict(normalization="causal", ema=0.9, mixup=0.4, speeds=(0.9, 1.1),
              select="smooth", select_window=2, n_validation=2)


@pytest.mark.parametrize("recipe", [{}, LEVERS], ids=["defaults", "levers"])
def test_resume_after_interrupt_is_bit_exact(corpus, tmp_path, monkeypatch, recipe):
    """Every random draw (causal normalization, mixup, speed choice) and the weights'
    moving average survive an interruption."""
    reference = tmp_path / "reference"
    start_run(_spec(corpus, tmp_path, epochs=4, **recipe), reference, quiet=True)

    interrupted = tmp_path / "interrupted"
    real_save = fold_module.FoldState.save
    calls = []

    def save_then_stop(self, path):
        real_save(self, path)
        calls.append(self.epoch)
        if len(calls) == 5:          # fold 0 finished (4 epochs), fold 1 after epoch 1
            raise KeyboardInterrupt
    monkeypatch.setattr(fold_module.FoldState, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        start_run(_spec(corpus, tmp_path, epochs=4, **recipe), interrupted, quiet=True)
    monkeypatch.setattr(fold_module.FoldState, "save", real_save)
    assert (interrupted / "fold_00/result.json").exists()
    assert (interrupted / "fold_01/state.npz").exists()
    assert not (interrupted / "results.json").exists()
    resume_run(interrupted, quiet=True)
    _assert_same_run(reference, interrupted)


@pytest.mark.slow
def test_kill_9_then_resume_from_the_command_line(corpus, tmp_path):
    """A real SIGKILL in the middle of training: `train --resume` ends exactly where an
    uninterrupted run ends."""
    args = [str(corpus), "--epochs", "30", "--seed", "3", "--cv", "groupkfold:2",
            "--cache", str(tmp_path / "cache"), "--quiet", "--batch-size", "8"]
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    cli = [sys.executable, "-P", "-c", "from pyreparam.cli import main; main()", "train"]
    subprocess.run(cli + args + ["--out", str(reference)], check=True, env=env,
                   capture_output=True)
    proc = subprocess.Popen(cli + args + ["--out", str(killed)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = killed / "fold_00" / "state.npz"
    deadline = time.time() + 120
    while not state.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)                                   # let it get into a later epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "results.json").exists(), "the run finished before it was killed"
    r = subprocess.run(cli + ["--resume", str(killed), "--quiet"], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "pooled" in r.stdout
    _assert_same_run(reference, killed)


def test_eval_command_reproduces_the_fold_metrics(corpus, tmp_path):
    out = tmp_path / "run"
    start_run(_spec(corpus, tmp_path, epochs=2, cv="fixed"), out, quiet=True)
    result = json.loads((out / "fold_00/result.json").read_text())
    test_speakers = set(result["fold"]["test"])
    lines = corpus.read_text().splitlines()
    subset = tmp_path / "test.csv"
    subset.write_text("\n".join([lines[0]] + [
        f"{corpus.parent / line.split(',')[0]},{line.split(',', 1)[1]}"
        for line in lines[1:] if line.split(",")[2] in test_speakers]) + "\n")
    r = CliRunner().invoke(main, ["eval", str(out / "fold_00/model.npz"), str(subset), "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["confusion"] == result["test"]["confusion"]
    assert report["ua"] == result["test"]["ua"]


def test_train_command_errors(corpus, tmp_path):
    run = lambda *a: CliRunner().invoke(main, ["train", *map(str, a)])
    r = run(tmp_path / "none.csv", "--out", tmp_path / "x")
    assert r.exit_code != 0 and "manifest not found" in r.output
    r = run(corpus, "--out", tmp_path / "x", "--cv", "kfold")
    assert r.exit_code != 0 and "unknown --cv" in r.output
    r = run("--resume", tmp_path / "nothing")
    assert r.exit_code != 0 and "no run to resume" in r.output
    r = run(corpus)
    assert r.exit_code != 0 and "--out" in r.output


def test_infer_same_speaker_normalizes_like_training(corpus, tmp_path):
    """`infer --same-speaker` on all files of a test speaker gives exactly the
    predictions of the fold's evaluation; without it, a per-speaker model warns."""
    out = tmp_path / "run"
    start_run(_spec(corpus, tmp_path, epochs=2, cv="fixed", normalization="speaker"), out,
              quiet=True)
    result = json.loads((out / "fold_00/result.json").read_text())
    speaker = result["fold"]["test"][0]
    rows = [(p, t, y) for p, t, y in result["predictions"] if f"/{speaker}_" in p]
    files = [p for p, _, _ in rows]
    model = str(out / "fold_00/model.npz")
    r = CliRunner().invoke(main, ["infer", model, *files, "--same-speaker", "--json"])
    assert r.exit_code == 0, r.output
    classes = json.loads((out / "results.json").read_text())["classes"]
    got = [classes.index(rec["emotion"]) for rec in json.loads(r.output)]
    assert got == [y for _, _, y in rows]
    r = CliRunner().invoke(main, ["infer", model, files[0]])
    assert r.exit_code == 0 and "--same-speaker" in r.output


def test_non_finite_loss_stops_training_and_keeps_the_last_epoch(corpus, tmp_path,
                                                                  monkeypatch):
    """A NaN loss stops the run with a clear error naming epoch and batch; state.npz
    still holds the epoch before and nothing reports metrics."""
    real = fold_module.cross_entropy_forward
    calls = []

    def poisoned(logits, *args, **kwargs):
        calls.append(1)
        loss, cache = real(logits, *args, **kwargs)
        return (float("nan") if len(calls) > 7 else loss), cache
    monkeypatch.setattr(fold_module, "cross_entropy_forward", poisoned)
    out = tmp_path / "run"
    with pytest.raises(fold_module.TrainingError, match=r"loss at epoch \d+, batch \d+") \
            as error:
        start_run(_spec(corpus, tmp_path, epochs=6), out, quiet=True)
    epoch = int(str(error.value).split("epoch ")[1].split(",")[0])
    assert epoch >= 2
    state = np.load(out / "fold_00" / "state.npz")
    assert json.loads(str(state["header.json"]))["epoch"] == epoch - 1
    assert not (out / "results.json").exists()


def test_macro_f1_counts_false_alarms_of_absent_classes():
    """Classes present in the reference or predicted are scored: predicting a class the
    test set lacks costs macro-F1 (an F1 of 0 for it); UA still averages the classes
    present (a recall needs references), and the report says a class is absent."""
    # 3 classes, class 2 absent from the reference but predicted once
    report = classification_report([0, 0, 1, 1], [0, 2, 1, 1], 3)
    f1 = [2 * 1 * 0.5 / 1.5, 2 * 1 * 1 / 2, 0.0]
    assert report["macro_f1"] == pytest.approx(np.mean(f1))
    assert report["ua"] == pytest.approx((0.5 + 1.0) / 2)
    assert report["classes_absent"] == 1
    # never predicted and absent: left out
    assert classification_report([0, 1], [0, 1], 3)["macro_f1"] == pytest.approx(1.0)


def test_distillation_from_a_teacher_run(corpus, tmp_path):
    """A student learns from a finished run's fold models (soft targets on its own
    training utterances only); a teacher whose folds test other speakers is refused."""
    from pyreparam.train.distill import DistillError, soft_targets, teacher_model_path
    from pyreparam.train.splits import Fold
    teacher = tmp_path / "teacher"
    start_run(_spec(corpus, tmp_path, epochs=2), teacher, quiet=True)
    student = tmp_path / "student"
    summary = start_run(_spec(corpus, tmp_path, epochs=2, teachers=(str(teacher),),
                              distill=0.5, temperature=2.0), student, quiet=True)
    assert list(summary["train_config"]["teachers"]) == [str(teacher)]
    fold = Fold.from_dict(json.loads((student / "folds.json").read_text())["folds"][0])
    assert teacher_model_path(teacher, fold).parent.name.startswith("fold_")
    rng = np.random.default_rng(0)
    raw = [rng.standard_normal((30, 16)).astype(np.float32) for _ in range(4)]
    soft = soft_targets([str(teacher)] * 2, fold, raw, ["a", "a", "b", "b"],
                        list(CLASSES), {"n_mels": 16}, 2.0)
    np.testing.assert_allclose(soft.sum(axis=1), 1.0)
    other = Fold(0, ("nobody",), fold.validation, fold.train)
    with pytest.raises(DistillError, match="no fold whose test speakers"):
        teacher_model_path(teacher, other)
    with pytest.raises(ValueError, match="teacher"):
        TrainConfig(distill=0.5)


def test_front_end_settings_reach_training_and_inference(corpus, tmp_path):
    """`train --sample-rate --fmax --n-mels`: the run records them, the model takes that
    many bands, and `infer` on a 16 kHz file resamples to the model's rate first."""
    out = tmp_path / "run"
    r = CliRunner().invoke(main, [
        "train", str(corpus), "--cv", "fixed", "--epochs", "1", "--batch-size", "8",
        "--sample-rate", "22050", "--fmax", "9000", "--n-mels", "24",
        "--cache", str(tmp_path / "cache"), "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    run = json.loads((out / "run.json").read_text())
    features = run["feature_config"]
    assert (features["sample_rate"], features["fmax"], features["n_mels"],
            features["n_fft"]) == (22050, 9000.0, 24, 1024)
    assert run["model_config"]["n_mels"] == 24
    wav = next((corpus.parent / "wav").iterdir())
    r = CliRunner().invoke(main, ["infer", str(out / "fold_00" / "model.npz"), str(wav),
                                  "--json"])
    assert r.exit_code == 0, r.output
    (record,) = json.loads(r.output)
    assert record["emotion"] in json.loads((out / "results.json").read_text())["classes"]


def test_pitch_channels_reach_training_inference_and_the_c_runtime(corpus, tmp_path):
    """`train --pitch`: the model takes the mel bands + 2 pitch channels, `infer`
    computes them from the checkpoint's feature settings, the int8 .prq runs in C
    on host-computed features and in the stream (the integer front end and pitch
    track, tests/test_stream_pitch.py), whose configuration export writes; with
    --frontend int the channels come from the integer pitch track."""
    out = tmp_path / "run"
    base = ["train", str(corpus), "--cv", "fixed", "--epochs", "1", "--batch-size", "8",
            "--n-mels", "24", "--cache", str(tmp_path / "cache"), "--quiet"]
    r = CliRunner().invoke(main, [*base, "--pitch-network", "--out", str(out)])
    assert r.exit_code == 0, r.output
    run = json.loads((out / "run.json").read_text())
    assert run["feature_config"]["pitch"] is True and run["feature_config"]["n_mels"] == 24
    assert run["model_config"]["n_mels"] == 26
    wav = next((corpus.parent / "wav").iterdir())
    model = out / "fold_00" / "model.npz"
    r = CliRunner().invoke(main, ["infer", str(model), str(wav), "--json"])
    assert r.exit_code == 0, r.output
    prq = tmp_path / "m.prq"
    r = CliRunner().invoke(main, ["quantize", str(model), "--calib", str(corpus),
                                  "-o", str(prq)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["infer", str(prq), str(wav), "--json"])
    assert r.exit_code == 0, r.output
    classes = json.loads((out / "results.json").read_text())["classes"]
    assert json.loads(r.output)[0]["emotion"] in classes
    r = CliRunner().invoke(main, ["infer", str(prq), str(wav), "--stream", "--json"])
    assert r.exit_code == 0, r.output
    decisions = json.loads(r.stdout)[0]["decisions"]       # none for a short file
    assert all(d["emotion"] in classes + [None] for d in decisions)
    r = CliRunner().invoke(main, ["export", str(prq), "--c-header", str(tmp_path / "m.h")])
    assert r.exit_code == 0, r.output
    assert ".pitch = &m_pitch" in (tmp_path / "m.h").read_text()
    integer = tmp_path / "int"
    r = CliRunner().invoke(main, [*base, "--pitch-network", "--frontend", "int", "--out", str(integer)])
    assert r.exit_code == 0, r.output
    features = json.loads((integer / "run.json").read_text())["feature_config"]
    assert (features["frontend"], features["pitch"]) == ("int", True)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_results_name_the_source_commit_of_a_checkout(tmp_path):
    """A run made from a git checkout records its commit (+dirty with local changes);
    a package folder outside a checkout's top records none."""
    from pyreparam.train.run import _source_commit
    repo = tmp_path / "repo"
    package = repo / "pkg"
    package.mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    git = lambda *a: subprocess.run(["git", "-C", str(repo), *a], check=True,
                                    capture_output=True, text=True).stdout.strip()
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    head = git("rev-parse", "HEAD")
    assert _source_commit(package) == head
    (package / "a.py").write_text("x = 2\n")
    assert _source_commit(package) == head + "+dirty"
    (tmp_path / "plain").mkdir()
    assert _source_commit(tmp_path / "plain") is None
    nested = package / "inner"                     # not the checkout's top level's child
    nested.mkdir()
    assert _source_commit(nested) is None


def test_spec_augment_options_reach_the_recipe(corpus, tmp_path):
    """--time-masks/--max-time/--freq-masks/--max-freq set the recipe's SpecAugment
    (recorded in run.json, so `compare` pairs runs on them); 0 masks train too."""
    out = tmp_path / "run"
    r = CliRunner().invoke(main, ["train", str(corpus), "--cv", "fixed", "--epochs", "1",
                                  "--batch-size", "8", "--n-mels", "24", "--cache",
                                  str(tmp_path / "cache"), "--quiet", "--time-masks", "0",
                                  "--freq-masks", "4", "--max-freq", "3", "--out", str(out)])
    assert r.exit_code == 0, r.output
    tc = json.loads((out / "run.json").read_text())["train_config"]
    assert (tc["time_masks"], tc["max_time"], tc["freq_masks"], tc["max_freq"]) == (0, 20, 4, 3)
