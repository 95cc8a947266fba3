"""Probe: the statistics head's causal mean blended per functional with the empirical
Bayes weight n / (n + n0_j), n0_j = within-speaker variance / between-speaker variance
of the fold's fit speakers (clipped), instead of one n0 = 2; evaluation only."""
import json, sys, numpy as np
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from pyreparam.quant import workflow as wf
from pyreparam.data.cache import load_features
from pyreparam.data.manifest import read_manifest
from pyreparam.audio.functionals import utterance_functionals
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

def patched(nz, n0_mean, n0_var):
    def blended(n, mean, var, prior=None):
        pm, pv = nz.prior_mean, nz.prior_var
        if n == 0 or mean is None:
            m, v = pm, pv
        else:
            wm = n / (n + n0_mean); wv = n / (n + n0_var)
            m = pm + wm * (mean - pm); v = pv + wv * (var - pv)
        return m, np.maximum(np.sqrt(np.maximum(v, 0.0)), nz.min_std)
    return blended

manifest = sys.argv[1]; runs = sys.argv[2:]
utts = read_manifest(manifest)
VARIANTS = {"n0=2": None, "eb": (0.5, 64, 2), "eb,var32": (0.5, 64, 32), "eb[1,16]": (1, 16, 2)}
res = {(p, v): [] for p in ("fused", "head") for v in VARIANTS}
for run in runs:
    folds = json.load(open(f'{run}/folds.json'))['folds']
    per = {k: [] for k in res}
    for fold in folds:
        k = fold['index']
        loaded = wf.load_merged(f'{run}/fold_{k:02d}/model_merged.npz')
        fe = loaded.frontend; head = fe.head; nz = head.normalizer
        fit = [u for u in utts if u.speaker not in fold['test']]
        raw_fit, kept_fit, _ = load_features(fit, fe.feature_config, None)
        F = np.stack([utterance_functionals(x, head.n_mels) for x in raw_fit])
        spk = np.array([u.speaker for u in kept_fit])
        means = np.stack([F[spk == s].mean(0) for s in np.unique(spk)])
        tau2 = means.var(0) + 1e-12
        ratio = nz.prior_var / tau2
        test = [u for u in utts if u.speaker in fold['test']]
        raw, kept, _ = load_features(test, fe.feature_config, None)
        labels = np.array([fe.classes.index(u.label) for u in kept]); sp = [u.speaker for u in kept]
        net = Memo(FloatScorer(loaded.model, fe.normalizer))
        orig = nz.blended
        for name, v in VARIANTS.items():
            if v is None:
                nz.blended = orig
            else:
                lo, hi, n0v = v
                nz.blended = patched(nz, np.clip(ratio, lo, hi), n0v)
            for part in ("fused", "head"):
                per[(part, name)].append(evaluate_protocols(HeadScorer(net, head, part), raw, labels, sp, len(fe.classes), ["causal"]))
        nz.blended = orig
    for key, reps in per.items():
        pooled = pool_protocols(reps)["causal"]
        res[key].append((pooled["ua"], pooled["ua_by_prior"]["8"], pooled["ua_by_prior"]["0"], pooled["ua_by_prior"]["2"]))
    print(run, {f"{p}/{v}": [round(100*x, 1) for x in res[(p, v)][-1]] for p, v in res}, flush=True)
for key, vals in res.items():
    a = 100*np.array(vals)
    print(key, "causal %.1f  k8 %.1f  k0 %.1f  k2 %.1f" % tuple(a.mean(0)))
