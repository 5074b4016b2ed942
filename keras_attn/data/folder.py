"""Class-subfolder trees (`folder:PATH`): listed, sampled, then decoded.

Layout: `PATH/<class>/<image>`, or `PATH/train/<class>/<image>` with optional
`PATH/val` and `PATH/test` (the same class subfolders in each). Any file
Pillow reads counts as an image; hidden files are ignored, unreadable ones
(a corrupt image, a symlink loop, a dangling link) skipped with a note. Class
folder names become `labels.txt` lines and TFLite metadata, so a name with a
line break or other control character, or one that is not UTF-8, is refused
up front.

The order of work keeps memory and time bounded whatever the photos:

1. list the files (no decoding) and choose the stored size from their
   headers: a folder whose images all share one square size no larger than
   `image_size` (CIFAR 32x32, Tiny ImageNet 64x64) keeps it; any other folder
   (photos: mixed sizes, aspect ratios, 12 MP) is stored at
   `image_size` x `image_size`, resized by `resize` (see `images.py`);
2. draw the few-shot picks from the file list (`shots`, `val_shots`);
3. decode only the picked files (and the whole test split) into the
   on-disk cache (`cache.py`), which later runs and seeds reuse.

A picked file that turns out unreadable is dropped and the draw is repeated
without it, so every class still gets its `shots` readable images.
"""

from __future__ import annotations

import logging
import os
import unicodedata

import numpy as np

from keras_attn import images as images_lib
from keras_attn.data.cache import UNREADABLE, ImageCache, ImageRows
from keras_attn.data.splits import Split, few_shot_splits
from keras_attn.errors import DataError

LAYOUT = "PATH/<class>/<image> or PATH/train/<class>/<image>"
SPLITS = ("train", "val", "test")

logger = logging.getLogger(__name__)


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:  # a symlink loop: not a class folder
        return False


def class_dirs(root: str) -> list[str]:
    return sorted(
        e.name for e in os.scandir(root) if _is_dir(e) and not e.name.startswith(".")
    )


def _list_files(folder: str) -> tuple[list[str], list[str]]:
    """`(files, broken)`: the folder's files, and the entries that cannot be
    read at all (a symlink loop, a dangling link), to be skipped with a note."""
    files, broken = [], []
    for entry in os.scandir(folder):
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_file():
                files.append(entry.path)
            elif entry.is_symlink() and not os.path.exists(entry.path):
                broken.append(entry.path)  # dangling
        except OSError:  # ELOOP: too many levels of symbolic links
            broken.append(entry.path)
    return sorted(files), sorted(broken)


def split_roots(path: str) -> dict[str, str]:
    """The split folders of a dataset folder: `{"train": ..., ["val", "test"]}`."""
    if os.path.isfile(path):
        raise DataError(
            f"Dataset folder {path!r} is a file; pass the folder that holds the "
            f"class subfolders: folder:PATH with {LAYOUT}."
        )
    if not os.path.isdir(path):
        raise DataError(
            f"Dataset folder {path!r} does not exist. Pass folder:PATH with {LAYOUT}."
        )
    if not os.path.isdir(os.path.join(path, "train")):
        return {"train": path}
    return {
        split: os.path.join(path, split)
        for split in SPLITS
        if os.path.isdir(os.path.join(path, split))
    }


def _class_names(root: str) -> list[str]:
    names = class_dirs(root)
    if not names:
        raise DataError(
            f"Dataset folder {root!r} has no class subfolders. Expected {LAYOUT}."
        )
    if len(names) < 2:
        raise DataError(
            f"Dataset folder {root!r} has one class ({names[0]!r}); a classifier "
            "needs at least 2 class subfolders."
        )
    for name in names:
        check_class_name(root, name)
    return names


def check_class_name(root: str, name: str) -> None:
    """Refuses a class folder name that `labels.txt` (one UTF-8 name a line)
    cannot hold: a line break would split it in two, a name that is not UTF-8
    (the file system's raw bytes) cannot be written."""
    path = os.path.join(root, name)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise DataError(
            f"Class folder {path!r} has a name that is not UTF-8; class names "
            "go to labels.txt and the exported files as UTF-8: rename the folder."
        ) from None
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise DataError(
            f"Class folder {path!r} has a line break or another control "
            "character in its name; labels.txt holds one name a line: rename "
            "the folder."
        )


def class_difference(expected: list[str], found: list[str]) -> str:
    """`missing [...], extra [...]`: how `found` class names differ (5 of each)."""
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))

    def names(items):
        return f"{items[:5]}{' ...' if len(items) > 5 else ''}"

    return f"missing {names(missing)}, extra {names(extra)}"


