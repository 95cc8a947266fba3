"""openSMILE functionals + SVM, the classic SER baseline, on pyreparam's own folds.

    python tools/baselines/opensmile_svm.py MANIFEST [--cv loso] [--seed 0]
        [--features egemaps,compare] [--classifiers linear,rbf]
        [--normalization speaker|global] [--json PATH] [--cache DIR]

Needs the bench extra (opensmile, scikit-learn): pip install ".[bench]".

Audio: each file is decoded by pyreparam's loader at 16 kHz (the checks of
`pyreparam train`: --max-seconds, 0.1 s minimum), its trailing digital zeros (padding)
are removed, and openSMILE computes the functionals of one feature set per file:
eGeMAPSv02 (88) and ComParE_2016 (6,373). A third set, ``pitch`` (18), needs no
openSMILE: functionals of pyreparam's own pitch track (the channels `train --pitch`
adds, :func:`pyreparam.audio.features.pitch_track`), i.e. what a light model could
learn from pitch and voicing alone: mean, standard deviation, 10/50/90th percentiles,
5-95 range, mean absolute and standard deviation of the frame-to-frame change, of
log2 F0 over voiced frames (all frames when fewer than 3 are voiced) and of the
voicing strength over all frames; the voiced fraction and voiced seconds. A fourth,
``logmel`` (672), needs no openSMILE either: functionals of pyreparam's own front end,
what a device already computes (the 64 log-mel bands of ``pyreparam train``'s
default features and their first 24 cepstral coefficients, a DCT-II of the bands):
per band mean, standard deviation, 10/50/90th percentiles and standard deviation of
the frame-to-frame change; per coefficient mean, standard deviation, 1/25/50/75/99th
percentiles, interquartile and 1-99 range, slope of a least-squares line over the
frames, standard deviation and mean absolute value of the change. All are
cached in --cache under a key of the file's content hash and every setting, so a
rerun does not extract again.

Folds: exactly the folds of `pyreparam train --cv CV --seed SEED` on the same
manifest (pyreparam.train.splits.make_folds, called as pyreparam/train/run.py calls
it). The SVM of a fold trains on all its non-test speakers (the trainer's training +
validation speakers) and is tested on its test speakers. With --on-error skip, the
folds are those of the files this script could use (it lists the ones it left out);
they match the trainer's when both leave out the same files.

Normalization: z-scores of every functional. `speaker` (default): each speaker's
mean/std over that speaker's own utterances, labels unused, as the trainer's
`speaker` mode does for log-mel features. `global`: mean/std of the training
speakers' utterances only. A functional that is constant (std within float32
resolution of its mean) becomes 0.

Classifiers (scikit-learn SVC, class_weight='balanced' because UA is the target and
the corpora are unbalanced; one-vs-one as libsvm does):
    linear   C in 1e-4 ... 1e2 (one value per decade)
    rbf      C in 1e-1 ... 1e3, gamma='scale'
C is chosen per fold by the UA of inner leave-one-speaker-out folds over the fold's
training speakers only (predictions pooled over the inner folds; ties go to the
smaller C); the normalization is refitted inside each inner fold. The test speakers
are never seen before the final prediction.

Metrics: WA, UA and macro-F1 of pyreparam.train.metrics, pooled over all folds (one
confusion matrix of all test predictions), printed as a table in the format of
tools/results_table.py (one row per feature set x classifier), with the chosen C of
every fold. --json writes everything, with every test prediction.
"""
from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import NamedTuple  # noqa: E402

import numpy as np  # noqa: E402

from pyreparam import __version__  # noqa: E402
from pyreparam.atomic import write_text  # noqa: E402
from pyreparam.audio.decode import AudioError, load_audio_bytes, read_file_bytes  # noqa: E402
from pyreparam.audio.features import trim_trailing_zeros  # noqa: E402
from pyreparam.data.cache import CACHE_FORMAT, FeatureCache  # noqa: E402
from pyreparam.data.manifest import ManifestError, Utterance, read_manifest  # noqa: E402
from pyreparam.train.metrics import (classification_report, confusion_matrix,  # noqa: E402
                                     metrics_from_confusion)
