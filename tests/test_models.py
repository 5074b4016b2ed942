"""The classifier: shapes, preprocessing, backbone weights, round trips, maps."""

import os

import keras
import numpy as np
import pytest
from conftest import WEIGHTS, require

import keras_attn
from keras_attn.models import attention_model, build_classifier, load_backbone
from keras_attn.models import classifier as classifier_lib
from keras_attn.models.backbone import WeightsError
from keras_attn.training import feature_cache as features_lib
from keras_attn.training.optimizers import ScaledAdamW

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (2, 64, 64, 3)).astype("float32")


@pytest.fixture(scope="module")
def random_backbone():
    return load_backbone("none")


@pytest.mark.parametrize("attention", ["none", "unified", "se", "cbam", "eca"])
def test_every_attention_gives_logits_and_a_map(attention):
    model = build_classifier(5, (64, 64, 3), image_size=128, attention=attention)
    assert model.output_shape == (None, 5)
    logits = model.predict(IMAGES, verbose=0)
    assert logits.shape == (2, 5) and np.all(np.isfinite(logits))
    _, maps = attention_model(model).predict(IMAGES, verbose=0)
    assert maps.shape == (2, 4, 4)
    assert maps.min() >= 0 and maps.max() <= 1


def test_preprocessing_is_inside_the_model(random_backbone):
    model = build_classifier(
        3, (64, 64, 3), image_size=128, attention="none", backbone=random_backbone
    )
    features = keras.Model(model.inputs, model.get_layer("pool").input)
    x = keras.ops.image.resize(IMAGES, (128, 128), interpolation="bilinear")
    mean = np.array(classifier_lib.IMAGENET_MEAN, "float32")
    std = np.array(classifier_lib.IMAGENET_STD, "float32")
    expected = random_backbone.predict((np.asarray(x) / 255 - mean) / std, verbose=0)
    np.testing.assert_allclose(
        features.predict(IMAGES, verbose=0), expected, rtol=1e-4, atol=1e-4
    )


def test_plain_call_is_inference(random_backbone):
    """`model(x)` must not run BatchNorm in training mode or write the memory."""
    model = build_classifier(3, (64, 64, 3), attention="unified")
    direct = keras.ops.convert_to_numpy(model(IMAGES))
    np.testing.assert_array_equal(
        direct, keras.ops.convert_to_numpy(model(IMAGES, training=False))
    )
    assert (
        float(keras.ops.convert_to_numpy(model.get_layer("attention").memory_count))
        == 0
    )


def test_image_size_too_small_is_refused(random_backbone):
    with pytest.raises(ValueError, match="image_size=64 is too small"):
        build_classifier(3, (64, 64, 3), image_size=64, backbone=random_backbone)


def test_non_rgb_input_is_refused(random_backbone):
    with pytest.raises(ValueError, match="must be RGB"):
        build_classifier(3, (64, 64, 1), backbone=random_backbone)


def test_keras_file_round_trip_gives_equal_outputs(tmp_path):
    model = build_classifier(4, (64, 64, 3), image_size=128, attention="unified")
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(IMAGES, np.array([0, 1]), epochs=1, verbose=0)  # fills the memory
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras_attn.load_model(path)
    np.testing.assert_allclose(
        loaded.predict(IMAGES, verbose=0), model.predict(IMAGES, verbose=0), atol=1e-5
    )
    _, maps = attention_model(loaded).predict(IMAGES, verbose=0)
    assert maps.shape == (2, 4, 4)


