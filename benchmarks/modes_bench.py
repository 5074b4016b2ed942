"""`train.py --backbone=...` side by side: whole-command wall time and peak memory.

    python benchmarks/modes_bench.py \\
        --dataset=folder:../shared/data/tin100_fewshot \\
        --weights=../shared/weights/resnet18_tin100

Runs, one after the other in one session, each in its own process, the
command a user types (the recipe's epochs, seed 0, `--attention=none`):

- `frozen-cold`: `--backbone=frozen` with an empty cache folder: the images
  are decoded and the backbone's maps computed (train images and their
  flips, val, test) before the head trains;
- `frozen`: the same with the images decoded but the maps not cached: a
  first frozen run compared like for like with `finetune`, whose image
  cache is warm too (decoding costs every mode's first run the same);
- `frozen-warm`: the same again: the maps are read from the cache (what a
  second seed, another attention or a re-run costs);
- `finetune`: `--backbone=finetune`, image cache warm (decoding is not what
  is compared);
- `lp-ft`: `--backbone=lp-ft`, feature cache warm.

Wall seconds are of the whole process (start-up, loading, training, scoring
val and test, writing the run folder); peak RSS is the kernel's accounting
(`measure.py`). Prints a table with each mode's ratio to `finetune` (the
issue-11 target: `frozen` <= 0.2x) and writes `--out` (JSON).
"""

import os
import shutil
import sys
import tempfile

from absl import app, flags
from measure import REPO, machine, measure_train

from keras_attn.utils import atomic_io

MODES = ("frozen-cold", "frozen", "frozen-warm", "finetune", "lp-ft")

flags.DEFINE_string("dataset", None, "train.py --dataset.", required=True)
flags.DEFINE_string("weights", None, "train.py --weights.", required=True)
flags.DEFINE_list("modes", list(MODES), f"Which of {', '.join(MODES)}.")
flags.DEFINE_string("attention", "none", "train.py --attention.")
flags.DEFINE_string("out", None, "JSON file (default: benchmarks/results/...).")


def train_command(mode: str, run_dir: str) -> list[str]:
    f = flags.FLAGS
    return [
        sys.executable,
        "train.py",
        f"--dataset={f.dataset}",
        f"--weights={f.weights}",
        f"--attention={f.attention}",
        f"--backbone={mode.split('-')[0] if mode.startswith('frozen') else mode}",
        "--seed=0",
        f"--run_dir={run_dir}",
    ]


def table(rows: list[dict]) -> str:
    base = {r["mode"]: r["seconds"] for r in rows}.get("finetune")
    lines = [
        "| mode | wall s | x finetune | peak RSS GB | test top-1 % |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        ratio = "-" if base is None else f"{r['seconds'] / base:.2f}x"
        top1 = r.get("test_accuracy")
        top1 = "-" if top1 is None else f"{100 * top1:.1f}"
        lines.append(
            f"| {r['mode']} | {r['seconds']:.0f} | {ratio} | "
            f"{r['peak_rss_gb']:.2f} | {top1} |"
        )
    return "\n".join(lines)


def main(argv):
    del argv
    f = flags.FLAGS
    unknown = set(f.modes) - set(MODES)
    if unknown:
        sys.exit(f"--modes: unknown {sorted(unknown)}; choose from {', '.join(MODES)}.")
    work = tempfile.mkdtemp(prefix="modes_bench-")
    # An empty cache: the first run decodes the images; frozen-cold computes
    # the maps. Anything run before it warms the image cache only.
    cache = os.path.join(work, "cache")
    env = {**os.environ, "KERAS_ATTN_CACHE": cache}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env["CI"] = "1"  # one log line per epoch
    order = [m for m in MODES if m in f.modes]
    rows = []
    for mode in order:
        if mode == "frozen":  # images decoded, maps to compute
            shutil.rmtree(os.path.join(cache, "features"), ignore_errors=True)
        run_dir = os.path.join(work, "runs", mode)
        row = measure_train(train_command(mode, run_dir), env, run_dir)
        rows.append({"mode": mode, **row})
        print(f"{mode}: {row['seconds']:.0f} s", flush=True)
    print(table(rows))
    out = f.out or os.path.join(REPO, "benchmarks", "results", "modes_bench.json")
    report = {
        "dataset": f.dataset,
        "weights": f.weights,
        "attention": f.attention,
        "machine": machine(),
        "rows": rows,
    }
    atomic_io.write_json(out, report)
    print(f"Wrote {out}")


if __name__ == "__main__":
    app.run(main)
