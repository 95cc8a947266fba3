"""Classification metrics of speech emotion recognition: WA, UA, macro-F1, confusion.

    WA  (weighted accuracy)   = correct / all utterances
    UA  (unweighted accuracy) = mean over classes of the per-class recall
                                (balanced accuracy; classes absent from the
                                reference are left out of the mean: a recall needs
                                references)
    macro-F1                  = mean of 2 P R / (P + R) (0 when P + R = 0) over the
                                classes present in the reference *or* predicted: a
                                class the model predicts although the test set has
                                none of it scores F1 = 0 (its false alarms count);
                                classes neither present nor predicted are left out
Rows of the confusion matrix are the true classes, columns the predictions.
"""
from __future__ import annotations

import numpy as np


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """(N, N) int64 counts: entry [i, j] = utterances of class i predicted as j."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{y_true.shape} labels but {y_pred.shape} predictions")
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def metrics_from_confusion(cm: np.ndarray) -> dict[str, float]:
    """WA, UA and macro-F1 from a confusion matrix (see the module doc)."""
    cm = np.asarray(cm, dtype=np.float64)
    total = cm.sum()
    support = cm.sum(axis=1)                       # true count per class
    predicted = cm.sum(axis=0)
    tp = np.diag(cm)
    present = support > 0
    scored = present | (predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {
        "wa": float(tp.sum() / total) if total else float("nan"),
        "ua": float(recall[present].mean()) if present.any() else float("nan"),
        "macro_f1": float(f1[scored].mean()) if scored.any() else float("nan"),
        "n": int(total),
        "classes_absent": int((~present).sum()),
    }


def classification_report(y_true, y_pred, n_classes: int) -> dict:
    """WA, UA, macro-F1, n and the confusion matrix (as nested lists) in one dict."""
    cm = confusion_matrix(y_true, y_pred, n_classes)
    return {**metrics_from_confusion(cm), "confusion": cm.tolist()}


def class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Inverse-frequency weights, mean 1 over the classes present: n / (K n_c)."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    present = counts > 0
    w = np.zeros(n_classes)
    w[present] = counts.sum() / (present.sum() * counts[present])
    return w
