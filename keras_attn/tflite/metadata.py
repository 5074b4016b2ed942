"""TFLite metadata for image classifiers: what MediaPipe Tasks needs to run a file.

MediaPipe's `ImageClassifier` (Android, iOS, web, Python) runs a plain
`.tflite` file with no app code only when the file carries TFLite metadata: the
input's normalisation (it refuses a float input without it) and the labels, as
an associated file, for the output. This module writes that metadata the way
`tflite-support` does, without its dependencies:

1. The metadata itself is a small flatbuffer of the `ModelMetadata` schema
   (`metadata_schema.fbs`, file identifier `M001`). We encode the handful of
   tables we use with the `flatbuffers` package (already a TensorFlow
   dependency) from a declarative table of their fields below.
2. It goes into the model as one more buffer plus a `Metadata` entry named
   `TFLITE_METADATA`, through the generated TFLite schema
   (`schema_py_generated` as LiteRT ships it, object API; no TensorFlow).
3. Associated files (`labels.txt`) are appended to the model as a zip archive,
   which is how `tflite-support` packs them and where MediaPipe reads them.

Why not a library: `tflite-support` 0.4.4 pins protobuf 3.20, which breaks
TensorFlow 2.21 in the same environment; `mediapipe` ships the generated schema
classes but its metadata writers fail to import, and it would drag OpenCV into
the export's dependencies. The tests decode what we write with mediapipe's
generated `metadata_schema_py_generated` and run the files in MediaPipe's
`ImageClassifier`, so the field table below is checked against the real thing.
"""

import io
import re
import zipfile

import flatbuffers
import numpy as np

from keras_attn.tflite import graph
from keras_attn.tflite.graph import TFLITE_IDENTIFIER

METADATA_NAME = b"TFLITE_METADATA"
METADATA_IDENTIFIER = b"M001"
# The oldest metadata parser that understands every field we write (all of
# them date from schema 1.0.0).
MIN_PARSER_VERSION = "1.0.0"
LABELS_FILE = "labels.txt"

# Enums of metadata_schema.fbs that we use.
COLOR_SPACE_RGB = 1
TENSOR_AXIS_LABELS = 2

# The tables we write, with their fields in declaration order in
# metadata_schema.fbs (schema 1.5.0): a field's flatbuffer slot is its position,
# and a union takes two slots (its type, then its value). Trailing fields we
# never write are left out; leaving them out does not move the others.
_TABLES = {
    "ModelMetadata": (
        ("name", "string"),
        ("description", "string"),
        ("version", "string"),
        ("subgraph_metadata", "[SubGraphMetadata]"),
        ("author", "string"),
        ("license", "string"),
        ("associated_files", "[AssociatedFile]"),
        ("min_parser_version", "string"),
    ),
    "SubGraphMetadata": (
        ("name", "string"),
        ("description", "string"),
        ("input_tensor_metadata", "[TensorMetadata]"),
        ("output_tensor_metadata", "[TensorMetadata]"),
        ("associated_files", "[AssociatedFile]"),
    ),
    "TensorMetadata": (
        ("name", "string"),
        ("description", "string"),
        ("dimension_names", "[string]"),
        ("content", "Content"),
        ("process_units", "[ProcessUnit]"),
        ("stats", "Stats"),
        ("associated_files", "[AssociatedFile]"),
    ),
    "Content": (("content_properties", "union ContentProperties"),),
    "FeatureProperties": (),
    "ImageProperties": (("color_space", "byte"), ("default_size", "ImageSize")),
    "ImageSize": (("width", "uint"), ("height", "uint")),
    "ProcessUnit": (("options", "union ProcessUnitOptions"),),
    "NormalizationOptions": (("mean", "[float]"), ("std", "[float]")),
    "Stats": (("max", "[float]"), ("min", "[float]")),
    "AssociatedFile": (
        ("name", "string"),
        ("description", "string"),
        ("type", "byte"),
        ("locale", "string"),
    ),
}
# Union member -> type id (0 is NONE).
_UNIONS = {
    "ContentProperties": {
        "FeatureProperties": 1,
        "ImageProperties": 2,
        "BoundingBoxProperties": 3,
        "AudioProperties": 4,
    },
    "ProcessUnitOptions": {"NormalizationOptions": 1},
}


