"""The phases of a training run, by backbone mode (`--backbone`).

- `finetune`: one phase, `full`: the whole network trains on images (inside
  the augmentation wrapper), the backbone at `backbone_lr_scale` times the
  rate.
- `frozen`: one phase, `probe`: the backbone stays frozen; its maps are
  computed once per image and per flip (`feature_cache.FeatureCache`) and the
  attention + head train on them (`feature_cache.head_model`): seconds per epoch.
- `lp-ft`: `probe` for `probe_epochs`, then `full` from the probed head:
  linear probing then fine-tuning (Kumar et al., 2022, "Fine-Tuning can
  Distort Pretrained Features and Underperform Out-of-Distribution"), whose
  point is that fine-tuning starts from a head that already fits.

Each phase has its own warm-up + cosine schedule per step, its own resume
backup (kept until the run is done, so a later phase always starts from
the earlier one's final state) and its own best-validation checkpoint. The
epochs of a run are numbered across phases in `history.csv`. The run keeps
the best validation epoch of its last phase; in `lp-ft` the probe's best
head is where fine-tuning starts.

A `frozen` run also scores val and test on the cached maps (the head on the
same backbone output, rounded to float16 as in training): the test split's
maps are computed once, and later seeds and the last-epoch score reuse them.
"""

from __future__ import annotations

import dataclasses
import os
import sys

import keras
import numpy as np

from keras_attn import runs
from keras_attn.models import classifier
from keras_attn.training import feature_cache, input_pipeline
from keras_attn.training.checkpoints import BackupAndRestore, BestWeights
from keras_attn.training.config import attention_kwargs
from keras_attn.training.optimizers import LogLearningRate, ScaledAdamW, WarmupCosine


@dataclasses.dataclass
class Phase:
    name: str  # "probe" (cached features) or "full" (images)
    first: int  # its first epoch, numbered across the run
    epochs: int

    @property
    def last(self) -> int:
        return self.first + self.epochs

    def warmup(self, config) -> int:
        """The warm-up epochs this phase runs: `--warmup_epochs`, cut to leave
        the cosine at least one epoch (what a short run on a recipe gets)."""
        return min(config.warmup_epochs, max(self.epochs - 1, 0))


def warmups(config) -> dict[str, int]:
    """Each phase's warm-up as it runs (recorded in config.json)."""
    return {phase.name: phase.warmup(config) for phase in plan(config)}


def plan(config) -> list[Phase]:
    if config.backbone == "finetune":
        return [Phase("full", 0, config.epochs)]
    if config.backbone == "frozen":
        return [Phase("probe", 0, config.epochs)]
    return [
        Phase("probe", 0, config.probe_epochs),
        Phase("full", config.probe_epochs, config.epochs),
    ]


def best_path(run_dir: str, phase: Phase) -> str:
    return runs.path(
        run_dir, os.path.join(runs.CHECKPOINTS, f"best-{phase.name}.weights.h5")
    )


def class_weights(mode: str, data) -> np.ndarray | None:
    """Per-class loss weights: `none`, or `balanced` (n / (K * n_c), scikit-
    learn's rule, from the training split's counts)."""
    if mode == "none":
        return None
    counts = np.bincount(data.train.labels, minlength=data.num_classes)
    if (counts == 0).any():
        empty = data.class_names[int(np.argmin(counts))]
        raise ValueError(
            f"--class_weight=balanced needs training images of every class; "
            f"class {empty!r} has none. Add images or remove the class."
        )
    return len(data.train) / (data.num_classes * counts)


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """`EarlyStopping` on validation accuracy whose patience counts the epochs
    of this phase a killed run already logged, so a resumed run stops where
    it would have."""

    def __init__(self, patience: int, run_dir: str, first_epoch: int):
        super().__init__(monitor="val_accuracy", mode="max", patience=patience)
        self.run_dir = run_dir
        self.first_epoch = first_epoch

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        history = runs.read_history(self.run_dir)
        if history:
            values = history["val_accuracy"][history["epoch"] >= self.first_epoch]
            if len(values):
                best = int(np.argmax(values))  # the first best, as Keras
                self.best_epoch = self.first_epoch + best
                self.best = float(values[best])
                self.wait = len(values) - 1 - best


