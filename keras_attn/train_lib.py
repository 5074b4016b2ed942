"""Training: data, model, `fit` with callbacks, and the run folder.

`train(config)` is what `train.py` calls. It loads the dataset (uint8 NumPy
arrays, no TensorFlow needed), builds ResNet-18 + attention, trains it inside
a training-only augmentation wrapper with warm-up + cosine learning rate,
keeps the best validation weights, evaluates on the test split, and writes
the run folder:

    model.keras  config.json  labels.txt  history.csv  metrics.json
    curves.png   attention.png

`model.keras` holds the clean classifier (no augmentation, no optimizer
state, float32 whatever the training precision): the artefact to export.
Re-running with the same `run_dir` resumes a killed run from its last
finished epoch (`keras.callbacks.BackupAndRestore`).

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
import shutil
import time

import keras
import numpy as np

from keras_attn import devices, distribute, input_pipeline, io_utils, visualize
from keras_attn.data import Dataset, load_dataset
from keras_attn.data.augment import build_augmenter, with_augmentation
from keras_attn.layers import ATTENTION_NAMES, BRANCHES
from keras_attn.models import classifier
from keras_attn.models.backbone import load_backbone, resolve_auto_weights
from keras_attn.optimizers import ScaledAdamW
from keras_attn.recipes import get_recipe

MIXED_PRECISION = ("off", "bfloat16", "float16", "auto")
JIT_COMPILE = ("auto", "on", "off")


@dataclasses.dataclass
class TrainConfig:
    """Every setting of a run; `None` fields take the dataset's recipe value."""

    dataset: str = "shapes"
    attention: str = "unified"
    branches: tuple[str, ...] | None = None
    weights: str | None = None
    image_size: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    weight_decay: float | None = None
    warmup_epochs: int | None = None
    label_smoothing: float | None = None
    dropout: float | None = None
    shots: int | None = None
    val_shots: int | None = None
    freeze_epochs: int | None = None
    backbone_lr_scale: float | None = None
    augment: str | None = None
    seed: int = 0
    data_dir: str | None = None
    test_dir: str | None = None
    run_dir: str | None = None
    runs_root: str = "runs"
    mixed_precision: str = "off"
    visualize_count: int = 16
    jit_compile: str = "auto"
    distribute: bool = False
    steps_per_execution: int = 1

    def resolved(self) -> "TrainConfig":
        """A copy with every `None` recipe field filled from the dataset's recipe."""
        recipe = dataclasses.asdict(get_recipe(self.dataset))
        values = dataclasses.asdict(self)
        for key, default in recipe.items():
            if values.get(key) is None:
                values[key] = default
        if values["branches"] is not None:
            values["branches"] = tuple(values["branches"])
        config = TrainConfig(**values)
        config.validate()
        return config

    def validate(self) -> None:
        if self.attention not in ATTENTION_NAMES:
            raise ValueError(
                f"Unknown --attention={self.attention}. Choose one of: "
                f"{', '.join(ATTENTION_NAMES)}."
            )
        if self.branches is not None:
            unknown = [b for b in self.branches if b not in BRANCHES]
            if unknown or not self.branches:
                raise ValueError(
                    f"--branches={','.join(self.branches)} is not valid: give a "
                    f"non-empty subset of {','.join(BRANCHES)}."
                )
            if self.attention != "unified":
                raise ValueError(
                    "--branches applies to --attention=unified only. "
                    f"Received: attention={self.attention}"
                )
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(
                f"--mixed_precision={self.mixed_precision} is not one of "
                f"{', '.join(MIXED_PRECISION)}."
            )
        if self.jit_compile not in JIT_COMPILE:
            raise ValueError(
                f"--jit_compile={self.jit_compile} is not one of "
                f"{', '.join(JIT_COMPILE)}."
            )
        positive = ("epochs", "batch_size", "image_size", "steps_per_execution")
        for key in positive:
            if getattr(self, key) < 1:
                raise ValueError(
                    f"--{key} must be >= 1. Received: {key}={getattr(self, key)}"
                )
        if self.learning_rate <= 0:
            raise ValueError(
                f"--learning_rate must be > 0. Received: {self.learning_rate}"
            )
        if not 0 <= self.freeze_epochs <= self.epochs:
            raise ValueError(
                f"--freeze_epochs must be between 0 and --epochs={self.epochs}. "
                f"Received: freeze_epochs={self.freeze_epochs}"
            )
        for key in ("shots", "val_shots"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ValueError(f"--{key} must be >= 1. Received: {key}={value}")


def lr_schedule(base_lr: float, epochs: int, warmup_epochs: int):
    """Linear warm-up for `warmup_epochs`, then cosine decay to 0 (per epoch)."""

    def schedule(epoch: int, lr=None) -> float:
        if epoch < warmup_epochs:
            return base_lr * (epoch + 1) / warmup_epochs
        span = max(1, epochs - warmup_epochs)
        progress = (epoch - warmup_epochs) / span
        return 0.5 * base_lr * (1 + math.cos(math.pi * progress))

    return schedule


def default_run_dir(config: TrainConfig) -> str:
    name = config.dataset
    if name.startswith("folder:"):
        name = "folder-" + os.path.basename(os.path.normpath(name[len("folder:") :]))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return os.path.join(config.runs_root, f"{name}-{config.attention}-{stamp}")


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
    os.makedirs(run_dir, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    precision = set_mixed_precision(config.mixed_precision)

    data = load_dataset(
        config.dataset,
        shots=config.shots,
        val_shots=config.val_shots,
        seed=config.seed,
        data_dir=config.data_dir,
        image_size=config.image_size,
        test_dir=config.test_dir,
    )
    for note in data.notes:
        print(f"note: {note}")
    print(
        f"{data.name}: {len(data.class_names)} classes, stored {data.image_shape}, "
        f"train {len(data.train.labels)}, val {len(data.val.labels)}, "
        f"test {len(data.test.labels) if data.test else 0}"
    )
    weights = resolve_auto_weights() if config.weights == "auto" else config.weights
    print(f"backbone weights: {weights}")
    num_classes = len(data.class_names)
    x_train = data.train.images
    history_path = os.path.join(run_dir, "history.csv")
    best_path = os.path.join(run_dir, "checkpoints", "best.weights.h5")
    done_epochs = _finished_epochs(history_path)
    # Everything that creates or updates weights happens inside the scope.
    with distribute.data_parallel(config.distribute) as replicas:
        if config.distribute:
            distribute.check_batch_size(config.batch_size, replicas, len(x_train))
        print(
            f"{keras.backend.backend()} backend on {devices.describe()}: "
            f"{replicas} replica(s), precision {precision}"
        )
        backbone = load_backbone(weights)
        model = build_model(config, data, backbone)
        train_model = with_augmentation(
            model,
            build_augmenter(data.image_shape[0], config.augment, seed=config.seed),
        )
        train_model(x_train[:1])  # build, so that BackupAndRestore can restore into it
        io_utils.write_json(
            os.path.join(run_dir, "config.json"), dataclasses.asdict(config)
        )
        io_utils.write_text(
            os.path.join(run_dir, "labels.txt"), "\n".join(data.class_names) + "\n"
        )
        train_data, validation = (
            input_pipeline.fit_data(
                split.images,
                split.labels,
                num_classes,
                config.batch_size,
                training=split is data.train,
                seed=config.seed,
                even=config.distribute,
            )
            for split in (data.train, data.val)
        )
        os.makedirs(os.path.dirname(best_path), exist_ok=True)
        start = time.time()
        _fit_phases(
            train_model,
            model,
            config,
            train_data,
            validation,
            run_dir,
            done_epochs,
            extra_callbacks,
        )
        seconds = time.time() - start
        if os.path.exists(best_path):
            train_model.load_weights(best_path)
        jit_compile = bool(train_model.jit_compile)
    history = visualize.read_history(history_path)
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
            len(x_train) * (config.epochs - done_epochs) / max(seconds, 1e-9), 1
        ),
        parameters=int(model.count_params()),
        weights=weights,
        backend=keras.backend.backend(),
        device=devices.describe(),
        replicas=replicas,
        mixed_precision=precision,
        jit_compile=jit_compile,
    )
    keras.mixed_precision.set_global_policy("float32")
    save_model(float32_model(model, config, data), os.path.join(run_dir, "model.keras"))
    io_utils.write_json(os.path.join(run_dir, "metrics.json"), metrics)
    write_figures(model, data, run_dir, history, config.visualize_count)
    shutil.rmtree(os.path.join(run_dir, "backup"), ignore_errors=True)
    print(json.dumps(metrics, indent=2))
    print(f"Run folder: {run_dir}")
    return run_dir


