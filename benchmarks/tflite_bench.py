"""TFLite benchmark: the four files of one trained run, side by side.

    python benchmarks/tflite_bench.py --run=runs/tin100-unified-224

Converts the run's model to `fp32`, `dynamic`, `fp16` and `int8` `.tflite`
files exactly as `export.py` does (keras_attn.export_lib: same conversion,
same checks), into a temporary folder unless `--out_dir` is given, evaluates
each on the run's whole held-out split (test, else val) and times single-image
inference with LiteRT on 1 and 2 CPU threads (median of `--latency_runs`).
Prints a table and the targets below, and writes everything as JSON
(`--output`, default `RUN/tflite_bench.json`).

Targets (benchmarks/README.md has the measured table):
- int8 file size <= 0.26 x fp32;
- int8 single-image latency <= 0.35 x fp32 (1 thread; stated for 224 px);
- int8 accuracy within 1 point of Keras; fp16 and dynamic within 0.5 point.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import platform  # noqa: E402
import tempfile  # noqa: E402

from absl import app, flags, logging  # noqa: E402

from keras_attn import export, runs  # noqa: E402
from keras_attn.cli import run_main  # noqa: E402
from keras_attn.utils import atomic_io  # noqa: E402

flags.DEFINE_string("run", None, "Run folder (default: the newest one under runs/).")
flags.DEFINE_string("output", None, "JSON file (default RUN/tflite_bench.json).")
flags.DEFINE_string("out_dir", None, "Keep the .tflite files here (default: discard).")
flags.DEFINE_integer("latency_runs", 200, "Timed single-image runs per thread count.")
flags.DEFINE_integer("eval_images", 0, "Held-out images to evaluate on (0: all).")
flags.DEFINE_integer("calibration_steps", 100, "Training images that calibrate int8.")
FLAGS = flags.FLAGS

# (name, variant, metric, limit): metric <= limit passes.
TARGETS = (
    ("int8 size / fp32 size", "int8", "size_ratio", 0.26),
    ("int8 latency / fp32 latency (1 thread)", "int8", "latency_ratio", 0.35),
    ("Keras accuracy - int8 accuracy (points)", "int8", "accuracy_drop", 1.0),
    ("Keras accuracy - fp16 accuracy (points)", "fp16", "accuracy_drop", 0.5),
    ("Keras accuracy - dynamic accuracy (points)", "dynamic", "accuracy_drop", 0.5),
)


def targets(report: dict) -> list[dict]:
    """Each target with its measured value and whether it is met."""
    files = report["tflite"]
    fp32 = files["fp32"]
    keras_accuracy = report["keras"]["accuracy"]
    rows = []
    for name, variant, metric, limit in TARGETS:
        entry = files[variant]
        value = {
            "size_ratio": entry["size_bytes"] / fp32["size_bytes"],
            "latency_ratio": entry["latency_ms"]["threads_1"]
            / fp32["latency_ms"]["threads_1"],
            "accuracy_drop": 100 * (keras_accuracy - entry["accuracy"]),
        }[metric]
        rows.append(
            {
                "target": name,
                "value": round(value, 3),
                "limit": limit,
                "met": value <= limit,
            }
        )
    return rows


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # TF logs each SavedModel step at INFO
    run_dir = FLAGS.run or runs.latest_run()
    with tempfile.TemporaryDirectory() as tmp:
        config = export.ExportConfig(
            run_dir=run_dir,
            formats=("tflite",),
            calibration_steps=FLAGS.calibration_steps,
            eval_images=FLAGS.eval_images or None,
            latency_runs=FLAGS.latency_runs,
            out_dir=FLAGS.out_dir or tmp,
        )
        report = export.export_run(config)
    results = {
        "command": "python benchmarks/tflite_bench.py --run=" + run_dir,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "report": report,
        "targets": targets(report),
    }
    print(
        f"{run_dir}: {report['model']}, input {report['input_shape']}, "
        f"{report['image_size']} px inside, {report['eval_images']} "
        f"{report['split']} images, {results['machine']}"
    )
    print(export.summary_table(report))
    print()
    for row in results["targets"]:
        mark = "met" if row["met"] else "MISSED"
        print(f"{row['target']:<44} {row['value']:>7.3f}  (<= {row['limit']})  {mark}")
    output = FLAGS.output or os.path.join(run_dir, "tflite_bench.json")
    atomic_io.write_json(output, results)
    print(f"\nWrote {output}")


if __name__ == "__main__":
    app.run(run_main(main))
