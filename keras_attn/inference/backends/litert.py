"""LiteRT: runs `.tflite` files (what Android, iOS, boards and MediaPipe run).

Needs only `ai-edge-litert` and numpy: no TensorFlow, no Keras. For a
quantised input (`uint8` or `int8`) pixels are quantised with the tensor's
scale and zero point; our int8 export uses scale 1, so a uint8 input takes
raw pixels. Exported files end in a softmax (their output is
probabilities); for a file whose output is logits the softmax is applied
here.
"""

from __future__ import annotations

import time

import numpy as np

from keras_attn.errors import MissingDependencyError, first_line
from keras_attn.inference.runtime import check_labels, softmax
from keras_attn.runs import LABELS
from keras_attn.tflite.graph import LITERT_HINT, TFLITE_IDENTIFIER, producer_chain


def _litert():
    try:
        from ai_edge_litert import interpreter
    except ImportError as e:
        raise MissingDependencyError(LITERT_HINT) from e
    return interpreter


def make_interpreter(
    model_content: bytes, num_threads: int | None = None, reference: bool = False
):
    """A LiteRT `Interpreter` with tensors allocated.

    `reference=True` runs LiteRT's builtin kernels without the default XNNPACK
    delegate and keeps every intermediate tensor readable (for checks that
    look inside the model; slower).
    """
    interpreter = _litert()
    kwargs = {}
    if reference:
        kwargs = dict(
            experimental_op_resolver_type=(
                interpreter.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
            ),
            experimental_preserve_all_tensors=True,
        )
    runner = interpreter.Interpreter(
        model_content=model_content, num_threads=num_threads, **kwargs
    )
    runner.allocate_tensors()
    return runner


def quantize_input(images: np.ndarray, details: dict) -> np.ndarray:
    """Pixels in 0..255 -> the dtype of an input tensor (`get_input_details()` entry).

    Float inputs take the pixels as they are; quantised ones get
    `round(pixels / scale) + zero_point`, clipped to the integer range.
    """
    dtype = np.dtype(details["dtype"])
    if dtype.kind == "f":
        return np.asarray(images, dtype)
    scale, zero_point = details["quantization"]
    q = np.round(np.asarray(images, np.float32) / scale + zero_point)
    info = np.iinfo(dtype)
    return np.clip(q, info.min, info.max).astype(dtype)


