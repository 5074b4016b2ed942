"""How fast is it, against the limit (issue 28): the files `export.py` writes,
in every runtime that runs them, timed in one interleaved run.

    python benchmarks/runtimes_bench.py --web_npm=DIR      # the committed table
    python benchmarks/runtimes_bench.py --quick --web_npm=DIR   # a smoke run

For each size (`--sizes`) and variant (`--variants`: `plain`, the
reference, a bare keras-hub ResNet-18 with a pooled Dense head and nothing
else; `none` and `unified`, `keras_attn.models.build_classifier` with its
preprocessing inside, attention on stage 4), a random-weight model with 10
classes is exported the way `export.py` does it, with the library's own
converters: `tflite_convert.convert` + `add_metadata` (fp32 and full-integer
int8 `.tflite`), `onnx_convert.convert` / `quantize_int8` / `add_metadata`
(`.onnx`), `openvino.convert` / `quantize_int8` / `set_metadata` (`.xml`),
and `export.web.write_page` (the browser page, MediaPipe Tasks on the int8
file). int8 is calibrated on `--calibration_images` real photos
(`--calibration`, resized as `squash` stores them). `unified`'s temporal
memory holds the descriptors of 100 of those photos, as after training (an
empty memory would be a constant the converter folds away).

Then, interleaved (each round visits every measurement once, in a shuffled
order, so a busy spell of a shared machine hits every runtime alike), it
times:

- batch-1 latency at 1 thread and at every core (`--threads`): Keras
  (TensorFlow backend, `predict_on_batch`, in one worker process per thread
  count: TensorFlow fixes its threads at start), LiteRT (XNNPACK, the
  default delegate, `num_threads`), ONNX Runtime (`intra_op_num_threads`,
  as `inference.backends.onnx_runtime` opens it), OpenVINO
  (`INFERENCE_NUM_THREADS`, as `inference.backends.openvino_runtime`
  compiles it), and the web page in headless Chromium (MediaPipe Tasks'
  `ImageClassifier`, CPU delegate, the time the page measures around
  `classify`; WebAssembly without threads, so one thread only);
- batch throughput (`--batch_size` images in one call, every core; LiteRT
  with its input resized to the batch) in images/s; not applicable to the
  page, which classifies one photo at a time;
- this CPU's peak: a float32 matmul (numpy/OpenBLAS, `--peak_size`^3, its
  threads set with threadpoolctl) and an int8 one (ONNX Runtime
  `MatMulInteger`, uint8 x int8, the kernel family its int8 convolutions
  use), at the same thread counts.

Each number is the median over rounds of each round's median. MACs per
image are counted from the int8 `.tflite` file's graph (CONV_2D,
DEPTHWISE_CONV_2D, FULLY_CONNECTED and BATCH_MATMUL: output elements x
reduction length); `keras_attn.studies.cost.model_cost` counts FLOPs only on
JAX. A file's MAC rate is MACs / latency (or x images/s), and its share of
peak that rate over the peak of its precision at the same thread count.

For each int8 file it also records what runs where: LiteRT's XNNPACK
partitions, the ops left to LiteRT's own kernels, QUANTIZE and DEQUANTIZE
ops (`keras_attn.tflite.graph.model_ops`); ONNX Runtime's optimised graph
(quantised vs float convolutions, leftover QuantizeLinear/DequantizeLinear);
OpenVINO's executed graph (layers by runtime precision).

Writes `--out` (JSON, paths relative to the repository) and `--table`
(markdown), and prints the table. Exported files go to `--work_dir` and are
reused by the next run when the settings and library code are the same.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import contextlib  # noqa: E402
import functools  # noqa: E402
import gc  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from keras_attn.cli import run_main  # noqa: E402
from keras_attn.utils import atomic_io  # noqa: E402

VARIANTS = ("plain", "none", "unified", "unified_whatif")
# Variants timed only where the targets compare them (`--reference_runtimes`).
REFERENCE_VARIANTS = ("plain", "unified_whatif")
RUNTIMES = (
    "keras",
    "litert_fp32",
    "litert_int8",
    "onnx_fp32",
    "onnx_int8",
    "openvino_fp32",
    "openvino_int8",
    "web",
)
RUNTIME_NAMES = {
    "keras": "Keras (TF)",
    "litert_fp32": "LiteRT fp32",
    "litert_int8": "LiteRT int8",
    "onnx_fp32": "ONNX Runtime fp32",
    "onnx_int8": "ONNX Runtime int8",
    "openvino_fp32": "OpenVINO fp32",
    "openvino_int8": "OpenVINO int8",
    "web": "web page (MediaPipe int8)",
}
FILES = {
    "keras": "model.keras",
    "litert_fp32": "model_fp32.tflite",
    "litert_int8": "model_int8.tflite",
    "onnx_fp32": "model_fp32.onnx",
    "onnx_int8": "model_int8.onnx",
    "openvino_fp32": "model_fp32.xml",
    "openvino_int8": "model_int8.xml",
    "web": "web/index.html",
}
PEAK_NAMES = {
    "fp32_numpy": "numpy/OpenBLAS fp32",
    "fp32_onnxruntime": "ONNX Runtime MatMul fp32",
    "int8_onnxruntime": "ONNX Runtime MatMulInteger u8 x s8",
    "fp32_openvino": "OpenVINO 1x1 convolution fp32",
    "int8_openvino": "OpenVINO 1x1 convolution u8 x s8",
}
NUM_CLASSES = 10
RESIZE = "squash"
# The library code whose change makes an exported file stale.
SOURCES = ("keras_attn/models", "keras_attn/layers", "keras_attn/export")
# The targets of issue 28 (latency ratios; a batch's is the inverse of
# the images/s ratio).
TARGETS = (("unified", "plain", 1.10), ("none", "plain", 1.03))
UNIFIED_OVER_NONE = 1.10
SETTLE_S = 0.05  # between measurements: spinning thread pools go quiet

flags.DEFINE_list("sizes", ["128", "224"], "Image sizes (px; stored = model size).")
flags.DEFINE_list("variants", list(VARIANTS), f"Of {', '.join(VARIANTS)}.")
flags.DEFINE_list("runtimes", list(RUNTIMES), f"Of {', '.join(RUNTIMES)}.")
flags.DEFINE_list(
    "reference_runtimes",
    ["litert_int8", "onnx_int8", "openvino_int8", "web"],
    "Runtimes that time `plain` and `unified_whatif` (the int8 files).",
)
flags.DEFINE_list("threads", None, "Latency thread counts (default: 1 and every core).")
flags.DEFINE_integer("batch_size", 32, "Images per call for throughput (0: skip).")
flags.DEFINE_integer("repeats", 7, "Interleaved rounds.")
flags.DEFINE_integer("runs_per_round", 10, "Timed batch-1 calls per measurement.")
flags.DEFINE_integer("batch_runs", 2, "Timed batch calls per measurement.")
flags.DEFINE_integer("web_images", 8, "Photos through the page per measurement.")
flags.DEFINE_integer("peak_size", 2048, "Side of the peak matmuls.")
flags.DEFINE_integer("peak_runs", 3, "Timed peak matmuls per measurement.")
flags.DEFINE_string(
    "calibration",
    os.path.join(os.path.dirname(REPO), "shared", "data", "stanford_cars_fewshot"),
    "Folder of photos (searched recursively) that calibrate int8, or `random`.",
)
flags.DEFINE_integer("calibration_images", 100, "Photos that calibrate int8.")
flags.DEFINE_string(
    "web_npm", None, "npm prefix with @mediapipe/tasks-vision (else no web page)."
)
flags.DEFINE_string("work_dir", "runs/runtimes_bench", "Exported files.")
flags.DEFINE_bool("reuse", True, "Reuse exported files made with the same settings.")
flags.DEFINE_string("out", "benchmarks/results/runtimes_bench.json", "JSON file.")
flags.DEFINE_string("table", None, "Markdown table (default: --out with .md).")
flags.DEFINE_integer("seed", 0, "Seed of weights, calibration and order.")
flags.DEFINE_bool(
    "quick",
    False,
    "A smoke run: 128 px, 2 rounds of few calls, small batches and peak "
    "matmuls, 8 calibration photos, written under --work_dir (flags given "
    "explicitly win).",
)
flags.DEFINE_integer("keras_worker", 0, "Internal: run as a Keras timing worker.")
FLAGS = flags.FLAGS

QUICK = dict(
    sizes=["128"],
    repeats=2,
    runs_per_round=3,
    batch_size=4,
    batch_runs=1,
    web_images=2,
    peak_size=512,
    peak_runs=2,
    calibration_images=8,
    work_dir="runs/runtimes_bench_quick",
    out="runs/runtimes_bench_quick/runtimes_bench_quick.json",
)


def apply_quick() -> None:
    if not FLAGS.quick:
        return
    for name, value in QUICK.items():
        if not FLAGS[name].present:
            FLAGS[name].value = value


def thread_counts() -> list[int]:
    if FLAGS.threads:
        return sorted({int(t) for t in FLAGS.threads})
    return sorted({1, os.cpu_count() or 1})


# ---------------------------------------------------------------- models


def calibration_images(size: int, count: int, seed: int) -> np.ndarray:
    """`count` photos at size x size (`squash`), or random pixels."""
    rng = np.random.default_rng(seed)
    if FLAGS.calibration == "random":
        return rng.integers(0, 256, (count, size, size, 3)).astype(np.uint8)
    from keras_attn.images import load_image

    found = []
    for folder, _, names in os.walk(FLAGS.calibration):
        for name in names:
            if name.lower().endswith((".jpg", ".jpeg", ".png")):
                found.append(os.path.join(folder, name))
    if len(found) < count:
        raise ValueError(
            f"--calibration={FLAGS.calibration} holds {len(found)} photos, "
            f"fewer than --calibration_images={count}; pass another folder or "
            "--calibration=random."
        )
    chosen = [found[i] for i in rng.permutation(len(found))[:count]]
    return np.stack([load_image(p, (size, size), RESIZE) for p in sorted(chosen)])


def build_model(variant: str, size: int, images: np.ndarray):
    import keras

    from keras_attn.models import build_classifier, load_backbone
    from keras_attn.models.classifier import spatial_attention_layers

    keras.utils.set_random_seed(FLAGS.seed)
    backbone = load_backbone("none")
    if variant == "plain":
        inputs = keras.Input((size, size, 3), name="pixels")
        x = keras.layers.GlobalAveragePooling2D(name="pool")(backbone(inputs))
        logits = keras.layers.Dense(NUM_CLASSES, name="logits")(x)
        return keras.Model(inputs, logits, name="resnet18_plain")
    attention = "unified" if variant == "unified_whatif" else variant
    model = build_classifier(
        NUM_CLASSES, (size, size, 3), size, attention=attention, backbone=backbone
    )
    for layer in spatial_attention_layers(model):
        if hasattr(layer, "memory_buffer"):
            fill_memory(model, layer, images)
    if variant == "unified_whatif":
        model = whatif_model(model)
    return model


def whatif_layer_class():
    """`UnifiedSpatialAttention` with the int8 ops XNNPACK does not take
    replaced (a what-if for the benchmark, not the library's layer): the
    neighbourhood branch's 3x3 average pools as a depthwise convolution
    with a kernel of ones times a constant 1/count map (the same numbers),
    and its standard deviation as the variance (no `+ eps`, no sqrt); the
    memory branch's distances squared (no `+ eps`, no sqrt). The
    neighbourhood and memory maps change (variance for standard deviation,
    squared for Euclidean distance): a model with them would be retrained.
    """
    import math

    from keras import ops

    from keras_attn.layers.unified_attention import UnifiedSpatialAttention

    class WhatIfUnifiedAttention(UnifiedSpatialAttention):
        def _box_mean(self, x):
            k, channels = self.neighbourhood_kernel, x.shape[-1]
            height, width = x.shape[1:3]
            rows = [
                min(height, i + k // 2 + 1) - max(0, i - k // 2) for i in range(height)
            ]
            cols = [
                min(width, j + k // 2 + 1) - max(0, j - k // 2) for j in range(width)
            ]
            count = np.outer(rows, cols).astype(np.float32)[None, :, :, None]
            total = ops.depthwise_conv(
                x, ops.ones((k, k, channels, 1)), strides=1, padding="same"
            )
            return total * ops.convert_to_tensor(1.0 / count)

        def _neighbourhood_map(self, inputs):
            features = ops.cast(self.neighbourhood_conv(inputs), "float32")
            mean = self._box_mean(features)
            variance = ops.relu(self._box_mean(features * features) - mean * mean)
            spread = ops.mean(variance, axis=-1, keepdims=True)
            return self.neighbourhood_score(spread)

        def _memory_map(self, inputs, training):
            features = ops.cast(inputs, "float32")
            memory = ops.convert_to_tensor(self.memory_buffer)
            count = ops.convert_to_tensor(self.memory_count)
            squared = ops.relu(
                ops.sum(features * features, axis=-1, keepdims=True)
                + ops.sum(memory * memory, axis=-1)
                - 2.0 * ops.matmul(features, ops.transpose(memory))
            ) / math.sqrt(features.shape[-1])
            valid = ops.cast(
                ops.arange(self.memory_size, dtype="float32") < count, "float32"
            )
            novelty = ops.sum(squared * valid, axis=-1, keepdims=True) / ops.maximum(
                count, 1.0
            )
            logits = self.memory_score(novelty) * ops.cast(
                count > 0, self.compute_dtype
            )
            return ops.sigmoid(logits)

    return WhatIfUnifiedAttention


def whatif_model(model):
    """`model` with its unified attention layer swapped for the what-if one
    (same weights; the other layers shared)."""
    import keras

    from keras_attn.layers.unified_attention import UnifiedSpatialAttention

    whatif = whatif_layer_class()
    swapped = []

    def clone(layer):
        if isinstance(layer, UnifiedSpatialAttention):
            new = whatif.from_config(layer.get_config())
            swapped.append((layer, new))
            return new
        return layer

    clone_model = keras.models.clone_model(model, clone_function=clone)
    for old, new in swapped:
        new.set_weights(old.get_weights())
    return keras.Model(
        clone_model.inputs, clone_model.outputs, name="resnet18_unified_whatif"
    )


def fill_memory(model, layer, images: np.ndarray) -> None:
    """The temporal memory as training leaves it: the global-average feature
    descriptors of the last `memory_size` images."""
    import keras

    features = keras.Model(model.inputs, layer.input)
    slots = layer.memory_size
    batch = np.resize(images, (slots, *images.shape[1:]))
    descriptors = []
    for start in range(0, slots, 16):
        maps = np.asarray(features(batch[start : start + 16], training=False))
        descriptors.append(maps.mean(axis=(1, 2)))
    layer.memory_buffer.assign(np.concatenate(descriptors).astype(np.float32))
    layer.memory_count.assign(float(slots))
    layer.memory_index.assign(0.0)


def sources_digest() -> str:
    digest = hashlib.sha256()
    for top in SOURCES:
        for folder, _, names in sorted(os.walk(os.path.join(REPO, top))):
            for name in sorted(names):
                if name.endswith((".py", ".mjs", ".html")):
                    with open(os.path.join(folder, name), "rb") as f:
                        digest.update(name.encode() + f.read())
    return digest.hexdigest()[:16]


def export_settings(variant: str, size: int) -> dict:
    return {
        "variant": variant,
        "size": size,
        "classes": NUM_CLASSES,
        "calibration": os.path.basename(os.path.normpath(FLAGS.calibration)),
        "calibration_images": FLAGS.calibration_images,
        "seed": FLAGS.seed,
        "web_npm": bool(FLAGS.web_npm),
        "library": sources_digest(),
    }


def export_variant(variant: str, size: int, folder: str, runtimes) -> dict:
    """Writes the variant's files into `folder` (reused when the settings
    match); returns its export record."""
    stamp = os.path.join(folder, "export.json")
    settings = export_settings(variant, size)
    wanted = [FILES[r] for r in runtimes]
    if FLAGS.reuse and os.path.exists(stamp):
        with open(stamp) as f:
            record = json.load(f)
        have = all(os.path.exists(os.path.join(folder, w)) for w in wanted)
        if record.get("settings") == settings and have:
            print(f"{size} px {variant}: reusing the files in {folder}", flush=True)
            return record
    os.makedirs(folder, exist_ok=True)
    print(f"{size} px {variant}: exporting to {folder} ...", flush=True)
    images = calibration_images(size, FLAGS.calibration_images, FLAGS.seed)
    model = build_model(variant, size, images)
    seconds = {}
    labels = [f"class_{i}" for i in range(NUM_CLASSES)]

    start = time.time()
    keras_path = os.path.join(folder, FILES["keras"])
    model.save(keras_path)
    seconds["keras"] = time.time() - start

    from keras_attn.export.formats import tflite_convert

    for quantization in ("fp32", "int8"):
        start = time.time()
        content = tflite_convert.convert(
            model, quantization, images, calibration_steps=len(images)
        )
        content = tflite_convert.add_metadata(
            content, labels, model.name, quantization, RESIZE
        )
        write_bytes(os.path.join(folder, FILES[f"litert_{quantization}"]), content)
        seconds[f"litert_{quantization}"] = time.time() - start

    from keras_attn.export.formats import onnx_convert, runtime_checks

    run = SimpleNamespace(
        config={"resize": RESIZE, "image_size": size},
        run_dir=None,
        input_shape=(size, size, 3),
        labels=labels,
        model=model,
    )
    start = time.time()
    if variant == "unified_whatif":
        # Its layer is this script's: the child process that
        # `onnx_convert.convert` starts could not load it. Same function.
        fp32 = onnx_convert.keras_to_onnx(model).SerializeToString()
    else:
        fp32 = onnx_convert.convert(keras_path)
    seconds["onnx_fp32"] = time.time() - start
    start = time.time()
    int8 = onnx_convert.quantize_int8(fp32, images)
    seconds["onnx_int8"] = time.time() - start
    for variant_name, content in (("fp32", fp32), ("int8", int8)):
        content = onnx_convert.add_metadata(
            content, runtime_checks.metadata(run, variant_name)
        )
        write_bytes(os.path.join(folder, FILES[f"onnx_{variant_name}"]), content)

    import openvino as ov

    from keras_attn.export.formats import openvino as ov_format

    start = time.time()
    ov_fp32 = ov_format.convert(model)
    ov_format.set_metadata(ov_fp32, runtime_checks.metadata(run, "fp32"))
    ov.save_model(
        ov_fp32, os.path.join(folder, FILES["openvino_fp32"]), compress_to_fp16=False
    )
    seconds["openvino_fp32"] = time.time() - start
    start = time.time()
    ov_int8 = ov_format.quantize_int8(ov_fp32, images)
    ov_format.set_metadata(ov_int8, runtime_checks.metadata(run, "int8"))
    ov.save_model(
        ov_int8, os.path.join(folder, FILES["openvino_int8"]), compress_to_fp16=False
    )
    seconds["openvino_int8"] = time.time() - start

    if FLAGS.web_npm:
        from keras_attn.export import web

        web.write_page(
            os.path.join(folder, "web"),
            os.path.join(folder, FILES["litert_int8"]),
            labels,
            RESIZE,
            f"runtimes_bench {variant} {size} px",
            FLAGS.web_npm,
            attention_file=None,
            attention_note="runtimes_bench: no attention map.",
        )
    record = {
        "settings": settings,
        "parameters": int(model.count_params()),
        "convert_seconds": {k: round(v, 1) for k, v in seconds.items()},
        "sizes_mb": {
            runtime: round(file_size(os.path.join(folder, name)) / 1e6, 2)
            for runtime, name in FILES.items()
            if runtime != "web" and os.path.exists(os.path.join(folder, name))
        },
    }
    atomic_io.write_json(stamp, record)
    del model, ov_fp32, ov_int8
    import keras

    keras.backend.clear_session()
    gc.collect()
    return record


def write_bytes(path: str, content: bytes) -> None:
    with atomic_io.atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(content)


def file_size(path: str) -> int:
    size = os.path.getsize(path)
    if path.endswith(".xml"):
        size += os.path.getsize(path[: -len(".xml")] + ".bin")
    return size


@functools.cache
def photo_files(size: int, folder: str, count: int) -> list[str]:
    """PNG photos at size x size for the page (other photos than calibration)."""
    from PIL import Image

    os.makedirs(folder, exist_ok=True)
    images = calibration_images(size, count, FLAGS.seed + 1)
    files = []
    for i, image in enumerate(images):
        files.append(os.path.join(folder, f"photo_{i:02d}.png"))
        if not os.path.exists(files[-1]):
            Image.fromarray(image).save(files[-1])
    return files


# ---------------------------------------------------------------- MACs and graphs


def count_macs(content: bytes) -> dict:
    """Multiply-accumulates per image of a `.tflite` file (batch 1): each
    CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and BATCH_MATMUL's output
    elements times its reduction length."""
    from ai_edge_litert import schema_py_generated as schema

    from keras_attn.tflite.graph import model_ops

    names = model_ops(content)
    model = schema.Model.GetRootAs(bytearray(content), 0)
    subgraph = model.Subgraphs(0)

    def shape(tensor: int) -> list[int]:
        found = subgraph.Tensors(int(tensor)).ShapeAsNumpy()
        return [] if isinstance(found, int) else [int(d) for d in found]

    by_op = Counter()
    for i in range(subgraph.OperatorsLength()):
        op = subgraph.Operators(i)
        name = names[i]
        inputs, outputs = op.InputsAsNumpy(), op.OutputsAsNumpy()
        out = int(np.prod(shape(outputs[0])))
        if name == "CONV_2D":
            kernel = shape(inputs[1])  # (out, kh, kw, in)
            by_op[name] += out * kernel[1] * kernel[2] * kernel[3]
        elif name == "DEPTHWISE_CONV_2D":
            kernel = shape(inputs[1])  # (1, kh, kw, out)
            by_op[name] += out * kernel[1] * kernel[2]
        elif name == "FULLY_CONNECTED":
            by_op[name] += out * shape(inputs[1])[-1]  # weights (out, in)
        elif name == "BATCH_MATMUL":
            by_op[name] += out * shape(inputs[0])[-1]
    return {"macs": int(sum(by_op.values())), "by_op": dict(by_op)}


def litert_graph(content: bytes) -> dict:
    """What runs where in LiteRT: XNNPACK partitions (DELEGATE nodes after
    the default delegate is applied), the ops each holds, the ops left to
    LiteRT's own kernels, and the QUANTIZE/DEQUANTIZE ops."""
    from keras_attn.inference.backends.litert import make_interpreter
    from keras_attn.tflite.graph import model_ops

    ops = model_ops(content)
    interpreter = make_interpreter(content, 1)
    details = interpreter._get_ops_details()
    original = [d for d in details if d["op_name"] != "DELEGATE"]
    delegates = [d for d in details if d["op_name"] == "DELEGATE"]
    producer = {int(t): d["index"] for d in original for t in d["outputs"]}
    by_index = {d["index"]: d for d in original}
    partition_of = {}
    # A partition holds the nodes between its outputs and its inputs.
    for k, node in enumerate(delegates):
        stop = {int(t) for t in node["inputs"]}
        stack, seen = [int(t) for t in node["outputs"]], set()
        while stack:
            tensor = stack.pop()
            if tensor in stop or tensor not in producer:
                continue
            index = producer[tensor]
            if index in seen:
                continue
            seen.add(index)
            partition_of[index] = k
            stack.extend(int(t) for t in by_index[index]["inputs"] if t >= 0)
    outside = [d["op_name"] for d in original if d["index"] not in partition_of]
    sequence = []  # the execution order: partition k or an op outside
    for d in original:
        label = (
            f"XNNPACK#{partition_of[d['index']]}"
            if d["index"] in partition_of
            else d["op_name"]
        )
        if not sequence or sequence[-1] != label or not label.startswith("XNN"):
            sequence.append(label)
    counts = Counter(ops)
    return {
        "ops": len(ops),
        "op_counts": dict(sorted(counts.items())),
        "quantize_ops": counts.get("QUANTIZE", 0),
        "dequantize_ops": counts.get("DEQUANTIZE", 0),
        "xnnpack_partitions": len(delegates),
        "ops_per_partition": [
            sum(1 for v in partition_of.values() if v == k)
            for k in range(len(delegates))
        ],
        "ops_outside_xnnpack": dict(sorted(Counter(outside).items())),
        "order": sequence,
    }


