"""Scoring an exported file the way apps call it, on the photos a run keeps.

The other checks run on `samples.npz`, images already stored the way
training stored them; they cannot see a model whose preprocessing differs
from what the app does. An app passes a whole frame. This module scores a
`.tflite` file on the run's held-out photos (`runs.Photos`: each photo at its
own aspect ratio) through the two client paths users have:

- `litert`: LiteRT from the photo, prepared by `inference.load_image` with the
  run's `--resize` (what `predict.py` and a LiteRT app following the model
  card do);
- `mediapipe`: MediaPipe Tasks' `ImageClassifier` on the whole frame (it
  stretches the frame to the input), told what the contract says
  (`images.contract()`): nothing for `squash`, a centred square region of
  interest for `crop`, and for `pad` a frame the app letterboxed itself.

Both are compared with the Keras model on the same photos prepared as
training prepared them (`checks.clients`): a client further below Keras than
`checks.MAX_GAP` points plus the sampling noise of that many photos fails
the file.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from keras_attn import images as images_lib
from keras_attn import inference

MEDIAPIPE_HINT = (
    "mediapipe is not installed, so MediaPipe's ImageClassifier was not checked "
    "(pip install mediapipe, or the project's test extra)"
)


def prepared(photos, size: tuple[int, int], resize: str) -> np.ndarray:
    """(N, h, w, 3) uint8: the photos as training stored its images."""
    return np.stack([images_lib.load_image(f, size, resize) for f in photos.files])


def _letterboxed(path: str) -> np.ndarray:
    """A frame padded to a square with the pad colour, at its own resolution."""
    from PIL import Image, ImageOps

    with Image.open(path) as img:
        img = images_lib.to_rgb(ImageOps.exif_transpose(img))
    side = max(img.size)
    return np.asarray(
        ImageOps.pad(img, (side, side), color=images_lib.PAD_COLOUR), np.uint8
    )


def centred_square(width: int, height: int):
    """MediaPipe's normalised region of interest for the centred square."""
    from mediapipe.tasks.python.components.containers.rect import RectF

    side = min(width, height)
    left = (width - side) / 2 / width
    top = (height - side) / 2 / height
    return RectF(left=left, top=top, right=1 - left, bottom=1 - top)


def mediapipe_installed() -> bool:
    """Whether the client check can run MediaPipe (without importing it)."""
    return importlib.util.find_spec("mediapipe") is not None


def mediapipe_top1(content: bytes, labels: list[str], photos, resize: str):
    """MediaPipe `ImageClassifier`'s top-1 class index per photo, following
    the contract of `resize`; None when mediapipe is not installed."""
    if not mediapipe_installed():
        return None
    try:
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision
    except ImportError:
        return None
    index = {label: i for i, label in enumerate(labels)}
    options = vision.ImageClassifierOptions(
        base_options=BaseOptions(model_asset_buffer=content), max_results=1
    )
    classifier = vision.ImageClassifier.create_from_options(options)
    top1 = []
    try:
        for path in photos.files:
            roi = None
            if resize == "pad":
                frame = _letterboxed(path)
            else:
                frame = images_lib.load_image(path)  # the whole frame, upright
                if resize == "crop":
                    height, width = frame.shape[:2]
                    roi = vision.ImageProcessingOptions(
                        region_of_interest=centred_square(width, height)
                    )
            image = mp.Image(
                image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame)
            )
            result = classifier.classify(image, image_processing_options=roi)
            best = result.classifications[0].categories[0]
            top1.append(index.get(best.category_name, -1))
    finally:
        classifier.close()
    return np.array(top1)


def tflite_clients(
    content: bytes, labels: list[str], photos, images: np.ndarray, resize: str
) -> dict:
    """Top-1 class per photo of the two `.tflite` clients: LiteRT on `images`
    (the photos prepared as training did, what `predict.py` passes) and
    MediaPipe's ImageClassifier on the whole frames (None when mediapipe is
    not installed; `MEDIAPIPE_HINT` says so)."""
    clf = inference.TFLiteClassifier(content, labels, num_threads=2)
    return {
        "litert": clf.predict(images).argmax(1),
        "mediapipe": mediapipe_top1(content, labels, photos, resize),
    }
