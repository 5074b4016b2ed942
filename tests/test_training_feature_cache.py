"""The frozen-backbone mode's parts: the feature cache, its key, RandomView."""

import json
import os

import keras
import numpy as np
import pytest

from keras_attn import runs
from keras_attn.training import feature_cache, trainer
from keras_attn.training.config import TrainConfig, check_resumable


class CountingExtractor:
    """A stand-in backbone: the mean colour of each image, counted."""

    input_shape = (None, 8, 8, 3)
    output_shape = (None, 1, 1, 3)

    def __init__(self):
        self.images = 0

    def predict_on_batch(self, batch):
        self.images += len(batch)
        return batch.mean(axis=(1, 2), keepdims=True)


def _images(n=6, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 8, 8, 3), np.uint8)


def test_features_are_computed_once_per_image_and_flip(tmp_path):
    images = _images()
    extractor = CountingExtractor()
    cache = feature_cache.FeatureCache(extractor, "w", 128, str(tmp_path))
    first = np.asarray(cache.features(images))
    np.testing.assert_allclose(
        first[:, 0, 0], images.mean(axis=(1, 2)), rtol=1e-3
    )  # float16
    flipped = np.asarray(cache.features(images, flip=True))
    assert extractor.images == 12
    # Again, and in another order: nothing computed, the same rows.
    again = feature_cache.FeatureCache(CountingExtractor(), "w", 128, str(tmp_path))
    np.testing.assert_array_equal(np.asarray(again.features(images[::-1])), first[::-1])
    assert again.extractor.images == 0
    np.testing.assert_array_equal(
        np.asarray(again.features(images, flip=True)), flipped
    )


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda c: open(c._index, "wb").write(b"garbage"), "index.npy does not load"),
        (lambda c: np.save(c._index, np.zeros(2)), "index.npy holds float64"),
        (lambda c: os.truncate(c._data, 7), "features.f16 is 7 bytes"),
    ],
)
def test_damaged_feature_cache_is_named_and_rebuilt(tmp_path, caplog, damage, reason):
    images = _images()
    cache = feature_cache.FeatureCache(CountingExtractor(), "w", 128, str(tmp_path))
    first = np.asarray(cache.features(images))
    damage(cache)
    extractor = CountingExtractor()
    again = feature_cache.FeatureCache(extractor, "w", 128, str(tmp_path))
    with caplog.at_level("WARNING"):
        rebuilt = np.asarray(again.features(images))
    (warning,) = [r.getMessage() for r in caplog.records if "damaged" in r.message]
    assert warning.startswith(f"The feature cache entry {cache.path} is damaged")
    assert f"({reason}" in warning and warning.endswith("computed again).")
    np.testing.assert_array_equal(rebuilt, first)
    assert extractor.images == len(images)
    caplog.clear()
    np.testing.assert_array_equal(np.asarray(again.features(images)), first)
    assert extractor.images == len(images) and not caplog.records


def test_the_cache_key_holds_weights_size_and_pixels(tmp_path):
    base = feature_cache.FeatureCache(CountingExtractor(), "w", 128, str(tmp_path))
    for other in (
        feature_cache.FeatureCache(CountingExtractor(), "other", 128, str(tmp_path)),
        feature_cache.FeatureCache(CountingExtractor(), "w", 224, str(tmp_path)),
    ):
        assert other.path != base.path
    # A local checkpoint is keyed by its files: an edited file is new weights.
    weights = tmp_path / "ckpt"
    weights.mkdir()
    (weights / "model.safetensors").write_bytes(b"1")
    before = feature_cache.weights_fingerprint(str(weights))
    (weights / "model.safetensors").write_bytes(b"22")
    assert feature_cache.weights_fingerprint(str(weights)) != before
    # Other pixels are other rows.
    images = _images()
    extractor = CountingExtractor()
    cache = feature_cache.FeatureCache(extractor, "w", 128, str(tmp_path))
    cache.features(images)
    changed = images.copy()
    changed[0, 0, 0, 0] ^= 1
    cache.features(changed)
    assert extractor.images == 6 + 1


def test_random_view_draws_per_example_in_training_only():
    layer = feature_cache.RandomView(seed=0)
    views = np.stack([np.zeros((64, 2)), np.ones((64, 2))], axis=1)  # (64, 2, 2)
    picked = keras.ops.convert_to_numpy(layer(views, training=True))
    assert picked.shape == (64, 2) and 10 < picked[:, 0].sum() < 54
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer(views, training=False)), np.zeros((64, 2))
    )
    again = feature_cache.RandomView.from_config(layer.get_config())
    assert again.seed == 0
    # Maps come out exactly as cached: each row is one of its views.
    maps = np.random.default_rng(0).standard_normal((16, 2, 4, 4, 8)).astype("f4")
    picked = keras.ops.convert_to_numpy(again(maps, training=True))
    is_view = (picked[:, None] == maps).all(axis=(2, 3, 4))  # (16, 2)
    assert (is_view.sum(axis=1) == 1).all()


