"""The export pipeline: `export_run` and `export_tflite` (see the package's
docstring for what is written and how it is checked)."""

from __future__ import annotations

import os
import time

import keras
import numpy as np

from keras_attn import runs
from keras_attn.errors import first_line
from keras_attn.export import clients
from keras_attn.export.config import (
    FP32_LOGIT_TOLERANCE,
    INT8_IO,
    QUANTIZATIONS,
    REPORT_FILE,
    SAVED_MODEL_DIR,
    VARIABLE_OPS,
    ExportCheckError,
    ExportConfig,
)
from keras_attn.export.convert import (
    add_metadata,
    convert,
    representative_dataset,
    with_softmax,
)
from keras_attn.export.report import (
    failure_text,
    keep_untouched,
    read_report,
    summary_table,
)
from keras_attn.export.saved_model import export_saved_model, write_saved_model
from keras_attn.export.verify import (
    check,
    softmax_input_logits,
    verify_tflite,
)
from keras_attn.images import contract
from keras_attn.reports import model_card
from keras_attn.runs import Run, load_run
from keras_attn.utils import atomic_io


def export_tflite(
    run: Run,
    quantization: str,
    out_dir: str,
    images: np.ndarray,
    targets: np.ndarray,
    keras_logits: np.ndarray,
    config: ExportConfig,
    photos: dict | None = None,
) -> dict:
    """Converts, checks and (if it passes) writes `model_<quantization>.tflite`."""
    path = os.path.join(out_dir, f"model_{quantization}.tflite")
    start = time.time()
    try:
        content = convert(
            run.model,
            quantization,
            calibration_images=run.samples.calibration.images,
            calibration_steps=config.calibration_steps or len(run.samples.calibration),
            int8_io=config.int8_io,
            seed=config.seed,
        )
    except Exception as e:  # noqa: BLE001 -- a converter failure is a failed check
        message = first_line(e)
        remove_file(path)
        return {
            "file": os.path.basename(path),
            "status": "failed",
            "failed_checks": ["conversion"],
            "checks": {"conversion": check(False, f"{type(e).__name__}: {message}")},
        }
    convert_seconds = time.time() - start
    content = add_metadata(
        content,
        run.labels,
        run.model.name,
        quantization,
        runs.stored_resize(run.config),
    )
    entry = verify_tflite(
        content, quantization, run.labels, images, targets, keras_logits, config
    )
    entry["convert_seconds"] = round(convert_seconds, 1)
    if photos is not None and "runs" not in entry["failed_checks"]:
        measured, client_check = clients.score_clients(
            content,
            run.labels,
            photos["photos"],
            photos["images"],
            photos["resize"],
            photos["keras"],
        )
        entry["clients"] = measured
        entry["checks"]["client_photos"] = client_check
        if not client_check["ok"]:
            entry["status"] = "failed"
            entry["failed_checks"].append("client_photos")
    if entry["status"] == "ok":
        with atomic_io.atomic_path(path) as tmp, open(tmp, "wb") as f:
            f.write(content)
    else:
        remove_file(path)
    return entry


def export_run(config: ExportConfig) -> dict:
    """Exports one run (see the module docstring); returns the report.

    Raises:
        ExportCheckError: some artefact failed its checks (the others are
            written; `report.json` has the details).
    """
    config.validate()
    out_dir = config.out_dir or runs.path(config.run_dir, runs.EXPORT)
    if os.path.isdir(config.run_dir):  # else `load_run` names what is missing
        # Before the minute of converting: the files, and the model card in
        # the run folder (rewritten with them), must be writable.
        check_export_writable(out_dir, config.run_dir)
        if config.out_dir is None:
            check_export_writable(config.run_dir, config.run_dir)
    run = load_run(config.run_dir)
    os.makedirs(out_dir, exist_ok=True)
    runs.clean_temporary(out_dir)  # what a killed export left behind

    held_out = run.samples.held_out
    count = len(held_out) if config.eval_images is None else config.eval_images
    held_out = held_out.take(np.arange(min(count, len(held_out))))
    images, targets = held_out.images, held_out.labels
    keras_logits = np.asarray(
        run.model.predict(images.astype(np.float32), batch_size=32, verbose=0),
        np.float32,
    )
    photos = _client_photos(run)
    resize = runs.stored_resize(run.config)
    import ai_edge_litert
    import tensorflow as tf

    report = {
        "run": os.path.abspath(config.run_dir),
        "model": run.model.name,
        "model_sha256": atomic_io.sha256(runs.path(config.run_dir, runs.MODEL)),
        "input_shape": list(run.input_shape),
        "image_size": run.config.get("image_size"),
        "num_classes": len(run.labels),
        "evaluated_on": {
            "source": runs.SAMPLES,
            "split": run.samples.held_out_split,
            "images": len(images),
            "dataset": run.config.get("dataset"),
            "ids": held_out.ids.tolist(),
        },
        "keras": {"accuracy": float(np.mean(keras_logits.argmax(1) == targets))},
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
        "preprocessing": {
            "resize": resize,
            "client_contract": contract(resize),
        },
        "client_photos": None
        if photos is None
        else {
            "source": runs.PHOTOS_DIR,
            "photos": len(photos["photos"]),
            "keras_accuracy": photos["keras"],
        },
        "outputs": {
            "saved_model": "logits",
            "tflite": "probabilities (softmax appended); parity is measured on the "
            "softmax's input logits",
        },
        "versions": {
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "ai_edge_litert": getattr(ai_edge_litert, "__version__", "unknown"),
        },
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    failures = []
    if config.saved_model:
        entry = export_saved_model(
            run.model, os.path.join(out_dir, SAVED_MODEL_DIR), images, keras_logits
        )
        report["saved_model"] = entry
        if entry["status"] != "ok":
            failures.append(failure_text(SAVED_MODEL_DIR, entry))
    report["tflite"] = {}
    for quantization in config.quantize if config.tflite else ():
        print(f"Exporting model_{quantization}.tflite ...", flush=True)
        entry = export_tflite(
            run, quantization, out_dir, images, targets, keras_logits, config, photos
        )
        report["tflite"][quantization] = entry
        if entry["status"] != "ok":
            failures.append(failure_text(entry["file"], entry))
    keep_untouched(report, out_dir)
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
    if failures:
        raise ExportCheckError(f"{'; '.join(failures)} (details in {report_path})")
    return report


def _client_photos(run: Run) -> dict | None:
    """The run's held-out photos, prepared as training did, with Keras'
    top-1 on them; None if the run keeps none."""
    photos = runs.read_photos(run.run_dir)
    if photos is None or not len(photos):
        return None
    resize = runs.stored_resize(run.config)
    images = clients.prepared(photos, run.input_shape[:2], resize)
    logits = run.model.predict(images.astype(np.float32), batch_size=32, verbose=0)
    keras = float(np.mean(np.argmax(logits, 1) == photos.labels))
    return {"photos": photos, "images": images, "resize": resize, "keras": keras}


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


def remove_file(path: str) -> None:
    if os.path.exists(path):
        os.remove(path)


__all__ = [
    "FP32_LOGIT_TOLERANCE",
    "INT8_IO",
    "QUANTIZATIONS",
    "VARIABLE_OPS",
    "ExportCheckError",
    "ExportConfig",
    "Run",
    "convert",
    "export_run",
    "export_tflite",
    "read_report",
    "representative_dataset",
    "softmax_input_logits",
    "summary_table",
    "verify_tflite",
    "with_softmax",
    "write_saved_model",
]
