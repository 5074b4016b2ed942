"""The `--csv` file of `predict.py`: appended a batch at a time, resumable,
and tied to the model that wrote it.

`ResultsCsv` appends each batch's rows and flushes them, so a killed run
keeps what it finished. Started again on the same file, it skips the files
that already have a row: it first cuts a partial last line (a run killed
mid-write) back to the last complete row, so no row is lost or written
twice. Which model wrote the rows is recorded in a sidecar `<csv>.json` (the
model file's path, size and sha256, the labels, `--top_k`, `--resize` and
`--shard`; the CSV itself stays a plain table for `csv` or pandas), and a
CSV written by another model or with other flags is refused rather than
mixed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os

import numpy as np

from keras_attn.inference import runtime
from keras_attn.utils import atomic_io

SIDECAR_SUFFIX = ".json"
_TAIL_CHUNK = 1 << 16


def check_csv_writable(path: str) -> None:
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
        for label, prob in runtime.top_k(probs, labels, k):
            row += [label, f"{prob:.6f}"]
    return [*row, error or ""]


def identity(
    model_path: str,
    labels: list[str],
    k: int,
    resize: str,
    shard: tuple[int, int] | None = None,
) -> dict:
    """What a `--csv` file's rows depend on; kept in its sidecar `<csv>.json`.
    An OpenVINO model is its `.xml` and the weights beside it: both count."""
    digest = atomic_io.sha256(model_path)
    weights = os.path.splitext(model_path)[0] + ".bin"
    if model_path.endswith(".xml") and os.path.isfile(weights):
        digest = hashlib.sha256((digest + atomic_io.sha256(weights)).encode())
        digest = digest.hexdigest()
    return {
        "model": os.path.abspath(model_path),
        "model_bytes": os.path.getsize(model_path),
        "model_sha256": digest,
        "labels_sha256": hashlib.sha256("\n".join(labels).encode()).hexdigest(),
        "top_k": k,
        "resize": resize,
        "shard": f"{shard[0]}/{shard[1]}" if shard else None,
    }


def _complete_length(path: str) -> int:
    """The length of `path` up to and including its last newline: what is
    left once a killed writer's partial last row is cut."""
    with open(path, "rb") as f:
        end = f.seek(0, os.SEEK_END)
        while end > 0:
            start = max(0, end - _TAIL_CHUNK)
            f.seek(start)
            newline = f.read(end - start).rfind(b"\n")
            if newline >= 0:
                return start + newline + 1
            end = start
    return 0


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
            # Everything is checked before the file is touched: a command never
            # changes a file it then refuses.
            self._check_record(record)
            end = _complete_length(path)
            self.done = self._read_done(end)
            self.cut = os.path.getsize(path) - end
            if self.cut:
                with open(path, "rb+") as f:
                    f.truncate(end)
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

    def _read_done(self, end: int) -> set[str]:
        """The files the first `end` bytes (complete lines) have a row for.

        Raises:
            ValueError: the file is not a CSV this command wrote (not text,
                other columns, an incomplete row before the last line).
        """
        start_over = f"pass a new --csv, or delete {self.path} and {self.sidecar}"
        with open(self.path, "rb") as f:
            head = f.read(end)
            tail = f.read()
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(
                f"--csv={self.path} is not a CSV file this command wrote (not "
                f"UTF-8 text: {e.reason} at byte {e.start}); {start_over} to start "
                "over."
            ) from None
        if not text:
            if tail and not ",".join(self.header).encode().startswith(tail):
                raise ValueError(
                    f"--csv={self.path} holds no complete line and is not a "
                    f"header this command wrote; {start_over} to start over."
                )
            return set()
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader)
        if header != self.header:
            raise ValueError(
                f"--csv={self.path} has columns {','.join(header)}, not "
                f"{','.join(self.header)}; pass a new --csv."
            )
        done = set()
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
