"""Data-parallel training over every local device, and over several workers,
with Keras' and TensorFlow's own machinery.

`data_parallel(True)` is the context in which `training/trainer.py` builds, compiles and
fits the model:

- JAX: `keras.distribution.DataParallel` over `keras.distribution.list_devices()`
  (every process's devices in a multi-process run). The weights are
  replicated on every device, each batch is split along its first axis, and
  XLA inserts the gradient all-reduce and computes BatchNormalization's
  statistics over the global batch.
- TensorFlow: `tf.distribute.MirroredStrategy` over the local GPUs (on a
  machine without GPUs, over its logical CPU devices, which is how the tests
  run it); with `TF_CONFIG` naming a cluster, `MultiWorkerMirroredStrategy`.
  BatchNormalization layers are switched to `synchronized=True` while they
  train, so that they too see the global batch, as on one device and on JAX.
- PyTorch: Keras has no data-parallel distribution for it; refused with a
  message.

`--batch_size` is the global batch: N devices each see batch_size / N images
per step, so keep it a multiple of N; the learning rate and its schedule are
those of one machine with that batch.

Several workers (`cluster.py`, `membership.py`): every worker runs the same `train.py`
command, with its own `TF_CONFIG` (TensorFlow: `MultiWorkerMirroredStrategy`)
or `--process_id` (JAX: `keras.distribution.initialize`, then the same
`DataParallel`). Worker 0, the chief, alone writes the run folder, so it is
the one a single machine writes and export, predict and evaluate read it as
usual. Each worker reads its own part of every global batch
(`input_pipeline`: on TensorFlow through `distribute_datasets_from_function`,
on JAX as each process's share of the batch); a folder's images are decoded
once into the shared cache, the other workers waiting on its lock. A worker
lost during training stops the others with one line naming it (`WorkerLost`),
and the same commands resume from the chief's last backup.

Tested (tests/test_distributed.py): `TF_CONFIG` and JAX flag checks; each
worker's share of a batch on both pipelines; 2 TensorFlow workers and 2 JAX
processes on 127.0.0.1 (CPU; JAX's collectives through gloo) against one
process with the same global batch (`shapes`, 128 px, pretrained weights):
the same first-step loss (to 1e-5; bit for bit when measured), val accuracy
within 2 of the 20 validation images (equal when measured), and one run
folder, the chief's, holding the files a single machine writes; a worker
killed mid-epoch stops the chief with one line, and the same commands resume
from the backup; a worker started with other flags; a worker or coordinator
that never answers; a bad `TF_CONFIG`. Not tested here: more than one host,
GPUs, TPUs, SLURM, Kubernetes, `--coordinator_address=auto`.

For a model too big for one device, use `keras.distribution.ModelParallel`
with a `DeviceMesh((hosts, devices_per_host), ("batch", "model"))` and a
`LayoutMap` (not wired into `train.py`).
"""

from __future__ import annotations

import contextlib

import keras

from keras_attn.distributed import membership
from keras_attn.distributed.failures import as_worker_lost


@contextlib.contextmanager
def data_parallel(enabled: bool = True):
    """Distributes everything built and fitted inside it; yields the replica count.

    With `enabled=False` it does nothing and yields 1, so callers need no branch.
    In a multi-worker run (after `join`) it spans every worker's devices; an
    engine error that means another worker was lost becomes `WorkerLost`, and
    on leaving it the workers part (nothing else is computed together).
    """
    if not enabled:
        yield 1
        return
    backend = keras.backend.backend()
    cluster = membership.joined()
    try:
        if backend == "jax":
            devices = keras.distribution.list_devices()
            distribution = keras.distribution.DataParallel(
                devices=devices,
                # Each process feeds its own share of every batch already.
                auto_shard_dataset=cluster is None,
            )
            with distribution.scope():
                yield len(devices)
        elif backend == "tensorflow":
            strategy = membership.strategy() or tf_strategy()
            with strategy.scope():
                yield strategy.num_replicas_in_sync
        else:
            raise ValueError(
                f"--distribute works on the jax and tensorflow backends; Keras has "
                f"no data-parallel distribution for {backend}. Run with "
                "KERAS_BACKEND=jax or drop --distribute."
            )
    except Exception as e:
        lost = cluster and as_worker_lost(cluster, e)
        if lost:
            raise lost from None
        raise
    if cluster is not None:
        membership.leave()


@contextlib.contextmanager
def global_batch_norm(model: keras.Model, enabled: bool):
    """While it lasts, BatchNormalization layers under a TensorFlow strategy
    normalise with the statistics of the global batch (`synchronized=True`),
    as they do on one device and on JAX, instead of each replica's share.

    Restored afterwards: a saved model must not ask for synchronisation (JAX
    and PyTorch refuse to load a layer that does).
    """
    if not enabled or keras.backend.backend() != "tensorflow":
        yield
        return
    layers = [
        layer
        for layer in model._flatten_layers()
        if isinstance(layer, keras.layers.BatchNormalization) and not layer.synchronized
    ]
    for layer in layers:
        layer.synchronized = True
    try:
        yield
    finally:
        for layer in layers:
            layer.synchronized = False


def tf_strategy():
    """A `MirroredStrategy` over the local GPUs (or the logical CPUs without one)."""
    import tensorflow as tf

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
