"""What `fit` reads: batches of uint8 images with one-hot labels, per backend.

`fit_data()` turns a split's uint8 images (an array, or rows of the on-disk
cache, `data.cache.ImageRows`) into what `fit` takes:

- TensorFlow: a `tf.data` pipeline (shuffle the indices each epoch, batch,
  gather the images, prefetch).
- JAX and PyTorch: `ArrayBatches`, a `keras.utils.PyDataset`, which needs no
  TensorFlow. With `on_device=True` the whole uint8 split is copied to the
  accelerator once and each batch is gathered there, so no images cross the
  host-device link during training (CIFAR's 50,000 32x32 images are 150 MB;
  `on_device="auto"` does this on a GPU/TPU when the split is at most
  `ON_DEVICE_MAX_BYTES`); otherwise two host threads prepare the next
  batches while the device computes, and Keras' JAX trainer copies one batch
  ahead.

Batches stay uint8 until they reach the device: augmentation and
normalisation run inside the (jit-compiled) model, see `data/augment.py`.

For data-parallel training (`even=True`) every training batch is full (the
remainder of an epoch is dropped; the order changes every epoch) and a
validation split is padded to whole batches with zero-weight images, because
each batch is split evenly across devices: JAX refuses an uneven split, and
`tf.distribute` hands a device an empty batch, on which some ops fail. The
padding weighs 0 (see `pad_to_batches`; compile accuracy as a weighted metric).

On several workers (`membership.joined()`), `batch_size` is still the global
batch and the order the one a single machine draws; worker k of n reads only
the k-th of n equal parts of each batch (`shard`), the rule Keras applies to a
`tf.data` pipeline on JAX (`rebatch`, then `shard`): on JAX as this process's
share, which Keras assembles into the global batch; on TensorFlow through
`distribute_datasets_from_function`, split further among the worker's local
replicas.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from keras_attn.distributed import membership
from keras_attn.utils import devices

# Largest split (uint8 bytes) that `on_device="auto"` copies to the accelerator.
ON_DEVICE_MAX_BYTES = 2 * 1024**3


class ArrayBatches(keras.utils.PyDataset):
    """Batches `(images, one_hot[, weights])` from in-memory arrays.

    Args:
        images: (N, H, W, C) uint8 images (an array or `ImageRows`).
        labels: (N,) integer labels.
        num_classes: width of the one-hot labels.
        batch_size: images per batch.
        shuffle: draw a new order every epoch, from `(seed, epoch)` alone, so
            a resumed run sees the orders the uninterrupted one would have.
        seed: seed of the order.
        first_epoch: the epoch `fit` starts at (a resumed run's).
        sample_weights: (N,) per-image loss weights (class weights), returned
            as a third element.
        drop_remainder: skip the last, partial batch.
        pad: pad the split to whole batches with zero images, returning
            per-image weights (0 for padding) as a third element.
        on_device: keep the images on the backend's default device and gather
            each batch there.
        shard: `(k, n)`: return only the k-th of n equal parts of each batch
            (this worker's, in a multi-worker run); the batch must split evenly.
        **kwargs: `PyDataset` arguments (`workers`, `max_queue_size`).

    Example:
    >>> batches = ArrayBatches(x_uint8, y, 10, batch_size=32, shuffle=True)
    >>> model.fit(batches, epochs=3)
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        num_classes: int,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        drop_remainder: bool = False,
        pad: bool = False,
        on_device: bool = False,
        first_epoch: int = 0,
        sample_weights: np.ndarray | None = None,
        shard: tuple[int, int] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        labels = np.asarray(labels)
        self.batch_size = batch_size
        self.shard = shard
        self.shuffle = shuffle
        self.seed = seed
        self._epoch = first_epoch - 1  # `on_epoch_begin` moves to `first_epoch`
        self.drop_remainder = drop_remainder
        self.on_device = on_device
        self._weights = sample_weights
        if pad:
            images, labels, self._weights = pad_to_batches(images, labels, batch_size)
        self._one_hot = np.eye(num_classes, dtype="float32")[labels]  # (N, K)
        self._images = (
            keras.ops.convert_to_tensor(np.asarray(images)) if on_device else images
        )
        self._order = np.arange(len(self._one_hot))

    def __len__(self) -> int:
        count = len(self._one_hot)
        if self.drop_remainder:
            return count // self.batch_size
        return math.ceil(count / self.batch_size)

    def __getitem__(self, index: int):
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        if self.shard is not None:
            rows = shard_rows(rows, *self.shard)
        if self.on_device:
            images = keras.ops.take(self._images, keras.ops.convert_to_tensor(rows), 0)
        else:
            images = self._images[rows]  # (B, H, W, C) uint8
        if self._weights is None:
            return images, self._one_hot[rows]
        return images, self._one_hot[rows], self._weights[rows]

    def on_epoch_begin(self):
        self._epoch += 1
        if self.shuffle:
            rng = np.random.default_rng([self.seed, self._epoch])
            self._order = rng.permutation(len(self._one_hot))


def fit_data(
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    batch_size: int,
    training: bool,
    seed: int = 0,
    even: bool = False,
    on_device: bool | str = "auto",
    first_epoch: int = 0,
    sample_weights: np.ndarray | None = None,
):
    """What `fit` reads for one split on the current backend.

    A training split's order in epoch `e` depends only on `(seed, e)`: pass
    `first_epoch` (a resumed run's) and, on TensorFlow, `steps_per_epoch`
    (`steps_per_epoch()`) to `fit`, whose training stream is endless.

    Args:
        images, labels, num_classes, batch_size: see `ArrayBatches`.
        training: shuffle every epoch (and, with `even`, drop the remainder);
            otherwise the split in order (and, with `even`, padded).
        seed: seed of the training order.
        even: whole batches only, for data-parallel training.
        on_device: JAX/PyTorch only: True, False or `"auto"` (on a GPU/TPU when
            the split fits in `ON_DEVICE_MAX_BYTES`).
        first_epoch: the first epoch `fit` will run.
        sample_weights: (N,) per-image loss weights of a training split.
    """
    cluster = membership.joined() if even else None
    if keras.backend.backend() == "tensorflow":
        args = (images, labels, num_classes, batch_size, training, seed, even)
        args += (first_epoch, sample_weights)
        if cluster is None:
            return tf_dataset(*args)
        import tensorflow as tf

        def worker_part(context):  # on each worker, its share of every batch
            shard = (context.input_pipeline_id, context.num_input_pipelines)
            replica_batch = context.get_per_replica_batch_size(batch_size)
            return tf_dataset(*args, shard=shard, replica_batch=replica_batch)

        strategy = tf.distribute.get_strategy()
        return strategy.distribute_datasets_from_function(worker_part)
    if on_device == "auto":
        on_device = (
            devices.accelerator() is not None and images.nbytes <= ON_DEVICE_MAX_BYTES
        )
    return ArrayBatches(
        images,
        labels,
        num_classes,
        batch_size,
        shuffle=training,
        seed=seed,
        drop_remainder=training and even,
        pad=even and not training,
        on_device=bool(on_device),
        first_epoch=first_epoch,
        sample_weights=sample_weights,
        shard=None if cluster is None else (cluster.index, cluster.count),
        # Device gathers are asynchronous already; host gathers get threads.
        workers=1 if on_device else 2,
        max_queue_size=8,
    )


def tf_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    batch_size: int,
    training: bool,
    seed: int = 0,
    even: bool = False,
    first_epoch: int = 0,
    sample_weights: np.ndarray | None = None,
    shard: tuple[int, int] | None = None,
    replica_batch: int | None = None,
):
    """The `tf.data` pipeline: shuffled indices -> batch -> gather -> prefetch.

    Shuffling indices rather than images keeps the shuffle exact (the whole
    split) and cheap; the images are gathered a batch at a time from the
    array or the cache's memory map (`data.cache.ImageRows`), never copied
    whole into a tensor. With `shard=(k, n)` only the k-th of n parts of each
    batch is gathered, in batches of `replica_batch` (one per local replica).
    """
    import tensorflow as tf

    labels = np.asarray(labels)
    weights = sample_weights
    if even and not training:
        images, labels, weights = pad_to_batches(images, labels, batch_size)
    tensors = {"one_hot": tf.constant(np.eye(num_classes, dtype="float32")[labels])}
    if weights is not None:
        tensors["weights"] = tf.constant(weights)
    count = len(labels)
    if training:  # endless: epoch e's order is a stateless shuffle by (seed, e)

        def epoch_order(epoch):
            order = tf.random.experimental.stateless_shuffle(
                tf.range(count, dtype=tf.int64), seed=tf.stack([seed, epoch])
            )
            rows = tf.data.Dataset.from_tensor_slices(order)
            return rows.batch(batch_size, drop_remainder=even)

        indices = tf.data.Dataset.range(first_epoch, 2**31).flat_map(epoch_order)
    else:
        indices = tf.data.Dataset.range(count).batch(batch_size)
    if shard is not None:
        indices = indices.map(lambda rows: shard_rows(rows, *shard))
        part = batch_size // shard[1]
        if replica_batch is not None and replica_batch < part:
            indices = indices.rebatch(replica_batch)

    def gather(rows):
        # Only this batch's images are read (from memory or the mapped cache).
        batch = tf.numpy_function(lambda r: images[r], [rows], images.dtype)
        batch.set_shape((None, *images.shape[1:]))  # (B, H, W, 3)
        other = [
            tf.gather(tensors[k], rows) for k in ("one_hot", "weights") if k in tensors
        ]
        return (batch, *other)

    return indices.map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE
    )


