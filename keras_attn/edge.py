"""Running an exported classifier on images: what `predict.py` and apps do.

`load_classifier(path)` opens a `.tflite` file (with LiteRT, imported lazily)
or a `.keras` file, together with the `labels.txt` beside it, and gives an
object that turns images into class probabilities:

    clf = load_classifier("runs/x/export/model_int8.tflite")
    probs = clf.predict(load_image("cat.jpg", clf.input_size))  # (K,)
    top_k(probs, clf.labels, k=5)

Images are prepared the way training stored them (`keras_attn.data.images`):
decoded with Pillow, EXIF-rotated, converted to 8-bit RGB (greyscale
expanded, transparency composited on white), then resized to the model's
input size, i.e. the size the run stored its images at, keeping the aspect
ratio as the run did (`resize`; `training_resize(path)` reads the mode from
the model's run folder, `crop` when there is none). The model does the rest
(resize to its working size, scaling, normalisation) itself. For a quantised
input (`uint8` or `int8`) pixels are quantised with the tensor's scale and zero
point; our int8 export uses scale 1, so a uint8 input takes raw pixels.

Exported TFLite files end in a softmax (their output is probabilities); for a
file or `.keras` model whose output is logits, the softmax is applied here.
"""

from __future__ import annotations

import os
import time

import numpy as np

from keras_attn import images as images_lib
from keras_attn import runs
from keras_attn.errors import MissingDependencyError, first_line
from keras_attn.tflite.graph import LITERT_HINT, TFLITE_IDENTIFIER, producer_chain

LABELS_FILE = runs.LABELS


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


def training_resize(model_path: str) -> str | None:
    """The `--resize` mode the model's run stored its images with, or None.

    Read from the run's `config.json`, found beside the model
    (`RUN/model.keras`) or, for a file in the run's export folder
    (`RUN/export/model_int8.tflite`), one folder up; else, for a `.tflite`
    file, from its metadata (export writes the mode there, so a file copied
    to a phone or another folder keeps it). None when neither says: callers
    then use `crop` (`images.LEGACY_RESIZE`), what runs used before the mode
    was recorded. Images given to a model must be resized the way its
    training images were, or accuracy drops (a `pad` model sees its objects
    smaller and with borders; a `crop` one sees them cut; a `squash` one
    sees them stretched).
    """
    folder = os.path.dirname(os.path.abspath(model_path))
    candidates = [folder]
    if os.path.basename(folder) == runs.EXPORT:
        candidates.append(os.path.dirname(folder))
    for run_dir in candidates:
        if os.path.isfile(runs.path(run_dir, runs.CONFIG)):
            try:
                resize = runs.read_config(run_dir).get("resize")
            except (OSError, ValueError, AttributeError):
                break  # unreadable, or not a run's config
            if resize in images_lib.RESIZE_MODES:
                return resize
            break
    if model_path.endswith(".tflite") and os.path.isfile(model_path):
        from keras_attn.tflite import metadata as tflite_metadata

        try:
            with open(model_path, "rb") as f:
                return tflite_metadata.read_resize(f.read())
        except Exception:  # noqa: BLE001 -- a damaged file is named when it loads
            return None
    return None


