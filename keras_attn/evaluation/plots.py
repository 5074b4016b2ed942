"""The figures of an evaluation: confusion and misclassified images.

`plot_confusion` draws the row-normalised confusion matrix (each row: where
the images of one true class went) when there are few classes, and, for
many (the 196 of Stanford Cars would be an unreadable 196 x 196 grid), the
most confused pairs as a bar chart. `plot_errors` shows misclassified
images with their true and predicted labels and the predicted probability.
"""

from __future__ import annotations

import numpy as np

from keras_attn.evaluation.metrics import most_confused
from keras_attn.utils.plotting import pyplot, save_figure

# Up to this many classes the whole matrix is drawn, with every label.
FULL_MATRIX_CLASSES = 30


def plot_confusion(matrix: np.ndarray, class_names: list[str], path: str) -> None:
    plt = pyplot()
    k = len(class_names)
    support = matrix.sum(1, keepdims=True)
    normalised = np.divide(
        matrix, support, out=np.zeros(matrix.shape), where=support > 0
    )
    if k <= FULL_MATRIX_CLASSES:
        size = max(4.0, 0.4 * k + 2)
        fig, ax = plt.subplots(figsize=(size + 1, size))
        shown = ax.imshow(normalised, cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks(range(k), [n[:18] for n in class_names], rotation=90, fontsize=7)
        ax.set_yticks(range(k), [n[:18] for n in class_names], fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        for t in range(k):
            for p in range(k):
                if matrix[t, p]:
                    colour = "black" if normalised[t, p] > 0.5 else "white"
                    ax.text(
                        p, t, f"{normalised[t, p]:.2f}", ha="center", va="center",
                        fontsize=6, color=colour,
                    )  # fmt: skip
        fig.colorbar(shown, ax=ax, fraction=0.046, label="share of the true class")
        ax.set_title("Confusion (rows: true class, normalised)")
    else:
        pairs = most_confused(matrix, 25)
        fig, ax = plt.subplots(figsize=(9, 0.32 * max(len(pairs), 1) + 1.5))
        names = [f"{class_names[t][:28]} -> {class_names[p][:28]}" for t, p, _ in pairs]
        shares = [normalised[t, p] for t, p, _ in pairs]
        ax.barh(range(len(pairs)), shares, color="tab:red")
        ax.set_yticks(range(len(pairs)), names, fontsize=7)
        ax.invert_yaxis()
        for i, (_, _, count) in enumerate(pairs):
            ax.text(shares[i], i, f" {count}", va="center", fontsize=7)
        ax.set_xlabel("share of the true class's images predicted as the other")
        ax.set_title(f"Most confused pairs ({k} classes; counts at the bars' end)")
    fig.tight_layout()
    save_figure(fig, path)


def plot_errors(
    images,
    labels: np.ndarray,
    probs: np.ndarray,
    class_names: list[str],
    path: str,
    count: int = 24,
    columns: int = 6,
) -> int:
    """Misclassified images (most confident mistakes first); returns how many."""
    plt = pyplot()
    predicted = probs.argmax(1)
    wrong = np.flatnonzero(predicted != labels)
    wrong = wrong[np.argsort(-probs[wrong, predicted[wrong]], kind="stable")][:count]
    rows = max(1, int(np.ceil(len(wrong) / columns)))
    fig, axes = plt.subplots(
        rows, columns, figsize=(2.2 * columns, 2.5 * rows), squeeze=False
    )
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), wrong, strict=False):
        ax.imshow(np.asarray(images[int(i)], np.uint8))
        ax.set_title(
            f"true: {class_names[labels[i]][:20]}\n"
            f"pred: {class_names[predicted[i]][:20]} ({probs[i, predicted[i]]:.2f})",
            fontsize=7,
        )
    if not len(wrong):
        axes[0, 0].text(0, 0.5, "no misclassified images", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    return len(wrong)
