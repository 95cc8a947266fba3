"""Knowledge distillation from teacher runs (``train --teacher RUN_DIR ... --distill A``).

A teacher is a finished `pyreparam train` run with the same folds' *test* speakers (for
example the same recipe with other seeds, or a bigger backbone). For each fold, the
teachers' fold models score the student's *training* utterances, each speaker's
utterances normalized together (the teachers may use what a device never has: the
training speakers' complete statistics), and their probabilities at temperature T,
averaged over teachers, become soft targets. The student minimizes

    (1 - A) CE(labels) + A T^2 CE(soft targets, softmax(z / T))

(:func:`pyreparam.ops.loss.distill_forward`). Test speakers are never scored. The
teachers' validation speakers may differ from the student's (other seeds draw other
ones), so a teacher may have trained on the student's validation speaker: the
student's validation figures can then be a little optimistic, its test figures are
not affected.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pyreparam.audio.features import FeatureConfig
from pyreparam.ops.activations import softmax_forward
from pyreparam.train.splits import Fold


class DistillError(ValueError):
    """A teacher run that cannot teach this fold."""


def teacher_model_path(run: Path, fold: Fold) -> Path:
    """The deployed model of a teacher run's fold with the same test speakers."""
    import json
    folds_file = run / "folds.json"
    if not folds_file.exists():
        raise DistillError(f"teacher {run}: not a training run (no folds.json)")
    folds = {tuple(f["test"]): f["index"] for f in json.loads(folds_file.read_text())["folds"]}
    index = folds.get(tuple(fold.test))
    if index is None:
        raise DistillError(f"teacher {run} has no fold whose test speakers are "
                           f"{list(fold.test)}")
    fold_dir = run / f"fold_{index:02d}"
    for name in ("model_merged.npz", "model.npz"):
        if (fold_dir / name).exists():
            return fold_dir / name
    raise DistillError(f"teacher {run}: fold {index} is not finished")


def soft_targets(teachers: Sequence[str], fold: Fold, raw: Sequence[np.ndarray],
                 speakers: Sequence[str], classes: Sequence[str], feature_config: dict,
                 temperature: float) -> np.ndarray:
    """(n, N) averaged teacher probabilities at ``temperature`` of the utterances ``raw``
    (un-normalized features of the fold's training speakers, computed with
    ``feature_config``, which every teacher must share)."""
    from pyreparam.infer import load_for_inference
    from pyreparam.train.protocols import FloatScorer
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(speakers):
        groups.setdefault(str(s), []).append(i)
    total = np.zeros((len(raw), len(classes)))
    for run in teachers:
        path = teacher_model_path(Path(run), fold)
        model, frontend = load_for_inference(path)
        if list(frontend.classes) != list(classes):
            raise DistillError(f"teacher {path} has classes {frontend.classes}, the "
                               f"student {list(classes)}")
        if frontend.feature_config.to_dict() != FeatureConfig.from_dict(
                feature_config).to_dict():
            raise DistillError(f"teacher {path} was trained on other features")
        scorer = FloatScorer(model, frontend.normalizer)
        for idx in groups.values():
            z = scorer.speaker([raw[i] for i in idx]) / temperature      # (n_s, N)
            total[idx] += softmax_forward(z, axis=1)[0]
    return total / len(teachers)
