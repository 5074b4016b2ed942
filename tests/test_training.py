"""train.py end to end on `shapes`: artefacts, resume, bad flags."""

import dataclasses
import errno
import json
import os
import pathlib
import re
import subprocess
import sys
import types

import keras
import numpy as np
import pytest
from conftest import TIN100, WEIGHTS, require, run_script, run_scripts

import keras_attn
from keras_attn import runs, saving
from keras_attn.cli import user_message
from keras_attn.data import datasets
from keras_attn.runs import read_history
from keras_attn.training import checkpoints, finish, phases, trainer
from keras_attn.training.optimizers import WarmupCosine

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


def small_config(run_dir, **overrides) -> trainer.TrainConfig:
    values = dict(
        dataset="shapes",
        shots=4,
        val_shots=2,
        epochs=2,
        batch_size=8,
        # Pinned, not the demo recipe's (224 px lp-ft): seconds, not minutes.
        image_size=128,
        backbone="finetune",
        warmup_epochs=1,
        run_dir=str(run_dir),
        visualize_count=4,
    )
    values.update(overrides)
    return trainer.TrainConfig(**values)


@pytest.fixture(autouse=True, scope="module")
def fewer_test_images():
    """`shapes` with 10 test images per class here, not 50: every run scores
    its test split, and 500 images at 128 px took a fifth of a small run."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(datasets.SHAPES_PER_CLASS, "test", 10)
        yield


# The settings of `shapes_run` beyond `small_config`'s (a resumed run that
# must log the same numbers takes them too).
SHAPES_RUN = dict(tensorboard=True, report_last_epoch=True)


@dataclasses.dataclass
class Recorded:
    """One small `shapes` run several tests read (one training, not four):
    its folder, its learning rate at every step and the splits
    `finish.evaluate` scored."""

    path: pathlib.Path
    rates: list[float]
    splits_scored: list[str]


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory) -> Recorded:
    run_dir = tmp_path_factory.mktemp("run") / "shapes"
    rates, scored = StepRates(), []
    evaluate = finish.evaluate

    def counting(predict, data, splits=("val", "test")):
        scored.extend(splits)
        return evaluate(predict, data, splits)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(finish, "evaluate", counting)
        trainer.train(small_config(run_dir, **SHAPES_RUN), extra_callbacks=[rates])
    return Recorded(run_dir, rates.rates, scored)


def test_run_writes_every_artefact(shapes_run):
    shapes_run = shapes_run.path
    for name in EXPECTED:
        assert (shapes_run / name).stat().st_size > 0, name
    # What only a run in progress needs is gone (3x model.keras each).
    assert not (shapes_run / "backup").exists()
    assert not (shapes_run / "checkpoints").exists()
    assert not [f for f in os.listdir(shapes_run) if f.startswith(".tmp")]


def test_run_artefacts_are_consistent(shapes_run):
    require(WEIGHTS)  # learns only from pretrained features (--weights=auto)
    shapes_run = shapes_run.path
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
    # Two losses, each named: history.csv's loss / val_loss are the training
    # objective (label smoothing 0.1), its val_cross_entropy the plain
    # cross-entropy that metrics.json and the model card call val_loss.
    best = int(np.argmax(history["val_accuracy"]))
    plain = history["val_cross_entropy"][best]
    assert metrics["val_loss"] == pytest.approx(plain, rel=1e-4)
    assert abs(history["val_loss"][best] - plain) > 1e-3  # another loss
    assert (
        "val_loss, test_loss: cross-entropy without label smoothing"
        in (metrics["loss_note"])
    )
    assert metrics["loss_note"].endswith("as trained, label smoothing 0.1")
    card = (shapes_run / "README.md").read_text()
    assert "| macro F1 | cross-entropy |" in card
    assert "Cross-entropy without label smoothing; `history.csv`'s `loss`" in card
    # `shapes` images carry their object's box: the run records the pointing
    # game of its held-out maps and says it in one line on the card.
    from keras_attn.evaluation import pointing
    from keras_attn.models import classifier

    kept = runs.read_samples(str(shapes_run)).held_out
    _, maps = classifier.predict_with_attention(model, kept.images)
    score = pointing.summary(maps, kept.boxes)
    recorded = metrics["pointing_game"]
    assert recorded["map_size"] == score["map_size"] == [4, 4]
    assert recorded["images"] == score["images"] == len(kept)
    for key in ("max_in_box", "centre_map", "chance"):
        assert recorded[key] == pytest.approx(score[key], abs=1e-6), key
    assert f"Where it looks: {pointing.sentence(score)}" in card
    assert config["warmup_epochs_run"] == {"full": 1}


def test_learning_rate_moves_every_step_on_one_warmup_cosine_curve():
    schedule = WarmupCosine(1.0, total_steps=100, warmup_steps=10)
    rates = [float(schedule(step)) for step in range(100)]
    np.testing.assert_allclose(rates[:10], np.arange(1, 11) / 10, rtol=1e-6)
    assert all(a > b for a, b in zip(rates[10:], rates[11:], strict=False))
    assert rates[55] == pytest.approx(0.5 * (1 + np.cos(np.pi * 45 / 90)), rel=1e-5)
    again = WarmupCosine.from_config(schedule.get_config())
    assert float(again(45)) == pytest.approx(rates[45], rel=1e-6)


class StepRates(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.rates = []

    def on_train_batch_begin(self, batch, logs=None):
        rate = self.model.optimizer.learning_rate
        self.rates.append(float(keras.ops.convert_to_numpy(rate)))


def test_run_rate_follows_the_steps_and_history_logs_it(shapes_run):
    # `shapes`: 1 warm-up epoch of 2. 40 images, batch 8: 5 steps an epoch.
    assert runs.read_config(str(shapes_run.path))["warmup_epochs"] == 1
    expected = [float(WarmupCosine(1e-3, 10, 5)(step)) for step in range(10)]
    np.testing.assert_allclose(shapes_run.rates, expected, rtol=1e-5)
    # A new rate every step but where the warm-up meets the cosine (both peak).
    assert len(set(np.round(shapes_run.rates, 9))) == 9
    history = read_history(str(shapes_run.path))
    np.testing.assert_allclose(
        history["learning_rate"], [expected[5], float(WarmupCosine(1e-3, 10, 5)(10))]
    )


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


@pytest.mark.large  # two trainings (the default suite: test_resumed_run_trains_...)
def test_killed_run_resumes_from_its_last_epoch(tmp_path):
    config = small_config(tmp_path / "run", epochs=3, attention="se")
    with pytest.raises(KeyboardInterrupt):
        trainer.train(config, extra_callbacks=[Crash(at=2)])
    assert not (tmp_path / "run" / "model.keras").exists()
    recorder = EpochRecorder()
    trainer.train(config, extra_callbacks=[recorder])
    assert recorder.epochs == [2]
    history = read_history(str(tmp_path / "run"))
    np.testing.assert_array_equal(history["epoch"], [0, 1, 2])
    assert (tmp_path / "run" / "model.keras").exists()


@pytest.mark.large  # two trainings
def test_run_killed_in_its_first_epoch_starts_again_and_a_finished_one_is_kept(
    tmp_path,
):
    config = small_config(tmp_path / "run", epochs=1, attention="none")
    with pytest.raises(KeyboardInterrupt):
        trainer.train(config, extra_callbacks=[Crash(at=0, batch=1)])
    assert (tmp_path / "run" / "config.json").exists()  # but no backup yet
    assert not (tmp_path / "run" / "backup").exists()
    recorder = EpochRecorder()
    trainer.train(config, extra_callbacks=[recorder])
    assert recorder.epochs == [0]
    np.testing.assert_array_equal(read_history(str(tmp_path / "run"))["epoch"], [0])
    with pytest.raises(ValueError, match="already holds a finished run"):
        trainer.train(config)


HISTORY_COLUMNS = ("loss", "accuracy", "learning_rate", "val_loss", "val_accuracy")


def _assert_same_history(a, b):
    np.testing.assert_array_equal(a["epoch"], b["epoch"])
    for key in HISTORY_COLUMNS:
        # Bit-identical on CPU TensorFlow; the tolerance is for other set-ups.
        np.testing.assert_allclose(a[key], b[key], rtol=1e-6, err_msg=key)


@pytest.mark.large  # 34 s
def test_resumed_run_trains_like_an_uninterrupted_one(
    shapes_run, tmp_path, monkeypatch
):
    """Killed while epoch 2's backup was written (history.csv had logged the
    epoch) and resumed from epoch 1's: the same per-epoch numbers (before the
    fix, a resumed epoch replayed epoch 1's data order and augmentation
    draws: train accuracy 0.15 -> 0.75 on this config), and epoch 2 logged
    once (it was logged twice)."""
    real = checkpoints.BackupAndRestore.on_epoch_end

    def killed_at_epoch_2(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt("simulated kill")
        return real(self, epoch, logs)

    config = small_config(tmp_path / "run", **SHAPES_RUN)  # `shapes_run`'s
    with monkeypatch.context() as patch:
        patch.setattr(checkpoints.BackupAndRestore, "on_epoch_end", killed_at_epoch_2)
        with pytest.raises(KeyboardInterrupt):
            trainer.train(config)
    history_csv = tmp_path / "run" / "history.csv"
    assert len(history_csv.read_text().splitlines()) == 1 + 2  # epoch 2 logged
    trainer.train(config)
    rows = history_csv.read_text().splitlines()
    assert [row.split(",")[0] for row in rows] == ["epoch", "0", "1"]
    _assert_same_history(
        read_history(str(tmp_path / "run")), read_history(str(shapes_run.path))
    )


@pytest.mark.large  # three lp-ft trainings
def test_resume_in_the_first_epoch_after_the_probe_phase(tmp_path):
    """lp-ft: the probe's final state survives a kill in the fine-tuning phase."""
    config = dict(epochs=1, backbone="lp-ft", probe_epochs=1, attention="none")
    trainer.train(small_config(tmp_path / "a", **config))
    killed = small_config(tmp_path / "b", **config)
    with pytest.raises(KeyboardInterrupt):
        trainer.train(killed, extra_callbacks=[Crash(at=1, batch=2)])
    trainer.train(killed)
    _assert_same_history(
        read_history(str(tmp_path / "b")), read_history(str(tmp_path / "a"))
    )


