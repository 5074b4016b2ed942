"""The export pipeline: `export_run` and `export_tflite` (see the package's
docstring for what is written and how it is checked)."""

from __future__ import annotations

import dataclasses
import importlib
import os
import time

import keras
import numpy as np

from keras_attn import runs
from keras_attn.errors import MissingDependencyError, first_line
from keras_attn.export import web
from keras_attn.export.config import (
    REPORT_FILE,
    SAVED_MODEL_DIR,
    ExportCheckError,
    ExportConfig,
)
from keras_attn.export.formats import FORMATS
from keras_attn.export.formats.saved_model import export_saved_model
from keras_attn.export.report import (
    failure_text,
    keep_untouched,
)
from keras_attn.images import contract
from keras_attn.inference import load_image
from keras_attn.reports import model_card
from keras_attn.runs import Run, load_run
from keras_attn.utils import atomic_io


@dataclasses.dataclass
class ClientPhotos:
    """The run's held-out photos as clients get them, prepared as training
    did, with Keras' verdict on each."""

    photos: runs.Photos
    images: np.ndarray  # (N, h, w, 3) uint8, as `predict.py` passes them
    resize: str
    keras_right: np.ndarray  # (N,) bool: Keras' top-1 is the label

    @property
    def keras_accuracy(self) -> float:
        return float(np.mean(self.keras_right))


@dataclasses.dataclass
class Inputs:
    """What every format's checks use."""

    images: np.ndarray  # held-out images (N, h, w, 3) uint8
    targets: np.ndarray  # their labels
    keras_logits: np.ndarray  # the Keras model's logits on them
    photos: ClientPhotos | None


def export_run(config: ExportConfig) -> dict:
    """Exports one run (see the package docstring); returns the report.

    Raises:
        ExportCheckError: some artefact failed its checks (the others are
            written; `report.json` has the details).
        MissingDependencyError: a format asked for by name cannot be written
            here (its tools are not installed; the message says what to
            install). Formats not asked for by name are skipped with a note.
    """
    config.validate()
    formats = chosen_formats(config)
    out_dir = config.out_dir or runs.path(config.run_dir, runs.EXPORT)
    if os.path.isdir(config.run_dir):  # else `load_run` names what is missing
        # Before the minute of converting: the files, and the model card in
        # the run folder (rewritten with them), must be writable.
        check_export_writable(out_dir, config.run_dir)
        if config.out_dir is None:
            check_export_writable(config.run_dir, config.run_dir)
    run = load_run(config.run_dir)
    note = runs.resize_note(run.config, run.run_dir)
    if note:
        print(f"note: {note}.", flush=True)
    photos = client_photos(run)
    note_unchecked_clients(formats, photos)
    os.makedirs(out_dir, exist_ok=True)
    runs.clean_temporary(out_dir)  # what a killed export left behind

    held_out = run.samples.held_out
    count = len(held_out) if config.eval_images is None else config.eval_images
    held_out = held_out.take(np.arange(min(count, len(held_out))))
    keras_logits = np.asarray(
        run.model.predict(held_out.images.astype(np.float32), batch_size=32, verbose=0),
        np.float32,
    )
    inputs = Inputs(held_out.images, held_out.labels, keras_logits, photos)
    report = _report_head(run, config, held_out, inputs)
    failures, kept = [], []
    if "saved_model" in formats:
        entry = export_saved_model(
            run.model, os.path.join(out_dir, SAVED_MODEL_DIR), inputs.images,
            keras_logits,
        )  # fmt: skip
        report["saved_model"] = entry
        if entry["status"] != "ok":
            failures.append(failure_text(SAVED_MODEL_DIR, entry))
    for name in formats:
        if name == "saved_model":
            continue
        module = format_module(name)
        report["versions"].update(module.versions())
        report[name] = module.export(run, inputs, out_dir, config)
        for entry in report[name].values():
            if entry.get("kept"):
                kept.append(failure_text(entry["file"], entry))
            elif entry["status"] != "ok":
                failures.append(failure_text(entry["file"], entry))
    report.setdefault("tflite", {})
    keep_untouched(report, out_dir)
    web.keep_in_step(report, out_dir)  # the page, while its int8 file is the same
    fp32 = report["tflite"].get("fp32", {}).get("size_bytes")
    for entry in report["tflite"].values():
        if fp32 and "size_bytes" in entry:
            entry["size_vs_fp32"] = round(entry["size_bytes"] / fp32, 3)
    report["status"] = "failed" if failures else "ok"
    runs.write_labels(out_dir, run.labels)
    report_path = os.path.join(out_dir, REPORT_FILE)
    atomic_io.write_json(report_path, report)
    if config.out_dir is None and os.path.exists(runs.path(run.run_dir, runs.METRICS)):
        model_card.write_model_card(run.run_dir)  # with the exported files
    for line in kept:
        print(f"warning: kept (--keep_failed): {line}", flush=True)
    if failures:
        raise ExportCheckError(f"{'; '.join(failures)} (details in {report_path})")
    return report


def note_unchecked_clients(formats: list[str], photos) -> None:
    """One console line when the `.tflite` files' client check cannot run
    MediaPipe (report.json's `mediapipe_note` says it for each file)."""
    from keras_attn.export import clients

    if "tflite" in formats and photos is not None:
        if not clients.mediapipe_installed():
            print(f"note: {clients.MEDIAPIPE_HINT}.", flush=True)


