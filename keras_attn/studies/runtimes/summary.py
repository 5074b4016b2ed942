"""From each round's numbers to the result: medians, MAC rates and shares
of peak, ratios paired by round, the targets of issue 28, the fastest fp32
runtime, and the table's entries."""

from __future__ import annotations

import numpy as np

TARGETS = (("unified", "plain", 1.10), ("none", "plain", 1.03))

UNIFIED_OVER_NONE = 1.10


def quartiles(values) -> list[float]:
    return [float(np.percentile(values, q)) for q in (25, 50, 75)]


def summarise(values: dict, macs: dict, threads: list[int]) -> dict:
    """Medians, MAC rates and shares of peak, per key."""
    most = max(threads)
    # Each precision's peak: the fastest of its matmuls (median over rounds).
    measured = {
        (key[1], key[2]): float(np.median(vals))
        for key, vals in values.items()
        if key[0] == "peak"
    }
    peak = {}
    for (name, mode), rate in measured.items():
        precision = name.split("_")[0]
        peak[(precision, mode)] = max(peak.get((precision, mode), 0.0), rate)
    rows = {}
    for key, vals in values.items():
        if key[0] == "peak":
            continue
        size, variant, runtime, mode = key
        median = float(np.median(vals))
        precision = "fp32" if runtime in ("keras",) or "fp32" in runtime else "int8"
        peak_mode = f"t{most}" if mode == "batch" else mode
        per_image = macs[(size, variant)]
        rate = per_image * (median if mode == "batch" else 1000 / median)
        row = {
            "median": median,
            "unit": "images/s" if mode == "batch" else "ms",
            "rounds": [round(v, 3) for v in vals],
            "gmac_per_s": rate / 1e9,
        }
        if (precision, peak_mode) in peak:
            row["peak_share"] = rate / 1e9 / peak[(precision, peak_mode)]
            row["peak"] = f"{precision}, {peak_mode}"
        rows[key] = row
    return {"peak_gmac_per_s": peak, "peak_measured": measured, "rows": rows}


def ratio(values: dict, a: tuple, b: tuple) -> dict | None:
    """a's time over b's, paired by round (a batch's: b's images/s over
    a's); the median and quartiles of the per-round ratios."""
    if a not in values or b not in values:
        return None
    va, vb = np.array(values[a]), np.array(values[b])
    per_round = vb / va if a[3] == "batch" else va / vb
    q1, med, q3 = quartiles(per_round)
    return {"median": round(med, 3), "quartiles": [round(q1, 3), round(q3, 3)]}


def targets(values: dict, sizes, runtimes, threads) -> list[dict]:
    modes = [f"t{t}" for t in threads] + ["batch"]
    found = []
    for size in sizes:
        for runtime in runtimes:
            checks = []
            if "int8" in runtime or runtime == "web":
                checks += [(a, b, limit) for a, b, limit in TARGETS]
            checks.append(("unified", "none", UNIFIED_OVER_NONE))
            for a, b, limit in checks:
                for mode in modes:
                    r = ratio(
                        values, (size, a, runtime, mode), (size, b, runtime, mode)
                    )
                    if r is None:
                        continue
                    found.append(
                        {
                            "size": size,
                            "runtime": runtime,
                            "mode": mode,
                            "ratio": f"{a}/{b}",
                            "limit": limit,
                            **r,
                            "met": r["median"] <= limit,
                        }
                    )
    return found


def fastest_fp32(summary: dict, sizes, threads) -> dict:
    out = {}
    for size in sizes:
        out[size] = {}
        for mode in [f"t{t}" for t in threads] + ["batch"]:
            best = None
            for key, row in summary["rows"].items():
                if key[0] != size or key[3] != mode or key[1] == "plain":
                    continue
                if not (key[2] == "keras" or key[2].endswith("fp32")):
                    continue
                speed = row["median"] if mode == "batch" else 1000 / row["median"]
                if best is None or speed > best[1]:
                    best = (f"{key[2]} ({key[1]})", speed)
            if best:
                out[size][mode] = best[0]
    return out


def table_entries(summary, values, models, runtimes, threads) -> list[dict]:
    modes = [f"t{t}" for t in threads] + ["batch"]
    entries = []
    for size, variant in models:
        for runtime in runtimes:
            by_mode = {
                mode: summary["rows"][(size, variant, runtime, mode)]
                for mode in modes
                if (size, variant, runtime, mode) in summary["rows"]
            }
            if not by_mode:
                continue
            first = modes[0]
            ratios = {}
            for other in ("none", "plain"):
                if other != variant:
                    r = ratio(
                        values,
                        (size, variant, runtime, first),
                        (size, other, runtime, first),
                    )
                    if r:
                        ratios[other] = r
            entries.append(
                {
                    "size": size,
                    "variant": variant,
                    "runtime": runtime,
                    "gmac": summary["macs"][(size, variant)] / 1e9,
                    "modes": by_mode,
                    "ratios": ratios,
                }
            )
    return entries


def jsonable(obj):
    """Tuple keys joined with spaces, numpy scalars as floats."""
    if isinstance(obj, dict):
        return {
            " ".join(map(str, k)) if isinstance(k, tuple) else str(k): jsonable(v)
            for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float):
        return round(obj, 4)
    return obj
