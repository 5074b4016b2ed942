"""Training on several workers (`keras_attn/distributed/`).

In-process: the checks of `TF_CONFIG` and of JAX's flags, each worker's
share of a batch on both input pipelines, the comparison of the workers'
settings, the private folder of a worker that is not the chief, and the
message for a lost worker.

With real worker processes on 127.0.0.1 (free ports; every process is killed
when its test ends, whatever happened): a worker that never joins, a JAX
coordinator that never answers, a worker started with other flags (the
default suite); and, marked large (minutes on 2 cores), 2 TensorFlow workers
and 2 JAX processes against one process with the same global batch, and a
worker killed mid-epoch followed by the same commands resuming.
"""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

import keras
import numpy as np
import pytest
from conftest import REPO, WEIGHTS, require

from keras_attn import distributed, runs
from keras_attn.distributed import free_ports
from keras_attn.training import input_pipeline
from keras_attn.training.config import TrainConfig

HAS_JAX = importlib.util.find_spec("jax") is not None
needs_jax = pytest.mark.skipif(not HAS_JAX, reason="jax is not installed")

# One tiny epoch of `shapes` at 128 px: 40 training images in global batches
# of 8 (5 steps), 20 validation images; no augmentation or dropout, so that
# one process and two workers compute the same first step.
TINY = dict(
    dataset="shapes",
    shots=4,
    val_shots=2,
    batch_size=8,
    epochs=1,
    image_size=128,  # pinned, not the demo recipe's 224 px lp-ft
    backbone="finetune",
    augment="none",
    dropout=0.0,
)
TINY_FLAGS = [f"--{k}={v}" for k, v in TINY.items()]


