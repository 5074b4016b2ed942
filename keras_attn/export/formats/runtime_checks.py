"""What the ONNX and OpenVINO formats share: the metadata their files carry,
the calibration images, and the checks of a file run by its `inference`
back-end (ONNX Runtime, OpenVINO), so that what is checked is what
`predict.py` and `evaluate.py` run.

`verify` gives a report entry with the keys of a `.tflite` file's where they
apply (`file`, `size_mb`, `size_bytes`, `latency_ms`, `logits`,
`top1_agreement`, `accuracy`, `clients`, `status`, `failed_checks`,
`checks`); `written` applies the policy of `tflite.write_if_passed`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from keras_attn import runs
from keras_attn.errors import first_line
from keras_attn.export import checks as checks_lib
from keras_attn.export.checks import check
from keras_attn.images import contract
from keras_attn.inference.runtime import softmax
from keras_attn.tflite.metadata import resize_tag

# Largest max-abs logit difference to Keras of the float32 ONNX and OpenVINO
# files (measured: ~1e-5 on ResNet-18, like the fp32 .tflite).
LOGIT_TOLERANCE = 1e-4


def metadata(run, variant: str) -> dict[str, str]:
    """What the file records, as strings: the resize contract (as the
    `.tflite` metadata records it), the labels (labels.txt's text), the
    input and output, the model."""
    resize = runs.stored_resize(run.config, run.run_dir)
    height, width = run.input_shape[:2]
    return {
        "resize": resize,
        "client_contract": contract(resize),
        "labels": "\n".join(run.labels) + "\n",
        "input_size": f"{height}x{width}",
        "image_size": str(run.config.get("image_size", height)),
        "input": (
            f"pixels: uint8 RGB 0..255, NHWC (N, {height}, {width}, 3), the "
            "photo brought to that size by the resize mode; the model scales "
            "and normalises"
        ),
        "output": "probabilities",
        "model": run.model.name,
        "variant": variant,
        "description": (
            f"{run.model.name} ({variant}): image classifier exported by "
            "keras-attn; input raw RGB pixels, output class probabilities. "
            f"{resize_tag(resize)}: {contract(resize)}."
        ),
    }


def calibration_images(run, config) -> np.ndarray:
    """The training images that calibrate int8: `--calibration_steps` of the
    run's (all by default), drawn in the order the `.tflite` int8 file uses."""
    images = run.samples.calibration.images
    steps = config.calibration_steps or len(images)
    order = np.random.default_rng(config.seed).permutation(len(images))[:steps]
    return np.asarray(images[np.sort(order)], np.uint8)


def metadata_check(found: dict[str, str], expected: dict[str, str]) -> dict:
    """The file's metadata, read back by its runtime, says what was written."""
    wrong = sorted(
        k for k in ("resize", "labels", "output") if found.get(k) != expected[k]
    )
    return check(
        not wrong,
        "resize contract, labels and output recorded"
        if not wrong
        else f"metadata missing or different: {', '.join(wrong)}",
    )


def verify(
    *,
    file: str,
    variant: str,
    size_bytes: int,
    open_classifier: Callable,
    file_logits: Callable[[np.ndarray], np.ndarray],
    structure: dict,
    expected_metadata: dict[str, str],
    inputs,
    config,
    client: str,
    **measured,
) -> dict:
    """Runs every check on one file through its runtime; returns its entry.

    Args:
        file: the file's name; `size_bytes` its size (with an IR's `.bin`).
        open_classifier: `threads -> Classifier` (`inference.backends`).
        file_logits: images -> the logits inside the file (the softmax's
            input), for parity and agreement.
        structure: checks made on the graph (standard ops, softmax output).
        expected_metadata: what `metadata()` wrote.
        inputs: `pipeline.Inputs` (held-out images, targets, Keras' logits,
            the photos as clients pass them).
        client: the client's name in `clients` (`onnxruntime`, `openvino`).
        measured: more entries for the report (ops, convert_seconds, ...).
    """
    checks = dict(structure)
    images, keras_logits = inputs.images, inputs.keras_logits

    def entry(**more):
        return checks_lib.entry(
            file,
            checks,
            size_bytes=size_bytes,
            size_mb=round(size_bytes / 2**20, 2),
            **measured,
            **more,
        )

    try:
        clf = open_classifier(2)
    except Exception as e:  # noqa: BLE001 -- the runtime refuses the file
        checks["runs"] = check(False, f"{client} cannot run it: {first_line(e)}")
        return entry()
    shape = [d if isinstance(d, int) else None for d in _input_shape(clf)]
    ok = clf.input_dtype == "uint8" and tuple(clf.input_size) == images.shape[1:3]
    checks["input"] = check(
        ok and shape[0] in (None, 1),
        f"input {clf.input_dtype} {shape} (expected uint8 raw pixels "
        f"(N, {images.shape[1]}, {images.shape[2]}, 3))",
    )
    checks["metadata"] = metadata_check(clf.metadata, expected_metadata)

    # The same image before and after all the others: a file that keeps
    # state between calls (the attention memory written) answers otherwise.
    # (Not the batch's first row: batched kernels may round differently.)
    first = clf.predict(images[:1])
    probs = clf.predict(images)
    again = clf.predict(images[:1])
    checks["stateless"] = check(
        bool(np.array_equal(again, first)), "same output when run again"
    )
    prob_diff = np.abs(probs - softmax(keras_logits))
    n = min(config.parity_images, len(images))
    logits = file_logits(images[:n])
    parity_check, logit_diff = checks_lib.parity(logits, keras_logits, LOGIT_TOLERANCE)
    if variant == "fp32":
        checks["parity"] = parity_check
    checks["agreement"], agreement = checks_lib.agreement(
        probs.argmax(1), keras_logits, config.min_agreement, logits
    )
    latency = {}
    for threads in (1, 2):
        timer = clf if threads == 2 else open_classifier(threads)
        latency[f"threads_{threads}"] = round(timer.latency_ms(config.latency_runs), 3)
    more = {}
    photos = inputs.photos
    if photos is not None:
        top1 = {client: clf.predict(photos.images).argmax(1)}
        more["clients"], checks["client_photos"] = checks_lib.clients(
            photos.keras_right, top1, photos.photos.labels
        )
        more["clients"]["resize"] = photos.resize
    return entry(
        runtime=clf.runtime.split(",")[0],
        input={"dtype": clf.input_dtype, "shape": shape},
        output={"dtype": "float32", "shape": [shape[0], clf.num_classes]},
        logits=logit_diff,
        probabilities={
            "max_abs_diff": float(prob_diff.max()),
            "mean_abs_diff": float(prob_diff.mean()),
        },
        **agreement,
        accuracy=float(np.mean(probs.argmax(1) == inputs.targets)),
        latency_ms=latency,
        **more,
    )


def _input_shape(clf) -> list:
    return [clf.batch, *clf.input_size, 3]


def written(entry: dict, config) -> bool:
    """Whether a checked file is written: it passed, or it failed an
    accuracy check and `--keep_failed` keeps it (one that did not convert
    or that its runtime refuses is never kept). Marks the entry `kept`."""
    keep = entry["status"] == "ok" or (
        config.keep_failed and not {"conversion", "runs"} & set(entry["failed_checks"])
    )
    if keep:
        entry["kept"] = entry["status"] != "ok"
    return keep


def conversion_failed(file: str, error: Exception) -> dict:
    """The entry of a file whose conversion raised."""
    return checks_lib.entry(
        file,
        {"conversion": check(False, f"{type(error).__name__}: {first_line(error)}")},
    )
