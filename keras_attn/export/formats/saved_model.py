"""The SavedModel: written with an inference-mode endpoint, reloaded and
compared with Keras before it replaces the old one."""

from __future__ import annotations

import functools
import os
import shutil

import keras
import numpy as np

from keras_attn.export.checks import check
from keras_attn.export.config import FP32_LOGIT_TOLERANCE
from keras_attn.utils import atomic_io


def write_saved_model(model: keras.Model, path: str) -> None:
    """Writes `model` as a SavedModel whose `serving_default` runs inference.

    Not `model.export(format="tf_saved_model")`: that endpoint calls the model
    without `training=False`, so any Keras preprocessing layer in it (their
    `training` defaults to True, e.g. `keras.layers.Resizing`, which our
    classifier therefore does not use) would put every later layer in training
    mode: BatchNorm on batch statistics, the attention memory written on each
    call. `ExportArchive` with an explicit `training=False` rules that out for
    any model the user brings.
    """
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serve",
        functools.partial(model.__call__, training=False),
        input_signature=[
            tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="pixels")
        ],
    )
    archive.write_out(path, verbose=False)


class _Rejected(Exception):
    """A checked artefact failed: leave it unwritten."""


def export_saved_model(
    model: keras.Model, path: str, images: np.ndarray, keras_logits: np.ndarray
) -> dict:
    """Writes and checks the SavedModel at `path` (replaced only if it passes)."""
    try:
        with atomic_io.atomic_dir(path) as tmp:
            write_saved_model(model, tmp)
            serve = _load_serving_fn(tmp)
            logits = _serve(serve, images)
            again = _serve(serve, images[:32])
            diff = np.abs(logits - keras_logits)
            checks = {
                "parity": check(
                    float(diff.max()) <= FP32_LOGIT_TOLERANCE,
                    f"max abs logit difference {diff.max():.3g} "
                    f"(tolerance {FP32_LOGIT_TOLERANCE:g})",
                ),
                "stateless": check(
                    bool(np.array_equal(again, logits[:32])),
                    "same output when run again",
                ),
            }
            failed = [name for name, check in checks.items() if not check["ok"]]
            size = sum(
                os.path.getsize(os.path.join(root, f))
                for root, _, files in os.walk(tmp)
                for f in files
            )
            if failed:
                raise _Rejected
    except _Rejected:
        shutil.rmtree(path, ignore_errors=True)  # no stale SavedModel either
    return {
        "path": os.path.basename(path),
        "status": "failed" if failed else "ok",
        "failed_checks": failed,
        "checks": checks,
        "signature": "serving_default: pixels (B, h, w, 3) float32 0..255 -> logits",
        "size_bytes": size,
        "max_abs_logit_diff": float(diff.max()),
        "mean_abs_logit_diff": float(diff.mean()),
        "top1_agreement": float(np.mean(logits.argmax(1) == keras_logits.argmax(1))),
    }


def _load_serving_fn(path: str):
    """A SavedModel's `serving_default` signature, as a function of an image batch."""
    import tensorflow as tf

    signature = tf.saved_model.load(path).signatures["serving_default"]
    (name,) = signature.structured_input_signature[1].keys()

    def serve(batch: np.ndarray) -> np.ndarray:
        (logits,) = signature(**{name: tf.constant(batch, tf.float32)}).values()
        return logits.numpy()

    return serve


def _serve(serve, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Logits of a serving function for images, in batches of `batch_size`."""
    out = [serve(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
    return np.concatenate(out).astype(np.float32)
