"""Decoded images on disk, memory-mapped, shared by runs and seeds.

A folder of photos is decoded once: `ImageCache` keeps one uint8 array
(N, H, W, 3) at the stored size for a list of N image files, in a
memory-mapped file under the cache folder, and a status byte per file
(not yet decoded, decoded, unreadable). `decode(rows)` decodes only the rows
that are not in the cache yet, in parallel threads (Pillow releases the GIL
while it decodes and resizes), with a progress bar, so:

- few-shot sampling decodes only the files it picked (`--shots=10` on 8,144
  photos decodes 1,960 + the validation picks), and another seed decodes
  only the files it adds;
- a second run on the same folder decodes nothing;
- memory does not grow with the photos' resolution or count: one photo per
  thread is decoded at a time (at reduced scale for JPEG, see
  `images.load_image`), and training reads batches from the mapped file, so
  only the pages it touches are resident.

The cache entry is keyed by the stored size, the resize mode and every
file's path (relative to the dataset folder), byte size and modification
time: an edited, added or removed file makes a new entry, and a moved folder
keeps its entry. The entry's data file is sparse, so rows never decoded take
no disk space. Entries are never evicted: delete the cache folder (printed by
`train.py`) to reclaim the space. Concurrent runs on the same folder take
turns through a lock file. An entry found damaged (a status file that does
not load, a data file of the wrong size: a full disk, a copy cut short) is
named in a warning and rebuilt, its images decoded again.

Cache folder: `cache_dir` argument (`train.py --cache_dir`), else
`$KERAS_ATTN_CACHE`, else `$XDG_CACHE_HOME/keras_attn` (default
`~/.cache/keras_attn`).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import os
import shutil

import numpy as np

from keras_attn import images as images_lib
from keras_attn.errors import DataError
from keras_attn.utils import atomic_io
from keras_attn.utils.progress import Progress

CACHE_VERSION = 1
TODO, DECODED, UNREADABLE = 0, 1, 2
# Rows decoded between two writes of the status file (progress survives a kill).
CHUNK = 256
# Free space kept beyond what the rows need.
SPARE_BYTES = 64 * 2**20

logger = logging.getLogger(__name__)


def default_cache_dir() -> str:
    if os.environ.get("KERAS_ATTN_CACHE"):
        return os.environ["KERAS_ATTN_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache"
    )
    return os.path.join(base, "keras_attn")


class ImageRows:
    """Chosen rows of an (N, H, W, C) array, read only when indexed.

    A training split of a cached folder is the cache's memory map plus the
    rows it uses; `split.images[batch_rows]` reads just those images. It
    indexes like a NumPy array along the first axis (int, slice, index
    array, optionally followed by indices of the other axes); `np.asarray`
    reads every row (avoid on large splits).
    """

    def __init__(self, array, rows):
        self.array = array
        self.rows = np.asarray(rows, dtype=np.int64)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.rows), *self.array.shape[1:])

    @property
    def dtype(self):
        return self.array.dtype

    @property
    def ndim(self) -> int:
        return self.array.ndim

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * self.array.dtype.itemsize

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key):
        head, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        rows = self.rows[head]
        out = np.asarray(self.array[rows])  # (n, H, W, C), or (H, W, C) for an int
        if rest:
            out = out[(slice(None), *rest) if np.ndim(rows) else rest]
        return out

    def __array__(self, dtype=None, copy=None):
        out = np.asarray(self.array[self.rows])
        return out if dtype is None else out.astype(dtype)

    def take(self, indices, axis: int = 0) -> ImageRows:
        if axis != 0:
            raise ValueError("ImageRows.take selects rows (axis=0) only.")
        return ImageRows(self.array, self.rows[np.asarray(indices, dtype=np.int64)])


class ImageCache:
    """The decoded images of `files` at `size`, in a memory-mapped file.

    Args:
        files: the image files, in row order.
        root: the folder their cache key is relative to (the dataset folder).
        size: stored size `(height, width)`.
        resize: how images are brought to `size` (`images.RESIZE_MODES`).
        cache_dir: the cache folder (default `default_cache_dir()`).
        workers: decoding threads (default: CPU count + 1, at most 8).
    """

    def __init__(
        self,
        files: list[str],
        root: str,
        size: tuple[int, int],
        resize: str = images_lib.DEFAULT_RESIZE,
        cache_dir: str | None = None,
        workers: int | None = None,
    ):
        self.files = list(files)
        self.size = tuple(int(s) for s in size)
        self.resize = resize
        self.workers = workers or min(8, (os.cpu_count() or 1) + 1)
        self.cache_dir = os.path.abspath(cache_dir or default_cache_dir())
        self.path = os.path.join(
            self.cache_dir, "images", self._key(root), f"{self.size[0]}x{self.size[1]}"
        )
        self.shape = (len(self.files), *self.size, 3)
        self._data_path = os.path.join(self.path, "images.u8")
        self._status_path = os.path.join(self.path, "status.npy")
        self._create()
        self.array = np.memmap(self._data_path, np.uint8, mode="r", shape=self.shape)

    def _key(self, root: str) -> str:
        entries = []
        for f in self.files:
            stat = os.stat(f)
            entries.append((os.path.relpath(f, root), stat.st_size, stat.st_mtime_ns))
        text = json.dumps([CACHE_VERSION, self.size, self.resize, entries])
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def _create(self) -> None:
        move = (
            "pass --cache_dir=DIR (or set KERAS_ATTN_CACHE) to a folder you can write"
        )
        try:
            os.makedirs(self.path, exist_ok=True)
        except OSError as e:
            raise DataError(
                f"Cannot create the image cache in {self.cache_dir} "
                f"({e.strerror}): {move}."
            ) from None
        self.read_only = not os.access(self.path, os.W_OK | os.X_OK)
        if self.read_only:  # a shared cache: usable if it holds every image
            whole = os.path.exists(self._status_path) and self._damage() is None
            if not (whole and (self.status() != TODO).all()):
                raise DataError(
                    f"The image cache {self.cache_dir} is read-only and does not "
                    f"hold these images decoded yet: {move}."
                )
            return
        with atomic_io.file_lock(self.path):
            if os.path.exists(self._status_path):
                damage = self._damage()
                if damage is None:
                    return
                logger.warning(
                    "The image cache entry %s is damaged (%s); rebuilding it "
                    "(its images are decoded again).",
                    self.path,
                    damage,
                )
            # A sparse file: rows take disk space once they are written.
            np.memmap(self._data_path, np.uint8, mode="w+", shape=self.shape).flush()
            self._write_status(np.zeros(len(self.files), np.uint8))
            atomic_io.write_json(
                os.path.join(self.path, "about.json"),
                {"files": len(self.files), "size": self.size, "resize": self.resize},
            )

    def _damage(self) -> str | None:
        """Why the entry's files cannot be used, or None when they can."""
        try:
            status = np.load(self._status_path)
        except Exception as e:  # noqa: BLE001 -- pickle, EOF, bad header, ...
            return f"status.npy does not load: {type(e).__name__}: {e}"
        if status.shape != (len(self.files),) or status.dtype != np.uint8:
            return (
                f"status.npy holds {status.dtype} {status.shape}, expected uint8 "
                f"({len(self.files)},)"
            )
        if status.max(initial=0) > UNREADABLE:
            return "status.npy holds unknown states"
        size = (
            os.path.getsize(self._data_path) if os.path.exists(self._data_path) else 0
        )
        if size != int(np.prod(self.shape)):
            return f"images.u8 is {size} bytes, expected {int(np.prod(self.shape))}"
        return None

    def status(self) -> np.ndarray:
        """(N,) uint8: `TODO`, `DECODED` or `UNREADABLE` for each file."""
        return np.load(self._status_path)

    def _write_status(self, status: np.ndarray) -> None:
        with atomic_io.atomic_path(self._status_path, suffix=".npy") as tmp:
            np.save(tmp, status)

    def decode(self, rows, progress: bool = True) -> np.ndarray:
        """Decodes the `rows` that are not cached yet; returns the unreadable ones.

        Raises:
            DataError: not enough free disk space for the new rows.
        """
        rows = np.unique(np.asarray(rows, dtype=np.int64))
        if self.read_only:  # every row is decoded (checked when opened)
            return rows[self.status()[rows] == UNREADABLE]
        with atomic_io.file_lock(self.path):
            status = self.status()
            todo = rows[status[rows] == TODO]
            if len(todo):
                self._check_space(len(todo))
                self._decode(todo, status, progress)
        return rows[status[rows] == UNREADABLE]

    def _check_space(self, count: int) -> None:
        need = count * int(np.prod(self.shape[1:]))
        free = shutil.disk_usage(self.path).free
        if free < need + SPARE_BYTES:
            raise DataError(
                f"The image cache needs {need / 2**20:.0f} MB more in "
                f"{self.cache_dir} and only {free / 2**20:.0f} MB are free: free "
                "some space or pass --cache_dir=DIR on another disk."
            )

    def _decode(self, todo: np.ndarray, status: np.ndarray, progress: bool) -> None:
        array = np.memmap(self._data_path, np.uint8, mode="r+", shape=self.shape)
        bar = None
        if progress:
            height, width = self.size
            print(
                f"Decoding {len(todo)} images to {height}x{width} "
                f"({self.resize}), cache {self.path}"
            )
            bar = Progress(len(todo))
        with concurrent.futures.ThreadPoolExecutor(self.workers) as pool:
            for start in range(0, len(todo), CHUNK):
                chunk = todo[start : start + CHUNK]
                for row, image in zip(chunk, pool.map(self._load, chunk), strict=True):
                    if image is None:
                        status[row] = UNREADABLE
                    else:
                        array[row] = image
                        status[row] = DECODED
                array.flush()  # the rows are on disk before the status says so
                self._write_status(status)
                if bar is not None:
                    bar.add(len(chunk))
        del array

    def _load(self, row: int) -> np.ndarray | None:
        try:
            return images_lib.load_image(self.files[row], self.size, self.resize)
        except Exception:  # noqa: BLE001 -- corrupt, truncated or not an image
            return None