from pyreparam.train.splits import make_folds  # noqa: E402

SAMPLE_RATE = 16000
MIN_SECONDS = 0.1                      # the trainer's loader minimum
#: Bump when the extraction changes in a way the cache key's settings do not capture.
OPENSMILE_CACHE_FORMAT = 1
#: --features name -> (openSMILE feature set, number of functionals)
FEATURE_SETS = {"egemaps": ("eGeMAPSv02", 88), "compare": ("ComParE_2016", 6373),
                "pitch": ("pyreparam pitch track", 18),
                "logmel": ("pyreparam log-mel + cepstra", 672)}
PITCH_SET = "pitch"
LOGMEL_SET = "logmel"
#: sets computed by pyreparam's own front end (no openSMILE)
OWN_SETS = (PITCH_SET, LOGMEL_SET)
#: Bump an own set's number when its computation changes (its cached values go stale:
#: the number is part of the cache key, next to pyreparam's version).
OWN_SET_FORMAT = {PITCH_SET: 1, LOGMEL_SET: 1}
#: --classifiers name -> (SVC kernel, C grid)
CLASSIFIERS = {"linear": ("linear", tuple(10.0 ** k for k in range(-4, 3))),
               "rbf": ("rbf", tuple(10.0 ** k for k in range(-1, 4)))}
NORMALIZATIONS = ("speaker", "global")
DEFAULT_CACHE = Path.home() / ".cache" / "pyreparam" / "opensmile"


def require(module: str, package: str):
    """Import an optional dependency or exit with how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        sys.exit(f"opensmile_svm.py needs the {package} package: pip install \".[bench]\" "
                 "(in the pyreparam checkout), or pip install opensmile scikit-learn")


# --------------------------------------------------------------------------- folds

class SvmFold(NamedTuple):
    """One fold of the baseline: its test speakers and its training speakers."""

    index: int
    test: tuple[str, ...]
    train: tuple[str, ...]     # the trainer's training + validation speakers (sorted)


def svm_folds(utterances: Sequence[Utterance], cv: str = "loso",
              seed: int = 0) -> list[SvmFold]:
    """The folds of `pyreparam train --cv CV --seed SEED` on these utterances.

    Calls make_folds as pyreparam/train/run.py (_execute) does, on the speakers and
    sessions of the usable utterances in manifest order. The trainer draws each
    fold's validation speakers after its test speakers, so the test speakers and the
    union train + validation do not depend on how many validation speakers it draws
    (TrainConfig.n_validation) nor on how; 1 is passed.
    """
    folds = make_folds([u.speaker for u in utterances], cv, seed=seed,
                       sessions=[u.session for u in utterances], n_validation=1)
    return [SvmFold(f.index, f.test, tuple(sorted(f.train + f.validation))) for f in folds]


# --------------------------------------------------------------------------- features

def cache_key(data: bytes, feature_set: str, opensmile_version: str,
              max_seconds: float | None) -> str:
    """Hex key of a file's functionals: its content hash and every setting."""
    settings = json.dumps({
        "format": OPENSMILE_CACHE_FORMAT, "pyreparam_cache_format": CACHE_FORMAT,
        "feature_set": feature_set, "feature_level": "Functionals",
        "opensmile": opensmile_version, "sample_rate": SAMPLE_RATE,
        "trim_trailing_zeros": True, "max_seconds": max_seconds,
        "min_seconds": MIN_SECONDS}, sort_keys=True)
    digest = hashlib.sha256(hashlib.sha256(data).digest())
    digest.update(settings.encode("utf-8"))
    return digest.hexdigest()


