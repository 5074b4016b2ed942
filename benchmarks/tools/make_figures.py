"""README figures from the benchmark results: curves and attention grids.

    python benchmarks/tools/make_figures.py

Reads benchmarks/results/<dataset>/results.json and attention_<variant>.png
(written by benchmarks/reproduce.py) and writes assets/*.png (palette PNGs,
each under 300 KB).
"""

import json
import os

from PIL import Image

from keras_attn.studies import grid_report

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
ASSETS = os.path.join(ROOT, "assets")
DATASETS = (
    "tin100_fewshot",
    "stanford_cars_fewshot",
    "cifar10_fewshot",
    "shapes",
    "val_splits/tin100_fewshot_finetune",
    "val_splits/stanford_cars_fewshot_finetune",
)
GRIDS = {"shapes": ("unified", "cbam"), "tin100_fewshot": ("unified",)}


def _small_png(src: str, dst: str, width: int = 1200) -> None:
    image = Image.open(src).convert("RGB")
    if image.width > width:
        image = image.resize((width, round(image.height * width / image.width)))
    image.quantize(colors=128).save(dst, optimize=True)


def main() -> None:
    os.makedirs(ASSETS, exist_ok=True)
    for name in DATASETS:
        path = os.path.join(RESULTS, name, "results.json")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            results = json.load(f)
        out = os.path.join(ASSETS, f"curves_{os.path.basename(name)}.png")
        grid_report.plot_results_curves(results, out)
        _small_png(out, out)
        for variant in GRIDS.get(name, ()):
            grid = os.path.join(RESULTS, name, f"attention_{variant}.png")
            if os.path.exists(grid):
                dst = os.path.join(ASSETS, f"attention_{name}_{variant}.png")
                _small_png(grid, dst)
    for f in sorted(os.listdir(ASSETS)):
        print(f"{f}: {os.path.getsize(os.path.join(ASSETS, f)) // 1024} KB")


if __name__ == "__main__":
    main()
