"""Frozen-backbone training on cached features (`--backbone=frozen|lp-ft`).

With the backbone frozen (BatchNorm in inference mode), its output for an
image never changes, so it is computed once per image, and once for the
image flipped left-right (the augmentation this mode keeps), and cached;
the attention module and the head then train on the cached maps: seconds
per epoch instead of minutes. The run still writes the whole classifier
(raw pixels in): the trained head's weights are copied into it
(`copy_head`).

`FeatureCache` keeps the maps as float16 rows of a memory-mapped file under
the cache folder (`data/cache.py`'s), so memory stays bounded like the
image cache, and later runs and seeds reuse them. An entry is keyed by the
backbone weights (the checkpoint's files, sizes and modification times, or
the keras-hub handle), the model's working size and the stored image shape,
and each row by a hash of the image's pixels: features from other weights,
another size or other images are never reused. An entry found damaged (an
index that does not load, a data file shorter than its index says) is named
in a warning and rebuilt: its maps are computed again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os

import keras
import numpy as np

from keras_attn.data.cache import ImageRows, default_cache_dir
from keras_attn.models import classifier
from keras_attn.utils import atomic_io
from keras_attn.utils.progress import Progress

HEAD_LAYERS = (
    classifier.STAGE3_ATTENTION_NAME,
    classifier.ATTENTION_NAME,
    "pool",
    "dropout",
    "logits",
)
CACHE_VERSION = 1

logger = logging.getLogger(__name__)


def weights_fingerprint(weights: str) -> str:
    """What identifies backbone weights: a local folder's files, or a handle."""
    if not os.path.isdir(weights):
        return weights  # a keras-hub handle or preset name
    entries = []
    for name in sorted(os.listdir(weights)):
        stat = os.stat(os.path.join(weights, name))
        entries.append((name, stat.st_size, stat.st_mtime_ns))
    return json.dumps([os.path.realpath(weights), entries])


def feature_extractor(model: keras.Model) -> keras.Model:
    """Pixels -> what the head reads: the backbone's last map (the classifier
    up to its attention), or `[P4, P5]` for a head on stages 3 and 4."""
    names = {layer.name for layer in model.layers}
    if "fuse" not in names:  # stage 4 alone
        first = (
            classifier.ATTENTION_NAME if classifier.ATTENTION_NAME in names else "pool"
        )
        return keras.Model(model.inputs, model.get_layer(first).input)
    stage3 = classifier.STAGE3_ATTENTION_NAME
    p4 = model.get_layer(stage3 if stage3 in names else "downsample_stage3").input
    p5 = model.get_layer(
        classifier.ATTENTION_NAME if classifier.ATTENTION_NAME in names else "fuse"
    )
    p5 = p5.input if p5.name != "fuse" else p5.input[1]
    return keras.Model(model.inputs, [p4, p5])


def _output_shapes(extractor) -> list[tuple[int, ...]]:
    shapes = extractor.output_shape
    if not isinstance(shapes, list):
        shapes = [shapes]
    return [tuple(int(d) for d in shape[1:]) for shape in shapes]


