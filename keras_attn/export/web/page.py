"""Writing the page: its folder's files, filled in from the templates, and
the part of its `report.json` entry that says what was written.

    index.html  app.mjs           the page (from `templates/`)
    model_int8.tflite labels.txt  the export's int8 file, copied as is
    model_int8_attention.tflite   the same model with a second output, its
                                  attention map (absent: the page says why)
    vendor/                       the npm packages, when copied (`packages`)

`index.html` gets the page's configuration as JSON (labels, the run's
resize contract, where each runtime's files are) and a
Content-Security-Policy that lets it connect only to its own server (and
the CDN when it loads from there): MediaPipe would otherwise post usage
logs to Google. `app.mjs` is copied as it is.
"""

from __future__ import annotations

import html
import importlib.resources
import json
import os
import shutil

from keras_attn import runs
from keras_attn.export.web.packages import (
    CDN,
    FILES,
    LITERTJS,
    MEDIAPIPE,
    sources,
    utils_source,
)
from keras_attn.images import PAD_COLOUR
from keras_attn.utils import atomic_io

WEB_DIR = "web"
PAGE_FILES = ("index.html", "app.mjs")
MODEL_FILE = "model_int8.tflite"
ATTENTION_FILE = "model_int8_attention.tflite"
TOP_K = 5


def template(name: str) -> str:
    return (
        importlib.resources.files("keras_attn.export.web")
        .joinpath("templates", name)
        .read_text(encoding="utf-8")
    )


def _script_json(value) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(value, ensure_ascii=False).replace("</", "<\\/")


def write_page(
    page_dir: str,
    model_file: str,
    labels: list[str],
    resize: str,
    title: str,
    npm: str | None = None,
    attention_file: str | None = None,
    attention_note: str = "",
) -> dict:
    """Writes the page into `page_dir` (made if needed): the templates, the
    int8 file, labels and, with `npm`, the packages' files. Returns what
    `report.json` records of it: files and sizes, and each runtime's source.

    `attention_file`: the two-output file for the map (None: no map, and
    `attention_note` says why on the page).
    """
    mediapipe, litert, why = sources(npm, attention_file is not None)
    if attention_file is None and not attention_note:
        attention_note = (
            "This page draws no attention map (export.py --noweb_attention left "
            "it out)."
        )
    elif attention_file is not None and litert is None:
        attention_file, attention_note = None, why[0].upper() + why[1:] + "."
    os.makedirs(page_dir, exist_ok=True)
    files = {}
    for name, source in ((MODEL_FILE, model_file), (ATTENTION_FILE, attention_file)):
        if source is not None:
            shutil.copyfile(source, os.path.join(page_dir, name))
    runs.write_labels(page_dir, labels)
    for source in (mediapipe, litert):
        if source is not None and source.local:
            files.update(source.copy_to(page_dir))
    utils = None
    if litert is not None:
        utils = utils_source(litert)
        if utils.local:
            files.update(utils.copy_to(page_dir))
    config = {
        "model": MODEL_FILE,
        "labels": labels,
        "resize": resize,
        "padColour": list(PAD_COLOUR),
        "topK": min(TOP_K, len(labels)),
        "mediapipe": {
            "version": mediapipe.version,
            "source": "local" if mediapipe.local else "cdn",
            "base": mediapipe.base,
            "bundle": mediapipe.url(FILES[MEDIAPIPE[0]][0]),
            "wasm": mediapipe.url("wasm"),
        },
        "attention": None
        if litert is None
        else {
            "model": ATTENTION_FILE,
            "version": litert.version,
            "core": litert.url(FILES[LITERTJS[0]][0]),
            "wasm": litert.url("wasm/"),
        },
        "attentionNote": attention_note,
    }
    connect = "'self' blob: data:"
    if not all(s.local for s in (mediapipe, litert, utils) if s is not None):
        connect += " " + CDN.rsplit("/", 1)[0]
    imports = {} if utils is None else {utils.name: utils.url(FILES[utils.name][0])}
    values = {
        "{{CSP_CONNECT}}": connect,
        "{{TITLE}}": html.escape(title),
        "{{IMPORT_MAP}}": _script_json({"imports": imports}),
        "{{CONFIG}}": _script_json(config),
    }
    page = template("index.html")
    for key, value in values.items():
        page = page.replace(key, value)
    atomic_io.write_text(os.path.join(page_dir, "index.html"), page)
    atomic_io.write_text(os.path.join(page_dir, "app.mjs"), template("app.mjs"))
    for name in (*PAGE_FILES, MODEL_FILE, ATTENTION_FILE, runs.LABELS):
        if os.path.exists(os.path.join(page_dir, name)):
            files[name] = os.path.getsize(os.path.join(page_dir, name))
    return {
        "files": dict(sorted(files.items())),
        "size_mb": round(sum(files.values()) / 1e6, 1),
        "mediapipe": mediapipe.describe(),
        "litertjs": None if litert is None else litert.describe(),
        "attention_note": attention_note or None,
    }
