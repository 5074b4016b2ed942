"""Datasets by name, as decoded uint8 NumPy arrays.

`load_dataset(name)` returns a `Dataset` of `Split`s: `(N, H, W, 3)` uint8
images and `(N,)` int32 labels, with the few-shot protocol of
`keras_attn.data.fewshot` applied. The path is free of TensorFlow (images are
decoded with Pillow), so the same code feeds the JAX and PyTorch backends;
only the TFDS sets (`cifar10`, `cifar100`, `stanford_cars`) import
`tensorflow_datasets`, lazily.

Names:
- `shapes`: generated (`keras_attn.data.shapes`), 64x64, with object boxes.
- `cifar10`, `cifar100`: TFDS, 32x32, train/test; validation is a stratified
  held-out part of train.
- `stanford_cars`: TFDS `cars196` (196 classes), resized to `image_size` once
  when decoded. Its download URLs are dead: place the original archives in
  `<data_dir>/downloads/manual/` (see the error message).
- `folder:PATH`: a class-subfolder tree, `PATH/<class>/<image>` or
  `PATH/train/<class>/<image>` with optional `PATH/val` and `PATH/test`.

Images keep their size when all of a dataset's images share one (CIFAR 32x32,
Tiny ImageNet 64x64); otherwise each is resized to `image_size` x `image_size`
(bilinear) once, at decode time. The model resizes to its own input size.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import socket
import threading

import numpy as np
from PIL import Image

from keras_attn.data import fewshot
from keras_attn.data import shapes as shapes_lib
from keras_attn.data.fewshot import DataError

DATASET_NAMES = ("shapes", "cifar10", "cifar100", "stanford_cars", "folder:PATH")

# Per class, for the generated `shapes` set (shots/val_shots may ask for more).
SHAPES_PER_CLASS = {"train": 100, "val": 20, "test": 50}

_TFDS_NAMES = {"cifar10": "cifar10", "cifar100": "cifar100", "stanford_cars": "cars196"}
_CARS_MANUAL_FILES = (
    "cars_train.tgz",
    "cars_test.tgz",
    "car_devkit.tgz",
    "cars_test_annos_withlabels.mat",
)
# A host of each download, probed before letting TFDS download (offline,
# `tfds.load` retries for minutes before it fails).
_TFDS_HOSTS = {"cifar10": "www.cs.toronto.edu", "cifar100": "www.cs.toronto.edu"}

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Split:
    """Images and labels of one split.

    Attributes:
        images: (N, H, W, 3) uint8.
        labels: (N,) int32 class ids.
        boxes: (N, 4) float32 `[ymin, xmin, ymax, xmax]` in [0, 1], the
            object's box (only `shapes` has them), else None.
    """

    images: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, indices: np.ndarray) -> Split:
        """Returns the examples at `indices`, as a new split."""
        boxes = None if self.boxes is None else self.boxes[indices]
        return Split(self.images[indices], self.labels[indices], boxes)


@dataclasses.dataclass
class Dataset:
    """A loaded dataset: splits, class names and notes for the run log.

    Attributes:
        name: the name it was loaded by (e.g. `cifar10`, `folder:PATH`).
        class_names: names of the label ids, in order.
        train, val: the (few-shot) training and validation splits.
        test: the whole test split, or None when the dataset has none.
        image_shape: the stored image shape, e.g. (32, 32, 3).
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


