"""Convolutional Block Attention Module (Woo et al., 2018)."""

import keras
from keras import layers, ops

from keras_attn.layers import specs


@keras.saving.register_keras_serializable(package="keras_attn")
class CBAM(layers.Layer):
    """CBAM: channel attention, then spatial attention.

    Channel attention: the average- and max-pooled (B, 1, 1, C) descriptors
    go through one shared bottleneck MLP (C -> hidden, ReLU, hidden -> C);
    the two results are added and squashed by a sigmoid into channel
    weights. Max pooling adds the most distinctive response of each channel
    to the average that Squeeze-and-Excitation uses. Spatial attention: the
    channel mean and channel max of the reweighted map, concatenated
    (B, H, W, 2), go through a k x k convolution and a sigmoid, giving a map
    (B, H, W, 1) that multiplies the features.

    Args:
        reduction: MLP bottleneck ratio; hidden = max(min_channels, C //
            reduction). Defaults to 16.
        min_channels: smallest bottleneck width. Defaults to 8.
        spatial_kernel: kernel size of the spatial convolution. Defaults to 7.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: a (B, H, W, C) feature map (channels last).
        return_attention: if `True`, return `(outputs, attention)` with the
            (B, H, W, 1) spatial map.

    Example:

    ```python
    outputs = CBAM()(np.random.rand(2, 7, 7, 64).astype("float32"))
    ```

    Reference:
        S. Woo, J. Park, J.-Y. Lee, I. S. Kweon, "CBAM: Convolutional Block
        Attention Module", ECCV 2018.

    NOTE: the spatial convolution has a bias and no BatchNorm, as in the
    paper (the authors' code adds a BatchNorm).
    """

    def __init__(self, reduction=16, min_channels=8, spatial_kernel=7, **kwargs):
        super().__init__(**kwargs)
        for arg, value in (
            ("reduction", reduction),
            ("min_channels", min_channels),
            ("spatial_kernel", spatial_kernel),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"`{arg}` must be a positive integer. Received: {arg}={value}"
                )
        self.reduction = reduction
        self.min_channels = min_channels
        self.spatial_kernel = spatial_kernel

    # Works on any map size (a "same"-padded conv on a map smaller than its
    # kernel sees zeros past the edge, as CBAM's 7x7 kernel does on 7x7 maps).
    min_feature_size = 1

    def build(self, input_shape):
        channels = input_shape[-1]
        hidden = max(self.min_channels, channels // self.reduction)
        self.mlp_reduce = layers.Conv2D(
            hidden, 1, activation="relu", dtype=self.dtype_policy, name="mlp_reduce"
        )
        self.mlp_expand = layers.Conv2D(
            channels, 1, dtype=self.dtype_policy, name="mlp_expand"
        )
        self.spatial_conv = layers.Conv2D(
            1,
            self.spatial_kernel,
            padding="same",
            activation="sigmoid",
            dtype=self.dtype_policy,
            name="spatial_conv",
        )
        self.mlp_reduce.build((None, 1, 1, channels))
        self.mlp_expand.build((None, 1, 1, hidden))
        self.spatial_conv.build((None, None, None, 2))

    def call(self, inputs, return_attention=False):
        average = ops.mean(inputs, axis=(1, 2), keepdims=True)  # (B, 1, 1, C)
        maximum = ops.max(inputs, axis=(1, 2), keepdims=True)  # (B, 1, 1, C)
        channel_weights = ops.sigmoid(
            self.mlp_expand(self.mlp_reduce(average))
            + self.mlp_expand(self.mlp_reduce(maximum))
        )  # (B, 1, 1, C)
        features = inputs * channel_weights  # (B, H, W, C)
        descriptors = ops.concatenate(
            [
                ops.mean(features, axis=-1, keepdims=True),
                ops.max(features, axis=-1, keepdims=True),
            ],
            axis=-1,
        )  # (B, H, W, 2)
        attention = self.spatial_conv(descriptors)  # (B, H, W, 1)
        outputs = features * attention  # (B, H, W, C)
        if return_attention:
            return outputs, attention
        return outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(self, inputs, return_attention=False):
        return specs.reweighted_spec(
            self, inputs, return_attention, specs.spatial_map_shape(inputs)
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "reduction": self.reduction,
                "min_channels": self.min_channels,
                "spatial_kernel": self.spatial_kernel,
            }
        )
        return config
