"""Probe: pitch tracker x functionals on EMOVO/EmoDB with the baseline's linear SVM."""
import sys, numpy as np, scipy.signal
sys.path.insert(0, 'tools/baselines')
import opensmile_svm as B
from pyreparam.data.manifest import read_manifest
from pyreparam.audio.decode import load_audio
from pyreparam.audio.features import FeatureConfig, pitch_track, PITCH_VOICED, num_frames, trim_trailing_zeros

def track_nccf(signal, config, fmin=60., fmax=600., rate=4000, win_ms=40., voiced_thr=0.5, octave=0.0, smooth=0):
    """NCCF pitch tracker (float prototype): per frame, r(k) = sum x[n]x[n+k] / sqrt(E0 Ek)."""
    signal = trim_trailing_zeros(np.asarray(signal, np.float64))
    T = num_frames(signal.shape[0], config)
    factor = config.sample_rate // rate
    low = scipy.signal.resample_poly(signal, 1, factor)
    w = int(round(rate * win_ms / 1000))
    kmin, kmax = int(np.floor(rate / fmax)), int(np.ceil(rate / fmin))
    centres = (np.arange(T) * config.hop_length + config.win_length / 2) / factor
    starts = np.round(centres - w / 2).astype(np.int64)
    pad = w + kmax + 2
    padded = np.pad(low, (pad, pad + kmax + w))
    seg = padded[starts[:, None] + pad + np.arange(w + kmax + 1)]     # (T, w+kmax+1)
    seg = seg - seg[:, :w].mean(axis=1, keepdims=True)
    x = seg[:, :w]
    e0 = (x * x).sum(1)
    ks = np.arange(kmin, kmax + 1)
    num = np.stack([(x * seg[:, k:k + w]).sum(1) for k in ks], 1)
    ek = np.stack([(seg[:, k:k + w] ** 2).sum(1) for k in ks], 1)
    r = num / np.sqrt(np.maximum(e0[:, None] * ek, 1e-20))
    # octave bias: prefer shorter lags slightly
    score = r - octave * np.log2(ks / kmin)[None, :]
    i = np.argmax(score, 1)
    rows = np.arange(T)
    mid = r[rows, i]
    left = r[rows, np.maximum(i - 1, 0)]; right = r[rows, np.minimum(i + 1, len(ks) - 1)]
    curve = left - 2 * mid + right
    shift = np.where(curve < 0, 0.5 * (left - right) / np.where(curve < 0, curve, -1.0), 0.0)
    period = ks[i] + np.clip(shift, -0.5, 0.5)
    silent = e0 <= 1e-10 * w
    voicing = np.where(silent, 0, np.clip(mid, 0, 1))
    octs = np.log2(rate / period / 100.)
    if smooth:
        octs = scipy.signal.medfilt(octs, smooth)
    return np.stack([octs, voicing], 1)

def fun_ours(track):
    voiced = track[:, 1] >= PITCH_VOICED
    if track.shape[1] > 2: voiced &= track[:, 2] > 0
    o = track[voiced, 0] if voiced.sum() >= 3 else track[:, 0]
    return np.concatenate([B.contour_functionals(o), B.contour_functionals(track[:, 1]), [voiced.mean(), voiced.sum() / 100]])

def fun_os(track, thr=PITCH_VOICED):
    """openSMILE-like: over voiced frames, semitone mean, stddevNorm, p20/50/80, range 20-80,
    rising/falling slope mean/std (frame-to-frame within voiced runs)."""
    voiced = track[:, 1] >= thr
    if track.shape[1] > 2: voiced &= track[:, 2] > 0
    o = track[voiced, 0] if voiced.sum() >= 3 else track[:, 0]
    st = 12 * o
    p20, p50, p80 = np.percentile(st, [20, 50, 80])
    d = np.diff(track[:, 0]) * 12 * 100  # semitones per second
    both = voiced[1:] & voiced[:-1]
    d = d[both] if both.sum() >= 2 else np.zeros(2)
    up, dn = d[d > 0], -d[d < 0]
    f = lambda a: (a.mean(), a.std()) if a.size else (0., 0.)
    return np.array([st.mean(), st.std() / max(abs(st.mean()), 1e-3), p20, p50, p80, p80 - p20, *f(up), *f(dn), voiced.mean()])

if __name__ == "__main__":
    man = sys.argv[1]
    utts = read_manifest(man)
    cfg = FeatureConfig(sample_rate=16000, pitch=True)
    classes = sorted({u.label for u in utts})
    y = np.array([classes.index(u.label) for u in utts]); spk = np.array([u.speaker for u in utts])
    folds = B.svm_folds(utts, "loso", 0)
    sigs = [load_audio(u.path, sample_rate=16000) for u in utts]
    from pyreparam.audio.features import logmel
    from pyreparam.audio.functionals import SPEECH_RANGE
    def speech(s, t, rng=SPEECH_RANGE):
        lv = logmel(s, FeatureConfig(sample_rate=16000)).mean(1)
        return np.concatenate([t[:, :2], (lv >= lv.max() - rng)[:, None].astype(float)], 1)
    variants = {
        "old-speech": lambda s: speech(s, pitch_track(s, cfg).astype(np.float64)),
        "old-speech30": lambda s: speech(s, pitch_track(s, cfg).astype(np.float64), np.log(1000.)),
        "nccf-speech": lambda s: speech(s, track_nccf(s, cfg, smooth=5)),
        "old": lambda s: pitch_track(s, cfg).astype(np.float64),
        "nccf": lambda s: track_nccf(s, cfg),
        "nccf-med5": lambda s: track_nccf(s, cfg, smooth=5),
        "nccf-oct": lambda s: track_nccf(s, cfg, octave=0.05, smooth=5),
        "nccf-1000": lambda s: track_nccf(s, cfg, fmax=1000., octave=0.05, smooth=5),
    }
    which = sys.argv[2].split(",") if len(sys.argv) > 2 else list(variants)
    for name in which:
        tracks = [variants[name](s) for s in sigs]
        for fname, fn in (("ours", fun_ours), ("os", fun_os), ("both", lambda t: np.concatenate([fun_ours(t), fun_os(t)]))):
            X = np.stack([fn(t) for t in tracks]).astype(np.float32)
            r = B.evaluate(X, y, spk, folds, "linear", len(classes), "speaker", lambda *a: None)
            v = B.summarize_variant("egemaps", "linear", X.shape[1], r, y, [u.path for u in utts], classes, 0.0)["pooled"]
            print(f"{man} tracker {name:10s} functionals {fname:5s} {X.shape[1]:3d} UA {100*v['ua']:.1f}", flush=True)
