"""Does `--class_weight=balanced` help on an imbalanced folder? 3 seeds, paired.

    python benchmarks/imbalance_bench.py            # about 15 min on 2 CPU cores

Builds (symbolic links, in a temporary folder) an imbalanced copy of 20
classes of `../shared/data/tin100_fewshot`: the first 10 classes keep their
10 training images, the other 10 are cut to 2 ("rare"); validation (5 a
class) and test (25 a class) stay whole and balanced. Trains the `folder`
recipe with the shared ResNet-18 weights, `--class_weight=none` and
`balanced`, for each seed, and reads each run's test report (the one
`train.py` writes, `eval/model.keras-test/report.json`). Prints mean +- std
over seeds and the paired (same seed, same data) difference `balanced -
none` for top-1, macro recall, and the mean recall of the rare and the
common classes; writes `--out/results.json`.
"""

import json
import os
import shutil
import sys
import tempfile

import numpy as np
from absl import app, flags

from keras_attn import runs
from keras_attn.cli import run_main
from keras_attn.studies.stats import mean_std
from keras_attn.training import trainer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(REPO, "..", "shared", "data", "tin100_fewshot")
WEIGHTS = os.path.join(REPO, "..", "shared", "weights", "resnet18_tin100")

flags.DEFINE_integer("classes", 20, "Classes taken from tin100_fewshot.")
flags.DEFINE_integer("rare_shots", 2, "Training images left to the rare half.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds.")
flags.DEFINE_integer("epochs", 8, "Training epochs.")
flags.DEFINE_string(
    "out", os.path.join(REPO, "benchmarks", "results", "imbalance"), "Output folder."
)


def build_folder(root: str, classes: int, rare_shots: int) -> list[str]:
    """The imbalanced folder; returns the rare classes."""
    names = sorted(os.listdir(os.path.join(SOURCE, "train")))[:classes]
    rare = names[classes // 2 :]
    for split in ("train", "val", "test"):
        for name in names:
            os.makedirs(os.path.join(root, split, name))
            files = sorted(os.listdir(os.path.join(SOURCE, split, name)))
            if split == "train" and name in rare:
                files = files[:rare_shots]
            for f in files:
                os.symlink(
                    os.path.abspath(os.path.join(SOURCE, split, name, f)),
                    os.path.join(root, split, name, f),
                )
    return rare


def run_one(data: str, out: str, seed: int, mode: str, epochs: int) -> dict:
    run_dir = os.path.join(out, "runs", f"{mode}-seed{seed}")
    report_path = os.path.join(run_dir, "eval", f"{runs.MODEL}-test", "report.json")
    if not os.path.exists(report_path):
        shutil.rmtree(run_dir, ignore_errors=True)
        trainer.train(
            trainer.TrainConfig(
                dataset=f"folder:{data}",
                weights=WEIGHTS,
                epochs=epochs,
                class_weight=mode,
                seed=seed,
                run_dir=run_dir,
                visualize_count=4,
            )
        )
    with open(report_path) as f:
        return json.load(f)


def summary(report: dict, rare: list[str]) -> dict:
    recall = {n: c["recall"] for n, c in report["per_class"].items()}
    return {
        "top1": report["top1"],
        "macro_recall": report["macro"]["recall"],
        "rare_recall": float(np.mean([recall[n] for n in rare])),
        "common_recall": float(
            np.mean([r for n, r in recall.items() if n not in rare])
        ),
    }


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    if not os.path.isdir(SOURCE) or not os.path.isdir(WEIGHTS):
        raise FileNotFoundError(f"{SOURCE} or {WEIGHTS} is absent (../shared).")
    os.makedirs(FLAGS.out, exist_ok=True)
    data = os.path.join(tempfile.mkdtemp(prefix="imbalanced_"), "tin_imbalanced")
    rare = build_folder(data, FLAGS.classes, FLAGS.rare_shots)
    seeds = [int(s) for s in FLAGS.seeds]
    results = {"none": {}, "balanced": {}}
    for seed in seeds:
        for mode in results:
            report = run_one(data, FLAGS.out, seed, mode, FLAGS.epochs)
            results[mode][seed] = summary(report, rare)
    keys = ("top1", "macro_recall", "rare_recall", "common_recall")
    table = {
        mode: {k: mean_std(r[s][k] for s in seeds) for k in keys}
        for mode, r in results.items()
    }
    table["balanced - none"] = {
        k: mean_std(results["balanced"][s][k] - results["none"][s][k] for s in seeds)
        for k in keys
    }
    lines = [
        f"test split: {FLAGS.classes} classes x 25 images; train: 10 a class, "
        f"{len(rare)} rare classes cut to {FLAGS.rare_shots}; seeds {seeds}",
        "| class_weight | top-1 | macro recall | rare-class recall "
        "| common-class recall |",
        "| --- | --- | --- | --- | --- |",
    ]
    for mode, row in table.items():
        cells = [
            f"{100 * m:+.1f} +- {100 * s:.1f}"
            if "-" in mode
            else f"{100 * m:.1f} +- {100 * s:.1f}"
            for m, s in (row[k] for k in keys)
        ]
        lines.append(f"| {mode} | " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(FLAGS.out, "results.json"), "w") as f:
        json.dump(
            {"per_seed": results, "table": table, "rare": rare, "markdown": text},
            f,
            indent=2,
        )


if __name__ == "__main__":
    sys.exit(app.run(run_main(main)))
