"""Probe: the head alone (transductive z, LOSO, fixed C) with the prosody block scaled by a factor; float, and int8 simulated (the factor folded into W, W int8 per row, z int8 at 8/127)."""
import sys, numpy as np
from pyreparam.data.manifest import read_manifest
from pyreparam.audio.decode import load_audio
from pyreparam.audio.features import FeatureConfig, logmel, pitch_track, PITCH_VOICED
from pyreparam.audio.functionals import utterance_functionals, speech_frames, SPEECH_RANGE
from pyreparam.train.stats_head import fit_logistic
from pyreparam.models.stats_head import zscore_speaker
from pyreparam.train.metrics import confusion_matrix, metrics_from_confusion
from pyreparam.train.splits import make_folds
man = sys.argv[1]
utts = read_manifest(man)
cfg = FeatureConfig(sample_rate=16000)
F, P = [], []
for u in utts:
    s = load_audio(u.path, sample_rate=16000)
    x = logmel(s, cfg).astype(np.float64); t = pitch_track(s, FeatureConfig(sample_rate=16000, pitch=True)).astype(np.float64)
    F.append(utterance_functionals(x, 64))
    lv = x.mean(1); sp = lv >= lv.max() - SPEECH_RANGE
    v = sp & (t[:, 1] >= PITCH_VOICED)
    o = t[v, 0] if v.sum() >= 3 else t[sp, 0]
    d = np.diff(o) if o.size > 1 else np.zeros(1)
    p10, p50, p90 = np.percentile(o, [10, 50, 90])
    P.append([o.mean(), o.std(), p10, p50, p90, d.std(), v.sum() / max(sp.sum(), 1)])
F, P = np.array(F), np.array(P)
classes = sorted({u.label for u in utts}); y = np.array([classes.index(u.label) for u in utts])
spk = np.array([u.speaker for u in utts]); K = len(classes)
def z(X):
    Z = np.empty_like(X)
    for s in np.unique(spk):
        m = spk == s; Z[m] = zscore_speaker(X[m], 1e-3)
    return Z
ZF, ZP = z(F), z(P)
def ua(yt, yp): return metrics_from_confusion(confusion_matrix(yt, yp, K))["ua"]
AS = [float(a) for a in sys.argv[2].split(",")]; CS = [float(c) for c in sys.argv[3].split(",")]
def q8(W):
    s = np.abs(W).max(1, keepdims=True) / 127
    return np.round(W / s) * s
def qz(Z):
    st = 8.0 / 127
    return np.clip(np.round(Z / st), -128, 127) * st
for C in CS:
    for a in AS:
        Z = np.hstack([ZF, ZP]); pred = np.empty(len(y), int); predq = pred.copy()
        sc = np.ones(Z.shape[1]); sc[ZF.shape[1]:] = a
        for ts in sorted(set(spk)):
            tr = spk != ts
            W, b = fit_logistic(Z[tr] * sc, y[tr], K, C)
            W = W * sc
            pred[~tr] = np.argmax(Z[~tr] @ W.T + b, 1)
            predq[~tr] = np.argmax(qz(Z[~tr]) @ q8(W).T + b, 1)
        print(man, "C", C, "alpha", a, "UA %.1f int8-sim %.1f" % (100 * ua(y, pred), 100 * ua(y, predq)), flush=True)
