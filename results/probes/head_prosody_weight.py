"""Probe: the head alone (transductive z, LOSO, fixed C) with the prosody block scaled by a factor; float, and int8 simulated (the factor folded into W, W int8 per row, z int8 at 8/127)."""
import sys, numpy as np
from prosody_common import load, zscore_by_speaker
from pyreparam.train.stats_head import fit_logistic
from pyreparam.train.metrics import confusion_matrix, metrics_from_confusion
man = sys.argv[1]
utts, F, P, _ = load(man)
classes = sorted({u.label for u in utts}); y = np.array([classes.index(u.label) for u in utts])
spk = np.array([u.speaker for u in utts]); K = len(classes)
z = lambda X: zscore_by_speaker(X, spk)
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