def load_dataset(
    name: str,
    *,
    shots: int | None = None,
    val_shots: int | None = None,
    seed: int = 0,
    data_dir: str | None = None,
    image_size: int = 224,
    val_fraction: float = 0.1,
    download: bool = True,
    test_dir: str | None = None,
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
        image_size: side that variable-size images (Stanford Cars, folders of
            mixed sizes) are resized to once at decode; fixed-size sets keep
            their size.
        val_fraction: share of each class held out for validation when the
            dataset has no validation split and `val_shots` is None.
        download: let TFDS download a missing dataset when its host is
            reachable (probed in a few seconds; never for cars196).
        test_dir: a class-subfolder tree with the same classes, used as the
            test split (for sets whose test images live elsewhere, e.g. a
            held-out test set); it replaces the dataset's own test split.

    Raises:
        DataError: (a `ValueError`) with one line naming the problem and fix.
    """
    for flag, value in (("--shots", shots), ("--val_shots", val_shots)):
        if value is not None and value < 1:
            raise DataError(f"{flag} must be at least 1. Received: {flag}={value}")
    if image_size < 8:
        raise DataError(f"image_size must be at least 8. Received: {image_size}")
    notes: list[str] = []
    val_split = None
    if name == "shapes":
        class_names = list(shapes_lib.SHAPE_CLASSES)
        splits = _make_shape_splits(shots, val_shots, seed)
    elif name in _TFDS_NAMES:
        class_names, splits = _load_tfds(
            name, data_dir=data_dir, image_size=image_size, download=download
        )
    elif name.startswith("folder:") and len(name) > len("folder:"):
        class_names, splits = _load_folder(name[len("folder:") :], image_size, notes)
    else:
        raise DataError(
            f"Unknown dataset {name!r}. Use one of: {', '.join(DATASET_NAMES)}."
        )
    train, val_split, test = splits.get("train"), splits.get("val"), splits.get("test")
    if test_dir is not None:
        test = _load_test_dir(test_dir, class_names, train.images.shape[1:3], notes)

    train_idx, val_idx, val_from_train = fewshot.few_shot_indices(
        train.labels,
        None if val_split is None else val_split.labels,
        shots=shots,
        val_shots=val_shots,
        seed=seed,
        val_fraction=val_fraction,
        class_names=class_names,
    )
    val = train.take(val_idx) if val_from_train else val_split.take(val_idx)
    if val_from_train:
        notes.append(
            f"validation: {len(val)} images held out of the training split "
            f"(seed {seed})"
        )
    train = train.take(train_idx)
    return Dataset(
        name=name,
        class_names=class_names,
        train=train,
        val=val,
        test=test,
        image_shape=tuple(int(d) for d in train.images.shape[1:]),
        notes=notes,
    )


# --------------------------------------------------------------------- shapes


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
        splits[split] = Split(images, labels, boxes)
    return splits


# ----------------------------------------------------------------------- TFDS


def _online(host: str, timeout: float = 3.0) -> bool:
    """Whether `host:443` answers within `timeout` s (DNS included)."""
    result = []

    def probe():
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            result.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result)


def _not_prepared_error(name: str, tfds_name: str, data_root: str) -> DataError:
    if tfds_name == "cars196":
        manual = os.path.join(data_root, "downloads", "manual")
        return DataError(
            f"Dataset {name} (TFDS cars196) is not prepared in {data_root}, and "
            "its download URLs are dead: put "
            f"{', '.join(_CARS_MANUAL_FILES)} in {manual}/ (or pass --data_dir "
            "to a prepared TFDS dir), or use "
            "folder:../shared/data/stanford_cars_fewshot."
        )
    hint = ", or use folder:../shared/data/cifar10" if name == "cifar10" else ""
    return DataError(
        f"Dataset {name} is not prepared in {data_root} and cannot be "
        "downloaded (offline?): run once with internet, or pass --data_dir to "
        f"a prepared TFDS dir{hint}."
    )


def _load_tfds(
    name: str, *, data_dir: str | None, image_size: int, download: bool
) -> tuple[list[str], dict[str, Split]]:
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise DataError(
            f"Dataset {name} needs tensorflow-datasets ({e}): "
            "pip install tensorflow-datasets importlib_resources, or use folder:PATH."
        ) from None
    tfds_name = _TFDS_NAMES[name]
    builder = tfds.builder(tfds_name, data_dir=data_dir)
    data_root = os.path.dirname(os.path.dirname(builder.data_dir))
    try:
        builder.as_dataset(split="train")
    except AssertionError:  # "could not find data": not prepared here
        if tfds_name == "cars196":
            manual = os.path.join(data_root, "downloads", "manual")
            can_prepare = all(
                os.path.exists(os.path.join(manual, f)) for f in _CARS_MANUAL_FILES
            )
        else:
            can_prepare = download and _online(_TFDS_HOSTS[tfds_name])
        if not can_prepare:
            raise _not_prepared_error(name, tfds_name, data_root) from None
        try:
            builder.download_and_prepare()
        except Exception as e:  # turned into one line
            first = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
            raise DataError(
                f"Preparing {name} (TFDS {tfds_name}) in {data_root} failed: {first}"
            ) from None

    variable_size = None in builder.info.features["image"].shape[:2]
    splits = {}
    for split in ("train", "test"):
        ds = builder.as_dataset(split=split)
        if variable_size:
            images, labels = [], []
            for example in tfds.as_numpy(ds):
                images.append(_resize(example["image"], image_size))
                labels.append(example["label"])
            images = np.stack(images) if images else np.zeros((0,) * 4, np.uint8)
        else:
            batches = list(tfds.as_numpy(ds.batch(4096)))
            images = np.concatenate([b["image"] for b in batches])
            labels = np.concatenate([b["label"] for b in batches])
        splits[split] = Split(_as_rgb_uint8(images), np.asarray(labels, dtype=np.int32))
    return list(builder.info.features["label"].names), splits


def _as_rgb_uint8(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images, dtype=np.uint8)
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    return images


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    if image.shape[:2] == (size, size):
        return image
    if image.shape[-1] == 1:
        image = image[..., 0]
    pil = Image.fromarray(image).convert("RGB")
    return np.asarray(pil.resize((size, size), Image.Resampling.BILINEAR))


# --------------------------------------------------------------------- folder


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow image as RGB: greyscale expanded, alpha composited on white,
    16-bit / float greyscale scaled to 8 bits. Training and `predict.py` share it."""
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    elif img.mode.startswith("I;16") or img.mode in ("I", "F"):
        array = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if array.max() > 255 else 255.0
        array = np.clip(array / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        img = Image.fromarray(array)
    return img.convert("RGB")


def _decode(path: str) -> np.ndarray | None:
    """Decodes any Pillow-readable image to (H, W, 3) uint8 RGB; None if not."""
    try:
        with Image.open(path) as img:
            img.load()  # a truncated file fails here, not later
            return np.asarray(to_rgb(img), dtype=np.uint8)
    except Exception:  # corrupt, truncated or not an image
        return None


def _class_dirs(root: str) -> list[str]:
    return sorted(
        e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith(".")
    )


def _list_files(folder: str) -> list[str]:
    return sorted(
        e.path for e in os.scandir(folder) if e.is_file() and not e.name.startswith(".")
    )


def _load_test_dir(
    path: str, class_names: list[str], size: tuple[int, int], notes: list[str]
) -> Split:
    test_names, splits = _load_folder(path, max(size), notes)
    if test_names != class_names:
        raise DataError(
            f"Test folder {path!r} has other classes than the training data "
            f"({len(test_names)} vs {len(class_names)}); use the same class names."
        )
    test = splits["train"]
    if test.images.shape[1:3] != tuple(size):
        images = np.stack([_resize(image, size[0]) for image in test.images])
        test = Split(images, test.labels)
    return test


def _load_folder(
    path: str, image_size: int, notes: list[str]
) -> tuple[list[str], dict[str, Split]]:
    layout = "PATH/<class>/<image> or PATH/train/<class>/<image>"
    if not os.path.isdir(path):
        raise DataError(
            f"Dataset folder {path!r} does not exist. Pass folder:PATH with {layout}."
        )
    train_root = os.path.join(path, "train")
    if os.path.isdir(train_root):
        roots = {"train": train_root}
        for split in ("val", "test"):
            if os.path.isdir(os.path.join(path, split)):
                roots[split] = os.path.join(path, split)
    else:
        roots = {"train": path}

    class_names = _class_dirs(roots["train"])
    if not class_names:
        raise DataError(
            f"Dataset folder {roots['train']!r} has no class subfolders. "
            f"Expected {layout}."
        )
    if len(class_names) < 2:
        raise DataError(
            f"Dataset folder {roots['train']!r} has one class "
            f"({class_names[0]!r}); a classifier needs at least 2 class subfolders."
        )
    files: dict[str, list[tuple[str, int]]] = {}
    for split, root in roots.items():
        names = _class_dirs(root)
        if names != class_names:
            missing = sorted(set(class_names) - set(names))
            extra = sorted(set(names) - set(class_names))
            raise DataError(
                f"Classes of {root!r} differ from {roots['train']!r} (missing "
                f"{missing[:5]}, extra {extra[:5]}). Use the same class "
                "subfolders in every split."
            )
        files[split] = [
            (f, label)
            for label, name in enumerate(class_names)
            for f in _list_files(os.path.join(root, name))
        ]

    everything = [f for split_files in files.values() for f, _ in split_files]
    workers = min(8, (os.cpu_count() or 1) + 1)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        decoded = dict(
            zip(everything, pool.map(_decode, everything, chunksize=64), strict=True)
        )

    skipped = [f for f, image in decoded.items() if image is None]
    if skipped:
        shown = ", ".join(os.path.relpath(f, path) for f in skipped[:3])
        more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        message = f"skipped {len(skipped)} unreadable file(s) in {path}: {shown}{more}"
        notes.append(message)
        logger.warning(message)

    sizes = {image.shape for image in decoded.values() if image is not None}
    resize = len(sizes) > 1
    if resize:
        message = (
            f"images of {len(sizes)} different sizes: resized to "
            f"{image_size}x{image_size}"
        )
        notes.append(message)
        logger.info(message)

    splits = {}
    for split, split_files in files.items():
        images, labels = [], []
        for f, label in split_files:
            image = decoded[f]
            if image is not None:
                images.append(_resize(image, image_size) if resize else image)
                labels.append(label)
        counts = np.bincount(
            np.asarray(labels, dtype=np.int64), minlength=len(class_names)
        )
        if split == "train" and (counts == 0).any():
            empty = class_names[int(np.argmin(counts))]
            raise DataError(
                f"Class folder {os.path.join(roots[split], empty)!r} has no "
                "readable images. Add JPEG/PNG images or remove the folder."
            )
        if resize or not sizes:
            shape = (0, image_size, image_size, 3)
        else:
            shape = (0, *next(iter(sizes)))
        splits[split] = Split(
            np.stack(images) if images else np.zeros(shape, np.uint8),
            np.asarray(labels, dtype=np.int32),
        )
    return class_names, splits