def compute_functionals(smile, data: bytes, path: str, max_seconds: float | None) -> np.ndarray:
    """One file's functionals: decode at 16 kHz, drop trailing zeros, openSMILE.

    Returns
    -------
    ndarray, (1, D), float32

    Raises
    ------
    AudioError
        The loader's checks, digital silence only, or non-finite functionals.
    """
    signal = load_audio_bytes(data, path, sample_rate=SAMPLE_RATE, max_seconds=max_seconds,
                              min_seconds=MIN_SECONDS)
    signal = trim_trailing_zeros(signal)  # (n',)
    if signal.size == 0:
        raise AudioError(path, "only digital silence")
    values = smile.process_signal(signal, SAMPLE_RATE).to_numpy(dtype=np.float32)  # (1, D)
    if not np.isfinite(values).all():
        raise AudioError(path, "openSMILE returned non-finite functionals")
    return values


def contour_functionals(x: np.ndarray) -> np.ndarray:
    """Mean, std, 10/50/90th percentiles, 5-95 range, mean |change|, std of change."""
    p5, p10, p50, p90, p95 = np.percentile(x, [5, 10, 50, 90, 95])
    change = np.diff(x) if x.size > 1 else np.zeros(1)
    return np.array([x.mean(), x.std(), p10, p50, p90, p95 - p5, np.abs(change).mean(),
                     change.std()])


def pitch_functionals(data: bytes, path: str, max_seconds: float | None) -> np.ndarray:
    """The ``pitch`` set's 18 functionals of one file (see the module doc), (1, 18)."""
    from pyreparam.audio.features import PITCH_VOICED, FeatureConfig, pitch_track
    config = FeatureConfig(sample_rate=SAMPLE_RATE, pitch=True)
    signal = load_audio_bytes(data, path, sample_rate=SAMPLE_RATE, max_seconds=max_seconds,
                              min_seconds=MIN_SECONDS)
    track = pitch_track(signal, config).astype(np.float64)       # (T, 2)
    voiced = track[:, 1] >= PITCH_VOICED
    octaves = track[voiced, 0] if voiced.sum() >= 3 else track[:, 0]
    values = np.concatenate([contour_functionals(octaves), contour_functionals(track[:, 1]),
                             [voiced.mean(), voiced.sum() * config.hop_ms / 1000.0]])
    return values[None, :].astype(np.float32)


def logmel_functionals(data: bytes, path: str, max_seconds: float | None) -> np.ndarray:
    """The ``logmel`` set's 672 functionals of one file (see the module doc), (1, 672):
    the all-frames half of the statistics head's functionals
    (:func:`pyreparam.audio.functionals.frame_functionals`)."""
    from pyreparam.audio.features import FeatureConfig, logmel
    from pyreparam.audio.functionals import frame_functionals
    signal = load_audio_bytes(data, path, sample_rate=SAMPLE_RATE, max_seconds=max_seconds,
                              min_seconds=MIN_SECONDS)
    x = logmel(signal, FeatureConfig(sample_rate=SAMPLE_RATE)).astype(np.float64)  # (T, 64)
    if x.shape[0] < 2:
        raise AudioError(path, "fewer than 2 frames of audio")
    return frame_functionals(x, x.shape[1])[None, :].astype(np.float32)


def _functionals_of(name: str):
    """(version, compute(data, path, max_seconds)) of one --features set; the version
    of an own set names pyreparam's and the set's OWN_SET_FORMAT (its cache key)."""
    own = {PITCH_SET: pitch_functionals, LOGMEL_SET: logmel_functionals}
    if name in own:                               # computed by pyreparam itself
        return f"{__version__}+{name}.{OWN_SET_FORMAT[name]}", own[name]
    opensmile = require("opensmile", "opensmile")
    smile = opensmile.Smile(feature_set=getattr(opensmile.FeatureSet, FEATURE_SETS[name][0]),
                            feature_level=opensmile.FeatureLevel.Functionals)
    return opensmile.__version__, lambda data, path, seconds: compute_functionals(
        smile, data, path, seconds)


