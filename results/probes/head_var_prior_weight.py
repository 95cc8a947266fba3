"""Probe: the head's causal variance blended with its own prior weight n0v (the mean
keeps n0 = 2); head alone and fused, on stored fold models (no retraining)."""
import json, sys, numpy as np
sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parents[2]))
from pyreparam.quant import workflow as wf
from pyreparam.data.cache import load_features
from pyreparam.data.manifest import read_manifest
from pyreparam.data.normalize import blend_with_prior
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

def patched(normalizer, n0v):
    def blended(n, mean, var, prior=None):
        pm, pv = normalizer.prior_mean, normalizer.prior_var
        m, _ = blend_with_prior(n, mean, var, pm, pv, normalizer.prior_weight)
        _, v = blend_with_prior(n, mean, var, pm, pv, n0v)
        return m, np.maximum(np.sqrt(np.maximum(v, 0.0)), normalizer.min_std)
    return blended

manifest = sys.argv[1]; runs = sys.argv[2:]
VARIANTS = [2, 4, 8, 16, 32]
utts = read_manifest(manifest)
res = {(p, v): [] for p in ("fused", "head") for v in VARIANTS}
for run in runs:
    folds = json.load(open(f'{run}/folds.json'))['folds']
    per = {(p, v): [] for p in ("fused", "head") for v in VARIANTS}
    for fold in folds:
        k = fold['index']
        loaded = wf.load_merged(f'{run}/fold_{k:02d}/model_merged.npz')
        fe = loaded.frontend
        test = [u for u in utts if u.speaker in fold['test']]
        raw, kept, _ = load_features(test, fe.feature_config, None)
        labels = np.array([fe.classes.index(u.label) for u in kept]); spk = [u.speaker for u in kept]
        net = Memo(FloatScorer(loaded.model, fe.normalizer))
        for v in VARIANTS:
            fe.head.normalizer.blended = patched(fe.head.normalizer, v)
            for part in ("fused", "head"):
                r = evaluate_protocols(HeadScorer(net, fe.head, part), raw, labels, spk, len(fe.classes), ["causal"])
                per[(part, v)].append(r)
    for key, reps in per.items():
        pooled = pool_protocols(reps)["causal"]
        res[key].append((pooled["ua"], pooled["ua_by_prior"]["8"], pooled["ua_by_prior"]["0"]))
    print(run, {f"{p}/{v}": [round(100*x, 1) for x in res[(p, v)][-1]] for p, v in res}, flush=True)
for key, vals in res.items():
    a = 100*np.array(vals)
    print(key, "causal %.1f  k8 %.1f  k0 %.1f" % tuple(a.mean(0)))
