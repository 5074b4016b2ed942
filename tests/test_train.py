"""train.py end to end on `shapes`: artefacts, resume, bad flags."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import REPO, TIN100, WEIGHTS, require

import keras_attn
from keras_attn import train_lib
from keras_attn.runs import read_history

EXPECTED = (
    "model.keras",
    "config.json",
    "labels.txt",
    "history.csv",
    "metrics.json",
    "samples.npz",
    "curves.png",
    "attention.png",
)


def small_config(run_dir, **overrides) -> train_lib.TrainConfig:
    values = dict(
        dataset="shapes",
        shots=4,
        val_shots=2,
        epochs=2,
        batch_size=8,
        run_dir=str(run_dir),
        visualize_count=4,
    )
    values.update(overrides)
    return train_lib.TrainConfig(**values)


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run") / "shapes"
    train_lib.train(small_config(run_dir))
    return run_dir


def test_run_writes_every_artefact(shapes_run):
    for name in EXPECTED:
        assert (shapes_run / name).stat().st_size > 0, name
    assert not (shapes_run / "backup").exists()
    assert not [f for f in os.listdir(shapes_run) if f.startswith(".tmp")]


def test_run_artefacts_are_consistent(shapes_run):
    config = json.loads((shapes_run / "config.json").read_text())
    assert config["attention"] == "unified" and config["image_size"] == 128
    labels = (shapes_run / "labels.txt").read_text().split()
    assert len(labels) == 10
    history = read_history(str(shapes_run))
    np.testing.assert_array_equal(history["epoch"], [0, 1])
    metrics = json.loads((shapes_run / "metrics.json").read_text())
    assert metrics["epochs"] == 2
    assert metrics["best_val_accuracy"] == pytest.approx(history["val_accuracy"].max())
    for key in ("val_accuracy", "test_accuracy", "test_loss", "train_seconds"):
        assert key in metrics
    model = keras_attn.load_model(str(shapes_run / "model.keras"))
    assert model.output_shape == (None, 10)
    # The saved model is the clean classifier: no augmentation layers inside.
    assert not any("random" in layer.name for layer in model.layers)
    # Its val accuracy is the best epoch's, which is the one it was saved at.
    from keras_attn.data import load_dataset

    data = load_dataset("shapes", shots=4, val_shots=2, seed=0)
    logits = model.predict(data.val.images, verbose=0)
    accuracy = float((logits.argmax(1) == data.val.labels).mean())
    assert accuracy == pytest.approx(metrics["val_accuracy"])
    assert metrics["val_accuracy"] == pytest.approx(metrics["best_val_accuracy"])


def test_lr_schedule_warms_up_then_decays():
    schedule = train_lib.lr_schedule(1.0, epochs=10, warmup_epochs=2)
    values = [schedule(e) for e in range(10)]
    assert values[:2] == [0.5, 1.0]
    assert values[2] == pytest.approx(1.0)
    assert all(a > b for a, b in zip(values[2:], values[3:], strict=False))
    assert values[-1] == pytest.approx(0.5 * (1 + np.cos(np.pi * 7 / 8)))


class Crash(keras.callbacks.Callback):
    """Kills the run when epoch `at` begins (or at its batch `batch`), as a
    power cut would."""

    def __init__(self, at, batch=None):
        super().__init__()
        self.at = at
        self.batch = batch
        self.epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        if epoch == self.at and self.batch is None:
            raise KeyboardInterrupt("simulated kill")

    def on_train_batch_begin(self, batch, logs=None):
        if (self.epoch, batch) == (self.at, self.batch):
            raise KeyboardInterrupt("simulated kill")


class EpochRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


def test_killed_run_resumes_from_its_last_epoch(tmp_path):
    config = small_config(tmp_path / "run", epochs=3, attention="se")
    with pytest.raises(KeyboardInterrupt):
        train_lib.train(config, extra_callbacks=[Crash(at=2)])
    assert not (tmp_path / "run" / "model.keras").exists()
    recorder = EpochRecorder()
    train_lib.train(config, extra_callbacks=[recorder])
    assert recorder.epochs == [2]
    history = read_history(str(tmp_path / "run"))
    np.testing.assert_array_equal(history["epoch"], [0, 1, 2])
    assert (tmp_path / "run" / "model.keras").exists()


HISTORY_COLUMNS = ("loss", "accuracy", "learning_rate", "val_loss", "val_accuracy")


def _assert_same_history(a, b):
    np.testing.assert_array_equal(a["epoch"], b["epoch"])
    for key in HISTORY_COLUMNS:
        # Bit-identical on CPU TensorFlow; the tolerance is for other set-ups.
        np.testing.assert_allclose(a[key], b[key], rtol=1e-6, err_msg=key)


def test_resumed_run_trains_like_an_uninterrupted_one(shapes_run, tmp_path):
    """Killed in the middle of epoch 2 and resumed: the same per-epoch numbers
    (before the fix, a resumed epoch replayed epoch 1's data order and
    augmentation draws: train accuracy 0.15 -> 0.75 on this config)."""
    config = small_config(tmp_path / "run")  # the settings of `shapes_run`
    with pytest.raises(KeyboardInterrupt):
        train_lib.train(config, extra_callbacks=[Crash(at=1, batch=1)])
    assert len(read_history(str(tmp_path / "run"))["epoch"]) == 1
    train_lib.train(config)
    _assert_same_history(
        read_history(str(tmp_path / "run")), read_history(str(shapes_run))
    )


def test_resume_in_the_first_epoch_after_the_frozen_phase(tmp_path):
    """The frozen phase's final state survives a kill in the next phase."""
    config = dict(epochs=2, freeze_epochs=1, attention="none")
    train_lib.train(small_config(tmp_path / "a", **config))
    killed = small_config(tmp_path / "b", **config)
    with pytest.raises(KeyboardInterrupt):
        train_lib.train(killed, extra_callbacks=[Crash(at=1, batch=2)])
    train_lib.train(killed)
    _assert_same_history(
        read_history(str(tmp_path / "b")), read_history(str(tmp_path / "a"))
    )


