"""The preprocessing as the `.tflite` and `.onnx` converters see it: the
`Normalization` layer's per-channel mean and variance tiled across the
image's width (`widen_normalization`).

Why: LiteRT (XNNPACK) and ONNX Runtime broadcast a 3-value constant one
pixel at a time. A ResNet-18's int8 file with the ImageNet normalisation
inside took 1.09x (LiteRT) and 1.25x (ONNX Runtime) the time of the same
network without it at 128 px; with the constants tiled to (1, 1, w, 3),
1.01x and 1.005x (interleaved, 1 thread).
"""

from __future__ import annotations

import keras
import numpy as np


def widen_normalization(model: keras.Model) -> keras.Model:
    """The model with its per-channel `Normalization` layers replaced by ones
    whose mean and variance are tiled across the image's width: the same
    values meet the same pixels, so the outputs are the same to the bit.

    The saved `.keras` model keeps its layer; only the converted file
    changes. Returns `model` itself when there is nothing to widen.
    """

    def widened(layer):
        if not isinstance(layer, keras.layers.Normalization) or layer.invert:
            return layer
        shape = tuple(layer.input.shape)  # (B, h, w, c)
        if len(shape) != 4 or not shape[2] or tuple(layer.axis) not in ((-1,), (3,)):
            return layer
        width, channels = shape[2], shape[3]
        mean, variance = (
            np.broadcast_to(
                np.reshape(keras.ops.convert_to_numpy(v), (1, channels)),
                (width, channels),
            )
            for v in (layer.mean, layer.variance)
        )
        return keras.layers.Normalization(
            axis=(2, 3), mean=mean, variance=variance, name=layer.name
        )

    if not any(isinstance(layer, keras.layers.Normalization) for layer in model.layers):
        return model
    clone = keras.models.clone_model(model, clone_function=widened)
    return keras.Model(clone.inputs, clone.outputs, name=model.name)
