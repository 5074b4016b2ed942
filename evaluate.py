"""Evaluates a run's model, or any file exported from it, per class.

    python evaluate.py --run=runs/x                        # model.keras, test split
    python evaluate.py --run=runs/x --model=runs/x/export/model_int8.tflite
    python evaluate.py --run=runs/x --data=sample          # the images the run keeps
    python evaluate.py --run=runs/x --data=folder:/data/new_photos --out=reports/new

Writes RUN/eval/<model file>-<data>/ (or --out=DIR): report.json (top-1,
top-5, mean loss, macro and per-class precision / recall / F1, most confused
pairs, the images evaluated), per_class.csv, confusion.png and errors.png.
Every data source reaches the model as the run stored its images (its
--resize, from config.json). See keras_attn/evaluation/.
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

from keras_attn import runs  # noqa: E402
from keras_attn.evaluation import evaluate as evaluate_lib  # noqa: E402
from keras_attn.evaluation import report as report_lib  # noqa: E402

flags.DEFINE_string("run", None, "Run folder (default: the newest one under runs/).")
flags.DEFINE_string("runs_root", "runs", "Where to look for the newest run.")
flags.DEFINE_string(
    "model", None, "model.keras or a .tflite file (default: the run's model.keras)."
)
flags.DEFINE_string(
    "data",
    "split",
    "split (the run's test split, else val) | sample (the held-out images the "
    "run keeps) | folder:PATH (a class-subfolder tree with the run's classes).",
)
flags.DEFINE_integer("batch_size", 32, "Images per prediction batch.")
flags.DEFINE_string(
    "out", None, "Report folder (default: RUN/eval/<model file>-<data>/)."
)
FLAGS = flags.FLAGS


def main(argv):
    refuse_arguments(argv, "pass the run folder as --run=DIR")
    config = evaluate_lib.EvalConfig(
        run_dir=FLAGS.run or runs.latest_run(FLAGS.runs_root),
        model=FLAGS.model,
        data=FLAGS.data,
        batch_size=FLAGS.batch_size,
        out_dir=FLAGS.out,
    )
    report = evaluate_lib.evaluate(config)
    print(report_lib.summary_line(report))
    for pair in report["most_confused"][:5]:
        print(f"  {pair['true']} -> {pair['predicted']}: {pair['images']} image(s)")
    print(f"Report: {report['out_dir']}")


if __name__ == "__main__":
    app.run(run_main(main), flags_parser=parse_flags)
