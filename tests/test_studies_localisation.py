"""The pointing game's reference maps and the maps' variability, on known maps."""

import numpy as np
import pytest

from keras_attn.evaluation import pointing
from keras_attn.studies import localisation

# Boxes [ymin, xmin, ymax, xmax] in [0, 1].
CENTRE = [0.4, 0.4, 0.6, 0.6]
TOP_LEFT = [0.0, 0.0, 0.2, 0.2]


def test_centre_map_points_at_central_objects_only():
    boxes = np.array([CENTRE, CENTRE, CENTRE, TOP_LEFT], np.float32)
    assert pointing.centre_pointing((7, 7), boxes) == 0.75
    # Even sides: the best of the four middle cells; a box right of centre.
    right = np.array([[0.45, 0.55, 0.55, 0.7]] * 3 + [TOP_LEFT], np.float32)
    assert pointing.centre_pointing((4, 4), right) == 0.75


def test_variability_separates_a_fixed_prior_from_maps_that_move():
    rng = np.random.default_rng(0)
    prior = np.outer(np.hanning(7), np.hanning(7))
    fixed = prior[None] * rng.uniform(0.5, 1.0, (50, 1, 1))  # scaled copies
    score = localisation.variability(fixed)
    assert score["correlation_median"] == pytest.approx(1.0)
    moving = np.zeros((50, 7, 7))
    moving[np.arange(50), rng.integers(0, 7, 50), rng.integers(0, 7, 50)] = 1.0
    score = localisation.variability(moving)
    assert score["correlation_median"] < 0.3
    assert score["distance"] > 1.0
