"""tools/functionals_fusion.py: the functionals' causal z-scores and the fused scorer."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tool():
    pytest.importorskip("sklearn")
    sys.path.insert(0, str(ROOT / "tools" / "baselines"))
    spec = importlib.util.spec_from_file_location("functionals_fusion",
                                                  ROOT / "tools" / "functionals_fusion.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_zscore_blends_heard_statistics_with_the_prior(tool):
    """Nothing heard: the prior alone; n heard: weight n / (n + n0) on their mean and
    variance, as the frames' causal rule."""
    rng = np.random.default_rng(0)
    prior_mean, prior_var = rng.normal(size=5), rng.uniform(0.5, 2.0, size=5)
    stats = tool.FunctionalStats(prior_mean, prior_var)
    f = rng.normal(size=5)
    assert np.allclose(stats.zscore(f, f[:0].reshape(0, 5)), (f - prior_mean) / np.sqrt(prior_var))
    heard = rng.normal(2.0, 3.0, size=(6, 5))
    w = 6 / (6 + tool.PRIOR_WEIGHT)
    mean = prior_mean + w * (heard.mean(0) - prior_mean)
    var = prior_var + w * (heard.var(0) - prior_var)
    assert np.allclose(stats.zscore(f, heard), (f - mean) / np.sqrt(var))


def test_prior_is_the_mean_of_speakers_statistics(tool):
    F = np.array([[0.0], [2.0], [10.0], [14.0], [12.0]])
    speakers = np.array(["a", "a", "b", "b", "b"])
    stats = tool.FunctionalStats.fit(F, speakers)
    assert np.allclose(stats.prior_mean, [(1.0 + 12.0) / 2])
    assert np.allclose(stats.prior_var, [(1.0 + 8.0 / 3) / 2])


def test_causal_draws_hear_only_the_same_speakers_other_rows(tool):
    """Every draw's statistics come from 0..N other rows of its own speaker: with each
    speaker's rows constant but one, the z-score shows which rows were heard."""
    F = np.array([[0.0], [0.0], [0.0], [100.0], [100.0]])
    y = np.arange(5)
    speakers = np.array(["a", "a", "a", "b", "b"])
    stats = tool.FunctionalStats(np.array([50.0]), np.array([1.0]))
    Z, Y = tool.causal_draws(F, y, speakers, stats, np.random.default_rng(0))
    assert Z.shape == (5 * tool.DRAWS, 1) and (Y == np.repeat(y, tool.DRAWS)).all()
    for z, row in zip(Z[:, 0], np.repeat(np.arange(5), tool.DRAWS)):
        own = F[row, 0]
        # heard rows equal the row itself (same speaker) or nothing was heard
        assert z == pytest.approx(own - 50.0) or abs(z) < abs(own - 50.0)


class _Model:
    """A FloatScorer stand-in whose logits are fixed per call."""

    def __init__(self, logits):
        self.logits = logits

    def speaker(self, frames):
        return self.logits[:len(frames)]

    causal = utterance = speaker

    def after(self, heard, frames):
        return self.logits[:len(frames)]


class _LR:
    def __init__(self, p):
        self.p = p

    def predict_proba(self, Z):
        return self.p[:len(Z)]


@pytest.mark.parametrize("method", ["speaker", "causal", "utterance"])
def test_fusion_mixes_the_two_probabilities(tool, method):
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    p_lr = np.array([[0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    stats = tool.FunctionalStats(np.zeros(4), np.ones(4))
    items = [(np.zeros((3, 2)), np.arange(4.0)), (np.zeros((3, 2)), np.arange(4.0) + 1)]
    out = {}
    for part, weight in (("model", 0.5), ("functionals", 0.5), ("fusion", 0.25)):
        scorer = tool.FusionScorer(_Model(logits), stats, _LR(p_lr), _LR(p_lr), weight, part)
        out[part] = np.exp(getattr(scorer, method)(items))
    assert np.allclose(out["model"], tool.softmax(logits))
    assert np.allclose(out["functionals"], p_lr)
    assert np.allclose(out["fusion"], 0.75 * tool.softmax(logits) + 0.25 * p_lr)


def test_tables_average_the_runs(tool):
    def result(ua):
        report = {"speaker": {"ua": ua}, "utterance": {"ua": ua / 2},
                  "causal": {"ua": ua - 0.01, "ua_by_prior": {"0": ua - 0.1, "8": ua}}}
        return {"run": f"r{ua}", **{part: report for part in tool.PARTS}}
    text = tool.format_tables([result(0.70), result(0.80)])
    assert "| fusion (mean of the two probabilities) | 75.0 ± 7.1 | 74.0 ± 7.1 | 37.5 ± 3.5 |" in text
    assert "| 65.0 ± 7.1 | - | - | - | 75.0 ± 7.1 | - | - |" in text
