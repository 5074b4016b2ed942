"""Classifying many images: what `predict.py` does with files, folders and globs.

Built for folders of hundreds of thousands of photos, in bounded memory:

- `image_files(args, shard)` turns command-line arguments into image files:
  a file as it is, a folder walked recursively for every extension Pillow
  reads, a glob (quoted, so the shell leaves it) expanded with `**` support.
  Only the paths are listed; nothing is opened yet.
- `classify(classifier, files)` decodes the files in a pool of threads
  (Pillow releases the GIL while it decodes and resizes), a bounded window
  ahead of the model, as training stored images (`edge.load_image`), and
  yields the results a batch at a time, in order: memory holds a few
  batches of small images, whatever the number of files.
- `ResultsCsv` appends each batch's rows to the `--csv` file and flushes
  them, so a killed run keeps what it finished. Started again on the same
  file, it skips the files that already have a row: it first cuts a partial
  last line (a run killed mid-write) back to the last complete row, so no
  row is lost or written twice. Which model wrote the rows is recorded in a
  sidecar `<csv>.json` (the model file's path, size and sha256, the labels,
  `--top_k`, `--resize` and `--shard`; the CSV itself stays a plain table
  for `csv` or pandas), and a CSV written by another model or with other
  flags is refused rather than mixed.
- `--shard=i/n` (`parse_shard`): n machines or processes each take the
  files whose stable hash (sha1 of the path below the folder argument that
  found it, else of the path as given) falls in their shard, so the shards
  are disjoint, together cover every file once, and agree even where the
  folder is mounted at different places. Each shard writes its own CSV; the
  CSVs concatenated (minus their headers) have one row per file.
"""

from __future__ import annotations

import collections
import concurrent.futures
import csv
import dataclasses
import glob
import hashlib
import io
import itertools
import json
import os
import re
import sys
import time
from collections.abc import Iterator

import numpy as np
from PIL import Image

from keras_attn import edge
from keras_attn import images as images_lib
from keras_attn.utils import atomic_io

# Decoding threads: Pillow decodes and resizes without the GIL, so a few
# threads keep up with the model on a small CPU and do not crowd a big one.
DEFAULT_WORKERS = min(8, (os.cpu_count() or 1) + 1)
SIDECAR_SUFFIX = ".json"
_TAIL_CHUNK = 1 << 16


def check_positive(flag: str, value: int) -> None:
    """`--batch_size=0` and the like: a one-line error instead of a crash or
    a run that silently classifies nothing."""
    if value < 1:
        raise ValueError(f"--{flag} must be >= 1. Received: --{flag}={value}")


# ------------------------------------------------------------------ files


def parse_shard(spec: str | None) -> tuple[int, int] | None:
    """`"i/n"` (0-based i) -> `(i, n)`; None for None or an empty string.

    Raises:
        ValueError: not two integers, n < 1, or i outside 0..n-1.
    """
    if not spec:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", spec)
    if not match:
        raise ValueError(
            f"--shard={spec} is not INDEX/COUNT; e.g. --shard=0/4 ... --shard=3/4 "
            "split the files among 4 machines or processes."
        )
    index, count = int(match[1]), int(match[2])
    if count < 1:
        raise ValueError(f"--shard={spec}: the count must be >= 1 (e.g. --shard=0/4).")
    if index >= count:
        raise ValueError(
            f"--shard={spec}: the index is 0-based, so it must be below the count "
            f"(0/{count} ... {count - 1}/{count})."
        )
    return index, count


