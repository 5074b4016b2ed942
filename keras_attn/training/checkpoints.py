"""Checkpoints a killed run can trust: the resume backup and the best weights.

Keras' `BackupAndRestore` and `ModelCheckpoint` write their `.weights.h5`
in place: a run killed, or a disk that fills, while they write leaves a
truncated file that looks like a backup, and the next run fails with
"A total of N objects could not be loaded". These two callbacks write every
file to a temporary name and rename it (`utils.atomic_io`), so a checkpoint is
always the previous complete one or the new complete one.
"""

from __future__ import annotations

import json
import os
import shutil

import keras
import numpy as np

from keras_attn import saving
from keras_attn.errors import UserError
from keras_attn.utils import atomic_io

STATE = "state.json"


class BackupError(UserError):
    """A backup cannot be written or read; the message says how to go on."""


class BackupAndRestore(keras.callbacks.Callback):
    """Backs the training state up after every epoch; restores it when `fit` starts.

    What `keras.callbacks.BackupAndRestore` keeps (model and optimizer
    variables, the epoch to go on from), plus the states of the model's
    random-number generators (augmentation, dropout), which `save_weights`
    leaves out: without them a resumed epoch redraws the first epoch's
    crops, flips and dropout masks. With them, and the epoch-keyed data
    order of `input_pipeline`, a resumed run logs the same numbers as one
    never interrupted.

    Committed atomically: the weights go to a new `epoch-<n>.weights.h5`,
    then `state.json` (naming it, with the epoch and generator states) is
    replaced (the commit), and only then is the previous weights file
    removed. A full disk stops training with one line saying that the last
    backup is intact. The folder stays when `fit` ends (a later phase of the
    run may start from it); `remove` it when the run is done.

    Args:
        backup_dir: the folder; one per `fit` call.
    """

    def __init__(self, backup_dir: str):
        super().__init__()
        self.backup_dir = backup_dir

    def exists(self) -> bool:
        return os.path.exists(os.path.join(self.backup_dir, STATE))

    def epoch(self) -> int | None:
        """The epoch a resumed `fit` goes on from (None: no backup yet)."""
        state = self._state()
        return None if state is None else state["epoch"]

    def _state(self) -> dict | None:
        if not self.exists():
            return None
        try:
            with open(os.path.join(self.backup_dir, STATE)) as f:
                return json.load(f)
        except (OSError, ValueError) as e:
            raise BackupError(self._damaged(e)) from None

    def _damaged(self, error: Exception) -> str:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return (
            f"The resume backup in {self.backup_dir} cannot be read "
            f"({type(error).__name__}: {reason}); delete that folder to restart "
            "this part of the run from its start, or pass a new --run_dir."
        )

    def on_train_begin(self, logs=None):
        state = self._state()
        if state is None:
            return
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        try:
            self.model.load_weights(os.path.join(self.backup_dir, state["weights"]))
            for variable, value in zip(
                _seed_states(self.model), state["seed_states"], strict=True
            ):
                variable.assign(np.asarray(value, variable.dtype))
        except Exception as e:  # noqa: BLE001 -- Keras/h5py raise many kinds
            raise BackupError(self._damaged(e)) from None
        self.model._initial_epoch = state["epoch"]  # what keras' callback sets

    def on_epoch_end(self, epoch, logs=None):
        previous = self._state()
        weights = f"epoch-{epoch + 1:04d}.weights.h5"
        path = os.path.join(self.backup_dir, weights)
        try:
            saving.check_space(self.model, self.backup_dir)
            with atomic_io.atomic_path(path, suffix=".weights.h5") as tmp:
                self.model.save_weights(tmp)
            seeds = [np.asarray(v.numpy()).tolist() for v in _seed_states(self.model)]
            atomic_io.write_json(
                os.path.join(self.backup_dir, STATE),
                {"epoch": epoch + 1, "weights": weights, "seed_states": seeds},
            )
        except OSError as e:
            kept = (
                f"the last complete backup (epoch {previous['epoch']}) is intact"
                if previous
                else "no earlier backup of this phase to lose"
            )
            raise BackupError(
                f"Could not write the resume backup after epoch {epoch + 1} in "
                f"{self.backup_dir} ({e.strerror or e}); {kept}: free disk space "
                "and rerun the same command to resume."
            ) from None
        if previous and previous["weights"] != weights:
            old = os.path.join(self.backup_dir, previous["weights"])
            if os.path.exists(old):
                os.remove(old)

    def on_train_end(self, logs=None):
        self.model._initial_epoch = None  # the next `fit` starts where it is told

    @staticmethod
    def remove(backup_dir: str) -> None:
        shutil.rmtree(backup_dir, ignore_errors=True)


def _seed_states(model) -> list:
    """The model's random-number generator states, in a fixed order (their
    paths are renumbered when another model is built in the same process)."""
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


class BestWeights(keras.callbacks.Callback):
    """Keeps the weights of the epoch with the highest `monitor` (atomically).

    `ModelCheckpoint(save_best_only=True, save_weights_only=True)` with
    `mode="max"`, written through a temporary file.

    Args:
        path: the `.weights.h5` file.
        monitor: the logged metric to maximise.
        best: the best value so far (a resumed run's), or None.
    """

    def __init__(self, path: str, monitor: str = "val_accuracy", best=None):
        super().__init__()
        self.path = path
        self.monitor = monitor
        self.best = best

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or (self.best is not None and value <= self.best):
            return
        had_previous = os.path.exists(self.path)
        try:
            saving.check_space(self.model, os.path.dirname(self.path))
            with atomic_io.atomic_path(self.path, suffix=".weights.h5") as tmp:
                self.model.save_weights(tmp)
        except OSError as e:
            kept = (
                "the previous ones are intact"
                if had_previous
                else "there were none before, nothing is lost"
            )
            raise BackupError(
                f"Could not write the best weights after epoch {epoch + 1} to "
                f"{self.path} ({e.strerror or e}); {kept}: free disk space and "
                "rerun the same command to resume."
            ) from None
        self.best = float(value)
