"""Does the attention map localise? The pointing game on `shapes`, per configuration.

    python benchmarks/pointing.py --out=benchmarks/results/pointing_224

Trains every configuration (attention x stages, as `benchmarks/reproduce.py`
names them: `unified@3` is stage 3, `@34` stages 3 and 4) on `shapes` with
the frozen backbone at --image_size (224: 7x7 stage-4 and 14x14 stage-3
maps), seeds --seeds, then scores each run on the 500 held-out images it
keeps (keras_attn/studies/localisation.py): how often the map's maximum falls on
the object's box, against a constant centre map and the backbone's
channel-mean map at the same resolution, and how much the maps vary from
image to image. Writes OUT/pointing.json, OUT/pointing.md and
OUT/variability.png (each configuration's per-image correlation with its
mean map: near 1 is a position prior), and prints the table.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags  # noqa: E402

from keras_attn.cli import refuse_arguments, run_main  # noqa: E402
from keras_attn.studies import grid, localisation, stats, variants  # noqa: E402
from keras_attn.utils import atomic_io  # noqa: E402

flags.DEFINE_string("out", None, "Output folder.")
flags.DEFINE_string(
    "variants",
    "none,none@34,unified,unified@3,unified@34,cbam,cbam@3,cbam@34,se,se@3,se@34,"
    "unified+cg,unified+cg@3,unified+cg@34",
    "Configurations, as benchmarks/reproduce.py names them.",
)
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds.")
flags.DEFINE_integer("image_size", 224, "Side the model works at.")
flags.DEFINE_string("weights", "auto", "Backbone weights (auto: see README).")
FLAGS = flags.FLAGS

KEYS = (
    "pointing_max",
    "pointing_centre",
    "pointing_channel_mean",
    "pointing_chance",
    "pointing_min",
    "inside_box_mean",
    "map_mean",
)


def summarise(scores: list[dict]) -> dict:
    entry = {k: stats.mean_std([s[k] for s in scores]) for k in KEYS}
    entry["correlation_median"] = stats.mean_std(
        [s["variability"]["correlation_median"] for s in scores]
    )
    entry["beats_centre"] = stats.mean_std(
        [s["pointing_max"] - s["pointing_centre"] for s in scores]
    )
    entry["beats_channel_mean"] = stats.mean_std(
        [s["pointing_max"] - s["pointing_channel_mean"] for s in scores]
    )
    entry["map_size"] = scores[0]["map_size"]
    entry["map"] = scores[0]["map"]
    return entry


def markdown(results: dict) -> str:
    def pm(value, scale=100):
        return f"{scale * value[0]:.1f} ± {scale * value[1]:.1f}"

    lines = [
        f"Pointing game on `shapes` at {results['image_size']} px, frozen "
        f"backbone, seeds {', '.join(map(str, results['seeds']))}, 500 held-out "
        "images per seed: % of images whose map maximum falls on the object's "
        "box; the constant centre map and the backbone's channel mean at the "
        "same resolution; their differences paired by seed; the median "
        "correlation of a map with the mean map (1: the same map for every "
        "image).",
        "",
        "| configuration | map | max in box % | centre % | channel mean % | max - "
        "centre | max - channel mean | chance % | corr. with mean map |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, e in results["configurations"].items():
        lines.append(
            f"| `{name}` | {e['map_size']}x{e['map_size']}"
            f"{'' if e['map'] == 'spatial attention' else ' (channel mean)'} | "
            f"{pm(e['pointing_max'])} | {pm(e['pointing_centre'])} | "
            f"{pm(e['pointing_channel_mean'])} | {pm(e['beats_centre'])} | "
            f"{pm(e['beats_channel_mean'])} | {pm(e['pointing_chance'])} | "
            f"{pm(e['correlation_median'], 1)} |"
        )
    return "\n".join(lines) + "\n"


def plot_variability(results: dict, scores: dict, path: str) -> None:
    from keras_attn.reports import figures

    plt = figures.pyplot()
    names = list(scores)
    fig, axes = plt.subplots(
        2, len(names), figsize=(1.6 * len(names), 3.6), squeeze=False
    )
    for i, name in enumerate(names):
        first = scores[name][0]
        axes[0, i].imshow(
            first["mean_map"], cmap="viridis", vmin=0, vmax=1, interpolation="nearest"
        )
        axes[0, i].set_title(name, fontsize=6)
        axes[0, i].axis("off")
        correlations = [
            c for s in scores[name] for c in s["variability"]["correlation"]
        ]
        axes[1, i].hist(correlations, bins=20, range=(-1, 1), color="tab:blue")
        axes[1, i].tick_params(labelsize=5)
    axes[0, 0].set_ylabel("mean map (seed 0)", fontsize=6)
    axes[1, 0].set_ylabel("images", fontsize=6)
    fig.suptitle(
        "Top: each configuration's mean map (colour 0..1, cells as cells). Bottom: "
        "per-image correlation with the mean map (1 = a fixed position prior).",
        fontsize=7,
    )
    fig.tight_layout()
    figures.save_figure(fig, path)


def main(argv):
    refuse_arguments(argv, "every setting is a flag")
    if not FLAGS.out:
        raise ValueError("--out is required.")
    seeds = tuple(int(s) for s in FLAGS.seeds)
    config = grid.ReproduceConfig(
        dataset="shapes",
        weights=FLAGS.weights,
        out=FLAGS.out,
        variants=variants.parse_variants(FLAGS.variants),
        seeds=seeds,
        protocol="frozen",
        image_size=FLAGS.image_size,
        shots=None,
        val_shots=None,
    )
    trained = grid.run(config)
    results = {"image_size": FLAGS.image_size, "seeds": list(seeds)}
    results["configurations"], scores = {}, {}
    for name, entry in trained["variants"].items():
        scores[name] = [localisation.score_run(r["run_dir"]) for r in entry["runs"]]
        results["configurations"][name] = summarise(scores[name])
        results["configurations"][name]["test_accuracy"] = entry["test_accuracy"]
    results["per_run"] = {
        name: [{k: v for k, v in s.items() if k != "variability"} for s in runs]
        for name, runs in scores.items()
    }
    atomic_io.write_json(os.path.join(FLAGS.out, "pointing.json"), results)
    text = markdown(results)
    atomic_io.write_text(os.path.join(FLAGS.out, "pointing.md"), text)
    plot_variability(results, scores, os.path.join(FLAGS.out, "variability.png"))
    print(text)


if __name__ == "__main__":
    app.run(run_main(main))