def onnx_graph(path: str, threads: int) -> dict:
    """ONNX Runtime's optimised graph (as it runs it): op types, the
    quantised and float convolutions, leftover Q/DQ nodes."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = threads
        options.optimized_model_filepath = os.path.join(tmp, "optimized.onnx")
        ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        proto = onnx.load(options.optimized_model_filepath)
    counts = Counter(node.op_type for node in proto.graph.node)
    return {
        "nodes": sum(counts.values()),
        "op_counts": dict(sorted(counts.items())),
        "quantized_convs": counts.get("QLinearConv", 0),
        "float_convs": counts.get("Conv", 0) + counts.get("FusedConv", 0),
        "quantize_linear": counts.get("QuantizeLinear", 0),
        "dequantize_linear": counts.get("DequantizeLinear", 0),
    }


def openvino_graph(path: str, threads: int) -> dict:
    """OpenVINO's executed graph: layers by type and runtime precision."""
    from keras_attn.inference.backends import openvino_runtime

    compiled = openvino_runtime.compile_model(
        openvino_runtime.read_model(path), threads
    )
    layers = Counter()
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        kind = info["layerType"].astype(str) if "layerType" in info else "?"
        precision = (
            info["runtimePrecision"].astype(str) if "runtimePrecision" in info else "?"
        )
        layers[f"{kind}:{precision}"] += 1
    convs = {k: v for k, v in layers.items() if k.split(":")[0] == "Convolution"}
    return {
        "layers": sum(layers.values()),
        "layer_counts": dict(sorted(layers.items())),
        "convolutions_by_precision": convs,
        "reorders": sum(v for k, v in layers.items() if k.startswith("Reorder")),
    }


