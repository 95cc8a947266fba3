"""Probe: the head's inner leave-one-speaker-out UA over an extended (C, prosody factor)
grid, every fold of a run (fit speakers only; the test speaker is never read), and
the head alone's test UA (speaker z-scores) for the pick of each grid, for the record."""
import json, sys
import numpy as np
from pyreparam.audio.features import FeatureConfig
from pyreparam.audio.functionals import utterance_functionals
from pyreparam.data.cache import load_features
from pyreparam.data.manifest import read_manifest
from pyreparam.data.normalize import Normalizer
from pyreparam.train import stats_head as sh
from pyreparam.train.metrics import confusion_matrix, metrics_from_confusion

run = sys.argv[1]   # a run folder of results/runs (its fold lists, manifest and feature cache)
CS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 1e-1, 1.0)
AS = (1.0, 10.0, 30.0, 100.0)
spec = json.load(open(f"{run}/run.json")); folds = json.load(open(f"{run}/folds.json"))["folds"]
fc = FeatureConfig.from_dict(spec["feature_config"])
man = read_manifest(spec["manifest"]); classes = sorted({u.label for u in man}); K = len(classes)
raw, kept, _ = load_features(man, fc, spec["cache_dir"])
F = np.stack([utterance_functionals(x, fc.n_mels, True) for x in raw])
y = np.array([classes.index(u.label) for u in kept]); spk = np.array([u.speaker for u in kept])
old_grid = {(c, a) for c in sh.C_GRID for a in sh.PROSODY_WEIGHTS}
conf = {"old": np.zeros((K, K), int), "new": np.zeros((K, K), int)}
for fold in folds:
    fit = ~np.isin(spk, fold["test"])
    norm = Normalizer("causal", min_std=sh.MIN_STD, prior_weight=2.0).fit([f[None] for f in F[fit]], list(spk[fit]))
    Z = sh.speaker_zscores(F[fit], spk[fit], norm)
    yf, sf = y[fit], spk[fit]
    pred = {(c, a): np.empty(len(yf), int) for c in CS for a in AS}
    for a in AS:
        Za = Z * sh.column_scale(Z.shape[1], True, a)
        for s in np.unique(sf):
            held = sf == s
            basis = sh.row_space(Za[~held])
            for c in CS:
                W, b = sh.fit_logistic(Za[~held], yf[~held], K, c, basis)
                pred[c, a][held] = np.argmax(Za[held] @ W.T + b, axis=1)
    ua = {k: metrics_from_confusion(confusion_matrix(yf, p, K))["ua"] for k, p in pred.items()}
    picks = {}
    for name, grid in (("old", old_grid), ("new", set(ua))):
        best = max(ua[k] for k in grid)
        picks[name] = min(k for k in grid if ua[k] == best)
    # test: head fitted on all fit speakers (speaker z-scores only, no draws), test speaker z-scored with its own stats
    Zt = sh.speaker_zscores(F[~fit], spk[~fit], norm)
    out = []
    for name, (c, a) in picks.items():
        sc = sh.column_scale(Z.shape[1], True, a)
        W, b = sh.fit_logistic(Z * sc, yf, K, c)
        p = np.argmax((Zt * sc) @ W.T + b, axis=1)
        conf[name] += confusion_matrix(y[~fit], p, K)
        out.append(f"{name} pick {c:g},{a:g} inner {100*ua[c, a]:.1f}")
    print(fold["test"], " | ".join(out), flush=True)
for name, cm in conf.items():
    print(name, "test UA (head alone, speaker z-scores, no draws):", round(100 * metrics_from_confusion(cm)["ua"], 1))
