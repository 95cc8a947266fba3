"""The statistics head: functionals, its logistic regression, its protocols, its runs."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

from pyreparam.audio.functionals import functional_names, n_functionals, utterance_functionals
from pyreparam.cli import main
from pyreparam.data.normalize import Normalizer
from pyreparam.models.checkpoint import CheckpointError, load_checkpoint_with_meta
from pyreparam.models.stats_head import StatsHead, StatsHeadError, mix_logits
from pyreparam.train.protocols import FloatScorer, HeadScorer, evaluate_protocols
from pyreparam.train.run import start_run
from pyreparam.train.stats_head import (C_GRID, PROSODY_WEIGHTS, fit_logistic, fit_stats_head,
                                        logistic_objective, row_space)
from test_train import _spec, corpus  # noqa: F401  (the tiny corpus fixture)


# --------------------------------------------------------------------------- functionals

def test_functionals_match_an_independent_computation(rng):
    T, M = 37, 10
    x = rng.standard_normal((T, M + 2))                       # 10 bands + 2 other channels
    f = utterance_functionals(x, n_mels=M)
    assert f.shape == (n_functionals(M + 2, M),) == (len(functional_names(M + 2, M)),)
    named = dict(zip(functional_names(M + 2, M), f))
    # per channel, from sorted values and plain sums
    j = 11
    col = np.sort(x[:, j])
    pos = 0.9 * (T - 1)
    p90 = col[int(pos)] + (pos - int(pos)) * (col[int(pos) + 1] - col[int(pos)])
    assert named[f"extra1.p90"] == pytest.approx(p90, abs=1e-12)
    assert named["band3.std"] == pytest.approx(np.sqrt(np.mean((x[:, 3] - x[:, 3].mean()) ** 2)))
    d = x[1:, 5] - x[:-1, 5]
    assert named["band5.change_std"] == pytest.approx(np.sqrt(np.mean((d - d.mean()) ** 2)))
    # cepstra: the orthonormal DCT-II written out
    k = np.arange(M)[:, None]
    n = np.arange(M)[None, :]
    basis = np.sqrt(2.0 / M) * np.cos(np.pi * k * (2 * n + 1) / (2 * M))
    basis[0] /= np.sqrt(2.0)
    c = x[:, :M] @ basis.T                                    # (T, M)
    t = np.arange(T, dtype=float)
    slope = np.polyfit(t, c[:, 2], 1)[0]
    assert named["cep2.slope"] == pytest.approx(slope, rel=1e-9, abs=1e-12)
    assert named["cep4.mean"] == pytest.approx(c[:, 4].mean(), abs=1e-12)
    assert named["cep1.change_mean_abs"] == pytest.approx(np.abs(np.diff(c[:, 1])).mean())


def test_the_second_half_describes_the_speech_frames_alone(rng):
    M = 8
    speech = rng.standard_normal((30, M))
    silence = rng.standard_normal((50, M)) - 12.0             # 52 dB below: left out
    x = np.concatenate([silence[:20], speech, silence[20:]])
    f = utterance_functionals(x)
    half = f.size // 2
    np.testing.assert_array_equal(f[half:], utterance_functionals(speech)[:half])
    np.testing.assert_array_equal(f[:half], utterance_functionals(x)[:half])
    named = dict(zip(functional_names(M, M), f))
    assert named["speech.band2.p50"] == pytest.approx(np.median(speech[:, 2]))
    # a near-silent utterance keeps all of its frames
    quiet = np.concatenate([speech[:2], silence])
    g = utterance_functionals(quiet)
    np.testing.assert_array_equal(g[:half], g[half:])


def test_functionals_of_a_single_frame_and_bad_shapes():
    f = utterance_functionals(np.ones((1, 8)))
    assert np.isfinite(f).all() and f.shape == (n_functionals(8, 8),)
    for bad in (np.ones((0, 8)), np.ones(8)):
        with pytest.raises(ValueError, match="frames"):
            utterance_functionals(bad)
    with pytest.raises(ValueError, match="n_mels"):
        utterance_functionals(np.ones((4, 8)), n_mels=9)


def test_the_prosody_block_describes_the_voiced_speech_frames(rng):
    """With pitch, 7 values of the log2 F0 channel over the voiced speech frames, after
    the unchanged spectral functionals; written out here from their definition."""
    M = 6
    T = 60
    x = rng.standard_normal((T, M + 2))
    x[:40, :M] += 10.0                                        # speech: frames 0..39
    x[:, M] = np.linspace(-0.5, 1.0, T)                       # log2 F0
    voicing = rng.uniform(0, 1, T)
    x[:, M + 1] = voicing
    f = utterance_functionals(x, M, pitch=True)
    names = functional_names(M + 2, M, pitch=True)
    assert f.shape == (n_functionals(M + 2, M, True),) == (len(names),)
    assert n_functionals(M + 2, M, True) == n_functionals(M + 2, M) + 7
    np.testing.assert_array_equal(f[:-7], utterance_functionals(x, M))
    named = dict(zip(names, f))
    keep = np.arange(40)[voicing[:40] >= 0.5]
    assert len(keep) >= 3
    f0 = x[keep, M]
    d = np.diff(f0)
    assert named["voiced.f0.mean"] == pytest.approx(f0.mean())
    assert named["voiced.f0.std"] == pytest.approx(f0.std())
    assert named["voiced.f0.p50"] == pytest.approx(np.median(f0))
    assert named["voiced.f0.change_std"] == pytest.approx(d.std())
    assert named["voiced.f0.voiced_share"] == pytest.approx(len(keep) / 40)
    # fewer than 3 voiced speech frames: the speech frames' F0 instead
    x[:, M + 1] = 0.0
    x[5, M + 1] = 1.0
    named = dict(zip(names, utterance_functionals(x, M, pitch=True)))
    assert named["voiced.f0.mean"] == pytest.approx(x[:40, M].mean())
    assert named["voiced.f0.voiced_share"] == pytest.approx(1 / 40)
    with pytest.raises(ValueError, match="pitch channels"):
        utterance_functionals(x[:, :M + 1], M, pitch=True)


# --------------------------------------------------------------------------- regression

def test_logistic_gradient_by_finite_differences(rng):
    n, D, N = 12, 5, 3
    Z, y = rng.standard_normal((n, D)), rng.integers(0, N, n)
    Y, s = np.eye(N)[y], rng.uniform(0.5, 2.0, n)
    theta = rng.standard_normal(N * (D + 1))
    _, grad = logistic_objective(theta, Z, Y, s, C=0.7)
    eps = 1e-6
    for i in rng.choice(theta.size, 8, replace=False):
        e = np.zeros_like(theta)
        e[i] = eps
        numeric = (logistic_objective(theta + e, Z, Y, s, 0.7)[0]
                   - logistic_objective(theta - e, Z, Y, s, 0.7)[0]) / (2 * eps)
        assert grad[i] == pytest.approx(numeric, rel=1e-6, abs=1e-8)


def test_logistic_regression_matches_scikit_learn(rng):
    sklearn = pytest.importorskip("sklearn.linear_model")
    n, D, N = 90, 6, 3
    y = rng.integers(0, N, n)
    y[:5] = 0                                                  # unbalanced classes
    Z = rng.standard_normal((n, D)) + 0.8 * np.eye(N, D)[y]
    W, b = fit_logistic(Z, y, N, C=0.3)
    ref = sklearn.LogisticRegression(C=0.3, class_weight="balanced", max_iter=5000,
                                     tol=1e-10).fit(Z, y)
    np.testing.assert_allclose(W, ref.coef_, atol=1e-4)
    np.testing.assert_allclose(b, ref.intercept_, atol=1e-4)


def test_fewer_rows_than_functionals_fit_in_the_row_space(rng):
    """n < D, as the inner folds: the row-space fit reaches scikit-learn's minimum too,
    and the primal fit's (the same problem on all D columns)."""
    sklearn = pytest.importorskip("sklearn.linear_model")
    n, D, N = 40, 120, 3
    y = rng.integers(0, N, n)
    Z = rng.standard_normal((n, D)) + 0.5 * np.eye(N, D)[y]
    assert row_space(Z) is not None and row_space(Z.T) is None
    W, b = fit_logistic(Z, y, N, C=0.05)
    ref = sklearn.LogisticRegression(C=0.05, class_weight="balanced", max_iter=5000,
                                     tol=1e-10).fit(Z, y)
    np.testing.assert_allclose(W, ref.coef_, atol=1e-4)
    np.testing.assert_allclose(b, ref.intercept_, atol=1e-4)
    _, Vt = row_space(Z)
    np.testing.assert_allclose(W - (W @ Vt.T) @ Vt, 0, atol=1e-12)   # in the row space


