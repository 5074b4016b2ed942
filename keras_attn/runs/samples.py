"""The images a run folder keeps in `samples.npz`: int8 calibration images
and held-out images, drawn spread over the classes."""

from __future__ import annotations

import dataclasses

import numpy as np

from keras_attn.data.splits import Split
from keras_attn.runs.layout import (
    CALIBRATION_IMAGES,
    CALIBRATION_MAX,
    CALIBRATION_PER_CLASS,
    HELD_OUT_IMAGES,
    SAMPLES,
    path,
    require,
)
from keras_attn.utils import atomic_io


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