def logits_of(model: keras.Model, batch_size: int, cache=None):
    """`predict(images) -> (N, classes) float64 logits` of `model`, a batch at
    a time (the images may be rows of the on-disk cache, never read whole);
    with a `feature_cache.FeatureCache`, `model` is the head and reads the images'
    cached maps."""

    def predict(images) -> np.ndarray:
        inputs = images if cache is None else Views(cache.features(images))
        labels = np.zeros(len(images), np.int64)  # `predict` ignores them
        batches = input_pipeline.fit_data(inputs, labels, 1, batch_size, training=False)
        return np.asarray(model.predict(batches, verbose=0), np.float64)

    return predict


class Views:
    """(N, V, ...) rows of V aligned arrays (a map and its flip's), read when
    indexed, for `feature_cache.RandomView`."""

    def __init__(self, *arrays):
        self.arrays = arrays
        self.shape = (len(arrays[0]), len(arrays), *arrays[0].shape[1:])
        self.dtype = arrays[0].dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        views = [np.asarray(a[key]) for a in self.arrays]
        return np.stack(views, axis=0 if np.ndim(key) == 0 else 1)


def compile_phase(fitted, model, config, phase: Phase, learning_rate) -> None:
    """Compiles what a phase fits: AdamW, label-smoothed cross-entropy; in
    `full`, the backbone trains at `backbone_lr_scale` times the rate."""
    multipliers = {}
    classifier.set_backbone_trainable(model, phase.name == "full")
    if phase.name == "full" and config.backbone_lr_scale != 1:
        backbone = classifier.get_backbone(model)
        multipliers = {
            v.path: config.backbone_lr_scale for v in backbone.trainable_variables
        }
    fitted.compile(
        optimizer=ScaledAdamW(
            learning_rate=learning_rate,
            weight_decay=config.weight_decay,
            lr_multipliers=multipliers,
        ),
        loss=keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=config.label_smoothing
        ),
        # Weighted: the padding of an evenly split validation set weighs 0
        # (input_pipeline.pad_to_batches); with --class_weight, training
        # accuracy is class-weighted. Without weights it is plain accuracy.
        # `cross_entropy` is the loss without label smoothing: history.csv's
        # `val_cross_entropy` is what metrics.json calls `val_loss`.
        weighted_metrics=[
            "accuracy",
            keras.metrics.CategoricalCrossentropy(
                from_logits=True, name="cross_entropy"
            ),
        ],
        jit_compile={"auto": "auto", "on": True, "off": False}[config.jit_compile],
        steps_per_execution=config.steps_per_execution,
    )


