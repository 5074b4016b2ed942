"""The attention map's file for the page: `model_int8_attention.tflite`,
the run's model with two outputs, probabilities and the attention map.

MediaPipe Tasks' `ImageClassifier` refuses a file with two outputs, so the
page runs this second file with LiteRT.js, only when the user asks for the
map. It is `classifier.attention_model` with the softmax, converted with the
int8 file's settings (uint8 in and out, builtin ops, the same calibration),
and checked before the page gets it: its top-1 must agree with the int8
file's on the check's photos (`check.MIN_AGREEMENT`, ties allowed). A file
that does not convert, run or agree leaves the page without the map, and the
page says why; the export goes on.
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np

from keras_attn.errors import first_line
from keras_attn.export.web.check import MIN_AGREEMENT, tie_aware_agreement
from keras_attn.export.web.page import ATTENTION_FILE, MODEL_FILE


def attention_tflite(
    run, resize: str, calibration_steps: int | None, seed: int
) -> bytes:
    """The run's model with two outputs, probabilities and the attention map
    (`classifier.attention_model`), as a full-integer file with the int8
    file's settings (uint8 in and out, builtin ops, the same calibration)."""
    import keras
    import tensorflow as tf

    from keras_attn.export.formats.tflite_convert import (
        add_metadata,
        representative_dataset,
    )
    from keras_attn.models import classifier

    wrapped = classifier.attention_model(run.model)
    probabilities = keras.layers.Softmax(name="probabilities", dtype="float32")(
        wrapped.outputs[0]
    )
    model = keras.Model(wrapped.inputs, [probabilities, wrapped.outputs[1]])
    images = run.samples.calibration.images
    steps = min(calibration_steps or len(images), len(images))
    signature = [
        tf.TensorSpec((1, *run.model.input_shape[1:]), tf.float32, name="image")
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.tflite")
        model.export(
            path,
            format="litert",
            input_signature=signature,
            verbose=False,
            optimizations=[tf.lite.Optimize.DEFAULT],
            representative_dataset=representative_dataset(images, steps, seed),
            target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]},
            inference_input_type=tf.uint8,
            inference_output_type=tf.uint8,
            experimental_enable_resource_variables=False,
        )
        with open(path, "rb") as f:
            content = f.read()
    return add_metadata(content, run.labels, run.model.name, "int8", resize)


def attention_top1(content: bytes, images: np.ndarray) -> tuple[np.ndarray, list]:
    """The two-output file's top-1 per image, and its map's shape (LiteRT)."""
    from keras_attn.inference import make_interpreter, quantize_input

    interpreter = make_interpreter(content)
    (image_input,) = interpreter.get_input_details()
    outputs = interpreter.get_output_details()
    probs = next(d for d in outputs if len(d["shape"]) == 2)
    attention = next(d for d in outputs if d is not probs)
    top1 = []
    for image in images:
        interpreter.set_tensor(
            image_input["index"], quantize_input(image[None], image_input)
        )
        interpreter.invoke()
        top1.append(int(np.argmax(interpreter.get_tensor(probs["index"])[0])))
    return np.array(top1), [int(d) for d in attention["shape"]]


def make_attention_file(
    run_dir: str,
    resize: str,
    tmp: str,
    images: np.ndarray,
    reference: np.ndarray,
    calibration_steps: int | None,
    seed: int,
) -> tuple[str | None, str, dict]:
    """Converts and checks the two-output file (written into `tmp`); returns
    `(its path or None, the page's note when None, its report entry)`.
    `reference`: LiteRT's probabilities from the int8 file on `images`."""
    from keras_attn.runs import load_run

    print(
        f"Exporting {ATTENTION_FILE} (the attention map, for the web page) ...",
        flush=True,
    )
    start = time.time()
    try:
        run = load_run(run_dir)
        content = attention_tflite(run, resize, calibration_steps, seed)
        top1, shape = attention_top1(content, images)
    except Exception as e:  # noqa: BLE001 -- the page goes on without the map
        why = (
            f"{ATTENTION_FILE} did not convert or run "
            f"({type(e).__name__}: {first_line(e)})"
        )
        return None, f"No attention map: {why}.", {"status": "failed", "detail": why}
    agreement = tie_aware_agreement(top1, reference)
    measured = {
        "file": ATTENTION_FILE,
        "size_bytes": len(content),
        "map_shape": shape,
        "convert_seconds": round(time.time() - start, 1),
        "top1_agreement_int8": agreement,
        "images": len(images),
    }
    if agreement < MIN_AGREEMENT:
        why = (
            f"{ATTENTION_FILE}'s top-1 agrees with {MODEL_FILE}'s on only "
            f"{agreement:.3f} of the photos (< {MIN_AGREEMENT})"
        )
        return (
            None,
            f"No attention map: {why}.",
            {**measured, "status": "failed", "detail": why},
        )
    path = os.path.join(tmp, ATTENTION_FILE)
    with open(path, "wb") as f:
        f.write(content)
    return path, "", {**measured, "status": "ok"}
