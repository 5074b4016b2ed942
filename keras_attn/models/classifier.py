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

`stages` puts the attention on other backbone stages (ResNet stages 1-4;
keras-hub's pyramid outputs P2-P5). Stage 4 alone (the default) is the model
above. With stage 3 (stride 16: 14x14 at 224 px) the head reads keras-hub's
`ResNetBackbone.pyramid_outputs` P4 and P5 and fuses them before pooling:

    P4 (B, 2s, 2s, 256) -> [attention_stage3] -> 2x2 average pool (B, s, s, 256)
    P5 (B, s, s, 512)   -> [attention]                            (B, s, s, 512)
    concatenate -> (B, s, s, 768) -> global average pool -> dropout -> Dense

`stages=(3,)` attends stage 3 only, `(3, 4)` both. `attention="none"` with
`(3, 4)` is the same two-stage head without attention: the baseline that
separates what the attention adds from what the stage-3 features add.
"""

import keras
import numpy as np

from keras_attn.layers import get_attention
from keras_attn.models.backbone import BACKBONE_STRIDE, MIN_IMAGE_SIZE, load_backbone
from keras_attn.models.resize import ResizeImages

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

BACKBONE_NAME = "backbone"
ATTENTION_NAME = "attention"  # on stage 4 (the name every older run has)
STAGE3_ATTENTION_NAME = "attention_stage3"

# The backbone stages attention can go on, and keras-hub's pyramid output and
# stride of each.
PYRAMID_LEVELS = {3: "P4", 4: "P5"}
STAGE_STRIDES = {3: 16, 4: 32}
STAGE_CHOICES = ((4,), (3,), (3, 4))


def stage_map_side(image_size: int, stage: int) -> int:
    """Side of a stage's feature map: the backbone's stride-2 layers pad
    "same", so an odd side rounds up (ceil division)."""
    return -(-image_size // STAGE_STRIDES[stage])


def check_stages(stages, attention: str) -> tuple[int, ...]:
    """`stages` as a sorted tuple, or a one-line ValueError naming the fix."""
    try:
        stages = tuple(sorted({int(s) for s in stages}))
    except (TypeError, ValueError):
        stages = None
    if stages not in STAGE_CHOICES:
        raise ValueError(
            "--attention_stages must be 4 (the last stage), 3 (stride 16) or "
            "3,4 (both, fused before pooling). Received: "
            f"attention_stages={stages}"
        )
    if attention == "none" and stages == (3,):
        raise ValueError(
            "--attention=none has no attention to put on stage 3; for the "
            "two-stage head without attention (the baseline of stage-3 "
            "attention) pass --attention_stages=3,4."
        )
    return stages


def build_classifier(
    num_classes: int,
    input_shape: tuple[int, int, int],
    image_size: int = 128,
    attention: str = "unified",
    attention_kwargs: dict | None = None,
    weights: str = "none",
    dropout: float = 0.2,
    backbone: keras.Model | None = None,
    stages: tuple[int, ...] = (4,),
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
        stages: the backbone stages that get the attention: `(4,)`, `(3,)`
            or `(3, 4)` (see the module docstring).
    """
    stages = check_stages(stages, attention)
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
    if stages == (4,):
        features = backbone(x)  # (B, S/32, S/32, 512)
    else:
        # keras-hub's feature pyramid: the same layers, two of their outputs.
        pyramid = keras.Model(
            backbone.inputs,
            [backbone.pyramid_outputs[PYRAMID_LEVELS[s]] for s in (3, 4)],
            name=BACKBONE_NAME,
        )
        features = pyramid(x)  # [(B, S/16, S/16, 256), (B, S/32, S/32, 512)]
    _check_map_sizes(image_size, attention, attention_kwargs, stages)
    logits = attention_head(
        features, num_classes, attention, attention_kwargs, dropout, stages
    )
    suffix = "" if stages == (4,) else "_stage" + "".join(map(str, stages))
    return keras.Model(inputs, logits, name=f"resnet18_{attention}{suffix}")


def _check_map_sizes(image_size, attention, attention_kwargs, stages) -> None:
    """Refuses a stage whose map is smaller than the attention's kernels."""
    layer = get_attention(attention, **(attention_kwargs or {}))
    if layer is None:
        return
    for stage in stages:
        side = stage_map_side(image_size, stage)
        if side < layer.min_feature_size:
            raise ValueError(
                f"--attention={attention} on stage {stage} needs a map of at "
                f"least {layer.min_feature_size}x{layer.min_feature_size}, but "
                f"--image_size={image_size} gives {side}x{side}; raise "
                f"--image_size to {layer.min_feature_size * STAGE_STRIDES[stage]} "
                "or use smaller kernels."
            )


def attention_head(
    features,
    num_classes: int,
    attention: str = "unified",
    attention_kwargs: dict | None = None,
    dropout: float = 0.2,
    stages: tuple[int, ...] = (4,),
):
    """Attention -> global average pool -> dropout -> Dense, on a feature map
    (stage 4 alone) or on `[P4, P5]` (with stage 3, fused before pooling).

    Shared by `build_classifier` and by the frozen-backbone mode, which
    trains this head on cached backbone features.
    """
    kwargs = attention_kwargs or {}

    def attend(x, stage):
        if stage not in stages:
            return x
        name = ATTENTION_NAME if stage == 4 else STAGE3_ATTENTION_NAME
        layer = get_attention(attention, name=name, **kwargs)
        if layer is None:
            return x
        x, _ = layer(x, return_attention=True)
        return x

    if stages == (4,):
        x = attend(features, 4)  # (B, s, s, C)
    else:
        p4, p5 = features
        p4 = attend(p4, 3)  # (B, 2s, 2s, 256)
        p4 = keras.layers.AveragePooling2D(2, padding="same", name="downsample_stage3")(
            p4
        )  # (B, s, s, 256)
        p5 = attend(p5, 4)  # (B, s, s, 512)
        x = keras.layers.Concatenate(name="fuse")([p4, p5])  # (B, s, s, 768)
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


SPATIAL_LAYERS = ("UnifiedSpatialAttention", "CBAM")


def spatial_attention_layers(model: keras.Model) -> list:
    """The model's spatial attention layers, finest stage first."""
    found = []
    for name in (STAGE3_ATTENTION_NAME, ATTENTION_NAME):
        try:
            layer = model.get_layer(name)
        except ValueError:
            continue
        if type(layer).__name__ in SPATIAL_LAYERS:
            found.append(layer)
    return found


def attention_model(model: keras.Model) -> keras.Model:
    """Wraps a classifier to output `(logits, map)` with map (B, m, m) in [0, 1].

    For `unified` and `cbam` the map is the layer's spatial attention map; with
    attention on stages 3 and 4, the mean of the stage-3 map and the stage-4
    map upsampled to it (nearest: each stage-4 cell covers 2x2 stage-3 cells).
    SE, ECA and the plain ResNet have none; for them the map is the channel
    mean of the features that enter the pooling (a class-agnostic activation
    map), min-max normalised per image, so every variant can be drawn and
    scored.
    """
    layers = spatial_attention_layers(model)
    if layers:
        maps = [keras.ops.squeeze(layer.output[1], -1) for layer in layers]
        spatial = maps[0]  # (B, m, m), the finest
        if len(maps) == 2:
            coarse = keras.ops.repeat(keras.ops.repeat(maps[1], 2, axis=1), 2, axis=2)
            size = spatial.shape[1:3]
            spatial = (spatial + coarse[:, : size[0], : size[1]]) / 2.0
        return keras.Model(model.inputs, [model.outputs[0], spatial])
    features = model.get_layer("pool").input  # (B, s, s, C) after any attention
    activation = keras.ops.mean(keras.ops.abs(features), axis=-1)  # (B, s, s)
    low = keras.ops.min(activation, axis=(1, 2), keepdims=True)
    high = keras.ops.max(activation, axis=(1, 2), keepdims=True)
    # Clipped: XLA (JAX) may fuse the subtraction so that the minimum lands
    # a rounding error below 0.
    activation = keras.ops.clip((activation - low) / (high - low + 1e-6), 0.0, 1.0)
    return keras.Model(model.inputs, [model.outputs[0], activation])


def predict_with_attention(model: keras.Model, images: np.ndarray, batch_size=64):
    """Returns `(probabilities (N, K), maps (N, s, s))` as NumPy arrays."""
    logits, maps = attention_model(model).predict(
        images, batch_size=batch_size, verbose=0
    )
    return keras.ops.convert_to_numpy(keras.ops.softmax(logits)), np.asarray(
        maps, np.float32
    )
