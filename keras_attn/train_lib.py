"""Training: data, model, `fit` with callbacks, and the run folder.

`train(config)` is what `train.py` calls. It loads the dataset (uint8
images at their stored size, no TensorFlow needed), builds ResNet-18 +
attention, trains it inside a training-only augmentation wrapper with
warm-up + cosine learning rate, keeps the best validation weights,
evaluates on the test split, and writes the run folder (`runs.py` owns its
layout): the model, config, labels, history, metrics, the image samples that
let export and figures work without the data, and figures.

`model.keras` holds the clean classifier (no augmentation, no optimizer
state, float32 whatever the training precision): the artefact to export.
Re-running with the same `run_dir` resumes a killed run from its last
finished epoch (`backup.py`), training on as the uninterrupted run would.

It runs on every Keras backend. TensorFlow reads the data through `tf.data`,
JAX and PyTorch through a `keras.utils.PyDataset` that needs no TensorFlow
(`input_pipeline.py`); `distribute=True` trains data-parallel over every
local device (`distribute.py`); `jit_compile="auto"` lets Keras choose XLA
(always on JAX; on TensorFlow only on GPUs; never for PyTorch).
"""

import dataclasses
import json
import math
import os
import time

import keras
import numpy as np

from keras_attn import devices, distribute, input_pipeline, io_utils, runs, visualize
from keras_attn.checkpoints import BackupAndRestore, BestWeights, check_space
from keras_attn.data import Dataset, load_dataset
from keras_attn.data.augment import build_augmenter, with_augmentation
from keras_attn.models import classifier
from keras_attn.models.backbone import load_backbone, resolve_auto_weights
from keras_attn.optimizers import ScaledAdamW
from keras_attn.train_config import (  # noqa: F401  (the names train.py uses)
    JIT_COMPILE,
    MIXED_PRECISION,
    TrainConfig,
    check_resumable,
    default_run_dir,
)


def lr_schedule(base_lr: float, epochs: int, warmup_epochs: int):
    """Linear warm-up for `warmup_epochs`, then cosine decay to 0 (per epoch)."""

    def schedule(epoch: int, lr=None) -> float:
        if epoch < warmup_epochs:
            return base_lr * (epoch + 1) / warmup_epochs
        span = max(1, epochs - warmup_epochs)
        progress = (epoch - warmup_epochs) / span
        return 0.5 * base_lr * (1 + math.cos(math.pi * progress))

    return schedule


def set_mixed_precision(mode: str) -> str:
    """Sets the global dtype policy; returns the mode (`auto` resolved, see
    `devices.auto_mixed_precision`)."""
    if mode == "auto":
        mode = devices.auto_mixed_precision()
    policy = {
        "off": "float32",
        "bfloat16": "mixed_bfloat16",
        "float16": "mixed_float16",
    }
    keras.mixed_precision.set_global_policy(policy[mode])
    return mode


def build_model(config: TrainConfig, data: Dataset, backbone=None) -> keras.Model:
    """The clean classifier for a resolved config and its dataset."""
    attention_kwargs = {"branches": config.branches} if config.branches else None
    return classifier.build_classifier(
        num_classes=len(data.class_names),
        input_shape=data.image_shape,
        image_size=config.image_size,
        attention=config.attention,
        attention_kwargs=attention_kwargs,
        dropout=config.dropout,
        backbone=backbone,
    )


def compile_for_training(
    train_model: keras.Model, model: keras.Model, config: TrainConfig, frozen: bool
) -> None:
    """Compiles `train_model` with AdamW; backbone weights at a scaled rate."""
    classifier.set_backbone_trainable(model, not frozen)
    scale = 1.0 if frozen else config.backbone_lr_scale
    backbone = classifier.get_backbone(model)
    multipliers = (
        {v.path: scale for v in backbone.trainable_variables} if scale != 1 else {}
    )
    optimizer = ScaledAdamW(
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        lr_multipliers=multipliers,
    )
    loss = keras.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=config.label_smoothing
    )
    train_model.compile(
        optimizer=optimizer,
        loss=loss,
        # Weighted: the padding of an evenly split validation set weighs 0
        # (input_pipeline.pad_to_batches). Without weights it is plain accuracy.
        weighted_metrics=["accuracy"],
        jit_compile={"auto": "auto", "on": True, "off": False}[config.jit_compile],
        steps_per_execution=config.steps_per_execution,
    )


