"""tools/baselines/opensmile_svm.py: its folds are the trainer's, its normalization, its C choice.

The fold and normalization tests need neither opensmile nor scikit-learn; the SVM tests
are skipped without scikit-learn.
"""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pyreparam.cli import main
from pyreparam.data.manifest import read_manifest
from pyreparam.data.synth import EMOTIONS, write_synthetic_corpus
from pyreparam.models import make_config
from pyreparam.train.fold import TrainConfig
from pyreparam.train.run import RunSpec, start_run

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "baselines" / "opensmile_svm.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("opensmile_svm", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


baseline = _load_script()


@pytest.fixture(scope="module")
def synthetic_manifest(tmp_path_factory):
    return write_synthetic_corpus(tmp_path_factory.mktemp("synth"), speakers=4, per_class=2,
                                  seed=0)


def _trained_folds(manifest, cv, seed, out, cache) -> list[dict]:
    """The folds.json of a real one-epoch `pyreparam train` run."""
    result = CliRunner().invoke(main, [
        "train", str(manifest), "--cv", cv, "--seed", str(seed), "--epochs", "1",
        "--batch-size", "8", "--out", str(out), "--cache", str(cache), "--quiet"])
    assert result.exit_code == 0, result.output
    stored = json.loads((out / "folds.json").read_text())
    assert (stored["cv"], stored["seed"]) == (cv, seed)
    return stored["folds"]


@pytest.mark.parametrize("cv, seed", [("loso", 0), ("groupkfold:2", 3)])
def test_svm_folds_are_the_folds_training_used(synthetic_manifest, tmp_path, cv, seed):
    trained = _trained_folds(synthetic_manifest, cv, seed, tmp_path / "run", tmp_path / "cache")
    ours = baseline.svm_folds(read_manifest(synthetic_manifest), cv, seed)
    assert len(ours) == len(trained)
    for fold, used in zip(ours, trained):
        assert fold.index == used["index"]
        assert list(fold.test) == used["test"]
        assert list(fold.train) == sorted(used["train"] + used["validation"])
        assert not set(fold.test) & set(fold.train)
    speakers = {u.speaker for u in read_manifest(synthetic_manifest)}
    assert all(set(f.test) | set(f.train) == speakers for f in ours)
    if cv != "loso":      # the comparison can fail: other seeds give other folds
        assert any(baseline.svm_folds(read_manifest(synthetic_manifest), cv, s) != ours
                   for s in range(6))


def test_folds_do_not_depend_on_the_number_of_validation_speakers(synthetic_manifest,
                                                                  tmp_path):
    """Training draws validation speakers after test speakers: with 2 of them, the test
    speakers and train + validation are still the script's (which passes 1)."""
    config = make_config("convtransformer", "light", width=8, layers=1, heads=2, ffn=16,
                         n_mels=16, n_classes=len(EMOTIONS))
    spec = RunSpec(manifest=str(synthetic_manifest), model_config=config.to_dict(),
                   train_config=TrainConfig(epochs=1, batch_size=8, seed=5,
                                            n_validation=2).to_dict(),
                   cv="fixed", feature_config={"n_mels": 16},
                   cache_dir=str(tmp_path / "cache"))
    start_run(spec, tmp_path / "run", quiet=True)
    trained = json.loads((tmp_path / "run" / "folds.json").read_text())["folds"]
    ours = baseline.svm_folds(read_manifest(synthetic_manifest), "fixed", 5)
    assert [len(f["validation"]) for f in trained] == [2]
    assert [(list(f.test), list(f.train)) for f in ours] == \
        [(f["test"], sorted(f["train"] + f["validation"])) for f in trained]


def test_cache_key_changes_with_content_and_every_setting():
    key = baseline.cache_key(b"abc", "eGeMAPSv02", "2.6.0", 30.0)
    assert key == baseline.cache_key(b"abc", "eGeMAPSv02", "2.6.0", 30.0)
    assert len({key, baseline.cache_key(b"abd", "eGeMAPSv02", "2.6.0", 30.0),
                baseline.cache_key(b"abc", "ComParE_2016", "2.6.0", 30.0),
                baseline.cache_key(b"abc", "eGeMAPSv02", "2.5.1", 30.0),
                baseline.cache_key(b"abc", "eGeMAPSv02", "2.6.0", None)}) == 5


