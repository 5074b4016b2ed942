"""What a loaded dataset is: splits of uint8 images with labels, and class names."""

from __future__ import annotations

import dataclasses

import numpy as np

from keras_attn.data import fewshot


@dataclasses.dataclass
class Split:
    """Images and labels of one split.

    Attributes:
        images: (N, H, W, 3) uint8: a NumPy array, or `cache.ImageRows` (rows
            of a memory-mapped cache, read when indexed) for folders.
        labels: (N,) int32 class ids.
        ids: (N,) str: where each image comes from (a file path relative to
            the dataset folder, or `<split>[<index>]`), for reports.
        boxes: (N, 4) float32 `[ymin, xmin, ymax, xmax]` in [0, 1], the
            object's box (only `shapes` has them), else None.
    """

    images: np.ndarray
    labels: np.ndarray
    ids: np.ndarray | None = None
    boxes: np.ndarray | None = None

    def __post_init__(self):
        self.labels = np.asarray(self.labels, dtype=np.int32)
        if self.ids is None:
            self.ids = np.array([f"[{i}]" for i in range(len(self.labels))])

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, indices) -> Split:
        """Returns the examples at `indices`, as a new split (no image is read)."""
        indices = np.asarray(indices, dtype=np.int64)
        return Split(
            self.images.take(indices, axis=0),
            self.labels[indices],
            self.ids[indices],
            None if self.boxes is None else self.boxes[indices],
        )


def name_ids(split: Split, name: str) -> Split:
    """`split` with ids `<name>[<index>]` (for sets that have no files)."""
    split.ids = np.array([f"{name}[{i}]" for i in range(len(split))])
    return split


@dataclasses.dataclass
class Dataset:
    """A loaded dataset: splits, class names and notes for the run log.

    Attributes:
        name: the name it was loaded by (e.g. `cifar10`, `folder:PATH`).
        class_names: names of the label ids, in order.
        train, val: the (few-shot) training and validation splits.
        test: the whole test split, or None when the dataset has none.
        image_shape: the stored image shape, e.g. (32, 32, 3): what the
            model, and every file exported from it, takes.
        notes: warnings and facts worth recording (skipped files, resizing,
            where validation images came from).
    """

    name: str
    class_names: list[str]
    train: Split
    val: Split
    test: Split | None
    image_shape: tuple[int, int, int]
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def held_out(self) -> tuple[str, Split]:
        """The split results are reported on: `("test", test)`, else `("val", val)`."""
        if self.test is not None and len(self.test):
            return "test", self.test
        return "val", self.val


def few_shot_splits(
    train: Split,
    val: Split | None,
    *,
    shots: int | None,
    val_shots: int | None,
    seed: int,
    val_fraction: float,
    class_names: list[str],
    notes: list[str],
) -> tuple[Split, Split]:
    """Applies the few-shot protocol (`fewshot.few_shot_indices`) to splits."""
    train_idx, val_idx, val_from_train = fewshot.few_shot_indices(
        train.labels,
        None if val is None else val.labels,
        shots=shots,
        val_shots=val_shots,
        seed=seed,
        val_fraction=val_fraction,
        class_names=class_names,
    )
    if val_from_train:
        notes.append(
            f"validation: {len(val_idx)} images held out of the training split "
            f"(seed {seed})"
        )
        return train.take(train_idx), train.take(val_idx)
    return train.take(train_idx), val.take(val_idx)
