"""The pointing game (Zhang et al., 2016): the share of images whose
attention maximum falls inside the object's box, which `shapes` makes
measurable because every image carries its box."""

from __future__ import annotations

import numpy as np


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


def pointing_chance(maps_shape: tuple[int, int], boxes: np.ndarray) -> float:
    """Expected pointing-game score of a uniformly random map cell.

    The share of the `maps_shape` (s_h, s_w) grid's cells that overlap each
    box (N, 4), averaged over boxes.
    """
    s_h, s_w = maps_shape
    rows = np.arange(s_h)[:, None]
    cols = np.arange(s_w)[None, :]
    ymin, xmin, ymax, xmax = (boxes[:, i, None, None] for i in range(4))
    overlap = (
        (rows / s_h < ymax)
        & ((rows + 1) / s_h > ymin)
        & (cols / s_w < xmax)
        & ((cols + 1) / s_w > xmin)
    )
    return float(overlap.mean(axis=(1, 2)).mean())


def centre_pointing(shape: tuple[int, int], boxes: np.ndarray) -> float:
    """Pointing-game score of the best constant map that peaks on one of the
    central cells of an (s_h, s_w) grid (one cell for odd sides, the best of
    the two to four middle cells for even ones)."""
    s_h, s_w = shape
    rows = [s_h // 2] if s_h % 2 else [s_h // 2 - 1, s_h // 2]
    cols = [s_w // 2] if s_w % 2 else [s_w // 2 - 1, s_w // 2]
    best = 0.0
    for r in rows:
        for c in cols:
            maps = np.zeros((len(boxes), s_h, s_w), np.float32)
            maps[:, r, c] = 1.0
            best = max(best, pointing_game(maps, boxes))
    return best


def summary(maps: np.ndarray, boxes: np.ndarray) -> dict:
    """The pointing game of maps (N, s, s) against their boxes, beside a
    constant centre map and chance: what a run records and says in one line."""
    shape = maps.shape[1:]
    return {
        "images": len(maps),
        "map_size": list(shape),
        "max_in_box": pointing_game(maps, boxes),
        "centre_map": centre_pointing(shape, boxes),
        "chance": pointing_chance(shape, boxes),
    }


def sentence(score: dict) -> str:
    """`summary` in one line, for the figure and the model card."""
    h, w = score["map_size"]
    return (
        f"Pointing game on {score['images']} held-out images: the {h}x{w} map's "
        f"maximum falls on the object's box for {100 * score['max_in_box']:.1f}% "
        f"(a constant centre map: {100 * score['centre_map']:.1f}%; a random "
        f"cell: {100 * score['chance']:.1f}%)."
    )
