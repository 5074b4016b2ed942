"""The unified spatial attention module (Mandalika), in Keras 3."""

import math

import keras
from keras import layers, ops

from keras_attn.layers import specs

BRANCHES = ("hierarchical", "contextual", "neighbourhood", "memory")

# Added under the square roots of the local variance and of squared distances.
_EPSILON = 1e-6


@keras.saving.register_keras_serializable(package="keras_attn")
class UnifiedSpatialAttention(layers.Layer):
    """Spatial attention that fuses four cues into one map `A` in [0, 1].

    The layer takes a feature map `X` of shape (B, H, W, C) and returns
    `X * A` (or `X * (1 + A)` with `residual=True`), where `A` has shape
    (B, H, W, 1) and is shared by all channels. Each enabled branch gives
    one or two maps of shape (B, H, W, 1); they are concatenated and fused
    by a 3x3 convolution and a sigmoid into `A`.

    - `"hierarchical"` (2 maps): two stride-2 3x3 convolutions (C -> C/r ->
      C/r^2, each with BatchNorm and ReLU) look at the image at 1/2 and 1/4
      resolution; a 1x1 convolution and a sigmoid score each scale, and the
      score is resized back to H x W (bilinear). Coarse scales see objects
      as a whole rather than their texture.
    - `"contextual"` (1 map): a k x k convolution C -> 1 and a sigmoid, the
      relevance score R of the paper's equations (12)-(13).
    - `"neighbourhood"` (1 map): a 3x3 convolution C -> C/r, then the local
      standard deviation over a k x k window, averaged over channels, with a
      learned scale and offset and a sigmoid: high where the neighbourhood
      varies, i.e. at edges and structure rather than flat background.
    - `"memory"` (1 map): a non-trainable ring buffer of the per-image
      descriptors (global average of `X`) of the last `memory_size` training
      images. Each location's feature vector gets the mean Euclidean
      distance to the stored descriptors, divided by sqrt(C), and a learned
      scale and offset and a sigmoid turn it into a novelty map: high where
      the features differ from what the data usually looks like. The buffer
      is written only when `training` is true, after the map is computed (so
      an image is compared with earlier images, as at inference). It is
      read-only at inference and a constant in exported models. An empty
      buffer gives exactly 0.5 everywhere.

    All maths runs in `keras.ops` (TensorFlow, JAX and PyTorch backends)
    with ops that convert to TFLite builtins, int8 included (squares are
    products: TFLite's SQUARE has no int8 kernel). Under mixed
    precision the standard deviation and distances are computed in float32
    and the memory stays float32.

    Args:
        branches: the branches to use, any non-empty subset of
            `("hierarchical", "contextual", "neighbourhood", "memory")` (the
            default is all four); for ablations.
        reduction: channel reduction `r` of the hierarchical and
            neighbourhood convolutions (at least one channel is kept).
            Defaults to 4.
        context_kernel: kernel size of the contextual convolution.
            Defaults to 3.
        neighbourhood_kernel: window of the local standard deviation.
            Defaults to 3.
        memory_size: number `M` of descriptors the memory holds. Defaults
            to 100.
        residual: return `X * (1 + A)` instead of `X * A`, so that the
            layer starts close to the identity. Defaults to `False`.
        channel_gate: first reweight the channels as CBAM does (average-
            and max-pooled descriptors through one shared bottleneck MLP,
            C -> max(8, C/16) -> C, summed, sigmoid), then build the spatial
            map from the gated features and reweight those: `X' * A` with
            `X' = X * g(X)`. Not in the paper; an extension, off by default
            (see the README's results for what it measured). Defaults to
            `False`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: a (B, H, W, C) feature map (channels last). With the
            hierarchical branch, H and W must be static in traced graphs (a
            fixed model input size); eager calls take any size.
        training: BatchNorm mode and whether the memory is written.
        return_attention: if `True`, return `(outputs, attention)` with the
            (B, H, W, 1) map `A`, for visualisation.

    Example:

    ```python
    features = np.random.rand(2, 7, 7, 512).astype("float32")
    layer = UnifiedSpatialAttention(branches=("contextual", "memory"))
    outputs, attention = layer(features, return_attention=True)
    # outputs: (2, 7, 7, 512), attention: (2, 7, 7, 1)
    ```

    Reference:
        D. Mandalika, "A Novel Attention-Based Approach for Image
        Classification Using Pre-trained CNN model".

    NOTE: the hierarchical branch down-samples with stride 2 as the paper's
    text says ("progressively down-sample"); its released code has no
    stride. The paper does not define the temporal memory precisely: the
    ring buffer of image descriptors and the distance-based novelty map are
    our reading of it.
    """

    def __init__(
        self,
        branches=BRANCHES,
        reduction=4,
        context_kernel=3,
        neighbourhood_kernel=3,
        memory_size=100,
        residual=False,
        channel_gate=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(branches, str):
            branches = (branches,)
        branches = tuple(branches)
        if (
            not branches
            or len(set(branches)) != len(branches)
            or not set(branches) <= set(BRANCHES)
        ):
            raise ValueError(
                "`branches` must be a non-empty selection, without repeats, of "
                f"{', '.join(BRANCHES)}. Received: branches={branches}"
            )
        for arg, value in (
            ("reduction", reduction),
            ("context_kernel", context_kernel),
            ("neighbourhood_kernel", neighbourhood_kernel),
            ("memory_size", memory_size),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"`{arg}` must be a positive integer. Received: {arg}={value}"
                )
        self.branches = branches
        self.reduction = reduction
        self.context_kernel = context_kernel
        self.neighbourhood_kernel = neighbourhood_kernel
        self.memory_size = memory_size
        self.residual = residual
        self.channel_gate = bool(channel_gate)

    @property
    def min_feature_size(self) -> int:
        """The smallest map side the layer works on: two stride-2 scales
        (hierarchical) need 4, and no window may exceed the map."""
        sizes = [1]
        if "hierarchical" in self.branches:
            sizes.append(4)
        if "contextual" in self.branches:
            sizes.append(self.context_kernel)
        if "neighbourhood" in self.branches:
            sizes.append(self.neighbourhood_kernel)
        return max(sizes)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(
                "`UnifiedSpatialAttention` expects a (B, H, W, C) feature map "
                f"with a known C. Received: input_shape={input_shape}"
            )
        channels = input_shape[-1]
        reduced = max(1, channels // self.reduction)
        reduced_twice = max(1, channels // self.reduction**2)

        def conv(filters, kernel_size, name, **kwargs):
            return layers.Conv2D(
                filters,
                kernel_size,
                padding="same",
                dtype=self.dtype_policy,
                name=name,
                **kwargs,
            )

        def norm(name):
            return layers.BatchNormalization(dtype=self.dtype_policy, name=name)

        if self.channel_gate:
            hidden = max(8, channels // 16)
            self.gate_reduce = conv(hidden, 1, "gate_reduce", activation="relu")
            self.gate_expand = conv(channels, 1, "gate_expand")
            self.gate_reduce.build((None, 1, 1, channels))
            self.gate_expand.build((None, 1, 1, hidden))
        if "hierarchical" in self.branches:
            self.scale1_conv = conv(
                reduced, 3, "scale1_conv", strides=2, use_bias=False
            )
            self.scale1_norm = norm("scale1_norm")
            self.scale1_score = conv(1, 1, "scale1_score", activation="sigmoid")
            self.scale2_conv = conv(
                reduced_twice, 3, "scale2_conv", strides=2, use_bias=False
            )
            self.scale2_norm = norm("scale2_norm")
            self.scale2_score = conv(1, 1, "scale2_score", activation="sigmoid")
            self.scale1_conv.build((None, None, None, channels))
            self.scale1_norm.build((None, None, None, reduced))
            self.scale1_score.build((None, None, None, reduced))
            self.scale2_conv.build((None, None, None, reduced))
            self.scale2_norm.build((None, None, None, reduced_twice))
            self.scale2_score.build((None, None, None, reduced_twice))
        if "contextual" in self.branches:
            self.context_conv = conv(
                1, self.context_kernel, "context_conv", activation="sigmoid"
            )
            self.context_conv.build((None, None, None, channels))
        if "neighbourhood" in self.branches:
            self.neighbourhood_conv = conv(reduced, 3, "neighbourhood_conv")
            self.neighbourhood_score = conv(
                1,
                1,
                "neighbourhood_score",
                activation="sigmoid",
                kernel_initializer="ones",
            )
            self.neighbourhood_conv.build((None, None, None, channels))
            self.neighbourhood_score.build((None, None, None, 1))
        if "memory" in self.branches:
            self.memory_buffer = self.add_weight(
                shape=(self.memory_size, channels),
                initializer="zeros",
                dtype="float32",
                trainable=False,
                autocast=False,
                name="memory_buffer",
            )
            self.memory_count = self.add_weight(
                shape=(),
                initializer="zeros",
                dtype="float32",
                trainable=False,
                autocast=False,
                name="memory_count",
            )
            self.memory_index = self.add_weight(
                shape=(),
                initializer="zeros",
                dtype="float32",
                trainable=False,
                autocast=False,
                name="memory_index",
            )
            self.memory_score = conv(1, 1, "memory_score", kernel_initializer="ones")
            self.memory_score.build((None, None, None, 1))
        num_maps = len(self.branches) + ("hierarchical" in self.branches)
        self.fusion_conv = conv(1, 3, "fusion_conv", activation="sigmoid")
        self.fusion_conv.build((None, None, None, num_maps))

    def call(self, inputs, training=None, return_attention=False):
        if self.channel_gate:
            average = ops.mean(inputs, axis=(1, 2), keepdims=True)  # (B, 1, 1, C)
            maximum = ops.max(inputs, axis=(1, 2), keepdims=True)  # (B, 1, 1, C)
            weights = ops.sigmoid(
                self.gate_expand(self.gate_reduce(average))
                + self.gate_expand(self.gate_reduce(maximum))
            )  # (B, 1, 1, C)
            inputs = inputs * weights  # (B, H, W, C)
        maps = []  # each (B, H, W, 1)
        if "hierarchical" in self.branches:
            maps.extend(self._hierarchical_maps(inputs, training))
        if "contextual" in self.branches:
            maps.append(self.context_conv(inputs))
        if "neighbourhood" in self.branches:
            maps.append(self._neighbourhood_map(inputs))
        if "memory" in self.branches:
            maps.append(self._memory_map(inputs, training))
        attention = self.fusion_conv(ops.concatenate(maps, axis=-1))  # (B, H, W, 1)
        gate = 1.0 + attention if self.residual else attention
        outputs = inputs * gate  # (B, H, W, C)
        if return_attention:
            return outputs, attention
        return outputs

    def _hierarchical_maps(self, inputs, training):
        size = inputs.shape[1:3]
        if None in size:
            # Only in TensorFlow graphs: `ops.image.resize` takes static sizes.
            raise ValueError(
                "The hierarchical branch needs the feature map's height and "
                "width when traced: give the model a fixed input size. "
                f"Received: inputs.shape={inputs.shape}"
            )
        features = inputs  # (B, H, W, C)
        maps = []
        for conv, norm, score in (
            (self.scale1_conv, self.scale1_norm, self.scale1_score),
            (self.scale2_conv, self.scale2_norm, self.scale2_score),
        ):
            features = ops.relu(norm(conv(features), training=training))
            scale_map = score(features)  # (B, H / 2^s, W / 2^s, 1)
            scale_map = ops.image.resize(scale_map, size, interpolation="bilinear")
            maps.append(ops.cast(scale_map, self.compute_dtype))  # (B, H, W, 1)
        return maps

    def _neighbourhood_map(self, inputs):
        features = ops.cast(
            self.neighbourhood_conv(inputs), "float32"
        )  # (B, H, W, C/r)
        window = self.neighbourhood_kernel
        mean = ops.average_pool(features, window, strides=1, padding="same")
        mean_of_squares = ops.average_pool(
            features * features, window, strides=1, padding="same"
        )
        variance = ops.maximum(mean_of_squares - mean * mean, 0.0)
        std = ops.mean(ops.sqrt(variance + _EPSILON), axis=-1, keepdims=True)
        return self.neighbourhood_score(std)  # (B, H, W, 1)

    def _memory_map(self, inputs, training):
        features = ops.cast(inputs, "float32")  # (B, H, W, C)
        memory = ops.convert_to_tensor(self.memory_buffer)  # (M, C)
        count = ops.convert_to_tensor(self.memory_count)  # ()
        if training:
            # A snapshot: on PyTorch the update below writes in place.
            memory, count = ops.copy(memory), ops.copy(count)
        squared_distances = (
            ops.sum(features * features, axis=-1, keepdims=True)
            + ops.sum(memory * memory, axis=-1)
            - 2.0 * ops.matmul(features, ops.transpose(memory))
        )  # (B, H, W, M)
        distances = ops.sqrt(ops.maximum(squared_distances, 0.0) + _EPSILON)
        distances = distances / math.sqrt(features.shape[-1])
        valid = ops.cast(
            ops.arange(self.memory_size, dtype="float32") < count, "float32"
        )
        novelty = ops.sum(distances * valid, axis=-1, keepdims=True) / ops.maximum(
            count, 1.0
        )  # (B, H, W, 1)
        logits = self.memory_score(novelty) * ops.cast(count > 0, self.compute_dtype)
        if training:
            self._write_memory(ops.stop_gradient(ops.mean(features, axis=(1, 2))))
        return ops.sigmoid(logits)

    def _write_memory(self, descriptors):
        # Ring buffer: image i of the batch goes to slot (index + i) % M; when
        # the batch is larger than M, the last image written to a slot wins.
        batch_size = ops.shape(descriptors)[0]
        order = ops.arange(batch_size, dtype="int32")  # (B,)
        index = ops.cast(ops.convert_to_tensor(self.memory_index), "int32")
        slots = ops.mod(index + order, self.memory_size)  # (B,)
        claims = (
            ops.one_hot(slots, self.memory_size, dtype="float32")
            * ops.cast(order + 1, "float32")[:, None]
        )  # (B, M)
        writer = ops.argmax(claims, axis=0)  # (M,)
        written = ops.max(claims, axis=0) > 0  # (M,)
        self.memory_buffer.assign(
            ops.where(
                written[:, None],
                ops.take(descriptors, writer, axis=0),
                ops.convert_to_tensor(self.memory_buffer),
            )
        )
        batch_size = ops.cast(batch_size, "float32")
        self.memory_index.assign(
            ops.mod(
                ops.convert_to_tensor(self.memory_index) + batch_size, self.memory_size
            )
        )
        self.memory_count.assign(
            ops.minimum(
                ops.convert_to_tensor(self.memory_count) + batch_size, self.memory_size
            )
        )

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(self, inputs, training=None, return_attention=False):
        return specs.reweighted_spec(
            self, inputs, return_attention, specs.spatial_map_shape(inputs)
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "branches": self.branches,
                "reduction": self.reduction,
                "context_kernel": self.context_kernel,
                "neighbourhood_kernel": self.neighbourhood_kernel,
                "memory_size": self.memory_size,
                "residual": self.residual,
                "channel_gate": self.channel_gate,
            }
        )
        return config
