"""The web page: `export.py --web` writes `RUN/export/web/`, a static page
that classifies photos (or camera frames) in the browser with the run's
verified `model_int8.tflite`.

    web/index.html  app.mjs          the page (templates in `templates/`)
        model_int8.tflite labels.txt  the export's int8 file, copied as is
        model_int8_attention.tflite   the same model with a second output,
                                      its attention map (`--web_attention`)
        vendor/mediapipe/             @mediapipe/tasks-vision (offline pages)
        vendor/litertjs/              @litertjs/core + wasm-utils (offline)

MediaPipe Tasks' `ImageClassifier` runs the int8 file: it reads the labels
and input size from the file's metadata, takes the uint8 pixels, and the
page follows the run's resize contract (`images.contract`: a centred square
region of interest for `crop`, a letterboxed frame for `pad`). MediaPipe
refuses a file with two outputs, so the attention map comes from a second
file (`classifier.attention_model` + softmax, converted with the int8
file's settings) run by LiteRT.js, loaded only when the user asks for the
map.

With `--web_npm=DIR` (an `npm install` of the packages) their JavaScript
and WebAssembly are copied beside the page, which then works offline;
otherwise the page loads them from the jsdelivr CDN at the pinned versions.
Either way its Content-Security-Policy lets it fetch only from its own
server (and that CDN): MediaPipe would otherwise post usage logs to Google.

The check (`browser.check_page`): the page is served from 127.0.0.1
and opened in headless Chromium (Python `playwright`), every request to
another host blocked; each of the run's photos goes through the page's file
input, and its top-1 must agree with LiteRT's (`export.clients`, the same
file) on at least `MIN_AGREEMENT` of them, ties allowed, with an accuracy
no further below LiteRT's than the client check allows. The numbers go to
`report.json` under `"web"`. Only a page that works offline is checked.
"""

from __future__ import annotations

import contextlib
import html
import importlib.resources
import json
import os
import shutil
import tempfile
import time

import numpy as np

from keras_attn import runs
from keras_attn.errors import UserError, first_line
from keras_attn.export.config import REPORT_FILE, ExportCheckError
from keras_attn.export.web.browser import (
    MIN_AGREEMENT,
    browser_missing,
    check_page,
    tie_aware_agreement,
)
from keras_attn.images import PAD_COLOUR
from keras_attn.tflite import metadata as tflite_metadata
from keras_attn.utils import atomic_io

WEB_DIR = "web"
PAGE_FILES = ("index.html", "app.mjs")
MODEL_FILE = "model_int8.tflite"
ATTENTION_FILE = "model_int8_attention.tflite"
TOP_K = 5
# The versions the page is written and tested for.
MEDIAPIPE = ("@mediapipe/tasks-vision", "1.1.0")
LITERTJS = ("@litertjs/core", "2.5.3")
LITERTJS_UTILS = ("@litertjs/wasm-utils", "2.5.3")
CDN = "https://cdn.jsdelivr.net/npm"
# What the page loads of each package. MediaPipe: the SIMD build, and the
# no-SIMD one for browsers without WebAssembly SIMD (12 MB each); LiteRT.js:
# the relaxed-SIMD build and its fallback (9 MB each; the threaded and JSPI
# builds need headers or flags a static server does not give).
FILES = {
    MEDIAPIPE[0]: (
        "vision_bundle.mjs",
        "wasm/vision_wasm_internal.js",
        "wasm/vision_wasm_internal.wasm",
        "wasm/vision_wasm_nosimd_internal.js",
        "wasm/vision_wasm_nosimd_internal.wasm",
    ),
    LITERTJS[0]: (
        "dist/index.js",
        "wasm/litert_wasm_internal.js",
        "wasm/litert_wasm_internal.wasm",
        "wasm/litert_wasm_compat_internal.js",
        "wasm/litert_wasm_compat_internal.wasm",
    ),
    LITERTJS_UTILS[0]: ("dist/index.js",),
}
VENDOR = {
    MEDIAPIPE[0]: "vendor/mediapipe",
    LITERTJS[0]: "vendor/litertjs/core",
    LITERTJS_UTILS[0]: "vendor/litertjs/wasm-utils",
}


def npm_hint(folder: str) -> str:
    packages = f"{MEDIAPIPE[0]}@{MEDIAPIPE[1]} {LITERTJS[0]}@{LITERTJS[1]}"
    return (
        f"run `npm install --prefix {folder} {packages}` and pass that folder "
        "(offline: copy such a folder from a machine that has one)"
    )


# ---------------------------------------------------------------- packages


