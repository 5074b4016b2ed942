"""keras-attn: a learned spatial-attention module on a pretrained ResNet-18.

Few-shot fine-tuning, attention maps you can look at, and quantised TFLite
export. See README.md.

Importing the package registers every class a keras-attn `model.keras`
names (keras-hub's `ResNetBackbone`, our attention layers, `ResizeImages`),
so after `import keras_attn` a plain `keras.saving.load_model(path)` loads it,
as after `import keras_hub` for keras-hub models. It loads nothing of
training, export or the dataset loaders: its submodules (`keras_attn.runs`,
`keras_attn.models`, ...) are imported when first used. Where Keras is not
installed (a board with only LiteRT), or under
`KERAS_ATTN_REGISTER=on_demand` (`predict.py`), the registration is skipped
(`registration.py`) and `keras_attn.inference` still runs `.tflite` files.
"""

import importlib

from keras_attn import registration
from keras_attn.saving import load_model

__version__ = "0.1.0"

if registration.wanted_at_import():
    registration.register()

# Subpackages and modules reached as attributes (`keras_attn.runs.read_labels`)
# without an import of their own: loaded on first use.
_SUBMODULES = (
    "cli",
    "data",
    "distributed",
    "errors",
    "evaluation",
    "export",
    "images",
    "inference",
    "layers",
    "models",
    "registration",
    "reports",
    "runs",
    "saving",
    "studies",
    "tflite",
    "training",
    "utils",
    "visualize",
)

__all__ = ["load_model", "__version__"]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"keras_attn.{name}")
    raise AttributeError(f"module 'keras_attn' has no attribute {name!r}")