def train(config: TrainConfig, extra_callbacks: list | None = None) -> str:
    """Trains one model and writes its run folder; returns the folder's path.

    `extra_callbacks` are added to the run's own (checkpoint, backup, schedule, ...).
    """
    config = config.resolved()
    run_dir = config.run_dir or default_run_dir(config)
    check_resumable(run_dir, config)
    runs.check_writable(run_dir)
    data, weights = _load_inputs(config)
    keras.utils.set_random_seed(config.seed)
    precision = set_mixed_precision(config.mixed_precision)
    done_epochs = len(runs.read_history(run_dir).get("epoch", []))
    # Everything that creates or updates weights happens inside the scope.
    with distribute.data_parallel(config.distribute) as replicas:
        if config.distribute:
            distribute.check_batch_size(config.batch_size, replicas, len(data.train))
        print(
            f"{keras.backend.backend()} backend on {devices.describe()}: "
            f"{replicas} replica(s), precision {precision}"
        )
        model = build_model(config, data, load_backbone(weights))
        train_model = with_augmentation(
            model,
            build_augmenter(data.image_shape[0], config.augment, seed=config.seed),
        )
        train_model(data.train.images[:1])  # built, so that a backup can restore
        runs.prepare(run_dir)  # inputs and weights loaded: now the folder
        runs.write_config(run_dir, dataclasses.asdict(config))
        runs.write_labels(run_dir, data.class_names)
        start = time.time()
        _fit_phases(train_model, model, config, data, run_dir, extra_callbacks)
        seconds = time.time() - start
        best_path = runs.path(run_dir, runs.BEST_WEIGHTS)
        if os.path.exists(best_path):
            train_model.load_weights(best_path)
        jit_compile = bool(train_model.jit_compile)
    history = runs.read_history(run_dir)
    if history and not np.all(np.isfinite(history["loss"])):
        raise FloatingPointError(
            f"Training diverged (loss is NaN); lower --learning_rate. Run: {run_dir}"
        )
    metrics = evaluate(model, data, config.batch_size)
    metrics.update(
        epochs=len(history.get("epoch", [])),
        best_val_accuracy=float(history["val_accuracy"].max()) if history else None,
        last_val_accuracy=float(history["val_accuracy"][-1]) if history else None,
        train_seconds=round(seconds, 1),
        train_images_per_second=round(
            len(data.train) * (config.epochs - done_epochs) / max(seconds, 1e-9), 1
        ),
        parameters=int(model.count_params()),
        weights=weights,
        stored_shape=list(data.image_shape),
        backend=keras.backend.backend(),
        device=devices.describe(),
        replicas=replicas,
        mixed_precision=precision,
        jit_compile=jit_compile,
    )
    keras.mixed_precision.set_global_policy("float32")
    split_name, held_out = data.held_out
    samples = runs.draw_samples(data.train, held_out, split_name, seed=config.seed)
    runs.write_samples(run_dir, samples)
    save_model(float32_model(model, config, data), runs.path(run_dir, runs.MODEL))
    runs.write_metrics(run_dir, metrics)
    write_figures(model, samples, data.class_names, run_dir, config.visualize_count)
    BackupAndRestore.remove(runs.path(run_dir, runs.BACKUP))
    print(json.dumps(metrics, indent=2))
    print(f"Run folder: {run_dir}")
    return run_dir


def _load_inputs(config: TrainConfig) -> tuple[Dataset, str]:
    """The dataset (printed in short) and the resolved backbone weights."""
    data = load_dataset(
        config.dataset,
        shots=config.shots,
        val_shots=config.val_shots,
        seed=config.seed,
        data_dir=config.data_dir,
        image_size=config.image_size,
        resize=config.resize,
        test_dir=config.test_dir,
        cache_dir=config.cache_dir,
    )
    for note in data.notes:
        print(f"note: {note}")
    print(
        f"{data.name}: {data.num_classes} classes, stored {data.image_shape}, "
        f"train {len(data.train)}, val {len(data.val)}, "
        f"test {len(data.test) if data.test else 0}"
    )
    weights = resolve_auto_weights() if config.weights == "auto" else config.weights
    print(f"backbone weights: {weights}")
    return data, weights


