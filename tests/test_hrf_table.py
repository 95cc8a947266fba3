"""tools/hrf_table.py: runs sorted into the paper's columns, a cell never mixing
recipes, and the paired differences over the seeds both cells share."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from pyreparam.sweep.compare import Run

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "hrf_table.py"
spec = importlib.util.spec_from_file_location("hrf_table", SCRIPT)
hrf_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hrf_table)

FOLDS = [{"fold": {"index": 0, "test": ["s0"], "validation": ["s1"], "train": ["s2"]}}]


def _run(seed, ua, size="light", hrf="none", ffn=128, lr=5e-4, folds=FOLDS):
    options = {"backbone": "convtransformer", "size": size, "hrf": hrf, "model.ffn": ffn,
               "model.width": 64, "lr": lr, "cv": "loso", "manifest": "/m.csv"}
    results = {"seed": seed, "folds": folds, "pooled": {"ua": ua}}
    return Run(f"{size}-{hrf}-{ffn}-{lr}-{seed}", options, seed, results, None)


def test_columns_cells_and_paired_differences():
    light = [0.70, 0.72, 0.68]
    hrf = [0.71, 0.75, 0.70]
    runs = ([_run(s, u) for s, u in enumerate(light)]
            + [_run(s, u, hrf="r=4") for s, u in enumerate(hrf)]
            + [_run(s, 0.69, ffn=448) for s in range(2)]
            + [_run(0, 0.74, size="large", ffn=1024)]
            + [_run(0, 0.10, lr=1e-3)]                        # another recipe
            + [_run(1, 0.99, hrf="r=4", folds=[{"fold": {**FOLDS[0]["fold"],
                                                          "test": ["s9"]}}])])
    notes = []
    found = hrf_table.cells(runs, notes)
    assert {k: sorted(v) for k, v in found.items()} == {
        ("convtransformer", "light"): [0, 1, 2], ("convtransformer", "light+HRF"): [0, 1, 2],
        ("convtransformer", "widened"): [0, 1], ("convtransformer", "large"): [0]}
    assert any("other lr" in n for n in notes) and any("already given" in n for n in notes)
    table = hrf_table.summarize(found, "pooled")["convtransformer"]
    assert table["cells"]["light"]["mean"] == pytest.approx(70.0)
    assert table["cells"]["light"]["sd"] == pytest.approx(np.std([70, 72, 68], ddof=1))
    d = table["differences"]["light+HRF - light"]
    assert d["seeds"] == [0, 1, 2] and d["mean"] == pytest.approx(2.0)
    half = scipy_stats.t.ppf(0.975, 2) * np.std([1, 3, 2], ddof=1) / np.sqrt(3)
    assert d["ci95"] == pytest.approx([2.0 - half, 2.0 + half])
    assert table["differences"]["light+HRF - widened"]["seeds"] == [0, 1]
    assert table["differences"]["large - light"]["ci95"] is None       # one seed
    text = hrf_table.markdown({"convtransformer": table}, "pooled")
    assert "| convtransformer | 70.0 ± 2.0 (3) | 72.0 ± 2.6 (3) |" in text
