"""Checking, before training, that every worker runs the same training:
resolved settings, data and resume epoch, compared by an all-gather."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np

from keras_attn.distributed import membership
from keras_attn.distributed.cluster import Cluster
from keras_attn.distributed.failures import as_worker_lost
from keras_attn.errors import UserError

# Resolved settings that may differ between workers: a host's own cache.
LOCAL_SETTINGS = ("cache_dir",)


def run_fingerprint(config, data, resume_epoch: int) -> dict[str, str]:
    """What every worker must agree on, as strings: each resolved setting (but
    a host's own cache folder), the data (classes, files, labels, stored
    shape) and the epoch it resumes from."""
    settings = json.loads(json.dumps(dataclasses.asdict(config), default=str))
    fields = {k: json.dumps(v) for k, v in settings.items() if k not in LOCAL_SETTINGS}
    digest = hashlib.sha256()
    digest.update(json.dumps([list(data.class_names), list(data.image_shape)]).encode())
    for split in (data.train, data.val):
        digest.update(np.asarray(split.labels, np.int64).tobytes())
        digest.update("\n".join(map(str, split.ids)).encode())
    fields["data"] = digest.hexdigest()
    fields["resume_epoch"] = str(resume_epoch)
    return fields


def _hash32(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") >> 1


def check_same_run(cluster: Cluster | None, config, data, resume_epoch: int) -> None:
    """Refuses to train unless every worker resolved the same settings, loaded
    the same data and resumes from the same epoch (a collective: all workers
    call it).

    Raises:
        UserError: one line naming the first worker that differs and how.
    """
    if cluster is None:
        return
    fields = run_fingerprint(config, data, resume_epoch)
    hashes = np.array([_hash32(v) for v in fields.values()], np.int32)
    try:
        rows = all_gather(cluster, hashes)
    except Exception as e:  # a worker that failed before training
        lost = as_worker_lost(cluster, e)
        if lost:
            raise lost from None
        raise
    message = first_difference(cluster, list(fields), rows, fields)
    if message:
        raise UserError(message)


def first_difference(
    cluster: Cluster, keys: list[str], rows: np.ndarray, mine: dict[str, str]
) -> str | None:
    """The one line for the first worker whose row of hashes differs from the
    chief's, or None when all agree. `rows`: (workers, fields), by index."""
    for worker in range(1, len(rows)):
        differ = np.flatnonzero(rows[worker] != rows[0])
        if not len(differ):
            continue
        key = keys[int(differ[0])]
        who = cluster.name(worker)
        # A worker that agrees with the chief on `key` holds the chief's value.
        own = "this worker" if cluster.index == worker else "the chief"
        if key == "data":
            return (
                f"{who} loaded other data than the chief (other classes, files or "
                "labels); give every worker the same dataset at the same path."
            )
        if key == "resume_epoch":
            return (
                f"{who} would resume from another epoch than the chief ({own}: "
                f"epoch {mine[key]}): every worker must read the chief's --run_dir "
                "at the same path (one host, or shared storage)."
            )
        return (
            f"{who} was started with other settings than the chief: --{key} "
            f"differs ({own}: {json.loads(mine[key])!r}); start every worker "
            "with the same command."
        )
    return None


def all_gather(cluster: Cluster, values: np.ndarray) -> np.ndarray:
    """`values` (F,) int32 of every worker, stacked by index: (workers, F)."""
    if cluster.engine == "jax":
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(values))
    import tensorflow as tf

    mirrored = membership.strategy()
    per_replica = mirrored.experimental_distribute_values_from_function(
        lambda ctx: tf.constant(values[None])
    )
    rows = mirrored.gather(per_replica, axis=0).numpy()
    local = mirrored.num_replicas_in_sync // cluster.count
    return rows[::local]