def _fit_phases(
    train_model: keras.Model,
    model: keras.Model,
    config: TrainConfig,
    data: Dataset,
    run_dir: str,
    extra_callbacks: list | None = None,
) -> None:
    """Fits the frozen-backbone phase (if any), then the full one.

    A resumed run goes on from each phase's backup, which stays until the
    run is done: a phase that has finished restores its final state (and
    fits no epoch), so the next phase starts from it as it would have.
    """
    history = runs.read_history(run_dir)
    best_val = float(history["val_accuracy"].max()) if history else None
    validation = input_pipeline.fit_data(
        data.val.images,
        data.val.labels,
        data.num_classes,
        config.batch_size,
        training=False,
        even=config.distribute,
    )
    phases = [
        ("frozen", 0, config.freeze_epochs),
        ("full", config.freeze_epochs, config.epochs),
    ]
    for phase, first, last in phases:
        backup = BackupAndRestore(os.path.join(runs.path(run_dir, runs.BACKUP), phase))
        if last <= first:
            continue
        train_data = input_pipeline.fit_data(
            data.train.images,
            data.train.labels,
            data.num_classes,
            config.batch_size,
            training=True,
            seed=config.seed,
            even=config.distribute,
            first_epoch=backup.epoch() or first,
        )
        compile_for_training(train_model, model, config, frozen=phase == "frozen")
        # The backup comes after the history and the best weights: once it
        # says an epoch is done, everything that epoch writes is on disk.
        best = BestWeights(runs.path(run_dir, runs.BEST_WEIGHTS), best=best_val)
        callbacks = [
            keras.callbacks.LearningRateScheduler(
                lr_schedule(config.learning_rate, config.epochs, config.warmup_epochs)
            ),
            best,
            keras.callbacks.TerminateOnNaN(),
            keras.callbacks.CSVLogger(runs.path(run_dir, runs.HISTORY), append=True),
            backup,
            *(extra_callbacks or []),
        ]
        train_model.fit(
            train_data,
            epochs=last,
            initial_epoch=first,
            steps_per_epoch=input_pipeline.steps_per_epoch(
                len(data.train), config.batch_size, config.distribute
            ),
            validation_data=validation,
            callbacks=callbacks,
            shuffle=False,  # `train_data` draws a new order every epoch
            verbose=2 if os.environ.get("CI") else "auto",
        )
        best_val = best.best
        if train_model.stop_training:  # TerminateOnNaN
            break


def predict_logits(model: keras.Model, images, batch_size: int) -> np.ndarray:
    """Logits for (N, h, w, 3) images, read a batch at a time through the input
    pipeline (the images may be rows of the on-disk cache, never read whole)."""
    labels = np.zeros(len(images), np.int64)  # `predict` ignores them
    batches = input_pipeline.fit_data(images, labels, 1, batch_size, training=False)
    return np.asarray(model.predict(batches, verbose=0), np.float64)


def evaluate(model: keras.Model, data: Dataset, batch_size: int) -> dict:
    """Accuracy and loss of the clean model on val and (if present) test."""
    metrics = {}
    for split_name, split in (("val", data.val), ("test", data.test)):
        if split is None or len(split.labels) == 0:
            continue
        logits = predict_logits(model, split.images, batch_size)
        log_probs = logits - logits.max(1, keepdims=True)
        log_probs -= np.log(np.exp(log_probs).sum(1, keepdims=True))
        metrics[f"{split_name}_accuracy"] = float(
            (logits.argmax(1) == split.labels).mean()
        )
        metrics[f"{split_name}_loss"] = float(
            -log_probs[np.arange(len(split.labels)), split.labels].mean()
        )
    return metrics


def float32_model(model: keras.Model, config: TrainConfig, data: Dataset):
    """`model`'s weights in a float32 copy, if it was built for mixed precision.

    Under a mixed policy every layer records it (`"dtype": "mixed_bfloat16"`),
    and an export would then compute in 16 bits; devices and converters want
    float32. The weights themselves are float32 either way.
    """
    if all(layer.dtype_policy.name == "float32" for layer in model.layers):
        return model
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        clean = build_model(config, data, load_backbone("none"))
    finally:
        keras.mixed_precision.set_global_policy(policy)
    clean.set_weights(model.get_weights())
    return clean


def save_model(model: keras.Model, path: str) -> None:
    """Saves the clean model atomically (`.keras`, no optimizer state)."""
    check_space(model, os.path.dirname(os.path.abspath(path)))
    with io_utils.atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)


def write_figures(
    model, samples: runs.Samples, class_names: list[str], run_dir: str, count: int
) -> None:
    """`curves.png` and `attention.png` (held-out images and their maps)."""
    history = runs.read_history(run_dir)
    if history:
        visualize.plot_curves({model.name: history}, runs.path(run_dir, runs.CURVES))
    split = samples.held_out.take(np.arange(min(count, len(samples.held_out))))
    probs, maps = classifier.predict_with_attention(model, split.images)
    titles = [
        f"{class_names[p]} ({'ok' if p == t else class_names[t]})"
        for p, t in zip(probs.argmax(1), split.labels, strict=True)
    ]
    visualize.plot_attention(
        split.images, maps, titles, runs.path(run_dir, runs.ATTENTION), split.boxes
    )