PROFILE_RUNS = 20


def attention_node(name: str) -> bool:
    return "attention" in name


def share_summary(times: dict, types: dict, runs: int) -> dict:
    total = sum(times.values())
    attention = {k: v for k, v in times.items() if attention_node(k)}
    top_types = sorted(types.items(), key=lambda kv: -kv[1])[:8]
    top_attention = sorted(attention.items(), key=lambda kv: -kv[1])[:6]
    return {
        "ms_per_run": round(total / runs * 1000, 3),
        "attention_share": round(sum(attention.values()) / total, 4),
        "op_type_shares": {k: round(v / total, 4) for k, v in top_types},
        "attention_nodes": {k: round(v / total, 4) for k, v in top_attention},
    }


def onnx_profile(path: str, size: int) -> dict:
    """ONNX Runtime's profiler, 1 thread: each node's kernel time; the
    share of nodes named after the attention layer (tf2onnx keeps the
    Keras names)."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(tmp, "profile")
        session = ort.InferenceSession(
            path, options, providers=["CPUExecutionProvider"]
        )
        feed = {session.get_inputs()[0].name: pixels(1, size, np.uint8)}
        for _ in range(PROFILE_RUNS):
            session.run(None, feed)
        with open(session.end_profiling()) as f:
            events = json.load(f)
    times, types = Counter(), Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            seconds = event["dur"] / 1e6
            times[event["name"][: -len("_kernel_time")]] += seconds
            types[event["args"]["op_name"]] += seconds
    # The first run is counted by the profiler too; its share is small.
    return share_summary(times, types, PROFILE_RUNS)


def openvino_profile(path: str, size: int) -> dict:
    """OpenVINO's per-layer counters (PERF_COUNT), 1 thread. Layers are
    fused, so a fused layer goes by its last op's name: the attention share
    counts what kept an attention name."""
    import openvino as ov

    from keras_attn.inference.backends import openvino_runtime

    config = {
        "INFERENCE_PRECISION_HINT": "f32",
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_NUM_THREADS": 1,
        "PERF_COUNT": True,
    }
    compiled = ov.Core().compile_model(
        openvino_runtime.read_model(path), openvino_runtime.DEVICE, config
    )
    request = compiled.create_infer_request()
    feed = {0: pixels(1, size, np.uint8)}
    request.infer(feed)
    times, types = Counter(), Counter()
    for _ in range(PROFILE_RUNS):
        request.infer(feed)
        for info in request.get_profiling_info():
            seconds = info.real_time.total_seconds()
            times[info.node_name] += seconds
            types[f"{info.node_type} ({info.exec_type})"] += seconds
    return share_summary(times, types, PROFILE_RUNS)


# ---------------------------------------------------------------- timers


def _median_ms(call, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


class Timer:
    """One measurement: `measure()` gives this round's number (ms for
    latency, images/s for a batch, MACs/s for a peak)."""

    unit = "ms"

    def setup(self) -> None:
        pass

    def measure(self) -> float:
        raise NotImplementedError


class CallTimer(Timer):
    """A callable timed per round: median of `runs` calls, after one."""

    def __init__(self, make, runs: int, images: int = 1, per_call_macs=None):
        self.make, self.runs, self.images = make, runs, images
        self.per_call_macs = per_call_macs
        self.unit = "ms" if images == 1 else "images/s"
        if per_call_macs is not None:
            self.unit = "GMAC/s"

    def setup(self) -> None:
        self.call = self.make()
        for _ in range(3 if self.images == 1 else 1):
            self.call()

    def measure(self) -> float:
        if self.images == 1:
            self.call()  # a batch call is long enough to need none
        ms = _median_ms(self.call, self.runs)
        if self.per_call_macs is not None:
            return self.per_call_macs / (ms / 1000) / 1e9
        return ms if self.images == 1 else self.images / (ms / 1000)


def pixels(batch: int, size: int, dtype) -> np.ndarray:
    rng = np.random.default_rng(batch * 1000 + size)
    return rng.integers(0, 256, (batch, size, size, 3)).astype(dtype)


def litert_call(path: str, threads: int, batch: int):
    """A LiteRT invoke on a fixed input (`batch` > 1: the input resized)."""

    def make():
        from keras_attn.inference.backends.litert import (
            make_interpreter,
            quantize_input,
        )

        with open(path, "rb") as f:
            content = f.read()
        interpreter = make_interpreter(content, threads)
        detail = interpreter.get_input_details()[0]
        size = int(detail["shape"][1])
        if batch > 1:
            interpreter.resize_tensor_input(
                detail["index"], [batch, size, size, 3], strict=False
            )
            interpreter.allocate_tensors()
            detail = interpreter.get_input_details()[0]
        x = quantize_input(pixels(batch, size, np.float32), detail)
        interpreter.set_tensor(detail["index"], x)
        return interpreter.invoke

    return make


def onnx_call(path: str, threads: int, batch: int, size: int):
    def make():
        from keras_attn.inference.backends.onnx_runtime import make_session

        session = make_session(path, threads)
        feed = {session.get_inputs()[0].name: pixels(batch, size, np.uint8)}
        return lambda: session.run(None, feed)

    return make


def openvino_call(path: str, threads: int, batch: int, size: int):
    def make():
        from keras_attn.inference.backends import openvino_runtime

        compiled = openvino_runtime.compile_model(
            openvino_runtime.read_model(path), threads
        )
        request = compiled.create_infer_request()
        feed = {0: pixels(batch, size, np.uint8)}
        return lambda: request.infer(feed)

    return make


def numpy_peak(threads: int, n: int):
    """numpy's matmul (OpenBLAS), float32 (n, n) x (n, n), its BLAS
    threads limited to `threads` (threadpoolctl) around each call."""

    def make():
        from threadpoolctl import ThreadpoolController

        controller = ThreadpoolController()
        rng = np.random.default_rng(0)
        a = rng.standard_normal((n, n), np.float32)
        b = rng.standard_normal((n, n), np.float32)
        out = np.empty((n, n), np.float32)

        def call():
            with controller.limit(limits=threads, user_api="blas"):
                np.matmul(a, b, out=out)

        return call

    return make


def onnx_matmul_peak(threads: int, n: int, integer: bool):
    """ONNX Runtime: `MatMulInteger` uint8 (n, n) x int8 (n, n) -> int32
    (`integer`), else `MatMul` float32, the weights a constant."""

    def make():
        import onnx
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper

        rng = np.random.default_rng(0)
        if integer:
            weights = rng.integers(-64, 64, (n, n)).astype(np.int8)
            x = rng.integers(0, 256, (n, n)).astype(np.uint8)
            op, types = "MatMulInteger", (TensorProto.UINT8, TensorProto.INT32)
        else:
            weights = rng.standard_normal((n, n)).astype(np.float32)
            x = rng.standard_normal((n, n)).astype(np.float32)
            op, types = "MatMul", (TensorProto.FLOAT, TensorProto.FLOAT)
        graph = helper.make_graph(
            [helper.make_node(op, ["a", "b"], ["y"])],
            "peak",
            [helper.make_tensor_value_info("a", types[0], [n, n])],
            [helper.make_tensor_value_info("y", types[1], [n, n])],
            [numpy_helper.from_array(weights, "b")],
        )
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        onnx.checker.check_model(proto)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(
            proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        feed = {"a": x}
        return lambda: session.run(None, feed)

    return make


def openvino_conv_peak(threads: int, n: int, integer: bool):
    """OpenVINO: a 1x1 convolution, n channels in and out over n pixels (a
    (n, n) x (n, n) matrix product, the kernels its model convolutions
    use), int8 through DequantizeLinear/QuantizeLinear around it
    (`integer`, uint8 activations, int8 weights) or float32; read from an
    ONNX graph, compiled as `inference.backends.openvino_runtime` does."""

    def make():
        import onnx
        from onnx import TensorProto, helper, numpy_helper

        from keras_attn.inference.backends import openvino_runtime

        rng = np.random.default_rng(0)
        shape = [1, n, 16, n // 16]
        if integer:
            weights = rng.integers(-127, 128, (n, n, 1, 1)).astype(np.int8)
            x = rng.integers(0, 256, shape).astype(np.uint8)
            scalars = {
                "sa": np.float32(0.02),
                "za": np.uint8(0),
                "sw": np.float32(0.01),
                "zw": np.int8(0),
                "sy": np.float32(0.5),
                "zy": np.uint8(0),
            }
            nodes = [
                helper.make_node("DequantizeLinear", ["a", "sa", "za"], ["af"]),
                helper.make_node("DequantizeLinear", ["w", "sw", "zw"], ["wf"]),
                helper.make_node("Conv", ["af", "wf"], ["yf"]),
                helper.make_node("QuantizeLinear", ["yf", "sy", "zy"], ["y"]),
            ]
            types = (TensorProto.UINT8, TensorProto.UINT8)
        else:
            weights = rng.standard_normal((n, n, 1, 1)).astype(np.float32)
            x = rng.standard_normal(shape).astype(np.float32)
            scalars = {}
            nodes = [helper.make_node("Conv", ["a", "w"], ["y"])]
            types = (TensorProto.FLOAT, TensorProto.FLOAT)
        initializers = [numpy_helper.from_array(weights, "w")] + [
            numpy_helper.from_array(np.array(v), k) for k, v in scalars.items()
        ]
        graph = helper.make_graph(
            nodes,
            "peak",
            [helper.make_tensor_value_info("a", types[0], shape)],
            [helper.make_tensor_value_info("y", types[1], shape)],
            initializers,
        )
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        onnx.checker.check_model(proto)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "peak.onnx")
            onnx.save(proto, path)
            import openvino as ov

            model = ov.Core().read_model(path)
        request = openvino_runtime.compile_model(model, threads).create_infer_request()
        feed = {0: x}
        return lambda: request.infer(feed)

    return make


class KerasWorker:
    """A child process that runs Keras models with `threads` TensorFlow
    threads (fixed at start), timed inside it."""

    def __init__(self, threads: int):
        self.threads = threads
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), f"--keras_worker={threads}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )

    def ask(self, **request):
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the Keras worker ({self.threads} threads) died")
            if line.startswith("@@"):
                answer = json.loads(line[2:])
                if "error" in answer:
                    raise RuntimeError(f"Keras worker: {answer['error']}")
                return answer["value"]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


class KerasTimer(Timer):
    def __init__(self, worker, path, size, batch, runs):
        self.worker, self.path, self.size = worker, path, size
        self.batch, self.runs = batch, runs
        self.unit = "ms" if batch == 1 else "images/s"

    def setup(self) -> None:
        self.worker.ask(op="load", path=self.path, size=self.size, batch=self.batch)

    def measure(self) -> float:
        ms = self.worker.ask(
            op="time", path=self.path, batch=self.batch, runs=self.runs
        )
        return ms if self.batch == 1 else self.batch / (ms / 1000)


def keras_worker_main(threads: int) -> None:
    """Serves KerasWorker's requests on stdin; answers on stdout after `@@`."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from keras_attn.saving import load_model

    models, inputs = {}, {}
    for line in sys.stdin:
        request = json.loads(line)
        try:
            key = (request["path"], request["batch"])
            if request["op"] == "load":
                if request["path"] not in models:
                    models[request["path"]] = load_model(request["path"])
                model = models[request["path"]]
                inputs[key] = pixels(request["batch"], request["size"], np.float32)
                for _ in range(3):
                    model.predict_on_batch(inputs[key])
                value = None
            else:
                call = functools.partial(
                    models[request["path"]].predict_on_batch, inputs[key]
                )
                call()
                value = _median_ms(call, request["runs"])
            answer = {"value": value}
        except Exception as e:  # noqa: BLE001 -- reported to the parent
            answer = {"error": f"{type(e).__name__}: {e}"}
        sys.stdout.write("@@" + json.dumps(answer) + "\n")
        sys.stdout.flush()


