"""Datasets by name, as uint8 images at their stored size.

`load_dataset(name)` returns a `splits.Dataset`: `(N, H, W, 3)` uint8 images
and `(N,)` int32 labels per split, with the few-shot protocol of
`keras_attn.data.fewshot` applied. The path is free of TensorFlow (images are
decoded with Pillow), so the same code feeds the JAX and PyTorch backends;
only the TFDS sets import `tensorflow_datasets`, lazily.

Names:
- `shapes`: generated (`shapes.py`), 64x64, with object boxes.
- `cifar10`, `cifar100`, `stanford_cars`: TFDS (`tfds.py`); validation is a
  stratified held-out part of train.
- `folder:PATH`: a class-subfolder tree (`folder.py`), decoded into an
  on-disk cache (`cache.py`), its images read as they are needed.

Stored size: a set whose images are all one square size no larger than
`image_size` keeps it (CIFAR 32, Tiny ImageNet 64, `shapes` 64); anything
else (photos) is stored at `image_size` x `image_size`, resized keeping the
aspect ratio by `resize` (`crop`, `pad` or `squash`, see `images.py`). The
model takes the stored size and resizes to `image_size` itself.
"""

from __future__ import annotations

import numpy as np

from keras_attn.data import folder as folder_lib
from keras_attn.data import shapes as shapes_lib
from keras_attn.data import tfds as tfds_lib
from keras_attn.data.splits import Dataset, Split, few_shot_splits, name_ids
from keras_attn.errors import DataError
from keras_attn.images import DEFAULT_RESIZE, check_resize_mode

DATASET_NAMES = ("shapes", "cifar10", "cifar100", "stanford_cars", "folder:PATH")

# Per class, for the generated `shapes` set (shots/val_shots may ask for more).
SHAPES_PER_CLASS = {"train": 100, "val": 20, "test": 50}


def load_dataset(
    name: str,
    *,
    shots: int | None = None,
    val_shots: int | None = None,
    seed: int = 0,
    data_dir: str | None = None,
    image_size: int = 224,
    resize: str = DEFAULT_RESIZE,
    val_fraction: float = 0.1,
    download: bool = True,
    test_dir: str | None = None,
    cache_dir: str | None = None,
) -> Dataset:
    """Loads a dataset by name and applies the few-shot protocol.

    Args:
        name: one of `DATASET_NAMES` (`folder:PATH` with a real path).
        shots: training images per class, drawn with `seed`; None keeps all.
        val_shots: validation images per class, from the validation split
            when there is one, else from the training images not chosen for
            training; None keeps the whole validation split, or holds out a
            stratified `val_fraction` of the training split.
        seed: seed of every draw (and of the generated `shapes`).
        data_dir: TFDS data directory (None: TFDS's default).
        image_size: the stored side of images that are not already small
            squares (see the module docstring).
        resize: `crop`, `pad` or `squash`: how such images keep their aspect.
        val_fraction: share of each class held out for validation when the
            dataset has no validation split and `val_shots` is None.
        download: let TFDS download a missing dataset when its host is
            reachable (probed in a few seconds; never for cars196).
        test_dir: a class-subfolder tree with the same classes, used as the
            test split (it replaces the dataset's own).
        cache_dir: where folders' decoded images are cached (`cache.py`).

    Raises:
        DataError: (a `ValueError`) with one line naming the problem and fix.
    """
    for flag, value in (("--shots", shots), ("--val_shots", val_shots)):
        if value is not None and value < 1:
            raise DataError(f"{flag} must be at least 1. Received: {flag}={value}")
    if image_size < 8:
        raise DataError(f"image_size must be at least 8. Received: {image_size}")
    check_resize_mode(resize)
    sampling = dict(
        shots=shots, val_shots=val_shots, seed=seed, val_fraction=val_fraction
    )
    if name.startswith("folder:") and len(name) > len("folder:"):
        class_names, train, val, test, notes = folder_lib.load_folder(
            name[len("folder:") :],
            image_size=image_size,
            resize=resize,
            test_dir=test_dir,
            cache_dir=cache_dir,
            **sampling,
        )
        return Dataset(
            name, class_names, train, val, test, tuple(train.images.shape[1:]), notes
        )
    if name == "shapes":
        class_names = list(shapes_lib.SHAPE_CLASSES)
        splits = _make_shape_splits(shots, val_shots, seed)
    elif name in tfds_lib.TFDS_NAMES:
        class_names, splits = tfds_lib.load_tfds(
            name,
            data_dir=data_dir,
            image_size=image_size,
            resize=resize,
            download=download,
        )
    else:
        raise DataError(
            f"Unknown dataset {name!r}. Use one of: {', '.join(DATASET_NAMES)}."
        )
    notes: list[str] = []
    train, val = few_shot_splits(
        splits["train"],
        splits.get("val"),
        class_names=class_names,
        notes=notes,
        **sampling,
    )
    test = splits.get("test")
    image_shape = tuple(int(d) for d in train.images.shape[1:])
    if test_dir is not None:
        test = _test_folder(
            test_dir, class_names, image_shape, resize, cache_dir, notes
        )
    return Dataset(name, class_names, train, val, test, image_shape, notes)


def _make_shape_splits(
    shots: int | None, val_shots: int | None, seed: int
) -> dict[str, Split]:
    counts = dict(SHAPES_PER_CLASS)
    counts["train"] = max(counts["train"], shots or 0)
    counts["val"] = max(counts["val"], val_shots or 0)
    splits = {}
    for i, (split, count) in enumerate(counts.items()):
        # Independent streams per split, all fixed by `seed`.
        split_seed = np.random.SeedSequence([seed, i]).generate_state(1)[0]
        images, labels, boxes = shapes_lib.make_shapes(count, seed=int(split_seed))
        splits[split] = name_ids(Split(images, labels, boxes=boxes), split)
    return splits


def _test_folder(
    path: str,
    class_names: list[str],
    image_shape: tuple[int, int, int],
    resize: str,
    cache_dir: str | None,
    notes: list[str],
) -> Split:
    """A whole class-subfolder tree at the dataset's stored size, as a test split."""
    names, test, _, _, test_notes = folder_lib.load_folder(
        path,
        image_size=image_shape[0],
        resize=resize,
        cache_dir=cache_dir,
        val_fraction=0.0,
    )
    if names != class_names:
        raise DataError(
            f"Test folder {path!r} has other classes than the training data "
            f"({len(names)} vs {len(class_names)}); use the same class names."
        )
    notes += test_notes
    return test
