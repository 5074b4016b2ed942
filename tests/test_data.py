"""Data: few-shot sampling, generated shapes, TFDS, augmentation (folders:
test_data_folder.py)."""

import time

import numpy as np
import pytest

from keras_attn.data import (
    SHAPE_CLASSES,
    DataError,
    load_dataset,
    make_shapes,
    sample_per_class,
)
from keras_attn.data import tfds as tfds_lib
from keras_attn.data.fewshot import few_shot_indices

# ------------------------------------------------------------------- few-shot


def _labels():
    # Unequal classes: 12, 7 and 20 examples, interleaved.
    return np.random.default_rng(1).permutation(np.repeat([0, 1, 2], [12, 7, 20]))


def test_sample_per_class_exact_counts_and_seeded():
    labels = _labels()
    picks = sample_per_class(labels, 5, seed=3)
    assert np.array_equal(picks, np.sort(picks))
    assert np.bincount(labels[picks]).tolist() == [5, 5, 5]
    assert np.array_equal(picks, sample_per_class(labels, 5, seed=3))
    assert not np.array_equal(picks, sample_per_class(labels, 5, seed=4))


def test_sample_per_class_exclude_and_too_few():
    labels = _labels()
    train = sample_per_class(labels, 5, seed=0)
    val = sample_per_class(labels, 2, seed=0, exclude=train)
    assert not set(train) & set(val)
    assert np.bincount(labels[val]).tolist() == [2, 2, 2]
    with pytest.raises(DataError, match=r"Class 'b' has 2 .* fewer than --val_shots=3"):
        sample_per_class(
            labels,
            3,
            seed=0,
            exclude=train,
            class_names=["a", "b", "c"],
            flag="--val_shots",
        )
    with pytest.raises(
        ValueError,
        match="Class '1' has 7 training images, fewer than "
        r"--shots=8\. Lower --shots or add images\.",
    ):
        sample_per_class(labels, 8, seed=0)


def test_protocol_without_val_split_draws_val_from_rest_of_train():
    labels = _labels()
    train, val, from_train = few_shot_indices(
        labels, None, shots=4, val_shots=3, seed=0
    )
    assert from_train and not set(train) & set(val)
    assert np.bincount(labels[train]).tolist() == [4, 4, 4]
    assert np.bincount(labels[val]).tolist() == [3, 3, 3]
    # No few-shot flags: a stratified fraction is held out, the rest trains.
    train, val, _ = few_shot_indices(
        labels, None, shots=None, val_shots=None, seed=0, val_fraction=0.25
    )
    assert np.bincount(labels[val]).tolist() == [3, 2, 5]
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(len(labels)))


# --------------------------------------------------------------------- shapes


def test_shapes_deterministic_balanced():
    images, labels, boxes = make_shapes(6, seed=5)
    assert images.shape == (60, 64, 64, 3) and images.dtype == np.uint8
    assert labels.dtype == np.int32 and boxes.dtype == np.float32
    assert np.bincount(labels).tolist() == [6] * len(SHAPE_CLASSES)
    again = make_shapes(6, seed=5)
    assert all(
        np.array_equal(a, b)
        for a, b in zip((images, labels, boxes), again, strict=True)
    )
    assert not np.array_equal(images, make_shapes(6, seed=6)[0])
    assert images.std() > 30  # cluttered, not a flat background


