"""Per-class metrics on hand-made predictions, and the evaluation figures."""

import numpy as np
import pytest

from keras_attn.evaluation import metrics, plots


def _probs(predicted, k):
    probs = np.full((len(predicted), k), 0.1 / (k - 1))
    probs[np.arange(len(predicted)), predicted] = 0.9
    return probs


def test_report_on_hand_made_predictions():
    labels = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 0, 1, 1, 0, 1])  # class 2 is never predicted
    report = metrics.classification_report(
        _probs(predicted, 3), labels, ["a", "b", "c"]
    )
    assert report["top1"] == pytest.approx(3 / 6)
    np.testing.assert_array_equal(
        report["confusion"], [[2, 1, 0], [1, 1, 0], [0, 1, 0]]
    )
    a, b, c = (report["per_class"][n] for n in "abc")
    assert (a["precision"], a["recall"], a["support"]) == (2 / 3, 2 / 3, 3)
    assert (b["precision"], b["recall"]) == (1 / 3, 1 / 2)
    assert b["f1"] == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    assert (c["precision"], c["recall"], c["f1"]) == (0.0, 0.0, 0.0)
    assert report["macro"]["recall"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    assert report["mean_loss"] == pytest.approx(
        -(3 * np.log(0.9) + 3 * np.log(0.05)) / 6
    )
    assert report["most_confused"][0] == {"true": "a", "predicted": "b", "images": 1}
    # top-3 of 3 classes is always right.
    assert report["top3"] == 1.0


def test_top_k_counts_the_true_class_among_the_k_best():
    probs = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7]])
    assert metrics.top_k_accuracy(probs, np.array([1, 0]), 1) == 0.0
    assert metrics.top_k_accuracy(probs, np.array([1, 0]), 2) == 0.5


@pytest.mark.parametrize("classes", [10, 196])
def test_confusion_figure_is_readable_for_few_and_many_classes(tmp_path, classes):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, classes, 2000)
    predicted = np.where(rng.random(2000) < 0.6, labels, rng.integers(0, classes, 2000))
    matrix = metrics.confusion_matrix(labels, predicted, classes)
    names = [f"class_{i}" for i in range(classes)]
    plots.plot_confusion(matrix, names, str(tmp_path / "confusion.png"))
    from PIL import Image

    width, height = Image.open(tmp_path / "confusion.png").size
    # 196 classes: the most confused pairs as bars, not a 196 x 196 grid.
    assert width < 2000 and height < 2000
