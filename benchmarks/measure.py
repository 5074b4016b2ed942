"""Whole-process wall time and peak memory of a command, for the benchmarks."""

import os
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure(argv: list[str], env: dict, cwd: str = REPO) -> dict:
    """Runs a command; returns wall seconds, peak RSS (GB: the kernel's
    accounting of that process, `os.wait4`'s `ru_maxrss`) and its output."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    output = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{output[-3000:]}")
    return {
        "seconds": round(seconds, 2),
        "peak_rss_gb": round(usage.ru_maxrss / 2**20, 3),
        "output": output,
    }
