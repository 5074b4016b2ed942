"""What a configuration costs on a device: exported files of several runs, side by side.

    python benchmarks/edge_compare.py \\
        --runs=none=/work/runs/cars224-none-frozen,unified@3=/work/runs/cars224-unified3-frozen

Reads each run's `export/` folder (as `export.py --tflite` wrote it) and, for
every file kind (`--kinds`), prints its size and its LiteRT single-image
latency on `--threads` CPU threads: the runs' files are timed in interleaved
rounds (run A, run B, run A, ...; `--rounds` rounds of `--runs_per_round`
invokes each, the median invoke of each round, then the median over
rounds), so that a load change on a shared machine hits every run alike.
Each row also gives the ratio to the first run. The accuracy of each file
is the run's own `export/report.json` (what export measured on its images).
Writes `--out` (JSON).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import platform  # noqa: E402

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from keras_attn import inference  # noqa: E402
from keras_attn.cli import run_main  # noqa: E402
from keras_attn.export.report import read_report  # noqa: E402
from keras_attn.studies import grid_report  # noqa: E402
from keras_attn.utils import atomic_io  # noqa: E402

flags.DEFINE_list("runs", None, "label=RUN_FOLDER,... (the first is the baseline).")
flags.DEFINE_list("kinds", ["fp32", "int8"], "Exported files to compare.")
flags.DEFINE_integer("threads", 1, "LiteRT CPU threads.")
flags.DEFINE_integer("rounds", 7, "Interleaved timing rounds.")
flags.DEFINE_integer("runs_per_round", 20, "Timed invokes per file and round.")
flags.DEFINE_string("out", None, "JSON file.")
FLAGS = flags.FLAGS


def parse_runs(items: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        label, sep, path = item.partition("=")
        if not sep or not os.path.isdir(os.path.join(path, "export")):
            raise ValueError(
                f"--runs: {item!r} is not label=RUN with an export/ folder; run "
                "`python export.py --run=RUN --tflite` first."
            )
        pairs.append((label, path))
    return pairs


def report_accuracy(run: str, kind: str) -> dict:
    """What export measured for the file: accuracy, Keras', agreement."""
    path = os.path.join(run, "export", "report.json")
    if not os.path.exists(path):
        return {}
    report = read_report(path)
    entry = report.get("tflite", {}).get(kind, {})
    out = {k: entry[k] for k in ("accuracy", "top1_agreement") if k in entry}
    if "keras" in report:
        out["keras_accuracy"] = report["keras"].get("accuracy")
    return out


def main(argv):
    del argv
    runs = parse_runs(FLAGS.runs or [])
    if len(runs) < 1:
        raise ValueError("--runs: give at least one label=RUN.")
    rows = []
    for kind in FLAGS.kinds:
        classifiers = []
        for label, run in runs:
            path = os.path.join(run, "export", f"model_{kind}.tflite")
            if not os.path.exists(path):
                raise ValueError(f"{path} is missing; export.py --tflite writes it.")
            classifier = inference.load_classifier(
                path, os.path.join(run, "labels.txt"), num_threads=FLAGS.threads
            )
            classifier.latency_ms(runs=3, warmup=3)
            classifiers.append((label, run, path, classifier, []))
        for _ in range(FLAGS.rounds):
            for *_, classifier, times in classifiers:
                times.append(classifier.latency_ms(runs=FLAGS.runs_per_round, warmup=1))
        base = float(np.median(classifiers[0][4]))
        for label, run, path, _, times in classifiers:
            ms = float(np.median(times))
            rows.append(
                {
                    "config": label,
                    "kind": kind,
                    "size_mb": round(os.path.getsize(path) / 1e6, 2),
                    "latency_ms": round(ms, 2),
                    "latency_ratio": round(ms / base, 2),
                    "round_medians_ms": [round(t, 2) for t in times],
                    **report_accuracy(run, kind),
                    "run": grid_report.portable(run),
                }
            )
    print(
        f"| config | file | size (MB) | latency, {FLAGS.threads} thread(s) (ms) "
        "| ratio to first | top-1 (export's images) | Keras top-1 |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| `{r['config']}` | {r['kind']} | {r['size_mb']} | {r['latency_ms']} "
            f"| {r['latency_ratio']} | {r.get('accuracy', '-')} "
            f"| {r.get('keras_accuracy', '-')} |"
        )
    if FLAGS.out:
        atomic_io.write_json(
            FLAGS.out,
            {
                "threads": FLAGS.threads,
                "rounds": FLAGS.rounds,
                "runs_per_round": FLAGS.runs_per_round,
                "machine": platform.platform(),
                "cpu_count": os.cpu_count(),
                "load_average": os.getloadavg(),
                "rows": rows,
            },
        )


if __name__ == "__main__":
    app.run(run_main(main))
