"""Screens and recipe choices as one table: cells from several
`benchmarks/reproduce.py` results, each paired by seed with a baseline cell.

A cell is one variant of one results file (`<label>:<variant>`). Pairing by
seed is what makes a small difference readable: every seed draws the same
few-shot images for every cell, so `cell - baseline` per seed removes the
draw's share of the spread. Val chooses; test is reported beside it, never
used to choose.
"""

from __future__ import annotations

import json
import os

from keras_attn.studies.stats import mean_std

KEYS = ("val_accuracy", "last_val_accuracy", "test_accuracy", "last_test_accuracy")


def load_cells(paths: dict[str, str]) -> dict[str, dict]:
    """`{label: results.json path}` -> `{"label:variant": {seed: run}}`."""
    cells = {}
    for label, path in paths.items():
        with open(path) as f:
            results = json.load(f)
        for variant, entry in results["variants"].items():
            name = f"{label}:{variant}" if label else variant
            cells[name] = {r["seed"]: r for r in entry["runs"]}
    return cells


def default_baseline(name: str, cells: dict) -> str | None:
    """`none` of the same results for a stage-4 cell (and for `none@34`, the
    two-stage head without attention), `none@34` for a cell with attention
    on stage 3."""
    label, _, variant = name.rpartition(":")
    prefix = f"{label}:" if label else ""
    attended_stage3 = "@3" in variant and not variant.startswith("none")
    wanted = "none@34" if attended_stage3 else "none"
    candidate = prefix + wanted
    return candidate if candidate in cells and candidate != name else None


def paired(cell: dict, base: dict, key: str):
    values = [
        run[key] - base[seed][key]
        for seed, run in cell.items()
        if seed in base and key in run and key in base[seed]
    ]
    return mean_std(values) if values else None


def rows(cells: dict, baselines: dict | None = None) -> list[dict]:
    """One row per cell: mean ± std of each key, and the paired difference to
    its baseline (`baselines[name]`, else `default_baseline`)."""
    out = []
    for name, cell in cells.items():
        base_name = (baselines or {}).get(name) or default_baseline(name, cells)
        row = {"cell": name, "seeds": sorted(cell), "baseline": base_name}
        for key in KEYS:
            values = [run[key] for run in cell.values() if key in run]
            row[key] = mean_std(values) if values else None
            if base_name:
                row[f"{key}_minus_baseline"] = paired(cell, cells[base_name], key)
        out.append(row)
    return out


def markdown(table: list[dict]) -> str:
    def pm(value):
        return "-" if value is None else f"{100 * value[0]:.1f} ± {100 * value[1]:.1f}"

    lines = [
        "| cell | seeds | val % | val - base | val last % | test % | test - base "
        "| test last - base | base |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in table:
        lines.append(
            f"| `{r['cell']}` | {len(r['seeds'])} | {pm(r['val_accuracy'])} | "
            f"{pm(r.get('val_accuracy_minus_baseline'))} | "
            f"{pm(r['last_val_accuracy'])} | {pm(r['test_accuracy'])} | "
            f"{pm(r.get('test_accuracy_minus_baseline'))} | "
            f"{pm(r.get('last_test_accuracy_minus_baseline'))} | "
            f"{'`' + r['baseline'] + '`' if r['baseline'] else '-'} |"
        )
    return "\n".join(lines) + "\n"


def parse_sources(text: str) -> dict[str, str]:
    """`label=path,label=path` (or bare paths: the label is the folder name)."""
    sources = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        label, _, path = item.rpartition("=")
        if os.path.isdir(path):
            path = os.path.join(path, "results.json")
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"No results at {path}; run benchmarks/reproduce.py."
            )
        sources[label or os.path.basename(os.path.dirname(path))] = path
    return sources
