"""Running a classifier file on images: what `predict.py`, `evaluate.py`,
export's checks and apps do.

`load_classifier(path)` opens a model file with the runtime its suffix
names (`backends.SUFFIXES`: LiteRT for `.tflite`, Keras for `.keras`),
together with the `labels.txt` beside it, and gives an object that turns
images into class probabilities:

    clf = load_classifier("runs/x/export/model_int8.tflite")
    probs = clf.predict(load_image("cat.jpg", clf.input_size))  # (K,)
    top_k(probs, clf.labels, k=5)

Images are prepared the way training stored them (`keras_attn.images`):
decoded with Pillow, EXIF-rotated, converted to 8-bit RGB (greyscale
expanded, transparency composited on white), then resized to the model's
input size, i.e. the size the run stored its images at, keeping the aspect
ratio as the run did (`resize`; `training_resize(path)` reads the mode from
the model's run folder or the file's own metadata). The model does the rest
(resize to its working size, scaling, normalisation) itself. A runtime is
imported only when a file of its kind is opened, so a board with LiteRT
alone runs `.tflite` files.
"""

from __future__ import annotations

import importlib
import os

import numpy as np

from keras_attn import images as images_lib
from keras_attn import runs
from keras_attn.inference.backends import SUFFIXES

LABELS_FILE = runs.LABELS


def training_resize(model_path: str) -> str | None:
    """The `--resize` mode the model's run stored its images with, or None.

    Read from the run's `config.json`, found beside the model
    (`RUN/model.keras`) or, for a file in the run's export folder
    (`RUN/export/model_int8.tflite`), one folder up; else from the file's
    own metadata (export writes the mode into every file it writes, so a
    file copied to a phone or another folder keeps it); else, for a run
    from before the mode was recorded, what its exported files record
    (`runs.resize_of_run`). None when nothing says: callers then use
    `images.LEGACY_RESIZE` (`crop`), what those runs used, and say so.
    Images given to a model must be resized the way its training images
    were, or accuracy drops (a `pad` model sees its objects smaller and with
    borders; a `crop` one sees them cut; a `squash` one sees them stretched).
    """
    folder = os.path.dirname(os.path.abspath(model_path))
    candidates = [folder]
    if os.path.basename(folder) == runs.EXPORT:
        candidates.append(os.path.dirname(folder))
    config = run_dir = None
    for candidate in candidates:
        if os.path.isfile(runs.path(candidate, runs.CONFIG)):
            try:
                config = runs.read_config(candidate)
                run_dir = candidate
            except (OSError, ValueError):
                pass  # unreadable: not a run's config
            break
    if isinstance(config, dict) and config.get("resize") in images_lib.RESIZE_MODES:
        return config["resize"]
    backend = _backend_name(model_path)
    if backend and os.path.isfile(model_path):
        recorded = _backend(backend).read_resize(model_path)
        if recorded is not None:
            return recorded
    if isinstance(config, dict):
        mode, source = runs.resize_of_run(config, run_dir)
        if source != runs.GUESS:
            return mode
    return None


def load_image(
    path: str,
    size: tuple[int, int] | None = None,
    resize: str = images_lib.DEFAULT_RESIZE,
) -> np.ndarray:
    """Decodes any Pillow-readable image (JPEG, PNG, ...) to (H, W, 3) uint8 RGB.

    Same decoding as training (`keras_attn.data.images.load_image`): EXIF
    orientation applied, greyscale expanded to RGB, alpha composited on
    white; with `size` `(height, width)` the image is brought to it by the
    `resize` mode (`crop`, `pad` or `squash`), as the run stored its images.

    Raises:
        FileNotFoundError: no file at `path`.
        ValueError: the file is not an image Pillow can decode.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No image file at {path}.")
    try:
        return images_lib.load_image(path, size, resize)
    except Exception as e:  # noqa: BLE001 -- Pillow raises many kinds
        reason = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ValueError(
            f"Cannot read {path} as an image ({type(e).__name__}: {reason})."
        ) from None


def softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def top_k(probs: np.ndarray, labels: list[str], k: int = 5) -> list[tuple[str, float]]:
    """The `k` most likely `(label, probability)` pairs, most likely first."""
    order = np.argsort(-np.asarray(probs), kind="stable")[:k]
    return [(labels[i], float(probs[i])) for i in order]


def _backend_name(path: str) -> str | None:
    return SUFFIXES.get(os.path.splitext(path)[1].lower())


def _backend(name: str):
    return importlib.import_module(f"keras_attn.inference.backends.{name}")


def load_classifier(
    path: str, labels_path: str | None = None, num_threads: int | None = None
):
    """Opens a classifier file (`.tflite`, `.keras`) with its labels.

    Labels come from `labels_path`, else `labels.txt` beside the model, else
    the labels the file packs (a `.tflite` file's metadata).

    Raises:
        FileNotFoundError: the model or the labels file is missing.
        ValueError: the file is of no known kind, is damaged or truncated (a
            partial copy or download), or its labels do not match its
            outputs.
        MissingDependencyError: the file's runtime is not installed.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No model file at {path}.")
    if labels_path is None:
        beside = os.path.join(os.path.dirname(os.path.abspath(path)), LABELS_FILE)
        labels_path = beside if os.path.exists(beside) else None
    elif not os.path.isfile(labels_path):
        raise FileNotFoundError(f"No labels file at {labels_path}.")
    labels = runs.read_labels_file(labels_path) if labels_path else None
    backend = _backend_name(path) or "litert"  # any other name: a .tflite?
    try:
        return _backend(backend).open_file(path, labels, num_threads)
    except ValueError as e:
        if labels_path and str(e).endswith("of the same run."):
            raise ValueError(f"{path} and {labels_path}: {e}") from None
        raise


def check_labels(labels: list[str], num_classes: int) -> list[str]:
    """Raises a one-line ValueError when there are not as many labels as the
    model has outputs (`load_classifier` names the labels' source)."""
    if len(labels) != num_classes:
        raise ValueError(
            f"{len(labels)} labels for a model with {num_classes} classes; use "
            "the model and labels.txt of the same run."
        )
    return list(labels)
