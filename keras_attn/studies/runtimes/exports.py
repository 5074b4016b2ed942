"""The runtime benchmark's files: a random-weight model per variant and
size, exported the way `export.py` does it with the library's own
converters (`.keras`, fp32 and int8 `.tflite`, `.onnx` and OpenVINO `.xml`,
the web page), reused while the settings and library code stay the same.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import hashlib
import json
import os
import time
from types import SimpleNamespace

import numpy as np

from keras_attn.utils import atomic_io

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))

VARIANTS = ("plain", "none", "unified", "unified_whatif")

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
SOURCES = (
    "keras_attn/models",
    "keras_attn/layers",
    "keras_attn/export",
    "keras_attn/studies/runtimes",
)


@dataclasses.dataclass(frozen=True)
class Settings:
    """What the files are made with (the benchmark's flags).

    Attributes:
        calibration: folder of photos that calibrate int8, or `random`.
        calibration_images: how many of them.
        seed: seed of the weights and of the photos drawn.
        web_npm: npm prefix with @mediapipe/tasks-vision (else no web page).
        reuse: reuse the files made with the same settings.
    """

    calibration: str
    calibration_images: int
    seed: int
    web_npm: str | None
    reuse: bool = True


def calibration_images(source: str, size: int, count: int, seed: int) -> np.ndarray:
    """`count` photos of the folder `source` (searched recursively) at size x
    size (`squash`), or random pixels (`source == "random"`)."""
    rng = np.random.default_rng(seed)
    if source == "random":
        return rng.integers(0, 256, (count, size, size, 3)).astype(np.uint8)
    from keras_attn.images import load_image

    found = []
    for folder, _, names in os.walk(source):
        for name in names:
            if name.lower().endswith((".jpg", ".jpeg", ".png")):
                found.append(os.path.join(folder, name))
    if len(found) < count:
        raise ValueError(
            f"--calibration={source} holds {len(found)} photos, "
            f"fewer than --calibration_images={count}; pass another folder or "
            "--calibration=random."
        )
    chosen = [found[i] for i in rng.permutation(len(found))[:count]]
    return np.stack([load_image(p, (size, size), RESIZE) for p in sorted(chosen)])


def build_model(variant: str, size: int, images: np.ndarray, seed: int):
    """The variant's random-weight model (`plain`: a bare backbone with a
    pooled Dense head; else `build_classifier`, memory filled)."""
    import keras

    from keras_attn.models import build_classifier, load_backbone
    from keras_attn.models.classifier import spatial_attention_layers

    keras.utils.set_random_seed(seed)
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
        from keras_attn.studies.runtimes.whatif import whatif_model

        model = whatif_model(model)
    return model


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


def export_settings(variant: str, size: int, settings: Settings) -> dict:
    """What makes an exported file stale when it changes."""
    return {
        "variant": variant,
        "size": size,
        "classes": NUM_CLASSES,
        "calibration": os.path.basename(os.path.normpath(settings.calibration)),
        "calibration_images": settings.calibration_images,
        "seed": settings.seed,
        "web_npm": bool(settings.web_npm),
        "library": sources_digest(),
    }


def export_variant(
    variant: str, size: int, folder: str, runtimes, settings: Settings
) -> dict:
    """Writes the variant's files into `folder` (reused when the settings
    match); returns its export record."""
    stamp = os.path.join(folder, "export.json")
    stale_if = export_settings(variant, size, settings)
    wanted = [FILES[r] for r in runtimes]
    if settings.reuse and os.path.exists(stamp):
        with open(stamp) as f:
            record = json.load(f)
        have = all(os.path.exists(os.path.join(folder, w)) for w in wanted)
        if record.get("settings") == stale_if and have:
            print(f"{size} px {variant}: reusing the files in {folder}", flush=True)
            return record
    os.makedirs(folder, exist_ok=True)
    print(f"{size} px {variant}: exporting to {folder} ...", flush=True)
    images = calibration_images(
        settings.calibration, size, settings.calibration_images, settings.seed
    )
    model = build_model(variant, size, images, settings.seed)
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

    if settings.web_npm:
        from keras_attn.export import web

        web.write_page(
            os.path.join(folder, "web"),
            os.path.join(folder, FILES["litert_int8"]),
            labels,
            RESIZE,
            f"runtimes_bench {variant} {size} px",
            settings.web_npm,
            attention_file=None,
            attention_note="runtimes_bench: no attention map.",
        )
    record = {
        "settings": stale_if,
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
def photo_files(size: int, folder: str, count: int, settings: Settings) -> list[str]:
    """PNG photos at size x size for the page (other photos than calibration)."""
    from PIL import Image

    os.makedirs(folder, exist_ok=True)
    images = calibration_images(settings.calibration, size, count, settings.seed + 1)
    files = []
    for i, image in enumerate(images):
        files.append(os.path.join(folder, f"photo_{i:02d}.png"))
        if not os.path.exists(files[-1]):
            Image.fromarray(image).save(files[-1])
    return files
