"""Does an attention map localise the object? The pointing game, its two
reference maps, and how much the map changes from image to image.

On `shapes` every held-out image comes with the object's box. A map
"points" at the object when its maximum falls on the box (Zhang et al.,
2016, `pointing.pointing_game`). Two maps that need no attention set the
bar a learned map has to clear:

- a constant centre map: the best single central cell, the same for every
  image (the objects are more often central, so a position prior scores
  well without looking at the image);
- the backbone's channel mean: the mean |activation| over channels of the
  stage map the attention sits on (what the frozen features already say).

A map that is nearly the same for every image is a position prior, whatever
it scores: `variability` measures each map's correlation with the mean map
and its mean absolute distance from it.
"""

from __future__ import annotations

import keras
import numpy as np

from keras_attn import runs
from keras_attn.evaluation import pointing
from keras_attn.models import classifier


def channel_mean_maps(model: keras.Model, images: np.ndarray, size: int) -> np.ndarray:
    """(N, size, size): mean |activation| over channels of the backbone's
    stage map with `size` cells a side (stage 4, or stage 3 when the model
    reads it), per image."""
    from keras_attn.training import feature_cache

    extractor = feature_cache.feature_extractor(model)
    outputs = extractor.predict(images.astype(np.float32), batch_size=32, verbose=0)
    if not isinstance(outputs, list):
        outputs = [outputs]
    for stage_map in outputs:
        if stage_map.shape[1] == size:
            return np.abs(stage_map).mean(-1)
    raise ValueError(f"{model.name} has no backbone map with {size} cells a side.")


def variability(maps: np.ndarray) -> dict:
    """How far each map (N, s, s) is from the mean map: the median (and 10th
    percentile) Pearson correlation with it, and the mean absolute distance
    to it relative to the maps' mean value."""
    flat = maps.reshape(len(maps), -1).astype(np.float64)
    mean = flat.mean(0)
    centred = flat - flat.mean(1, keepdims=True)
    reference = mean - mean.mean()
    norms = np.linalg.norm(centred, axis=1) * np.linalg.norm(reference)
    correlation = (centred @ reference) / np.maximum(norms, 1e-12)
    return {
        "correlation_median": float(np.median(correlation)),
        "correlation_p10": float(np.percentile(correlation, 10)),
        "distance": float(np.abs(flat - mean).mean() / max(abs(mean.mean()), 1e-12)),
        "correlation": correlation.round(4).tolist(),
    }


def score_run(run_dir: str) -> dict:
    """The pointing game of a finished `shapes` run on the held-out images it
    keeps, beside its two reference maps, and its maps' variability."""
    run = runs.load_run(run_dir)
    held_out = run.samples.held_out
    if held_out.boxes is None:
        raise ValueError(f"{run_dir} keeps no object boxes: train on `shapes`.")
    _, maps = classifier.predict_with_attention(run.model, held_out.images)
    size = maps.shape[1]
    boxes = held_out.boxes
    channel = channel_mean_maps(run.model, held_out.images, size)
    inside = []
    for image_map, box in zip(maps, boxes, strict=True):
        y0, x0, y1, x1 = (box * size).round().astype(int)
        inside.append(image_map[y0 : max(y1, y0 + 1), x0 : max(x1, x0 + 1)].mean())
    return {
        "images": len(held_out),
        "map_size": size,
        "map": "spatial attention"
        if classifier.spatial_attention_layers(run.model)
        else "channel mean of the features entering the pool",
        "pointing_max": pointing.pointing_game(maps, boxes),
        "pointing_min": pointing.pointing_game(-maps, boxes),
        "pointing_centre": pointing.centre_pointing((size, size), boxes),
        "pointing_channel_mean": pointing.pointing_game(channel, boxes),
        "pointing_chance": pointing.pointing_chance((size, size), boxes),
        "inside_box_mean": float(np.mean(inside)),
        "map_mean": float(maps.mean()),
        "variability": variability(maps),
        "mean_map": maps.mean(0).round(4).tolist(),
    }
