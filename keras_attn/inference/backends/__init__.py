"""One module per runtime that runs a classifier file: each gives a
`Classifier` (`labels`, `input_size`, `num_classes`, `input_dtype`,
`runtime`, `predict(images)`, `latency_ms(runs)`), an `open_file(path,
labels, num_threads)` that turns a damaged file or a missing runtime into a
one-line error, and `read_resize(path)` (the resize contract the file
records, or None). `keras_attn.inference.runtime` picks the module by the
file's suffix (`SUFFIXES`); each imports its runtime only when called.
"""

# File suffix -> back-end module (under keras_attn.inference.backends).
SUFFIXES = {
    ".tflite": "litert",
    ".keras": "keras_model",
    ".onnx": "onnx_runtime",
    ".xml": "openvino_runtime",
}