def find_package(folder: str, name: str) -> str | None:
    """The folder of npm package `name` under `folder`: an npm prefix
    (`folder/node_modules/name`), a `node_modules` folder, the package
    itself, or (for a sibling package) the package folder of another one."""
    folder = os.path.abspath(folder)
    candidates = [
        os.path.join(folder, "node_modules", name),
        os.path.join(folder, name),
        folder,
        # folder = node_modules/@scope/package: its node_modules
        os.path.join(os.path.dirname(os.path.dirname(folder)), name),
    ]
    for candidate in candidates:
        manifest = os.path.join(candidate, "package.json")
        if os.path.isfile(manifest):
            try:
                with open(manifest) as f:
                    if json.load(f).get("name") == name:
                        return candidate
            except (OSError, ValueError):
                continue
    return None


def package_version(folder: str) -> str:
    with open(os.path.join(folder, "package.json")) as f:
        return str(json.load(f).get("version", "unknown"))


def check_npm(folder: str) -> str:
    """The MediaPipe package folder under `--web_npm=folder`, with every
    file the page needs; else a one-line UserError saying what to install."""
    if not os.path.isdir(folder):
        raise UserError(f"--web_npm={folder} is not a folder: {npm_hint(folder)}.")
    package = find_package(folder, MEDIAPIPE[0])
    if package is None:
        raise UserError(
            f"--web_npm={folder} holds no {MEDIAPIPE[0]} package: {npm_hint(folder)}."
        )
    missing = [f for f in FILES[MEDIAPIPE[0]] if not os.path.isfile(_join(package, f))]
    if missing:
        raise UserError(
            f"{package} lacks {', '.join(missing)} (an incomplete install): "
            f"{npm_hint(folder)}."
        )
    return package


def _join(folder: str, relative: str) -> str:
    return os.path.join(folder, *relative.split("/"))


class Source:
    """Where the page gets one npm package: copied beside it (`folder`), or
    from the CDN at a pinned version."""

    def __init__(self, name: str, version: str, folder: str | None):
        self.name, self.version, self.folder = name, version, folder

    @property
    def local(self) -> bool:
        return self.folder is not None

    @property
    def base(self) -> str:
        if self.local:
            return "./" + VENDOR[self.name]
        return f"{CDN}/{self.name}@{self.version}"

    def url(self, relative: str) -> str:
        return f"{self.base}/{relative}"

    def copy_to(self, page_dir: str) -> dict[str, int]:
        files = {}
        for relative in FILES[self.name]:
            target = f"{VENDOR[self.name]}/{relative}"
            os.makedirs(os.path.dirname(_join(page_dir, target)), exist_ok=True)
            shutil.copyfile(_join(self.folder, relative), _join(page_dir, target))
            files[target] = os.path.getsize(_join(page_dir, target))
        return files

    def describe(self) -> dict:
        return {
            "package": self.name,
            "version": self.version,
            "source": "local" if self.local else "cdn",
            "from": self.folder if self.local else self.base,
        }


def sources(npm: str | None, attention: bool) -> tuple[Source, Source | None, str]:
    """The MediaPipe source, the LiteRT.js source (None: no map) and, when
    the map is asked for but cannot be had, why."""
    if npm is None:
        litert = Source(*LITERTJS, None) if attention else None
        return Source(*MEDIAPIPE, None), litert, ""
    mediapipe = check_npm(npm)
    version = package_version(mediapipe)
    if version != MEDIAPIPE[1]:
        print(
            f"note: {mediapipe} is {MEDIAPIPE[0]} {version}; the page was "
            f"tested with {MEDIAPIPE[1]}.",
            flush=True,
        )
    if not attention:
        return Source(MEDIAPIPE[0], version, mediapipe), None, ""
    core = find_package(npm, LITERTJS[0]) or find_package(mediapipe, LITERTJS[0])
    utils = core and find_package(core, LITERTJS_UTILS[0])
    complete = (
        core
        and utils
        and all(os.path.isfile(_join(core, f)) for f in FILES[LITERTJS[0]])
        and os.path.isfile(_join(utils, FILES[LITERTJS_UTILS[0]][0]))
    )
    if not complete:
        why = (
            f"the attention map is left out: --web_npm={npm} holds no complete "
            f"{LITERTJS[0]} (LiteRT.js runs the map's file); "
            f"{npm_hint(npm)}"
        )
        return Source(MEDIAPIPE[0], version, mediapipe), None, why
    return (
        Source(MEDIAPIPE[0], version, mediapipe),
        Source(LITERTJS[0], package_version(core), core),
        "",
    )


