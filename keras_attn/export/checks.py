"""The checks every exported file passes, whatever its format: logit parity
with Keras, top-1 agreement where Keras' decision is not a tie, and the
client check on the run's photos sized to how many there are.

Each check is `{"ok": bool, "detail": one line}`; a format's entry lists its
checks and `failed_checks`, and a file that fails one is not written (unless
`--keep_failed`).
"""

from __future__ import annotations

import math

import numpy as np

from keras_attn.inference.runtime import softmax

# Keras' top-2 probability margin below which its top-1 counts as a tie: a
# uint8 softmax output moves in steps of 1/256, so closer classes can swap.
TIE_MARGIN = 0.01
# Fewest decided images to judge agreement on; with fewer (a briefly trained,
# near-uniform model), the file's logits are judged on every image instead.
MIN_DECIDED = 20
# Largest top-1 loss (points) a client may have against Keras on the photos,
# before the allowance for sampling noise (`client_tolerance`).
MAX_GAP = 2.0


def check(ok: bool, detail: str) -> dict:
    return {"ok": bool(ok), "detail": detail}


def entry(file: str, checks: dict, **measured) -> dict:
    """A report entry for one file: its checks, then what was measured."""
    failed = [name for name, item in checks.items() if not item["ok"]]
    return {
        "file": file,
        "status": "failed" if failed else "ok",
        "failed_checks": failed,
        "checks": checks,
        **measured,
    }


def parity(file_logits: np.ndarray, keras_logits: np.ndarray, tolerance: float):
    """The fp32 check: max abs logit difference within `tolerance`."""
    diff = np.abs(file_logits - keras_logits[: len(file_logits)])
    return check(
        float(diff.max()) <= tolerance,
        f"max abs logit difference {diff.max():.3g} (tolerance {tolerance:g})",
    ), {"max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
        "images": len(file_logits)}  # fmt: skip


def decided(keras_logits: np.ndarray) -> np.ndarray:
    """Which images Keras decides: its top-2 probability margin > TIE_MARGIN."""
    probs = softmax(keras_logits)
    top2 = np.sort(probs, axis=1)[:, -2:]
    return (top2[:, 1] - top2[:, 0]) > TIE_MARGIN


def agreement(
    file_top1: np.ndarray,
    keras_logits: np.ndarray,
    minimum: float,
    file_logits: np.ndarray | None = None,
) -> tuple[dict, dict]:
    """Top-1 agreement with Keras, judged where Keras' decision is not a tie.

    A quantised file loses agreement on near-tied predictions without being
    broken (a briefly trained model has many); a broken conversion lands near
    chance on decided images too. With fewer than `MIN_DECIDED` decided
    images the file's own logits (before its output is quantised), else its
    outputs, are judged on every image. Returns `(check, measured)`.
    """
    keras_top1 = keras_logits.argmax(1)
    same = file_top1 == keras_top1[: len(file_top1)]
    sure = decided(keras_logits)[: len(file_top1)]
    overall = float(same.mean())
    measured = {
        "top1_agreement": overall,
        "decided_images": int(sure.sum()),
        "top1_agreement_decided": float(same[sure].mean()) if sure.any() else None,
    }
    if file_logits is not None:
        measured["top1_agreement_logits"] = float(
            np.mean(file_logits.argmax(1) == keras_top1[: len(file_logits)])
        )
    if sure.sum() >= MIN_DECIDED:
        judged = measured["top1_agreement_decided"]
        how = (
            f"on the {int(sure.sum())} of {len(same)} images Keras decides (top-2 "
            f"probability margin > {TIE_MARGIN:g}; {overall:.3f} on all)"
        )
    elif file_logits is not None:
        judged = measured["top1_agreement_logits"]
        how = (
            f"of the file's logits on {len(file_logits)} images (only "
            f"{int(sure.sum())} decided images; outputs {overall:.3f})"
        )
    else:
        judged, how = overall, f"on all {len(same)} images"
    return check(
        judged >= minimum,
        f"top-1 agreement with Keras {judged:.3f} {how} (minimum {minimum:g})",
    ), measured


def client_tolerance(keras_right: np.ndarray, client_right: np.ndarray) -> float:
    """Largest top-1 gap (points) a client may have below Keras on n photos:
    `MAX_GAP` plus two standard errors of the paired difference, 200 x
    sqrt(d / n), d the share of photos exactly one of the two gets right (100
    photos with d = 0.1 allow 2 + 6.3 points; a broken file, tens of points
    below, still fails)."""
    n = len(keras_right)
    discordant = float(np.mean(keras_right != client_right)) if n else 0.0
    return MAX_GAP + (200 * math.sqrt(discordant / n) if n else 0.0)


def clients(keras_right: np.ndarray, client_top1: dict, labels: np.ndarray):
    """The client check: each client's top-1 on the photos against Keras'.

    `client_top1` maps a client name to its top-1 class per photo (None:
    not run, e.g. its runtime is missing). Returns `(measured, check)`.
    """
    keras_accuracy = float(np.mean(keras_right))
    measured = {"photos": len(labels), "keras": keras_accuracy}
    gaps, tolerances = {}, {}
    for client, top1 in client_top1.items():
        if top1 is None:
            measured[client] = None
            continue
        right = top1 == labels
        measured[client] = float(np.mean(right))
        gaps[client] = round(100 * (keras_accuracy - measured[client]), 2)
        tolerances[client] = round(client_tolerance(keras_right, right), 2)
    measured["gap_points"] = gaps
    measured["tolerance_points"] = tolerances
    if not gaps:
        return measured, check(True, "no client runtime installed: not checked")
    worst = max(gaps, key=lambda c: gaps[c] - tolerances[c])
    ok = all(gaps[c] <= tolerances[c] for c in gaps)
    return measured, check(
        ok,
        f"{worst} top-1 {100 * measured[worst]:.1f}% vs Keras "
        f"{100 * keras_accuracy:.1f}% on {len(labels)} held-out photos (at most "
        f"{tolerances[worst]:.1f} points below Keras: {MAX_GAP:g} + two standard "
        "errors of the paired difference)",
    )
