"""Real photos through the data path: peak memory and speed, beside Keras' loader.

    python benchmarks/data_bench.py                       # all three folders
    python benchmarks/data_bench.py --folders=fullres --notrain

Folders (built in a temporary directory from ../shared/data/stanford_cars_fullres,
300 real Stanford Cars photos, 20 classes, 78x44 to 2883x1543 px):

- `fullres`: the photos as published;
- `phone`: the same photos upscaled to 4032x3024 (12 MP, phone-camera size);
- `many`: an 8,000-image folder (400 per class) of the photos at random
  scales (0.5x to 1.5x: mixed sizes and aspect ratios).

For each folder, each measurement runs in its own process, and its peak
resident memory is the kernel's accounting of that process (`os.wait4`'s
`ru_maxrss`, which counts the pages of the memory-mapped cache it touched):

- `ours, first run`: `load_dataset("folder:...")` with an empty cache: every
  image decoded and stored at `--image_size`;
- `ours, cached`: the same call again: how many images it decoded (target 0);
- `keras image_dataset_from_directory`: one pass over the same files with
  `image_size=(S, S), crop_to_aspect_ratio=True` (TensorFlow decoding);
- `train.py, 1 epoch`: the whole training command on the folder (cache
  warm), and the input shape of the model it wrote (target: the stored size);
  one row per `--backbones` mode (`frozen` also computes and caches the
  backbone's maps).

Targets (issue 9): peak RSS <= 3 GB for each train.py run; first-run loading
at least half as fast as image_dataset_from_directory; no decoding on the
second run; model input = stored size. Prints a table and writes
`--out` (JSON).
"""

import json
import os
import shutil
import sys
import tempfile
import textwrap

from absl import app, flags
from measure import machine, measure

from keras_attn import runs
from keras_attn.studies import grid_report
from keras_attn.training.config import BACKBONE_MODES
from keras_attn.utils import atomic_io

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(REPO, "..", "shared", "data", "stanford_cars_fullres")
FOLDERS = ("fullres", "phone", "many")
RSS_TARGET_GB = 3.0

flags.DEFINE_list("folders", list(FOLDERS), "Which folders to measure.")
flags.DEFINE_integer("image_size", 128, "Stored size and training size.")
flags.DEFINE_integer("many", 8000, "Images in the `many` folder.")
flags.DEFINE_bool("train", True, "Also time one train.py epoch on each folder.")
flags.DEFINE_list(
    "backbones",
    ["finetune", "frozen"],
    "A train.py row for each --backbone (frozen also computes and caches the "
    "backbone's maps).",
)
flags.DEFINE_string(
    "weights",
    os.path.join(REPO, "..", "shared", "weights", "resnet18_tin100"),
    "train.py --weights.",
)
flags.DEFINE_string("work_dir", None, "Where to build the folders (default: temp).")
flags.DEFINE_string(
    "out", os.path.join(REPO, "benchmarks", "results", "data_bench.json"), "JSON."
)


def build_folders(work: str, names: list[str], many: int) -> dict[str, str]:
    """The benchmark folders under `work` (built once, reused when present)."""
    import numpy as np
    from PIL import Image

    paths = {"fullres": os.path.abspath(SOURCE)}
    photos = [
        (split, name, os.path.join(SOURCE, split, name, f))
        for split in ("train", "val")
        for name in sorted(os.listdir(os.path.join(SOURCE, split)))
        for f in sorted(os.listdir(os.path.join(SOURCE, split, name)))
    ]
    if "phone" in names:
        paths["phone"] = os.path.join(work, "phone")
        if not os.path.isdir(paths["phone"]):
            for split, name, path in photos:
                out = os.path.join(paths["phone"] + ".tmp", split, name)
                os.makedirs(out, exist_ok=True)
                with Image.open(path) as img:
                    big = img.convert("RGB").resize((4032, 3024), Image.BILINEAR)
                big.save(os.path.join(out, os.path.basename(path)), quality=90)
            os.replace(paths["phone"] + ".tmp", paths["phone"])
    if "many" in names:
        paths["many"] = os.path.join(work, f"many{many}")
        if not os.path.isdir(paths["many"]):
            rng = np.random.default_rng(0)
            classes = sorted({name for _, name, _ in photos})
            per_class = many // len(classes)
            for name in classes:
                mine = [p for s, n, p in photos if n == name]
                for i in range(per_class):
                    split = "val" if i % 10 == 0 else "train"
                    out = os.path.join(paths["many"] + ".tmp", split, name)
                    os.makedirs(out, exist_ok=True)
                    with Image.open(mine[i % len(mine)]) as img:
                        w, h = img.size
                        scale = rng.uniform(0.5, 1.5)
                        small = img.convert("RGB").resize(
                            (max(8, int(w * scale)), max(8, int(h * scale)))
                        )
                    small.save(os.path.join(out, f"{i:04d}.jpg"), quality=85)
            os.replace(paths["many"] + ".tmp", paths["many"])
    return {k: v for k, v in paths.items() if k in names}


