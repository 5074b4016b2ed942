"""Data-parallel training over every local device, with Keras' own machinery.

`data_parallel(True)` is the context in which `train_lib` builds, compiles and
fits the model:

- JAX: `keras.distribution.DataParallel` over `keras.distribution.list_devices()`.
  The weights are replicated on every device, each batch is split along its
  first axis, and XLA inserts the gradient all-reduce.
- TensorFlow: `tf.distribute.MirroredStrategy` over the local GPUs (on a
  machine without GPUs, over its logical CPU devices, which is how the tests
  run it); with `TF_CONFIG` set, `MultiWorkerMirroredStrategy` instead.
- PyTorch: Keras has no data-parallel distribution for it; refused with a
  message.

`--batch_size` is the global batch: N devices each see batch_size / N images
per step, so keep it a multiple of N, and scale the learning rate with the
global batch as usual.

Multi-host (not tested here, no cluster): on JAX call
`keras.distribution.initialize(job_addresses, num_processes, process_id)` on
every host before anything else (on Cloud TPU and SLURM it reads them from
the environment); `list_devices()` then returns every host's devices, and
each host feeds its own share of every batch (`fit` treats the batch a host
gives it as process-local), so each host must read a different shard of the
data. For a model too big for one device, use `keras.distribution.ModelParallel`
with a `DeviceMesh((hosts, devices_per_host), ("batch", "model"))` and a
`LayoutMap`. On TensorFlow set `TF_CONFIG` on every worker (cluster spec and
this worker's index): `data_parallel` then uses `MultiWorkerMirroredStrategy`,
and `tf.data` shards the training data across workers by itself.
"""

from __future__ import annotations

import contextlib
import json
import os

import keras


@contextlib.contextmanager
def data_parallel(enabled: bool = True):
    """Distributes everything built and fitted inside it; yields the replica count.

    With `enabled=False` it does nothing and yields 1, so callers need no branch.
    """
    if not enabled:
        yield 1
        return
    backend = keras.backend.backend()
    if backend == "jax":
        devices = keras.distribution.list_devices()
        distribution = keras.distribution.DataParallel(devices=devices)
        with distribution.scope():
            yield len(devices)
    elif backend == "tensorflow":
        strategy = tf_strategy()
        with strategy.scope():
            yield strategy.num_replicas_in_sync
    else:
        raise ValueError(
            f"--distribute works on the jax and tensorflow backends; Keras has no "
            f"data-parallel distribution for {backend}. Run with KERAS_BACKEND=jax "
            "or drop --distribute."
        )


def tf_strategy():
    """`MultiWorkerMirroredStrategy` when `TF_CONFIG` names a cluster, else a
    `MirroredStrategy` over the local GPUs (or the logical CPUs without one)."""
    import tensorflow as tf

    if json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices(
        "CPU"
    )
    return tf.distribute.MirroredStrategy([d.name for d in devices])


def check_batch_size(batch_size: int, replicas: int, train_images: int) -> None:
    """Refuses a global batch the devices cannot split evenly, or that is larger
    than the training split (every distributed batch is full)."""
    if batch_size % replicas:
        raise ValueError(
            f"--batch_size={batch_size} must be a multiple of the {replicas} devices "
            f"--distribute splits it over; try --batch_size="
            f"{max(replicas, batch_size // replicas * replicas)}."
        )
    if train_images < batch_size:
        raise ValueError(
            f"--distribute trains on full batches only, and the training split has "
            f"{train_images} images, fewer than --batch_size={batch_size}; lower "
            "--batch_size."
        )
