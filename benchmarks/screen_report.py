"""Cells of several benchmarks/reproduce.py results in one table, paired by seed.

    python benchmarks/paired_cells.py \\
        --results=benchmarks/results/stages/stanford_cars_fewshot_224_frozen
    python benchmarks/paired_cells.py --single_label=false \\
        --results=crop=benchmarks/results/recipes/X_crop,squash=OTHER_FOLDER \\
        --baseline=crop:none

Each row: val top-1 (best-val epoch, what train.py keeps) and last epoch, test
beside it, and the paired difference to the row's baseline (`--baseline`, or
`none` of the same results for stage-4 cells and `none@34` for cells on
stage 3). Writes --out (JSON) when given. See keras_attn/paired_cells.py.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags  # noqa: E402

from keras_attn.cli import refuse_arguments, run_main  # noqa: E402
from keras_attn.studies import paired_cells  # noqa: E402
from keras_attn.utils import atomic_io  # noqa: E402

flags.DEFINE_string("results", None, "label=folder,... (or one folder).")
flags.DEFINE_string(
    "baseline", None, "One baseline cell for every row (label:variant)."
)
flags.DEFINE_bool("single_label", True, "One results folder: rows named by variant.")
flags.DEFINE_string("out", None, "Write the rows as JSON here.")
FLAGS = flags.FLAGS


def main(argv):
    refuse_arguments(argv, "pass the results as --results=label=folder,...")
    if not FLAGS.results:
        raise ValueError("--results is required.")
    sources = paired_cells.parse_sources(FLAGS.results)
    if FLAGS.single_label and len(sources) == 1:
        sources = {"": next(iter(sources.values()))}
    cells = paired_cells.load_cells(sources)
    baselines = None
    if FLAGS.baseline:
        if FLAGS.baseline not in cells:
            raise ValueError(
                f"--baseline={FLAGS.baseline} is not a cell; cells: {', '.join(cells)}"
            )
        baselines = {name: FLAGS.baseline for name in cells if name != FLAGS.baseline}
    table = paired_cells.rows(cells, baselines)
    print(paired_cells.markdown(table))
    if FLAGS.out:
        atomic_io.write_json(FLAGS.out, table)


if __name__ == "__main__":
    app.run(run_main(main))