def fit(
    config,
    data,
    model: keras.Model,
    train_model: keras.Model,
    weights: str,
    run_dir: str,
    per_class: np.ndarray | None,
    extra_callbacks: list | None = None,
    on_last_epoch=None,
) -> dict:
    """Runs the plan's phases; leaves `model` with the weights the run keeps.

    `model` is the classifier, `train_model` it inside the augmentation
    wrapper, `weights` the backbone weights (they key the feature cache).
    `on_last_epoch(predict)`, if given, gets `logits_of` the last epoch's
    weights, before the best epoch's are restored.
    Returns `{"stopped_epoch": int | None, "best_val_accuracy": float | None,
    "best_epoch": int | None, "best_is_last": bool, "predict": logits_of the
    kept weights}`: the kept epoch (of the last phase) and its val top-1;
    `best_is_last` says it is the last epoch (so what `on_last_epoch`
    measured holds for the kept weights too).
    """
    phases = plan(config)
    steps = input_pipeline.steps_per_epoch(
        len(data.train), config.batch_size, config.distribute
    )
    cache = None
    head = None
    result = {
        "stopped_epoch": None,
        "best_val_accuracy": None,
        "best_epoch": None,
        "best_is_last": False,
    }
    for phase in phases:
        is_last = phase is phases[-1]
        if phase.name == "probe":
            if cache is None:
                cache = feature_cache.FeatureCache(
                    feature_cache.feature_extractor(model),
                    weights,
                    config.image_size,
                    config.cache_dir,
                )
            head = feature_cache.head_model(
                model,
                config.attention,
                attention_kwargs(config),
                config.dropout,
                config.seed,
                config.attention_stages,
            )
            fitted = head
            train_x = Views(
                cache.features(data.train.images),
                cache.features(data.train.images, flip=True),
            )
            val_x = Views(cache.features(data.val.images))
        else:
            fitted = train_model
            train_x, val_x = data.train.images, data.val.images
        backup = BackupAndRestore(
            os.path.join(runs.path(run_dir, runs.BACKUP), phase.name)
        )
        # The phase goes on from its backup; what a killed run logged after
        # it is trained (and logged) again.
        runs.drop_history(run_dir, backup.epoch() or phase.first, phase.last)
        history = runs.read_history(run_dir)
        train_data = input_pipeline.fit_data(
            train_x,
            data.train.labels,
            data.num_classes,
            config.batch_size,
            training=True,
            seed=config.seed,
            even=config.distribute,
            first_epoch=backup.epoch() or phase.first,
            sample_weights=None if per_class is None else per_class[data.train.labels],
        )
        validation = input_pipeline.fit_data(
            val_x,
            data.val.labels,
            data.num_classes,
            config.batch_size,
            training=False,
            even=config.distribute,
        )
        warmup = phase.warmup(config)
        schedule = WarmupCosine(
            config.learning_rate, phase.epochs * steps, warmup * steps
        )
        compile_phase(fitted, model, config, phase, schedule)
        logged = np.zeros(0)
        if history:
            epochs = history["epoch"]
            within = (epochs >= phase.first) & (epochs < phase.last)
            logged = history["val_accuracy"][within]
        best = BestWeights(
            best_path(run_dir, phase), best=float(logged.max()) if len(logged) else None
        )
        stopping = None
        if config.early_stopping and is_last:
            stopping = ResumableEarlyStopping(
                config.early_stopping, run_dir, phase.first
            )
        # Logged values first; the backup last: once it says an epoch is done,
        # everything that epoch writes is on disk.
        callbacks = [
            LogLearningRate(),
            best,
            keras.callbacks.TerminateOnNaN(),
            *([stopping] if stopping else []),
            *([_tensorboard(run_dir)] if config.tensorboard else []),
            keras.callbacks.CSVLogger(runs.path(run_dir, runs.HISTORY), append=True),
            backup,
            *(extra_callbacks or []),
        ]
        fitted.fit(
            train_data,
            epochs=phase.last,
            initial_epoch=phase.first,
            steps_per_epoch=steps,
            validation_data=validation,
            callbacks=callbacks,
            shuffle=False,  # `train_data` draws a new order every epoch
            # A log file (CI, nohup, a cluster job) gets one line per epoch,
            # not a progress bar redrawn at every step.
            verbose="auto" if sys.stdout.isatty() else 2,
        )
        on_cache = cache if phase.name == "probe" else None
        predict = logits_of(
            model if on_cache is None else head, config.batch_size, on_cache
        )
        if phase is phases[-1] and on_last_epoch is not None:
            on_last_epoch(predict)
        if os.path.exists(best.path):
            fitted.load_weights(best.path)
        if phase.name == "probe":
            feature_cache.copy_head(head, model)  # the classifier gets the probed head
        result["predict"] = predict  # now of the kept weights
        result["best_val_accuracy"] = best.best
        result["best_epoch"], result["best_is_last"] = best_epoch(run_dir, phase)
        if stopping is not None and stopping.stopped_epoch:
            result["stopped_epoch"] = stopping.stopped_epoch
        if fitted.stop_training and not result["stopped_epoch"]:  # TerminateOnNaN
            break
    return result


def best_epoch(run_dir: str, phase: Phase) -> tuple[int | None, bool]:
    """`phase`'s best-validation epoch (0-based, numbered across the run; the
    first best, as `BestWeights` keeps it) and whether it is the last epoch
    the phase ran; (None, False) before any."""
    history = runs.read_history(run_dir)
    if not history:
        return None, False
    epochs = history["epoch"]
    within = (epochs >= phase.first) & (epochs < phase.last)
    values = history["val_accuracy"][within]
    if not len(values):
        return None, False
    best = int(np.argmax(values))
    return int(epochs[within][best]), best == len(values) - 1


def _tensorboard(run_dir: str) -> keras.callbacks.Callback:
    return keras.callbacks.TensorBoard(
        log_dir=runs.path(run_dir, runs.TENSORBOARD), write_graph=False
    )
