"""Figures of a run: training curves and images with their attention maps.

`visualize_run` is what `python -m keras_attn.visualize` (the command, in
`keras_attn/visualize.py`) writes: `attention_grid.png` (held-out images
with the attention map overlaid), `pointing_game.json` for `shapes` runs
(map maximum, map minimum and chance level, `evaluation.pointing`), and
`curves_compare.png` (two runs' training curves on one plot). It reads only
the run folder (the held-out images it keeps, `runs/samples.py`), so it
works after the training data moved.
"""

import os

import numpy as np

from keras_attn import runs
from keras_attn.evaluation import pointing
from keras_attn.utils import atomic_io
from keras_attn.utils.plotting import pyplot, save_figure


def loss_label(label_smoothing: float | None) -> str:
    """The loss axis's name. `history.csv`'s `loss` and `val_loss` are the
    training objective, label-smoothed (higher than the plain cross-entropy
    that metrics.json and the model card report)."""
    return f"loss ({_objective(label_smoothing)}, as trained)"


def _objective(label_smoothing: float | None) -> str:
    if not label_smoothing:
        return "cross-entropy"
    return f"label smoothing {label_smoothing:g}"


def plot_curves(
    histories: dict[str, dict[str, np.ndarray]],
    path: str,
    loss_name: str = "loss (as trained)",
) -> None:
    """Loss and accuracy per epoch for one or more runs (label -> history);
    `loss_name` labels the loss axis (`loss_label`)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for label, h in histories.items():
        epochs = h["epoch"] + 1
        for ax, key in zip(axes, ("loss", "accuracy"), strict=True):
            (line,) = ax.plot(epochs, h[key], label=f"{label} train")
            if f"val_{key}" in h:
                ax.plot(
                    epochs,
                    h[f"val_{key}"],
                    "--",
                    color=line.get_color(),
                    label=f"{label} val",
                )
    from matplotlib.ticker import MaxNLocator

    for ax, key in zip(axes, (loss_name, "accuracy"), strict=True):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def prediction_titles(
    predicted: np.ndarray, true: np.ndarray, class_names: list[str], width: int = 14
) -> list[str]:
    """`"<predicted> (ok)"` when right, else `"<predicted> (true: <true>)"`,
    each name cut to `width` characters (`plot_attention`'s key explains it)."""
    return [
        f"{class_names[p][:width]} "
        + ("(ok)" if p == t else f"(true: {class_names[t][:width]})")
        for p, t in zip(predicted, true, strict=True)
    ]


def plot_attention(
    images: np.ndarray,
    maps: np.ndarray,
    titles: list[str],
    path: str,
    boxes: np.ndarray | None = None,
    columns: int = 4,
    title: str = "Attention maps of held-out images",
    note: str | None = None,
) -> None:
    """A grid of images (N, h, w, 3), each beside its attention map (N, s, s).

    Left: the image as it is, titled by `prediction_titles`. Right: the same
    image in grey, so its colours do not fight the map, under the map at 60 %
    opacity in a perceptually uniform colormap (`inferno`: dark = low,
    bright = high). Every map is drawn on one scale, 0 to 1 (the range of
    every map `classifier.attention_model` gives), with one colour bar, so
    panels compare; each cell is one flat square (no smoothing: a 4x4 map
    shows 4x4 cells). `boxes` (N, 4), [0, 1] `(y0, x0, y1, x1)`, are drawn in
    cyan on both (`shapes`: the object). A key under the grid says all this,
    and `note` (e.g. what the pointing game measured) after it.
    """
    plt = pyplot()
    n = len(images)
    rows = int(np.ceil(n / columns))
    fig, axes = plt.subplots(
        rows,
        2 * columns,
        figsize=(4.4 * columns + 1.0, 2.4 * rows + 1.0),
        squeeze=False,
        layout="constrained",
    )
    for ax in axes.ravel():
        ax.axis("off")
    shown = None
    for i in range(n):
        image_ax, map_ax = axes[i // columns, 2 * (i % columns) : 2 * (i % columns) + 2]
        image = images[i].astype(np.uint8)
        h, w = image.shape[:2]
        grey = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114])
        image_ax.imshow(image)
        map_ax.imshow(grey, cmap="gray", vmin=0, vmax=255)
        shown = map_ax.imshow(
            maps[i],
            cmap="inferno",
            alpha=0.6,
            extent=(0, w, h, 0),
            interpolation="nearest",
            vmin=0.0,
            vmax=1.0,
        )
        if boxes is not None:
            y0, x0, y1, x1 = boxes[i] * np.array([h, w, h, w])
            for ax in (image_ax, map_ax):
                ax.add_patch(
                    plt.Rectangle(
                        (x0, y0),
                        x1 - x0,
                        y1 - y0,
                        fill=False,
                        edgecolor="cyan",
                        linewidth=1.2,
                    )
                )
        image_ax.set_title(titles[i], fontsize=7)
        map_ax.set_title(f"attention {maps[i].shape[0]}x{maps[i].shape[1]}", fontsize=7)
    if shown is not None:
        bar = fig.colorbar(shown, ax=axes.ravel().tolist(), fraction=0.02, pad=0.01)
        bar.set_label("attention (one scale for every map)", fontsize=8)
        bar.ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=10)
    key = (
        "Each pair: the image, titled with the predicted class and (ok) when it "
        "is right, else (true: the right class); beside it, its attention map "
        "over the image in grey, one flat square per map cell."
    )
    if boxes is not None:
        key += " Cyan box: where the object is."
    if note:
        key += " " + note
    fig.supxlabel(key, fontsize=7, wrap=True)
    save_figure(fig, path)


