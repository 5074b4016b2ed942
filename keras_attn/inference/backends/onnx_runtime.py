"""ONNX Runtime: runs `.onnx` files (servers, Windows and Linux apps, the web).

Needs only `onnxruntime` and numpy: no TensorFlow, no Keras, not even the
`onnx` package. Our exported files take raw uint8 pixels (N, H, W, 3) at the
run's stored size and end in a softmax; their `metadata_props` record the
resize contract, the labels and what the output is (`METADATA_PREFIX` keys,
written by `keras_attn.export.formats.onnx`). For a file whose output is
logits (no `keras_attn.output` key saying `probabilities`) the softmax is
applied here.
"""

from __future__ import annotations

import os
import time

import numpy as np

from keras_attn.errors import MissingDependencyError, first_line
from keras_attn.images import RESIZE_MODES
from keras_attn.inference.runtime import check_labels, softmax
from keras_attn.runs import LABELS

ONNX_HINT = (
    'ONNX Runtime is not installed: pip install -e ".[onnx]" (or pip install '
    "onnxruntime) to run .onnx files."
)
# The keys our exported files carry in `metadata_props`, each prefixed.
METADATA_PREFIX = "keras_attn."


def _ort():
    try:
        import onnxruntime
    except ImportError as e:
        raise MissingDependencyError(ONNX_HINT) from e
    return onnxruntime


def make_session(model, num_threads: int | None = None, optimize: bool = True):
    """An ONNX Runtime CPU `InferenceSession` for a file path or its bytes.

    `num_threads` sets the intra-op threads (None: ONNX Runtime's default);
    `optimize=False` loads without graph optimisation (to read metadata).
    """
    ort = _ort()
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    if num_threads:
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _dtype(onnx_type: str) -> np.dtype:
    """`tensor(uint8)` -> numpy's uint8."""
    name = onnx_type.removeprefix("tensor(").removesuffix(")")
    return np.dtype({"float": "float32", "double": "float64"}.get(name, name))