class WebTimer(Timer):
    """The page's own time of `classify` per photo (ms), photos picked
    through its file input; the median over `images` photos."""

    def __init__(self, session, url, files, images):
        self.session, self.url, self.files, self.images = session, url, files, images
        self.next = 0

    def setup(self) -> None:
        from keras_attn.export.web.browser import open_page

        self.page = self.session.new_page()
        ready = open_page(self.page, self.url, timeout_s=120)
        if not ready.get("ok"):
            raise RuntimeError(f"{self.url}: {ready.get('error')}")
        self.load_seconds = round(ready["loadMs"] / 1000, 2)
        self.first_ms = self.classify()[0]
        for _ in range(2):
            self.classify()

    def classify(self) -> tuple[float, float]:
        page = self.page
        count = int(page.evaluate("Number(document.body.dataset.classified || 0)"))
        file = self.files[self.next % len(self.files)]
        self.next += 1
        start = time.perf_counter()
        page.set_input_files("#file", file)
        page.wait_for_function(
            "n => Number(document.body.dataset.classified || 0) > n",
            arg=count,
            timeout=120_000,
        )
        wall = (time.perf_counter() - start) * 1000
        result = page.evaluate("window.lastResult")
        if "error" in result:
            raise RuntimeError(f"{self.url}: {result['error']}")
        return float(result["ms"]), wall

    def measure(self) -> float:
        self.page.bring_to_front()
        return float(np.median([self.classify()[0] for _ in range(self.images)]))


