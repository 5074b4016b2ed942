"""Efficient Channel Attention (Wang et al., 2020)."""

import math

import keras
from keras import layers, ops

from keras_attn.layers import specs


def adaptive_kernel_size(channels, gamma=2, beta=1):
    """ECA's kernel size: the odd integer nearest above |(log2 C + beta) / gamma|."""
    size = int(abs((math.log2(channels) + beta) / gamma))
    return size if size % 2 else size + 1


@keras.saving.register_keras_serializable(package="keras_attn")
class ECA(layers.Layer):
    """Efficient Channel Attention: channel weights from a 1D convolution.

    Global average pooling gives one number per channel (B, C); a 1D
    convolution of kernel size k across the channel axis (no bias) and a
    sigmoid turn it into channel weights `w` of shape (B, 1, 1, C), and the
    output is `X * w`. Unlike Squeeze-and-Excitation there is no
    dimensionality reduction: each channel interacts only with its k
    neighbours, with k growing with log2(C), for a handful of parameters.

    The 1D convolution is a `Conv1D` on a (B, C, 1) tensor, which converts to
    TFLite builtins (EXPAND_DIMS, CONV_2D, ...).

    Args:
        kernel_size: kernel size k; `None` (default) picks it from the
            number of channels C with the paper's rule
            `|(log2(C) + beta) / gamma|`, rounded up to an odd number.
        gamma: slope of the adaptive rule. Defaults to 2.
        beta: offset of the adaptive rule. Defaults to 1.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: a (B, H, W, C) feature map (channels last).
        return_attention: if `True`, return `(outputs, weights)` with the
            (B, 1, 1, C) channel weights.

    Example:

    ```python
    outputs = ECA()(np.random.rand(2, 7, 7, 512).astype("float32"))  # k = 5
    ```

    Reference:
        Q. Wang, B. Wu, P. Zhu, P. Li, W. Zuo, Q. Hu, "ECA-Net: Efficient
        Channel Attention for Deep Convolutional Neural Networks", CVPR 2020.
    """

    def __init__(self, kernel_size=None, gamma=2, beta=1, **kwargs):
        super().__init__(**kwargs)
        if kernel_size is not None and (
            not isinstance(kernel_size, int) or kernel_size < 1
        ):
            raise ValueError(
                "`kernel_size` must be a positive integer or None. "
                f"Received: kernel_size={kernel_size}"
            )
        if gamma <= 0:
            raise ValueError(f"`gamma` must be positive. Received: gamma={gamma}")
        self.kernel_size = kernel_size
        self.gamma = gamma
        self.beta = beta

    # Works on any map size: it pools the whole map.
    min_feature_size = 1

    def build(self, input_shape):
        channels = input_shape[-1]
        kernel_size = self.kernel_size or adaptive_kernel_size(
            channels, self.gamma, self.beta
        )
        self.conv = layers.Conv1D(
            1,
            kernel_size,
            padding="same",
            use_bias=False,
            activation="sigmoid",
            dtype=self.dtype_policy,
            name="conv",
        )
        self.conv.build((None, channels, 1))

    def call(self, inputs, return_attention=False):
        channels = inputs.shape[-1]
        pooled = ops.mean(inputs, axis=(1, 2))  # (B, C)
        weights = self.conv(ops.expand_dims(pooled, -1))  # (B, C, 1)
        weights = ops.reshape(weights, (-1, 1, 1, channels))  # (B, 1, 1, C)
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
        config.update(
            {"kernel_size": self.kernel_size, "gamma": self.gamma, "beta": self.beta}
        )
        return config
