"""Every check a `.tflite` file passes before it is written: builtin and
stateless ops, LiteRT runs it, raw-pixel input, a softmax output, its
metadata, logit parity (fp32) and top-1 agreement with Keras (`checks`), and
its accuracy and latency on the held-out images."""

from __future__ import annotations

import numpy as np

from keras_attn import inference
from keras_attn.errors import first_line
from keras_attn.export import checks as checks_lib
from keras_attn.export.checks import check
from keras_attn.export.config import (
    FP32_LOGIT_TOLERANCE,
    VARIABLE_OPS,
    ExportConfig,
)
from keras_attn.tflite import graph as tflite_graph
from keras_attn.tflite import metadata as tflite_metadata


def softmax_input_logits(content: bytes, images: np.ndarray) -> np.ndarray:
    """Logits read inside a `.tflite` file: the input of its final softmax.

    Runs LiteRT's builtin kernels with every tensor kept, so parity with Keras
    is measured on logits even though the file outputs probabilities.
    Quantised logits are dequantised.
    """
    interpreter = inference.make_interpreter(content, reference=True)
    (details,) = interpreter.get_input_details()
    output_index = int(interpreter.get_output_details()[0]["index"])
    chain = tflite_graph.producer_chain(content, output_index)
    if not chain or chain[-1][0] != "SOFTMAX":
        raise ValueError("The file does not end in a softmax.")
    logits_index = chain[-1][1][0]
    tensor = {t["index"]: t for t in interpreter.get_tensor_details()}[logits_index]
    scale, zero_point = tensor["quantization"]
    out = []
    for image in images:
        interpreter.set_tensor(
            details["index"], inference.quantize_input(image[None], details)
        )
        interpreter.invoke()
        logits = interpreter.get_tensor(logits_index)[0].astype(np.float32)
        if np.dtype(tensor["dtype"]).kind != "f" and scale:
            logits = (logits - zero_point) * scale
        out.append(logits)
    return np.stack(out)


def verify_tflite(
    content: bytes,
    quantization: str,
    labels: list[str],
    images: np.ndarray,
    targets: np.ndarray,
    keras_logits: np.ndarray,
    config: ExportConfig,
) -> dict:
    """Runs every check on one `.tflite` file; returns its report entry.

    `images` (N, h, w, 3) uint8 are held-out images with labels `targets` and
    the Keras model's logits `keras_logits`. The entry's `checks` maps each
    check to `{"ok", "detail"}`; `status` is `ok` only if all pass.
    """
    checks = {}
    ops = tflite_graph.model_ops(content)
    custom = sorted({op for op in ops if not op.isupper()})
    checks["builtin_ops"] = check(
        not custom, f"non-builtin ops: {custom}" if custom else "all builtin"
    )
    variables = sorted(set(ops) & set(VARIABLE_OPS))
    checks["no_variables"] = check(
        not variables, f"variable ops: {variables}" if variables else "no variable ops"
    )

    try:
        clf = inference.TFLiteClassifier(content, labels, num_threads=2)
    except (ValueError, RuntimeError) as e:  # LiteRT refuses the file
        checks["runs"] = check(False, f"LiteRT cannot run it: {first_line(e)}")
        return _entry(quantization, content, checks)
    expected = config.int8_io if quantization == "int8" else "float32"
    detail = f"input {clf.input_dtype} {[int(d) for d in clf.input['shape']]}"
    ok = clf.input_dtype == expected and tuple(clf.input_size) == images.shape[1:3]
    if ok and expected in ("uint8", "int8"):
        scale, zero_point = clf.input["quantization"]
        raw = abs(scale - 1.0) < 1e-6 and zero_point == (
            0 if expected == "uint8" else -128
        )
        detail += f", scale {scale:.6g}, zero point {zero_point}"
        ok = ok and raw
    checks["input"] = check(ok, detail + f" (expected {expected} raw pixels)")
    checks["softmax_output"] = check(clf.outputs_probabilities, "output is a softmax")

    packed = tflite_metadata.read_associated_files(content).get(
        tflite_metadata.LABELS_FILE
    )
    has_metadata = tflite_metadata.read_metadata(content) is not None
    labels_ok = packed is not None and packed.decode("utf-8").splitlines() == labels
    checks["metadata"] = check(
        has_metadata and labels_ok,
        "TFLITE_METADATA and labels.txt packed"
        if has_metadata and labels_ok
        else f"metadata {'present' if has_metadata else 'missing'}, labels "
        f"{'match' if labels_ok else 'missing or different'}",
    )

    probs = clf.predict(images)
    again = clf.predict(images[:1])
    checks["stateless"] = check(
        bool(np.array_equal(again, probs[:1])), "same output when run again"
    )
    prob_diff = np.abs(probs - inference.softmax(keras_logits))
    # A quantised output (uint8 softmax: steps of 1/256) can tie the top two
    # classes of a low-confidence prediction; argmax then takes the first.
    top2 = np.sort(probs, axis=1)[:, -2:]
    tied = float(np.mean(top2[:, 0] == top2[:, 1])) if probs.shape[1] > 1 else 0.0
    n = min(config.parity_images, len(images))
    file_logits = logits = None
    if clf.outputs_probabilities:
        file_logits = softmax_input_logits(content, images[:n])
        parity_check, logits = checks_lib.parity(
            file_logits, keras_logits, FP32_LOGIT_TOLERANCE
        )
        if quantization == "fp32":
            checks["parity"] = parity_check
    checks["agreement"], agreement = checks_lib.agreement(
        probs.argmax(1), keras_logits, config.min_agreement, file_logits
    )
    latency = {}
    for threads in (1, 2):
        timer = inference.TFLiteClassifier(content, labels, num_threads=threads)
        latency[f"threads_{threads}"] = round(timer.latency_ms(config.latency_runs), 3)
    return _entry(
        quantization,
        content,
        checks,
        input=_tensor_info(clf.input),
        output=_tensor_info(clf.output),
        ops=sorted(set(ops)),
        logits=logits or {"max_abs_diff": None, "mean_abs_diff": None, "images": n},
        probabilities={
            "max_abs_diff": float(prob_diff.max()),
            "mean_abs_diff": float(prob_diff.mean()),
        },
        # Agreement of the outputs on every image, on the images Keras
        # decides, and (when judged) of the logits inside the file; the share
        # of images whose two best outputs tie.
        **agreement,
        tied_top1=tied,
        accuracy=float(np.mean(probs.argmax(1) == targets)),
        latency_ms=latency,
    )


def _entry(quantization: str, content: bytes, checks: dict, **measured) -> dict:
    """A report entry for one `.tflite` file: its checks, then what was measured."""
    return checks_lib.entry(
        f"model_{quantization}.tflite",
        checks,
        size_bytes=len(content),
        size_mb=round(len(content) / 2**20, 2),
        **measured,
    )


def _tensor_info(details: dict) -> dict:
    scale, zero_point = details["quantization"]
    info = {
        "dtype": np.dtype(details["dtype"]).name,
        "shape": [int(d) for d in details["shape"]],
    }
    if scale:
        info.update(scale=float(scale), zero_point=int(zero_point))
    return info