@pytest.mark.large
def test_lp_ft_probes_on_cached_features_then_fine_tunes(tmp_path):
    require(WEIGHTS)  # learns only from pretrained features (--weights=auto)
    recorder, rates = EpochRecorder(), StepRates()
    run_dir = tmp_path / "run"
    trainer.train(
        small_config(run_dir, epochs=1, backbone="lp-ft", probe_epochs=2),
        extra_callbacks=[recorder, rates],
    )
    assert recorder.epochs == [0, 1, 2]  # probe 0-1, fine-tuning 2
    history = read_history(str(run_dir))
    np.testing.assert_array_equal(history["epoch"], [0, 1, 2])
    # Each phase has its own curve: 5 steps an epoch; the probe warms up over
    # its first epoch and decays; fine-tuning (1 epoch: no warm-up) restarts.
    probe = [float(WarmupCosine(1e-3, 10, 5)(t)) for t in range(10)]
    tune = [float(WarmupCosine(1e-3, 5, 0)(t)) for t in range(5)]
    np.testing.assert_allclose(rates.rates, probe + tune, rtol=1e-5)
    metrics = runs.read_metrics(str(run_dir))
    assert metrics["backbone_mode"] == "lp-ft" and metrics["epochs"] == 3
    # The kept epoch is the fine-tuning phase's (its only one), whatever the probe's.
    assert metrics["early_stopping"]["best_epoch"] == 3
    assert metrics["best_val_accuracy"] == pytest.approx(history["val_accuracy"][2])


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(attention="bogus"), "Unknown --attention=bogus"),
        (dict(branches=("contextual", "nope")), "--branches=contextual,nope"),
        (dict(attention="se", branches=("memory",)), "applies to --attention=unified"),
        (dict(image_size=64), "image_size=64 is too small"),
        (dict(epochs=0), "--epochs must be >= 1"),
        (dict(backbone="lp-ft", probe_epochs=0), "--probe_epochs must be >= 1"),
        (
            dict(backbone="frozen", probe_epochs=0),  # not "--epochs must be >= 1"
            "--probe_epochs must be >= 1 for --backbone=frozen",
        ),
        (dict(warmup_epochs=-1), "--warmup_epochs must be >= 0"),
        (dict(probe_epochs=-2), "--probe_epochs must be >= 0"),
        (dict(seed=-1), "--seed must be >= 0"),
        (dict(augment="bogus"), "Unknown --augment=bogus; choose one of: none, flip"),
        (dict(weights="/no/such/weights"), "--weights=/no/such/weights does not"),
        (dict(backbone="frozen", distribute=True), "drop --distribute"),
        (dict(backbone="frozen", weights="none"), "train a head on random features"),
        (dict(mixed_precision="fp8"), "--mixed_precision=fp8"),
    ],
)
def test_bad_settings_are_refused_before_training(
    tmp_path, monkeypatch, overrides, message
):
    """Every flag-only check runs before the data loads (a folder of photos
    would be decoded first otherwise)."""

    def load_dataset(*args, **kwargs):
        raise AssertionError("the data was loaded before the flags were checked")

    monkeypatch.setattr(trainer, "load_dataset", load_dataset)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        trainer.train(small_config(tmp_path / "run", **overrides))
    assert not (tmp_path / "run").exists()


