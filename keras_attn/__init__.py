"""keras-attn: a learned spatial-attention module on a pretrained ResNet-18.

Few-shot fine-tuning, attention maps you can look at, and quantised TFLite
export. See README.md.

Importing the package registers every class a keras-attn `model.keras`
names (keras-hub's `ResNetBackbone`, our attention layers, `ResizeImages`),
so after `import keras_attn` a plain `keras.saving.load_model(path)` loads it,
as after `import keras_hub` for keras-hub models. It loads nothing of
training, export or the dataset loaders: its submodules (`keras_attn.runs`,
`keras_attn.models`, ...) are imported when first used. Where Keras is not
installed (a board with only LiteRT) the registration is skipped and
`keras_attn.inference` still runs `.tflite` files.
"""

import importlib
import importlib.util

from keras_attn.saving import load_model

__version__ = "0.1.0"

if importlib.util.find_spec("keras") and importlib.util.find_spec("keras_hub"):
    from keras_attn.utils.quiet_tf import import_tensorflow_quietly

    import_tensorflow_quietly()  # keras-hub imports TensorFlow: quiet unless asked

    import keras_hub  # noqa: F401  (registers ResNetBackbone)

    from keras_attn import layers  # noqa: F401  (registers the attention layers)
    from keras_attn.models import resize  # noqa: F401  (registers ResizeImages)

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