def _fit_phases(
    train_model: keras.Model,
    model: keras.Model,
    config: TrainConfig,
    train_data,
    validation,
    run_dir: str,
    done_epochs: int,
    extra_callbacks: list | None,
) -> None:
    """Fits the frozen-backbone phase (if any), then the full one, skipping
    what a killed run already finished."""
    history_path = os.path.join(run_dir, "history.csv")
    best_path = os.path.join(run_dir, "checkpoints", "best.weights.h5")
    phases = [
        ("frozen", 0, config.freeze_epochs),
        ("full", config.freeze_epochs, config.epochs),
    ]
    for phase, first, last in phases:
        backup_dir = os.path.join(run_dir, "backup", phase)
        if last <= first or (done_epochs >= last and not os.path.exists(backup_dir)):
            continue
        compile_for_training(train_model, model, config, frozen=phase == "frozen")
        callbacks = [
            keras.callbacks.BackupAndRestore(backup_dir, double_checkpoint=True),
            keras.callbacks.LearningRateScheduler(
                lr_schedule(config.learning_rate, config.epochs, config.warmup_epochs)
            ),
            keras.callbacks.ModelCheckpoint(
                best_path,
                monitor="val_accuracy",
                mode="max",
                save_best_only=True,
                save_weights_only=True,
                initial_value_threshold=_best_val(history_path),
            ),
            keras.callbacks.TerminateOnNaN(),
            keras.callbacks.CSVLogger(history_path, append=True),
            *(extra_callbacks or []),
        ]
        train_model.fit(
            train_data,
            epochs=last,
            initial_epoch=first,
            validation_data=validation,
            callbacks=callbacks,
            shuffle=False,  # `train_data` draws a new order every epoch
            verbose=2 if os.environ.get("CI") else "auto",
        )
        if train_model.stop_training:  # TerminateOnNaN
            break