# ---------------------------------------------------------------- the page


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
        utils = Source(
            LITERTJS_UTILS[0],
            package_version(find_package(litert.folder, LITERTJS_UTILS[0]))
            if litert.local
            else LITERTJS_UTILS[1],
            find_package(litert.folder, LITERTJS_UTILS[0]) if litert.local else None,
        )
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


# ---------------------------------------------------------------- the attention file


def attention_tflite(
    run, resize: str, calibration_steps: int | None, seed: int
) -> bytes:
    """The run's model with two outputs, probabilities and the attention map
    (`classifier.attention_model`), as a full-integer file with the int8
    file's settings (uint8 in and out, builtin ops, the same calibration)."""
    import keras
    import tensorflow as tf

    from keras_attn.export.formats.tflite_convert import (
        add_metadata,
        representative_dataset,
    )
    from keras_attn.models import classifier

    wrapped = classifier.attention_model(run.model)
    probabilities = keras.layers.Softmax(name="probabilities", dtype="float32")(
        wrapped.outputs[0]
    )
    model = keras.Model(wrapped.inputs, [probabilities, wrapped.outputs[1]])
    images = run.samples.calibration.images
    steps = min(calibration_steps or len(images), len(images))
    signature = [
        tf.TensorSpec((1, *run.model.input_shape[1:]), tf.float32, name="image")
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.tflite")
        model.export(
            path,
            format="litert",
            input_signature=signature,
            verbose=False,
            optimizations=[tf.lite.Optimize.DEFAULT],
            representative_dataset=representative_dataset(images, steps, seed),
            target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]},
            inference_input_type=tf.uint8,
            inference_output_type=tf.uint8,
            experimental_enable_resource_variables=False,
        )
        with open(path, "rb") as f:
            content = f.read()
    return add_metadata(content, run.labels, run.model.name, "int8", resize)


def attention_top1(content: bytes, images: np.ndarray) -> tuple[np.ndarray, list]:
    """The two-output file's top-1 per image, and its map's shape (LiteRT)."""
    from keras_attn.inference import make_interpreter, quantize_input

    interpreter = make_interpreter(content)
    (image_input,) = interpreter.get_input_details()
    outputs = interpreter.get_output_details()
    probs = next(d for d in outputs if len(d["shape"]) == 2)
    attention = next(d for d in outputs if d is not probs)
    top1 = []
    for image in images:
        interpreter.set_tensor(
            image_input["index"], quantize_input(image[None], image_input)
        )
        interpreter.invoke()
        top1.append(int(np.argmax(interpreter.get_tensor(probs["index"])[0])))
    return np.array(top1), [int(d) for d in attention["shape"]]


# ---------------------------------------------------------------- the export step


def passing_int8(export_dir: str) -> dict:
    """The report entry of the export's int8 file; a one-line UserError when
    there is no passing one, or its input is not pixels MediaPipe takes."""
    report_path = os.path.join(export_dir, REPORT_FILE)
    run_dir = os.path.dirname(os.path.abspath(export_dir))
    first = (
        f"export int8 first: python export.py --run={run_dir} --quantize=int8 "
        "(then --web_only writes the page)"
    )
    try:
        with open(report_path) as f:
            report = json.load(f)
    except (OSError, ValueError):
        raise UserError(
            f"The web page needs {MODEL_FILE}, and {export_dir} has no export "
            f"report: {first}."
        ) from None
    entry = report.get("tflite", {}).get("int8")
    if (
        entry is None
        or entry.get("status") != "ok"
        or not os.path.isfile(os.path.join(export_dir, MODEL_FILE))
    ):
        state = (
            "failed its checks"
            if entry and entry.get("status") != "ok"
            else "is not there"
        )
        raise UserError(
            f"The web page needs a passing {MODEL_FILE}; in {export_dir} it "
            f"{state}: {first}."
        )
    if report.get("calibration", {}).get("int8_io") == "int8":
        raise UserError(
            f"{export_dir}/{MODEL_FILE} takes int8 input, which MediaPipe cannot "
            f"feed: export it again with --int8_io=uint8 (the default)."
        )
    return report


def check_request(
    run_dir: str, npm: str | None, exporting_int8: bool, int8_io: str
) -> None:
    """Before any conversion: the `--web*` flags can be honoured."""
    if npm is not None:
        check_npm(npm)
    if exporting_int8:
        if int8_io == "int8":
            raise UserError(
                "--web needs the int8 file to take uint8 (or float32) pixels: "
                "MediaPipe cannot feed --int8_io=int8."
            )
        return
    passing_int8(runs.path(run_dir, runs.EXPORT))


