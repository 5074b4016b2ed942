"""The backbone modes side by side: `frozen`, `finetune` and `lp-ft`.

`benchmarks/reproduce.py` writes one `results.json` per dataset and
protocol. `summarise(cells)` puts them in one table: per dataset and mode,
test top-1 of `none` and `unified` (the best-val checkpoint train.py keeps),
their paired difference (same seed, same images) at that checkpoint and at
the last epoch, the benchmark run's wall seconds (median over every run of
the cell), its ratio to `finetune`'s, and each mode's paired difference to
`finetune` for both variants at both epochs: what `frozen` gives up, what
`lp-ft` adds.
"""

import numpy as np

from keras_attn.studies.stats import mean_std

MODES = ("frozen", "finetune", "lp-ft")


def _by_seed(results: dict, variant: str, key: str) -> dict[int, float]:
    runs = results["variants"].get(variant, {}).get("runs", [])
    return {r["seed"]: r[key] for r in runs if r.get(key) is not None}


def _paired(a: dict[int, float], b: dict[int, float]) -> dict | None:
    """`a - b` over the seeds both have: mean, sample std (as every table),
    per seed; in percentage points."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    diffs = [(a[s] - b[s]) * 100 for s in seeds]
    mean, std = mean_std(diffs)
    return {
        "mean": mean,
        "std": std,
        "seeds": len(seeds),
        "per_seed": {str(s): round(d, 2) for s, d in zip(seeds, diffs, strict=True)},
    }


def _mean_std(values: dict[int, float]) -> dict | None:
    if not values:
        return None
    mean, std = mean_std([v * 100 for v in values.values()])
    return {"mean": mean, "std": std, "seeds": len(values)}


def _walls(results: dict) -> list[float]:
    """Every run's wall seconds in a cell, both variants."""
    return [
        r["wall_seconds"]
        for v in results["variants"].values()
        for r in v.get("runs", [])
        if r.get("wall_seconds")
    ]


def summarise(cells: dict[tuple[str, str], dict]) -> list[dict]:
    """One row per (dataset, mode) from `{(dataset, mode): results.json}`."""
    rows = []
    for (dataset, mode), results in sorted(
        cells.items(), key=lambda c: (c[0][0], MODES.index(c[0][1]))
    ):
        walls = _walls(results)
        row = {
            "dataset": dataset,
            "mode": mode,
            "wall_seconds": float(np.median(walls)) if walls else None,
        }
        for variant in ("none", "unified"):
            row[variant] = _mean_std(_by_seed(results, variant, "test_accuracy"))
        for key in ("test_accuracy", "last_test_accuracy"):
            row[f"unified_minus_none_{key}"] = _paired(
                _by_seed(results, "unified", key), _by_seed(results, "none", key)
            )
        finetune = cells.get((dataset, "finetune"))
        if finetune is not None and mode != "finetune":
            row["minus_finetune"] = {
                variant: {
                    key: _paired(
                        _by_seed(results, variant, key),
                        _by_seed(finetune, variant, key),
                    )
                    for key in ("test_accuracy", "last_test_accuracy")
                }
                for variant in ("none", "unified")
            }
            base = _walls(finetune)
            if base and walls:
                row["wall_vs_finetune"] = row["wall_seconds"] / float(np.median(base))
        rows.append(row)
    return rows


def _pm(value: dict | None, sign: str = "") -> str:
    if value is None:
        return "-"
    if value["seeds"] == 1:  # no spread to show
        return f"{value['mean']:{sign}.1f} (1 seed)"
    return f"{value['mean']:{sign}.1f} ± {value['std']:.1f}"


def _versus_finetune(row: dict, key: str) -> str:
    diffs = row.get("minus_finetune")
    if diffs is None:
        return "-"
    return " / ".join(_pm(diffs[variant][key], "+") for variant in ("none", "unified"))


def markdown(rows: list[dict]) -> str:
    """The table: test top-1 %, paired differences in points, wall time."""
    lines = [
        "| dataset | `--backbone` | `none` test top-1 % | `unified` test top-1 % "
        "| paired `unified - none` (per seed) | same, last epoch "
        "| minus `finetune`'s, `none` / `unified` | same, last epoch "
        "| wall s/run (x `finetune`) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        diff = r["unified_minus_none_test_accuracy"]
        per_seed = (
            ""
            if diff is None
            else ", ".join(f"{d:+.1f}" for d in diff["per_seed"].values())
        )
        wall = "-" if r["wall_seconds"] is None else f"{r['wall_seconds']:.0f}"
        if r.get("wall_vs_finetune") is not None:
            wall += f" ({r['wall_vs_finetune']:.2f}x)"
        lines.append(
            f"| {r['dataset']} | `{r['mode']}` | {_pm(r['none'])} | "
            f"{_pm(r['unified'])} | **{_pm(diff, '+')}** ({per_seed}) | "
            f"{_pm(r['unified_minus_none_last_test_accuracy'], '+')} | "
            f"{_versus_finetune(r, 'test_accuracy')} | "
            f"{_versus_finetune(r, 'last_test_accuracy')} | {wall} |"
        )
    return "\n".join(lines) + "\n"