def load_image(
    path: str,
    size: tuple[int, int] | None = None,
    resize: str = images_lib.DEFAULT_RESIZE,
) -> np.ndarray:
    """Decodes any Pillow-readable image (JPEG, PNG, ...) to (H, W, 3) uint8 RGB.

    Same decoding as training (`keras_attn.data.images.load_image`): EXIF
    orientation applied, greyscale expanded to RGB, alpha composited on
    white; with `size` `(height, width)` the image is brought to it by the
    `resize` mode (`crop`, `pad` or `squash`), as the run stored its images.

    Raises:
        FileNotFoundError: no file at `path`.
        ValueError: the file is not an image Pillow can decode.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No image file at {path}.")
    try:
        return images_lib.load_image(path, size, resize)
    except Exception as e:  # noqa: BLE001 -- Pillow raises many kinds
        reason = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ValueError(
            f"Cannot read {path} as an image ({type(e).__name__}: {reason})."
        ) from None


def softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


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


def top_k(probs: np.ndarray, labels: list[str], k: int = 5) -> list[tuple[str, float]]:
    """The `k` most likely `(label, probability)` pairs, most likely first."""
    order = np.argsort(-np.asarray(probs), kind="stable")[:k]
    return [(labels[i], float(probs[i])) for i in order]


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
        self.labels = _check_labels(labels, self.num_classes)

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


class KerasClassifier:
    """A classifier in a `.keras` file (outputs logits), run by Keras."""

    def __init__(self, path: str, labels: list[str]):
        from keras_attn import load_model

        self.model = load_model(path)
        shape = tuple(self.model.input_shape)
        self.input_size = tuple(int(d) for d in shape[1:3])
        self.num_classes = int(self.model.output_shape[-1])
        self.labels = _check_labels(labels, self.num_classes)
        self.input_dtype = "float32"

    def predict(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images, np.float32)
        single = images.ndim == 3
        logits = self.model.predict(images[None] if single else images, verbose=0)
        probs = softmax(logits).astype(np.float32)
        return probs[0] if single else probs

    def latency_ms(self, runs: int = 50, warmup: int = 5) -> float:
        image = np.random.default_rng(0).uniform(0, 255, (1, *self.input_size, 3))
        image = image.astype(np.float32)
        for _ in range(warmup):
            self.model(image, training=False)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            self.model(image, training=False)
            times.append(time.perf_counter() - start)
        return float(np.median(times) * 1000)


def load_classifier(
    path: str, labels_path: str | None = None, num_threads: int | None = None
) -> TFLiteClassifier | KerasClassifier:
    """Opens a `.tflite` or `.keras` classifier with its labels.

    Labels come from `labels_path`, else `labels.txt` beside the model, else
    (for `.tflite`) the labels packed inside the file as TFLite metadata.

    Raises:
        FileNotFoundError: the model or the labels file is missing.
        ValueError: the file is neither TFLite nor Keras, is damaged or
            truncated (a partial copy or download), or its labels do not match
            its outputs.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No model file at {path}.")
    if labels_path is None:
        beside = os.path.join(os.path.dirname(os.path.abspath(path)), LABELS_FILE)
        labels_path = beside if os.path.exists(beside) else None
    elif not os.path.isfile(labels_path):
        raise FileNotFoundError(f"No labels file at {labels_path}.")
    labels = runs.read_labels_file(labels_path) if labels_path else None

    if path.endswith(".keras"):
        if labels is None:
            raise FileNotFoundError(
                f"No {LABELS_FILE} beside {path}; pass the run's labels."
            )
        return KerasClassifier(path, labels)
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

        packed = read_associated_files(content).get(LABELS_FILE)
        if packed is None and LABELS_FILE.encode() in (read_metadata(content) or b""):
            raise ValueError(
                f"{path} is damaged or truncated: its metadata names a packed "
                f"{LABELS_FILE} that is not at the end of the file; copy the "
                "whole file again or re-export it."
            )
        if packed is None:
            raise FileNotFoundError(
                f"No {LABELS_FILE} beside {path} and none packed in the file."
            )
        labels = [
            line.strip() for line in packed.decode("utf-8").splitlines() if line.strip()
        ]
    try:
        return TFLiteClassifier(content, labels, num_threads)
    except RuntimeError as e:  # LiteRT's "failed to allocate", bad flatbuffer, ...
        raise ValueError(f"LiteRT cannot run {path}: {first_line(e)}") from e


def _check_labels(labels: list[str], num_classes: int) -> list[str]:
    if len(labels) != num_classes:
        raise ValueError(
            f"The labels file has {len(labels)} labels but the model outputs "
            f"{num_classes} classes; use the labels.txt of the same run."
        )
    return list(labels)
