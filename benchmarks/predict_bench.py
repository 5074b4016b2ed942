"""predict.py on a folder of 100,000 photos: speed, peak memory, kill and resume.

    python benchmarks/predict_bench.py                    # 100,000 files
    python benchmarks/predict_bench.py --images=5000 --model=runs/x/export/m.tflite

The folder is built in `--work_dir` (a temporary one by default) from
symlinks to the real photos in ../shared/data/stanford_cars_fewshot (5,589
JPEGs, shorter side 128 px) and ../shared/data/stanford_cars_fullres (300
JPEGs as published, 78x44 to 2883x1543 px), taken in turn until there are
`--images` files, 1,000 per subfolder. The model is `--model`, or by default
an int8 `.tflite` made once in the work folder from a short real run:
`train.py --backbone=frozen --epochs=1` on stanford_cars_fewshot with the
pretrained ../shared/weights/resnet18_tin100 (128 px input, 196 classes),
then `export.py --quantize=int8` (with `--min_agreement=0`: one epoch on 196
classes is barely trained, its near-uniform scores disagree with Keras'
after quantisation; the speed of the file does not depend on that).

Rows, each predict.py in its own process, measured by `measure.py` (wall
seconds, and peak RSS: `os.wait4`'s `ru_maxrss` of that process):

- `all files`: `predict.py MODEL FOLDER --csv=all.csv`; images/s from the
  command's own summary (the classification loop) and from the wall time
  (with start-up); then every file must have exactly one row.
- `shard 0/8, killed`: the same on `--shard=0/8` (~1/8 of the files), sent
  SIGKILL once the CSV holds `--kill_after_rows` rows;
- `shard 0/8, restarted`: the same command again; it must resume (skip the
  rows written, cut a partial last line if the kill left one), and the CSV
  must then hold exactly one row per file of the shard, no more, no less
  (the shard's files listed with `inference.image_files`).

Peak RSS on 100,000 files against the shard's ~12,500 shows whether memory
grows with the number of files. Prints a table and writes `--out` (JSON).
"""

import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from absl import app, flags
from measure import machine, measure

from keras_attn import inference
from keras_attn.studies import grid_report
from keras_attn.utils import atomic_io

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(REPO, "..", "shared")
SOURCES = (
    os.path.join(SHARED, "data", "stanford_cars_fewshot"),
    os.path.join(SHARED, "data", "stanford_cars_fullres"),
)
PER_FOLDER = 1000
WEIGHTS = os.path.join(SHARED, "weights", "resnet18_tin100")
SHARD = "0/8"

flags.DEFINE_integer("images", 100_000, "Files in the benchmark folder.")
flags.DEFINE_string("model", None, "Model file (default: a short real run's int8).")
flags.DEFINE_string("work_dir", None, "Where to build the folder (default: temp).")
flags.DEFINE_integer("batch_size", 32, "predict.py --batch_size.")
flags.DEFINE_integer("workers", None, "predict.py --workers (default: its own).")
flags.DEFINE_integer("threads", 2, "predict.py --threads (LiteRT).")
flags.DEFINE_integer(
    "kill_after_rows", 3000, "SIGKILL the shard run at this many rows."
)
flags.DEFINE_bool("full", True, "Measure the run over all files (else only the shard).")
flags.DEFINE_string(
    "out", os.path.join(REPO, "benchmarks", "results", "predict_bench.json"), "JSON."
)


def build_folder(work: str, count: int) -> str:
    """`count` symlinks to the real photos under work/photos-<count> (reused)."""
    folder = os.path.join(work, f"photos-{count}")
    done = os.path.join(folder, ".complete")
    if os.path.exists(done):
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    photos = sorted(
        os.path.abspath(os.path.join(root, name))
        for source in SOURCES
        for root, _, names in os.walk(source)
        for name in names
        if name.lower().endswith((".jpg", ".jpeg", ".png"))
    )
    if not photos:
        raise FileNotFoundError(f"No photos under {SOURCES} (../shared/data).")
    for i in range(count):
        sub = os.path.join(folder, f"d{i // PER_FOLDER:04d}")
        if i % PER_FOLDER == 0:
            os.makedirs(sub)
        photo = photos[i % len(photos)]
        os.symlink(photo, os.path.join(sub, f"{i:07d}{os.path.splitext(photo)[1]}"))
    open(done, "w").close()
    return folder


def _python(env: dict, *args: str) -> None:
    result = subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{result.stderr[-3000:]}")


def make_model(work: str, env: dict) -> str:
    """An int8 .tflite of a short real run (made once in `work`)."""
    run_dir = os.path.join(work, "run")
    model = os.path.join(run_dir, "export", "model_int8.tflite")
    if os.path.exists(model):
        return model
    print("Training a short real run and exporting its int8 file ...", flush=True)
    _python(
        env,
        "train.py",
        "--backbone=frozen",
        "--dataset=folder:" + os.path.abspath(SOURCES[0]),
        f"--weights={os.path.abspath(WEIGHTS)}",
        "--epochs=1",
        f"--run_dir={run_dir}",
    )
    _python(
        env,
        "export.py",
        f"--run={run_dir}",
        "--quantize=int8",
        "--nosaved_model",
        "--min_agreement=0",
    )
    return model


def _summary(output: str) -> dict:
    """The numbers of predict.py's last line ("Wrote N row(s) ...")."""
    (line,) = [x for x in output.splitlines() if x.startswith("Wrote ")]
    numbers = {
        "written": int(re.search(r"Wrote (\d+) row", line)[1]),
        "failed": int(re.search(r"(\d+) failed", line)[1]),
    }
    rate = re.search(r"([\d.]+) images/s", line)
    numbers["loop_images_per_second"] = float(rate[1]) if rate else None
    skipped = re.search(r"(\d+) image\(s\) already had a row", line)
    numbers["skipped"] = int(skipped[1]) if skipped else 0
    cut = re.search(r"cut a partial last line \((\d+) bytes\)", output)
    numbers["cut_bytes"] = int(cut[1]) if cut else 0
    return numbers


def check_rows(csv_path: str, expected: list[str]) -> dict:
    """Exactly one row per expected file, and nothing else?"""
    with open(csv_path, newline="") as f:
        paths = [row["path"] for row in csv.DictReader(f)]
    unique = set(paths)
    return {
        "rows": len(paths),
        "files": len(expected),
        "duplicates": len(paths) - len(unique),
        "missing": len(set(expected) - unique),
        "unexpected": len(unique - set(expected)),
        "one_row_per_file": len(paths) == len(unique) and unique == set(expected),
    }


def _lines(path: str) -> int:
    if not os.path.exists(path):
        return 0
    with open(path, "rb") as f:
        return sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))