def run_train(*args, timeout=300):
    return run_script("train.py", *args, timeout=timeout)


BAD_INPUT = [
    (["--dataset=imagenet21k"], "imagenet21k"),
    (["--dataset=folder:/no/such/folder"], "/no/such/folder"),
    (["--weights=/no/such/weights"], "does not exist"),
    (["--image_size=96"], "too small"),
    (["--dataset=folder:{tiny}", "--shots=5"], "--shots=5"),
    (["--branches="], "--branches= is not valid: give a non-empty subset"),
    (["--learning_rate=nan"], "--learning_rate must be a finite number"),
    (["folder:{tiny}"], "Unexpected arguments: folder:"),
]


@pytest.mark.large
def test_train_script_bad_input_is_one_line(tmp_path):
    from PIL import Image

    tiny = tmp_path / "tiny"
    for name in ("cat", "dog"):
        (tiny / name).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(tiny / name / f"{i}.png")
    commands = [
        ["train.py", *[a.format(tiny=tiny) for a in args], "--epochs=1"]
        + [f"--run_dir={tmp_path / f'run{i}'}"]
        for i, (args, _) in enumerate(BAD_INPUT)
    ]
    for i, ((args, message), result) in enumerate(
        zip(BAD_INPUT, run_scripts(commands), strict=True)
    ):
        assert result.returncode == 2, (args, result.stderr[-2000:])
        # The error is all the user sees: no TensorFlow start-up log before it.
        (error,) = result.stderr.strip().splitlines()
        assert error.startswith("error:") and message in error, result.stderr[-2000:]
        # A run that fails on its input leaves no run folder behind.
        assert not (tmp_path / f"run{i}").exists()


