"""Figures of a run: training curves and images with their attention maps.

Also the pointing game (Zhang et al., 2016): the share of images whose
attention maximum falls inside the object's box, which `shapes` makes
measurable because every image carries its box.
"""

import csv

import numpy as np

from keras_attn import io_utils


def _pyplot():
    try:
        import matplotlib
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise ImportError("Plotting needs matplotlib: pip install matplotlib") from e
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def read_history(path: str) -> dict[str, np.ndarray]:
    """Reads a Keras `CSVLogger` file into columns, keeping the last row per epoch."""
    with open(path) as f:
        rows = list(csv.DictReader(f))
    by_epoch = {int(r["epoch"]): r for r in rows}
    rows = [by_epoch[e] for e in sorted(by_epoch)]
    if not rows:
        return {}
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def plot_curves(histories: dict[str, dict[str, np.ndarray]], path: str) -> None:
    """Loss and accuracy per epoch for one or more runs (label -> history)."""
    plt = _pyplot()
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
    for ax, key in zip(axes, ("loss", "accuracy"), strict=True):
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def plot_attention(
    images: np.ndarray,
    maps: np.ndarray,
    titles: list[str],
    path: str,
    boxes: np.ndarray | None = None,
    columns: int = 8,
) -> None:
    """A grid of images (N, h, w, 3) with their maps (N, s, s) overlaid."""
    plt = _pyplot()
    n = len(images)
    rows = int(np.ceil(n / columns))
    fig, axes = plt.subplots(
        rows, columns, figsize=(2 * columns, 2.2 * rows), squeeze=False
    )
    for ax in axes.ravel():
        ax.axis("off")
    for i, ax in enumerate(axes.ravel()[:n]):
        h, w = images[i].shape[:2]
        ax.imshow(images[i].astype(np.uint8))
        # Stretched per image: maps often span a narrow band (e.g. 0.3-0.65).
        ax.imshow(
            maps[i],
            cmap="jet",
            alpha=0.5,
            extent=(0, w, h, 0),
            interpolation="bilinear",
            vmin=float(maps[i].min()),
            vmax=max(float(maps[i].max()), float(maps[i].min()) + 1e-6),
        )
        if boxes is not None:
            y0, x0, y1, x1 = boxes[i] * np.array([h, w, h, w])
            ax.add_patch(
                plt.Rectangle(
                    (x0, y0),
                    x1 - x0,
                    y1 - y0,
                    fill=False,
                    edgecolor="white",
                    linewidth=1.5,
                )
            )
        ax.set_title(titles[i], fontsize=7)
    fig.tight_layout()
    _save(fig, path)


def pointing_game(maps: np.ndarray, boxes: np.ndarray) -> float:
    """Share of maps (N, s, s) whose maximum lies in the box (N, 4), [0, 1] coords.

    A map cell counts as a hit when the cell's area overlaps the box, the
    usual tolerance for coarse maps (a 4x4 map has 32-pixel cells).
    """
    n, s_h, s_w = maps.shape
    flat = maps.reshape(n, -1).argmax(axis=1)
    row, col = flat // s_w, flat % s_w
    cell_y0, cell_y1 = row / s_h, (row + 1) / s_h
    cell_x0, cell_x1 = col / s_w, (col + 1) / s_w
    ymin, xmin, ymax, xmax = boxes.T
    hit = (cell_y0 < ymax) & (cell_y1 > ymin) & (cell_x0 < xmax) & (cell_x1 > xmin)
    return float(hit.mean())


def _save(fig, path: str) -> None:
    plt = _pyplot()
    with io_utils.atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
