import sys, numpy as np
sys.path.insert(0, 'tools/baselines')
import opensmile_svm as B
from pyreparam.data.manifest import read_manifest
man = sys.argv[1]
utts = read_manifest(man)
cache = B.FeatureCache(B.DEFAULT_CACHE)
ex = {}
for name in ["egemaps", "pitch", "logmel"]:
    ex[name], bad, _ = B.extract(utts, name, cache, max_seconds=30.0, on_error="fail", log=lambda *a: None)
folds = B.svm_folds(utts, "loso", 0)
classes = sorted({u.label for u in utts})
y = np.array([classes.index(u.label) for u in utts]); spk = np.array([u.speaker for u in utts])
paths = [u.path for u in utts]
M = {n: np.stack([ex[n][p] for p in paths]) for n in ex}
import opensmile
names = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02).feature_names
names = np.array(names)
def sub(pred): return M["egemaps"][:, [i for i,n in enumerate(names) if pred(n)]]
combos = {
 "egemaps": M["egemaps"],
 "egemaps-F0": sub(lambda n: "F0" in n),
 "egemaps-loudness": sub(lambda n: "loudness" in n.lower()),
 "egemaps-noF0": sub(lambda n: "F0" not in n),
 "egemaps-spectral": sub(lambda n: any(k in n for k in ("alpha","hammarberg","slope","mfcc","spectralFlux"))),
 "egemaps-formant": sub(lambda n: "F1" in n or "F2" in n or "F3" in n),
 "egemaps-voice": sub(lambda n: any(k in n for k in ("jitter","shimmer","HNR"))),
 "egemaps-temporal": sub(lambda n: any(k in n for k in ("Rate","Segment","Voiced","Unvoiced"))),
 "pitch": M["pitch"],
 "semitone": sub(lambda n: n.startswith("F0semitone")),
 "logRelF0": sub(lambda n: n.startswith("logRelF0")),
 "semitone-level": sub(lambda n: n.startswith("F0semitone") and "Slope" not in n),
 "semitone-slopes": sub(lambda n: n.startswith("F0semitone") and "Slope" in n),
 "logmel": M["logmel"],
 "logmel+pitch": np.hstack([M["logmel"], M["pitch"]]),
 "logmel+egemaps": np.hstack([M["logmel"], M["egemaps"]]),
}
which = sys.argv[2].split(",") if len(sys.argv) > 2 else list(combos)
for k in which:
    X = combos[k]
    r = B.evaluate(X, y, spk, folds, "linear", len(classes), "speaker", lambda *a: None)
    v = B.summarize_variant("egemaps", "linear", X.shape[1], r, y, paths, classes, 0.0)["pooled"]
    print(f"{k:20s} {X.shape[1]:5d} UA {100*v['ua']:.1f}", flush=True)