def test_mix_logits_are_the_log_of_the_mixed_probabilities(rng):
    a, b = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    p = lambda z: np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(p(mix_logits(a, b, 0.3)), 0.7 * p(a) + 0.3 * p(b), rtol=1e-12)


# --------------------------------------------------------------------------- protocols

def _head(rng, channels=6, n_mels=4, N=3, speakers=("a", "b", "c")) -> StatsHead:
    D = n_functionals(channels, n_mels)
    F = rng.standard_normal((12, D))
    normalizer = Normalizer("causal", min_std=1e-3).fit([f[None] for f in F],
                                                        [speakers[i % 3] for i in range(12)])
    return StatsHead(rng.standard_normal((N, D)), rng.standard_normal(N), normalizer, 1.0,
                     n_mels)


class _NoNetwork:
    """The network part of a head-only scorer (never asked)."""
    model = normalizer = None


def test_head_protocols_follow_the_frames_rule(rng):
    """The head's causal z-scores are the frames' causal rule applied to functionals."""
    head = _head(rng)
    raw = [rng.standard_normal((int(rng.integers(3, 9)), 6)) for _ in range(7)]
    scorer = HeadScorer(_NoNetwork(), head, part="head")
    F = [utterance_functionals(x, 4)[None] for x in raw]
    causal = head.normalizer.apply(F, ["s"] * len(F))           # Normalizer's own walk
    np.testing.assert_allclose(scorer.causal(raw),
                               head.logits(np.concatenate(causal)), rtol=1e-10)
    speaker = Normalizer("speaker", min_std=1e-3).apply(F, ["t"] * len(F))
    np.testing.assert_allclose(scorer.speaker(raw), head.logits(np.concatenate(speaker)),
                               rtol=1e-10, atol=1e-12)
    # after(k heard) with a fresh state == the k-th step of the causal walk
    after = scorer.after([raw[:3]], [raw[3]])
    np.testing.assert_allclose(after[0], scorer.causal(raw[:4])[3], rtol=1e-12)