_RESIZE_TAG = "keras-attn preprocessing: resize="


def resize_tag(resize: str) -> str:
    """The text that records the training resize mode in the description."""
    return _RESIZE_TAG + resize


def read_resize(model: bytes) -> str | None:
    """The resize mode a keras-attn file's metadata records (`resize_tag`), or
    None: what `predict.py` gives a `.tflite` found outside its run folder."""
    metadata = read_metadata(model)
    if metadata is None:
        return None
    found = re.search(re.escape(_RESIZE_TAG.encode()) + rb"(crop|pad|squash)", metadata)
    return found.group(1).decode() if found else None


def image_classifier_metadata(
    *,
    name: str,
    description: str,
    labels: list[str],
    input_size: tuple[int, int],
    num_classes: int,
    scores: str = "probabilities",
    preprocessing: str = "",
    version: str = "",
    author: str = "keras-attn",
    license: str = "Apache-2.0",
) -> bytes:
    """The metadata flatbuffer of a one-input, one-output image classifier.

    Args:
        name, description, version, author, license: shown by model viewers.
        labels: class names; they go to the output as `labels.txt`
            (`TENSOR_AXIS_LABELS`), which `populate` packs into the file.
        input_size: `(height, width)` of the input image.
        num_classes: length of the output vector; must match `labels`.
        scores: `probabilities` (softmax output, range [0, 1]) or `logits`.
        preprocessing: what the app must do with a frame before passing it,
            appended to the input's description.
    """
    if len(labels) != num_classes:
        raise ValueError(
            f"{len(labels)} labels for a model with {num_classes} outputs."
        )
    height, width = input_size
    image = {
        "name": "image",
        "description": (
            f"RGB image, {height}x{width}, raw pixel values 0..255 (uint8, or "
            "float for float models)."
            + (f" Frames: {preprocessing}." if preprocessing else "")
        ),
        "content": {
            "content_properties": (
                "ImageProperties",
                {
                    "color_space": COLOR_SPACE_RGB,
                    "default_size": {"width": width, "height": height},
                },
            )
        },
        # The model scales and normalises pixels itself (x / 255, then ImageNet
        # mean/std as its first layers), so apps must feed raw 0..255 values:
        # mean 0 and std 1 tell MediaPipe to leave them as they are.
        "process_units": [
            {"options": ("NormalizationOptions", {"mean": [0.0], "std": [1.0]})}
        ],
        "stats": {"max": [255.0], "min": [0.0]},
    }
    output = {
        "name": scores,
        "description": (
            f"{'Probability' if scores == 'probabilities' else 'Logit'} of each of "
            f"the {num_classes} classes in {LABELS_FILE}."
        ),
        "content": {"content_properties": ("FeatureProperties", {})},
        "associated_files": [
            {
                "name": LABELS_FILE,
                "description": "Class names, one a line, in output order.",
                "type": TENSOR_AXIS_LABELS,
            }
        ],
    }
    if scores == "probabilities":
        output["stats"] = {"max": [1.0], "min": [0.0]}
    metadata = {
        "name": name,
        "description": description,
        "version": version,
        "author": author,
        "license": license,
        "subgraph_metadata": [
            {"input_tensor_metadata": [image], "output_tensor_metadata": [output]}
        ],
        "min_parser_version": MIN_PARSER_VERSION,
    }
    builder = flatbuffers.Builder(1024)
    builder.Finish(_encode(builder, "ModelMetadata", metadata), METADATA_IDENTIFIER)
    return bytes(builder.Output())


