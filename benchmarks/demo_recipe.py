"""Which recipe should the quick start (`python train.py`, the `shapes` demo)
use? Accuracy and the pointing game side by side against wall time.

    python benchmarks/demo_recipe.py --out=benchmarks/results/demo_recipe

Trains `shapes` with `unified` under each candidate recipe (image size,
backbone mode, epochs) as `python train.py` would, one after the other on
this machine, and scores each run: test top-1 (metrics.json), and on the
500 held-out images it keeps the share whose attention maximum falls on the
object's box, beside a constant centre map (keras_attn/studies/
localisation.py). Wall time and peak memory are the whole train.py process
(benchmarks/measure.py). Writes OUT/demo_recipe.json and .md and prints the table.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import measure  # noqa: E402
from absl import app, flags  # noqa: E402

from keras_attn.cli import refuse_arguments, run_main  # noqa: E402
from keras_attn.studies import localisation  # noqa: E402
from keras_attn.utils import atomic_io  # noqa: E402

# name -> train.py flags on top of `--dataset=shapes`, every setting that
# differs between them spelled out (the run of seed 0 in benchmarks/results/
# demo_recipe/ gave the recipe before 128px-finetune6's flags were written
# out: they are its values).
CANDIDATES = {
    # The demo's recipe before this measurement.
    "128px-finetune6": [
        "--image_size=128", "--backbone=finetune", "--epochs=6", "--warmup_epochs=1",
    ],
    "224px-frozen30": ["--image_size=224", "--backbone=frozen", "--warmup_epochs=1"],
    # The demo's recipe since (keras_attn/training/recipes.py, `shapes`).
    "224px-lpft30+2": [
        "--image_size=224", "--backbone=lp-ft", "--epochs=2", "--warmup_epochs=0",
    ],
    "224px-lpft30+1": [
        "--image_size=224", "--backbone=lp-ft", "--epochs=1", "--warmup_epochs=0",
    ],
    "224px-finetune3": [
        "--image_size=224", "--backbone=finetune", "--epochs=3", "--warmup_epochs=1",
    ],
}  # fmt: skip

NOTE = (
    "One seed on the shared 2-core machine, run one after the other while other "
    "jobs ran: wall times are not comparable between rows; the paired timing of "
    "the two demo recipes is in benchmarks/RESULTS.md."
)

flags.DEFINE_string("out", None, "Output folder (runs and the JSON).")
flags.DEFINE_list("candidates", list(CANDIDATES), "Which candidates to run.")
flags.DEFINE_integer("seed", 0, "Seed of every run.")
FLAGS = flags.FLAGS


def row(name: str, out: str, seed: int) -> dict:
    """Trains one candidate (or reuses its finished run) and scores it."""
    run_dir = os.path.join(out, "runs", name)
    result_file = os.path.join(run_dir, "demo_row.json")
    if os.path.exists(result_file):
        with open(result_file) as f:
            return json.load(f)
    argv = [sys.executable, "train.py", f"--run_dir={run_dir}", f"--seed={seed}"]
    measured = measure.measure_train(argv + CANDIDATES[name], dict(os.environ), run_dir)
    score = localisation.score_run(run_dir)
    entry = {
        "recipe": name,
        "flags": CANDIDATES[name],
        "seed": seed,
        "wall_seconds": measured["seconds"],
        "peak_rss_gb": measured["peak_rss_gb"],
        "test_accuracy": measured["test_accuracy"],
        "map_size": score["map_size"],
        "pointing_max": score["pointing_max"],
        "pointing_centre": score["pointing_centre"],
        "pointing_chance": score["pointing_chance"],
        "correlation_median": score["variability"]["correlation_median"],
    }
    atomic_io.write_json(result_file, entry)
    return entry


def table(rows: list[dict]) -> str:
    lines = [
        "| recipe | wall (min) | peak RSS (GB) | test top-1 % | map | max in box % "
        "| centre map % | max - centre | corr. with mean map |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['recipe']} | {r['wall_seconds'] / 60:.1f} | {r['peak_rss_gb']:.2f} "
            f"| {100 * r['test_accuracy']:.1f} | {r['map_size']}x{r['map_size']} "
            f"| {100 * r['pointing_max']:.1f} | {100 * r['pointing_centre']:.1f} "
            f"| {100 * (r['pointing_max'] - r['pointing_centre']):+.1f} "
            f"| {r['correlation_median']:.2f} |"
        )
    return "\n".join(lines)


def main(argv):
    refuse_arguments(argv, "pass the output folder as --out=DIR")
    if not FLAGS.out:
        raise ValueError("--out=DIR is required (runs and demo_recipe.json go there).")
    unknown = [c for c in FLAGS.candidates if c not in CANDIDATES]
    if unknown:
        raise ValueError(
            f"Unknown candidates {unknown}; choose from {list(CANDIDATES)}."
        )
    rows = [row(name, FLAGS.out, FLAGS.seed) for name in FLAGS.candidates]
    atomic_io.write_json(
        os.path.join(FLAGS.out, "demo_recipe.json"),
        {"machine": measure.machine(), "note": NOTE, "rows": rows},
    )
    atomic_io.write_text(os.path.join(FLAGS.out, "demo_recipe.md"), table(rows) + "\n")
    print(table(rows))


if __name__ == "__main__":
    app.run(run_main(main))