def visualize_run(
    run_dir: str, compare: str | None = None, out: str | None = None, count=16
) -> dict:
    """Writes a run's attention grid, pointing game (`shapes`) and curves.

    Returns what it wrote: `{"attention_grid": path, "pointing_game": {...},
    "curves": path}`.
    """
    from keras_attn.models import classifier

    out = out or run_dir
    os.makedirs(out, exist_ok=True)
    run = runs.load_run(run_dir)  # the images it keeps: no training data needed
    split = run.samples.held_out
    written = {}

    n = min(count, len(split))
    probs, maps = classifier.predict_with_attention(run.model, split.images[:n])
    titles = prediction_titles(probs.argmax(1), split.labels[:n], run.labels)
    boxes = split.boxes[:n] if split.boxes is not None else None
    written["attention_grid"] = os.path.join(out, "attention_grid.png")
    plot_attention(split.images[:n], maps, titles, written["attention_grid"], boxes)

    if split.boxes is not None:
        _, maps = classifier.predict_with_attention(run.model, split.images)
        score = {
            "images": int(len(split)),
            "split": run.samples.held_out_split,
            "map": _map_kind(run.model),
            "pointing_max": pointing.pointing_game(maps, split.boxes),
            "pointing_min": pointing.pointing_game(-maps, split.boxes),
            "pointing_chance": pointing.pointing_chance(maps.shape[1:], split.boxes),
        }
        atomic_io.write_json(os.path.join(out, "pointing_game.json"), score)
        written["pointing_game"] = score

    folders = [run_dir, *([compare] if compare else [])]
    smoothing = [_config(folder).get("label_smoothing") for folder in folders]
    histories = {_label(folder): _history(folder) for folder in folders}
    loss_name = loss_label(smoothing[0])
    if len(set(smoothing)) > 1:  # each run's own, in the legend
        loss_name = "loss (as trained)"
        histories = {
            f"{label} ({_objective(s)})": h
            for (label, h), s in zip(histories.items(), smoothing, strict=True)
        }
    written["curves"] = os.path.join(out, "curves_compare.png")
    plot_curves(histories, written["curves"], loss_name)
    return written


def _map_kind(model) -> str:
    try:
        layer = model.get_layer("attention")
    except ValueError:
        layer = None
    if layer is not None and type(layer).__name__ in (
        "UnifiedSpatialAttention",
        "CBAM",
    ):
        return "the attention layer's spatial map"
    return "channel mean of |features| before the pool (no spatial map)"


def _config(run_dir: str) -> dict:
    if os.path.exists(runs.path(run_dir, runs.CONFIG)):
        return runs.read_config(run_dir)
    return {}


def _label(run_dir: str) -> str:
    if os.path.exists(runs.path(run_dir, runs.CONFIG)):
        config = runs.read_config(run_dir)
        branches = config.get("branches")
        suffix = f"[{','.join(branches)}]" if branches else ""
        return f"{config.get('attention', '?')}{suffix}"
    return os.path.basename(os.path.normpath(run_dir))


def _history(run_dir: str) -> dict[str, np.ndarray]:
    runs.require(run_dir, runs.HISTORY)
    history = runs.read_history(run_dir)
    if not history:
        raise ValueError(
            f"{runs.path(run_dir, runs.HISTORY)} is empty: the run finished no epoch."
        )
    return history
