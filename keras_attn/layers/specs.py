"""Symbolic outputs shared by the attention layers.

Every layer here returns `inputs * weights` (the input's shape) and, with
`return_attention=True`, the weights too; only the weights' shape differs
(per channel for SE/ECA, per position for CBAM and the unified module).
"""

import keras


def reweighted_spec(layer, inputs, return_attention, weights_shape):
    """`KerasTensor` outputs of `layer(inputs, return_attention=...)`."""
    outputs = keras.KerasTensor(inputs.shape, dtype=layer.compute_dtype)
    if not return_attention:
        return outputs
    return outputs, keras.KerasTensor(tuple(weights_shape), dtype=layer.compute_dtype)


def channel_weights_shape(inputs):
    """(B, 1, 1, C): one weight per channel (SE, ECA)."""
    return (inputs.shape[0], 1, 1, inputs.shape[-1])


def spatial_map_shape(inputs):
    """(B, H, W, 1): one weight per position (CBAM, unified)."""
    return (*inputs.shape[:-1], 1)
