"""Classifies images with an exported model (.tflite via LiteRT, or .keras).

    python predict.py runs/x/export/model_int8.tflite cat.jpg dog.png
    python predict.py runs/x/model.keras cat.jpg --top_k=3
    python predict.py runs/x/export/model_fp32.tflite cat.jpg --benchmark

The labels come from labels.txt beside the model (or --labels). Any image
Pillow reads works (JPEG, PNG, greyscale, RGBA); it is resized to the model's
input size as training did. See keras_attn/edge.py.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags  # noqa: E402

from keras_attn import edge  # noqa: E402
from keras_attn.cli import run_main  # noqa: E402

flags.DEFINE_string("labels", None, "labels.txt (default: the one beside MODEL).")
flags.DEFINE_integer("top_k", 5, "How many labels to print per image.")
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
    images = [edge.load_image(path, classifier.input_size) for path in image_paths]
    for path, image in zip(image_paths, images, strict=True):
        print(path)
        for label, prob in edge.top_k(
            classifier.predict(image), classifier.labels, FLAGS.top_k
        ):
            print(f"  {prob:.4f}  {label}")
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


if __name__ == "__main__":
    app.run(run_main(main))
