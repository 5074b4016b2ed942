"""Comparing attention variants: the grid of runs, seeds, paired differences.

`benchmarks/reproduce.py` calls `run(config)`. Every run is an ordinary
`trainer.train` run (one optimizer, schedule, evaluation and checkpoint
policy: the numbers are those `train.py` gives), with the backbone mode as
the protocol:

- `frozen`: the pretrained backbone frozen, attention + head trained on
  cached features (minutes on a CPU);
- `finetune`: the paper's protocol, the whole network fine-tuned;
- `lp-ft`: the frozen phase, then fine-tuning from it.

This module keeps only what comparing variants needs: the grid over
variants, learning rates and seeds (run folders under `<out>/runs/`,
reused when finished), the choice of the learning rate per variant by mean
val top-1 over seeds, test numbers for the chosen rate (the best-val
checkpoint and the last epoch), paired differences to `none`, tables,
figures and the cost of each variant. Results go to `<out>/results.json`
and `<out>/results.md` (rewritten after every variant).
"""

import dataclasses
import json
import os
import time

import keras

from keras_attn import runs as runs_lib
from keras_attn.studies.cost import model_cost
from keras_attn.studies.grid_report import markdown_row, write_results
from keras_attn.studies.stats import choose_learning_rate, mean_std, paired_differences
from keras_attn.studies.variants import (
    ALL_VARIANTS,
    parse_variant,
    split_variant,
)
from keras_attn.training.config import BACKBONE_MODES
from keras_attn.utils import atomic_io

PROTOCOLS = BACKBONE_MODES


# The paper's Table I (ResNet-18, CIFAR-100, 10 train / 5 val per class).
PAPER_CLAIM = {"none": 78.5, "unified": 83.2}


