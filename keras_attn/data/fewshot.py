"""Few-shot sampling: a fixed number of images per class, drawn with a seed.

The paper's protocol (``--shots=10 --val_shots=5``): per class, `shots`
training images from the training split, and `val_shots` validation images
from the validation split where the dataset has one, else from the rest of the
training split, never the images already chosen for training. The test split
always stays whole.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from keras_attn.errors import DataError  # noqa: F401  (re-exported)


def _class_name(label: int, class_names: Sequence[str] | None) -> str:
    if class_names is not None and 0 <= label < len(class_names):
        return class_names[label]
    return str(label)


def sample_per_class(
    labels: np.ndarray,
    shots: int,
    seed: int,
    exclude: np.ndarray | None = None,
    *,
    class_names: Sequence[str] | None = None,
    num_classes: int | None = None,
    flag: str = "--shots",
    what: str = "training",
) -> np.ndarray:
    """Returns sorted indices of exactly `shots` examples of every class.

    Stratified and deterministic: the same `labels`, `shots` and `seed` give
    the same indices; another seed gives another draw.

    Args:
        labels: (N,) integer class ids.
        shots: examples to take per class (>= 1).
        seed: seed of the draw.
        exclude: indices that may not be chosen (e.g. the training picks when
            drawing validation images from the same split).
        class_names: names used in error messages.
        num_classes: classes that must be present (default: `max(labels) + 1`
            or `len(class_names)`); a class without enough examples is an
            error.
        flag: the command-line flag named in error messages.
        what: the kind of images named in error messages.

    Raises:
        DataError: `shots < 1`, or a class has fewer than `shots` examples.
    """
    labels = np.asarray(labels)
    if shots < 1:
        raise DataError(f"{flag} must be at least 1. Received: {flag}={shots}")
    if num_classes is None:
        num_classes = len(class_names) if class_names else int(labels.max()) + 1
    available = np.ones(len(labels), dtype=bool)
    if exclude is not None:
        available[np.asarray(exclude, dtype=np.int64)] = False
    rng = np.random.default_rng(seed)
    picks = []
    for c in range(num_classes):
        candidates = np.flatnonzero((labels == c) & available)
        if len(candidates) < shots:
            after = " left after the training picks" if exclude is not None else ""
            raise DataError(
                f"Class '{_class_name(c, class_names)}' has {len(candidates)} "
                f"{what} images{after}, fewer than {flag}={shots}. "
                f"Lower {flag} or add images."
            )
        picks.append(rng.choice(candidates, size=shots, replace=False))
    return np.sort(np.concatenate(picks)) if picks else np.zeros(0, np.int64)


def split_fraction_per_class(
    labels: np.ndarray, fraction: float, seed: int
) -> np.ndarray:
    """Returns sorted indices of a stratified `fraction` of every class.

    Each class with at least two examples gives `round(fraction * n)` of them,
    at least one and never all, so that every class keeps a training image.
    """
    if not 0.0 <= fraction < 1.0:
        raise DataError(
            f"val_fraction must be in [0, 1). Received: val_fraction={fraction}"
        )
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    picks = []
    if fraction == 0.0:
        return np.zeros(0, np.int64)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) < 2:
            continue
        count = min(max(1, round(fraction * len(members))), len(members) - 1)
        picks.append(rng.choice(members, size=count, replace=False))
    return np.sort(np.concatenate(picks)) if picks else np.zeros(0, np.int64)


def few_shot_indices(
    train_labels: np.ndarray,
    val_labels: np.ndarray | None,
    *,
    shots: int | None,
    val_shots: int | None,
    seed: int,
    val_fraction: float = 0.1,
    class_names: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Applies the few-shot protocol; returns train and validation indices.

    Returns `(train_idx, val_idx, val_from_train)`. With a validation split
    (`val_labels` given), `val_idx` indexes it; without one, `val_idx` indexes
    the training split, disjoint from `train_idx` (`val_from_train` is True).
    `shots=None` keeps every training image that is not held out for
    validation; `val_shots=None` keeps the whole validation split, or holds out
    a stratified `val_fraction` of the training split when there is none.
    """
    num_classes = len(class_names) if class_names else None
    # Different streams for train and val picks, both fixed by `seed`.
    train_seed, val_seed = np.random.SeedSequence(seed).spawn(2)
    train_seed = int(train_seed.generate_state(1)[0])
    val_seed = int(val_seed.generate_state(1)[0])
    everything = np.arange(len(train_labels))

    if val_labels is not None:
        if shots is None:
            train_idx = everything
        else:
            train_idx = sample_per_class(
                train_labels,
                shots,
                train_seed,
                class_names=class_names,
                num_classes=num_classes,
            )
        if val_shots is None:
            val_idx = np.arange(len(val_labels))
        else:
            val_idx = sample_per_class(
                val_labels,
                val_shots,
                val_seed,
                class_names=class_names,
                num_classes=num_classes,
                flag="--val_shots",
                what="validation",
            )
        return train_idx, val_idx, False

    if shots is None:
        # Hold the validation images out first; train on all the rest.
        if val_shots is None:
            val_idx = split_fraction_per_class(train_labels, val_fraction, val_seed)
        else:
            val_idx = sample_per_class(
                train_labels,
                val_shots,
                val_seed,
                class_names=class_names,
                num_classes=num_classes,
                flag="--val_shots",
                what="training",
            )
        train_idx = np.setdiff1d(everything, val_idx)
        return train_idx, val_idx, True

    train_idx = sample_per_class(
        train_labels,
        shots,
        train_seed,
        class_names=class_names,
        num_classes=num_classes,
    )
    if val_shots is None:
        rest = np.setdiff1d(everything, train_idx)
        val_idx = rest[
            split_fraction_per_class(train_labels[rest], val_fraction, val_seed)
        ]
    else:
        val_idx = sample_per_class(
            train_labels,
            val_shots,
            val_seed,
            exclude=train_idx,
            class_names=class_names,
            num_classes=num_classes,
            flag="--val_shots",
            what="training",
        )
    return train_idx, val_idx, True
