"""Statistics of a study over seeds: mean and standard deviation, paired
differences against a baseline, and the learning rate chosen on val."""

from __future__ import annotations

import numpy as np


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    values = np.asarray([v for v in values if v is not None], np.float64)
    if values.size == 0:
        return float("nan"), float("nan")
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return float(values.mean()), std


def choose_learning_rate(grid: dict) -> tuple[float, dict]:
    """The rate with the best mean val top-1 over seeds (the first on a tie),
    and every rate's val top-1 as (mean, std), keyed as in results.json.

    `grid` maps each learning rate to its runs (dicts with `val_accuracy`)."""
    summary = {
        lr: mean_std(r["val_accuracy"] for r in runs) for lr, runs in grid.items()
    }
    chosen = max(summary, key=lambda lr: summary[lr][0])
    return chosen, {f"{lr:g}": value for lr, value in summary.items()}


def paired_differences(variants: dict) -> dict:
    """Per-seed `variant - none` differences (same seed = same data), mean +- std."""
    if "none" not in variants:
        return {}
    base = {r["seed"]: r for r in variants["none"]["runs"]}
    out = {}
    for name, entry in variants.items():
        if name == "none":
            continue
        diff = {}
        for key in (
            "val_accuracy",
            "last_val_accuracy",
            "test_accuracy",
            "last_test_accuracy",
        ):
            values = [
                r[key] - base[r["seed"]][key]
                for r in entry["runs"]
                if r["seed"] in base and key in r and key in base[r["seed"]]
            ]
            if values:
                diff[key] = mean_std(values)
        out[name] = diff
    return out