class FeatureCache:
    """Backbone maps of images, float16, memory-mapped; see the module docstring.

    An extractor with one output gives (N, s, s, C) rows; one with several
    (the stage-3 and stage-4 maps) gives (N, D) rows, each image's maps
    flattened and concatenated (`SplitMaps` takes them apart again).

    Args:
        extractor: `feature_extractor(model)` of a model with the weights.
        weights: the `--weights` value (for the key).
        image_size: the model's working size (for the key).
        cache_dir: the cache folder (default: the image cache's).
    """

    def __init__(self, extractor, weights: str, image_size: int, cache_dir=None):
        self.extractor = extractor
        self.input_shape = tuple(int(d) for d in extractor.input_shape[1:])
        self.map_shapes = _output_shapes(extractor)
        if len(self.map_shapes) == 1:
            self.feature_shape = self.map_shapes[0]
            key = [CACHE_VERSION, weights_fingerprint(weights), image_size]
        else:
            self.feature_shape = (sum(int(np.prod(s)) for s in self.map_shapes),)
            key = [2, weights_fingerprint(weights), image_size, self.map_shapes]
        key = json.dumps([*key, self.input_shape])
        digest = hashlib.sha256(key.encode()).hexdigest()[:20]
        self.path = os.path.join(cache_dir or default_cache_dir(), "features", digest)
        os.makedirs(self.path, exist_ok=True)
        self._data = os.path.join(self.path, "features.f16")
        self._index = os.path.join(self.path, "index.npy")

    def _keys(self) -> np.ndarray:
        return (
            np.load(self._index) if os.path.exists(self._index) else np.zeros(0, "S40")
        )

    @property
    def _row_bytes(self) -> int:
        return int(np.prod(self.feature_shape)) * 2

    def _damage(self) -> str | None:
        """Why the entry's index and data cannot be used, or None when they can
        (rows appended but never indexed are fine: `_append` drops them)."""
        try:
            keys = self._keys()
        except Exception as e:  # noqa: BLE001 -- pickle, EOF, bad header, ...
            return f"index.npy does not load: {type(e).__name__}: {e}"
        if keys.ndim != 1 or keys.dtype != np.dtype("S40"):
            return f"index.npy holds {keys.dtype} {keys.shape}, expected S40 (N,)"
        size = os.path.getsize(self._data) if os.path.exists(self._data) else 0
        if size < len(keys) * self._row_bytes:
            return (
                f"features.f16 is {size} bytes, its index needs "
                f"{len(keys) * self._row_bytes}"
            )
        return None

    def _rebuild_if_damaged(self) -> None:
        damage = self._damage()
        if damage is None:
            return
        logger.warning(
            "The feature cache entry %s is damaged (%s); rebuilding it (its "
            "maps are computed again).",
            self.path,
            damage,
        )
        for path in (self._index, self._data):
            if os.path.exists(path):
                os.remove(path)

    def features(self, images, flip: bool = False, batch_size: int = 64):
        """(N, s, s, C) float16 maps of `images` (flipped left-right if asked),
        computing only those not cached yet; a memory-mapped array's rows."""
        keys = np.array(
            [
                hashlib.sha1(
                    np.ascontiguousarray(images[i]).tobytes()
                    + (b"flip" if flip else b"")
                ).hexdigest()
                for i in range(len(images))
            ],
            dtype="S40",
        )
        with atomic_io.file_lock(self.path):
            self._rebuild_if_damaged()
            known = self._keys()
            row_of = {k: r for r, k in enumerate(known)}
            missing = [i for i, k in enumerate(keys) if k not in row_of]
            if missing:
                self._append(images, missing, flip, batch_size)
                known = np.concatenate([known, keys[missing]])
                with atomic_io.atomic_path(self._index, suffix=".npy") as tmp:
                    np.save(tmp, known)
                row_of = {k: r for r, k in enumerate(known)}
        table = np.memmap(
            self._data, np.float16, mode="r", shape=(len(known), *self.feature_shape)
        )
        return ImageRows(table, np.array([row_of[k] for k in keys], np.int64))

    def _append(self, images, rows, flip: bool, batch_size: int) -> None:
        print(
            f"Computing backbone features of {len(rows)} images"
            f"{' (flipped)' if flip else ''}, cache {self.path}",
            flush=True,
        )
        bar = Progress(len(rows))
        if os.path.exists(self._data):
            # Rows a killed run appended but never indexed would shift the
            # ones appended now: drop them.
            os.truncate(self._data, len(self._keys()) * self._row_bytes)
        with open(self._data, "ab") as f:
            for start in range(0, len(rows), batch_size):
                chunk = rows[start : start + batch_size]
                batch = np.stack([np.asarray(images[i]) for i in chunk])
                if flip:
                    batch = batch[:, :, ::-1]
                maps = self.extractor.predict_on_batch(batch.astype(np.float32))
                if isinstance(maps, (list, tuple)):  # (n, D): flattened, side by side
                    maps = np.concatenate(
                        [np.asarray(m).reshape(len(chunk), -1) for m in maps], axis=1
                    )
                f.write(np.asarray(maps, np.float16).tobytes())
                bar.add(len(chunk))
            f.flush()
            os.fsync(f.fileno())