@pytest.mark.large
def test_run_dir_that_cannot_be_a_run_folder(tmp_path, monkeypatch):
    (tmp_path / "a_file").write_text("x")
    cases = (
        (tmp_path / "a_file", "is a file, not a folder"),
        (tmp_path / "a_file" / "run", "Cannot create --run_dir=.*a_file is a file"),
    )
    commands = [["train.py", f"--run_dir={d}", "--epochs=1"] for d, _ in cases]
    for (_, message), result in zip(cases, run_scripts(commands), strict=True):
        assert result.returncode == 2, result.stderr[-2000:]
        (error,) = result.stderr.strip().splitlines()
        assert re.search(message, error), error
    # A folder without write permission (root ignores chmod, so simulated).
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(ValueError, match="Cannot write in .* \\(permission denied\\)"):
        trainer.train(small_config(tmp_path / "locked" / "run"))


@pytest.mark.large
def test_train_script_unknown_attention_flag(tmp_path):
    result, unknown = run_scripts(
        [
            ["train.py", "--attention=transformer", f"--run_dir={tmp_path}"],
            ["train.py", "--epoch=3", f"--run_dir={tmp_path}"],
        ]
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: flag --attention=transformer: value should be one of "
        "<none|unified|se|cbam|eca> (see --help)"
    )
    assert unknown.returncode == 2
    assert unknown.stderr.strip().startswith(
        "error: Unknown command line flag 'epoch'"
    ), unknown.stderr