def extract(utterances: Sequence[Utterance], name: str, cache: FeatureCache | None, *,
            max_seconds: float | None, on_error: str, log) -> tuple[dict[str, np.ndarray],
                                                                    dict[str, str], dict]:
    """Functionals of every utterance for one --features name, through the cache.

    Returns
    -------
    values : dict path -> ndarray (D,) float32, for the usable files
    failed : dict path -> reason (raises the first AudioError with on_error 'fail')
    timing : dict with seconds, computed and cached counts
    """
    feature_set, dims = FEATURE_SETS[name]
    version, compute = _functionals_of(name)
    started, computed = time.perf_counter(), 0
    values, failed = {}, {}
    for i, u in enumerate(utterances):
        try:
            data = read_file_bytes(u.path)
            key = cache_key(data, feature_set, version, max_seconds)
            row = cache.get(key, dims) if cache is not None else None
            if row is None:
                row = compute(data, u.path, max_seconds)
                computed += 1
                if cache is not None:
                    cache.put(key, row)
        except AudioError as error:
            if on_error == "fail":
                raise
            failed[u.path] = error.reason
            continue
        values[u.path] = row[0]
        if (i + 1) % 100 == 0:
            log(f"  {feature_set}: {i + 1}/{len(utterances)} files")
    seconds = time.perf_counter() - started
    log(f"{feature_set}: {len(values)} files ({computed} computed, "
        f"{len(values) - computed} from the cache) in {seconds:.1f} s")
    return values, failed, {"seconds": seconds, "computed": computed,
                            "cached": len(values) - computed, "dims": dims}


# --------------------------------------------------------------------------- normalization

