"""Squeeze-and-Excitation channel attention (Hu et al., 2018)."""

import keras
from keras import layers, ops

from keras_attn.layers import specs


@keras.saving.register_keras_serializable(package="keras_attn")
class SqueezeExcite(layers.Layer):
    """Squeeze-and-Excitation: reweights channels by their global context.

    Global average pooling squeezes each channel to one number; a two-layer
    bottleneck (C -> hidden, ReLU, hidden -> C, sigmoid) turns these into
    channel weights `w` of shape (B, 1, 1, C), and the output is `X * w`.
    The bottleneck lets the layer model interactions between channels at a
    small cost.

    Args:
        reduction: bottleneck ratio; hidden = max(min_channels, C //
            reduction). Defaults to 16.
        min_channels: smallest bottleneck width. Defaults to 8.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: a (B, H, W, C) feature map (channels last).
        return_attention: if `True`, return `(outputs, weights)` with the
            (B, 1, 1, C) channel weights.

    Example:

    ```python
    outputs = SqueezeExcite()(np.random.rand(2, 7, 7, 64).astype("float32"))
    ```

    Reference:
        J. Hu, L. Shen, G. Sun, "Squeeze-and-Excitation Networks", CVPR 2018.
    """

    def __init__(self, reduction=16, min_channels=8, **kwargs):
        super().__init__(**kwargs)
        for arg, value in (("reduction", reduction), ("min_channels", min_channels)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"`{arg}` must be a positive integer. Received: {arg}={value}"
                )
        self.reduction = reduction
        self.min_channels = min_channels

    # Works on any map size: it pools the whole map.
    min_feature_size = 1

    def build(self, input_shape):
        channels = input_shape[-1]
        hidden = max(self.min_channels, channels // self.reduction)
        self.reduce = layers.Conv2D(
            hidden, 1, activation="relu", dtype=self.dtype_policy, name="reduce"
        )
        self.expand = layers.Conv2D(
            channels, 1, activation="sigmoid", dtype=self.dtype_policy, name="expand"
        )
        self.reduce.build((None, 1, 1, channels))
        self.expand.build((None, 1, 1, hidden))

    def call(self, inputs, return_attention=False):
        pooled = ops.mean(inputs, axis=(1, 2), keepdims=True)  # (B, 1, 1, C)
        weights = self.expand(self.reduce(pooled))  # (B, 1, 1, C)
        outputs = inputs * weights  # (B, H, W, C)
        if return_attention:
            return outputs, weights
        return outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(self, inputs, return_attention=False):
        return specs.reweighted_spec(
            self, inputs, return_attention, specs.channel_weights_shape(inputs)
        )

    def get_config(self):
        config = super().get_config()
        config.update({"reduction": self.reduction, "min_channels": self.min_channels})
        return config