@pytest.mark.large  # 1,000 real images, 100 classes: about a minute alone
def test_fewshot_folder_with_pretrained_weights_runs(tmp_path):
    """The issue's command, shortened: 100-way 10-shot Tiny ImageNet, 2 epochs
    with the backbone frozen (the cheapest training that shows transfer)."""
    require(TIN100)
    require(WEIGHTS)
    run_dir = tmp_path / "tin"
    config = trainer.TrainConfig(
        dataset=f"folder:{TIN100}",
        weights=WEIGHTS,
        shots=10,
        val_shots=5,
        epochs=2,
        backbone="frozen",
        learning_rate=3e-3,
        warmup_epochs=1,
        batch_size=50,
        run_dir=str(run_dir),
        visualize_count=4,
    )
    trainer.train(config)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    # Pretrained features on unseen classes: well above the 1% chance level.
    assert metrics["val_accuracy"] > 0.05
    assert len((run_dir / "labels.txt").read_text().split("\n")) == 101


class FullDisk:
    """`save_weights` that, once armed, writes half a file and fails with
    ENOSPC for files under `folder`, as a full disk does."""

    def __init__(self, folder):
        self.real, self.folder, self.armed = keras.Model.save_weights, folder, False

    def method(self):
        def save_weights(model, filepath, *args, **kwargs):
            if self.armed and str(filepath).startswith(str(self.folder)):
                with open(filepath, "wb") as f:
                    f.write(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
                raise OSError(errno.ENOSPC, "No space left on device", str(filepath))
            return self.real(model, filepath, *args, **kwargs)

        return save_weights


class Arm(keras.callbacks.Callback):
    def __init__(self, fault, at):
        super().__init__()
        self.fault, self.at = fault, at

    def on_epoch_begin(self, epoch, logs=None):
        self.fault.armed = epoch == self.at


@pytest.mark.large  # two trainings of 3 epochs
def test_full_disk_keeps_the_last_backup_and_the_run_resumes(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    backup = run_dir / "backup" / "full"
    fault = FullDisk(backup)
    monkeypatch.setattr(keras.Model, "save_weights", fault.method())
    config = small_config(run_dir, epochs=3, attention="none")
    with pytest.raises(checkpoints.BackupError) as info:
        trainer.train(config, extra_callbacks=[Arm(fault, at=1)])
    message = user_message(info.value)
    assert "\n" not in message
    assert "Could not write the resume backup after epoch 2" in message
    assert "(epoch 1) is intact: free disk space and rerun the same command" in message
    # Only the complete backup of epoch 1: no half-written file that looks valid.
    assert sorted(os.listdir(backup)) == ["epoch-0001.weights.h5", "state.json"]
    fault.armed = False
    recorder = EpochRecorder()
    trainer.train(config, extra_callbacks=[recorder])
    assert recorder.epochs == [1, 2]
    np.testing.assert_array_equal(read_history(str(run_dir))["epoch"], [0, 1, 2])


@pytest.mark.large
def test_damaged_backup_is_named_with_the_way_out(tmp_path):
    config = small_config(tmp_path / "run", epochs=2, attention="none")
    with pytest.raises(KeyboardInterrupt):
        trainer.train(config, extra_callbacks=[Crash(at=1)])
    backup = tmp_path / "run" / "backup" / "full"
    (backup / "epoch-0001.weights.h5").write_bytes(b"truncated")
    with pytest.raises(checkpoints.BackupError) as info:
        trainer.train(config)
    message = user_message(info.value)
    assert f"The resume backup in {backup} cannot be read" in message
    assert "delete that folder to restart" in message and "\n" not in message


def test_disk_full_and_permission_errors_are_one_line():
    full = OSError(errno.ENOSPC, "No space left on device", "/runs/x/model.keras")
    assert user_message(full) == (
        "No space left on the disk writing /runs/x/model.keras: free some space "
        "and rerun the same command (a training run resumes from its last backup)."
    )
    denied = PermissionError(errno.EACCES, "Permission denied", "/srv/labels.txt")
    assert user_message(denied).startswith("Permission denied: /srv/labels.txt;")
    assert user_message(RuntimeError("a bug")) is None  # keeps its traceback


def test_weights_are_not_written_to_a_disk_without_room(tmp_path, monkeypatch):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1000)])
    usage = checkpoints.shutil.disk_usage(tmp_path)
    monkeypatch.setattr(
        checkpoints.shutil, "disk_usage", lambda p: usage._replace(free=2**20)
    )
    with pytest.raises(OSError, match="MB needed, 1 MB free") as info:
        saving.check_space(model, str(tmp_path))
    assert info.value.errno == errno.ENOSPC