class WebSession:
    """One headless Chromium on a local server of the work folder."""

    def __init__(self, folder: str):
        from keras_attn.export.web.browser import browser, serve

        self.stack = contextlib.ExitStack()
        self.base = self.stack.enter_context(serve(folder))
        self.first, self.log = self.stack.enter_context(browser(self.base))
        self.used_first = False

    def new_page(self):
        if not self.used_first:
            self.used_first = True
            return self.first
        return self.first.context.new_page()

    def close(self) -> None:
        self.stack.close()


# ---------------------------------------------------------------- the run


def measurements(models: dict, threads: list[int], runtimes, workers, web):
    """Every timed measurement: key -> Timer. Keys are tuples
    (size, variant, runtime, mode), mode `t{n}` (batch-1 latency, n
    threads) or `batch` (throughput, every core); peaks are
    ('peak', precision, 't{n}')."""
    timers = {}
    most = max(threads)
    n = FLAGS.peak_size
    for t in threads:
        for name, make in (
            ("fp32_numpy", numpy_peak(t, n)),
            ("fp32_onnxruntime", onnx_matmul_peak(t, n, integer=False)),
            ("int8_onnxruntime", onnx_matmul_peak(t, n, integer=True)),
            ("fp32_openvino", openvino_conv_peak(t, n, integer=False)),
            ("int8_openvino", openvino_conv_peak(t, n, integer=True)),
        ):
            timers[("peak", name, f"t{t}")] = CallTimer(
                make, FLAGS.peak_runs, per_call_macs=n**3
            )
    runs, batch = FLAGS.runs_per_round, FLAGS.batch_size
    for (size, variant), folder in models.items():
        for runtime in runtimes:
            if (
                variant in REFERENCE_VARIANTS
                and runtime not in FLAGS.reference_runtimes
            ):
                continue
            path = os.path.join(folder, FILES[runtime])
            modes = [(f"t{t}", t, 1) for t in threads]
            if batch > 1 and runtime != "web":
                modes.append(("batch", most, batch))
            for mode, t, b in modes:
                key = (size, variant, runtime, mode)
                if runtime == "keras":
                    timers[key] = KerasTimer(
                        workers[t], path, size, b, runs if b == 1 else FLAGS.batch_runs
                    )
                elif runtime == "web":
                    if t != 1:
                        continue  # WebAssembly without threads: one thread
                    url = f"{web.base}{size}/{variant}/web/index.html"
                    files = photo_files(
                        size, os.path.join(FLAGS.work_dir, "photos", str(size)), 8
                    )
                    timers[key] = WebTimer(web, url, files, FLAGS.web_images)
                else:
                    family = runtime.split("_")[0]
                    if family == "litert":
                        make = litert_call(path, t, b)
                    elif family == "onnx":
                        make = onnx_call(path, t, b, size)
                    else:
                        make = openvino_call(path, t, b, size)
                    timers[key] = CallTimer(
                        make, runs if b == 1 else FLAGS.batch_runs, images=b
                    )
    return timers


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def interleaved(timers: dict) -> tuple[dict, list]:
    """Every timer once per round, in a shuffled order; returns each key's
    per-round values and each round's load."""
    values = {key: [] for key in timers}
    rounds = []
    rng = random.Random(FLAGS.seed)
    keys = list(timers)
    for r in range(FLAGS.repeats):
        rng.shuffle(keys)
        start, load = time.time(), load_average()
        for key in keys:
            time.sleep(SETTLE_S)
            values[key].append(timers[key].measure())
        rounds.append(
            {
                "round": r,
                "seconds": round(time.time() - start, 1),
                "load_average_start": load,
                "load_average_end": load_average(),
            }
        )
        print(
            f"round {r + 1}/{FLAGS.repeats}: {rounds[-1]['seconds']} s, load "
            f"{load[0]} -> {rounds[-1]['load_average_end'][0]}",
            flush=True,
        )
    return values, rounds


