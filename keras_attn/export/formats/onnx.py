"""ONNX: `model_fp32.onnx` and `model_int8.onnx`, run by ONNX Runtime (and
any ONNX runtime: standard `ai.onnx` ops only, opset 17).

Both take raw uint8 RGB pixels, NHWC (N, h, w, 3) at the run's stored size
(any batch size; the preprocessing is inside, like the `.tflite` files), and
output probabilities: the softmax is appended, like the `.tflite` files.
Parity with Keras is measured on the logits, the softmax's input, read from
an in-memory copy of the file that exposes it as a second output
(`onnx_convert.with_logits_output`); the file itself has one output.

- `model_fp32.onnx`: tf2onnx from a `tf.function` calling the model with
  `training=False` (`onnx_convert.convert`, in a child process).
- `model_int8.onnx`: ONNX Runtime's static quantisation (QDQ, per-channel
  int8 weights, uint8 activations, the softmax left float) calibrated on
  the run's training images (`run.samples.calibration`).

Each file's `metadata_props` record the resize contract as the `.tflite`
metadata does (`keras_attn.resize`, `keras_attn.client_contract`), the labels
(`keras_attn.labels`, labels.txt's text), its input size and output
(`runtime_checks.metadata`), so `predict.py` reads them from a copied file.
Each is checked through `inference.backends.onnx_runtime` before it is
written: standard ops, a softmax output, uint8 input, metadata, stateless,
fp32 logits within `runtime_checks.LOGIT_TOLERANCE` (1e-4) of Keras, top-1
agreement (`checks.agreement`), accuracy, latency at 1 and 2 threads, and
the client check on the run's photos as `predict.py` passes them
(`onnxruntime`).
"""

from __future__ import annotations

import os
import time

from keras_attn import runs
from keras_attn.export.checks import check
from keras_attn.export.config import ExportConfig
from keras_attn.export.formats import onnx_convert, runtime_checks
from keras_attn.utils import atomic_io

NAME = "onnx"
HINT = (
    "onnx, onnxruntime and tf2onnx are not all installed: "
    'pip install -e ".[onnx]" (they write and run .onnx files).'
)
VARIANTS = ("fp32", "int8")
CLIENT = "onnxruntime"


def missing() -> str | None:
    import importlib.util

    found = all(
        importlib.util.find_spec(name) for name in ("onnx", "onnxruntime", "tf2onnx")
    )
    return None if found else HINT


def variants(config: ExportConfig) -> tuple[str, ...]:
    """`fp32` and `int8`, as far as `--quantize` names them."""
    return tuple(v for v in VARIANTS if v in config.quantize)


def file_name(variant: str) -> str:
    return f"model_{variant}.onnx"


def versions() -> dict:
    import onnx
    import onnxruntime
    import tf2onnx

    return {
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "tf2onnx": tf2onnx.__version__,
    }


def export(run, inputs, out_dir: str, config: ExportConfig) -> dict:
    chosen = variants(config)
    if not chosen:
        return {}
    print(f"Exporting {', '.join(file_name(v) for v in chosen)} ...", flush=True)
    start = time.time()
    try:
        fp32 = onnx_convert.convert(runs.path(run.run_dir, runs.MODEL))
    except Exception as e:  # noqa: BLE001 -- a converter failure is a failed check
        entries = {}
        for variant in chosen:
            _remove(os.path.join(out_dir, file_name(variant)))
            entries[variant] = runtime_checks.conversion_failed(file_name(variant), e)
        return entries
    convert_seconds = time.time() - start
    entries = {}
    for variant in chosen:
        path = os.path.join(out_dir, file_name(variant))
        start = time.time()
        try:
            content = fp32
            if variant == "int8":
                images = runtime_checks.calibration_images(run, config)
                content = onnx_convert.quantize_int8(fp32, images)
        except Exception as e:  # noqa: BLE001 -- a failed quantisation: a failed check
            _remove(path)
            entries[variant] = runtime_checks.conversion_failed(file_name(variant), e)
            continue
        seconds = convert_seconds + time.time() - start
        entries[variant] = export_onnx(run, variant, content, path, inputs, config)
        entries[variant]["convert_seconds"] = round(seconds, 1)
    return entries


def export_onnx(run, variant: str, content: bytes, path: str, inputs, config) -> dict:
    """Adds the metadata to converted bytes, checks them and (if they pass)
    writes `path`; returns the report entry."""
    from keras_attn.inference.backends import onnx_runtime

    expected = runtime_checks.metadata(run, variant)
    content = onnx_convert.add_metadata(content, expected)
    ops = onnx_convert.op_types(content)
    foreign = sorted(domain for domain in ops if domain not in ("", "ai.onnx"))
    structure = {
        "standard_ops": check(
            not foreign,
            f"ops of other domains: {foreign}" if foreign else "ai.onnx ops only",
        ),
    }
    try:
        logits_copy = onnx_convert.with_logits_output(content)
        structure["softmax_output"] = check(True, "output is a softmax")
    except ValueError as e:
        logits_copy = None
        structure["softmax_output"] = check(False, str(e))

    def file_logits(images):
        session = onnx_runtime.make_session(logits_copy or content, num_threads=2)
        name = session.get_inputs()[0].name
        return session.run(None, {name: images})[-1]

    entry = runtime_checks.verify(
        file=file_name(variant),
        variant=variant,
        size_bytes=len(content),
        open_classifier=lambda threads: onnx_runtime.OnnxClassifier(
            content, run.labels, threads
        ),
        file_logits=file_logits,
        structure=structure,
        expected_metadata=expected,
        inputs=inputs,
        config=config,
        client=CLIENT,
        ops=ops,
    )
    if runtime_checks.written(entry, config):
        with atomic_io.atomic_path(path) as tmp, open(tmp, "wb") as f:
            f.write(content)
    else:
        _remove(path)
    return entry


def _remove(path: str) -> None:
    if os.path.exists(path):
        os.remove(path)