def reference_photos(run_dir: str, size: tuple[int, int], resize: str, tmp: str):
    """What the check classifies: the run's photos (`photos/`), else its
    held-out images written as PNG files. Returns `(files, labels, images)`,
    images prepared as training did (what LiteRT gets)."""
    from keras_attn.export import clients

    try:
        photos = runs.read_photos(run_dir)
    except ValueError:
        photos = None
    if photos is not None and len(photos):
        return (
            photos.files,
            np.asarray(photos.labels),
            clients.prepared(photos, size, resize),
        )
    from PIL import Image

    held_out = runs.read_samples(run_dir).held_out
    count = min(len(held_out), 100)
    files = []
    for i in range(count):
        files.append(os.path.join(tmp, f"held_out_{i:03d}.png"))
        Image.fromarray(held_out.images[i]).save(files[-1])
    return files, np.asarray(held_out.labels[:count]), held_out.images[:count]


def export_web(
    run_dir: str,
    npm: str | None = None,
    attention: bool = True,
    check: bool = True,
    keep_failed: bool = False,
    calibration_steps: int | None = None,
    seed: int = 0,
) -> dict:
    """Writes `RUN/export/web/` from the export's passing int8 file, checks
    it in headless Chromium (when it can) and records it in `report.json`
    under `"web"`; returns that entry.

    Raises:
        UserError: no passing int8 file, or `npm` without the package.
        ExportCheckError: the page failed its check (it is removed, unless
            `keep_failed`).
    """
    from keras_attn.inference import TFLiteClassifier

    export_dir = runs.path(run_dir, runs.EXPORT)
    report = passing_int8(export_dir)
    if npm is not None:
        check_npm(npm)
    labels = runs.read_labels(run_dir)
    model_file = os.path.join(export_dir, MODEL_FILE)
    with open(model_file, "rb") as f:
        content = f.read()
    # The contract the int8 file carries (what its checks and apps follow).
    resize = tflite_metadata.read_resize(content) or runs.stored_resize(
        runs.read_config(run_dir)
    )
    clf = TFLiteClassifier(content, labels, num_threads=2)
    entry = {
        "folder": WEB_DIR,
        "model": MODEL_FILE,
        "model_sha256": atomic_io.sha256(model_file),
    }
    web_dir = os.path.join(export_dir, WEB_DIR)
    title = f"{report.get('run', os.path.basename(run_dir))}: classify a photo"
    with tempfile.TemporaryDirectory() as tmp:
        files, photo_labels, images = reference_photos(
            run_dir, clf.input_size, resize, tmp
        )
        reference = clf.predict(images)
        attention_file, note = None, ""
        if attention:
            attention_file, note, entry["attention"] = _attention(
                run_dir, resize, tmp, images, reference, calibration_steps, seed
            )
        why_not = None if check else "--noweb_check"
        try:
            with atomic_io.atomic_dir(web_dir) as page_dir:
                entry.update(
                    write_page(
                        page_dir, model_file, labels, resize, title, npm,
                        attention_file, note,
                    )
                )  # fmt: skip
                entry["check"] = _check(
                    entry, page_dir, why_not, files, photo_labels, reference
                )
                if (
                    not entry["check"].get("check", {"ok": True})["ok"]
                    and not keep_failed
                ):
                    raise _PageFailed(entry["check"]["check"]["detail"])
        except _PageFailed as e:
            shutil.rmtree(web_dir, ignore_errors=True)  # a stale page must not stay
            entry.update(status="failed", failed_checks=["browser"])
            _record(export_dir, entry)
            raise ExportCheckError(
                f"the web page failed its check ({e}); it is not written "
                f"(details in {os.path.join(export_dir, REPORT_FILE)})"
            ) from None
    failed = not entry["check"].get("check", {"ok": True})["ok"]
    entry["status"] = "failed" if failed else "ok"
    entry["failed_checks"] = ["browser"] if failed else []
    entry["kept"] = failed
    _record(export_dir, entry)
    if failed:
        print(
            f"warning: kept (--keep_failed): the web page failed its check "
            f"({entry['check']['check']['detail']})",
            flush=True,
        )
    return entry


