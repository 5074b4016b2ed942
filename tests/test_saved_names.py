"""Registered class names are frozen: files saved by earlier code still load.

`model.keras` files and resume backups name our classes as
`keras_attn>ClassName`; Keras resolves that name from its registry, not from
the module path, so classes may move between modules but must never be
renamed. The fixtures were written by the code before the package was
reorganised (`tests/fixtures/make_saved_names.py`, run at commit e8487ab).
"""

import copy
import json
import os
import pkgutil
import subprocess
import sys
import textwrap

import numpy as np

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")

# Every class a keras-attn file can name. Renaming one breaks every file saved
# before: register the old name too instead (as keras-hub does for keras_nlp).
REGISTERED_IN_MODEL_FILES = (
    "CBAM",
    "ECA",
    "ResizeImages",
    "SqueezeExcite",
    "UnifiedSpatialAttention",
)
REGISTERED = {
    # in a run's model.keras
    *(f"keras_attn>{name}" for name in REGISTERED_IN_MODEL_FILES),
    # in a run's resume backup (training wrapper, frozen-mode head, optimizer)
    "keras_attn>RandomPadCrop",
    "keras_attn>RandomResizedCrop",
    "keras_attn>RandomView",
    "keras_attn>ScaledAdamW",
    "keras_attn>SplitMaps",
    "keras_attn>TrainingAugmentation",
    "keras_attn>WarmupCosine",
}


def _import_every_module():
    import importlib

    import keras_attn

    for module in pkgutil.walk_packages(keras_attn.__path__, "keras_attn."):
        if module.name != "keras_attn.visualize":  # a command, no classes
            importlib.import_module(module.name)


def test_registered_names_are_frozen():
    import keras

    _import_every_module()
    ours = {
        name
        for name in keras.saving.get_custom_objects()
        if name.startswith("keras_attn>")
    }
    assert ours == REGISTERED


def test_model_file_saved_before_loads_after_import_keras_attn(tmp_path):
    # A fresh process that imports nothing of ours but the package root, as a
    # user's `import keras_attn; keras.saving.load_model(...)` does.
    model_file = os.path.join(FIXTURES, "attention_layers.keras")
    data_file = os.path.join(FIXTURES, "attention_layers.npz")
    code = textwrap.dedent(
        f"""
        import keras, numpy as np
        import keras_attn
        model = keras.saving.load_model({model_file!r})
        data = np.load({data_file!r})
        np.save({str(tmp_path / "out.npy")!r}, np.asarray(model(data["inputs"])))
        print(sorted(type(layer).__name__ for layer in model.layers))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for name in (
        "CBAM",
        "ECA",
        "ResizeImages",
        "SqueezeExcite",
        "UnifiedSpatialAttention",
    ):
        assert f"'{name}'" in result.stdout
    expected = np.load(data_file)["outputs"]
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, atol=1e-5)


def test_training_objects_saved_before_deserialize():
    import keras

    _import_every_module()
    with open(os.path.join(FIXTURES, "training_objects.json")) as f:
        saved = json.load(f)
    assert {f"keras_attn>{name}" for name in saved} <= REGISTERED
    for name, config in saved.items():
        # A copy: Keras replaces nested configs by objects in place.
        obj = keras.saving.deserialize_keras_object(copy.deepcopy(config))
        assert type(obj).__name__ == name
        # Through JSON, as a file holds it (tuples become lists).
        again = json.loads(json.dumps(keras.saving.serialize_keras_object(obj)))
        assert again["registered_name"] == config["registered_name"]
        # Module paths move with the code; the registered names are the contract.
        assert _without_modules(again["config"]) == _without_modules(
            config["config"]
        ), name


def _without_modules(config):
    """`config` with every nested `module` entry dropped."""
    if isinstance(config, dict):
        return {k: _without_modules(v) for k, v in config.items() if k != "module"}
    if isinstance(config, list):
        return [_without_modules(v) for v in config]
    return config