def test_memo_scorer_passes_the_network_once_and_changes_nothing(rng):
    """The fused decision and the network's report share one network pass per protocol
    call (MemoScorer), with the same reports as without it."""
    from pyreparam.models import build_model, make_config
    from pyreparam.train.protocols import FloatScorer, MemoScorer
    model = build_model(make_config("convtransformer", "light", width=8, layers=1, heads=2,
                                    ffn=16, n_mels=6, n_classes=3), 0)
    frames = [rng.standard_normal((int(rng.integers(5, 12)), 6)) for _ in range(12)]
    speakers = ["a"] * 6 + ["b"] * 6
    normalizer = Normalizer("causal").fit_prior(frames, speakers)
    head = _head(rng, channels=6, n_mels=4, N=3)
    labels = rng.integers(0, 3, 12)

    class Counting(FloatScorer):
        calls = 0

        def normalized(self, features):
            Counting.calls += 1
            return super().normalized(features)

    plain = {part: evaluate_protocols(HeadScorer(FloatScorer(model, normalizer), head, part),
                                      frames, labels, speakers, 3)
             for part in ("fused", "network")}
    shared = MemoScorer(Counting(model, normalizer))
    memo = {part: evaluate_protocols(HeadScorer(shared, head, part), frames, labels,
                                     speakers, 3) for part in ("fused", "network")}
    assert json.dumps(memo, sort_keys=True) == json.dumps(plain, sort_keys=True)
    once = Counting.calls
    Counting.calls = 0
    evaluate_protocols(HeadScorer(Counting(model, normalizer), head, "fused"), frames, labels,
                       speakers, 3)
    evaluate_protocols(HeadScorer(Counting(model, normalizer), head, "network"), frames,
                       labels, speakers, 3)
    assert 0 < once and 2 * once == Counting.calls