def check_resumable(run_dir: str, config: TrainConfig) -> None:
    """Refuses to mix runs: `run_dir` must be new, or an unfinished run with
    the same settings (which then resumes)."""
    if not os.path.exists(os.path.join(run_dir, "config.json")):
        return
    if not os.path.exists(os.path.join(run_dir, "backup")):
        raise ValueError(
            f"--run_dir={run_dir} already holds a finished run; pass a new --run_dir."
        )
    with open(os.path.join(run_dir, "config.json")) as f:
        saved = json.load(f)
    current = json.loads(json.dumps(dataclasses.asdict(config)))
    # A run saved before a setting existed ran with its default.
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    changed = sorted(
        k for k in current if k != "run_dir" and saved.get(k, defaults[k]) != current[k]
    )
    if changed:
        key = changed[0]
        raise ValueError(
            f"--run_dir={run_dir} holds an unfinished run with other settings "
            f"({key}: {saved.get(key)!r} there, {current[key]!r} now); resume it "
            "with the same flags or pass a new --run_dir."
        )


def evaluate(model: keras.Model, data: Dataset, batch_size: int) -> dict:
    """Accuracy and loss of the clean model on val and (if present) test."""
    metrics = {}
    for split_name, split in (("val", data.val), ("test", data.test)):
        if split is None or len(split.labels) == 0:
            continue
        logits = model.predict(split.images, batch_size=batch_size, verbose=0)
        logits = np.asarray(logits, np.float64)
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
    with io_utils.atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)


def write_figures(model, data: Dataset, run_dir: str, history, count: int) -> None:
    if history:
        visualize.plot_curves(
            {model.name: history}, os.path.join(run_dir, "curves.png")
        )
    split = data.test if data.test is not None else data.val
    count = min(count, len(split.labels))
    images = split.images[:count]
    probs, maps = classifier.predict_with_attention(model, images)
    titles = [
        f"{data.class_names[p]} ({'ok' if p == t else data.class_names[t]})"
        for p, t in zip(probs.argmax(1), split.labels[:count], strict=True)
    ]
    boxes = split.boxes[:count] if split.boxes is not None else None
    visualize.plot_attention(
        images, maps, titles, os.path.join(run_dir, "attention.png"), boxes
    )


def _finished_epochs(history_path: str) -> int:
    if not os.path.exists(history_path):
        return 0
    history = visualize.read_history(history_path)
    return int(history["epoch"].max()) + 1 if history else 0


def _best_val(history_path: str) -> float | None:
    if not os.path.exists(history_path):
        return None
    history = visualize.read_history(history_path)
    return float(history["val_accuracy"].max()) if history else None