def _mean_std(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and population std in float64; std 1 where a column is constant.

    Constant means: std at most 1e-6 of |mean| (below float32 resolution) or 0; such a
    column maps to (almost exactly) 0 instead of dividing by zero or by rounding noise.
    """
    X = np.asarray(X, dtype=np.float64)
    mean, std = X.mean(axis=0), X.std(axis=0)  # (D,), (D,)
    constant = std <= 1e-6 * np.abs(mean)
    return mean, np.where(constant, 1.0, std)


def _per_speaker(X: np.ndarray, speakers: Sequence[str]) -> np.ndarray:
    out = np.empty(X.shape, dtype=np.float64)
    speakers = np.asarray(speakers)
    for s in np.unique(speakers):
        rows = speakers == s
        mean, std = _mean_std(X[rows])
        out[rows] = (X[rows] - mean) / std
    return out


def znormalize(fit_X: np.ndarray, fit_speakers: Sequence[str], apply_X: np.ndarray,
               apply_speakers: Sequence[str], mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Z-scores of training rows (fit) and held-out rows (apply).

    Parameters
    ----------
    fit_X : ndarray, (n_fit, D)
        Functionals of the training speakers' utterances.
    apply_X : ndarray, (n_apply, D)
        Functionals of held-out speakers' utterances.
    fit_speakers, apply_speakers : sequences of str, one per row
    mode : {'speaker', 'global'}
        'speaker': every speaker's rows with that speaker's own mean/std (a speaker's
        rows must all be on one side; no labels are used). 'global': both with the
        mean/std of fit_X.

    Returns
    -------
    fit_Z, apply_Z : ndarray, float64, same shapes
    """
    if mode == "speaker":
        return _per_speaker(fit_X, fit_speakers), _per_speaker(apply_X, apply_speakers)
    if mode == "global":
        mean, std = _mean_std(fit_X)
        return (fit_X - mean) / std, (apply_X - mean) / std
    raise ValueError(f"unknown normalization {mode!r}; use one of {NORMALIZATIONS}")


# --------------------------------------------------------------------------- SVM

def fit_predict(X: np.ndarray, y: np.ndarray, speakers: np.ndarray, train: np.ndarray,
                test: np.ndarray, kernel: str, C: float, mode: str) -> np.ndarray:
    """Normalize, fit an SVC on the rows ``train`` and predict the rows ``test``."""
    svm = require("sklearn.svm", "scikit-learn")
    train_Z, test_Z = znormalize(X[train], speakers[train], X[test], speakers[test], mode)
    model = svm.SVC(kernel=kernel, C=C, gamma="scale", class_weight="balanced",
                    cache_size=500)
    return model.fit(train_Z, y[train]).predict(test_Z)


def select_c(X: np.ndarray, y: np.ndarray, speakers: np.ndarray, rows: np.ndarray,
             kernel: str, grid: Sequence[float], n_classes: int,
             mode: str) -> tuple[float, dict[float, float]]:
    """C of the grid with the best UA over inner leave-one-speaker-out folds.

    Only the utterances ``rows`` (the training speakers) are used: each of their
    speakers is held out once, predictions are pooled over the inner folds, and the
    UA of the pooled predictions decides; ties go to the smaller C.

    Returns
    -------
    best C, and dict C -> inner UA
    """
    inner_speakers = np.unique(speakers[rows])
    if inner_speakers.size < 2:
        raise ValueError("choosing C needs at least 2 training speakers (inner folds)")
    predicted = {C: np.empty(rows.size, dtype=y.dtype) for C in grid}
    for held_out in inner_speakers:
        is_held = speakers[rows] == held_out
        for C in grid:
            predicted[C][is_held] = fit_predict(X, y, speakers, rows[~is_held], rows[is_held],
                                                kernel, C, mode)
    scores = {C: metrics_from_confusion(confusion_matrix(y[rows], predicted[C], n_classes))["ua"]
              for C in grid}
    best = max(scores.values())
    return min(C for C in grid if scores[C] == best), scores


def evaluate(X: np.ndarray, y: np.ndarray, speakers: np.ndarray, folds: Sequence[SvmFold],
             classifier: str, n_classes: int, mode: str, log) -> list[dict]:
    """Every fold: choose C on the training speakers, refit, predict the test speakers."""
    kernel, grid = CLASSIFIERS[classifier]
    results = []
    for fold in folds:
        started = time.perf_counter()
        train = np.flatnonzero(np.isin(speakers, fold.train))
        test = np.flatnonzero(np.isin(speakers, fold.test))
        C, inner = select_c(X, y, speakers, train, kernel, grid, n_classes, mode)
        predicted = fit_predict(X, y, speakers, train, test, kernel, C, mode)
        report = classification_report(y[test], predicted, n_classes)
        results.append({"index": fold.index, "test_speakers": list(fold.test),
                        "train_speakers": list(fold.train), "C": C,
                        "inner_ua": {f"{c:g}": u for c, u in inner.items()},
                        "test": report, "rows": test.tolist(),
                        "predicted": predicted.tolist(),
                        "seconds": time.perf_counter() - started})
        log(f"  {classifier} fold {fold.index + 1}/{len(folds)} ({','.join(fold.test)}): "
            f"C={C:g}, inner UA {100 * inner[C]:.1f} %, test UA {100 * report['ua']:.1f} % "
            f"({results[-1]['seconds']:.1f} s)")
    return results


# --------------------------------------------------------------------------- report

def summarize_variant(name: str, classifier: str, dims: int, fold_results: list[dict],
                      y: np.ndarray, paths: list[str], classes: list[str],
                      seconds: float) -> dict:
    """Pooled metrics (one confusion matrix over all folds) and the per-fold details."""
    rows = np.concatenate([r["rows"] for r in fold_results]).astype(np.int64)
    predicted = np.concatenate([r["predicted"] for r in fold_results]).astype(np.int64)
    pooled = classification_report(y[rows], predicted, len(classes))
    per_fold = {m: [r["test"][m] for r in fold_results] for m in ("wa", "ua", "macro_f1")}
    folds = []
    for r in fold_results:
        predictions = [{"path": paths[i], "label": classes[y[i]], "predicted": classes[p]}
                       for i, p in zip(r["rows"], r["predicted"])]
        folds.append({k: v for k, v in r.items() if k not in ("rows", "predicted")}
                     | {"predictions": predictions})
    return {"variant": f"{FEATURE_SETS[name][0]} + {classifier} SVM", "features": name,
            "classifier": classifier, "dims": dims, "c_grid": list(CLASSIFIERS[classifier][1]),
            "pooled": pooled,
            "fold_mean": {m: float(np.mean(v)) for m, v in per_fold.items()},
            "fold_std": {m: float(np.std(v)) for m, v in per_fold.items()},
            "inner_ua_mean": statistics.fmean(r["inner_ua"][f"{r['C']:g}"]
                                              for r in fold_results),
            "svm_seconds": seconds, "folds": folds}


def format_markdown(variants: list[dict]) -> str:
    """The results table in tools/results_table.py's markdown format (one seed: no ±)."""
    lines = ["| variant | seeds | UA % | WA % | macro-F1 % | inner-LOSO UA % (chosen C) | "
             "features | wall time per fold |",
             "|---|---|---|---|---|---|---|---|"]
    for v in variants:
        p = v["pooled"]
        lines.append(f"| {v['variant']} | 1 | {100 * p['ua']:.1f} | {100 * p['wa']:.1f} | "
                     f"{100 * p['macro_f1']:.1f} | {100 * v['inner_ua_mean']:.1f} | "
                     f"{v['dims']:,} | {v['svm_seconds'] / len(v['folds']):.0f} s |")
    return "\n".join(lines)


def format_chosen_c(variants: list[dict]) -> str:
    """One row per fold: its test speakers and the C every variant chose."""
    lines = ["| fold | test speakers | n | " + " | ".join(v["variant"] for v in variants) + " |",
             "|---|---|---|" + "---|" * len(variants)]
    for i, fold in enumerate(variants[0]["folds"]):
        cells = " | ".join(f"{v['folds'][i]['C']:g}" for v in variants)
        lines.append(f"| {fold['index'] + 1} | {','.join(fold['test_speakers'])} | "
                     f"{fold['test']['n']} | {cells} |")
    return "\n".join(lines)


def versions() -> dict[str, str]:
    found = {"pyreparam": __version__, "numpy": np.__version__,
             "python": platform.python_version(), "platform": platform.platform()}
    for module in ("opensmile", "sklearn"):
        found[module] = importlib.import_module(module).__version__
    return found


# --------------------------------------------------------------------------- main

def _names(text: str, known: dict) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown {unknown or text!r}; "
                                         f"choose from {','.join(known)}")
    return names


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", type=Path,
                        help="CSV manifest path,label,speaker[,session,gender] "
                             "(pyreparam data manifest ...)")
    parser.add_argument("--cv", default="loso",
                        help="fold scheme, as pyreparam train --cv: loso, loso:session, "
                             "groupkfold:N, fixed, fixed:A,B (default loso)")
    parser.add_argument("--seed", type=int, default=0,
                        help="the seed of the pyreparam train run to match (default 0)")
    parser.add_argument("--features", default="egemaps,compare",
                        type=lambda s: _names(s, FEATURE_SETS),
                        help="comma list of egemaps (eGeMAPSv02, 88), compare (ComParE_2016, "
                             "6,373), pitch (pyreparam's pitch track, 18) and logmel "
                             "(pyreparam's log-mel bands and cepstra, 672; these two need no "
                             "openSMILE) (default egemaps,compare)")
    parser.add_argument("--classifiers", default="linear,rbf",
                        type=lambda s: _names(s, CLASSIFIERS),
                        help="comma list of linear, rbf (default both)")
    parser.add_argument("--normalization", choices=NORMALIZATIONS, default="speaker",
                        help="z-scores per speaker (default) or with the training "
                             "speakers' global statistics")
    parser.add_argument("--json", type=Path, help="write all results and predictions here")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                        help=f"cache of extracted functionals (default {DEFAULT_CACHE})")
    parser.add_argument("--no-cache", action="store_true", help="extract without the cache")
    parser.add_argument("--on-error", choices=("fail", "skip"), default="fail",
                        help="unusable audio files: stop (default) or leave out, as "
                             "pyreparam train --on-error")
    parser.add_argument("--max-seconds", type=float, default=30.0,
                        help="longest usable file, as pyreparam train --max-seconds "
                             "(default 30)")
    parser.add_argument("--quiet", action="store_true", help="only the final tables")
    return parser.parse_args(argv)


