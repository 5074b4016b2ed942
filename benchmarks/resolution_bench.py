"""What 224 px costs against 128 px: `train.py` side by side, whole process.

    D=folder:../shared/data/stanford_cars_fewshot
    python benchmarks/resolution_bench.py --datasets=128=$D,224=${D}_224 \\
        --weights=../shared/weights/resnet18_tin100 --variants=none,unified@3

Runs, one after the other in one session, each in its own process, the
command a user types for each image size and configuration (the dataset's
recipe unless --train_flags overrides it, seed 0), with a warm image and
feature cache (a first, one-epoch pass fills them, untimed), and measures
whole-process wall seconds and peak RSS (`measure.py`). Prints each run's ratio to the
first row (128 px, the first variant) and writes --out (JSON).
"""

import os
import sys
import tempfile

from absl import app, flags
from measure import REPO, machine, measure, measure_train

from keras_attn.studies import variants
from keras_attn.utils import atomic_io

flags.DEFINE_string(
    "datasets", None, "size=dataset,... (train.py --dataset per size).", required=True
)
flags.DEFINE_string("weights", None, "train.py --weights.", required=True)
flags.DEFINE_list("variants", ["none"], "Configurations, as reproduce.py names them.")
flags.DEFINE_list("train_flags", [], "Extra train.py flags, e.g. --epochs=2.")
flags.DEFINE_string("out", None, "JSON file (default: benchmarks/results/...).")


def train_command(size: int, dataset: str, variant: str, run_dir: str) -> list[str]:
    f = flags.FLAGS
    attention, kwargs = variants.parse_variant(variant)
    stages = variants.split_variant(variant)[1]
    command = [
        sys.executable,
        "train.py",
        f"--dataset={dataset}",
        f"--weights={f.weights}",
        f"--image_size={size}",
        f"--attention={attention}",
        f"--attention_stages={','.join(map(str, stages))}",
        "--seed=0",
        f"--run_dir={run_dir}",
    ]
    if kwargs.get("channel_gate"):
        command.append("--channel_gate")
    if kwargs.get("branches"):
        command.append(f"--branches={','.join(kwargs['branches'])}")
    return command + list(f.train_flags)


def table(rows: list[dict]) -> str:
    base = rows[0]
    lines = [
        "| px | configuration | wall s | x first | peak RSS GB | x first | "
        "train img/s | test top-1 % |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['image_size']} | `{r['variant']}` | {r['seconds']:.0f} | "
            f"{r['seconds'] / base['seconds']:.2f}x | {r['peak_rss_gb']:.2f} | "
            f"{r['peak_rss_gb'] / base['peak_rss_gb']:.2f}x | "
            f"{r['train_images_per_second']} | {100 * r['test_accuracy']:.1f} |"
        )
    return "\n".join(lines)


def main(argv):
    del argv
    f = flags.FLAGS
    datasets = {}
    for item in f.datasets.split(","):
        size, _, dataset = item.partition("=")
        datasets[int(size)] = dataset
    for variant in f.variants:
        variants.parse_variant(variant)
    work = tempfile.mkdtemp(prefix="resolution_bench-")
    env = {**os.environ, "CI": "1"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    rows = []
    for size, dataset in sorted(datasets.items()):
        for variant in f.variants:
            warm = os.path.join(work, "warm", f"{size}-{variant}")
            # Fills the image and feature caches: one short epoch a phase.
            short = ["--epochs=1", "--probe_epochs=1"]
            measure(train_command(size, dataset, variant, warm) + short, env)
            run_dir = os.path.join(work, "runs", f"{size}-{variant}")
            row = measure_train(
                train_command(size, dataset, variant, run_dir), env, run_dir
            )
            rows.append({"image_size": size, "variant": variant, **row})
            print(f"{size} px {variant}: {row['seconds']:.0f} s", flush=True)
    print(table(rows))
    out = f.out or os.path.join(REPO, "benchmarks", "results", "resolution_bench.json")
    atomic_io.write_json(
        out,
        {
            "datasets": datasets,
            "weights": f.weights,
            "train_flags": list(f.train_flags),
            "machine": machine(),
            "rows": rows,
        },
    )
    print(f"Wrote {out}")


if __name__ == "__main__":
    app.run(main)
