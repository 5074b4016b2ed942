"""Every setting of a training run, checked before any work starts.

`TrainConfig` holds the flags of `train.py`; fields left `None` take the
dataset's recipe (`recipes.py`). `resolved()` fills and validates them, so a
bad flag fails in one line before data or weights are loaded.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time

from keras_attn import runs
from keras_attn.data.augment import AUGMENT_RECIPES
from keras_attn.images import RESIZE_MODES
from keras_attn.layers import ATTENTION_NAMES, BRANCHES
from keras_attn.models import backbone as backbone_lib
from keras_attn.models.classifier import check_stages
from keras_attn.training.recipes import get_recipe

MIXED_PRECISION = ("off", "bfloat16", "float16", "auto")
CLASS_WEIGHTS = ("none", "balanced")
BACKBONE_MODES = ("finetune", "frozen", "lp-ft")
JIT_COMPILE = ("auto", "on", "off")


@dataclasses.dataclass
class TrainConfig:
    """Every setting of a run; `None` fields take the dataset's recipe value."""

    dataset: str = "shapes"
    attention: str = "unified"
    branches: tuple[str, ...] | None = None
    # Backbone stages with attention: (4,), (3,) or (3, 4) (models/classifier.py).
    attention_stages: tuple[int, ...] = (4,)
    channel_gate: bool = False  # unified only: a CBAM-style channel gate first
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
    backbone: str | None = None
    probe_epochs: int | None = None
    backbone_lr_scale: float | None = None
    augment: str | None = None
    class_weight: str = "none"
    early_stopping: int = 0
    init_from: str | None = None
    tensorboard: bool = False
    report_last_epoch: bool = False  # benchmarks: test top-1 of the last epoch too
    resize: str | None = None
    seed: int = 0
    data_dir: str | None = None
    test_dir: str | None = None
    cache_dir: str | None = None
    run_dir: str | None = None
    runs_root: str = "runs"
    mixed_precision: str = "off"
    visualize_count: int = 16
    jit_compile: str = "auto"
    distribute: bool = False
    steps_per_execution: int = 1

    def resolved(self) -> TrainConfig:
        """A copy with every `None` recipe field filled from the dataset's recipe,
        validated: every check that needs only the flags happens here, before
        any data or weights load."""
        recipe = dataclasses.asdict(get_recipe(self.dataset))
        values = dataclasses.asdict(self)
        for key, default in recipe.items():
            if values.get(key) is None:
                values[key] = default
        if values["branches"] is not None:
            values["branches"] = tuple(values["branches"])
        # `--attention_stages=3,3` is stage 3: recorded as it trains, so that
        # `--init_from` and resume compare like with like.
        values["attention_stages"] = check_stages(
            values["attention_stages"], values["attention"]
        )
        if values["backbone"] == "frozen" and self.epochs is None:
            values["epochs"] = values["probe_epochs"]  # head-only training
        config = TrainConfig(**values)
        config.validate()
        return config

    def validate(self) -> None:
        _one_of("attention", self.attention, ATTENTION_NAMES)
        _one_of("mixed_precision", self.mixed_precision, MIXED_PRECISION)
        _one_of("jit_compile", self.jit_compile, JIT_COMPILE)
        _one_of("resize", self.resize, RESIZE_MODES)
        _one_of("class_weight", self.class_weight, CLASS_WEIGHTS)
        _one_of("backbone", self.backbone, BACKBONE_MODES)
        _one_of("augment", self.augment, AUGMENT_RECIPES)
        if self.backbone != "finetune" and self.distribute:
            raise ValueError(
                f"--backbone={self.backbone} trains on cached features on one "
                "device; drop --distribute (it is seconds per epoch), or use "
                "--backbone=finetune."
            )
        if self.early_stopping < 0:
            raise ValueError(
                "--early_stopping is a patience in epochs (0: off). Received: "
                f"{self.early_stopping}"
            )
        check_stages(self.attention_stages, self.attention)
        if self.channel_gate and self.attention != "unified":
            raise ValueError(
                "--channel_gate applies to --attention=unified only (cbam has "
                f"its own). Received: attention={self.attention}"
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
        if self.backbone != "finetune" and self.probe_epochs < 1:
            # Before --epochs: frozen's --epochs defaults to --probe_epochs.
            raise ValueError(
                f"--probe_epochs must be >= 1 for --backbone={self.backbone}. "
                f"Received: probe_epochs={self.probe_epochs}"
            )
        for key in ("epochs", "batch_size", "image_size", "steps_per_execution"):
            if getattr(self, key) < 1:
                raise ValueError(
                    f"--{key} must be >= 1. Received: {key}={getattr(self, key)}"
                )
        for key in ("warmup_epochs", "probe_epochs", "seed"):
            if getattr(self, key) < 0:
                raise ValueError(
                    f"--{key} must be >= 0. Received: {key}={getattr(self, key)}"
                )
        if self.image_size < backbone_lib.MIN_IMAGE_SIZE:
            raise ValueError(
                f"--image_size={self.image_size} is too small: ResNet-18 has stride "
                f"{backbone_lib.BACKBONE_STRIDE}, so the attention needs at least "
                f"{backbone_lib.MIN_IMAGE_SIZE} px (a 4x4 map); pass "
                f"--image_size={backbone_lib.MIN_IMAGE_SIZE} or more."
            )
        if self.weights not in ("auto", "imagenet", "none") and not (
            backbone_lib.is_remote(self.weights)
        ):
            # A local checkpoint folder: missing or empty fails now, not after
            # the data has been decoded (`load_backbone` reads it later).
            backbone_lib._check_local_checkpoint(self.weights)
        floats = ("learning_rate", "weight_decay", "label_smoothing", "dropout")
        for key in (*floats, "backbone_lr_scale"):
            value = getattr(self, key)
            if not math.isfinite(value) or value < 0:
                raise ValueError(
                    f"--{key} must be a finite number >= 0. Received: {key}={value}"
                )
        if self.learning_rate <= 0:
            raise ValueError(
                f"--learning_rate must be > 0. Received: {self.learning_rate}"
            )
        for key in ("label_smoothing", "dropout"):
            if getattr(self, key) >= 1:
                raise ValueError(
                    f"--{key} must be below 1. Received: {key}={getattr(self, key)}"
                )
        for key in ("shots", "val_shots"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ValueError(f"--{key} must be >= 1. Received: {key}={value}")


def attention_kwargs(config: TrainConfig) -> dict | None:
    """The attention layer's constructor arguments a run's flags set."""
    kwargs = {}
    if config.branches:
        kwargs["branches"] = tuple(config.branches)
    if config.channel_gate:
        kwargs["channel_gate"] = True
    return kwargs or None


def _one_of(flag: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(
            f"Unknown --{flag}={value}; choose one of: {', '.join(choices)}."
        )


def default_run_dir(config: TrainConfig) -> str:
    name = config.dataset
    if name.startswith("folder:"):
        name = "folder-" + os.path.basename(os.path.normpath(name[len("folder:") :]))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return os.path.join(config.runs_root, f"{name}-{config.attention}-{stamp}")


def check_resumable(run_dir: str, config: TrainConfig) -> None:
    """Refuses to mix runs: `run_dir` must be new, or an unfinished run with
    the same settings (which then resumes). A run is finished once it wrote
    `metrics.json` and dropped its backup; one killed before its first epoch
    ended has neither, and starts again."""
    if not os.path.exists(runs.path(run_dir, runs.CONFIG)):
        return
    finished = os.path.exists(runs.path(run_dir, runs.METRICS))
    if finished and not os.path.exists(runs.path(run_dir, runs.BACKUP)):
        raise ValueError(
            f"--run_dir={run_dir} already holds a finished run; pass a new --run_dir."
        )
    saved = runs.read_config(run_dir)
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
