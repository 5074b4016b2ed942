"""A what-if for the runtime benchmark, not the library's layer:
`UnifiedSpatialAttention` with the int8 ops XNNPACK does not take replaced,
to see whether one delegate partition would be faster."""

from __future__ import annotations

import numpy as np


def whatif_layer_class():
    """`UnifiedSpatialAttention` with the int8 ops XNNPACK does not take
    replaced (a what-if for the benchmark, not the library's layer): the
    neighbourhood branch's 3x3 average pools as a depthwise convolution
    with a kernel of ones times a constant 1/count map (the same numbers),
    and its standard deviation as the variance (no `+ eps`, no sqrt); the
    memory branch's distances squared (no `+ eps`, no sqrt). The
    neighbourhood and memory maps change (variance for standard deviation,
    squared for Euclidean distance): a model with them would be retrained.
    """
    import math

    from keras import ops

    from keras_attn.layers.unified_attention import UnifiedSpatialAttention

    class WhatIfUnifiedAttention(UnifiedSpatialAttention):
        def _box_mean(self, x):
            k, channels = self.neighbourhood_kernel, x.shape[-1]
            height, width = x.shape[1:3]
            rows = [
                min(height, i + k // 2 + 1) - max(0, i - k // 2) for i in range(height)
            ]
            cols = [
                min(width, j + k // 2 + 1) - max(0, j - k // 2) for j in range(width)
            ]
            count = np.outer(rows, cols).astype(np.float32)[None, :, :, None]
            total = ops.depthwise_conv(
                x, ops.ones((k, k, channels, 1)), strides=1, padding="same"
            )
            return total * ops.convert_to_tensor(1.0 / count)

        def _neighbourhood_map(self, inputs):
            features = ops.cast(self.neighbourhood_conv(inputs), "float32")
            mean = self._box_mean(features)
            variance = ops.relu(self._box_mean(features * features) - mean * mean)
            spread = ops.mean(variance, axis=-1, keepdims=True)
            return self.neighbourhood_score(spread)

        def _memory_map(self, inputs, training):
            features = ops.cast(inputs, "float32")
            memory = ops.convert_to_tensor(self.memory_buffer)
            count = ops.convert_to_tensor(self.memory_count)
            squared = ops.relu(
                ops.sum(features * features, axis=-1, keepdims=True)
                + ops.sum(memory * memory, axis=-1)
                - 2.0 * ops.matmul(features, ops.transpose(memory))
            ) / math.sqrt(features.shape[-1])
            valid = ops.cast(
                ops.arange(self.memory_size, dtype="float32") < count, "float32"
            )
            novelty = ops.sum(squared * valid, axis=-1, keepdims=True) / ops.maximum(
                count, 1.0
            )
            logits = self.memory_score(novelty) * ops.cast(
                count > 0, self.compute_dtype
            )
            return ops.sigmoid(logits)

    return WhatIfUnifiedAttention


def whatif_model(model):
    """`model` with its unified attention layer swapped for the what-if one
    (same weights; the other layers shared)."""
    import keras

    from keras_attn.layers.unified_attention import UnifiedSpatialAttention

    whatif = whatif_layer_class()
    swapped = []

    def clone(layer):
        if isinstance(layer, UnifiedSpatialAttention):
            new = whatif.from_config(layer.get_config())
            swapped.append((layer, new))
            return new
        return layer

    clone_model = keras.models.clone_model(model, clone_function=clone)
    for old, new in swapped:
        new.set_weights(old.get_weights())
    return keras.Model(
        clone_model.inputs, clone_model.outputs, name="resnet18_unified_whatif"
    )
