"""The web page (`export.py --web`): see `step.py`."""

from keras_attn.export.web.step import (
    ATTENTION_FILE,
    FILES,
    LITERTJS,
    LITERTJS_UTILS,
    MEDIAPIPE,
    MODEL_FILE,
    WEB_DIR,
    attention_tflite,
    check_npm,
    check_request,
    export_web,
    keep_in_step,
    summary_line,
    write_page,
)

__all__ = [
    "ATTENTION_FILE",
    "FILES",
    "LITERTJS",
    "LITERTJS_UTILS",
    "MEDIAPIPE",
    "MODEL_FILE",
    "WEB_DIR",
    "attention_tflite",
    "check_npm",
    "check_request",
    "export_web",
    "keep_in_step",
    "summary_line",
    "write_page",
]
