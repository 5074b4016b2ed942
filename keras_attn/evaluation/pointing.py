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
