"""The `--web` export step: `export_web` writes `RUN/export/web/` from the
export's passing int8 file, checks it and records it in `report.json`.

`check_request` runs before any conversion, so that a `--web` that cannot be
honoured (no passing int8 file, int8 input MediaPipe cannot feed, a
`--web_npm` folder without the package) stops the command in one line
before it spends minutes exporting. `export_web` then makes the attention
map's file (`attention`), writes the page into a temporary folder
(`page`), checks it in headless Chromium (`check`) and renames it into
place: a page that fails its check is removed (unless `keep_failed`), so a
page on disk is one that passed or was kept and marked so in the report.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from keras_attn import runs
from keras_attn.errors import UserError
from keras_attn.export.config import REPORT_FILE, ExportCheckError
from keras_attn.export.web.attention import make_attention_file
from keras_attn.export.web.check import reference_photos, run_check
from keras_attn.export.web.packages import check_npm
from keras_attn.export.web.page import MODEL_FILE, WEB_DIR, write_page
from keras_attn.export.web.report import passing_int8, record
from keras_attn.tflite import metadata as tflite_metadata
from keras_attn.utils import atomic_io


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
            attention_file, note, entry["attention"] = make_attention_file(
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
                entry["check"] = run_check(
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
            record(export_dir, entry)
            raise ExportCheckError(
                f"the web page failed its check ({e}); it is not written "
                f"(details in {os.path.join(export_dir, REPORT_FILE)})"
            ) from None
    failed = not entry["check"].get("check", {"ok": True})["ok"]
    entry["status"] = "failed" if failed else "ok"
    entry["failed_checks"] = ["browser"] if failed else []
    entry["kept"] = failed
    record(export_dir, entry)
    if failed:
        print(
            f"warning: kept (--keep_failed): the web page failed its check "
            f"({entry['check']['check']['detail']})",
            flush=True,
        )
    return entry


class _PageFailed(Exception):
    pass