def chosen_formats(config: ExportConfig) -> list[str]:
    """The formats this export writes, in `FORMATS` order: those named by
    `--formats` (all by default), less `--nosaved_model` / `--notflite`.
    One whose tools are missing is skipped with a note, or refused when named.
    """
    named = config.formats is not None
    chosen = []
    for name in config.formats or FORMATS:
        if (name == "saved_model" and not config.saved_model) or (
            name == "tflite" and not config.tflite
        ):
            continue
        hint = None if name == "saved_model" else format_module(name).missing()
        if hint is not None:
            if named:
                raise MissingDependencyError(f"--formats={name}: {hint}")
            print(f"note: {name} files skipped: {hint}", flush=True)
            continue
        chosen.append(name)
    if not chosen:
        raise ValueError(
            "Nothing to export: every format is off or not installed "
            "(--formats, --saved_model, --tflite)."
        )
    return chosen


def format_module(name: str):
    return importlib.import_module(f"keras_attn.export.formats.{name}")


def _report_head(run: Run, config: ExportConfig, held_out, inputs: Inputs) -> dict:
    """What `report.json` says before any file: the run, the images every
    file is checked on, the calibration, the resize contract, the photos."""
    resize = runs.stored_resize(run.config, run.run_dir)
    photos = inputs.photos
    return {
        "run": os.path.basename(os.path.normpath(config.run_dir)),
        "model": run.model.name,
        "model_sha256": atomic_io.sha256(runs.path(config.run_dir, runs.MODEL)),
        "input_shape": list(run.input_shape),
        "image_size": run.config.get("image_size"),
        "num_classes": len(run.labels),
        "evaluated_on": {
            "source": runs.SAMPLES,
            "split": run.samples.held_out_split,
            "images": len(inputs.images),
            "dataset": run.config.get("dataset"),
            "ids": held_out.ids.tolist(),
        },
        "keras": {
            "accuracy": float(np.mean(inputs.keras_logits.argmax(1) == inputs.targets))
        },
        "calibration": {
            "source": runs.SAMPLES,
            "split": "train",
            "images": min(
                config.calibration_steps or len(run.samples.calibration),
                len(run.samples.calibration),
            ),
            "classes": len(np.unique(run.samples.calibration.labels)),
            "int8_io": config.int8_io,
        },
        "preprocessing": {"resize": resize, "client_contract": contract(resize)},
        "client_photos": None
        if photos is None
        else {
            "source": runs.PHOTOS_DIR,
            "photos": len(photos.photos),
            "keras_accuracy": photos.keras_accuracy,
        },
        "outputs": {
            "saved_model": "logits",
            "tflite, onnx, openvino": "probabilities (softmax appended); parity is "
            "measured on the softmax's input logits",
        },
        "versions": {"keras": keras.__version__},
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def client_photos(run: Run) -> ClientPhotos | None:
    """The run's held-out photos, prepared as training did, with Keras'
    verdict on each; None if the run keeps none or they cannot be read.

    `photos/` is optional: when it is missing or damaged the export goes on
    without the client check (or with the photos that can be read) and says
    so in one line on the console.
    """
    skip = "the client check on photos is skipped; the export goes on"
    try:
        photos = runs.read_photos(run.run_dir)
    except ValueError as e:
        print(f"note: {first_line(e)}; {skip}.", flush=True)
        return None
    if photos is None or not len(photos):
        print(
            f"note: {run.run_dir} keeps no {runs.PHOTOS_DIR}/ (only runs on "
            f"folder: data do): {skip}.",
            flush=True,
        )
        return None
    resize = runs.stored_resize(run.config, run.run_dir)
    size = run.input_shape[:2]
    images, keep = [], []
    for i, file in enumerate(photos.files):
        try:
            images.append(load_image(file, size, resize))
            keep.append(i)
        except Exception as e:  # noqa: BLE001 -- Pillow raises many kinds
            print(
                f"note: {first_line(e).rstrip('.')}: left out of the client "
                f"check; delete it from {runs.PHOTOS_INDEX}, or train the run "
                "again to restore it.",
                flush=True,
            )
    if not keep:
        print(f"note: no photo in {runs.PHOTOS_DIR}/ can be read: {skip}.", flush=True)
        return None
    photos = runs.take_photos(photos, keep)
    images = np.stack(images)
    logits = run.model.predict(images.astype(np.float32), batch_size=32, verbose=0)
    return ClientPhotos(photos, images, resize, np.argmax(logits, 1) == photos.labels)


def check_export_writable(folder: str, run_dir: str) -> None:
    """Raises a one-line ValueError when `folder` (or, if it does not exist
    yet, the folder it would be created in) cannot be written, e.g. a run
    folder of another user."""
    existing = os.path.abspath(folder)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ValueError(
            f"Cannot write the export in {folder}: {existing} is a file; remove it "
            "or pass another folder."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(
            f"Cannot write the export in {folder} ({existing}: permission "
            "denied); export as the run folder's owner, or copy the run folder "
            f"(cp -r {run_dir} DIR) and pass --run=DIR."
        )
