"""Probe: the statistics head retrained (same C, same fit speakers, same draws' seed)
with its causal z-scores' mean blended per functional by the empirical-Bayes weight
n / (n + n0_j) (n0_j = within / between-speaker variance, clipped [0.5, 64]) in its
training draws and at evaluation, against the same retraining with n0 = 2; the
networks are the runs' (fused decision). Evaluation on the fold's test speakers."""
import json, sys, numpy as np
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from pyreparam.quant import workflow as wf
from pyreparam.data.cache import load_features
from pyreparam.data.manifest import read_manifest
from pyreparam.audio.functionals import utterance_functionals
from pyreparam.data.normalize import Normalizer
from pyreparam.models.stats_head import StatsHead
from pyreparam.train.stats_head import MIN_STD, training_rows, fit_logistic
from pyreparam.train.protocols import FloatScorer, HeadScorer, evaluate_protocols, pool_protocols

class Memo:
    def __init__(self, inner): self.inner, self.cache = inner, {}
    def __getattr__(self, k): return getattr(self.inner, k)
    def causal(self, raw):
        key = tuple(id(x) for x in raw)
        if key not in self.cache: self.cache[key] = self.inner.causal(raw)
        return self.cache[key]
    def after(self, heard, raw):
        key = ("after", tuple(tuple(id(h) for h in b) for b in heard), tuple(id(x) for x in raw))
        if key not in self.cache: self.cache[key] = self.inner.after(heard, raw)
        return self.cache[key]
    def speaker(self, raw):
        key = ("speaker", tuple(id(x) for x in raw))
        if key not in self.cache: self.cache[key] = self.inner.speaker(raw)
        return self.cache[key]

def eb_blended(nz, n0):
    def blended(n, mean, var, prior=None):
        pm, pv = nz.prior_mean, nz.prior_var
        if n == 0 or mean is None:
            m, v = pm, pv
        else:
            m = pm + n / (n + n0) * (mean - pm); v = pv + n / (n + nz.prior_weight) * (var - pv)
        return m, np.maximum(np.sqrt(np.maximum(v, 0.0)), nz.min_std)
    return blended

manifest = sys.argv[1]; runs = sys.argv[2:]
utts = read_manifest(manifest)
res = {v: [] for v in ("n0=2", "eb")}
for run in runs:
    folds = json.load(open(f'{run}/folds.json'))['folds']
    per = {k: [] for k in res}
    for fold in folds:
        k = fold['index']
        loaded = wf.load_merged(f'{run}/fold_{k:02d}/model_merged.npz')
        fe = loaded.frontend; old = fe.head
        fit = [u for u in utts if u.speaker not in fold['test']]
        raw_fit, kept_fit, _ = load_features(fit, fe.feature_config, None)
        F = np.stack([utterance_functionals(x, old.n_mels) for x in raw_fit])
        spk = np.array([u.speaker for u in kept_fit]); y = np.array([fe.classes.index(u.label) for u in kept_fit])
        test = [u for u in utts if u.speaker in fold['test']]
        raw, kept, _ = load_features(test, fe.feature_config, None)
        labels = np.array([fe.classes.index(u.label) for u in kept]); sp = [u.speaker for u in kept]
        net = Memo(FloatScorer(loaded.model, fe.normalizer))
        for name in res:
            nz = Normalizer("causal", min_std=MIN_STD, prior_weight=2.0).fit([f[None, :] for f in F], list(spk))
            if name == "eb":
                means = np.stack([F[spk == s].mean(0) for s in np.unique(spk)])
                nz.blended = eb_blended(nz, np.clip(nz.prior_var / (means.var(0) + 1e-12), 0.5, 64))
            Z, Y = training_rows(F, y, spk, nz, np.random.default_rng([k, 7]))
            W, b = fit_logistic(Z, Y, len(fe.classes), old.C)
            head = StatsHead(W, b, nz, 0.5, old.n_mels, old.C)
            per[name].append(evaluate_protocols(HeadScorer(net, head, "fused"), raw, labels, sp, len(fe.classes), ["speaker", "causal"]))
        print(run, k, flush=True)
    for name, reps in per.items():
        pooled = pool_protocols(reps)
        c = pooled["causal"]
        res[name].append((pooled["speaker"]["ua"], c["ua"], c["ua_by_prior"]["0"], c["ua_by_prior"]["2"], c["ua_by_prior"]["8"]))
    print(run, {n: [round(100 * x, 1) for x in res[n][-1]] for n in res}, flush=True)
for name, vals in res.items():
    a = 100 * np.array(vals)
    print(name, "speaker %.1f causal %.1f k0 %.1f k2 %.1f k8 %.1f" % tuple(a.mean(0)))
