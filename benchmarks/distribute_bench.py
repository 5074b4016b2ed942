"""Training speed of 1 process against 2 workers on this machine, per backend.

    python benchmarks/distribute_bench.py                  # tensorflow and jax
    python benchmarks/distribute_bench.py --backends=jax --batch_size=16

For each backend, `trainer.train` on `shapes` (ResNet-18 + unified
attention at 128 px, `--shots` images a class, the global `--batch_size`,
`--epochs`) runs:

- `1 process`: one process, no `--distribute` (what one machine runs);
- `2 workers`: two worker processes on 127.0.0.1 with `--distribute` (2
  TensorFlow workers from `TF_CONFIG`, or 2 JAX processes around a
  coordinator), each reading half of every global batch.

Images/s counts the global batch over the training steps of the last epoch
(the first epoch traces and compiles), from `on_train_batch_end` times;
`ratio` is 2 workers / 1 process. On a machine with 2 CPU cores, the two
workers share the cores one process already uses, and add the collectives
(gradient all-reduce, synchronised BatchNormalization on TensorFlow) over
127.0.0.1: this measures that multi-worker training works and what it costs
here, not a speed-up, which needs a machine (and accelerator) per worker.
Prints a table and writes `--out` (JSON).
"""

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

from absl import app, flags

from keras_attn.distributed import free_ports
from keras_attn.utils import atomic_io

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

flags.DEFINE_list("backends", ["tensorflow", "jax"], "Keras backends to measure.")
flags.DEFINE_integer("batch_size", 8, "Global batch.")
flags.DEFINE_integer("shots", 8, "Training images a class (10 classes).")
flags.DEFINE_integer("epochs", 2, "Epochs; the last one is timed.")
flags.DEFINE_string(
    "weights",
    os.path.join(REPO, "..", "shared", "weights", "resnet18_tin100"),
    "Backbone weights (none: random; speed does not depend on them).",
)
flags.DEFINE_integer("timeout", 1800, "Seconds allowed for each run.")
flags.DEFINE_string(
    "out", os.path.join(REPO, "benchmarks", "results", "distribute_bench.json"), "JSON."
)
FLAGS = flags.FLAGS

# Trains with the config in argv[1] and prints the last epoch's speed.
TIMED_TRAIN = """
import json, sys, time
import keras
from keras_attn.training import trainer

config = trainer.TrainConfig(**json.loads(sys.argv[1]))


class Speed(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.times = []

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter())


speed = Speed()
start = time.perf_counter()
trainer.train(config, extra_callbacks=[speed])
steps = len(speed.times) - 1
seconds = speed.times[-1] - speed.times[0]
print("SPEED " + json.dumps({
    "steps": steps,
    "images_per_second": steps * config.batch_size / seconds,
    "wall_seconds": time.perf_counter() - start,
}), flush=True)
"""


def environments(backend: str, workers: int) -> list[dict]:
    """Each process's environment: its TF_CONFIG, or Keras' JAX variables."""
    base = {
        k: v
        for k, v in os.environ.items()
        if k != "TF_CONFIG" and not k.startswith("KERAS_DISTRIBUTION_")
    }
    base.update(KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", CI="1")
    base["PYTHONPATH"] = os.pathsep.join(
        p for p in (REPO, os.environ.get("PYTHONPATH")) if p
    )
    if workers == 1:
        return [base]
    ports = free_ports(workers)
    envs = []
    for i in range(workers):
        env = dict(base)
        if backend == "tensorflow":
            addresses = [f"127.0.0.1:{p}" for p in ports]
            env["TF_CONFIG"] = json.dumps(
                {
                    "cluster": {"worker": addresses},
                    "task": {"type": "worker", "index": i},
                }
            )
        else:
            env["KERAS_DISTRIBUTION_JOB_ADDRESSES"] = f"127.0.0.1:{ports[0]}"
            env["KERAS_DISTRIBUTION_NUM_PROCESSES"] = str(workers)
            env["KERAS_DISTRIBUTION_PROCESS_ID"] = str(i)
        envs.append(env)
    return envs


def measure(backend: str, workers: int, work: str) -> dict:
    """One row: `workers` processes train together; the chief's speed."""
    config = {
        "dataset": "shapes",
        "shots": FLAGS.shots,
        "val_shots": 2,
        "batch_size": FLAGS.batch_size,
        "epochs": FLAGS.epochs,
        "weights": FLAGS.weights,
        "run_dir": os.path.join(work, f"{backend}-{workers}"),
        "distribute": workers > 1,
        "visualize_count": 2,
    }
    command = [sys.executable, "-c", TIMED_TRAIN, json.dumps(config)]
    logs = [os.path.join(work, f"{backend}-{workers}-{i}.log") for i in range(workers)]
    procs = []
    start = time.perf_counter()
    try:
        for env, log in zip(environments(backend, workers), logs, strict=True):
            with open(log, "w") as f:
                procs.append(
                    subprocess.Popen(
                        command, cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT
                    )
                )
        codes = [p.wait(timeout=FLAGS.timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    with open(logs[0]) as f:
        output = f.read()
    if any(codes):
        raise RuntimeError(f"{backend}, {workers} worker(s) failed:\n{output[-3000:]}")
    line = next(s for s in output.splitlines() if s.startswith("SPEED "))
    row = json.loads(line[len("SPEED ") :])
    row.update(
        backend=backend,
        workers=workers,
        all_processes_seconds=round(time.perf_counter() - start, 1),
        # Other jobs on the machine slow every row: the 1-minute load average
        # at the end (2 would fill 2 cores).
        load_average=round(os.getloadavg()[0], 2),
    )
    return row


def main(argv):
    del argv
    work = tempfile.mkdtemp(prefix="distribute_bench-")
    rows = []
    try:
        for backend in FLAGS.backends:
            for workers in (1, 2):
                row = measure(backend, workers, work)
                print(json.dumps(row), flush=True)
                rows.append(row)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table = [
        "| backend | processes | global batch | images/s (last epoch) | ratio | "
        "wall (s) | load average |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        one = next(
            r["images_per_second"]
            for r in rows
            if r["backend"] == row["backend"] and r["workers"] == 1
        )
        row["ratio_to_one_process"] = round(row["images_per_second"] / one, 2)
        name = "1 process" if row["workers"] == 1 else f"{row['workers']} workers"
        table.append(
            f"| {row['backend']} | {name} | {FLAGS.batch_size} | "
            f"{row['images_per_second']:.1f} | {row['ratio_to_one_process']:.2f} | "
            f"{row['all_processes_seconds']:.0f} | {row['load_average']:.1f} |"
        )
    print("\n".join(table))
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "command": " ".join(
            ["python", "benchmarks/distribute_bench.py", *sys.argv[1:]]
        ),
        "settings": {
            "dataset": "shapes",
            "image_size": 128,
            "shots": FLAGS.shots,
            "batch_size": FLAGS.batch_size,
            "epochs": FLAGS.epochs,
        },
        "rows": rows,
        "note": "2 workers share this machine's cores with each other: a "
        "functional check of multi-worker training, not a speed-up.",
    }
    atomic_io.write_json(FLAGS.out, result)
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
