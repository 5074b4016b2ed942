"""The run folder: its layout, and reading and writing what is in it.

`train.py` writes one folder per run; `export.py`, `predict.py`,
`python -m keras_attn.visualize` and the benchmarks read it. Nothing else in
keras_attn spells these file names:

    model.keras      the clean classifier (see `train_lib`)
    config.json      every setting of the run
    labels.txt       class names, one a line, in output order
    history.csv      one row per epoch (Keras `CSVLogger`)
    metrics.json     results of the kept model
    samples.npz      images the run keeps (below)
    photos/          held-out photos at their own aspect ratio (below)
    curves.png  attention.png
    README.md        the model card (`model_card.py`)
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

import csv
import dataclasses
import glob
import json
import os
import shutil

import numpy as np

from keras_attn.data.splits import Split
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


# ------------------------------------------------------------------ folder


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
    """Removes what a killed writer left behind (`io_utils` temp files and
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


def require(run_dir: str, *names: str) -> None:
    """Raises FileNotFoundError naming the first of `names` missing from the run."""
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"No run folder at {run_dir}.")
    for name in names:
        if not os.path.exists(path(run_dir, name)):
            raise FileNotFoundError(
                f"{run_dir} has no {name}; pass a run folder written by train.py."
            )


# ------------------------------------------------------------------- files


def write_config(run_dir: str, config: dict) -> None:
    atomic_io.write_json(path(run_dir, CONFIG), config)


def read_config(run_dir: str) -> dict:
    with open(path(run_dir, CONFIG)) as f:
        return json.load(f)


def write_labels(folder: str, names: list[str]) -> None:
    atomic_io.write_text(path(folder, LABELS), "\n".join(names) + "\n")