def quartiles(values) -> list[float]:
    return [float(np.percentile(values, q)) for q in (25, 50, 75)]


def summarise(values: dict, macs: dict, threads: list[int]) -> dict:
    """Medians, MAC rates and shares of peak, per key."""
    most = max(threads)
    # Each precision's peak: the fastest of its matmuls (median over rounds).
    measured = {
        (key[1], key[2]): float(np.median(vals))
        for key, vals in values.items()
        if key[0] == "peak"
    }
    peak = {}
    for (name, mode), rate in measured.items():
        precision = name.split("_")[0]
        peak[(precision, mode)] = max(peak.get((precision, mode), 0.0), rate)
    rows = {}
    for key, vals in values.items():
        if key[0] == "peak":
            continue
        size, variant, runtime, mode = key
        median = float(np.median(vals))
        precision = "fp32" if runtime in ("keras",) or "fp32" in runtime else "int8"
        peak_mode = f"t{most}" if mode == "batch" else mode
        per_image = macs[(size, variant)]
        rate = per_image * (median if mode == "batch" else 1000 / median)
        row = {
            "median": median,
            "unit": "images/s" if mode == "batch" else "ms",
            "rounds": [round(v, 3) for v in vals],
            "gmac_per_s": rate / 1e9,
        }
        if (precision, peak_mode) in peak:
            row["peak_share"] = rate / 1e9 / peak[(precision, peak_mode)]
            row["peak"] = f"{precision}, {peak_mode}"
        rows[key] = row
    return {"peak_gmac_per_s": peak, "peak_measured": measured, "rows": rows}


def ratio(values: dict, a: tuple, b: tuple) -> dict | None:
    """a's time over b's, paired by round (a batch's: b's images/s over
    a's); the median and quartiles of the per-round ratios."""
    if a not in values or b not in values:
        return None
    va, vb = np.array(values[a]), np.array(values[b])
    per_round = vb / va if a[3] == "batch" else va / vb
    q1, med, q3 = quartiles(per_round)
    return {"median": round(med, 3), "quartiles": [round(q1, 3), round(q3, 3)]}


def targets(values: dict, sizes, runtimes, threads) -> list[dict]:
    modes = [f"t{t}" for t in threads] + ["batch"]
    found = []
    for size in sizes:
        for runtime in runtimes:
            checks = []
            if "int8" in runtime or runtime == "web":
                checks += [(a, b, limit) for a, b, limit in TARGETS]
            checks.append(("unified", "none", UNIFIED_OVER_NONE))
            for a, b, limit in checks:
                for mode in modes:
                    r = ratio(
                        values, (size, a, runtime, mode), (size, b, runtime, mode)
                    )
                    if r is None:
                        continue
                    found.append(
                        {
                            "size": size,
                            "runtime": runtime,
                            "mode": mode,
                            "ratio": f"{a}/{b}",
                            "limit": limit,
                            **r,
                            "met": r["median"] <= limit,
                        }
                    )
    return found


