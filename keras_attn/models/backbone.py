"""The ResNet-18 backbone from keras-hub, with ImageNet, local or no weights.

`load_backbone("imagenet")` asks keras-hub for the `resnet_18_imagenet` preset
(a download); any other keras-hub handle goes to `ResNetBackbone.from_preset`
as it is: a Hugging Face or Kaggle handle (`hf://timm/resnet18.a1_in1k`,
`kaggle://keras/resnetv1/keras/resnet_18_imagenet`, a timm checkpoint is
converted on the fly) or a built-in preset name; `load_backbone(PATH)` reads
a local preset directory, either one written by `save_to_preset()` or a timm
checkpoint (`config.json` + `model.safetensors`, e.g.
`../shared/weights/resnet18_tin100`), which keras-hub converts offline;
`load_backbone("none")` builds the same architecture with random weights.
`load_backbone("auto")` takes the first that works of: `$KERAS_ATTN_WEIGHTS`,
the ImageNet preset, a local mirror beside the checkout
(`../shared/weights/resnet18_tin100`), random weights (with a warning).
"""

import json
import logging
import os

import keras_hub

IMAGENET_PRESET = "resnet_18_imagenet"
# Handles keras-hub downloads from (`from_preset` takes them as they are).
REMOTE_SCHEMES = ("hf://", "kaggle://", "modelscope://", "gs://", "s3://")

# ResNet-18 v1 with basic blocks: the architecture of `resnet_18_imagenet`.
RESNET18_CONFIG = dict(
    input_conv_filters=[64],
    input_conv_kernel_sizes=[7],
    stackwise_num_filters=[64, 128, 256, 512],
    stackwise_num_blocks=[2, 2, 2, 2],
    stackwise_num_strides=[1, 2, 2, 2],
    block_type="basic_block",
    use_pre_activation=False,
)

# The backbone halves the resolution five times: its last map is 1/32 the size.
BACKBONE_STRIDE = 32
# The smallest last-stage map on which spatial attention means anything.
MIN_FEATURE_SIZE = 4
MIN_IMAGE_SIZE = BACKBONE_STRIDE * MIN_FEATURE_SIZE

# Where `auto` looks for a local checkpoint when the ImageNet preset cannot be
# downloaded: the shared folder beside a checkout of this repository.
_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOCAL_MIRRORS = (os.path.join(_REPO, "..", "shared", "weights", "resnet18_tin100"),)

# Files that mark a directory as a keras-hub preset or a timm/HF checkpoint.
_PRESET_MARKERS = ("metadata.json", "config.json")
_WEIGHT_SUFFIXES = (".safetensors", ".weights.h5", ".bin", ".h5")


class WeightsError(ValueError):
    """Backbone weights that cannot be found or loaded; the message says why."""


def load_backbone(weights: str = "none", dtype=None) -> keras_hub.models.ResNetBackbone:
    """Returns a ResNet-18 `ResNetBackbone` with the requested weights.

    Args:
        weights: `"imagenet"` (keras-hub preset, needs the internet once),
            `"none"` (random initialisation), a keras-hub handle or preset
            name (`hf://...`, `kaggle://...`, `resnet_18_imagenet`) or a
            local preset / timm checkpoint directory.
        dtype: dtype or dtype policy for the backbone's layers (default: the
            global policy).
    """
    if weights == "auto":
        return load_backbone(resolve_auto_weights(), dtype)
    if weights == "none":
        return keras_hub.models.ResNetBackbone(**RESNET18_CONFIG, dtype=dtype)
    if weights == "imagenet":
        return _from_preset(IMAGENET_PRESET, dtype, online=True)
    if is_remote(weights):
        return _from_preset(weights, dtype, online=True)
    _check_local_checkpoint(weights)
    return _from_preset(weights, dtype, online=False)


def is_remote(weights: str) -> bool:
    """Whether `weights` is a handle keras-hub downloads (not a local folder)."""
    if weights.startswith(REMOTE_SCHEMES):
        return True
    return weights in keras_hub.models.ResNetBackbone.presets and not os.path.exists(
        weights
    )


def resolve_auto_weights() -> str:
    """What `--weights=auto` means on this machine (see the module docstring)."""
    explicit = os.environ.get("KERAS_ATTN_WEIGHTS")
    if explicit:
        return explicit
    try:
        keras_hub.models.ResNetBackbone.from_preset(IMAGENET_PRESET, load_weights=False)
        return "imagenet"
    except Exception:  # offline: keras-hub raises requests/HF/OS errors
        pass
    for path in LOCAL_MIRRORS:
        if os.path.isdir(path):
            return os.path.normpath(path)
    logging.warning(
        "--weights=auto: no ImageNet preset (offline) and no local checkpoint; "
        "training from random weights. Pass --weights=PATH for a pretrained start."
    )
    return "none"


def _check_local_checkpoint(path: str) -> None:
    if not os.path.exists(path):
        raise WeightsError(
            f"--weights={path} does not exist. Pass a local keras-hub preset or "
            "timm checkpoint directory, a keras-hub handle (hf://..., "
            "kaggle://...), 'imagenet' or 'none'."
        )
    if not os.path.isdir(path):
        raise WeightsError(
            f"--weights={path} is a file; pass the directory that holds "
            "config.json and the weights (a keras-hub preset or timm checkpoint)."
        )
    files = os.listdir(path)
    has_config = any(m in files for m in _PRESET_MARKERS)
    has_weights = any(f.endswith(_WEIGHT_SUFFIXES) for f in files)
    if not (has_config and has_weights):
        raise WeightsError(
            f"--weights={path} holds no checkpoint (expected config.json or "
            "metadata.json plus a weights file such as model.safetensors). "
            "Point it at a keras-hub preset or timm checkpoint directory."
        )
    config_path = os.path.join(path, "config.json")
    if "metadata.json" not in files and os.path.exists(config_path):
        with open(config_path) as f:
            arch = json.load(f).get("architecture", "")
        if arch and arch != "resnet18":
            raise WeightsError(
                f"--weights={path} is a timm '{arch}' checkpoint; keras-attn "
                "uses ResNet-18, so pass a resnet18 checkpoint."
            )


def _from_preset(preset: str, dtype, online: bool):
    try:
        backbone = keras_hub.models.ResNetBackbone.from_preset(preset, dtype=dtype)
    except Exception as e:  # keras-hub raises requests/HF/OS errors offline
        if online:
            raise WeightsError(
                f"Could not download the keras-hub preset '{preset}' "
                f"({type(e).__name__}); offline, pass a local checkpoint, e.g. "
                "--weights=../shared/weights/resnet18_tin100 (a timm or keras-hub "
                "folder downloaded once), or --weights=none."
            ) from e
        raise WeightsError(
            f"Could not load backbone weights from --weights={preset}: "
            f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        ) from e
    if backbone.stackwise_num_blocks != RESNET18_CONFIG["stackwise_num_blocks"] or (
        backbone.block_type != "basic_block"
    ):
        raise WeightsError(
            f"--weights={preset} is not a ResNet-18 (blocks "
            f"{backbone.stackwise_num_blocks}, {backbone.block_type}); pass a "
            "ResNet-18 checkpoint."
        )
    return backbone
