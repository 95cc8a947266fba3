"""Probe: the head alone (transductive z, LOSO, fixed C, the prosody block scaled by a
factor) with candidate prosody values added to today's 7: rising/falling F0 slopes
(mean and std of the positive and negative changes between time-adjacent voiced speech
frames, eGeMAPS-like) and the voicing strength over the speech frames (mean, std).
Looks at test speakers: it chooses nothing, it says whether a block is worth building.

    python results/probes/head_prosody_extra.py MANIFEST C ALPHA
"""
import sys, numpy as np
from pyreparam.data.manifest import read_manifest
from pyreparam.audio.decode import load_audio
from pyreparam.audio.features import FeatureConfig, logmel, pitch_track, PITCH_VOICED
from pyreparam.audio.functionals import utterance_functionals, SPEECH_RANGE
from pyreparam.train.stats_head import fit_logistic
from pyreparam.models.stats_head import zscore_speaker
from pyreparam.train.metrics import confusion_matrix, metrics_from_confusion

man, C, alpha = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
utts = read_manifest(man)
cfg = FeatureConfig(sample_rate=16000)
F, P, S, V = [], [], [], []
for u in utts:
    s = load_audio(u.path, sample_rate=16000)
    x = logmel(s, cfg).astype(np.float64)
    t = pitch_track(s, FeatureConfig(sample_rate=16000, pitch=True)).astype(np.float64)
    F.append(utterance_functionals(x, 64))
    lv = x.mean(1); sp = lv >= lv.max() - SPEECH_RANGE
    v = sp & (t[:, 1] >= PITCH_VOICED)
    o = t[v, 0] if v.sum() >= 3 else t[sp, 0]
    d = np.diff(o) if o.size > 1 else np.zeros(1)
    p10, p50, p90 = np.percentile(o, [10, 50, 90])
    P.append([o.mean(), o.std(), p10, p50, p90, d.std(), v.sum() / max(sp.sum(), 1)])
    pair = v[1:] & v[:-1]
    dd = np.diff(t[:, 0])[pair]
    up, dn = dd[dd > 0], -dd[dd < 0]
    ms = lambda a: (a.mean(), a.std()) if a.size else (0.0, 0.0)
    S.append([*ms(up), *ms(dn)])
    V.append([t[sp, 1].mean(), t[sp, 1].std()])
F, P, S, V = map(np.array, (F, P, S, V))
classes = sorted({u.label for u in utts}); y = np.array([classes.index(u.label) for u in utts])
spk = np.array([u.speaker for u in utts]); K = len(classes)
def z(X):
    Z = np.empty_like(X)
    for s in np.unique(spk):
        m = spk == s; Z[m] = zscore_speaker(X[m], 1e-3)
    return Z
ZF = z(F)
def ua(yt, yp): return metrics_from_confusion(confusion_matrix(yt, yp, K))["ua"]
for name, block in (("7 (today)", P), ("7 + slopes", np.hstack([P, S])),
                    ("7 + voicing", np.hstack([P, V])), ("7 + slopes + voicing", np.hstack([P, S, V]))):
    Z = np.hstack([ZF, z(block)]); sc = np.ones(Z.shape[1]); sc[ZF.shape[1]:] = alpha
    pred = np.empty(len(y), int)
    for ts in sorted(set(spk)):
        tr = spk != ts
        W, b = fit_logistic(Z[tr] * sc, y[tr], K, C)
        pred[~tr] = np.argmax((Z[~tr] * sc) @ W.T + b, 1)
    print(f"{man} C {C:g} alpha {alpha:g} {name:22s} {block.shape[1]:2d} values  head UA {100 * ua(y, pred):.1f}", flush=True)
