"""OpenVINO: runs OpenVINO IR files, `model.xml` with its weights in
`model.bin` beside it (Intel CPUs, GPUs and NPUs; edge boxes).

Needs only `openvino` and numpy: no TensorFlow, no Keras. Our exported
files take raw uint8 pixels (N, H, W, 3) at the run's stored size and end
in a softmax; their `rt_info` section `keras_attn` (`RT_INFO`) records the
resize contract, the labels and what the output is (written by
`keras_attn.export.formats.openvino`). They run on the CPU at float32
precision (`INFERENCE_PRECISION_HINT`): OpenVINO's default on CPUs with
bfloat16 support would round the float layers, and the checks measured
float32.
"""

from __future__ import annotations

import os
import time

import numpy as np

from keras_attn.errors import MissingDependencyError, first_line
from keras_attn.images import RESIZE_MODES
from keras_attn.inference.runtime import check_labels, softmax
from keras_attn.runs import LABELS

OPENVINO_HINT = (
    'OpenVINO is not installed: pip install -e ".[openvino]" (or pip install '
    "openvino) to run OpenVINO .xml files."
)
# The rt_info section our exported files keep their metadata in.
RT_INFO = "keras_attn"
DEVICE = "CPU"


def _openvino():
    try:
        import openvino
    except ImportError as e:
        raise MissingDependencyError(OPENVINO_HINT) from e
    return openvino


def compile_model(model, num_threads: int | None = None):
    """An `openvino.Model` compiled for the CPU at float32, for latency."""
    ov = _openvino()
    config = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
    if num_threads:
        config["INFERENCE_NUM_THREADS"] = num_threads
    return ov.Core().compile_model(model, DEVICE, config)


def rt_info(model) -> dict[str, str]:
    """The `keras_attn` section of an `openvino.Model`'s rt_info ({} if none)."""
    if not model.has_rt_info([RT_INFO]):
        return {}
    section = model.get_rt_info()[RT_INFO]
    return {key: str(section[key].astype(str)) for key in section}


