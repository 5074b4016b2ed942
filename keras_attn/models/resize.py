"""Bilinear resizing inside the model, with no training-mode side effects."""

import keras


@keras.saving.register_keras_serializable(package="keras_attn")
class ResizeImages(keras.layers.Layer):
    """Resizes images (B, h, w, C) to (B, size, size, C), bilinear.

    Why not `keras.layers.Resizing`: it is a preprocessing layer whose `call`
    defaults to `training=True`, and in a functional model called as
    `model(x)` that default becomes the call context of every later layer, so
    BatchNorm would use batch statistics and the attention memory would be
    written at inference (and `model.export` would serve in training mode).
    This layer has no `training` argument; it converts to the TFLite builtin
    RESIZE_BILINEAR (half-pixel centres, as Keras and Pillow use).

    Args:
        size: output side in pixels.

    Example:
        >>> ResizeImages(128)(keras.ops.zeros((2, 64, 64, 3))).shape
        (2, 128, 128, 3)
    """

    def __init__(self, size: int, **kwargs):
        super().__init__(**kwargs)
        self.size = size

    def call(self, images):
        # (B, h, w, C) -> (B, size, size, C)
        return keras.ops.image.resize(
            images, (self.size, self.size), interpolation="bilinear"
        )

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"size": self.size})
        return config