def extract_all(utterances: list[Utterance], args: argparse.Namespace, log
                ) -> tuple[dict[str, dict], dict[str, str], dict[str, dict]]:
    """Functionals of every --features set; a file unusable for any set is left out."""
    cache = None if args.no_cache else FeatureCache(args.cache)
    extracted, failed, extraction = {}, {}, {}
    for name in args.features:
        try:
            extracted[name], bad, extraction[name] = extract(
                utterances, name, cache, max_seconds=args.max_seconds,
                on_error=args.on_error, log=log)
        except AudioError as error:
            sys.exit(f"{error} (use --on-error skip to leave such files out)")
        failed.update(bad)
    return extracted, failed, extraction


def format_report(args: argparse.Namespace, n: int, speakers: np.ndarray, classes: list[str],
                  folds: list[SvmFold], variants: list[dict], extraction: dict,
                  failed: dict) -> str:
    lines = [f"{args.manifest}: {n} utterances, {len(set(speakers))} speakers, "
             f"{len(classes)} classes; --cv {args.cv} --seed {args.seed} ({len(folds)} "
             f"folds), {args.normalization} normalization", "",
             format_markdown(variants), "",
             "C chosen per fold (inner leave-one-speaker-out UA)", "",
             format_chosen_c(variants), ""]
    lines += [f"extraction {FEATURE_SETS[name][0]}: {e['seconds']:.1f} s "
              f"({e['computed']} computed, {e['cached']} from the cache)"
              for name, e in extraction.items()]
    lines += [f"SVM {v['variant']}: {v['svm_seconds']:.1f} s" for v in variants]
    if failed:
        lines.append(f"left out {len(failed)} unusable file(s): " +
                     "; ".join(f"{p}: {r}" for p, r in failed.items()))
    return "\n".join(lines)