def fastest_fp32(summary: dict, sizes, threads) -> dict:
    out = {}
    for size in sizes:
        out[size] = {}
        for mode in [f"t{t}" for t in threads] + ["batch"]:
            best = None
            for key, row in summary["rows"].items():
                if key[0] != size or key[3] != mode or key[1] == "plain":
                    continue
                if not (key[2] == "keras" or key[2].endswith("fp32")):
                    continue
                speed = row["median"] if mode == "batch" else 1000 / row["median"]
                if best is None or speed > best[1]:
                    best = (f"{key[2]} ({key[1]})", speed)
            if best:
                out[size][mode] = best[0]
    return out


# ---------------------------------------------------------------- tables


def fmt(x, digits=1):
    return "-" if x is None else f"{x:.{digits}f}"


def markdown(result: dict) -> str:
    threads = result["threads"]
    modes = [f"t{t}" for t in threads] + (["batch"] if result["batch_size"] > 1 else [])
    peak = result["peak_gmac_per_s"]
    lines = [
        f"Machine: {result['machine']}; load average (1 min) "
        f"{result['load']['min']}-{result['load']['max']} over the rounds "
        f"(median {result['load']['median']}). {result['repeats']} interleaved "
        "rounds; medians.",
        "",
        "Peak (GMAC/s, the fastest matmul of each precision; "
        f"{result['peak_size']}^3): "
        + ", ".join(
            f"{p} {m[1:]} thread{'s' if m != 't1' else ''} {v:.1f}"
            for (p, m), v in sorted(peak.items())
        )
        + " (measured: "
        + ", ".join(
            f"{PEAK_NAMES[name]} {m[1:]} thr {v:.1f}"
            for (name, m), v in sorted(result["peak_measured"].items())
        )
        + ").",
        "",
    ]
    head = ["px", "variant", "runtime", "GMAC/img"]
    for mode in modes:
        if mode == "batch":
            head.append(
                f"batch {result['batch_size']}, {max(threads)} thr: img/s (% peak)"
            )
        else:
            head.append(f"{mode[1:]} thr: ms (% peak)")
    head += [f"x none ({modes[0][1:]} thr)", f"x plain ({modes[0][1:]} thr)"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + " --- |" * 3 + " ---: |" * (len(head) - 3))
    for entry in result["table"]:
        cells = [
            str(entry["size"]),
            f"`{entry['variant']}`",
            RUNTIME_NAMES[entry["runtime"]],
            fmt(entry["gmac"], 3),
        ]
        for mode in modes:
            row = entry["modes"].get(mode)
            if row is None:
                cells.append("n/a" if entry["runtime"] == "web" else "-")
                continue
            share = row.get("peak_share")
            share = "" if share is None else f" ({100 * share:.0f}%)"
            digits = 1 if row["median"] >= 10 else 2
            cells.append(f"{row['median']:.{digits}f}{share}")
        for other in ("none", "plain"):
            r = entry["ratios"].get(other)
            cells.append("-" if r is None else f"{r['median']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Targets (issue 28): latency ratios paired by round, median "
        "[quartiles]; a batch's is the inverse of its images/s ratio; `~`: "
        "the quartiles straddle the limit (met or missed within this "
        "machine's noise).",
        "",
        "| px | runtime | ratio | limit | "
        + " | ".join(m if m == "batch" else f"{m[1:]} thr" for m in modes)
        + " |",
        "| --- | --- | --- | ---: |" + " ---: |" * len(modes),
    ]
    grouped = {}
    for t in result["targets"]:
        grouped.setdefault((t["size"], t["runtime"], t["ratio"], t["limit"]), {})[
            t["mode"]
        ] = t
    for (size, runtime, name, limit), by_mode in grouped.items():
        cells = [str(size), RUNTIME_NAMES[runtime], name, f"{limit:.2f}"]
        for mode in modes:
            t = by_mode.get(mode)
            if t is None:
                cells.append("n/a")
                continue
            q = t["quartiles"]
            mark = "met" if t["met"] else "**missed**"
            if q[0] <= t["limit"] < q[1]:
                mark += "~"
            cells.append(f"{t['median']:.3f} [{q[0]:.2f}, {q[1]:.2f}] {mark}")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Fastest fp32 runtime (of `none` and `unified`):", ""]
    for size, by_mode in result["fastest_fp32"].items():
        text = "; ".join(
            f"{m if m == 'batch' else m[1:] + ' thr'}: "
            f"{RUNTIME_NAMES[v.split(' ')[0]]} {v.split(' ', 1)[1]}"
            for m, v in by_mode.items()
        )
        lines.append(f"- {size} px: {text}")
    lines += [
        "",
        "What runs where in each int8 file:",
        "",
        "| px | variant | LiteRT: XNNPACK partitions | QUANTIZE / DEQUANTIZE | "
        "ops outside XNNPACK | ONNX Runtime: QLinearConv / float Conv / Q / DQ | "
        "OpenVINO: convolutions by precision |",
        "| --- | --- | ---: | --- | --- | --- | --- |",
    ]
    for (size, variant), graphs in result["graphs"].items():
        lite = graphs.get("litert_int8")
        onnx_g = graphs.get("onnx_int8")
        ov_g = graphs.get("openvino_int8")
        cells = [str(size), f"`{variant}`"]
        if lite:
            outside = ", ".join(
                f"{k} x{v}" for k, v in lite["ops_outside_xnnpack"].items()
            )
            per_partition = "+".join(map(str, lite["ops_per_partition"]))
            cells += [
                f"{lite['xnnpack_partitions']} ({per_partition} ops)",
                f"{lite['quantize_ops']} / {lite['dequantize_ops']}",
                outside or "-",
            ]
        else:
            cells += ["-", "-", "-"]
        if onnx_g:
            cells.append(
                f"{onnx_g['quantized_convs']} / {onnx_g['float_convs']} / "
                f"{onnx_g['quantize_linear']} / {onnx_g['dequantize_linear']}"
            )
        else:
            cells.append("-")
        if ov_g:
            cells.append(
                ", ".join(
                    f"{k.split(':')[1]} x{v}"
                    for k, v in sorted(ov_g["convolutions_by_precision"].items())
                )
            )
        else:
            cells.append("-")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Where the time goes (profilers, 1 thread, {PROFILE_RUNS} runs of each "
        "int8 file; share of the time in nodes named after the attention layer, "
        "and the op types that take most):",
        "",
        "| px | variant | runtime | ms a run | attention share | top op types |",
        "| --- | --- | --- | ---: | ---: | --- |",
    ]
    for (size, variant), graphs in result["graphs"].items():
        for runtime, profile in graphs.get("profiles", {}).items():
            top = ", ".join(
                f"{k} {100 * v:.0f}%"
                for k, v in list(profile["op_type_shares"].items())[:4]
            )
            lines.append(
                f"| {size} | `{variant}` | {RUNTIME_NAMES[runtime]} | "
                f"{profile['ms_per_run']:.2f} | "
                f"{100 * profile['attention_share']:.1f}% | {top} |"
            )
    return "\n".join(lines) + "\n"


