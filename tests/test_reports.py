"""Figures (`reports.figures`), the pointing game and its chance level
(`evaluation.pointing`), and the `python -m keras_attn.visualize` command."""

import os
import subprocess
import sys

import numpy as np
import pytest

from keras_attn.evaluation import pointing
from keras_attn.reports import figures as figures_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_pointing_game_on_hand_made_maps():
    maps = np.zeros((3, 4, 4), np.float32)
    maps[0, 1, 1] = 1  # cell (1, 1): y, x in [0.25, 0.5)
    maps[1, 3, 0] = 1  # cell (3, 0): bottom left
    maps[2, 0, 3] = 1  # cell (0, 3): top right
    boxes = np.array([[0.3, 0.3, 0.6, 0.6]] * 3, np.float32)
    assert pointing.pointing_game(maps, boxes) == pytest.approx(1 / 3)
    assert pointing.pointing_game(maps, np.array([[0, 0, 1, 1]] * 3)) == 1.0


def test_pointing_chance_counts_overlapping_cells():
    boxes = np.array([[0.0, 0.0, 0.5, 0.5], [0.3, 0.3, 0.6, 0.6]], np.float32)
    # 4 of 16 cells for the first box; rows/cols 1-2 (4 cells) for the second.
    assert pointing.pointing_chance((4, 4), boxes) == pytest.approx(4 / 16)
    whole = np.array([[0.0, 0.0, 1.0, 1.0]], np.float32)
    assert pointing.pointing_chance((7, 7), whole) == 1.0


def test_figures_are_written(tmp_path):
    images = np.random.default_rng(0).integers(0, 255, (3, 32, 32, 3)).astype(np.uint8)
    maps = np.random.default_rng(1).random((3, 4, 4)).astype(np.float32)
    path = str(tmp_path / "grid.png")
    figures_lib.plot_attention(
        images, maps, ["a", "b", "c"], path, np.array([[0, 0, 0.5, 0.5]] * 3)
    )
    assert os.path.getsize(path) > 1000
    history = {
        "epoch": np.arange(3.0),
        "loss": np.array([3.0, 2.0, 1.0]),
        "accuracy": np.array([0.1, 0.5, 0.9]),
        "val_loss": np.array([3.0, 2.5, 2.0]),
        "val_accuracy": np.array([0.1, 0.3, 0.4]),
    }
    curves = str(tmp_path / "curves.png")
    figures_lib.plot_curves({"none": history, "unified": history}, curves)
    assert os.path.getsize(curves) > 1000


def test_attention_maps_share_one_scale_and_show_their_cells(tmp_path, monkeypatch):
    """One 0..1 colour scale and one colour bar for every panel (each map was
    stretched to its own range), a 4x4 map drawn as 4x4 flat cells (it was
    smoothed bilinearly), a title and a key for the titles and the box."""
    figures = []
    monkeypatch.setattr(
        figures_lib, "save_figure", lambda fig, path: figures.append(fig)
    )
    images = np.zeros((2, 64, 64, 3), np.uint8)  # black: the map's colours alone
    maps = np.stack([np.arange(16).reshape(4, 4) / 15, np.full((4, 4), 0.5)]).astype(
        np.float32
    )
    titles = figures_lib.prediction_titles(
        np.array([0, 1]), np.array([0, 0]), ["a", "b"]
    )
    assert titles == ["a (ok)", "b (true: a)"]
    boxes = np.array([[0.01, 0.01, 0.05, 0.05]] * 2)  # clear of the cells' centres
    figures_lib.plot_attention(images, maps, titles, "unused.png", boxes, columns=2)
    (fig,) = figures
    overlays = [
        im
        for ax in fig.axes
        for im in ax.get_images()
        if im.get_cmap().name == "inferno"
    ]
    assert len(overlays) == 2
    for im in overlays:
        assert im.get_clim() == (0.0, 1.0) and im.get_interpolation() == "nearest"
    assert len(fig.axes) == 4 + 1  # 2 pairs, one colour bar
    assert fig.get_suptitle() == "Attention maps of held-out images"
    key = fig.get_supxlabel()
    assert "(ok) when it is right, else (true: the right class)" in key
    assert "Cyan box: where the object is." in key
    # Rendered: each of the 16 cells is one flat colour, all 16 different.
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    box = overlays[0].axes.get_window_extent()
    top, left = pixels.shape[0] - box.y1, box.x0
    side = box.width / 4
    colours = set()
    for row in range(4):
        for col in range(4):
            y0, x0 = int(top + (row + 0.3) * side), int(left + (col + 0.3) * side)
            cell = pixels[y0 : y0 + int(0.4 * side), x0 : x0 + int(0.4 * side)]
            assert np.ptp(cell.reshape(-1, 3), axis=0).max() <= 2, (row, col)
            colours.add(tuple(np.median(cell.reshape(-1, 3), axis=0)))
    assert len(colours) == 16


def test_curves_name_the_loss_they_show(tmp_path, monkeypatch):
    figures = []
    monkeypatch.setattr(
        figures_lib, "save_figure", lambda fig, path: figures.append(fig)
    )
    history = {
        "epoch": np.arange(2.0),
        "loss": np.array([1.0, 0.7]),
        "accuracy": np.array([0.5, 0.8]),
    }
    label = figures_lib.loss_label(0.1)
    assert label == "loss (label smoothing 0.1, as trained)"
    assert figures_lib.loss_label(0.0) == "loss (cross-entropy, as trained)"
    figures_lib.plot_curves({"unified": history}, str(tmp_path / "c.png"), label)
    loss_axis, accuracy_axis = figures[0].axes[:2]
    assert loss_axis.get_ylabel() == label
    assert accuracy_axis.get_ylabel() == "accuracy"


@pytest.mark.large
def test_command_without_run_is_one_line_error(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    for args in ([], [f"--run={tmp_path / 'missing'}"]):
        result = subprocess.run(
            [sys.executable, "-m", "keras_attn.visualize", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=120,
        )
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith("error: ")
        assert "Traceback" not in result.stderr
