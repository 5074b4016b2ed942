"""The workers of a multi-worker run: finding them, joining them, checking
that they run the same training, naming one that is lost, and where each
writes.

Every worker runs the same `train.py` command (see `parallel.py` for what
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

import dataclasses
import json
import os
import socket

import keras

# Seconds a worker waits for the others to join (`--join_timeout`).
JOIN_TIMEOUT = 300


# Seconds without a heartbeat after which TensorFlow's coordination service
# declares a worker dead (a killed worker's peers notice sooner, when their
# next collective fails).
HEARTBEAT_SECONDS = 60


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
    check_address(coordinator_address, "--coordinator_address")
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
        check_address(address, f"TF_CONFIG's {job} {i}")
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


def check_address(address, what: str) -> tuple[str, int]:
    host, _, port = str(address).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(
            f"{what} must be host:port (e.g. 10.0.0.1:2222). Received: {address!r}"
        )
    return host.strip("[]"), int(port)


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