@dataclasses.dataclass
class ReproduceConfig:
    """Every setting of a benchmark run (the flags of benchmarks/reproduce.py)."""

    dataset: str
    weights: str
    out: str
    variants: tuple[str, ...] = ALL_VARIANTS
    seeds: tuple[int, ...] = (0, 1, 2)
    learning_rates: tuple[float, ...] = (1e-3,)
    protocol: str = "frozen"
    epochs: int | None = None  # None: the dataset's recipe
    probe_epochs: int | None = None
    warmup_epochs: int | None = None  # None: the recipe's
    image_size: int = 128
    resize: str | None = None  # None: the recipe's
    shots: int | None = 10
    val_shots: int | None = 5
    test_dir: str | None = None
    batch_size: int = 32

    def validate(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(
                f"--protocol={self.protocol} is not one of {', '.join(PROTOCOLS)}."
            )
        for name in self.variants:
            parse_variant(name)
        if not self.variants or not self.seeds or not self.learning_rates:
            raise ValueError("--variants, --seeds and --learning_rates must be set.")
        if any(lr <= 0 for lr in self.learning_rates):
            raise ValueError(
                f"--learning_rates must be > 0. Received: {self.learning_rates}"
            )
        if self.warmup_epochs is not None and self.warmup_epochs < 0:
            raise ValueError(
                f"--warmup_epochs must be >= 0. Received: {self.warmup_epochs}"
            )
        for key in ("epochs", "probe_epochs", "batch_size"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise ValueError(
                    f"--{key} must be >= 1. Received: {key}={getattr(self, key)}"
                )


def run(config: ReproduceConfig) -> dict:
    """Runs the grid through `trainer.train` and writes `results.json` and
    `results.md` (rewritten after every variant); returns the results.

    One training run per variant, learning rate and seed, in
    `<out>/runs/<variant>-lr<lr>-seed<seed>` (a finished run is reused, a
    killed one resumes). The learning rate is chosen per variant by mean
    val top-1 over seeds; test numbers are reported for the chosen rate.
    """
    from keras_attn.training import trainer

    config.validate()
    os.makedirs(config.out, exist_ok=True)
    results = {"config": dataclasses.asdict(config), "variants": {}}
    for variant in config.variants:
        attention, kwargs = parse_variant(variant)
        if kwargs.get("residual"):
            raise ValueError(f"{variant}: train.py has no flag for residual attention.")
        grid = {}
        for lr in config.learning_rates:
            grid[lr] = []
            for seed in config.seeds:
                run_dir = os.path.join(
                    config.out, "runs", f"{variant}-lr{lr:g}-seed{seed}"
                )
                if not os.path.exists(runs_lib.path(run_dir, runs_lib.METRICS)):
                    start = time.time()
                    trainer.train(_train_config(config, variant, lr, seed, run_dir))
                    atomic_io.write_json(
                        os.path.join(run_dir, "wall.json"),
                        {"seconds": round(time.time() - start, 1)},
                    )
                grid[lr].append(_run_summary(run_dir, seed))
        results["variants"][variant] = _variant_entry(config, variant, grid)
        results["differences"] = paired_differences(results["variants"])
        results["dataset"] = {
            "name": config.dataset,
            "classes": results["variants"][variant]["classes"],
            "train": f"{config.shots or 'all'}/class",
            "val": f"{config.val_shots or 'all'}/class",
            "test": "whole split",
        }
        results["backend"] = keras.backend.backend()
        write_results(results, config.out)
        print(markdown_row(variant, results["variants"][variant]), flush=True)
    return results


def _train_config(config: ReproduceConfig, variant: str, lr: float, seed: int, run_dir):
    from keras_attn.training import trainer

    attention, kwargs = parse_variant(variant)
    return trainer.TrainConfig(
        dataset=config.dataset,
        attention=attention,
        branches=kwargs.get("branches"),
        attention_stages=split_variant(variant)[1],
        channel_gate=kwargs.get("channel_gate", False),
        weights=config.weights,
        backbone=config.protocol,
        image_size=config.image_size,
        resize=config.resize,
        epochs=config.epochs,
        probe_epochs=config.probe_epochs,
        warmup_epochs=config.warmup_epochs,
        batch_size=config.batch_size,
        learning_rate=lr,
        shots=config.shots,
        val_shots=config.val_shots,
        seed=seed,
        test_dir=config.test_dir,
        run_dir=run_dir,
        report_last_epoch=True,
    )


def _run_summary(run_dir: str, seed: int) -> dict:
    metrics = runs_lib.read_metrics(run_dir)
    wall = os.path.join(run_dir, "wall.json")
    seconds = None
    if os.path.exists(wall):
        with open(wall) as f:
            seconds = json.load(f)["seconds"]
    return {**metrics, "seed": seed, "run_dir": run_dir, "wall_seconds": seconds}


def _variant_entry(config: ReproduceConfig, variant: str, grid: dict) -> dict:
    chosen, grid_summary = choose_learning_rate(grid)
    chosen_runs = grid[chosen]
    first = chosen_runs[0]
    history = runs_lib.read_history(first["run_dir"])
    entry = {
        "chosen_learning_rate": chosen,
        "grid": grid_summary,
        "runs": chosen_runs,
        "parameters": first["parameters"],
        "classes": len(runs_lib.read_labels(first["run_dir"])),
        "flops": None,
        "history_seed0": {k: v.tolist() for k, v in history.items()},
    }
    # val_accuracy / test_accuracy: the best-val checkpoint train.py keeps
    # (selected on val, so its val is optimistic); last_*: the last epoch's.
    for key in (
        "val_accuracy",
        "last_val_accuracy",
        "val_loss",
        "test_accuracy",
        "last_test_accuracy",
        "test_loss",
        "wall_seconds",
        "train_seconds",
    ):
        values = [r.get(key) for r in chosen_runs]
        if any(v is not None for v in values):
            entry[key] = mean_std(values)
    if keras.backend.backend() == "jax":  # FLOPs from XLA's cost analysis
        from keras_attn.models.backbone import load_backbone

        shape = tuple(first["stored_shape"])
        cost = model_cost(
            load_backbone("none"), shape, config.image_size, entry["classes"], variant
        )
        entry["flops"] = cost["flops"]
    return entry
