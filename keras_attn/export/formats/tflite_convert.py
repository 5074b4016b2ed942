"""Keras model -> `.tflite` bytes: a softmax appended, builtin ops only, the
four quantizations (fp32, dynamic, fp16, full-integer int8), and the TFLite
metadata MediaPipe needs (`keras_attn.tflite.metadata`)."""

from __future__ import annotations

import os
import tempfile

import keras
import numpy as np

from keras_attn import inference
from keras_attn.export.config import QUANTIZATIONS
from keras_attn.export.formats import normalization
from keras_attn.tflite import metadata as tflite_metadata


def with_softmax(model: keras.Model) -> keras.Model:
    """The model with a softmax after its logits: what the `.tflite` files hold."""
    probabilities = keras.layers.Softmax(name="probabilities", dtype="float32")(
        model.outputs[0]
    )
    return keras.Model(model.inputs, probabilities, name=f"{model.name}_probabilities")


def representative_dataset(images: np.ndarray, steps: int, seed: int = 0):
    """Int8 calibration samples: `steps` training images, one per step, unaugmented.

    The first sample gets one pixel value 0 and one 255, so the calibrated
    input range is exactly 0..255: the quantised input then has scale 1 and
    zero point 0 (uint8), i.e. it takes raw pixels, which is what MediaPipe
    and camera code feed. One value in one image barely moves the other ranges.
    """
    order = np.random.default_rng(seed).permutation(len(images))[:steps]

    def samples():
        for step, i in enumerate(order):
            x = np.asarray(images[i], np.float32)[None].copy()  # (1, h, w, 3)
            if step == 0:
                x.flat[0], x.flat[-1] = 0.0, 255.0
            yield [x]

    return samples


def convert(
    model: keras.Model,
    quantization: str,
    calibration_images: np.ndarray | None = None,
    calibration_steps: int = 100,
    int8_io: str = "uint8",
    seed: int = 0,
) -> bytes:
    """Converts a logits model to `.tflite` bytes (softmax appended), builtin ops only.

    Args:
        model: a Keras model taking (B, h, w, 3) pixels and returning logits.
        quantization: `fp32`, `dynamic` (int8 weights), `fp16` (float16 weights)
            or `int8` (full integer, needs `calibration_images`).
        calibration_images: (N, h, w, 3) uint8 training images for `int8`.
        calibration_steps: how many of them calibrate.
        int8_io: input/output type of the `int8` file.
    """
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "TFLite export needs the TensorFlow backend: run with "
            f"KERAS_BACKEND=tensorflow (now {keras.backend.backend()}); the "
            ".keras file itself is backend-independent."
        )
    builtins = tf.lite.OpsSet.TFLITE_BUILTINS
    options = dict(
        # Keras' LiteRT export adds SELECT_TF_OPS (Flex) and resource variables
        # unless told otherwise.
        target_spec={"supported_ops": [builtins]},
        experimental_enable_resource_variables=False,
    )
    if quantization == "dynamic":
        options["optimizations"] = [tf.lite.Optimize.DEFAULT]
    elif quantization == "fp16":
        options["optimizations"] = [tf.lite.Optimize.DEFAULT]
        options["target_spec"] = {
            "supported_ops": [builtins],
            "supported_types": [tf.float16],
        }
    elif quantization == "int8":
        if calibration_images is None or len(calibration_images) == 0:
            raise ValueError("The int8 export needs calibration images.")
        io_type = {"uint8": tf.uint8, "int8": tf.int8, "float32": tf.float32}[int8_io]
        options.update(
            optimizations=[tf.lite.Optimize.DEFAULT],
            representative_dataset=representative_dataset(
                calibration_images, calibration_steps, seed
            ),
            target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]},
            inference_input_type=io_type,
            inference_output_type=io_type,
        )
    elif quantization != "fp32":
        raise ValueError(
            f"Unknown quantization {quantization!r}; choose one of "
            f"{', '.join(QUANTIZATIONS)}."
        )
    shape = (1, *model.input_shape[1:])
    signature = [tf.TensorSpec(shape, tf.float32, name="image")]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.tflite")
        with_softmax(normalization.widen_normalization(model)).export(
            path, format="litert", input_signature=signature, verbose=False, **options
        )
        with open(path, "rb") as f:
            return f.read()


def add_metadata(
    content: bytes,
    labels: list[str],
    name: str,
    quantization: str,
    resize: str,
) -> bytes:
    """Adds MediaPipe-ready metadata (normalisation, labels, and what the app
    must do with a frame: `images.contract(resize)`) to a converted file."""
    from keras_attn.images import contract

    interpreter = inference.make_interpreter(content)
    height, width = (int(d) for d in interpreter.get_input_details()[0]["shape"][1:3])
    metadata = tflite_metadata.image_classifier_metadata(
        name=name,
        description=(
            f"{name} ({quantization}): image classifier exported by keras-attn; "
            "input raw RGB pixels, output class probabilities. "
            f"{tflite_metadata.resize_tag(resize)}: {contract(resize)}."
        ),
        preprocessing=contract(resize),
        labels=labels,
        input_size=(height, width),
        num_classes=len(labels),
        scores="probabilities",
    )
    labels_file = ("\n".join(labels) + "\n").encode("utf-8")
    return tflite_metadata.populate(
        content, metadata, {tflite_metadata.LABELS_FILE: labels_file}
    )