class TFLiteClassifier:
    """An image classifier in a `.tflite` file, run by LiteRT.

    Args:
        model_content: the file's bytes.
        labels: class names, as many as the model has outputs.
        num_threads: LiteRT CPU threads (None: LiteRT's default).
    """

    def __init__(
        self, model_content: bytes, labels: list[str], num_threads: int | None = None
    ):
        self.model_content = model_content
        self.runtime = f"LiteRT, threads={num_threads}"
        self.interpreter = make_interpreter(model_content, num_threads)
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(
                f"Expected a classifier with one input and one output; the model "
                f"has {len(inputs)} inputs and {len(outputs)} outputs."
            )
        self.input, self.output = inputs[0], outputs[0]
        shape = tuple(int(d) for d in self.input["shape"])
        if len(shape) != 4 or shape[-1] != 3:
            raise ValueError(f"Expected an image input (1, H, W, 3); got {shape}.")
        self.input_size = shape[1:3]
        self.num_classes = int(self.output["shape"][-1])
        chain = producer_chain(model_content, int(self.output["index"]))
        self.outputs_probabilities = bool(chain) and chain[-1][0] == "SOFTMAX"
        self.labels = check_labels(labels, self.num_classes)

    @property
    def input_dtype(self) -> str:
        return np.dtype(self.input["dtype"]).name

    def quantize(self, images: np.ndarray) -> np.ndarray:
        """Pixels (N, H, W, 3) in 0..255 -> what the input tensor takes."""
        return quantize_input(images, self.input)

    def raw_output(self, image: np.ndarray) -> np.ndarray:
        """The output tensor for one (H, W, 3) image, dequantised, as float32."""
        self.interpreter.set_tensor(self.input["index"], self.quantize(image[None]))
        self.interpreter.invoke()
        out = self.interpreter.get_tensor(self.output["index"])[0]
        scale, zero_point = self.output["quantization"]
        if np.dtype(self.output["dtype"]).kind != "f" and scale:
            out = (out.astype(np.float32) - zero_point) * scale
        return out.astype(np.float32)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Probabilities for one image (H, W, 3) -> (K,) or a batch -> (N, K)."""
        images = np.asarray(images)
        single = images.ndim == 3
        batch = images[None] if single else images
        out = np.stack([self.raw_output(image) for image in batch])
        probs = out if self.outputs_probabilities else softmax(out).astype(np.float32)
        return probs[0] if single else probs

    def latency_ms(self, runs: int = 50, warmup: int = 5) -> float:
        """Median wall time of one `invoke` on a fixed image, in milliseconds."""
        shape = [int(d) for d in self.input["shape"]]
        image = self.quantize(np.random.default_rng(0).uniform(0, 255, shape))
        self.interpreter.set_tensor(self.input["index"], image)
        for _ in range(warmup):
            self.interpreter.invoke()
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            self.interpreter.invoke()
            times.append(time.perf_counter() - start)
        return float(np.median(times) * 1000)


Classifier = TFLiteClassifier


def read_resize(path: str) -> str | None:
    """The resize mode recorded in the file's TFLite metadata, or None."""
    from keras_attn.tflite import metadata as tflite_metadata

    try:
        with open(path, "rb") as f:
            return tflite_metadata.read_resize(f.read())
    except Exception:  # noqa: BLE001 -- a damaged file is named when it loads
        return None


def open_file(
    path: str, labels: list[str] | None, num_threads: int | None = None
) -> TFLiteClassifier:
    """Opens a `.tflite` file; labels, when not given, from the file's metadata.

    Raises:
        ValueError: not a TFLite file, damaged or truncated, or LiteRT cannot
            run it.
        FileNotFoundError: no labels given and none packed in the file.
        MissingDependencyError: LiteRT is not installed.
    """
    with open(path, "rb") as f:
        content = f.read()
    if len(content) < 8 or content[4:8] != TFLITE_IDENTIFIER:
        raise ValueError(
            f"{path} is not a TFLite model (no 'TFL3' flatbuffer identifier); "
            "pass a .tflite or .keras file."
        )
    litert = _litert()
    try:  # constructing verifies the flatbuffer (no tensors allocated: cheap)
        litert.Interpreter(
            model_content=content,
            experimental_op_resolver_type=(
                litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
            ),
        )
    except ValueError as e:  # "The model is not a valid Flatbuffer buffer"
        raise ValueError(
            f"{path} is damaged or truncated ({len(content)} bytes; LiteRT: "
            f"{first_line(e)}); copy the whole file again or re-export it."
        ) from None
    if labels is None:
        from keras_attn.tflite.metadata import read_associated_files, read_metadata

        packed = read_associated_files(content).get(LABELS)
        if packed is None and LABELS.encode() in (read_metadata(content) or b""):
            raise ValueError(
                f"{path} is damaged or truncated: its metadata names a packed "
                f"{LABELS} that is not at the end of the file; copy the "
                "whole file again or re-export it."
            )
        if packed is None:
            raise FileNotFoundError(
                f"No {LABELS} beside {path} and none packed in the file."
            )
        labels = [
            line.strip() for line in packed.decode("utf-8").splitlines() if line.strip()
        ]
    try:
        return TFLiteClassifier(content, labels, num_threads)
    except RuntimeError as e:  # LiteRT's "failed to allocate", bad flatbuffer, ...
        raise ValueError(f"LiteRT cannot run {path}: {first_line(e)}") from e