def test_the_device_state_steps_like_the_causal_protocol(rng):
    from pyreparam.models import build_model, make_config
    config = make_config("convtransformer", "light", width=8, layers=1, heads=2, ffn=16,
                         n_mels=6, n_classes=3)
    model = build_model(config, rng)
    raw = [rng.standard_normal((int(rng.integers(4, 12)), 6)).astype(np.float32)
           for _ in range(5)]
    frames = Normalizer("causal").fit(raw, ["a", "a", "b", "b", "c"])
    head = _head(rng)
    head.mix = 0.4
    scorer = HeadScorer(FloatScorer(model, frames), head)
    state, stepped = scorer.new_state(), []
    for x in raw:
        logits, state = scorer.step(state, x)
        state = scorer.state_from_bytes(scorer.state_to_bytes(state))   # a reboot each time
        stepped.append(logits)
    np.testing.assert_allclose(np.array(stepped), scorer.causal(raw), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="statistics head"):
        scorer.state_from_bytes(FloatScorer.state_to_bytes(state[0]))


def test_a_head_learns_what_the_functionals_say(rng):
    """Two classes told apart by one band's level, six speakers with their own offsets:
    fitted on four speakers, the head recognizes the other two."""
    raw, labels, speakers = [], [], []
    for s in range(6):
        offset = rng.normal(0, 3, 8)
        for i in range(12):
            c = i % 2
            x = rng.standard_normal((20, 8)) + offset
            x[:, 2] += 1.5 * c
            raw.append(x), labels.append(c), speakers.append(f"s{s}")
    labels = np.array(labels)
    fit = [i for i, s in enumerate(speakers) if s not in ("s4", "s5")]
    head, record = fit_stats_head([raw[i] for i in fit], labels[fit],
                                  [speakers[i] for i in fit], 2, 8, mix=1.0)
    assert record["C"] in (1e-3, 1e-2, 1e-1, 1.0)
    test = [i for i in range(len(raw)) if i not in fit]
    report = evaluate_protocols(HeadScorer(_NoNetwork(), head, "head"),
                                [raw[i] for i in test], labels[test],
                                [speakers[i] for i in test], 2)
    # causal: a first utterance meets its speaker's offset (sd 3 against a 1.5 signal)
    assert report["speaker"]["ua"] >= 0.9 and report["causal"]["ua"] >= 0.65