OURS = textwrap.dedent(
    """
    import json, sys
    from keras_attn.data import load_dataset
    from keras_attn import images
    decoded = []
    real = images.load_image
    images.load_image = lambda *a, **k: decoded.append(1) or real(*a, **k)
    data = load_dataset("folder:" + sys.argv[1], image_size=int(sys.argv[2]))
    count = len(data.train) + len(data.val)
    print("RESULT", json.dumps({"images": count, "decoded": len(decoded),
                                "stored": list(data.image_shape)}))
    """
)
KERAS = textwrap.dedent(
    """
    import json, os, sys
    import keras
    size = int(sys.argv[2])
    count = 0
    for split in ("train", "val"):
        ds = keras.utils.image_dataset_from_directory(
            os.path.join(sys.argv[1], split), image_size=(size, size),
            crop_to_aspect_ratio=True, batch_size=32, shuffle=False, verbose=False)
        for images, _ in ds:
            count += int(images.shape[0])
    print("RESULT", json.dumps({"images": count}))
    """
)


def _result(output: str) -> dict:
    (line,) = [x for x in output.splitlines() if x.startswith("RESULT ")]
    return json.loads(line[len("RESULT ") :])


def bench_folder(name: str, path: str, env: dict, work: str) -> dict:
    size = str(flags.FLAGS.image_size)
    row = {"folder": name, "path": grid_report.portable(path)}
    python = sys.executable
    first = measure([python, "-c", OURS, path, size], env)
    row["ours_first"] = {**_result(first.pop("output")), **first}
    cached = measure([python, "-c", OURS, path, size], env)
    row["ours_cached"] = {**_result(cached.pop("output")), **cached}
    keras = measure([python, "-c", KERAS, path, size], env)
    row["keras"] = {**_result(keras.pop("output")), **keras}
    for key in ("ours_first", "ours_cached", "keras"):
        entry = row[key]
        entry["images_per_second"] = round(entry["images"] / entry["seconds"], 1)
    row["first_vs_keras_speed"] = round(
        row["ours_first"]["images_per_second"] / row["keras"]["images_per_second"], 2
    )
    for backbone in flags.FLAGS.backbones if flags.FLAGS.train else []:
        run_dir = os.path.join(work, f"run-{name}-{backbone}")
        shutil.rmtree(run_dir, ignore_errors=True)
        args = [
            python,
            "train.py",
            f"--dataset=folder:{path}",
            "--epochs=1",
            f"--backbone={backbone}",
            f"--image_size={size}",
            f"--run_dir={run_dir}",
            f"--weights={flags.FLAGS.weights}",
        ]
        train = measure(args, dict(env, CI="1"))
        train.pop("output")
        metrics = runs.read_metrics(run_dir)
        row.setdefault("train", {})[backbone] = {
            **train,
            "images_per_second": metrics["train_images_per_second"],
            "stored_shape": metrics["stored_shape"],
            "model_input": _model_input(run_dir, env),
        }
    return row