def shard_of(key: str, count: int) -> int:
    """The shard (0..count-1) of a file, from a stable hash of its key."""
    digest = hashlib.sha1(key.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % count


def image_files(args: list[str], shard: tuple[int, int] | None = None) -> list[str]:
    """Image files named by `args` (files, folders, globs), in order, once each;
    with `shard=(i, n)`, only those of shard i of n.

    Raises:
        FileNotFoundError: an argument names nothing, or a folder or glob
            holds no image.
    """
    extensions = {e.lower() for e in Image.registered_extensions()}
    files: dict[str, None] = {}
    for arg in args:
        if os.path.isdir(arg):
            found = sorted(
                os.path.join(root, name)
                for root, _, names in os.walk(arg)
                for name in names
                if not name.startswith(".")
                and os.path.splitext(name)[1].lower() in extensions
            )
            if not found:
                raise FileNotFoundError(
                    f"No images found under {arg} (looked for "
                    f"{', '.join(sorted(extensions)[:6])}, ... files, recursively)."
                )
            keys = [os.path.relpath(path, arg) for path in found]
        elif glob.has_magic(arg):
            found = sorted(
                f for f in glob.glob(arg, recursive=True) if os.path.isfile(f)
            )
            if not found:
                raise FileNotFoundError(f"No files match {arg}.")
            keys = found
        else:
            found = keys = [arg]  # a missing file is reported in its turn
        for path, key in zip(found, keys, strict=True):
            if shard is None or shard_of(key, shard[1]) == shard[0]:
                files.setdefault(path)
    return list(files)


# --------------------------------------------------------------- classify


def _decode(path: str, size, resize: str):
    try:
        return edge.load_image(path, size, resize), None
    except (FileNotFoundError, ValueError) as e:
        return None, str(e)


def decode_ahead(
    files: list[str], size, resize: str, workers: int, ahead: int
) -> Iterator[tuple[str, np.ndarray | None, str | None]]:
    """Yields `(file, image, None)` or `(file, None, error)` in order, decoding
    in `workers` threads at most `ahead` files before the consumer."""
    pool = concurrent.futures.ThreadPoolExecutor(workers)
    pending: collections.deque = collections.deque()
    queue = iter(files)

    def submit() -> None:
        path = next(queue, None)
        if path is not None:
            pending.append((path, pool.submit(_decode, path, size, resize)))

    try:
        for _ in range(max(1, ahead)):
            submit()
        while pending:
            path, future = pending.popleft()
            submit()
            image, error = future.result()
            yield path, image, error
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def classify(
    classifier,
    files: list[str],
    resize: str = images_lib.DEFAULT_RESIZE,
    batch_size: int = 32,
    workers: int | None = None,
) -> Iterator[list[tuple[str, np.ndarray | None, str | None]]]:
    """Yields, a batch of `batch_size` files at a time and in order, lists of
    `(file, probabilities (K,), None)` or `(file, None, error)`.

    A batch is one model call for Keras (the exported `.tflite` files take
    one image, and run image by image) and one write for the caller.
    """
    check_positive("batch_size", batch_size)
    workers = workers or DEFAULT_WORKERS
    check_positive("workers", workers)
    stream = decode_ahead(
        files, classifier.input_size, resize, workers, 2 * batch_size + workers
    )
    while batch := list(itertools.islice(stream, batch_size)):
        images = [image for _, image, error in batch if error is None]
        probs = iter(classifier.predict(np.stack(images)) if images else [])
        yield [
            (path, None, error) if error else (path, next(probs), None)
            for path, _, error in batch
        ]


# -------------------------------------------------------------------- CSV


def check_writable(path: str) -> None:
    """Fails before any work if the CSV could not be written."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path):
        raise ValueError(f"--csv={path} is a folder; pass a file path.")
    if not os.path.isdir(folder):
        raise ValueError(f"--csv={path}: folder {folder} does not exist.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"--csv={path}: cannot write in {folder} (permission denied).")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise ValueError(f"--csv={path}: the file is read-only (permission denied).")


def csv_header(k: int) -> list[str]:
    """`path, label_1, prob_1, ..., label_k, prob_k, error`."""
    header = ["path"]
    for i in range(1, k + 1):
        header += [f"label_{i}", f"prob_{i}"]
    return [*header, "error"]


def csv_row(path: str, probs, error: str | None, labels: list[str], k: int) -> list:
    row = [path]
    if probs is None:
        row += [""] * (2 * k)
    else:
        for label, prob in edge.top_k(probs, labels, k):
            row += [label, f"{prob:.6f}"]
    return [*row, error or ""]


def identity(
    model_path: str,
    labels: list[str],
    k: int,
    resize: str,
    shard: tuple[int, int] | None = None,
) -> dict:
    """What a `--csv` file's rows depend on; kept in its sidecar `<csv>.json`."""
    return {
        "model": os.path.abspath(model_path),
        "model_bytes": os.path.getsize(model_path),
        "model_sha256": atomic_io.sha256(model_path),
        "labels_sha256": hashlib.sha256("\n".join(labels).encode()).hexdigest(),
        "top_k": k,
        "resize": resize,
        "shard": f"{shard[0]}/{shard[1]}" if shard else None,
    }


def _cut_partial_line(path: str) -> int:
    """Truncates `path` after its last newline (a killed writer's partial
    row goes); returns the bytes cut."""
    with open(path, "rb+") as f:
        size = end = f.seek(0, os.SEEK_END)
        while end > 0:
            start = max(0, end - _TAIL_CHUNK)
            f.seek(start)
            newline = f.read(end - start).rfind(b"\n")
            if newline >= 0:
                end = start + newline + 1
                break
            end = start
        if end < size:
            f.truncate(end)
    return size - end


class ResultsCsv:
    """The `--csv` file: one row per image, appended and flushed a batch at a
    time; started again on a file that holds rows, it resumes it.

    Args:
        path: the CSV file.
        labels: the model's class names (the rows' label columns).
        k: labels per row.
        record: `identity(...)` of this run; a file whose sidecar records
            another is refused.

    Attributes:
        done: the files the CSV already had a row for (empty for a new file).
        cut: bytes of a partial last line removed on resuming.

    Raises:
        ValueError: the file holds rows of another model or other flags, or
            rows with no sidecar, or a row that is not complete.
    """

    def __init__(self, path: str, labels: list[str], k: int, record: dict):
        self.path, self.labels, self.k = path, labels, k
        self.sidecar = path + SIDECAR_SUFFIX
        self.header = csv_header(k)
        self.done: set[str] = set()
        self.cut = 0
        if os.path.isfile(path) and os.path.getsize(path) > 0:
            self._check_record(record)
            self.cut = _cut_partial_line(path)
            self.done = self._read_done()
        if not self.done:  # new, empty, or only a header: start afresh
            atomic_io.write_json(self.sidecar, record)
            with open(path, "w", newline="", encoding="utf-8") as f:
                csv.writer(f).writerow(self.header)
        self._file = open(path, "a", newline="", encoding="utf-8")

    def _check_record(self, record: dict) -> None:
        start_over = f"pass a new --csv, or delete {self.path} and {self.sidecar}"
        if not os.path.isfile(self.sidecar):
            raise ValueError(
                f"--csv={self.path} already holds rows but no {self.sidecar} "
                f"records which model wrote them: {start_over} to start over."
            )
        with open(self.sidecar) as f:
            recorded = json.load(f)
        if recorded.get("model_sha256") != record["model_sha256"]:
            raise ValueError(
                f"--csv={self.path} holds predictions of another model "
                f"({recorded.get('model')}, sha256 "
                f"{str(recorded.get('model_sha256'))[:12]}), not of "
                f"{record['model']} (sha256 {record['model_sha256'][:12]}): "
                f"{start_over} to start over."
            )
        for key, flag in (
            ("labels_sha256", "--labels"),
            ("top_k", "--top_k"),
            ("resize", "--resize"),
            ("shard", "--shard"),
        ):
            if recorded.get(key) == record[key]:
                continue
            if key == "labels_sha256":
                was, now = "other labels", "the labels of this model"
            else:
                was, now = f"{flag}={recorded.get(key)}", f"{flag}={record[key]}"
            raise ValueError(
                f"--csv={self.path} was written with {was} (this run: {now}); "
                f"resume it with the same {flag}, or {start_over}."
            )

    def _read_done(self) -> set[str]:
        done = set()
        with open(self.path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                return done
            if header != self.header:
                raise ValueError(
                    f"--csv={self.path} has columns {','.join(header)}, not "
                    f"{','.join(self.header)}; pass a new --csv."
                )
            for row in reader:
                if len(row) != len(header):
                    raise ValueError(
                        f"--csv={self.path} line {reader.line_num} is not a "
                        f"complete row ({len(row)} of {len(header)} fields); "
                        "delete that line and run again."
                    )
                done.add(row[0])
        return done

    def write(self, results: list[tuple[str, np.ndarray | None, str | None]]):
        """Appends one batch's rows with one write, flushed to the OS."""
        text = io.StringIO()
        writer = csv.writer(text)
        for path, probs, error in results:
            writer.writerow(csv_row(path, probs, error, self.labels, self.k))
        self._file.write(text.getvalue())
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# -------------------------------------------------------------------- run


class Progress:
    """A Keras progress bar with images/s, that lets error lines stand alone.

    The bar redraws its line in place (no newline until it ends), so a line
    printed to stderr meanwhile would be glued to it: `break_line()` ends the
    bar's line first. Redraws are limited to `interval` seconds here (the bar
    itself draws on every call), so whether a line is open is known exactly.
    """

    def __init__(self, total: int, interval: float = 0.1):
        import keras

        self.bar = keras.utils.Progbar(
            total, unit_name="image", interval=0, stateful_metrics=["images/s"]
        )
        self.total, self.interval, self.seen = total, interval, 0
        self.start, self.drawn = time.perf_counter(), float("-inf")  # draw at once
        self.line_open = False

    def add(self, count: int) -> None:
        self.seen += count
        now = time.perf_counter()
        if self.seen < self.total and now - self.drawn < self.interval:
            return
        rate = self.seen / max(now - self.start, 1e-9)
        self.bar.update(self.seen, [("images/s", rate)])
        self.drawn, self.line_open = now, self.seen < self.total

    def break_line(self) -> None:
        if self.line_open:
            sys.stdout.write("\n")
            sys.stdout.flush()
            self.line_open = False


@dataclasses.dataclass
class Summary:
    """What a `predict` call did."""

    classified: int = 0
    failed: int = 0
    skipped: int = 0  # files the --csv already had a row for
    cut: int = 0  # bytes of a partial last line removed on resuming
    seconds: float = 0.0

    @property
    def written(self) -> int:
        return self.classified + self.failed

    def describe(self, csv_path: str) -> str:
        line = (
            f"Wrote {self.written} row(s) to {csv_path}: {self.classified} "
            f"classified, {self.failed} failed"
        )
        if self.failed:
            line += " (see the error column)"
        if self.skipped:
            line += f"; {self.skipped} image(s) already had a row (resumed)"
        if self.written and self.seconds > 0:
            line += f"; {self.written / self.seconds:.1f} images/s"
        return line + "."


def predict(
    classifier,
    files: list[str],
    *,
    resize: str = images_lib.DEFAULT_RESIZE,
    top_k: int = 5,
    batch_size: int = 32,
    workers: int | None = None,
    csv_path: str | None = None,
    record: dict | None = None,
) -> Summary:
    """Classifies `files`: top-k lines per image on stdout, or with `csv_path`
    rows appended a batch at a time (resuming the file) under a progress bar.
    Each unreadable image gets one `error:` line on stderr, on its own line."""
    check_positive("batch_size", batch_size)
    check_positive("top_k", top_k)
    summary = Summary()
    start = time.perf_counter()
    k = min(top_k, len(classifier.labels))
    out = progress = None
    if csv_path:
        if record is None:
            raise ValueError("Writing a CSV needs the run's `identity(...)` record.")
        out = ResultsCsv(csv_path, classifier.labels, k, record)
        summary.cut = out.cut
        if out.done:
            todo = [f for f in files if f not in out.done]
            summary.skipped = len(files) - len(todo)
            files = todo
            cut = f", cut a partial last line ({out.cut} bytes)" if out.cut else ""
            print(
                f"Resuming {csv_path}: {summary.skipped} image(s) already have a "
                f"row{cut}; {len(files)} to go."
            )
        if files:
            progress = Progress(len(files))
    try:
        for batch in classify(classifier, files, resize, batch_size, workers):
            for path, probs, error in batch:
                if error:
                    if progress is not None:
                        progress.break_line()
                    print(f"error: {error}", file=sys.stderr, flush=True)
                    summary.failed += 1
                else:
                    summary.classified += 1
                    if out is None:
                        print(path)
                        for label, prob in edge.top_k(probs, classifier.labels, k):
                            print(f"  {prob:.4f}  {label}")
            if out is not None:
                out.write(batch)
                progress.add(len(batch))
            else:
                sys.stdout.flush()
    finally:
        if out is not None:
            out.close()
        summary.seconds = time.perf_counter() - start
    return summary
