"""The web page: `export.py --web` writes `RUN/export/web/`, a static page
that classifies photos (or camera frames) in the browser with the run's
verified `model_int8.tflite`.

MediaPipe Tasks' `ImageClassifier` runs the int8 file: it reads the labels
and input size from the file's metadata, takes the uint8 pixels, and the
page follows the run's resize contract (`images.contract`: a centred square
region of interest for `crop`, a letterboxed frame for `pad`). MediaPipe
refuses a file with two outputs, so the attention map comes from a second
file run by LiteRT.js, loaded only when the user asks for the map. The page
is checked in headless Chromium against LiteRT on the run's photos, and
recorded in `report.json` under `"web"`.

    step.py       `export_web`, the export step: the parts below, in order
    packages.py   the npm packages' JS/WASM: copied (offline) or the pinned CDN
    attention.py  the two-output attention file, converted and checked
    page.py       writing the page folder from `templates/`
    check.py      the photos through the page in Chromium vs LiteRT
    browser.py    the local server and the Chromium driver (also for tests)
    report.py     the int8 entry it needs, its `"web"` entry, keeping it in step

This module only re-exports what `export.py`, the export pipeline and the
tests use.
"""

from keras_attn.export.web.attention import attention_tflite
from keras_attn.export.web.check import check_page
from keras_attn.export.web.packages import (
    FILES,
    LITERTJS,
    LITERTJS_UTILS,
    MEDIAPIPE,
    check_npm,
)
from keras_attn.export.web.page import ATTENTION_FILE, MODEL_FILE, WEB_DIR, write_page
from keras_attn.export.web.report import keep_in_step, summary_line
from keras_attn.export.web.step import check_request, export_web

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
    "check_page",
    "check_request",
    "export_web",
    "keep_in_step",
    "summary_line",
    "write_page",
]