def test_a_pitch_head_weighs_its_prosody_block_as_chosen(rng):
    """Two classes told apart by the pitch alone, among many uninformative bands: the
    choice of C and prosody weight is recorded, W carries the weight, and the head
    recognizes held-out speakers from plain z-scores."""
    M = 40
    raw, labels, speakers = [], [], []
    for s in range(5):
        for i in range(12):
            c = i % 2
            x = rng.standard_normal((30, M + 2))
            x[:, M] = 0.3 * c + rng.normal(0, 0.1) + 0.05 * rng.standard_normal(30)
            x[:, M + 1] = 0.9
            raw.append(x), labels.append(c), speakers.append(f"s{s}")
    labels = np.array(labels)
    fit = [i for i, s in enumerate(speakers) if s != "s4"]
    head, record = fit_stats_head([raw[i] for i in fit], labels[fit],
                                  [speakers[i] for i in fit], 2, M, mix=1.0, pitch=True)
    assert head.pitch and record["prosody_weight"] in PROSODY_WEIGHTS
    assert set(record["inner_ua"]) == {f"{c:g},{w:g}" for c in C_GRID
                                       for w in PROSODY_WEIGHTS}
    best = max(record["inner_ua"].values())
    assert record["inner_ua"][f"{record['C']:g},{record['prosody_weight']:g}"] == best
    assert head.weight.shape == (2, n_functionals(M + 2, M, True))
    test = [i for i in range(len(raw)) if i not in fit]
    report = evaluate_protocols(HeadScorer(_NoNetwork(), head, "head"),
                                [raw[i] for i in test], labels[test],
                                [speakers[i] for i in test], 2)
    assert report["speaker"]["ua"] >= 0.9
    # stored and reloaded with its flag; a model without the pitch channels refuses it
    again = StatsHead.from_extra(head.to_extra(), 2, M + 2)
    assert again.pitch and np.array_equal(again.weight, head.weight)
    with pytest.raises(StatsHeadError, match="pitch channels"):
        StatsHead.from_extra(head.to_extra(), 2, M + 1)


# --------------------------------------------------------------------------- runs

def _test_manifest(corpus, speakers, path):
    """A manifest of the corpus' utterances of ``speakers`` (absolute paths)."""
    lines = corpus.read_text().splitlines()
    path.write_text("\n".join([lines[0]] + [
        f"{corpus.parent / line.split(',')[0]},{line.split(',', 1)[1]}"
        for line in lines[1:] if line.split(",")[2] in set(speakers)]) + "\n")
    return path


