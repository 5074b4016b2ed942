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
local device, and over several workers when `TF_CONFIG` or a JAX
coordinator names them (`distribute.py`, `workers.py`: the chief alone
writes the run folder); `jit_compile="auto"` lets Keras choose XLA (always
on JAX; on TensorFlow only on GPUs; never for PyTorch).
"""

import dataclasses
import json
import os
import time

import keras
import numpy as np

from keras_attn import (
    distribute,
    evaluate_lib,
    model_card,
    phases,
    runs,
    saving,
    visualize,
    workers,
)
from keras_attn.data import Dataset, load_dataset
from keras_attn.data.augment import build_augmenter, with_augmentation
from keras_attn.data.folder import class_difference
from keras_attn.models import classifier
from keras_attn.models.backbone import load_backbone, resolve_auto_weights
from keras_attn.train_config import (  # noqa: F401  (the names train.py uses)
    JIT_COMPILE,
    MIXED_PRECISION,
    TrainConfig,
    attention_kwargs,
    check_resumable,
    default_run_dir,
)
from keras_attn.utils import devices


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
    return classifier.build_classifier(
        num_classes=len(data.class_names),
        input_shape=data.image_shape,
        image_size=config.image_size,
        attention=config.attention,
        attention_kwargs=attention_kwargs(config),
        dropout=config.dropout,
        backbone=backbone,
        stages=config.attention_stages,
    )


def train(
    config: TrainConfig,
    extra_callbacks: list | None = None,
    cluster: workers.Cluster | None = None,
) -> str:
    """Trains one model and writes its run folder; returns the folder's path.

    `extra_callbacks` are added to the run's own (checkpoint, backup, schedule, ...).
    `cluster`: the workers of a multi-worker run (`workers.find_cluster`;
    default: the environment's, e.g. `TF_CONFIG`).
    """
    config = config.resolved()
    cluster = workers.join(config, cluster)  # None on one machine
    with workers.failures_reported(cluster):
        return _train(config, extra_callbacks, cluster)


def _train(config: TrainConfig, extra_callbacks, cluster) -> str:
    """`train`, once this process has joined its cluster (if any)."""
    run_dir = config.run_dir or default_run_dir(config)
    check_resumable(run_dir, config)
    run_dir = workers.worker_dir(cluster, run_dir)  # not the chief: a copy
    runs.check_writable(run_dir)
    if config.init_from:
        check_init_from(config.init_from, config)
    data, weights = _load_inputs(config)
    per_class = phases.class_weights(config.class_weight, data)
    keras.utils.set_random_seed(config.seed)
    precision = set_mixed_precision(config.mixed_precision)
    done_epochs = len(runs.read_history(run_dir).get("epoch", []))
    total_epochs = phases.plan(config)[-1].last
    workers.check_same_run(cluster, config, data, done_epochs)
    # Everything that creates or updates weights happens inside the scope.
    with distribute.data_parallel(config.distribute) as replicas:
        if config.distribute:
            distribute.check_batch_size(config.batch_size, replicas, len(data.train))
        print(
            f"{keras.backend.backend()} backend on {devices.describe()}: "
            f"{replicas} replica(s), precision {precision}"
        )
        model = build_model(config, data, load_backbone(weights))
        if config.init_from:
            init_from(model, config.init_from, data)
        train_model = with_augmentation(
            model,
            build_augmenter(data.image_shape[0], config.augment, seed=config.seed),
        )
        train_model(data.train.images[:1])  # built, so that a backup can restore
        runs.prepare(run_dir)  # inputs and weights loaded: now the folder
        # Every flag, plus the class weights they gave (derived, not a flag).
        weights_of = None
        if per_class is not None:
            weights_of = dict(zip(data.class_names, per_class.round(4), strict=True))
        runs.write_config(
            run_dir, {**dataclasses.asdict(config), "class_weights": weights_of}
        )
        runs.write_labels(run_dir, data.class_names)
        start = time.time()
        last_epoch, last_probs = {}, {}

        def on_last_epoch(predict):
            if config.report_last_epoch and data.test is not None:
                scores, probs = evaluate(predict, data, ("test",))
                last_epoch.update({f"last_{k}": v for k, v in scores.items()})
                last_probs.update(probs)

        with distribute.global_batch_norm(model, config.distribute):
            fitted = phases.fit(
                config, data, model, train_model, weights, run_dir, per_class,
                extra_callbacks, on_last_epoch,
            )  # fmt: skip
        seconds = time.time() - start
        jit_compile = bool(train_model.jit_compile)
    if cluster is not None:  # the workers have parted
        if not cluster.is_chief:
            workers.remove_worker_dirs()
            print(f"Trained; the chief writes the run folder: {config.run_dir}")
            return config.run_dir
        model = local_copy(model, config, data)  # evaluated on the chief alone
        fitted["predict"] = phases.logits_of(model, config.batch_size)
    history = runs.read_history(run_dir)
    if history and not np.all(np.isfinite(history["loss"])):
        raise FloatingPointError(
            f"Training diverged (loss is NaN); lower --learning_rate. Run: {run_dir}"
        )
    if fitted["best_is_last"] and last_probs:  # the same weights: test scored once
        metrics, probs = evaluate(fitted["predict"], data, ("val",))
        metrics.update({k[len("last_") :]: v for k, v in last_epoch.items()})
        probs.update(last_probs)
    else:
        metrics, probs = evaluate(fitted["predict"], data)
    metrics.update(last_epoch)
    metrics.update(
        epochs=len(history.get("epoch", [])),
        backbone_mode=config.backbone,
        early_stopping={
            "patience": config.early_stopping,
            "stopped_epoch": None
            if fitted["stopped_epoch"] is None
            else fitted["stopped_epoch"] + 1,
            # The kept epoch: in lp-ft, of the fine-tuning phase.
            "best_epoch": None
            if fitted["best_epoch"] is None
            else fitted["best_epoch"] + 1,
        },
        # Two losses: say which is which (they differ by 2x with smoothing 0.1).
        loss_note=(
            "val_loss, test_loss: cross-entropy without label smoothing "
            "(history.csv: val_cross_entropy); history.csv's loss and val_loss "
            "and curves.png: the loss as trained, label smoothing "
            f"{config.label_smoothing:g}"
        ),
        best_val_accuracy=fitted["best_val_accuracy"],
        last_val_accuracy=float(history["val_accuracy"][-1]) if history else None,
        train_seconds=round(seconds, 1),
        train_images_per_second=round(
            len(data.train) * (total_epochs - done_epochs) / max(seconds, 1e-9), 1
        ),
        parameters=int(model.count_params()),
        weights=weights,
        stored_shape=list(data.image_shape),
        backend=keras.backend.backend(),
        device=devices.describe(),
        replicas=replicas,
        workers=1 if cluster is None else cluster.count,
        mixed_precision=precision,
        jit_compile=jit_compile,
    )
    keras.mixed_precision.set_global_policy("float32")
    split_name, held_out = data.held_out
    samples = runs.draw_samples(data.train, held_out, split_name, seed=config.seed)
    runs.write_samples(run_dir, samples)
    if config.dataset.startswith("folder:") and len(held_out):
        root = config.dataset[len("folder:") :]
        runs.write_photos(
            run_dir,
            [os.path.join(root, i) for i in held_out.ids],
            held_out.labels,
            list(held_out.ids),
            min_side=int(data.image_shape[0]),
            seed=config.seed,
        )
    saving.save_model(
        float32_model(model, config, data), runs.path(run_dir, runs.MODEL)
    )
    runs.write_metrics(run_dir, metrics)
    write_figures(model, samples, data.class_names, run_dir, config.visualize_count)
    split_name, held_out = data.held_out
    if len(held_out):  # the report evaluate.py writes, for the held-out split
        evaluate_lib.write_report(
            os.path.join(runs.path(run_dir, runs.EVAL), f"{runs.MODEL}-{split_name}"),
            probs[split_name],
            held_out,
            data.class_names,
            os.path.abspath(runs.path(run_dir, runs.MODEL)),
            {"kind": "split", "dataset": config.dataset, "split": split_name},
        )
    model_card.write_model_card(run_dir)
    runs.remove_training_state(run_dir)  # backup/ and checkpoints/
    print(json.dumps(metrics, indent=2))
    print(f"Run folder: {run_dir}")
    return run_dir


def _load_inputs(config: TrainConfig) -> tuple[Dataset, str]:
    """The dataset (printed in short) and the resolved backbone weights (first:
    a weights problem is found before the data is decoded)."""
    weights = config.weights
    if weights == "auto":
        weights = resolve_auto_weights()
        print(f"backbone weights: {weights} (--weights=auto: {why_auto(weights)})")
    else:
        print(f"backbone weights: {weights}")
    if weights == "none" and config.backbone != "finetune":
        raise ValueError(
            f"--backbone={config.backbone} with random weights (--weights="
            f"{config.weights} resolved to none) would train a head on random "
            "features; pass pretrained --weights, or --backbone=finetune."
        )
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
    return data, weights


def why_auto(weights: str) -> str:
    """Why `--weights=auto` chose `weights` (see `resolve_auto_weights`)."""
    if os.environ.get("KERAS_ATTN_WEIGHTS"):
        return "$KERAS_ATTN_WEIGHTS names them"
    if weights == "imagenet":
        return "the keras-hub ImageNet preset is reachable"
    if weights == "none":
        return (
            "the ImageNet preset cannot be downloaded and there is no local "
            "checkpoint: random weights; pass --weights=PATH"
        )
    return (
        "the ImageNet preset cannot be downloaded (offline), so the local "
        "checkpoint beside the checkout"
    )


def check_init_from(run_dir: str, config: TrainConfig) -> None:
    """Refuses, before any data is read, an `--init_from` run whose network
    differs from this run's in a setting the flags name."""
    runs.require(run_dir, runs.MODEL, runs.LABELS)
    saved = {}
    if os.path.exists(runs.path(run_dir, runs.CONFIG)):
        saved = runs.read_config(run_dir)
    # What shapes the network: a run saved before a setting existed had its
    # default (stage 4 alone, no channel gate).
    for key, default in (
        ("image_size", config.image_size),
        ("attention_stages", [4]),
        ("channel_gate", False),
    ):
        theirs = saved.get(key, default)
        ours = getattr(config, key)
        if isinstance(ours, tuple):
            theirs, ours = ",".join(map(str, theirs)), ",".join(map(str, ours))
        if theirs != ours:
            raise ValueError(
                f"--init_from={run_dir} was trained with --{key}={theirs}, this "
                f"run has --{key}={ours}; pass the same --{key}."
            )


def init_from(model: keras.Model, run_dir: str, data: Dataset) -> None:
    """Starts `model` from a finished run's weights (same classes, input size
    and architecture), for users who add images and train again."""
    runs.require(run_dir, runs.MODEL, runs.LABELS)
    labels = runs.read_labels(run_dir)
    if labels != list(data.class_names):
        difference = class_difference(labels, list(data.class_names))
        raise ValueError(
            f"--init_from={run_dir} has other classes (this data: {difference}); "
            "continue from a run on the same classes."
        )
    source = saving.load_model(runs.path(run_dir, runs.MODEL))
    if tuple(source.input_shape[1:]) != tuple(model.input_shape[1:]):
        raise ValueError(
            f"--init_from={run_dir} takes {tuple(source.input_shape[1:])} images, "
            f"this run stores {tuple(model.input_shape[1:])}; pass the same "
            "--image_size and --resize."
        )
    try:
        model.set_weights(source.get_weights())
    except ValueError:
        raise ValueError(
            f"--init_from={run_dir} is another architecture ({source.name} vs "
            f"{model.name}); pass the same --attention and --branches."
        ) from None


def evaluate(
    predict, data: Dataset, splits=("val", "test")
) -> tuple[dict, dict[str, np.ndarray]]:
    """Accuracy and loss on val and (if present) test of a `predict(images)
    -> logits` (`phases.logits_of`); returns them and the probabilities per
    split."""
    metrics, probs = {}, {}
    for split_name in splits:
        split = getattr(data, split_name)
        if split is None or len(split.labels) == 0:
            continue
        logits = predict(split.images)
        log_probs = logits - logits.max(1, keepdims=True)
        log_probs -= np.log(np.exp(log_probs).sum(1, keepdims=True))
        probs[split_name] = np.exp(log_probs)
        metrics[f"{split_name}_accuracy"] = float(
            (logits.argmax(1) == split.labels).mean()
        )
        metrics[f"{split_name}_loss"] = float(
            -log_probs[np.arange(len(split.labels)), split.labels].mean()
        )
    return metrics, probs


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


def local_copy(model: keras.Model, config: TrainConfig, data: Dataset):
    """`model`'s weights in a model of this process alone (built outside any
    distribution), for what the chief computes after training."""
    copy = build_model(config, data, load_backbone("none"))
    copy.set_weights(model.get_weights())
    return copy


def write_figures(
    model, samples: runs.Samples, class_names: list[str], run_dir: str, count: int
) -> None:
    """`curves.png` and `attention.png` (held-out images and their maps)."""
    history = runs.read_history(run_dir)
    if history:
        smoothing = runs.read_config(run_dir).get("label_smoothing")
        visualize.plot_curves(
            {model.name: history},
            runs.path(run_dir, runs.CURVES),
            visualize.loss_label(smoothing),
        )
    split = samples.held_out.take(np.arange(min(count, len(samples.held_out))))
    probs, maps = classifier.predict_with_attention(model, split.images)
    titles = visualize.prediction_titles(probs.argmax(1), split.labels, class_names)
    visualize.plot_attention(
        split.images, maps, titles, runs.path(run_dir, runs.ATTENTION), split.boxes
    )
