"""pyreparam compare: the statistics (t-interval, batched metrics, paired bootstrap
against a direct resampling) and the pairing of runs."""
import numpy as np
import pytest
from scipy import stats as scipy_stats

from pyreparam.sweep.compare import Run, compare_runs, differing_options, find_pairs, \
    group_variants, hrf_text, run_options
from pyreparam.sweep.stats import PairedSeed, class_recall, paired_bootstrap, \
    percentile_interval, t_interval
from pyreparam.train.metrics import confusion_matrix, metrics_from_confusion


# --------------------------------------------------------------------------- statistics

def test_t_interval_is_the_textbook_one():
    d = [1.0, 3.0, 2.5, 0.5]
    mean, lo, hi = t_interval(d)
    half = scipy_stats.t.ppf(0.975, 3) * np.std(d, ddof=1) / 2
    assert mean == pytest.approx(1.75) and (lo, hi) == pytest.approx((1.75 - half, 1.75 + half))
    assert np.isnan(t_interval([2.0])[1]) and t_interval([2.0])[0] == 2.0


def test_class_recall():
    cm = np.array([[3, 1, 0], [0, 0, 0], [1, 1, 2]])
    recall = class_recall(cm[None])[0]
    np.testing.assert_allclose(recall[[0, 2]], [0.75, 0.5])
    assert np.isnan(recall[1])


def _seed(rng, n, classes=3, flip=0.3):
    labels = rng.integers(0, classes, n)
    pred_a = np.where(rng.random(n) < flip, rng.integers(0, classes, n), labels)
    pred_b = np.where(rng.random(n) < flip, rng.integers(0, classes, n), labels)
    return labels, pred_a, pred_b


def test_paired_bootstrap_equals_resampling_the_utterances():
    """Each replicate is the mean over seeds of metric(B) - metric(A) on the drawn
    utterances, computed here the slow way (np.repeat of the drawn indices)."""
    rng = np.random.default_rng(1)
    n, reps = 30, 40
    seeds = []
    for _ in range(2):
        labels, a, b = _seed(rng, n)
        seeds.append(PairedSeed(np.arange(n), labels, a, b))
    draws = paired_bootstrap(seeds, n, 3, replicates=reps, rng=np.random.default_rng(7),
                             block=reps)
    weights = np.random.default_rng(7).multinomial(n, np.full(n, 1 / n), size=reps)
    for r in range(reps):
        idx = np.repeat(np.arange(n), weights[r])
        diffs = {k: [] for k in ("wa", "ua", "macro_f1")}
        for s in seeds:
            ma = metrics_from_confusion(confusion_matrix(s.labels[idx], s.pred_a[idx], 3))
            mb = metrics_from_confusion(confusion_matrix(s.labels[idx], s.pred_b[idx], 3))
            for k in diffs:
                diffs[k].append(mb[k] - ma[k])
        for k in diffs:
            assert draws[k][r] == pytest.approx(np.mean(diffs[k]), abs=1e-12)


def test_paired_bootstrap_of_identical_predictions_is_zero_and_reproducible():
    rng = np.random.default_rng(2)
    labels, a, _ = _seed(rng, 50)
    same = [PairedSeed(np.arange(50), labels, a, a)]
    draws = paired_bootstrap(same, 50, 3, replicates=300, rng=np.random.default_rng(0))
    assert not np.any(draws["ua"]) and not np.nansum(np.abs(draws["recall"]))
    labels, a, b = _seed(rng, 50)
    pair = [PairedSeed(np.arange(50), labels, a, b)]
    one = paired_bootstrap(pair, 50, 3, replicates=300, rng=np.random.default_rng(0))
    two = paired_bootstrap(pair, 50, 3, replicates=300, rng=np.random.default_rng(0),
                           block=64)
    np.testing.assert_array_equal(one["macro_f1"], two["macro_f1"])
    lo, hi = percentile_interval(one["wa"])
    observed = np.mean(b == labels) - np.mean(a == labels)
    assert lo <= observed <= hi


# --------------------------------------------------------------------------- pairing

FOLDS = [{"fold": {"index": 0, "test": ["s0"], "validation": ["s1"], "train": ["s2"]}}]


def _run(seed, folds=FOLDS, **options):
    base = {"backbone": "convtransformer", "size": "light", "hrf": "none", "dropout": 0.1,
            "model.width": 64, "lr": 5e-4, "cv": "loso", "manifest": "/m.csv"}
    base.update(options)
    results = {"seed": seed, "classes": ["a", "b"], "folds": folds,
               "pooled": {"ua": 0.5 + 0.01 * seed + (0.1 if base["hrf"] != "none" else 0),
                          "wa": 0.5, "macro_f1": 0.5, "confusion": [[5, 5], [5, 5]]}}
    return Run(f"run-{seed}-{sorted(options.items())}", base, seed, results, None)


def test_variants_pair_when_exactly_one_option_differs():
    runs = [_run(s, **o) for s in (0, 1) for o in
            ({}, {"hrf": "r=4"}, {"lr": 1e-3}, {"hrf": "r=4", "lr": 1e-3}, {"cv": "fixed"},
             {"backbone": "conformer", "model.width": 144})]
    pairs = sorted((o, str(a[0].options[o]), str(b[0].options[o]), a[0].options["lr"],
                    a[0].options["hrf"]) for o, a, b in find_pairs(group_variants(runs)))
    assert pairs == [
        ("backbone", "conformer", "convtransformer", 5e-4, "none"),  # widths follow backbone
        ("hrf", "none", "r=4", 5e-4, "none"),                 # A is no HRF, at each lr
        ("hrf", "none", "r=4", 1e-3, "none"),
        ("lr", "0.0005", "0.001", 5e-4, "none"),              # A is the smaller value
        ("lr", "0.0005", "0.001", 5e-4, "r=4")]               # cv differs: never paired


