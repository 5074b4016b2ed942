"""The evaluation report of one model on one split: what `evaluate.py` writes,
and what training writes for its held-out split at the end.

`report.json` (top-1, top-5, mean loss, macro and per-class precision /
recall / F1, the most confused pairs, how many and which images, the model
file and the data source), `per_class.csv`, `confusion.png`, `errors.png`.
"""

from __future__ import annotations

import csv
import os

import numpy as np

from keras_attn.data.splits import Split
from keras_attn.evaluation import metrics, plots
from keras_attn.utils import atomic_io

REPORT = "report.json"
PER_CLASS = "per_class.csv"
CONFUSION = "confusion.png"
ERRORS = "errors.png"


def write_report(
    out_dir: str,
    probs: np.ndarray,
    split: Split,
    class_names: list[str],
    model_file: str,
    data: dict,
) -> dict:
    """Writes report.json, per_class.csv, confusion.png and errors.png."""
    report = metrics.classification_report(probs, split.labels, class_names)
    matrix = report.pop("confusion")
    report.update(
        model_file=model_file,
        data={**data, "ids": split.ids.tolist()},
    )
    os.makedirs(out_dir, exist_ok=True)
    with atomic_io.atomic_path(os.path.join(out_dir, PER_CLASS)) as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["class", "precision", "recall", "f1", "support"])
            for name, row in report["per_class"].items():
                writer.writerow(
                    [name, *(f"{row[k]:.4f}" for k in ("precision", "recall", "f1")),
                     row["support"]]
                )  # fmt: skip
    plots.plot_confusion(matrix, class_names, os.path.join(out_dir, CONFUSION))
    report["errors_shown"] = plots.plot_errors(
        split.images, split.labels, probs, class_names, os.path.join(out_dir, ERRORS)
    )
    atomic_io.write_json(os.path.join(out_dir, REPORT), report)
    return report


def summary_line(report: dict) -> str:
    """The one-line summary `evaluate.py` prints (accuracies labelled top-1,
    top-5, as the README and the model card write them)."""
    tops = sorted(
        (int(key[len("top") :]), value)
        for key, value in report.items()
        if key.startswith("top") and key[len("top") :].isdigit()
    )
    accuracies = ", ".join(f"top-{k} {value:.4f}" for k, value in tops)
    macro = report["macro"]
    return (
        f"{report['images']} images: {accuracies}, macro precision "
        f"{macro['precision']:.4f} / recall {macro['recall']:.4f} / F1 "
        f"{macro['f1']:.4f}, mean loss {report['mean_loss']:.4f}"
    )
