"""Exporting a trained run for serving and for devices, every artefact verified.

`export_run(ExportConfig(run_dir=...))` is what `export.py` calls. It loads the
run's clean model and the images the run folder keeps (`runs.py`: training
images for int8 calibration, held-out images for the checks), so it needs
neither the training data nor the machine it was on, and writes
`DIR/export/`:

    saved_model/          TF SavedModel: `serving_default` takes raw RGB pixels
                          (B, h, w, 3), float32 0..255 at the run's stored
                          image size, and returns logits like the Keras model
    model_fp32.tflite     float32
    model_dynamic.tflite  int8 weights, float activations (dynamic range)
    model_fp16.tflite     float16 weights
    model_int8.tflite     full integer, calibrated on training images; uint8
                          input and output by default (`int8_io`)
    labels.txt  report.json

The `.tflite` files are made by Keras' own LiteRT export
(`model.export(format="litert")`, which drives `tf.lite.TFLiteConverter`)
with builtin ops only: Keras turns on SELECT_TF_OPS by default, and a Flex op
would make the plain LiteRT runtime and integer accelerators refuse the file.
Each file takes one image (batch 1, the usual mobile contract), ends in a
softmax (apps get probabilities) and carries TFLite metadata (input
normalisation, labels), so MediaPipe's `ImageClassifier` runs it as it is
(`keras_attn.tflite_metadata`).

Nothing is reported before it is checked. The SavedModel is reloaded and its
logits compared with Keras'. Each `.tflite` is run by LiteRT on the run's
held-out sample (test images, else validation; `report.json` lists them):
its logits (the softmax's input, read from the same file) are compared with
Keras' logits, and its outputs give top-1 agreement with Keras and accuracy;
its ops must be builtin and stateless (the attention's memory is a
constant), its input must take raw pixels, and its metadata must be there.
A file that fails is not written (a stale one from an earlier export is
removed), `report.json` says which check failed, and `export_run` raises
`ExportCheckError`. Files are written to a temporary name and renamed, so no
half-written file ever looks valid (and what a killed export left behind is
removed by the next one). A partial export (`--quantize=fp32`) keeps the
report entries of the files it did not touch, so `report.json` always
describes the folder as it is.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import shutil
import tempfile
import time

import keras
import numpy as np

from keras_attn import edge, io_utils, model_card, runs, tflite_metadata
from keras_attn.runs import Run, load_run

VARIANTS = ("fp32", "dynamic", "fp16", "int8")
INT8_IO = ("uint8", "int8", "float32")
SAVED_MODEL_DIR = "saved_model"
REPORT_FILE = "report.json"

# Largest max-abs logit difference to Keras accepted for float32 exports
# (the SavedModel and the fp32 file); measured differences are ~1e-6.
FP32_LOGIT_TOLERANCE = 1e-3
# Ops that would make a file stateful (a variable updated between calls).
VARIABLE_OPS = ("VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "CALL_ONCE")


class ExportCheckError(ValueError):
    """An artefact failed its verification; the message names the file and check."""


@dataclasses.dataclass
class ExportConfig:
    """What to export from a run folder, and how hard to check it.

    Attributes:
        run_dir: the run folder (holds `model.keras`, `config.json`, `labels.txt`).
        saved_model: write the SavedModel.
        tflite: write the `.tflite` files named in `quantize`.
        quantize: any of `fp32`, `dynamic`, `fp16`, `int8`.
        calibration_steps: training images that calibrate the int8 file (at
            most the run's calibration sample).
        int8_io: input/output type of the int8 file: `uint8` (what MediaPipe
            and most apps take), `int8` or `float32`.
        eval_images: held-out images that every file is checked on (the
            first of the run's held-out sample; None: all of it).
        parity_images: of those, how many the logit comparison uses.
        latency_runs: timed single-image runs per file and thread count.
        min_agreement: smallest top-1 agreement with Keras a file may have. A
            broken conversion lands near chance; a briefly trained model's
            near-tied logits cost int8 a few points (91 % on the 100-class
            benchmark run), hence 0.8 rather than 0.95.
        seed: seed of the calibration and evaluation draws.
        out_dir: where to write (default `run_dir/export`).
    """

    run_dir: str
    saved_model: bool = True
    tflite: bool = True
    quantize: tuple[str, ...] = VARIANTS
    calibration_steps: int = 100
    int8_io: str = "uint8"
    eval_images: int | None = None
    parity_images: int = 64
    latency_runs: int = 50
    min_agreement: float = 0.8
    seed: int = 0
    out_dir: str | None = None

    def validate(self) -> None:
        unknown = [q for q in self.quantize if q not in VARIANTS]
        if unknown or not self.quantize:
            raise ValueError(
                f"--quantize={','.join(self.quantize)} is not valid: give a "
                f"non-empty subset of {','.join(VARIANTS)}."
            )
        if self.int8_io not in INT8_IO:
            raise ValueError(
                f"--int8_io={self.int8_io} is not one of {', '.join(INT8_IO)}."
            )
        for key in ("calibration_steps", "parity_images", "latency_runs"):
            if getattr(self, key) < 1:
                raise ValueError(
                    f"--{key} must be >= 1. Received: {getattr(self, key)}"
                )
        if self.eval_images is not None and self.eval_images < 1:
            raise ValueError(
                f"--eval_images must be >= 1. Received: {self.eval_images}"
            )
        if not 0 <= self.min_agreement <= 1:
            raise ValueError(
                f"--min_agreement must be in [0, 1]. Received: {self.min_agreement}"
            )
        if not (self.saved_model or self.tflite):
            raise ValueError(
                "Nothing to export: both --saved_model and --tflite are off."
            )


def with_softmax(model: keras.Model) -> keras.Model:
    """The model with a softmax after its logits: what the `.tflite` files hold."""
    probabilities = keras.layers.Softmax(name="probabilities", dtype="float32")(
        model.outputs[0]
    )
    return keras.Model(model.inputs, probabilities, name=f"{model.name}_probabilities")


def representative_dataset(images: np.ndarray, steps: int, seed: int = 0):
    """Int8 calibration samples: `steps` training images, one per step, unaugmented.

    The first sample gets one pixel value 0 and one 255, so the calibrated
    input range is exactly 0..255: the quantised input then has scale 1 and
    zero point 0 (uint8), i.e. it takes raw pixels, which is what MediaPipe
    and camera code feed. One value in one image barely moves the other ranges.
    """
    order = np.random.default_rng(seed).permutation(len(images))[:steps]

    def samples():
        for step, i in enumerate(order):
            x = np.asarray(images[i], np.float32)[None].copy()  # (1, h, w, 3)
            if step == 0:
                x.flat[0], x.flat[-1] = 0.0, 255.0
            yield [x]

    return samples


def convert(
    model: keras.Model,
    variant: str,
    calibration_images: np.ndarray | None = None,
    calibration_steps: int = 100,
    int8_io: str = "uint8",
    seed: int = 0,
) -> bytes:
    """Converts a logits model to `.tflite` bytes (softmax appended), builtin ops only.

    Args:
        model: a Keras model taking (B, h, w, 3) pixels and returning logits.
        variant: `fp32`, `dynamic` (int8 weights), `fp16` (float16 weights)
            or `int8` (full integer, needs `calibration_images`).
        calibration_images: (N, h, w, 3) uint8 training images for `int8`.
        calibration_steps: how many of them calibrate.
        int8_io: input/output type of the `int8` file.
    """
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "TFLite export needs the TensorFlow backend: run with "
            f"KERAS_BACKEND=tensorflow (now {keras.backend.backend()}); the "
            ".keras file itself is backend-independent."
        )
    builtins = tf.lite.OpsSet.TFLITE_BUILTINS
    options = dict(
        # Keras' LiteRT export adds SELECT_TF_OPS (Flex) and resource variables
        # unless told otherwise.
        target_spec={"supported_ops": [builtins]},
        experimental_enable_resource_variables=False,
    )
    if variant == "dynamic":
        options["optimizations"] = [tf.lite.Optimize.DEFAULT]
    elif variant == "fp16":
        options["optimizations"] = [tf.lite.Optimize.DEFAULT]
        options["target_spec"] = {
            "supported_ops": [builtins],
            "supported_types": [tf.float16],
        }
    elif variant == "int8":
        if calibration_images is None or len(calibration_images) == 0:
            raise ValueError("The int8 export needs calibration images.")
        io_type = {"uint8": tf.uint8, "int8": tf.int8, "float32": tf.float32}[int8_io]
        options.update(
            optimizations=[tf.lite.Optimize.DEFAULT],
            representative_dataset=representative_dataset(
                calibration_images, calibration_steps, seed
            ),
            target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]},
            inference_input_type=io_type,
            inference_output_type=io_type,
        )
    elif variant != "fp32":
        raise ValueError(
            f"Unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}."
        )
    shape = (1, *model.input_shape[1:])
    signature = [tf.TensorSpec(shape, tf.float32, name="image")]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.tflite")
        with_softmax(model).export(
            path, format="litert", input_signature=signature, verbose=False, **options
        )
        with open(path, "rb") as f:
            return f.read()


def add_metadata(content: bytes, labels: list[str], name: str, variant: str) -> bytes:
    """Adds MediaPipe-ready metadata (normalisation, labels) to a converted file."""
    interpreter = edge.make_interpreter(content)
    height, width = (int(d) for d in interpreter.get_input_details()[0]["shape"][1:3])
    metadata = tflite_metadata.image_classifier_metadata(
        name=name,
        description=(
            f"{name} ({variant}): image classifier exported by keras-attn; "
            "input raw RGB pixels, output class probabilities."
        ),
        labels=labels,
        input_size=(height, width),
        num_classes=len(labels),
        scores="probabilities",
    )
    labels_file = ("\n".join(labels) + "\n").encode("utf-8")
    return tflite_metadata.populate(
        content, metadata, {tflite_metadata.LABELS_FILE: labels_file}
    )


def softmax_input_logits(content: bytes, images: np.ndarray) -> np.ndarray:
    """Logits read inside a `.tflite` file: the input of its final softmax.

    Runs LiteRT's builtin kernels with every tensor kept, so parity with Keras
    is measured on logits even though the file outputs probabilities.
    Quantised logits are dequantised.
    """
    interpreter = edge.make_interpreter(content, reference=True)
    (details,) = interpreter.get_input_details()
    output_index = int(interpreter.get_output_details()[0]["index"])
    chain = edge.producer_chain(content, output_index)
    if not chain or chain[-1][0] != "SOFTMAX":
        raise ValueError("The file does not end in a softmax.")
    logits_index = chain[-1][1][0]
    tensor = {t["index"]: t for t in interpreter.get_tensor_details()}[logits_index]
    scale, zero_point = tensor["quantization"]
    out = []
    for image in images:
        interpreter.set_tensor(
            details["index"], edge.quantize_input(image[None], details)
        )
        interpreter.invoke()
        logits = interpreter.get_tensor(logits_index)[0].astype(np.float32)
        if np.dtype(tensor["dtype"]).kind != "f" and scale:
            logits = (logits - zero_point) * scale
        out.append(logits)
    return np.stack(out)


def verify_tflite(
    content: bytes,
    variant: str,
    labels: list[str],
    images: np.ndarray,
    targets: np.ndarray,
    keras_logits: np.ndarray,
    config: ExportConfig,
) -> dict:
    """Runs every check on one `.tflite` file; returns its report entry.

    `images` (N, h, w, 3) uint8 are held-out images with labels `targets` and
    the Keras model's logits `keras_logits`. The entry's `checks` maps each
    check to `{"ok", "detail"}`; `status` is `ok` only if all pass.
    """
    checks = {}
    ops = edge.model_ops(content)
    custom = sorted({op for op in ops if not op.isupper()})
    checks["builtin_ops"] = _check(
        not custom, f"non-builtin ops: {custom}" if custom else "all builtin"
    )
    variables = sorted(set(ops) & set(VARIABLE_OPS))
    checks["no_variables"] = _check(
        not variables, f"variable ops: {variables}" if variables else "no variable ops"
    )

    try:
        clf = edge.TFLiteClassifier(content, labels, num_threads=2)
    except (ValueError, RuntimeError) as e:  # LiteRT refuses the file
        checks["runs"] = _check(False, f"LiteRT cannot run it: {_first_line(e)}")
        return _entry(variant, content, checks)
    expected = config.int8_io if variant == "int8" else "float32"
    detail = f"input {clf.input_dtype} {[int(d) for d in clf.input['shape']]}"
    ok = clf.input_dtype == expected and tuple(clf.input_size) == images.shape[1:3]
    if ok and expected in ("uint8", "int8"):
        scale, zero_point = clf.input["quantization"]
        raw = abs(scale - 1.0) < 1e-6 and zero_point == (
            0 if expected == "uint8" else -128
        )
        detail += f", scale {scale:.6g}, zero point {zero_point}"
        ok = ok and raw
    checks["input"] = _check(ok, detail + f" (expected {expected} raw pixels)")
    checks["softmax_output"] = _check(clf.outputs_probabilities, "output is a softmax")

    packed = tflite_metadata.read_associated_files(content).get(
        tflite_metadata.LABELS_FILE
    )
    has_metadata = tflite_metadata.read_metadata(content) is not None
    labels_ok = packed is not None and packed.decode("utf-8").splitlines() == labels
    checks["metadata"] = _check(
        has_metadata and labels_ok,
        "TFLITE_METADATA and labels.txt packed"
        if has_metadata and labels_ok
        else f"metadata {'present' if has_metadata else 'missing'}, labels "
        f"{'match' if labels_ok else 'missing or different'}",
    )

    probs = clf.predict(images)
    again = clf.predict(images[:1])
    checks["stateless"] = _check(
        bool(np.array_equal(again, probs[:1])), "same output when run again"
    )
    prob_diff = np.abs(probs - edge.softmax(keras_logits))
    agreement = float(np.mean(probs.argmax(1) == keras_logits.argmax(1)))
    n = min(config.parity_images, len(images))
    logit_diff = None
    if clf.outputs_probabilities:
        logit_diff = np.abs(
            softmax_input_logits(content, images[:n]) - keras_logits[:n]
        )
    if variant == "fp32" and logit_diff is not None:
        checks["parity"] = _check(
            float(logit_diff.max()) <= FP32_LOGIT_TOLERANCE,
            f"max abs logit difference {logit_diff.max():.3g} "
            f"(tolerance {FP32_LOGIT_TOLERANCE:g})",
        )
    checks["agreement"] = _check(
        agreement >= config.min_agreement,
        f"top-1 agreement with Keras {agreement:.3f} "
        f"(minimum {config.min_agreement:g})",
    )
    latency = {}
    for threads in (1, 2):
        timer = edge.TFLiteClassifier(content, labels, num_threads=threads)
        latency[f"threads_{threads}"] = round(timer.latency_ms(config.latency_runs), 3)
    return _entry(
        variant,
        content,
        checks,
        input=_tensor_info(clf.input),
        output=_tensor_info(clf.output),
        ops=sorted(set(ops)),
        logits={
            "max_abs_diff": None if logit_diff is None else float(logit_diff.max()),
            "mean_abs_diff": None if logit_diff is None else float(logit_diff.mean()),
            "images": n,
        },
        probabilities={
            "max_abs_diff": float(prob_diff.max()),
            "mean_abs_diff": float(prob_diff.mean()),
        },
        top1_agreement=agreement,
        accuracy=float(np.mean(probs.argmax(1) == targets)),
        latency_ms=latency,
    )


def _entry(variant: str, content: bytes, checks: dict, **measured) -> dict:
    """A report entry for one `.tflite` file: its checks, then what was measured."""
    failed = [name for name, check in checks.items() if not check["ok"]]
    return {
        "file": f"model_{variant}.tflite",
        "status": "failed" if failed else "ok",
        "failed_checks": failed,
        "checks": checks,
        "size_bytes": len(content),
        "size_mb": round(len(content) / 2**20, 2),
        **measured,
    }


def write_saved_model(model: keras.Model, path: str) -> None:
    """Writes `model` as a SavedModel whose `serving_default` runs inference.

    Not `model.export(format="tf_saved_model")`: that endpoint calls the model
    without `training=False`, so any Keras preprocessing layer in it (their
    `training` defaults to True, e.g. `keras.layers.Resizing`, which our
    classifier therefore does not use) would put every later layer in training
    mode: BatchNorm on batch statistics, the attention memory written on each
    call. `ExportArchive` with an explicit `training=False` rules that out for
    any model the user brings.
    """
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serve",
        functools.partial(model.__call__, training=False),
        input_signature=[
            tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="pixels")
        ],
    )
    archive.write_out(path, verbose=False)


class _Rejected(Exception):
    """A checked artefact failed: leave it unwritten."""


def export_saved_model(
    model: keras.Model, path: str, images: np.ndarray, keras_logits: np.ndarray
) -> dict:
    """Writes and checks the SavedModel at `path` (replaced only if it passes)."""
    try:
        with io_utils.atomic_dir(path) as tmp:
            write_saved_model(model, tmp)
            serve = _load_serving_fn(tmp)
            logits = _serve(serve, images)
            again = _serve(serve, images[:32])
            diff = np.abs(logits - keras_logits)
            checks = {
                "parity": _check(
                    float(diff.max()) <= FP32_LOGIT_TOLERANCE,
                    f"max abs logit difference {diff.max():.3g} "
                    f"(tolerance {FP32_LOGIT_TOLERANCE:g})",
                ),
                "stateless": _check(
                    bool(np.array_equal(again, logits[:32])),
                    "same output when run again",
                ),
            }
            failed = [name for name, check in checks.items() if not check["ok"]]
            size = sum(
                os.path.getsize(os.path.join(root, f))
                for root, _, files in os.walk(tmp)
                for f in files
            )
            if failed:
                raise _Rejected
    except _Rejected:
        shutil.rmtree(path, ignore_errors=True)  # no stale SavedModel either
    return {
        "path": os.path.basename(path),
        "status": "failed" if failed else "ok",
        "failed_checks": failed,
        "checks": checks,
        "signature": "serving_default: pixels (B, h, w, 3) float32 0..255 -> logits",
        "size_bytes": size,
        "max_abs_logit_diff": float(diff.max()),
        "mean_abs_logit_diff": float(diff.mean()),
        "top1_agreement": float(np.mean(logits.argmax(1) == keras_logits.argmax(1))),
    }


def export_tflite(
    run: Run,
    variant: str,
    out_dir: str,
    images: np.ndarray,
    targets: np.ndarray,
    keras_logits: np.ndarray,
    config: ExportConfig,
) -> dict:
    """Converts, checks and (if it passes) writes `model_<variant>.tflite`."""
    path = os.path.join(out_dir, f"model_{variant}.tflite")
    start = time.time()
    try:
        content = convert(
            run.model,
            variant,
            calibration_images=run.samples.calibration.images,
            calibration_steps=config.calibration_steps,
            int8_io=config.int8_io,
            seed=config.seed,
        )
    except Exception as e:  # noqa: BLE001 -- a converter failure is a failed check
        message = _first_line(e)
        _remove(path)
        return {
            "file": os.path.basename(path),
            "status": "failed",
            "failed_checks": ["conversion"],
            "checks": {"conversion": _check(False, f"{type(e).__name__}: {message}")},
        }
    convert_seconds = time.time() - start
    content = add_metadata(content, run.labels, run.model.name, variant)
    entry = verify_tflite(
        content, variant, run.labels, images, targets, keras_logits, config
    )
    entry["convert_seconds"] = round(convert_seconds, 1)
    if entry["status"] == "ok":
        with io_utils.atomic_path(path) as tmp, open(tmp, "wb") as f:
            f.write(content)
    else:
        _remove(path)
    return entry


def export_run(config: ExportConfig) -> dict:
    """Exports one run (see the module docstring); returns the report.

    Raises:
        ExportCheckError: some artefact failed its checks (the others are
            written; `report.json` has the details).
    """
    config.validate()
    run = load_run(config.run_dir)
    out_dir = config.out_dir or runs.path(config.run_dir, runs.EXPORT)
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
    import ai_edge_litert
    import tensorflow as tf

    report = {
        "run": os.path.abspath(config.run_dir),
        "model": run.model.name,
        "model_sha256": _sha256(runs.path(config.run_dir, runs.MODEL)),
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
            "images": min(config.calibration_steps, len(run.samples.calibration)),
            "int8_io": config.int8_io,
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
            failures.append(_failure(SAVED_MODEL_DIR, entry))
    report["tflite"] = {}
    for variant in config.quantize if config.tflite else ():
        print(f"Exporting model_{variant}.tflite ...", flush=True)
        entry = export_tflite(
            run, variant, out_dir, images, targets, keras_logits, config
        )
        report["tflite"][variant] = entry
        if entry["status"] != "ok":
            failures.append(_failure(entry["file"], entry))
    _keep_untouched(report, out_dir)
    fp32 = report["tflite"].get("fp32", {}).get("size_bytes")
    for entry in report["tflite"].values():
        if fp32 and "size_bytes" in entry:
            entry["size_vs_fp32"] = round(entry["size_bytes"] / fp32, 3)
    report["status"] = "failed" if failures else "ok"
    runs.write_labels(out_dir, run.labels)
    report_path = os.path.join(out_dir, REPORT_FILE)
    io_utils.write_json(report_path, report)
    if config.out_dir is None and os.path.exists(runs.path(run.run_dir, runs.METRICS)):
        model_card.write_model_card(run.run_dir)  # with the exported files
    if failures:
        raise ExportCheckError(f"{'; '.join(failures)} (details in {report_path})")
    return report


def _keep_untouched(report: dict, out_dir: str) -> None:
    """Makes the report describe every artefact in `out_dir`.

    Files this export did not write (a partial re-export) keep their entry
    from the previous report when they were made from the same model file;
    otherwise they are stale and removed.
    """
    path = os.path.join(out_dir, REPORT_FILE)
    previous = read_report(path) if os.path.exists(path) else {}
    same_model = previous.get("model_sha256") == report["model_sha256"]
    saved_model = os.path.join(out_dir, SAVED_MODEL_DIR)
    if "saved_model" not in report and os.path.exists(saved_model):
        if same_model and "saved_model" in previous:
            report["saved_model"] = previous["saved_model"]
        else:
            shutil.rmtree(saved_model)
    for variant in VARIANTS:
        file = os.path.join(out_dir, f"model_{variant}.tflite")
        if variant in report["tflite"] or not os.path.exists(file):
            continue
        entry = previous.get("tflite", {}).get(variant)
        if same_model and entry and entry.get("status") == "ok":
            report["tflite"][variant] = entry
        else:
            os.remove(file)


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_report(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def summary_table(report: dict) -> str:
    """A plain-text table of the `.tflite` files in a report, Keras first."""
    columns = ("file", "MB", "x fp32", "ms 1 thr", "ms 2 thr", "max|dlogit|")
    columns += ("agree", "accuracy", "status")
    keras_accuracy = report["keras"]["accuracy"]
    rows = [("keras (reference)", "", "", "", "", "", "", f"{keras_accuracy:.3f}", "")]
    for variant in VARIANTS:
        entry = report.get("tflite", {}).get(variant)
        if entry is None:
            continue
        status = (
            "ok"
            if entry["status"] == "ok"
            else "FAILED: " + ", ".join(entry["failed_checks"])
        )
        if "latency_ms" not in entry:  # it did not convert, or LiteRT refused it
            rows.append((entry["file"], "", "", "", "", "", "", "", status))
            continue
        logit_diff = entry["logits"]["max_abs_diff"]
        rows.append(
            (
                entry["file"],
                f"{entry['size_mb']:.1f}",
                f"{entry['size_vs_fp32']:.3f}" if "size_vs_fp32" in entry else "",
                f"{entry['latency_ms']['threads_1']:.2f}",
                f"{entry['latency_ms']['threads_2']:.2f}",
                "" if logit_diff is None else f"{logit_diff:.2e}",
                f"{entry['top1_agreement']:.3f}",
                f"{entry['accuracy']:.3f}",
                status,
            )
        )
    cells = [columns, *rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _load_serving_fn(path: str):
    """A SavedModel's `serving_default` signature, as a function of an image batch."""
    import tensorflow as tf

    signature = tf.saved_model.load(path).signatures["serving_default"]
    (name,) = signature.structured_input_signature[1].keys()

    def serve(batch: np.ndarray) -> np.ndarray:
        (logits,) = signature(**{name: tf.constant(batch, tf.float32)}).values()
        return logits.numpy()

    return serve


def _serve(serve, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Logits of a serving function for images, in batches of `batch_size`."""
    out = [serve(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
    return np.concatenate(out).astype(np.float32)


def _tensor_info(details: dict) -> dict:
    scale, zero_point = details["quantization"]
    info = {
        "dtype": np.dtype(details["dtype"]).name,
        "shape": [int(d) for d in details["shape"]],
    }
    if scale:
        info.update(scale=float(scale), zero_point=int(zero_point))
    return info


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _check(ok: bool, detail: str) -> dict:
    return {"ok": bool(ok), "detail": detail}


def _failure(name: str, entry: dict) -> str:
    details = [f"{c}: {entry['checks'][c]['detail']}" for c in entry["failed_checks"]]
    return f"{name} failed its check ({'; '.join(details)})"


def _remove(path: str) -> None:
    if os.path.exists(path):
        os.remove(path)
