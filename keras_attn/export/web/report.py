"""The page and the export's `report.json`: the int8 entry it needs, its
own `"web"` entry, and the line `export.py` prints about it.

The page is made from the export's int8 file only when the report says that
file passed its checks (`passing_int8`). Its entry records what was written
and the check's numbers (`record`). A later export that converts the int8
file again would leave a page running a file that is no longer the
export's: `keep_in_step`, called by the export pipeline before it writes
`report.json`, keeps the entry while the page's copy is the same file and
removes the page otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil

from keras_attn.errors import UserError
from keras_attn.export.config import REPORT_FILE
from keras_attn.export.web.page import MODEL_FILE, WEB_DIR
from keras_attn.utils import atomic_io


def passing_int8(export_dir: str) -> dict:
    """The export's report, whose int8 file passed its checks; a one-line
    UserError when there is no passing one, or its input is not pixels
    MediaPipe takes."""
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


def record(export_dir: str, entry: dict) -> None:
    """Writes `entry` into the export's `report.json` under `"web"`."""
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