def test_freeze_epochs_train_in_two_phases(tmp_path):
    recorder = EpochRecorder()
    train_lib.train(
        small_config(tmp_path / "run", epochs=2, freeze_epochs=1, attention="none"),
        extra_callbacks=[recorder],
    )
    assert recorder.epochs == [0, 1]
    history = read_history(str(tmp_path / "run"))
    np.testing.assert_array_equal(history["epoch"], [0, 1])


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(attention="bogus"), "Unknown --attention=bogus"),
        (dict(branches=("contextual", "nope")), "--branches=contextual,nope"),
        (dict(attention="se", branches=("memory",)), "applies to --attention=unified"),
        (dict(image_size=64), "image_size=64 is too small"),
        (dict(epochs=0), "--epochs must be >= 1"),
        (dict(freeze_epochs=5), "--freeze_epochs must be between"),
        (dict(mixed_precision="fp8"), "--mixed_precision=fp8"),
    ],
)
def test_bad_settings_are_refused_before_training(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        train_lib.train(small_config(tmp_path / "run", **overrides))


def run_train(*args, timeout=300):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("KERAS_ATTN_DEBUG", None)
    return subprocess.run(
        [sys.executable, "train.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--dataset=imagenet21k"], "imagenet21k"),
        (["--dataset=folder:/no/such/folder"], "/no/such/folder"),
        (["--weights=/no/such/weights"], "does not exist"),
        (["--image_size=96"], "too small"),
        (["--dataset=folder:{tiny}", "--shots=5"], "--shots=5"),
    ],
)
def test_train_script_bad_input_is_one_line(tmp_path, args, message):
    from PIL import Image

    tiny = tmp_path / "tiny"
    for name in ("cat", "dog"):
        (tiny / name).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(tiny / name / f"{i}.png")
    args = [a.format(tiny=tiny) for a in args]
    result = run_train(*args, f"--run_dir={tmp_path / 'run'}", "--epochs=1")
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_train_script_unknown_attention_flag(tmp_path):
    result = run_train("--attention=transformer", f"--run_dir={tmp_path}")
    assert result.returncode != 0
    assert "--attention" in result.stderr and "Traceback" not in result.stderr


def test_fewshot_folder_with_pretrained_weights_runs(tmp_path):
    """The issue's command, shortened: 100-way 10-shot Tiny ImageNet, 2 epochs
    with the backbone frozen (the cheapest training that shows transfer)."""
    require(TIN100)
    require(WEIGHTS)
    run_dir = tmp_path / "tin"
    config = train_lib.TrainConfig(
        dataset=f"folder:{TIN100}",
        weights=WEIGHTS,
        shots=10,
        val_shots=5,
        epochs=2,
        freeze_epochs=2,
        learning_rate=3e-3,
        warmup_epochs=1,
        batch_size=50,
        run_dir=str(run_dir),
        visualize_count=4,
    )
    train_lib.train(config)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    # Pretrained features on unseen classes: well above the 1% chance level.
    assert metrics["val_accuracy"] > 0.05
    assert len((run_dir / "labels.txt").read_text().split("\n")) == 101
