"""`report.json`: reading it, keeping it in step with the folder after a
partial re-export, and the summary table `export.py` prints."""

from __future__ import annotations

import json
import os
import shutil

from keras_attn.export.config import QUANTIZATIONS, REPORT_FILE, SAVED_MODEL_DIR

# Every file a format can write, by format and variant (what a partial
# re-export must keep in step).
FILES = {
    "tflite": {q: f"model_{q}.tflite" for q in QUANTIZATIONS},
    "onnx": {"fp32": "model_fp32.onnx", "int8": "model_int8.onnx"},
    "openvino": {"fp32": "model_fp32.xml", "int8": "model_int8.xml"},
}


def keep_untouched(report: dict, out_dir: str) -> None:
    """Makes the report describe every artefact in `out_dir`.

    Files this export did not write (a partial re-export) keep their entry
    from the previous report when they were made from the same model file
    and passed; otherwise they are stale and removed.
    """
    path = os.path.join(out_dir, REPORT_FILE)
    previous = read_report(path) if os.path.exists(path) else {}
    same_model = previous.get("model_sha256") == report["model_sha256"]
    saved_model = os.path.join(out_dir, SAVED_MODEL_DIR)
    if "saved_model" not in report and os.path.exists(saved_model):
        if same_model and "saved_model" in previous:
            report["saved_model"] = previous["saved_model"]
        else:
            shutil.rmtree(saved_model)
    for name, files in FILES.items():
        entries = report.setdefault(name, {})
        for variant, file_name in files.items():
            file = os.path.join(out_dir, file_name)
            if variant in entries or not os.path.exists(file):
                continue
            entry = previous.get(name, {}).get(variant)
            if (
                same_model
                and entry
                and (entry.get("status") == "ok" or entry.get("kept"))
            ):
                entries[variant] = entry
            else:
                remove_files(file)
        if not entries and name != "tflite":
            del report[name]


def remove_files(path: str) -> None:
    """Removes an exported file, and an OpenVINO model's weights beside it."""
    for file in (
        path,
        path[: -len(".xml")] + ".bin" if path.endswith(".xml") else None,
    ):
        if file and os.path.exists(file):
            os.remove(file)


def read_report(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def summary_table(report: dict) -> str:
    """A plain-text table of the files in a report, Keras first."""
    columns = ("file", "MB", "x fp32", "ms 1 thr", "ms 2 thr", "max|dlogit|")
    columns += ("agree", "accuracy", "status")
    keras_accuracy = report["keras"]["accuracy"]
    rows = [("keras (reference)", "", "", "", "", "", "", f"{keras_accuracy:.3f}", "")]
    entries = [
        entry
        for name, files in FILES.items()
        for variant in files
        if (entry := report.get(name, {}).get(variant)) is not None
    ]
    for entry in entries:
        status = (
            "ok"
            if entry["status"] == "ok"
            else ("KEPT, failed: " if entry.get("kept") else "FAILED: ")
            + ", ".join(entry["failed_checks"])
        )
        if "latency_ms" not in entry:  # it did not convert, or LiteRT refused it
            rows.append((entry["file"], "", "", "", "", "", "", "", status))
            continue
        logit_diff = entry["logits"]["max_abs_diff"]
        rows.append(
            (
                entry["file"],
                f"{entry['size_mb']:.1f}",
                f"{entry['size_vs_fp32']:.3f}" if "size_vs_fp32" in entry else "",
                f"{entry['latency_ms']['threads_1']:.2f}",
                f"{entry['latency_ms']['threads_2']:.2f}",
                "" if logit_diff is None else f"{logit_diff:.2e}",
                f"{entry['top1_agreement']:.3f}",
                f"{entry['accuracy']:.3f}",
                status,
            )
        )
    cells = [columns, *rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def failure_text(name: str, entry: dict) -> str:
    details = [f"{c}: {entry['checks'][c]['detail']}" for c in entry["failed_checks"]]
    return f"{name} failed its check ({'; '.join(details)})"
