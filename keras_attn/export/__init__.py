"""Exporting a trained run for serving and for devices, every artefact verified.

`export_run(ExportConfig(run_dir=...))` is what `export.py` calls. It loads the
run's clean model and the images the run folder keeps (`keras_attn.runs`: training
images for int8 calibration, held-out images for the checks), so it needs
neither the training data nor the machine it was on, and writes
`DIR/export/`:

    saved_model/          TF SavedModel: `serving_default` takes raw RGB pixels
                          (B, h, w, 3), float32 0..255 at the run's stored
                          image size, and returns logits like the Keras model
    model_fp32.tflite     float32
    model_dynamic.tflite  int8 weights, float activations (dynamic range)
    model_fp16.tflite     float16 weights
    model_int8.tflite     full integer, calibrated on training images; uint8
                          input and output by default (`int8_io`)
    labels.txt  report.json

The `.tflite` files are made by Keras' own LiteRT export
(`model.export(format="litert")`, which drives `tf.lite.TFLiteConverter`)
with builtin ops only: Keras turns on SELECT_TF_OPS by default, and a Flex op
would make the plain LiteRT runtime and integer accelerators refuse the file.
Each file takes one image (batch 1, the usual mobile contract), ends in a
softmax (apps get probabilities) and carries TFLite metadata (input
normalisation, labels), so MediaPipe's `ImageClassifier` runs it as it is
(`keras_attn.tflite.metadata`).

Nothing is reported before it is checked. The SavedModel is reloaded and its
logits compared with Keras'. Each `.tflite` is run by LiteRT on the run's
held-out sample (test images, else validation; `report.json` lists them):
its logits (the softmax's input, read from the same file) are compared with
Keras' logits, and its outputs give top-1 agreement with Keras and accuracy;
its ops must be builtin and stateless (the attention's memory is a
constant), its input must take raw pixels, and its metadata must be there.
A file that fails is not written (a stale one from an earlier export is
removed), `report.json` says which check failed, and `export_run` raises
`ExportCheckError`. Files are written to a temporary name and renamed, so no
half-written file ever looks valid (and what a killed export left behind is
removed by the next one). A partial export (`--quantize=fp32`) keeps the
report entries of the files it did not touch, so `report.json` always
describes the folder as it is.
"""

from keras_attn.export.checks import TIE_MARGIN
from keras_attn.export.config import (
    FP32_LOGIT_TOLERANCE,
    INT8_IO,
    QUANTIZATIONS,
    REPORT_FILE,
    SAVED_MODEL_DIR,
    VARIABLE_OPS,
    ExportCheckError,
    ExportConfig,
)
from keras_attn.export.formats import FORMATS
from keras_attn.export.formats.tflite import export_tflite
from keras_attn.export.formats.tflite_convert import (
    add_metadata,
    convert,
    representative_dataset,
    with_softmax,
)
from keras_attn.export.formats.tflite_verify import (
    softmax_input_logits,
    verify_tflite,
)
from keras_attn.export.pipeline import (
    check_export_writable,
    chosen_formats,
    export_run,
)
from keras_attn.export.report import read_report, summary_table

__all__ = [
    "FORMATS",
    "FP32_LOGIT_TOLERANCE",
    "INT8_IO",
    "QUANTIZATIONS",
    "REPORT_FILE",
    "SAVED_MODEL_DIR",
    "TIE_MARGIN",
    "VARIABLE_OPS",
    "ExportCheckError",
    "ExportConfig",
    "add_metadata",
    "check_export_writable",
    "chosen_formats",
    "convert",
    "export_run",
    "export_tflite",
    "read_report",
    "representative_dataset",
    "softmax_input_logits",
    "summary_table",
    "verify_tflite",
    "with_softmax",
]
