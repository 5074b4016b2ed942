"""The page's check: the run's photos through the page in headless Chromium,
its top-1 compared with LiteRT's on the same photos.

LiteRT runs the same int8 file on the photos prepared as the client check
prepares them (`export.clients`); the page gets each photo through its file
input, as a user picks it (`browser`). Its top-1 must be LiteRT's, or tied
with it within `checks.TIE_MARGIN` (a uint8 output moves in 1/256), on at
least `MIN_AGREEMENT` of the photos, with an accuracy no further below
LiteRT's than the client check allows; it must request no other host, and
draw the attention map when it has one. Only a page that works offline is
checked, and only where playwright and Chromium are installed; otherwise
`run_check` says why not.
"""

from __future__ import annotations

import os
import time

import numpy as np

from keras_attn import runs
from keras_attn.export import checks
from keras_attn.export.web.browser import (
    browser,
    browser_missing,
    classify_files,
    open_page,
    serve,
    show_attention,
)

# Smallest share of photos on which the page's top-1 is LiteRT's (or tied
# with it within `checks.TIE_MARGIN`).
MIN_AGREEMENT = 0.95


def tie_aware_agreement(top1: np.ndarray, probs: np.ndarray) -> float:
    """Share of images whose `top1` is the reference's best class, or within
    `checks.TIE_MARGIN` of its probability (a uint8 output moves in 1/256)."""
    best = probs.max(axis=1)
    chosen = probs[np.arange(len(top1)), top1]
    return float(np.mean(chosen >= best - checks.TIE_MARGIN))


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


def run_check(entry, page_dir, why_not, files, labels, reference) -> dict:
    """The browser check's numbers, or why it did not run (`why_not`, a CDN
    page, or no playwright or Chromium here)."""
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


def check_page(
    page_dir: str,
    files: list[str],
    labels: np.ndarray,
    reference: np.ndarray,
    attention: bool,
) -> dict:
    """Opens the page in headless Chromium and classifies `files` (the
    photos) through it; compares its top-1 with `reference`, LiteRT's
    probabilities on the same photos. Returns the measured numbers and
    `check` ({ok, detail})."""
    with serve(page_dir) as base, browser(base) as (page, log):
        ready = open_page(page, base + "index.html")
        measured = {"browser": f"Chromium {log.get('browser')}", "photos": len(files)}
        if not ready.get("ok"):
            measured["check"] = checks.check(
                False, f"the page did not start: {ready.get('error')}"
            )
            return measured
        started = time.perf_counter()
        results = classify_files(page, files)
        seconds = time.perf_counter() - started
        shown = show_attention(page) if attention else None
        blocked = list(log["blocked"])
        errors = [r["error"] for r in results if "error" in r] + log["page_errors"]
    if errors:
        measured["check"] = checks.check(
            False, f"the page failed on a photo: {errors[0]}"
        )
        return measured
    top1 = np.array([r["top"][0]["index"] for r in results])
    web_right, litert_right = top1 == labels, reference.argmax(1) == labels
    ms = [r["ms"] for r in results]
    measured.update(
        top1_agreement_litert=float(np.mean(top1 == reference.argmax(1))),
        top1_agreement_litert_ties=tie_aware_agreement(top1, reference),
        accuracy=float(np.mean(web_right)),
        litert_accuracy=float(np.mean(litert_right)),
        load_seconds=round(ready["loadMs"] / 1000, 2),
        open_seconds=ready["seconds"],
        classify_ms_median=round(float(np.median(ms)), 1),
        classify_ms_first=round(ms[0], 1),
        seconds_per_photo=round(seconds / len(files), 3),
        blocked_requests=blocked,
        top1=top1.tolist(),
    )
    if shown is not None:
        measured["attention_map"] = shown
    gap = 100 * (measured["litert_accuracy"] - measured["accuracy"])
    tolerance = checks.client_tolerance(litert_right, web_right)
    problems = []
    if measured["top1_agreement_litert_ties"] < MIN_AGREEMENT:
        problems.append(
            f"top-1 agreement with LiteRT {measured['top1_agreement_litert_ties']:.3f}"
            f" < {MIN_AGREEMENT}"
        )
    if gap > tolerance:
        problems.append(
            f"accuracy {gap:.1f} points below LiteRT (at most {tolerance:.1f})"
        )
    if blocked:
        problems.append(f"it requested another host ({blocked[0]})")
    if shown is not None and "error" in shown:
        problems.append(f"the attention map failed: {shown['error']}")
    detail = (
        f"top-1 agreement with LiteRT {measured['top1_agreement_litert_ties']:.3f} "
        f"(ties allowed; {measured['top1_agreement_litert']:.3f} exact), accuracy "
        f"{100 * measured['accuracy']:.1f}% vs LiteRT "
        f"{100 * measured['litert_accuracy']:.1f}% on {len(files)} photos"
    )
    if problems:
        detail = "; ".join(problems) + f" ({detail})"
    measured["check"] = checks.check(not problems, detail)
    return measured