def _labelled_files(root: str, class_names: list[str], reference: str):
    """`(files, labels, broken)` of one split folder, whose classes must be
    `class_names`; `broken`: entries that cannot be read (`_list_files`)."""
    names = class_dirs(root)
    if names != class_names:
        raise DataError(
            f"Classes of {root!r} differ from {reference!r} "
            f"({class_difference(class_names, names)}). Use the same class "
            "subfolders in every split."
        )
    files, labels, broken = [], [], []
    for label, name in enumerate(class_names):
        found, unreadable = _list_files(os.path.join(root, name))
        files += found
        labels += [label] * len(found)
        broken += unreadable
    return files, np.asarray(labels, dtype=np.int32), broken


def choose_stored_size(
    files: list[str], image_size: int
) -> tuple[tuple[int, int], bool]:
    """Returns `(size, native)`: the images' own size if every image is the
    same square no larger than `image_size` (read from headers, stopping at the
    first that is not), else `(image_size, image_size)`."""
    first = None
    for path in files:
        size = images_lib.decoded_size(path)
        if size is None:
            continue
        first = first or size
        if size != first or size[0] != size[1] or size[0] > image_size:
            return (image_size, image_size), False
    return (first, True) if first else ((image_size, image_size), False)


def load_folder(
    path: str,
    *,
    image_size: int,
    resize: str = images_lib.DEFAULT_RESIZE,
    shots: int | None = None,
    val_shots: int | None = None,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_dir: str | None = None,
    cache_dir: str | None = None,
) -> tuple[list[str], Split, Split, Split | None, list[str]]:
    """Loads a class-subfolder tree; returns `(class_names, train, val, test, notes)`.

    See the module docstring; arguments as in `datasets.load_dataset`.
    `test_dir` (a tree with the same classes) replaces the folder's test split.
    """
    roots = split_roots(path)
    if test_dir is not None:
        if not os.path.isdir(test_dir):
            raise DataError(f"--test_dir={test_dir} is not a folder.")
        roots["test"] = test_dir
    class_names = _class_names(roots["train"])
    files, labels, offsets, broken = [], {}, {}, []
    for split, root in roots.items():
        try:
            split_files, labels[split], unreadable = _labelled_files(
                root, class_names, roots["train"]
            )
            broken += [os.path.relpath(f, path) for f in unreadable]
        except DataError as e:
            if split == "test" and test_dir is not None:
                raise DataError(
                    f"Test folder {test_dir!r} has other classes than the training "
                    f"data: {e}"
                ) from None
            raise
        offsets[split] = len(files)
        files += split_files

    # The training images fix the stored size; test images follow it.
    size, native = choose_stored_size(files[: offsets.get("test")], image_size)
    cache = ImageCache(files, path, size, resize, cache_dir)
    ids = np.array([os.path.relpath(f, path) for f in files])
    bad = cache.status() == UNREADABLE
    while True:
        splits = {}
        for split in labels:
            rows = offsets[split] + np.arange(len(labels[split]))
            keep = rows[~bad[rows]]
            split_labels = labels[split][keep - offsets[split]]
            splits[split] = Split(ImageRows(cache.array, keep), split_labels, ids[keep])
        counts = np.bincount(splits["train"].labels, minlength=len(class_names))
        if (counts == 0).any():
            _raise_empty_class(roots["train"], class_names[int(np.argmin(counts))])
        notes: list[str] = []
        train, val = few_shot_splits(
            splits["train"],
            splits.get("val"),
            shots=shots,
            val_shots=val_shots,
            seed=seed,
            val_fraction=val_fraction,
            class_names=class_names,
            notes=notes,
        )
        test = splits.get("test")
        wanted = [s.images.rows for s in (train, val, test) if s is not None]
        failed = cache.decode(np.concatenate(wanted))
        if not len(failed):
            break
        bad[failed] = True  # drop them and draw again

    if not native:
        notes.append(
            f"images stored at {size[0]}x{size[1]} (--resize={resize}); the "
            "model and every exported file take that size"
        )
    if bad.any() or broken:
        skipped = broken + [ids[i] for i in np.flatnonzero(bad)]
        shown = ", ".join(skipped[:3])
        more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        message = f"skipped {len(skipped)} unreadable file(s) in {path}: {shown}{more}"
        notes.append(message)
        logger.warning(message)
    return class_names, train, val, test, notes


def _raise_empty_class(root: str, name: str):
    raise DataError(
        f"Class folder {os.path.join(root, name)!r} has no readable images. Add "
        "JPEG/PNG images or remove the folder."
    )
