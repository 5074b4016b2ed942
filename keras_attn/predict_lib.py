"""Classifying many images: what `predict.py` does with files, folders and globs.

`image_files(args)` turns command-line arguments into image files: a file
as it is, a folder walked recursively for every extension Pillow reads, a
glob (quoted, so the shell leaves it) expanded with `**` support.
`classify(classifier, files)` decodes them as training stored images
(`edge.load_image`) and yields `(file, probabilities or error)` in order,
running the model a batch at a time where it takes batches (Keras; the
exported `.tflite` files take one image). `write_csv` writes the top-k
labels and probabilities per file, through a temporary file.
"""

from __future__ import annotations

import csv
import glob
import os
from collections.abc import Iterator

import numpy as np
from PIL import Image

from keras_attn import edge, io_utils


def image_files(args: list[str]) -> list[str]:
    """Image files named by `args` (files, folders, globs), in order, once each.

    Raises:
        FileNotFoundError: an argument names nothing, or a folder or glob
            holds no image.
    """
    extensions = {e.lower() for e in Image.registered_extensions()}
    files: list[str] = []
    for arg in args:
        if os.path.isdir(arg):
            found = sorted(
                os.path.join(root, name)
                for root, _, names in os.walk(arg)
                for name in names
                if not name.startswith(".")
                and os.path.splitext(name)[1].lower() in extensions
            )
            if not found:
                raise FileNotFoundError(
                    f"No images found under {arg} (looked for "
                    f"{', '.join(sorted(extensions)[:6])}, ... files, recursively)."
                )
            files += found
        elif glob.has_magic(arg):
            found = sorted(
                f for f in glob.glob(arg, recursive=True) if os.path.isfile(f)
            )
            if not found:
                raise FileNotFoundError(f"No files match {arg}.")
            files += found
        else:
            files.append(arg)  # a missing file is reported in its turn
    return list(dict.fromkeys(files))


def classify(
    classifier, files: list[str], resize: str = "crop", batch_size: int = 32
) -> Iterator[tuple[str, np.ndarray | None, str | None]]:
    """Yields `(file, probabilities (K,), None)` or `(file, None, error)`."""
    batch_size = batch_size if isinstance(classifier, edge.KerasClassifier) else 1
    for start in range(0, len(files), batch_size):
        chunk, images, errors = files[start : start + batch_size], [], {}
        for path in chunk:
            try:
                images.append(edge.load_image(path, classifier.input_size, resize))
            except (FileNotFoundError, ValueError) as e:
                errors[path] = str(e)
        probs = iter(classifier.predict(np.stack(images)) if images else [])
        for path in chunk:
            if path in errors:
                yield path, None, errors[path]
            else:
                yield path, next(probs), None


def check_writable(path: str) -> None:
    """Fails before any work if the CSV could not be written."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path):
        raise ValueError(f"--csv={path} is a folder; pass a file path.")
    if not os.path.isdir(folder):
        raise ValueError(f"--csv={path}: folder {folder} does not exist.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"--csv={path}: cannot write in {folder} (permission denied).")


def write_csv(path: str, results: list, labels: list[str], k: int) -> None:
    """Rows `path, label_1, prob_1, ..., label_k, prob_k, error` for the
    `classify` results, written to a temporary file and renamed onto `path`."""
    header = ["path"]
    for i in range(1, k + 1):
        header += [f"label_{i}", f"prob_{i}"]
    with io_utils.atomic_path(path, suffix=".csv") as tmp, open(tmp, "w") as f:
        writer = csv.writer(f)
        writer.writerow([*header, "error"])
        for file, probs, error in results:
            row = [file]
            if probs is None:
                row += [""] * (2 * k)
            else:
                for label, prob in edge.top_k(probs, labels, k):
                    row += [label, f"{prob:.6f}"]
            writer.writerow([*row, error or ""])