def read_labels_file(labels_path: str) -> list[str]:
    """Class names from a `labels.txt` (one a line, blank lines ignored)."""
    with open(labels_path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def read_labels(run_dir: str) -> list[str]:
    return read_labels_file(path(run_dir, LABELS))


def read_history(run_dir: str) -> dict[str, np.ndarray]:
    """`history.csv` as columns, the last row per epoch ({} if none)."""
    history_path = path(run_dir, HISTORY)
    if not os.path.exists(history_path):
        return {}
    with open(history_path) as f:
        rows = list(csv.DictReader(f))
    by_epoch = {int(r["epoch"]): r for r in rows}
    rows = [by_epoch[e] for e in sorted(by_epoch)]
    if not rows:
        return {}
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def drop_history(run_dir: str, first: int, last: int) -> None:
    """Removes the `history.csv` rows of epochs `first` to `last - 1`: a run
    killed after logging an epoch but before its backup said the epoch was
    done trains it again on resume, and would log it twice."""
    history_path = path(run_dir, HISTORY)
    if not os.path.exists(history_path):
        return
    with open(history_path, newline="") as f:  # rows as Keras wrote them
        lines = f.readlines()
    if not lines:
        return
    column = next(csv.reader(lines[:1])).index("epoch")
    kept = lines[:1] + [
        line
        for line in lines[1:]
        if not first <= int(next(csv.reader([line]))[column]) < last
    ]
    if len(kept) < len(lines):
        with atomic_io.atomic_path(history_path) as tmp:
            with open(tmp, "w", newline="") as f:
                f.writelines(kept)


def write_metrics(run_dir: str, metrics: dict) -> None:
    atomic_io.write_json(path(run_dir, METRICS), metrics)


def read_metrics(run_dir: str) -> dict:
    with open(path(run_dir, METRICS)) as f:
        return json.load(f)


# ----------------------------------------------------------------- samples


@dataclasses.dataclass
class Samples:
    """The images a run folder keeps (see the module docstring)."""

    calibration: Split
    held_out: Split
    held_out_split: str  # "test" or "val"


def calibration_count(num_classes: int) -> int:
    """How many training images int8 calibration gets for `num_classes`."""
    return int(
        np.clip(
            CALIBRATION_PER_CLASS * num_classes, CALIBRATION_IMAGES, CALIBRATION_MAX
        )
    )


def spread_over_classes(labels: np.ndarray, count: int, rng) -> np.ndarray:
    """`count` indices (sorted) drawn at random, as evenly over the classes
    as their sizes allow: each round takes one more image of every class
    that has one left."""
    labels = np.asarray(labels)
    order = rng.permutation(len(labels))
    rank = np.empty(len(labels), np.int64)  # an image's place within its class
    for label in np.unique(labels):
        members = order[labels[order] == label]
        rank[members] = np.arange(len(members))
    picked = order[np.lexsort((rng.random(len(order)), rank[order]))][:count]
    return np.sort(picked)


def draw_samples(
    train: Split,
    held_out: Split,
    held_out_split: str,
    seed: int = 0,
    calibration: int | None = None,
    held_out_count: int = HELD_OUT_IMAGES,
) -> Samples:
    """Subsets (in split order) of the training and held-out splits, drawn at
    random and spread over the classes; `calibration` defaults to
    `calibration_count` of the training split's classes."""
    rng = np.random.default_rng(seed)
    if calibration is None:
        calibration = calibration_count(len(np.unique(train.labels)))

    def subset(split: Split, count: int) -> Split:
        keep = spread_over_classes(split.labels, count, rng)
        chosen = split.take(keep)
        return Split(
            np.asarray(chosen.images, np.uint8),
            chosen.labels,
            chosen.ids,
            chosen.boxes,
        )

    return Samples(
        subset(train, calibration), subset(held_out, held_out_count), held_out_split
    )


def write_samples(run_dir: str, samples: Samples) -> None:
    arrays = {"held_out_split": np.array(samples.held_out_split)}
    for name in ("calibration", "held_out"):
        split = getattr(samples, name)
        arrays.update(
            {
                f"{name}_images": split.images,
                f"{name}_labels": split.labels,
                f"{name}_ids": split.ids,
            }
        )
        if split.boxes is not None:
            arrays[f"{name}_boxes"] = split.boxes
    with atomic_io.atomic_path(path(run_dir, SAMPLES), suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)


def read_samples(run_dir: str) -> Samples:
    require(run_dir, SAMPLES)
    with np.load(path(run_dir, SAMPLES)) as f:
        splits = {
            name: Split(
                f[f"{name}_images"],
                f[f"{name}_labels"],
                f[f"{name}_ids"],
                f[f"{name}_boxes"] if f"{name}_boxes" in f else None,
            )
            for name in ("calibration", "held_out")
        }
        split_name = str(f["held_out_split"])
    return Samples(splits["calibration"], splits["held_out"], split_name)


# ------------------------------------------------------------------ photos


@dataclasses.dataclass
class Photos:
    """Held-out photos a run keeps (`photos/`): files, labels, sources."""

    files: list[str]  # absolute paths of the JPEGs in the run folder
    labels: np.ndarray
    sources: list[str]  # where each came from (relative to the dataset)

    def __len__(self) -> int:
        return len(self.files)


def write_photos(
    run_dir: str,
    sources: list[str],
    labels,
    ids: list[str],
    min_side: int,
    count: int = PHOTOS,
    seed: int = 0,
) -> Photos | None:
    """Keeps up to `count` of the photo files `sources` (spread over the
    classes) in `run_dir/photos/`: EXIF-rotated, shorter side `min_side` (or
    the photo's own, if smaller), JPEG. Unreadable files are left out. The
    folder is written under a temporary name and renamed, whole."""
    from PIL import Image, ImageOps

    from keras_attn.images import to_rgb

    labels = np.asarray(labels)
    if not len(sources):
        return None
    keep = spread_over_classes(labels, count, np.random.default_rng(seed))
    folder = path(run_dir, PHOTOS_DIR)
    entries = []
    with atomic_io.atomic_dir(folder) as tmp:
        for i in keep:
            try:
                with Image.open(sources[i]) as img:
                    img.draft("RGB", (min_side, min_side))
                    img = to_rgb(ImageOps.exif_transpose(img))
            except Exception:  # noqa: BLE001 -- training skipped it too
                continue
            scale = min_side / min(img.size)
            if scale < 1:
                size = (round(img.size[0] * scale), round(img.size[1] * scale))
                img = img.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)
            name = f"{len(entries):04d}.jpg"
            img.save(os.path.join(tmp, name), quality=PHOTO_QUALITY)
            entries.append(
                {"file": name, "label": int(labels[i]), "source": str(ids[i])}
            )
        atomic_io.write_json(
            os.path.join(tmp, os.path.basename(PHOTOS_INDEX)), {"photos": entries}
        )
    return read_photos(run_dir)


def read_photos(run_dir: str) -> Photos | None:
    """The run's kept photos, or None if it keeps none (a run on `shapes` or
    a TFDS set, or from before the folder existed)."""
    index = path(run_dir, PHOTOS_INDEX)
    if not os.path.exists(index):
        return None
    with open(index) as f:
        entries = json.load(f)["photos"]
    folder = os.path.abspath(path(run_dir, PHOTOS_DIR))
    return Photos(
        [os.path.join(folder, e["file"]) for e in entries],
        np.array([e["label"] for e in entries], np.int32),
        [e["source"] for e in entries],
    )


# -------------------------------------------------------------------- runs


@dataclasses.dataclass
class Run:
    """A finished run, as export and the figures need it."""

    run_dir: str
    model: object  # keras.Model
    config: dict
    labels: list[str]
    samples: Samples

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.model.input_shape[1:])


def load_run(run_dir: str) -> Run:
    """Loads a finished run's model, config, labels and samples (no data needed)."""
    from keras_attn.saving import load_model

    require(run_dir, MODEL, CONFIG, LABELS, SAMPLES)
    labels = read_labels(run_dir)
    model = load_model(path(run_dir, MODEL))
    if int(model.output_shape[-1]) != len(labels):
        raise ValueError(
            f"{path(run_dir, LABELS)} has {len(labels)} labels but the model has "
            f"{model.output_shape[-1]} outputs."
        )
    return Run(run_dir, model, read_config(run_dir), labels, read_samples(run_dir))
