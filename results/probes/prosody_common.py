"""What the head probes share: each utterance's log-mel functionals, its pitch track
and today's 7 prosody values (log2 F0 over the voiced speech frames), and per-speaker
z-scores. Evaluation only; nothing here is part of pyreparam."""
import numpy as np
from pyreparam.audio.decode import load_audio
from pyreparam.audio.features import FeatureConfig, logmel, pitch_track, PITCH_VOICED
from pyreparam.audio.functionals import utterance_functionals, SPEECH_RANGE
from pyreparam.data.manifest import read_manifest
from pyreparam.models.stats_head import zscore_speaker


def load(man):
    """(utts, F log-mel functionals, P 7 prosody values, tracks: per utterance the
    pitch track t (T, 2), speech frames sp and voiced speech frames v)."""
    utts = read_manifest(man)
    cfg, pcfg = FeatureConfig(sample_rate=16000), FeatureConfig(sample_rate=16000, pitch=True)
    F, P, tracks = [], [], []
    for u in utts:
        s = load_audio(u.path, sample_rate=16000)
        x = logmel(s, cfg).astype(np.float64)
        t = pitch_track(s, pcfg).astype(np.float64)
        F.append(utterance_functionals(x, 64))
        lv = x.mean(1); sp = lv >= lv.max() - SPEECH_RANGE
        v = sp & (t[:, 1] >= PITCH_VOICED)
        o = t[v, 0] if v.sum() >= 3 else t[sp, 0]
        d = np.diff(o) if o.size > 1 else np.zeros(1)
        p10, p50, p90 = np.percentile(o, [10, 50, 90])
        P.append([o.mean(), o.std(), p10, p50, p90, d.std(), v.sum() / max(sp.sum(), 1)])
        tracks.append((t, sp, v))
    return utts, np.array(F), np.array(P), tracks


def zscore_by_speaker(X, spk):
    Z = np.empty_like(X)
    for s in np.unique(spk):
        m = spk == s; Z[m] = zscore_speaker(X[m], 1e-3)
    return Z
