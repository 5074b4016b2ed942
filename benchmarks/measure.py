"""Whole-process wall time and peak memory of a command, for the benchmarks."""

import os
import platform
import subprocess
import sys
import tempfile
import time

from keras_attn import runs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A fresh, small Python process starts the command and reports its rusage.
# On Linux a process's `ru_maxrss` starts at the high-water mark of the
# process it was forked from (exec carries it over), so a command forked
# straight from a benchmark that has imported TensorFlow would read at least
# the benchmark's own peak (about 1 GB: measured, `python -c pass` read 0.84 GB).
_LAUNCHER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}")
"""


def measure(argv: list[str], env: dict, cwd: str = REPO) -> dict:
    """Runs a command; returns wall seconds, peak RSS (GB: the kernel's
    accounting of that process, `os.wait4`'s `ru_maxrss`) and its output."""
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "rusage")
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, report, *argv],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        seconds = time.perf_counter() - start
        output = proc.stdout.decode(errors="replace")
        if not os.path.exists(report):
            raise RuntimeError(f"{' '.join(argv)} did not start:\n{output[-3000:]}")
        with open(report) as f:
            code, maxrss_kb = (int(x) for x in f.read().split())
    if code != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{output[-3000:]}")
    return {
        "seconds": round(seconds, 2),
        "peak_rss_gb": round(maxrss_kb / 2**20, 3),
        "output": output,
    }


# What a train.py run's metrics.json says that the benchmarks tabulate.
RUN_METRICS = (
    "train_seconds",
    "train_images_per_second",
    "test_accuracy",
    "epochs",
    "parameters",
)


def measure_train(argv: list[str], env: dict, run_dir: str) -> dict:
    """`measure` of a train.py command writing `run_dir`: wall seconds, peak
    RSS and the run's own `RUN_METRICS`, one row of a benchmark's table."""
    result = measure(argv, env)
    metrics = runs.read_metrics(run_dir)
    return {
        "seconds": result["seconds"],
        "peak_rss_gb": result["peak_rss_gb"],
        **{key: metrics.get(key) for key in RUN_METRICS},
    }


def machine() -> str:
    """The CPU and core count, as the benchmarks' JSON records them."""
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