def test_a_run_with_a_head_reports_stores_and_reloads_it(corpus, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    summary = start_run(_spec(corpus, tmp_path, epochs=2, cv="fixed", stats_head=0.5),
                        out, quiet=True)
    assert set(summary["protocols_parts"]) == {"network", "head"}
    result = json.loads((out / "fold_00/result.json").read_text())
    assert result["stats_head"]["mix"] == 0.5 and result["stats_head"]["C"] > 0
    model_path = out / "fold_00/model.npz"
    _, meta, extra = load_checkpoint_with_meta(model_path)
    assert extra["head.weight"].shape == (4, n_functionals(16, 16))
    # `eval` of the fold model reproduces the fold's (fused) test figure
    subset = _test_manifest(corpus, result["fold"]["test"], tmp_path / "test.csv")
    r = CliRunner().invoke(main, ["eval", str(model_path), str(subset), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["confusion"] == result["test"]["confusion"]
    # infer keeps both states in one file
    lines = corpus.read_text().splitlines()
    wavs = [str(corpus.parent / line.split(",")[0]) for line in lines[1:3]]
    state = tmp_path / "device.state"
    for wav in wavs:
        r = CliRunner().invoke(main, ["infer", str(model_path), wav, "--state", str(state),
                                      "--json"])
        assert r.exit_code == 0, r.output
    saved = json.loads(state.read_text())
    assert saved["functionals"]["n_utterances"] == saved["frames"]["n_utterances"] == 2


def test_the_head_weight_chosen_on_validation_speakers(corpus, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    start_run(_spec(corpus, tmp_path, epochs=1, cv="fixed", stats_head=0.5,
                    stats_head_select=True), out, quiet=True)
    record = json.loads((out / "fold_00/result.json").read_text())["stats_head"]
    scores = {float(w): ua for w, ua in record["validation_ua"].items()}
    assert record["weight_rule"] == "validation" and set(scores) == {0, .25, .5, .75, 1}
    best = max(scores.values())
    assert record["mix"] == min((w for w in scores if scores[w] == best),
                                key=lambda w: abs(w - 0.5))
    _, _, extra = load_checkpoint_with_meta(out / "fold_00/model.npz")
    assert float(extra["head.mix"]) == record["mix"]


def test_a_broken_head_is_refused_when_loading(corpus, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    start_run(_spec(corpus, tmp_path, epochs=1, cv="fixed", stats_head=0.5), out, quiet=True)
    good = out / "fold_00/model.npz"
    with zipfile.ZipFile(good) as z:
        arrays = {name[:-4]: np.load(z.open(name)) for name in z.namelist()}
    for key, value, match in (("extra/head.bias", np.zeros(3), "expected"),
                              ("extra/head.weight", np.full_like(arrays["extra/head.weight"],
                                                                 np.nan), "non-finite"),
                              ("extra/head.mix", np.array(1.5), "out-of-range")):
        bad = tmp_path / f"bad_{key.split('.')[-1]}.npz"
        np.savez(bad, **{**arrays, key: value})
        with pytest.raises(CheckpointError, match=match):
            load_checkpoint_with_meta(bad)


def test_a_head_needs_per_speaker_normalization():
    from pyreparam.train.fold import TrainConfig
    with pytest.raises(ValueError, match="causal or speaker"):
        TrainConfig(stats_head=0.5, normalization="global")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        TrainConfig(stats_head=1.5)
    with pytest.raises(ValueError, match="give the head a weight"):
        TrainConfig(stats_head_select=True)


def test_pitch_channels_can_feed_the_head_alone(corpus, tmp_path):  # noqa: F811
    """`--pitch-head-only`: the frames carry the pitch channels, the head reads its
    prosody block from them, the network reads the mel bands exactly as a run without
    --pitch (the same parameters, the same decisions); the model quantizes, decides
    through the int8 path with its state, and the stream runs its network alone."""
    from pyreparam.audio.features import FeatureConfig
    runs = {}
    for name, pitch in (("bands", False), ("head_pitch", True)):
        spec = _spec(corpus, tmp_path, epochs=1, cv="fixed", stats_head=0.5)
        spec.feature_config = FeatureConfig(n_mels=16, pitch=pitch).to_dict()
        start_run(spec, tmp_path / name, quiet=True)
        runs[name] = tmp_path / name / "fold_00"
    (a, _, a_extra), (b, meta, b_extra) = (load_checkpoint_with_meta(runs[n] / "model.npz")
                                            for n in ("bands", "head_pitch"))
    assert b.config.n_mels == 16 and meta["feature_config"]["pitch"] is True
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert b_extra["normalizer.prior_mean"].shape == (16,)
    assert b_extra["head.weight"].shape == (4, n_functionals(18, 16, True))
    assert a_extra["head.weight"].shape == (4, n_functionals(16, 16))
    parts = [json.loads((runs[n] / "result.json").read_text())["protocols_parts"]
             for n in ("bands", "head_pitch")]
    assert parts[0]["network"] == parts[1]["network"]
    # the whole chain: eval reproduces the fold's figure, int8 decides with its state
    result = json.loads((runs["head_pitch"] / "result.json").read_text())
    subset = _test_manifest(corpus, result["fold"]["test"], tmp_path / "test.csv")
    model = runs["head_pitch"] / "model.npz"
    r = CliRunner().invoke(main, ["eval", str(model), str(subset), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["confusion"] == result["test"]["confusion"]
    prq = tmp_path / "m.prq"
    r = CliRunner().invoke(main, ["quantize", str(model), "--calib", str(corpus),
                                  "--eval", str(subset), "--json", "-o", str(prq)])
    assert r.exit_code == 0, r.output
    with_head = json.loads(r.stdout)["eval"]["with_head"]    # what eval gives on each
    for kind, path in (("float", model), ("int8", prq)):
        r = CliRunner().invoke(main, ["eval", str(path), str(subset), "--json"])
        assert r.exit_code == 0, r.output
        assert with_head[kind]["ua"] == json.loads(r.stdout)["ua"]
    r = CliRunner().invoke(main, ["eval", str(prq), str(subset), "--protocol", "causal",
                                  "--orders", "1", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["n"] == len(result["fold"]["test"]) * 3 * 4
    wav = str(corpus.parent / corpus.read_text().splitlines()[1].split(",")[0])
    state = tmp_path / "device.state"
    for _ in range(2):
        r = CliRunner().invoke(main, ["infer", str(prq), wav, "--state", str(state)])
        assert r.exit_code == 0, r.output
    # the stream runs the network alone on the mel bands: the decisions of the run
    # without --pitch (the same network, calibrated on the same bands)
    prq_bands = tmp_path / "bands.prq"
    r = CliRunner().invoke(main, ["quantize", str(runs["bands"] / "model.npz"), "--calib",
                                  str(corpus), "-o", str(prq_bands)])
    assert r.exit_code == 0, r.output
    import soundfile as sf
    rows = [line.split(",")[0] for line in corpus.read_text().splitlines()[1:9]]
    long_wav = tmp_path / "long.wav"
    sf.write(long_wav, np.concatenate([sf.read(corpus.parent / f, dtype="int16")[0]
                                       for f in rows]), 16000, subtype="PCM_16")
    timelines = []
    for m in (prq, prq_bands):
        r = CliRunner().invoke(main, ["infer", str(m), str(long_wav), "--stream", "--json"])
        assert r.exit_code == 0, r.output
        timelines.append(json.loads(r.stdout))
    assert timelines[0] == timelines[1] and timelines[0][0]["decisions"]
    assert "decides with the network alone" in r.stderr
    r = CliRunner().invoke(main, ["export", str(prq), "--c-header", str(tmp_path / "m.h")])
    assert r.exit_code == 0, r.output
    header = (tmp_path / "m.h").read_text()
    assert "_STREAM_CONFIG" in header and "_PITCH_PARAMS" not in header
    assert "_HEAD_CHANNELS 18" in header


def test_pitch_follows_the_head_unless_told(corpus, tmp_path):  # noqa: F811
    """train's recipe: a statistics head (0.5) with per-speaker normalization, the pitch
    channels feeding it alone; each part can be set apart, contradictions are refused
    before any folder is written."""
    from pyreparam.cli.sweep import run_spec, train_options
    options = train_options()

    def spec(**o):
        s = run_spec({"manifest": str(corpus), **o}, options)
        return (s.train_config["stats_head"], s.feature_config["pitch"],
                s.model_config["n_mels"])
    assert spec() == (0.5, True, 64)                          # head, pitch for the head
    assert spec(**{"stats-head": 0}) == (0.0, False, 64)
    assert spec(normalization="global") == (0.0, False, 64)
    assert spec(pitch=False) == (0.5, False, 64)
    assert spec(**{"pitch-head-only": False}) == (0.5, True, 66)
    assert spec(pitch=True, **{"stats-head": 0}) == (0.0, True, 66)
    assert spec(**{"pitch-head-only": False, "stats-head": 0}) == (0.0, True, 66)
    base = ["train", str(corpus), "--cv", "fixed", "--epochs", "1", "--out",
            str(tmp_path / "run"), "--quiet"]
    for extra, message in ((["--pitch-head-only", "--stats-head", "0"], "needs a statistics head"),
                           (["--pitch-head-only", "--no-pitch"], "not with --no-pitch"),
                           (["--pitch-network", "--no-pitch"], "not with --no-pitch"),
                           (["--pitch-head-only", "--normalization", "global"],
                            "needs a statistics head")):
        r = CliRunner().invoke(main, [*base, *extra])
        assert r.exit_code != 0 and message in r.output, extra
    assert not (tmp_path / "run").exists()