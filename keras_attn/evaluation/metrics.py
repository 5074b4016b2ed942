"""Classification metrics from predicted probabilities, in NumPy.

`classification_report(probs, labels, class_names)` gives what
`evaluate.py` writes: top-1 and top-k accuracy, mean cross-entropy, the
confusion matrix, per-class precision / recall / F1 / support, their macro
averages (every class counts the same: what moves when rare classes are
learned better), and the most confused pairs. Definitions follow
scikit-learn's: a class never predicted has precision 0, a class with no
images recall 0 (and is left out of the macro averages).
"""

from __future__ import annotations

import numpy as np


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, k: int) -> np.ndarray:
    """(K, K) counts: row = true class, column = predicted class."""
    matrix = np.zeros((k, k), np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predicted)), 1)
    return matrix


def per_class(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support of every class from a confusion matrix."""
    true_positive = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(0).astype(np.float64)
    support = matrix.sum(1)
    precision = np.divide(
        true_positive, predicted, out=np.zeros_like(true_positive), where=predicted > 0
    )
    recall = np.divide(
        true_positive, support, out=np.zeros_like(true_positive), where=support > 0
    )
    total = precision + recall
    f1 = np.divide(
        2 * precision * recall, total, out=np.zeros_like(total), where=total > 0
    )
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def top_k_accuracy(probs: np.ndarray, labels: np.ndarray, k: int) -> float:
    k = min(k, probs.shape[1])
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return float(np.mean((top == np.asarray(labels)[:, None]).any(1)))


def most_confused(matrix: np.ndarray, count: int = 20) -> list[tuple[int, int, int]]:
    """The `count` largest off-diagonal cells: `(true, predicted, images)`."""
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")[:count]
    pairs = [np.unravel_index(i, off.shape) for i in order]
    return [(int(t), int(p), int(off[t, p])) for t, p in pairs if off[t, p] > 0]


def classification_report(
    probs: np.ndarray, labels: np.ndarray, class_names: list[str], top_k: int = 5
) -> dict:
    """Everything `evaluate.py` reports about `probs` (N, K) against `labels`."""
    probs = np.asarray(probs, np.float64)
    labels = np.asarray(labels)
    k = len(class_names)
    predicted = probs.argmax(1)
    matrix = confusion_matrix(labels, predicted, k)
    classes = per_class(matrix)
    present = classes["support"] > 0
    loss = -np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None))
    return {
        "images": int(len(labels)),
        "top1": float(np.mean(predicted == labels)),
        f"top{min(top_k, k)}": top_k_accuracy(probs, labels, top_k),
        "mean_loss": float(loss.mean()),
        "macro": {
            name: float(classes[name][present].mean())
            for name in ("precision", "recall", "f1")
        },
        "per_class": {
            class_names[c]: {
                "precision": float(classes["precision"][c]),
                "recall": float(classes["recall"][c]),
                "f1": float(classes["f1"][c]),
                "support": int(classes["support"][c]),
            }
            for c in range(k)
        },
        "most_confused": [
            {"true": class_names[t], "predicted": class_names[p], "images": n}
            for t, p, n in most_confused(matrix)
        ],
        "confusion": matrix,
    }
