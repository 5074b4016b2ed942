"""The workers of a multi-worker run: finding them, joining them, checking
that they run the same training, naming one that is lost, and where each
writes.

Every worker runs the same `train.py` command (see `distribute.py` for what
is distributed and how):

- TensorFlow: `TF_CONFIG` on each (the cluster: a chief and/or workers, and
  this task's type and index; `parse_tf_config` checks it). `join`
  configures TensorFlow's coordination service with a bounded wait for the
  others (`--join_timeout`) and creates the `MultiWorkerMirroredStrategy`.
- JAX: `--coordinator_address` (process 0's host:port), `--num_processes`,
  `--process_id` (or Keras' `KERAS_DISTRIBUTION_*` variables;
  `--coordinator_address=auto` lets JAX read SLURM, Open MPI, Kubernetes or
  Cloud TPU settings). `join` calls `keras.distribution.initialize` once the
  coordinator answers, waiting at most `--join_timeout` (JAX itself would
  wait 5 minutes, then abort the process).

Worker 0 is the chief: it alone writes the run folder. The others train in a
private temporary copy of the run's resume state (`worker_dir`), removed when
they finish (a killed worker's copy is replaced when the run starts again).
Before training, the workers compare their resolved settings, data and
resume epoch (`check_same_run`, an all-gather) and refuse, in one line, to
train with a worker that differs. A worker that fails says why to the
others (`failures_reported`: TensorFlow's `report_error_to_cluster`), and one
that dies is noticed when the next collective fails or its heartbeat stops:
either way the others stop with one line naming it (`lost_worker`, raised as
`WorkerLost`). The same commands started again resume from the chief's last
backup, which is why the run folder must be at the same path on every
worker (one host, or shared storage).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time

import keras
import numpy as np

from keras_attn.errors import UserError, first_line

# Seconds a worker waits for the others to join (`--join_timeout`).
JOIN_TIMEOUT = 300
# Seconds without a heartbeat after which TensorFlow's coordination service
# declares a worker dead (a killed worker's peers notice sooner, when their
# next collective fails).
HEARTBEAT_SECONDS = 60
# Resolved settings that may differ between workers: a host's own cache.
LOCAL_SETTINGS = ("cache_dir",)


class WorkerLost(UserError):
    """Another worker stopped answering during a multi-worker run."""


@dataclasses.dataclass(frozen=True)
class Cluster:
    """The workers of a multi-worker run, and this process's place among them.

    Attributes:
        engine: `"tensorflow"` (`TF_CONFIG`) or `"jax"` (a coordinator).
        index: this worker's place, 0 to count - 1; 0 is the chief, which
            writes the run folder (None until JAX has detected it, `auto`).
        count: how many workers (None until detected).
        names: how messages name each worker, by index: `"the chief
            (host:port)"`, `"worker 1 (host:port)"`, `"process 1"`.
        tasks: TensorFlow: `(job, task index)` of each worker, by index.
        address: JAX: the coordinator's host:port, or `"auto"`.
        timeout: seconds to wait for the others to join.
    """

    engine: str
    index: int | None
    count: int | None
    names: tuple[str, ...] = ()
    tasks: tuple[tuple[str, int], ...] = ()
    address: str | None = None
    timeout: int = JOIN_TIMEOUT

    @property
    def is_chief(self) -> bool:
        return self.index == 0

    def name(self, index: int) -> str:
        return self.names[index] if index < len(self.names) else f"worker {index}"


# The cluster this process has joined, its TensorFlow strategy, its private
# folders, whether a worker was lost (the engines keep their state
# process-wide too).
_joined: dict = {}


def joined() -> Cluster | None:
    """The cluster this process trains in, between `join` and the end of
    `data_parallel`; None on one machine."""
    return _joined.get("cluster")


# ------------------------------------------------------------ finding them


def find_cluster(
    backend: str | None = None,
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    timeout: int = JOIN_TIMEOUT,
    environ=None,
) -> Cluster | None:
    """The cluster this process belongs to, from flags and the environment;
    None for a run on one machine.

    TensorFlow reads `TF_CONFIG`; JAX the arguments, else the variables
    `keras.distribution.initialize` reads (`KERAS_DISTRIBUTION_JOB_ADDRESSES`,
    `_NUM_PROCESSES`, `_PROCESS_ID`); with `coordinator_address="auto"` JAX
    reads its own (`JAX_COORDINATOR_ADDRESS`, SLURM's, ...). A cluster of one
    worker is no cluster.

    Raises:
        ValueError: one line naming what is wrong and how to fix it.
    """
    environ = os.environ if environ is None else environ
    backend = backend or keras.backend.backend()
    if timeout < 1:
        raise ValueError(f"--join_timeout must be >= 1 second. Received: {timeout}")
    jax_given = [coordinator_address, num_processes, process_id] != [None] * 3
    tf_cluster = parse_tf_config(environ.get("TF_CONFIG"), timeout)
    if backend == "tensorflow":
        if jax_given:
            raise ValueError(
                "--coordinator_address, --num_processes and --process_id start JAX "
                "processes (KERAS_BACKEND=jax); on TensorFlow set TF_CONFIG on "
                "every worker instead."
            )
        return tf_cluster
    if tf_cluster is not None:
        raise ValueError(
            f"TF_CONFIG names a cluster of {tf_cluster.count} workers, which only "
            f"the tensorflow backend reads (this is {backend}): run with "
            "KERAS_BACKEND=tensorflow, or unset TF_CONFIG and pass "
            "--coordinator_address, --num_processes and --process_id."
        )
    if backend != "jax":
        if jax_given:
            raise ValueError(
                f"--coordinator_address, --num_processes and --process_id start "
                f"JAX processes; this is the {backend} backend: run with "
                "KERAS_BACKEND=jax."
            )
        return None
    if not jax_given:
        addresses = environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES")
        coordinator_address = addresses.split(",")[0] if addresses else None
        num_processes = _int_env(environ, "KERAS_DISTRIBUTION_NUM_PROCESSES")
        process_id = _int_env(environ, "KERAS_DISTRIBUTION_PROCESS_ID")
        if [coordinator_address, num_processes, process_id] == [None] * 3:
            return None
    return jax_cluster(coordinator_address, num_processes, process_id, timeout)


def _int_env(environ, name: str) -> int | None:
    value = environ.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer. Received: {value!r}") from None


def jax_cluster(
    coordinator_address: str | None,
    num_processes: int | None,
    process_id: int | None,
    timeout: int = JOIN_TIMEOUT,
) -> Cluster | None:
    """Checks JAX's three settings; `coordinator_address="auto"` leaves them
    to JAX's detection (SLURM, Open MPI, Kubernetes, Cloud TPU)."""
    if coordinator_address == "auto":
        return Cluster(
            "jax", process_id, num_processes, address="auto", timeout=timeout
        )
    missing = [
        f"--{flag}"
        for flag, value in (
            ("coordinator_address", coordinator_address),
            ("num_processes", num_processes),
            ("process_id", process_id),
        )
        if value is None
    ]
    if missing:
        raise ValueError(
            f"A JAX multi-process run needs --coordinator_address, --num_processes "
            f"and --process_id on every process; {' and '.join(missing)} missing "
            "(or --coordinator_address=auto on SLURM, Open MPI, Kubernetes or "
            "Cloud TPU)."
        )
    _check_address(coordinator_address, "--coordinator_address")
    if num_processes < 1:
        raise ValueError(f"--num_processes must be >= 1. Received: {num_processes}")
    if not 0 <= process_id < num_processes:
        raise ValueError(
            f"--process_id={process_id} is out of range for --num_processes="
            f"{num_processes}: give each process its own id, 0 to "
            f"{num_processes - 1} (0 is the coordinator)."
        )
    if num_processes == 1:
        return None
    names = ("process 0 (the coordinator)",) + tuple(
        f"process {i}" for i in range(1, num_processes)
    )
    return Cluster(
        "jax",
        process_id,
        num_processes,
        names=names,
        address=coordinator_address,
        timeout=timeout,
    )


TF_JOBS = ("chief", "worker")


def parse_tf_config(text: str | None, timeout: int = JOIN_TIMEOUT) -> Cluster | None:
    """The cluster `TF_CONFIG` names, checked; None without one (unset, no
    `cluster`, or a single task).

    The chief is the `chief` task, or worker 0 when there is none (TensorFlow's
    rule); indices count the chief first, then the workers.

    Raises:
        ValueError: one line: bad JSON, a job MultiWorkerMirroredStrategy does
            not have, this task's index out of range, no chief, or one
            address named twice.
    """
    if not text or not text.strip():
        return None
    try:
        spec = json.loads(text)
    except ValueError as e:
        raise ValueError(
            f"TF_CONFIG is not valid JSON ({e}); set it to e.g. "
            '{"cluster": {"worker": ["host1:2222", "host2:2222"]}, '
            '"task": {"type": "worker", "index": 0}}.'
        ) from None
    if not isinstance(spec, dict):
        raise ValueError("TF_CONFIG must be a JSON object with cluster and task.")
    cluster = spec.get("cluster") or {}
    if not isinstance(cluster, dict) or not all(
        isinstance(v, list) for v in cluster.values()
    ):
        raise ValueError(
            'TF_CONFIG\'s cluster must map each job to a list of "host:port" '
            f"addresses. Received: {json.dumps(cluster)}"
        )
    cluster = {job: addresses for job, addresses in cluster.items() if addresses}
    others = sorted(set(cluster) - set(TF_JOBS))
    if others:
        raise ValueError(
            f"TF_CONFIG names the job {others[0]!r}: multi-worker training "
            "(MultiWorkerMirroredStrategy) has a chief and workers only, no "
            "parameter servers or evaluators; list every machine under "
            '"worker" (and optionally one under "chief").'
        )
    tasks = [("chief", 0)] if "chief" in cluster else []
    tasks += [("worker", i) for i in range(len(cluster.get("worker", [])))]
    if not tasks:
        return None
    if len(cluster.get("chief", [])) > 1:
        raise ValueError(
            f"TF_CONFIG names {len(cluster['chief'])} chiefs; a cluster has one "
            "chief (or none: worker 0 is then the chief)."
        )
    addresses = [cluster[job][i] for job, i in tasks]
    names = [f"{job} {i} ({a})" for (job, i), a in zip(tasks, addresses, strict=True)]
    if tasks[0][0] == "chief":
        names[0] = f"the chief ({addresses[0]})"
    else:
        names[0] = f"worker 0 (the chief, {addresses[0]})"
    for (job, i), address in zip(tasks, addresses, strict=True):
        _check_address(address, f"TF_CONFIG's {job} {i}")
    for k, address in enumerate(addresses):
        if address in addresses[:k]:
            first = addresses.index(address)
            raise ValueError(
                f"TF_CONFIG names {address} twice ({names[first].split(' (')[0]} "
                f"and {names[k].split(' (')[0]}); give every worker its own "
                "host:port."
            )
    task = spec.get("task")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ValueError(
            'TF_CONFIG has no task ({"type": "worker", "index": N}): set this '
            "worker's own type and index on every worker."
        )
    job, index = task["type"], task["index"]
    if job not in TF_JOBS:
        raise ValueError(
            f"TF_CONFIG's task type is {job!r}; multi-worker training runs "
            "'chief' and 'worker' tasks only."
        )
    if job not in cluster:
        raise ValueError(
            f"TF_CONFIG's task is the {job} but its cluster names no {job}"
            f"{' (the chief is missing)' if job == 'chief' else ''}; list this "
            "machine in the cluster."
        )
    if not isinstance(index, int) or isinstance(index, bool):
        raise ValueError(
            f"TF_CONFIG's task index must be an integer. Received: {index!r}"
        )
    if not 0 <= index < len(cluster[job]):
        raise ValueError(
            f"TF_CONFIG's task index {index} is out of range: the cluster names "
            f"{len(cluster[job])} {job} task(s), indices 0 to "
            f"{len(cluster[job]) - 1}."
        )
    if len(tasks) == 1:
        return None
    return Cluster(
        "tensorflow",
        tasks.index((job, index)),
        len(tasks),
        names=tuple(names),
        tasks=tuple(tasks),
        timeout=timeout,
    )


def _check_address(address, what: str) -> tuple[str, int]:
    host, _, port = str(address).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(
            f"{what} must be host:port (e.g. 10.0.0.1:2222). Received: {address!r}"
        )
    return host.strip("[]"), int(port)


# ------------------------------------------------------------------ joining


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
    missing = _tasks_in(cluster, text.split("timed out task names")[-1])
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


def _tasks_in(cluster: Cluster, text: str) -> list[int]:
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
        host, port = _check_address(cluster.address, "--coordinator_address")
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
        remove_worker_dirs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(2)


# ---------------------------------------------------------- while training


def leave() -> None:
    """Ends the multi-worker part of a run: JAX processes meet at the shutdown
    barrier now (afterwards each computes alone: the chief evaluates and
    writes), rather than at exit."""
    cluster = _joined.pop("cluster", None)
    _joined.pop("strategy", None)
    if cluster is not None and cluster.engine == "jax":
        import jax

        jax.distributed.shutdown()


def strategy():
    """The `MultiWorkerMirroredStrategy` of the TensorFlow cluster joined, or None."""
    return _joined.get("strategy")


def as_worker_lost(cluster: Cluster, error: Exception) -> WorkerLost | None:
    """`WorkerLost` for an engine error that means a worker was lost (this
    process then leaves without waiting for it, see `_exit_without_shutdown_
    barrier`), else None."""
    message = lost_worker(cluster, error)
    if message is None:
        return None
    _joined["failed"] = True
    remove_worker_dirs()
    return WorkerLost(message)


@contextlib.contextmanager
def failures_reported(cluster: Cluster | None):
    """Tells the other workers when this one fails (an error escapes the
    block), so that they stop now, naming it and its reason, rather than
    wait for its heartbeat to time out: on TensorFlow through the
    coordination service (`report_error_to_cluster`); on JAX the process
    leaves without JAX's shutdown barrier, and the others see it gone."""
    try:
        yield
    except BaseException as e:
        if cluster is not None and not isinstance(e, WorkerLost):
            _joined["failed"] = True
            remove_worker_dirs()
            if cluster.engine == "tensorflow":
                _report_to_cluster(cluster, e)
        raise


def _report_to_cluster(cluster: Cluster, error: BaseException) -> None:
    import tensorflow as tf
    from tensorflow.python.eager import context

    reason = f"{type(error).__name__}: {first_line(str(error))}"
    try:
        context.context().report_error_to_cluster(
            tf.errors.UNAVAILABLE, f"{cluster.name(cluster.index)} stopped: {reason}"
        )
    except Exception:  # noqa: BLE001 -- the cluster may be gone already
        pass


def lost_worker(cluster: Cluster, error: Exception) -> str | None:
    """The one line for an engine error that means a worker was lost (killed,
    crashed, unreachable); None for any other error."""
    text = str(error)
    name = type(error).__name__
    if cluster.engine == "tensorflow":
        import tensorflow as tf

        lost = isinstance(
            error, (tf.errors.UnavailableError, tf.errors.DeadlineExceededError)
        ) or (
            isinstance(error, tf.errors.OpError) and "Collective ops is aborted" in text
        )
        if not lost:
            return None
        others = [i for i in _tasks_in(cluster, text) if i != cluster.index]
        who = others[0] if others else None
    else:
        markers = ("Gloo", "gloo", "Connection reset", "Connection refused")
        markers += ("UNAVAILABLE", "DEADLINE_EXCEEDED", "heartbeat")
        if "Runtime" not in name or not any(m in text for m in markers):
            return None
        who = _lost_jax_process(cluster)
    again = (
        "start the same command on every worker again (a run resumes from the "
        "chief's last backup)."
    )
    for worker in cluster.names:  # a worker that said why (`failures_reported`)
        if f"{worker} stopped: " in text:
            reason = first_line(text.split(f"{worker} stopped: ", 1)[1])[:200]
            return f"{worker} stopped ({reason}); fix that, then {again}"
    lost = "another worker" if who is None else cluster.name(who)
    reason = first_line(text.split("Collective ops is aborted by:")[-1])
    reason = reason.replace("Error dispatching computation: ", "")[:160]
    return f"lost {lost} ({name}: {reason}); see its output, then {again}"


def _lost_jax_process(cluster: Cluster) -> int | None:
    """Which process stopped: the other one of two, else the first the
    coordination service no longer counts as live."""
    if cluster.count == 2:
        return 1 - cluster.index
    try:
        from jax._src import distributed

        live = distributed.global_state.client.get_live_nodes(
            list(range(cluster.count))
        )
        gone = sorted(set(range(cluster.count)) - set(live))
        return gone[0] if gone else None
    except Exception:  # noqa: BLE001 -- the coordinator itself may be gone
        return 0 if cluster.index != 0 else None


# ------------------------------------------------------------ the same run


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

    mirrored = _joined["strategy"]
    per_replica = mirrored.experimental_distribute_values_from_function(
        lambda ctx: tf.constant(values[None])
    )
    rows = mirrored.gather(per_replica, axis=0).numpy()
    local = mirrored.num_replicas_in_sync // cluster.count
    return rows[::local]


# ---------------------------------------------------------- the run folder


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
    _joined.setdefault("dirs", []).append(private)
    from keras_attn import runs

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
    for folder in _joined.pop("dirs", []):
        shutil.rmtree(folder, ignore_errors=True)


def free_ports(count: int) -> list[int]:
    """`count` localhost ports free now: workers of a local cluster (tests,
    benchmarks) take them."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports
