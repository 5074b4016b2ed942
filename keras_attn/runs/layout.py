"""The run folder's layout: its file names, and creating, cleaning and
finding run folders.

`train.py` writes one folder per run; `export.py`, `predict.py`,
`python -m keras_attn.visualize` and the benchmarks read it. Nothing else in
keras_attn spells these file names:

    model.keras      the clean classifier (see `training/finish.py`)
    config.json      every setting of the run
    labels.txt       class names, one a line, in output order
    history.csv      one row per epoch (Keras `CSVLogger`)
    metrics.json     results of the kept model
    samples.npz      images the run keeps (below)
    photos/          held-out photos at their own aspect ratio (below)
    curves.png  attention.png
    README.md        the model card (`reports/model_card.py`)
    checkpoints/     each phase's best epoch so far (while training; 3x the
                     model's size with the optimizer state)
    backup/          the state a killed run resumes from (while training)
    tensorboard/     `--tensorboard` logs
    eval/<model>-<data>/  what `evaluate.py` writes
    export/          what `export.py` writes

The folder stands on its own: `samples.npz` holds, at the stored size and
with their labels, up to `CALIBRATION_IMAGES` training images (int8
calibration) and up to `HELD_OUT_IMAGES` test images (else validation)
with the files they came from, so export, its checks and the figures need
neither the training data nor the machine it was on. Compressed, lossless.

`photos/` keeps up to `PHOTOS` held-out photos of a `folder:` dataset as a
client gets them: the whole frame at its own aspect ratio, EXIF rotation
applied, downscaled so that the shorter side is the stored size (never
upscaled), JPEG; `photos/photos.json` lists each file's label and source.
`export.py` scores every exported file on them the way apps call it (LiteRT
from the photo, MediaPipe's ImageClassifier on the frame), so a model whose
preprocessing differs from what the client does is caught before it ships.
"""

from __future__ import annotations

import glob
import os
import shutil

from keras_attn.utils import atomic_io

MODEL = "model.keras"
CONFIG = "config.json"
LABELS = "labels.txt"
HISTORY = "history.csv"
METRICS = "metrics.json"
SAMPLES = "samples.npz"
CURVES = "curves.png"
ATTENTION = "attention.png"
CHECKPOINTS = "checkpoints"
BACKUP = "backup"
EXPORT = "export"
TENSORBOARD = "tensorboard"
EVAL = "eval"
MODEL_CARD = "README.md"

PHOTOS_DIR = "photos"
PHOTOS_INDEX = os.path.join(PHOTOS_DIR, "photos.json")

# int8 calibration images: CALIBRATION_PER_CLASS a class, at least
# CALIBRATION_IMAGES and at most CALIBRATION_MAX.
CALIBRATION_IMAGES = 100
CALIBRATION_PER_CLASS = 2
CALIBRATION_MAX = 400
HELD_OUT_IMAGES = 500
PHOTOS = 200
PHOTO_QUALITY = 90


def path(run_dir: str, name: str) -> str:
    """The path of one of the files above (e.g. `path(run_dir, runs.MODEL)`)."""
    return os.path.join(run_dir, name)


def check_writable(run_dir: str, flag: str = "--run_dir") -> None:
    """Fails early, with one line, if `run_dir` cannot become a run folder
    (or any output folder, named by its `flag` in the message).

    Raises:
        ValueError: `run_dir` is a file, lies under a file, or its nearest
            existing folder is not writable.
    """
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise ValueError(
            f"{flag}={run_dir} is a file, not a folder; pass a folder path."
        )
    existing = os.path.abspath(run_dir)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ValueError(
            f"Cannot create {flag}={run_dir}: {existing} is a file; pass a folder path."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(
            f"Cannot write in {existing} (permission denied) for {flag}="
            f"{run_dir}; pass a folder you can write."
        )


def prepare(run_dir: str) -> None:
    """Creates the run folder (once the run's inputs have loaded, so a run that
    fails on its input leaves nothing behind) and removes what a killed
    writer left in it."""
    check_writable(run_dir)
    try:
        os.makedirs(run_dir, exist_ok=True)
    except OSError as e:
        raise ValueError(
            f"Cannot create --run_dir={run_dir} ({e.strerror}); pass a folder you "
            "can write."
        ) from None
    clean_temporary(run_dir)


def remove_training_state(run_dir: str) -> None:
    """Removes what only a run in progress needs (`backup/`, `checkpoints/`:
    about 3x `model.keras` each) once the run is finished. The backup goes
    first: a run killed in between is finished, never resumed without its
    best weights."""
    for name in (BACKUP, CHECKPOINTS):
        shutil.rmtree(path(run_dir, name), ignore_errors=True)


def clean_temporary(folder: str) -> list[str]:
    """Removes what a killed writer left behind (`atomic_io` temp files and
    folders); returns what it removed."""
    leftovers = glob.glob(os.path.join(folder, atomic_io.TEMP_PREFIX + "*"))
    leftovers += glob.glob(os.path.join(folder, atomic_io.OLD_PREFIX + "*"))
    for leftover in leftovers:
        if os.path.isdir(leftover):
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            os.remove(leftover)
    return leftovers


def latest_run(root: str = "runs") -> str:
    """The most recently written run folder under `root` (one with a model)."""
    found = []
    if os.path.isdir(root):
        for entry in os.scandir(root):
            model = path(entry.path, MODEL)
            if entry.is_dir() and os.path.exists(model):
                found.append((os.path.getmtime(model), entry.path))
    if not found:
        raise FileNotFoundError(
            f"No trained run under {root}/ (a folder with {MODEL}); train one "
            "with train.py or pass --run=DIR."
        )
    return max(found)[1]


def require(run_dir: str, *names: str, flag: str | None = None) -> None:
    """Raises FileNotFoundError naming the first of `names` missing from the
    run (and the `flag` that named the folder, if given)."""
    if not os.path.isdir(run_dir):
        if flag:
            raise FileNotFoundError(
                f"{flag}={run_dir}: no run folder there; pass a run folder "
                "written by train.py."
            )
        raise FileNotFoundError(f"No run folder at {run_dir}.")
    for name in names:
        if not os.path.exists(path(run_dir, name)):
            raise FileNotFoundError(
                f"{run_dir} has no {name}; pass a run folder written by train.py."
            )
