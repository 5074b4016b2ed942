"""Training and inference throughput of ResNet-18 with each attention module.

    python benchmarks/throughput.py                  # this backend and device
    KERAS_BACKEND=jax python benchmarks/throughput.py --batch_size=512  # a GPU

For each attention (`none`, `unified`, `se`, `cbam`) and image size (64, 128,
224 px) it measures, on the current Keras backend and device:

- training images/s: `fit` steps of the classifier (forward, backward and
  AdamW update, jit-compiled as `--jit_compile` says), with the batches
  already on the device (a `PyDataset` of device-resident uint8 batches on
  JAX and PyTorch, a prefetching `tf.data` pipeline on TensorFlow;
  `--feed=host` hands `fit` NumPy batches instead, as training from host
  memory does), `--augment` adding the training-only augmentation;
- inference images/s: `predict` on the same batches.

Each number is the median over `--windows` timed windows of `--window_steps`
steps. The modules of one size take turns, one window each per round, so a
slow spell of a shared host falls on all of them alike; the first round
starts with `--warmup_steps` untimed steps (compilation). The device is
synchronised at both edges of a window (a value is read back), so
asynchronous dispatch cannot flatter it. The table gives each module's time
per image as a multiple of `none`'s, measured in the same run, and
everything goes to a JSON file.

64 px gives a 2x2 last feature map, below the 4x4 that `build_classifier`
accepts (`--image_size >= 128`); at 64 px the benchmark therefore builds the
same model (preprocessing, backbone, `attention_head`) without the check, to
show how the cost scales, not as a setting to train.

It needs no TensorFlow on the JAX and PyTorch backends. Random weights and
random images: speed does not depend on them.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import dataclasses  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from keras_attn.cli import run_main  # noqa: E402
from keras_attn.data.augment import (  # noqa: E402
    AUGMENT_RECIPES,
    build_augmenter,
    with_augmentation,
)
from keras_attn.models import classifier  # noqa: E402
from keras_attn.models.backbone import (  # noqa: E402
    BACKBONE_STRIDE,
    MIN_IMAGE_SIZE,
    load_backbone,
)
from keras_attn.studies import variants  # noqa: E402
from keras_attn.utils import devices  # noqa: E402

NUM_CLASSES = 100
# Distinct device-resident batches the timed steps cycle through.
DISTINCT_BATCHES = 2
# The issue's targets (benchmarks, not tests).
UNIFIED_MAX_TRAIN_RATIO = 1.10  # at 128 and 224 px
H100_PLAIN_MIN_TRAIN_IPS = 31_000  # ResNet-18, 128 px, batch 512, bfloat16

flags.DEFINE_list(
    "attention",
    ["none", "unified", "se", "cbam"],
    "Configurations to time, as benchmarks/reproduce.py names them (unified@3: "
    "stage 3; cbam@34: stages 3 and 4; unified+cg: the channel gate).",
)
flags.DEFINE_list("image_sizes", ["64", "128", "224"], "Square image sides (px).")
flags.DEFINE_integer(
    "batch_size", None, "Images per step (default: 512 on a GPU/TPU, 16 on CPU)."
)
flags.DEFINE_enum(
    "mixed_precision",
    "auto",
    ["off", "bfloat16", "float16", "auto"],
    "auto: bfloat16 on TPUs and recent GPUs, float16 on older GPUs, off on CPUs.",
)
flags.DEFINE_enum("jit_compile", "auto", ["auto", "on", "off"], "XLA (Keras' auto).")
flags.DEFINE_integer("steps_per_execution", 1, "Training steps per compiled call.")
flags.DEFINE_enum("feed", "device", ["device", "host"], "Where the batches live.")
flags.DEFINE_enum(
    "augment", "none", list(AUGMENT_RECIPES), "Training-only augmentation recipe."
)
flags.DEFINE_integer("warmup_steps", None, "Untimed steps first (default 5; CPU 2).")
flags.DEFINE_integer(
    "window_steps", None, "Steps per timed window (default 20; CPU 4)."
)
flags.DEFINE_integer("windows", 3, "Timed windows (rounds); the median is reported.")
flags.DEFINE_string("output", None, "JSON path (default benchmarks/results/...).")
FLAGS = flags.FLAGS


class RepeatedBatches(keras.utils.PyDataset):
    """`steps` batches cycling through a few fixed ones (device tensors or NumPy)."""

    def __init__(self, batches: list, steps: int):
        super().__init__()
        self.batches = batches
        self.steps = steps

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        return self.batches[index % len(self.batches)]


class WindowTimer(keras.callbacks.Callback):
    """Wall-clock time at the end of chosen batches, after a device sync."""

    def __init__(self, marks: list[int]):
        super().__init__()
        self.marks = set(marks)
        self.times = []

    def _mark(self, batch, value):
        if batch + 1 in self.marks:
            keras.ops.convert_to_numpy(value)  # waits for the device
            self.times.append(time.perf_counter())

    def on_train_batch_end(self, batch, logs=None):
        self._mark(batch, logs["loss"])

    def on_predict_batch_end(self, batch, logs=None):
        self._mark(batch, keras.tree.flatten(logs["outputs"])[0])


def attended_maps(variant: str, image_size: int) -> str:
    """The feature maps a variant's head reads, e.g. `14x14+7x7` for `@34` at
    224 px (the classifier's own map sizes)."""
    stages = variants.split_variant(variant)[1]
    sides = [classifier.stage_map_side(image_size, stage) for stage in stages]
    return "+".join(f"{side}x{side}" for side in sides)


def build_model(variant: str, image_size: int) -> keras.Model:
    """The classifier for square `image_size` inputs (no resize inside).

    `variant` names a configuration as `benchmarks/reproduce.py` does:
    `unified`, `unified@3` (stage 3), `cbam@34` (stages 3 and 4),
    `unified+cg` (the channel gate), ..."""
    backbone = load_backbone("none")
    attention, kwargs = variants.parse_variant(variant)
    stages = variants.split_variant(variant)[1]
    if image_size >= MIN_IMAGE_SIZE:
        return classifier.build_classifier(
            NUM_CLASSES,
            (image_size, image_size, 3),
            image_size=image_size,
            attention=attention,
            attention_kwargs=kwargs,
            backbone=backbone,
            stages=stages,
        )
    if stages != (4,) or kwargs:
        raise ValueError(f"{variant}: below {MIN_IMAGE_SIZE} px, only stage 4.")
    # Below build_classifier's minimum: the same layers, without the check.
    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    x = keras.layers.Normalization(
        mean=classifier.IMAGENET_MEAN,
        variance=[s**2 for s in classifier.IMAGENET_STD],
        name="normalize",
    )(x)
    logits = classifier.attention_head(backbone(x), NUM_CLASSES, attention)
    return keras.Model(inputs, logits, name=f"resnet18_{attention}")


@dataclasses.dataclass(frozen=True)
class Settings:
    """The measurement settings (from the flags, read in `main` only)."""

    feed: str
    augment: str
    jit_compile: str
    steps_per_execution: int
    warmup_steps: int
    window_steps: int
    windows: int


def make_batches(image_size: int, batch_size: int, feed_mode: str) -> list[tuple]:
    """A few fixed batches of random uint8 images and one-hot labels."""
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(DISTINCT_BATCHES):
        images = rng.integers(0, 256, (batch_size, image_size, image_size, 3), "uint8")
        labels = np.eye(NUM_CLASSES, dtype="float32")[
            rng.integers(0, NUM_CLASSES, batch_size)
        ]
        batches.append((images, labels))
    if feed_mode == "device" and keras.backend.backend() != "tensorflow":
        batches = [tuple(keras.ops.convert_to_tensor(a) for a in b) for b in batches]
    return batches


def feed(batches: list[tuple], steps: int, with_labels: bool):
    """What `fit` (`with_labels`) or `predict` reads: `steps` batches."""
    parts = [b if with_labels else b[:1] for b in batches]
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        cycle = tf.data.Dataset.from_tensor_slices(
            tuple(np.stack(p) for p in zip(*parts, strict=True))
        )
        return cycle.repeat().take(steps).prefetch(tf.data.AUTOTUNE)
    return RepeatedBatches(parts, steps)


def compiled_model(attention: str, image_size: int, settings: Settings):
    """`(model, train_model)`: the classifier and what `fit` trains (the
    classifier behind the `--augment` wrapper, if any), compiled."""
    model = build_model(attention, image_size)
    train_model = model
    if settings.augment != "none":
        train_model = with_augmentation(
            model, build_augmenter(image_size, settings.augment, seed=0)
        )
    train_model.compile(
        optimizer=keras.optimizers.AdamW(1e-4),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
        jit_compile={"auto": "auto", "on": True, "off": False}[settings.jit_compile],
        steps_per_execution=settings.steps_per_execution,
    )
    return model, train_model


def measure_size(
    attentions: list[str], image_size: int, batch_size: int, settings: Settings
) -> list:
    """Training and inference images/s of every module at one image size.

    The modules take turns, one timed window each per round, so that a slow
    spell of a shared host (or a GPU clocking down) falls on all of them
    alike. Round 0 starts each `fit`/`predict` with `--warmup_steps` untimed
    steps (compilation); later rounds with one execution.
    """
    window = settings.window_steps
    models = {a: compiled_model(a, image_size, settings) for a in attentions}
    batches = make_batches(image_size, batch_size, settings.feed)
    rates = {a: {"train": [], "infer": []} for a in attentions}
    for round_index in range(settings.windows):
        lead = (
            settings.warmup_steps if round_index == 0 else settings.steps_per_execution
        )
        marks = [lead, lead + window]
        for attention, (model, train_model) in models.items():
            timer = WindowTimer(marks)
            train_model.fit(
                feed(batches, lead + window, with_labels=True),
                callbacks=[timer],
                shuffle=False,
                verbose=0,
            )
            rates[attention]["train"] += _rates(timer.times, window * batch_size)
            timer = WindowTimer(marks)
            model.predict(
                feed(batches, lead + window, with_labels=False),
                callbacks=[timer],
                verbose=0,
            )
            rates[attention]["infer"] += _rates(timer.times, window * batch_size)
    results = []
    for attention, (model, train_model) in models.items():
        train, infer = rates[attention]["train"], rates[attention]["infer"]
        results.append(
            {
                "attention": attention,
                "image_size": image_size,
                "feature_maps": attended_maps(attention, image_size),
                "parameters": int(model.count_params()),
                "jit_compile": bool(train_model.jit_compile),
                "train_images_per_second": statistics.median(train),
                "train_windows": train,
                "infer_images_per_second": statistics.median(infer),
                "infer_windows": infer,
            }
        )
    del models
    keras.backend.clear_session()
    return results


def _rates(times: list[float], images: int) -> list[float]:
    return [round(images / (b - a), 2) for a, b in zip(times, times[1:], strict=False)]


def add_ratios(results: list[dict]) -> None:
    """Time per image of each module / that of `none` at the same size."""
    base = {r["image_size"]: r for r in results if r["attention"] == "none"}
    for r in results:
        if r["image_size"] in base:
            none = base[r["image_size"]]
            for kind in ("train", "infer"):
                key = f"{kind}_images_per_second"
                r[f"{kind}_time_vs_none"] = round(none[key] / r[key], 3)


def check_targets(results: list[dict], context: dict) -> list[dict]:
    """The issue's targets, judged on this run where they apply."""
    targets = []
    for size in (128, 224):
        row = next(
            (
                r
                for r in results
                if r["attention"] == "unified"
                and r["image_size"] == size
                and "train_time_vs_none" in r
            ),
            None,
        )
        if row:
            value = row["train_time_vs_none"]
            targets.append(
                {
                    "target": f"unified training time / none at {size} px",
                    "limit": f"<= {UNIFIED_MAX_TRAIN_RATIO}",
                    "measured": value,
                    "met": value <= UNIFIED_MAX_TRAIN_RATIO,
                }
            )
    plain = next(
        (r for r in results if r["attention"] == "none" and r["image_size"] == 128),
        None,
    )
    applies = (
        "H100" in context["device"]
        and context["batch_size"] == 512
        and context["mixed_precision"] == "bfloat16"
    )
    if plain:
        targets.append(
            {
                "target": "plain ResNet-18 training img/s, H100, 128 px, "
                "batch 512, bf16",
                "limit": f">= {H100_PLAIN_MIN_TRAIN_IPS}",
                "measured": plain["train_images_per_second"],
                "met": plain["train_images_per_second"] >= H100_PLAIN_MIN_TRAIN_IPS
                if applies
                else None,
            }
        )
    return targets


def table(results: list[dict], targets: list[dict], context: dict) -> str:
    lines = [
        f"{context['backend']} {context['backend_version']}, keras "
        f"{context['keras_version']}, {context['device']}, precision "
        f"{context['mixed_precision']}, batch {context['batch_size']}, XLA "
        f"{'on' if context['jit_compile'] else 'off'}, feed {context['feed']}, "
        f"augment {context['augment']}",
        "",
        "| attention | px | maps | train img/s | train time x none "
        "| inference img/s | inference time x none |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r['attention']} | {r['image_size']} | {r['feature_maps']} "
            f"| {r['train_images_per_second']:,.1f} "
            f"| {r.get('train_time_vs_none', float('nan')):.3f} "
            f"| {r['infer_images_per_second']:,.1f} "
            f"| {r.get('infer_time_vs_none', float('nan')):.3f} |"
        )
    if targets:
        lines += ["", "| target | limit | measured | |", "| --- | --- | ---: | --- |"]
        for t in targets:
            verdict = {True: "met", False: "missed", None: "n/a on this device"}
            lines.append(
                f"| {t['target']} | {t['limit']} | {t['measured']:,} "
                f"| {verdict[t['met']]} |"
            )
    return "\n".join(lines)


def backend_version() -> str:
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(
        keras.backend.backend()
    )
    return __import__(module).__version__ if module else ""


def main(argv):
    del argv
    for variant in FLAGS.attention:
        variants.parse_variant(variant)  # a one-line error if unknown
    sizes = [int(s) for s in FLAGS.image_sizes]
    if any(s < BACKBONE_STRIDE * 2 or s % BACKBONE_STRIDE for s in sizes):
        raise ValueError(
            f"--image_sizes must be multiples of {BACKBONE_STRIDE}, at least "
            f"{BACKBONE_STRIDE * 2}. Received: {','.join(map(str, sizes))}"
        )
    on_cpu = devices.accelerator() is None
    batch_size = FLAGS.batch_size or (16 if on_cpu else 512)
    if FLAGS.warmup_steps is None:
        FLAGS.warmup_steps = 2 if on_cpu else 5
    if FLAGS.window_steps is None:
        FLAGS.window_steps = 4 if on_cpu else 20
    every = FLAGS.steps_per_execution
    if (
        FLAGS.warmup_steps < every
        or FLAGS.warmup_steps % every
        or (FLAGS.window_steps % every)
    ):
        raise ValueError(
            "--warmup_steps and --window_steps must be multiples of "
            f"--steps_per_execution={every}. Received: {FLAGS.warmup_steps}, "
            f"{FLAGS.window_steps}"
        )
    precision = FLAGS.mixed_precision
    if precision == "auto":
        precision = devices.auto_mixed_precision()
    keras.mixed_precision.set_global_policy(
        {"off": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}[
            precision
        ]
    )
    context = {
        "backend": keras.backend.backend(),
        "backend_version": backend_version(),
        "keras_version": keras.__version__,
        "python": platform.python_version(),
        "device": devices.describe(),
        "mixed_precision": precision,
        "batch_size": batch_size,
        "feed": FLAGS.feed,
        "augment": FLAGS.augment,
        "steps_per_execution": FLAGS.steps_per_execution,
        "warmup_steps": FLAGS.warmup_steps,
        "window_steps": FLAGS.window_steps,
        "windows": FLAGS.windows,
    }
    settings = Settings(
        feed=FLAGS.feed,
        augment=FLAGS.augment,
        jit_compile=FLAGS.jit_compile,
        steps_per_execution=FLAGS.steps_per_execution,
        warmup_steps=FLAGS.warmup_steps,
        window_steps=FLAGS.window_steps,
        windows=FLAGS.windows,
    )
    print(f"{context['backend']} on {context['device']}, batch {batch_size}")
    results = []
    for size in sizes:
        start = time.time()
        results += measure_size(FLAGS.attention, size, batch_size, settings)
        for r in results[-len(FLAGS.attention) :]:
            print(
                f"{r['attention']:>8} {size:>4} px: train "
                f"{r['train_images_per_second']:,.1f} img/s, inference "
                f"{r['infer_images_per_second']:,.1f} img/s",
                flush=True,
            )
        print(f"({time.time() - start:.0f} s)", flush=True)
    context["jit_compile"] = all(r["jit_compile"] for r in results)
    add_ratios(results)
    targets = check_targets(results, context)
    print()
    print(table(results, targets, context))
    slug = re.sub(r"[^a-z0-9]+", "-", context["device"].lower()).strip("-")
    output = FLAGS.output or os.path.join(
        os.path.dirname(os.path.abspath(__file__)),
        "results",
        f"throughput-{context['backend']}-{slug}.json",
    )
    os.makedirs(os.path.dirname(output) or ".", exist_ok=True)
    with open(output, "w") as f:
        json.dump(
            {"context": context, "results": results, "targets": targets}, f, indent=2
        )
        f.write("\n")
    print(f"\nWrote {output}")


if __name__ == "__main__":
    app.run(run_main(main))
