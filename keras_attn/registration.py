"""Registering the classes a keras-attn `model.keras` names with Keras.

keras-hub's `ResNetBackbone`, our attention layers and `ResizeImages` must be
registered before `keras.saving.load_model` reads a run's file. `import
keras_attn` calls `register()` (so a plain `keras.saving.load_model(path)`
works after it, as after `import keras_hub`), except where
`KERAS_ATTN_REGISTER=on_demand`: `predict.py` sets that, since a `.tflite`,
`.onnx` or `.xml` file needs none of it and registering imports TensorFlow
and keras-hub (about 9 s here); the Keras back-end registers before it loads.
"""

import importlib.util
import os

ENV = "KERAS_ATTN_REGISTER"
ON_DEMAND = "on_demand"


def wanted_at_import() -> bool:
    """Whether `import keras_attn` registers (Keras and keras-hub installed,
    and the environment does not defer it)."""
    if os.environ.get(ENV, "") == ON_DEMAND:
        return False
    find = importlib.util.find_spec
    return bool(find("keras") and find("keras_hub"))


def register() -> None:
    """Registers every class a keras-attn `model.keras` names (idempotent)."""
    from keras_attn.utils.quiet_tf import import_tensorflow_quietly

    import_tensorflow_quietly()  # keras-hub imports TensorFlow: quiet unless asked

    import keras_hub  # noqa: F401  (registers ResNetBackbone)

    from keras_attn import layers  # noqa: F401  (registers the attention layers)
    from keras_attn.models import resize  # noqa: F401  (registers ResizeImages)