def tf_config(ports: list[int], index: int) -> str:
    workers = [f"127.0.0.1:{p}" for p in ports]
    return json.dumps(
        {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
    )


def worker_env(backend: str, **extra) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "TF_CONFIG" and not k.startswith("KERAS_DISTRIBUTION_")
    }
    env.pop("KERAS_ATTN_DEBUG", None)
    env.update(KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", CI="1")
    env.update(extra)
    return env


def cluster_env(backend: str, ports: list[int], index: int) -> dict:
    """The environment of worker `index`: its TF_CONFIG, or Keras' variables
    for a JAX process (what train.py's flags set too)."""
    if backend == "tensorflow":
        return worker_env(backend, TF_CONFIG=tf_config(ports, index))
    return worker_env(
        backend,
        KERAS_DISTRIBUTION_JOB_ADDRESSES=f"127.0.0.1:{ports[0]}",
        KERAS_DISTRIBUTION_NUM_PROCESSES=str(len(ports)),
        KERAS_DISTRIBUTION_PROCESS_ID=str(index),
    )


class Workers:
    """Processes started together, each writing to its own log; any still
    running when the block ends is killed."""

    def __init__(self, commands: list[list[str]], envs: list[dict], logs: str):
        os.makedirs(logs, exist_ok=True)
        self.paths = [os.path.join(logs, f"worker{i}.log") for i in range(len(envs))]
        self.procs = []
        for command, env, path in zip(commands, envs, self.paths, strict=True):
            with open(path, "w") as log:
                self.procs.append(
                    subprocess.Popen(
                        command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
                    )
                )

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()

    def output(self, i: int) -> str:
        with open(self.paths[i]) as f:
            return f.read()

    def wait(self, timeout: float) -> list[int]:
        """Return codes, once every process has ended (fails after `timeout`)."""
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            proc.wait(timeout=max(deadline - time.monotonic(), 1))
        return [proc.returncode for proc in self.procs]


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error: ")]


def assert_one_error_line(text: str, *fragments: str) -> str:
    """`text` (a process's output) ends with exactly one `error:` line holding
    every fragment, and shows no Python traceback."""
    lines = error_lines(text)
    assert len(lines) == 1, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def train_command(*flags: str) -> list[str]:
    return [sys.executable, "train.py", "--distribute", *TINY_FLAGS, *flags]


# ------------------------------------------------------------ TF_CONFIG


def test_tf_config_names_the_chief_and_this_worker():
    with_chief = {
        "cluster": {"chief": ["h0:1"], "worker": ["h1:1", "h2:1"]},
        "task": {"type": "worker", "index": 1},
    }
    cluster = distributed.parse_tf_config(json.dumps(with_chief))
    assert (cluster.engine, cluster.index, cluster.count) == ("tensorflow", 2, 3)
    assert cluster.tasks == (("chief", 0), ("worker", 0), ("worker", 1))
    assert cluster.names[0] == "the chief (h0:1)" and not cluster.is_chief
    workers_only = {"cluster": {"worker": ["h0:1", "h1:1"]}, "task": {"type": "worker"}}
    workers_only["task"]["index"] = 0
    cluster = distributed.parse_tf_config(json.dumps(workers_only))
    assert cluster.is_chief and cluster.names[0] == "worker 0 (the chief, h0:1)"
    # No cluster, or a cluster of one, is one machine.
    assert distributed.parse_tf_config(None) is None
    one = {"cluster": {"worker": ["h0:1"]}, "task": {"type": "worker", "index": 0}}
    assert distributed.parse_tf_config(json.dumps(one)) is None


TWO_WORKERS = {"worker": ["h0:1", "h1:1"]}


@pytest.mark.parametrize(
    "spec, message",
    [
        ('{"cluster": {"worker": ["h0:1", "h1:1"]},', "is not valid JSON"),
        ({"cluster": TWO_WORKERS, "task": {"type": "worker"}}, "has no task"),
        (
            {"cluster": TWO_WORKERS, "task": {"type": "worker", "index": 2}},
            "task index 2 is out of range: the cluster names 2 worker task(s)",
        ),
        (
            {"cluster": TWO_WORKERS, "task": {"type": "chief", "index": 0}},
            "names no chief (the chief is missing)",
        ),
        (
            {
                "cluster": {"chief": ["h0:1"], "worker": ["h1:1", "h0:1"]},
                "task": {"type": "worker", "index": 0},
            },
            "names h0:1 twice (the chief and worker 1)",
        ),
        (
            {
                "cluster": {**TWO_WORKERS, "ps": ["h2:1"]},
                "task": {"type": "worker", "index": 0},
            },
            "names the job 'ps'",
        ),
        (
            {
                "cluster": {"worker": ["h0:1", "h1"]},
                "task": {"type": "worker", "index": 0},
            },
            "must be host:port",
        ),
    ],
)
def test_a_wrong_tf_config_is_one_line(spec, message):
    text = spec if isinstance(spec, str) else json.dumps(spec)
    with pytest.raises(ValueError) as error:
        distributed.parse_tf_config(text)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_the_cluster_settings_must_suit_the_backend():
    two = tf_config([1, 2], 0)
    with pytest.raises(ValueError, match="only the tensorflow backend reads"):
        distributed.find_cluster("jax", environ={"TF_CONFIG": two})
    with pytest.raises(ValueError, match="start JAX processes"):
        distributed.find_cluster(
            "tensorflow", "h:1", 2, 0, environ={}
        )  # JAX flags on TensorFlow
    assert distributed.find_cluster("tensorflow", environ={"TF_CONFIG": two}).count == 2
    assert distributed.find_cluster("jax", environ={}) is None


def test_jax_settings_are_checked():
    cluster = distributed.find_cluster("jax", "10.0.0.1:1234", 4, 3, environ={})
    assert (cluster.engine, cluster.index, cluster.count) == ("jax", 3, 4)
    assert cluster.names[0] == "process 0 (the coordinator)"
    keras_env = {
        "KERAS_DISTRIBUTION_JOB_ADDRESSES": "10.0.0.1:1234,10.0.0.2:1234",
        "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
        "KERAS_DISTRIBUTION_PROCESS_ID": "1",
    }
    cluster = distributed.find_cluster("jax", environ=keras_env)
    assert (cluster.address, cluster.index, cluster.count) == ("10.0.0.1:1234", 1, 2)
    with pytest.raises(ValueError, match="--process_id=2 is out of range"):
        distributed.jax_cluster("h:1", 2, 2)
    with pytest.raises(ValueError, match="--num_processes and --process_id missing"):
        distributed.jax_cluster("h:1", None, None)
    with pytest.raises(ValueError, match="must be host:port"):
        distributed.jax_cluster("h", 2, 0)


def test_join_needs_distribute_and_a_run_dir():
    cluster = distributed.parse_tf_config(tf_config([1, 2], 1))
    config = TrainConfig(**TINY, run_dir="runs/x").resolved()
    with pytest.raises(
        ValueError, match="TF_CONFIG names a cluster; pass --distribute"
    ):
        distributed.join(config, cluster)
    config = TrainConfig(**TINY, distribute=True).resolved()
    with pytest.raises(ValueError, match="pass --run_dir, the same folder on every"):
        distributed.join(config, cluster)


# ------------------------------------------------- each worker's share


IMAGES = np.repeat(np.arange(12, dtype="uint8"), 2 * 2 * 3).reshape(12, 2, 2, 3)
LABELS = np.arange(12) % 3


def _rows(batch) -> np.ndarray:
    return np.asarray(batch[0])[:, 0, 0, 0]


@pytest.mark.parametrize("training", [True, False])
def test_each_worker_reads_its_part_of_every_global_batch(training):
    """Worker k of n gets the k-th of n parts of the batch one machine draws."""
    kwargs = dict(shuffle=training, seed=3, drop_remainder=training, pad=not training)
    whole = input_pipeline.ArrayBatches(IMAGES[:10], LABELS[:10], 3, 4, **kwargs)
    parts = [
        input_pipeline.ArrayBatches(
            IMAGES[:10], LABELS[:10], 3, 4, shard=(k, 2), **kwargs
        )
        for k in range(2)
    ]
    for data in (whole, *parts):
        data.on_epoch_begin()
    assert len(whole) == len(parts[0]) == (2 if training else 3)
    for i in range(len(whole)):
        joined = np.concatenate([_rows(p[i]) for p in parts])
        np.testing.assert_array_equal(joined, _rows(whole[i]))
        assert [len(_rows(p[i])) for p in parts] == [2, 2]


def test_tf_pipeline_splits_a_worker_part_among_its_replicas():
    """2 workers x 2 local replicas: each replica batch is a quarter of the
    global batch, worker 0 holding the first half."""
    args = (IMAGES, LABELS, 3, 8, True, 5, True)
    whole = list(input_pipeline.tf_dataset(*args).take(3))  # 12 // 8 = 1 a epoch
    parts = [
        list(input_pipeline.tf_dataset(*args, shard=(k, 2), replica_batch=2).take(6))
        for k in range(2)
    ]
    for epoch in range(3):
        rows = [_rows(p[2 * epoch + r]) for p in parts for r in range(2)]
        assert [len(r) for r in rows] == [2, 2, 2, 2]
        np.testing.assert_array_equal(np.concatenate(rows), _rows(whole[epoch]))


# ----------------------------------------------------- the same run


def _dataset():
    from keras_attn.data import load_dataset

    return load_dataset("shapes", shots=2, val_shots=1)


def test_the_workers_fingerprint_ignores_a_hosts_own_cache():
    data = _dataset()
    config = TrainConfig(**TINY, run_dir="r", distribute=True).resolved()
    moved = TrainConfig(**TINY, run_dir="r", distribute=True, cache_dir="/elsewhere")
    a = distributed.run_fingerprint(config, data, 0)
    assert a == distributed.run_fingerprint(moved.resolved(), data, 0)
    assert a != distributed.run_fingerprint(config, data, 1)
    other = _dataset()
    other.train.labels[0] = (other.train.labels[0] + 1) % 10
    assert a["data"] != distributed.run_fingerprint(config, other, 0)["data"]


def test_a_worker_that_differs_is_named_with_the_setting():
    cluster = distributed.parse_tf_config(tf_config([1, 2, 3], 0))
    keys = ["batch_size", "data", "resume_epoch"]
    mine = {"batch_size": "8", "data": "x", "resume_epoch": "3"}
    same = np.array([[1, 2, 3]] * 3, np.int32)
    assert distributed.first_difference(cluster, keys, same, mine) is None
    rows = same.copy()
    rows[2, 0] = 9
    message = distributed.first_difference(cluster, keys, rows, mine)
    assert message.startswith("worker 2 (127.0.0.1:3) was started with other")
    assert "--batch_size differs (the chief: 8)" in message
    rows = same.copy()
    rows[1, 1:] = 0
    assert "loaded other data" in distributed.first_difference(
        cluster, keys, rows, mine
    )
    rows[1, 1] = 2
    message = distributed.first_difference(cluster, keys, rows, mine)
    assert "would resume from another epoch" in message and "shared storage" in message


def test_a_worker_trains_in_a_private_copy_removed_at_the_end(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "backup" / "full").mkdir(parents=True)
    (run_dir / "backup" / "full" / "state.json").write_text('{"epoch": 2}')
    (run_dir / "history.csv").write_text("epoch,loss\n0,1\n1,1\n")
    chief = distributed.parse_tf_config(tf_config([1, 2], 0))
    assert distributed.worker_dir(chief, str(run_dir)) == str(run_dir)
    other = distributed.parse_tf_config(tf_config([1, 2], 1))
    private = distributed.worker_dir(other, str(run_dir))
    assert private.startswith(tempfile.gettempdir()) and "worker1" in private
    assert len(runs.read_history(private)["epoch"]) == 2
    assert os.path.exists(os.path.join(private, "backup", "full", "state.json"))
    distributed.remove_worker_dirs()
    assert not os.path.exists(private)
    assert sorted(os.listdir(run_dir)) == ["backup", "history.csv"]  # untouched


def test_a_lost_tensorflow_worker_is_named():
    import tensorflow as tf

    cluster = distributed.parse_tf_config(tf_config([7001, 7002], 0))
    error = tf.errors.UnavailableError(
        None,
        None,
        "Collective ops is aborted by: recvmsg:Connection reset by peer\n"
        "Additional GRPC error information from remote target "
        "/job:worker/replica:0/task:1 while calling RecvBuf",
    )
    message = distributed.lost_worker(cluster, error)
    assert message.startswith("lost worker 1 (127.0.0.1:7002) (UnavailableError:")
    assert "resumes from the chief's last backup" in message
    assert distributed.lost_worker(cluster, ValueError("shapes differ")) is None
    # A worker that failed said why (`failures_reported`).
    error = tf.errors.UnavailableError(
        None,
        None,
        "Error reported from /job:worker/task:1: worker 1 (127.0.0.1:7002) "
        "stopped: DataError: Cannot create the image cache in /x",
    )
    assert distributed.lost_worker(cluster, error).startswith(
        "worker 1 (127.0.0.1:7002) stopped (DataError: Cannot create the image "
        "cache in /x); fix that, then start the same command"
    )


def test_batch_norm_sees_the_global_batch_while_training_only():
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization()]
    )
    layer = model.layers[-1]
    with distributed.global_batch_norm(model, enabled=True):
        assert layer.synchronized == (keras.backend.backend() == "tensorflow")
    assert not layer.synchronized
    assert not layer.get_config()["synchronized"]