@pytest.mark.large
def test_keras_load_model_works_after_import_keras_attn(shapes_run):
    code = (
        "import sys, keras, keras_attn\n"
        "model = keras.saving.load_model(sys.argv[1])\n"
        "print(model.output_shape)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(shapes_run.path / "model.keras")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("(None, 10)")


@pytest.mark.large  # a training of up to 6 epochs
def test_early_stopping_stops_and_keeps_the_best_epoch(tmp_path):
    run_dir = tmp_path / "run"
    # A rate of ~0 after the warm-up: val accuracy stops improving at once.
    config = small_config(
        run_dir, epochs=6, early_stopping=1, attention="none", learning_rate=1e-9
    )
    trainer.train(config)
    history = read_history(str(run_dir))
    metrics = runs.read_metrics(str(run_dir))
    stopping = metrics["early_stopping"]
    assert stopping["patience"] == 1 and len(history["epoch"]) < 6
    assert stopping["stopped_epoch"] == len(history["epoch"])
    best = int(np.argmax(history["val_accuracy"]))
    assert stopping["best_epoch"] == best + 1
    assert metrics["val_accuracy"] == pytest.approx(history["val_accuracy"][best])


def test_test_split_is_scored_once_when_the_best_epoch_is_the_last(shapes_run):
    require(WEIGHTS)  # learns only from pretrained features (--weights=auto)
    metrics = runs.read_metrics(str(shapes_run.path))
    # Its best epoch is its last (checked, in case the data changes).
    assert metrics["early_stopping"]["best_epoch"] == metrics["epochs"] == 2
    assert shapes_run.splits_scored.count("test") == 1
    assert shapes_run.splits_scored.count("val") == 1
    # The kept weights are the last ones: one score serves both.
    assert metrics["test_accuracy"] == metrics["last_test_accuracy"]
    assert metrics["test_loss"] == pytest.approx(metrics["last_test_loss"])
    report = shapes_run.path / "eval" / "model.keras-test" / "report.json"
    report = json.loads(report.read_text())
    assert report["top1"] == pytest.approx(metrics["test_accuracy"])
    assert report["images"] == 100


@pytest.mark.large  # a training of its own (the default suite reads `shapes_run`)
def test_test_split_is_scored_twice_when_the_best_epoch_is_not_the_last(
    tmp_path, monkeypatch
):
    real = phases.best_epoch
    monkeypatch.setattr(phases, "best_epoch", lambda *a: (real(*a)[0], False))
    splits_scored = []
    evaluate = finish.evaluate

    def counting(predict, data, splits=("val", "test")):
        splits_scored.extend(splits)
        return evaluate(predict, data, splits)

    monkeypatch.setattr(finish, "evaluate", counting)
    run_dir = tmp_path / "run"
    trainer.train(small_config(run_dir, epochs=1, report_last_epoch=True))
    metrics = runs.read_metrics(str(run_dir))
    assert splits_scored.count("test") == 2
    assert splits_scored.count("val") == 1
    # One epoch: the kept weights are the last ones, scored twice alike.
    assert metrics["test_accuracy"] == metrics["last_test_accuracy"]
    assert metrics["test_loss"] == pytest.approx(metrics["last_test_loss"])
    report = run_dir / "eval" / "model.keras-test" / "report.json"
    report = json.loads(report.read_text())
    assert report["top1"] == pytest.approx(metrics["test_accuracy"])


def test_best_epoch_reads_the_phase_history(tmp_path):
    rows = ["epoch,val_accuracy", "0,0.2", "1,0.5", "2,0.5", "3,0.4", "4,0.6"]
    (tmp_path / "history.csv").write_text("\n".join(rows) + "\n")
    run_dir = str(tmp_path)
    assert phases.best_epoch(run_dir, phases.Phase("full", 0, 5)) == (4, True)
    assert phases.best_epoch(run_dir, phases.Phase("full", 0, 4)) == (1, False)
    # A tie keeps the first best epoch, as BestWeights does.
    assert phases.best_epoch(run_dir, phases.Phase("full", 0, 3)) == (1, False)
    assert phases.best_epoch(run_dir, phases.Phase("full", 0, 2)) == (1, True)
    # lp-ft: the fine-tuning phase's best, even where the probe's was higher.
    assert phases.best_epoch(run_dir, phases.Phase("full", 2, 2)) == (2, False)
    assert phases.best_epoch(str(tmp_path / "none"), phases.Phase("full", 0, 2)) == (
        None,
        False,
    )


@pytest.mark.large  # two trainings: 17 s
def test_class_weight_balanced_weighs_rare_classes_up(tmp_path):
    from PIL import Image

    root = tmp_path / "data"
    for name, count in (("common", 12), ("rare", 3)):
        (root / name).mkdir(parents=True)
        for i in range(count):
            Image.new("RGB", (8, 8), (i * 20, 0, 0)).save(root / name / f"{i}.png")
    # train.py in a process of its own: what a training leaves in TensorFlow's
    # memory (~300 MB a run, not freed) goes with it.
    result = run_train(
        f"--dataset=folder:{root}",
        "--val_shots=1",
        "--epochs=1",
        "--batch_size=8",
        "--attention=none",
        "--weights=none",
        "--class_weight=balanced",
        f"--run_dir={tmp_path / 'run'}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    saved = runs.read_config(str(tmp_path / "run"))
    # 13 training images (11 + 2): n / (K * n_c).
    assert saved["class_weights"] == pytest.approx(
        {"common": 13 / (2 * 11), "rare": 13 / (2 * 2)}, abs=1e-4
    )
    data = types.SimpleNamespace(
        train=types.SimpleNamespace(labels=np.array([0, 0, 0])),
        num_classes=2,
        class_names=["a", "b"],
    )
    with pytest.raises(ValueError, match="class 'b' has none"):
        phases.class_weights("balanced", data)


@pytest.mark.large  # a train.py run (~80 s on a shared CPU)
def test_init_from_starts_from_a_finished_run(shapes_run, tmp_path):
    shapes_run = shapes_run.path
    # train.py in a process of its own (see the class-weight test).
    result = run_train(
        "--dataset=shapes",
        "--shots=4",
        "--val_shots=2",
        "--epochs=1",
        "--batch_size=8",
        # What `shapes_run` trained with (not the demo's 224 px lp-ft).
        "--image_size=128",
        "--backbone=finetune",
        "--warmup_epochs=1",
        f"--init_from={shapes_run}",
        f"--run_dir={tmp_path / 'run'}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # Its first epoch saw the batches of `shapes_run`'s first (seed, epoch 0),
    # which started from the pretrained backbone and a new head: from trained
    # weights, the loss is lower.
    started = read_history(str(tmp_path / "run"))["loss"][0]
    assert started < read_history(str(shapes_run))["loss"][0] - 0.2


def test_init_from_another_size_classes_or_architecture_is_refused(
    shapes_run, tmp_path
):
    shapes_run = shapes_run.path
    from keras_attn.models import build_classifier

    labels = runs.read_labels(str(shapes_run))
    other_size = build_classifier(len(labels), (32, 32, 3), 128, "unified")
    data = types.SimpleNamespace(class_names=labels)
    with pytest.raises(ValueError, match=r"takes \(64, 64, 3\) images.*same --image"):
        trainer.init_from(other_size, str(shapes_run), data)
    data = types.SimpleNamespace(class_names=[*labels[:-1], "hexagon"])
    message = r"other classes .*missing \['crescent'\], extra \['hexagon'\]"
    with pytest.raises(ValueError, match=message):
        trainer.init_from(other_size, str(shapes_run), data)
    wrong = small_config(
        tmp_path / "wrong", epochs=1, attention="se", init_from=str(shapes_run)
    )
    message = r"trained with --attention=unified, this run has --attention=se; pass"
    with pytest.raises(ValueError, match=message):
        trainer.train(wrong)
    assert not (tmp_path / "wrong").exists()


def test_tensorboard_logs_the_scalars(shapes_run):
    run_dir = shapes_run.path
    events = [
        os.path.join(root, f)
        for root, _, files in os.walk(run_dir / "tensorboard")
        for f in files
        if "tfevents" in f
    ]
    assert events
    import tensorflow as tf

    tags = {
        value.tag
        for path in events
        for event in tf.compat.v1.train.summary_iterator(path)
        for value in event.summary.value
    }
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= tags, tags


@pytest.mark.parametrize(
    "env, mirror, chosen, why",
    [
        ("/my/weights", False, "/my/weights", "$KERAS_ATTN_WEIGHTS names them"),
        (None, True, "MIRROR", "cannot be downloaded (offline), so the local"),
        (None, False, "none", "no local checkpoint: random weights; pass --weights"),
    ],
)
def test_weights_auto_says_what_it_chose_and_why(
    tmp_path, monkeypatch, capsys, env, mirror, chosen, why
):
    from keras_attn.models import backbone

    def offline(*args, **kwargs):
        raise ConnectionError("offline")

    monkeypatch.setattr(
        backbone.keras_hub.models.ResNetBackbone, "from_preset", offline
    )
    if env:
        monkeypatch.setenv("KERAS_ATTN_WEIGHTS", env)
    else:
        monkeypatch.delenv("KERAS_ATTN_WEIGHTS", raising=False)
    folder = tmp_path / "mirror"
    if mirror:
        folder.mkdir()
    monkeypatch.setattr(backbone, "LOCAL_MIRRORS", (str(folder),))
    chosen = str(folder) if chosen == "MIRROR" else chosen
    config = small_config(tmp_path / "run", weights="auto").resolved()
    _, weights = trainer._load_inputs(config)
    assert weights == chosen
    line = [x for x in capsys.readouterr().out.splitlines() if "weights" in x][-1]
    assert line.startswith(f"backbone weights: {chosen} (--weights=auto: ")
    assert why in line


def test_full_disk_on_the_best_weights_says_what_is_intact(tmp_path, monkeypatch):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    best = checkpoints.BestWeights(str(tmp_path / "checkpoints" / "best.weights.h5"))
    best.set_model(model)
    real = saving.check_space

    def full(model, folder):
        raise OSError(errno.ENOSPC, "No space left on device", folder)

    monkeypatch.setattr(saving, "check_space", full)
    with pytest.raises(checkpoints.BackupError) as info:
        best.on_epoch_end(0, {"val_accuracy": 0.5})
    message = user_message(info.value)
    assert "after epoch 1" in message and "intact" not in message
    assert "there were none before, nothing is lost: free disk space" in message
    monkeypatch.setattr(saving, "check_space", real)
    best.on_epoch_end(1, {"val_accuracy": 0.6})
    monkeypatch.setattr(saving, "check_space", full)
    with pytest.raises(checkpoints.BackupError) as info:
        best.on_epoch_end(2, {"val_accuracy": 0.7})
    assert "after epoch 3" in str(info.value)
    assert "; the previous ones are intact: free disk space" in str(info.value)


def test_init_from_names_the_flag_and_the_setting_that_differs(tmp_path):
    missing = small_config(tmp_path / "a", init_from=str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError) as info:
        trainer.check_init_from(missing.init_from, missing.resolved())
    assert str(info.value).startswith(f"--init_from={tmp_path / 'nowhere'}: no run")
    source = tmp_path / "source"
    source.mkdir()
    for name in ("model.keras", "labels.txt"):
        (source / name).write_text("")
    (source / "config.json").write_text(
        json.dumps({"image_size": 128, "attention": "unified", "branches": ["memory"]})
    )
    config = small_config(tmp_path / "b", init_from=str(source)).resolved()
    with pytest.raises(ValueError) as info:
        trainer.check_init_from(str(source), config)
    assert str(info.value) == (
        f"--init_from={source} was trained with --branches=memory, this run has "
        "--branches=all; pass the same --branches."
    )


def test_a_warmup_longer_than_a_phase_is_recorded_as_it_ran():
    config = trainer.TrainConfig(
        dataset="shapes", backbone="lp-ft", probe_epochs=3, epochs=1,
        warmup_epochs=2,
    ).resolved()  # fmt: skip
    assert phases.warmups(config) == {"probe": 2, "full": 0}
    assert phases.warmups(config.__class__(**{**config.__dict__, "epochs": 5})) == {
        "probe": 2,
        "full": 2,
    }


def test_repeated_stages_are_recorded_as_they_train():
    config = trainer.TrainConfig(dataset="shapes", attention_stages=(3, 3))
    assert config.resolved().attention_stages == (3,)
    config = trainer.TrainConfig(dataset="shapes", attention_stages=(4, 3, 4))
    assert config.resolved().attention_stages == (3, 4)
