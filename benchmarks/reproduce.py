"""Attention variants beside the baseline, over seeds: a table.

    python benchmarks/reproduce.py --protocol=lp-ft \\
        --dataset=folder:../shared/data/tin100_fewshot \\
        --weights=../shared/weights/resnet18_tin100 \\
        --variants=none,unified --out=benchmarks/results/tin100_fewshot_lp-ft

Every run is a `train.py` run (`--backbone=PROTOCOL`: frozen, finetune or
lp-ft), its folder under OUT/runs/. Writes OUT/results.json and
OUT/results.md: per variant, val and test top-1 (best-val checkpoint and
last epoch) and loss, mean ± std over seeds, parameters, MACs per image
(JAX backend), wall seconds per run, and the paired difference to `none`.
See keras_attn/grid.py and benchmarks/RESULTS.md.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags  # noqa: E402

from keras_attn.cli import parse_flags, refuse_arguments, run_main  # noqa: E402
from keras_attn.studies import grid, grid_report, variants  # noqa: E402

flags.DEFINE_string("dataset", None, "shapes | cifar10 | folder:PATH | ...")
flags.DEFINE_string("test_dir", None, "Class-subfolder tree used as the test split.")
flags.DEFINE_string("weights", None, "Backbone weights: PATH | imagenet | none.")
flags.DEFINE_string(
    "variants",
    "all",
    "Comma-separated: none, unified, se, cbam, eca, unified-no_<branch>, "
    "unified-only_<branch> (+res: residual); `all` for every one.",
)
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds (data draw and initialisation).")
flags.DEFINE_enum("protocol", "frozen", list(grid.PROTOCOLS), "train.py --backbone.")
flags.DEFINE_integer("epochs", 0, "Training epochs per run (0: the recipe's).")
flags.DEFINE_integer("probe_epochs", 0, "lp-ft's probe epochs (0: the recipe's).")
flags.DEFINE_integer(
    "warmup_epochs", -1, "Warm-up epochs of each phase (-1: the recipe's)."
)
flags.DEFINE_integer("image_size", 128, "Side the images are resized to (>= 128).")
flags.DEFINE_enum(
    "resize", None, ["crop", "pad", "squash"], "train.py --resize (None: the recipe's)."
)
flags.DEFINE_list("learning_rates", ["1e-3"], "Grid; chosen per variant on val.")
flags.DEFINE_integer("shots", 10, "Training images per class (0: all).")
flags.DEFINE_integer("val_shots", 5, "Validation images per class (0: all).")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_string("out", None, "Output folder for results.json / results.md.")
FLAGS = flags.FLAGS


def _numbers(name: str, values: list[str], kind):
    try:
        return tuple(kind(v) for v in values)
    except ValueError:
        raise ValueError(
            f"--{name} must be a comma-separated list of numbers. "
            f"Received: {','.join(values)}"
        ) from None


def main(argv):
    refuse_arguments(argv, "every setting is a flag, e.g. --dataset=folder:PATH")
    for name in ("dataset", "weights", "out"):
        if not getattr(FLAGS, name):
            raise ValueError(f"--{name} is required.")
    config = grid.ReproduceConfig(
        dataset=FLAGS.dataset,
        weights=FLAGS.weights,
        out=FLAGS.out,
        variants=variants.parse_variants(FLAGS.variants),
        seeds=_numbers("seeds", FLAGS.seeds, int),
        learning_rates=_numbers("learning_rates", FLAGS.learning_rates, float),
        protocol=FLAGS.protocol,
        epochs=FLAGS.epochs or None,
        probe_epochs=FLAGS.probe_epochs or None,
        warmup_epochs=None if FLAGS.warmup_epochs < 0 else FLAGS.warmup_epochs,
        image_size=FLAGS.image_size,
        resize=FLAGS.resize,
        shots=FLAGS.shots or None,
        val_shots=FLAGS.val_shots or None,
        test_dir=FLAGS.test_dir,
        batch_size=FLAGS.batch_size,
    )
    results = grid.run(config)
    print(grid_report.markdown(results))
    print(f"Wrote {os.path.join(FLAGS.out, 'results.md')}")


if __name__ == "__main__":
    app.run(run_main(main), flags_parser=parse_flags)
