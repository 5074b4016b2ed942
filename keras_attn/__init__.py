"""keras-attn: a learned spatial-attention module on a pretrained ResNet-18.

Few-shot fine-tuning, attention maps you can look at, and quantised TFLite
export. See README.md.
"""

__version__ = "0.1.0"


def load_model(path: str):
    """Loads a `.keras` file written by keras-attn.

    Importing keras-hub and our layers first registers every class the file
    names; without that Keras reports a misleading "Functional could not be
    deserialized".
    """
    import os

    import keras
    import keras_hub  # noqa: F401  (registers ResNetBackbone)

    import keras_attn.layers  # noqa: F401  (registers our layers)
    import keras_attn.models  # noqa: F401  (registers ResizeImages)

    if not os.path.exists(path):
        raise FileNotFoundError(f"No model file at {path}; pass a run's model.keras.")
    return keras.saving.load_model(path, compile=False)
