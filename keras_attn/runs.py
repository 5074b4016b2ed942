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
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import json
import os
import shutil

import numpy as np

from keras_attn import io_utils
from keras_attn.data.splits import Split

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

CALIBRATION_IMAGES = 100
HELD_OUT_IMAGES = 500


def path(run_dir: str, name: str) -> str:
    """The path of one of the files above (e.g. `path(run_dir, runs.MODEL)`)."""
    return os.path.join(run_dir, name)


# ------------------------------------------------------------------ folder


def check_writable(run_dir: str) -> None:
    """Fails early, with one line, if `run_dir` cannot become a run folder.

    Raises:
        ValueError: `run_dir` is a file, lies under a file, or its nearest
            existing folder is not writable.
    """
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise ValueError(
            f"--run_dir={run_dir} is a file, not a folder; pass a folder path."
        )
    existing = os.path.abspath(run_dir)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ValueError(
            f"Cannot create --run_dir={run_dir}: {existing} is a file; pass a "
            "folder path."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(
            f"Cannot write in {existing} (permission denied) for --run_dir="
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
    leftovers = glob.glob(os.path.join(folder, io_utils.TEMP_PREFIX + "*"))
    leftovers += glob.glob(os.path.join(folder, io_utils.OLD_PREFIX + "*"))
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
    io_utils.write_json(path(run_dir, CONFIG), config)


def read_config(run_dir: str) -> dict:
    with open(path(run_dir, CONFIG)) as f:
        return json.load(f)


def write_labels(folder: str, names: list[str]) -> None:
    io_utils.write_text(path(folder, LABELS), "\n".join(names) + "\n")


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
        with io_utils.atomic_path(history_path) as tmp:
            with open(tmp, "w", newline="") as f:
                f.writelines(kept)


def write_metrics(run_dir: str, metrics: dict) -> None:
    io_utils.write_json(path(run_dir, METRICS), metrics)


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


def draw_samples(
    train: Split,
    held_out: Split,
    held_out_split: str,
    seed: int = 0,
    calibration: int = CALIBRATION_IMAGES,
    held_out_count: int = HELD_OUT_IMAGES,
) -> Samples:
    """Random subsets (in split order) of the training and held-out splits."""
    rng = np.random.default_rng(seed)

    def subset(split: Split, count: int) -> Split:
        keep = np.sort(rng.permutation(len(split))[:count])
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
    with io_utils.atomic_path(path(run_dir, SAMPLES), suffix=".npz") as tmp:
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
    from keras_attn import load_model

    require(run_dir, MODEL, CONFIG, LABELS, SAMPLES)
    labels = read_labels(run_dir)
    model = load_model(path(run_dir, MODEL))
    if int(model.output_shape[-1]) != len(labels):
        raise ValueError(
            f"{path(run_dir, LABELS)} has {len(labels)} labels but the model has "
            f"{model.output_shape[-1]} outputs."
        )
    return Run(run_dir, model, read_config(run_dir), labels, read_samples(run_dir))
