"""OpenVINO: `model_fp32.xml/.bin` and `model_int8.xml/.bin` (IR), run by the
OpenVINO runtime (Intel CPUs, GPUs and NPUs).

Both take raw uint8 RGB pixels, NHWC (N, h, w, 3) at the run's stored size
(any batch size; the preprocessing is inside), and output probabilities
(the softmax appended, like the `.tflite` and `.onnx` files); parity with
Keras is measured on the softmax's input, added as an output of an
in-memory copy of the written model (`softmax_input_logits`).

- `model_fp32.xml`: `openvino.convert_model` on a `tf.function` calling the
  model with `training=False`, saved with float32 weights
  (`save_model(..., compress_to_fp16=False)`; OpenVINO's default halves them).
- `model_int8.xml`: NNCF post-training quantisation of it calibrated on
  the run's training images (`run.samples.calibration`): performance
  preset, overflow fix on, min-max activation ranges, full bias correction
  (on a 20-class ResNet-18, top-1 agreement with Keras 0.99 where NNCF's
  defaults gave 0.92; it takes longer).

The metadata (`runtime_checks.metadata`: resize contract, labels, input,
output) is in the model's rt_info, section `keras_attn`, so `predict.py`
reads it from a copied file. Each file is checked through
`inference.backends.openvino_runtime` (CPU, float32 precision) like the
ONNX files, from the files as written to a temporary folder beside the
export, and moved in place (`.bin` first, the old `.xml` removed before)
only if it passes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

import numpy as np

from keras_attn.export.checks import check
from keras_attn.export.config import ExportConfig
from keras_attn.export.formats import runtime_checks
from keras_attn.utils import atomic_io

NAME = "openvino"
HINT = (
    'openvino and nncf are not both installed: pip install -e ".[openvino]" '
    "(they write and run OpenVINO .xml/.bin files)."
)
VARIANTS = ("fp32", "int8")
CLIENT = "openvino"
INPUT = "pixels"
OUTPUT = "probabilities"


def missing() -> str | None:
    import importlib.util

    found = all(importlib.util.find_spec(name) for name in ("openvino", "nncf"))
    return None if found else HINT


def variants(config: ExportConfig) -> tuple[str, ...]:
    """`fp32` and `int8`, as far as `--quantize` names them."""
    return tuple(v for v in VARIANTS if v in config.quantize)


def file_name(variant: str) -> str:
    return f"model_{variant}.xml"


def versions() -> dict:
    import nncf
    import openvino

    return {"openvino": openvino.__version__, "nncf": nncf.__version__}


def convert(model):
    """An `openvino.Model` of a Keras classifier (pixels -> logits): uint8
    (N, h, w, 3) `pixels` in, `probabilities` (the softmax) out."""
    import keras
    import openvino as ov
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "OpenVINO export needs the TensorFlow backend: run with "
            f"KERAS_BACKEND=tensorflow (now {keras.backend.backend()}); the "
            ".keras file itself is backend-independent."
        )
    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.uint8, name=INPUT)

    @tf.function(input_signature=[spec])
    def serve(pixels):
        logits = model(tf.cast(pixels, tf.float32), training=False)
        return {OUTPUT: tf.nn.softmax(tf.cast(logits, tf.float32))}

    converted = ov.convert_model(serve)
    converted.inputs[0].get_tensor().set_names({INPUT})
    converted.outputs[0].get_tensor().set_names({OUTPUT})
    return converted


def quantize_int8(model, calibration: np.ndarray):
    """NNCF's int8 model of `model`, calibrated on `calibration` (N, h, w, 3)
    uint8 training images, one per step."""
    import logging

    import nncf
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    nncf.set_log_level(logging.ERROR)
    images = list(np.asarray(calibration, np.uint8))
    advanced = nncf.AdvancedQuantizationParameters(
        overflow_fix=nncf.OverflowFix.ENABLE,
        activations_range_estimator_params=RangeEstimatorParametersSet.MINMAX,
    )
    return nncf.quantize(
        model,
        nncf.Dataset(images, lambda image: image[None]),
        subset_size=len(images),
        preset=nncf.QuantizationPreset.PERFORMANCE,
        fast_bias_correction=False,
        advanced_parameters=advanced,
    )


def set_metadata(model, metadata: dict[str, str]) -> None:
    from keras_attn.inference.backends.openvino_runtime import RT_INFO

    for key, value in metadata.items():
        model.set_rt_info(str(value), [RT_INFO, key])


def softmax_node(model):
    """The Softmax whose output is the model's result, or None."""
    node = model.get_results()[0].input_value(0).get_node()
    while node.get_type_name() in ("Convert", "Identity"):
        node = node.input_value(0).get_node()
    return node if node.get_type_name() == "Softmax" else None