def shard_rows(rows, index: int, count: int):
    """The `index`-th of `count` equal, consecutive parts of a batch's rows."""
    part = len(rows) // count if isinstance(rows, np.ndarray) else None
    if part is None:  # a tf.Tensor inside tf.data
        import tensorflow as tf

        part = tf.shape(rows, out_type=tf.int64)[0] // count
    return rows[index * part : (index + 1) * part]


def steps_per_epoch(count: int, batch_size: int, even: bool = False) -> int:
    """Training batches per epoch (`fit`'s `steps_per_epoch`)."""
    return count // batch_size if even else math.ceil(count / batch_size)


def pad_to_batches(images: np.ndarray, labels: np.ndarray, batch_size: int):
    """Pads a split of N images to P, whole batches, with zero images labelled 0.

    Returns `(images, labels, weights)`: weight 0 on the padding and P / N on
    every real image, so that both of Keras' validation numbers stay exact:
    accuracy compiled as a weighted metric (a weighted mean, any scale), and
    the loss, which Keras reduces as sum(loss * weight) / batch size per batch
    and then averages over batches (P images).
    """
    labels = np.asarray(labels)
    count = len(labels)
    extra = -count % batch_size
    scale = (count + extra) / count
    weights = np.r_[np.full(count, scale), np.zeros(extra)].astype("float32")
    if extra:
        padding = np.zeros((extra, *images.shape[1:]), images.dtype)
        images = np.concatenate([images, padding])
        labels = np.concatenate([labels, np.zeros(extra, labels.dtype)])
    return images, labels, weights
