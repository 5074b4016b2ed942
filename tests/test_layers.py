"""Tests of the attention layers: NumPy references, shapes, gradients, saving."""

import inspect

import keras
import numpy as np
import pytest
from conftest import gradients_of

from keras_attn.layers import (
    ATTENTION_NAMES,
    BRANCHES,
    CBAM,
    ECA,
    SqueezeExcite,
    UnifiedSpatialAttention,
    get_attention,
)
from keras_attn.layers.eca import adaptive_kernel_size

LAYERS = {
    "unified": UnifiedSpatialAttention,
    "se": SqueezeExcite,
    "cbam": CBAM,
    "eca": ECA,
}
# Non-default arguments, so that the config round trip means something.
CUSTOM_ARGS = {
    "unified": dict(
        branches=("memory", "neighbourhood", "hierarchical"),
        reduction=2,
        context_kernel=5,
        neighbourhood_kernel=5,
        memory_size=7,
        residual=True,
        channel_gate=True,
    ),
    "se": dict(reduction=4, min_channels=2),
    "cbam": dict(reduction=4, min_channels=2, spatial_kernel=3),
    "eca": dict(kernel_size=5, gamma=3, beta=2),
}
EPS = 1e-6  # the layer's epsilon under square roots


def features(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def randomise(layer, seed=1):
    """Random weights everywhere (positive variances), memory left as is."""
    rng = np.random.default_rng(seed)
    for weight in layer.weights:
        if "memory" in weight.path and "score" not in weight.path:
            continue
        if "variance" in weight.path:
            value = rng.uniform(0.5, 1.5, size=weight.shape)
        else:
            value = rng.normal(scale=0.5, size=weight.shape)
        weight.assign(value.astype("float32"))


# --- NumPy references -------------------------------------------------------


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def same_padding(size, kernel, stride):
    """TensorFlow's "same" padding: output size and padding before."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


def conv2d(x, kernel, bias=None, stride=1):
    """ "same" 2D convolution, x (B, H, W, Ci), kernel (kh, kw, Ci, Co)."""
    kh, kw = kernel.shape[:2]
    out_h, top, bottom = same_padding(x.shape[1], kh, stride)
    out_w, left, right = same_padding(x.shape[2], kw, stride)
    padded = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    y = np.zeros((x.shape[0], out_h, out_w, kernel.shape[-1]))
    for i in range(kh):
        for j in range(kw):
            patch = padded[
                :, i : i + stride * out_h : stride, j : j + stride * out_w : stride
            ]
            y += patch @ kernel[i, j]
    return y if bias is None else y + bias


def conv1d(x, kernel):
    """ "same" 1D convolution without bias, x (B, L, Ci), kernel (k, Ci, Co)."""
    return conv2d(x[:, None], kernel[None])[:, 0]


def average_pool(x, k):
    """Stride 1, "same", padded positions not counted (as TF and TFLite)."""
    _, top, bottom = same_padding(x.shape[1], k, 1)
    _, left, right = same_padding(x.shape[2], k, 1)
    pads = ((0, 0), (top, bottom), (left, right), (0, 0))
    padded, inside = np.pad(x, pads), np.pad(np.ones_like(x[..., :1]), pads)
    total, count = 0.0, 0.0
    for i in range(k):
        for j in range(k):
            total = total + padded[:, i : i + x.shape[1], j : j + x.shape[2]]
            count = count + inside[:, i : i + x.shape[1], j : j + x.shape[2]]
    return total / count


def resize_bilinear(x, height, width):
    """Half-pixel-centre bilinear resize, edges clamped (tf.image.resize)."""

    def axis_weights(in_size, out_size):
        coords = (np.arange(out_size) + 0.5) * in_size / out_size - 0.5
        coords = np.clip(coords, 0, in_size - 1)
        low = np.floor(coords).astype(int)
        high = np.minimum(low + 1, in_size - 1)
        return low, high, coords - low

    r0, r1, rw = axis_weights(x.shape[1], height)
    c0, c1, cw = axis_weights(x.shape[2], width)
    rows = x[:, r0] * (1 - rw)[:, None, None] + x[:, r1] * rw[:, None, None]
    return rows[:, :, c0] * (1 - cw)[:, None] + rows[:, :, c1] * cw[:, None]


def numpy(x):
    """A variable or tensor as a float64 array."""
    if isinstance(x, keras.Variable):
        x = x.numpy()
    return keras.ops.convert_to_numpy(x).astype("float64")


def conv(x, layer, stride=1):
    bias = numpy(layer.bias) if layer.use_bias else None
    return conv2d(x, numpy(layer.kernel), bias, stride)


def batch_norm(x, layer):
    scale = numpy(layer.gamma) / np.sqrt(numpy(layer.moving_variance) + layer.epsilon)
    return (x - numpy(layer.moving_mean)) * scale + numpy(layer.beta)


def hierarchical_maps(layer, x):
    maps, y = [], x
    for i in (1, 2):
        y = conv(y, getattr(layer, f"scale{i}_conv"), stride=2)
        y = np.maximum(batch_norm(y, getattr(layer, f"scale{i}_norm")), 0)
        score = sigmoid(conv(y, getattr(layer, f"scale{i}_score")))
        maps.append(resize_bilinear(score, x.shape[1], x.shape[2]))
    return maps


def neighbourhood_map(layer, x):
    y = conv(x, layer.neighbourhood_conv)
    k = layer.neighbourhood_kernel
    variance = np.maximum(average_pool(y * y, k) - average_pool(y, k) ** 2, 0)
    std = np.sqrt(variance + EPS).mean(-1, keepdims=True)
    return sigmoid(conv(std, layer.neighbourhood_score))


def memory_map(layer, x):
    count = int(numpy(layer.memory_count))
    if count == 0:
        return np.full(x.shape[:-1] + (1,), 0.5)
    memory = numpy(layer.memory_buffer)[:count]  # the valid slots
    differences = x[..., None, :] - memory  # (B, H, W, count, C)
    distances = np.sqrt((differences**2).sum(-1) + EPS) / np.sqrt(x.shape[-1])
    novelty = distances.mean(-1, keepdims=True)
    return sigmoid(conv(novelty, layer.memory_score))


def channel_gated(layer, x):
    """The features the unified layer's branches see: `x`, or with
    `channel_gate`, `x` times CBAM's channel weights."""
    if not layer.channel_gate:
        return x
    logits = sum(
        mlp(pool(x, axis=(1, 2), keepdims=True), layer.gate_reduce, layer.gate_expand)
        for pool in (np.mean, np.max)
    )
    return x * sigmoid(logits)


def unified_attention(layer, x):
    """The unified layer's attention map A, in NumPy, at inference."""
    x = channel_gated(layer, x)
    maps = []
    if "hierarchical" in layer.branches:
        maps += hierarchical_maps(layer, x)
    if "contextual" in layer.branches:
        maps.append(sigmoid(conv(x, layer.context_conv)))
    if "neighbourhood" in layer.branches:
        maps.append(neighbourhood_map(layer, x))
    if "memory" in layer.branches:
        maps.append(memory_map(layer, x))
    return sigmoid(conv(np.concatenate(maps, -1), layer.fusion_conv))


def ring_buffer(batches, size, channels):
    """The memory expected after writing the descriptors of `batches`."""
    buffer, index, count = np.zeros((size, channels)), 0, 0
    for batch in batches:
        for descriptor in batch.mean((1, 2)):
            buffer[index] = descriptor
            index, count = (index + 1) % size, min(count + 1, size)
    return buffer, index, count


def mlp(x, reduce, expand):
    return conv(np.maximum(conv(x, reduce), 0), expand)


def peer_attention(layer, x):
    """SE and ECA channel weights, CBAM spatial map, in NumPy."""
    if isinstance(layer, SqueezeExcite):
        return sigmoid(mlp(x.mean((1, 2), keepdims=True), layer.reduce, layer.expand))
    if isinstance(layer, ECA):
        pooled = x.mean((1, 2))[..., None]  # (B, C, 1)
        weights = sigmoid(conv1d(pooled, numpy(layer.conv.kernel)))
        return weights[:, None, None, :, 0]
    logits = sum(
        mlp(pool(x, axis=(1, 2), keepdims=True), layer.mlp_reduce, layer.mlp_expand)
        for pool in (np.mean, np.max)
    )
    y = x * sigmoid(logits)
    pooled = np.concatenate([y.mean(-1, keepdims=True), y.max(-1, keepdims=True)], -1)
    return sigmoid(conv(pooled, layer.spatial_conv))


# --- Tests -------------------------------------------------------------------


@pytest.mark.parametrize(
    "branches, kwargs",
    [
        (("hierarchical",), {}),
        (("contextual",), dict(context_kernel=5)),
        (("neighbourhood",), {}),
        (("neighbourhood",), dict(neighbourhood_kernel=5, reduction=2)),
        (BRANCHES[:3], dict(residual=True)),
        (BRANCHES[:3], dict(channel_gate=True)),
    ],
)
def test_unified_branches_match_numpy(branches, kwargs):
    layer = UnifiedSpatialAttention(branches=branches, **kwargs)
    x = features(2, 7, 6, 16)  # odd sizes: asymmetric "same" padding
    layer.build(x.shape)
    randomise(layer)
    outputs, attention = layer(x, return_attention=True)
    expected = unified_attention(layer, x)
    np.testing.assert_allclose(attention, expected, atol=1e-5)
    gate = 1 + expected if layer.residual else expected
    np.testing.assert_allclose(outputs, channel_gated(layer, x) * gate, atol=1e-5)


def test_memory_branch_matches_numpy():
    layer = UnifiedSpatialAttention(branches=("memory",), memory_size=3)
    batches = [features(2, 5, 4, 16, seed=s) + s for s in (1, 2, 3)]
    layer.build(batches[0].shape)
    randomise(layer)
    x = features(2, 5, 4, 16, seed=9)
    for seen in (1, 2, 3):  # memory partly filled, full, wrapped around
        layer(batches[seen - 1], training=True)
        buffer, index, count = ring_buffer(batches[:seen], 3, 16)
        np.testing.assert_allclose(numpy(layer.memory_buffer), buffer, atol=1e-6)
        assert (float(layer.memory_index), float(layer.memory_count)) == (index, count)
        _, attention = layer(x, return_attention=True)
        np.testing.assert_allclose(attention, unified_attention(layer, x), atol=1e-5)


@pytest.mark.parametrize("batch_sizes", [(2, 2, 2), (5, 2), (1, 4, 3), (7,)])
def test_memory_ring_buffer_wraps(batch_sizes):
    layer = UnifiedSpatialAttention(branches=("memory",), memory_size=3)
    batches = [features(b, 2, 2, 4, seed=i) for i, b in enumerate(batch_sizes)]
    for batch in batches:
        layer(batch, training=True)
    buffer, index, count = ring_buffer(batches, 3, 4)
    assert layer.memory_buffer.shape == (3, 4)
    np.testing.assert_allclose(numpy(layer.memory_buffer), buffer, atol=1e-6)
    assert (float(layer.memory_index), float(layer.memory_count)) == (index, count)


def test_memory_written_in_training_only_and_neutral_when_empty():
    layer = UnifiedSpatialAttention(branches=("memory",), memory_size=4)
    x = features(2, 3, 3, 8)
    layer(x)
    layer(x, training=False)
    assert float(layer.memory_count) == 0
    np.testing.assert_array_equal(numpy(layer.memory_buffer), np.zeros((4, 8)))
    # Empty memory: exactly 0.5, also in the training call that fills it.
    np.testing.assert_array_equal(layer._memory_map(x, training=True), 0.5)
    assert float(layer.memory_count) == 2
    assert np.abs(np.asarray(layer._memory_map(x, training=False)) - 0.5).max() > 0
    before = numpy(layer.memory_buffer)
    layer(features(2, 3, 3, 8, seed=1), training=False)
    np.testing.assert_array_equal(numpy(layer.memory_buffer), before)
    assert float(layer.memory_count) == 2


def test_memory_written_by_fit():
    inputs = keras.Input((4, 4, 8))
    layer = UnifiedSpatialAttention(memory_size=5)
    model = keras.Model(inputs, layer(inputs))
    model.compile(optimizer="sgd", loss="mse")
    x = features(6, 4, 4, 8)
    model.fit(x, x, batch_size=3, epochs=1, shuffle=False, verbose=0)
    buffer, index, count = ring_buffer([x[:3], x[3:]], 5, 8)
    np.testing.assert_allclose(numpy(layer.memory_buffer), buffer, atol=1e-6)
    assert (float(layer.memory_index), float(layer.memory_count)) == (index, count)
    model.predict(x, verbose=0)
    np.testing.assert_allclose(numpy(layer.memory_buffer), buffer, atol=1e-6)


@pytest.mark.parametrize("name", ["se", "cbam", "eca"])
def test_peers_match_numpy(name):
    layer = LAYERS[name]()
    x = features(2, 5, 6, 32)
    layer.build(x.shape)
    randomise(layer)
    outputs, attention = layer(x, return_attention=True)
    expected = peer_attention(layer, x)
    np.testing.assert_allclose(attention, expected, atol=1e-5)
    if name == "cbam":
        channel_weighted = x * sigmoid(
            sum(
                mlp(
                    p(x, axis=(1, 2), keepdims=True), layer.mlp_reduce, layer.mlp_expand
                )
                for p in (np.mean, np.max)
            )
        )
        np.testing.assert_allclose(outputs, channel_weighted * expected, atol=1e-5)
    else:
        np.testing.assert_allclose(outputs, x * expected, atol=1e-5)


def test_eca_adaptive_kernel_size():
    assert [adaptive_kernel_size(c) for c in (16, 64, 256, 512)] == [3, 3, 5, 5]
    layer = ECA()
    layer.build((None, 4, 4, 512))
    assert layer.conv.kernel.shape == (5, 1, 1)


@pytest.mark.parametrize("size", [1, 2, 4, 7])
@pytest.mark.parametrize("name", list(LAYERS))
def test_output_shapes(name, size):
    map_shape = (size, size, 1) if name in ("unified", "cbam") else (1, 1, 16)
    inputs = keras.Input((size, size, 16))
    outputs, attention = LAYERS[name]()(inputs, return_attention=True)
    assert outputs.shape == (None, size, size, 16)
    assert attention.shape == (None, *map_shape)
    outputs, attention = LAYERS[name]()(
        features(2, size, size, 16), return_attention=True
    )
    assert outputs.shape == (2, size, size, 16)
    assert attention.shape == (2, *map_shape)


def test_unified_takes_any_spatial_size():
    layer = UnifiedSpatialAttention()
    for height, width in ((3, 8), (9, 1)):
        outputs = layer(features(2, height, width, 16))
        assert outputs.shape == (2, height, width, 16)
    inputs = keras.Input((None, None, 16))
    model = keras.Model(inputs, layer(inputs))
    assert model.predict(features(2, 5, 3, 16), verbose=0).shape == (2, 5, 3, 16)
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    without_resize = UnifiedSpatialAttention(branches=BRANCHES[1:])
    graph = tf.function(without_resize, reduce_retracing=True)
    for height, width in ((3, 8), (9, 1), (4, 4)):
        assert graph(features(2, height, width, 16)).shape == (2, height, width, 16)
    with pytest.raises(ValueError, match="fixed input size"):
        tf.function(layer).get_concrete_function(tf.TensorSpec((2, None, None, 16)))


@pytest.mark.parametrize("name", [*LAYERS, "unified+cg"])
def test_every_weight_gets_a_gradient(name):
    layer = (
        UnifiedSpatialAttention(channel_gate=True)
        if name == "unified+cg"
        else LAYERS[name]()
    )
    x = features(2, 8, 8, 16)
    layer(x, training=True)  # builds, and fills the memory
    gradients = gradients_of(layer, x, features(2, 8, 8, 16, seed=1))
    assert len(layer.trainable_weights) > 0
    for weight, gradient in zip(layer.trainable_weights, gradients, strict=True):
        assert gradient is not None, weight.path
        assert np.abs(gradient).max() > 0, weight.path


@pytest.mark.parametrize("name", list(LAYERS))
def test_config_round_trip(name):
    cls = LAYERS[name]
    layer = cls(**CUSTOM_ARGS[name], name="attn")
    config = layer.get_config()
    arguments = set(inspect.signature(cls.__init__).parameters) - {"self", "kwargs"}
    base = set(keras.layers.Layer(name="x").get_config())
    assert set(config) - base == arguments
    restored = cls.from_config(config)
    assert restored.get_config() == config
    assert all(getattr(restored, arg) == getattr(layer, arg) for arg in arguments)


@pytest.mark.parametrize("name", list(LAYERS))
def test_save_and_load(name, tmp_path):
    inputs = keras.Input((4, 4, 16))
    layer = LAYERS[name](**CUSTOM_ARGS[name], name="attn")
    model = keras.Model(inputs, layer(inputs))
    randomise(layer)
    for seed in (1, 2):  # fills the memory and moves BatchNorm statistics
        model(features(3, 4, 4, 16, seed=seed), training=True)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = features(2, 4, 4, 16, seed=3)
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0)
    )
    for original, restored in zip(model.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(numpy(original), numpy(restored))
    if name == "unified":
        assert float(loaded.get_layer("attn").memory_count) == 6


@pytest.fixture(params=["mixed_float16", "mixed_bfloat16"])
def mixed_policy(request):
    keras.mixed_precision.set_global_policy(request.param)
    try:
        yield keras.mixed_precision.global_policy().compute_dtype
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_mixed_precision(mixed_policy):
    x = features(2, 8, 8, 16)
    for cls in LAYERS.values():
        layer = cls()
        layer(x, training=True)
        outputs, attention = layer(x, return_attention=True)
        assert outputs.dtype == attention.dtype == mixed_policy, cls.__name__
        assert np.isfinite(np.asarray(outputs, "float32")).all(), cls.__name__
    unified = UnifiedSpatialAttention(memory_size=4)
    inputs = keras.Input((8, 8, 16))
    y = unified(inputs)
    for cls in (SqueezeExcite, CBAM, ECA):
        y = cls()(y)
    y = keras.layers.GlobalAveragePooling2D()(y)
    outputs = keras.layers.Dense(3, dtype="float32")(y)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    history = model.fit(x, np.array([0, 2]), epochs=1, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert unified.memory_buffer.dtype == "float32"
    assert float(unified.memory_count) == 2


@pytest.mark.parametrize("name", ATTENTION_NAMES)
def test_factory(name):
    layer = get_attention(name)
    if name == "none":
        assert layer is None
    else:
        assert type(layer) is LAYERS[name]
        assert layer.name == "attention"


def test_factory_forwards_arguments_and_rejects_unknown_names():
    layer = get_attention("unified", name="attn", branches=("memory",))
    assert (layer.name, layer.branches) == ("attn", ("memory",))
    message = "Unknown attention 'foo'. Choose one of: none, unified, se, cbam, eca."
    with pytest.raises(ValueError, match=f"^{message}$"):
        get_attention("foo")


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("unified", dict(branches=())),
        ("unified", dict(branches=("contextual", "attention"))),
        ("unified", dict(branches=("memory", "memory"))),
        ("unified", dict(reduction=0)),
        ("unified", dict(context_kernel=0)),
        ("unified", dict(neighbourhood_kernel=-1)),
        ("unified", dict(memory_size=0)),
        ("se", dict(reduction=0)),
        ("se", dict(min_channels=0)),
        ("cbam", dict(spatial_kernel=0)),
        ("eca", dict(kernel_size=0)),
        ("eca", dict(gamma=0)),
    ],
)
def test_invalid_arguments(name, kwargs):
    with pytest.raises(ValueError, match="Received: "):
        get_attention(name, **kwargs)


def test_min_feature_size():
    """The smallest map each layer takes (classifier.py refuses smaller
    stage maps with it)."""
    assert UnifiedSpatialAttention().min_feature_size == 4  # two stride-2 scales
    assert UnifiedSpatialAttention(branches=("memory",)).min_feature_size == 1
    assert (
        UnifiedSpatialAttention(
            branches=("contextual", "neighbourhood"), neighbourhood_kernel=9
        ).min_feature_size
        == 9
    )
    assert CBAM().min_feature_size == SqueezeExcite().min_feature_size == 1
