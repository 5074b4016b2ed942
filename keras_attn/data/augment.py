"""Training-time augmentation on the accelerator, kept out of exported models.

`build_augmenter()` returns a `keras.Sequential` of core Keras layers for a
named recipe; `with_augmentation()` wraps a classifier so that the augmenter
runs only when `training=True`. The wrapper is what `fit` sees; the inner
model is what gets saved and exported, so no random op ever reaches a
SavedModel or a TFLite file.

Scale and position jitter come from the crop layers of `data.random_crops`
(a box per image, resampled by matrix products), not from affine warps,
which are about a thousand times slower on JAX (../shared/PITFALLS.md).
Rotation is therefore only in the `paper` recipe, whose cost the benchmark
reports.

Recipes (`image_size` is the stored image side the augmenter sees):

- `none`: identity.
- `flip`: horizontal flip.
- `crop`: pad by `image_size // 8` and crop back (per-image shift), flip.
- `default`: random resized crop (35-100 % of the area, aspect 3/4-4/3),
  flip, brightness and contrast jitter (+-20 %).
- `paper`: `default` + rotation up to +-15 degrees: the paper's list (crop,
  flip, zoom, rotation, colour jitter). Rotation is an affine warp: slow on
  JAX, see the benchmark.
"""

from __future__ import annotations

import keras
from keras import ops

from keras_attn.data.random_crops import RandomPadCrop, RandomResizedCrop

AUGMENT_RECIPES = ("none", "flip", "crop", "default", "paper")


def build_augmenter(
    image_size: int, recipe: str | None = "default", seed: int | None = None
) -> keras.Sequential:
    """A `keras.Sequential` of augmentation layers for a named recipe.

    Args:
        image_size: side of the stored images it will see (sets the padding
            of `crop`).
        recipe: one of `AUGMENT_RECIPES` (see the module docstring); None
            means `default`.
        seed: base seed; each random layer gets `seed + i`.

    Returns:
        A model mapping (B, H, W, 3) images in 0..255 (any dtype) to float
        images of the same shape and range; it augments only when called with
        `training=True`.
    """
    recipe = recipe or "default"
    if recipe not in AUGMENT_RECIPES:
        raise ValueError(
            f"Unknown augmentation recipe {recipe!r}. Use one of: "
            f"{', '.join(AUGMENT_RECIPES)}."
        )
    if image_size < 1:
        raise ValueError(f"image_size must be >= 1. Received: image_size={image_size}")

    def s(i):
        return None if seed is None else seed + i

    flip = keras.layers.RandomFlip("horizontal", seed=s(1))
    # No saturation/hue: Keras 3.15's RandomSaturation clips saturation to
    # `value_range`, so with (0, 255) it returns negative pixels.
    jitter = keras.layers.RandomColorJitter(
        value_range=(0, 255), brightness_factor=0.2, contrast_factor=0.2, seed=s(2)
    )
    layers = {
        "none": [keras.layers.Identity()],
        "flip": [flip],
        "crop": [RandomPadCrop(max(1, image_size // 8), seed=s(0)), flip],
        "default": [RandomResizedCrop(seed=s(0)), flip, jitter],
        "paper": [
            RandomResizedCrop(seed=s(0)),
            flip,
            # 15 degrees; affine: ~1000x slower than the rest on JAX.
            keras.layers.RandomRotation(15 / 360, fill_mode="reflect", seed=s(3)),
            jitter,
        ],
    }[recipe]
    return keras.Sequential(layers, name=f"augment_{recipe}")


@keras.saving.register_keras_serializable(package="keras_attn")
class TrainingAugmentation(keras.Model):
    """A classifier behind a training-only augmenter.

    `call(x, training=True)` augments `x` (cast to float32) and runs the inner
    model; `call(x, training=False)` is exactly the inner model. Compile and
    `fit` this wrapper; save and export the inner model (`self.model`), which
    holds every weight that matters. `save()` and `export()` are forwarded to
    the inner model for that reason, so a checkpoint or an export never
    contains random ops (a SavedModel serves Keras augmentation layers with
    `training=True`, see ../shared/PITFALLS.md).

    Args:
        model: the classifier, taking images in 0..255.
        augmenter: e.g. `build_augmenter(...)`; maps images to images of the
            same shape and range.

    Example:
    >>> train_model = with_augmentation(model, build_augmenter(32, seed=0))
    >>> train_model.compile("adam", "sparse_categorical_crossentropy")
    >>> train_model.fit(x_uint8, y)
    >>> model.save("model.keras")  # no augmentation inside
    """

    def __init__(self, model: keras.Model, augmenter: keras.Layer, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.augmenter = augmenter

    def build(self, input_shape):
        for part in (self.augmenter, self.model):
            if not part.built:
                part.build(input_shape)

    def call(self, inputs, training=False):
        if training:
            inputs = self.augmenter(ops.cast(inputs, "float32"), training=True)
        return self.model(inputs, training=training)

    def compute_output_shape(self, input_shape):
        return self.model.compute_output_shape(input_shape)

    def save(self, filepath, *args, **kwargs):
        """Saves the inner model only (no augmentation)."""
        return self.model.save(filepath, *args, **kwargs)

    def export(self, filepath, *args, **kwargs):
        """Exports the inner model only (no augmentation)."""
        return self.model.export(filepath, *args, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "model": keras.saving.serialize_keras_object(self.model),
                "augmenter": keras.saving.serialize_keras_object(self.augmenter),
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("model", "augmenter"):
            config[key] = keras.saving.deserialize_keras_object(
                config[key], custom_objects=custom_objects
            )
        return cls(**config)


def with_augmentation(model: keras.Model, augmenter: keras.Layer) -> keras.Model:
    """Wraps `model` so that `augmenter` runs only in training; see
    `TrainingAugmentation`."""
    return TrainingAugmentation(model, augmenter, name=f"{model.name}_train")
