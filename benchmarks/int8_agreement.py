"""What limits int8's top-1 agreement with Keras: calibration, or near-ties?

    python benchmarks/int8_agreement.py --run=runs/<run> --calibration=100,392

Converts the run's model to full int8 with several calibration sizes (the
training images the run keeps, 2 a class) and, on the held-out images it
keeps, measures top-1 agreement with Keras on the file's output and on the
logits inside it (before its uint8 softmax), overall and on the images whose
Keras top-two probabilities are more than a margin apart. If agreement is
whole above a small margin, the disagreements are near-ties of the model
itself, not quantisation error that more calibration would fix. Prints a
table and writes --out (JSON).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from keras_attn import (  # noqa: E402
    export,
    inference,  # noqa: E402
    runs,
)
from keras_attn.cli import run_main  # noqa: E402
from keras_attn.studies import grid_report  # noqa: E402
from keras_attn.utils import atomic_io  # noqa: E402

flags.DEFINE_string("run", None, "Run folder.", required=True)
flags.DEFINE_list("calibration", ["100", "400"], "Calibration images to try.")
flags.DEFINE_list("margins", ["0.005", "0.01", "0.02"], "Keras top-2 margins.")
flags.DEFINE_string("out", None, "JSON file (default: RUN/int8_agreement.json).")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    run = runs.load_run(FLAGS.run)
    images = run.samples.held_out.images
    keras_logits = run.model.predict(images.astype(np.float32), verbose=0)
    probs = np.sort(inference.softmax(keras_logits), axis=1)
    margin = probs[:, -1] - probs[:, -2]
    result = {
        "run": grid_report.portable(FLAGS.run),
        "images": len(images),
        "classes": len(run.labels),
        "keras_top1_probability_median": float(np.median(probs[:, -1])),
        "keras_top2_margin_median": float(np.median(margin)),
        "rows": [],
    }
    lines = [
        "| calibration | agreement | on logits | "
        + " | ".join(f"margin > {m}: agreement (images)" for m in FLAGS.margins)
        + " |"
    ]
    lines.append("| --- " * (3 + len(FLAGS.margins)) + "|")
    for count in (int(c) for c in FLAGS.calibration):
        count = min(count, len(run.samples.calibration))
        content = export.convert(
            run.model, "int8", run.samples.calibration.images, count
        )
        out = inference.TFLiteClassifier(content, run.labels).predict(images)
        inside = export.softmax_input_logits(content, images)
        agree = out.argmax(1) == keras_logits.argmax(1)
        agree_logits = inside.argmax(1) == keras_logits.argmax(1)
        row = {
            "calibration": count,
            "agreement": float(agree.mean()),
            "agreement_logits": float(agree_logits.mean()),
            "by_margin": {},
        }
        for m in FLAGS.margins:
            sel = margin > float(m)
            row["by_margin"][m] = {
                "images": int(sel.sum()),
                "agreement": float(agree[sel].mean()) if sel.any() else None,
            }
        result["rows"].append(row)
        cells = [
            f"{row['by_margin'][m]['agreement']:.3f} ({row['by_margin'][m]['images']})"
            for m in FLAGS.margins
        ]
        lines.append(
            f"| {count} | {row['agreement']:.3f} | {row['agreement_logits']:.3f} | "
            + " | ".join(cells)
            + " |"
        )
    print("\n".join(lines))
    top1 = result["keras_top1_probability_median"]
    gap = result["keras_top2_margin_median"]
    print(f"Keras: median top-1 probability {top1:.4f}, median top-2 margin {gap:.4f}")
    atomic_io.write_json(
        FLAGS.out or os.path.join(FLAGS.run, "int8_agreement.json"), result
    )


if __name__ == "__main__":
    app.run(run_main(main))
