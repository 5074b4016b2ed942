"""TFDS datasets by name: `cifar10`, `cifar100`, `stanford_cars` (`cars196`).

Loaded with `tensorflow_datasets` (imported lazily) into uint8 arrays. The
stored-size rule of folders holds here too: fixed-size square images no
larger than `image_size` keep their size (CIFAR's 32x32); variable-size ones
(cars196's photos) are resized one at a time, as they are decoded, to
`image_size` x `image_size` with the `resize` mode (`images.py`), so only
small arrays are kept. Validation comes from the training split
(`splits.few_shot_splits`).

Offline, `tfds.load` retries for minutes before it fails: the host of the
download is probed first (a few seconds) and a missing dataset becomes one
line saying what to do. cars196's download URLs are dead: its error says
where to put the archives.
"""

from __future__ import annotations

import os
import socket
import threading

import numpy as np
from PIL import Image

from keras_attn import images as images_lib
from keras_attn.data.splits import Split, name_ids
from keras_attn.errors import DataError

TFDS_NAMES = {"cifar10": "cifar10", "cifar100": "cifar100", "stanford_cars": "cars196"}
CARS_MANUAL_FILES = (
    "cars_train.tgz",
    "cars_test.tgz",
    "car_devkit.tgz",
    "cars_test_annos_withlabels.mat",
)
# A host of each download, probed before letting TFDS download.
_HOSTS = {"cifar10": "www.cs.toronto.edu", "cifar100": "www.cs.toronto.edu"}


def online(host: str, timeout: float = 3.0) -> bool:
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
            f"{', '.join(CARS_MANUAL_FILES)} in {manual}/ (or pass --data_dir "
            "to a prepared TFDS dir), or use "
            "folder:../shared/data/stanford_cars_fewshot."
        )
    hint = ", or use folder:../shared/data/cifar10" if name == "cifar10" else ""
    return DataError(
        f"Dataset {name} is not prepared in {data_root} and cannot be "
        "downloaded (offline?): run once with internet, or pass --data_dir to "
        f"a prepared TFDS dir{hint}."
    )


def _prepared_builder(name: str, data_dir: str | None, download: bool):
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise DataError(
            f"Dataset {name} needs tensorflow-datasets ({e}): "
            "pip install tensorflow-datasets importlib_resources, or use folder:PATH."
        ) from None
    tfds_name = TFDS_NAMES[name]
    builder = tfds.builder(tfds_name, data_dir=data_dir)
    data_root = os.path.dirname(os.path.dirname(builder.data_dir))
    try:
        builder.as_dataset(split="train")
        return builder
    except AssertionError:  # "could not find data": not prepared here
        pass
    if tfds_name == "cars196":
        manual = os.path.join(data_root, "downloads", "manual")
        can_prepare = all(
            os.path.exists(os.path.join(manual, f)) for f in CARS_MANUAL_FILES
        )
    else:
        can_prepare = download and online(_HOSTS[tfds_name])
    if not can_prepare:
        raise _not_prepared_error(name, tfds_name, data_root) from None
    try:
        builder.download_and_prepare()
    except Exception as e:  # turned into one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
        raise DataError(
            f"Preparing {name} (TFDS {tfds_name}) in {data_root} failed: {first}"
        ) from None
    return builder


def load_tfds(
    name: str,
    *,
    data_dir: str | None,
    image_size: int,
    resize: str = images_lib.DEFAULT_RESIZE,
    download: bool = True,
) -> tuple[list[str], dict[str, Split]]:
    """Returns `(class_names, {"train": Split, "test": Split})` of a TFDS set."""
    import tensorflow_datasets as tfds

    builder = _prepared_builder(name, data_dir, download)
    height, width, _ = builder.info.features["image"].shape
    native = height is not None and height == width and height <= image_size
    size = (height, width) if native else (image_size, image_size)
    splits = {}
    for split in ("train", "test"):
        ds = builder.as_dataset(split=split)
        if native:  # whole batches, as they are
            batches = list(tfds.as_numpy(ds.batch(4096)))
            images = np.concatenate([b["image"] for b in batches])
            labels = np.concatenate([b["label"] for b in batches])
            if images.shape[-1] == 1:
                images = np.repeat(images, 3, axis=-1)
        else:  # one photo at a time, straight to the stored size
            images, labels = [], []
            for example in tfds.as_numpy(ds):
                images.append(_stored(example["image"], size, resize))
                labels.append(example["label"])
            images = np.stack(images) if images else np.zeros((0, *size, 3), np.uint8)
        splits[split] = name_ids(Split(np.asarray(images, np.uint8), labels), split)
    return list(builder.info.features["label"].names), splits


def _stored(image: np.ndarray, size: tuple[int, int], resize: str) -> np.ndarray:
    """One decoded TFDS image (h, w, 1 or 3) at the stored size, RGB."""
    pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    return np.asarray(images_lib.resize_image(images_lib.to_rgb(pil), size, resize))