def test_load_model_missing_file_says_what_to_pass(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.keras"):
        keras_attn.load_model(str(tmp_path / "nope.keras"))


def test_frozen_backbone_leaves_only_attention_and_head_trainable(random_backbone):
    model = build_classifier(3, (64, 64, 3), attention="se", backbone=random_backbone)
    classifier_lib.set_backbone_trainable(model, False)
    names = {v.path.split("/")[0] for v in model.trainable_variables}
    assert names == {"attention", "logits"}
    classifier_lib.set_backbone_trainable(model, True)
    assert len(model.trainable_variables) > 60


def test_scaled_adamw_scales_only_listed_variables():
    frozen = keras.Variable(np.ones(3, "float32"), name="frozen")
    free = keras.Variable(np.ones(3, "float32"), name="free")
    half = keras.Variable(np.ones(3, "float32"), name="half")
    opt = ScaledAdamW(
        learning_rate=0.1,
        weight_decay=0.0,
        lr_multipliers={frozen.path: 0.0, half.path: 0.5},
    )
    grads = [np.ones(3, "float32")] * 3
    opt.apply_gradients(zip(grads, [frozen, free, half], strict=True))
    np.testing.assert_allclose(frozen.numpy(), 1.0)
    # Adam's first step moves every weight by about the learning rate.
    np.testing.assert_allclose(free.numpy(), 0.9, atol=1e-4)
    np.testing.assert_allclose(half.numpy(), 0.95, atol=1e-4)


# --- backbone weights -------------------------------------------------------


def test_local_weights_give_the_same_features_inside_the_model():
    path = require(WEIGHTS)
    reference = load_backbone(path)
    model = build_classifier(
        7, (64, 64, 3), image_size=128, attention="unified", weights=path
    )
    inner = classifier_lib.get_backbone(model)
    x = RNG.normal(size=(2, 128, 128, 3)).astype("float32")
    np.testing.assert_allclose(
        inner.predict(x, verbose=0), reference.predict(x, verbose=0), atol=1e-5
    )
    # The pretrained weights really are loaded: different from a random init.
    random = load_backbone("none")
    assert not np.allclose(
        random.predict(x, verbose=0), reference.predict(x, verbose=0)
    )


def test_local_weights_are_the_timm_checkpoint():
    """keras-hub's conversion puts timm's tensors where they belong."""
    path = require(WEIGHTS)
    from safetensors.numpy import load_file

    tensors = load_file(f"{path}/model.safetensors")
    backbone = load_backbone(path)
    # timm stores conv kernels as (out, in, kh, kw); Keras as (kh, kw, in, out).
    for keras_name, timm_name in [
        ("conv1_conv", "conv1.weight"),
        ("stack3_block1_2_conv", "layer4.1.conv2.weight"),
    ]:
        kernel = backbone.get_layer(keras_name).kernel.numpy()
        expected = tensors[timm_name].astype("float32").transpose(2, 3, 1, 0)
        np.testing.assert_allclose(kernel, expected, atol=1e-6)


def test_missing_weights_path(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        load_backbone(str(tmp_path / "missing"))


def test_weights_folder_without_checkpoint(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(WeightsError, match="holds no checkpoint"):
        load_backbone(str(tmp_path))


def test_imagenet_offline_tells_the_user_what_to_pass(monkeypatch):
    import keras_hub

    def offline(*args, **kwargs):
        raise ConnectionError("Failed to resolve 'api.kaggle.com'")

    monkeypatch.setattr(keras_hub.models.ResNetBackbone, "from_preset", offline)
    with pytest.raises(
        WeightsError, match="--weights=../shared/weights/resnet18_tin100"
    ):
        load_backbone("imagenet")


@pytest.mark.parametrize(
    "handle",
    [
        "hf://timm/resnet18.a1_in1k",
        "kaggle://keras/resnetv1/keras/resnet_18_imagenet/3",
        "resnet_18_imagenet",
    ],
)
def test_keras_hub_handles_offline_give_the_imagenet_error(monkeypatch, handle):
    import keras_hub

    asked = []

    def offline(preset, *args, **kwargs):
        asked.append(preset)
        raise ConnectionError("Failed to resolve 'huggingface.co'")

    monkeypatch.setattr(keras_hub.models.ResNetBackbone, "from_preset", offline)
    with pytest.raises(WeightsError, match=f"Could not download .*'{handle}'.*"):
        load_backbone(handle)
    assert asked == [handle]  # handed to keras-hub as it is


def test_hf_handle_loads_through_keras_hub_with_a_mocked_download(monkeypatch):
    """`hf://timm/resnet18.a1_in1k` goes through keras-hub's real Hugging Face
    path; the download returns the files of the local timm checkpoint."""
    import huggingface_hub

    path = require(WEIGHTS)
    downloads = []

    def hf_hub_download(repo_id, filename, **kwargs):
        downloads.append((repo_id, filename))
        local = os.path.join(path, filename)
        if not os.path.exists(local):
            raise huggingface_hub.errors.EntryNotFoundError(f"{filename} not found")
        return local

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)
    backbone = load_backbone("hf://timm/resnet18.a1_in1k")
    assert ("timm/resnet18.a1_in1k", "model.safetensors") in downloads
    np.testing.assert_allclose(
        backbone.get_layer("conv1_conv").kernel.numpy(),
        load_backbone(path).get_layer("conv1_conv").kernel.numpy(),
    )


# --- attention on backbone stages 3 and 4 -----------------------------------


@pytest.mark.parametrize(
    "attention, stages, map_side",
    # Two by default (the module alone on P4, a peer on P4 + P5), three large.
    [("unified", (3,), 8),
     pytest.param("unified", (3, 4), 8, marks=pytest.mark.large),
     ("cbam", (3, 4), 8),
     pytest.param("se", (3,), 4, marks=pytest.mark.large),
     pytest.param("none", (3, 4), 4, marks=pytest.mark.large)],
)  # fmt: skip
def test_stage3_attention_reads_keras_hub_pyramid(
    random_backbone, attention, stages, map_side, tmp_path
):
    model = build_classifier(
        3, (64, 64, 3), 128, attention, backbone=random_backbone, stages=stages
    )
    # The head reads keras-hub's P4 (stride 16) and P5 (stride 32) outputs.
    p4, p5 = features_lib.feature_extractor(model).predict(IMAGES, verbose=0)
    x = keras.ops.image.resize(IMAGES, (128, 128), interpolation="bilinear")
    mean = np.array(classifier_lib.IMAGENET_MEAN, "float32")
    std = np.array(classifier_lib.IMAGENET_STD, "float32")
    pyramid = keras.Model(
        random_backbone.inputs,
        [random_backbone.pyramid_outputs["P4"], random_backbone.pyramid_outputs["P5"]],
    ).predict((np.asarray(x) / 255 - mean) / std, verbose=0)
    np.testing.assert_allclose(p4, pyramid[0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(p5, pyramid[1], rtol=1e-4, atol=1e-4)
    assert p4.shape == (2, 8, 8, 256) and p5.shape == (2, 4, 4, 512)
    has = {layer.name for layer in model.layers}
    assert (classifier_lib.STAGE3_ATTENTION_NAME in has) == (
        attention != "none" and 3 in stages
    )
    assert (classifier_lib.ATTENTION_NAME in has) == (
        attention != "none" and 4 in stages
    )
    logits, maps = attention_model(model).predict(IMAGES, verbose=0)
    assert maps.shape == (2, map_side, map_side)
    assert 0 <= maps.min() and maps.max() <= 1
    path = str(tmp_path / "model.keras")
    model.save(path)
    np.testing.assert_allclose(
        keras_attn.load_model(path).predict(IMAGES, verbose=0), logits, atol=1e-5
    )
    # The frozen mode's head on the cached maps gives the classifier's logits.
    head = features_lib.head_model(model, attention, None, 0.2, 0, stages)
    rows = np.concatenate([p4.reshape(2, -1), p5.reshape(2, -1)], 1)[:, None]
    np.testing.assert_allclose(head.predict(rows, verbose=0), logits, atol=1e-4)


def test_stage_3_and_4_map_is_the_mean_of_both_stages(random_backbone):
    model = build_classifier(
        3, (64, 64, 3), 128, "unified", backbone=random_backbone, stages=(3, 4)
    )
    _, maps = attention_model(model).predict(IMAGES, verbose=0)
    stage3 = model.get_layer(classifier_lib.STAGE3_ATTENTION_NAME).output[1]
    stage4 = model.get_layer(classifier_lib.ATTENTION_NAME).output[1]
    a3, a4 = keras.Model(model.inputs, [stage3, stage4]).predict(IMAGES, verbose=0)
    expected = (a3[..., 0] + a4[..., 0].repeat(2, 1).repeat(2, 2)) / 2
    np.testing.assert_allclose(maps, expected, atol=1e-6)


@pytest.mark.parametrize(
    "attention, stages, kwargs, message",
    [
        ("none", (3,), None, "no attention to put on stage 3.*3,4"),
        ("unified", (2,), None, "must be 4 .*, 3 .* or 3,4"),
        ("unified", (3, 5), None, "must be 4"),
        ("unified", (3,), {"context_kernel": 9},
         "on stage 3 needs a map of at least 9x9, but --image_size=128 gives 8x8"),
    ],
)  # fmt: skip
def test_bad_stages_are_refused(random_backbone, attention, stages, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_classifier(
            3, (64, 64, 3), 128, attention, kwargs, backbone=random_backbone,
            stages=stages,
        )  # fmt: skip
