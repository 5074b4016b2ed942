"""Reading and writing `.keras` model files.

`load_model` is the package's `keras_attn.load_model`; `save_model` writes a
run's clean classifier atomically; `check_space` refuses a write that cannot
fit before h5py meets a full disk. Keras is imported inside the functions, so
importing this module costs nothing.
"""

import errno
import os
import shutil
import zipfile

import numpy as np

from keras_attn.utils import atomic_io

# What an HDF5 weights file takes beyond the variables' bytes.
SPARE_BYTES = 16 * 2**20


def load_model(path: str):
    """Loads a `.keras` file written by keras-attn, without its optimizer.

    `keras.saving.load_model(path)` works too after `import keras_attn`; this
    adds one-line errors for a missing or damaged file.
    """
    import keras  # the package's __init__, run before this module, registered
    # the classes a keras-attn file names

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
    if not zipfile.is_zipfile(path):
        return "not a complete .keras archive: truncated or not a Keras file"
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        return f"unreadable archive: {e}"
    return None if bad is None else f"corrupt member {bad}"


def save_model(model, path: str) -> None:
    """Saves the clean model atomically (`.keras`, no optimizer state)."""
    check_space(model, os.path.dirname(os.path.abspath(path)))
    with atomic_io.atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)


def check_space(model, folder: str) -> None:
    """Raises ENOSPC (an OSError) before writing `model`'s weights (and its
    optimizer's) to `folder` when they cannot fit: h5py, asked to write to a
    full disk, can crash the whole process instead of raising."""
    variables = list(model.variables)
    if getattr(model, "optimizer", None) is not None:
        variables += list(model.optimizer.variables)
    need = sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in variables)
    os.makedirs(folder, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < need + SPARE_BYTES:
        raise OSError(
            errno.ENOSPC,
            f"{(need + SPARE_BYTES) / 2**20:.0f} MB needed, {free / 2**20:.0f} MB free",
            folder,
        )