def _functionals(rng, n_speakers=4, per_speaker=12, dims=5):
    speakers = np.repeat([f"s{i}" for i in range(n_speakers)], per_speaker)
    offsets = rng.normal(0, 5, size=(n_speakers, dims)).repeat(per_speaker, axis=0)
    X = offsets + rng.normal(0, 1, size=(speakers.size, dims)) * rng.uniform(0.1, 10, dims)
    return X.astype(np.float32), speakers


def test_speaker_znormalization_uses_each_speakers_own_statistics(rng):
    X, speakers = _functionals(rng)
    X[:, 0] = 7.25                                    # a constant functional
    X[speakers == "s1", 1] = 0.1                      # constant within one speaker only
    fit, held = speakers != "s3", speakers == "s3"
    fit_Z, held_Z = baseline.znormalize(X[fit], speakers[fit], X[held], speakers[held],
                                        "speaker")
    Z = np.empty(X.shape)
    Z[fit], Z[held] = fit_Z, held_Z
    for s in np.unique(speakers):
        rows = Z[speakers == s]
        np.testing.assert_allclose(rows[:, 2:].mean(axis=0), 0, atol=1e-9)
        np.testing.assert_allclose(rows[:, 2:].std(axis=0), 1, rtol=1e-9)
    np.testing.assert_allclose(Z[:, 0], 0, atol=1e-6)        # not nan, not rounding noise
    np.testing.assert_allclose(Z[speakers == "s1", 1], 0, atol=1e-6)
    assert np.isfinite(Z).all()


