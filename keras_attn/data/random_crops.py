"""Random crop layers for augmentation: each image of a batch gets its own box.

Both layers resample with two batched matrix products (one per axis) instead
of an affine warp: on JAX, `RandomZoom`, `RandomTranslation` and
`RandomRotation` go through `ops.image.affine_transform` and were measured
about a thousand times slower than the rest of a ResNet-18 step
(../shared/PITFALLS.md). `data.augment` builds the recipes from them.
"""

from __future__ import annotations

import math

import keras
from keras import ops


def _resample_matrix(start, length, size_in: int, size_out: int, clamp: bool):
    """Per-image 1-D bilinear resampling weights, (B, size_out, size_in).

    Output pixel `o` of image `b` samples the source at
    `start[b] + (o + 0.5) / size_out * length[b] - 0.5` (half-pixel centres,
    like `ops.image.resize`). `clamp=True` repeats the edge pixels; otherwise
    samples outside the image get zero weight (zero padding).
    """
    dtype = start.dtype
    centres = (ops.arange(size_out, dtype=dtype) + 0.5) / size_out  # (O,)
    src = start[:, None] + centres[None, :] * length[:, None] - 0.5  # (B, O)
    if clamp:
        src = ops.clip(src, 0.0, size_in - 1.0)
    grid = ops.arange(size_in, dtype=dtype)  # (I,)
    return ops.relu(1.0 - ops.abs(src[:, :, None] - grid[None, None, :]))


def _crop_and_resize(images, top, left, height, width, clamp: bool):
    """Crops box `[top, top + height) x [left, left + width)` (pixels, per image)
    out of each image and resizes it back to the image's size."""
    size_h, size_w = images.shape[1], images.shape[2]
    rows = _resample_matrix(top, height, size_h, size_h, clamp)  # (B, H, H)
    cols = _resample_matrix(left, width, size_w, size_w, clamp)  # (B, W, W)
    out = ops.einsum("bhi,biwc->bhwc", rows, images)  # (B, H, W, C)
    return ops.einsum("bwj,bhjc->bhwc", cols, out)  # (B, H, W, C)


class _RandomCropBase(keras.layers.Layer):
    """Shared parts of the crop layers: seeding, casting, shapes."""

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = False

    def _check(self, images):
        if len(images.shape) != 4 or images.shape[1] is None or images.shape[2] is None:
            raise ValueError(
                f"{type(self).__name__} needs (B, H, W, C) images with a fixed "
                f"height and width. Received: shape={images.shape}"
            )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package="keras_attn")
class RandomResizedCrop(_RandomCropBase):
    """Random resized crop: a random box of each image, resized to full size.

    Each image of a batch gets its own box: its area is a random share
    (`scale`) of the image's and its aspect ratio is log-uniform in `ratio`;
    the box is resized back to the input size (bilinear). This is the
    "random resized crop" of Inception/torchvision and also gives the zoom-in
    part of `RandomZoom`, without the affine warp that is slow on JAX.
    Output: same shape as the input, the compute dtype, values in the input's
    range. Identity when `training=False`.

    Args:
        scale: (min, max) share of the image area the crop covers. Defaults to
            `(0.35, 1.0)`.
        ratio: (min, max) aspect ratio (width / height) of the crop. Defaults
            to `(3/4, 4/3)`.
        seed: seed of the random boxes.

    Example:
    >>> crop = RandomResizedCrop(scale=(0.5, 1.0), seed=0)
    >>> crop(np.zeros((8, 32, 32, 3), "uint8"), training=True).shape
    (8, 32, 32, 3)

    Reference: Szegedy et al., "Going deeper with convolutions", 2015.
    """

    def __init__(
        self,
        scale: tuple[float, float] = (0.35, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(seed=seed, **kwargs)
        if not 0.0 < scale[0] <= scale[1] <= 1.0:
            raise ValueError(
                f"scale must satisfy 0 < min <= max <= 1. Received: scale={scale}"
            )
        if not 0.0 < ratio[0] <= ratio[1]:
            raise ValueError(
                f"ratio must satisfy 0 < min <= max. Received: ratio={ratio}"
            )
        self.scale = tuple(scale)
        self.ratio = tuple(ratio)

    def call(self, images, training=True):
        self._check(images)
        images = ops.cast(images, self.compute_dtype)  # (B, H, W, C)
        if not training:
            return images
        size_h, size_w = images.shape[1], images.shape[2]
        batch = ops.shape(images)[:1]
        dtype = self.compute_dtype
        area = keras.random.uniform(
            batch, *self.scale, dtype=dtype, seed=self.seed_generator
        )
        log_ratio = keras.random.uniform(
            batch,
            math.log(self.ratio[0]),
            math.log(self.ratio[1]),
            dtype=dtype,
            seed=self.seed_generator,
        )
        aspect = ops.exp(log_ratio)
        # Box side as a share of the image side, (B,) each.
        box_h = ops.minimum(ops.sqrt(area / aspect), 1.0)
        box_w = ops.minimum(ops.sqrt(area * aspect), 1.0)
        top = keras.random.uniform(batch, dtype=dtype, seed=self.seed_generator)
        left = keras.random.uniform(batch, dtype=dtype, seed=self.seed_generator)
        top = top * (1.0 - box_h) * size_h
        left = left * (1.0 - box_w) * size_w
        return _crop_and_resize(
            images, top, left, box_h * size_h, box_w * size_w, clamp=True
        )

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale, "ratio": self.ratio})
        return config


@keras.saving.register_keras_serializable(package="keras_attn")
class RandomPadCrop(_RandomCropBase):
    """Random crop with zero padding: shifts each image by up to `padding` px.

    The classic CIFAR augmentation (pad by 4, crop 32x32 back), one random
    integer offset per image, as a resampling with one-hot weights (no
    interpolation, no affine warp). Output: same shape as the input, the
    compute dtype; uncovered pixels are 0. Identity when `training=False`.

    Args:
        padding: the largest shift in pixels, each way. Defaults to 4.
        seed: seed of the offsets.

    Example:
    >>> RandomPadCrop(4, seed=0)(np.zeros((8, 32, 32, 3)), training=True).shape
    (8, 32, 32, 3)
    """

    def __init__(self, padding: int = 4, seed: int | None = None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if padding < 0:
            raise ValueError(f"padding must be >= 0. Received: padding={padding}")
        self.padding = int(padding)

    def call(self, images, training=True):
        self._check(images)
        images = ops.cast(images, self.compute_dtype)  # (B, H, W, C)
        if not training or self.padding == 0:
            return images
        size_h, size_w = images.shape[1], images.shape[2]
        batch = ops.shape(images)[:1]
        dtype = self.compute_dtype
        shift = []
        for _ in range(2):  # integer offsets in [-padding, padding]
            u = keras.random.uniform(batch, dtype=dtype, seed=self.seed_generator)
            shift.append(ops.floor(u * (2 * self.padding + 1)) - self.padding)
        full_h = ops.full(batch, float(size_h), dtype=dtype)
        full_w = ops.full(batch, float(size_w), dtype=dtype)
        return _crop_and_resize(images, shift[0], shift[1], full_h, full_w, clamp=False)

    def get_config(self):
        config = super().get_config()
        config.update({"padding": self.padding})
        return config