def table_entries(summary, values, models, runtimes, threads) -> list[dict]:
    modes = [f"t{t}" for t in threads] + ["batch"]
    entries = []
    for size, variant in models:
        for runtime in runtimes:
            by_mode = {
                mode: summary["rows"][(size, variant, runtime, mode)]
                for mode in modes
                if (size, variant, runtime, mode) in summary["rows"]
            }
            if not by_mode:
                continue
            first = modes[0]
            ratios = {}
            for other in ("none", "plain"):
                if other != variant:
                    r = ratio(
                        values,
                        (size, variant, runtime, first),
                        (size, other, runtime, first),
                    )
                    if r:
                        ratios[other] = r
            entries.append(
                {
                    "size": size,
                    "variant": variant,
                    "runtime": runtime,
                    "gmac": summary["macs"][(size, variant)] / 1e9,
                    "modes": by_mode,
                    "ratios": ratios,
                }
            )
    return entries


def versions() -> dict:
    from importlib.metadata import version

    found = {"python": platform.python_version()}
    for name in (
        "tensorflow",
        "keras",
        "keras-hub",
        "ai-edge-litert",
        "onnxruntime",
        "tf2onnx",
        "openvino",
        "nncf",
        "numpy",
        "playwright",
    ):
        with contextlib.suppress(Exception):
            found[name] = version(name)
    return found


def quiet_logs() -> None:
    """The converters' INFO lines and Keras' input-structure warnings off."""
    import logging
    import warnings

    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.WARNING)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="The structure of `inputs`")
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")


def main(argv):
    from keras_attn.utils.devices import cpu_model

    del argv
    if FLAGS.keras_worker:
        keras_worker_main(FLAGS.keras_worker)
        return
    apply_quick()
    quiet_logs()
    sizes = [int(s) for s in FLAGS.sizes]
    threads = thread_counts()
    unknown = [v for v in FLAGS.variants if v not in VARIANTS] + [
        r for r in FLAGS.runtimes if r not in RUNTIMES
    ]
    if unknown:
        raise ValueError(f"Unknown variants or runtimes: {', '.join(unknown)}.")
    runtimes = [r for r in RUNTIMES if r in FLAGS.runtimes]
    if "web" in runtimes and not FLAGS.web_npm:
        print(
            "note: no --web_npm: the web page is not timed (npm install --prefix "
            "DIR @mediapipe/tasks-vision@1.1.0, then --web_npm=DIR).",
            flush=True,
        )
        runtimes.remove("web")
    if "web" in runtimes:
        from keras_attn.export.web.browser import browser_missing

        why = browser_missing()
        if why:
            print(f"note: the web page is not timed: {why}.", flush=True)
            runtimes.remove("web")
    started = time.time()
    models, exports, macs, graphs = {}, {}, {}, {}
    for size in sizes:
        for variant in FLAGS.variants:
            folder = os.path.join(FLAGS.work_dir, str(size), variant)
            exports[(size, variant)] = export_variant(variant, size, folder, runtimes)
            models[(size, variant)] = folder
            with open(os.path.join(folder, FILES["litert_int8"]), "rb") as f:
                content = f.read()
            count = count_macs(content)
            macs[(size, variant)] = count["macs"]
            graphs[(size, variant)] = {
                "macs_by_op": count["by_op"],
                "litert_int8": litert_graph(content),
                "onnx_int8": onnx_graph(
                    os.path.join(folder, FILES["onnx_int8"]), max(threads)
                ),
                "openvino_int8": openvino_graph(
                    os.path.join(folder, FILES["openvino_int8"]), max(threads)
                ),
                "profiles": {
                    "onnx_int8": onnx_profile(
                        os.path.join(folder, FILES["onnx_int8"]), size
                    ),
                    "openvino_int8": openvino_profile(
                        os.path.join(folder, FILES["openvino_int8"]), size
                    ),
                },
            }
    export_seconds = time.time() - started
    print(
        f"exported in {export_seconds:.0f} s; setting up the runtimes ...", flush=True
    )

    workers = {}
    web = None
    try:
        if "keras" in runtimes:
            workers = {t: KerasWorker(t) for t in threads}
        if "web" in runtimes:
            web = WebSession(os.path.abspath(FLAGS.work_dir))
        timers = measurements(models, threads, runtimes, workers, web)
        for timer in timers.values():
            timer.setup()
        print(f"{len(timers)} measurements a round ...", flush=True)
        values, rounds = interleaved(timers)
        web_extra = {
            f"{k[0]} {k[1]}": {"load_seconds": t.load_seconds, "first_ms": t.first_ms}
            for k, t in timers.items()
            if isinstance(t, WebTimer)
        }
        browser_version = web.log.get("browser") if web else None
    finally:
        for worker in workers.values():
            worker.close()
        if web is not None:
            web.close()

    summary = summarise(values, macs, threads)
    summary["macs"] = macs
    loads = [r["load_average_start"][0] for r in rounds] + [
        r["load_average_end"][0] for r in rounds
    ]
    result = {
        "command": " ".join(
            ["python benchmarks/runtimes_bench.py"]
            + [
                "--web_npm=DIR" if arg.startswith("--web_npm=") else arg
                for arg in sys.argv[1:]
            ]
        ),
        "machine": f"{cpu_model()}, {os.cpu_count()} cores",
        "versions": versions(),
        "browser": f"Chromium {browser_version}" if browser_version else None,
        "sizes": sizes,
        "variants": list(FLAGS.variants),
        "runtimes": runtimes,
        "threads": threads,
        "batch_size": FLAGS.batch_size,
        "repeats": FLAGS.repeats,
        "runs_per_round": FLAGS.runs_per_round,
        "batch_runs": FLAGS.batch_runs,
        "web_images": FLAGS.web_images,
        "peak_size": FLAGS.peak_size,
        "calibration": {
            "photos": os.path.basename(os.path.normpath(FLAGS.calibration)),
            "count": FLAGS.calibration_images,
            "resize": RESIZE,
        },
        "load": {
            "min": min(loads),
            "max": max(loads),
            "median": float(np.median(loads)),
        },
        "rounds": rounds,
        "export_seconds": round(export_seconds),
        "total_seconds": round(time.time() - started),
        "peak_gmac_per_s": summary["peak_gmac_per_s"],
        "peak_measured": summary["peak_measured"],
        "peak_rounds": {
            f"{k[1]} {k[2]}": [round(v, 2) for v in vals]
            for k, vals in values.items()
            if k[0] == "peak"
        },
        "files": {
            f"{size} {variant}": {
                "folder": os.path.abspath(folder),
                "parameters": exports[(size, variant)]["parameters"],
                "macs": macs[(size, variant)],
                "sizes_mb": exports[(size, variant)]["sizes_mb"],
                "convert_seconds": exports[(size, variant)]["convert_seconds"],
            }
            for (size, variant), folder in models.items()
        },
        "web": web_extra,
    }
    result["rows"] = summary["rows"]
    result["table"] = table_entries(summary, values, models, runtimes, threads)
    result["targets"] = targets(values, sizes, runtimes, threads)
    result["fastest_fp32"] = fastest_fp32(summary, sizes, threads)
    result["graphs"] = graphs
    text = markdown(result)
    print(text)
    out = FLAGS.out
    table = FLAGS.table or os.path.splitext(out)[0] + ".md"
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    from keras_attn.studies.grid_report import portable_paths

    serialisable = json.loads(json.dumps(jsonable(result)))
    atomic_io.write_json(out, portable_paths(serialisable, REPO))
    atomic_io.write_text(table, text)
    print(f"wrote {out} and {table}")


def jsonable(obj):
    """Tuple keys joined with spaces, numpy scalars as floats."""
    if isinstance(obj, dict):
        return {
            " ".join(map(str, k)) if isinstance(k, tuple) else str(k): jsonable(v)
            for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float):
        return round(obj, 4)
    return obj


if __name__ == "__main__":
    app.run(run_main(main))
