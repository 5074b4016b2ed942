"""TFLite (LiteRT): `model_{fp32,dynamic,fp16,int8}.tflite`, for Android, iOS,
boards and MediaPipe Tasks.

Made by Keras' own LiteRT export with builtin ops only (`tflite_convert`),
each file with TFLite metadata; checked by LiteRT on the held-out images
(`tflite_verify`) and, when the run keeps photos, by LiteRT and MediaPipe
on the photos as apps pass them (`export.clients`).
"""

from __future__ import annotations

import os
import time

from keras_attn import runs
from keras_attn.errors import first_line
from keras_attn.export import checks, clients
from keras_attn.export.checks import check
from keras_attn.export.config import ExportConfig
from keras_attn.export.formats.tflite_convert import add_metadata, convert
from keras_attn.export.formats.tflite_verify import verify_tflite
from keras_attn.utils import atomic_io

NAME = "tflite"
HINT = "LiteRT is not installed: pip install ai-edge-litert (it runs .tflite files)."


def missing() -> str | None:
    import importlib.util

    return None if importlib.util.find_spec("ai_edge_litert") else HINT


def variants(config: ExportConfig) -> tuple[str, ...]:
    return tuple(config.quantize)


def file_name(variant: str) -> str:
    return f"model_{variant}.tflite"


def versions() -> dict:
    import ai_edge_litert
    import tensorflow as tf

    return {
        "tensorflow": tf.__version__,
        "ai_edge_litert": getattr(ai_edge_litert, "__version__", "unknown"),
    }


def export(run, inputs, out_dir: str, config: ExportConfig) -> dict:
    entries = {}
    for quantization in variants(config):
        print(f"Exporting {file_name(quantization)} ...", flush=True)
        entries[quantization] = export_tflite(
            run, quantization, out_dir, inputs, config
        )
    return entries


def export_tflite(run, quantization: str, out_dir: str, inputs, config) -> dict:
    """Converts, checks and (if it passes) writes `model_<quantization>.tflite`."""
    path = os.path.join(out_dir, file_name(quantization))
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
        return checks.entry(
            file_name(quantization),
            {"conversion": check(False, f"{type(e).__name__}: {message}")},
        )
    convert_seconds = time.time() - start
    content = add_metadata(
        content,
        run.labels,
        run.model.name,
        quantization,
        runs.stored_resize(run.config, run.run_dir),
    )
    entry = verify_tflite(
        content,
        quantization,
        run.labels,
        inputs.images,
        inputs.targets,
        inputs.keras_logits,
        config,
    )
    entry["convert_seconds"] = round(convert_seconds, 1)
    photos = inputs.photos
    if photos is not None and "runs" not in entry["failed_checks"]:
        top1 = clients.tflite_clients(
            content, run.labels, photos.photos, photos.images, photos.resize
        )
        measured, client_check = checks.clients(
            photos.keras_right, top1, photos.photos.labels
        )
        measured["resize"] = photos.resize
        if top1["mediapipe"] is None:
            measured["mediapipe_note"] = clients.MEDIAPIPE_HINT
        entry["clients"] = measured
        entry["checks"]["client_photos"] = client_check
        if not client_check["ok"]:
            entry["status"] = "failed"
            entry["failed_checks"].append("client_photos")
    write_if_passed(path, entry, content, config)
    return entry


def write_if_passed(path: str, entry: dict, content: bytes, config) -> None:
    """Writes `content` to `path` atomically if `entry` passed its checks, or
    if it failed and `--keep_failed` asks to keep it (the entry says
    `kept`); else removes a stale file of that name."""
    if entry["status"] == "ok" or (config.keep_failed and _keepable(entry)):
        entry["kept"] = entry["status"] != "ok"
        with atomic_io.atomic_path(path) as tmp, open(tmp, "wb") as f:
            f.write(content)
    else:
        remove_file(path)


def _keepable(entry: dict) -> bool:
    """A file that ran and was measured may be kept; one that did not
    convert or that its runtime refuses may not."""
    return not {"conversion", "runs"} & set(entry["failed_checks"])


def remove_file(path: str) -> None:
    if os.path.exists(path):
        os.remove(path)
