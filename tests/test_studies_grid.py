"""benchmarks/reproduce.py and keras_attn.studies (grid, variants, stats):
variants, statistics, the frozen-feature trainer, tables, and one-line CLI
errors."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, WEIGHTS, require, run_scripts

from keras_attn.layers import BRANCHES
from keras_attn.studies import grid, grid_report, stats, variants


def test_parse_variant_covers_peers_and_ablations():
    assert variants.parse_variant("none") == ("none", {})
    assert variants.parse_variant("cbam") == ("cbam", {})
    attention, kwargs = variants.parse_variant("unified-no_memory")
    assert attention == "unified"
    assert kwargs["branches"] == ("hierarchical", "contextual", "neighbourhood")
    assert variants.parse_variant("unified-only_contextual")[1] == {
        "branches": ("contextual",)
    }
    assert variants.parse_variant("unified+res")[1] == {"residual": True}
    assert len(variants.ALL_VARIANTS) == 5 + 2 * len(BRANCHES)


@pytest.mark.parametrize(
    "name", ["resnet", "unified-no_colour", "unified-only_", "se+res", ""]
)
def test_parse_variant_rejects_unknown(name):
    with pytest.raises(ValueError, match="variant"):
        variants.parse_variant(name)


def test_parse_variants_all_and_list():
    assert variants.parse_variants("all") == variants.ALL_VARIANTS
    assert variants.parse_variants("none, unified") == ("none", "unified")
    with pytest.raises(ValueError, match="empty"):
        variants.parse_variants(" , ")


def test_mean_std_is_sample_std():
    mean, std = stats.mean_std([0.5, 0.7, 0.9])
    assert mean == pytest.approx(0.7)
    assert std == pytest.approx(0.2)  # ddof=1
    assert stats.mean_std([0.4]) == (0.4, 0.0)
    assert stats.mean_std([0.4, None]) == (0.4, 0.0)


def test_choose_learning_rate_by_mean_val_first_on_ties():
    grid = {
        1e-3: [{"val_accuracy": 0.5}, {"val_accuracy": 0.7}],
        3e-3: [{"val_accuracy": 0.6}, {"val_accuracy": 0.6}],
        1e-2: [{"val_accuracy": 0.2}, {"val_accuracy": 0.4}],
    }
    chosen, summary = stats.choose_learning_rate(grid)
    assert chosen == 1e-3  # tied with 3e-3 on the mean: the first wins
    assert list(summary) == ["0.001", "0.003", "0.01"]
    assert summary["0.01"] == pytest.approx((0.3, 0.1414), abs=1e-4)


def test_paired_differences_pair_by_seed():
    variants = {
        "none": {
            "runs": [{"seed": 0, "val_accuracy": 0.5}, {"seed": 1, "val_accuracy": 0.6}]
        },
        "unified": {
            "runs": [{"seed": 1, "val_accuracy": 0.7}, {"seed": 0, "val_accuracy": 0.4}]
        },
    }
    diff = stats.paired_differences(variants)["unified"]["val_accuracy"]
    assert diff[0] == pytest.approx(0.0)  # (-0.1 + 0.1) / 2
    assert diff[1] == pytest.approx(np.std([-0.1, 0.1], ddof=1))


def test_markdown_table_has_every_variant_and_difference():
    entry = {
        "chosen_learning_rate": 1e-3,
        "val_accuracy": (0.5, 0.01),
        "test_accuracy": (0.4, 0.02),
        "last_test_accuracy": (0.39, 0.03),
        "test_loss": (2.0, 0.1),
        "wall_seconds": (3.0, 0.1),
        "parameters": 11_200_000,
        "flops": 1.06e9,
        "runs": [{"seed": 0, "val_accuracy": 0.5}],
    }
    results = {
        "config": {
            "protocol": "frozen",
            "image_size": 128,
            "epochs": 30,
            "seeds": [0],
            "learning_rates": [1e-3],
        },
        "dataset": {"name": "toy", "classes": 3, "train": 30, "val": 15, "test": 0},
        "backend": "jax",
        "variants": {"none": entry, "unified": dict(entry, val_accuracy=(0.6, 0.02))},
        "differences": {"unified": {"val_accuracy": (0.1, 0.01)}},
    }
    text = grid_report.markdown(results)
    assert "| `none` | 0.001 | 50.0 ± 1.0 | 40.0 ± 2.0 | 39.0 ± 3.0 |" in text
    assert "| `unified` | 0.001 | 60.0 ± 2.0 |" in text
    assert "| `unified` | 10.0 ± 1.0 | - | - |" in text
    assert "0.530" in text  # GMACs = FLOPs / 2


@pytest.mark.large
def test_cli_bad_input_is_one_line(tmp_path):
    script = os.path.join("benchmarks", "reproduce.py")
    result, fast, unexpected = run_scripts(
        [
            [script, "--dataset=shapes", "--weights=none", f"--out={tmp_path}"]
            + ["--variants=none,unified-no_colour"],
            [script, "--dataset=shapes", f"--out={tmp_path}", "--learning_rates=fast"],
            [script, "folder:/data", f"--out={tmp_path}"],
        ],
        timeout=120,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: Unknown variant 'unified-no_colour'")
    assert "Traceback" not in result.stderr
    assert fast.returncode == 2
    assert "--weights is required" in fast.stderr or "learning_rates" in fast.stderr
    assert unexpected.returncode == 2
    assert unexpected.stderr.strip().splitlines()[-1] == (
        "error: Unexpected arguments: folder:/data; every setting is a flag, "
        "e.g. --dataset=folder:PATH."
    )


def test_results_json_is_written_by_write_results(tmp_path):
    results = {
        "config": {
            "protocol": "frozen",
            "image_size": 128,
            "epochs": 1,
            "seeds": [0],
            "learning_rates": [1e-3],
        },
        "dataset": {"name": "toy", "classes": 3, "train": 3, "val": 3, "test": 0},
        "backend": "jax",
        "variants": {},
    }
    grid_report.write_results(results, str(tmp_path))
    with open(tmp_path / "results.json") as f:
        assert json.load(f)["dataset"]["name"] == "toy"
    assert (tmp_path / "results.md").read_text().startswith("### toy")


@pytest.mark.large  # 4 trainings each, the frozen one 19 s
@pytest.mark.parametrize("protocol", ["frozen", "finetune"])
def test_each_protocol_pairs_train_py_runs_and_reuses_them(tmp_path, protocol):
    """One train.py run per variant and seed (`--backbone=PROTOCOL`), a table
    with the best-val and last-epoch numbers, finished runs not retrained."""
    config = grid.ReproduceConfig(
        dataset="shapes",
        weights=require(WEIGHTS) if protocol == "frozen" else "none",
        out=str(tmp_path),
        variants=("none", "unified"),
        seeds=(0,),
        learning_rates=(1e-3,),
        protocol=protocol,
        epochs=1,
        shots=2,
        val_shots=2,
        batch_size=10,
    )
    results = grid.run(config)
    entries = results["variants"]
    assert list(entries) == ["none", "unified"]
    for entry in entries.values():
        assert len(entry["runs"]) == 1
        assert 0.0 <= entry["val_accuracy"][0] <= 1.0
        for key in ("last_val_accuracy", "test_accuracy", "last_test_accuracy"):
            assert key in entry, key
        assert entry["wall_seconds"][0] > 0
        assert len(entry["history_seed0"]["val_accuracy"]) == 1
    assert entries["unified"]["parameters"] > entries["none"]["parameters"]
    diff = results["differences"]["unified"]["val_accuracy"][0]
    expected = (
        entries["unified"]["runs"][0]["val_accuracy"]
        - entries["none"]["runs"][0]["val_accuracy"]
    )
    assert diff == pytest.approx(expected)
    text = (tmp_path / "results.md").read_text()
    assert f"({protocol} protocol)" in text and "Last epoch's val" in text
    assert "Δ last-epoch val top-1" in text and "Δ test top-1 (last epoch)" in text
    metrics = tmp_path / "runs" / "unified-lr0.001-seed0" / "metrics.json"
    stamp = metrics.stat().st_mtime_ns
    again = grid.run(config)
    assert metrics.stat().st_mtime_ns == stamp  # reused, not retrained
    assert again["differences"] == results["differences"]


def test_strip_progress_keeps_each_epochs_final_line():
    spec = importlib.util.spec_from_file_location(
        "strip_progress",
        os.path.join(REPO, "benchmarks", "tools", "strip_progress.py"),
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    bar = "\x1b[1m{}/2\x1b[0m \x1b[32m━━\x1b[0m 1s 10ms/step - loss: {}"
    log = (
        "Epoch 1/1\n"
        + "\r"
        + bar.format(1, "4.0")
        + "\b\b\r"
        + bar.format(2, "3.0")
        + " - val_accuracy: 0.5\n"
        + bar.format(1, "2.0")
        + "\n{\n"
    )
    assert module.strip(log) == (
        "Epoch 1/1\n2/2 ━━ 1s 10ms/step - loss: 3.0 - val_accuracy: 0.5\n{\n"
    )


@pytest.mark.large
def test_strip_progress_bad_input_is_one_line(tmp_path):
    script = os.path.join(REPO, "benchmarks", "tools", "strip_progress.py")
    for args, message in (
        ([str(tmp_path / "missing.log")], "missing.log"),
        ([], "No log given"),
    ):
        result = subprocess.run(
            [sys.executable, script, *args], capture_output=True, text=True, cwd=REPO
        )
        assert result.returncode == 2
        assert result.stderr.strip().splitlines()[-1].startswith("error: ")
        assert message in result.stderr and "Traceback" not in result.stderr