def test_resuming_with_another_backbone_mode_is_refused(tmp_path):
    config = TrainConfig(backbone="frozen").resolved()
    runs.write_config(str(tmp_path), json.loads(json.dumps(config.__dict__)))
    (tmp_path / runs.BACKUP).mkdir()
    other = TrainConfig(backbone="finetune").resolved()
    with pytest.raises(ValueError, match="backbone: 'frozen' there, 'finetune' now"):
        check_resumable(str(tmp_path), other)


@pytest.mark.parametrize(
    "dataset, backbone, epochs, warmup_epochs, image_size",
    [
        ("folder:/data/tin100_fewshot/", "lp-ft", 12, 2, 128),
        ("folder:/data/stanford_cars_fewshot", "lp-ft", 10, 1, 128),
        ("folder:../shared/data/stanford_cars_fewshot_224", "lp-ft", 10, 1, 224),
        ("folder:/data/my_products", "finetune", 30, 2, 128),
    ],
)
def test_recipes_choose_the_backbone_mode_per_folder(
    dataset, backbone, epochs, warmup_epochs, image_size
):
    """The benchmark folders' recipes use lp-ft (chosen on val, see
    benchmarks/RESULTS.md), the 224 px Stanford Cars folder at 224 px with
    the whole frame squashed; any other folder fine-tunes; a flag overrides."""
    config = TrainConfig(dataset=dataset).resolved()
    assert (
        config.backbone,
        config.epochs,
        config.warmup_epochs,
        config.probe_epochs,
    ) == (backbone, epochs, warmup_epochs, 30)
    assert (config.image_size, config.resize, config.shots) == (
        image_size,
        "squash",
        None if dataset.endswith("my_products") else 10,
    )
    assert TrainConfig(dataset=dataset, backbone="frozen").resolved().epochs == 30


def test_resuming_or_starting_from_a_run_with_other_stages_is_refused(tmp_path):
    config = TrainConfig(attention_stages=(3, 4)).resolved()
    runs.write_config(str(tmp_path), json.loads(json.dumps(config.__dict__)))
    (tmp_path / runs.BACKUP).mkdir()
    other = TrainConfig(attention_stages=(4,)).resolved()
    with pytest.raises(
        ValueError, match=r"attention_stages: \[3, 4\] there, \[4\] now"
    ):
        check_resumable(str(tmp_path), other)
    # --init_from a finished run: refused before any data is read.
    (tmp_path / runs.MODEL).write_bytes(b"")
    (tmp_path / runs.LABELS).write_text("a\nb\n")
    with pytest.raises(
        ValueError,
        match=r"trained with --attention_stages=3,4, this run has "
        r"--attention_stages=4; pass the same --attention_stages",
    ):
        trainer.check_init_from(str(tmp_path), other)
    message = rf"--image_size={config.image_size}, this run has --image_size=160"
    with pytest.raises(ValueError, match=message):
        trainer.check_init_from(
            str(tmp_path),
            TrainConfig(attention_stages=(3, 4), image_size=160).resolved(),
        )


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            dict(attention="none", attention_stages=(3,)),
            "no attention to put on stage 3",
        ),
        (dict(attention_stages=(2,)), "must be 4 .*, 3 .* or 3,4"),
        (dict(attention="se", channel_gate=True), "--channel_gate applies to"),
    ],
)
def test_bad_stage_flags_are_refused_before_any_work(overrides, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**overrides).resolved()


def test_rows_a_killed_run_appended_but_never_indexed_are_dropped(tmp_path):
    cache = feature_cache.FeatureCache(CountingExtractor(), "w", 128, str(tmp_path))
    cache.features(_images(4))
    with open(cache._data, "ab") as f:  # a kill after writing, before indexing
        f.write(b"\xff" * 3 * 2 * 5)
    later = _images(3, seed=1)
    rows = np.asarray(cache.features(later))
    np.testing.assert_allclose(rows[:, 0, 0], later.mean(axis=(1, 2)), rtol=1e-3)


class PyramidExtractor(CountingExtractor):
    """Two maps per image, as a head on stages 3 and 4 reads them."""

    output_shape = [(None, 2, 2, 3), (None, 1, 1, 3)]

    def predict_on_batch(self, batch):
        self.images += len(batch)
        fine = np.repeat(np.repeat(batch.mean((1, 2), keepdims=True), 2, 1), 2, 2)
        return [fine, batch.max(axis=(1, 2), keepdims=True)]


def test_several_maps_are_cached_as_one_flat_row_each(tmp_path):
    images = _images(5)
    cache = feature_cache.FeatureCache(PyramidExtractor(), "w", 128, str(tmp_path))
    assert cache.feature_shape == (2 * 2 * 3 + 3,)
    rows = np.asarray(cache.features(images), np.float32)
    fine, coarse = feature_cache.SplitMaps([(2, 2, 3), (1, 1, 3)])(rows)
    np.testing.assert_allclose(
        np.asarray(fine)[:, 1, 0], images.mean(axis=(1, 2)), rtol=1e-3
    )
    np.testing.assert_allclose(
        np.asarray(coarse)[:, 0, 0], images.max(axis=(1, 2)), rtol=1e-3
    )
    # Another entry than the one-map cache of the same weights and size.
    single = feature_cache.FeatureCache(CountingExtractor(), "w", 128, str(tmp_path))
    assert single.path != cache.path