class OpenVINOClassifier:
    """An image classifier in an OpenVINO model, run on the CPU.

    Args:
        model: an `openvino.Model` (`read_model(path)`), or an `.xml` path.
        labels: class names, as many as the model has outputs.
        num_threads: inference threads (None: OpenVINO's default).
    """

    def __init__(self, model, labels: list[str], num_threads: int | None = None):
        ov = _openvino()
        if isinstance(model, str | os.PathLike):
            model = ov.Core().read_model(model)
        self.model = model
        self.runtime = f"OpenVINO {ov.__version__}, threads={num_threads}"
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise ValueError(
                f"Expected a classifier with one input and one output; the model "
                f"has {len(model.inputs)} inputs and {len(model.outputs)} outputs."
            )
        shape = model.inputs[0].get_partial_shape()
        if (
            shape.rank.is_dynamic
            or len(shape) != 4
            or any(shape[i].is_dynamic for i in (1, 2, 3))
            or shape[3].get_length() != 3
        ):
            raise ValueError(f"Expected an image input (N, H, W, 3); got {shape}.")
        self.input_size = (shape[1].get_length(), shape[2].get_length())
        self.batch = None if shape[0].is_dynamic else shape[0].get_length()
        self.num_classes = model.outputs[0].get_partial_shape()[-1].get_length()
        self.metadata = rt_info(model)
        self.outputs_probabilities = self.metadata.get("output") == "probabilities"
        self.labels = check_labels(labels, self.num_classes)
        self.compiled = compile_model(model, num_threads)
        self.request = self.compiled.create_infer_request()
        self._dtype = np.dtype(model.inputs[0].get_element_type().to_dtype())

    @property
    def input_dtype(self) -> str:
        return self._dtype.name

    def prepare(self, images: np.ndarray) -> np.ndarray:
        """Pixels (N, H, W, 3) in 0..255 -> what the input takes."""
        images = np.asarray(images)
        if self._dtype.kind in "ui" and images.dtype != self._dtype:
            info = np.iinfo(self._dtype)
            images = np.clip(np.round(images), info.min, info.max)
        return np.ascontiguousarray(images.astype(self._dtype, copy=False))

    def run(self, batch: np.ndarray) -> np.ndarray:
        """The output for a batch of (H, W, 3) images, as float32."""
        feed = self.prepare(batch)
        if self.batch is not None:  # a fixed batch size: one image at a time
            out = [
                self.request.infer({0: feed[i : i + 1]})[0] for i in range(len(feed))
            ]
            return np.concatenate(out).astype(np.float32)
        return np.array(self.request.infer({0: feed})[0], np.float32)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Probabilities for one image (H, W, 3) -> (K,) or a batch -> (N, K)."""
        images = np.asarray(images)
        single = images.ndim == 3
        out = self.run(images[None] if single else images)
        probs = out if self.outputs_probabilities else softmax(out).astype(np.float32)
        return probs[0] if single else probs

    def latency_ms(self, runs: int = 50, warmup: int = 5) -> float:
        """Median wall time of one single-image inference on a fixed image, in ms."""
        image = np.random.default_rng(0).uniform(0, 255, (1, *self.input_size, 3))
        feed = {0: self.prepare(image)}
        for _ in range(warmup):
            self.request.infer(feed)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            self.request.infer(feed)
            times.append(time.perf_counter() - start)
        return float(np.median(times) * 1000)


Classifier = OpenVINOClassifier


def weights_path(path: str) -> str:
    """`model.xml` -> `model.bin`: where an IR keeps its weights."""
    return os.path.splitext(path)[0] + ".bin"


def read_model(path: str):
    """Reads an IR (`.xml` and its `.bin`) as an `openvino.Model`.

    Raises:
        ValueError: not an OpenVINO IR, no `.bin` beside it, or either file
            damaged or truncated; one line.
        MissingDependencyError: OpenVINO is not installed.
    """
    ov = _openvino()
    with open(path, "rb") as f:
        head = f.read(4096)
    # Checked here: OpenVINO would try its TensorFlow reader on any other
    # text, which prints parse errors of its own to stderr.
    if b"<net " not in head:
        raise ValueError(
            f"{path} is not an OpenVINO model (no <net> element at its start); "
            "pass an OpenVINO .xml with its .bin, or a .onnx, .tflite or .keras file."
        )
    weights = weights_path(path)
    if not os.path.isfile(weights):
        raise ValueError(
            f"{path} has no weights file {os.path.basename(weights)} beside it: "
            "an OpenVINO model is the .xml and the .bin of the same name; copy both."
        )
    try:
        return ov.Core().read_model(path, weights)
    except RuntimeError as e:
        raise ValueError(
            f"{path} or its {os.path.basename(weights)} is damaged or truncated "
            f"({os.path.getsize(path)} + {os.path.getsize(weights)} bytes; "
            f"OpenVINO: {_reason(e)}); copy both files again or re-export them."
        ) from None


def read_resize(path: str) -> str | None:
    """The resize mode recorded in the file's rt_info, or None."""
    try:
        resize = rt_info(read_model(path)).get("resize")
    except Exception:  # noqa: BLE001 -- a damaged file is named when it loads
        return None
    return resize if resize in RESIZE_MODES else None


def open_file(
    path: str, labels: list[str] | None, num_threads: int | None = None
) -> OpenVINOClassifier:
    """Opens an OpenVINO `.xml` (with its `.bin`); labels, when not given,
    from its rt_info.

    Raises:
        ValueError: not an OpenVINO IR, its `.bin` missing, damaged or
            truncated, or OpenVINO cannot run it.
        FileNotFoundError: no labels given and none in the file's rt_info.
        MissingDependencyError: OpenVINO is not installed.
    """
    model = read_model(path)
    if labels is None:
        packed = rt_info(model).get("labels")
        if packed is None:
            raise FileNotFoundError(
                f"No {LABELS} beside {path} and none in the file's rt_info."
            )
        labels = [line.strip() for line in packed.splitlines() if line.strip()]
    try:
        return OpenVINOClassifier(model, labels, num_threads)
    except RuntimeError as e:
        raise ValueError(f"OpenVINO cannot run {path}: {_reason(e)}") from e


def _reason(error: Exception) -> str:
    """OpenVINO's message without the source locations it starts with:
    `Exception from src/...: / Check '...' failed at src/...: / Incorrect
    weights in bin file!` -> `Incorrect weights in bin file!`."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    useful = [
        line for line in lines if not line.startswith(("Exception from ", "Check '"))
    ]
    return useful[0] if useful else first_line(error)
