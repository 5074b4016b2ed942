"""keras-attn: a learned spatial-attention module on a pretrained ResNet-18.

Few-shot fine-tuning, attention maps you can look at, and quantised TFLite
export. See README.md.

Importing the package registers every class a keras-attn `model.keras`
names (keras-hub's `ResNetBackbone`, our attention layers, `ResizeImages`,
the optimizer), so after `import keras_attn` a plain
`keras.saving.load_model(path)` loads it, as after `import keras_hub` for
keras-hub models.
"""

from keras_attn.cli import import_tensorflow_quietly

import_tensorflow_quietly()  # keras-hub imports TensorFlow: quiet unless asked not to

import keras_hub  # noqa: E402, F401  (registers ResNetBackbone)

from keras_attn import layers, models, optimizers, runs  # noqa: E402, F401

__version__ = "0.1.0"


def load_model(path: str):
    """Loads a `.keras` file written by keras-attn, without its optimizer.

    `keras.saving.load_model(path)` works too after `import keras_attn`; this
    adds one-line errors for a missing or damaged file.
    """
    import os

    import keras

    if not os.path.exists(path):
        raise FileNotFoundError(f"No model file at {path}; pass a run's model.keras.")
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception:
        damage = _archive_damage(path)
        if damage is None:
            raise
        raise ValueError(
            f"{path} is damaged ({damage}); copy it again from where it came "
            "from, or train the run again."
        ) from None


def _archive_damage(path: str) -> str | None:
    """Why a `.keras` file (a zip archive) is not whole, or None if it is."""
    import zipfile

    if not zipfile.is_zipfile(path):
        return "not a complete .keras archive: truncated or not a Keras file"
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        return f"unreadable archive: {e}"
    return None if bad is None else f"corrupt member {bad}"
