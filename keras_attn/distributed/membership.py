"""Joining the other workers of a multi-worker run, and leaving them.

`join` waits a bounded time for the others and sets the engine up
(TensorFlow's `MultiWorkerMirroredStrategy`, or `jax.distributed`); the
cluster joined is `joined()` until `leave()`.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import re
import socket
import sys
import time

import keras

from keras_attn.distributed import worker_dirs
from keras_attn.distributed.cluster import (
    HEARTBEAT_SECONDS,
    Cluster,
    check_address,
    find_cluster,
)
from keras_attn.errors import UserError, first_line

# The cluster this process has joined, its TensorFlow strategy, its private
# folders, whether a worker was lost (the engines keep their state
# process-wide too).
_joined: dict = {}


def joined() -> Cluster | None:
    """The cluster this process trains in, between `join` and the end of
    `data_parallel`; None on one machine."""
    return _joined.get("cluster")


def join(config, cluster: Cluster | None = None) -> Cluster | None:
    """Joins the other workers of a multi-worker run; None on one machine.

    `cluster` defaults to the environment's (`find_cluster()`). Checks that
    the run can be distributed (`--distribute`, an explicit `--run_dir`), then
    waits at most `cluster.timeout` seconds for the other workers.

    Raises:
        ValueError or UserError: one line naming the problem (a worker that
            never joined included).
    """
    if cluster is None:
        cluster = find_cluster()
    if cluster is None:
        return None
    what = (
        "TF_CONFIG names a cluster"
        if cluster.engine == "tensorflow"
        else "--coordinator_address starts a multi-process run"
    )
    if not config.distribute:
        raise ValueError(
            f"{what}; pass --distribute (the same command on every worker), or "
            "train on one machine without it."
        )
    if config.run_dir is None:
        raise ValueError(
            f"{what}: pass --run_dir, the same folder on every worker (one host, "
            "or storage they all mount at that path): the chief writes the run "
            "there and every worker resumes from it."
        )
    if config.report_last_epoch:
        raise ValueError("report_last_epoch is not supported on several workers.")
    if cluster.engine == "tensorflow":
        _join_tensorflow(cluster)
    else:
        cluster = _join_jax(cluster)
    _joined["cluster"] = cluster
    print(
        f"joined {cluster.count} workers as {cluster.name(cluster.index)}"
        f"{'' if cluster.is_chief else '; the chief writes the run folder'}"
    )
    return cluster


def _join_tensorflow(cluster: Cluster) -> None:
    """Configures TensorFlow's coordination service (as the strategy would,
    plus a bounded wait for every worker to register) and creates the
    `MultiWorkerMirroredStrategy` (which waits for the cluster)."""
    import tensorflow as tf
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    from tensorflow.python.eager import context

    jobs = dict.fromkeys(job for job, _ in cluster.tasks)
    config = coordination_config_pb2.CoordinationServiceConfig(
        service_type="standalone",
        service_leader=f"/job:{cluster.tasks[0][0]}/replica:0/task:0",
        cluster_register_timeout_in_ms=cluster.timeout * 1000,
        # Without the barrier, registration waits for missing workers forever.
        cluster_register_with_barrier=True,
        heartbeat_timeout_in_ms=HEARTBEAT_SECONDS * 1000,
        coordinated_job_list=[
            coordination_config_pb2.CoordinatedJob(
                name=job, num_tasks=sum(j == job for j, _ in cluster.tasks)
            )
            for job in jobs
        ],
    )
    # `configure_coordination_service` sets this attribute, but has no
    # argument for `cluster_register_with_barrier`.
    context.context()._coordination_service_config = config
    tf.get_logger().setLevel("WARNING")  # not a line per collective
    try:
        mirrored = _multi_worker_strategy()
    except (tf.errors.OpError, RuntimeError) as e:
        raise UserError(_join_failure(cluster, e)) from None
    _joined["strategy"] = mirrored


def _multi_worker_strategy():
    """A `MultiWorkerMirroredStrategy` (from `TF_CONFIG`) whose `reduce` takes
    what Keras' `fit` gives it.

    Keras 3.15 reduces a nested (images, labels) sample batch, and scalar logs
    with `axis=0`; TensorFlow 2.21's multi-worker `reduce` takes one tensor of
    a type its collectives carry (floats, int32, int64) and refuses `axis=0`
    on a scalar. This one maps over the structure (as `MirroredStrategy`
    does), reduces other types (uint8 images) in float32 and scalars without
    an axis.
    """
    import tensorflow as tf

    collective_types = (tf.float16, tf.bfloat16, tf.float32, tf.float64)
    collective_types += (tf.int32, tf.int64)

    class MultiWorkerMirrored(tf.distribute.MultiWorkerMirroredStrategy):
        def reduce(self, reduce_op, value, axis):
            parent = super()

            def one(per_replica):
                local = self.experimental_local_results(per_replica)
                one_axis = None if local[0].shape.rank == 0 else axis
                dtype = local[0].dtype
                if dtype in collective_types:
                    return parent.reduce(reduce_op, per_replica, one_axis)
                as_float = self.experimental_distribute_values_from_function(
                    lambda ctx: tf.cast(
                        local[ctx.replica_id_in_sync_group % len(local)], tf.float32
                    )
                )
                return tf.cast(parent.reduce(reduce_op, as_float, one_axis), dtype)

            return tf.nest.map_structure(one, value)

    return MultiWorkerMirrored()


def _join_failure(cluster: Cluster, error: Exception) -> str:
    text = str(error)
    seconds = f"within --join_timeout={cluster.timeout} s"
    missing = tasks_in(cluster, text.split("timed out task names")[-1])
    if "timed out task names" in text and missing:
        who = ", ".join(cluster.name(i) for i in missing)
        return (
            f"{who} did not join {seconds}: start the same command there with its "
            "own TF_CONFIG, or check the addresses in TF_CONFIG."
        )
    if "RegisterTask" in text or "Deadline" in text:
        return (
            f"{cluster.name(0)} did not answer {seconds}: start the same command "
            "there, or check its address in TF_CONFIG."
        )
    return f"could not join the cluster in TF_CONFIG: {first_line(text)}"


def tasks_in(cluster: Cluster, text: str) -> list[int]:
    """Indices of the workers a TensorFlow message names (`/job:J/task:N`)."""
    found = []
    for job, task in re.findall(r"/job:(\w+)(?:/replica:\d+)?/task:(\d+)", text):
        if (job, int(task)) in cluster.tasks:
            index = cluster.tasks.index((job, int(task)))
            if index not in found:
                found.append(index)
    return found


NO_CLUSTER_FOUND = (
    "--coordinator_address=auto found no cluster (JAX detects SLURM, Open MPI, "
    "Kubernetes and Cloud TPU settings); pass --coordinator_address, "
    "--num_processes and --process_id instead."
)


def _join_jax(cluster: Cluster) -> Cluster:
    """`keras.distribution.initialize`, once the coordinator answers.

    Keras passes JAX no timeout: the coordinator (process 0) waits JAX's 5
    minutes for the other processes, and with `auto` so does every process
    for the coordinator; then JAX ends the process with its own message.
    """
    import jax

    if cluster.address != "auto" and cluster.index != 0:
        host, port = check_address(cluster.address, "--coordinator_address")
        deadline = time.monotonic() + cluster.timeout
        while True:
            try:
                socket.create_connection((host, port), timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise UserError(
                        f"The coordinator at --coordinator_address={cluster.address} "
                        f"did not answer within --join_timeout={cluster.timeout} s: "
                        "start process 0 there, or check the address."
                    ) from None
                time.sleep(0.5)
    try:
        if cluster.address == "auto":
            keras.distribution.initialize(
                num_processes=cluster.count, process_id=cluster.index
            )
        else:
            keras.distribution.initialize(
                cluster.address, num_processes=cluster.count, process_id=cluster.index
            )
    except ValueError as e:  # JAX's detection found nothing, or a bad setting
        if cluster.address == "auto":
            raise UserError(NO_CLUSTER_FOUND) from None
        raise UserError(f"JAX could not start the run: {first_line(str(e))}") from None
    except RuntimeError as e:
        raise UserError(f"JAX could not start the run: {first_line(str(e))}") from None
    count, index = jax.process_count(), jax.process_index()
    if count == 1:
        raise UserError(NO_CLUSTER_FOUND)
    names = cluster.names or ("process 0 (the coordinator)",) + tuple(
        f"process {i}" for i in range(1, count)
    )
    atexit.register(_exit_without_shutdown_barrier)
    return dataclasses.replace(cluster, index=index, count=count, names=names)


def _exit_without_shutdown_barrier() -> None:
    """After a failure, leaves at once: JAX's own exit handler would wait at
    its shutdown barrier for processes that will never reach it (a lost one,
    or all the others, still training), then abort. (Registered after JAX's
    handler, so it runs first.)"""
    if _joined.get("failed"):
        worker_dirs.remove_worker_dirs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(2)


def leave() -> None:
    """Ends the multi-worker part of a run: JAX processes meet at the shutdown
    barrier now (afterwards each computes alone: the chief evaluates and
    writes), rather than at exit."""
    cluster = _joined.pop("cluster", None)
    _joined.pop("strategy", None)
    if cluster is not None and cluster.engine == "jax":
        import jax

        jax.distributed.shutdown()


def mark_failed() -> None:
    """Records that this worker failed (it will leave without JAX's shutdown
    barrier) and removes its private folders."""
    _joined["failed"] = True
    worker_dirs.remove_worker_dirs()


def strategy():
    """The `MultiWorkerMirroredStrategy` of the TensorFlow cluster joined, or None."""
    return _joined.get("strategy")
