"""ResNet-18 + attention + head, with preprocessing inside the model.

The model takes raw RGB pixels (values 0..255, any float or integer dtype) at
the size the data is stored at, so an exported model needs no preprocessing
code on the device:

    pixels (B, h, w, 3) -> ResizeImages(image_size, bilinear) -> x/255
    -> ImageNet mean/std -> ResNet-18 (B, s, s, 512) -> attention
    -> global average pool -> dropout -> Dense(num_classes) logits

with s = image_size / 32. The attention layer comes from the factory in
`keras_attn.layers` (`attention="none"` gives the plain fine-tuned ResNet-18,
the paper's baseline).
"""

import keras
import numpy as np

from keras_attn.layers import get_attention
from keras_attn.models.backbone import BACKBONE_STRIDE, MIN_IMAGE_SIZE, load_backbone
from keras_attn.models.resize import ResizeImages

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

BACKBONE_NAME = "backbone"
ATTENTION_NAME = "attention"


def build_classifier(
    num_classes: int,
    input_shape: tuple[int, int, int],
    image_size: int = 128,
    attention: str = "unified",
    attention_kwargs: dict | None = None,
    weights: str = "none",
    dropout: float = 0.2,
    backbone: keras.Model | None = None,
) -> keras.Model:
    """Builds the classifier as a functional `keras.Model` that outputs logits.

    Args:
        num_classes: number of classes of the head.
        input_shape: stored image shape `(h, w, 3)`: what the model takes.
        image_size: the side the images are resized to before the backbone; at
            least 128 so that the last feature map is at least 4x4.
        attention: `none`, `unified`, `se`, `cbam` or `eca`.
        attention_kwargs: extra constructor arguments for the attention layer
            (e.g. `{"branches": ("contextual",)}` for an ablation).
        weights: backbone weights, see `load_backbone`.
        dropout: dropout rate before the head.
        backbone: an already loaded backbone (skips `weights`).
    """
    if image_size < MIN_IMAGE_SIZE:
        raise ValueError(
            f"--image_size={image_size} is too small: ResNet-18 has stride "
            f"{BACKBONE_STRIDE}, so the attention needs at least "
            f"{MIN_IMAGE_SIZE} px (a 4x4 map). Received: image_size={image_size}"
        )
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(
            f"Images must be RGB (h, w, 3). Received: input_shape={input_shape}"
        )
    if backbone is None:
        backbone = load_backbone(weights)
    variance = [s**2 for s in IMAGENET_STD]

    inputs = keras.Input(shape=input_shape, name="pixels")
    x = inputs  # (B, h, w, 3), 0..255
    if tuple(input_shape[:2]) != (image_size, image_size):
        x = ResizeImages(image_size, name="resize")(x)  # (B, S, S, 3)
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(x)
    x = keras.layers.Normalization(
        mean=IMAGENET_MEAN, variance=variance, name="normalize"
    )(x)
    x = backbone(x)  # (B, S/32, S/32, 512)
    logits = attention_head(x, num_classes, attention, attention_kwargs, dropout)
    return keras.Model(inputs, logits, name=f"resnet18_{attention}")


def attention_head(
    features,
    num_classes: int,
    attention: str = "unified",
    attention_kwargs: dict | None = None,
    dropout: float = 0.2,
):
    """Attention -> global average pool -> dropout -> Dense, on a feature map.

    Shared by `build_classifier` and by the frozen-backbone benchmark, which
    trains this head on cached backbone features.
    """
    x = features  # (B, s, s, C)
    layer = get_attention(attention, name=ATTENTION_NAME, **(attention_kwargs or {}))
    if layer is not None:
        x, _ = layer(x, return_attention=True)  # (B, s, s, C)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)  # (B, C)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.layers.Dense(num_classes, dtype="float32", name="logits")(x)


def get_backbone(model: keras.Model) -> keras.Model:
    """The ResNet-18 backbone inside a model from `build_classifier`."""
    for layer in model.layers:
        if layer.name == BACKBONE_NAME or layer.name.startswith("res_net_backbone"):
            return layer
    raise ValueError(f"Model '{model.name}' has no ResNet backbone layer.")


def set_backbone_trainable(model: keras.Model, trainable: bool) -> None:
    """Freezes or unfreezes the backbone; frozen BatchNorm runs in inference mode."""
    get_backbone(model).trainable = trainable


def attention_model(model: keras.Model) -> keras.Model:
    """Wraps a classifier to output `(logits, map)` with map (B, s, s) in [0, 1].

    For `unified` and `cbam` the map is the layer's spatial attention map. SE,
    ECA and the plain ResNet have none; for them the map is the channel mean of
    the features that enter the pooling (a class-agnostic activation map),
    min-max normalised per image, so every variant can be drawn and scored.
    """
    try:
        layer = model.get_layer(ATTENTION_NAME)
    except ValueError:
        layer = None
    if layer is not None and layer.__class__.__name__ in (
        "UnifiedSpatialAttention",
        "CBAM",
    ):
        spatial = layer.output[1]  # (B, s, s, 1)
        spatial = keras.ops.squeeze(spatial, -1)
        return keras.Model(model.inputs, [model.outputs[0], spatial])
    features = model.get_layer("pool").input  # (B, s, s, C) after any attention
    activation = keras.ops.mean(keras.ops.abs(features), axis=-1)  # (B, s, s)
    low = keras.ops.min(activation, axis=(1, 2), keepdims=True)
    high = keras.ops.max(activation, axis=(1, 2), keepdims=True)
    activation = (activation - low) / (high - low + 1e-6)
    return keras.Model(model.inputs, [model.outputs[0], activation])


def predict_with_attention(model: keras.Model, images: np.ndarray, batch_size=64):
    """Returns `(probabilities (N, K), maps (N, s, s))` as NumPy arrays."""
    logits, maps = attention_model(model).predict(
        images, batch_size=batch_size, verbose=0
    )
    return keras.ops.convert_to_numpy(keras.ops.softmax(logits)), np.asarray(
        maps, np.float32
    )
