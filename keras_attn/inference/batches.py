"""Decoding files in threads ahead of the model, and classifying them a batch
at a time, in order and in bounded memory.

`classify(classifier, files)` decodes the files in a pool of threads
(Pillow releases the GIL while it decodes and resizes), a bounded window
ahead of the model, as training stored images (`runtime.load_image`), and
yields the results a batch at a time: memory holds a few batches of small
images, whatever the number of files.
"""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
import os
from collections.abc import Iterator

import numpy as np

from keras_attn import images as images_lib
from keras_attn.inference import runtime

# Decoding threads: Pillow decodes and resizes without the GIL, so a few
# threads keep up with the model on a small CPU and do not crowd a big one.
DEFAULT_WORKERS = min(8, (os.cpu_count() or 1) + 1)


def check_positive(flag: str, value: int) -> None:
    """`--batch_size=0` and the like: a one-line error instead of a crash or
    a run that silently classifies nothing."""
    if value < 1:
        raise ValueError(f"--{flag} must be >= 1. Received: --{flag}={value}")


def _decode(path: str, size, resize: str):
    try:
        return runtime.load_image(path, size, resize), None
    except (FileNotFoundError, ValueError) as e:
        return None, str(e)


def decode_ahead(
    files: list[str], size, resize: str, workers: int, ahead: int
) -> Iterator[tuple[str, np.ndarray | None, str | None]]:
    """Yields `(file, image, None)` or `(file, None, error)` in order, decoding
    in `workers` threads at most `ahead` files before the consumer."""
    pool = concurrent.futures.ThreadPoolExecutor(workers)
    pending: collections.deque = collections.deque()
    queue = iter(files)

    def submit() -> None:
        path = next(queue, None)
        if path is not None:
            pending.append((path, pool.submit(_decode, path, size, resize)))

    try:
        for _ in range(max(1, ahead)):
            submit()
        while pending:
            path, future = pending.popleft()
            submit()
            image, error = future.result()
            yield path, image, error
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def classify(
    classifier,
    files: list[str],
    resize: str = images_lib.DEFAULT_RESIZE,
    batch_size: int = 32,
    workers: int | None = None,
) -> Iterator[list[tuple[str, np.ndarray | None, str | None]]]:
    """Yields, a batch of `batch_size` files at a time and in order, lists of
    `(file, probabilities (K,), None)` or `(file, None, error)`.

    A batch is one model call for Keras (the exported `.tflite` files take
    one image, and run image by image) and one write for the caller.
    """
    check_positive("batch_size", batch_size)
    workers = workers or DEFAULT_WORKERS
    check_positive("workers", workers)
    stream = decode_ahead(
        files, classifier.input_size, resize, workers, 2 * batch_size + workers
    )
    while batch := list(itertools.islice(stream, batch_size)):
        images = [image for _, image, error in batch if error is None]
        probs = iter(classifier.predict(np.stack(images)) if images else [])
        yield [
            (path, None, error) if error else (path, next(probs), None)
            for path, _, error in batch
        ]
