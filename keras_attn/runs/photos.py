"""The held-out photos a run folder keeps in `photos/`, as a client gets them."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

from keras_attn.runs.layout import PHOTO_QUALITY, PHOTOS, PHOTOS_DIR, PHOTOS_INDEX, path
from keras_attn.runs.samples import spread_over_classes
from keras_attn.utils import atomic_io


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
    a TFDS set, or from before the folder existed).

    Raises:
        ValueError: `photos/photos.json` is damaged (not JSON, cut short, or
            without its list of photos); one line naming the file.
    """
    index = path(run_dir, PHOTOS_INDEX)
    if not os.path.exists(index):
        return None
    damaged = (
        f"{index} is damaged ({{}}); the photos are optional: delete "
        f"{path(run_dir, PHOTOS_DIR)} to go without them, or train the run again"
    )
    try:
        with open(index, encoding="utf-8") as f:
            entries = json.load(f)["photos"]
        files = [str(e["file"]) for e in entries]
        labels = np.array([int(e["label"]) for e in entries], np.int32)
        sources = [str(e.get("source", "")) for e in entries]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise ValueError(damaged.format(f"{type(e).__name__}: {e}")) from None
    folder = os.path.abspath(path(run_dir, PHOTOS_DIR))
    return Photos([os.path.join(folder, f) for f in files], labels, sources)


def take_photos(photos: Photos, keep) -> Photos:
    """The photos at the indices `keep`, in order."""
    keep = list(keep)
    return Photos(
        [photos.files[i] for i in keep],
        photos.labels[keep],
        [photos.sources[i] for i in keep],
    )
