"""How fast is it, against the limit (issue 28): the files `export.py` writes,
in every runtime that runs them, timed in one interleaved run.

    python benchmarks/runtimes_bench.py --web_npm=DIR      # the committed table
    python benchmarks/runtimes_bench.py --quick --web_npm=DIR   # a smoke run

For each size (`--sizes`) and variant (`--variants`: `plain`, the
reference, a bare keras-hub ResNet-18 with a pooled Dense head and nothing
else; `none` and `unified`, `keras_attn.models.build_classifier` with its
preprocessing inside, attention on stage 4), a random-weight model with 10
classes is exported the way `export.py` does it, with the library's own
converters: `tflite_convert.convert` + `add_metadata` (fp32 and full-integer
int8 `.tflite`), `onnx_convert.convert` / `quantize_int8` / `add_metadata`
(`.onnx`), `openvino.convert` / `quantize_int8` / `set_metadata` (`.xml`),
and `export.web.write_page` (the browser page, MediaPipe Tasks on the int8
file). int8 is calibrated on `--calibration_images` real photos
(`--calibration`, resized as `squash` stores them). `unified`'s temporal
memory holds the descriptors of 100 of those photos, as after training (an
empty memory would be a constant the converter folds away).

Then, interleaved (each round visits every measurement once, in a shuffled
order, so a busy spell of a shared machine hits every runtime alike), it
times:

- batch-1 latency at 1 thread and at every core (`--threads`): Keras
  (TensorFlow backend, `predict_on_batch`, in one worker process per thread
  count: TensorFlow fixes its threads at start), LiteRT (XNNPACK, the
  default delegate, `num_threads`), ONNX Runtime (`intra_op_num_threads`,
  as `inference.backends.onnx_runtime` opens it), OpenVINO
  (`INFERENCE_NUM_THREADS`, as `inference.backends.openvino_runtime`
  compiles it), and the web page in headless Chromium (MediaPipe Tasks'
  `ImageClassifier`, CPU delegate, the time the page measures around
  `classify`; WebAssembly without threads, so one thread only);
- batch throughput (`--batch_size` images in one call, every core; LiteRT
  with its input resized to the batch) in images/s; not applicable to the
  page, which classifies one photo at a time;
- this CPU's peak: a float32 matmul (numpy/OpenBLAS, `--peak_size`^3, its
  threads set with threadpoolctl) and an int8 one (ONNX Runtime
  `MatMulInteger`, uint8 x int8, the kernel family its int8 convolutions
  use), at the same thread counts.

Each number is the median over rounds of each round's median. MACs per
image are counted from the int8 `.tflite` file's graph (CONV_2D,
DEPTHWISE_CONV_2D, FULLY_CONNECTED and BATCH_MATMUL: output elements x
reduction length); `keras_attn.studies.cost.model_cost` counts FLOPs only on
JAX. A file's MAC rate is MACs / latency (or x images/s), and its share of
peak that rate over the peak of its precision at the same thread count.

For each int8 file it also records what runs where: LiteRT's XNNPACK
partitions, the ops left to LiteRT's own kernels, QUANTIZE and DEQUANTIZE
ops (`keras_attn.tflite.graph.model_ops`); ONNX Runtime's optimised graph
(quantised vs float convolutions, leftover QuantizeLinear/DequantizeLinear);
OpenVINO's executed graph (layers by runtime precision).

The parts live in `keras_attn.studies.runtimes` (the files, graphs,
timers, peaks, summary and table); this script holds the flags and the
interleaved run.

Writes `--out` (JSON, paths relative to the repository) and `--table`
(markdown), and prints the table. Exported files go to `--work_dir` and are
reused by the next run when the settings and library code are the same.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import contextlib  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from keras_attn.cli import run_main  # noqa: E402
from keras_attn.studies.runtimes import exports, graphs, peaks  # noqa: E402
from keras_attn.studies.runtimes import summary as summary_lib  # noqa: E402
from keras_attn.studies.runtimes import table as table_lib  # noqa: E402
from keras_attn.studies.runtimes import timers as timers_lib  # noqa: E402
from keras_attn.studies.runtimes.exports import FILES, RUNTIMES, VARIANTS  # noqa: E402
from keras_attn.utils import atomic_io  # noqa: E402

# Variants timed only where the targets compare them (`--reference_runtimes`).
REFERENCE_VARIANTS = ("plain", "unified_whatif")
SETTLE_S = 0.05  # between measurements: spinning thread pools go quiet

flags.DEFINE_list("sizes", ["128", "224"], "Image sizes (px; stored = model size).")
flags.DEFINE_list("variants", list(VARIANTS), f"Of {', '.join(VARIANTS)}.")
flags.DEFINE_list("runtimes", list(RUNTIMES), f"Of {', '.join(RUNTIMES)}.")
flags.DEFINE_list(
    "reference_runtimes",
    ["litert_int8", "onnx_int8", "openvino_int8", "web"],
    "Runtimes that time `plain` and `unified_whatif` (the int8 files).",
)
flags.DEFINE_list("threads", None, "Latency thread counts (default: 1 and every core).")
flags.DEFINE_integer("batch_size", 32, "Images per call for throughput (0: skip).")
flags.DEFINE_integer("repeats", 7, "Interleaved rounds.")
flags.DEFINE_integer("runs_per_round", 10, "Timed batch-1 calls per measurement.")
flags.DEFINE_integer("batch_runs", 2, "Timed batch calls per measurement.")
flags.DEFINE_integer("web_images", 8, "Photos through the page per measurement.")
flags.DEFINE_integer("peak_size", 2048, "Side of the peak matmuls.")
flags.DEFINE_integer("peak_runs", 3, "Timed peak matmuls per measurement.")
flags.DEFINE_string(
    "calibration",
    os.path.join(os.path.dirname(REPO), "shared", "data", "stanford_cars_fewshot"),
    "Folder of photos (searched recursively) that calibrate int8, or `random`.",
)
flags.DEFINE_integer("calibration_images", 100, "Photos that calibrate int8.")
flags.DEFINE_string(
    "web_npm", None, "npm prefix with @mediapipe/tasks-vision (else no web page)."
)
flags.DEFINE_string("work_dir", "runs/runtimes_bench", "Exported files.")
flags.DEFINE_bool("reuse", True, "Reuse exported files made with the same settings.")
flags.DEFINE_string("out", "benchmarks/results/runtimes_bench.json", "JSON file.")
flags.DEFINE_string("table", None, "Markdown table (default: --out with .md).")
flags.DEFINE_integer("seed", 0, "Seed of weights, calibration and order.")
flags.DEFINE_bool(
    "quick",
    False,
    "A smoke run: 128 px, 2 rounds of few calls, small batches and peak "
    "matmuls, 8 calibration photos, written under --work_dir (flags given "
    "explicitly win).",
)
flags.DEFINE_integer("keras_worker", 0, "Internal: run as a Keras timing worker.")
FLAGS = flags.FLAGS

QUICK = dict(
    sizes=["128"],
    repeats=2,
    runs_per_round=3,
    batch_size=4,
    batch_runs=1,
    web_images=2,
    peak_size=512,
    peak_runs=2,
    calibration_images=8,
    work_dir="runs/runtimes_bench_quick",
    out="runs/runtimes_bench_quick/runtimes_bench_quick.json",
)


def apply_quick() -> None:
    if not FLAGS.quick:
        return
    for name, value in QUICK.items():
        if not FLAGS[name].present:
            FLAGS[name].value = value


def settings() -> exports.Settings:
    return exports.Settings(
        FLAGS.calibration,
        FLAGS.calibration_images,
        FLAGS.seed,
        FLAGS.web_npm,
        FLAGS.reuse,
    )


def thread_counts() -> list[int]:
    if FLAGS.threads:
        return sorted({int(t) for t in FLAGS.threads})
    return sorted({1, os.cpu_count() or 1})


# ---------------------------------------------------------------- the run


def measurements(models: dict, threads: list[int], runtimes, workers, web):
    """Every timed measurement: key -> Timer. Keys are tuples
    (size, variant, runtime, mode), mode `t{n}` (batch-1 latency, n
    threads) or `batch` (throughput, every core); peaks are
    ('peak', precision, 't{n}')."""
    timers = {}
    most = max(threads)
    n = FLAGS.peak_size
    for t in threads:
        for name, make in (
            ("fp32_numpy", peaks.numpy_peak(t, n)),
            ("fp32_onnxruntime", peaks.onnx_matmul_peak(t, n, integer=False)),
            ("int8_onnxruntime", peaks.onnx_matmul_peak(t, n, integer=True)),
            ("fp32_openvino", peaks.openvino_conv_peak(t, n, integer=False)),
            ("int8_openvino", peaks.openvino_conv_peak(t, n, integer=True)),
        ):
            timers[("peak", name, f"t{t}")] = timers_lib.CallTimer(
                make, FLAGS.peak_runs, per_call_macs=n**3
            )
    runs, batch = FLAGS.runs_per_round, FLAGS.batch_size
    for (size, variant), folder in models.items():
        for runtime in runtimes:
            if (
                variant in REFERENCE_VARIANTS
                and runtime not in FLAGS.reference_runtimes
            ):
                continue
            path = os.path.join(folder, FILES[runtime])
            modes = [(f"t{t}", t, 1) for t in threads]
            if batch > 1 and runtime != "web":
                modes.append(("batch", most, batch))
            for mode, t, b in modes:
                key = (size, variant, runtime, mode)
                if runtime == "keras":
                    timers[key] = timers_lib.KerasTimer(
                        workers[t], path, size, b, runs if b == 1 else FLAGS.batch_runs
                    )
                elif runtime == "web":
                    if t != 1:
                        continue  # WebAssembly without threads: one thread
                    url = f"{web.base}{size}/{variant}/web/index.html"
                    files = exports.photo_files(
                        size,
                        os.path.join(FLAGS.work_dir, "photos", str(size)),
                        8,
                        settings(),
                    )
                    timers[key] = timers_lib.WebTimer(web, url, files, FLAGS.web_images)
                else:
                    family = runtime.split("_")[0]
                    if family == "litert":
                        make = timers_lib.litert_call(path, t, b)
                    elif family == "onnx":
                        make = timers_lib.onnx_call(path, t, b, size)
                    else:
                        make = timers_lib.openvino_call(path, t, b, size)
                    timers[key] = timers_lib.CallTimer(
                        make, runs if b == 1 else FLAGS.batch_runs, images=b
                    )
    return timers


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def interleaved(timers: dict) -> tuple[dict, list]:
    """Every timer once per round, in a shuffled order; returns each key's
    per-round values and each round's load."""
    values = {key: [] for key in timers}
    rounds = []
    rng = random.Random(FLAGS.seed)
    keys = list(timers)
    for r in range(FLAGS.repeats):
        rng.shuffle(keys)
        start, load = time.time(), load_average()
        for key in keys:
            time.sleep(SETTLE_S)
            values[key].append(timers[key].measure())
        rounds.append(
            {
                "round": r,
                "seconds": round(time.time() - start, 1),
                "load_average_start": load,
                "load_average_end": load_average(),
            }
        )
        print(
            f"round {r + 1}/{FLAGS.repeats}: {rounds[-1]['seconds']} s, load "
            f"{load[0]} -> {rounds[-1]['load_average_end'][0]}",
            flush=True,
        )
    return values, rounds