class OnnxClassifier:
    """An image classifier in a `.onnx` file, run by ONNX Runtime.

    Args:
        model: the file's path or bytes, or an `InferenceSession` of it.
        labels: class names, as many as the model has outputs.
        num_threads: intra-op CPU threads (None: ONNX Runtime's default).
    """

    def __init__(self, model, labels: list[str], num_threads: int | None = None):
        import onnxruntime

        if isinstance(model, str | bytes | os.PathLike):
            model = make_session(model, num_threads)
        self.session = model
        self.runtime = f"ONNX Runtime {onnxruntime.__version__}, threads={num_threads}"
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(
                f"Expected a classifier with one input and one output; the model "
                f"has {len(inputs)} inputs and {len(outputs)} outputs."
            )
        self.input, self.output = inputs[0], outputs[0]
        shape = list(self.input.shape)
        if (
            len(shape) != 4
            or shape[-1] != 3
            or not all(isinstance(d, int) for d in shape[1:3])
        ):
            raise ValueError(f"Expected an image input (N, H, W, 3); got {shape}.")
        self.input_size = (int(shape[1]), int(shape[2]))
        # A fixed batch dimension (1) means one image per run.
        self.batch = shape[0] if isinstance(shape[0], int) else None
        self.num_classes = int(self.output.shape[-1])
        self.metadata = _ours(self.session.get_modelmeta().custom_metadata_map)
        self.outputs_probabilities = self.metadata.get("output") == "probabilities"
        self.labels = check_labels(labels, self.num_classes)

    @property
    def input_dtype(self) -> str:
        return _dtype(self.input.type).name

    def prepare(self, images: np.ndarray) -> np.ndarray:
        """Pixels (N, H, W, 3) in 0..255 -> what the input takes."""
        dtype = _dtype(self.input.type)
        images = np.asarray(images)
        if dtype.kind in "ui" and images.dtype != dtype:
            info = np.iinfo(dtype)
            images = np.clip(np.round(images), info.min, info.max)
        return np.ascontiguousarray(images.astype(dtype, copy=False))

    def run(self, batch: np.ndarray) -> np.ndarray:
        """The output for a batch of (H, W, 3) images, as float32."""
        feed = self.prepare(batch)
        if self.batch is not None:  # a fixed batch size: one image at a time
            out = [
                self.session.run(None, {self.input.name: feed[i : i + 1]})[0]
                for i in range(len(feed))
            ]
            return np.concatenate(out).astype(np.float32)
        return self.session.run(None, {self.input.name: feed})[0].astype(np.float32)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Probabilities for one image (H, W, 3) -> (K,) or a batch -> (N, K)."""
        images = np.asarray(images)
        single = images.ndim == 3
        out = self.run(images[None] if single else images)
        probs = out if self.outputs_probabilities else softmax(out).astype(np.float32)
        return probs[0] if single else probs

    def latency_ms(self, runs: int = 50, warmup: int = 5) -> float:
        """Median wall time of one single-image run on a fixed image, in ms."""
        image = np.random.default_rng(0).uniform(0, 255, (1, *self.input_size, 3))
        feed = {self.input.name: self.prepare(image)}
        for _ in range(warmup):
            self.session.run(None, feed)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            self.session.run(None, feed)
            times.append(time.perf_counter() - start)
        return float(np.median(times) * 1000)


Classifier = OnnxClassifier


def _ours(metadata_props: dict[str, str]) -> dict[str, str]:
    """The `keras_attn.*` entries of `metadata_props`, the prefix dropped."""
    return {
        key[len(METADATA_PREFIX) :]: value
        for key, value in metadata_props.items()
        if key.startswith(METADATA_PREFIX)
    }


def read_metadata(path: str) -> dict[str, str]:
    """The `keras_attn.*` entries of a `.onnx` file's `metadata_props`, with
    the prefix dropped; {} for a file without them."""
    session = make_session(path, optimize=False)
    return _ours(session.get_modelmeta().custom_metadata_map)


def read_resize(path: str) -> str | None:
    """The resize mode recorded in the file's metadata, or None."""
    try:
        resize = read_metadata(path).get("resize")
    except Exception:  # noqa: BLE001 -- a damaged file is named when it loads
        return None
    return resize if resize in RESIZE_MODES else None


def open_file(
    path: str, labels: list[str] | None, num_threads: int | None = None
) -> OnnxClassifier:
    """Opens a `.onnx` file; labels, when not given, from its metadata.

    Raises:
        ValueError: not an ONNX model, damaged or truncated, or ONNX Runtime
            cannot run it.
        FileNotFoundError: no labels given and none in the file's metadata.
        MissingDependencyError: ONNX Runtime is not installed.
    """
    _ort()
    size = os.path.getsize(path)
    try:
        session = make_session(path, num_threads)
    except Exception as e:  # noqa: BLE001 -- ORT's errors derive from Exception
        raise ValueError(
            f"{path} is not an ONNX model, or is damaged or truncated ({size} "
            f"bytes; ONNX Runtime: {_reason(e)}); copy the whole file again or "
            "re-export it."
        ) from None
    if labels is None:
        packed = _ours(session.get_modelmeta().custom_metadata_map).get("labels")
        if packed is None:
            raise FileNotFoundError(
                f"No {LABELS} beside {path} and none in the file's metadata."
            )
        labels = [line.strip() for line in packed.splitlines() if line.strip()]
    return OnnxClassifier(session, labels, num_threads)


def _reason(error: Exception) -> str:
    """ONNX Runtime's message, shorter: `[ONNXRuntimeError] : 7 :
    INVALID_PROTOBUF : Load model from PATH failed:Protobuf parsing failed.`
    -> `INVALID_PROTOBUF: Protobuf parsing failed.`"""
    text = first_line(error)
    parts = text.split(" : ", 3)
    if text.startswith("[ONNXRuntimeError]") and len(parts) == 4:
        code, message = parts[2], parts[3]
        if message.startswith("Load model from ") and "failed:" in message:
            message = message.split("failed:", 1)[1]
        text = f"{code}: {message.strip()}"
    return text
