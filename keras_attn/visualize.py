"""Figures of a run folder written by train.py, as a command:

    python -m keras_attn.visualize --run=DIR [--compare=DIR2] [--out=DIR]

writes `attention_grid.png` (held-out images with the attention map
overlaid), `pointing_game.json` for `shapes` runs (map maximum, map minimum
and chance level), and `curves_compare.png` (both runs' training curves on
one plot) into `--out` (default: the run folder). It reads only the run
folder, so it works after the training data moved. The figures themselves
are `keras_attn.reports.figures`.
"""

import json
import os


def main(argv) -> None:
    from absl import flags

    from keras_attn.cli import refuse_arguments

    flags_ = flags.FLAGS
    refuse_arguments(argv, "pass the run folder as --run=DIR")
    if not flags_.run:
        raise ValueError("--run=DIR is required (a run folder written by train.py).")
    from keras_attn.reports.figures import visualize_run

    written = visualize_run(flags_.run, flags_.compare, flags_.out, flags_.count)
    for key, value in written.items():
        print(f"{key}: {json.dumps(value) if isinstance(value, dict) else value}")


def _define_flags() -> None:
    from absl import flags

    flags.DEFINE_string("run", None, "Run folder written by train.py.")
    flags.DEFINE_string("compare", None, "A second run folder for the curves.")
    flags.DEFINE_string("out", None, "Output folder (default: --run).")
    flags.DEFINE_integer("count", 16, "Images in the attention grid.")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from absl import app

    from keras_attn.cli import parse_flags, run_main

    _define_flags()
    app.run(run_main(main), flags_parser=parse_flags)
