"""Probe: the head alone (transductive z, LOSO, fixed C, the prosody block scaled by a
factor) with candidate prosody values added to today's 7: rising/falling F0 slopes
(mean and std of the positive and negative changes between time-adjacent voiced speech
frames, eGeMAPS-like) and the voicing strength over the speech frames (mean, std).
Looks at test speakers: it chooses nothing, it says whether a block is worth building.

    python results/probes/head_prosody_extra.py MANIFEST C ALPHA
"""
import sys, numpy as np
from prosody_common import load, zscore_by_speaker
from pyreparam.train.stats_head import fit_logistic
from pyreparam.train.metrics import confusion_matrix, metrics_from_confusion

man, C, alpha = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
utts, F, P, tracks = load(man)
S, V = [], []
for t, sp, v in tracks:
    pair = v[1:] & v[:-1]
    dd = np.diff(t[:, 0])[pair]
    up, dn = dd[dd > 0], -dd[dd < 0]
    ms = lambda a: (a.mean(), a.std()) if a.size else (0.0, 0.0)
    S.append([*ms(up), *ms(dn)])
    V.append([t[sp, 1].mean(), t[sp, 1].std()])
S, V = np.array(S), np.array(V)
classes = sorted({u.label for u in utts}); y = np.array([classes.index(u.label) for u in utts])
spk = np.array([u.speaker for u in utts]); K = len(classes)
z = lambda X: zscore_by_speaker(X, spk)
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