# ---------------------------------------------------------------- tables


def versions() -> dict:
    from importlib.metadata import version

    found = {"python": platform.python_version()}
    for name in (
        "tensorflow",
        "keras",
        "keras-hub",
        "ai-edge-litert",
        "onnxruntime",
        "tf2onnx",
        "openvino",
        "nncf",
        "numpy",
        "playwright",
    ):
        with contextlib.suppress(Exception):
            found[name] = version(name)
    return found


def quiet_logs() -> None:
    """The converters' INFO lines and Keras' input-structure warnings off."""
    import logging
    import warnings

    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.WARNING)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="The structure of `inputs`")
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")


def main(argv):
    from keras_attn.utils.devices import cpu_features, cpu_model

    del argv
    if FLAGS.keras_worker:
        timers_lib.keras_worker_main(FLAGS.keras_worker)
        return
    apply_quick()
    quiet_logs()
    sizes = [int(s) for s in FLAGS.sizes]
    threads = thread_counts()
    unknown = [v for v in FLAGS.variants if v not in VARIANTS] + [
        r for r in FLAGS.runtimes if r not in RUNTIMES
    ]
    if unknown:
        raise ValueError(f"Unknown variants or runtimes: {', '.join(unknown)}.")
    runtimes = [r for r in RUNTIMES if r in FLAGS.runtimes]
    if "web" in runtimes and not FLAGS.web_npm:
        print(
            "note: no --web_npm: the web page is not timed (npm install --prefix "
            "DIR @mediapipe/tasks-vision@1.1.0, then --web_npm=DIR).",
            flush=True,
        )
        runtimes.remove("web")
    if "web" in runtimes:
        from keras_attn.export.web.browser import browser_missing

        why = browser_missing()
        if why:
            print(f"note: the web page is not timed: {why}.", flush=True)
            runtimes.remove("web")
    started = time.time()
    models, records, macs, held = {}, {}, {}, {}
    for size in sizes:
        for variant in FLAGS.variants:
            folder = os.path.join(FLAGS.work_dir, str(size), variant)
            records[(size, variant)] = exports.export_variant(
                variant, size, folder, runtimes, settings()
            )
            models[(size, variant)] = folder
            with open(os.path.join(folder, FILES["litert_int8"]), "rb") as f:
                content = f.read()
            count = graphs.count_macs(content)
            macs[(size, variant)] = count["macs"]
            held[(size, variant)] = {
                "macs_by_op": count["by_op"],
                "litert_int8": graphs.litert_graph(content),
                "onnx_int8": graphs.onnx_graph(
                    os.path.join(folder, FILES["onnx_int8"]), max(threads)
                ),
                "openvino_int8": graphs.openvino_graph(
                    os.path.join(folder, FILES["openvino_int8"]), max(threads)
                ),
                "profiles": {
                    "onnx_int8": graphs.onnx_profile(
                        os.path.join(folder, FILES["onnx_int8"]), size
                    ),
                    "openvino_int8": graphs.openvino_profile(
                        os.path.join(folder, FILES["openvino_int8"]), size
                    ),
                },
            }
    export_seconds = time.time() - started
    print(
        f"exported in {export_seconds:.0f} s; setting up the runtimes ...", flush=True
    )

    workers = {}
    web = None
    try:
        if "keras" in runtimes:
            workers = {
                t: timers_lib.KerasWorker(t, os.path.abspath(__file__)) for t in threads
            }
        if "web" in runtimes:
            web = timers_lib.WebSession(os.path.abspath(FLAGS.work_dir))
        timers = measurements(models, threads, runtimes, workers, web)
        for timer in timers.values():
            timer.setup()
        print(f"{len(timers)} measurements a round ...", flush=True)
        values, rounds = interleaved(timers)
        web_extra = {
            f"{k[0]} {k[1]}": {"load_seconds": t.load_seconds, "first_ms": t.first_ms}
            for k, t in timers.items()
            if isinstance(t, timers_lib.WebTimer)
        }
        browser_version = web.log.get("browser") if web else None
    finally:
        for worker in workers.values():
            worker.close()
        if web is not None:
            web.close()

    summary = summary_lib.summarise(values, macs, threads)
    summary["macs"] = macs
    loads = [r["load_average_start"][0] for r in rounds] + [
        r["load_average_end"][0] for r in rounds
    ]
    result = {
        "command": " ".join(
            ["python benchmarks/runtimes_bench.py"]
            + [
                "--web_npm=DIR" if arg.startswith("--web_npm=") else arg
                for arg in sys.argv[1:]
            ]
        ),
        "machine": f"{cpu_model()}, {os.cpu_count()} cores "
        f"({', '.join(cpu_features()) or 'CPU flags unknown'})",
        "versions": versions(),
        "browser": f"Chromium {browser_version}" if browser_version else None,
        "sizes": sizes,
        "variants": list(FLAGS.variants),
        "runtimes": runtimes,
        "threads": threads,
        "batch_size": FLAGS.batch_size,
        "repeats": FLAGS.repeats,
        "runs_per_round": FLAGS.runs_per_round,
        "batch_runs": FLAGS.batch_runs,
        "web_images": FLAGS.web_images,
        "peak_size": FLAGS.peak_size,
        "calibration": {
            "photos": os.path.basename(os.path.normpath(FLAGS.calibration)),
            "count": FLAGS.calibration_images,
            "resize": exports.RESIZE,
        },
        "load": {
            "min": min(loads),
            "max": max(loads),
            "median": float(np.median(loads)),
        },
        "rounds": rounds,
        "export_seconds": round(export_seconds),
        "total_seconds": round(time.time() - started),
        "peak_gmac_per_s": summary["peak_gmac_per_s"],
        "peak_measured": summary["peak_measured"],
        "peak_rounds": {
            f"{k[1]} {k[2]}": [round(v, 2) for v in vals]
            for k, vals in values.items()
            if k[0] == "peak"
        },
        "files": {
            f"{size} {variant}": {
                "folder": os.path.abspath(folder),
                "parameters": records[(size, variant)]["parameters"],
                "macs": macs[(size, variant)],
                "sizes_mb": records[(size, variant)]["sizes_mb"],
                "convert_seconds": records[(size, variant)]["convert_seconds"],
            }
            for (size, variant), folder in models.items()
        },
        "web": web_extra,
    }
    result["rows"] = summary["rows"]
    result["table"] = summary_lib.table_entries(
        summary, values, models, runtimes, threads
    )
    result["targets"] = summary_lib.targets(values, sizes, runtimes, threads)
    result["fastest_fp32"] = summary_lib.fastest_fp32(summary, sizes, threads)
    result["graphs"] = held
    text = table_lib.markdown(result)
    print(text)
    out = FLAGS.out
    table = FLAGS.table or os.path.splitext(out)[0] + ".md"
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    from keras_attn.studies.grid_report import portable_paths

    serialisable = json.loads(json.dumps(summary_lib.jsonable(result)))
    atomic_io.write_json(out, portable_paths(serialisable, REPO))
    atomic_io.write_text(table, text)
    print(f"wrote {out} and {table}")


if __name__ == "__main__":
    app.run(run_main(main))
