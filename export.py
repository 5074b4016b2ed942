"""Exports a trained run: a SavedModel and four verified TFLite files.

    python export.py                          # the newest run under runs/
    python export.py --run=runs/shapes-unified-20260101-120000
    python export.py --quantize=fp32,int8 --int8_io=uint8 --nosaved_model

Needs only the run folder (its model and the images it keeps), not the
training data. Writes DIR/export/: saved_model/,
model_{fp32,dynamic,fp16,int8}.tflite (each with TFLite metadata, ready for
MediaPipe's ImageClassifier), labels.txt and report.json (size, parity with
Keras, agreement, accuracy, latency, the images checked on). A file that
fails its checks is not written and the command exits with status 2, naming
the check. See keras_attn/export/.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from absl import app, flags, logging  # noqa: E402

from keras_attn.cli import (  # noqa: E402
    import_tensorflow_quietly,
    parse_flags,
    refuse_arguments,
    run_main,
)

import_tensorflow_quietly()

from keras_attn import export, runs  # noqa: E402
from keras_attn.export import web  # noqa: E402

flags.DEFINE_string("run", None, "Run folder (default: the newest one under runs/).")
flags.DEFINE_string("runs_root", "runs", "Where to look for the newest run.")
flags.DEFINE_bool("saved_model", True, "Write the SavedModel.")
flags.DEFINE_bool("tflite", True, "Write the .tflite files named by --quantize.")
flags.DEFINE_list(
    "quantize",
    list(export.QUANTIZATIONS),
    "TFLite quantizations: fp32,dynamic,fp16,int8.",
)
flags.DEFINE_integer(
    "calibration_steps",
    0,
    "Training images that calibrate int8 (0: all the run keeps: 2 a class, 100-400).",
)
flags.DEFINE_enum("int8_io", "uint8", list(export.INT8_IO), "int8 file's I/O type.")
flags.DEFINE_integer(
    "eval_images", None, "Held-out images each file is checked on (default: all kept)."
)
flags.DEFINE_integer("parity_images", 200, "Of those, images for the logit comparison.")
flags.DEFINE_integer("latency_runs", 50, "Timed single-image runs per thread count.")
flags.DEFINE_float(
    "min_agreement", 0.8, "Smallest top-1 agreement with Keras a file may have."
)
flags.DEFINE_integer("seed", 0, "Seed of the calibration and evaluation draws.")
flags.DEFINE_list(
    "formats",
    None,
    f"Formats to write, of {','.join(export.FORMATS)} (default: every one whose "
    "tools are installed; one named here but not installed is refused, saying "
    "what to install).",
)
flags.DEFINE_bool(
    "keep_failed",
    False,
    "Write a file that runs but fails an accuracy check (agreement, parity, "
    "client photos) anyway, marked kept in report.json and the model card.",
)
flags.DEFINE_bool(
    "web",
    False,
    "Also write export/web/: a static page that classifies photos in the browser "
    "with model_int8.tflite (docs/export.md, The web page).",
)
flags.DEFINE_bool(
    "web_only", False, "Write only the web page, from the run's existing export."
)
flags.DEFINE_string(
    "web_npm",
    None,
    "Folder of an npm install of @mediapipe/tasks-vision (and @litertjs/core): "
    "the page's JavaScript and WebAssembly are copied from it and the page works "
    "offline (default: it loads them from the jsdelivr CDN).",
)
flags.DEFINE_bool(
    "web_attention",
    True,
    "Give the page the attention map (a second, two-output int8 file run by "
    "LiteRT.js).",
)
flags.DEFINE_bool(
    "web_check",
    True,
    "Check the page in headless Chromium on the run's photos (needs playwright "
    "and chromium; skipped with a note otherwise).",
)
FLAGS = flags.FLAGS


def main(argv):
    refuse_arguments(argv, "pass the run folder as --run=DIR")
    logging.set_verbosity(logging.WARNING)  # TF logs each SavedModel step at INFO
    config = export.ExportConfig(
        run_dir=FLAGS.run or runs.latest_run(FLAGS.runs_root),
        saved_model=FLAGS.saved_model,
        tflite=FLAGS.tflite,
        quantize=tuple(FLAGS.quantize),
        calibration_steps=FLAGS.calibration_steps or None,
        int8_io=FLAGS.int8_io,
        eval_images=FLAGS.eval_images,
        parity_images=FLAGS.parity_images,
        latency_runs=FLAGS.latency_runs,
        min_agreement=FLAGS.min_agreement,
        seed=FLAGS.seed,
        formats=tuple(FLAGS.formats) if FLAGS.formats is not None else None,
        keep_failed=FLAGS.keep_failed,
    )
    export_dir = runs.path(config.run_dir, runs.EXPORT)
    if FLAGS.web or FLAGS.web_only:
        int8 = "int8" in config.quantize and config.tflite
        int8 &= "tflite" in (config.formats or ("tflite",))
        web.check_request(
            config.run_dir, FLAGS.web_npm, int8 and not FLAGS.web_only, config.int8_io
        )
    if not FLAGS.web_only:
        print(f"Exporting {config.run_dir}")
        report_path = os.path.join(export_dir, export.REPORT_FILE)
        try:
            report = export.export_run(config)
        except export.ExportCheckError:
            print(export.summary_table(export.read_report(report_path)))
            raise
        print(export.summary_table(report))
        print(f"Export folder: {export_dir}")
    if FLAGS.web or FLAGS.web_only:
        entry = web.export_web(
            config.run_dir,
            npm=FLAGS.web_npm,
            attention=FLAGS.web_attention,
            check=FLAGS.web_check,
            keep_failed=FLAGS.keep_failed,
            calibration_steps=config.calibration_steps,
            seed=config.seed,
        )
        print(web.summary_line(entry, export_dir))


if __name__ == "__main__":
    app.run(run_main(main), flags_parser=parse_flags)
