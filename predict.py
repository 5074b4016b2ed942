"""Classifies images with an exported model (.tflite via LiteRT, or .keras).

    python predict.py runs/x/export/model_int8.tflite cat.jpg dog.png
    python predict.py runs/x/model.keras cat.jpg --top_k=3
    python predict.py runs/x/export/model_fp32.tflite cat.jpg --benchmark

The labels come from labels.txt beside the model (or --labels). Any image
Pillow reads works (JPEG, PNG, greyscale, RGBA, EXIF-rotated phone photos);
it is brought to the model's input size as training stored its images
(--resize, `crop` by default). An image that cannot be read gets one
`error:` line and is skipped; the others are still classified, and the exit
status is 1 when any failed. See keras_attn/edge.py.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags  # noqa: E402

from keras_attn.cli import import_tensorflow_quietly, run_main  # noqa: E402

import_tensorflow_quietly()

from keras_attn import edge  # noqa: E402
from keras_attn.data.images import RESIZE_MODES  # noqa: E402

flags.DEFINE_string("labels", None, "labels.txt (default: the one beside MODEL).")
flags.DEFINE_integer("top_k", 5, "How many labels to print per image.")
flags.DEFINE_enum(
    "resize", "crop", list(RESIZE_MODES), "As the run's --resize (crop, pad, squash)."
)
flags.DEFINE_integer("threads", 2, "LiteRT CPU threads.")
flags.DEFINE_bool("benchmark", False, "Also print the single-image latency.")
flags.DEFINE_integer("runs", 50, "Timed runs for --benchmark.")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) < 3:
        raise ValueError("Usage: predict.py MODEL IMAGE [IMAGE ...]")
    model_path, image_paths = argv[1], argv[2:]
    if FLAGS.top_k < 1:
        raise ValueError(f"--top_k must be >= 1. Received: {FLAGS.top_k}")
    classifier = edge.load_classifier(model_path, FLAGS.labels, FLAGS.threads)
    failed = 0
    for path in image_paths:
        try:
            image = edge.load_image(path, classifier.input_size, FLAGS.resize)
        except (FileNotFoundError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr, flush=True)
            failed += 1
            continue
        print(path)
        for label, prob in edge.top_k(
            classifier.predict(image), classifier.labels, FLAGS.top_k
        ):
            print(f"  {prob:.4f}  {label}")
        sys.stdout.flush()
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
    app.run(run_main(main))