def test_global_znormalization_uses_training_rows_only(rng):
    X, speakers = _functionals(rng)
    fit, held = speakers != "s3", speakers == "s3"
    fit_Z, held_Z = baseline.znormalize(X[fit], speakers[fit], X[held], speakers[held], "global")
    mean, std = X[fit].astype(np.float64).mean(axis=0), X[fit].astype(np.float64).std(axis=0)
    np.testing.assert_allclose(fit_Z.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(held_Z, (X[held] - mean) / std, rtol=1e-9)
    with pytest.raises(ValueError, match="unknown normalization"):
        baseline.znormalize(X, speakers, X, speakers, "utterance")


def _labelled(rng, n_speakers=4, per_class=6, n_classes=3, dims=6):
    """Functionals whose first columns carry the class, plus a speaker offset."""
    y = np.tile(np.repeat(np.arange(n_classes), per_class), n_speakers)
    speakers = np.repeat([f"s{i}" for i in range(n_speakers)], n_classes * per_class)
    X = rng.normal(0, 1, size=(y.size, dims))
    X[np.arange(y.size), y] += 3.0
    X += rng.normal(0, 4, size=(n_speakers, dims)).repeat(n_classes * per_class, axis=0)
    return X, y, speakers


@pytest.mark.parametrize("mode", ["speaker", "global"])
def test_c_is_chosen_without_the_test_speaker(rng, mode):
    pytest.importorskip("sklearn")
    X, y, speakers = _labelled(rng)
    train = np.flatnonzero(speakers != "s0")
    X[speakers == "s0"] = np.nan                      # any use of the test speaker shows
    kernel, grid = baseline.CLASSIFIERS["linear"]
    C, scores = baseline.select_c(X, y, speakers, train, kernel, grid, 3, mode)
    assert sorted(scores) == sorted(grid)
    assert all(np.isfinite(list(scores.values())))
    assert scores[C] == max(scores.values())
    assert C == min(c for c in grid if scores[c] == scores[C])    # ties: smaller C
    if mode == "speaker":         # easy once the speaker offsets are removed
        assert scores[C] > 0.9


@pytest.mark.parametrize("classifier", ["linear", "rbf"])
def test_evaluate_predicts_every_test_utterance_once(rng, classifier):
    pytest.importorskip("sklearn")
    X, y, speakers = _labelled(rng)
    folds = [baseline.SvmFold(i, (s,), tuple(t for t in np.unique(speakers) if t != s))
             for i, s in enumerate(np.unique(speakers))]
    results = baseline.evaluate(X, y, speakers, folds, classifier, 3, "speaker",
                                log=lambda message: None)
    rows = np.concatenate([r["rows"] for r in results])
    assert sorted(rows.tolist()) == list(range(y.size))
    predicted = np.concatenate([r["predicted"] for r in results])
    assert np.mean(predicted == y[rows]) > 0.8
    assert all(r["C"] in baseline.CLASSIFIERS[classifier][1] for r in results)


def test_pitch_functionals_describe_the_voice(tmp_path):
    """The `pitch` set of a steady 200 Hz voice: mean log2 F0 of 1 octave above
    100 Hz, no spread, every frame voiced; of white noise: few voiced frames."""
    import io

    import soundfile as sf
    rate = baseline.SAMPLE_RATE
    t = np.arange(rate) / rate
    voice = sum(np.sin(2 * np.pi * k * 200.0 * t) / k for k in range(1, 10))
    noise = np.random.default_rng(0).standard_normal(rate)
    rows = {}
    for name, x in (("voice", voice), ("noise", noise)):
        buffer = io.BytesIO()
        sf.write(buffer, (0.3 * x / np.abs(x).max()).astype(np.float32), rate,
                 format="WAV", subtype="PCM_16")
        rows[name] = baseline.pitch_functionals(buffer.getvalue(), f"{name}.wav", 30.0)[0]
    assert rows["voice"].shape == (baseline.FEATURE_SETS["pitch"][1],)
    assert abs(rows["voice"][0] - 1.0) < 0.01 and rows["voice"][1] < 0.01
    assert rows["voice"][16] == 1.0 and abs(rows["voice"][17] - 0.98) < 0.02
    assert rows["noise"][16] < 0.5


def test_logmel_functionals_describe_the_spectrum(tmp_path):
    """The `logmel` set: a steady tone has the same spectrum in every frame (no change,
    no slope, percentiles equal to the mean), a tone that rises in level has a positive
    slope of the first cepstral coefficient (the overall level), noise has spread."""
    import io

    import soundfile as sf
    rate = baseline.SAMPLE_RATE
    t = np.arange(rate) / rate
    tone = np.sin(2 * np.pi * 440.0 * t)
    rows = {}
    for name, x in (("tone", tone), ("rising", tone * np.linspace(0.05, 1.0, rate)),
                    ("noise", np.random.default_rng(0).standard_normal(rate))):
        buffer = io.BytesIO()
        sf.write(buffer, (0.3 * x / np.abs(x).max()).astype(np.float32), rate,
                 format="WAV", subtype="PCM_16")
        rows[name] = baseline.logmel_functionals(buffer.getvalue(), f"{name}.wav", 30.0)[0]
    from pyreparam.audio.functionals import CEPSTRA
    M, C = 64, CEPSTRA
    assert rows["tone"].shape == (baseline.FEATURE_SETS["logmel"][1],) == (6 * M + 12 * C,)
    mean, std, p50 = (rows["tone"][k * M:(k + 1) * M] for k in (0, 1, 3))
    loud = mean > mean.max() - 1                   # the bands the tone fills
    assert loud.sum() >= 1 and (std[loud] < 0.05).all()
    assert np.allclose(p50[loud], mean[loud], atol=0.05)
    slope = lambda row: row[6 * M + 9 * C]          # c0's slope per frame
    assert abs(slope(rows["tone"])) < 0.02 and slope(rows["rising"]) > 0.2
    assert rows["noise"][M:2 * M].mean() > 10 * std[loud].mean()


@pytest.mark.parametrize("features,dims", [("pitch", 18), ("logmel", 672)])
def test_own_sets_run_without_opensmile(synthetic_manifest, tmp_path, monkeypatch,
                                        features, dims):
    """--features pitch / logmel need scikit-learn only: openSMILE is never imported."""
    pytest.importorskip("sklearn")
    real = baseline.require
    monkeypatch.setattr(baseline, "require", lambda module, package: (
        pytest.fail("openSMILE imported") if module == "opensmile" else real(module, package)))
    out = tmp_path / f"{features}.json"
    baseline.main([str(synthetic_manifest), "--features", features, "--classifiers", "linear",
                   "--json", str(out), "--cache", str(tmp_path / "cache"), "--quiet"])
    report = json.loads(out.read_text())
    assert report["variants"][0]["features"] == features
    assert 0.0 <= report["variants"][0]["pooled"]["ua"] <= 1.0
    assert report["variants"][0]["dims"] == dims
