"""Running a classifier file on images (ultralytics' AutoBackend role).

`runtime` opens a file with the runtime its suffix names (`backends/`: LiteRT
for `.tflite`, Keras for `.keras`) and prepares images the way training
stored them; `files`, `batches`, `results_csv` and `many` classify many
images in bounded memory into a resumable CSV. Nothing here imports Keras,
TensorFlow or LiteRT until a file that needs it is opened: with numpy,
Pillow and `ai-edge-litert` alone, `.tflite` files run.
"""

from keras_attn.inference.backends.litert import (
    TFLiteClassifier,
    make_interpreter,
    quantize_input,
)
from keras_attn.inference.batches import DEFAULT_WORKERS, check_positive, classify
from keras_attn.inference.files import image_files, parse_shard, shard_of
from keras_attn.inference.many import Progress, Summary, predict
from keras_attn.inference.results_csv import (
    SIDECAR_SUFFIX,
    ResultsCsv,
    check_csv_writable,
    identity,
)
from keras_attn.inference.runtime import (
    load_classifier,
    load_image,
    softmax,
    top_k,
    training_resize,
)

__all__ = [
    "DEFAULT_WORKERS",
    "SIDECAR_SUFFIX",
    "Progress",
    "ResultsCsv",
    "Summary",
    "TFLiteClassifier",
    "check_csv_writable",
    "check_positive",
    "classify",
    "identity",
    "image_files",
    "load_classifier",
    "load_image",
    "make_interpreter",
    "parse_shard",
    "predict",
    "quantize_input",
    "shard_of",
    "softmax",
    "top_k",
    "training_resize",
]