def _model_input(run_dir: str, env: dict) -> list[int]:
    code = (
        "import sys, keras_attn; m = keras_attn.load_model(sys.argv[1]); "
        "print('RESULT', list(m.input_shape[1:]))"
    )
    output = measure([sys.executable, "-c", code, runs.path(run_dir, runs.MODEL)], env)[
        "output"
    ]
    (line,) = [x for x in output.splitlines() if x.startswith("RESULT ")]
    return json.loads(line[len("RESULT ") :])


def table(rows: list[dict]) -> str:
    head = (
        "| folder | images | loader | seconds | images/s | peak RSS (GB) | note |\n"
        "| --- | --- | --- | --- | --- | --- | --- |"
    )
    lines = [head]
    for r in rows:
        n = r["ours_first"]["images"]
        lines += [
            f"| {r['folder']} | {n} | ours, first run | {r['ours_first']['seconds']}"
            f" | {r['ours_first']['images_per_second']}"
            f" | {r['ours_first']['peak_rss_gb']} | decoded "
            f"{r['ours_first']['decoded']}, stored {r['ours_first']['stored']}; "
            f"{r['first_vs_keras_speed']}x Keras' speed |",
            f"| {r['folder']} | {n} | ours, cached | {r['ours_cached']['seconds']}"
            f" | {r['ours_cached']['images_per_second']}"
            f" | {r['ours_cached']['peak_rss_gb']}"
            f" | decoded {r['ours_cached']['decoded']} |",
            f"| {r['folder']} | {r['keras']['images']} | Keras "
            f"image_dataset_from_directory | {r['keras']['seconds']}"
            f" | {r['keras']['images_per_second']} | {r['keras']['peak_rss_gb']} "
            "| one pass, crop_to_aspect_ratio |",
        ]
        for backbone, t in r.get("train", {}).items():
            ok = "ok" if t["peak_rss_gb"] <= RSS_TARGET_GB else "OVER"
            lines.append(
                f"| {r['folder']} | {n} | train.py --backbone={backbone}, 1 epoch"
                f" | {t['seconds']} | {t['images_per_second']} (training)"
                f" | {t['peak_rss_gb']} ({ok}) | model input {t['model_input']} |"
            )
    return "\n".join(lines)


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    unknown = sorted(set(FLAGS.folders) - set(FOLDERS))
    if unknown:
        raise ValueError(f"--folders: unknown {unknown}; choose from {FOLDERS}.")
    unknown = sorted(set(FLAGS.backbones) - set(BACKBONE_MODES))
    if unknown:
        raise ValueError(
            f"--backbones: unknown {unknown}; choose from {BACKBONE_MODES}."
        )
    if not os.path.isdir(SOURCE):
        raise FileNotFoundError(f"{SOURCE} is absent (../shared/data).")
    work = FLAGS.work_dir or tempfile.mkdtemp(prefix="data_bench_")
    os.makedirs(work, exist_ok=True)
    print(f"Building the folders in {work} ...", flush=True)
    folders = build_folders(work, FLAGS.folders, FLAGS.many)
    env = dict(
        os.environ,
        TF_CPP_MIN_LOG_LEVEL="3",
        KERAS_ATTN_CACHE=os.path.join(work, "cache"),
    )
    shutil.rmtree(env["KERAS_ATTN_CACHE"], ignore_errors=True)
    rows = []
    for name, path in folders.items():
        print(f"Measuring {name} ...", flush=True)
        rows.append(bench_folder(name, path, env, work))
    report = {
        "image_size": FLAGS.image_size,
        "machine": machine(),
        "rows": rows,
        "targets": {
            "train_peak_rss_gb": RSS_TARGET_GB,
            "first_run_vs_keras_speed": 0.5,
            "cached_run_decodes": 0,
        },
    }
    print(table(rows))
    atomic_io.write_json(FLAGS.out, report)
    print(f"Wrote {FLAGS.out}")


if __name__ == "__main__":
    from keras_attn.cli import run_main

    app.run(run_main(main))
