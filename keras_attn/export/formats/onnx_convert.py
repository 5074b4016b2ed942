"""Keras model -> `.onnx` bytes: raw uint8 pixels in, the softmax appended,
opset 17 (`convert`); its metadata (`add_metadata`); ONNX Runtime's static
int8 quantisation (`quantize_int8`).

Why not Keras' `model.export(format="onnx")` (tf2onnx underneath): it traces
the model without `training=False`, and tf2onnx turns the tensors a function
captures (the Normalization layer's mean and variance, eager constants)
into extra graph inputs, so ONNX Runtime refuses the file for want of them.
Here a `tf.function` calls `model(cast(pixels), training=False)`, and the
captured constants are moved back into the graph as initializers.

The model is converted with its normalisation tiled across the width
(`normalization.widen_normalization`, as for `.tflite`): ONNX Runtime
broadcasts a 3-value constant one pixel at a time.

The conversion runs in a child process (`python -m` this module) with
protobuf's pure-Python implementation: tf2onnx's optimiser rewrites every
node's attributes a few dozen times, and under protobuf's default (upb)
implementation each rewrite keeps its copy of the weights in the node's
arena, so a ResNet-18 took 3.7 GB (1.2 GB of it the loaded model) where it
now takes 2.2 GB, and the memory goes back to the system when the child
exits.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import numpy as np

from keras_attn.errors import first_line
from keras_attn.export.formats import normalization
from keras_attn.inference.backends.onnx_runtime import METADATA_PREFIX

OPSET = 17
INPUT = "pixels"
OUTPUT = "probabilities"
# The child's last stderr line starts with this when it fails.
_ERROR = "onnx_convert error: "


def convert(model_path: str, timeout: float = 1800) -> bytes:
    """Converts a `.keras` classifier (logits out) to `.onnx` bytes with the
    softmax appended, in a child process (see the module docstring).

    Raises:
        RuntimeError: the conversion failed; its one-line reason.
    """
    # The folder holding the keras_attn package, for a checkout not installed.
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 3))
    env = dict(
        os.environ,
        PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION="python",
        KERAS_BACKEND="tensorflow",
        TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"),
        PYTHONPATH=os.pathsep.join(
            p for p in (root, os.environ.get("PYTHONPATH")) if p
        ),
    )
    with tempfile.TemporaryDirectory(prefix="keras_attn_onnx_") as tmp:
        out = os.path.join(tmp, "model.onnx")
        result = subprocess.run(
            [sys.executable, "-m", __name__, os.path.abspath(model_path), out],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0 or not os.path.exists(out):
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            errors = [line for line in lines if line.startswith(_ERROR)]
            reason = (
                errors[-1][len(_ERROR) :]
                if errors
                else (lines[-1] if lines else f"exit status {result.returncode}")
            )
            raise RuntimeError(f"tf2onnx: {reason}")
        with open(out, "rb") as f:
            return f.read()


def keras_to_onnx(model, opset: int = OPSET):
    """An `onnx.ModelProto` of `model` (pixels -> logits): uint8 (N, h, w, 3)
    `pixels` in, `probabilities` (the softmax of the logits) out."""
    import onnx
    import tensorflow as tf
    import tf2onnx
    from onnx import numpy_helper

    model = normalization.widen_normalization(model)
    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.uint8, name=INPUT)

    @tf.function(input_signature=[spec])
    def serve(pixels):
        logits = model(tf.cast(pixels, tf.float32), training=False)
        return {OUTPUT: tf.nn.softmax(tf.cast(logits, tf.float32))}

    concrete = serve.get_concrete_function()
    captured = {
        internal.name: external.numpy()
        for external, internal in concrete.graph.captures
        if external.dtype != tf.resource
    }
    proto, _ = tf2onnx.convert.from_function(serve, input_signature=[spec], opset=opset)
    graph = proto.graph
    used = {name for node in graph.node for name in node.input}
    for value in list(graph.input):
        if value.name in captured:  # a captured constant, not an input
            if value.name in used:
                array = np.asarray(captured[value.name])
                graph.initializer.append(numpy_helper.from_array(array, value.name))
            graph.input.remove(value)
    if len(graph.input) != 1 or len(graph.output) != 1:
        raise ValueError(
            f"expected one input and one output, got inputs "
            f"{[i.name for i in graph.input]} and outputs "
            f"{[o.name for o in graph.output]}"
        )
    _rename(graph, graph.input[0].name, INPUT)
    _rename(graph, graph.output[0].name, OUTPUT)
    for value in (*graph.input, *graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    proto.producer_name = "keras-attn"
    onnx.checker.check_model(proto)
    return proto


def _rename(graph, old: str, new: str) -> None:
    """Renames a tensor everywhere in `graph` (inputs, outputs, nodes)."""
    if old == new:
        return
    for value in (*graph.input, *graph.output):
        if value.name == old:
            value.name = new
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new
        for i, name in enumerate(node.output):
            if name == old:
                node.output[i] = new


def add_metadata(content: bytes, metadata: dict[str, str]) -> bytes:
    """The file with `metadata` in its `metadata_props` (keys prefixed with
    `METADATA_PREFIX`; earlier `keras_attn.` entries replaced)."""
    import onnx

    proto = onnx.load_from_string(content)
    keep = [
        (p.key, p.value)
        for p in proto.metadata_props
        if not p.key.startswith(METADATA_PREFIX)
    ]
    del proto.metadata_props[:]
    for key, value in [*keep, *((METADATA_PREFIX + k, v) for k, v in metadata.items())]:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    return proto.SerializeToString()


def softmax_node(proto):
    """The Softmax node whose output (through Identity nodes) is the graph's
    output, or None."""
    producers = {name: node for node in proto.graph.node for name in node.output}
    node = producers.get(proto.graph.output[0].name)
    while node is not None and node.op_type == "Identity":
        node = producers.get(node.input[0])
    return node if node is not None and node.op_type == "Softmax" else None


def with_logits_output(content: bytes) -> bytes:
    """An in-memory copy of the file with the softmax's input (the logits)
    as a second output, for the logit comparison with Keras.

    Raises:
        ValueError: the file does not end in a softmax.
    """
    import onnx

    proto = onnx.load_from_string(content)
    node = softmax_node(proto)
    if node is None:
        raise ValueError("The file does not end in a softmax.")
    proto.graph.output.append(
        onnx.helper.make_tensor_value_info(node.input[0], onnx.TensorProto.FLOAT, None)
    )
    return proto.SerializeToString()


def quantize_int8(content: bytes, calibration: np.ndarray) -> bytes:
    """ONNX Runtime's static int8 quantisation of an fp32 file, calibrated on
    `calibration` (N, h, w, 3) uint8 training images, one per step.

    QDQ format, int8 weights per channel, uint8 activations (min-max); the
    softmax stays float, so the output is float probabilities. Weights use
    7 bits (`reduce_range`): on x86 CPUs without VNNI, ONNX Runtime's
    uint8 x int8 kernels saturate with 8 (top-1 agreement with Keras fell
    from 0.94 to 0.73 on a 20-class ResNet-18).
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Images(CalibrationDataReader):
        def __init__(self):
            self.rewind()

        def get_next(self):
            return next(self.iterator, None)

        def rewind(self):
            self.iterator = ({INPUT: image[None]} for image in calibration)

    calibration = np.asarray(calibration, np.uint8)
    softmax = softmax_node(onnx.load_from_string(content))
    with tempfile.TemporaryDirectory(prefix="keras_attn_onnx_") as tmp:
        fp32, prepared, int8 = (
            os.path.join(tmp, f"{name}.onnx") for name in ("fp32", "pre", "int8")
        )
        with open(fp32, "wb") as f:
            f.write(content)
        quant_pre_process(fp32, prepared, skip_symbolic_shape=True)
        quantize_static(
            prepared,
            int8,
            Images(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=[softmax.name] if softmax is not None else [],
            # Not `CalibMaxIntermediateOutputs`: ONNX Runtime 1.32 drops every
            # full chunk's ranges. Only each tensor's min and max are kept
            # per image, so memory hardly grows with the images.
        )
        with open(int8, "rb") as f:
            return f.read()


def op_types(content: bytes) -> dict[str, list[str]]:
    """The file's op types by domain (`""` is the standard `ai.onnx`)."""
    import onnx

    found: dict[str, set[str]] = {}
    for node in onnx.load_from_string(content).graph.node:
        found.setdefault(node.domain or "", set()).add(node.op_type)
    return {domain: sorted(ops) for domain, ops in sorted(found.items())}


def _main(argv: list[str]) -> int:
    """`python -m keras_attn.export.formats.onnx_convert MODEL.keras OUT.onnx`."""
    model_path, out = argv
    try:
        import onnx

        from keras_attn.saving import load_model

        proto = keras_to_onnx(load_model(model_path))
        onnx.save(proto, out)
    except Exception as e:  # noqa: BLE001 -- reported to the parent in one line
        print(f"{_ERROR}{type(e).__name__}: {first_line(e)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
