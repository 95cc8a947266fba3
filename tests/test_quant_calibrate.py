"""Calibration ranges (pyreparam.quant.calibrate) at their degenerate edges."""
from __future__ import annotations

import numpy as np
import pytest

from pyreparam.models import build_model, make_config
from pyreparam.quant.calibrate import HIST_BINS, METHODS, RangeStats, calibrate
from pyreparam.quant.backbones import build_graph


@pytest.mark.parametrize("method", METHODS)
def test_a_value_seen_once_calibrates(method):
    """One calibration frame makes pooled values constant (lo == hi, here -2.03): the
    histogram's range must still be one float64 can split into HIST_BINS bins
    (hypothesis found `Too many bins for data range` for a span of 1e-12)."""
    config = make_config("convtransformer", "light", n_classes=2, n_mels=4)
    graph = build_graph(build_model(config, 0, dtype=np.float64))
    frame = np.full((1, 4), -2.0276919742263, dtype=np.float64)
    qparams = calibrate(graph, [frame], method)
    assert set(qparams) >= {"input", "logits"}
    assert all(np.isfinite(scale) and scale > 0 for scale, _ in qparams.values())


@pytest.mark.parametrize("value", [-2.0276919742263, 0.0, 3e5, -1e-30])
def test_histogram_range_of_a_constant_value(value):
    stats = RangeStats.__new__(RangeStats)
    stats.lo, stats.hi = {"v": value}, {"v": value}
    lo, hi = stats.range("v")
    edges = stats.edges("v")
    assert lo == value and hi > lo
    assert len(edges) == HIST_BINS + 1 and np.all(np.diff(edges) > 0)
    h, _ = np.histogram(np.array([value]), bins=HIST_BINS, range=(lo, hi))
    assert h.sum() == 1


def test_the_range_is_unchanged_where_it_was_resolvable():
    stats = RangeStats.__new__(RangeStats)
    stats.lo, stats.hi = {"v": -1.5}, {"v": 2.25}
    assert stats.range("v") == (-1.5, 2.25)
