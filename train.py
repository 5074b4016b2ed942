"""Fine-tunes ResNet-18 + attention on a dataset and writes a run folder.

    python train.py                                   # the embedded `shapes` demo
    python train.py --attention=none                  # the paper's baseline
    python train.py --dataset=folder:../shared/data/tin100_fewshot \\
        --weights=../shared/weights/resnet18_tin100 --shots=10 --val_shots=5

    KERAS_BACKEND=jax python train.py --mixed_precision=auto --distribute

Several workers run the same command, each with its own TF_CONFIG
(TensorFlow) or --process_id (JAX, with --coordinator_address and
--num_processes), and the same --run_dir; see README.md.

Unset flags take the dataset's recipe (keras_attn/training/recipes.py; each flag's
help lists the recipes' values: "128 (stanford_cars: 224)" is 224 for
stanford_cars and 128 for every other dataset). Re-running with
the same --run_dir resumes a killed run. Any Keras backend works
(KERAS_BACKEND=tensorflow|jax|torch); see README.md.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags  # noqa: E402

from keras_attn.cli import (  # noqa: E402
    import_tensorflow_quietly,
    parse_flags,
    refuse_arguments,
    run_main,
)

import_tensorflow_quietly()

from keras_attn import distributed  # noqa: E402
from keras_attn.data.augment import AUGMENT_RECIPES  # noqa: E402
from keras_attn.images import RESIZE_MODES  # noqa: E402
from keras_attn.layers import ATTENTION_NAMES, BRANCHES  # noqa: E402
from keras_attn.training import trainer  # noqa: E402
from keras_attn.training.recipes import describe_default  # noqa: E402


def recipe(field: str) -> str:
    """The help text's note on a flag that defaults to the recipe's value."""
    return f" Default: the recipe's: {describe_default(field)}."


flags.DEFINE_string(
    "dataset",
    "shapes",
    "shapes | cifar10 | cifar100 | stanford_cars | folder:PATH (class subfolders).",
)
flags.DEFINE_enum("attention", "unified", list(ATTENTION_NAMES), "Attention module.")
flags.DEFINE_list("branches", None, f"unified only: subset of {','.join(BRANCHES)}.")
flags.DEFINE_list(
    "attention_stages",
    ["4"],
    "Backbone stages with attention: 4 (the last map), 3 (stride 16, fused "
    "with stage 4 before pooling) or 3,4 (both). --attention=none with 3,4 is "
    "the two-stage head without attention.",
)
flags.DEFINE_bool(
    "channel_gate",
    False,
    "unified only: a CBAM-style channel gate before the spatial map (an "
    "extension, not in the paper).",
)
flags.DEFINE_string(
    "weights",
    None,
    "auto | imagenet | none | a keras-hub handle (hf://timm/resnet18.a1_in1k, "
    "kaggle://...) | PATH to a keras-hub preset or timm checkpoint folder. auto: "
    "$KERAS_ATTN_WEIGHTS, else the ImageNet preset when online, else "
    "../shared/weights/resnet18_tin100 beside the checkout, else random weights."
    + recipe("weights"),
)
flags.DEFINE_integer(
    "image_size",
    None,
    "Side the model works at (>= 128); photos are also stored at this size."
    + recipe("image_size"),
)
flags.DEFINE_enum(
    "resize",
    None,
    list(RESIZE_MODES),
    "How photos keep their aspect ratio when stored: crop (shorter side to "
    "the size, centre crop), pad (longer side, padded) or squash." + recipe("resize"),
)
flags.DEFINE_integer(
    "epochs",
    None,
    "Training epochs (lp-ft: of fine-tuning, after the probe)."
    + recipe("epochs")
    + " --backbone=frozen: --probe_epochs.",
)
flags.DEFINE_integer("batch_size", None, "Batch size." + recipe("batch_size"))
flags.DEFINE_float(
    "learning_rate", None, "Peak learning rate (AdamW)." + recipe("learning_rate")
)
flags.DEFINE_float("weight_decay", None, "AdamW weight decay." + recipe("weight_decay"))
flags.DEFINE_integer(
    "warmup_epochs",
    None,
    "Linear warm-up epochs before cosine decay (>= 0)." + recipe("warmup_epochs"),
)
flags.DEFINE_float(
    "label_smoothing",
    None,
    "Label smoothing of the training loss (history.csv's loss and val_loss; "
    "metrics.json's losses are plain cross-entropy)." + recipe("label_smoothing"),
)
flags.DEFINE_float("dropout", None, "Dropout before the head." + recipe("dropout"))
flags.DEFINE_integer(
    "shots",
    None,
    "Training images per class (few-shot)." + recipe("shots"),
)
flags.DEFINE_integer(
    "val_shots", None, "Validation images per class." + recipe("val_shots")
)
flags.DEFINE_enum(
    "backbone",
    None,
    ["finetune", "frozen", "lp-ft"],
    "finetune: train the whole network; frozen: train attention + head on "
    "cached backbone features (minutes on a CPU); lp-ft: frozen for "
    "--probe_epochs, then fine-tune." + recipe("backbone"),
)
flags.DEFINE_integer(
    "probe_epochs",
    None,
    "Epochs on cached features: lp-ft's first phase, and frozen's default "
    "--epochs." + recipe("probe_epochs"),
)
flags.DEFINE_float(
    "backbone_lr_scale",
    None,
    "Backbone learning rate / head learning rate." + recipe("backbone_lr_scale"),
)
flags.DEFINE_enum(
    "augment",
    None,
    list(AUGMENT_RECIPES),
    "Augmentation: none, flip, crop (pad and crop back, flip), default (random "
    "resized crop, flip, colour jitter) or paper (default + rotation; slow on "
    "JAX)." + recipe("augment"),
)
flags.DEFINE_enum(
    "class_weight",
    "none",
    ["none", "balanced"],
    "balanced: weigh each class's loss by n / (classes * its training count), "
    "for imbalanced folders.",
)
flags.DEFINE_integer(
    "early_stopping",
    0,
    "Stop after this many epochs without a better val accuracy (0: off); the "
    "best epoch's weights are kept either way.",
)
flags.DEFINE_string(
    "init_from",
    None,
    "A finished run folder to start from (same classes, image size and "
    "attention), e.g. after adding images.",
)
flags.DEFINE_bool(
    "tensorboard", False, "Log loss, accuracy and learning rate to RUN/tensorboard."
)
flags.DEFINE_integer("seed", 0, "Random seed (data sampling and initialisation).")
flags.DEFINE_string("data_dir", None, "TFDS data directory.")
flags.DEFINE_string("test_dir", None, "Class-subfolder tree used as the test split.")
flags.DEFINE_string(
    "cache_dir",
    None,
    "Decoded-image cache (default $KERAS_ATTN_CACHE or ~/.cache/keras_attn).",
)
flags.DEFINE_string(
    "run_dir",
    None,
    "Run folder (default runs/<dataset>-<attention>-<time>); reuse it to resume.",
)
flags.DEFINE_enum(
    "mixed_precision",
    "off",
    list(trainer.MIXED_PRECISION),
    "Mixed precision; auto: bfloat16 on TPUs and recent GPUs, float16 on older "
    "GPUs, off on CPUs.",
)
flags.DEFINE_enum(
    "jit_compile",
    "auto",
    list(trainer.JIT_COMPILE),
    "XLA compilation (torch: torch.compile); auto: Keras' choice (always on JAX; "
    "TensorFlow: GPUs only; off for torch).",
)
flags.DEFINE_bool(
    "distribute",
    False,
    "Data-parallel over every local device (jax, tensorflow); --batch_size is "
    "the global batch.",
)
flags.DEFINE_integer(
    "steps_per_execution", 1, "Training steps per compiled call (large runs: 8-32)."
)
flags.DEFINE_string(
    "coordinator_address",
    None,
    "JAX, several processes: process 0's host:port, the same on every process "
    "(auto: JAX reads SLURM, Open MPI, Kubernetes or Cloud TPU settings). "
    "TensorFlow reads TF_CONFIG instead.",
)
flags.DEFINE_integer("num_processes", None, "JAX, several processes: how many.")
flags.DEFINE_integer(
    "process_id", None, "JAX, several processes: this one's id (0: the coordinator)."
)
flags.DEFINE_integer(
    "join_timeout",
    distributed.JOIN_TIMEOUT,
    "Several workers: seconds to wait for the other workers to start "
    "(TensorFlow), or for the JAX coordinator to answer.",
)
FLAGS = flags.FLAGS


def _stages(values: list[str]):
    try:
        return tuple(int(v) for v in values)
    except ValueError:
        raise ValueError(
            "--attention_stages takes 4, 3 or 3,4. Received: "
            f"attention_stages={','.join(values)}"
        ) from None


def main(argv):
    refuse_arguments(argv, "every setting is a flag, e.g. --dataset=folder:PATH")
    config = trainer.TrainConfig(
        dataset=FLAGS.dataset,
        attention=FLAGS.attention,
        branches=None if FLAGS.branches is None else tuple(FLAGS.branches),
        attention_stages=_stages(FLAGS.attention_stages),
        channel_gate=FLAGS.channel_gate,
        weights=FLAGS.weights,
        image_size=FLAGS.image_size,
        epochs=FLAGS.epochs,
        batch_size=FLAGS.batch_size,
        learning_rate=FLAGS.learning_rate,
        weight_decay=FLAGS.weight_decay,
        warmup_epochs=FLAGS.warmup_epochs,
        label_smoothing=FLAGS.label_smoothing,
        dropout=FLAGS.dropout,
        shots=FLAGS.shots,
        val_shots=FLAGS.val_shots,
        backbone=FLAGS.backbone,
        probe_epochs=FLAGS.probe_epochs,
        backbone_lr_scale=FLAGS.backbone_lr_scale,
        augment=FLAGS.augment,
        class_weight=FLAGS.class_weight,
        early_stopping=FLAGS.early_stopping,
        init_from=FLAGS.init_from,
        tensorboard=FLAGS.tensorboard,
        resize=FLAGS.resize,
        seed=FLAGS.seed,
        data_dir=FLAGS.data_dir,
        test_dir=FLAGS.test_dir,
        cache_dir=FLAGS.cache_dir,
        run_dir=FLAGS.run_dir,
        mixed_precision=FLAGS.mixed_precision,
        jit_compile=FLAGS.jit_compile,
        distribute=FLAGS.distribute,
        steps_per_execution=FLAGS.steps_per_execution,
    )
    cluster = distributed.find_cluster(
        coordinator_address=FLAGS.coordinator_address,
        num_processes=FLAGS.num_processes,
        process_id=FLAGS.process_id,
        timeout=FLAGS.join_timeout,
    )
    trainer.train(config, cluster=cluster)


if __name__ == "__main__":
    app.run(run_main(main), flags_parser=parse_flags)