def test_compare_uses_common_seeds_with_the_same_folds():
    other = [{"fold": {**FOLDS[0]["fold"], "validation": ["s2"], "train": ["s1"]}}]
    runs = [_run(0), _run(1), _run(2), _run(0, hrf="r=4"), _run(1, folds=other, hrf="r=4")]
    report = compare_runs(runs, replicates=0)
    (pair,) = report["pairs"]
    assert pair["seeds"] == [0] and pair["option"] == "hrf"
    ua = pair["metrics"][0]
    assert ua["difference"] == pytest.approx(10.0) and ua["seeds_ci"] is None
    assert any("seed 1 left out" in n for n in report["notes"])
    assert any("no utterance bootstrap" in n for n in report["notes"])



def test_a_validation_split_lever_pairs_on_the_test_speakers_alone():
    """More validation speakers change each fold's split, not its test speakers: such a
    pair is compared; a test speaker that differs still leaves the seed out."""
    split = [{"fold": {**FOLDS[0]["fold"], "validation": ["s1", "s2"], "train": []}}]
    moved = [{"fold": {**FOLDS[0]["fold"], "test": ["s9"]}}]
    runs = [_run(0, **{"n-validation": 1}), _run(1, **{"n-validation": 1}),
            _run(0, folds=split, **{"n-validation": 2}),
            _run(1, folds=moved, **{"n-validation": 2})]
    report = compare_runs(runs, replicates=0)
    (pair,) = report["pairs"]
    assert pair["option"] == "n-validation" and pair["seeds"] == [0]
    assert any("seed 1 left out" in n for n in report["notes"])


def test_a_sample_rate_pair_carries_its_fft_size_and_band_edge():
    """Another sample rate brings its own FFT size and, at the default, its own top band
    edge (half the rate): still one lever; an fmax chosen apart is a second one."""
    a = {"features.sample_rate": 16000, "features.n_fft": 512, "features.fmax": 8000.0}
    b = {"features.sample_rate": 22050, "features.n_fft": 1024, "features.fmax": 11025.0}
    assert differing_options(a, b) == ["features.sample_rate"]
    assert differing_options(a, {**b, "features.fmax": 9000.0}) == [
        "features.fmax", "features.sample_rate"]
    assert differing_options(a, {**a, "features.fmax": 7000.0}) == ["features.fmax"]

def test_the_models_input_width_follows_the_bands_and_the_pitch_channels():
    """More mel bands, or the two pitch channels, widen the model's input: one lever."""
    a = {"features.n_mels": 64, "features.pitch": False, "model.n_mels": 64}
    assert differing_options(a, {**a, "features.pitch": True, "model.n_mels": 66}) == [
        "features.pitch"]
    assert differing_options(a, {**a, "features.n_mels": 32, "model.n_mels": 32}) == [
        "features.n_mels"]
    assert differing_options(a, {**a, "model.n_mels": 66}) == ["model.n_mels"]


def test_hrf_text():
    assert hrf_text(None) == "none"
    assert hrf_text({"r": 4, "k": 1, "bias": True, "init": "xavier", "sites": ["ffn"]}) == "r=4"
    assert hrf_text({"r": 2, "k": 2, "bias": False, "init": "identity",
                     "sites": ["ffn", "attn_in"]}) == "r=2,k=2,init=identity,no-bias," \
                                                      "sites=ffn+attn_in"


def test_older_runs_read_with_the_behaviour_before_an_option_existed(tmp_path):
    manifest = tmp_path / "corpus.csv"
    manifest.write_text("path,label,speaker\n")
    link = tmp_path / "link.csv"
    link.symlink_to(manifest)
    model = {"backbone": "convtransformer", "size": "light", "hrf": None, "dropout": 0.1}
    old = {"model_config": model, "cv": "loso", "manifest": str(manifest),
           "train_config": {"seed": 0, "lr": 5e-4}}
    new = {"model_config": model, "cv": "loso", "manifest": str(link),
           "train_config": {"seed": 0, "lr": 5e-4, "select": "smooth",
                            "causal_draw": "uniform"}}
    a, b = run_options(old), run_options(new)
    assert a["select"] == "best" and a["causal-draw"] == "uniform" and a["ema"] == 0.0
    assert a["model.pooling"] == "mean" and a["features.frontend"] == "float"
    assert a["manifest"] == b["manifest"]               # one file through a symlink
    assert differing_options(a, b) == ["select"]


def test_the_teachers_belong_to_the_distillation():
    base = {"lr": 5e-4, "distill": 0.0, "teachers": []}
    taught = {"lr": 5e-4, "distill": 0.5, "teachers": ["runs/a", "runs/b"]}
    assert differing_options(base, taught) == ["distill"]
    other = {"lr": 5e-4, "distill": 0.5, "teachers": ["runs/c"]}
    assert differing_options(taught, other) == ["teachers"]


def test_a_feature_setting_is_a_lever():
    runs = [_run(s, **o) for s in (0, 1) for o in ({}, {"features.frontend": "int"})]
    (pair,) = find_pairs(group_variants(runs))
    assert pair[0] == "features.frontend"
