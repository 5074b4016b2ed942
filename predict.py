"""Classifies images with an exported model (.tflite via LiteRT, or .keras).

    python predict.py runs/x/export/model_int8.tflite cat.jpg dog.png
    python predict.py runs/x/model.keras photos/ --top_k=3 --csv=predictions.csv
    python predict.py runs/x/export/model_int8.tflite "photos/**/*.jpg" --csv=out.csv
    python predict.py runs/x/export/model_fp32.tflite cat.jpg --benchmark

IMAGE arguments are files, folders (walked recursively for every image type
Pillow reads) or quoted globs. The labels come from labels.txt beside the
model (or --labels, or the labels packed in a .tflite). Images are
EXIF-rotated and brought to the model's input size as training stored them
(--resize, `crop` by default). Results are printed per image, or with --csv
written to a file (path, top-k labels and probabilities) with a progress
bar. An image that cannot be read gets one `error:` line and is skipped;
the exit status is 1 when any failed. See keras_attn/predict_lib.py.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags  # noqa: E402

from keras_attn.cli import import_tensorflow_quietly, parse_flags, run_main  # noqa: E402

import_tensorflow_quietly()

from keras_attn import edge, predict_lib  # noqa: E402
from keras_attn.data.images import RESIZE_MODES  # noqa: E402

flags.DEFINE_string("labels", None, "labels.txt (default: the one beside MODEL).")
flags.DEFINE_integer("top_k", 5, "How many labels to print per image.")
flags.DEFINE_enum(
    "resize", "crop", list(RESIZE_MODES), "As the run's --resize (crop, pad, squash)."
)
flags.DEFINE_string("csv", None, "Write the results to this CSV file instead.")
flags.DEFINE_integer("batch_size", 32, "Images per batch for .keras models.")
flags.DEFINE_integer("threads", 2, "LiteRT CPU threads.")
flags.DEFINE_bool("benchmark", False, "Also print the single-image latency.")
flags.DEFINE_integer("runs", 50, "Timed runs for --benchmark.")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) < 3:
        raise ValueError("Usage: predict.py MODEL IMAGE|FOLDER|GLOB [...]")
    model_path = argv[1]
    if FLAGS.top_k < 1:
        raise ValueError(f"--top_k must be >= 1. Received: {FLAGS.top_k}")
    if FLAGS.csv:
        predict_lib.check_writable(FLAGS.csv)
    files = predict_lib.image_files(argv[2:])
    classifier = edge.load_classifier(model_path, FLAGS.labels, FLAGS.threads)
    results = predict_lib.classify(classifier, files, FLAGS.resize, FLAGS.batch_size)
    failed, rows = 0, []
    bar = None
    if FLAGS.csv:
        import keras

        bar = keras.utils.Progbar(len(files), unit_name="image")
    for path, probs, error in results:
        if error:
            print(f"error: {error}", file=sys.stderr, flush=True)
            failed += 1
        elif not FLAGS.csv:
            print(path)
            for label, prob in edge.top_k(probs, classifier.labels, FLAGS.top_k):
                print(f"  {prob:.4f}  {label}")
            sys.stdout.flush()
        rows.append((path, probs, error))
        if bar is not None:
            bar.add(1)
    if FLAGS.csv:
        k = min(FLAGS.top_k, len(classifier.labels))
        predict_lib.write_csv(FLAGS.csv, rows, classifier.labels, k)
        print(f"Wrote {len(rows) - failed} prediction(s) to {FLAGS.csv}")
    if FLAGS.benchmark:
        ms = classifier.latency_ms(FLAGS.runs)
        runtime = (
            "Keras"
            if model_path.endswith(".keras")
            else f"LiteRT, threads={FLAGS.threads}"
        )
        height, width = classifier.input_size
        print(
            f"latency: {ms:.2f} ms per image (median of {FLAGS.runs} runs, {runtime}, "
            f"input {classifier.input_dtype} {height}x{width})"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    app.run(run_main(main), flags_parser=parse_flags)