# ---------------------------------------------- real worker processes


@pytest.mark.large
def test_a_worker_that_never_joins_stops_the_others_in_one_line(tmp_path):
    ports = free_ports(2)
    command = train_command(f"--run_dir={tmp_path / 'run'}", "--join_timeout=5")
    env = cluster_env("tensorflow", ports, 0)
    with Workers([command], [env], str(tmp_path / "logs")) as workers:
        assert workers.wait(timeout=120) == [2]
        assert_one_error_line(
            workers.output(0),
            f"worker 1 (127.0.0.1:{ports[1]}) did not join within --join_timeout=5 s",
        )
    assert not (tmp_path / "run").exists()


@pytest.mark.large
def test_a_bad_tf_config_is_one_error_line(tmp_path):
    env = worker_env("tensorflow", TF_CONFIG='{"cluster": {"worker": ["h:1", "h:1"]}')
    result = subprocess.run(
        train_command(f"--run_dir={tmp_path / 'run'}"),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert_one_error_line(result.stderr, "TF_CONFIG is not valid JSON")


@pytest.mark.large
@needs_jax
def test_a_jax_coordinator_that_never_answers_is_one_line(tmp_path):
    (port,) = free_ports(1)
    command = train_command(
        f"--run_dir={tmp_path / 'run'}",
        f"--coordinator_address=127.0.0.1:{port}",
        "--num_processes=2",
        "--process_id=1",
        "--join_timeout=5",
    )
    with Workers([command], [worker_env("jax")], str(tmp_path / "logs")) as workers:
        start = time.monotonic()
        assert workers.wait(timeout=120) == [2]
        assert_one_error_line(
            workers.output(0),
            f"The coordinator at --coordinator_address=127.0.0.1:{port} did not "
            "answer within --join_timeout=5 s",
        )
        assert time.monotonic() - start < 90


@pytest.mark.large
@needs_jax
def test_jax_auto_without_a_cluster_is_one_line(tmp_path):
    env = worker_env("jax")
    for name in list(env):
        if name.startswith(("SLURM_", "OMPI_", "TPU_", "KUBERNETES_", "JAX_")):
            env.pop(name)
    result = subprocess.run(
        train_command(f"--run_dir={tmp_path / 'run'}", "--coordinator_address=auto"),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 2
    assert_one_error_line(result.stderr, "--coordinator_address=auto found no cluster")


@pytest.mark.large  # two workers (~35 s on a shared CPU)
def test_a_worker_that_fails_before_training_stops_the_chief(tmp_path):
    """Worker 1 cannot create its image cache (a host-local failure): it
    says so, and the chief, waiting for it, says it lost worker 1."""
    from PIL import Image

    data = tmp_path / "data"
    for name in ("red", "blue"):
        (data / name).mkdir(parents=True)
        for i in range(6):  # 4 to train, 2 to validate
            Image.new("RGB", (8, 8), name).save(data / name / f"{i}.png")
    ports = free_ports(2)
    command = train_command(
        f"--run_dir={tmp_path / 'run'}", f"--dataset=folder:{data}", "--weights=none"
    )
    envs = [cluster_env("tensorflow", ports, i) for i in range(2)]
    envs[0]["KERAS_ATTN_CACHE"] = str(tmp_path / "cache")
    envs[1]["KERAS_ATTN_CACHE"] = "/dev/null/cache"  # cannot be created
    with Workers([command] * 2, envs, str(tmp_path / "logs")) as workers:
        assert workers.wait(timeout=240) == [2, 2]
        assert_one_error_line(workers.output(1), "Cannot create the image cache")
        assert_one_error_line(
            workers.output(0),
            f"worker 1 (127.0.0.1:{ports[1]}) stopped (DataError: Cannot create "
            "the image cache",
        )


@pytest.mark.large  # two workers (~35 s on a shared CPU)
def test_a_worker_with_other_flags_is_refused_by_all(tmp_path):
    ports = free_ports(2)
    run_dir = tmp_path / "run"
    commands = [
        train_command(f"--run_dir={run_dir}", "--weights=none"),
        train_command(f"--run_dir={run_dir}", "--weights=none", "--learning_rate=0.01"),
    ]
    envs = [cluster_env("tensorflow", ports, i) for i in range(2)]
    with Workers(commands, envs, str(tmp_path / "logs")) as workers:
        assert workers.wait(timeout=240) == [2, 2]
        for i, value in enumerate(("0.001", "0.01")):
            assert_one_error_line(
                workers.output(i),
                f"worker 1 (127.0.0.1:{ports[1]}) was started with other settings",
                "--learning_rate differs (",
                f": {value})",
            )
    assert not (run_dir / "history.csv").exists()


# Trains one model with `training.trainer` (the flags train.py turns into a config),
# the cluster from the environment, and prints the first step's loss.
TRAIN_AND_PRINT_FIRST_LOSS = """
import json, sys
import keras
from keras_attn.training import trainer


class FirstLoss(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if not hasattr(self, "loss"):
            self.loss = float(logs["loss"])
            print("FIRST_LOSS", repr(self.loss), flush=True)


trainer.train(
    trainer.TrainConfig(**json.loads(sys.argv[1])), extra_callbacks=[FirstLoss()]
)
"""


def first_loss(output: str) -> float:
    line = next(s for s in output.splitlines() if s.startswith("FIRST_LOSS "))
    return float(line.split()[1])


def compare_with_one_process(tmp_path, backend: str) -> None:
    """2 workers x global batch 8 against 1 process x batch 8, from the same
    pretrained weights: the same first-step loss, val accuracy within 2 of
    the 20 validation images, and one run folder, the chief's, with the files
    a single machine writes (nothing left by the other worker)."""
    config = dict(TINY, weights=require(WEIGHTS))
    one = dict(config, run_dir=str(tmp_path / "one"))
    two = dict(config, run_dir=str(tmp_path / "two"), distribute=True)
    code = [sys.executable, "-c", TRAIN_AND_PRINT_FIRST_LOSS]
    ports = free_ports(2)
    before = set(os.listdir(tempfile.gettempdir()))
    with Workers(
        [code + [json.dumps(one)]] + [code + [json.dumps(two)]] * 2,
        [worker_env(backend)] + [cluster_env(backend, ports, i) for i in range(2)],
        str(tmp_path / "logs"),
    ) as workers:
        assert workers.wait(timeout=900) == [0, 0, 0], workers.output(1)[-3000:]
        losses = [first_loss(workers.output(i)) for i in range(3)]
    print("first-step losses (one process, chief, worker 1):", losses)
    np.testing.assert_allclose(losses[1:], losses[0], rtol=1e-5)
    single = runs.read_metrics(one["run_dir"])
    chief = runs.read_metrics(two["run_dir"])
    print("val accuracy (one process, two workers):", single["val_accuracy"],
          chief["val_accuracy"])  # fmt: skip
    assert abs(chief["val_accuracy"] - single["val_accuracy"]) <= 0.1 + 1e-9
    assert (chief["workers"], chief["replicas"]) == (2, 2)
    assert (single["workers"], single["replicas"]) == (1, 1)
    assert sorted(os.listdir(two["run_dir"])) == sorted(os.listdir(one["run_dir"]))
    leftovers = set(os.listdir(tempfile.gettempdir())) - before
    assert not [name for name in leftovers if name.startswith("keras_attn-")]
    runs.load_run(two["run_dir"])  # what export and the figures read


@pytest.mark.large  # 3.8 min on 2 shared cores: 3 processes train ResNet-18
def test_two_tensorflow_workers_match_one_process(tmp_path):
    compare_with_one_process(tmp_path, "tensorflow")


@needs_jax
@pytest.mark.large  # 4 min on 2 shared cores
def test_two_jax_processes_match_one_process(tmp_path):
    compare_with_one_process(tmp_path, "jax")


def kill_mid_epoch_then_resume(tmp_path, backend: str) -> None:
    """Worker 1 is killed during epoch 2 of 3: the chief stops within a
    bounded time (its next collective fails, or the 60 s heartbeat timeout)
    with one line naming it; the same commands started again resume from
    the chief's backup (epoch 2) and finish the run."""
    ports = free_ports(2)
    run_dir = tmp_path / "run"
    flags = [f"--run_dir={run_dir}", "--weights=none", "--epochs=3", "--shots=8"]
    if backend == "jax":
        flags += [f"--coordinator_address=127.0.0.1:{ports[0]}", "--num_processes=2"]
        commands = [train_command(*flags, f"--process_id={i}") for i in range(2)]
        envs = [worker_env(backend)] * 2
    else:
        commands = [train_command(*flags)] * 2
        envs = [cluster_env(backend, ports, i) for i in range(2)]

    def epochs_done() -> int:
        return len(runs.read_history(str(run_dir)).get("epoch", []))

    with Workers(commands, envs, str(tmp_path / "first")) as workers:
        deadline = time.monotonic() + 600
        while not epochs_done() and time.monotonic() < deadline:
            assert workers.procs[0].poll() is None, workers.output(0)[-3000:]
            time.sleep(0.5)
        time.sleep(3)  # into epoch 2
        assert epochs_done() == 1
        workers.procs[1].kill()
        killed = time.monotonic()
        assert workers.procs[0].wait(timeout=180) == 2
        waited = time.monotonic() - killed
        lost = "worker 1 (127.0.0.1:" if backend == "tensorflow" else "process 1"
        line = assert_one_error_line(workers.output(0), f"lost {lost}")
    print(f"chief stopped {waited:.0f} s after the kill: {line}")
    assert waited < 120
    with Workers(commands, envs, str(tmp_path / "again")) as workers:
        assert workers.wait(timeout=900) == [0, 0], workers.output(0)[-3000:]
        assert "Epoch 2/3" in workers.output(0)
        assert "Epoch 1/3" not in workers.output(0)  # resumed, not restarted
    assert list(runs.read_history(str(run_dir))["epoch"]) == [0, 1, 2]
    assert runs.read_metrics(str(run_dir))["epochs"] == 3
    assert not (run_dir / runs.BACKUP).exists()


@pytest.mark.large  # 5.7 min on 2 shared cores
def test_a_killed_tensorflow_worker_stops_the_chief_and_the_run_resumes(tmp_path):
    kill_mid_epoch_then_resume(tmp_path, "tensorflow")


@needs_jax
@pytest.mark.large  # 5.5 min on 2 shared cores
def test_a_killed_jax_process_stops_the_coordinator_and_the_run_resumes(tmp_path):
    kill_mid_epoch_then_resume(tmp_path, "jax")
