"""Classifies images with an exported model (.tflite via LiteRT, or .keras).

    python predict.py runs/x/export/model_int8.tflite cat.jpg dog.png
    python predict.py runs/x/model.keras photos/ --top_k=3 --csv=predictions.csv
    python predict.py runs/x/export/model_int8.tflite "photos/**/*.jpg" --csv=out.csv
    python predict.py runs/x/export/model_int8.tflite photos/ --csv=p1.csv --shard=1/4
    python predict.py runs/x/export/model_fp32.tflite cat.jpg --benchmark

IMAGE arguments are files, folders (walked recursively for every image type
Pillow reads) or quoted globs. The labels come from labels.txt beside the
model (or --labels, or the labels packed in a .tflite). Images are decoded in
--workers threads, EXIF-rotated and brought to the model's input size the
way its run stored its training images: --resize defaults to the mode in the
run's config.json (found beside model.keras, or one folder up from export/),
else `crop`. Results are printed per image, or with --csv appended to a file
a batch at a time (path, top-k labels and probabilities, error) under a
progress bar with images/s, in memory that does not grow with the number of
images. Run the same command again and it resumes: files that already have
a row are skipped, a partial last line from a killed run is cut first, and
a CSV written by another model or with other flags is refused (the model's
identity is kept beside the CSV, in <csv>.json). --shard=i/n takes a
disjoint 1/n of the files (stable hash of each path) for n machines or
processes; their CSVs together hold every file once. An image that cannot
be read gets one `error:` line (and a row with its error) and is skipped;
the exit status is 1 when any failed. See keras_attn/inference/.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# A .tflite, .onnx or .xml file needs no Keras: register its classes only
# when a .keras file is opened (keras_attn/registration.py).
os.environ.setdefault("KERAS_ATTN_REGISTER", "on_demand")

from absl import app, flags  # noqa: E402

from keras_attn import inference  # noqa: E402
from keras_attn.cli import parse_flags, run_main  # noqa: E402
from keras_attn.images import LEGACY_RESIZE, RESIZE_MODES  # noqa: E402

flags.DEFINE_string("labels", None, "labels.txt (default: the one beside MODEL).")
flags.DEFINE_integer("top_k", 5, "How many labels to print per image.")
flags.DEFINE_enum(
    "resize",
    None,
    list(RESIZE_MODES),
    "crop | pad | squash; default: the model's own (its run's --resize, or the "
    ".tflite metadata), else crop.",
)
flags.DEFINE_string(
    "csv", None, "Append the results to this CSV file (resumes it if it has rows)."
)
flags.DEFINE_string(
    "shard", None, "INDEX/COUNT (0-based): classify only this share of the files."
)
flags.DEFINE_integer(
    "batch_size", 32, "Images per batch (one .keras model call, one CSV write)."
)
flags.DEFINE_integer("workers", inference.DEFAULT_WORKERS, "Image decoding threads.")
flags.DEFINE_integer(
    "threads", 2, "CPU threads of the runtime (LiteRT, ONNX Runtime, OpenVINO)."
)
flags.DEFINE_bool("benchmark", False, "Also print the single-image latency.")
flags.DEFINE_integer("runs", 50, "Timed runs for --benchmark.")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) < 3:
        raise ValueError("Usage: predict.py MODEL IMAGE|FOLDER|GLOB [...]")
    model_path = argv[1]
    for flag in ("top_k", "batch_size", "workers", "threads"):
        inference.check_positive(flag, getattr(FLAGS, flag))
    if FLAGS.benchmark:
        inference.check_positive("runs", FLAGS.runs)
    shard = inference.parse_shard(FLAGS.shard)
    if FLAGS.csv:
        inference.check_csv_writable(FLAGS.csv)
    files = inference.image_files(argv[2:], shard)
    classifier = inference.load_classifier(model_path, FLAGS.labels, FLAGS.threads)

    trained = inference.training_resize(model_path)
    resize = FLAGS.resize or trained or LEGACY_RESIZE
    if not FLAGS.resize and not trained:
        print(
            f"note: nothing records how {model_path} was trained to resize photos "
            f"(no run config, no metadata): assuming --resize={LEGACY_RESIZE}; "
            "pass --resize if its run stored them otherwise.",
            file=sys.stderr,
        )
    if FLAGS.resize and trained and FLAGS.resize != trained:
        print(
            f"note: --resize={FLAGS.resize}, but {model_path} was trained on "
            f"images stored with --resize={trained}; its accuracy may be lower.",
            file=sys.stderr,
        )
    record = None
    if FLAGS.csv:
        k = min(FLAGS.top_k, len(classifier.labels))
        record = inference.identity(model_path, classifier.labels, k, resize, shard)
        if shard:
            print(f"Shard {FLAGS.shard}: {len(files)} image(s).")
    summary = inference.predict(
        classifier,
        files,
        resize=resize,
        top_k=FLAGS.top_k,
        batch_size=FLAGS.batch_size,
        workers=FLAGS.workers,
        csv_path=FLAGS.csv,
        record=record,
    )
    if FLAGS.csv:
        print(summary.describe(FLAGS.csv))

    if FLAGS.benchmark:
        ms = classifier.latency_ms(FLAGS.runs)
        height, width = classifier.input_size
        print(
            f"latency: {ms:.2f} ms per image (median of {FLAGS.runs} runs, "
            f"{classifier.runtime}, "
            f"input {classifier.input_dtype} {height}x{width})"
        )
    return 1 if summary.failed else 0


if __name__ == "__main__":
    app.run(run_main(main), flags_parser=parse_flags)
