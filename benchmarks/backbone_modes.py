"""`frozen`, `finetune` and `lp-ft` side by side, from reproduce.py's results.

    python benchmarks/backbone_modes.py benchmarks/results

reads RESULTS/<dataset>_<mode>/results.json for every mode that has one
(written by `benchmarks/reproduce.py --protocol=MODE --out=...`), prints the
table (keras_attn/studies/modes_report.py says what is in it) and writes
RESULTS/backbone_modes.json and .md.
"""

import json
import os
import sys

from keras_attn.studies import modes_report
from keras_attn.utils import atomic_io

DATASETS = ("tin100_fewshot", "stanford_cars_fewshot")


def main(results_dir: str) -> None:
    cells = {}
    for dataset in DATASETS:
        for mode in modes_report.MODES:
            path = os.path.join(results_dir, f"{dataset}_{mode}", "results.json")
            if os.path.exists(path):
                with open(path) as f:
                    cells[dataset, mode] = json.load(f)
    if not cells:
        sys.exit(f"No <dataset>_<mode>/results.json under {results_dir}.")
    rows = modes_report.summarise(cells)
    table = modes_report.markdown(rows)
    print(table)
    atomic_io.write_json(os.path.join(results_dir, "backbone_modes.json"), rows)
    atomic_io.write_text(os.path.join(results_dir, "backbone_modes.md"), table)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results")