def softmax_input_logits(xml_path: str, images: np.ndarray) -> np.ndarray:
    """The logits inside a written IR (the softmax's input), from a copy of
    it with that tensor as a second output."""
    from keras_attn.inference.backends import openvino_runtime

    model = openvino_runtime.read_model(xml_path)
    node = softmax_node(model)
    if node is None:
        raise ValueError("The file does not end in a softmax.")
    model.add_outputs([node.input_value(0)])
    compiled = openvino_runtime.compile_model(model, num_threads=2)
    return np.asarray(compiled(np.asarray(images, np.uint8))[1], np.float32)


def export(run, inputs, out_dir: str, config: ExportConfig) -> dict:
    chosen = variants(config)
    if not chosen:
        return {}
    print(f"Exporting {', '.join(file_name(v) for v in chosen)} ...", flush=True)
    start = time.time()
    try:
        fp32 = convert(run.model)
    except Exception as e:  # noqa: BLE001 -- a converter failure is a failed check
        entries = {}
        for variant in chosen:
            remove_ir(os.path.join(out_dir, file_name(variant)))
            entries[variant] = runtime_checks.conversion_failed(file_name(variant), e)
        return entries
    convert_seconds = time.time() - start
    entries = {}
    for variant in chosen:
        path = os.path.join(out_dir, file_name(variant))
        start = time.time()
        try:
            model = fp32
            if variant == "int8":
                images = runtime_checks.calibration_images(run, config)
                model = quantize_int8(fp32, images)
        except Exception as e:  # noqa: BLE001 -- a failed quantisation: a failed check
            remove_ir(path)
            entries[variant] = runtime_checks.conversion_failed(file_name(variant), e)
            continue
        seconds = convert_seconds + time.time() - start
        entries[variant] = export_openvino(run, variant, model, path, inputs, config)
        entries[variant]["convert_seconds"] = round(seconds, 1)
    return entries


def export_openvino(run, variant: str, model, path: str, inputs, config) -> dict:
    """Adds the metadata, saves the IR to a temporary folder beside `path`,
    checks it there and (if it passes) moves it to `path` (and its `.bin`);
    returns the report entry."""
    import openvino as ov

    from keras_attn.inference.backends import openvino_runtime

    expected = runtime_checks.metadata(run, variant)
    set_metadata(model, expected)
    folder = os.path.dirname(os.path.abspath(path))
    tmp = tempfile.mkdtemp(prefix=atomic_io.TEMP_PREFIX, dir=folder)
    try:
        xml = os.path.join(tmp, os.path.basename(path))
        ov.save_model(model, xml, compress_to_fp16=False)
        weights = openvino_runtime.weights_path(xml)
        size = os.path.getsize(xml) + os.path.getsize(weights)
        ends_in_softmax = softmax_node(model) is not None
        structure = {
            "softmax_output": check(
                ends_in_softmax,
                "output is a softmax"
                if ends_in_softmax
                else "no softmax at the output",
            )
        }
        entry = runtime_checks.verify(
            file=os.path.basename(path),
            variant=variant,
            size_bytes=size,
            open_classifier=lambda threads: openvino_runtime.open_file(
                xml, run.labels, threads
            ),
            file_logits=lambda images: softmax_input_logits(xml, images),
            structure=structure,
            expected_metadata=expected,
            inputs=inputs,
            config=config,
            client=CLIENT,
            ops=sorted({op.get_type_name() for op in model.get_ordered_ops()}),
            weights_file=os.path.basename(weights),
        )
        if runtime_checks.written(entry, config):
            move_ir(xml, path)
        else:
            remove_ir(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return entry


def move_ir(xml: str, path: str) -> None:
    """Moves an IR (`xml` and its `.bin`) to `path`: the old `.xml` goes
    first, so no moment pairs an old `.xml` with a new `.bin`."""
    from keras_attn.inference.backends.openvino_runtime import weights_path

    if os.path.exists(path):
        os.remove(path)
    for source, target in ((weights_path(xml), weights_path(path)), (xml, path)):
        atomic_io.public_mode(source)
        os.replace(source, target)


def remove_ir(path: str) -> None:
    """Removes a stale IR: the `.xml` and its `.bin`."""
    from keras_attn.inference.backends.openvino_runtime import weights_path

    for file in (path, weights_path(path)):
        if os.path.exists(file):
            os.remove(file)