def _check(entry, page_dir, why_not, files, labels, reference) -> dict:
    """The browser check's numbers, or why it did not run."""
    if why_not is None and entry["mediapipe"]["source"] == "cdn":
        why_not = (
            "the page loads MediaPipe from the CDN; only a page that works "
            "offline is checked (pass --web_npm=DIR)"
        )
    why_not = why_not or browser_missing()
    if why_not is not None:
        print(f"note: the web page is not checked: {why_not}.", flush=True)
        return {"ran": False, "why": why_not}
    print(
        f"Checking the web page in headless Chromium on {len(files)} photos ...",
        flush=True,
    )
    return check_page(page_dir, files, labels, reference, entry["litertjs"] is not None)


class _PageFailed(Exception):
    pass


def _attention(run_dir, resize, tmp, images, reference, calibration_steps, seed):
    """Converts and checks the two-output file; returns (path or None, note, entry)."""
    from keras_attn.runs import load_run

    print(
        f"Exporting {ATTENTION_FILE} (the attention map, for the web page) ...",
        flush=True,
    )
    start = time.time()
    try:
        run = load_run(run_dir)
        content = attention_tflite(run, resize, calibration_steps, seed)
        top1, shape = attention_top1(content, images)
    except Exception as e:  # noqa: BLE001 -- the page goes on without the map
        why = (
            f"{ATTENTION_FILE} did not convert or run "
            f"({type(e).__name__}: {first_line(e)})"
        )
        return None, f"No attention map: {why}.", {"status": "failed", "detail": why}
    agreement = tie_aware_agreement(top1, reference)
    measured = {
        "file": ATTENTION_FILE,
        "size_bytes": len(content),
        "map_shape": shape,
        "convert_seconds": round(time.time() - start, 1),
        "top1_agreement_int8": agreement,
        "images": len(images),
    }
    if agreement < MIN_AGREEMENT:
        why = (
            f"{ATTENTION_FILE}'s top-1 agrees with {MODEL_FILE}'s on only "
            f"{agreement:.3f} of the photos (< {MIN_AGREEMENT})"
        )
        return (
            None,
            f"No attention map: {why}.",
            {**measured, "status": "failed", "detail": why},
        )
    path = os.path.join(tmp, ATTENTION_FILE)
    with open(path, "wb") as f:
        f.write(content)
    return path, "", {**measured, "status": "ok"}


def _record(export_dir: str, entry: dict) -> None:
    path = os.path.join(export_dir, REPORT_FILE)
    with open(path) as f:
        report = json.load(f)
    report["web"] = entry
    atomic_io.write_json(path, report)


def keep_in_step(report: dict, out_dir: str) -> None:
    """Called by `export_run` before it writes `report.json`: an existing
    `web/` keeps its report entry while its int8 file is the export's, and
    is removed (with a note) once that file changed or went."""
    web_dir = os.path.join(out_dir, WEB_DIR)
    if not os.path.isdir(web_dir):
        return
    previous = {}
    with contextlib.suppress(OSError, ValueError):
        with open(os.path.join(out_dir, REPORT_FILE)) as f:
            previous = json.load(f).get("web") or {}
    model = os.path.join(out_dir, MODEL_FILE)
    copy = os.path.join(web_dir, MODEL_FILE)
    if (
        previous
        and os.path.isfile(model)
        and os.path.isfile(copy)
        and atomic_io.sha256(model)
        == atomic_io.sha256(copy)
        == previous.get("model_sha256")
    ):
        report["web"] = previous
        return
    shutil.rmtree(web_dir, ignore_errors=True)
    print(
        f"note: removed {web_dir}: its {MODEL_FILE} is no longer the export's; "
        "write it again with python export.py --web_only.",
        flush=True,
    )


def summary_line(entry: dict, export_dir: str) -> str:
    """What `export.py` prints about the page."""
    mediapipe = entry["mediapipe"]
    where = (
        f"MediaPipe Tasks {mediapipe['version']} copied beside it: works offline"
        if mediapipe["source"] == "local"
        else f"MediaPipe Tasks {mediapipe['version']} from {mediapipe['from']}: "
        "needs the internet (--web_npm=DIR for an offline page)"
    )
    check = entry.get("check", {})
    if check.get("ran") is False:
        checked = "not checked"
    else:
        checked = (
            "Chromium: top-1 agreement with LiteRT "
            f"{check['top1_agreement_litert_ties']:.3f}, "
            f"{check['classify_ms_median']:.0f} ms a photo"
        )
    attention = "attention map" if entry["litertjs"] else "no attention map"
    return (
        f"Web page: {os.path.join(export_dir, WEB_DIR)} ({entry['size_mb']:.0f} MB; "
        f"{where}; {attention}; {checked}). Serve it: python -m http.server -d "
        f"{os.path.join(export_dir, WEB_DIR)}"
    )