def main(argv=None) -> None:
    args = parse_args(argv)
    log = (lambda *a: None) if args.quiet else \
        (lambda message: print(message, file=sys.stderr, flush=True))
    if set(args.features) - set(OWN_SETS):
        require("opensmile", "opensmile")
    require("sklearn", "scikit-learn")
    if args.json:   # its folder now, not after the whole run
        args.json.parent.mkdir(parents=True, exist_ok=True)
    try:
        utterances = read_manifest(args.manifest)
        svm_folds(utterances, args.cv, args.seed)     # a bad --cv fails before extraction
    except (ManifestError, ValueError) as error:
        sys.exit(f"{error}")
    extracted, failed, extraction = extract_all(utterances, args, log)
    kept = [u for u in utterances if u.path not in failed]
    try:
        folds = svm_folds(kept, args.cv, args.seed)
    except ValueError as error:
        sys.exit(f"after leaving out {len(failed)} unusable file(s): {error}")
    classes = sorted({u.label for u in kept})
    y = np.array([classes.index(u.label) for u in kept], dtype=np.int64)
    speakers = np.array([u.speaker for u in kept])
    paths = [u.path for u in kept]
    variants = []
    for name in args.features:
        X = np.stack([extracted[name][p] for p in paths])  # (n, D)
        for classifier in args.classifiers:
            log(f"{FEATURE_SETS[name][0]} + {classifier} SVM, {len(folds)} folds")
            started = time.perf_counter()
            results = evaluate(X, y, speakers, folds, classifier, len(classes),
                               args.normalization, log)
            variants.append(summarize_variant(name, classifier, X.shape[1], results, y,
                                              paths, classes, time.perf_counter() - started))
    print(format_report(args, len(kept), speakers, classes, folds, variants, extraction,
                        failed))
    if args.json:
        write_text(args.json, json.dumps({
            "manifest": str(args.manifest), "cv": args.cv, "seed": args.seed,
            "normalization": args.normalization, "classes": classes,
            "n_utterances": len(kept), "skipped": failed,
            "svm": {"class_weight": "balanced", "gamma": "scale",
                    "selection": "inner leave-one-speaker-out UA, ties to smaller C"},
            "folds": [f._asdict() for f in folds], "extraction": extraction,
            "variants": variants, "versions": versions()}, indent=1))


if __name__ == "__main__":
    main()
