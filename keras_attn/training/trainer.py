"""Training: data, model, `fit` with callbacks, and the run folder.

`train(config)` is what `train.py` calls. It loads the dataset (uint8
images at their stored size, no TensorFlow needed), builds ResNet-18 +
attention, trains it inside a training-only augmentation wrapper with
warm-up + cosine learning rate, keeps the best validation weights,
evaluates on the test split, and writes the run folder (`keras_attn.runs` owns its
layout): the model, config, labels, history, metrics, the image samples that
let export and figures work without the data, and figures.

`model.keras` holds the clean classifier (no augmentation, no optimizer
state, float32 whatever the training precision): the artefact to export.
Re-running with the same `run_dir` resumes a killed run from its last
finished epoch (`checkpoints.py`), training on as the uninterrupted run would.

It runs on every Keras backend. TensorFlow reads the data through `tf.data`,
JAX and PyTorch through a `keras.utils.PyDataset` that needs no TensorFlow
(`input_pipeline.py`); `distribute=True` trains data-parallel over every
local device, and over several workers when `TF_CONFIG` or a JAX
coordinator names them (`keras_attn.distributed`: the chief alone
writes the run folder); `jit_compile="auto"` lets Keras choose XLA (always
on JAX; on TensorFlow only on GPUs; never for PyTorch).
"""

import dataclasses
import os
import time

import keras

from keras_attn import distributed, runs, saving
from keras_attn.data import Dataset, load_dataset
from keras_attn.data.augment import build_augmenter, with_augmentation
from keras_attn.data.folder import class_difference
from keras_attn.models import classifier
from keras_attn.models.backbone import load_backbone, resolve_auto_weights
from keras_attn.training import finish, phases
from keras_attn.training.config import (  # noqa: F401  (the names train.py uses)
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
    cluster: distributed.Cluster | None = None,
) -> str:
    """Trains one model and writes its run folder; returns the folder's path.

    `extra_callbacks` are added to the run's own (checkpoint, backup, schedule, ...).
    `cluster`: the workers of a multi-worker run (`distributed.find_cluster`;
    default: the environment's, e.g. `TF_CONFIG`).
    """
    config = config.resolved()
    cluster = distributed.join(config, cluster)  # None on one machine
    with distributed.failures_reported(cluster):
        return _train(config, extra_callbacks, cluster)


def _train(config: TrainConfig, extra_callbacks, cluster) -> str:
    """`train`, once this process has joined its cluster (if any)."""
    run_dir = config.run_dir or default_run_dir(config)
    check_resumable(run_dir, config)
    run_dir = distributed.worker_dir(cluster, run_dir)  # not the chief: a copy
    runs.check_writable(run_dir)
    if config.init_from:
        check_init_from(config.init_from, config)
    cut = {k: n for k, n in phases.warmups(config).items() if n < config.warmup_epochs}
    if cut:
        ran = ", ".join(f"{n} in the {k} phase" for k, n in cut.items())
        print(
            f"note: --warmup_epochs={config.warmup_epochs} leaves no cosine in a "
            f"phase this short: warming up for {ran} (config.json: "
            "warmup_epochs_run).",
            flush=True,
        )
    data, weights = _load_inputs(config)
    per_class = phases.class_weights(config.class_weight, data)
    keras.utils.set_random_seed(config.seed)
    precision = set_mixed_precision(config.mixed_precision)
    done_epochs = len(runs.read_history(run_dir).get("epoch", []))
    total_epochs = phases.plan(config)[-1].last
    distributed.check_same_run(cluster, config, data, done_epochs)
    # Everything that creates or updates weights happens inside the scope.
    with distributed.data_parallel(config.distribute) as replicas:
        if config.distribute:
            distributed.check_batch_size(config.batch_size, replicas, len(data.train))
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
            run_dir,
            {
                **dataclasses.asdict(config),
                "class_weights": weights_of,
                "warmup_epochs_run": phases.warmups(config),  # what ran
            },
        )
        runs.write_labels(run_dir, data.class_names)
        start = time.time()
        last_epoch, last_probs = {}, {}

        def on_last_epoch(predict):
            if config.report_last_epoch and data.test is not None:
                scores, probs = finish.evaluate(predict, data, ("test",))
                last_epoch.update({f"last_{k}": v for k, v in scores.items()})
                last_probs.update(probs)

        with distributed.global_batch_norm(model, config.distribute):
            fitted = phases.fit(
                config, data, model, train_model, weights, run_dir, per_class,
                extra_callbacks, on_last_epoch,
            )  # fmt: skip
        seconds = time.time() - start
        jit_compile = bool(train_model.jit_compile)
    if cluster is not None:  # the workers have parted
        if not cluster.is_chief:
            distributed.remove_worker_dirs()
            print(f"Trained; the chief writes the run folder: {config.run_dir}")
            return config.run_dir
        model = local_copy(model, config, data)  # evaluated on the chief alone
        fitted["predict"] = phases.logits_of(model, config.batch_size)
    keras.mixed_precision.set_global_policy("float32")
    facts = {
        "train_seconds": round(seconds, 1),
        "train_images_per_second": round(
            len(data.train) * (total_epochs - done_epochs) / max(seconds, 1e-9), 1
        ),
        "parameters": int(model.count_params()),
        "weights": weights,
        "stored_shape": list(data.image_shape),
        "backend": keras.backend.backend(),
        "device": devices.describe(),
        "replicas": replicas,
        "workers": 1 if cluster is None else cluster.count,
        "mixed_precision": precision,
        "jit_compile": jit_compile,
    }
    finish.finish_run(
        run_dir, config, data, model, float32_model(model, config, data), fitted,
        (last_epoch, last_probs), facts,
    )  # fmt: skip
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
    runs.require(run_dir, runs.MODEL, runs.LABELS, flag="--init_from")
    saved = {}
    if os.path.exists(runs.path(run_dir, runs.CONFIG)):
        saved = runs.read_config(run_dir)
    # What shapes the network: a run saved before a setting existed had its
    # default (stage 4 alone, no channel gate).
    for key, default in (
        ("image_size", config.image_size),
        ("attention", config.attention),
        ("branches", None),
        ("attention_stages", [4]),
        ("channel_gate", False),
    ):
        theirs, ours = _as_flag(saved.get(key, default)), _as_flag(getattr(config, key))
        if theirs != ours:
            raise ValueError(
                f"--init_from={run_dir} was trained with --{key}={theirs}, this "
                f"run has --{key}={ours}; pass the same --{key}."
            )


def _as_flag(value) -> str:
    """A setting as its flag spells it (`3,4`; `all` for every branch)."""
    if value is None:
        return "all"
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)


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
            f"--init_from={run_dir} is another architecture (its weights do not "
            "fit this model); pass the flags it was trained with (--attention, "
            "--branches, --attention_stages, --channel_gate)."
        ) from None


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
