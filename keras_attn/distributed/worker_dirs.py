"""Where each worker writes: the chief the run folder, the others a private
temporary copy of its resume state, removed when they finish."""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile

from keras_attn.distributed.cluster import Cluster
from keras_attn.runs import layout as runs

# The private folders this process made (`worker_dir`).
_dirs: list[str] = []


def worker_dir(cluster: Cluster | None, run_dir: str) -> str:
    """Where this worker writes: `run_dir` on the chief (and on one machine);
    on other workers a private temporary folder holding a copy of the run's
    resume state (history, backup, best weights), so that they restore what
    the chief restores, run the same saving code (TensorFlow's rule for
    multi-worker checkpoints) and leave nothing behind (`remove_worker_dirs`,
    and a killed worker's copy is replaced by the next start's)."""
    if cluster is None or cluster.is_chief:
        return run_dir
    key = hashlib.sha256(os.path.abspath(run_dir).encode()).hexdigest()[:12]
    private = os.path.join(
        tempfile.gettempdir(), f"keras_attn-{key}-worker{cluster.index}"
    )
    shutil.rmtree(private, ignore_errors=True)  # a killed earlier start's
    os.makedirs(private)
    _dirs.append(private)
    for name in (runs.HISTORY, runs.CONFIG):
        if os.path.exists(runs.path(run_dir, name)):
            shutil.copy2(runs.path(run_dir, name), runs.path(private, name))
    for name in (runs.BACKUP, "checkpoints"):
        if os.path.isdir(runs.path(run_dir, name)):
            shutil.copytree(runs.path(run_dir, name), runs.path(private, name))
    atexit.register(remove_worker_dirs)
    return private


def remove_worker_dirs() -> None:
    """Removes this worker's private folders (`worker_dir`)."""
    while _dirs:
        shutil.rmtree(_dirs.pop(), ignore_errors=True)
