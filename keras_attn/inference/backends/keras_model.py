"""Keras: runs a run's `model.keras` (outputs logits) with the full project."""

from __future__ import annotations

import importlib.util
import time

import numpy as np

from keras_attn.errors import MissingDependencyError
from keras_attn.inference.runtime import check_labels, softmax


def keras_hint(path: str) -> str:
    return (
        f"{path} is a Keras file: running it needs the whole project (Keras, "
        "TensorFlow, keras-hub: pip install -e . in a checkout of keras-attn); "
        "with LiteRT only, pass the run's export/model_int8.tflite instead."
    )


class KerasClassifier:
    """A classifier in a `.keras` file (outputs logits), run by Keras."""

    runtime = "Keras"

    def __init__(self, path: str, labels: list[str]):
        from keras_attn import registration
        from keras_attn.saving import load_model

        registration.register()  # skipped at import under predict.py
        self.model = load_model(path)
        shape = tuple(self.model.input_shape)
        self.input_size = tuple(int(d) for d in shape[1:3])
        self.num_classes = int(self.model.output_shape[-1])
        self.labels = check_labels(labels, self.num_classes)
        self.input_dtype = "float32"

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Probabilities for one image (H, W, 3) -> (K,) or a batch -> (N, K)."""
        images = np.asarray(images, np.float32)
        single = images.ndim == 3
        logits = self.model.predict(images[None] if single else images, verbose=0)
        probs = softmax(logits).astype(np.float32)
        return probs[0] if single else probs

    def latency_ms(self, runs: int = 50, warmup: int = 5) -> float:
        """Median wall time of one model call on a fixed image, in milliseconds."""
        image = np.random.default_rng(0).uniform(0, 255, (1, *self.input_size, 3))
        image = image.astype(np.float32)
        for _ in range(warmup):
            self.model(image, training=False)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            self.model(image, training=False)
            times.append(time.perf_counter() - start)
        return float(np.median(times) * 1000)


Classifier = KerasClassifier


def read_resize(path: str) -> str | None:
    """A `.keras` file records no resize mode (its run's config.json does)."""
    return None


def open_file(
    path: str, labels: list[str] | None, num_threads: int | None = None
) -> KerasClassifier:
    """Opens a `.keras` file (`num_threads` is LiteRT's; Keras ignores it).

    Raises:
        FileNotFoundError: no labels (a `.keras` file packs none).
        MissingDependencyError: Keras or keras-hub is not installed.
    """
    if labels is None:
        raise FileNotFoundError(f"No labels.txt beside {path}; pass the run's labels.")
    if not (
        importlib.util.find_spec("keras") and importlib.util.find_spec("keras_hub")
    ):
        raise MissingDependencyError(keras_hint(path))
    return KerasClassifier(path, labels)
