"""The tables and figures of `benchmarks/reproduce.py`'s results.

`markdown(results)` is `results.md`: per variant the chosen learning rate,
val and test top-1 (best-val checkpoint and last epoch) and loss, mean ± std
over seeds, parameters, MACs, wall seconds per run; then the paired
differences to `none`. `plot_results_curves` draws seed 0's training curves.
"""

import os

import numpy as np

from keras_attn.reports import figures
from keras_attn.utils import atomic_io


def _pm(value, scale=100.0, digits=1) -> str:
    if value is None:
        return "-"
    mean, std = value
    if np.isnan(mean):
        return "-"
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def markdown_row(name: str, e: dict) -> str:
    flops = e.get("flops")
    gmacs = "-" if flops is None else f"{flops / 2e9:.3f}"
    wall = e.get("wall_seconds")
    cells = [
        f"`{name}`",
        f"{e['chosen_learning_rate']:g}",
        _pm(e.get("val_accuracy")),
        _pm(e.get("test_accuracy")),
        _pm(e.get("last_test_accuracy")),
        _pm(e.get("test_loss"), 1, 3),
        f"{e['parameters'] / 1e6:.3f}",
        gmacs,
        "-" if wall is None else f"{wall[0]:.0f}",
    ]
    return "| " + " | ".join(cells) + " |"


def markdown(results: dict) -> str:
    c = results["config"]
    d = results["dataset"]
    lines = [
        f"### {d['name']} ({c['protocol']} protocol)",
        "",
        f"{d['classes']} classes; train {d['train']}, val {d['val']}, test "
        f"{d['test'] or 'none'} images per seed; {c['image_size']} px; "
        f"epochs {c['epochs'] or 'of the recipe'}"
        f"{'' if c['protocol'] != 'lp-ft' else ' after the probe'}; "
        f"seeds {', '.join(map(str, c['seeds']))}; "
        f"learning rate chosen per variant from "
        f"{', '.join(f'{lr:g}' for lr in c['learning_rates'])} by mean val "
        f"top-1; backend {results['backend']}.",
        "",
        "| variant | lr | val top-1 % | test top-1 % | test top-1 % (last epoch) "
        "| test loss | params (M) | GMACs/img | wall s/run |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, e in results["variants"].items():
        lines.append(markdown_row(name, e))
    last = {
        n: e["last_val_accuracy"]
        for n, e in results["variants"].items()
        if "last_val_accuracy" in e
    }
    if last:
        lines += [
            "",
            "val and test top-1 above are the best-val epoch's checkpoint (what "
            "train.py keeps; its val is selected on val, so optimistic). Last "
            "epoch's val, unselected: "
            + ", ".join(f"`{n}` {_pm(v)}" for n, v in last.items())
            + ".",
        ]
    diffs = results.get("differences", {})
    if diffs:
        header, rule = "| variant | Δ val top-1 |", "| --- | --- |"
        keys = ["val_accuracy"]
        if last:
            header, rule = header + " Δ last-epoch val top-1 |", rule + " --- |"
            keys.append("last_val_accuracy")
        lines += [
            "",
            "Paired difference to `none` (same seed, same images), "
            "percentage points, mean ± std over seeds:",
            "",
            header + " Δ test top-1 | Δ test top-1 (last epoch) |",
            rule + " --- | --- |",
        ]
        for name, diff in diffs.items():
            cells = [
                _pm(diff.get(k)) for k in (*keys, "test_accuracy", "last_test_accuracy")
            ]
            lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    pointing = {n: e for n, e in results["variants"].items() if "pointing_max" in e}
    if pointing:
        lines += [
            "",
            "Pointing game on the test split (share of images whose map "
            "maximum / minimum falls on the object's box; chance = share of "
            "map cells on the box). `unified*` and `cbam`: the layer's "
            "attention map; `none`, `se`, `eca`: the channel mean of the "
            "features entering the pool.",
            "",
            "| variant | map max in box % | map min in box % | chance % |",
            "| --- | --- | --- | --- |",
        ]
        for name, e in pointing.items():
            lines.append(
                f"| `{name}` | {_pm(e['pointing_max'])} | "
                f"{_pm(e['pointing_min'])} | {_pm(e['pointing_chance'])} |"
            )
    return "\n".join(lines) + "\n"


def portable(path: str, root: str | None = None) -> str:
    """A path as a results file records it: relative to `root` (default: the
    working directory, the repository for every benchmark command) when it
    lies under it, else the folder's or file's own name, so a results file
    names no path of the machine that made it."""
    relative = os.path.relpath(path, root or os.getcwd())
    if not relative.startswith(os.pardir):
        return relative
    return os.path.basename(os.path.normpath(path))


def portable_paths(obj, root: str | None = None):
    """`obj` with every absolute path string made `portable`."""
    if isinstance(obj, dict):
        return {k: portable_paths(v, root) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [portable_paths(v, root) for v in obj]
    if isinstance(obj, str) and os.path.isabs(obj):
        return portable(obj, root)
    return obj


def write_results(results: dict, out: str) -> None:
    atomic_io.write_json(os.path.join(out, "results.json"), portable_paths(results))
    atomic_io.write_text(os.path.join(out, "results.md"), markdown(results))


def plot_results_curves(
    results: dict, path: str, variants: tuple[str, ...] = ("none", "unified")
) -> None:
    """Training curves (seed 0, chosen learning rate) of variants, one plot."""
    histories = {}
    for name in variants:
        history = results["variants"].get(name, {}).get("history_seed0")
        if history:
            columns = {k: np.asarray(v) for k, v in history.items()}
            columns["epoch"] = np.arange(len(columns["loss"]), dtype=np.float64)
            histories[name] = columns
    if not histories:
        raise ValueError(f"No training history for {', '.join(variants)}.")
    figures.plot_curves(histories, path)