@keras.saving.register_keras_serializable(package="keras_attn")
class RandomView(keras.layers.Layer):
    """Picks one of V views of each example at random in training, view 0
    otherwise: (B, V, ...) -> (B, ...).

    The frozen mode's augmentation: each cached image comes with the map of
    its flipped copy, and every epoch shows each image once, flipped with
    probability 1/2 (V = 2). Its generator state is part of the model, so a
    resumed run draws what the uninterrupted run would.

    Args:
        seed: seed of the draws.
    """

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, views, training=False):
        if not training:
            return views[:, 0]  # (B, ...)
        batch, count = keras.ops.shape(views)[0], keras.ops.shape(views)[1]
        pick = keras.random.randint((batch,), 0, count, seed=self.seed_generator)
        weights = keras.ops.one_hot(pick, count, dtype=views.dtype)  # (B, V)
        weights = keras.ops.reshape(weights, (batch, count, *[1] * (views.ndim - 2)))
        # A broadcast product, not `einsum("bv,bv...->b...")`: TensorFlow's CPU
        # einsum took ~60 ms for 32 pairs of 4x4x512 maps, 10x the rest of a
        # `none` head's step. Exact: one view times 1, the others times 0.
        return keras.ops.sum(views * weights, axis=1)  # (B, ...)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *input_shape[2:])

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="keras_attn")
class SplitMaps(keras.layers.Layer):
    """Takes a `FeatureCache` row of several flattened maps apart:
    (B, D) -> [(B, *shape) for each shape].

    Args:
        shapes: each map's shape without the batch axis, in row order.
    """

    def __init__(self, shapes, **kwargs):
        super().__init__(**kwargs)
        self.shapes = [tuple(int(d) for d in shape) for shape in shapes]

    def call(self, rows):
        maps, start = [], 0
        for shape in self.shapes:
            size = int(np.prod(shape))
            flat = rows[:, start : start + size]  # (B, size)
            maps.append(keras.ops.reshape(flat, (-1, *shape)))  # (B, *shape)
            start += size
        return maps

    def compute_output_shape(self, input_shape):
        return [(input_shape[0], *shape) for shape in self.shapes]

    def get_config(self):
        return {**super().get_config(), "shapes": self.shapes}


def head_model(
    model: keras.Model,
    attention: str,
    attention_kwargs: dict | None,
    dropout: float,
    seed: int,
    stages: tuple[int, ...] = (4,),
) -> keras.Model:
    """The trainable part of `model` (attention, pool, dropout, logits) on
    cached maps of V views: `(B, V, s, s, C) -> logits` (or `(B, V, D)`, the
    flattened stage-3 and stage-4 maps), built with the same arguments as
    `model`'s head and starting from its weights; `copy_head` moves the
    trained weights back into `model`."""
    shapes = _output_shapes(feature_extractor(model))
    if len(shapes) == 1:
        inputs = keras.Input((None, *shapes[0]), name="feature_views")
        x = RandomView(seed, name="random_view")(inputs)  # (B, s, s, C)
    else:
        width = sum(int(np.prod(s)) for s in shapes)
        inputs = keras.Input((None, width), name="feature_views")
        x = RandomView(seed, name="random_view")(inputs)  # (B, D)
        x = SplitMaps(shapes, name="split_maps")(
            x
        )  # [(B, 2s, 2s, 256), (B, s, s, 512)]
    logits = classifier.attention_head(
        x, int(model.output_shape[-1]), attention, attention_kwargs, dropout, stages
    )
    head = keras.Model(inputs, logits, name=f"{model.name}_head")
    copy_head(model, head)
    return head


def copy_head(source: keras.Model, target: keras.Model) -> None:
    """Copies the head layers' weights (by layer name) from `source` to `target`."""
    names = {layer.name for layer in source.layers}
    for name in HEAD_LAYERS:
        if name in names:  # no attention layer with attention="none"
            target.get_layer(name).set_weights(source.get_layer(name).get_weights())