def populate(model: bytes, metadata: bytes, files: dict[str, bytes]) -> bytes:
    """Returns `model` with `metadata` inserted and `files` appended as a zip.

    Metadata or files that `model` already carries are replaced.
    """
    schema = graph.schema_module()

    flat = bytearray(model)
    if flat[4:8] != TFLITE_IDENTIFIER:
        raise ValueError("Not a TFLite flatbuffer (no 'TFL3' identifier).")
    tree = schema.ModelT.InitFromPackedBuf(flat, 0)
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(metadata, np.uint8)
    tree.metadata = [m for m in (tree.metadata or []) if m.name != METADATA_NAME]
    tree.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(tree.buffers) - 1
    tree.metadata.append(entry)

    builder = _AlignedBuilder(len(flat) + len(metadata) + 4096)
    builder.Finish(tree.Pack(builder), file_identifier=TFLITE_IDENTIFIER)
    out = io.BytesIO()
    out.write(builder.Output())
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def read_metadata(model: bytes) -> bytes | None:
    """The `TFLITE_METADATA` flatbuffer of a model, or None."""
    schema = graph.schema_module()

    flat = bytearray(model)
    tree = schema.Model.GetRootAs(flat, 0)
    for i in range(tree.MetadataLength()):
        entry = tree.Metadata(i)
        if entry.Name() == METADATA_NAME:
            data = tree.Buffers(entry.Buffer()).DataAsNumpy()
            return bytes(data) if isinstance(data, np.ndarray) else None
    return None


def read_associated_files(model: bytes) -> dict[str, bytes]:
    """The files packed at the end of a model (name -> content); {} if none."""
    try:
        with zipfile.ZipFile(io.BytesIO(model)) as archive:
            return {name: archive.read(name) for name in archive.namelist()}
    except zipfile.BadZipFile:
        return {}


class _AlignedBuilder(flatbuffers.Builder):
    """A Builder that starts byte vectors (tensor data) on 16-byte boundaries.

    The TFLite schema asks for `Buffer.data` with `force_align: 16`; the C++
    converter honours it but the Python object API does not, and some kernels
    map weights straight from the file.
    """

    def CreateNumpyVector(self, x):  # noqa: N802 (flatbuffers API name)
        if x.dtype != np.uint8 or x.ndim != 1:
            return super().CreateNumpyVector(x)
        self.StartVector(1, x.size, 16)
        self.head = self.head - x.size
        self.Bytes[self.head : self.head + x.size] = x.tobytes()
        self.vectorNumElems = x.size
        return self.EndVector()


def _encode(builder: flatbuffers.Builder, table: str, values: dict) -> int:
    """Writes one table (children first, as flatbuffers require); returns its offset."""
    fields = _TABLES[table]
    known = {field for field, _ in fields}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"{table} has no field(s) {sorted(unknown)}.")
    # Children (strings, vectors, sub-tables) must be built before the table.
    slots = []  # (slot, kind, value)
    slot = 0
    for field, kind in fields:
        value = values.get(field)
        if kind.startswith("union "):
            if value is not None:
                member, member_values = value
                type_id = _UNIONS[kind.split()[1]][member]
                slots.append((slot, "ubyte", type_id))
                slots.append(
                    (slot + 1, "offset", _encode(builder, member, member_values))
                )
            slot += 2
            continue
        if value is not None:
            slots.append((slot, *_encode_value(builder, kind, value)))
        slot += 1
    builder.StartObject(slot)
    for index, kind, value in slots:
        if kind == "offset":
            builder.PrependUOffsetTRelativeSlot(index, value, 0)
        elif kind == "ubyte":
            builder.PrependUint8Slot(index, value, 0)
        elif kind == "byte":
            builder.PrependInt8Slot(index, value, 0)
        elif kind == "uint":
            builder.PrependUint32Slot(index, value, 0)
    return builder.EndObject()


def _encode_value(builder: flatbuffers.Builder, kind: str, value) -> tuple[str, int]:
    if kind == "string":
        return "offset", builder.CreateString(value)
    if kind in ("byte", "uint"):
        return kind, int(value)
    if kind == "[float]":
        return "offset", builder.CreateNumpyVector(np.asarray(value, "<f4"))
    if kind.startswith("["):
        element = kind[1:-1]
        if element == "string":
            items = [builder.CreateString(v) for v in value]
        else:
            items = [_encode(builder, element, v) for v in value]
        builder.StartVector(4, len(items), 4)
        for item in reversed(items):
            builder.PrependUOffsetTRelative(item)
        return "offset", builder.EndVector()
    return "offset", _encode(builder, kind, value)