def test_shapes_box_is_the_object():
    images, labels, boxes = make_shapes(10, seed=2)
    ymin, xmin, ymax, xmax = boxes.T
    assert np.all((0 <= ymin) & (ymin < ymax) & (ymax <= 1))
    assert np.all((0 <= xmin) & (xmin < xmax) & (xmax <= 1))
    sides = (boxes[:, 2:] - boxes[:, :2]) * 64
    assert sides.max() <= 31 and sides.max(axis=1).min() >= 9
    # Shapes filled at their centre: the object is flat-coloured, so the pixels
    # of the centre's colour are (almost all) the object, and its box is tight.
    filled = [SHAPE_CLASSES.index(n) for n in ("circle", "square", "diamond", "plus")]
    checked = 0
    for image, label, box in zip(images, labels, boxes, strict=True):
        if label not in filled:
            continue
        y0, x0, y1, x1 = np.round(box * 64).astype(int)
        colour = image[(y0 + y1) // 2, (x0 + x1) // 2]
        ys, xs = np.nonzero(np.all(image == colour, axis=-1))
        inside = (ys >= y0) & (ys < y1) & (xs >= x0) & (xs < x1)
        assert inside.mean() > 0.95
        assert (ys[inside].min(), xs[inside].min()) == (y0, x0)
        assert (ys[inside].max() + 1, xs[inside].max() + 1) == (y1, x1)
        checked += 1
    assert checked >= 30


def test_shapes_dataset_splits():
    # (Its speed, ~0.6 s for 2,000 images, is a benchmark's business: a timed
    # assertion here failed on a loaded 2-core machine.)
    data = load_dataset("shapes", shots=10, val_shots=5, seed=1)
    assert (len(data.train), len(data.val), len(data.test)) == (100, 50, 500)
    assert data.image_shape == (64, 64, 3) and data.train.boxes.shape == (100, 4)
    assert not np.array_equal(data.train.images[:50], data.val.images)


# ----------------------------------------------------------------------- TFDS


def test_tfds_cifar10_mock(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=40):
        data = load_dataset("cifar10", data_dir=str(tmp_path), val_fraction=0.2)
    assert data.image_shape == (32, 32, 3) and len(data.class_names) == 10
    assert data.train.images.dtype == np.uint8 and data.train.labels.dtype == np.int32
    assert len(data.train) + len(data.val) == 40 and len(data.test) == 40
    assert 0 < len(data.val) < 40


def test_tfds_cars196_mock_is_resized(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=6):
        data = load_dataset("stanford_cars", data_dir=str(tmp_path), image_size=40)
    assert data.image_shape == (40, 40, 3) and len(data.class_names) == 196
    assert data.test.images.shape == (6, 40, 40, 3)


@pytest.mark.parametrize(
    "name, message",
    [
        ("cifar100", "not prepared .* run once with internet, or pass --data_dir"),
        ("cifar10", "folder:../shared/data/cifar10"),
        (
            "stanford_cars",
            "download URLs are dead: put cars_train.tgz, cars_test.tgz, "
            "car_devkit.tgz, cars_test_annos_withlabels.mat in .*downloads/manual",
        ),
    ],
)
def test_tfds_not_prepared_fails_fast(tmp_path, monkeypatch, name, message):
    pytest.importorskip("tensorflow_datasets")
    monkeypatch.setattr(tfds_lib, "online", lambda host, timeout=3.0: False)
    start = time.perf_counter()
    with pytest.raises(DataError, match=message) as info:
        load_dataset(name, data_dir=str(tmp_path))
    assert time.perf_counter() - start < 20
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------ augmenter


@pytest.fixture(scope="module")
def keras():
    import keras

    return keras


@pytest.mark.parametrize("recipe", ["none", "flip", "crop", "default", "paper"])
def test_augmenter_keeps_shape_and_range(keras, recipe):
    from keras_attn.data.augment import build_augmenter

    x = np.random.default_rng(0).integers(0, 256, (8, 24, 24, 3)).astype(np.uint8)
    augmenter = build_augmenter(24, recipe, seed=1)
    y = keras.ops.convert_to_numpy(augmenter(x, training=True))
    assert y.shape == x.shape and y.dtype == np.float32
    assert y.min() >= 0 and y.max() <= 255
    if recipe in ("crop", "default", "paper"):
        assert np.abs(y - x).mean() > 1
    inference = keras.ops.convert_to_numpy(augmenter(x, training=False))
    np.testing.assert_array_equal(inference, x)


def test_crop_layers_resample_exactly(keras):
    from keras_attn.data.random_crops import RandomPadCrop, RandomResizedCrop

    x = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype(np.float32)
    whole = RandomResizedCrop(scale=(1.0, 1.0), ratio=(1.0, 1.0))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(whole(x)), x, atol=1e-4)
    y = keras.ops.convert_to_numpy(RandomPadCrop(2, seed=0)(x))
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
    for image, out in zip(padded, y, strict=True):
        shifts = [
            (dy, dx)
            for dy in range(5)
            for dx in range(5)
            if np.array_equal(image[dy : dy + 16, dx : dx + 16], out)
        ]
        assert len(shifts) == 1
    for layer in (
        RandomResizedCrop(scale=(0.5, 0.9), ratio=(0.8, 1.25), seed=7),
        RandomPadCrop(3, seed=2),
    ):
        config = layer.get_config()
        assert type(layer).from_config(config).get_config() == config


def test_training_wrapper_is_identity_at_inference(keras, tmp_path):
    from keras_attn.data.augment import build_augmenter, with_augmentation

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    outputs = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    wrapper = with_augmentation(model, build_augmenter(16, "default", seed=0))
    images = np.random.default_rng(0).integers(0, 256, (16, 16, 16, 3)).astype(np.uint8)
    labels = np.arange(16) % 3
    clean = keras.ops.convert_to_numpy(model(images))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(wrapper(images)), clean)
    trained = keras.ops.convert_to_numpy(wrapper(images, training=True))
    assert np.abs(trained - clean).max() > 1e-4

    wrapper.compile(
        "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    history = wrapper.fit(images, labels, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    wrapper.save(tmp_path / "model.keras")  # the inner model only
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert not any("augment" in layer.name for layer in loaded.layers)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(images)),
        keras.ops.convert_to_numpy(model(images)),
        atol=1e-5,
    )