def run_killed(argv: list[str], env: dict, csv_path: str, rows: int) -> dict:
    """Starts predict.py, sends SIGKILL once `csv_path` holds `rows` rows."""
    start = time.perf_counter()
    log = open(csv_path + ".log", "w")
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=log)
    while proc.poll() is None and _lines(csv_path) < rows + 1:  # + the header
        time.sleep(0.05)
    if proc.poll() is not None:
        raise RuntimeError(f"predict.py ended before {rows} rows; see {log.name}")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    log.close()
    with open(csv_path, "rb") as f:
        tail = f.read()[-1:]
    return {
        "seconds": round(time.perf_counter() - start, 2),
        "returncode": proc.returncode,
        "rows_at_kill": _lines(csv_path) - 1,
        "ended_mid_line": tail != b"\n",
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| run | files | seconds | images/s (loop) | images/s (wall) | peak RSS (GB)"
        " | rows written | check |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        check = r.get("check", {})
        verdict = (
            ("one row per file" if check["one_row_per_file"] else "FAILED")
            + f" ({check['rows']} rows, {check['duplicates']} duplicated, "
            f"{check['missing']} missing)"
            if check
            else r.get("note", "")
        )
        lines.append(
            f"| {r['run']} | {r['files']} | {r.get('seconds', '')} "
            f"| {r.get('loop_images_per_second') or ''} "
            f"| {r.get('wall_images_per_second', '')} | {r.get('peak_rss_gb', '')} "
            f"| {r.get('written', r.get('rows_at_kill', ''))} | {verdict} |"
        )
    return "\n".join(lines)


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    work = FLAGS.work_dir or tempfile.mkdtemp(prefix="predict_bench_")
    os.makedirs(work, exist_ok=True)
    env = dict(
        os.environ,
        TF_CPP_MIN_LOG_LEVEL="3",
        PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]),
    )
    model = os.path.abspath(FLAGS.model or make_model(work, env))
    print(f"Building {FLAGS.images} files in {work} ...", flush=True)
    folder = build_folder(work, FLAGS.images)
    predict = [
        sys.executable,
        "predict.py",
        model,
        folder,
        f"--batch_size={FLAGS.batch_size}",
        f"--threads={FLAGS.threads}",
        "--top_k=5",
    ]
    if FLAGS.workers:
        predict.append(f"--workers={FLAGS.workers}")
    rows = []
    load = os.getloadavg()
    if FLAGS.full:
        all_csv = os.path.join(work, "all.csv")
        for path in (all_csv, all_csv + inference.SIDECAR_SUFFIX):
            if os.path.exists(path):
                os.remove(path)
        print(f"predict.py on all {FLAGS.images} files ...", flush=True)
        result = measure([*predict, f"--csv={all_csv}"], env)
        output = result.pop("output")
        files = inference.image_files([folder])
        rows.append(
            {
                "run": "all files",
                "files": len(files),
                **result,
                **_summary(output),
                "wall_images_per_second": round(len(files) / result["seconds"], 1),
                "check": check_rows(all_csv, files),
            }
        )

    shard_csv = os.path.join(work, "shard.csv")
    for path in (shard_csv, shard_csv + inference.SIDECAR_SUFFIX):
        if os.path.exists(path):
            os.remove(path)
    shard_files = inference.image_files([folder], inference.parse_shard(SHARD))
    shard_cmd = [*predict, f"--csv={shard_csv}", f"--shard={SHARD}"]
    print(f"predict.py --shard={SHARD}, killed at {FLAGS.kill_after_rows} rows ...")
    killed = run_killed(shard_cmd, env, shard_csv, FLAGS.kill_after_rows)
    rows.append(
        {
            "run": f"shard {SHARD}, SIGKILL",
            "files": len(shard_files),
            **killed,
            "note": f"killed at {killed['rows_at_kill']} rows"
            + (", mid-line" if killed["ended_mid_line"] else ", between writes"),
        }
    )
    print(f"predict.py --shard={SHARD} again (resumes) ...", flush=True)
    result = measure(shard_cmd, env)
    output = result.pop("output")
    resumed = _summary(output)
    rows.append(
        {
            "run": f"shard {SHARD}, restarted",
            "files": len(shard_files),
            **result,
            **resumed,
            "wall_images_per_second": round(resumed["written"] / result["seconds"], 1),
            "check": check_rows(shard_csv, shard_files),
        }
    )
    report = {
        "command": "python benchmarks/predict_bench.py "
        + " ".join(f"--{k}={v}" for k, v in _flag_values().items()),
        "model": grid_report.portable(model),
        "model_bytes": os.path.getsize(model),
        "machine": machine(),
        "load_average_at_start": [round(x, 2) for x in load],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "sources": [os.path.relpath(s, REPO) for s in SOURCES],
        "rows": rows,
        "passed": all(r["check"]["one_row_per_file"] for r in rows if "check" in r),
    }
    print(table(rows))
    atomic_io.write_json(FLAGS.out, report)
    print(f"Wrote {FLAGS.out}")
    if not report["passed"]:
        raise SystemExit("error: a CSV does not hold exactly one row per file.")


def _flag_values() -> dict:
    FLAGS = flags.FLAGS
    names = ("images", "batch_size", "workers", "threads", "kill_after_rows", "full")
    return {n: FLAGS[n].value for n in names if FLAGS[n].value is not None}


if __name__ == "__main__":
    from keras_attn.cli import run_main

    app.run(run_main(main))
