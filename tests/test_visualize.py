"""keras_attn.visualize: pointing game, chance level, figures and the command."""

import os
import subprocess
import sys

import numpy as np
import pytest

from keras_attn import visualize

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_pointing_game_on_hand_made_maps():
    maps = np.zeros((3, 4, 4), np.float32)
    maps[0, 1, 1] = 1  # cell (1, 1): y, x in [0.25, 0.5)
    maps[1, 3, 0] = 1  # cell (3, 0): bottom left
    maps[2, 0, 3] = 1  # cell (0, 3): top right
    boxes = np.array([[0.3, 0.3, 0.6, 0.6]] * 3, np.float32)
    assert visualize.pointing_game(maps, boxes) == pytest.approx(1 / 3)
    assert visualize.pointing_game(maps, np.array([[0, 0, 1, 1]] * 3)) == 1.0


def test_pointing_chance_counts_overlapping_cells():
    boxes = np.array([[0.0, 0.0, 0.5, 0.5], [0.3, 0.3, 0.6, 0.6]], np.float32)
    # 4 of 16 cells for the first box; rows/cols 1-2 (4 cells) for the second.
    assert visualize.pointing_chance((4, 4), boxes) == pytest.approx(4 / 16)
    whole = np.array([[0.0, 0.0, 1.0, 1.0]], np.float32)
    assert visualize.pointing_chance((7, 7), whole) == 1.0


def test_figures_are_written(tmp_path):
    images = np.random.default_rng(0).integers(0, 255, (3, 32, 32, 3)).astype(np.uint8)
    maps = np.random.default_rng(1).random((3, 4, 4)).astype(np.float32)
    path = str(tmp_path / "grid.png")
    visualize.plot_attention(
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
    visualize.plot_curves({"none": history, "unified": history}, curves)
    assert os.path.getsize(curves) > 1000


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
