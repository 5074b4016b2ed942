"""The run's record files: config, labels, history, metrics.

`resize_of_run` is the one rule for how a run's images were resized, also
when its config does not say (runs from before `--resize` was recorded).
"""

from __future__ import annotations

import csv
import json
import os

import numpy as np

from keras_attn.images import LEGACY_RESIZE, RESIZE_MODES
from keras_attn.runs.layout import CONFIG, EXPORT, HISTORY, LABELS, METRICS, path
from keras_attn.utils import atomic_io


def write_config(run_dir: str, config: dict) -> None:
    atomic_io.write_json(path(run_dir, CONFIG), config)


def read_config(run_dir: str) -> dict:
    with open(path(run_dir, CONFIG)) as f:
        return json.load(f)


def write_labels(folder: str, names: list[str]) -> None:
    atomic_io.write_text(path(folder, LABELS), "\n".join(names) + "\n")


def read_labels_file(labels_path: str) -> list[str]:
    """Class names from a `labels.txt` (one a line, blank lines ignored)."""
    with open(labels_path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def read_labels(run_dir: str) -> list[str]:
    return read_labels_file(path(run_dir, LABELS))


def read_history(run_dir: str) -> dict[str, np.ndarray]:
    """`history.csv` as columns, the last row per epoch ({} if none)."""
    history_path = path(run_dir, HISTORY)
    if not os.path.exists(history_path):
        return {}
    with open(history_path) as f:
        rows = list(csv.DictReader(f))
    by_epoch = {int(r["epoch"]): r for r in rows}
    rows = [by_epoch[e] for e in sorted(by_epoch)]
    if not rows:
        return {}
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def drop_history(run_dir: str, first: int, last: int) -> None:
    """Removes the `history.csv` rows of epochs `first` to `last - 1`: a run
    killed after logging an epoch but before its backup said the epoch was
    done trains it again on resume, and would log it twice."""
    history_path = path(run_dir, HISTORY)
    if not os.path.exists(history_path):
        return
    with open(history_path, newline="") as f:  # rows as Keras wrote them
        lines = f.readlines()
    if not lines:
        return
    column = next(csv.reader(lines[:1])).index("epoch")
    kept = lines[:1] + [
        line
        for line in lines[1:]
        if not first <= int(next(csv.reader([line]))[column]) < last
    ]
    if len(kept) < len(lines):
        with atomic_io.atomic_path(history_path) as tmp:
            with open(tmp, "w", newline="") as f:
                f.writelines(kept)


def write_metrics(run_dir: str, metrics: dict) -> None:
    atomic_io.write_json(path(run_dir, METRICS), metrics)


def read_metrics(run_dir: str) -> dict:
    with open(path(run_dir, METRICS)) as f:
        return json.load(f)


def stored_resize(config: dict, run_dir: str | None = None) -> str:
    """How the run stored its images (`--resize`): see `resize_of_run`."""
    return resize_of_run(config, run_dir)[0]


def resize_of_run(config: dict, run_dir: str | None = None) -> tuple[str, str]:
    """The one rule for a run's resize mode, and where it was read:

    1. `config.json`'s `resize` (every run since the flag exists);
    2. else, for a run from before, the mode its exported `.tflite` files
       record in their metadata (what a phone running them does);
    3. else `LEGACY_RESIZE` (`crop`, what those runs did): a guess, which
       callers say in a note.

    Returns `(mode, source)`, `source` one of `config.json`, the metadata's
    file name, or `a guess`.
    """
    if config.get("resize") in RESIZE_MODES:
        return config["resize"], CONFIG
    if run_dir is not None:
        from keras_attn.tflite import metadata as tflite_metadata

        for quantization in ("int8", "fp32", "fp16", "dynamic"):
            file = os.path.join(path(run_dir, EXPORT), f"model_{quantization}.tflite")
            if not os.path.isfile(file):
                continue
            try:
                with open(file, "rb") as f:
                    mode = tflite_metadata.read_resize(f.read())
            except Exception:  # noqa: BLE001 -- a damaged file says nothing
                mode = None
            if mode in RESIZE_MODES:
                return mode, f"{EXPORT}/{os.path.basename(file)}'s metadata"
    return LEGACY_RESIZE, GUESS


# `resize_of_run`'s source when nothing records the mode.
GUESS = "a guess"


def resize_note(config: dict, run_dir: str | None = None) -> str | None:
    """The one line to say when a run's resize mode is not in its config."""
    mode, source = resize_of_run(config, run_dir)
    if source == CONFIG:
        return None
    where = run_dir or "the run"
    if source == GUESS:
        return (
            f"{where} does not record its --resize (a run from before the "
            f"flag): assuming {mode}, what such runs used"
        )
    return f"{where}'s config.json does not record --resize: {mode}, from {source}"
