"""The benchmarks' shared parts: measure.py (the whole-process wall time and
peak memory every table is built from) and the labels of their tables."""

import os
import sys

import pytest
from conftest import REPO

sys.path.insert(0, os.path.join(REPO, "benchmarks"))
import measure  # noqa: E402
import throughput  # noqa: E402

# Holds ~300 MB for a moment, then writes a run folder's metrics.json.
_FAKE_RUN = """
import json, os, sys
block = bytearray(300 * 2**20)
os.makedirs(sys.argv[1], exist_ok=True)
with open(os.path.join(sys.argv[1], "metrics.json"), "w") as f:
    json.dump({"test_accuracy": 0.25, "epochs": 3, "parameters": 7}, f)
"""


def test_measure_train_reads_the_child_peak_and_its_metrics(tmp_path):
    run_dir = str(tmp_path / "run")
    # This process's own peak is larger than the child's (pytest + TensorFlow
    # imports elsewhere in the session); the launcher must not report it.
    ballast = bytearray(600 * 2**20)
    row = measure.measure_train(
        [sys.executable, "-c", _FAKE_RUN, run_dir], dict(os.environ), run_dir
    )
    del ballast
    assert 0.29 < row["peak_rss_gb"] < 0.5
    assert row["seconds"] > 0
    assert row["test_accuracy"] == 0.25 and row["epochs"] == 3
    assert row["parameters"] == 7 and row["train_seconds"] is None
    assert set(row) == {"seconds", "peak_rss_gb", *measure.RUN_METRICS}


def test_a_failing_command_raises_with_its_output(tmp_path):
    code = "import sys; print('no data here'); sys.exit(3)"
    with pytest.raises(RuntimeError, match="no data here"):
        measure.measure([sys.executable, "-c", code], dict(os.environ))
    assert measure.machine().endswith(f"{os.cpu_count()} cores")


def test_throughput_names_the_maps_each_head_reads():
    assert throughput.attended_maps("none", 224) == "7x7"
    assert throughput.attended_maps("unified@3", 224) == "14x14"
    assert throughput.attended_maps("cbam@34", 224) == "14x14+7x7"
    assert throughput.attended_maps("unified+cg@34", 128) == "8x8+4x4"


def test_results_record_no_path_of_the_machine_that_made_them(tmp_path, monkeypatch):
    """Benchmark JSON names runs relative to the repository (or by their own
    name when elsewhere), never by an absolute path."""
    import glob
    import json

    from keras_attn.studies import grid_report

    monkeypatch.chdir(tmp_path)
    assert grid_report.portable(str(tmp_path / "runs" / "a")) == "runs/a"
    assert grid_report.portable("/elsewhere/runs/b/") == "b"
    assert grid_report.portable_paths(
        {"run_dir": str(tmp_path / "r"), "n": 1, "x": ["/tmp/q", "text"]}
    ) == {"run_dir": "r", "n": 1, "x": ["q", "text"]}

    def absolute(obj):
        if isinstance(obj, dict):
            return [p for v in obj.values() for p in absolute(v)]
        if isinstance(obj, list):
            return [p for v in obj for p in absolute(v)]
        return [obj] if isinstance(obj, str) and os.path.isabs(obj) else []

    pattern = os.path.join(REPO, "benchmarks", "results", "**", "*.json")
    found = {}
    for path in glob.glob(pattern, recursive=True):
        with open(path) as f:
            paths = absolute(json.load(f))
        if paths:
            found[os.path.relpath(path, REPO)] = paths[:2]
    assert found == {}


def test_cpu_features_names_the_int8_instructions_on_x86_and_arm(tmp_path):
    from keras_attn.utils.devices import cpu_features

    x86 = tmp_path / "x86"
    x86.write_text("model name\t: AMD EPYC\nflags\t\t: fpu sse2 avx2 fma avx512f "
                   "avx512_vnni\n")  # fmt: skip
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd asimddp i8mm\n")
    assert cpu_features(str(x86)) == ["avx2", "fma", "avx512f", "avx512_vnni"]
    assert cpu_features(str(arm)) == ["asimddp", "i8mm"]
    assert cpu_features(str(tmp_path / "missing")) == []


def test_runtime_ratios_pair_rounds_and_invert_throughput():
    from keras_attn.studies.runtimes import summary

    a, b = (128, "unified", "onnx_int8", "t1"), (128, "plain", "onnx_int8", "t1")
    # Round 2 is slow for both: paired, the ratio stays 1.1 in every round.
    values = {a: [11.0, 22.0, 11.0], b: [10.0, 20.0, 10.0]}
    assert summary.ratio(values, a, b) == {"median": 1.1, "quartiles": [1.1, 1.1]}
    # Batches are images/s: fewer of them is slower, so the ratio inverts.
    batch_a, batch_b = (*a[:3], "batch"), (*b[:3], "batch")
    values.update({batch_a: [80.0, 80.0], batch_b: [100.0, 100.0]})
    assert summary.ratio(values, batch_a, batch_b)["median"] == 1.25
    assert summary.ratio(values, a, (128, "none", "onnx_int8", "t1")) is None
    found = summary.targets(values, [128], ["onnx_int8"], threads=[1])
    # Only unified/plain has both sides (none/plain and unified/none do not).
    assert {(t["ratio"], t["mode"]): t["met"] for t in found} == {
        ("unified/plain", "t1"): True,  # 1.1 is within 1.10
        ("unified/plain", "batch"): False,  # 1.25
    }
